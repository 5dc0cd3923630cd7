"""A fleet fitted again in one thread while others forecast, report health or save (a nightly refit beside serving):
each reader reads one fit's state, the old one or the new one, never a mix of the two."""

from __future__ import annotations

import pandas as pd
import pytest
from test_fleet import make_fleet

from workload_predictor import FleetPredictor
from workload_predictor import fleet as fleet_module
from workload_predictor.fleet import FleetBlock

TWO = ["requests", "input_tokens"]


def _frames():
    """Two fits' data: keys k0-k3 of one target, then k0-k1 of two targets a day later, and a key too short to fit."""
    first = make_fleet(4, 300, seed=3)
    second = make_fleet(2, 300, seed=4, targets=tuple(TWO))
    second["timestamp"] += pd.Timedelta("1D")
    short = second[second["endpoint"] == "k1"].head(5).assign(endpoint="k3")
    return first, pd.concat([second, short], ignore_index=True)


def _once(hook):
    done = []

    def run():
        if not done:
            done.append(True)
            hook()
    return run


@pytest.mark.parametrize("model", ["dlinear", "naive"])
def test_a_predict_beside_a_refit_forecasts_one_fits_state(monkeypatch, model):
    """The refit lands while predict reads the held models (a block's or a per-key predictor's forecast): the forecast
    read the refit's keys and targets beside the old fit's models (KeyError). It is now the old fit's, whole."""
    first, second = _frames()
    fleet = FleetPredictor(model=model, horizon=5).fit(first, key="endpoint")
    old = fleet.predict()
    new = FleetPredictor(model=model, horizon=5).fit(second, key="endpoint", target=TWO).predict()
    refit = _once(lambda: fleet.fit(second, key="endpoint", target=TWO))
    if model == "dlinear":
        point = FleetBlock.point
        monkeypatch.setattr(FleetBlock, "point", lambda self, steps: (refit(), point(self, steps))[1])
    else:
        point = fleet_module._point
        monkeypatch.setattr(fleet_module, "_point", lambda *args: (refit(), point(*args))[1])
    pd.testing.assert_frame_equal(fleet.predict(), old)
    pd.testing.assert_frame_equal(fleet.predict(), new)


@pytest.mark.parametrize("reader", ["health", "confidence_"])
def test_health_and_confidence_beside_a_refit_read_one_fits_state(monkeypatch, reader):
    """The refit lands right after the reader took the held models (its state): it reported the old fit's keys under
    the new fit's key list (2 of the 4 keys, or a KeyError). It now reports the old fit's, whole."""
    first, second = _frames()
    fleet = FleetPredictor(horizon=5).fit(first, key="endpoint")
    read = lambda: fleet.health() if reader == "health" else fleet.confidence_  # noqa: E731
    old = read()
    refit = _once(lambda: fleet.fit(second, key="endpoint", target=TWO))
    state = FleetPredictor._state
    monkeypatch.setattr(FleetPredictor, "_state", lambda self: (state(self), refit())[0])
    raced = read()
    assert list(fleet.keys_) == ["k0", "k1"]  # the refit landed
    assert list(raced.index) == ["k0", "k1", "k2", "k3"]
    if reader == "health":
        pd.testing.assert_frame_equal(raced, old)
    else:
        pd.testing.assert_series_equal(raced, old)


def test_a_save_beside_a_refit_writes_one_fits_state(tmp_path, monkeypatch):
    """The refit lands while save copies the fleet: the file held the old fit's keys with the new fit's errors_ (a key
    it forecasts listed as failed). It now holds the old fit, whole."""
    first, second = _frames()
    fleet = FleetPredictor(horizon=5).fit(first, key="endpoint")
    old = fleet.predict()
    refit = _once(lambda: fleet.fit(second, key="endpoint", target=TWO))
    copy_ = fleet_module.copy.copy
    monkeypatch.setattr(fleet_module.copy, "copy",
                        lambda value: (copy_(value), isinstance(value, FleetPredictor) and refit())[0])
    fleet.save(tmp_path / "fleet.wpm")
    monkeypatch.undo()
    assert list(fleet.errors_) == ["k3"]  # the refit landed
    loaded = FleetPredictor.load(tmp_path / "fleet.wpm")
    assert loaded.errors_ == {}
    pd.testing.assert_frame_equal(loaded.predict(), old)
