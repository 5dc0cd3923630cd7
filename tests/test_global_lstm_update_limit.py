"""A global LSTM fleet's update over its memory limit: one key's gap is that key's error (review h45)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from workload_predictor import FleetPredictor
from workload_predictor.errors import MemoryLimitError
from workload_predictor.models.global_lstm import GlobalLSTM

START = pd.Timestamp("2024-03-01", tz="UTC")
MINUTE = pd.Timedelta("1min")


def _fleet(**settings) -> FleetPredictor:
    rng = np.random.default_rng(0)
    frame = pd.concat([pd.DataFrame({"endpoint": f"k{i}", "timestamp": START + MINUTE * np.arange(240),
                                     "requests": rng.poisson(10, 240).astype(float)}) for i in range(3)],
                      ignore_index=True)
    fleet = FleetPredictor(model="global_lstm", horizon=5, random_state=0, max_gap="3650D",
                           model_params={"hidden_size": 4, "max_epochs": 1, "window": 24}, **settings)
    return fleet.fit(frame, key="endpoint").set_params(memory_limit_mb=200)


def _rows(times: dict) -> pd.DataFrame:
    return pd.DataFrame({"endpoint": list(times), "timestamp": [START + t for t in times.values()],
                         "requests": [float(key[1:]) + 5.0 for key in times]})


def test_a_key_whose_gap_alone_is_over_the_memory_limit_is_that_keys_error_and_the_others_update():
    """Before: one key's row 3,000 days ahead (max_gap lets it in: 4.3 M zero-filled buckets, the update of it alone
    ~4.8 GB) refused the whole update with MemoryLimitError, so the next bucket of k1 was lost too. Now k0 is that
    key's error in update_errors_ (naming it, its gap and the fix) and keeps its state; k1 is updated exactly as an
    update with its row alone updates it."""
    fleet, alone = _fleet(), _fleet()
    held_k0 = fleet._global.last_timestamp(0)
    fleet.update(_rows({"k0": pd.Timedelta("3000D"), "k1": 240 * MINUTE}))
    assert list(fleet.update_errors_) == ["k0"]
    error = fleet.update_errors_["k0"]
    assert isinstance(error, MemoryLimitError)
    message = str(error)
    for part in ("key 'k0' alone", "2999d 20h 1min past its last bucket", "4,319,761 buckets of 1min, 1 with a row",
                 "Drop it", "max_gap (now '3650D')", "memory_limit_mb=200"):
        assert part in message, (part, message)
    assert fleet._global.last_timestamp(0) == held_k0
    assert fleet._global.last_timestamp(1) == START + 240 * MINUTE
    alone.update(_rows({"k1": 240 * MINUTE}))
    pd.testing.assert_frame_equal(fleet.predict(), alone.predict())


def test_a_strict_fleet_raises_for_a_key_over_the_limit_alone_changing_nothing():
    fleet = _fleet(strict=True)
    before = fleet.predict()
    with pytest.raises(MemoryLimitError, match="key 'k0': memory limit exceeded at 'global LSTM update of key 'k0' alone'"):
        fleet.update(_rows({"k0": pd.Timedelta("3000D"), "k1": 240 * MINUTE}))
    pd.testing.assert_frame_equal(fleet.predict(), before)
    assert fleet._global.last_timestamp(1) == START + 239 * MINUTE


def _per_key_bytes(bytes_of_one):
    """``update_bytes`` as the sum of ``bytes_of_one(m)`` over the keys given ``m > 0`` new buckets."""
    return lambda self, added: float(sum(bytes_of_one(int(m)) for m in added if m > 0))


def test_keys_that_fit_alone_but_not_together_refuse_the_update_changing_nothing(monkeypatch):
    """The choice: which keys to leave out of an update over the limit would be arbitrary, and the caller keeps every
    row: the update raises, changing nothing, and says that each key fits alone (before: the advice alone)."""
    fleet = _fleet()
    before = fleet.predict()
    monkeypatch.setattr(GlobalLSTM, "update_bytes", _per_key_bytes(lambda m: 150e6))  # 150 MB a key, limit 200 MB
    with pytest.raises(MemoryLimitError, match="global LSTM update: the validation roll") as refused:
        fleet.update(_rows({"k0": 240 * MINUTE, "k1": 240 * MINUTE}))
    message = str(refused.value)
    assert "this update adds 2 to 2 keys" in message and "Each key's update fits alone: pass their rows over several " \
        "updates." in message, message
    pd.testing.assert_frame_equal(fleet.predict(), before)
    fleet.update(_rows({"k0": 240 * MINUTE}))  # one at a time they fit
    assert fleet.update_errors_ == {} and fleet._global.last_timestamp(0) == START + 240 * MINUTE


def test_a_key_over_alone_is_left_out_and_the_others_checked_together(monkeypatch):
    """k0's gap is over the limit alone and left out; k1 and k2 fit alone but not together: the update raises,
    changing nothing. Without k2 the others update and k0 is the only error."""
    monkeypatch.setattr(GlobalLSTM, "update_bytes", _per_key_bytes(lambda m: 1e12 if m > 1000 else 150e6))
    fleet = _fleet()
    before = fleet.predict()
    with pytest.raises(MemoryLimitError, match="this update adds 2 to 2 keys"):
        fleet.update(_rows({"k0": pd.Timedelta("3000D"), "k1": 240 * MINUTE, "k2": 240 * MINUTE}))
    pd.testing.assert_frame_equal(fleet.predict(), before)
    fleet.update(_rows({"k0": pd.Timedelta("3000D"), "k1": 240 * MINUTE}))
    assert list(fleet.update_errors_) == ["k0"] and "key 'k0' alone" in str(fleet.update_errors_["k0"])
    assert fleet._global.last_timestamp(1) == START + 240 * MINUTE


def test_where_no_key_fits_alone_the_update_raises_with_a_keys_gap(monkeypatch):
    monkeypatch.setattr(GlobalLSTM, "update_bytes", _per_key_bytes(lambda m: 1e12))
    fleet = _fleet()
    before = fleet.predict()
    with pytest.raises(MemoryLimitError, match="No key's update fits within the limit, not even alone") as refused:
        fleet.update(_rows({"k0": pd.Timedelta("3000D"), "k1": 240 * MINUTE}))
    assert "key 'k0' alone" in str(refused.value) and "4,319,761 buckets" in str(refused.value)
    pd.testing.assert_frame_equal(fleet.predict(), before)


def test_the_default_max_gap_refuses_such_a_row_at_the_door_before_any_memory_check():
    """Why the 3,000-day row reaches the memory check only where max_gap lets it in: at the default (1,000 buckets) it
    is k0's UpdateGapError, as in a per-key fleet, and k1 is updated."""
    from workload_predictor.errors import UpdateGapError

    fleet = _fleet().set_params(max_gap=1000)
    fleet.update(_rows({"k0": pd.Timedelta("3000D"), "k1": 240 * MINUTE}))
    assert list(fleet.update_errors_) == ["k0"] and isinstance(fleet.update_errors_["k0"], UpdateGapError)
    assert fleet._global.last_timestamp(1) == START + 240 * MINUTE
