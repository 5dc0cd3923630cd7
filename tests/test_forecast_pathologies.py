"""Forecasts on awkward but plausible series that nothing in their history supports (scripts/pathology_survey.py
surveys them): each test pins one such case the models once got wrong."""

from __future__ import annotations

import numpy as np
import pytest

from workload_predictor.errors import WorkloadDataError
from workload_predictor.models.baselines import SeasonalMedian
from workload_predictor.models.ensemble import Ensemble

PERIOD = 24


def cycle(t: np.ndarray) -> np.ndarray:
    return 100.0 + 50.0 * np.sin(2 * np.pi * t / PERIOD)


@pytest.mark.parametrize("factor", [2.0, 0.5])
@pytest.mark.parametrize("since", [2 * PERIOD, 2 * PERIOD + PERIOD // 2])
def test_the_seasonal_median_settles_at_the_new_level_two_seasons_after_a_step(factor, since):
    """A daily cycle whose level doubles (or halves: a tenant leaves) two seasons before the end. The last two seasons
    show the new cycle, the median of three reads it: the forecast is that cycle. A shift read from the seasons'
    means alone took the step for a trend and added it once more: twice the new load after a step up, and below zero
    (a zero forecast of a busy series) after a step down."""
    t = np.arange(20 * PERIOD)
    y = cycle(t) * np.where(t >= len(t) - since, factor, 1.0)
    forecast = SeasonalMedian(horizon=PERIOD, season_length=PERIOD).fit(y).predict()
    expected = factor * cycle(np.arange(len(t), len(t) + PERIOD))
    assert np.abs(forecast / expected - 1.0).max() < 0.05, (forecast / expected).round(2)


def test_the_seasonal_median_carries_a_linear_trend_over_exactly():
    """The step's fix keeps what the shift is for: a cycle on a linear trend forecast exactly."""
    t = np.arange(12 * PERIOD, dtype=np.float64)
    y = 5.0 + 0.3 * t + cycle(t)
    forecast = SeasonalMedian(horizon=PERIOD, season_length=PERIOD).fit(y).predict()
    future = np.arange(len(t), len(t) + PERIOD, dtype=np.float64)
    np.testing.assert_allclose(forecast, 5.0 + 0.3 * future + cycle(future), rtol=1e-9)


@pytest.mark.parametrize("horizon", [1, 10])
def test_the_ensembles_minimum_length_is_the_fewest_points_its_fit_accepts(horizon):
    """``minimum_length`` counts what the members a fit keeps need (the widest of them, as ``fit`` checks), not the
    ensemble's own one-bucket window: it said 12 points where a fit refused 28."""
    members = ("dlinear", "naive", "moving_average", "moving_median", "exponential_smoothing", "seasonal_median")
    ensemble = Ensemble(horizon=horizon, members=members)
    n = ensemble.minimum_length()
    y = np.random.default_rng(0).poisson(100, n).astype(float)
    with pytest.raises(WorkloadDataError):
        Ensemble(horizon=horizon, members=members).fit(y[1:])
    Ensemble(horizon=horizon, members=members).fit(y)
