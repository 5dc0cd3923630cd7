"""A global LSTM fleet key's ``relative_error``: rated from the validation windows and the points the network keeps of
it, as a predictor's and a batched DLinear key's are (review h163)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from workload_predictor import FleetPredictor
from workload_predictor.anomaly import HISTORY_BUCKETS
from workload_predictor.health import level_fall, naive_error, relative_measure
from workload_predictor.predictor import calibration

pytest.importorskip("torch")

START = pd.Timestamp("2026-01-01", tz="UTC")
STEP = pd.Timedelta("10s")
FITTED, HORIZON, LEVEL = 400, 5, 0.9
PARAMS = {"hidden_size": 4, "max_epochs": 2, "window": 24}


def _frame(series: list[np.ndarray], first: int = 0) -> pd.DataFrame:
    return pd.concat([pd.DataFrame({"endpoint": f"k{i}", "timestamp": START + STEP * np.arange(first, first + len(y)),
                                    "requests": y}) for i, y in enumerate(series)], ignore_index=True)


def _fit(series: list[np.ndarray], **params) -> FleetPredictor:
    return FleetPredictor(model="global_lstm", horizon=HORIZON, level=LEVEL, random_state=0,
                          model_params={**PARAMS, **params}).fit(_frame(series), key="endpoint")


def _poisson(level: float, n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).poisson(level, n).astype(np.float64)


def _as_a_predictor_rates_it(fleet: FleetPredictor, i: int) -> tuple[float, str]:
    """Key ``i``'s relative_error from its validation windows (less those its interval leaves out, as a predictor's
    calibration reads them) and the points the network keeps of it, through the one-series functions."""
    model = fleet._global.model
    left_out = model.validation_left_out_[i]
    own = calibration(model.validation_forecast_[i], model.validation_actual_[i], LEVEL, left_out=left_out)
    points = model.recent_[i]
    kept = max(model.window_, 3 * HORIZON, HISTORY_BUCKETS)
    scale = np.maximum(naive_error(points, HORIZON), naive_error(points[-kept:], HORIZON))
    return relative_measure(own["validation_mae_"], own["recent_mae_"], scale, ["requests"],
                            level_fall(points, kept, HORIZON))


def test_a_global_key_is_rated_from_its_validation_windows_less_those_left_out_and_its_kept_points():
    """Four Poisson keys, k0 with a burst of 1e6 among its validation targets (windows its interval leaves out),
    before the points the network keeps (whose naive error a burst would swamp): each key's relative_error and
    detail are those its validation windows and kept points give through a predictor's calibration and the one-series
    rating (k0's: 0.68; its windows all read, 0.61)."""
    series = [_poisson(level, FITTED, seed) for seed, level in enumerate((40.0, 90.0, 15.0, 3.0))]
    series[0][250:270] = 1e6
    fleet = _fit(series, validation_fraction=0.4, max_validation_windows=200)
    assert fleet._global.model.validation_left_out_[0].any()  # the burst's windows are left out
    frame = fleet.health()
    for i in range(4):
        value, detail = _as_a_predictor_rates_it(fleet, i)
        assert frame.loc[f"k{i}", "relative_error"] == pytest.approx(value, rel=1e-12)
        assert frame.attrs["relative_error_detail"][f"k{i}"] == detail
    assert (frame["relative_error_level"] == "ok").all(), frame["relative_error"]


def test_a_global_key_alerts_on_a_level_shift_the_network_has_not_followed_and_plain_keys_do_not(tmp_path):
    """Poisson(20) keys, then updates of 5 buckets: k0 at x3 its level, k1 at a third, k2 and k3 unchanged. k0 and
    k1 warn while the network has not followed (k1 against the noise at the level it fell to, named in its detail),
    k2 and k3 never; a saved and loaded fleet rates as the one that saved it."""
    fleet = _fit([_poisson(20.0, FITTED, seed) for seed in range(4)])
    ratings, details = [], []
    for update in range(3):
        first = FITTED + 5 * update
        new = [_poisson(level, 5, 10 * update + seed) for seed, level in enumerate((60.0, 20 / 3, 20.0, 20.0))]
        fleet.update(_frame(new, first))
        frame = fleet.health()
        ratings.append(frame["relative_error"].to_numpy())
        details.append(frame.attrs["relative_error_detail"])
    ratings = np.array(ratings)  # (updates, keys)
    assert ratings[:, :2].max(axis=0).min() >= 3.0, ratings
    assert ratings[:, 2:].max() < 3.0, ratings
    assert "their level fell to" in details[int(ratings[:, 1].argmax())]["k1"]
    path = fleet.save(tmp_path / "fleet")
    loaded = FleetPredictor.load(path).health()
    np.testing.assert_array_equal(loaded["relative_error"].to_numpy(), ratings[-1])
