"""One stray row far ahead of the series (a clock glitch) must not poison a predictor for hours.

Before: a row 900 buckets ahead (within max_gap=1000) zero-filled 899 buckets, and each of the next 900 correctly
stamped rows was refused as "not after the last fitted bucket ... (drop rows already seen, or refit)". Now an update
whose first row jumps more than half the model's context ahead stays undoable until the next update: rows between the
bucket before the jump and the jumped one undo it (the stray's rows dropped, reported), rows after it confirm it.
"""

from __future__ import annotations

import copy
import pickle
import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from workload_predictor import UndoneJumpWarning, UpdateOrderError, WorkloadDataError, WorkloadPredictor

FREQ = pd.Timedelta("10s")
N_FIT = 600


def stream(n: int = N_FIT + 100, seed: int = 0) -> pd.DataFrame:
    """10 s buckets with a 60-bucket season and Poisson noise: a live serving load."""
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    y = 20 + 6 * np.sin(2 * np.pi * t / 60) + rng.poisson(3, n)
    return pd.DataFrame({"timestamp": pd.date_range("2024-03-01", periods=n, freq=FREQ), "requests": y.astype(float)})


def row(stamp: pd.Timestamp, value: float = 21.0) -> pd.DataFrame:
    return pd.DataFrame({"timestamp": [stamp], "requests": [value]})


def fitted(model: str = "dlinear", **params) -> tuple[WorkloadPredictor, pd.DataFrame]:
    frame = stream()
    params = {"window": 48, "horizon": 10, **params}
    return WorkloadPredictor(model=model, random_state=0, **params).fit(frame.iloc[:N_FIT]), frame


def assert_same_forecast(predictor: WorkloadPredictor, twin: WorkloadPredictor) -> None:
    got, want = predictor.predict(), twin.predict()
    assert got.index.equals(want.index)
    np.testing.assert_allclose(got.yhat, want.yhat, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(got.upper, want.upper, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(got.lower, want.lower, rtol=1e-9, atol=1e-9)
    assert got.confidence == pytest.approx(want.confidence, abs=1e-12)


def in_chunks(frame: pd.DataFrame, start: int, counts: list[int]) -> list[pd.DataFrame]:
    """``frame``'s rows from ``start`` on, as consecutive updates of ``counts`` rows each."""
    bounds = np.cumsum([start, *counts])
    return [frame.iloc[a:b] for a, b in zip(bounds[:-1], bounds[1:])]


def feed(predictor: WorkloadPredictor, rows: list[pd.DataFrame]) -> list[warnings.WarningMessage]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for frame in rows:
            predictor.update(frame)
    return [w for w in caught if issubclass(w.category, UndoneJumpWarning)]


@pytest.mark.parametrize("model, params", [
    ("dlinear", {}),
    ("lstm", {"model_params": {"max_epochs": 2, "hidden_size": 8}}),
    ("ensemble", {"model_params": {"members": ("dlinear", "seasonal_naive")}}),
])
def test_a_stray_row_900_buckets_ahead_is_undone_by_the_correct_rows_after_it(model, params):
    """The lead's reproducer: the stray row, then the correct clock's rows. None is refused, the forecast is the one of
    a twin that never saw the stray row, and the stray is reported (a typed warning, ``undone_jumps_``)."""
    predictor, frame = fitted(model, **params)
    twin = copy.deepcopy(predictor)
    last = predictor.last_timestamp_
    stray = last + 900 * FREQ
    predictor.update(row(stray))
    assert predictor.last_timestamp_ == stray  # accepted: within max_gap
    correct = [frame.iloc[i : i + 1] for i in range(N_FIT, N_FIT + 5)]
    caught = feed(predictor, correct)
    feed(twin, correct)
    assert_same_forecast(predictor, twin)
    assert predictor.last_timestamp_ == twin.last_timestamp_ == last + 5 * FREQ
    assert predictor.undone_jumps_ == ((last, stray),)
    assert len(caught) == 1 and "900 buckets ahead" in str(caught[0].message)
    assert stray.isoformat() in str(caught[0].message)
    assert predictor.n_updates_ == twin.n_updates_ == 5
    assert np.array_equal(predictor.series_.values, twin.series_.values)


def test_a_genuine_long_gap_is_kept_as_before():
    """A quiet period followed by rows continuing after it, as far past the jumped bucket as the jump threshold (24
    buckets): the jump is confirmed, the same as one update of all of it, and nothing is reported."""
    predictor, _ = fitted()
    twin = copy.deepcopy(predictor)
    last = predictor.last_timestamp_
    after = [row(last + (900 + i) * FREQ, 20.0 + i) for i in (0, 1, 2, 3, predictor._jump_buckets())]
    caught = feed(predictor, after)
    twin.update(pd.concat(after, ignore_index=True))
    assert caught == [] and predictor.undone_jumps_ == ()
    assert predictor.last_timestamp_ == last + 924 * FREQ
    np.testing.assert_allclose(predictor.predict().yhat, twin.predict().yhat, rtol=1e-9, atol=1e-9)
    with pytest.raises(UpdateOrderError, match="is not after the last fitted bucket"):  # confirmed: not undoable
        predictor.update(row(last + FREQ))


def test_a_late_row_after_a_short_gap_is_refused_as_before():
    """A gap of at most the threshold (half the context, at least the horizon) is no jump: a late row after it is
    refused and the newer row kept."""
    predictor, _ = fitted()
    last, threshold = predictor.last_timestamp_, predictor._jump_buckets()
    assert threshold == 24  # window 48 // 2 (horizon 10)
    predictor.update(row(last + (threshold + 1) * FREQ))  # `threshold` buckets zero-filled
    with pytest.raises(UpdateOrderError, match="is not after the last fitted bucket") as refused:
        predictor.update(row(last + FREQ))
    assert refused.value.first == last + FREQ and refused.value.last == last + (threshold + 1) * FREQ
    assert predictor.last_timestamp_ == last + (threshold + 1) * FREQ and predictor.undone_jumps_ == ()


def test_rows_the_jump_cannot_explain_are_refused_and_keep_it_undoable():
    """After a jump: a replayed row from before it, a row at the jumped bucket, or bad values are refused and change
    nothing; the next correct row still undoes the jump."""
    predictor, frame = fitted()
    twin = copy.deepcopy(predictor)
    last = predictor.last_timestamp_
    predictor.update(row(last + 900 * FREQ))
    jumped = predictor.predict()
    for bad in (row(last), row(last + 900 * FREQ), row(last + FREQ, float("nan"))):
        with pytest.raises(WorkloadDataError):
            predictor.update(bad)
        np.testing.assert_array_equal(predictor.predict().yhat, jumped.yhat)
        assert predictor.last_timestamp_ == last + 900 * FREQ
    feed(predictor, [frame.iloc[N_FIT : N_FIT + 1]])
    twin.update(frame.iloc[N_FIT : N_FIT + 1])
    assert_same_forecast(predictor, twin)


def test_save_and_load_keep_no_undo_copy_and_pickle_does(tmp_path):
    predictor, frame = fitted()
    last = predictor.last_timestamp_
    predictor.update(row(last + 900 * FREQ))
    loaded = WorkloadPredictor.load(predictor.save(tmp_path / "p.wp"))
    with pytest.raises(UpdateOrderError):
        loaded.update(frame.iloc[N_FIT : N_FIT + 1])
    for twin in (pickle.loads(pickle.dumps(predictor)), copy.deepcopy(predictor), copy.copy(predictor)):
        feed(twin, [frame.iloc[N_FIT : N_FIT + 1]])
        assert twin.undone_jumps_ == ((last, last + 900 * FREQ),)
    reloaded = WorkloadPredictor.load(twin.save(tmp_path / "undone.wp"))  # the record is saved
    assert reloaded.undone_jumps_ == twin.undone_jumps_
    np.testing.assert_array_equal(reloaded.predict().yhat, twin.predict().yhat)
    assert predictor.last_timestamp_ == last + 900 * FREQ  # the copies' undo left the original as it was
    predictor.fit(frame.iloc[:N_FIT])  # a fit forgets the jump
    with pytest.raises(UpdateOrderError):
        predictor.update(row(last))


@pytest.fixture(scope="module")
def base() -> tuple[WorkloadPredictor, pd.DataFrame]:
    return fitted()


@settings(max_examples=25, deadline=None)
@given(jump=st.integers(26, 1000), counts=st.lists(st.integers(1, 30), min_size=1, max_size=3), data=st.data())
def test_after_a_stray_jump_the_stream_forecasts_as_if_it_never_came(base, jump, counts, data):
    """Any jump that zero-fills more than the threshold (24 buckets here) and up to max_gap, then the correct stream in chunks that start before
    the jumped bucket: the forecast, history and calibration are those of a twin that never saw the stray row."""
    predictor, frame = base
    predictor, twin = copy.deepcopy(predictor), copy.deepcopy(predictor)
    last = predictor.last_timestamp_
    predictor.update(row(last + jump * FREQ, data.draw(st.floats(0, 1e4))))
    counts[0] = min(counts[0], jump - 1)  # the first chunk starts between; it may reach past the jumped bucket
    start, chunks = N_FIT, []
    for count in counts:
        chunks.append(frame.iloc[start : start + count])
        start += count
    caught = feed(predictor, chunks)
    feed(twin, chunks)
    assert len(caught) == 1 and predictor.undone_jumps_ == ((last, last + jump * FREQ),)
    assert_same_forecast(predictor, twin)
    assert np.array_equal(predictor.series_.values, twin.series_.values)



@pytest.mark.parametrize("model, params", [("dlinear", {"update_mode": "incremental"}),
                                           ("ensemble", {"model_params": {"members": ("dlinear", "naive")}})])
def test_a_fleet_key_with_its_own_predictor_undoes_a_stray_jump_and_names_the_key(model, params):
    """A fleet key updated by its own predictor (per-key models; DLinear in update_mode="incremental" after its first
    update) undoes the jump as a WorkloadPredictor does; the warning names the key, the other key is untouched."""
    from workload_predictor import FleetPredictor

    frames = {key: stream(seed=seed) for seed, key in enumerate(("a", "b"))}
    long = pd.concat([frame.iloc[:N_FIT].assign(key=key) for key, frame in frames.items()], ignore_index=True)
    fleet = FleetPredictor(model=model, horizon=10, window=48, **params).fit(long, key="key")
    first = pd.concat([frame.iloc[N_FIT : N_FIT + 1].assign(key=key) for key, frame in frames.items()])
    fleet.update(first)  # an incremental DLinear key gets its own predictor here
    twin = copy.deepcopy(fleet)
    last = frames["a"]["timestamp"].iloc[N_FIT].tz_localize("UTC")
    fleet.update(row(last + 900 * FREQ).assign(key="a"))
    assert fleet.update_errors_ == {}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for i in range(N_FIT + 1, N_FIT + 4):
            both = pd.concat([frame.iloc[i : i + 1].assign(key=key) for key, frame in frames.items()])
            fleet.update(both)
            twin.update(both)
            assert fleet.update_errors_ == {}
    undone = [w for w in caught if issubclass(w.category, UndoneJumpWarning)]
    assert len(undone) == 1 and str(undone[0].message).startswith("update: key 'a': the update before jumped 900")
    got, want = fleet.predict(), twin.predict()
    pd.testing.assert_frame_equal(got, want, rtol=1e-9, atol=1e-9)


def test_a_refused_row_in_a_zero_filled_run_is_told_about_the_clock_not_to_drop_rows_seen(tmp_path):
    """Where the jump cannot be undone (a second stray row confirmed it, or the predictor was saved and loaded), a
    correct row is refused as before, but the message says no row came for its bucket and that a clock running ahead
    calls for a refit, instead of "drop rows already seen"."""
    predictor, frame = fitted()
    last = predictor.last_timestamp_
    predictor.update(row(last + 900 * FREQ))
    predictor.update(row(last + 924 * FREQ))  # the stray clock ran as far as a jump is wide: the jump is confirmed
    with pytest.raises(UpdateOrderError) as refused:
        predictor.update(frame.iloc[N_FIT : N_FIT + 1])
    message = str(refused.value)
    assert "drop rows already seen" not in message and "clock running ahead" in message
    assert "all hold zeros, and it is older than them" in message and (last + 900 * FREQ).isoformat() in message
    short, _ = fitted()  # a short jump, saved and loaded: the run is within the buckets kept, and counted
    short.update(row(last + 40 * FREQ))
    loaded = WorkloadPredictor.load(short.save(tmp_path / "p.wp"))
    with pytest.raises(UpdateOrderError, match="no row came for it: it lies in a run of 39 zero buckets before "
                                               + (last + 40 * FREQ).isoformat().replace("+", r"\+")):
        loaded.update(frame.iloc[N_FIT + 2 : N_FIT + 3])
    with pytest.raises(UpdateOrderError, match=r"drop rows already seen, or refit") as seen:  # a row it holds
        loaded.update(frame.iloc[N_FIT - 1 : N_FIT])
    assert seen.value.first == last


def test_an_undone_jump_of_a_state_without_carried_runs_counts_them_from_its_series_again():
    """A predictor loaded from a file saved before ``stuck_run_`` and ``idle_span_`` were kept has neither (health
    counts them from ``series_``). A jump far ahead set both; the update that undid it put back the attributes from
    before the jump but left those two behind, so the next update carried the jumped state's runs: after 40 buckets
    of a stuck sensor and one more, health read ``stuck_input`` 1 (ok) where a twin that never saw the jump reads 40 (warning)."""
    frame = stream()
    frame.loc[N_FIT - 40:, "requests"] = 21.0  # a stuck sensor for the fit's last 40 buckets and on
    predictor = WorkloadPredictor(model="dlinear", window=48, horizon=10, random_state=0).fit(frame.iloc[:N_FIT])
    for name in ("stuck_run_", "idle_span_"):
        delattr(predictor, name)  # as loaded from a file saved before they were kept
    twin = copy.deepcopy(predictor)
    last = predictor.last_timestamp_
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UndoneJumpWarning)
        predictor.update(row(last + 900 * FREQ))  # the stray row far ahead
        predictor.update(row(last + FREQ))  # the next row on the old clock undoes it
    twin.update(row(last + FREQ))
    assert predictor.undone_jumps_ and predictor.last_timestamp_ == twin.last_timestamp_
    got, want = (p.health()["metrics"]["stuck_input"] for p in (predictor, twin))
    assert (got["value"], got["level"]) == (want["value"], want["level"]) == (40.0, "warning"), (got, want)
    assert predictor.stuck_run_ == twin.stuck_run_ and predictor.idle_span_ == twin.idle_span_
