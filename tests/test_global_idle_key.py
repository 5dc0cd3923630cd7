"""A global LSTM's update where one key's endpoint is drained (its loads 0 from the update on): the other keys'
forecasts stay theirs, the drained key is forecast at 0, and it wakes as an idle key does (review h200)."""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import pytest
from test_global_level_shift import FITTED, NEW, SERIES, _moved, _periodic, _updated

from workload_predictor import FleetPredictor
from workload_predictor.models.global_lstm import GlobalLSTM

pytest.importorskip("torch")


@pytest.fixture(scope="module")
def fitted() -> GlobalLSTM:
    return GlobalLSTM(horizon=5, window=24, hidden_size=4, max_epochs=1, random_state=0).fit(
        [y[:FITTED] for y in SERIES])


@pytest.mark.parametrize("load", [0.0, 1.0])
def test_a_drained_key_moves_the_others_no_more_than_a_new_draw_of_its_points(fitted, load):
    """Key 0 (50 requests, 11.9 of them a scale) at ``load`` for the update's 60 buckets (drained, or a health
    check's one request a bucket): keys 1-3's forecasts against the same update with key 0 as it was, at most twice
    what a new draw of key 0's points moves them (the bound of tests/test_global_level_shift.py). Read on its busy
    scale, each of key 0's constant windows (4.2 and 4.1 scales below its offset) weighed about an ordinary window
    along the level in the shared base: 6.9 and 7.0 times a new draw."""
    unshifted = _updated(fitted, SERIES[0][FITTED:])
    redrawn = _updated(fitted, _periodic(FITTED + NEW, 50, 12, seed=11)[FITTED:])
    drained = _updated(fitted, np.full(NEW, load))
    assert _moved(fitted, drained, unshifted) <= 2 * _moved(fitted, redrawn, unshifted)
    assert np.abs(drained.predict()[0] - load).max() < 1.0  # forecast at its constant
    assert drained.scale_pending_[0, 0] and not drained.scale_pending_[1:].any()


@pytest.mark.parametrize("load", [0.0, 1.0])
def test_a_drained_key_that_wakes_is_scaled_on_its_points_since_and_forecast_at_its_level(fitted, load):
    drained = _updated(fitted, np.full(NEW, load))
    woken = copy.deepcopy(drained).update([SERIES[0][FITTED:]] + [None] * 3)  # back at its level for 60 buckets
    assert not woken.scale_pending_.any()
    level = SERIES[0][FITTED:].mean()
    # As the key that never left its level: scaled on its points since it woke.
    np.testing.assert_allclose(woken.offset_[0, 0], level, rtol=0.05)
    forecast = woken.predict()[0][:, 0]
    assert np.abs(forecast - level).max() < 0.5 * level


def test_a_global_fleet_with_a_drained_key_saves_loads_and_wakes_as_the_one_saved(tmp_path):
    start, step, n = pd.Timestamp("2024-03-01", tz="UTC"), pd.Timedelta("1min"), 330
    rng = np.random.default_rng(0)
    frame = pd.concat([pd.DataFrame({"endpoint": name, "timestamp": start + step * np.arange(n),
                                     "requests": rng.poisson(20 + 10 * np.sin(np.arange(n) / 5)).astype(float)})
                       for name in "abc"], ignore_index=True)
    at = frame.groupby("endpoint").cumcount()
    fleet = FleetPredictor(horizon=3, model="global_lstm", window=24, model_params={"max_epochs": 1},
                           random_state=0).fit(frame[at < 200], key="endpoint")
    drained = frame[(at >= 200) & (at < 260)].assign(requests=lambda d: d["requests"].where(d["endpoint"] != "a", 0.0))
    fleet.update(drained)
    assert fleet._global.model.scale_pending_[:, 0].tolist() == [True, False, False]
    assert (fleet.predict().query("endpoint == 'a'")["yhat"] == 0).all()
    loaded = FleetPredictor.load(fleet.save(tmp_path / "fleet.wp"))
    pd.testing.assert_frame_equal(loaded.predict(), fleet.predict())
    fleet.update(frame[at >= 260])
    loaded.update(frame[at >= 260])
    assert not fleet._global.model.scale_pending_.any()
    pd.testing.assert_frame_equal(loaded.predict(), fleet.predict())
