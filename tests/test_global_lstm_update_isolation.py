"""A global LSTM fleet's update with one key's bad rows: that key is refused as a per-key fleet refuses it (review h54).

The door (each key's rows checked, its gap zero-filled within the limit) is the per-key fleet's; these tests cover
where the global update's memory rule decided otherwise: a key refused for its data beside a key over the limit alone,
and every key over the limit at its door."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from workload_predictor import FleetPredictor
from workload_predictor.errors import MemoryLimitError, WorkloadDataError

START = pd.Timestamp("2024-03-01", tz="UTC")
MINUTE = pd.Timedelta("1min")


def _frame() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.concat([pd.DataFrame({"endpoint": f"k{i}", "timestamp": START + MINUTE * np.arange(240),
                                    "requests": rng.poisson(10, 240).astype(float)}) for i in range(3)],
                     ignore_index=True)


def _fleet(model: str = "global_lstm", max_gap: str = "3650D", **settings) -> FleetPredictor:
    params = {"hidden_size": 4, "max_epochs": 1, "window": 24} if model == "global_lstm" else None
    fleet = FleetPredictor(model=model, horizon=5, random_state=0, max_gap=max_gap, model_params=params, **settings)
    return fleet.fit(_frame(), key="endpoint").set_params(memory_limit_mb=200)


def _rows(rows: dict) -> pd.DataFrame:
    """``{key: (time after START, requests)}`` as an update frame."""
    return pd.DataFrame({"endpoint": list(rows), "timestamp": [START + t for t, _ in rows.values()],
                         "requests": [value for _, value in rows.values()]})


def test_a_key_refused_for_its_data_beside_a_key_over_the_limit_alone_is_reported_as_a_per_key_fleet_reports_it():
    """k0's row 3,000 days ahead (its update alone ~4.8 GB, limit 200 MB) and k1's NaN row: a per-key fleet reports
    both keys in update_errors_ and keeps every fit; the global fleet raised "No key's update fits" (k1's error lost)."""
    rows = _rows({"k0": (pd.Timedelta("3000D"), 5.0), "k1": (240 * MINUTE, np.nan)})
    fleet = _fleet()
    before = fleet.predict()
    fleet.update(rows)
    per_key = _fleet("dlinear", update_mode="incremental").update(rows)
    assert set(fleet.update_errors_) == set(per_key.update_errors_) == {"k0", "k1"}
    for errors in (fleet.update_errors_, per_key.update_errors_):
        assert isinstance(errors["k0"], MemoryLimitError)
        assert type(errors["k1"]) is WorkloadDataError
    assert "key 'k0' alone" in str(fleet.update_errors_["k0"])
    assert str(fleet.update_errors_["k1"]) == str(per_key.update_errors_["k1"])  # the same door, the same words
    pd.testing.assert_frame_equal(fleet.predict(), before)
    assert fleet._global.last_timestamp(0) == fleet._global.last_timestamp(1) == START + 239 * MINUTE


def test_the_next_update_after_such_a_refusal_takes_the_keys_correct_rows():
    fleet, alone = _fleet(), _fleet()
    fleet.update(_rows({"k0": (pd.Timedelta("3000D"), 5.0), "k1": (240 * MINUTE, np.nan)}))
    fleet.update(_rows({"k0": (240 * MINUTE, 6.0), "k1": (240 * MINUTE, 7.0)}))
    alone.update(_rows({"k0": (240 * MINUTE, 6.0), "k1": (240 * MINUTE, 7.0)}))
    assert fleet.update_errors_ == {}
    pd.testing.assert_frame_equal(fleet.predict(), alone.predict())


def test_every_key_over_the_limit_at_its_door_raises_as_a_per_key_fleet_does():
    """k0's row 20,000 days ahead: zero-filling its 28.8 M buckets alone (440 MiB) is over 200 MB at the door. The only
    key with rows: no key's update fits, and the update raises, changing nothing, as a per-key fleet's (the global
    fleet recorded the error and returned)."""
    rows = _rows({"k0": (pd.Timedelta("20000D"), 5.0)})
    per_key = _fleet("dlinear", max_gap="36500D")
    with pytest.raises(MemoryLimitError, match="No key's update fits within the limit"):
        per_key.update(rows)
    fleet = _fleet(max_gap="36500D")
    before = fleet.predict()
    with pytest.raises(MemoryLimitError, match="key 'k0': memory limit exceeded at 'zero-filling new buckets'") as refused:
        fleet.update(rows)
    assert str(refused.value).endswith("No key's update fits within the limit.")
    pd.testing.assert_frame_equal(fleet.predict(), before)
    assert fleet._global.last_timestamp(0) == START + 239 * MINUTE


def test_a_key_over_the_limit_at_its_door_beside_a_good_key_is_that_keys_error():
    fleet, alone = _fleet(max_gap="36500D"), _fleet(max_gap="36500D")
    fleet.update(_rows({"k0": (pd.Timedelta("20000D"), 5.0), "k1": (240 * MINUTE, 7.0)}))
    assert list(fleet.update_errors_) == ["k0"] and isinstance(fleet.update_errors_["k0"], MemoryLimitError)
    assert "zero-filling new buckets" in str(fleet.update_errors_["k0"])
    alone.update(_rows({"k1": (240 * MINUTE, 7.0)}))
    pd.testing.assert_frame_equal(fleet.predict(), alone.predict())
