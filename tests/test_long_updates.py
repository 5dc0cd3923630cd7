"""Long streams of one-bucket updates (scaled down from the 20,000-200,000-update runs of the long-run review):
DLinear stays a refit on the same data, and ``half_life`` forgets exactly as documented."""

from __future__ import annotations

import copy

import numpy as np
import pytest

from workload_predictor.models import DLinear
from workload_predictor.models.dlinear import PENALTY_DRIFT, REFRESH_AFTER, WindowStats, rule_penalty
from workload_predictor.windows import targets_at, windows_at


def level_shift(n: int, seed: int = 0) -> np.ndarray:
    """Counts of about 20 that jump to about 2,000 after the fit: the scaled windows leave the fit's range."""
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    return rng.poisson(np.where(t < 900, 20.0, 2000.0) + 5.0 * np.sin(2 * np.pi * t / 24)).astype(float)


def test_thousands_of_single_bucket_updates_stay_a_refit_on_the_same_data():
    n_fit, n_updates = 600, 3000  # many REFRESH_AFTER cycles of rank-one steps
    y = np.column_stack([level_shift(n_fit + n_updates), 1e12 + level_shift(n_fit + n_updates, seed=1)])
    model = DLinear(horizon=6, window=48).fit(y[:n_fit])
    first = copy.deepcopy(model)
    for i in range(n_fit, n_fit + n_updates):
        model.update(y[i : i + 1])
        assert np.isfinite(model.coef_).all()
    assert n_updates > 10 * REFRESH_AFTER
    refit = copy.deepcopy(first)
    refit._fit_arrays(y, refit=True)
    for updated, full in zip(model.stats_, refit.stats_):
        np.testing.assert_allclose(updated.count, full.count, rtol=1e-12)
        np.testing.assert_allclose(updated.xx, full.xx, rtol=1e-11)
    expected = refit._predict_at(y, np.array([len(y)]))[0]
    spread = y[-200:].std(axis=0)
    assert np.all(np.abs(model.predict() - expected) <= 1e-6 * spread)
    for systems in model.ridge_:
        for system in systems.values():
            assert system.inverse is not None
            np.testing.assert_array_equal(system.inverse, system.inverse.T)
            assert np.linalg.eigvalsh(system.inverse).min() > 0


def test_an_updates_penalty_follows_the_rule_on_the_windows_held_and_stays_a_refit_on_the_same_data():
    """Across the level shift from 20 to 2,000 the fit's rule (:func:`rule_penalty`) on the windows held rises 33
    times above the penalty of the fit on the first 600 buckets, which updates kept: after each update
    the penalty must lie within ``PENALTY_DRIFT`` below the rule (and not above it), and the updates one bucket at a
    time, one update of every bucket and a refit of the fit on the same data must agree on it and on the forecast."""
    n_fit, n_updates = 600, 900
    y = level_shift(n_fit + n_updates)[:, None]
    model = DLinear(horizon=6, window=48).fit(y[:n_fit])
    first = copy.deepcopy(model)
    penalties = []
    for i in range(n_fit, n_fit + n_updates):
        model.update(y[i : i + 1])
        lam, rule = model.ridge_[0][48].lam, rule_penalty(model.stats_[0], 48, model.ridge_alpha(), True)
        assert rule / PENALTY_DRIFT <= lam <= rule * (1 + 1e-12), (i, lam, rule)
        penalties.append(lam)
    assert penalties[-1] > PENALTY_DRIFT * first.ridge_[0][48].lam  # the shift raised it
    once = copy.deepcopy(first)
    once.update(y[n_fit:])
    refit = copy.deepcopy(first)
    refit._fit_arrays(y, refit=True)
    for other in (once, refit):
        assert other.ridge_[0][48].lam == pytest.approx(penalties[-1], rel=1e-9)
        np.testing.assert_allclose(other._predict_at(y, np.array([len(y)]))[0], model.predict(),
                                   rtol=0, atol=1e-6 * y[-200:].std())


def test_half_life_statistics_are_the_decayed_sums_and_a_refresh_restores_the_fit_penalty_rate():
    half_life, n_fit, n_updates = 50, 600, 1200
    y = level_shift(n_fit + n_updates)
    model = DLinear(horizon=6, window=48, half_life=half_life, robust=False).fit(y[:n_fit])
    first = copy.deepcopy(model)
    for i in range(n_fit, n_fit + n_updates):
        model.update(y[i : i + 1])
        if i >= n_fit + 1000 and model.rank_one_steps_ == 0:  # the inverses were just recomputed
            break
    y = y[: i + 1]
    gamma = 2.0 ** (-1.0 / half_life)
    z = (y - model.offset_[0]) / model.scale_[0]
    origins = np.arange(n_fit - model.horizon + 1, len(y) - model.horizon + 1)
    ages = np.arange(len(origins) - 1, -1, -1.0)
    direct = first.stats_[0].scaled(gamma ** len(origins)) + WindowStats.from_windows(
        windows_at(z, origins, model.window_), targets_at(z, origins, model.horizon), gamma ** ages)
    stats = model.stats_[0]
    np.testing.assert_allclose(stats.count, 1.0 / (1.0 - gamma), rtol=1e-5)  # the fit's windows are forgotten
    np.testing.assert_allclose(stats.count, direct.count, rtol=1e-12)
    np.testing.assert_allclose(stats.xx, direct.xx, rtol=1e-10, atol=1e-12 * np.abs(direct.xx).max())
    np.testing.assert_allclose(stats.xy, direct.xy, rtol=1e-10, atol=1e-12 * np.abs(direct.xy).max())
    assert model.rank_one_steps_ == 0  # just recomputed: the penalty is the fit's rate times the decayed count
    twin = copy.deepcopy(model)
    twin.stats_ = [direct]
    twin.ridge_ = twin._ridge([direct], twin._penalties([direct]))
    for name, value in twin._solution([direct], twin.ridge_).items():
        setattr(twin, name, value)
    np.testing.assert_allclose(model.predict(), twin.predict(), rtol=1e-9)
