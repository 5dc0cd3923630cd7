"""The door: every timestamp encoding gives the same buckets and future index; bad input gets typed errors."""

from __future__ import annotations

import datetime as dt
import re

import numpy as np
import pandas as pd
import pytest
from hypothesis import assume, event, example, given
from hypothesis import strategies as st

from conftest import generic_timedelta
from workload_predictor import WorkloadDataError, bucketize
from workload_predictor.data import future_index, prepare_series, to_utc_index, utc_instants

ENCODINGS = [
    "datetime64_ns", "datetime64_us", "datetime64_s", "aware_utc", "aware_other_zone", "timestamp_objects",
    "datetime_objects", "iso_strings_mixed_fraction", "epoch_int_ns", "epoch_int_s_inferred", "epoch_float_s",
    "epoch_ms_inferred", "offsets_ms_with_origin", "timedelta_objects_with_origin",
]


def encode(stamps: pd.DatetimeIndex, encoding: str) -> tuple[object, dict]:
    """``stamps`` (UTC) in the given encoding, plus the keyword arguments it needs."""
    naive = stamps.tz_convert("UTC").tz_localize(None)
    offsets = naive - naive[0]
    if encoding == "datetime64_ns":
        return naive.as_unit("ns"), {}
    if encoding == "datetime64_us":
        return naive.as_unit("us"), {}
    if encoding == "datetime64_s":
        return naive.as_unit("s"), {}
    if encoding == "aware_utc":
        return stamps, {}
    if encoding == "aware_other_zone":
        return stamps.tz_convert("America/Los_Angeles"), {}
    if encoding == "timestamp_objects":
        return pd.Series(list(stamps), dtype=object), {}
    if encoding == "datetime_objects":
        return pd.Series([s.to_pydatetime() for s in stamps], dtype=object), {}
    if encoding == "iso_strings_mixed_fraction":
        # As the 2024 Azure trace: '...:00.001163+00:00' beside '...:00+00:00'.
        texts = [s.isoformat() if i % 2 else s.strftime("%Y-%m-%dT%H:%M:%S.%f%z") for i, s in enumerate(stamps)]
        return pd.Series(texts), {}
    if encoding == "epoch_int_ns":
        return pd.Series((offsets // pd.Timedelta(1, "ns")) + (naive[0] - pd.Timestamp(0)) // pd.Timedelta(1, "ns"),
                         dtype="int64"), {"unit": "ns"}
    if encoding == "epoch_int_s_inferred":
        return pd.Series((naive - pd.Timestamp(0)) // pd.Timedelta(1, "s"), dtype="int64"), {}
    if encoding == "epoch_float_s":
        return pd.Series((naive - pd.Timestamp(0)) / pd.Timedelta(1, "s"), dtype="float64"), {"unit": "s"}
    if encoding == "epoch_ms_inferred":
        return pd.Series((naive - pd.Timestamp(0)) // pd.Timedelta(1, "ms"), dtype="int64"), {}
    if encoding == "offsets_ms_with_origin":
        return pd.Series(offsets // pd.Timedelta(1, "ms"), dtype="int64"), {"unit": "ms", "origin": stamps[0]}
    if encoding == "timedelta_objects_with_origin":
        return pd.Series([o.to_pytimedelta() for o in offsets], dtype=object), {"origin": stamps[0].isoformat()}
    raise AssertionError(encoding)


regular_series = st.builds(
    lambda start_s, step_s, n: (pd.Timestamp("2023-11-16T18:00:00Z") + pd.Timedelta(seconds=start_s), step_s, n),
    start_s=st.integers(0, 10**8),
    step_s=st.sampled_from([1, 10, 60, 300]),
    n=st.integers(2, 60),
)


@given(regular_series, st.sampled_from(ENCODINGS), st.data())
def test_every_encoding_gives_identical_buckets_and_future_index(series, encoding, data):
    start, step_s, n = series
    stamps = pd.date_range(start, periods=n, freq=pd.Timedelta(seconds=step_s)).as_unit("ns")
    values = np.arange(n, dtype=float)
    encoded, kwargs = encode(stamps, encoding)
    column = (encoded if isinstance(encoded, pd.Series) else pd.Series(encoded)).reset_index(drop=True)
    frame = pd.DataFrame({"timestamp": column, "requests": values})
    shuffled = frame.sample(frac=1.0, random_state=data.draw(st.integers(0, 1000)))
    prepared = prepare_series(shuffled, timestamp="timestamp", target="requests", **kwargs)
    assert prepared.index.equals(stamps.tz_convert("UTC"))
    assert str(prepared.index.dtype) == "datetime64[ns, UTC]"
    np.testing.assert_array_equal(prepared.values[:, 0], values)
    if n >= 2:
        assert prepared.freq == pd.Timedelta(seconds=step_s)
        expected_future = pd.date_range(stamps[-1] + pd.Timedelta(seconds=step_s), periods=3, freq=prepared.freq)
        assert future_index(prepared.index[-1], prepared.freq, 3).equals(expected_future)


def test_int64_epoch_that_crashed_the_old_predictor():
    # The old code did (t[-1] - t[0]).value on numpy.int64 epochs and crashed.
    epochs = np.int64(1_700_000_000) + np.arange(5, dtype=np.int64) * 10
    index = to_utc_index(pd.Series(epochs), unit="s")
    assert (index[-1] - index[0]) == pd.Timedelta(seconds=40)
    assert index[0] == pd.Timestamp("2023-11-14T22:13:20Z")


def test_request_log_in_any_encoding_gives_the_same_buckets():
    rng = np.random.default_rng(1)
    stamps = pd.Timestamp("2024-05-10T00:00:00Z") + pd.to_timedelta(np.sort(rng.uniform(0, 120, 300)), unit="s")
    stamps = pd.DatetimeIndex(stamps).round("us").as_unit("ns")  # datetime.datetime holds microseconds
    tokens = rng.integers(1, 1000, 300)
    reference = bucketize(pd.DataFrame({"TIMESTAMP": stamps, "ContextTokens": tokens, "GeneratedTokens": tokens}),
                          freq="10s")
    for encoding in ENCODINGS:
        encoded, kwargs = encode(stamps, encoding)
        column = (encoded if isinstance(encoded, pd.Series) else pd.Series(encoded)).reset_index(drop=True)
        log = pd.DataFrame({"TIMESTAMP": column, "ContextTokens": tokens, "GeneratedTokens": tokens})
        got = bucketize(log, freq="10s", **kwargs)
        pd.testing.assert_frame_equal(got, reference, obj=encoding)


def test_bucketize_fills_empty_buckets_and_sums_tokens():
    log = pd.DataFrame({
        "TIMESTAMP": ["2023-11-16 18:17:03.9799600", "2023-11-16 18:17:04.0319600", "2023-11-16 18:17:07"],
        "ContextTokens": [4808, 3180, 10], "GeneratedTokens": [10, 8, 1],
    })
    before = log.copy()
    out = bucketize(log, freq="1s")
    pd.testing.assert_frame_equal(log, before)  # the caller's log is untouched
    assert list(out.columns) == ["timestamp", "requests", "input_tokens", "output_tokens"]
    assert out["requests"].tolist() == [1, 1, 0, 0, 1]
    assert out["input_tokens"].tolist() == [4808, 3180, 0, 0, 10]
    assert out["timestamp"].iloc[0] == pd.Timestamp("2023-11-16T18:17:03Z")


def test_bucketize_on_the_bundled_trace_matches_an_independent_aggregate():
    from conftest import DATA
    from workload_predictor.datasets import azure_llm_trace

    ours = bucketize(azure_llm_trace("code"), freq="60s")
    # Counted per minute from the raw file by a separate script (tests/data/README.md).
    theirs = pd.read_csv(DATA / "azure2023_code.per_minute.csv")
    assert ours["requests"].tolist() == theirs["requests"].tolist()
    assert ours["input_tokens"].tolist() == theirs["input_tokens"].tolist()
    assert ours["output_tokens"].tolist() == theirs["output_tokens"].tolist()


@pytest.mark.parametrize(
    "stamps, kwargs, message",
    [
        (pd.Series([1, 2, 3]), {}, "pass unit="),
        (pd.Series(["2024-01-01T00:00:00+00:00", "2024-01-01T00:00:01"]), {}, "some timestamps carry a UTC offset"),
        (pd.Series(["yesterday", "today"]), {}, "cannot parse"),
        (pd.Series([True, False]), {}, "booleans"),
        (pd.Series([1.0, np.nan]), {"unit": "s"}, "row 1"),
        (pd.Series([pd.Timedelta(1, "s"), pd.Timedelta(2, "s")], dtype=object), {}, "origin="),
        (pd.Series([1, 2]), {"origin": "2024-01-01"}, "without unit"),
        (pd.Series([], dtype="float64"), {}, "empty"),
    ],
)
def test_bad_timestamps_raise_typed_errors(stamps, kwargs, message):
    with pytest.raises(WorkloadDataError, match=message):
        to_utc_index(stamps, **kwargs)


def test_mixed_aware_and_naive_datetime_objects_raise():
    values = pd.Series([dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc), dt.datetime(2024, 1, 1, 0, 0, 1)],
                       dtype=object)
    with pytest.raises(WorkloadDataError, match="mixed"):
        to_utc_index(values)


def _frame(n=50, **columns):
    base = {"timestamp": pd.date_range("2024-01-01", periods=n, freq="1s"), "requests": np.arange(n, dtype=float)}
    base.update(columns)
    return pd.DataFrame(base)


@pytest.mark.parametrize(
    "frame, kwargs, message",
    [
        (_frame().iloc[:0], {}, "empty"),
        (_frame(requests=[np.nan] + [1.0] * 49), {}, "non-finite"),
        (_frame(requests=[np.inf] + [1.0] * 49), {}, "non-finite"),
        (_frame(requests=[-1.0] + [1.0] * 49), {}, "negative"),
        (_frame(), {"target": "tokens"}, "no target column 'tokens'"),
        (_frame(requests=["a"] * 50), {}, "not numbers"),
        (_frame(), {"timestamp": "time"}, "no timestamp column"),
        (pd.concat([_frame(5), _frame(5)]), {}, "duplicate timestamp 2024-01-01T00:00:00"),
        (_frame(10).drop(index=4), {}, "irregular spacing.*bucketize"),
        (_frame(), {"freq": "-1s"}, "positive duration"),
    ],
)
def test_bad_series_raise_typed_errors(frame, kwargs, message):
    with pytest.raises(WorkloadDataError, match=message):
        prepare_series(frame, **{"timestamp": "timestamp", "target": "requests", **kwargs})


def test_prepare_never_modifies_the_callers_frame():
    frame = _frame(30).iloc[::-1]
    before = frame.copy()
    prepared = prepare_series(frame, timestamp="timestamp", target="requests")
    pd.testing.assert_frame_equal(frame, before)
    assert prepared.index.is_monotonic_increasing
    prepared.values[0, 0] = -5  # our copy, not theirs
    pd.testing.assert_frame_equal(frame, before)


def test_series_with_datetime_index_is_accepted():
    frame = _frame(20)
    series = frame.set_index("timestamp")["requests"]
    prepared = prepare_series(series)
    assert prepared.targets == ("requests",)
    assert prepared.freq == pd.Timedelta(seconds=1)


@pytest.mark.parametrize("container", [pd.Series, pd.Index])
@pytest.mark.parametrize("unit", ["s", "ms", "us", "ns"])
@pytest.mark.parametrize("zone", [None, "UTC", "America/Los_Angeles"])
def test_datetime_columns_take_a_short_way_to_the_same_utc_index(container, unit, zone):
    naive = pd.date_range("2023-11-16 18:00", periods=5, freq="10s", unit=unit)
    stamps = naive if zone is None else naive.tz_localize(zone)
    values = container(stamps, name="when")
    result = to_utc_index(values)
    # An independent route: ISO text, naive read as UTC.
    expected = pd.to_datetime([s.isoformat() for s in stamps], utc=True).as_unit("ns")
    assert result.equals(expected) and str(result.dtype) == "datetime64[ns, UTC]"
    assert result.name is None and values.name == "when"  # the caller's object keeps its name


@given(
    seconds=st.lists(st.integers(-9 * 10**9, 9 * 10**9) | st.integers(-(2**40), 2**40), min_size=1, max_size=20),
    unit=st.sampled_from(["s", "ms", "us", "ns"]),
    zone=st.sampled_from([None, "UTC", "Asia/Kolkata", "America/Los_Angeles"]),
    container=st.sampled_from([pd.Series, pd.Index]),
    missing=st.integers(-20, 19),
)
def test_utc_instants_are_the_utc_index_in_numpy(seconds, unit, zone, container, missing):
    """The short numpy route of update's door agrees with to_utc_index: values, and errors (a missing stamp,
    a stamp outside nanoseconds' range: 2**40 s is about 34,800 years)."""
    try:
        stamps = pd.DatetimeIndex(np.array(seconds, dtype="datetime64[s]")).as_unit(unit)
    except pd.errors.OutOfBoundsDatetime:  # cannot even be built in this unit
        assume(False)
    stamps = stamps if zone is None else stamps.tz_localize("UTC").tz_convert(zone)
    values = container(stamps)
    if 0 <= missing < len(seconds):
        values = container(stamps.insert(missing, pd.NaT))
    try:
        expected = np.asarray(to_utc_index(values).array, dtype="datetime64[ns]")
    except WorkloadDataError as error:
        event("refused")
        with pytest.raises(WorkloadDataError, match=re.escape(str(error))):
            utc_instants(values)
        return
    event("accepted")
    result = utc_instants(values)
    assert result.dtype == np.dtype("datetime64[ns]")
    np.testing.assert_array_equal(result, expected)


def test_missing_datetime_is_a_typed_error_naming_its_row():
    stamps = pd.Series([pd.Timestamp("2024-01-01", tz="UTC"), pd.NaT], index=[10, 20])
    with pytest.raises(WorkloadDataError, match="row 1 has a missing timestamp"):
        to_utc_index(stamps)


# -- the door's one-pass checks of an ISO string column agree with the row-by-row checks ---------------------
_STAMP_SUFFIXES = ["", "Z", "+01:00", "-0530", "+0000", " ", "Z ", "+01:00\t", "\n", "Z\n", "5", ".250", ".250Z"]


@given(st.lists(st.tuples(st.integers(0, 59), st.sampled_from(_STAMP_SUFFIXES), st.booleans()), min_size=1,
                max_size=12), st.sampled_from([None, *_STAMP_SUFFIXES]))
@example([(0, "", False), (1, "", False)], "Z ")  # all aware behind a blank: one pass must count them aware
@example([(0, "", False), (1, "", False)], "+01:00\t")
@example([(0, "Z", False), (1, "", False)], None)  # aware and naive mixed
@example([(0, "Z", False), (1, "Z ", False), (2, "+01:00\t", False)], None)  # aware, some behind blanks
@example([(0, "Z\n", False), (1, "\n", False)], None)  # aware and naive mixed, behind line breaks
def test_string_columns_pass_the_one_pass_checks_exactly_when_they_pass_the_row_by_row_ones(rows, every):
    from workload_predictor.data import _OFFSET_SUFFIX, MAX_TIMESTAMP_CHARS, _offsets_agree

    # every: one suffix for all rows (the columns real logs have), or None for each row's own
    strings = [f"2024-01-01T00:00:{second:02d}{suffix if every is None else every}"
               + ("x" * MAX_TIMESTAMP_CHARS if long and every is None else "")
               for second, suffix, long in rows]
    values = np.array(strings, dtype=object)
    aware = [bool(_OFFSET_SUFFIX.search(s.strip())) for s in strings]  # the row-by-row reading
    assert _offsets_agree(values) == (all(aware) or not any(aware)), strings  # the door's one pass, exact
    refused = any(len(s) > MAX_TIMESTAMP_CHARS for s in strings) or (any(aware) and not all(aware))
    event(f"refused={refused}")
    if refused:  # the one-pass checks may send a column on to the row checks, never wave one through
        with pytest.raises(WorkloadDataError):
            to_utc_index(pd.Series(values))


@given(st.lists(st.integers(1, 4), min_size=1, max_size=40), st.sampled_from(["1s", "10s", "1min"]))
@example([1], "1s")
@example([2, 2, 2], "10s")
def test_infer_freq_is_the_median_step(multiples, unit):
    from workload_predictor.data import infer_freq

    # Python ints times a Timedelta: pandas 2 and 3 turn a numpy array of Timedeltas into different dtypes.
    index = pd.DatetimeIndex([pd.Timestamp("2024-01-01", tz="UTC") + int(k) * pd.Timedelta(unit)
                              for k in np.concatenate([[0], np.cumsum(multiples)])])
    assert infer_freq(index) == pd.Timedelta(np.median(np.diff(index.to_numpy())))


# -- messages: the value at fault and its row, plain values, advice that fits what was passed ---------------------
@pytest.mark.parametrize("values, row, bad", [
    (["2024-01-01T00:00:00Z", "hello", "2024-01-01T00:00:02Z"], 1, "hello"),  # was called offset mixing
    (["2024-01-01T00:00:00", "2024-01-01T00:00:01", "2024-13-45"], 2, "2024-13-45"),
    (["yesterday", "today"], 0, "yesterday"),
])
def test_unparseable_timestamps_name_the_first_bad_value_and_its_row(values, row, bad):
    with pytest.raises(WorkloadDataError, match="cannot parse timestamps") as error:
        to_utc_index(pd.Series(values, dtype=object), name="t")
    assert f"row {row} holds {bad!r}, which is no timestamp" in str(error.value)
    assert "offset" not in str(error.value)


def test_out_of_range_blames_the_unit_only_when_one_was_given():
    with pytest.raises(WorkloadDataError, match="outside 1677-09-21") as given:
        to_utc_index(pd.Series([1_700_000_000_000, 1_700_000_001_000]), unit="s")
    assert "check unit='s'" in str(given.value)
    with pytest.raises(WorkloadDataError, match="outside 1677-09-21") as inferred:
        to_utc_index(pd.Series(["2024-01-01", "3000-01-01"]))
    assert "check unit" not in str(inferred.value) and "pass unit=..." in str(inferred.value)
    log = pd.DataFrame({"TIMESTAMP": [1_700_000_000, 1_800_000_000]})
    with pytest.raises(WorkloadDataError, match="max_buckets") as span:
        bucketize(log, freq="1s")
    assert "wrong unit" not in str(span.value) and "pass unit=..." in str(span.value)
    with pytest.raises(WorkloadDataError, match="max_buckets") as span:
        bucketize(log, freq="1s", unit="s")
    assert "or a wrong unit='s'" in str(span.value)


@pytest.mark.parametrize("values, row", [([10**30, 10**30], 0), ([1_700_000_000, -(10**20), None], 1),
                                         ([1_700_000_000, 2**64], 1)])
def test_an_integer_past_64_bits_among_epochs_is_named_on_every_pandas(values, row):
    """pandas 2.2's to_numeric makes these floats (pandas 3 leaves them objects): it was "numeric timestamps from
    1.7e+09 to 1e+30 are no unambiguous epoch", which does not say which value is wrong."""
    with pytest.raises(WorkloadDataError, match=f"row {row} holds .*, an integer past 64 bits"):
        to_utc_index(pd.Series(values, dtype=object))
    from workload_predictor.readers import epochs_as_numbers

    # The same integers as text (a CSV column that pandas 2.2 reads as text, a JSON Lines file's strings)
    text = pd.DataFrame({"t": pd.Series([None if v is None else str(v) for v in values], dtype=object)})
    with pytest.raises(WorkloadDataError, match=f"row {row} holds .*, an integer past 64 bits"):
        to_utc_index(epochs_as_numbers(text, "t")["t"])


@pytest.mark.parametrize("values", [
    ["2024-01-01T00:00:00z", "3000-01-01T00:00:00z"], ["1500-01-01T00:00:00+01:00", "2024-01-01T00:00:00Z"],
    ["May 10 3000", "May 11 3000"], ["1500-01-01", "2024-01-01"],
])
def test_date_strings_outside_nanoseconds_are_out_of_range_on_every_pandas(values):
    """pandas 2 (nanoseconds only) does not parse these at all: they were "cannot parse timestamps (Out of bounds
    nanosecond timestamp ...)", where pandas 3 parses them and the range is what refuses them."""
    with pytest.raises(WorkloadDataError, match="outside 1677-09-21") as error:
        to_utc_index(pd.Series(values, dtype=object))
    assert "Out of bounds" not in str(error.value)
    with pytest.raises(WorkloadDataError, match=r"row 2 holds 'hello', which is no timestamp"):
        to_utc_index(pd.Series([*values, "hello"], dtype=object))


@pytest.mark.parametrize("delta, text", [
    ("0s", "0s"), ("10s", "10s"), ("90s", "1min 30s"), ("1500ms", "1s 500ms"), ("1157 days 09:46:40", "1157d 9h 46min 40s"),
    ("-5s", "-5s"), ("1ns", "1ns"),
])
def test_duration_text_is_plain(delta, text):
    from workload_predictor.data import duration_text

    assert duration_text(pd.Timedelta(delta)) == text


@pytest.mark.parametrize("value, shown", [(-3.0, "(-3.0 at row 4)"), (np.inf, "holds inf at row 4")])
def test_bad_values_are_quoted_as_plain_numbers(value, shown):
    frame = _frame(20)
    frame.loc[4, "requests"] = value
    with pytest.raises(WorkloadDataError) as error:
        prepare_series(frame)
    assert shown in str(error.value) and "np.float64" not in str(error.value)


def test_irregular_spacing_prints_plain_durations():
    with pytest.raises(WorkloadDataError, match="is 2s, not the bucket width 1s") as error:
        prepare_series(_frame(10).drop(index=4), freq="1s")
    assert "days" not in str(error.value)


def _day_first(days, seconds=range(0, 60, 5)) -> list[str]:
    """DD/MM/YYYY stamps of February 2024: each day of ``days`` at each of ``seconds``."""
    return [f"{day:02d}/02/2024 00:00:{second:02d}" for day in days for second in seconds]


def test_day_first_dates_are_not_guessed_row_by_row():
    # Days 10-14: 10-12 read month first would be October to December, 13 and 14 only read day first.
    index = to_utc_index(pd.Series(_day_first(range(10, 15))))
    assert index.min() == pd.Timestamp("2024-02-10", tz="UTC")
    assert index.max() == pd.Timestamp("2024-02-14 00:00:55", tz="UTC")
    assert index.is_monotonic_increasing


def test_a_column_that_reads_day_first_and_month_first_is_an_error_naming_the_ambiguity():
    with pytest.raises(WorkloadDataError, match="ambiguous") as error:
        to_utc_index(pd.Series(_day_first(range(10, 13))))
    assert "ISO-8601" in str(error.value) and "%d/%m/%Y" in str(error.value) and "%m/%d/%Y" in str(error.value)


def test_a_non_iso_column_is_read_in_one_format():
    assert to_utc_index(pd.Series(["May 10 2024", "May 11 2024"])).tolist() == [
        pd.Timestamp("2024-05-10", tz="UTC"), pd.Timestamp("2024-05-11", tz="UTC")]
    # Day and month equal on every row: both orders read the same instants.
    assert to_utc_index(pd.Series(["01/01/2024 10:00", "01/01/2024 11:00"]))[1] == pd.Timestamp("2024-01-01 11:00",
                                                                                                  tz="UTC")
    # Two formats in one column: read where every row reads the same month first and day first, else an error
    # naming the row that does not.
    assert to_utc_index(pd.Series(["13/02/2024 00:00", "2024-02-14T00:00:00"]))[0] == pd.Timestamp("2024-02-13",
                                                                                                   tz="UTC")
    with pytest.raises(WorkloadDataError, match="row 0 holds '10/02/2024 00:00', which reads as 2024-10-02"):
        to_utc_index(pd.Series(["10/02/2024 00:00", "2024-02-11T00:00:00"]))


@pytest.mark.parametrize("stamps, first", [
    ([" 13/02/2024 00:00:05", " 14/02/2024 00:00:06"], "2024-02-13 00:00:05"),  # blanks around them
    (["5/13/2024 1:00:05 PM", "5/13/2024 1:00:06 PM"], "2024-05-13 13:00:05"),  # a 12-hour clock
    (["13/02/2024 00:00:05", "13/02/2024 00:00:06.5"], "2024-02-13 00:00:05"),  # whole and fractional seconds
    (["13/02/2024 00:00:05 -05", "13/02/2024 00:00:06 -05"], "2024-02-13 05:00:05"),  # an hour-only offset
])
def test_non_iso_columns_no_single_format_reads_are_read_where_day_and_month_cannot_swap(stamps, first):
    """0.12.0 read these (string by string); reading one format for the whole column refused them (the format was
    guessed on the stripped first string but tried on the unstripped column; pandas infers no format for a 12-hour
    clock; one format cannot read whole and fractional seconds)."""
    assert to_utc_index(pd.Series(stamps, dtype=object))[0] == pd.Timestamp(first, tz="UTC")


def test_a_day_first_column_with_fractional_seconds_is_an_error_not_a_guess():
    stamps = [stamp + (".5" if i % 2 else "") for i, stamp in enumerate(_day_first(range(10, 15)))]
    with pytest.raises(WorkloadDataError, match=r"ambiguous: row 0 holds '10/02/2024 00:00:00', which reads as "
                                                r"2024-10-02T00:00:00\+00:00 month first"):
        to_utc_index(pd.Series(stamps))


@pytest.mark.parametrize("stamps", [
    ["2024-01-01T10:00:00+05", "2024-01-01T10:00:05"],
    ["2024-01-01T10:00:05", "2024-01-01T10:00:00.5-05"],
    ["2024-01-01T10:00+05", "2024-01-01T10:01"],
])
def test_an_hour_only_offset_mixed_with_naive_stamps_is_refused(stamps):
    with pytest.raises(WorkloadDataError, match="some timestamps carry a UTC offset and some do not"):
        to_utc_index(pd.Series(stamps))


def test_hour_only_offsets_on_every_row_and_dates_alone_are_read():
    assert to_utc_index(pd.Series(["2024-01-01T10:00:00+05", "2024-01-01T10:00:05+05"]))[0] == pd.Timestamp(
        "2024-01-01 05:00", tz="UTC")
    assert to_utc_index(pd.Series(["2024-01-05", "2024-01-06"]))[0] == pd.Timestamp("2024-01-05", tz="UTC")


_CENTURIES = ["1700-01-01T00:00:00Z", "2000-01-01T00:00:00Z", "2200-01-01T00:00:00Z"]


@pytest.mark.parametrize("call", [
    lambda: bucketize(pd.DataFrame({"TIMESTAMP": _CENTURIES}), freq="1000D"),
    lambda: bucketize(pd.DataFrame({"TIMESTAMP": _CENTURIES, "k": ["a", "a", "b"]}), freq="1000D", by="k"),
    lambda: prepare_series(pd.DataFrame({"timestamp": _CENTURIES[:2], "requests": [1, 2]})),
])
def test_timestamps_further_apart_than_a_timedelta_holds_are_a_typed_error(call):
    with pytest.raises(WorkloadDataError, match="span 500 years|span 300 years") as error:
        call()
    assert "292 years" in str(error.value) and "stray timestamps" in str(error.value)


@pytest.mark.parametrize("freq", ["10x", "1M", "1W"])
def test_a_freq_that_is_no_duration_says_so_without_pandas_inner_errors(freq):
    """Before: '10x' quoted pandas' nested errors (Invalid frequency ... Failed to parse ... KeyError('x'))."""
    from workload_predictor.data import parse_freq

    with pytest.raises(WorkloadDataError) as raised:
        parse_freq(freq)
    message = str(raised.value)
    assert message.startswith(f"freq='{freq}' is not a duration; pass e.g. '1s'")
    assert "Failed to parse" not in message and "Invalid frequency" not in message and "calendar" in message


@pytest.mark.parametrize("freq", [60, 1.5, np.int64(10), "10", " 2.5 ", generic_timedelta])
def test_a_freq_without_a_unit_is_refused_by_name(freq):
    """pandas reads a number as nanoseconds: ``bucketize(log, freq=60)`` said "58362032284 buckets of 60ns, over
    max_buckets", ``fit(frame, freq=1.5)`` "not the bucket width 1ns"; neither said the number had no unit."""
    from workload_predictor import WorkloadPredictor
    from workload_predictor.data import bucketize

    if callable(freq):
        freq = freq(5)

    frame = pd.DataFrame({"timestamp": pd.date_range("2024-01-01", periods=300, freq="1min"),
                          "requests": np.arange(300) % 7})
    for call in (lambda: WorkloadPredictor(horizon=5).fit(frame, freq=freq),
                 lambda: bucketize(frame[["timestamp"]], freq=freq, timestamp="timestamp")):
        with pytest.raises(WorkloadDataError, match=r"freq=.* has no unit \(pandas would read it as nanoseconds\); "
                                                    r"pass a duration with its unit, e\.g\. freq='"):
            call()


def test_fitting_a_request_log_says_to_bucketize_it_first():
    """Before: a raw request log (one row per request) was told to "pass target=<column>", which no column fixes."""
    from workload_predictor import WorkloadPredictor
    from workload_predictor.datasets import azure_llm_trace

    log = azure_llm_trace("conv").head(500)
    with pytest.raises(WorkloadDataError, match=r"request log .*bucketize\(log, freq="):
        WorkloadPredictor().fit(log, timestamp="TIMESTAMP")
    with pytest.raises(WorkloadDataError) as raised:  # a bucketed frame without the column: no such advice
        WorkloadPredictor().fit(pd.DataFrame({"timestamp": pd.date_range("2024-01-01", periods=50, freq="1min"),
                                              "count": np.arange(50.0)}))
    assert "bucketize" not in str(raised.value)


@pytest.mark.parametrize("text", ["1715342400", " 1715342400.5 "])
def test_epochs_written_as_text_are_told_to_become_numbers_with_a_unit(text):
    """Before: '1715342400' (an epoch read from JSON as a string) got the generic "pass numeric epochs with unit=...",
    which does not say that the strings themselves are the problem."""
    from workload_predictor import WorkloadPredictor

    frame = pd.DataFrame({"timestamp": [text] * 30, "requests": np.arange(30.0)})
    with pytest.raises(WorkloadDataError, match=r"epochs written as text; convert the column with "
                                                r"pd.to_numeric\(df\['timestamp'\]\)"):
        WorkloadPredictor(model="naive", horizon=3).fit(frame)


def _multiindex_columns_frame() -> pd.DataFrame:
    stamps = pd.date_range("2024-01-01", periods=120, freq="10s", tz="UTC")
    frame = pd.DataFrame({("a", "requests"): np.arange(120) % 7, ("a", "x"): 1.0})
    frame[("timestamp", "")] = stamps
    return frame


@pytest.mark.parametrize("call", [
    # Before: "target column 'a' appears more than once" (the tuple read as targets 'a' and 'requests').
    lambda frame: prepare_series(frame, timestamp=None, target=("a", "requests")),
    # Before: "no target column 'requests'" with the columns shown as strings of tuples.
    lambda frame: prepare_series(frame.set_index(("timestamp", ""))),
    lambda frame: bucketize(frame, timestamp="timestamp", freq="10s"),  # before: bucketized, no error
    lambda frame: bucketize(frame, timestamp="timestamp", freq="10s", by="a"),
])
def test_multiindex_columns_are_refused_with_how_to_flatten_them(call):
    frame = _multiindex_columns_frame()
    with pytest.raises(WorkloadDataError, match=r"the columns are a MultiIndex \(2 levels, e.g. \('a', 'requests'\)\)"
                                                r".*flatten them first"):
        call(frame)


def test_an_update_or_a_fleet_with_multiindex_columns_is_refused_as_a_fit_is():
    from workload_predictor import FleetPredictor, WorkloadPredictor

    frame = _multiindex_columns_frame()
    flat = pd.DataFrame({"timestamp": frame[("timestamp", "")], "requests": frame[("a", "requests")]})
    predictor = WorkloadPredictor(model="naive", horizon=2).fit(flat.iloc[:100], timestamp="timestamp")
    with pytest.raises(WorkloadDataError, match="the columns are a MultiIndex"):  # before: "no target column"
        predictor.update(frame.iloc[100:101], timestamp="timestamp")
    with pytest.raises(WorkloadDataError, match="the columns are a MultiIndex"):  # before: "key column 'a' appears 2 times"
        FleetPredictor(model="naive", horizon=2).fit(frame, key="a")


@pytest.mark.parametrize("unit, start, step, width", [
    ("s", 1_704_067_200.0, 0.1, "100ms"),     # epoch seconds of 2024 hold 0.24 us: 0.1 s steps read 100 ms +- 143 ns
    ("ms", 1_704_067_200_000.0, 100.0, "100ms"),
    ("s", 1_704_067_200.0, 0.001, "1ms"),
    ("s", 1_704_067_200.0, 10.0, "10s"),
])
def test_float_epochs_read_at_the_resolution_their_magnitude_holds(unit, start, step, width):
    """Float epochs at sub-second buckets were refused as irregular (100 ms buckets read as 100ms 143ns after 99ms
    999us 905ns): the float's rounding read as the clock's. They are read to the power of ten nanoseconds the float
    resolves, so a regular series written as floats reads regular and lands on the grid it was written on."""
    from workload_predictor import WorkloadPredictor

    epochs = start + np.arange(600) * step
    frame = pd.DataFrame({"timestamp": epochs, "requests": np.random.default_rng(0).poisson(5, 600).astype(float)})
    index = to_utc_index(pd.Series(epochs), unit=unit)
    expected = pd.Timestamp(int(round(start)) if unit == "s" else int(round(start / 1000)), unit="s", tz="UTC")
    assert index[0] == expected
    assert (np.diff(index.asi8) == pd.Timedelta(width).value).all()
    predictor = WorkloadPredictor(horizon=5).fit(frame.iloc[:500], unit=unit)
    assert predictor.freq_ == pd.Timedelta(width)
    predictor.update(frame.iloc[500:], unit=unit)
    assert predictor.last_timestamp_ == index[-1]


def test_float_epoch_offsets_keep_nanoseconds():
    """Small float offsets from an origin resolve nanoseconds and are not rounded coarser."""
    index = to_utc_index(pd.Series([0.0, 1.5e-6, 3e-6]), unit="s", origin="2024-01-01")
    assert list(np.diff(index.asi8)) == [1500, 1500]
