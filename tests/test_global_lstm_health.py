"""A global LSTM fleet key's ``relative_error``: rated from the validation windows and the points the network keeps of
it, as a predictor's and a batched DLinear key's are (review h163)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from workload_predictor import FleetPredictor
from workload_predictor.anomaly import HISTORY_BUCKETS
from workload_predictor.errors import ModelFileError
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


def _as_a_predictor_rates_it(fleet: FleetPredictor, i: int, fitted: np.ndarray) -> tuple[float, str]:
    """Key ``i``'s relative_error from its validation windows (less those its interval leaves out, as a predictor's
    calibration reads them), the points the network keeps of it and the series it was fitted on (``fitted``), through
    the one-series functions."""
    model = fleet._global.model
    left_out = model.validation_left_out_[i]
    own = calibration(model.validation_forecast_[i], model.validation_actual_[i], LEVEL, left_out=left_out)
    points = model._settled(model.recent_[i], 0, model._floor(i))[0]  # as the forecasts read them
    fitted = model._settled(fitted.reshape(-1, 1), 0, model._floor(i))[0]
    kept = max(model.window_, 3 * HORIZON, HISTORY_BUCKETS)
    scale = np.maximum.reduce([naive_error(points, HORIZON), naive_error(points[-kept:], HORIZON),
                               naive_error(fitted, HORIZON)])
    return relative_measure(own["validation_mae_"], own["recent_mae_"], scale, ["requests"],
                            level_fall(points, kept, HORIZON))


def test_a_global_key_is_rated_from_its_validation_windows_less_those_left_out_and_its_kept_points():
    """Four Poisson keys, k0 with a burst of 1e6 among its validation targets (windows its interval leaves out),
    before the points the network keeps: each key's relative_error and detail are those its validation windows, kept
    points and fitted series, each read as the forecasts read it (the burst at its median), give through a predictor's
    calibration and the one-series rating (k0's: 0.68; with the burst in its fitted series' naive error 2.03e-4, an
    alert that could never fire; k2's fitted series moves more than its kept points)."""
    series = [_poisson(level, FITTED, seed) for seed, level in enumerate((40.0, 90.0, 15.0, 3.0))]
    series[0][250:270] = 1e6
    fleet = _fit(series, validation_fraction=0.4, max_validation_windows=200)
    assert fleet._global.model.validation_left_out_[0].any()  # the burst's windows are left out
    frame = fleet.health()
    for i in range(4):
        value, detail = _as_a_predictor_rates_it(fleet, i, series[i])
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


def _bursty(n: int, seed: int) -> np.ndarray:
    """Bursts of Poisson(1000) in 30 % of the buckets, idle between."""
    rng = np.random.default_rng(seed)
    return np.where(rng.random(n) < 0.3, rng.poisson(1000.0, n), 0).astype(np.float64)


def _idle_after_busy() -> tuple[FleetPredictor, list[np.ndarray]]:
    """k0 bursty through its fit, then 130 idle buckets (more than the network keeps of it, and its validation
    windows' span); k1-k3 Poisson(20) throughout."""
    series = [_bursty(FITTED, 1)] + [_poisson(20.0, FITTED, seed) for seed in (2, 3, 4)]
    fleet = _fit(series)
    fleet.update(_frame([np.zeros(130)] + [_poisson(20.0, 130, seed) for seed in (5, 6, 7)], FITTED))
    return fleet, series


def test_a_global_key_idle_through_its_kept_points_after_a_busy_fit_is_measured_against_its_fits_noise(tmp_path):
    """A key whose kept points and validation windows are all idle after a bursty fit, the network still forecasting
    some of its busy level: its validation error is measured against the naive error of the series it was fitted on
    (``fit_naive_error_``, carried by the update unchanged and saved), as a predictor's against its ``noise_scale_``
    row 0, not against the one unit of points that never moved (which rated it critical, ~300)."""
    fleet, series = _idle_after_busy()
    model = fleet._global.model
    assert not np.any(model.recent_[0]) and not np.any(model.validation_actual_[0])  # all idle
    frame = fleet.health()
    assert frame.loc["k0", "relative_error"] < 3.0, frame.attrs["relative_error_detail"]["k0"]
    assert (frame["relative_error_level"] == "ok").all(), frame["relative_error"]
    np.testing.assert_array_equal(model.fit_naive_error_, np.stack([naive_error(y[:, None], HORIZON) for y in series]))
    loaded = FleetPredictor.load(fleet.save(tmp_path / "fleet")).health()
    np.testing.assert_array_equal(loaded["relative_error"].to_numpy(), frame["relative_error"].to_numpy())


def test_a_forged_fit_naive_error_is_refused_at_load_and_a_file_without_it_rates_from_its_kept_points(tmp_path):
    """``fit_naive_error_`` of another shape or dtype, negative or NaN is refused at load (ModelFileError naming it);
    a file saved before it was kept loads and rates its keys from their kept points alone (k0 critical), and its
    next update keeps the kept points' naive error from then on."""
    fleet, _ = _idle_after_busy()
    path = fleet.save(tmp_path / "fleet")
    naive = fleet._global.model.fit_naive_error_
    for forged in (naive[:3], naive.reshape(1, 4), -naive, np.where(np.arange(4)[:, None] == 2, np.nan, naive),
                   naive.astype(np.float32), naive.tolist()):
        bad = FleetPredictor.load(path)
        bad._global.model.fit_naive_error_ = forged
        with pytest.raises(ModelFileError, match="fit_naive_error_"):
            FleetPredictor.load(bad.save(tmp_path / "bad"))
    old = FleetPredictor.load(path)
    del old._global.model.fit_naive_error_  # as a file saved before it was kept
    old = FleetPredictor.load(old.save(tmp_path / "old"))
    frame = old.health()
    assert frame.loc["k0", "relative_error_level"] == "critical"
    assert frame.attrs["relative_error_detail"]["k0"].endswith("the 0 of repeating the last bucket (the naive "
                                                                "forecast) over the buckets held")
    old.update(_frame([np.zeros(5)] + [_poisson(20.0, 5, seed) for seed in (8, 9, 10)], FITTED + 130))
    assert old._global.model.fit_naive_error_.shape == (4, 1) and old._global.model.fit_naive_error_[0, 0] == 0.0
