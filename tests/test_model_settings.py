"""Typed errors for the models' own settings and inputs: DLinear's candidate windows and rolling origins, the
ensemble's members, the validation split every model takes, exponential smoothing's factors and the origins
``predict_at`` reads."""

from __future__ import annotations

import re

import numpy as np
import pytest

from conftest import periodic_series
from workload_predictor import WorkloadDataError, WorkloadPredictor
from workload_predictor.errors import quote
from workload_predictor.models.baselines import (ExponentialSmoothing, MovingAverage, MovingMedian, Naive, SeasonalMedian,
                                                SeasonalNaive, exponential_weights)
from workload_predictor.models.dlinear import DLinear
from workload_predictor.models.ensemble import Ensemble

POISSON = np.random.default_rng(0).poisson(50, 300).astype(float)


# -- DLinear's candidate windows -----------------------------------------------------------------
@pytest.mark.parametrize("candidates", [[0], [12.5, 24], 24, [], "24", [True], [24, -1]], ids=repr)
def test_bad_candidate_windows_are_a_typed_error_naming_the_setting(candidates):
    """0 gave numpy's broadcasting error, 12.5 a TypeError from slicing, a bare int "not iterable"."""
    for fit in (lambda: DLinear(horizon=10, candidate_windows=candidates).fit(POISSON),
                lambda: WorkloadPredictor(model_params={"candidate_windows": candidates}).fit(
                    periodic_series(300))):
        with pytest.raises(WorkloadDataError, match=re.escape(f"candidate_windows={quote(candidates)} must be a "
                                                              "non-empty list of positive integer") + ".*e.g."):
            fit()


def test_candidate_windows_too_long_for_the_series_get_the_standard_length_message():
    """A candidate of 500 on 200 points crashed with an IndexError inside numpy."""
    with pytest.raises(WorkloadDataError, match=r"200 points are too few for window 500 \+ horizon 10.*at least"):
        DLinear(horizon=10, candidate_windows=[500]).fit(POISSON[:200])
    model = DLinear(horizon=10, candidate_windows=[24, 500])
    needed = model.minimum_length()  # the smallest candidate sets it; the search leaves out the others
    assert needed == DLinear(horizon=10, window=24).minimum_length()
    fitted = model.fit(POISSON[:needed])
    assert fitted.window_ == 24 and np.isfinite(fitted.predict()).all()
    with pytest.raises(WorkloadDataError, match=f"{needed - 1} points are too few for window 24.*at least {needed}"):
        DLinear(horizon=10, candidate_windows=[24, 500]).fit(POISSON[: needed - 1])


@pytest.mark.parametrize("model", ["dlinear", "naive", "moving_median", "exponential_smoothing", "ensemble"])
@pytest.mark.parametrize("n, horizon", [(12, 3), (20, 10), (25, 10), (40, 40), (10, 1)])
def test_too_few_points_are_told_the_horizon_they_fit_or_that_none_does(model, n, horizon):
    """12 buckets at horizon 1 were told "Pass more history ... or a smaller horizon=" by DLinear, which needs 25 at
    any horizon: the advice now names the longest horizon the points fit, which fits while the next does not, or
    where none does, the points horizon 1 needs, which fit while one fewer does not. Naive, which reads one
    bucket, was told to pass a smaller window= too, and exponential smoothing, whose factors hold 1.0 (one bucket),
    a larger factor in alphas=."""
    frame = periodic_series(60)
    with pytest.raises(WorkloadDataError, match="too few") as raised:
        WorkloadPredictor(model=model, horizon=horizon).fit(frame.iloc[:n])
    message = str(raised.value)
    longest = re.search(r"or horizon=(\d+)(?: or less)? \(the longest these points fit\)\.$", message)
    needed = re.search(r"Pass more history \(at least (\d+) points at horizon=1\) or ", message)
    assert "a smaller horizon=" not in message, message
    assert [longest is not None, needed is not None, horizon == 1].count(True) == 1, message
    if model in ("naive", "exponential_smoothing"):  # one bucket read (alphas hold 1.0): nothing to shorten
        assert "window" not in message.rpartition("points. ")[2] and "alphas=" not in message.rpartition(
            "points. ")[2], message
    if longest is not None:
        fits = int(longest[1])
        assert 1 <= fits < horizon and (fits == 1) == ("or less" not in message)
        WorkloadPredictor(model=model, horizon=fits).fit(frame.iloc[:n])
        with pytest.raises(WorkloadDataError, match="too few"):
            WorkloadPredictor(model=model, horizon=fits + 1).fit(frame.iloc[:n])
    elif horizon > 1:
        fewest = int(needed[1])
        assert fewest > n
        WorkloadPredictor(model=model, horizon=1).fit(frame.iloc[:fewest])
        with pytest.raises(WorkloadDataError, match="too few"):
            WorkloadPredictor(model=model, horizon=1).fit(frame.iloc[:fewest - 1])
    else:
        assert re.search(r"Pass more history(?: or .*)?\.$", message) and "horizon=" not in message, message


def test_candidates_that_do_not_fit_the_series_are_left_out_of_the_search():
    model = DLinear(horizon=5, candidate_windows=(12, 24, 2000)).fit(POISSON)
    assert set(model.window_scores_) == {12, 24}


# -- the ensemble's members ------------------------------------------------------------------------
@pytest.mark.parametrize("params, message", [
    (dict(members=("dlinear", "naive"), member_params={"naive": 5}), r"member_params\['naive'\]=5 must be a dict"),
    (dict(members=("dlinear", "naive"), member_params={"dlinear": "window"}),
     r"member_params\['dlinear'\]='window' must be a dict"),
    (dict(members=5), r"members=5 must be a list or tuple of member names, e\.g\."),
    (dict(members=None), r"members=None must be a list or tuple of member names"),
    (dict(members="naive"), r"members='naive' must be a list or tuple"),
    (dict(members=("naive", 3)), r"members=\('naive', 3\) must be a list or tuple of member names"),
], ids=["params int", "params str", "members int", "members None", "members str", "members with an int"])
def test_bad_members_or_member_params_are_a_typed_error(params, message):
    """They raised TypeError ("not iterable") or dict()'s ValueError; "naive" was split into letters."""
    with pytest.raises(WorkloadDataError, match=message):
        Ensemble(horizon=5, **params).fit(POISSON)
    with pytest.raises(WorkloadDataError, match=message):
        WorkloadPredictor(model="ensemble", horizon=5, model_params=params).fit(periodic_series(300))


def test_member_params_of_none_or_a_mapping_are_accepted():
    ensemble = Ensemble(horizon=5, members=["naive", "moving_average"],
                        member_params={"naive": None, "moving_average": {"window": 6}}).fit(POISSON)
    assert ensemble.members_["moving_average"].window_ == 6


# -- the validation split --------------------------------------------------------------------------
BAD_SPLITS = [
    ({"validation_fraction": float("nan")}, "validation_fraction=nan must be a number between 0 and 1"),
    ({"validation_fraction": 1.5}, "validation_fraction=1.5 must be a number between 0 and 1"),
    ({"validation_fraction": 0.0}, "validation_fraction=0.0 must be a number between 0 and 1"),
    ({"validation_fraction": "0.2"}, "validation_fraction='0.2' must be a number between 0 and 1"),
    ({"validation_fraction": True}, "validation_fraction=True must be a number between 0 and 1"),
    ({"max_validation_windows": 2.5}, "max_validation_windows=2.5 must be a positive integer"),
    ({"max_validation_windows": 0}, "max_validation_windows=0 must be a positive integer"),
]


@pytest.mark.parametrize("settings, message", BAD_SPLITS, ids=repr)
@pytest.mark.parametrize("make", [
    lambda **kw: DLinear(horizon=5, **kw), lambda **kw: Naive(horizon=5, **kw),
    lambda **kw: SeasonalMedian(horizon=5, **kw), lambda **kw: ExponentialSmoothing(horizon=5, **kw),
    lambda **kw: Ensemble(horizon=5, members=("dlinear", "naive"), **kw),
], ids=["DLinear", "Naive", "SeasonalMedian", "ExponentialSmoothing", "Ensemble"])
def test_a_bad_validation_split_is_a_typed_error_with_an_example(make, settings, message):
    """NaN gave "cannot convert float NaN to integer", 1.5 a UFuncTypeError, "0.2" numpy's TypeError."""
    with pytest.raises(WorkloadDataError, match=re.escape(message) + ".*e.g."):
        make(**settings).fit(POISSON)
    with pytest.raises(WorkloadDataError, match=re.escape(message)):
        make(**settings).minimum_length()


# -- exponential smoothing's factors -----------------------------------------------------------------
@pytest.mark.parametrize("alphas", [(0.0,), (1.5,), 0.5, ("a",), (), (0.5, float("nan")), (True,)], ids=repr)
def test_bad_smoothing_factors_are_a_typed_error_with_an_example(alphas):
    """0 and 1.5 raised a bare ValueError naming no fix, 0.5 "not iterable", () fell back to the last value."""
    message = re.escape(f"alphas={quote(alphas)} must be a non-empty list or tuple of smoothing factors in (0, 1]")
    with pytest.raises(WorkloadDataError, match=message + ".*e.g."):
        ExponentialSmoothing(horizon=5, alphas=alphas).fit(POISSON)
    with pytest.raises(WorkloadDataError, match=message):
        WorkloadPredictor(model="exponential_smoothing", horizon=5, model_params={"alphas": alphas}).fit(
            periodic_series(300))


def test_good_smoothing_factors_of_any_real_type_are_accepted():
    model = ExponentialSmoothing(horizon=5, alphas=[np.float32(0.5), 1, 0.25]).fit(POISSON)
    assert model.alpha_ in (0.5, 1.0, 0.25)


@pytest.mark.parametrize("alphas", [(1e-17,), (5e-324,), (1e-17, 5e-324)], ids=repr)
def test_factors_too_small_for_any_series_are_a_typed_error(alphas):
    """1e-17 raised OverflowError (log(1 - alpha) rounds to 0) while building its kernel, before any check."""
    with pytest.raises(WorkloadDataError, match=re.escape(f"alphas={quote(alphas)} weigh more than") + ".*e.g."):
        ExponentialSmoothing(horizon=5, alphas=alphas).fit(POISSON)


def test_a_factor_whose_kernel_does_not_fit_the_series_is_left_out_before_its_kernel_is_built(monkeypatch):
    """Every factor's kernel was built before the ones longer than the series were dropped: alphas=(1e-8, 0.5) took
    35 s and 10 GB to build 690 million weights that were thrown away."""
    from workload_predictor.models import baselines

    built = []
    real = baselines.exponential_weights

    def weights(alpha, *args):
        built.append(alpha)
        assert alpha >= 0.01, f"the kernel of alpha={alpha} was built"  # 690 million weights: never built here
        return real(alpha, *args)

    monkeypatch.setattr(baselines, "exponential_weights", weights)
    model = ExponentialSmoothing(horizon=5, alphas=(1e-8, 0.5)).fit(POISSON)
    assert built == [0.5] and model.alpha_ == 0.5 and list(model.alpha_scores_) == [0.5]


def test_factors_whose_kernels_the_series_cannot_hold_are_a_typed_error_naming_the_points_needed():
    """300 points, alphas whose kernels weigh 459 and 343 points: the model became naive (alpha_ 1.0, a factor the
    user never gave) without a word."""
    model = ExponentialSmoothing(horizon=10, alphas=(0.01, 0.02))
    with pytest.raises(WorkloadDataError, match=r"300 points are too few for exponential smoothing with "
                                                r"alphas=\(0.01, 0.02\).*largest factor, 0.02, weighs the last 343 "
                                                r"points.*at least (\d+) points.*larger factor in alphas="):
        model.fit(POISSON)
    assert model.minimum_length() > 343 + 10


@pytest.mark.parametrize("alphas", [(0.01, 0.02), (0.02, 0.05, 0.1), (0.3,)], ids=repr)
def test_the_chosen_factor_is_always_one_of_the_users(alphas):
    """With no kernel short enough for half the training part, the factor is the user's with the shortest kernel
    (the largest), scored on the origins that leave it room."""
    model = ExponentialSmoothing(horizon=10, alphas=alphas)
    y = np.random.default_rng(1).poisson(50, model.minimum_length()).astype(float)
    model.fit(y)
    assert model.alpha_ in alphas and set(model.alpha_scores_) <= set(alphas)
    assert len(model.kernel_) == len(exponential_weights(model.alpha_))
    if (len(y) - 10) // 2 < len(exponential_weights(max(alphas))):  # no room for any: the largest factor
        assert model.alpha_ == max(alphas) and list(model.alpha_scores_) == [max(alphas)]


def test_kernel_length_is_the_length_of_the_weights_without_building_them():
    from workload_predictor.models.baselines import kernel_length

    for alpha in (1.0, 0.999, 0.7, 0.5, 0.3, 0.1, 0.02, 1e-3, 1e-5):
        assert kernel_length(alpha) == len(exponential_weights(alpha))
    assert kernel_length(1e-17) == pytest.approx(6.9e17, rel=1e-2) and kernel_length(5e-324) == float("inf")


# -- the models' text form ---------------------------------------------------------------------------
@pytest.mark.parametrize("model, text", [
    (MovingMedian(windows=np.array([5, 10])), "MovingMedian(windows=array([ 5, 10]))"),
    (MovingMedian(windows=np.array([5, 10, 20, 40, 80, 160])), "MovingMedian(windows=array([  5,  10,  20,  40,  80, 160]))"),
    (ExponentialSmoothing(alphas=np.array([0.1, 0.5])), "ExponentialSmoothing(alphas=array([0.1, 0.5]))"),
    (MovingMedian(windows=(5, 10, 20, 40, 80, 160)), "MovingMedian()"),
    (MovingMedian(horizon=np.int64(10)), "MovingMedian()"),
    (DLinear(candidate_windows=np.array([12, 24])), "DLinear(candidate_windows=array([12, 24]))"),
], ids=lambda v: v if isinstance(v, str) else type(v).__name__)
def test_repr_shows_array_settings_and_leaves_out_defaults(model, text):
    """An array setting raised ValueError in repr (tuple default == array: a broadcast error or an ambiguous truth
    value), though such models fit, save and load."""
    assert repr(model) == text


# -- values beyond any load --------------------------------------------------------------------------
@pytest.mark.parametrize("scale", [1e300, 1e306, -1e19])
@pytest.mark.parametrize("make", [lambda: MovingMedian(horizon=5), lambda: SeasonalMedian(horizon=5),
                                  lambda: ExponentialSmoothing(horizon=5), lambda: DLinear(horizon=5)],
                         ids=["moving_median", "seasonal_median", "exponential_smoothing", "dlinear"])
def test_values_beyond_the_predictors_bound_are_a_typed_error_for_a_model_on_its_own(make, scale):
    """The predictor refuses loads above 1e18; a model used on its own took them, its sums of squares overflowed and
    it chose on inf: the moving median scored every window 0 and took the first, the seasonal median found no
    season."""
    y = POISSON.copy()
    y[7] *= scale
    with pytest.raises(WorkloadDataError, match=re.escape(f"y holds {y[7]:g} at row 7, beyond 1e+18 in size") + ".*Rescale"):
        make().fit(y)
    model = MovingMedian(horizon=5).fit(POISSON)
    with pytest.raises(WorkloadDataError, match=r"new_y holds .* beyond 1e\+18"):
        model.update(np.full(3, scale))
    with pytest.raises(WorkloadDataError, match=r"y holds .* beyond 1e\+18"):
        model.predict_at(y, [200])


def test_values_up_to_the_bound_are_taken():
    y = POISSON * 1e18 / POISSON.max()
    assert MovingMedian(horizon=5).fit(y).window_ == MovingMedian(horizon=5).fit(POISSON).window_
    # A negative value is no load: refused, as a predictor refuses it (a model taking one saved a file that could
    # not load, its checks holding loads only).
    with pytest.raises(WorkloadDataError, match=r"y holds -\d+ at row \d+: loads must be >= 0"):
        MovingMedian(horizon=5).fit(-POISSON)


# -- origins -----------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def dlinear_800():
    y = np.random.default_rng(0).poisson(50, 800).astype(float)[:, None]
    return y, DLinear(horizon=5).fit(y)


def test_rolling_forecast_refuses_unsorted_origins_instead_of_forecasting_in_sample(dlinear_800):
    """The origin s listed after s + 200 was forecast by a fit that included the windows up to s + 200."""
    y, model = dlinear_800
    s = model.rolling_start()
    with pytest.raises(WorkloadDataError, match="ascending order"):
        model.rolling_forecast(y, np.array([s + 200, s]))
    np.testing.assert_array_equal(model.rolling_forecast(y, np.array([s, s + 200]))[:1],
                                  model.rolling_forecast(y, np.array([s])))


@pytest.mark.parametrize("origins", [[10_000, "start"], ["start", 10_000], [0, "start"]], ids=repr)
def test_rolling_forecast_checks_every_origin_against_the_range(dlinear_800, origins):
    """Only the first and last origins were checked: [10000, s+1] raised an IndexError inside numpy."""
    y, model = dlinear_800
    origins = [model.rolling_start() + 1 if o == "start" else o for o in origins]
    with pytest.raises(WorkloadDataError, match=rf"origins must lie in \[{model.rolling_start()}, 800\]"):
        model.rolling_forecast(y, np.array(origins))


def test_rolling_forecast_takes_a_one_dimensional_series_like_fit(dlinear_800):
    y, model = dlinear_800
    origins = np.arange(model.rolling_start(), 790, 50)
    np.testing.assert_array_equal(model.rolling_forecast(y[:, 0], origins), model.rolling_forecast(y, origins))


@pytest.mark.parametrize("make", [lambda: DLinear(horizon=5), lambda: Naive(horizon=5),
                                  lambda: SeasonalMedian(horizon=5, season_length=12),
                                  lambda: Ensemble(horizon=5, members=("dlinear", "naive"))],
                         ids=["DLinear", "Naive", "SeasonalMedian", "Ensemble"])
def test_no_origins_give_an_empty_forecast_everywhere(make):
    """predict_at(y, []) raised numpy's "zero-size array to reduction operation minimum"."""
    model = make().fit(np.stack([POISSON, 2 * POISSON], axis=1))
    y = np.stack([POISSON, 2 * POISSON], axis=1)
    assert model.predict_at(y, []).shape == (0, 5, 2)
    assert model.predict_at(y, np.zeros(0, dtype=np.int64)).shape == (0, 5, 2)
    if hasattr(model, "rolling_forecast"):
        assert model.rolling_forecast(y, []).shape == (0, 5, 2)


@pytest.mark.parametrize("origins", [[250.7], [True], ["250"], 250, [[250]]], ids=repr)
def test_predict_at_refuses_origins_that_are_not_integer_positions(origins):
    """250.7 was silently truncated to 250."""
    model = DLinear(horizon=5).fit(POISSON)
    with pytest.raises(WorkloadDataError, match="must be a 1-D sequence of integer positions"):
        model.predict_at(POISSON, origins)


def test_predict_at_takes_whole_numbers_of_any_dtype():
    model = DLinear(horizon=5).fit(POISSON)
    np.testing.assert_array_equal(model.predict_at(POISSON, [250.0, 260.0]), model.predict_at(POISSON, [250, 260]))


@pytest.mark.parametrize("make", [
    lambda w: DLinear(window=w), lambda w: MovingAverage(window=w), lambda w: MovingMedian(windows=(w,)),
    lambda w: SeasonalNaive(season_length=w)])
@pytest.mark.parametrize("window", [2**62, 10**30])
def test_a_window_longer_than_any_series_is_a_typed_error(make, window):
    """The search for the fewest points such a window needs left numpy's int64 and raised its UFuncTypeError (a
    TypeError) from np.linspace (found by review)."""
    with pytest.raises(WorkloadDataError, match="longer than any series"):
        make(window).fit(np.arange(400.0))


@pytest.mark.parametrize("model", ["lstm", "dlinear"])
def test_a_thread_count_no_machine_has_is_refused_before_torch_sizes_its_pool(model, monkeypatch):
    """Before: n_threads=10**9 passed the check and reached torch.set_num_threads, whose pool asks for about 80 GB
    (here torch's call is replaced by one that records it)."""
    import torch

    calls = []
    monkeypatch.setattr(torch, "set_num_threads", lambda n: calls.append(n))
    with pytest.raises(WorkloadDataError, match=r"n_threads=1000000000 must be a positive integer .* up to 4,096"):
        WorkloadPredictor(model=model, horizon=3, n_threads=10**9,
                          model_params={"max_epochs": 1} if model == "lstm" else None).fit(periodic_series(300))
    assert calls == []
