"""DLinear on a new endpoint's history (idle, then busy) and after a step down.

An idle training part sets no scale, no input-anomaly floor and no ridge penalty from data (each falls back to a
least value in the load's own units); the fit takes them from the data that has them, so a series and the same series
times 1,000 forecast alike, and its refit and updates stay a refit on the same data."""

from __future__ import annotations

import copy

import numpy as np
import pytest

from workload_predictor import anomaly
from workload_predictor.models.dlinear import DLinear, trace_penalty
from workload_predictor.models.dlinear_batched import fit_batched
from workload_predictor.windows import validation_origins


def woken(n_busy: int, seed: int = 0) -> np.ndarray:
    """A new endpoint: 600 idle buckets, then Poisson(50)."""
    return np.r_[np.zeros(600), np.random.default_rng(seed).poisson(50, n_busy)].astype(float)


def relative_change(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a - b).max() / np.abs(a).max())


# 100 busy buckets at horizon 60: the training part is all idle (h107's F4); 120 at horizon 1: it holds 12 busy
# buckets, too few to set the input-anomaly floor, among idle ones whose windows the window search centres.
@pytest.mark.parametrize("n_busy, horizon", [(100, 60), (120, 1)])
def test_a_new_endpoint_and_the_same_load_times_1000_forecast_alike(n_busy, horizon):
    y = woken(n_busy)
    small, large = DLinear(horizon=horizon).fit(y), DLinear(horizon=horizon).fit(1000.0 * y)
    assert small.window_weights_ == pytest.approx(large.window_weights_, rel=1e-9)
    assert relative_change(small.predict(), large.predict() / 1000.0) < 1e-9
    assert relative_change(small.validation_forecast_, large.validation_forecast_ / 1000.0) < 1e-9


def test_updates_after_a_fit_that_woke_in_its_tail_stay_a_refit_and_scale_with_the_load():
    """Fitted on 600 idle buckets and 50 busy ones (every window the fit sums has idle inputs), then updated one
    bucket at a time: the penalty kept at the floor is set where the windows first differ, by a refit on the same
    data as by the updates, and both forecast alike at any scale."""
    y = woken(250)
    forecasts = []
    for factor in (1.0, 1000.0):
        series = factor * y
        model = DLinear(horizon=60).fit(series[:650])
        first = copy.deepcopy(model)
        for i in range(650, len(series)):
            model.update(series[i : i + 1])
        refit = copy.deepcopy(first)
        refit._fit_arrays(series[:, None], refit=True)
        np.testing.assert_allclose(model.stats_[0].xx, refit.stats_[0].xx, rtol=1e-11)
        expected = refit._predict_at(series[:, None], np.array([len(series)]))[0, :, 0]
        assert np.all(np.abs(np.ravel(model.predict()) - expected) <= 1e-6 * series[-200:].std())
        alpha, stats = model.ridge_alpha(), model.stats_[0]
        for window, system in model.ridge_[0].items():
            assert system.lam == pytest.approx(refit.ridge_[0][window].lam, rel=1e-9)
            assert system.lam > trace_penalty(0.0, window, alpha, stats.count)  # what windows alike get
        forecasts.append(np.ravel(model.predict()) / factor)
    assert relative_change(*forecasts) < 1e-9


def test_the_batched_fit_scales_an_idle_training_part_as_dlinear():
    rng = np.random.default_rng(1)
    t = np.arange(700)
    y = np.stack([np.stack([rng.poisson(30 + 20 * np.sin(2 * np.pi * t / p)), rng.poisson(400, len(t))], axis=1)
                  for p in (24, 50, 70)]).astype(float)
    y[0, :640, 0] = 0.0  # one target idle until the tail
    y[1, :640] = 0.0  # both
    y[2, :640, 1] = 3.0  # constant at 3 until the tail
    n_train = int(validation_origins(700, 12, 0.15, 100)[0])
    fit = fit_batched(y, horizon=12, floors={b: anomaly.floor_of(y[b, :n_train]) for b in range(3)})  # as a fleet
    for b in range(len(y)):
        model = DLinear(horizon=12).fit(y[b])
        width = fit.coef.shape[2]
        np.testing.assert_allclose(fit.scale[b], model.scale_, rtol=1e-12)
        np.testing.assert_allclose(fit.coef[b][:, width - model.window_ :], model.coef_, rtol=1e-7, atol=1e-9)
        np.testing.assert_allclose(fit.intercept[b], model.intercept_, rtol=1e-7, atol=1e-9)


@pytest.mark.parametrize("seed", [3, 4])
def test_a_step_down_is_not_forecast_to_zero(seed):
    """200 -> 20 with 100 buckets at 20 (h107's F2, the seeds whose forecast fell to 0 before the windows were
    judged by their residuals): every step of the forecast stays above 0."""
    rng = np.random.default_rng(seed)
    y = np.r_[rng.poisson(200, 700), rng.poisson(20, 100)].astype(float)
    assert np.ravel(DLinear(horizon=60).fit(y).predict()).min() > 0.0
