"""A stray clock that sends two or more updates must not poison the series for hours.

Before: an update that jumped far ahead stayed undoable only until the next update. If the stray clock sent a second
update (rows after its stray stamp) before the correct clock's rows came, the jump was confirmed, and every correct row
was an UpdateOrderError until the correct clock passed the stray stamp (2.5 h for 900 buckets of 10 s). Now the undo
is held while the stray clock has run fewer buckets past the bucket it jumped to than the jump threshold itself
(``max(window_ // 2, horizon)``, 24 here). Rows between the bucket before the jump and the jumping update's last bucket
undo the jump and every stray update since, with one warning that counts what was dropped. Each test compares against
a twin that never saw the stray rows (rtol 1e-9), as the single-update undo tests do (tests/test_update_jump.py).
"""

from __future__ import annotations

import copy
import pickle

import numpy as np
import pandas as pd
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from tests.test_update_jump import FREQ, N_FIT, assert_same_forecast, feed, fitted, in_chunks, row, stream
from workload_predictor import FleetPredictor, UndoneJumpWarning, UpdateOrderError, WorkloadDataError, \
    WorkloadPredictor

THRESHOLD = 24  # window 48 // 2, horizon 10


def rows(stamps: list[pd.Timestamp], value: float = 21.0) -> pd.DataFrame:
    return pd.DataFrame({"timestamp": stamps, "requests": [value + i for i in range(len(stamps))]})


@pytest.mark.parametrize("model, params", [
    ("dlinear", {}),
    ("ensemble", {"model_params": {"members": ("dlinear", "seasonal_naive")}}),
])
@pytest.mark.parametrize("more", [1, 2, 3])
def test_a_stray_clock_sending_more_updates_is_undone_by_the_correct_rows(model, params, more):
    """The reproducer: fit, one row 900 buckets ahead, ``more`` updates of one row continuing the stray clock, then the
    correct clock's rows. None is refused, the forecast is a twin's that never saw the stray rows, and one warning
    counts the updates and rows dropped."""
    predictor, frame = fitted(model, **params)
    twin = copy.deepcopy(predictor)
    last = predictor.last_timestamp_
    stray = last + 900 * FREQ
    feed(predictor, [row(stray + i * FREQ, 500.0) for i in range(more + 1)])  # far outside the load: flagged
    assert predictor.last_timestamp_ == stray + more * FREQ
    assert len(predictor.input_anomalies_) > len(twin.input_anomalies_)
    correct = [frame.iloc[i : i + 1] for i in range(N_FIT, N_FIT + 4)]
    caught = feed(predictor, correct)
    feed(twin, correct)
    assert len(caught) == 1
    message = str(caught[0].message)
    assert message.startswith(f"update: the update {more + 1} updates before jumped 900 buckets ahead, from "
                              f"{last.isoformat()} to {stray.isoformat()}")
    assert (f"its rows after {last.isoformat()} and the {more} update{'s' if more > 1 else ''} since ({more + 1} "
            f"rows, up to {(stray + more * FREQ).isoformat()}) were dropped as stray") in message
    assert predictor.undone_jumps_ == ((last, stray + more * FREQ),)
    assert_same_forecast(predictor, twin)
    assert predictor.n_updates_ == twin.n_updates_ == 4
    assert predictor.last_timestamp_ == twin.last_timestamp_ == last + 4 * FREQ
    assert np.array_equal(predictor.series_.values, twin.series_.values)
    np.testing.assert_allclose(predictor.interval_halfwidth_, twin.interval_halfwidth_, rtol=1e-9, atol=1e-9)
    assert predictor.input_anomalies_ == twin.input_anomalies_  # the stray rows' anomalies are dropped with them
    assert predictor.health()["metrics"]["input_anomaly"] == twin.health()["metrics"]["input_anomaly"]


def test_the_undo_is_held_until_the_stray_clock_ran_as_far_as_a_jump_is_wide():
    """The stray clock at 23 buckets past the bucket it jumped to: still undone. At 24 (the threshold): the jump is
    confirmed, the same as one update holding all its rows, and a correct row is refused, told about the clock."""
    predictor, frame = fitted()
    assert predictor._jump_buckets() == THRESHOLD
    last = predictor.last_timestamp_
    jumped = last + 900 * FREQ
    held, twin = copy.deepcopy(predictor), copy.deepcopy(predictor)
    feed(held, [row(jumped), rows([jumped + 5 * FREQ, jumped + 6 * FREQ]), row(jumped + (THRESHOLD - 1) * FREQ)])
    assert len(feed(held, [frame.iloc[N_FIT : N_FIT + 2]])) == 1
    feed(twin, [frame.iloc[N_FIT : N_FIT + 2]])
    assert_same_forecast(held, twin)
    confirmed, whole = copy.deepcopy(predictor), copy.deepcopy(predictor)
    strays = [row(jumped), rows([jumped + 5 * FREQ, jumped + 6 * FREQ]), row(jumped + THRESHOLD * FREQ)]
    assert feed(confirmed, strays) == []
    whole.update(pd.concat(strays, ignore_index=True))
    np.testing.assert_allclose(confirmed.predict().yhat, whole.predict().yhat, rtol=1e-9, atol=1e-9)
    assert confirmed.n_updates_ == 3
    with pytest.raises(UpdateOrderError, match="clock running ahead") as refused:
        confirmed.update(frame.iloc[N_FIT : N_FIT + 1])
    assert "drop rows already seen" not in str(refused.value)
    assert confirmed.last_timestamp_ == jumped + THRESHOLD * FREQ and confirmed.undone_jumps_ == ()


def test_rows_the_stray_clock_may_have_sent_are_refused_and_keep_the_undo():
    """After the jump and a stray update: a replay of either stray row, or a row between them (the stray clock's own
    span), is refused and changes nothing; a new jump far ahead of the stray clock replaces the undo."""
    predictor, frame = fitted()
    twin = copy.deepcopy(predictor)
    last = predictor.last_timestamp_
    jumped = last + 900 * FREQ
    feed(predictor, [row(jumped), row(jumped + 3 * FREQ)])
    forecast = predictor.predict().yhat
    for bad in (row(jumped), row(jumped + FREQ), row(jumped + 3 * FREQ), row(last + FREQ, float("nan"))):
        with pytest.raises(WorkloadDataError):
            predictor.update(bad)
        np.testing.assert_array_equal(predictor.predict().yhat, forecast)
        assert predictor.last_timestamp_ == jumped + 3 * FREQ
    assert len(feed(predictor, [frame.iloc[N_FIT : N_FIT + 1]])) == 1
    feed(twin, [frame.iloc[N_FIT : N_FIT + 1]])
    assert_same_forecast(predictor, twin)
    again, _ = fitted()
    feed(again, [row(jumped), row(jumped + 3 * FREQ), row(jumped + 100 * FREQ)])  # a jump of its own: the newest
    with pytest.raises(UpdateOrderError):  # before the newest jump's bucket before it: the first jump is confirmed
        again.update(frame.iloc[N_FIT : N_FIT + 1])
    assert len(feed(again, [row(jumped + 4 * FREQ)])) == 1  # the newest jump is undone
    assert again.undone_jumps_ == ((jumped + 3 * FREQ, jumped + 100 * FREQ),)


def test_a_batch_ending_in_stray_rows_then_more_stray_updates_keeps_its_correct_rows():
    """The jump between a batch's rows (10 correct rows, then a stray one), then 2 stray updates: the undo applies the
    10 correct rows again and drops the rest."""
    predictor, frame = fitted()
    twin = copy.deepcopy(predictor)
    good = frame.iloc[N_FIT : N_FIT + 10]
    before = good["timestamp"].iloc[-1].tz_localize("UTC")
    stray = before + 900 * FREQ
    feed(predictor, [pd.concat([good, rows([stray.tz_localize(None)])], ignore_index=True), row(stray + FREQ),
                     rows([stray + 2 * FREQ, stray + 4 * FREQ])])
    twin.update(good)
    correct = [frame.iloc[i : i + 1] for i in range(N_FIT + 10, N_FIT + 13)]
    caught = feed(predictor, correct)
    feed(twin, correct)
    assert len(caught) == 1
    assert (f"its rows after {before.isoformat()} and the 2 updates since (4 rows, up to "
            f"{(stray + 4 * FREQ).isoformat()}) were dropped") in str(caught[0].message)
    assert_same_forecast(predictor, twin)
    assert predictor.n_updates_ == twin.n_updates_ == 4
    assert np.array_equal(predictor.series_.values, twin.series_.values)


@pytest.mark.parametrize("strays", [1, 3])
def test_an_undo_whose_rows_fail_leaves_the_jump_and_the_stray_updates_as_they_were(monkeypatch, strays):
    """The undo is applied with the rows or not at all: an update from the state before the jump that raises (here
    the memory check) leaves the jumped state (and the stray updates after it), still undoable."""
    predictor, frame = fitted()
    last = predictor.last_timestamp_
    newest = last + (899 + strays) * FREQ
    feed(predictor, [row(last + (900 + i) * FREQ) for i in range(strays)])
    held = copy.deepcopy(predictor)
    import workload_predictor.predictor as module

    def refuse(*args, **kwargs):
        raise WorkloadDataError("refused by the test")

    with monkeypatch.context() as patch:
        patch.setattr(module, "check_memory", refuse)
        with pytest.raises(WorkloadDataError, match="refused by the test"):
            predictor.update(frame.iloc[N_FIT : N_FIT + 1])
    assert_same_forecast(predictor, held)
    assert vars(predictor).keys() == vars(held).keys() and predictor.n_updates_ == strays
    assert predictor.last_timestamp_ == newest and predictor.undone_jumps_ == ()
    assert len(feed(predictor, [frame.iloc[N_FIT : N_FIT + 1]])) == 1
    assert predictor.undone_jumps_ == ((last, newest),)


def test_save_drops_a_held_undo_while_copy_and_pickle_keep_it_and_fit_forgets_it(tmp_path):
    """The stated rule: ``save`` keeps the fitted attributes only, so a loaded predictor has no undo (the correct row is
    refused, naming the stray bucket); copy, deepcopy and pickle keep the undo with every stray update it covers."""
    predictor, frame = fitted()
    last = predictor.last_timestamp_
    feed(predictor, [row(last + 900 * FREQ), row(last + 901 * FREQ)])
    loaded = WorkloadPredictor.load(predictor.save(tmp_path / "p.wp"))
    with pytest.raises(UpdateOrderError, match="clock running ahead"):
        loaded.update(frame.iloc[N_FIT : N_FIT + 1])
    for other in (copy.copy(predictor), copy.deepcopy(predictor), pickle.loads(pickle.dumps(predictor))):
        assert len(feed(other, [frame.iloc[N_FIT : N_FIT + 1]])) == 1
        assert other.undone_jumps_ == ((last, last + 901 * FREQ),) and other.n_updates_ == 1
    assert predictor.last_timestamp_ == last + 901 * FREQ  # the copies' undo left the original as it was
    predictor.fit(frame.iloc[:N_FIT])
    with pytest.raises(UpdateOrderError):
        predictor.update(row(last))


@settings(max_examples=20, deadline=None)
@given(jump=st.integers(THRESHOLD + 2, 990), first=st.integers(1, 3),
       steps=st.lists(st.lists(st.integers(1, 4), min_size=1, max_size=3), min_size=1, max_size=3),
       counts=st.lists(st.integers(1, 20), min_size=1, max_size=3))
@example(jump=900, first=1, steps=[[1]], counts=[1])  # the reproducer
def test_after_a_stray_clock_ran_short_of_the_threshold_the_stream_forecasts_as_if_it_never_came(jump, first, steps,
                                                                                                  counts):
    """A jump of ``first`` rows, then stray updates (each row 1-4 buckets after the one before) that stay short of the
    threshold past the jumped bucket, then the correct stream in chunks: the same as a twin that never saw them."""
    predictor, frame = fitted()
    twin = copy.deepcopy(predictor)
    last = predictor.last_timestamp_
    stamp = last + jump * FREQ
    strays = [rows([stamp + i * FREQ for i in range(first)])]
    newest = stamp + (first - 1) * FREQ
    for update in steps:
        stamps = []
        for step in update:
            if newest + step * FREQ - stamp >= THRESHOLD * FREQ:
                break
            newest += step * FREQ
            stamps.append(newest)
        if stamps:
            strays.append(rows(stamps))
    feed(predictor, strays)
    chunks = in_chunks(frame, N_FIT, counts)
    caught = feed(predictor, chunks)
    feed(twin, chunks)
    assert len(caught) == 1
    assert predictor.undone_jumps_ == ((last, newest),)
    assert_same_forecast(predictor, twin)
    assert predictor.n_updates_ == twin.n_updates_
    assert np.array_equal(predictor.series_.values, twin.series_.values)


def both(frames: dict[str, pd.DataFrame], i: int) -> pd.DataFrame:
    return pd.concat([frame.iloc[i : i + 1].assign(key=key) for key, frame in frames.items()], ignore_index=True)


@pytest.mark.parametrize("model, params", [("dlinear", {}), ("dlinear", {"update_mode": "incremental"}),
                                           ("ensemble", {"model_params": {"members": ("dlinear", "naive")}})])
def test_a_fleet_key_whose_stray_clock_sends_more_updates_is_undone(model, params):
    """Refit-mode keys (the fleet's kept series), incremental keys (the key's own predictor) and per-key models: key
    'a''s clock jumps 900 buckets ahead and sends 2 more updates beside key 'b''s correct rows; then both keys' correct
    rows. The forecast is a twin's that got b's rows alone, and one warning names 'a'."""
    frames = {key: stream(seed=seed) for seed, key in enumerate(("a", "b"))}
    long = pd.concat([frame.iloc[:N_FIT].assign(key=key) for key, frame in frames.items()], ignore_index=True)
    fleet = FleetPredictor(model=model, horizon=10, window=48, random_state=0, **params).fit(long, key="key")
    twin = copy.deepcopy(fleet)
    stray = frames["a"]["timestamp"].iloc[N_FIT - 1] + 900 * FREQ
    for i in range(3):
        b_row = frames["b"].iloc[N_FIT + i : N_FIT + i + 1].assign(key="b")
        fleet.update(pd.concat([rows([stray + 2 * i * FREQ]).assign(key="a"), b_row], ignore_index=True))
        twin.update(b_row)
        assert fleet.update_errors_ == {}
    chunks = [pd.concat([frames["a"].iloc[N_FIT + i : N_FIT + i + 1].assign(key="a"),
                         frames["b"].iloc[N_FIT + 3 + i : N_FIT + 4 + i].assign(key="b")], ignore_index=True)
              for i in range(3)]
    caught = feed(fleet, chunks)
    feed(twin, chunks)
    assert fleet.update_errors_ == {}
    assert len(caught) == 1
    message = str(caught[0].message)
    assert message.startswith("update: key 'a': the update 3 updates before jumped 900 buckets ahead")
    assert "and the 2 updates since (3 rows, up to" in message
    pd.testing.assert_frame_equal(fleet.predict(), twin.predict(), rtol=1e-9, atol=1e-9)


def test_a_refit_fleet_key_confirms_a_stray_clock_that_ran_as_far_as_a_jump_is_wide():
    frames = {key: stream(seed=seed) for seed, key in enumerate(("a", "b"))}
    long = pd.concat([frame.iloc[:N_FIT].assign(key=key) for key, frame in frames.items()], ignore_index=True)
    fleet = FleetPredictor(horizon=10, window=48, random_state=0).fit(long, key="key")
    held = copy.deepcopy(fleet)
    stray = frames["a"]["timestamp"].iloc[N_FIT - 1] + 900 * FREQ
    for other, reach in ((held, THRESHOLD - 1), (fleet, THRESHOLD)):
        for stamp in (stray, stray + reach * FREQ):
            other.update(rows([stamp]).assign(key="a"))
        assert other.update_errors_ == {}
    with pytest.warns(UndoneJumpWarning, match="key 'a'"):
        held.update(both(frames, N_FIT))
    assert held.update_errors_ == {}
    fleet.update(both(frames, N_FIT))
    error = fleet.update_errors_["a"]
    assert isinstance(error, UpdateOrderError) and "clock running ahead" in str(error)
    assert "b" not in fleet.update_errors_


def test_a_global_lstm_key_holds_the_undo_through_its_stray_clocks_updates():
    """global_lstm follows the same rule (tests/test_global_stray_clock.py has its twins): a second stray update of the
    key keeps the jump undoable, and its correct rows undo both."""
    frames = {key: stream(seed=seed) for seed, key in enumerate(("a", "b"))}
    long = pd.concat([frame.iloc[:N_FIT].assign(key=key) for key, frame in frames.items()], ignore_index=True)
    fleet = FleetPredictor(model="global_lstm", horizon=10, window=48, random_state=0,
                           model_params={"max_epochs": 1, "hidden_size": 8}).fit(long, key="key")
    stray = frames["a"]["timestamp"].iloc[N_FIT - 1] + 900 * FREQ
    fleet.update(rows([stray]).assign(key="a"))
    fleet.update(rows([stray + FREQ]).assign(key="a"))
    with pytest.warns(UndoneJumpWarning, match="key 'a': the update 2 updates before jumped 900 buckets ahead"):
        fleet.update(both(frames, N_FIT))
    assert fleet.update_errors_ == {}


def test_a_refusal_after_a_stray_row_of_no_load_names_the_stray_bucket(tmp_path):
    """``order_refusal`` read "the newest bucket has load". A stray row whose value is 0: the run of zero buckets ends
    at the stray bucket (every update's newest bucket is a row), so the message names it, not the refused bucket or
    the oldest bucket kept."""
    for jump, where in ((900, "all hold zeros, and it is older than them"),
                        (40, "no row came for it: it lies in a run of 39 zero buckets before")):
        predictor, frame = fitted()
        last = predictor.last_timestamp_
        stray = (last + jump * FREQ).isoformat()
        predictor.update(row(last + jump * FREQ, 0.0))
        loaded = WorkloadPredictor.load(predictor.save(tmp_path / f"{jump}.wp"))  # no undo: the jump stands
        with pytest.raises(UpdateOrderError) as refused:
            loaded.update(frame.iloc[N_FIT + 2 : N_FIT + 3])
        message = str(refused.value)
        assert where in message, message
        assert f"If the row at {stray} came from a clock running ahead" in message, message
        if jump == 900:
            kept = len(loaded.series_.values)
            assert f"the {kept - 1} buckets kept before {stray} all hold zeros" in message, message
