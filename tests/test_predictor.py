"""WorkloadPredictor and the models: forecasts, intervals, confidence, weights, errors, determinism."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import periodic_series
from workload_predictor import Forecast, NotFittedError, WorkloadDataError, WorkloadPredictor, bucketize
from workload_predictor.confidence import RECENT_SHARE, confidence_score, conformal_quantile
from workload_predictor.models import DLinear, Ensemble
from workload_predictor.models.baselines import ExponentialSmoothing, Naive, SeasonalMedian
from workload_predictor.models.registry import params_for



def test_import_does_not_load_torch_or_sklearn():
    code = "import sys, workload_predictor; print('torch' in sys.modules, 'sklearn' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["False", "False"]


def test_import_changes_no_logging_or_warnings_state():
    # numpy and pandas are imported first: their own import-time filters are not ours.
    code = ("import logging, warnings, numpy, pandas; before = (list(warnings.filters), logging.getLogger().handlers[:]);"
            "import workload_predictor; after = (list(warnings.filters), logging.getLogger().handlers[:]);"
            "print(before == after)")
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip() == "True"


@pytest.mark.parametrize("model", ["dlinear", "lstm", "ensemble"])
def test_fit_returns_self_and_forecast_continues_the_index(series_1000, model):
    predictor = WorkloadPredictor(model=model, horizon=10, random_state=0, model_params=params_for(model, max_epochs=5))
    before = series_1000.copy()
    assert predictor.fit(series_1000) is predictor
    pd.testing.assert_frame_equal(series_1000, before)  # the caller's frame is untouched
    forecast = predictor.predict(steps=7)
    assert isinstance(forecast, Forecast)
    expected = pd.date_range(series_1000["timestamp"].iloc[-1] + pd.Timedelta("1min"), periods=7, freq="1min",
                             tz="UTC")
    assert forecast.index.equals(expected)
    frame = forecast.to_frame()
    assert list(frame.columns) == ["yhat", "lower", "upper"]
    assert (frame["lower"] <= frame["yhat"]).all() and (frame["yhat"] <= frame["upper"]).all()
    assert (frame["lower"] >= 0).all()
    assert 0.0 <= forecast.confidence <= 1.0
    assert forecast.level == 0.9 and forecast.model == model


def test_predict_before_fit_raises_not_fitted():
    with pytest.raises(NotFittedError):
        WorkloadPredictor().predict()
    with pytest.raises(NotFittedError):
        DLinear().predict()
    assert issubclass(NotFittedError, ValueError)


def test_dlinear_recovers_a_noiseless_linear_plus_periodic_series():
    series = periodic_series(1000, noise=0.0)
    predictor = WorkloadPredictor(model="dlinear", horizon=10).fit(series)
    t = np.arange(1000, 1010)
    truth = 100 + 0.02 * t + 20 * np.sin(2 * np.pi * t / 60) + 30 * np.sin(2 * np.pi * t / 288)
    forecast = predictor.predict()
    assert np.abs(forecast.yhat[:, 0] - truth).max() < 0.05
    assert forecast.confidence > 0.999
    assert np.all(forecast.upper[:, 0] - forecast.lower[:, 0] < 0.1)


def test_confidence_falls_as_noise_rises():
    scores = [WorkloadPredictor(model="dlinear").fit(periodic_series(1000, noise=s, seed=1)).confidence_
              for s in (0.0, 5.0, 20.0, 60.0)]
    assert scores == sorted(scores, reverse=True)
    assert scores[0] > 0.99 and scores[-1] < scores[1]


@settings(max_examples=10, deadline=None)
@given(seed=st.integers(0, 2**16), n_targets=st.integers(1, 3), level=st.floats(0.5, 0.95))
def test_calibration_is_computed_from_the_validation_forecasts(seed, n_targets, level):
    """Confidence (1 - WAPE per target, averaged), interval half-widths and validation MAE, recomputed from the
    model's out-of-sample validation buffers with the kernels, clipped at 0 as forecasts are."""
    frame = periodic_series(500, noise=8.0, seed=seed)
    targets = [f"t{j}" for j in range(n_targets)]
    rng = np.random.default_rng(seed)
    for j, name in enumerate(targets):
        frame[name] = np.maximum(frame["requests"] * (j + 1) + rng.normal(0, 10 * (j + 1), len(frame)), 0)
    predictor = WorkloadPredictor(horizon=6, level=level).fit(frame, target=targets)
    forecast = np.clip(predictor.model_.validation_forecast_, 0, None)
    actual = predictor.model_.validation_actual_
    by_target = [confidence_score(actual[:, :, j], forecast[:, :, j]) for j in range(n_targets)]
    assert predictor.predict().confidence_by_target == pytest.approx(dict(zip(targets, by_target)), rel=1e-12, abs=1e-15)
    assert predictor.confidence_ == pytest.approx(np.mean(by_target), rel=1e-12, abs=1e-15)
    np.testing.assert_array_equal(predictor.interval_halfwidth_, conformal_quantile(np.abs(actual - forecast), level))
    np.testing.assert_allclose(predictor.validation_mae_, np.abs(actual - forecast).mean(axis=(0, 1)), rtol=1e-12)


@settings(max_examples=10, deadline=None)
@given(st.floats(1e-3, 1e6))
def test_scaling_the_input_scales_the_forecast(factor):
    series = periodic_series(400, noise=3.0)
    scaled = series.assign(requests=series["requests"] * factor)
    base = WorkloadPredictor(horizon=5).fit(series).predict()
    other = WorkloadPredictor(horizon=5).fit(scaled).predict()
    np.testing.assert_allclose(other.yhat, base.yhat * factor, rtol=1e-6)
    np.testing.assert_allclose(other.upper, base.upper * factor, rtol=1e-6)
    assert abs(other.confidence - base.confidence) < 1e-9


def test_forecasts_and_lower_bounds_are_clipped_at_zero():
    # A series that falls to zero: the unclipped linear forecast would go negative.
    n = 300
    y = np.concatenate([np.linspace(50, 0, 200), np.zeros(100)]) + np.r_[np.zeros(200), np.tile([0, 3], 50)]
    frame = pd.DataFrame({"timestamp": pd.date_range("2024-01-01", periods=n, freq="1s"), "requests": y})
    forecast = WorkloadPredictor(horizon=10).fit(frame).predict()
    assert (forecast.yhat >= 0).all() and (forecast.lower >= 0).all()
    assert (forecast.lower <= forecast.yhat).all() and (forecast.yhat <= forecast.upper).all()


def test_ensemble_weights_are_a_distribution_and_follow_the_better_member():
    periodic = periodic_series(800, noise=2.0)["requests"].to_numpy()
    weights = Ensemble(horizon=10, members=("dlinear", "naive")).fit(periodic).weights_
    assert weights["dlinear"] > 0.8 and abs(sum(weights.values()) - 1) < 1e-9
    # On a random walk the last value is the best forecast: now naive must win over a 24-point average.
    walk = 1000 + np.cumsum(np.random.default_rng(0).standard_normal(800)) * 5
    weights = Ensemble(horizon=5, members=("naive", "moving_average"), member_params={"moving_average": {"window": 24}}).fit(walk).weights_
    assert weights["naive"] > weights["moving_average"] and min(weights.values()) >= 0


def test_ensemble_predictor_exposes_weights_and_own_calibration(series_1000):
    predictor = WorkloadPredictor(model="ensemble", horizon=10, random_state=0,
                                  model_params=params_for("ensemble", max_epochs=5)).fit(series_1000)
    assert set(predictor.weights_) == {"dlinear", "lstm", "naive", "moving_average", "moving_median",
                                       "exponential_smoothing"}
    assert all(w >= 0 for w in predictor.weights_.values())
    assert abs(sum(predictor.weights_.values()) - 1) < 1e-9
    members = predictor.model_.members_
    steps = predictor.model_.step_weights_  # per horizon step; weights_ holds their means
    blended = sum(steps[n][None, :, None] * m.validation_forecast_ for n, m in members.items())
    np.testing.assert_allclose(predictor.model_.validation_forecast_, blended)


def test_lstm_is_deterministic_with_random_state_and_keeps_global_rng(series_1000):
    import torch

    torch.manual_seed(123)
    state = torch.get_rng_state()
    threads = torch.get_num_threads()
    a = WorkloadPredictor(model="lstm", random_state=7, model_params={"max_epochs": 5})
    first = a.fit(series_1000).predict().yhat
    second = WorkloadPredictor(model="lstm", random_state=7, model_params={"max_epochs": 5}).fit(series_1000).predict().yhat
    np.testing.assert_array_equal(first, second)
    assert torch.equal(torch.get_rng_state(), state)  # the caller's RNG is untouched
    assert torch.get_num_threads() == threads
    assert isinstance(a.model_.final_train_loss_, float)


def test_the_lstm_keeps_its_correction_only_as_far_as_the_validation_tail_says_it_helps(tmp_path):
    """On the code trace at 1 s (output tokens, h = 30) the network, trained on squared error, chases the bursts:
    with all of its correction the LSTM's MAE on the following quarter was 1.6x its DLinear base's. The tail
    (out of sample for the network and its early stopping) weighs the correction against the base alone; the
    forecast adds that share of it, the share travels with a saved model, and a forged one is refused."""
    from workload_predictor import ModelFileError
    from workload_predictor.datasets import azure_llm_trace
    from workload_predictor.models.combination import error_difference, evidence_shrinkage

    series = bucketize(azure_llm_trace("code"), freq="1s").iloc[1:-1]
    cut, horizon = int(0.75 * len(series)), 30
    lstm = WorkloadPredictor(model="lstm", horizon=horizon, random_state=0).fit(series.iloc[:cut], target="output_tokens")
    dlinear = WorkloadPredictor(model="dlinear", horizon=horizon).fit(series.iloc[:cut], target="output_tokens")
    model = lstm.model_
    assert model.best_epoch_ > 0  # the network did train: early stopping kept a correction
    # On the tail: the base's forecasts (a DLinear with the same settings, fitted on the same points) and the
    # network's correction (only the base is refitted after validation) give the share and the forecasts.
    y = series[["output_tokens"]].to_numpy(float)
    base = dlinear.model_.validation_forecast_
    correction = model._parts_at(y[:cut], model.validation_origins_)[1] * model.scale_
    t, share = evidence_shrinkage(error_difference(base + correction, base, model.validation_actual_),
                                  model.validation_origins_, horizon)
    assert t > 0 and (model.correction_t_, model.correction_share_) == pytest.approx((t, share))
    np.testing.assert_allclose(model.validation_forecast_, base + share * correction, rtol=1e-9)
    origins = np.arange(cut, len(series) - horizon + 1)
    actual_after = np.stack([y[o : o + horizon] for o in origins])
    if share == 0:  # the base alone, refitted as DLinear refits itself: DLinear's forecasts
        np.testing.assert_allclose(model.predict_at(y, origins), dlinear.model_.predict_at(y, origins), rtol=1e-9)
    lstm_mae = np.abs(model.predict_at(y, origins) - actual_after).mean()
    dlinear_mae = np.abs(dlinear.model_.predict_at(y, origins) - actual_after).mean()
    assert lstm_mae <= 1.02 * dlinear_mae, (lstm_mae, dlinear_mae)
    path = lstm.save(tmp_path / "lstm.wp")
    assert WorkloadPredictor.load(path).model_.correction_share_ == model.correction_share_
    model.correction_share_ = 2.0
    with pytest.raises(ModelFileError, match="correction share 2.0"):
        WorkloadPredictor.load(lstm.save(tmp_path / "forged.wp"))


def test_lstm_restores_thread_setting_when_given_n_threads(series_1000):
    import torch

    before = torch.get_num_threads()
    WorkloadPredictor(model="lstm", n_threads=1, model_params={"max_epochs": 2}, random_state=0).fit(series_1000).predict()
    assert torch.get_num_threads() == before


def test_multi_target_frame_has_target_field_columns():
    series = periodic_series(500, noise=2.0)
    series["input_tokens"] = series["requests"] * 900.0
    predictor = WorkloadPredictor(horizon=4).fit(series, target=["requests", "input_tokens"])
    frame = predictor.predict().to_frame()
    assert frame.columns.names == ["target", "field"]
    assert list(frame.columns.get_level_values(0).unique()) == ["requests", "input_tokens"]
    np.testing.assert_allclose(frame[("input_tokens", "yhat")], frame[("requests", "yhat")] * 900, rtol=1e-6)


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda s: WorkloadPredictor(model="prophet").fit(s), "unknown"),
        (lambda s: WorkloadPredictor(level=1.5).fit(s), "level"),
        (lambda s: WorkloadPredictor(horizon=0).fit(s), "horizon"),
        (lambda s: WorkloadPredictor().fit(s).predict(steps=0), "steps"),
        (lambda s: WorkloadPredictor(horizon=5).fit(s).predict(steps=6), "horizon=6"),
        (lambda s: WorkloadPredictor().fit(s.iloc[:30]), "at least"),
        (lambda s: WorkloadPredictor(window=500).fit(s.iloc[:400]), "at least"),
    ],
)
def test_bad_arguments_raise_typed_errors(make, message):
    with pytest.raises(WorkloadDataError, match=message):
        make(periodic_series(1000, noise=1.0))


def test_too_short_message_says_how_many_points_are_needed():
    with pytest.raises(WorkloadDataError) as info:
        WorkloadPredictor(horizon=10, window=24).fit(periodic_series(40))
    needed = int(info.value.args[0].split("at least ")[1].split()[0])
    WorkloadPredictor(horizon=10, window=24).fit(periodic_series(needed))  # exactly that many is enough
    with pytest.raises(WorkloadDataError):
        WorkloadPredictor(horizon=10, window=24).fit(periodic_series(needed - 1))


@pytest.mark.parametrize("model, horizon, window", [("lstm", 10, None), ("ensemble", 10, None), ("lstm", 3, 24),
                                                     ("dlinear", 10, None)])
def test_every_model_fits_at_exactly_the_length_its_message_names(model, horizon, window):
    """The LSTM splits its training part again (early stopping): the minimum counts both splits."""
    settings = dict(model=model, horizon=horizon, window=window, random_state=0,
                    model_params=params_for(model, max_epochs=1, hidden_size=4) or None)
    with pytest.raises(WorkloadDataError) as info:
        WorkloadPredictor(**settings).fit(periodic_series(20))
    needed = int(info.value.args[0].split("at least ")[1].split()[0])
    forecast = WorkloadPredictor(**settings).fit(periodic_series(needed, noise=3.0)).predict()
    assert np.isfinite(forecast.yhat).all()
    with pytest.raises(WorkloadDataError, match=f"at least {needed} points"):
        WorkloadPredictor(**settings).fit(periodic_series(needed - 1, noise=3.0))


def test_get_and_set_params_follow_sklearn():
    predictor = WorkloadPredictor(model="lstm", horizon=3)
    params = predictor.get_params()
    assert params["model"] == "lstm" and params["horizon"] == 3
    clone = WorkloadPredictor(**params)
    assert clone.get_params() == params
    assert predictor.set_params(horizon=5) is predictor and predictor.horizon == 5
    with pytest.raises(ValueError):
        predictor.set_params(nonsense=1)


def test_intervals_cover_held_out_data_at_the_nominal_level():
    # Gaussian noise around a known periodic signal: split-conformal intervals must cover ~90 %
    # of held-out points. 1000 held-out windows x 10 steps; the bounds allow for sampling error.
    series = periodic_series(3000, noise=8.0, seed=4)
    history, future = series.iloc[:1900], series["requests"].to_numpy()
    predictor = WorkloadPredictor(horizon=10, level=0.9).fit(history)
    origins = np.arange(1900, 2990)
    point = np.clip(predictor.model_.predict_at(future[:, None], origins), 0, None)[:, :, 0]
    truth = np.stack([future[o : o + 10] for o in origins])
    half = predictor.interval_halfwidth_[:, 0]
    covered = (np.abs(truth - point) <= half).mean()
    assert 0.85 <= covered <= 0.95, covered


@pytest.mark.parametrize("params", [{"model_params": {"kernel_size": 0}}, {"model_params": {"kernel_size": 2.5}},
                                    {"window": 0}, {"window": True}])
def test_bad_model_settings_raise_typed_errors(params):
    with pytest.raises(WorkloadDataError, match="positive integer"):
        WorkloadPredictor(**params).fit(periodic_series(300))


def test_bad_ridge_penalty_raises_a_typed_error():
    with pytest.raises(WorkloadDataError, match="alpha"):
        DLinear(alpha=-1.0).fit(np.arange(300.0))


def test_forecast_history_is_a_copy_not_a_view_of_the_fitted_series():
    predictor = WorkloadPredictor().fit(periodic_series(300))
    before = predictor.series_.values.copy()
    history = predictor.predict().history
    history.iloc[-1, 0] = -999.0  # the caller edits what it was given
    np.testing.assert_array_equal(predictor.series_.values, before)
    assert list(history.columns) == ["requests"]
    edited = predictor.predict().history
    edited.columns.name = "edited"  # an Index's name is settable in place: the next forecast's columns keep theirs
    edited.index.name = "edited"
    following = predictor.predict().history
    assert following.columns.name is None and following.index.name == predictor.series_.index.name
    pd.testing.assert_index_equal(following.columns, pd.Index(["requests"]))


@settings(max_examples=10, deadline=None)
@given(n=st.integers(300, 500), window=st.sampled_from([12, 24, 48]), horizon=st.integers(1, 8),
       seed=st.integers(0, 2**16), refits=st.integers(1, 5))
def test_dlinear_rolling_forecast_is_a_refit_on_the_windows_before_each_group(n, window, horizon, seed, refits):
    """Each group of rolling origins is forecast exactly as a DLinear fitted on the data before the group's first
    origin would (same window and relative penalty ``alpha_``; the penalty relative to those windows, as a fit sets
    it)."""
    y = periodic_series(n, noise=3.0, seed=seed)["requests"].to_numpy()
    model = DLinear(horizon=horizon, window=window).fit(y)
    origins = np.arange(model.rolling_start(), n - horizon + 1, 7)
    forecast = model.rolling_forecast(y[:, None], origins, refits=refits)
    for group in np.array_split(np.arange(len(origins)), min(refits, len(origins))):
        first = int(origins[group[0]])
        refit = DLinear(horizon=horizon, window=window, alpha=model.alpha_)
        refit._fit_arrays(y[:first, None], refit=False)  # every window before the group, no validation split
        np.testing.assert_allclose(forecast[group], refit._predict_at(y[:, None], origins[group]), rtol=1e-7,
                                   atol=1e-7 * np.abs(y).max())
    with pytest.raises(WorkloadDataError):
        model.rolling_forecast(y[:, None], np.array([model.rolling_start() - 1]))


def test_combination_picks_the_member_exact_at_each_step():
    """A member exact at the first step and one exact after it: the per-step rule wins the cross-validation."""
    from workload_predictor.models import combination

    rng = np.random.default_rng(1)
    actual = rng.gamma(2.0, 5.0, (300, 4, 1))
    first_step = actual + rng.normal(0, 3, actual.shape) * (np.arange(4) > 0)[None, :, None]  # exact at step 0
    later_steps = actual + rng.normal(0, 3, actual.shape) * (np.arange(4) == 0)[None, :, None]  # exact after it
    rule, weights, scores, held_out = combination.choose(np.stack([first_step, later_steps]), actual)
    assert rule == ("best", 1, True) and scores[rule] == pytest.approx(0.0, abs=1e-12)
    np.testing.assert_allclose(weights, [[1, 0, 0, 0], [0, 1, 1, 1]])
    np.testing.assert_allclose(held_out, actual, atol=1e-9)  # every fold found the same rule out of sample


def test_combination_prefers_a_mean_when_members_err_independently():
    """Three members with independent errors of the same size: their mean halves the error's spread, and the
    cross-validation sees it; a member that is worse everywhere is left out."""
    from workload_predictor.models import combination

    rng = np.random.default_rng(2)
    actual = 50 + rng.normal(0, 1, (400, 5, 1))
    members = np.stack([actual + rng.normal(0, 4, actual.shape) for _ in range(3)] + [actual + 30.0])
    rule, weights, scores, _ = combination.choose(members, actual)
    assert rule[0] == "weights" or rule[1] == 3
    assert scores[rule] < scores[("best", 1, False)]
    assert weights[3].max() < 0.05 and weights.sum(axis=0) == pytest.approx(np.ones(5))


def test_combination_takes_the_median_when_each_member_is_far_off_at_other_times():
    """Three members close to the truth except for bursts, each at other origins: any weighted sum (the best
    member, a mean, fitted weights) carries some member's burst, their median none. The cross-validation takes it,
    and its held-out forecasts are the median itself (it fits nothing)."""
    from workload_predictor.models import combination

    rng = np.random.default_rng(3)
    actual = 20 + rng.normal(0, 1, (300, 5, 1))
    burst = rng.integers(0, 3, 300)  # which member is off at each origin
    members = np.stack([actual + rng.normal(0, 0.5, actual.shape) + 40.0 * (burst == j)[:, None, None]
                        for j in range(3)])
    rule, weights, scores, held_out = combination.choose(members, actual)
    assert rule == combination.MEDIAN and combination.describe(rule, ["a", "b", "c"]) == "median of the members"
    assert scores[rule] < 0.5 * min(score for other, score in scores.items() if other != rule)
    np.testing.assert_allclose(held_out, np.median(members, axis=0))
    assert not weights.any()  # no weighted sum: combine_rule applies the rule
    np.testing.assert_allclose(combination.combine_rule(rule, weights, members), np.median(members, axis=0))
    assert combination.MEDIAN not in combination.candidate_rules(2)  # of two, the median is their mean
    # Given the origins, it shares the weight with the best weighted rule as far as the evidence goes: all of it here.
    blended, _, _, held_out = combination.choose(members, actual, origins=np.arange(300), horizon=5)
    assert blended[0] == "median" and blended[1] == 1.0 and blended[2] != combination.MEDIAN
    np.testing.assert_allclose(held_out, np.median(members, axis=0))


def test_ensemble_with_the_median_rule_forecasts_it_and_keeps_it_through_save_and_update(tmp_path):
    """On the code trace at 1 s (most buckets empty, bursts one member follows and others not) the median of the
    members (without the moving median, which on such counts wins as the best member by itself) wins the cross-validation and shares the weight with the best weighted rule as far as the evidence
    says it beats it. The forecast is the median's share times the slots' median (the LSTM's forecast in the slot
    it shares with DLinear) plus the other weights; a saved model forecasts the same, and an update keeps the rule."""
    from workload_predictor.datasets import azure_llm_trace
    from workload_predictor.models import combination

    series = bucketize(azure_llm_trace("code"), freq="1s").iloc[1:-1]
    members = ("dlinear", "lstm", "naive", "moving_average", "exponential_smoothing", "seasonal_median")
    predictor = WorkloadPredictor(model="ensemble", horizon=10, random_state=0,
                                  model_params={"members": members, "member_params": {"lstm": {"max_epochs": 5}}},
                                  ).fit(series.iloc[:2000])
    model = predictor.model_
    rule = model.combination_rule_
    assert rule[0] == "median" and 0.5 <= rule[1] <= 1 and rule[2] in combination.candidate_rules(len(model._slots()))
    assert model.median_share_ == pytest.approx(model.combination_share_ * rule[1]) and model.median_share_ > 0
    assert sum(model.weights_.values()) == pytest.approx(1 - model.median_share_)
    y = series[["requests"]].to_numpy(float)
    origins = np.arange(2000, 2090)
    forecasts = {name: member.predict_at(y, origins) for name, member in model.members_.items()}
    slots = [forecasts[name] for name in model._slots()]
    slots[model._slots().index("dlinear")] = forecasts["lstm"]  # the LSTM takes the slot it shares with DLinear
    linear = sum(model.step_weights_[name][None, :, None] * f for name, f in forecasts.items())
    expected = linear + model.median_share_ * np.median(np.stack(slots), axis=0)
    np.testing.assert_allclose(model.predict_at(y, origins), expected, rtol=1e-12, atol=1e-12)
    predictor.save(tmp_path / "median.wp")
    loaded = WorkloadPredictor.load(tmp_path / "median.wp")
    np.testing.assert_array_equal(loaded.predict().yhat, predictor.predict().yhat)
    loaded.update(series.iloc[2000:2020])
    assert loaded.model_.combination_rule_ == rule
    assert loaded.model_.median_share_ == model.median_share_ and np.isfinite(loaded.predict().yhat).all()


def test_ensemble_weighs_members_on_rolling_origins_before_the_tail():
    """The evidence holds the history's rolling-origin forecasts and the tail's; the weights are convex per step,
    and the combination chosen is recorded."""
    from workload_predictor.models.ensemble import Ensemble

    y = periodic_series(600, noise=6.0, seed=3)["requests"].to_numpy()
    members = ("dlinear", "naive", "moving_average", "exponential_smoothing", "seasonal_naive")
    model = Ensemble(horizon=5, members=members, member_params={"seasonal_naive": {"season_length": 60}}).fit(y)
    tail = len(model.validation_origins_)
    # Every origin from the first DLinear's rolling refits can forecast (the other members start earlier) to the tail.
    first = int(model.validation_origins_[0])
    assert model.n_history_origins_ == first - 5 + 1 - model.members_["dlinear"].rolling_start() > tail
    assert model.evidence_forecast_.shape == (len(members), model.n_history_origins_ + tail, 5, 1)
    weights = np.stack(list(model.step_weights_.values()))
    assert weights.min() >= 0 and weights.sum(axis=0) == pytest.approx(np.ones(5))
    assert isinstance(model.combination_, str) and model.combination_ and model.combination_scores_
    # A clean cycle DLinear captures: the learned member carries most of the weight, through the rule the tail trusts
    # or as the fallback itself (its history beats every baseline's: the rule and the fallback then both hold it).
    assert model.weights_["dlinear"] > 0.5
    assert model.combination_share_ > 0.5 or model.combination_.endswith("the fallback member (dlinear)")


def test_a_tail_without_evidence_splits_the_weight_instead_of_giving_it_to_the_fallback():
    """The tail's 22 windows of 30 steps fit in one block of a horizon: no evidence either way. The combination the
    history chose (it holds DLinear, which reads this cycle) got no weight at all beside the baselines' fallback;
    it gets half, and the continuation is forecast better than by the fallback alone."""
    from workload_predictor.models import combination
    from workload_predictor.models.ensemble import Ensemble
    from workload_predictor.windows import targets_at

    y = periodic_series(400, noise=2.0, seed=0)["requests"].to_numpy()
    model = Ensemble(horizon=30, members=("dlinear", "naive", "moving_average")).fit(y[:340])
    assert len(model.validation_origins_) < 30  # fewer origins than one block of a horizon
    assert (model.combination_t_, model.combination_share_) == (0.0, 0.5)
    origins = np.arange(340, 371)
    actual = targets_at(y[:, None], origins, 30)
    forecasts = np.stack([member.predict_at(y, origins) for member in model.members_.values()])
    fallback = combination.combine(model.fallback_weights_, forecasts)
    assert np.abs(model.predict_at(y, origins) - actual).mean() < 0.95 * np.abs(fallback - actual).mean()


def test_ensemble_interval_comes_from_out_of_sample_combined_forecasts_at_every_evidence_origin():
    """The interval's residuals are the combination's at every rolling origin of the evidence (history and tail),
    each with weights fitted on the cross-validation folds that left its block out: out of sample for the members
    and for the weights. Recomputed here from the evidence, the rule and the folds (contiguous fifths)."""
    from workload_predictor.models import combination

    frame = periodic_series(500, noise=20.0, seed=2)  # a noisy cycle: the tail trusts the chosen rule in part
    predictor = WorkloadPredictor(model="ensemble", horizon=5,
                                  model_params={"members": ("dlinear", "naive", "moving_average")}).fit(frame)
    model = predictor.model_
    f, a, n_history = model.evidence_forecast_, model.evidence_actual_, model.n_history_origins_
    assert model.fallback_weights_ is not None and 0 < model.combination_share_ < 1
    assert n_history > len(model.validation_origins_)
    size = np.abs(a).mean(axis=(0, 1))
    blocks = np.arange(len(a)) * 5 // len(a)
    expected = np.empty_like(a)
    for block in range(5):
        test, train = blocks == block, blocks != block
        chosen = combination.rule_weights(model.combination_rule_, f[:, train] / size, a[train] / size)
        history = train & (np.arange(len(a)) < n_history)
        fallback = model._best_baseline(f[:, history], a[history], model._simple_slots())
        weights = model.combination_share_ * chosen + (1 - model.combination_share_) * fallback
        expected[test] = combination.combine(weights, f[:, test])
    np.testing.assert_allclose(model.calibration_forecast_, expected, rtol=1e-6, atol=1e-9)
    np.testing.assert_array_equal(model.calibration_actual_, a)
    errors = np.abs(a - np.clip(model.calibration_forecast_, 0, None))
    recent, n = len(model.validation_actual_), len(a)  # the tail's windows weigh RECENT_SHARE, the history the rest
    weights = np.where(np.arange(n) >= n - recent, RECENT_SHARE * n / recent, (1 - RECENT_SHARE) * n / (n - recent))
    np.testing.assert_array_equal(predictor.interval_halfwidth_, conformal_quantile(errors, predictor.level, weights))
    assert predictor.n_calibration_windows_ == len(a) > predictor.n_validation_windows_


WITHOUT_LSTM = ("dlinear", "naive", "moving_average", "exponential_smoothing")


@pytest.mark.parametrize("members", [
    None,  # the default members
    pytest.param(WITHOUT_LSTM, marks=pytest.mark.xfail(strict=True, reason=(
        "issue 11, open: without the LSTM, members that follow the level leave the ensemble 6.4 % over exponential "
        "smoothing on this draw (raw members: 2.7 % under it); with the default members it is 0.7 % under its best"))),
])
def test_ensemble_is_within_two_percent_of_its_best_member_on_perf_synthetic_draws(members):
    """Issue 11: on perf's synthetic family (seed 5), refitted at 9 origins (10 steps each), the ensemble's weights
    from the short validation tail gave it +28 % over its best member; the LSTM's raw-level network extrapolating a
    rise did the same once members followed the level."""
    import sys
    from pathlib import Path

    from workload_predictor.models.ensemble import Ensemble
    from workload_predictor.windows import targets_at

    sys.path.append(str(Path(__file__).resolve().parents[1]))
    from perf.datasets import generate

    y = generate(1000, seed=5)["requests"].to_numpy(float)
    origins = np.arange(910, 991, 10)
    settings = {"random_state": 0} if members is None else {"members": members}
    forecasts: dict[str, list] = {"ensemble": []}
    for origin in origins:
        model = Ensemble(horizon=10, **settings).fit(y[:origin])
        forecasts["ensemble"].append(model.predict_at(y, [origin])[0])
        for name, member in model.members_.items():
            forecasts.setdefault(name, []).append(member.predict_at(y, [origin])[0])
    members = [name for name in forecasts if name != "ensemble" and len(forecasts[name]) == len(origins)]
    actual = targets_at(y[:, None], origins, 10)
    mae = {name: float(np.abs(np.clip(np.array(f), 0, None) - actual).mean()) for name, f in forecasts.items()
           if len(f) == len(origins)}
    assert mae["ensemble"] <= 1.02 * min(mae[name] for name in members), mae


def _poisson_frame(n: int = 300) -> pd.DataFrame:
    index = pd.date_range("2024-01-01", periods=n, freq="10s", tz="UTC")
    return pd.DataFrame({"timestamp": index, "requests": np.random.default_rng(0).poisson(20, n).astype(float)})


def test_save_before_fit_raises_not_fitted(tmp_path):
    with pytest.raises(NotFittedError):
        WorkloadPredictor().save(tmp_path / "unfitted.wp")
    assert not (tmp_path / "unfitted.wp").exists()


def test_parameters_set_after_fit_neither_relabel_the_forecast_nor_make_an_unloadable_file(tmp_path):
    # scikit-learn's contract: the fitted state stands until the next fit. The forecast is the fitted DLinear's at
    # the level it was calibrated at, whatever set_params says since; a file whose parameters name another model or
    # horizon than the one it holds would not load, so save refuses to write it.
    frame = _poisson_frame()
    predictor = WorkloadPredictor(horizon=5, level=0.9).fit(frame)
    before = predictor.predict()
    predictor.set_params(model="naive", level=0.5)
    after = predictor.predict()
    assert (after.model, after.level) == ("dlinear", 0.9)
    np.testing.assert_array_equal(after.upper, before.upper)
    with pytest.raises(WorkloadDataError, match=r"model='naive' set since fit.*fit again"):
        predictor.save(tmp_path / "changed.wp")
    predictor.set_params(horizon=2, model="dlinear")
    with pytest.raises(WorkloadDataError, match="horizon=2 set since fit"):
        predictor.save(tmp_path / "changed.wp")
    predictor.set_params(horizon=5)
    loaded = WorkloadPredictor.load(predictor.save(tmp_path / "kept.wp"))
    assert (loaded.predict().model, loaded.predict().level) == ("dlinear", 0.9)
    # update() recalibrates the interval at the level set now, and says so.
    step = frame["timestamp"].iloc[-1] + pd.Timedelta("10s")
    loaded.update(pd.DataFrame({"timestamp": [step], "requests": [20.0]}))
    assert loaded.predict().level == 0.5


@pytest.mark.parametrize("make", [
    lambda: DLinear(horizon=5), lambda: Naive(horizon=5), lambda: ExponentialSmoothing(horizon=5),
    lambda: SeasonalMedian(horizon=5, season_length=12), lambda: Ensemble(horizon=5, members=("dlinear", "naive")),
], ids=["DLinear", "Naive", "ExponentialSmoothing", "SeasonalMedian", "Ensemble"])
def test_a_model_whose_horizon_changed_since_fit_refuses_to_forecast_or_update_until_set_back(make):
    """set_params(horizon=20) after a fit with 5: DLinear's predict(10) returned 5 values, Naive's 10 from buffers
    calibrated for 5, and update crashed inside numpy."""
    y = np.random.default_rng(0).poisson(50, 400).astype(float)
    model = make().fit(y)
    before = model.predict()
    model.set_params(horizon=20)
    for call in (lambda: model.predict(), lambda: model.predict(10), lambda: model.update(y[:3]),
                 lambda: model.predict_at(y, [300])):
        with pytest.raises(WorkloadDataError, match=r"horizon changed from 5 to 20 since fit: fit again, or set it "
                                                    r"back with set_params\(horizon=5\)"):
            call()
    np.testing.assert_array_equal(model.set_params(horizon=5).predict(), before)  # unchanged by the refusals
    assert model.update(y[:3]).predict().shape == (5,)
    assert model.set_params(horizon=20).fit(y).predict(10).shape == (10,)  # a new fit takes the new horizon


@pytest.mark.parametrize("call", [
    lambda frame: WorkloadPredictor().fit(frame.rename(columns={"requests": 0}), target=0),
    lambda frame: WorkloadPredictor().fit(frame, target=None),
    lambda frame: WorkloadPredictor(model_params=[1]).fit(frame),
    lambda frame: bucketize(pd.DataFrame({"TIMESTAMP": frame["timestamp"], "ContextTokens": 1}), freq="10s",
                            sums=["ContextTokens"]),
    lambda frame: bucketize(pd.DataFrame({"TIMESTAMP": frame["timestamp"]}), freq="10s", max_buckets="5"),
    lambda frame: bucketize(pd.DataFrame({"TIMESTAMP": frame["timestamp"], "k": 1}), freq="10s", max_buckets=0,
                            by="k"),
    lambda frame: WorkloadPredictor().fit(frame).health(thresholds=[1]),
    lambda frame: WorkloadPredictor().fit(frame).predict().to_requests(random_state="x"),
], ids=["int target", "None target", "model_params list", "sums list", "max_buckets str", "max_buckets 0 by key",
        "health thresholds list", "to_requests random_state str"])
def test_arguments_of_the_wrong_type_raise_a_typed_error(call):
    with pytest.raises(WorkloadDataError):
        call(_poisson_frame())


def test_a_numpy_float_level_is_a_level():
    forecast = WorkloadPredictor(level=np.float32(0.8)).fit(_poisson_frame()).predict()
    assert forecast.level == pytest.approx(0.8)


def test_a_named_series_whose_name_is_not_the_target_asked_for_is_refused():
    series = _poisson_frame().set_index("timestamp")["requests"]
    with pytest.raises(WorkloadDataError, match=r"the Series is named 'foo', not 'bar'"):
        WorkloadPredictor(horizon=3).fit(series.rename("foo"), target="bar")
    assert WorkloadPredictor(horizon=3).fit(series.rename("foo")).targets_ == ("foo",)  # the default keeps the name
    assert WorkloadPredictor(horizon=3).fit(series.rename(None), target="bar").targets_ == ("bar",)
    predictor = WorkloadPredictor(horizon=3).fit(series)
    step = series.index[-1] + pd.Timedelta("10s")
    with pytest.raises(WorkloadDataError, match="the Series is named 'input_tokens'"):
        predictor.update(pd.Series([5.0], index=[step], name="input_tokens"))
    predictor.update(pd.Series([5.0], index=[step], name="requests"))
    assert predictor.n_updates_ == 1
