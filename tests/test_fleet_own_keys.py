"""A DLinear fleet's keys with their own predictors (``update_mode="incremental"``): forecast together, each as its
own predictor forecasts."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from workload_predictor import FleetPredictor
from workload_predictor.models import dlinear
from workload_predictor.predictor import _point

START = pd.Timestamp("2024-03-01", tz="UTC")


def own_key_fleet(targets=("requests",)) -> tuple[FleetPredictor, pd.DataFrame]:
    """Keys of several windows (periods 6 to 60 buckets), one whose window holds a burst it came back from, one
    falling to zero (its forecast clipped), one left in its batched block; all but that one updated."""
    rng = np.random.default_rng(3)
    t = np.arange(400)
    frames = []
    for i, period in enumerate((6, 11, 23, 37, 60, 9, 14)):
        frame = {"endpoint": f"k{i}", "timestamp": START + pd.Timedelta("1min") * t}
        for j, name in enumerate(targets):
            rate = (20 + 30 * j) * (1 + 0.6 * np.sin(2 * np.pi * t / period))
            if i == 5:
                rate = np.maximum(60.0 - 0.2 * t, 0.0) + 0.01  # falls to zero
            frame[name] = rng.poisson(rate).astype(float)
            if i == 6:
                frame[name][390] = 1e6  # a burst the series came back from, in the key's input window
        frames.append(pd.DataFrame(frame))
    data = pd.concat(frames, ignore_index=True)
    head = data[data["timestamp"] < START + pd.Timedelta("380min")]
    tail = data[(data["timestamp"] >= START + pd.Timedelta("380min")) & (data["endpoint"] != "k0")]
    fleet = FleetPredictor(horizon=8, update_mode="incremental").fit(head, key="endpoint", target=list(targets))
    fleet.update(tail)
    assert fleet.update_errors_ == {} and sorted(fleet._predictors) == [f"k{i}" for i in range(1, 7)]
    return fleet, data


@pytest.mark.parametrize("targets", [("requests",), ("requests", "input_tokens")])
@pytest.mark.parametrize("steps", [None, 3])
def test_own_dlinear_keys_forecast_together_as_each_predictor_does(targets, steps):
    """The fleet forecasts its own-predictor DLinear keys in one product per window (2,000 keys: 9-22 ms instead of
    54-116 ms one by one); every value is each predictor's ``predict()`` exactly: point, interval, clipping at 0,
    settled burst, timestamps, confidence."""
    fleet, _ = own_key_fleet(targets)
    windows = {p.model_.window_ for p in fleet._predictors.values()}
    assert len(windows) > 1, windows  # several groups
    assert any(p._snapshot().inputs is not None for p in fleet._predictors.values())  # a settled burst
    forecast = fleet.predict(steps)
    clipped = False
    for key, predictor in fleet._predictors.items():
        expected = predictor.predict(steps)
        rows = forecast[forecast["endpoint"] == key]
        for j, target in enumerate(predictor.targets_):
            part = rows[rows["target"] == target] if len(targets) > 1 else rows
            np.testing.assert_array_equal(part["timestamp"].to_numpy(), expected.index.to_numpy())
            for column in ("yhat", "lower", "upper"):
                np.testing.assert_array_equal(part[column].to_numpy(), getattr(expected, column)[:, j],
                                              err_msg=f"{key} {target} {column}")
            clipped |= bool((_point(predictor._snapshot(), len(part))[:, j] < 0).any())
        assert fleet.confidence_[key] == predictor.confidence_
    assert clipped  # a forecast below zero, read as 0 by both


def test_forecast_each_equals_each_models_forecast_across_blocks(monkeypatch):
    """:func:`dlinear.forecast_each` over more models than one block holds: each model's ``_predict_at``, exactly."""
    fleet, _ = own_key_fleet(("requests", "input_tokens"))
    states = [p._snapshot() for p in fleet._predictors.values()]
    window = max(s.model.window_ for s in states)
    states = [s for s in states if s.model.window_ == window]
    states = (states * 3)[:5]
    model = states[0].model
    monkeypatch.setattr(dlinear, "FORECAST_BYTES", 2 * 8 * 2 * model.window_ * (model.horizon + 2))  # 2 a product
    inputs = [s.model.context_ if s.inputs is None else s.inputs for s in states]
    got = dlinear.forecast_each([s.model for s in states], inputs)
    for i, state in enumerate(states):
        np.testing.assert_array_equal(got[i], state.model._predict_at(inputs[i], np.array([len(inputs[i])]))[0])
