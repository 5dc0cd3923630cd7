"""A global_lstm fleet key's stray clock that sends two or more updates must not poison the key for hours.

Before: a key's update that jumped far ahead stayed undoable only until the fleet's next update (any key's). If the
stray clock sent a second row, or another key's rows came first, the jump was confirmed, and every correct row of the
key was an UpdateOrderError in update_errors_ until the correct clock passed the stray stamp (2.5 h for 900 buckets of
10 s). Now the fleet holds the undo through later updates while the key's rows end fewer buckets past the jumped
bucket than a jump is wide (``max(window_ // 2, horizon)``, 24 here; a predictor's rule), and while the updates since
stay within their bound (24 updates, 24 buckets a key). The correct rows then apply the jumping update and every update
since again, from the fit before it, without the key's stray rows. Judged by a twin fleet that never saw the stray
rows (rtol 1e-9, as tests/test_global_update_jump.py). One update with several keys' correct rows undoes all their
jumps, made by different updates too. Another key's jumping update held inside a record counts to its bound once that
key's own record no longer holds it, so the held undos stay within the bound docs/updates-and-limits.md states.
"""

from __future__ import annotations

import copy
import functools
import re

import pandas as pd
import pytest

from tests.test_fleet_update_jump import FREQ, N_FIT
from tests.test_global_update_jump import (PARAMS, assert_save_drops_the_undo_copies_keep_it, assert_twins, feed,
                                          global_fleet, last_fitted, rows)
from workload_predictor import UndoneJumpWarning, UpdateOrderError

THRESHOLD = 24  # window 48 // 2, horizon 10


def stray_rows(data: dict[str, pd.DataFrame], buckets: int) -> pd.DataFrame:
    """Key 'a''s row ``buckets`` after its last fitted bucket."""
    return pd.DataFrame({"timestamp": [last_fitted(data) + buckets * FREQ], "requests": [21.0], "key": ["a"]})


def stray_feed(data: dict[str, pd.DataFrame], more: int, with_b: bool, reach: int = 0) -> tuple[list, list]:
    """The fleet's frames (a row of 'a' 900 buckets ahead, then ``more`` stray rows continuing it, the last ``reach``
    buckets past the jumped one where given; with 'b''s correct row in each call where ``with_b``) and the twin's
    (those calls' rows of 'b', or none)."""
    steps = [900 + i for i in range(more + 1)]
    if reach:
        steps[-1] = 900 + reach
    fleet, twin = [], []
    for i, step in enumerate(steps):
        b = rows(data, {"b": N_FIT + i})
        fleet.append(pd.concat([stray_rows(data, step), b], ignore_index=True) if with_b else stray_rows(data, step))
        if with_b:
            twin.append(b)
    return fleet, twin


def correct(data: dict[str, pd.DataFrame], b_from: int, calls: int = 3) -> list[pd.DataFrame]:
    return [rows(data, {"a": N_FIT + i, "b": b_from + i}) for i in range(calls)]


@pytest.mark.parametrize("with_b", [False, True], ids=["alone", "with-b"])
@pytest.mark.parametrize("more", [1, 2])
def test_a_global_key_whose_stray_clock_sends_more_rows_is_undone_by_its_correct_rows(more, with_b):
    """The reproducer: key 'a''s row 900 buckets ahead, then ``more`` rows continuing its stray clock (alone, or each
    in a call with 'b''s correct row), then both keys' correct rows. None is refused, one warning counts what was
    dropped, and the fleet equals a twin that got 'b''s rows alone."""
    fleet, data = global_fleet()
    twin = copy.deepcopy(fleet)
    strays, twins = stray_feed(data, more, with_b)
    assert feed(fleet, strays) == []
    feed(twin, twins)
    later = correct(data, N_FIT + len(twins))
    undone = feed(fleet, later)
    feed(twin, later)
    last, stray = last_fitted(data), last_fitted(data) + 900 * FREQ
    assert len(undone) == 1
    assert undone[0].startswith(f"update: key 'a': the update {more + 1} updates before jumped 900 buckets ahead, "
                                f"from {last.isoformat()} to {stray.isoformat()}"), undone[0]
    assert (f"and the {more} update{'s' if more > 1 else ''} since ({more + 1} rows, up to "
            f"{(stray + more * FREQ).isoformat()}) were dropped as stray") in undone[0]
    assert_twins(fleet, twin)
    assert fleet._jumps == {}  # the undo is used: nothing held


def test_updates_without_the_key_hold_the_undo_and_are_applied_again():
    """Calls with 'b''s rows alone after 'a''s jump (the stray clock silent): the undo is held, and the undo applies
    them again, so 'b''s validation windows are forecast by a shared base that never held 'a''s stray windows."""
    fleet, data = global_fleet()
    twin = copy.deepcopy(fleet)
    fleet.update(stray_rows(data, 900))
    between = [rows(data, {"b": N_FIT + i}) for i in range(3)]
    feed(fleet, between)
    feed(twin, between)
    later = correct(data, N_FIT + 3)
    undone = feed(fleet, later)
    feed(twin, later)
    assert len(undone) == 1 and undone[0].startswith("update: key 'a': the update before jumped 900 buckets ahead")
    assert_twins(fleet, twin)


def test_the_stray_clock_held_one_bucket_short_of_a_jump_is_undone_and_at_it_confirms_the_jump():
    for reach, undoes in ((THRESHOLD - 1, True), (THRESHOLD, False)):
        fleet, data = global_fleet()
        twin = copy.deepcopy(fleet)
        strays, twins = stray_feed(data, 1, True, reach=reach)
        feed(fleet, strays)
        feed(twin, twins)
        if undoes:
            with pytest.warns(UndoneJumpWarning, match="key 'a'"):
                fleet.update(rows(data, {"a": N_FIT, "b": N_FIT + 2}))
            twin.update(rows(data, {"a": N_FIT, "b": N_FIT + 2}))
            assert fleet.update_errors_ == {}
            assert_twins(fleet, twin)
        else:
            assert fleet._jumps == {}
            fleet.update(rows(data, {"a": N_FIT, "b": N_FIT + 2}))
            error = fleet.update_errors_["a"]
            assert isinstance(error, UpdateOrderError) and "clock running ahead" in str(error)
            assert "b" not in fleet.update_errors_


def test_the_stray_clocks_own_span_is_refused_and_keeps_the_undo():
    fleet, data = global_fleet()
    twin = copy.deepcopy(fleet)
    strays, twins = stray_feed(data, 2, True)
    feed(fleet, strays)
    feed(twin, twins)
    fleet.update(stray_rows(data, 901))  # the stray clock's own span (after the jumped bucket): refused
    assert isinstance(fleet.update_errors_["a"], UpdateOrderError)
    later = correct(data, N_FIT + 3)
    assert len(feed(fleet, later)) == 1
    feed(twin, later)
    assert_twins(fleet, twin)


def test_past_the_bound_of_updates_since_the_undo_lapses_and_the_refusal_says_why():
    """THRESHOLD + 1 updates of 'b' alone after 'a''s jump: more than the undo holds. 'a''s correct row is refused,
    saying why and what to do, and the record no longer holds a fit."""
    fleet, data = global_fleet()
    fleet.update(stray_rows(data, 900))
    held = copy.deepcopy(fleet)
    feed(held, [rows(data, {"b": N_FIT + i}) for i in range(THRESHOLD)])
    assert held._jumps["a"].lapsed is None and len(held._jumps["a"].since) == THRESHOLD
    feed(fleet, [rows(data, {"b": N_FIT + i}) for i in range(THRESHOLD + 1)])
    record = fleet._jumps["a"]
    assert record.lapsed is not None and record.before is None and record.since is None
    fleet.update(rows(data, {"a": N_FIT, "b": N_FIT + THRESHOLD + 1}))
    error = fleet.update_errors_["a"]
    assert isinstance(error, UpdateOrderError)
    assert "can no longer be undone: 25 updates since it, with 25 new buckets in all (but other keys' jumps), are " \
           "more than its undo holds (24 updates, 48 buckets" in str(error), str(error)
    assert "refit with fit() on the rows with their correct times" in str(error)
    assert "b" not in fleet.update_errors_
    with pytest.warns(UndoneJumpWarning, match="key 'a'"):  # one update fewer: still undone
        held.update(rows(data, {"a": N_FIT, "b": N_FIT + THRESHOLD}))
    assert held.update_errors_ == {}


def test_save_drops_a_held_undo_while_copy_and_pickle_keep_it(tmp_path):
    fleet, data = global_fleet()
    strays, _ = stray_feed(data, 2, True)
    feed(fleet, strays)
    assert_save_drops_the_undo_copies_keep_it(fleet, rows(data, {"a": N_FIT, "b": N_FIT + 3}), "the 2 updates since",
                                              tmp_path)


def key_row(data: dict[str, pd.DataFrame], key: str, buckets: int) -> pd.DataFrame:
    """Key ``key``'s row ``buckets`` after its last fitted bucket."""
    return pd.DataFrame({"timestamp": [last_fitted(data, key) + buckets * FREQ], "requests": [21.0], "key": [key]})


@pytest.mark.parametrize("first", ["a", "b"])
def test_two_keys_jumping_in_different_updates_are_each_undone(first):
    """'a' jumps (with 'b''s correct row), then 'b' jumps (with 'a''s stray clock), then one key's correct rows beside
    the other's stray clock, then both keys' correct rows. Each undo keeps the other key's record, rebuilt on the fits
    applied again, so both are undone, and the fleet equals a twin that got the correct rows alone."""
    fleet, data = global_fleet()
    twin = copy.deepcopy(fleet)
    second = "b" if first == "a" else "a"
    frames = [pd.concat([key_row(data, "a", 900), rows(data, {"b": N_FIT})], ignore_index=True),
              pd.concat([key_row(data, "a", 901), key_row(data, "b", 700)], ignore_index=True),
              pd.concat([rows(data, {first: N_FIT + (first == "b")}), key_row(data, second, 902 - 200 * (second == "b"))],
                        ignore_index=True),
              rows(data, {"a": N_FIT + 1 - (first == "b"), "b": N_FIT + 1 + (first == "b")})]
    undone = feed(fleet, frames)
    feed(twin, [rows(data, {"b": N_FIT}), rows(data, {first: N_FIT + (first == "b")}), frames[3]])
    assert [text[: len("update: key 'a'")] for text in undone] == [f"update: key '{first}'", f"update: key '{second}'"]
    assert fleet._jumps == {}
    assert_twins(fleet, twin)


def test_past_the_bound_of_buckets_since_the_undo_lapses():
    """One update since 'a''s jump with 'b''s next 48 rows (24 updates of one bucket a key, 2 keys) is held; with 49,
    the undo lapses."""
    for count, lapses in ((48, False), (49, True)):
        fleet, data = global_fleet()
        fleet.update(stray_rows(data, 900))
        fleet.update(data["b"].iloc[N_FIT : N_FIT + count].assign(key="b"))
        assert fleet.update_errors_ == {}
        correct = rows(data, {"a": N_FIT, "b": N_FIT + count})
        if lapses:
            fleet.update(correct)
            assert "can no longer be undone: 1 update since it, with 49 new buckets" in str(fleet.update_errors_["a"])
        else:
            with pytest.warns(UndoneJumpWarning, match="key 'a'"):
                fleet.update(correct)
            assert fleet.update_errors_ == {}


@pytest.mark.parametrize("order", ["a-first", "b-first"])
def test_two_keys_jumping_in_different_updates_are_both_undone_by_one_update(order):
    """Both keys' correct rows in one update after jumps made by different updates (in either order in the frame):
    the older jump is undone, the fits rebuilt, then the other, in that update. Two warnings, no refusal, nothing
    held, and the fleet equals a twin that got the correct rows alone. Before: 'b''s rows were refused, to be sent
    again."""
    fleet, data = global_fleet()
    twin = copy.deepcopy(fleet)
    fleet.update(pd.concat([key_row(data, "a", 900), rows(data, {"b": N_FIT})], ignore_index=True))
    fleet.update(key_row(data, "b", 700))
    both = rows(data, {"a": N_FIT, "b": N_FIT + 1} if order == "a-first" else {"b": N_FIT + 1, "a": N_FIT})
    undone = feed(fleet, [both])
    assert sorted(text[: len("update: key 'a'")] for text in undone) == ["update: key 'a'", "update: key 'b'"]
    assert fleet._jumps == {}
    feed(twin, [rows(data, {"b": N_FIT}), both])
    assert_twins(fleet, twin)


def test_two_keys_stray_clocks_interleaved_with_correct_rows_and_a_jump_between_rows_are_both_undone_at_once():
    """'a' jumps; 'b''s correct row, then 'b''s correct row and a stray one 700 buckets ahead (a jump between its
    rows: its correct row is kept) with 'a''s stray clock; then 'a''s stray clock alone; then both keys' correct rows
    in one update undo both jumps, keeping the rows of 'b' from before its jump, and the fleet equals a twin that got
    the correct rows alone."""
    fleet, data = global_fleet()
    twin = copy.deepcopy(fleet)
    frames = [key_row(data, "a", 900), rows(data, {"b": N_FIT}),
              pd.concat([key_row(data, "a", 901), rows(data, {"b": N_FIT + 1}), naive(key_row(data, "b", 700))],
                        ignore_index=True),
              key_row(data, "a", 902), rows(data, {"b": N_FIT + 2, "a": N_FIT})]
    undone = feed(fleet, frames)
    assert len(undone) == 2
    a_text = next(text for text in undone if text.startswith("update: key 'a'"))
    assert "the update 3 updates before jumped 900 buckets ahead" in a_text, a_text  # its own 2 since
    assert "the 2 updates since (3 rows" in a_text, a_text
    b_text = next(text for text in undone if text.startswith("update: key 'b'"))
    b_base = last_fitted(data, "b") + 2 * FREQ  # its correct row in the jumping update is kept
    assert f"the update before jumped 698 buckets ahead, from {b_base.isoformat()}" in b_text, b_text
    assert fleet._jumps == {} and fleet.update_errors_ == {}
    feed(twin, [rows(data, {"b": N_FIT}), rows(data, {"b": N_FIT + 1}), frames[4]])
    assert_twins(fleet, twin)


def test_three_keys_jumping_in_three_updates_are_all_undone_by_one_update():
    """Keys 'a', 'b' and 'c' jump in three updates, a fourth key's correct rows in each, and 'b''s correct row in an
    update between 'a''s jump and its own (kept: only a key's rows from its own jump on are stray); one update with
    the three keys' correct rows undoes all three jumps exactly."""
    fleet, data = several_keys_fleet(4)
    twin = copy.deepcopy(fleet)
    frames = [pd.concat([key_row(data, "a", 900), rows(data, {"d": N_FIT})], ignore_index=True),
              rows(data, {"b": N_FIT, "d": N_FIT + 1}),
              pd.concat([key_row(data, "b", 800), rows(data, {"d": N_FIT + 2})], ignore_index=True),
              pd.concat([key_row(data, "c", 700), key_row(data, "a", 901), rows(data, {"d": N_FIT + 3})],
                        ignore_index=True)]
    feed(fleet, frames)
    assert sorted(fleet._jumps) == ["a", "b", "c"]
    last = rows(data, {"c": N_FIT, "a": N_FIT, "b": N_FIT + 1, "d": N_FIT + 4})
    undone = feed(fleet, [last])
    assert sorted(text[: len("update: key 'a'")] for text in undone) == [f"update: key '{key}'" for key in "abc"]
    assert fleet._jumps == {}
    feed(twin, [rows(data, {"d": N_FIT}), frames[1], rows(data, {"d": N_FIT + 2}), rows(data, {"d": N_FIT + 3}),
                last])
    assert_twins(fleet, twin)


def naive(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with its timestamps naive, as the streams' (one key's rows read as one kind of time)."""
    return frame.assign(timestamp=frame["timestamp"].dt.tz_localize(None))


def several_keys_fleet(n_keys: int):
    """A global fleet of keys 'a', 'b', ... (the global tests' settings), and each key's stream."""
    from tests.test_update_jump import stream
    from workload_predictor import FleetPredictor

    data = {key: stream(seed=seed) for seed, key in enumerate("abcdefgh"[:n_keys])}
    long = pd.concat([frame.iloc[:N_FIT].assign(key=key) for key, frame in data.items()], ignore_index=True)
    fleet = FleetPredictor(model="global_lstm", horizon=10, window=48, random_state=0, model_params=PARAMS)
    return fleet.fit(long, key="key"), data


def held_buckets(fleet) -> int:
    """The buckets every held undo of ``fleet`` holds together: each array once (records share them)."""
    arrays = {}
    for record in fleet._jumps.values():
        for call in ((record.new,) + record.since) if record.lapsed is None else ():
            arrays.update((id(values), len(values)) for values in call if values is not None)
    return sum(arrays.values())


def held_bound(fleet) -> int:
    """What docs/updates-and-limits.md states the held undos hold at most: the oldest held jump's update, at most
    ``threshold`` buckets a key in the updates since it, and each other held jump's own buckets in its update (its
    key's door bounds them: max_gap, memory_limit_mb)."""
    position = {name: j for j, name in enumerate(fleet._global.keys)}
    held = {name: record for name, record in fleet._jumps.items() if record.lapsed is None}
    if not held:
        return 0
    oldest = max(held.values(), key=lambda record: len(record.since))
    return (sum(len(values) for values in oldest.new if values is not None) + THRESHOLD * len(position)
            + sum(len(record.new[position[name]]) for name, record in held.items() if record.new is not oldest.new))


def test_held_undos_stay_within_their_stated_bound_through_a_stream_of_stray_clocks_on_several_keys():
    """'a' jumps 900 buckets ahead and falls silent; then 'b', 'c' and 'd' take turns, each one's stray clock jumping
    700 buckets further at each turn. Each key's newer jump replaces its record, but its older jumping update was
    still held inside 'a''s record (before: up to 24 of them, 16,800 buckets, while the bound said 96). Now a jump no
    longer held by its own key's record counts to the bound of each record that holds it: 'a''s undo lapses, saying
    why, and every step stays within the stated bound."""
    fleet, data = several_keys_fleet(4)
    fleet.update(key_row(data, "a", 900))
    reach = dict.fromkeys("bcd", 0)
    worst = 0
    for step in range(THRESHOLD):
        key = "bcd"[step % 3]
        reach[key] += 700
        fleet.update(key_row(data, key, reach[key]))
        assert fleet.update_errors_ == {}
        held, bound = held_buckets(fleet), held_bound(fleet)
        worst = max(worst, held)
        assert held <= bound, (step, held, bound)
    assert worst <= 900 + 3 * 700 + THRESHOLD * 4, worst  # 'a''s jump, one of each other key's, 24 buckets a key
    record = fleet._jumps["a"]
    assert record.lapsed is not None and record.before is None and record.since is None
    fleet.update(rows(data, {"a": N_FIT}))
    error = fleet.update_errors_["a"]
    assert isinstance(error, UpdateOrderError)
    assert "can no longer be undone: 4 updates since it, with 700 new buckets in all (but other keys' jumps their own " \
           "undo still holds; 700 of them are jumps it no longer holds), are more than its undo holds (24 updates, 96 " \
           "buckets" in str(error), str(error)


def test_another_keys_jump_counts_to_the_bound_once_its_own_undo_lets_it_go():
    """'a' jumps; 'b' jumps 30 buckets ahead (held by 'b''s record: it counts to no bound of 'a''s), then 'b''s stray
    clock confirms its jump: 'b''s jumping update now counts to 'a''s bound (30 + 25 buckets, within 24 a key of 4),
    and 'a''s undo stays exact: the fleet equals a twin that never saw 'a''s stray row. (A guard: it passed before.)"""
    fleet, data = several_keys_fleet(4)
    twin = copy.deepcopy(fleet)
    frames = [key_row(data, "a", 900), key_row(data, "b", 30), key_row(data, "b", 30 + THRESHOLD + 1)]
    feed(fleet, frames)
    feed(twin, frames[1:])
    assert list(fleet._jumps) == ["a"] and fleet._jumps["a"].lapsed is None
    assert held_buckets(fleet) <= held_bound(fleet)
    later = rows(data, {"a": N_FIT})
    assert len(feed(fleet, [later])) == 1
    feed(twin, [later])
    assert_twins(fleet, twin)


def test_a_record_lapsing_with_an_older_one_counts_its_jump_in_the_older_ones_reason():
    """'a', then 'b', then 'c' jump; 'c' jumps again, so its first jump (700 buckets) is held by no record of 'c'.
    'b''s undo lapses over it, and so does 'a''s, whose reason counts 'b''s jump too (no longer held by 'b''s
    undo): the records are judged youngest first."""
    fleet, data = several_keys_fleet(4)
    feed(fleet, [key_row(data, "a", 900), key_row(data, "b", 700), key_row(data, "c", 700),
                 key_row(data, "c", 1400)])
    assert fleet._jumps["a"].lapsed.startswith("3 updates since it, with 1,400 new buckets in all (but other keys' "
                                               "jumps their own undo still holds; 1,400 of them are jumps it no "
                                               "longer holds)"), fleet._jumps["a"].lapsed
    assert fleet._jumps["b"].lapsed.startswith("2 updates since it, with 700 new buckets"), fleet._jumps["b"].lapsed
    assert fleet._jumps["c"].lapsed is None


MANY = 300  # keys: each fit before a jump then holds about 4 MiB that a feed of every key's rows replaces
MANY_START = pd.Timestamp("2024-03-01", tz="UTC")


@functools.lru_cache(maxsize=None)
def _many_keys_fitted():
    """The fitted fleet ``many_keys_fleet`` copies (one fit for the module's tests), its values and key names."""
    import numpy as np

    from workload_predictor import FleetPredictor

    rng = np.random.default_rng(0)
    t = np.arange(340)
    values = np.abs(50 + 20 * np.sin(2 * np.pi * t / 60 + rng.uniform(0, 6, (MANY, 1))) + rng.normal(0, 2, (MANY, 340)))
    names = [f"k{i:03d}" for i in range(MANY)]
    long = pd.DataFrame({"timestamp": np.tile(MANY_START + FREQ * t[:300], MANY), "requests": values[:, :300].ravel(),
                         "key": np.repeat(names, 300)})
    fleet = FleetPredictor(model="global_lstm", horizon=10, window=48, random_state=0, model_params=PARAMS)
    return fleet.fit(long, key="key"), values, names


def many_keys_fleet(limit_mb: float):
    """A global fleet of ``MANY`` keys (the global tests' settings, 300 buckets each), updated within ``limit_mb``, and
    a frame maker for them. The fleet is a deep copy of one fit: each test updates its own."""
    fitted, values, names = _many_keys_fitted()
    fleet = copy.deepcopy(fitted).set_params(memory_limit_mb=limit_mb)  # the fit's windows alone take more

    def frame(at: dict[int, int]) -> pd.DataFrame:  # key number -> its bucket number
        return pd.DataFrame({"timestamp": [MANY_START + FREQ * i for i in at.values()],
                             "requests": [values[j, min(i, 339)] for j, i in at.items()],
                             "key": [names[j] for j in at]})
    return fleet, frame


def held_bytes(fleet) -> int:
    """The bytes every held undo of ``fleet`` holds that its live fit does not: each array buffer once (a view's
    base), found by walking the records' fits and updates (an independent count, not the fleet's own estimate)."""
    import numpy as np

    def arrays(value, out: dict) -> dict:
        if isinstance(value, np.ndarray):
            while isinstance(value.base, np.ndarray):
                value = value.base
            out[id(value)] = value.nbytes
        elif isinstance(value, (list, tuple)):
            for item in value:
                arrays(item, out)
        elif hasattr(value, "__dict__") and type(value).__module__.startswith("workload_predictor"):
            for item in vars(value).values():
                arrays(item, out)
        return out

    live = arrays(fleet._global, {})
    held = {}
    for record in fleet._jumps.values():
        if record.lapsed is None:
            arrays((record.before, record.new, record.since), held)
    return sum(size for key, size in held.items() if key not in live)


def test_held_undos_stay_within_memory_limit_mb_when_every_key_updates():
    """300 keys send a row each update, and a different key's clock jumps 900 buckets ahead (then falls silent) in
    each of 8 updates. Every update replaces every key's arrays, so each held fit before a jump costs about the live
    fit's whole per-key state (4.4 MiB here; 24 held fits of 3,000 keys held 1.05 GB). Before, the 8 undos held
    35 MiB with memory_limit_mb=40. Now the oldest undos are kept while they fit within half the limit (an undo
    builds the fits again within the rest), a younger one that would take the total over it lapses at the update
    that makes it, and its key's correct row is refused naming the limit; the oldest key's undo still works. (More
    updates would let the oldest undos go by their bucket bound too: the lapsed keys' jumps then count to it.)"""
    limit = 40
    fleet, frame = many_keys_fleet(limit)
    step, silent = 300, set()
    for r in range(8):
        at = {j: step + (900 if j == r else 0) for j in range(MANY) if j not in silent}
        fleet.update(frame(at))
        silent.add(r)
        step += 1
        assert fleet.update_errors_ == {}
        assert held_bytes(fleet) <= limit / 2 * 2**20, (r, held_bytes(fleet))
        record = fleet._jumps[f"k{r:03d}"]
        assert record.lapsed is None or record.before is None and record.since is None  # let go at once
    kept = [r for r in range(8) if fleet._jumps[f"k{r:03d}"].lapsed is None]
    assert kept and kept == list(range(len(kept))) and len(kept) < 8, kept  # the first held first
    lapsed = fleet._jumps["k007"].lapsed
    assert lapsed.startswith("holding it would take what the fleet's held undos hold to ") and \
        "MiB, over half of memory_limit_mb=40 (each holds the fit before its jump" in lapsed, lapsed
    with pytest.warns(UndoneJumpWarning, match="key 'k000'"):
        fleet.update(frame({0: 300, 7: 307}))  # each key's next bucket after its last correct one
    assert list(fleet.update_errors_) == ["k007"]
    error = fleet.update_errors_["k007"]
    assert isinstance(error, UpdateOrderError) and "can no longer be undone: holding it would take" in str(error)


def test_held_fits_share_what_the_updates_since_did_not_replace():
    """The same fleet and limit, but each update carries only the jumping key's row: the held fits share every other
    key's arrays with the live fit (an update copies none but the scaling, ``offset_`` and ``scale_``, which the
    jumping key's zero-filled gap, 3.4 of its scales below its level for far more than a window, scales again), so
    all 12 undos fit within the limit, holding far less than one fit of every key each."""
    fleet, frame = many_keys_fleet(40)
    for r in range(12):
        fleet.update(frame({r: 300 + 900}))
        assert fleet.update_errors_ == {}
    assert all(record.lapsed is None for record in fleet._jumps.values()) and len(fleet._jumps) == 12
    model = fleet._global.model
    scaling = 12 * (model.offset_.nbytes + model.scale_.nbytes)  # each held fit's own scaling arrays
    assert held_bytes(fleet) < 2**20 + scaling, held_bytes(fleet)  # a full copy of the per-key state is about 4 MiB


def test_an_undo_through_updates_of_every_key_fits_within_memory_limit_mb():
    """One key's clock jumps, then 7 updates of every other key: one held fit (4.4 MiB). The undo applies the 8
    updates again; it kept every fit it built (35 MiB, plus the estimate of the next update), so the undoing update
    raised MemoryLimitError with memory_limit_mb=40, changing nothing, as every later update with the key's rows
    would. Now it keeps only the fits a record held on needs (none here), and the undo goes through."""
    fleet, frame = many_keys_fleet(40)
    fleet.update(frame({j: 300 + (900 if j == 0 else 0) for j in range(MANY)}))
    for step in range(301, 308):
        fleet.update(frame({j: step for j in range(1, MANY)}))
        assert fleet.update_errors_ == {}
    assert fleet._jumps["k000"].lapsed is None and len(fleet._jumps["k000"].since) == 7
    with pytest.warns(UndoneJumpWarning, match="key 'k000'"):
        fleet.update(frame({0: 300, 1: 308}))
    assert fleet.update_errors_ == {} and fleet._jumps == {}


def test_an_undo_over_memory_limit_mb_lets_the_jump_go_and_updates_the_other_keys():
    """The undo applies the key's jumping update and the one since again (every key's rows each), which estimates
    more than memory_limit_mb=10 allows, while the undoing update (two keys' rows) fits. Before, the update raised
    MemoryLimitError, changing nothing, and so would every later update with the key's rows. Now the jump stands:
    the key's row is refused naming the limit (and so is its next one), and the other key is updated."""
    fleet, frame = many_keys_fleet(40)
    fleet.update(frame({j: 300 + (900 if j == 0 else 0) for j in range(MANY)}))
    fleet.update(frame({j: 301 for j in range(1, MANY)}))
    fleet.set_params(memory_limit_mb=10)
    length = fleet._global.length.copy()
    fleet.update(frame({0: 300, 1: 302}))
    assert list(fleet.update_errors_) == ["k000"]
    error = fleet.update_errors_["k000"]
    assert isinstance(error, UpdateOrderError) and "can no longer be undone: applying its update and the 1 since " \
        "again, without the stray rows, would take more than memory_limit_mb=10 allows (about " in str(error), str(error)
    needed = float(re.search(r"allows \(about ([\d,.]+) MiB at the step it stopped\)", str(error))[1].replace(",", ""))
    assert needed > 10, str(error)  # the figure the limit was passed by, quoted
    assert (fleet._global.length - length).tolist() == [0, 1] + [0] * (MANY - 2)
    assert fleet._jumps["k000"].lapsed is not None and fleet._jumps["k000"].before is None
    fleet.update(frame({0: 301, 1: 303}))
    assert list(fleet.update_errors_) == ["k000"] and "can no longer be undone" in str(fleet.update_errors_["k000"])


def test_a_pickled_fleet_finds_its_held_fits_bytes_again():
    """A held fit's profile (what the byte bound compares) names this process's objects by id: pickle drops it, and
    the copy finds it again at its next update, counting the same bytes as the fleet it was copied from."""
    import pickle

    fleet, frame = many_keys_fleet(40)
    fleet.update(frame({j: 300 + (900 if j == 0 else 0) for j in range(MANY)}))
    assert fleet._jumps["k000"].profile is not None
    clone = pickle.loads(pickle.dumps(fleet))
    assert clone._jumps["k000"].profile is None and clone._jumps["k000"].before is not None
    for each in (fleet, clone):
        each.update(frame({j: 301 for j in range(1, MANY)}))
    assert clone._jumps["k000"].profile[0] == id(clone._jumps["k000"].before)
    assert held_bytes(clone) == held_bytes(fleet) > 2**20
