"""A stray row far ahead of a key's series must not poison a global_lstm fleet key until the clock passes it.

Before: a key's row 900 buckets ahead (within max_gap=1000) zero-filled 899 buckets, and each of that key's next
correctly stamped rows was its UpdateOrderError in update_errors_. Now the fleet keeps its fit from before an update
in which a key's rows jumped more than half the window ahead, with that update's new buckets, while it holds the fit
that update published: the key's next rows between the two buckets make the fleet apply that update again from the
fit before it, without the key's stray rows, then this one. Judged by a twin fleet that never saw the stray row.
"""

from __future__ import annotations

import copy
import pickle
import warnings

import pandas as pd
import pytest

from tests.test_fleet_update_jump import N_FIT, FREQ, fleet_and_frames, stray, undone_warnings
from workload_predictor import FleetPredictor, UndoneJumpWarning, UpdateOrderError

PARAMS = {"max_epochs": 1, "hidden_size": 8}


def global_fleet():
    return fleet_and_frames("global_lstm", model_params=PARAMS)


def rows(data: dict[str, pd.DataFrame], at: dict[str, int]) -> pd.DataFrame:
    """Row ``at[key]`` of each key's stream, in one long frame."""
    return pd.concat([data[key].iloc[i : i + 1].assign(key=key) for key, i in at.items()], ignore_index=True)


def last_fitted(data: dict[str, pd.DataFrame], key: str = "a") -> pd.Timestamp:
    return data[key]["timestamp"].iloc[N_FIT - 1].tz_localize("UTC")


def feed(fleet: FleetPredictor, frames: list[pd.DataFrame]) -> list[str]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for frame in frames:
            fleet.update(frame)
            assert fleet.update_errors_ == {}
    return undone_warnings(caught)


def assert_twins(fleet: FleetPredictor, twin: FleetPredictor) -> None:
    pd.testing.assert_frame_equal(fleet.predict(), twin.predict(), rtol=1e-9, atol=1e-9)
    pd.testing.assert_series_equal(fleet.confidence_, twin.confidence_, rtol=1e-9, atol=1e-12)
    assert (fleet._global.length == twin._global.length).all()


@pytest.mark.parametrize("buckets", [30, 900])
def test_a_global_lstm_key_undoes_a_stray_row_far_ahead_sent_with_the_other_keys_rows(buckets):
    """The usual feed: every key's newest row each call. Key 'a' sends one row ``buckets`` ahead with 'b''s correct
    row; then both send correct rows. The fleet equals a twin whose first update held 'b''s row alone."""
    fleet, data = global_fleet()
    twin = copy.deepcopy(fleet)
    fleet.update(pd.concat([stray(data, buckets), rows(data, {"b": N_FIT})], ignore_index=True))
    twin.update(rows(data, {"b": N_FIT}))
    assert fleet.update_errors_ == {}
    later = [rows(data, {"a": N_FIT + i, "b": N_FIT + 1 + i}) for i in range(3)]
    undone = feed(fleet, later)
    feed(twin, later)
    last = last_fitted(data)
    assert len(undone) == 1
    assert undone[0].startswith(f"update: key 'a': the update before jumped {buckets} buckets ahead, from "
                                f"{last.isoformat()} to {(last + buckets * FREQ).isoformat()}")
    assert_twins(fleet, twin)
    assert fleet._jumps == {}  # the undo is used: nothing held


def test_two_keys_jumping_in_one_update_are_undone_together():
    fleet, data = global_fleet()
    twin = copy.deepcopy(fleet)
    fleet.update(pd.concat([stray(data, 600, "a"), stray(data, 700, "b")], ignore_index=True))
    later = [rows(data, {"a": N_FIT + i, "b": N_FIT + i}) for i in range(2)]
    assert len(feed(fleet, later)) == 2
    feed(twin, later)
    assert_twins(fleet, twin)


def assert_save_drops_the_undo_copies_keep_it(fleet: FleetPredictor, correct: pd.DataFrame, match: str,
                                              path) -> None:
    """A fleet holding key 'a''s jump undo: loaded from its file it refuses 'a''s ``correct`` rows (the undo is not
    saved) and takes 'b''s; a copy, a deep copy and a pickled copy undo the jump with them (a warning matching
    ``match``) and refuse nothing."""
    loaded = FleetPredictor.load(fleet.save(path / "f.wpf"))
    assert getattr(loaded, "_jumps", {}) == {}
    loaded.update(correct)
    assert isinstance(loaded.update_errors_["a"], UpdateOrderError) and "b" not in loaded.update_errors_
    for other in (copy.copy(fleet), copy.deepcopy(fleet), pickle.loads(pickle.dumps(fleet))):
        with pytest.warns(UndoneJumpWarning, match=match):
            other.update(correct)
        assert other.update_errors_ == {}


def test_a_confirmed_jump_refuses_and_save_keeps_no_undo_while_copy_and_pickle_do(tmp_path):
    fleet, data = global_fleet()
    fleet.update(pd.concat([stray(data, 900), rows(data, {"b": N_FIT})], ignore_index=True))
    correct = rows(data, {"a": N_FIT, "b": N_FIT + 1})
    assert_save_drops_the_undo_copies_keep_it(fleet, correct, "key 'a'", tmp_path)
    # Key 'a''s clock ran as far past the jumped bucket as a jump is wide (tests/test_global_stray_clock.py): the jump
    # is confirmed, and 'a''s row is refused, naming the zero buckets it lies before and a clock running ahead.
    intervened = copy.deepcopy(fleet)
    intervened.update(pd.concat([stray(data, 924), rows(data, {"b": N_FIT + 1})], ignore_index=True))
    assert intervened._jumps == {}
    intervened.update(rows(data, {"a": N_FIT}))
    error = intervened.update_errors_["a"]
    stamp = (last_fitted(data) + 900 * FREQ).isoformat()
    assert isinstance(error, UpdateOrderError) and "came from a clock running ahead" in str(error)
    assert f"buckets kept before {stamp} all hold zeros" in str(error)
    fleet.fit(pd.concat([frame.iloc[:N_FIT].assign(key=key) for key, frame in data.items()], ignore_index=True))
    assert fleet._jumps == {}  # fit forgets the jump (and the fit it kept)


def test_a_gap_at_the_threshold_is_no_jump_a_genuine_one_is_confirmed_and_a_refused_replay_keeps_the_undo():
    """window 48, horizon 10: a jump zero-fills more than 24 buckets."""
    fleet, data = global_fleet()
    at_threshold = copy.deepcopy(fleet)
    at_threshold.update(stray(data, 25))  # 24 zero-filled: no jump
    assert at_threshold._jumps == {}
    confirmed = copy.deepcopy(fleet)
    # a row as far after the jumped bucket as a jump is wide: a real gap
    assert feed(confirmed, [stray(data, 900), stray(data, 924)]) == []
    assert confirmed._jumps == {} and confirmed._global.last_timestamp(0) == last_fitted(data) + 924 * FREQ
    twin = copy.deepcopy(fleet)
    fleet.update(stray(data, 26))  # 25 zero-filled: a jump
    fleet.update(stray(data, 26))  # its replay: refused, and nothing else changed the fit
    assert isinstance(fleet.update_errors_["a"], UpdateOrderError)
    with pytest.warns(UndoneJumpWarning):
        fleet.update(rows(data, {"a": N_FIT, "b": N_FIT}))
    twin.update(rows(data, {"a": N_FIT, "b": N_FIT}))
    assert fleet.update_errors_ == {}
    assert_twins(fleet, twin)
