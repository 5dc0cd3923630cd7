"""The rolling-origin backtest: pure metrics (hypothesis) and the protocol on series whose answer is known."""

from __future__ import annotations

import copy
import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from workload_predictor import WorkloadDataError, WorkloadPredictor
from workload_predictor.errors import MemoryLimitError
from workload_predictor.backtest import (
    backtest,
    backtest_origins,
    bias,
    coverage,
    default_season_length,
    interval_score,
    interval_width,
    mae,
    mase,
    naive_scale,
    refit_points,
    rmse,
    run_backtest,
    smape,
)
from workload_predictor.confidence import wape

finite = st.floats(min_value=0, max_value=1e6, allow_nan=False, allow_infinity=False, allow_subnormal=False)


@st.composite
def pairs(draw):
    n = draw(st.integers(1, 40))
    a = draw(arrays(np.float64, n, elements=finite))
    f = draw(arrays(np.float64, n, elements=finite))
    return a, f


# -- metrics ---------------------------------------------------------------------------------
@given(pairs())
def test_error_metrics_are_ordered_and_zero_only_for_exact_forecasts(pair):
    a, f = pair
    assert 0.0 <= mae(a, f) <= rmse(a, f) + 1e-9 * (1 + rmse(a, f))  # RMSE >= MAE (power-mean inequality)
    assert (mae(a, f) == 0.0) == bool(np.array_equal(a, f))
    assert mae(a, a) == rmse(a, a) == smape(a, a) == 0.0


@given(pairs())
def test_smape_is_symmetric_and_bounded(pair):
    a, f = pair
    assert 0.0 <= smape(a, f) <= 2.0
    assert smape(a, f) == pytest.approx(smape(f, a))


@example((np.array([2.2250738585072014e-308]), np.array([1e6])))  # the quotient overflows to inf
@given(pairs())
def test_wape_and_mase_are_mae_rescaled(pair):
    a, f = pair
    total = float(np.abs(a).sum())
    if total > 0:
        value = wape(a, f)
        if math.isinf(value):  # a load near the smallest float: the error over it exceeds the largest float
            assert mae(a, f) * len(a) / np.finfo(np.float64).max > total
        else:
            assert value * total / len(a) == pytest.approx(mae(a, f), rel=1e-9, abs=1e-9)
    assert mase(a, f, 2.0) == pytest.approx(mae(a, f) / 2.0)


@given(pairs())
def test_bias_is_the_signed_wape_and_flips_with_the_error(pair):
    """``bias`` is ``sum(f - a) / sum|a|``: bounded by WAPE in size, equal to it when every error has one sign, and
    negated when the errors are."""
    a, f = pair
    value = bias(a, f)
    if np.abs(a).sum() == 0:
        assert value == (0.0 if np.array_equal(a, f) else math.copysign(math.inf, float(np.sum(f - a))))
        return
    assert abs(value) <= wape(a, f) * (1 + 1e-9) + 1e-12
    if np.all(f >= a) or np.all(f <= a):
        assert abs(value) == pytest.approx(wape(a, f), rel=1e-9, abs=1e-12)
    mirrored = 2 * a - f  # the same errors with the other sign
    if np.all(mirrored >= 0):
        assert bias(a, mirrored) == pytest.approx(-value, rel=1e-9, abs=1e-12)


def test_bias_of_a_zero_forecast_is_minus_one_and_the_table_reports_it():
    """A forecast of zero on a bursty series under-forecasts the whole load (bias -1); the backtest table and the
    command line's table carry the column."""
    assert bias([0.0, 5.0, 0.0, 15.0], [0.0, 0.0, 0.0, 0.0]) == -1.0
    assert bias([10.0, 10.0], [12.0, 11.0]) == pytest.approx(0.15)
    rng = np.random.default_rng(4)
    data = frame(rng.poisson(20, 400).astype(float))
    table = backtest(data, ["dlinear"], ["naive"], horizon=3, test_size=60, verbose=False).set_index("model")
    result = run_backtest(data, ["dlinear"], ["naive"], horizon=3, test_size=60, verbose=False)
    yhat = result.forecasts["dlinear"]["yhat"][..., 0]
    assert table.loc["dlinear", "bias"] == pytest.approx(float((yhat - result.actual[..., 0]).sum())
                                                         / float(result.actual.sum()))
    from workload_predictor.cli import format_table

    assert "bias" in format_table(table.reset_index()).splitlines()[0]


def test_mase_scale_is_the_in_sample_naive_error():
    history = np.array([1.0, 3.0, 2.0, 6.0])
    assert naive_scale(history) == pytest.approx((2 + 1 + 4) / 3)
    assert naive_scale(history, season=2) == pytest.approx((1 + 3) / 2)
    assert mase([1.0], [1.0], 0.0) == 0.0 and math.isinf(mase([1.0], [2.0], 0.0))
    with pytest.raises(WorkloadDataError):
        naive_scale([1.0])


@given(pairs(), st.floats(0, 100), st.floats(0, 100))
def test_coverage_grows_with_the_interval_and_width_is_its_mean(pair, half, more):
    a, f = pair
    assert coverage(a, a - half, a + half) == 1.0
    narrow, wide = coverage(a, f - half, f + half), coverage(a, f - half - more, f + half + more)
    assert 0.0 <= narrow <= wide <= 1.0
    assert coverage(a, f - np.abs(a - f).max() - 1, f + np.abs(a - f).max() + 1) == 1.0
    assert interval_width(f - half, f + half) == pytest.approx(2 * half, abs=1e-12 * (1 + np.abs(f).max()))


def test_interval_score_is_the_width_plus_the_scaled_misses():
    actual = np.array([5.0, 0.0, 12.0])
    lower, upper = np.array([4.0, 1.0, 8.0]), np.array([6.0, 3.0, 10.0])
    # widths 2, 2, 2; misses 0, 1 below, 2 above; 2 / (1 - 0.9) = 20 per unit missed
    assert interval_score(actual, lower, upper, 0.9) == pytest.approx((6 + 20 * 3) / 3)
    with pytest.raises(WorkloadDataError):
        interval_score(actual, lower, upper, 1.0)


@given(pairs(), st.floats(0, 100), st.floats(0, 100))
def test_interval_score_never_beats_the_width_and_a_covering_interval_scores_its_width(pair, half, more):
    a, f = pair
    score = interval_score(a, f - half, f + half, 0.9)
    assert score >= interval_width(f - half, f + half) - 1e-9 * (1 + half)
    wide = np.abs(a - f).max() + more
    assert interval_score(a, f - wide, f + wide, 0.9) == pytest.approx(2 * wide, rel=1e-9, abs=1e-9)


# -- protocol --------------------------------------------------------------------------------
def frame(y: np.ndarray, freq: str = "1min") -> pd.DataFrame:
    return pd.DataFrame({"timestamp": pd.date_range("2024-01-01", periods=len(y), freq=freq), "requests": y})


def test_origins_and_refits_follow_the_parameters():
    origins = backtest_origins(200, horizon=5, test_size=0.25, stride=2)
    assert origins[0] == 150 and origins[-1] <= 195 and np.all(np.diff(origins) == 2)
    assert np.array_equal(backtest_origins(200, 5, 50, 1), np.arange(150, 196))
    refits = refit_points(np.arange(150, 196), 20)
    assert np.array_equal(refits, [150, 170, 190])
    assert len(refit_points(np.arange(150, 196), None)) == 3
    assert np.array_equal(backtest_origins(200, 5, 50.0, 1), np.arange(150, 196))  # a whole number as a float
    for bad in ({"test_size": 3}, {"test_size": 0.999}, {"stride": 0}, {"test_size": 50.7}, {"test_size": 1.5}):
        with pytest.raises(WorkloadDataError):
            backtest_origins(200, 5, **{"test_size": 0.25, "stride": 1, **bad})


def test_season_length_is_a_calendar_period_the_data_repeats():
    assert default_season_length(pd.Timedelta("1s"), 3000) == 60  # an hour needs 3 h of history
    assert default_season_length(pd.Timedelta("1min"), 5000) == 1440
    assert default_season_length(pd.Timedelta("1h"), 100) == 24
    assert default_season_length(pd.Timedelta("1h"), 50) == 1


def test_forecasts_use_only_the_past():
    """Naive forecasts equal the last value before each origin, even across a level shift."""
    y = np.r_[np.full(150, 5.0), np.full(50, 50.0)]
    result = run_backtest(frame(y), [], ["naive"], horizon=4, test_size=60, refit_every=25, verbose=False)
    yhat = result.forecasts["naive"]["yhat"][:, :, 0]
    expected = y[result.origins - 1]
    assert np.array_equal(yhat, np.repeat(expected[:, None], 4, axis=1))
    assert list(result.refits) == [140, 165, 190]
    assert result.table.loc[0, "n_refits"] == 3 and result.table.loc[0, "n_origins"] == len(result.origins)


def test_moving_average_beats_naive_on_white_noise():
    """On i.i.d. noise the 12-point mean has error variance sigma^2 (1 + 1/12) against naive's 2 sigma^2:
    an MAE ratio of sqrt(24 / 13) = 1.36 in theory."""
    rng = np.random.default_rng(0)
    y = 100 + 10 * rng.standard_normal(1200)
    table = backtest(frame(y), [], horizon=5, test_size=400, refit_every=200, verbose=False).set_index("model")
    ratio = table.loc["naive", "mae"] / table.loc["moving_average", "mae"]
    assert 1.2 < ratio < 1.55
    # Exchangeable errors: split-conformal coverage near its level. The calibration set has ~100 windows,
    # so the realised level has a standard deviation of about sqrt(0.9 * 0.1 / 100) = 0.03.
    assert abs(table.loc["moving_average", "coverage"] - 0.9) < 4 * 0.03
    assert table.loc["moving_average", "mase"] < table.loc["naive", "mase"]


def test_dlinear_recovers_a_noiseless_periodic_series_and_beats_every_baseline():
    t = np.arange(900)
    y = 50 + 10 * np.sin(2 * np.pi * t / 24) + 0.01 * t
    table = backtest(frame(y, "1h"), ["dlinear"], horizon=6, test_size=120, refit_every=60,
                     verbose=False).set_index("model")
    assert table.loc["dlinear", "mae"] < 1e-3 * y.std()
    assert table.loc["dlinear", "mae"] < table.drop(index="dlinear")["mae"].min()
    # A 24-hour season is known for hourly buckets, and the seasonal naive nearly nails it.
    assert table.loc["seasonal_naive", "mae"] < table.loc["naive", "mae"]
    assert list(table.columns[:2]) == ["target", "kind"]
    for column in ("rmse", "smape", "wape", "bias", "mase", "coverage", "interval_width", "interval_score", "confidence",
                   "fit_seconds",
                   "predict_ms"):
        assert np.isfinite(table[column]).all(), column


def test_several_targets_give_one_row_each_and_by_step_errors():
    rng = np.random.default_rng(1)
    data = frame(rng.poisson(20, 600).astype(float))
    data["input_tokens"] = data["requests"] * 100 + rng.poisson(50, 600)
    result = run_backtest(data, ["dlinear"], ["naive"], horizon=3, target=["requests", "input_tokens"],
                          test_size=90, refit_every=45, verbose=False)
    assert list(zip(result.table["model"], result.table["target"])) == [
        ("dlinear", "requests"), ("dlinear", "input_tokens"), ("naive", "requests"), ("naive", "input_tokens")]
    assert result.by_step.shape == (3, 4)
    row = result.table.iloc[0]
    assert result.by_step[("dlinear", "requests")].mean() == pytest.approx(row["mae"])


def test_a_template_gives_the_backtest_its_horizon_and_level_and_keeps_its_settings():
    rng = np.random.default_rng(2)
    data = frame(rng.poisson(30, 500).astype(float))
    predictor = WorkloadPredictor(model="dlinear", horizon=4, level=0.8, window=24)
    table = backtest(data, [predictor], test_size=80, refit_every=40, verbose=False)
    direct = backtest(data, [WorkloadPredictor(model="dlinear", horizon=4, level=0.8, window=24)], horizon=4,
                      level=0.8, test_size=80, refit_every=40, verbose=False)
    pd.testing.assert_frame_equal(table.drop(columns=["fit_seconds", "predict_ms"]),
                                  direct.drop(columns=["fit_seconds", "predict_ms"]))
    assert not hasattr(predictor, "model_")  # backtesting does not fit the template itself
    with pytest.raises(WorkloadDataError, match="horizon=4"):
        backtest(data, [predictor], horizon=5, test_size=80, refit_every=40, verbose=False)


def test_bad_model_names_are_typed_errors():
    data = frame(np.arange(300, dtype=float))
    with pytest.raises(WorkloadDataError, match="unknown"):
        backtest(data, ["prophet"], verbose=False)
    with pytest.raises(WorkloadDataError, match="twice"):
        backtest(data, ["dlinear", "dlinear"], verbose=False)
    # A baseline that is already one of the models is scored once.
    assert list(backtest(data, ["naive"], ["naive", "moving_average"], verbose=False)["model"]) == [
        "naive", "moving_average"]
    assert list(backtest(data, [WorkloadPredictor(model="naive")], verbose=False)["model"]) == [
        "naive", "seasonal_naive", "moving_average", "moving_median"]


BAD_ARGUMENTS = [
    (dict(season_length=-5), "season_length=-5 must be a positive integer"),
    (dict(season_length=0), "season_length=0 must be a positive integer"),  # was read as the default
    (dict(season_length=2.5), "season_length=2.5 must be a positive integer"),
    (dict(season_length=True), "season_length=True must be a positive integer"),
    (dict(moving_average_window=0), "moving_average_window=0 must be a positive integer"),
    (dict(moving_average_window=-3), "moving_average_window=-3 must be a positive integer"),
    (dict(moving_average_window=2.5), "moving_average_window=2.5 must be a positive integer"),
    (dict(moving_average_window="12"), "moving_average_window='12' must be a positive integer"),
    (dict(models=[], baselines=[]), "nothing to evaluate"),
    (dict(foo=1), "no option 'foo'; its options are horizon, .*max_gap"),
    (dict(model="lstm"), "no option 'model'.*models="),
    (dict(models=None), "models=None must be a list"),
    (dict(baselines=3), "baselines=3 must be a list"),
    (dict(horizon=-1), "horizon=-1 must be a positive integer number of buckets, e.g. 10"),
    (dict(horizon=0), "horizon=0 must be a positive integer"),
    (dict(horizon=10.0), "horizon=10.0 must be a positive integer"),
    (dict(horizon="10"), "horizon='10' must be a positive integer"),
    (dict(horizon=True), "horizon=True must be a positive integer"),
    (dict(models=[WorkloadPredictor(model="naive", horizon=-1)], horizon=None),
     "horizon=-1 must be a positive integer .*the first template's horizon"),
    (dict(models=[WorkloadPredictor(model="naive", horizon=2.5)], horizon=None), "horizon=2.5 must be a positive"),
    (dict(models=[WorkloadPredictor(model="naive", horizon="x" * 100)], horizon=None),
     r"horizon='x{60}'\.\.\. \(100 characters\) must be a positive"),
    (dict(test_size=50.7), r"test_size=50\.7 must be a fraction in \(0, 1\) or a whole number of buckets"),
    (dict(test_size="0.25"), "test_size='0.25' must be a fraction"),
    (dict(test_size=float("nan")), "test_size=nan must be a fraction"),
    # A bad level, the backtest's or a template's, is refused before the series is read (it crashed in float()).
    (dict(level=1.5), r"level=1\.5 must be a coverage in \(0, 1\)"),
    (dict(level=True), "level=True must be a coverage"),
    (dict(models=[WorkloadPredictor(model="naive", horizon=5, level=None)]),
     r"'naive' template's level=None \(the backtest takes the first template's level when level=None\) must be"),
    (dict(models=[WorkloadPredictor(model="naive", horizon=5, level=[0.9])]),
     r"level=\[0\.9\] \(the backtest takes .*\) must be a coverage"),
    (dict(models=[WorkloadPredictor(model="naive", horizon=5, level="x")]), r"level='x' \(.*\) must be a coverage"),
    (dict(models=[WorkloadPredictor(model="naive", horizon=5),
                  WorkloadPredictor(model="moving_average", horizon=5, level=float("nan"))]),
     "the moving_average template's level=nan must be a coverage"),
    (dict(memory_limit_mb=-1), "memory_limit_mb=-1 must be a positive"),
    (dict(models=[WorkloadPredictor(model="naive", horizon=5, memory_limit_mb="64")]),
     "memory_limit_mb='64' must be a positive"),
]


@pytest.mark.parametrize("arguments, message", BAD_ARGUMENTS, ids=[str(arguments) for arguments, _ in BAD_ARGUMENTS])
def test_bad_arguments_are_typed_errors_naming_them_before_any_work(monkeypatch, arguments, message):
    def no_work(*args, **kwargs):
        raise AssertionError("the backtest read the series before checking its arguments")

    monkeypatch.setattr("workload_predictor.backtest.prepare_series", no_work)
    arguments = {"models": ["dlinear"], "horizon": 5, "verbose": False, **arguments}
    with pytest.raises(WorkloadDataError, match=message):
        backtest(frame(np.arange(300, dtype=float)), **arguments)


@pytest.mark.parametrize("models, baselines, names", [
    ("naive", ["moving_average"], ["naive", "moving_average"]),
    ([], "moving_average", ["moving_average"]),
    ("naive", "moving_average", ["naive", "moving_average"]),
])
def test_a_single_name_is_a_list_of_one(models, baselines, names):
    """A bare string was read letter by letter ("model 'n' is unknown")."""
    data = frame(np.random.default_rng(3).poisson(20, 300).astype(float))
    options = dict(horizon=3, test_size=60, refit_every=30, verbose=False)
    table = backtest(data, models, baselines, **options)
    assert list(table["model"]) == names
    listed = backtest(data, names[: len(names) - 1], names[-1:], **options)
    pd.testing.assert_frame_equal(table.drop(columns=["fit_seconds", "predict_ms"]),
                                  listed.drop(columns=["fit_seconds", "predict_ms"]))


# -- the ensemble's MAE weighting ------------------------------------------------------------
@given(st.integers(2, 4), st.integers(5, 60), st.integers(0, 2**32 - 1))
@example(2, 26, 65535)  # found by hypothesis: IRLS alone stopped 1.3e-5 above the even mix
def test_absolute_weights_are_on_the_simplex_and_beat_every_member_and_the_even_mix(m, n, seed):
    from workload_predictor.models.combination import convex_weights_absolute

    rng = np.random.default_rng(seed)
    actual = rng.poisson(3, n).astype(float)
    forecasts = actual + rng.normal(0, rng.uniform(0.5, 4, (m, 1)), (m, n))
    w = convex_weights_absolute(forecasts, actual)
    assert np.all(w >= 0) and w.sum() == pytest.approx(1.0)
    error = np.abs(actual - w @ forecasts).sum()
    candidates = list(np.eye(m)) + [np.full(m, 1 / m)]
    assert all(error <= np.abs(actual - c @ forecasts).sum() * (1 + 1e-6) + 1e-9 for c in candidates)


def test_absolute_weights_pick_the_median_on_zero_inflated_counts():
    """Mostly-empty buckets: the squared error prefers the mean, the absolute error the median (0)."""
    from workload_predictor.models.combination import convex_weights, convex_weights_absolute

    rng = np.random.default_rng(0)
    actual = ((rng.random(2000) < 0.1) * rng.poisson(30, 2000)).astype(float)
    forecasts = np.stack([np.zeros_like(actual), np.full_like(actual, actual.mean())])
    assert convex_weights_absolute(forecasts, actual)[0] > 0.99
    assert convex_weights(forecasts, actual)[0] < 0.01


def test_the_table_records_the_lstms_share_of_its_network_at_each_refit():
    """The README's evaluate example shows lstm's row equal to dlinear's, digit for digit, without a word: at every
    refit the network's correction took a share of 0, leaving the LSTM's DLinear base. Its row now says the share at
    each refit, in refit order, as the forecast command's model line words it; the command prints it per refit."""
    from workload_predictor.cli import combination_lines

    def lstm_combination(share):  # as the forecast command's model line words it
        return f"base + {share:.2f} x the network's correction"

    rng = np.random.default_rng(4)
    y = 20 + 8 * np.sin(np.arange(300) * 2 * np.pi / 24) + rng.poisson(3, 300)
    spec = dict(model="lstm", horizon=4, random_state=0, verbose=False, model_params={"max_epochs": 3})
    result = run_backtest(frame(y), [WorkloadPredictor(**spec)], ["naive"], horizon=4, test_size=60, refit_every=30,
                          verbose=False)
    rows = result.table.set_index("model")
    shares = [WorkloadPredictor(**spec).fit(frame(y[:point])).model_.correction_share_ for point in result.refits]
    assert rows.loc["lstm", "combination"] == "; ".join(map(lstm_combination, shares))
    assert len(shares) == 2 and pd.isna(rows.loc["naive", "combination"])
    assert f"lstm combination per refit: {lstm_combination(shares[0])}; " in combination_lines(result.table)[1]


def test_the_table_records_the_ensembles_combination_at_each_refit():
    """The ensemble's chosen combination (fitted weights or a mean of its best members) is in its rows, one per
    refit in refit order; a model that combines nothing has none."""
    rng = np.random.default_rng(3)
    y = 20 + 8 * np.sin(np.arange(400) * 2 * np.pi / 24) + rng.poisson(3, 400)
    template = WorkloadPredictor(model="ensemble", horizon=4, random_state=0, verbose=False,
                                 model_params={"members": ("dlinear", "naive")})
    result = run_backtest(frame(y), [template, "dlinear"], ["naive"], horizon=4, test_size=60, refit_every=30,
                          verbose=False)
    rows = result.table.set_index("model")
    expected = []
    for point in result.refits:
        refit = WorkloadPredictor(model="ensemble", horizon=4, random_state=0, verbose=False,
                                  model_params={"members": ("dlinear", "naive")}).fit(frame(y[:point]))
        expected.append(refit.model_.combination_)
    assert rows.loc["ensemble", "combination"] == "; ".join(expected)
    assert pd.isna(rows.loc["dlinear", "combination"]) and pd.isna(rows.loc["naive", "combination"])


def test_backtest_forecasts_read_a_spike_the_series_came_back_from_as_predict_does():
    """The backtest's forecast at each origin is what predict gives at that point of an update stream: a spike the
    series came back from is settled, one that is the newest bucket stands. Before: the backtest forecast from raw
    inputs (DLinear's MAE on a test span holding one 1e6 bucket: 9857 against 5368 settled)."""
    n0, n = 600, 640
    y = np.random.default_rng(0).poisson(50, n).astype(float)
    y[610] = 1e6
    frame = pd.DataFrame({"timestamp": pd.date_range("2026-01-01", periods=n, freq="10s", tz="UTC"), "requests": y})
    fitted = WorkloadPredictor(model="moving_average", horizon=3).fit(frame.iloc[:n0])
    streamed = copy.deepcopy(fitted)
    values = y[:, None]
    result = run_backtest(frame, ["moving_average"], (), horizon=3, test_size=n - n0, stride=1, refit_every=1000,
                          verbose=False)
    assert result.origins[0] == n0 and len(result.refits) == 1  # one fit, on the points before the test span
    for i, origin in enumerate(range(n0 + 1, n - 3)):
        streamed.update(frame.iloc[origin - 1 : origin])
        expected = np.ravel(streamed.predict().yhat)
        got = np.clip(fitted._forecasts_at(values, np.array([origin]))[0, :, 0], 0.0, None)
        np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-9)
        np.testing.assert_allclose(result.forecasts["moving_average"]["yhat"][i + 1, :, 0], expected, rtol=1e-12,
                                   atol=1e-9)
    assert np.abs(fitted._forecasts_at(values, np.array([615]))[0] - 50).max() < 15  # settled
    assert fitted._forecasts_at(values, np.array([611]))[0].max() > 1e4  # the newest bucket: it stands


def test_a_test_span_leaving_one_training_bucket_names_the_option_and_the_fix():
    with pytest.raises(WorkloadDataError, match="leaves 1 training bucket") as error:
        backtest_origins(400, 10, 399, 1)
    assert "test_size=399" in str(error.value) and "pass test_size=398 or less" in str(error.value)
    assert backtest_origins(400, 10, 398, 1)[0] == 2


@pytest.mark.parametrize("test_size", [10**20, 10**400, 1e300], ids=["1e20", "1e400-int", "1e300-float"])
def test_an_absurdly_large_test_size_is_a_typed_error_quoted_short(test_size):
    with pytest.raises(WorkloadDataError, match="test_size=") as error:
        backtest(frame(np.arange(400.0)), ["naive"], ["naive"], test_size=test_size, verbose=False)
    assert len(str(error.value)) < 250


# -- review fixes: memory, levels, model_params, refits, errors in context --------------------------
def no_fit(*args, **kwargs):
    raise AssertionError("a model was fitted (or the forecasts allocated) before the check")


def test_the_backtests_arrays_are_checked_against_the_memory_limit_before_they_are_allocated(monkeypatch):
    """D1: origins x horizon x targets x models floats were allocated unchecked (490 MiB for a 0.2 MiB input with
    memory_limit_mb=64). The smallest memory_limit_mb of the models and baselines applies."""
    monkeypatch.setattr("workload_predictor.backtest.targets_at", no_fit)
    monkeypatch.setattr(WorkloadPredictor, "fit", no_fit)
    data = frame(np.zeros(6000))
    # 4,901 origins x 100 steps x 1 target x (4 + 3 arrays) x 8 bytes = 26 MiB
    with pytest.raises(MemoryLimitError, match=r"26 MiB .*4,901 origins x horizon 100 .*over memory_limit_mb=8\.") \
            as error:
        run_backtest(data, [], ["naive"], horizon=100, test_size=5000, memory_limit_mb=8, verbose=False)
    assert all(fix in str(error.value) for fix in ("stride=", "test_size=", "horizon=", "fewer models"))
    template = WorkloadPredictor(model="naive", horizon=100, memory_limit_mb=8)  # the baseline has the default 2048
    with pytest.raises(MemoryLimitError, match="over memory_limit_mb=8"):
        run_backtest(data, [template], ["moving_average"], test_size=5000, verbose=False)


def test_a_backtest_within_its_memory_limit_runs():
    data = frame(np.random.default_rng(5).poisson(20, 300).astype(float))
    result = run_backtest(data, [], ["naive"], horizon=3, test_size=60, memory_limit_mb=512, verbose=False)
    assert result.actual.shape == (58, 3, 1) and list(result.table["model"]) == ["naive"]


def test_each_model_is_scored_at_the_level_its_interval_was_calibrated_at():
    """D2: every row's interval score was taken at the backtest's level, a 0.99 template's at 0.5 (18.80 instead
    of 23.08). Each template keeps its own level; named models and baselines take the backtest's."""
    data = frame(np.random.default_rng(0).poisson(20, 200).astype(float))
    templates = [WorkloadPredictor(model="naive", horizon=3, level=0.5),
                 WorkloadPredictor(model="moving_average", horizon=3, level=0.99)]
    for level, baseline_level in ((None, 0.5), (0.8, 0.8)):
        result = run_backtest(data, templates, ["seasonal_naive"], level=level, test_size=30, verbose=False)
        rows = result.table.set_index("model")
        own = {"naive": 0.5, "moving_average": 0.99, "seasonal_naive": baseline_level}
        for name, own_level in own.items():
            f = result.forecasts[name]
            score = interval_score(result.actual[..., 0], f["lower"][..., 0], f["upper"][..., 0], own_level)
            assert rows.loc[name, "interval_score"] == pytest.approx(score, rel=1e-12), (level, name)
        assert rows["level"].to_dict() == own  # the table says which level each row is scored at
    f = result.forecasts["moving_average"]
    assert interval_score(result.actual[..., 0], f["lower"][..., 0], f["upper"][..., 0], 0.5) \
        != pytest.approx(rows.loc["moving_average", "interval_score"])  # the levels do give different scores


def test_model_params_reach_the_named_models_and_not_the_default_baselines(monkeypatch):
    """D4: model_params also went to every default baseline, so backtest(df, ['dlinear'], model_params=...) always
    failed ("naive does not take kernel_size"), after the dlinear refits."""
    data = frame(np.random.default_rng(0).poisson(20, 300).astype(float))
    fitted = []
    fit = WorkloadPredictor.fit

    def recording_fit(self, *args, **kwargs):
        fitted.append((self.model, self.model_params))
        return fit(self, *args, **kwargs)

    monkeypatch.setattr(WorkloadPredictor, "fit", recording_fit)
    table = backtest(data, ["dlinear"], horizon=3, test_size=30, refit_every=10, model_params={"kernel_size": 5},
                     verbose=False)
    assert list(table["model"]) == ["dlinear", "naive", "seasonal_naive", "moving_average", "moving_median"]
    assert [params for name, params in fitted if name == "dlinear"] == [{"kernel_size": 5}] * 3  # three refits
    assert len(fitted) == 15 and all(params is None for name, params in fitted if name != "dlinear")
    # A named model that does not take them is refused before any fit, with the way out.
    monkeypatch.setattr(WorkloadPredictor, "fit", no_fit)
    with pytest.raises(WorkloadDataError, match="which naive does not take.*as WorkloadPredictor templates"):
        backtest(data, ["dlinear", "naive"], [], horizon=3, test_size=30, model_params={"kernel_size": 5},
                 verbose=False)


def test_each_origin_is_forecast_by_the_newest_refit_at_or_before_it():
    """D5: with refit_every below the stride, an origin was forecast by the earliest grid point mapping to it
    (origin 160 by the refit at 151 with refit_every=1)."""
    origins = backtest_origins(200, 5, 50, 10)  # 150, 160, ..., 190
    assert refit_points(origins, 1).tolist() == origins.tolist()
    assert refit_points(origins, 3).tolist() == [150, 159, 168, 180, 189]
    for every in (1, 3, 7, 10, 25, 10**18):
        refits = refit_points(origins, every)
        newest = refits[np.searchsorted(refits, origins, side="right") - 1]
        assert np.all((newest <= origins) & (origins - newest < every)), every
        assert set(newest.tolist()) == set(refits.tolist())  # every refit forecasts at least one origin
    result = run_backtest(frame(np.arange(200.0)), [], ["naive"], horizon=5, test_size=50, stride=10, refit_every=1,
                          verbose=False)
    assert result.refits.tolist() == result.origins.tolist()


def test_a_series_too_short_for_a_first_refit_names_the_backtests_settings_before_any_fit(monkeypatch):
    """D9: the fit's error said "a smaller window=" for a baseline whose window is moving_average_window (or
    season_length), counted the first refit's points without saying so, and came after the earlier fits."""
    monkeypatch.setattr(WorkloadPredictor, "fit", no_fit)
    with pytest.raises(WorkloadDataError) as error:
        backtest(frame(np.arange(20.0)), [], horizon=2, test_size=3, verbose=False)
    message = str(error.value)
    assert message.startswith("backtest: moving_average cannot be fitted at the first refit, on the 17 buckets "
                              "before the test span (the series has 20; test_size=3)")
    assert "the backtest's moving_average_window=12: pass a smaller moving_average_window=" in message
    with pytest.raises(WorkloadDataError, match=r"test_size=74 or less gives it the 26 it needs"):
        backtest(frame(np.arange(100.0)), [], ["moving_average"], horizon=2, test_size=80, verbose=False)
    with pytest.raises(WorkloadDataError, match=r"backtest: seasonal_naive .*pass a smaller season_length="):
        backtest(frame(np.arange(300.0)), [], ["seasonal_naive"], horizon=2, season_length=10**12, verbose=False)
    with pytest.raises(WorkloadDataError, match=r"backtest: dlinear cannot be fitted at the first refit"):
        backtest(frame(np.arange(20.0)), ["dlinear"], ["naive"], horizon=2, test_size=3, verbose=False)


def test_a_fit_error_at_a_refit_names_the_model_and_the_refit(monkeypatch):
    def failing_fit(self, *args, **kwargs):
        raise WorkloadDataError("the data went bad.")

    monkeypatch.setattr(WorkloadPredictor, "fit", failing_fit)
    with pytest.raises(WorkloadDataError, match=r"^backtest: naive failed at the refit on the 225 buckets before "
                                                r"bucket 225 \(of the series' 300\): the data went bad\.$"):
        backtest(frame(np.arange(300.0)), [], ["naive"], horizon=3, test_size=75, verbose=False)


def test_a_horizon_too_long_for_any_test_size_is_named_not_a_test_size_that_cannot_work():
    """A test span shorter than one horizon is answered with the test sizes that hold one; where even the shortest
    of them leaves a model too few buckets to fit (DLinear at horizon 200 on 349 buckets needs 421), that advice
    cannot be followed: the horizon is named (the first refit's error, "a smaller --horizon"). Where the advice
    works, it stays."""
    rng = np.random.default_rng(5)
    frame = pd.DataFrame({"timestamp": pd.date_range("2024-01-01", periods=349, freq="10s", tz="UTC"),
                          "requests": rng.poisson(30, 349).astype(float)})
    with pytest.raises(WorkloadDataError, match=r"the horizon \(200\) is too long for this series whatever the test "
                                                r"size: .*dlinear.* at least 421 points") as raised:
        run_backtest(frame, ["dlinear"], (), horizon=200, test_size=0.25, verbose=False)
    assert "pass test_size=200 to" not in str(raised.value)
    with pytest.raises(WorkloadDataError, match=r"gives a test span of 5 buckets.*pass test_size=10 to 347 buckets"):
        run_backtest(frame, ["dlinear"], (), horizon=10, test_size=5, verbose=False)
