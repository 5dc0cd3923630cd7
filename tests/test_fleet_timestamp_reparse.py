"""A long frame's timestamp column of strings where one key holds a value that is no timestamp: the other keys'
instants are read from the ISO pass that found the value (no second parse of their rows) wherever that gives what
their own parse would, and the results (instants, refused keys, messages) are those of parsing them again."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from workload_predictor import data as wdata
from workload_predictor.data import split_by_key
from workload_predictor.errors import WorkloadDataError

START = pd.Timestamp("2024-03-01", tz="UTC")
STEP = pd.Timedelta("5min")


def frame(keys=("a", "b", "c"), n: int = 40, fmt: str = "%Y-%m-%dT%H:%M:%SZ", dtype=object) -> pd.DataFrame:
    stamps = pd.DatetimeIndex(START + STEP * np.arange(n)).strftime(fmt).tolist()
    rng = np.random.default_rng(0)
    return pd.DataFrame({"key": np.repeat(list(keys), n), "timestamp": pd.Series(stamps * len(keys), dtype=dtype),
                         "requests": rng.poisson(40, n * len(keys))})


def outcome(data: pd.DataFrame):
    """split_by_key's result in plain values (or the error it raises), to compare two runs."""
    try:
        series, errors, _ = split_by_key(data, key="key")
    except WorkloadDataError as exc:
        return ("raised", str(exc))
    return ([(s.key, s.start, s.freq, s.values.tolist()) for s in series],
            {name: (type(exc).__name__, str(exc)) for name, exc in errors.items()})


def reparsed(data: pd.DataFrame, monkeypatch):
    """The outcome where the good keys' rows are always parsed again (the ISO pass is never reused)."""
    with monkeypatch.context() as patch:
        patch.setattr(wdata, "_coerced_rows", lambda *args: None)
        return outcome(data)


@pytest.mark.parametrize("dtype", [object, "str"])
@pytest.mark.parametrize("fmt", ["%Y-%m-%dT%H:%M:%SZ", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S+02:00"],
                         ids=["utc", "naive", "offset"])
def test_one_keys_unparseable_timestamp_costs_one_parse_of_the_column(monkeypatch, dtype, fmt):
    data = frame(fmt=fmt, dtype=dtype)
    data.loc[40 + 7, "timestamp"] = "garbage"
    calls = []
    parse = wdata.utc_instants
    monkeypatch.setattr(wdata, "utc_instants", lambda *args, **kwargs: calls.append(1) or parse(*args, **kwargs))
    series, errors, _ = split_by_key(data, key="key")
    assert len(calls) == 1  # the whole column's; a and c are read from the ISO pass that found b's 'garbage'
    assert [s.key for s in series] == ["a", "c"] and list(errors) == ["b"]
    assert "row 47 of the frame holds 'garbage', which is no timestamp" in str(errors["b"])  # the door's, b's rows
    want, _, _ = split_by_key(data[data["key"] != "b"], key="key")
    for got, clean in zip(series, want):
        assert (got.key, got.start, got.freq) == (clean.key, clean.start, clean.freq)
        np.testing.assert_array_equal(got.values, clean.values)
    pd.testing.assert_frame_equal(data, frame(fmt=fmt, dtype=dtype).assign(
        timestamp=lambda d: d["timestamp"].where(d.index != 47, "garbage")))


@pytest.mark.parametrize("dtype", [object, "str"])
def test_the_other_keys_strings_are_not_searched_for_offsets_again(monkeypatch, dtype):
    """The column's offset count (a regex pass over every string, as long as the ISO parse itself) is kept by the
    error: the other keys' offsets are that count less the left-out key's, not a second pass over their strings (a
    DLinear fleet fit of 1,000 keys with one bad stamp read 1.26-1.36x a clean fit's CPU with it, perf's 1.25x)."""
    data = frame(dtype=dtype)
    data.loc[40 + 7, "timestamp"] = "garbage"
    searched, pattern = [], wdata._OFFSET_SUFFIX_REVERSED

    class Counted:  # the regex pass over the strings joined by line breaks: how many strings it searched
        def findall(self, text):
            searched.append(text.count("\n"))
            return pattern.findall(text)

    monkeypatch.setattr(wdata, "_OFFSET_SUFFIX_REVERSED", Counted())
    series, errors, _ = split_by_key(data, key="key")
    assert [s.key for s in series] == ["a", "c"] and list(errors) == ["b"]
    assert searched[:2] == [120, 40]  # the column's, then b's rows; the error's own parse of b's rows may follow
    assert all(n <= 40 for n in searched[1:]), searched


def test_a_column_whose_other_keys_mix_offsets_is_refused_as_before(monkeypatch):
    data = frame()
    b = (data["key"] == "b").to_numpy()
    data.loc[b, "timestamp"] = data.loc[b, "timestamp"].str.rstrip("Z")  # b's naive, a's and c's in UTC
    data.loc[5, "timestamp"] = "garbage"  # a's
    with pytest.raises(WorkloadDataError, match="row 5 of the frame holds 'garbage', which is no timestamp"):
        split_by_key(data, key="key")
    assert outcome(data) == reparsed(data, monkeypatch)
    data.loc[5, "timestamp"] = "2024-03-01T00:25:00Z"  # no bad value: the column's own offsets error
    with pytest.raises(WorkloadDataError, match="some timestamps carry a UTC offset and some do not"):
        split_by_key(data, key="key")


def test_a_good_keys_stamp_outside_nanoseconds_is_refused_as_before(monkeypatch):
    data = frame()
    data.loc[45, "timestamp"] = "garbage"  # b's
    data.loc[3, "timestamp"] = "2300-01-01T00:00:00Z"  # a's: ISO, but outside nanoseconds' range
    assert outcome(data) == reparsed(data, monkeypatch)


#: How a key writes its stamps (a strftime format, or datetime objects naive or in UTC), and the values that may
#: break one of its rows.
FORMATS = ["%Y-%m-%dT%H:%M:%SZ", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M:%S.%f+01:00", "%Y-%m-%d %H:%M:%S-0530",
           " %Y-%m-%dT%H:%M:%SZ ", "%b %d %Y %H:%M:%S", "%d/%m/%Y %H:%M:%S", "naive datetimes", "UTC datetimes"]
FAULTS = [None, "garbage", None, "n/a", "x" * 100, "2300-01-01T00:00:00Z", "1715342400", "2024-03-01T00:00:00",
          "2024-03-01T00:00:00Z", "2024-02-30T00:00:00Z", "2024-03-01T00:00:00.123456789Z"]


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(FORMATS), st.lists(st.tuples(st.integers(0, 5), st.sampled_from(FAULTS)),
                                                              max_size=2)), min_size=1, max_size=4),
       st.sampled_from([object, "str"]), st.integers(3, 6))
def test_reading_the_other_keys_from_the_iso_pass_equals_parsing_them_again(keys, dtype, n):
    stamps, names = [], []
    for i, (fmt, faults) in enumerate(keys):
        stamps_utc = pd.DatetimeIndex(START + STEP * np.arange(n))
        column = (list(stamps_utc) if fmt == "UTC datetimes" else list(stamps_utc.tz_localize(None))
                  if fmt == "naive datetimes" else stamps_utc.strftime(fmt).tolist())
        for row, value in faults:
            column[row % n] = value
        stamps += column
        names += [f"k{i}"] * n
    data = pd.DataFrame({"key": names, "timestamp": pd.Series(stamps, dtype=dtype),
                         "requests": np.arange(len(names), dtype=np.float64)})
    given_frame = data.copy(deep=True)
    with pytest.MonkeyPatch.context() as monkeypatch:
        assert outcome(data) == reparsed(data, monkeypatch)
    pd.testing.assert_frame_equal(data, given_frame)
