"""Interval half-widths where the validation windows are too few for the level (short histories, long horizons).

With ``n`` windows the split-conformal rank ``ceil((n + 1) * level)`` exceeds ``n`` below 9 windows at 0.9 (below
99 at 0.99): no step's own residuals reach it. Each step then takes the larger of its largest residual and the
split-conformal half-width of every step's residuals of its target pooled (``confidence.conformal_quantile``).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from workload_predictor import FleetPredictor, WorkloadPredictor
from workload_predictor.confidence import RECENT_SHARE, conformal_is_exact, conformal_quantile, recency_weights

START = pd.Timestamp("2024-03-01", tz="UTC")


def frame(values: np.ndarray, key: str | None = None) -> pd.DataFrame:
    data = {"timestamp": START + pd.Timedelta("1min") * np.arange(len(values)), "requests": values}
    if key is not None:
        data = {"endpoint": key, **data}
    return pd.DataFrame(data)


def classic(residuals: np.ndarray, level: float) -> float:
    """Split conformal's half-width of one pool of residuals, interpolated across the rank's jump where the value is
    one residual's (``conformal_quantile``'s docstring); the largest residual where the pool is short of the rank."""
    ordered = np.sort(residuals)
    target = (len(ordered) + 1) * level
    rank = math.ceil(target)
    if rank > len(ordered):
        return float(ordered[-1])
    value = ordered[rank - 1]
    m, c = int((ordered < value).sum()), int((ordered <= value).sum())
    below = ordered[m - 1] if m else 0.0
    return float(value if c - m > 1 else below + (value - below) * ((target - m) / (c - m)))


@pytest.fixture(scope="module")
def shortest():
    """DLinear at its shortest history for a horizon of 60 (141 points of Poisson(100)): one validation window."""
    values = np.random.default_rng([0, 141]).poisson(100, 141).astype(float)
    return WorkloadPredictor(horizon=60).fit(frame(values))


def test_one_validation_window_gives_no_step_less_than_every_steps_residuals_pooled(shortest):
    """One window: each step's own residual was its half-width (0.1 to 38 across the steps; ``upper`` under the
    series' median). The 60 steps' residuals pooled give the split-conformal half-width no step falls below."""
    model = shortest.model_
    errors = np.abs(model.validation_actual_ - np.maximum(model.validation_forecast_, 0.0))[:, :, 0]  # [1, 60]
    assert shortest.n_calibration_windows_ == 1 and shortest.interval_exact_ is False
    pooled = classic(errors.ravel(), shortest.level)
    np.testing.assert_array_equal(shortest.interval_halfwidth_[:, 0], np.maximum(errors[0], pooled))
    assert shortest.interval_halfwidth_.min() >= pooled > 0


def test_a_higher_level_never_narrows_a_step_at_a_short_history(shortest):
    """0.8 and 0.9 pool the steps (one window); 0.5 reaches the rank (ceil(2 * 0.5) = 1): a step's own residual."""
    widths = [shortest.predict(level=level).upper - shortest.predict(level=level).yhat for level in (0.5, 0.8, 0.9)]
    assert all((a <= b + 1e-12).all() for a, b in zip(widths, widths[1:]))


@pytest.mark.parametrize("windows, level", [(1, 0.9), (2, 0.9), (4, 0.9), (8, 0.9), (20, 0.99)])
def test_too_few_windows_cover_the_level_on_exchangeable_errors(windows, level):
    """Errors of every step of the same distribution: a step's largest residual alone covers a fresh error
    ``windows / (windows + 1)`` of the time (0.5 from one window at 0.9); with the pooled floor, at least the
    level, on average over many calibrations."""
    rng = np.random.default_rng(windows)
    horizon, calibrations = 30, 400
    residuals = np.abs(rng.standard_normal((calibrations, windows, horizon, 1)))
    fresh = np.abs(rng.standard_normal((calibrations, 50, horizon, 1)))
    widths = np.stack([conformal_quantile(r, level) for r in residuals])  # [calibrations, H, 1]
    assert not conformal_is_exact(windows, level)
    assert (fresh <= widths[:, None]).mean() >= level - 0.005


@settings(max_examples=30)
@given(st.integers(1, 8), st.integers(2, 12), st.integers(1, 3), st.sampled_from([0.8, 0.9, 0.95]),
       st.integers(0, 10_000))
def test_weighted_windows_pool_the_steps_as_the_unweighted(n, horizon, k, level, seed):
    """The ensemble's pool weighs its newest windows: short of the rank, each step takes the larger of its largest
    residual and the weighted half-width of its target's steps pooled, each residual weighing its window's weight;
    equal weights give the unweighted half-widths."""
    residuals = np.abs(np.random.default_rng(seed).standard_normal((n, horizon, k)))
    weights = recency_weights(n, max(1, n // 3), RECENT_SHARE)
    weighted = conformal_quantile(residuals, level, weights)
    if (weights.sum() + 1) * level <= weights.sum():
        return  # the rank is reached: each step on its own (tests/test_kernels.py)
    for j in range(k):
        pooled = conformal_quantile(residuals[:, :, j].ravel(), level, np.repeat(weights, horizon))
        np.testing.assert_allclose(weighted[:, j], np.maximum(residuals[:, :, j].max(axis=0), pooled), rtol=1e-12)
    np.testing.assert_allclose(conformal_quantile(residuals, level, np.ones(n)), conformal_quantile(residuals, level),
                               rtol=1e-12, atol=0)


def test_enough_windows_keep_each_steps_own_half_width():
    """Nine windows reach the rank at 0.9: each step's half-width is its own residuals', whatever the other steps'."""
    values = np.random.default_rng(1).poisson(100, 123).astype(float)  # 9 windows at horizon 10
    predictor = WorkloadPredictor(horizon=10).fit(frame(values))
    model = predictor.model_
    errors = np.abs(model.validation_actual_ - np.maximum(model.validation_forecast_, 0.0))
    assert predictor.n_calibration_windows_ == 9 and predictor.interval_exact_ is True
    expected = [conformal_quantile(errors[:, h, 0], predictor.level) for h in range(10)]
    np.testing.assert_array_equal(predictor.interval_halfwidth_[:, 0], expected)


def test_a_fleet_at_short_histories_equals_its_predictors_key_by_key():
    """The fleet calibrates its keys side by side: each key's steps are pooled with its own, never another key's."""
    rng = np.random.default_rng(3)
    series = {"a": rng.poisson(100, 81).astype(float), "b": rng.poisson(5, 81).astype(float)}  # one window at H30
    fleet = FleetPredictor(horizon=30).fit(pd.concat([frame(v, key) for key, v in series.items()]), key="endpoint")
    forecast = fleet.predict()
    for key, values in series.items():
        alone = WorkloadPredictor(horizon=30).fit(frame(values))
        assert alone.n_calibration_windows_ == 1
        rows = forecast[forecast["endpoint"] == key]
        for column in ("lower", "upper"):
            np.testing.assert_allclose(rows[column], getattr(alone.predict(), column)[:, 0], rtol=1e-9, atol=1e-9)
