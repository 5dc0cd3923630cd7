"""The ensemble's combination reads a series and the same series times 1000 (or / 1000) alike.

Its rules, weights and fallback are chosen on errors in units of each target's size, so every threshold they read is
relative to the series' own scale; what is left to decide them at another scale is rounding: members that forecast
alike up to rounding (exact on an idle stretch, or two that read the same points) give scores and error sums that
differ by rounding, in either direction at another scale. Those are ties (``combination.ROUNDING``), won by the earlier
rule or member at every scale.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from workload_predictor import WorkloadPredictor
from workload_predictor.models.baselines import ExponentialSmoothing, MovingMedian
from workload_predictor.models import combination
from workload_predictor.models.combination import choose, rule_weights

# The members but the LSTM: its network's own scale on an idle training part is the LSTM's (not the combination's),
# and its training is the cost of this file.
MEMBERS = ("dlinear", "naive", "moving_average", "moving_median", "exponential_smoothing", "seasonal_median")


def _forecasts(scale: float, horizon: int, values: np.ndarray, fit_on: int, step: int) -> np.ndarray:
    """``yhat / scale`` of an ensemble fitted on ``values[:fit_on] * scale``, then after each update of ``step``."""
    stamps = pd.date_range("2024-03-01", periods=len(values), freq="1min", tz="UTC")
    frame = pd.DataFrame({"timestamp": stamps, "requests": values * scale})
    predictor = WorkloadPredictor(model="ensemble", horizon=horizon, random_state=0, model_params={"members": MEMBERS})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        predictor.fit(frame[:fit_on])
        out = [predictor.predict().yhat[:, 0]]
        for start in range(fit_on, len(values), step):
            predictor.update(frame[start : start + step])
            out.append(predictor.predict().yhat[:, 0])
    return np.array(out) / scale


def test_a_new_endpoint_and_the_same_load_times_1000_or_a_1000th_forecast_alike():
    """Idle then busy, horizon 60: the history's folds are idle, where every member is exact up to rounding (DLinear's
    residues differ with the scale); fitted weights then reproduce the mean of the best members on the held-out busy
    fold, and rounding chose between them."""
    rng = np.random.default_rng(0)
    values = np.r_[np.zeros(600), rng.poisson(50, 150).astype(float)]
    level = values[600:].mean()
    base = _forecasts(1.0, 60, values, 720, 10)
    for scale in (1000.0, 0.001):
        assert np.abs(_forecasts(scale, 60, values, 720, 10) - base).max() / level < 1e-9, scale


@pytest.mark.parametrize("residue", [0.0, 1e-12, -1e-12])
def test_scores_within_rounding_choose_the_earlier_rule(residue):
    """Two members alike but for a residue of rounding size (the second better by it at the first step, worse by
    twice it at the second; one more member far off): the best member and the best member per step differ by that
    residue, which another scale of the series can give or take, and does not choose between them."""
    rng = np.random.default_rng(1)
    actual = rng.poisson(20, (60, 2, 1)).astype(float)
    first = actual + rng.normal(0, 3, actual.shape)
    side, second = np.sign(first - actual), first.copy()
    second[:, 0] -= residue * actual.mean() * side[:, 0]
    second[:, 1] += 2 * residue * actual.mean() * side[:, 1]
    assert choose(np.stack([first, second, np.zeros_like(actual)]), actual)[0] == ("best", 1, False)


@pytest.mark.parametrize("residue", [1e-14, -1e-14])
def test_error_sums_within_rounding_rank_the_earlier_member_first(residue):
    """The second member is the first up to rounding: the best member is the first whichever way rounding went."""
    actual = np.full((40, 2, 1), 3.0)
    forecasts = np.stack([actual + 1.0, actual + 1.0 + residue, actual + 2.0])
    np.testing.assert_array_equal(rule_weights(("best", 1, False), forecasts, actual)[:, 0], [1.0, 0.0, 0.0])


def test_rank_members_ties_within_the_tolerance_to_the_earlier_member():
    error = np.array([[5.0, 2.0], [5.0 - 1e-12, 2.0 + 1e-12], [1.0, 9.0]])
    np.testing.assert_array_equal(combination.rank_members(error, 0.0, 3), np.argsort(error, axis=0, kind="stable"))
    np.testing.assert_array_equal(combination.rank_members(error, 1e-9, 3), [[2, 0], [0, 1], [1, 2]])
    np.testing.assert_array_equal(combination.rank_members(error, 1e-9, 1), [[2, 0]])
    np.testing.assert_array_equal(combination.rank_members(np.array([[np.nan], [1.0]]), 0.0, 2), [[1], [0]])


@pytest.mark.parametrize("residue_of", [0, 1])
def test_fitted_weights_on_an_idle_fold_do_not_scale_its_rounding_residues_up(residue_of):
    """On an idle stretch every member forecasts 0 up to a rounding residue (one member's, at one scale, another's at
    another): in the common unit that is no evidence, and the weights split evenly whichever member holds it."""
    actual = np.zeros((50, 3, 1))
    forecasts = np.zeros((3, 50, 3, 1))
    forecasts[residue_of] = 1e-15 * np.sin(np.arange(150)).reshape(50, 3, 1)
    np.testing.assert_allclose(rule_weights(("weights",), forecasts, actual)[:, 0], 1 / 3, rtol=1e-12)


@pytest.mark.parametrize("model", [ExponentialSmoothing(horizon=5), MovingMedian(horizon=5)], ids=lambda model: type(model).__name__)
def test_the_baselines_common_size_has_no_absolute_floor(model):
    """A series of tiny values (1e-14 requests a bucket on average) scores the baselines' settings as the same series
    in ordinary units does."""
    values = np.random.default_rng(2).poisson(5, 400).astype(float)
    scores = "alpha_scores_" if isinstance(model, ExponentialSmoothing) else "window_scores_"
    ordinary = dict(getattr(model.fit(values), scores))
    tiny = dict(getattr(model.fit(values * 1e-15), scores))
    np.testing.assert_allclose(list(tiny.values()), list(ordinary.values()), rtol=1e-9)


def test_rounding_is_far_below_a_real_difference():
    """``ROUNDING`` is a tolerance in the common unit: far above double rounding, far below what separates forecasts."""
    assert 1e3 * np.finfo(float).eps < combination.ROUNDING < 1e-6
