"""A cumulative counter's first buckets, which the input-anomaly rule can only flag from its ``COUNTER_RUN``-th on:
DLinear's statistics hold the windows they end in no more than the flagged run's (at fit, across a fit's split, and
in updates, which take them out again once the run is flagged), and stay those of a refit on the same data."""

from __future__ import annotations

import copy

import numpy as np
import pytest

from workload_predictor import ModelFileError, anomaly, persistence
from workload_predictor.models import DLinear
from workload_predictor.models.dlinear_batched import fit_batched
from workload_predictor.windows import validation_origins

WINDOW, HORIZON, SPAN = 48, 10, 30


def _with_counter(n: int, at: int, seed: int = 0) -> np.ndarray:
    """Poisson(50) buckets, those from ``at`` on for ``SPAN`` buckets exported as their running total, and a
    second target of clean Poisson(5)."""
    rng = np.random.default_rng(seed)
    y = rng.poisson(50, n).astype(float)
    y[at : at + SPAN] = np.cumsum(y[at : at + SPAN])
    return np.column_stack([y, rng.poisson(5, n)]).astype(float)


def _bound(y: np.ndarray, at: int, windows: int) -> float:
    """The most the statistics' total weight can be where every window holding counter buckets weighs at most the
    share of its other points (a window the series came back within counts settled by the share of the points it
    reads, any other a counter flag's weight, ``K^-4``: every counter bucket is flagged or weighs as its run's flag)
    and every other at most 1."""
    origins = np.arange(WINDOW, WINDOW + windows)
    first, last = np.maximum(origins - WINDOW, at), np.minimum(origins + HORIZON - 1, at + SPAN - 1)
    held = np.maximum(last - first + 1, 0)
    return float((1.0 - held / (WINDOW + HORIZON)).sum()) + 1e-9  # (rounding)


def _assert_same_statistics(model: DLinear, refit: DLinear) -> None:
    for updated, full in zip(model.stats_, refit.stats_):
        np.testing.assert_allclose(updated.count, full.count, rtol=1e-12)
        np.testing.assert_allclose(updated.xx, full.xx, rtol=1e-11)
        np.testing.assert_allclose(updated.xy, full.xy, rtol=1e-11)


@pytest.mark.parametrize("chunk", [1, 3])
def test_updates_take_a_counters_first_buckets_out_of_the_statistics_as_a_refit_on_the_same_data(chunk):
    """A fit on 300 buckets, then updates of ``chunk`` buckets through a counter from bucket 330: the windows
    ending in the counter's first buckets (before its run is flagged) weigh what the run's flags do, as in a refit
    on the same series; the statistics are that refit's (test_long_updates' tolerances)."""
    y = _with_counter(400, 330)
    model = DLinear(horizon=HORIZON, window=WINDOW).fit(y[:300])
    fitted = copy.deepcopy(model)
    for i in range(300, len(y), chunk):
        model.update(y[i : i + chunk])
    refit = copy.deepcopy(fitted)
    refit._fit_arrays(y, refit=True)
    windows = len(y) - WINDOW - HORIZON + 1
    assert model.stats_[0].count <= _bound(y, 330, windows)
    _assert_same_statistics(model, refit)
    spread = y[-100:].std(axis=0)
    end = np.array([len(y)])
    assert np.all(np.abs(model._predict_at(y, end)[0] - refit._predict_at(y, end)[0]) <= 1e-6 * spread)
    # Its own predict() reads the counter's run, which the series came back from, at its median, as a predictor's
    # model's forecast reads it: the refit's forecast from those inputs.
    settled = model._own_inputs()
    assert settled[:, 0].max() < y[-48:, 0].max()
    assert np.all(np.abs(model.predict() - refit._predict_at(settled, np.array([len(settled)]))[0]) <= 1e-6 * spread)


@pytest.mark.parametrize("offset", [-3, -1])
def test_a_counter_that_starts_before_a_fits_split_and_is_flagged_after_it_leaves_the_fit_as_a_refit(offset):
    """The counter starts ``-offset`` buckets before the validation tail and its run is flagged in the tail: the
    first fit (on the training part) summed the windows of its start, and the fit's refit on the tail takes them out
    again; the fleet's batched fit of the same series equals the DLinear's."""
    n = 400
    split = int(validation_origins(n, HORIZON, 0.15, 100)[0])
    y = _with_counter(n, split + offset, seed=4)
    model = DLinear(horizon=HORIZON, window=WINDOW).fit(y)
    refit = copy.deepcopy(model)
    refit._fit_arrays(y, refit=True)
    assert model.stats_[0].count <= _bound(y, split + offset, n - WINDOW - HORIZON + 1)
    _assert_same_statistics(model, refit)
    fit = fit_batched(y[None], horizon=HORIZON, window=WINDOW, floors={0: anomaly.floor_of(y[:split])})
    np.testing.assert_allclose(fit.coef[0], model.coef_, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(fit.intercept[0], model.intercept_, rtol=1e-8, atol=1e-10)


def test_the_weights_of_the_newest_windows_are_kept_in_the_model_file_and_a_forged_one_is_refused():
    model = DLinear(horizon=HORIZON, window=WINDOW).fit(_with_counter(400, 100))
    loaded = persistence.loads(persistence.dumps(model))
    np.testing.assert_array_equal(loaded.newest_weights_, model.newest_weights_)
    for forged in (np.full((anomaly.COUNTER_RUN - 1, 2), 2.0), np.ones((anomaly.COUNTER_RUN, 2)), [1.0] * 4):
        bad = copy.deepcopy(model)
        bad.newest_weights_ = forged
        with pytest.raises(ModelFileError, match="newest_weights_"):
            persistence.loads(persistence.dumps(bad))


def _woken(factor: float, chunk: int) -> tuple[DLinear, DLinear, np.ndarray]:
    """A DLinear fitted on 595 idle buckets (zeros), then updated ``chunk`` buckets at a time with Poisson(50) times
    ``factor`` to 700 buckets; and its first fit."""
    y = factor * np.concatenate([np.zeros(595), np.random.default_rng(0).poisson(50, 105)])[:, None]
    model = DLinear(horizon=HORIZON).fit(y[:595])
    first = copy.deepcopy(model)
    for i in range(595, len(y), chunk):
        model.update(y[i : i + chunk])
    return model, first, y


@pytest.mark.parametrize("chunk", [1, 7])
def test_a_fit_on_an_idle_history_woken_by_updates_forecasts_the_load_times_1000_alike(chunk):
    """A fit on zeros sets its floor, scale and penalty in the load's own units; updates woken by load refit it at
    the update that makes it fit-worthy (``MIN_BUSY`` buckets that differ from the constant), with the floor and
    scale a fit on the points since waking sets: the same series times 1,000 is then forecast 1,000 times larger, and
    the updates stay a refit on the same data with that floor and scale."""
    model, first, y = _woken(1.0, chunk)
    large = _woken(1000.0, chunk)[0]
    np.testing.assert_allclose(large.predict(), 1000.0 * model.predict(), rtol=1e-9)
    assert first.idle_ is True and model.idle_ is False
    refit = copy.deepcopy(first)
    refit.weight_floor_, refit.scale_ = model.weight_floor_, model.scale_
    refit._fit_arrays(y, refit=True)
    _assert_same_statistics(model, refit)


@pytest.mark.parametrize("idle", [-1, 10**9, "yes", 2.5])
def test_a_forged_idle_state_is_refused(idle):
    model = DLinear(horizon=HORIZON, window=WINDOW).fit(np.zeros((200, 1)))
    assert model.idle_ is True
    bad = copy.deepcopy(model)
    bad.idle_ = idle
    with pytest.raises(ModelFileError, match="idle_"):
        persistence.loads(persistence.dumps(bad))
