"""DLinear after a burst of load the input-anomaly rule leaves alone (three buckets at 3x a dense series' level):
the windows whose targets hold it, with plain noise for inputs, are weighed down by their residuals, so a forecast
whose input holds the burst does not read weights bent toward those windows (fit, refit, updates, fleets alike)."""

import numpy as np
import pandas as pd

from workload_predictor import FleetPredictor, WorkloadPredictor
from workload_predictor.models.dlinear import DLinear
from workload_predictor.models.dlinear_batched import fit_batched

LEVEL = 1e4


def burst_series(n: int = 1300, ago: int = 30, seed: int = 0) -> np.ndarray:
    values = np.random.default_rng(seed).poisson(LEVEL, n).astype(float)
    values[n - ago : n - ago + 3] = 3 * LEVEL
    return values


def frame(values: np.ndarray) -> pd.DataFrame:
    return pd.DataFrame({"timestamp": pd.date_range("2024-03-01", periods=len(values), freq="1min", tz="UTC"),
                         "requests": values})


def test_a_fit_after_an_unflagged_burst_forecasts_near_the_level():
    predictor = WorkloadPredictor(horizon=60).fit(frame(burst_series()))
    assert len(predictor.input_anomalies_) == 0  # the burst is load to the input-anomaly rule
    forecast = predictor.predict()
    # Poisson(1e4) varies by 1 %; the burst 30 buckets back sits in the forecast's input
    assert forecast.yhat.min() > 0.8 * LEVEL and forecast.yhat.max() < 1.3 * LEVEL
    assert forecast.upper.min() > 0.9 * LEVEL


def test_updates_through_the_burst_forecast_near_the_level():
    values = frame(burst_series())
    predictor = WorkloadPredictor(horizon=60).fit(values.iloc[:1000])
    for start in range(1000, 1300, 10):
        predictor.update(values.iloc[start : start + 10])
    forecast = predictor.predict()
    assert forecast.yhat.min() > 0.8 * LEVEL and forecast.yhat.max() < 1.3 * LEVEL


def test_a_series_without_a_burst_is_fitted_as_before():
    """No residual beyond the rule's spreads on plain Poisson counts: no window is weighed down (the statistics'
    count is the number of windows)."""
    model = DLinear(horizon=24).fit(np.random.default_rng(3).poisson(50, 800).astype(float))
    assert model.residual_from_ is not None  # its validation tail was judged
    assert model.stats_[0].count == 800 - model.window_ - 24 + 1


def test_the_batched_fit_weighs_the_burst_windows_as_dlinear():
    y = np.stack([burst_series(600, seed=s) for s in range(2)])[:, :, None]
    y[1, -30:-27, 0] = LEVEL + np.arange(3)  # no burst in the second series
    fit = fit_batched(y, horizon=24)
    for b in range(len(y)):
        model = DLinear(horizon=24).fit(y[b])
        width = fit.coef.shape[2]
        np.testing.assert_allclose(fit.coef[b][:, width - model.window_ :], model.coef_, rtol=1e-7, atol=1e-9)
        np.testing.assert_allclose(fit.intercept[b], model.intercept_, rtol=1e-7, atol=1e-9)


def test_a_fleet_key_after_a_burst_equals_its_predictor():
    values = burst_series(600)
    stamps = pd.date_range("2024-03-01", periods=600, freq="1min", tz="UTC")
    long = pd.concat([pd.DataFrame({"timestamp": stamps, "endpoint": key, "requests": series})
                      for key, series in (("a", values), ("b", values[::-1].copy()))])
    fleet = FleetPredictor(horizon=24).fit(long, key="endpoint")
    alone = WorkloadPredictor(horizon=24).fit(frame(values)).predict()
    got = fleet.predict()
    got = got[got["endpoint"] == "a"]
    np.testing.assert_allclose(got["yhat"].to_numpy(), alone.yhat[:, 0], rtol=1e-7)
