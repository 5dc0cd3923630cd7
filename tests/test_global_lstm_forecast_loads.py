"""A ``GlobalLSTM`` used on its own forecasts loads: its public ``predict()`` and ``predict_at()`` are clipped at 0, as
a fleet's forecast of its keys is and as every other model class's are (README: a model class's forecasts "return
loads, clipped at 0 as a ``Forecast`` is"; ``tests/test_bare_forecast_loads.py``).

Before: four keys whose loads fall linearly to 0 (240 buckets) were forecast -1.1 to -20.1 by a bare model's
``predict()`` and ``predict_at()``, where the fleet holding the same map forecast 0. The map stays unclipped where
its owners read it (``_map_predict``, ``_map_predict_at``; a teacher's students learn from it).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from workload_predictor import FleetPredictor
from workload_predictor.models.global_lstm import GlobalLSTM

pytest.importorskip("torch")

TINY = {"horizon": 5, "window": 24, "hidden_size": 8, "max_epochs": 3, "batch_size": 64, "random_state": 0}
N = 240


def _falling(n_keys: int = 4, seed: int = 0) -> list[np.ndarray]:
    """Loads falling linearly to 0 at the last bucket (key ``i`` by ``i + 1`` a bucket), with noise, clipped at 0."""
    rng = np.random.default_rng(seed)
    t = np.arange(N)
    return [(np.maximum(N - 1 - t, 0) * (i + 1.0) + rng.normal(0, 0.5, N)).clip(0)[:, None] for i in range(n_keys)]


@pytest.fixture(scope="module")
def fitted() -> tuple[GlobalLSTM, list[np.ndarray]]:
    series = _falling()
    return GlobalLSTM(**TINY).fit(series), series


def test_a_bare_global_lstm_predict_is_a_load_where_its_map_is_below_zero(fitted):
    model, _ = fitted
    forecasts = model.predict()
    assert min(f.min() for f in forecasts) >= 0.0, f"predict() forecasts {min(f.min() for f in forecasts):g}"
    raw = model._map_predict()
    assert min(r.min() for r in raw) < 0.0  # the map forecasts below 0 here: the case this test is about
    for forecast, map_forecast in zip(forecasts, raw):
        np.testing.assert_array_equal(forecast, np.maximum(map_forecast, 0.0))
    for short, forecast in zip(model.predict(3), forecasts):
        np.testing.assert_array_equal(short, forecast[:3])


def test_a_bare_global_lstm_predict_at_is_a_load_where_its_map_is_below_zero(fitted):
    model, series = fitted
    origins = [np.r_[np.arange(model.window_, N, 7), N] for _ in series]  # the last at each key's end
    forecasts = model.predict_at(series, origins)
    assert min(f.min() for f in forecasts) >= 0.0, f"predict_at forecasts {min(f.min() for f in forecasts):g}"
    raw = model._map_predict_at(series, origins)
    assert min(r.min() for r in raw) < 0.0
    for forecast, map_forecast in zip(forecasts, raw):
        np.testing.assert_array_equal(forecast, np.maximum(map_forecast, 0.0))
    for a, forecast in zip(forecasts, model.predict()):  # at each key's end, predict_at is predict
        np.testing.assert_allclose(a[-1], forecast, rtol=1e-9, atol=1e-9)


def test_a_fleets_global_model_forecasts_what_the_fleet_forecasts():
    """The fleet reads the map and clips it; its model's own ``predict()`` now agrees with it."""
    series = _falling(3)
    start = pd.Timestamp("2026-01-01", tz="UTC")
    frame = pd.concat([pd.DataFrame({"endpoint": f"e{i}", "timestamp": start + pd.Timedelta("10s") * np.arange(N),
                                     "requests": y[:, 0]}) for i, y in enumerate(series)], ignore_index=True)
    fleet = FleetPredictor(horizon=5, model="global_lstm", window=24,
                           model_params={"hidden_size": 8, "max_epochs": 3, "batch_size": 64},
                           random_state=0).fit(frame, key="endpoint")
    model = fleet._global.model
    yhat = fleet.predict()["yhat"].to_numpy().reshape(len(series), 5)
    np.testing.assert_array_equal(np.stack(model.predict())[:, :, 0], yhat)
    assert min(r.min() for r in model._map_predict()) < 0.0
