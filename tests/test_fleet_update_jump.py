"""A stray row far ahead of a key's series must not poison a batched DLinear fleet key (update_mode="refit") for hours.

Before: a key's row 900 buckets ahead (within max_gap=1000) zero-filled 899 buckets, and each of that key's next 900
correctly stamped rows was its UpdateOrderError in update_errors_, "drop rows already seen". Now the key's update
whose first row jumps more than half its window ahead stays undoable until that key's next update, as a per-key
predictor's does (tests/test_update_jump.py). A global_lstm fleet: tests/test_global_update_jump.py.
"""

from __future__ import annotations

import copy
import pickle
import warnings

import pandas as pd
import pytest

from workload_predictor import FleetPredictor, UndoneJumpWarning, UpdateOrderError

FREQ = pd.Timedelta("10s")
N_FIT = 600


def frames() -> dict[str, pd.DataFrame]:
    from tests.test_update_jump import stream

    return {key: stream(seed=seed) for seed, key in enumerate(("a", "b"))}


def fleet_and_frames(model: str = "dlinear", **params) -> tuple[FleetPredictor, dict[str, pd.DataFrame]]:
    data = frames()
    long = pd.concat([frame.iloc[:N_FIT].assign(key=key) for key, frame in data.items()], ignore_index=True)
    return FleetPredictor(model=model, horizon=10, window=48, random_state=0, **params).fit(long, key="key"), data


def both(data: dict[str, pd.DataFrame], i: int) -> pd.DataFrame:
    return pd.concat([frame.iloc[i : i + 1].assign(key=key) for key, frame in data.items()], ignore_index=True)


def stray(data: dict[str, pd.DataFrame], buckets: int, key: str = "a") -> pd.DataFrame:
    last = data[key]["timestamp"].iloc[N_FIT - 1].tz_localize("UTC")
    return pd.DataFrame({"timestamp": [last + buckets * FREQ], "requests": [21.0], "key": [key]})


def undone_warnings(caught: list) -> list[str]:
    return [str(w.message) for w in caught if issubclass(w.category, UndoneJumpWarning)]


@pytest.mark.parametrize("mode", ["refit", "incremental"])
def test_a_batched_fleet_key_undoes_a_stray_row_900_buckets_ahead_and_names_the_key(mode):
    """In "refit" the fleet keeps the key's series from before the jump; in "incremental" the stray row is the key's
    first update, which gives it its own predictor, and that predictor keeps its undo."""
    fleet, data = fleet_and_frames(update_mode=mode)
    twin = copy.deepcopy(fleet)  # never sees the stray row
    fleet.update(stray(data, 900))
    assert fleet.update_errors_ == {}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for i in range(N_FIT, N_FIT + 4):
            fleet.update(both(data, i))
            twin.update(both(data, i))
            assert fleet.update_errors_ == {}
    undone = undone_warnings(caught)
    last = data["a"]["timestamp"].iloc[N_FIT - 1].tz_localize("UTC")
    assert len(undone) == 1
    assert undone[0].startswith(f"update: key 'a': the update before jumped 900 buckets ahead, from {last.isoformat()} "
                                f"to {(last + 900 * FREQ).isoformat()}")
    pd.testing.assert_frame_equal(fleet.predict(), twin.predict(), rtol=1e-9, atol=1e-9)


def test_a_refit_fleet_key_confirms_a_genuine_long_gap_as_one_update_holding_its_rows():
    fleet, data = fleet_and_frames()
    twin = copy.deepcopy(fleet)
    after = pd.concat([stray(data, 900), stray(data, 924)], ignore_index=True)
    fleet.update(after.iloc[:1])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fleet.update(after.iloc[1:])  # a row as far after the jumped bucket as a jump is wide: the gap was real
    twin.update(after)
    assert fleet.update_errors_ == {} and undone_warnings(caught) == []
    pd.testing.assert_frame_equal(fleet.predict(), twin.predict(), rtol=1e-9, atol=1e-9)
    fleet.update(both(data, N_FIT))  # now a late row for "a": refused, and told why
    error = fleet.update_errors_["a"]
    assert isinstance(error, UpdateOrderError) and "drop rows already seen" not in str(error)
    assert "clock running ahead" in str(error) and "b" not in fleet.update_errors_


def test_a_gap_at_the_threshold_is_no_jump_and_a_replayed_stray_keeps_the_jump_undoable():
    fleet, data = fleet_and_frames()
    fleet.update(stray(data, 25))  # 24 zero-filled buckets: half the window, no jump
    fleet.update(both(data, N_FIT).iloc[:1])
    assert isinstance(fleet.update_errors_["a"], UpdateOrderError)
    fleet, data = fleet_and_frames()
    twin = copy.deepcopy(fleet)
    fleet.update(stray(data, 26))  # 25 zero-filled: a jump
    fleet.update(stray(data, 26))  # the stray row again: refused, the jump still undoable
    assert isinstance(fleet.update_errors_["a"], UpdateOrderError)
    with pytest.warns(UndoneJumpWarning, match="key 'a': the update before jumped 26 buckets ahead"):
        fleet.update(both(data, N_FIT))
    twin.update(both(data, N_FIT))
    assert fleet.update_errors_ == {}
    pd.testing.assert_frame_equal(fleet.predict(), twin.predict(), rtol=1e-9, atol=1e-9)


def test_save_and_load_keep_no_undo_while_copy_and_pickle_do(tmp_path):
    fleet, data = fleet_and_frames()
    fleet.update(stray(data, 900))
    loaded = FleetPredictor.load(fleet.save(tmp_path / "f.wpf"))
    loaded.update(both(data, N_FIT))
    error = loaded.update_errors_["a"]
    assert isinstance(error, UpdateOrderError) and "all hold zeros, and it is older than them" in str(error)
    for other in (copy.copy(fleet), copy.deepcopy(fleet), pickle.loads(pickle.dumps(fleet))):
        with pytest.warns(UndoneJumpWarning):
            other.update(both(data, N_FIT))
        assert other.update_errors_ == {}
    assert set(fleet._jumps) == {"a"}
    fleet.fit(pd.concat([frame.iloc[:N_FIT].assign(key=key) for key, frame in data.items()], ignore_index=True))
    assert fleet._jumps == {}  # fit forgets the jump (and the series it kept)


def test_a_global_lstm_key_refuses_rows_after_a_stray_jump_naming_the_zero_run():
    """A global_lstm fleet confirms a key's jump once that key's clock ran as far past the jumped bucket as a jump is
    wide (tests/test_global_stray_clock.py): the rows after it are that key's refusal, which says no row came for the
    bucket and points to a refit."""
    fleet, data = fleet_and_frames("global_lstm", model_params={"max_epochs": 1, "hidden_size": 8})
    fleet.update(stray(data, 30))
    fleet.update(pd.concat([stray(data, 54), both(data, N_FIT).iloc[1:]], ignore_index=True))  # 24 past: confirmed
    assert fleet._jumps == {}
    fleet.update(pd.concat([both(data, N_FIT).iloc[:1], both(data, N_FIT + 1).iloc[1:]]))
    error = fleet.update_errors_["a"]
    assert isinstance(error, UpdateOrderError) and "drop rows already seen" not in str(error)
    stamp = (data["a"]["timestamp"].iloc[N_FIT - 1].tz_localize("UTC") + 30 * FREQ).isoformat()
    assert f"no row came for it: it lies in a run of 29 zero buckets before {stamp}" in str(error)
    assert "b" not in fleet.update_errors_
