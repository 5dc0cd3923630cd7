"""A global LSTM fleet's interval leaves out the validation windows whose targets hold a burst the series came back
from, as a predictor's fit and updates and a batched DLinear fleet leave them out (review h147; h136 left 2).

There a window's target reads the burst between the buckets around it (``anomaly.bridged``, from its reference median
towards them as the key's buckets correlate; a counter's first buckets, which the rule leaves unflagged, as they are):
its error is no load's. Read, a burst among a key's validation targets narrowed its interval (that reading is easy to
forecast) and a counter widened it (its first buckets are not)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from workload_predictor import FleetPredictor, anomaly
from workload_predictor.anomaly import REFERENCE_BUCKETS
from workload_predictor.errors import ModelFileError
from workload_predictor.predictor import calibration

pytest.importorskip("torch")

START = pd.Timestamp("2026-01-01", tz="UTC")
MINUTE = pd.Timedelta("1min")
FITTED, HORIZON, LEVEL = 400, 5, 0.9
AT, LENGTH = 355, 20  # k0's faulty buckets at fit: among its validation windows' targets (origins 340-395)
PARAMS = {"hidden_size": 4, "max_epochs": 2, "window": 24}


def _series(seed: int, length: int = FITTED) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.poisson(level, size=length).astype(np.float64) for level in (40.0, 90.0, 15.0)]


def _frame(series: list[np.ndarray], first: int = 0) -> pd.DataFrame:
    return pd.concat([pd.DataFrame({"endpoint": f"k{i}", "timestamp": START + MINUTE * np.arange(first, first + len(y)),
                                    "requests": y}) for i, y in enumerate(series)], ignore_index=True)


def _fit(series: list[np.ndarray], **params) -> FleetPredictor:
    return FleetPredictor(model="global_lstm", horizon=HORIZON, level=LEVEL, random_state=0,
                          model_params={**PARAMS, **params}).fit(_frame(series), key="endpoint")


def _holding(origins: np.ndarray, first: int, last: int) -> np.ndarray:
    """The windows at ``origins`` whose targets hold a bucket from ``first`` to ``last``."""
    return (origins <= last) & (origins + HORIZON - 1 >= first)


def _interval(fleet: FleetPredictor, level: float | None = None) -> tuple[np.ndarray, float]:
    """k0's half-widths ``[H]`` as the fleet forecasts them (at ``level``, ``None``: its own), and its confidence."""
    forecast = fleet.predict(level=level)
    k0 = forecast[forecast["endpoint"] == "k0"]
    return (k0["upper"] - k0["yhat"]).to_numpy(), fleet.confidence_["k0"]


def _twin(fleet: FleetPredictor, left_out: np.ndarray | None, level: float = LEVEL) -> tuple[np.ndarray, float]:
    """The half-widths ``[H]`` and confidence a predictor calibrates at ``level`` from ``fleet``'s k0 validation
    windows, less ``left_out``."""
    model = fleet._global.model
    own = calibration(model.validation_forecast_[0], model.validation_actual_[0], level, left_out=left_out)
    return own["interval_halfwidth_"][:, 0], own["confidence_"]


def test_a_burst_among_a_keys_validation_targets_leaves_its_interval_as_the_windows_without_it_give():
    """20 buckets of 1e6 among k0's validation targets: its interval and confidence are those of a twin whose points
    are the burst as the fleet reads it there (``anomaly.bridged``: the faulty fleet's forecasts and targets read the
    same validation forecasts and targets), calibrated on the windows whose targets hold none of those buckets."""
    clean = _series(0)
    faulty, twin = [y.copy() for y in clean], [y.copy() for y in clean]
    faulty[0][AT : AT + LENGTH] = 1e6
    runs = [(AT, AT + LENGTH - 1, 0, float(np.median(clean[0][AT - REFERENCE_BUCKETS : AT])))]
    y = faulty[0][:, None]
    twin[0][AT : AT + LENGTH] = anomaly.bridged(y, anomaly.settle(y, runs), runs)[AT : AT + LENGTH, 0]
    fleet, as_read = _fit(faulty), _fit(twin)
    origins = fleet._global.model.validation_origins_[0]
    holding = _holding(origins, AT, AT + LENGTH - 1)
    np.testing.assert_array_equal(fleet._global.model.validation_left_out_[0], holding)
    assert fleet._global.model.validation_left_out_[1:] == [None, None]
    width, confidence = _interval(fleet)
    expected_width, expected_confidence = _twin(as_read, holding)
    np.testing.assert_allclose(width, expected_width, rtol=1e-9)
    assert confidence == pytest.approx(expected_confidence, rel=1e-12)


def test_a_counter_among_a_keys_validation_targets_leaves_its_interval_as_the_clean_twins_on_the_same_windows():
    """k0's requests exported as a running total for 20 buckets of a longer validation tail: its interval within 2 %
    of the clean twin's on the windows whose targets hold none of the counter's buckets, its confidence within 0.005
    (the bars of a predictor's fit, ``tests/test_interval_after_faults.py``). The counter's first buckets, below the
    rule's margin, are read from where its climb began, as a predictor reads them; the windows whose inputs hold the
    counter read it as its median (on 8 draws: 0.97-1.01 of the twin's width, confidence within 0.002; its first buckets read as they were,
    0.98-1.18 and up to 0.013 below; every window read, 1.02-1.37 and 0.015-0.078 below)."""
    tail = {"validation_fraction": 0.4, "max_validation_windows": 200}
    clean = _series(2)
    faulty = [y.copy() for y in clean]
    at = 300
    faulty[0][at : at + LENGTH] = np.cumsum(clean[0][at : at + LENGTH])
    fleet, twin = _fit(faulty, **tail), _fit(clean, **tail)
    holding = _holding(twin._global.model.validation_origins_[0], at, at + LENGTH - 1)
    left_out = fleet._global.model.validation_left_out_[0]
    assert (left_out >= holding).all()  # and the climb's ordinary buckets: at most the rule's counter run before it
    width, confidence = _interval(fleet)
    expected_width, expected_confidence = _twin(twin, holding)
    assert width.mean() == pytest.approx(expected_width.mean(), rel=0.02)
    assert confidence == pytest.approx(expected_confidence, abs=0.005)


def test_the_windows_left_out_stay_out_through_updates_after_the_burst_can_no_longer_be_found():
    """A burst of 5 buckets comes in an update of 10, then clean buckets 10 at a time. An update finds bursts among
    the points the model keeps (``HISTORY_BUCKETS``, 120 here), judged from the ``REFERENCE_BUCKETS``-th (60) on: 70
    buckets after it, no longer, while its windows are among the 100 validation windows of a fit on 800 buckets for
    another 30. They stay out, as a predictor's do (``carried_left_out``), and the interval is calibrated without
    them."""
    fitted = 2 * FITTED
    series = _series(2, fitted + 100)
    fleet = _fit([y[:fitted] for y in series])
    burst = fitted + 2
    series[0][burst : burst + 5] = 1e6
    for first in range(fitted, fitted + 100, 10):
        fleet.update(_frame([y[first : first + 10] for y in series], first))
        model = fleet._global.model
        holding = _holding(model.validation_origins_[0], burst, burst + 4)
        np.testing.assert_array_equal(model.validation_left_out_[0], holding)
        width, _ = _interval(fleet)
        np.testing.assert_allclose(width, _twin(fleet, holding)[0], rtol=1e-9)
    assert holding.any()  # still among the validation windows at the end


def test_the_windows_left_out_are_saved_a_damaged_record_refused_and_a_file_without_it_updates(tmp_path):
    series = _series(0, FITTED + 10)
    series[0][AT : AT + LENGTH] = 1e6
    fleet = _fit([y[:FITTED] for y in series])
    model = fleet._global.model
    loaded = FleetPredictor.load(fleet.save(tmp_path / "fleet.wpm"))
    assert len(loaded._global.model.validation_left_out_) == 3
    np.testing.assert_array_equal(loaded._global.model.validation_left_out_[0], model.validation_left_out_[0])
    pd.testing.assert_frame_equal(loaded.predict(level=0.8), fleet.predict(level=0.8))
    mask = model.validation_left_out_[0]
    for damage in ([mask[1:], None, None], [mask.astype(np.int64), None, None], [np.zeros_like(mask), None, None],
                   [mask, None]):
        bad = FleetPredictor.load(tmp_path / "fleet.wpm")
        bad._global.model.validation_left_out_ = damage
        with pytest.raises(ModelFileError, match="validation_left_out_"):
            FleetPredictor.load(bad.save(tmp_path / "bad.wpm"))
    old = FleetPredictor.load(tmp_path / "fleet.wpm")
    del old._global.model.validation_left_out_  # as a file saved before it was kept: none left out
    old = FleetPredictor.load(old.save(tmp_path / "old.wpm"))
    np.testing.assert_allclose(_interval(old, 0.8)[0], _twin(old, None, 0.8)[0], rtol=1e-9)  # every window read
    old.update(_frame([y[FITTED:] for y in series], FITTED))
    model = old._global.model
    left_out = model.validation_left_out_  # the windows the update finds (its kept points reach the burst's end)
    assert left_out[1:] == [None, None]
    assert (left_out[0] <= _holding(model.validation_origins_[0], AT, AT + LENGTH - 1)).all()
