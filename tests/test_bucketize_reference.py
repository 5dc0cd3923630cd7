"""bucketize against an independent reference: plain pandas on the true UTC instants.

Each example draws the true instants first (integer nanoseconds since the epoch, UTC), then writes them in one of
the encodings bucketize reads (aware and naive datetimes, epochs of each unit, floats, ISO strings, offsets from an
``origin``); the reference never parses that encoding, it floors the true instants to the grid bucketize documents
(whole multiples of ``freq`` since 1970-01-01 00:00 UTC), counts and sums per bucket with ``groupby`` and fills the
span with zeros by ``reindex``.
"""

from __future__ import annotations

import datetime as dt
import time
import tracemalloc

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from workload_predictor import WorkloadDataError, bucketize

EPOCH = pd.Timestamp("1970-01-01", tz="UTC")
NS = pd.Timedelta(1, "ns")
ZONES = ("UTC", "Europe/Berlin", "America/New_York", "Asia/Kolkata", "Australia/Lord_Howe")  # Lord Howe: 30 min DST
# Where the draws start: both sides of Berlin's and New York's DST changes (2024-03-31 01:00 UTC, 2024-11-03 06:00
# UTC), a plain day, and before the epoch (negative epochs; only encodings that need no unit inference go there).
BASES = ("2024-03-31T00:10:00Z", "2024-11-03T05:20:00Z", "2024-06-15T12:34:56.789Z", "1969-12-31T23:30:00Z")
WIDTHS = ("1s", "10s", "1min", "90s", "1h", "1D", pd.Timedelta(10, "s"), pd.Timedelta(90, "s"), dt.timedelta(hours=1),
          np.timedelta64(1, "D"))


def _epoch_numbers(true: pd.DatetimeIndex, unit: str) -> np.ndarray:
    """The true instants as integer epochs of ``unit`` (they are whole ``unit``s by construction)."""
    return np.asarray((true - EPOCH) // pd.Timedelta(1, unit), dtype=np.int64)


# name: (the finest step the encoding holds, in ns; encoder(true instants, draw) -> (column, bucketize arguments)).
def _aware(true, draw):
    zone = draw(st.sampled_from(ZONES))
    return pd.Series(true.tz_convert(zone).as_unit(draw(st.sampled_from(["ns", "us"])))), {}


def _naive(true, draw):
    return pd.Series(true.tz_localize(None).as_unit(draw(st.sampled_from(["ns", "us", "s"])))), {}


def _objects(true, draw):  # Python datetimes, each row in a zone of its own
    zones = draw(st.lists(st.sampled_from(ZONES), min_size=len(true), max_size=len(true)))
    return pd.Series([t.tz_convert(z).to_pydatetime() for t, z in zip(true, zones)], dtype=object), {}


def _epoch_int(unit):
    def encode(true, draw):
        numbers = _epoch_numbers(true, unit)
        # Without unit= the magnitude says it (1980..2100 only: before the epoch the unit must be given).
        given = draw(st.booleans()) or true.min() < pd.Timestamp("1980-01-01", tz="UTC")
        return pd.Series(numbers), {"unit": unit} if given else {}
    return encode


def _epoch_float(unit, finer):
    def encode(true, draw):  # e.g. seconds with three decimals: 1711846200.123
        numbers = _epoch_numbers(true, finer) / (pd.Timedelta(1, unit) // pd.Timedelta(1, finer))
        given = draw(st.booleans()) or true.min() < pd.Timestamp("1980-01-01", tz="UTC")
        return pd.Series(numbers), {"unit": unit} if given else {}
    return encode


def _iso(true, draw):  # each row in its own zone's offset (UTC's as Z, z (RFC 3339 allows it) or +00:00)
    zones = draw(st.lists(st.sampled_from(ZONES), min_size=len(true), max_size=len(true)))
    utc = draw(st.lists(st.sampled_from(["Z", "z", "+00:00"]), min_size=len(true), max_size=len(true)))
    spec = draw(st.sampled_from(["nanoseconds", "milliseconds"]))
    text = [t.tz_convert(z).isoformat(timespec=spec).replace("+00:00", u) for t, z, u in zip(true, zones, utc)]
    return pd.Series(text, dtype=draw(st.sampled_from([object, "string"]))), {}


def _iso_naive(true, draw):
    sep = draw(st.sampled_from(["T", " "]))
    return pd.Series([t.tz_localize(None).isoformat(sep=sep) for t in true]), {}


def _origin(true, draw):
    """An origin within an hour of the first stamp, written as an aware string in some zone or a naive Timestamp."""
    shift = pd.Timedelta(draw(st.integers(-3600, 3600)), "s")
    origin = true.min() + shift
    zone = draw(st.sampled_from(ZONES))
    written = draw(st.sampled_from([origin.tz_convert(zone).isoformat(), origin.tz_localize(None)]))
    return origin, written


def _offsets_int(unit):
    def encode(true, draw):
        origin, written = _origin(true, draw)
        return pd.Series(np.asarray((true - origin) // pd.Timedelta(1, unit), dtype=np.int64)), {
            "unit": unit, "origin": written}
    return encode


def _offsets_float(true, draw):  # seconds with three decimals since the origin
    origin, written = _origin(true, draw)
    return pd.Series(np.asarray((true - origin) // pd.Timedelta(1, "ms")) / 1000), {"unit": "s", "origin": written}


def _offsets_timedelta(true, draw):
    origin, written = _origin(true, draw)
    return pd.Series(true - origin), {"origin": written}


ENCODINGS = {
    "aware datetime64": (1, _aware),
    "naive datetime64": (10**9, _naive),  # the draw may pick datetime64[s]
    "datetime objects": (1_000, _objects),
    "epoch s": (10**9, _epoch_int("s")),
    "epoch ms": (10**6, _epoch_int("ms")),
    "epoch us": (10**3, _epoch_int("us")),
    "epoch ns": (1, _epoch_int("ns")),
    "float epoch s": (10**6, _epoch_float("s", "ms")),
    "float epoch ms": (10**3, _epoch_float("ms", "us")),
    "ISO with offsets": (1, _iso),
    "ISO naive": (1_000, _iso_naive),
    "offsets s": (10**9, _offsets_int("s")),
    "offsets ms": (10**6, _offsets_int("ms")),
    "float offsets s": (10**6, _offsets_float),
    "timedelta offsets": (1, _offsets_timedelta),
}
# Encodings an example before the epoch may take (seconds' floats of 1969 hold no ms digits to spare: not those).
BEFORE_EPOCH = {"aware datetime64", "naive datetime64", "datetime objects", "epoch s", "epoch ms", "epoch ns",
                "ISO with offsets", "ISO naive", "offsets s", "offsets ms", "timedelta offsets"}


def _true_instants(draw, width: pd.Timedelta, step: int, n: int) -> pd.DatetimeIndex:
    """``n`` instants (unsorted, repeats likely) within a span of up to 300 buckets, many exactly on a bucket's edge
    or one ``step`` either side of it."""
    base = pd.Timestamp(draw(st.sampled_from(BASES)))
    width_ns, base_ns = width // NS, (base - EPOCH) // NS
    first = base_ns // width_ns * width_ns  # a bucket edge (floor division of Python ints: before 1970 too)
    buckets = draw(st.sampled_from([3, 40, 300]))
    within = st.one_of(st.just(0), st.just(step), st.just(width_ns - step),
                       st.integers(0, width_ns // step - 1).map(lambda k: k * step))
    rows = draw(st.lists(st.tuples(st.integers(0, buckets - 1), within), min_size=n, max_size=n))
    return pd.DatetimeIndex([EPOCH + pd.Timedelta(first + k * width_ns + offset, "ns") for k, offset in rows])


def _reference(true: pd.DatetimeIndex, width: pd.Timedelta, columns: dict, count: str,
               keys: list | None = None, order: list | None = None, common_grid: bool = True) -> pd.DataFrame:
    """The bucketed frame computed the plain way: floor to the epoch-anchored grid, groupby, reindex with zeros."""
    bucket = EPOCH + ((true - EPOCH) // width) * width
    frame = pd.DataFrame({"bucket": bucket, count: 1, **{name: pd.array(v, dtype=object) for name, v in columns.items()}})
    if keys is None:
        return _filled(frame, width, bucket.min(), bucket.max(), count, columns).reset_index(names="timestamp")
    frame["key"] = pd.array(keys, dtype=object)
    parts = []
    for key in order:  # the keys in the order bucketize documents: sorted (a categorical: its categories' order)
        own = frame[frame["key"] == key]
        if own.empty:
            continue
        lo, hi = (bucket.min(), bucket.max()) if common_grid else (own["bucket"].min(), own["bucket"].max())
        part = _filled(own.drop(columns="key"), width, lo, hi, count, columns).reset_index(names="timestamp")
        part.insert(0, "key", [key] * len(part))
        parts.append(part)
    return pd.concat(parts, ignore_index=True)


def _filled(frame, width, lo, hi, count, columns):
    sums = frame.groupby("bucket").sum()  # object columns: Python ints summed exactly, floats as floats
    grid = pd.DatetimeIndex([lo + i * width for i in range((hi - lo) // width + 1)])
    return sums.reindex(grid, fill_value=0)[[count, *columns]]


def _tokens(draw, n: int) -> tuple[pd.Series, list]:
    """A token column of a drawn dtype and magnitude (past int32, and past float64's exact integers) and its values
    as Python numbers."""
    kind = draw(st.sampled_from(["int64", "int32", "uint32", "Int64", "object", "whole float64", "float64"]))
    top = {"int32": 2**31 - 1, "uint32": 2**32 - 1}.get(kind, draw(st.sampled_from([1000, 2**31, 2**53 + 1, 10**17])))
    if kind.endswith("float64"):
        top = min(top, 2**53)  # a float holds each of these exactly
    values = draw(st.lists(st.integers(0, top), min_size=n, max_size=n))
    if kind == "float64":
        values = [v + 0.25 for v in values]
        return pd.Series(values, dtype="float64"), values
    return pd.Series(values, dtype={"whole float64": "float64", "object": object}.get(kind, kind)), values


def _check(result: pd.DataFrame, expected: pd.DataFrame, whole: dict) -> None:
    assert list(result.columns) == list(expected.columns)
    assert str(result["timestamp"].dtype) == "datetime64[ns, UTC]"
    assert result["timestamp"].tolist() == expected["timestamp"].tolist()
    for name in expected.columns[1:] if expected.columns[0] == "timestamp" else expected.columns[2:]:
        got, want = result[name], expected[name]
        if whole.get(name, True):  # counts, and sums of whole numbers: int64, exact
            assert got.dtype == np.int64, (name, got.dtype)
            assert got.tolist() == [int(v) for v in want], name
        else:
            assert got.dtype == np.float64, (name, got.dtype)
            np.testing.assert_allclose(got.to_numpy(), want.to_numpy(dtype=float), rtol=1e-12)


@pytest.mark.parametrize("encoding", ENCODINGS)
@settings(max_examples=5)
@given(data=st.data())
def test_bucketize_matches_the_reference(encoding, data):
    draw = data.draw
    width_arg = draw(st.sampled_from(WIDTHS))
    width = pd.Timedelta(width_arg)
    step, encode = ENCODINGS[encoding]
    n = draw(st.integers(1, 25))
    true = _true_instants(draw, width, step, n)
    if true.min() < EPOCH and encoding not in BEFORE_EPOCH:
        true = true + pd.Timedelta(days=20000)  # those encodings, in 2024 (20,000 days: whole buckets of each width)
    column, arguments = encode(true, draw)
    count = draw(st.sampled_from(["requests", "rows"]))
    azure = draw(st.booleans())
    (inputs, input_values), (outputs, output_values) = _tokens(draw, n), _tokens(draw, n)
    log = pd.DataFrame({"TIMESTAMP": column} if azure else {"arrived": column})
    if azure:  # the Azure trace's names, found by bucketize itself (sums=None)
        log["ContextTokens"], log["GeneratedTokens"] = inputs, outputs
        names, call = ("input_tokens", "output_tokens"), {}
    else:  # names of the user's, summed as sums= says
        log["prompt"], log["completion"] = inputs, outputs
        names, call = ("in", "out"), {"timestamp": "arrived", "sums": {"in": "prompt", "out": "completion"}}
    before = log.copy(deep=True)

    result = bucketize(log, freq=width_arg, count=count, **call, **arguments)

    pd.testing.assert_frame_equal(log, before)  # the user's frame is untouched
    values = dict(zip(names, (input_values, output_values)))
    expected = _reference(true, width, values, count)
    whole = {name: all(float(v).is_integer() for v in v_) for name, v_ in values.items()}
    _check(result, expected, whole)


KEY_POOLS = {  # keys of several types, each in the order bucketize's result lists them
    "str": ["a", "b", "c"],
    "int": [-1, 2, 30],
    "float": [0.5, 1.0, 2.5],
    "bool": [False, True],
    "mixed": [7, "x", "y"],  # numbers first, then strings (pandas' order of mixed keys)
    "datetime": list(pd.to_datetime(["2024-01-01", "2024-01-02", "2024-02-01"])),
    "category": ["z", "y", "x"],  # the categories' own order, not the alphabet's
}


@settings(max_examples=20)
@given(st.data())
def test_bucketize_by_key_matches_the_reference(data):
    draw = data.draw
    width_arg = draw(st.sampled_from(WIDTHS))
    width = pd.Timedelta(width_arg)
    encoding = draw(st.sampled_from(["aware datetime64", "epoch ms", "ISO with offsets", "offsets s"]))
    step, encode = ENCODINGS[encoding]
    n = draw(st.integers(1, 20))
    true = _true_instants(draw, width, step, n)
    if true.min() < EPOCH and encoding == "epoch ms":
        true = true + pd.Timedelta(days=20000)
    column, arguments = encode(true, draw)
    pool_name = draw(st.sampled_from(sorted(KEY_POOLS)))
    pool = KEY_POOLS[pool_name]
    keys = draw(st.lists(st.sampled_from(pool), min_size=n, max_size=n))
    key_column = (pd.Categorical(keys, categories=pool) if pool_name == "category"
                  else pd.Series(keys, dtype=object if pool_name == "mixed" else None))
    tokens, token_values = _tokens(draw, n)
    common_grid = draw(st.booleans())
    log = pd.DataFrame({"TIMESTAMP": column, "model": key_column, "ContextTokens": tokens})
    before = log.copy(deep=True)

    result = bucketize(log, freq=width_arg, by="model", common_grid=common_grid, **arguments)

    pd.testing.assert_frame_equal(log, before)
    expected = _reference(true, width, {"input_tokens": token_values}, "requests", keys=keys, order=pool,
                          common_grid=common_grid).rename(columns={"key": "model"})
    assert result["model"].dtype == log["model"].dtype
    assert result["model"].tolist() == expected["model"].tolist()
    _check(result, expected, {"input_tokens": all(float(v).is_integer() for v in token_values)})
    if not common_grid:  # as documented: a key's rows are bucketize of that key's requests alone
        key = keys[0]
        alone = bucketize(log[log["model"] == key].drop(columns="model"), freq=width_arg, **arguments)
        mine = result[result["model"] == key].drop(columns="model").reset_index(drop=True)
        pd.testing.assert_frame_equal(mine, alone)


@pytest.mark.parametrize("by", [None, "model"])
def test_token_sums_past_float64s_exact_integers_stay_exact_integers(by):
    # One request of 2**53 + 1 tokens became 9007199254740992.0 (float64, one token lost), as did two requests of
    # 2**52 + 1 and 2**52 in one bucket: the int64 column was summed in float64.
    log = pd.DataFrame({"TIMESTAMP": pd.to_datetime(["2024-01-01T00:00:00Z", "2024-01-01T00:00:03Z",
                                                     "2024-01-01T00:00:04Z", "2024-01-01T00:00:11Z"]),
                        "model": "m", "ContextTokens": np.array([2**53 + 1, 2**52 + 1, 2**52, 5], dtype=np.int64),
                        "GeneratedTokens": pd.array([2**59, 1, 0, 2**59 + 1], dtype="Int64"),
                        "cached": pd.Series([3, 2**53 + 1, 0, 0], dtype=object)})  # Python ints (e.g. from JSON)
    sums = {"input_tokens": "ContextTokens", "output_tokens": "GeneratedTokens", "cached_tokens": "cached"}
    result = bucketize(log, freq="10s", by=by, sums=sums)
    assert all(result[name].dtype == np.int64 for name in sums)
    assert result["input_tokens"].tolist() == [2**53 + 1 + 2**52 + 1 + 2**52, 5]
    assert result["output_tokens"].tolist() == [2**59 + 1, 2**59 + 1]
    assert result["cached_tokens"].tolist() == [2**53 + 4, 0]


@pytest.mark.parametrize("by", [None, "model"])
def test_token_sums_past_int64_are_floats_not_wrapped(by):
    # Ten requests of 1e18 tokens (the most one value may hold) in one bucket: 1e19, past int64.
    log = pd.DataFrame({"TIMESTAMP": pd.to_datetime(["2024-01-01T00:00:00Z"] * 10 + ["2024-01-01T00:00:10Z"]),
                        "model": "m", "ContextTokens": np.array([10**18] * 10 + [3], dtype=np.int64)})
    result = bucketize(log, freq="10s", by=by)
    assert result["input_tokens"].dtype == np.float64
    assert result["input_tokens"].tolist() == [1e19, 3.0]


@pytest.mark.parametrize("stamps", [
    ["2024-03-31T00:59:59z", "2024-03-31T01:00:00Z", "2024-03-31T03:00:05+02:00"],  # z and Z: both UTC
    ["2024-03-31T00:59:59z", "2024-03-31T03:00:00+02:00", "2024-03-31T01:00:05z"],
])
def test_a_lowercase_z_is_utc_among_other_offsets(stamps):
    # RFC 3339's lowercase z was read as no offset: beside Z or +02:00 the column was refused as mixing aware and
    # naive stamps ("some timestamps carry a UTC offset and some do not (e.g. '2024-03-31T00:59:59z')").
    result = bucketize(pd.DataFrame({"TIMESTAMP": stamps}), freq="10s")
    assert result["timestamp"].tolist() == [pd.Timestamp("2024-03-31T00:59:50Z"), pd.Timestamp("2024-03-31T01:00:00Z")]
    assert result["requests"].tolist() == [1, 2]


@pytest.mark.parametrize("stamps", [
    ["2024-03-31 00:59:59 UTC", "2024-03-31T01:00:00Z", "2024-03-31T03:00:05+02:00"],  # a database export's UTC
    ["2024-03-31 00:59:59 GMT", "2024-03-31 03:00:00+02:00", "2024-03-31 01:00:05UTC"],
])
def test_utc_written_as_a_word_is_utc_among_other_offsets(stamps):
    # "2024-03-31 00:59:59 UTC" was read as no offset: beside Z or +02:00 the column was refused as mixing aware and
    # naive stamps ("some timestamps carry a UTC offset and some do not (e.g. '2024-03-31 00:59:59 UTC')"), and
    # beside naive stamps it went to the fallback, which called it ambiguous (a year-first date read day first).
    result = bucketize(pd.DataFrame({"TIMESTAMP": stamps}), freq="10s")
    assert result["timestamp"].tolist() == [pd.Timestamp("2024-03-31T00:59:50Z"), pd.Timestamp("2024-03-31T01:00:00Z")]
    assert result["requests"].tolist() == [1, 2]
    with pytest.raises(WorkloadDataError, match="some timestamps carry a UTC offset and some do not"):
        bucketize(pd.DataFrame({"TIMESTAMP": [stamps[0], "2024-03-31T01:00:00"]}), freq="10s")


@pytest.mark.parametrize("stamps", [
    ["2024-03-31T00:59:59.999999999Z", "2024-03-31T00:59:59.999999999z"],
    ["2024-03-31T00:59:59.999999999", "March 31 2024 01:00:00"],  # one other format: the column takes the fallback
])
def test_nanoseconds_are_kept_where_the_column_is_not_all_iso(stamps):
    # The fallback read the column month first and day first and compared the two: pandas' day-first reading keeps
    # microseconds only, so an ISO stamp's nanoseconds made the column "ambiguous" ("row 0 holds
    # '2024-03-31T00:59:59.999999999Z', which reads as ...59.999999999+00:00 month first and as ...59.999999+00:00
    # day first").
    result = bucketize(pd.DataFrame({"TIMESTAMP": stamps}), freq="1ns")
    assert result["timestamp"].iloc[0] == pd.Timestamp("2024-03-31T00:59:59.999999999Z")
    assert result["requests"].iloc[0] == 2 - ("March" in stamps[1])


def test_a_lowercase_z_beside_naive_stamps_is_refused_as_z_is():
    # Read as naive, a z stamp beside naive ones passed the check that refuses Z beside them.
    for utc in ("Z", "z"):
        log = pd.DataFrame({"TIMESTAMP": [f"2024-03-31T00:59:59{utc}", "2024-03-31T01:00:00"]})
        with pytest.raises(WorkloadDataError, match="some timestamps carry a UTC offset and some do not"):
            bucketize(log, freq="10s")


@pytest.mark.parametrize("by", [None, "model"])
def test_a_missing_token_count_is_refused_naming_its_row(by):
    # NaN is no count of zero: bucketize refuses it, as its docstring says, rather than summing it as pandas' sum would.
    log = pd.DataFrame({"TIMESTAMP": pd.to_datetime(["2024-01-01T00:00:00Z", "2024-01-01T00:00:03Z"]), "model": "m",
                        "ContextTokens": [10.0, np.nan]})
    with pytest.raises(WorkloadDataError, match=r"column 'ContextTokens' holds nan at row 1 .*drop or fill"):
        bucketize(log, freq="10s", by=by)


@pytest.mark.parametrize("by", [None, "model"])
def test_the_grid_is_anchored_at_the_epoch_not_at_the_first_stamp_or_origin(by):
    # 7 min does not divide a day: the buckets start at whole multiples of 7 min since 1970-01-01 UTC, whatever the
    # first request's time or origin= say (a second log of the same service lands on the same grid).
    origin = pd.Timestamp("2024-01-01T00:00:07Z")
    log = pd.DataFrame({"TIMESTAMP": [0, 30, 400], "model": "m"})
    result = bucketize(log, freq="7min", unit="s", origin=origin, by=by)
    first = EPOCH + (origin - EPOCH) // pd.Timedelta(7, "min") * pd.Timedelta(7, "min")
    assert first == pd.Timestamp("2023-12-31T23:54:00Z")
    assert result["timestamp"].tolist() == [first, first + pd.Timedelta(7, "min")]
    assert result["requests"].tolist() == [2, 1]


@pytest.mark.parametrize("by", [None, "model"])
def test_a_year_of_nanosecond_buckets_is_refused_before_any_allocation(by):
    log = pd.DataFrame({"TIMESTAMP": pd.to_datetime(["2024-01-01T00:00:00Z", "2025-01-01T00:00:00Z"]), "model": "m"})
    tracemalloc.start()
    started = time.perf_counter()
    try:
        with pytest.raises(WorkloadDataError, match="max_buckets"):
            bucketize(log, freq="1ns", by=by)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 2**20 and time.perf_counter() - started < 1.0  # 3.2e16 buckets: not one of them allocated
