"""The door of ``update``: the read straight from a frame's column arrays gives exactly what the general path gives.

``prepare_continuation`` reads the common update frame (a datetime ``timestamp`` column,
plain numpy number targets) from the frame's stored arrays and everything else through
``_rows`` and ``utc_instants``. Both must agree bit for bit on the frames the short read
takes, and it must hand every frame the general path refuses to the general path.
"""

from __future__ import annotations

import decimal

import numpy as np
import pandas as pd
import pytest
from hypothesis import event, example, given, settings
from hypothesis import strategies as st

import workload_predictor.data as data_module
from workload_predictor.data import _datetime_frame_rows, _rows, prepare_continuation, utc_instants
from workload_predictor.errors import WorkloadDataError

LAST = pd.Timestamp("2024-03-10 12:00", tz="UTC")
FREQ = pd.Timedelta("1min")
STAMP_KINDS = ["aware_utc", "aware_zone", "naive_ns", "naive_us", "naive_s", "far_s", "with_nat", "strings", "epochs"]
VALUE_KINDS = ["float", "int", "uint8", "float32", "nan", "negative", "huge", "bool", "nullable", "object",
               "object_none", "object_text", "object_error", "object_decimal", "object_negative"]


@st.composite
def small_frames(draw):
    """A frame of 1-6 rows like those ``update`` gets, in the encodings and with the faults the door knows."""
    n = draw(st.integers(1, 6))
    offsets = draw(st.lists(st.integers(-2, 8), min_size=n, max_size=n))
    stamps = pd.DatetimeIndex([LAST + k * FREQ for k in offsets])
    kind = draw(st.sampled_from(STAMP_KINDS))
    if kind == "aware_zone":
        column = stamps.tz_convert("Asia/Kolkata")
    elif kind.startswith("naive"):
        column = stamps.tz_localize(None).as_unit(kind.split("_")[1])
    elif kind == "far_s":  # beyond nanoseconds' range: the general path words the error
        column = pd.DatetimeIndex(np.full(n, np.datetime64("2300-01-01", "s")))  # a list: pandas 2 makes it ns
    elif kind == "with_nat":
        column = pd.DatetimeIndex(list(stamps[:-1]) + [pd.NaT], tz="UTC")
    elif kind == "strings":
        column = [t.isoformat() for t in stamps]
    else:
        column = (stamps - pd.Timestamp(0, tz="UTC")) // pd.Timedelta("1ms")
    targets = draw(st.sampled_from([["requests"], ["requests", "tokens"]]))
    frame = {"timestamp": column}
    for name in targets:
        values = draw(st.lists(st.floats(0, 1e6), min_size=n, max_size=n))
        value_kind = draw(st.sampled_from(VALUE_KINDS))
        if value_kind == "int":
            frame[name] = np.array(values, dtype=np.int64)
        elif value_kind == "uint8":
            frame[name] = np.array(values, dtype=np.float64).clip(0, 255).astype(np.uint8)
        elif value_kind == "float32":
            frame[name] = np.array(values, dtype=np.float32)
        elif value_kind in ("nan", "negative", "huge"):
            values[draw(st.integers(0, n - 1))] = {"nan": np.nan, "negative": -1.5, "huge": 1e19}[value_kind]
            frame[name] = values
        elif value_kind == "bool":
            frame[name] = [v > 1 for v in values]
        elif value_kind == "nullable":
            frame[name] = pd.array([int(v) for v in values], dtype="Int64")
        elif value_kind == "object":
            frame[name] = pd.Series(values, dtype=object)
        elif value_kind.startswith("object_"):  # numbers as objects, with what a concat of frames brings in
            cells = ([str(v) for v in values] if value_kind == "object_text" else
                     [decimal.Decimal(repr(v)) for v in values] if value_kind == "object_decimal" else list(values))
            cells[draw(st.integers(0, n - 1))] = {"object_none": None, "object_text": " 7 ", "object_error": "ERR",
                                                  "object_decimal": decimal.Decimal("3.5"),
                                                  "object_negative": -2}[value_kind]
            frame[name] = pd.Series(cells, dtype=object)
        else:
            frame[name] = values
    frame = pd.DataFrame(frame)
    layout = draw(st.sampled_from(["plain", "extra_column", "reordered", "duplicate_target", "no_target", "index"]))
    if layout == "extra_column":
        frame.insert(0, "host", "a")
    elif layout == "reordered":
        frame = frame[frame.columns[::-1]]
    elif layout == "duplicate_target":
        frame = pd.concat([frame, frame[["requests"]]], axis=1)
    elif layout == "no_target":
        frame = frame.drop(columns="requests")
    elif layout == "index":  # stamps as a DatetimeIndex, no timestamp column: the general path reads those
        frame = frame.set_index("timestamp") if kind in ("aware_utc", "naive_ns") else frame
    event(f"{kind}, {layout}")
    return frame, targets, ("ms" if kind == "epochs" else None)


def _outcome(call):
    """What ``call()`` returned, or the type and message of the typed error it raised."""
    try:
        return "returned", call()
    except WorkloadDataError as error:
        return "raised", (type(error), str(error))


def _general_path(frame, targets, unit):
    stamps, values, _ = _rows(frame, "timestamp", targets)
    return utc_instants(stamps, unit=unit), values


def _assert_same(outcome, expected):
    assert outcome[0] == expected[0], (outcome, expected)
    if outcome[0] == "raised":
        assert outcome[1] == expected[1]
        return
    for got, want in zip(outcome[1], expected[1]):
        assert got.dtype == want.dtype and got.shape == want.shape
        assert got.tobytes() == want.tobytes()


@settings(max_examples=150, deadline=None)
@given(drawn=small_frames())
@example(drawn=(pd.DataFrame({"timestamp": [LAST + FREQ], "requests": [np.nan]}), ["requests"], None))
@example(drawn=(pd.DataFrame({"timestamp": [(LAST + FREQ).tz_localize(None).as_unit("s")], "requests": [3]}),
                ["requests"], None))
def test_the_column_read_equals_the_general_path_or_defers(drawn):
    frame, targets, unit = drawn
    general = _outcome(lambda: _general_path(frame, targets, unit))
    fast = _outcome(lambda: _datetime_frame_rows(frame, "timestamp", targets))
    if fast == ("returned", None):
        event("deferred to the general path")
        return
    event("read from the column arrays")
    _assert_same(fast, general)  # a frame the general path refuses never gets this far


@settings(max_examples=150, deadline=None)
@given(drawn=small_frames(), max_gap=st.sampled_from([None, 0, 3]))
def test_prepare_continuation_is_the_same_with_and_without_the_column_read(drawn, max_gap):
    frame, targets, unit = drawn
    before = frame.copy(deep=True)

    def run():
        new = prepare_continuation(frame, last=LAST, freq=FREQ, target=targets, unit=unit, max_gap=max_gap)
        return new.values, np.array([new.last.as_unit("ns").to_datetime64()])

    with_read = _outcome(run)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(data_module, "_datetime_frame_rows", lambda *args: None)
        without = _outcome(run)
    _assert_same(with_read, without)
    pd.testing.assert_frame_equal(frame, before)  # the user's frame is never modified


@pytest.mark.parametrize("cells", [[4, 5.5], ["4", " 5.5 "], [decimal.Decimal("4"), 5.5]], ids=["numbers", "text",
                                                                                              "decimal"])
def test_the_column_read_takes_numbers_in_an_object_column(cells):
    frame = pd.DataFrame({"timestamp": [LAST + FREQ, LAST + 2 * FREQ], "requests": pd.Series(cells, dtype=object)})
    before = frame.copy(deep=True)
    read = _datetime_frame_rows(frame, "timestamp", "requests")
    assert read is not None  # an update of a concat of per-endpoint frames reads the arrays, as a numeric one does
    _assert_same(("returned", read), ("returned", _general_path(frame, ["requests"], None)))
    assert read[1].tolist() == [[4.0], [5.5]]
    pd.testing.assert_frame_equal(frame, before)


def test_the_column_read_copies_the_values():
    frame = pd.DataFrame({"timestamp": [LAST + FREQ], "requests": [4.0]})
    instants, values = _datetime_frame_rows(frame, "timestamp", "requests")
    values[0, 0] = 99.0
    assert frame["requests"].iloc[0] == 4.0 and instants[0] == (LAST + FREQ).as_unit("ns").to_datetime64()
