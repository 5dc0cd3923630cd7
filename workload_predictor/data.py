"""The door: every timestamp and every target value enters the library here.

Timestamps in any supported encoding are normalised once, to a UTC
``DatetimeIndex`` of unit ``ns``; from then on spans are ``pd.Timedelta``
arithmetic only. Nothing here knows about models.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import decimal as _decimal
import math
import re
import warnings
from dataclasses import dataclass
from typing import Any, Iterator, Mapping, Sequence

import numpy as np
import pandas as pd

from ._memory import check_memory
from .errors import (UpdateGapError, UpdateOrderError, WorkloadDataError, cut, is_integer, is_number, is_positive_int,
                     naming_rows, plural, quote, quote_columns, renamed_rows)

# Plausible epoch magnitudes (1980 .. 2100) per unit; used only when the user gave no unit.
_EPOCH_BANDS = {
    "s": (3.2e8, 4.2e9),
    "ms": (3.2e11, 4.2e12),
    "us": (3.2e14, 4.2e15),
    "ns": (3.2e17, 4.2e18),
}
# Largest count per bucket (or per request) accepted: far above any real load (1e12 requests per bucket is
# tested), far below where float64 sums of squares over millions of windows overflow.
MAX_VALUE = 1e18
# Longest timestamp string read (characters): an ISO-8601 stamp with nanoseconds and an offset has 35.
# Longer strings are refused before parsing (pandas' fallback parser is quadratic in a string's length:
# 400,000 characters took 1.1 s).
MAX_TIMESTAMP_CHARS = 64
# A UTC offset ending a stamp: Z (or RFC 3339's z), UTC or GMT (a database export's "2024-05-10 00:00:00 UTC"), +05:00 or +0500, or +05 after a time (``10:00:00+05``; a date alone,
# ``2024-01-05``, ends in -05 too).
_OFFSET_SUFFIX = re.compile(r"([Zz]|UTC|GMT|[+-]\d{2}:?\d{2}|:\d{2}(?:\.\d+)?[+-]\d{2})$")
# The same suffix read backwards after a line break, blanks allowed (as strip() drops them): matched on strings
# joined by line breaks and reversed, it starts with a literal, so one search skips from line to line.
_OFFSET_SUFFIX_REVERSED = re.compile(r"\n[^\S\n]*(?:[Zz]|CTU|TMG|\d{2}:?\d{2}[+-]|\d{2}[+-](?:\d+\.)?\d{2}:)")
# The token columns of a request log, by what they count: this package's names first, then those of the
# Azure LLM inference traces, Vidur's traces and OpenAI's usage records. The first one a log has is used, named
# exactly as here, else in any case and spelling of its separators (``Input Tokens``, ``CONTEXT_TOKENS``).
TOKEN_COLUMNS = {
    "input_tokens": ("input_tokens", "ContextTokens", "num_prefill_tokens", "prompt_tokens"),
    "output_tokens": ("output_tokens", "GeneratedTokens", "num_decode_tokens", "completion_tokens"),
}


def token_columns(columns: Any, input_column: str | None = None, output_column: str | None = None, *,
                  exact: bool = False) -> dict[str, str]:
    """Which of ``columns`` (a request log's) hold the prompt and output token counts.

    Returns ``{"input_tokens": column, "output_tokens": column}`` for those found: the
    column named explicitly, else the first of :data:`TOKEN_COLUMNS` present (named exactly,
    else by :func:`column_key`, else by its last dotted part: ``usage.prompt_tokens``, a nested JSON
    key). An explicit name the log lacks is a :class:`WorkloadDataError`. ``exact``: names matched
    exactly only (a forecast's targets, which name what they count as the fit was told).
    """
    present = list(columns)
    loose: dict[str, Any] = {}
    if not exact:
        loose = columns_by_key(present)
        for name in present:  # then a nested JSON key by its own name (usage.prompt_tokens: prompt_tokens)
            loose.setdefault(column_key(str(name).rpartition(".")[2]), name)
    found = {}
    for out, given in (("input_tokens", input_column), ("output_tokens", output_column)):
        if given is not None and given not in present:
            option, counts = {"input_tokens": ("input", "prompt"), "output_tokens": ("output", "output")}[out]
            raise WorkloadDataError(
                f"no token column {quote(given)} (columns: {quote_columns(present)}); pass {option}_column=<column "
                f"name> with the column that holds the {counts} token counts, or leave it out to read a known one "
                f"({', '.join(TOKEN_COLUMNS[out])}, in any case and spelling).")
        column = given if given is not None else next((a for a in TOKEN_COLUMNS[out] if a in present), None)
        if column is None:
            key = next((column_key(a) for a in TOKEN_COLUMNS[out] if column_key(a) in loose), None)
            if key is not None:
                column = loose[key]
                option = {"input_tokens": "input", "output_tokens": "output"}[out]
                refuse_alike([name for name in present if column_key(name) == key], out,
                             f"the counts ({option}_column=, --{option}-col)")
        if column is not None:
            found[out] = column
    return found


def refuse_alike(alike: list, read_as: str, holds: str) -> None:
    """A typed error where several columns (``alike``) are read as one known name, ``read_as`` (the timestamp, a
    token count: their names differ only in case or spelling, and none is the exact name): which one ``holds``
    what is read is the caller's to say (``holds``: e.g. "the times with --timestamp-col")."""
    if len(alike) < 2:
        return
    shown = [quote(name, 40) for name in alike[:3]]
    listed = ", ".join(shown[:-1]) + " and " + shown[-1] + (f" (and {len(alike) - 3:,} more)" if len(alike) > 3 else "")
    raise WorkloadDataError(
        f"columns {listed} are {'both' if len(alike) == 2 else 'all'} read as {read_as} (their names differ only in "
        f"case or spelling): name the one that holds {holds}."
    )


def columns_by_key(columns: Any) -> dict[str, Any]:
    """``{column_key(name): name}`` of ``columns``, the first column of each key."""
    loose: dict[str, Any] = {}
    for name in columns:
        loose.setdefault(column_key(name), name)
    return loose


def column_key(name: Any) -> str:
    """A column name as known names are matched against it: lower case, without blanks, ``_`` and ``-``
    (``Input Tokens``, ``input-tokens`` and ``INPUT_TOKENS`` are ``inputtokens``)."""
    return re.sub(r"[\s_\-]+", "", str(name)).lower()


def duration_text(delta: Any) -> str:
    """A duration as messages print it: ``10s``, ``1min 30s``, ``2d 3h``, ``250ms``, ``0s`` (pandas prints
    ``0 days 00:00:10``)."""
    delta = pd.Timedelta(delta)
    if delta < pd.Timedelta(0):
        return "-" + duration_text(-delta)
    nanos = delta // pd.Timedelta(1, "ns")
    parts = []
    for unit, size in (("d", 86_400 * 10**9), ("h", 3_600 * 10**9), ("min", 60 * 10**9), ("s", 10**9),
                       ("ms", 10**6), ("us", 10**3), ("ns", 1)):
        count, nanos = divmod(nanos, size)
        if count:
            parts.append(f"{count}{unit}")
    return " ".join(parts) or "0s"


def _plain(value: Any) -> Any:
    """A numpy scalar as the Python value it holds (messages quote ``3.0``, not ``np.float64(3.0)``)."""
    return value.item() if isinstance(value, np.generic) else value


def to_utc_index(
    values: Any,
    *,
    unit: str | None = None,
    origin: Any = None,
    tz: Any = None,
    name: str = "timestamp",
) -> pd.DatetimeIndex:
    """Normalise timestamps in any supported encoding to a UTC ``DatetimeIndex[ns]``.

    Accepted: datetime64 (naive is taken as UTC, aware is converted), pandas
    ``Timestamp``/``datetime.datetime`` objects, ISO-8601 strings (fractional and
    whole seconds may be mixed, offsets allowed, UTC's as ``Z`` or ``z``), other date strings in one format
    for the whole column (``10/02/2024 00:00:05``: day or month first as the whole
    column reads; a column that reads both ways is an error), numeric epochs (``unit`` given,
    or inferred from the magnitude when that is unambiguous), and offsets
    relative to ``origin`` (numbers with ``unit``, or timedeltas). ``unit`` and ``origin`` say how numbers
    are read: given beside datetimes or date strings (or ``unit`` beside timedeltas) they are an error.
    Strings longer than ``MAX_TIMESTAMP_CHARS`` (64) are refused before parsing.
    ``tz`` (an IANA zone name such as ``'America/New_York'``) is the zone of naive wall-clock stamps (datetimes or
    date strings without an offset): they are read in it and converted to UTC. A wall time that zone's clocks skip
    or pass twice (a DST change) is refused by row, and so are stamps that carry an offset, or numbers, beside it.
    The input is never modified.
    """
    name = cut(name, 60)  # the column's name, as messages quote it
    check_unit(unit, name)
    zone = read_zone(tz, name)
    if isinstance(values, pd.DataFrame):
        raise WorkloadDataError(f"{name}: expected one column of timestamps, got a DataFrame.")
    if isinstance(values, (pd.Series, pd.Index)) and _is_datetime_dtype(values.dtype):
        # Already datetimes (what update() gets every few seconds): skip the encoding inference.
        stamps = pd.DatetimeIndex(values.array if isinstance(values, pd.Series) else values)
        if unit is not None or origin is not None:
            raise _numbers_only(stamps, "datetimes", unit, origin, name)
        if zone is not None:
            if stamps.tz is not None:
                raise _offset_beside_zone(tz, name, 0, str(stamps[0]))
            stamps = _localized(stamps, zone, tz, stamps, name)
        return _normalised(stamps, stamps, name)
    series = pd.Series(values, copy=False) if not isinstance(values, pd.Series) else values
    # pandas holds no float16 index: widened exactly to float32 (a copy), its step still judged as float16's.
    narrow = series.dtype if series.dtype == np.float16 else None
    if narrow is not None:
        series = series.astype(np.float32)
    # An object column goes in as its array: pandas 2.x warns when Index() re-infers a Series' dtype.
    index = pd.Index(series.to_numpy() if series.dtype == object else series)
    if len(index) == 0:
        raise WorkloadDataError(f"{name}: no timestamps (the input is empty); pass at least one row.")
    if index.dtype == object and _holds_numbers(index):
        # Epochs in an object column (e.g. after astype(object) or from JSON): numbers, so unit= applies.
        # Parsed as objects they became nanoseconds whatever unit said (1.7e9 s -> 1970-01-01 00:00:01.7).
        # Missing markers (None, NaT) become NaN, which _from_numbers refuses by row; pd.to_numeric
        # itself raises a bare TypeError on NaT.
        try:
            numbers = pd.Index(pd.to_numeric(pd.Index([np.nan if _is_missing(v) else v for v in index], dtype=object)))
        except (TypeError, ValueError, OverflowError) as exc:
            raise WorkloadDataError(f"{name}: cannot read these numbers as epochs ({exc}); clean the column.") from None
        # pandas 3 leaves an integer past 64 bits an object, which _check_objects names; pandas 2.2 makes it a float
        if numbers.dtype.kind == "f" and len(numbers) and np.fmax.reduce(np.abs(numbers.to_numpy())) >= 2.0**63:
            wide = next((row for row, v in enumerate(index) if isinstance(v, int) and not -2**63 <= v < 2**63), None)
            if wide is not None:
                raise _past_64_bits(index, wide, name)
        index = numbers
    if origin is not None and unit is None and pd.api.types.is_numeric_dtype(index.dtype):
        if not pd.api.types.is_bool_dtype(index.dtype):
            raise WorkloadDataError(
                f"{name}: origin={quote(origin)} was given without unit; pass unit='s', 'ms', 'us' or 'ns' "
                "to say what the numbers count."
            )

    durations = pd.api.types.is_timedelta64_dtype(index.dtype) or _holds_timedeltas(index)
    if zone is not None and not isinstance(index, pd.DatetimeIndex) and not durations \
            and not pd.api.types.is_numeric_dtype(index.dtype):  # booleans, numeric too, are no wall times
        result = _from_objects(index, name)  # naive stamps read as UTC wall times, offsets refused below
        if unit is not None or origin is not None:
            kind = "date strings" if pd.api.types.infer_dtype(index, skipna=True) == "string" else "datetimes"
            raise _numbers_only(index, kind, unit, origin, name)
        aware = _first_aware(index)
        if aware is not None:
            raise _offset_beside_zone(tz, name, aware, index[aware])
        return _normalised(_localized(result.tz_localize(None), zone, tz, index, name), index, name)
    if zone is not None:
        kind = "datetimes" if isinstance(index, pd.DatetimeIndex) else "numbers (epochs or offsets)" \
            if pd.api.types.is_numeric_dtype(index.dtype) else "durations"
        if kind == "datetimes" and index.tz is None:
            return _normalised(_localized(index, zone, tz, index, name), index, name)
        raise WorkloadDataError(
            f"{name}: tz={quote(tz)} is the zone of naive wall-clock stamps (datetimes or date strings without an "
            f"offset), but these are {'aware datetimes' if kind == 'datetimes' else kind}, which name their instant "
            "already: drop tz=.")
    try:
        if isinstance(index, pd.DatetimeIndex):
            result = index
        elif pd.api.types.is_timedelta64_dtype(index.dtype) or _holds_timedeltas(index):
            if unit is not None:
                raise _numbers_only(index, "durations", unit, None, name)
            result = _from_offsets(index, origin, name)
        elif pd.api.types.is_bool_dtype(index.dtype):
            raise WorkloadDataError(f"{name}: booleans are not timestamps; pass datetimes, strings or epochs.")
        elif pd.api.types.is_numeric_dtype(index.dtype):
            result = _from_numbers(index, unit, origin, name, narrow)
        else:
            result = _from_objects(index, name)
        result = pd.DatetimeIndex(result)
    except (pd.errors.OutOfBoundsDatetime, pd.errors.OutOfBoundsTimedelta, OverflowError):
        raise _out_of_range(name, unit) from None
    if (unit is not None or origin is not None) and not pd.api.types.is_numeric_dtype(index.dtype) \
            and not pd.api.types.is_timedelta64_dtype(index.dtype) and not _holds_timedeltas(index):
        kind = "date strings" if pd.api.types.infer_dtype(index, skipna=True) == "string" else "datetimes"
        raise _numbers_only(index, kind, unit, origin, name)
    return _normalised(result, index, name, unit)


def read_zone(tz: Any, name: str = "timestamp") -> Any:
    """``tz`` (an IANA zone name, or a ``datetime.tzinfo``) as the zone naive stamps are read in; ``None`` for
    ``None``. An unknown name is refused, quoted cut short."""
    if tz is None or isinstance(tz, _dt.tzinfo):
        return tz
    if isinstance(tz, str):
        import zoneinfo

        try:
            return zoneinfo.ZoneInfo(tz.strip())
        except (zoneinfo.ZoneInfoNotFoundError, ValueError, TypeError, OSError):
            pass
    raise WorkloadDataError(f"{name}: tz={quote(tz)} is no time zone; pass an IANA zone name such as "
                            "'America/New_York', 'Europe/Berlin' or 'UTC'.")


def _first_aware(values: pd.Index) -> int | None:
    """The row of the first stamp of an object column that carries a UTC offset (a string ending in one, or an
    aware datetime), or ``None``. A column of strings none of which does is passed in one C-speed count."""
    objects = values.to_numpy(dtype=object)
    if pd.api.types.infer_dtype(objects, skipna=True) == "string" and _aware_count(objects[~pd.isna(objects)]) == 0:
        return None
    for row, value in enumerate(objects):
        if isinstance(value, str) and _OFFSET_SUFFIX.search(value.strip()):
            return row
        if isinstance(value, _dt.datetime) and value.tzinfo is not None:
            return row
    return None


def _offset_beside_zone(tz: Any, name: str, row: int, value: Any) -> WorkloadDataError:
    """The error for stamps that carry their offset beside ``tz=``, which would read them in a second zone."""
    return naming_rows(
        WorkloadDataError, f"{name}: tz={quote(tz)} is the zone of naive wall-clock stamps, but ", row, " (",
        quote(value if isinstance(value, str) else str(value)), ") carries its own offset, which names its instant "
        "already (read as it is): drop tz=.")


def _localized(wall: pd.DatetimeIndex, zone: Any, tz: Any, original: Any, name: str) -> pd.DatetimeIndex:
    """Naive wall times ``wall`` read in ``zone``; a wall time its clocks skip or pass twice is refused by row."""
    try:
        local = wall.tz_localize(zone, ambiguous="NaT", nonexistent="NaT")
    except (pd.errors.OutOfBoundsDatetime, OverflowError):
        raise _out_of_range(name) from None
    bad = np.flatnonzero(local.isna() & ~wall.isna())
    if len(bad) == 0:
        return local
    row = int(bad[0])
    skipped = not pd.isna(wall[row:row + 1].tz_localize(zone, ambiguous="NaT", nonexistent="shift_forward")[0])
    shown = quote(original[row] if isinstance(original[row], str) else str(original[row]))
    what = ("does not exist there (the clocks skip it: spring forward)" if skipped else
            "is ambiguous there (the clocks pass it twice: fall back)")
    more = f" ({plural(len(bad), 'such row')})" if len(bad) > 1 else ""
    raise naming_rows(
        WorkloadDataError, f"{name}: ", row, f" ({shown}) read in tz={quote(tz)} {what}{more}; write such stamps "
        "with their UTC offset (e.g. ISO 8601's -04:00) and drop tz=, or drop those rows.")


def _numbers_only(stamps: Any, kind: str, unit: str | None, origin: Any, name: str) -> WorkloadDataError:
    """The error for ``unit=`` or ``origin=`` given beside timestamps that are no numbers (``kind``: datetimes, date
    strings, durations), which those settings would not change: a caller who says the column counts seconds has
    another column, or another file, in mind."""
    given = {label: value for label, value in (("unit", unit), ("origin", origin)) if value is not None}
    both, first = len(given) == 2, stamps[0]
    return naming_rows(
        WorkloadDataError,
        f"{name}: {' and '.join(f'{label}={quote(value)}' for label, value in given.items())} "
        f"{'say' if both else 'says'} how to read numeric timestamps (epochs, or offsets from an origin), but these "
        f"are {kind} ({quote(first if isinstance(first, str) else str(first))} at ", 0,
        f"), which {'they do' if both else 'it does'} not change: "
        f"drop {' and '.join(f'{label}=...' for label in given)}, or name the numeric timestamp column meant."
    )


_NS_FIRST, _NS_LAST = np.datetime64("1677-09-22", "D"), np.datetime64("2262-04-10", "D")  # inside ns' range


def utc_instants(values: Any, *, unit: str | None = None, origin: Any = None, tz: Any = None,
                 name: str = "timestamp") -> np.ndarray:
    """:func:`to_utc_index` as a numpy ``datetime64[ns]`` array of UTC wall times.

    A datetime column (what ``update`` gets every few seconds) is read straight into
    numpy; anything else, and anything the short path cannot vouch for (a missing
    stamp, a value outside nanoseconds' range), takes :func:`to_utc_index`, which
    also words the error.
    """
    check_unit(unit, cut(name, 60))
    if unit is None and origin is None and tz is None and isinstance(values, (pd.Series, pd.Index)) \
            and _is_datetime_dtype(values.dtype):
        instants = _datetime_array_instants(values.array)
        if instants is not None:
            return instants
    return np.asarray(to_utc_index(values, unit=unit, origin=origin, tz=tz, name=name).array, dtype="datetime64[ns]")


def _datetime_array_instants(array: pd.arrays.DatetimeArray) -> np.ndarray | None:
    """The UTC ``datetime64[ns]`` instants of a DatetimeArray; ``None`` when it holds a missing stamp or one outside
    nanoseconds' range (:func:`to_utc_index` words those)."""
    instants = np.asarray(array, dtype=f"datetime64[{array.unit}]")  # tz-aware arrays give their UTC wall times
    if array.unit == "ns" or (_NS_FIRST <= instants.min() and instants.max() <= _NS_LAST):  # NaT compares False
        instants = instants.astype("datetime64[ns]", copy=False)
        if not np.isnat(instants).any():
            return instants
    return None


def _is_datetime_dtype(dtype: Any) -> bool:
    return isinstance(dtype, pd.DatetimeTZDtype) or (isinstance(dtype, np.dtype) and dtype.kind == "M")


def _normalised(result: pd.DatetimeIndex, original: Any, name: str, unit: str | None = None) -> pd.DatetimeIndex:
    """``result`` in UTC, unit ns, unnamed (a new index; the input keeps its name), with no missing stamp."""
    try:
        if result.tz is None:
            result = result.tz_localize("UTC")
        elif result.tz is not _dt.timezone.utc:  # pandas' own UTC (e.g. from utc=True) needs no conversion
            result = result.tz_convert("UTC")
        if result.unit != "ns":
            result = result.as_unit("ns")
    except (pd.errors.OutOfBoundsDatetime, OverflowError):
        raise _out_of_range(name, unit) from None
    if result.hasnans:
        bad = int(np.flatnonzero(result.isna())[0])
        raise naming_rows(WorkloadDataError, f"{name}: ", bad,
                          f" has a missing timestamp ({quote(_plain(original[bad]))}); drop or fill it first.")
    return result if result.name is None else result.rename(None)


def _out_of_range(name: str, unit: str | None = None) -> WorkloadDataError:
    """The error for stamps outside nanoseconds' range, in our words (pandas' own, e.g. "Cannot round ...
    without overflow", names its internals, not the fix). ``unit``: the one the caller gave, blamed only then."""
    # e.g. epochs read with the wrong unit: pandas' nanoseconds span 1677-09-21 .. 2262-04-11 only.
    fix = (f"check unit={unit!r} (and origin=) for these numeric epochs, or drop the rows outside it"
           if unit is not None else
           "drop the rows outside it (numeric epochs are read in the unit their magnitude implies: pass unit=... "
           "to read them in another)")
    return WorkloadDataError(
        f"{name}: timestamps (or the buckets that hold them) fall outside 1677-09-21 00:12:43 .. "
        f"2262-04-11 23:47:16 UTC, the range of nanosecond timestamps; {fix}."
    )


#: The longest span between two timestamps that a ``pd.Timedelta`` (int64 nanoseconds) holds: about 292 years.
MAX_SPAN = pd.Timedelta.max


def check_span(first: pd.Timestamp, last: pd.Timestamp, name: str = "timestamp", unit: str | None = None) -> None:
    """Refuse timestamps from ``first`` to ``last`` (UTC) further apart than :data:`MAX_SPAN` (about 292 years),
    before any arithmetic on them: numpy's nanosecond subtraction would wrap around without a word, pandas'
    raises an ``OverflowError``. The span is measured in ``datetime.timedelta``, which holds it."""
    span = last.to_pydatetime(warn=False) - first.to_pydatetime(warn=False)
    if span > MAX_SPAN.to_pytimedelta():
        raise WorkloadDataError(
            f"{name}: the timestamps span {span.days / 365.25:,.0f} years ({first.isoformat()} .. "
            f"{last.isoformat()}), more than the 292 years a nanosecond duration holds; check for stray "
            f"timestamps{_unit_hint(unit)}, or drop the rows outside the span you mean."
        )


def _is_number(value: Any) -> bool:
    """Whether ``value`` is a number: a Python or numpy int or float, or a ``decimal.Decimal`` (what some database
    drivers return; its NaN reads as NaN, its signalling NaN, which ``float()`` refuses, is no number). Not a bool."""
    if isinstance(value, (int, float, np.number)):
        return not isinstance(value, (bool, np.bool_))
    return isinstance(value, _decimal.Decimal) and not value.is_snan()


def _is_missing(value: Any) -> bool:
    return value is None or value is pd.NaT or (isinstance(value, float) and np.isnan(value))


def _holds_numbers(index: pd.Index) -> bool:
    """Whether an object index holds only numbers (missing values aside), and at least one."""
    seen = False
    for value in index:  # stops at the first string or datetime, so ISO columns cost one look
        if _is_missing(value):
            continue
        if not _is_number(value):
            return False
        seen = True
    return seen


def _holds_timedeltas(index: pd.Index) -> bool:
    if index.dtype != object or len(index) == 0:
        return False
    first = index[0]
    return isinstance(first, (_dt.timedelta, np.timedelta64, pd.Timedelta))


def _from_offsets(index: pd.Index, origin: Any, name: str) -> pd.DatetimeIndex:
    if origin is None:
        raise WorkloadDataError(
            f"{name}: timestamps are durations (timedeltas); pass origin=<start of the trace> "
            "to anchor them, e.g. origin='2024-05-10T00:00:00Z'."
        )
    try:
        deltas = pd.to_timedelta(index)
    except (ValueError, TypeError) as exc:
        raise WorkloadDataError(f"{name}: cannot read these durations ({cut(exc)}).") from None
    return pd.DatetimeIndex(_origin_timestamp(origin, name) + deltas)


def _origin_timestamp(origin: Any, name: str) -> pd.Timestamp:
    try:
        stamp = pd.Timestamp(origin)
    except (ValueError, TypeError) as exc:
        raise WorkloadDataError(f"{name}: origin={quote(origin)} is not a timestamp ({cut(exc)}).") from None
    if stamp is pd.NaT:
        raise WorkloadDataError(f"{name}: origin is NaT; pass a real start time.")
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")


EPOCH_UNITS = ("s", "ms", "us", "ns", "m", "h", "D")


def check_unit(unit: Any, name: str = "timestamp") -> None:
    """A typed error for a ``unit`` that is none of :data:`EPOCH_UNITS`, checked whatever the timestamps are: one
    that only numbers would read (``unit="sec"`` beside datetimes) would otherwise pass until numbers came."""
    if unit is not None and not (isinstance(unit, str) and unit in EPOCH_UNITS):
        raise WorkloadDataError(f"{name}: unit={quote(unit)} is not one of 's', 'ms', 'us', 'ns', 'm', 'h', 'D'.")


def _from_numbers(index: pd.Index, unit: str | None, origin: Any, name: str, stored: Any = None) -> pd.DatetimeIndex:
    """Epochs or offsets ``index`` as UTC datetimes; ``stored``: the dtype they came in where ``index`` widened it
    (float16), whose step :func:`_check_float_width` judges."""
    numbers = index.to_numpy(dtype="float64", na_value=np.nan)
    if not np.all(np.isfinite(numbers)):
        bad = int(np.flatnonzero(~np.isfinite(numbers))[0])
        raise naming_rows(WorkloadDataError, f"{name}: ", bad, f" holds {quote(float(numbers[bad]))}, not a timestamp; "
                          "drop it.")
    if unit is None:
        unit = infer_epoch_unit(numbers, name)
    check_unit(unit, name)
    _check_float_width(index.dtype if stored is None else stored, numbers, unit, name)
    # Integers stay integers so nanosecond epochs keep every digit.
    integers = pd.api.types.is_integer_dtype(index.dtype)
    deltas = pd.to_timedelta(index.to_numpy() if integers else numbers, unit=unit)
    if not integers:
        deltas = deltas.round(float_epoch_resolution(numbers, unit))
    start = _origin_timestamp(origin, name) if origin is not None else pd.Timestamp(0, tz="UTC")
    return pd.DatetimeIndex(start + deltas)


# The coarsest step a narrow float's epochs may be stored to: float32 epoch seconds of 2024 hold every 128 s only, so
# two stamps 10 s apart arrive as one (the digits were lost before the library saw them).
NARROW_FLOAT_STEP = pd.Timedelta(1, "ms")


def _check_float_width(dtype: Any, numbers: np.ndarray, unit: str, name: str) -> None:
    """A typed error for epochs stored as a float narrower than float64 whose step at their largest magnitude is
    coarser than :data:`NARROW_FLOAT_STEP`: the stamps were rounded before they came, and read as they are they
    would merge buckets or shift them without a word."""
    dtype = getattr(dtype, "numpy_dtype", dtype)  # pandas' nullable Float32 holds a numpy float32
    if not (isinstance(dtype, np.dtype) and dtype.kind == "f" and dtype.itemsize < 8) or not len(numbers):
        return
    largest = float(np.max(np.abs(numbers)))
    step = pd.Timedelta(float(np.spacing(dtype.type(largest))) * _UNIT_NS[unit], "ns")
    if step > NARROW_FLOAT_STEP:
        raise WorkloadDataError(
            f"{name}: the timestamps are {dtype} epochs, which near {largest:.10g} ({unit}) hold only every "
            f"{duration_text(step)}: stamps closer than that arrived as one. Keep them int64 or float64 from where "
            "they are read (e.g. pd.read_csv(..., dtype={" + quote(name) + f": 'int64'}})), not a {dtype} copy.")


_UNIT_NS = {"s": 10**9, "ms": 10**6, "us": 10**3, "ns": 1, "m": 60 * 10**9, "h": 3600 * 10**9, "D": 86400 * 10**9}


def float_epoch_resolution(numbers: np.ndarray, unit: str) -> pd.Timedelta:
    """The step float epochs ``numbers`` (in ``unit``) are read to: the smallest power of ten nanoseconds at least
    the spacing of float64 at their largest magnitude. Digits below it are the float's rounding, not the clock's:
    epoch seconds of 2024 hold 0.24 us, so ``1704067200.1`` (stored as ...200.099999905) reads as ...200.1 and a
    series of 100 ms buckets is regular, as it was written."""
    spacing = float(np.spacing(np.max(np.abs(numbers)))) * _UNIT_NS[unit] if len(numbers) else 0.0
    return pd.Timedelta(10 ** max(math.ceil(math.log10(spacing)), 0) if spacing > 1.0 else 1, "ns")


def infer_epoch_unit(numbers: np.ndarray, name: str = "timestamp") -> str:
    """The epoch unit implied by the magnitudes of ``numbers``, or a WorkloadDataError if ambiguous."""
    lo, hi = float(np.min(numbers)), float(np.max(numbers))
    for unit, (band_lo, band_hi) in _EPOCH_BANDS.items():
        if band_lo <= lo and hi <= band_hi:
            return unit
    raise WorkloadDataError(
        f"{name}: numeric timestamps from {lo:g} to {hi:g} are no unambiguous epoch; pass unit='s', "
        "'ms', 'us' or 'ns' (and origin=... if they are offsets from the start of a trace)."
    )


def _from_objects(index: pd.Index, name: str) -> pd.DatetimeIndex:
    values = index.to_numpy(dtype=object)
    # The common column, ISO strings, is checked in C-speed passes (none too long, all or none carrying an offset);
    # anything else, or strings those passes find fault with, takes the checks that find the row the error names.
    text = pd.api.types.infer_dtype(values, skipna=True) == "string"  # strings and None or NaN only
    strings = values[~pd.isna(values)] if text else None
    short = text and (len(strings) == 0 or max(map(len, strings)) <= MAX_TIMESTAMP_CHARS)
    aware = _aware_count(strings) if short else None
    agree = None if aware is None else aware in (0, len(strings))
    if not agree:
        _check_objects(values, name, text, agree, aware)
    try:
        # dtype=object: pandas 3 would copy the strings into a str Index, which to_datetime reads back as objects
        # (twice the time of the parse itself).
        parsed = pd.to_datetime(pd.Index(values, dtype=object), utc=True, format="ISO8601")
    except (ValueError, TypeError, OverflowError):
        parsed = None
        capital = _capital_z(values) if text else None
        if capital is not None:  # UTC as RFC 3339's lowercase z or as UTC/GMT, which pandas' ISO-8601 parser refuses
            with contextlib.suppress(ValueError, TypeError, OverflowError):
                parsed = pd.to_datetime(pd.Index(capital, dtype=object), utc=True, format="ISO8601")
        if parsed is None:
            parsed = _one_format(values, name)  # the user's strings, which its messages quote
    return pd.DatetimeIndex(parsed)


# A time ending in UTC written otherwise than Z: RFC 3339's lowercase z, or UTC/GMT (a database export's
# "2024-05-10 00:00:00 UTC"), blanks allowed before it.
_OTHER_UTC = re.compile(r"(?<=\d)(?:z|\s*UTC|\s*GMT)\s*$")


def _capital_z(values: np.ndarray) -> np.ndarray | None:
    """A copy of ``values`` (objects) with each string's UTC written otherwise than ``Z`` (:data:`_OTHER_UTC`) written
    ``Z``, as pandas' ISO-8601 parser reads a column that mixes it with offsets (its fallback reads only microseconds,
    and can read a year-first date day first); ``None`` where no string ends so."""
    ends = [row for row, v in enumerate(values) if isinstance(v, str) and _OTHER_UTC.search(v)]
    if not ends:
        return None
    capital = values.copy()
    for row in ends:
        capital[row] = _OTHER_UTC.sub("Z", capital[row])
    return capital


def _one_format(values: np.ndarray, name: str) -> pd.DatetimeIndex:
    """Non-ISO date strings (``10/02/2024 00:00:05``, ``May 10 2024``) read as the whole column reads, never guessed
    string by string.

    First one format, inferred from the first string (pandas' ``guess_datetime_format``): where
    its day and month could be the other way round (``10/02/2024``), both orders are tried on
    the whole column; one that reads every row is used, and two that read every row
    differently (every day at most 12) are an error that names the ambiguity. A column no
    single format reads (whole and fractional seconds mixed, a 12-hour clock, a format pandas
    cannot infer) is read string by string twice, month first and day first: where both
    readings agree on every row it is read, and a row they read differently is an error
    naming it (a DD/MM log read month first would put its days 1-12 in other months).
    Blanks around a string are ignored, as the ISO pass ignores them.
    """
    from pandas.tseries.api import guess_datetime_format

    strings = pd.Index([v.strip() if isinstance(v, str) else v for v in values], dtype=object)
    first = next((v for v in strings if isinstance(v, str) and v), None)
    if first is None:  # no string: datetimes of kinds the ISO pass refused, or nothing parseable
        raise _unparseable(values, name)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pandas warns when the day-first guess differs from its default
        formats = [guess_datetime_format(first)]
        if formats[0] is not None and not formats[0].startswith("%Y"):  # YYYY/DD/MM is no format in use
            formats.append(guess_datetime_format(first, dayfirst=True))
    formats = list(dict.fromkeys(f for f in formats if f is not None))
    read = {}
    for fmt in formats:
        try:
            read[fmt] = pd.DatetimeIndex(pd.to_datetime(strings, utc=True, format=fmt))
        except (ValueError, TypeError, OverflowError):
            continue
    if len(read) > 1 and not read[formats[0]].equals(read[formats[1]]):
        raise WorkloadDataError(
            f"{name}: the timestamps are ambiguous: {quote(first)} reads both as {formats[0]!r} and as "
            f"{formats[1]!r} (month or day first), and every row fits both; pass ISO-8601 strings "
            "(e.g. 2024-05-10T00:00:05Z), or datetimes parsed with pd.to_datetime(..., format=...) in the "
            "format the column has."
        )
    if read:
        return next(iter(read.values()))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # pandas warns where a string reads only the other way round
            month = pd.DatetimeIndex(pd.to_datetime(strings, utc=True, format="mixed", dayfirst=False))
            day = pd.DatetimeIndex(pd.to_datetime(strings, utc=True, format="mixed", dayfirst=True))
    except (ValueError, TypeError, OverflowError) as exc:
        error = _unparseable(values, name, exc)
        if error.unparsed_row is None and isinstance(exc, pd.errors.OutOfBoundsDatetime):
            # Every value is a timestamp, one outside nanoseconds' range, which pandas 2 (nanoseconds only) does not
            # parse at all, where pandas 3 parses it in a coarser unit that to_utc_index cannot make nanoseconds.
            raise _out_of_range(name) from None
        raise error from None
    # Readings under a microsecond apart agree: pandas' day-first reading keeps no finer digits (an ISO string's
    # nanoseconds, which the month-first one keeps), and day and month swapped are a day apart at least.
    differ = np.flatnonzero(np.asarray(abs(month - day) >= pd.Timedelta(1, "us")))
    if len(differ) == 0:
        return month
    row = int(differ[0])
    raise naming_rows(
        WorkloadDataError,
        f"{name}: the timestamps are ambiguous: ", row, f" holds {quote(_plain(values[row]))}, which reads as "
        f"{month[row].isoformat()} month first and as {day[row].isoformat()} day first, and no single format reads "
        "the whole column; pass ISO-8601 strings (e.g. 2024-05-10T00:00:05Z), or datetimes parsed with "
        "pd.to_datetime(..., format=...) in the format the column has."
    )


#: Values :func:`_first_unparseable` parses one by one, at most, looking for the one at fault.
UNPARSEABLE_TRIES = 10_000


def _iso_coerced(values: np.ndarray) -> pd.DatetimeIndex | None:
    """``values`` (objects) read as ISO-8601 in UTC, NaT where a value does not read so (or is missing); ``None``
    where pandas refuses the column as a whole. Each value is read on its own: a row's instant does not depend on
    the other rows."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            # cache=False: pandas 3's cache of unique strings maps every value through a str Index, which took
            # twice the parse itself.
            return pd.to_datetime(pd.Index(values, dtype=object), utc=True, format="ISO8601", errors="coerce",
                                  cache=False)
        except (ValueError, TypeError, OverflowError):
            return None


def _first_unparseable(values: np.ndarray, iso: pd.DatetimeIndex | None = None) -> int | None:
    """The row of the first value of ``values`` (objects) that is no timestamp, or None.

    A C-speed ISO-8601 pass (:func:`_iso_coerced`, or ``iso``, its result where the caller has it)
    finds the candidates; only those are tried one by one (a value in another format that pandas
    reads, e.g. ``May 10 2024``, is no fault), at most ``UNPARSEABLE_TRIES`` of them (about 10 us
    each), so an error message never costs a long scan.
    """
    present = ~pd.isna(values)
    iso = _iso_coerced(values) if iso is None else iso
    candidates = np.flatnonzero(np.asarray(iso.isna()) & present) if iso is not None else np.flatnonzero(present)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for row in candidates[:UNPARSEABLE_TRIES]:
            try:
                pd.Timestamp(values[row])
            except (ValueError, TypeError, OverflowError):
                return int(row)
    return None


def _unparseable(values: np.ndarray, name: str, exc: Exception | None = None, row: int | None = None,
                 iso: pd.DatetimeIndex | None = None, aware: int | None = None) -> WorkloadDataError:
    """The error for timestamps that do not parse: the first value at fault and its row (``row``, when the caller
    has looked for it with ``iso``, the :func:`_iso_coerced` of ``values``), which the error keeps as its
    ``unparsed_row`` (``None`` where none was found), the ISO pass as its ``iso_coerced`` (``None`` where pandas
    refused it), and as its ``aware_count`` how many of ``values`` carry a UTC offset, where the caller counted them
    on a column of strings (missing values allowed) none too long (``None`` otherwise)."""
    if row is None:
        iso = _iso_coerced(values)
        row = _first_unparseable(values, iso)
    where = ((row, f" holds {quote(_plain(values[row]))}, which is no timestamp") if row is not None
             else (cut(exc),))
    if row is not None and isinstance(values[row], str) and _EPOCH_TEXT.fullmatch(values[row]):
        error = naming_rows(
            WorkloadDataError, f"{name}: cannot parse timestamps (", *where,
            f"): they look like epochs written as text; convert the column with pd.to_numeric(df[{quote(name)}]) (or "
            "write them as JSON numbers) and pass unit=..., e.g. unit='s'."
        )
    else:
        error = naming_rows(
            WorkloadDataError, f"{name}: cannot parse timestamps (", *where,
            "); fix or drop that row, or pass ISO-8601 strings, datetimes or numeric epochs with unit=..."
        )
    error.unparsed_row = row  # a long frame's caller refuses that row's key alone (_key_instants), not looking again
    error.iso_coerced = iso  # ... and reads the other keys' rows from it where they pass the checks (_coerced_rows)
    error.aware_count = aware  # ... which then need not look at every string again
    return error


_EPOCH_TEXT = re.compile(r"\s*[-+]?\d+(\.\d*)?\s*")  # '1715342400', '1715342400.5': an epoch as a string


def _aware_count(strings: Sequence[str]) -> int:
    """How many of ``strings`` carry a UTC offset: one pass in C over the strings joined by line breaks, or, where a
    string holds a line break itself (lines are then not rows), a search per string."""
    joined = "\n".join(strings)
    if joined.count("\n") == len(strings) - 1:
        return len(_OFFSET_SUFFIX_REVERSED.findall("\n" + joined[::-1]))  # at most one match per line
    return sum(bool(_OFFSET_SUFFIX.search(s.strip())) for s in strings)


def _offsets_agree(strings: Sequence[str]) -> bool:
    """Whether all or none of ``strings`` carry a UTC offset."""
    return _aware_count(strings) in (0, len(strings))


def _check_objects(values: np.ndarray, name: str, text: bool, offsets_agree: bool | None = None,
                   aware: int | None = None) -> None:
    """Refuse an object column of timestamps that mixes encodings, holds an absurdly long string, or mixes
    aware and naive stamps, naming the first row at fault.

    A column of strings (``text``: strings and None or NaN only; one endpoint's "n/a" among ISO stamps) is
    checked in C-speed passes, whose answer on the offsets the caller may have (``offsets_agree``, from ``aware``
    strings with an offset, which an error for a value that is no timestamp keeps); only the error it raises looks
    at the strings one by one."""
    numbers = [] if text else [v for v in values if _is_number(v) and not (isinstance(v, float) and np.isnan(v))]
    wide = next((row for row, v in enumerate(values) if isinstance(v, int) and not -2**63 <= v < 2**63), None) \
        if numbers and all(_is_number(v) or _is_missing(v) for v in values) else None
    if wide is not None:  # numbers only, one of them an integer past 64 bits (read as a Python int: an object column)
        raise _past_64_bits(values, wide, name)
    if numbers:
        raise WorkloadDataError(
            f"{name}: the column mixes numbers (e.g. {quote(_plain(numbers[0]))}) with strings or datetimes; use one encoding "
            "for every row (all epochs with unit=..., or all ISO strings / datetimes)."
        )
    if text:  # the strings' lengths in one pass in C
        present = np.flatnonzero(~pd.isna(values))
        long = np.flatnonzero(np.fromiter(map(len, values[present]), dtype=np.int64, count=len(present))
                              > MAX_TIMESTAMP_CHARS)
        too_long = int(present[long[0]]) if len(long) else None
    else:
        too_long = next((row for row, v in enumerate(values) if isinstance(v, str) and len(v) > MAX_TIMESTAMP_CHARS),
                        None)
    if too_long is not None:
        raise naming_rows(
            WorkloadDataError, f"{name}: ", too_long,
            f" holds a string of {len(values[too_long]):,} characters (starting {quote(values[too_long][:30])}), "
            f"longer than any timestamp (at most {MAX_TIMESTAMP_CHARS}); fix or drop that row."
        )
    if text or all(isinstance(v, str) or _is_missing(v) for v in values):
        strings = None if offsets_agree is not None else [v for v in values if isinstance(v, str)]
        if not (offsets_agree if offsets_agree is not None else _offsets_agree(strings)):
            iso = _iso_coerced(values)
            row = _first_unparseable(values, iso)
            if row is not None:  # "hello" carries no offset, but is no timestamp either
                raise _unparseable(values, name, row=row, iso=iso, aware=aware)
            strings = [v for v in values if isinstance(v, str)] if strings is None else strings
            carries = [bool(_OFFSET_SUFFIX.search(s.strip())) for s in strings]
            first = strings[carries.index(False)]
            raise WorkloadDataError(
                f"{name}: some timestamps carry a UTC offset and some do not (e.g. {quote(first)}); "
                "make them all aware or all naive."
            )
    else:
        aware = [getattr(v, "tzinfo", None) is not None for v in values if isinstance(v, _dt.datetime)]
        if any(aware) and not all(aware):
            raise WorkloadDataError(
                f"{name}: timezone-aware and naive datetimes are mixed; make them all aware or all naive."
            )


def _past_64_bits(values: Any, row: int, name: str) -> WorkloadDataError:
    """The error for timestamps ``values`` whose value at ``row`` is an integer past 64 bits."""
    return naming_rows(
        WorkloadDataError, f"{name}: ", row, f" holds {quote(_plain(values[row]))}, an integer past 64 bits: no "
        "epoch in any unit is that large (nanoseconds reach the year 2262 at 9.2e18); fix or drop that row, or "
        "check that the column holds the timestamps.")


def parse_freq(freq: Any, name: str = "freq") -> pd.Timedelta:
    """A positive ``pd.Timedelta`` from '10s', '1min', a Timedelta or a datetime.timedelta."""
    unitless = (is_number(freq) and not isinstance(freq, (bool, np.bool_))) or (
        isinstance(freq, str) and freq.strip().lstrip("+-").replace(".", "", 1).isdigit()) or (
        isinstance(freq, np.timedelta64) and np.datetime_data(freq.dtype)[0] == "generic")
    if unitless:  # pandas reads a span without a unit as nanoseconds: freq=60 would be 60 ns buckets
        number = str(freq).split()[0] if str(freq).split() else "1"  # '5 generic time units': 5
        example = f"'{number}s'" if len(number) <= 12 else "'10s'"
        raise WorkloadDataError(f"{name}={quote(freq)} has no unit (pandas would read it as nanoseconds); pass a "
                                f"duration with its unit, e.g. {name}={example}.")
    try:
        if isinstance(freq, str) and not set(re.findall(r"[A-Za-z]+", freq)) <= _DURATION_UNITS:
            raise ValueError(freq)  # a calendar offset, a word, or a spelling pandas reads with a FutureWarning
        step = pd.Timedelta(pd.tseries.frequencies.to_offset(freq)) if isinstance(freq, str) else pd.Timedelta(freq)
    except OverflowError:  # a count of units past 64 bits (a freq='99999999999999999999s')
        raise WorkloadDataError(f"{name}={quote(freq)} is longer than any duration pandas holds; "
                                "pass a bucket width such as '10s'.") from None
    except (ValueError, TypeError):
        meant = _freq_meant(freq)
        raise WorkloadDataError(f"{name}={quote(freq)} is not a duration; pass e.g. '1s', '10s', '1min', '1h' (weeks "
                                "and months are calendar offsets, not durations)."
                                + (f" Did you mean {name}={meant!r}?" if meant else "")) from None
    if step is pd.NaT or step <= pd.Timedelta(0):
        raise WorkloadDataError(f"{name}={quote(freq)} must be a positive duration such as '10s'.")
    return step


#: The units that pandas 3 reads as a fixed duration without a FutureWarning; pandas 2.2 reads them the same way.
#: Others are calendar offsets ('1W', '1M') or spellings deprecated in pandas 2.2 ('10S', '5T', '2 hours') or in
#: pandas 3 ('1d', '1MIN'), which pandas reads with a FutureWarning (or, after their removal, not at all).
_DURATION_UNITS = frozenset({"D", "h", "min", "Min", "s", "ms", "us", "ns"})

#: Units written as older pandas (``'10S'``, ``'5T'``, ``'1H'``, removed in pandas 3) or in words, and how
#: ``freq`` spells them. ``M`` (months or minutes?) and ``MS`` (month start) are none of them.
_FREQ_UNITS = {"s": "s", "sec": "s", "secs": "s", "second": "s", "seconds": "s", "t": "min", "min": "min",
               "mins": "min", "minute": "min", "minutes": "min", "h": "h", "hr": "h", "hrs": "h", "hour": "h",
               "hours": "h", "d": "D", "day": "D", "days": "D", "l": "ms", "ms": "ms", "millis": "ms", "u": "us",
               "us": "us", "micros": "us", "n": "ns", "ns": "ns"}


def _freq_meant(freq: Any) -> str | None:
    """The ``freq`` a string pandas does not read was probably meant as (``'10S'``: ``'10s'``), or None."""
    found = re.fullmatch(r"\s*(\d+(?:\.\d+)?)?\s*([A-Za-z]+)\s*", freq) if isinstance(freq, str) else None
    unit = _FREQ_UNITS.get(found.group(2).lower()) if found and found.group(2) not in ("M", "MS") else None
    return f"{found.group(1) or 1}{unit}" if unit else None


def infer_freq(index: pd.DatetimeIndex) -> pd.Timedelta:
    """The median step of a sorted index (the bucket width of a bucketed series)."""
    if len(index) < 2:
        raise WorkloadDataError("cannot infer the frequency from fewer than 2 timestamps; pass freq=...")
    steps = np.diff(_instants(index))
    if (steps == steps[0]).all():  # a regular series (the usual case): its one step, without a partition
        return pd.Timedelta(steps[0])
    return pd.Timedelta(np.median(steps))


def _instants(index: pd.DatetimeIndex) -> np.ndarray:
    """A normalised index's UTC instants as numpy ``datetime64[ns]`` (steps between them are Timedelta-exact)."""
    return np.asarray(index.array, dtype="datetime64[ns]")


def future_index(last: pd.Timestamp, freq: pd.Timedelta, steps: int, whole: bool = False) -> pd.DatetimeIndex:
    """``steps`` bucket starts after ``last``, at ``freq``; with ``whole``, refused unless the last bucket also ends
    within the instants int64 nanoseconds hold (a forecast's buckets: ``Forecast`` refuses any other)."""
    try:
        index = pd.date_range(start=last + freq, periods=steps, freq=freq).as_unit("ns")
    except (OverflowError, ValueError, pd.errors.OutOfBoundsDatetime):
        raise _past_the_range(last, freq, steps, whole, "reach past 2262-04-11 23:47:16 UTC") from None
    # Each start is within the range here, so freq is under its span and _LAST_UTC - freq within it too.
    if whole and index[-1] > _LAST_UTC - freq:
        raise _past_the_range(last, freq, steps, whole, f"end past {_LAST_UTC}")
    return index


def _past_the_range(last: pd.Timestamp, freq: pd.Timedelta, steps: int, whole: bool, past: str) -> WorkloadDataError:
    """The error of ``steps`` buckets of ``freq`` after ``last`` that would ``past`` the last instant int64
    nanoseconds hold, naming the most that fit (that start within it, or with ``whole`` also end within it): counted
    in Python's integers, as the span from ``last`` to the end of the range may itself be past what they hold."""
    fit = steps_within_range(last, freq, whole)
    advice = (f"forecast at most {plural(fit, 'step')}" if fit else
              f"no bucket of {duration_text(freq)} after it fits: are its timestamps right?")
    return WorkloadDataError(
        f"{plural(steps, 'bucket')} of {duration_text(freq)} after {last.isoformat()} would {past}, the last "
        f"nanosecond timestamp; {advice} (numeric epochs are read in the unit their magnitude implies: pass unit=... "
        "to read them in another).")


def steps_within_range(last: pd.Timestamp, freq: pd.Timedelta, whole: bool = True) -> int:
    """How many buckets of ``freq`` after ``last`` start within the instants int64 nanoseconds hold (with ``whole``,
    also end within them: the most a forecast from ``last`` may have), counted in Python's integers, as the span from
    ``last`` to the end of the range may itself be past what they hold."""
    span = epoch_ns(_LAST_UTC) - epoch_ns(last)
    return max(span // int(freq // ONE_NS) - (1 if whole else 0), 0)


_LAST_UTC = pd.Timestamp.max.tz_localize("UTC")


@dataclass(frozen=True)
class BucketedSeries:
    """A validated, regular, sorted series: what every model is fitted on."""

    index: pd.DatetimeIndex  # UTC, ns, regular at ``freq``
    values: np.ndarray  # float64 (n, k), finite, non-negative; a copy of the user's data
    targets: tuple[str, ...]
    freq: pd.Timedelta


DEFAULT_MAX_GAP = 1000  # buckets update() zero-fills at most (see WorkloadPredictor's max_gap)


def gap_buckets(gap: Any, freq: pd.Timedelta) -> int | None:
    """``max_gap`` as a number of buckets of width ``freq`` (``None``: no bound); a typed error if invalid.

    A span is divided by the bucket width, rounded down ('90s' at 1-minute buckets: 1); a span shorter than one
    bucket is refused (no missing bucket could be zero-filled, so every update after one would be refused: a span
    meant for other buckets, or a slip; ``max_gap=0`` says that on purpose)."""
    if gap is None:
        return None
    if is_integer(gap) and gap >= 0:
        return int(gap)
    unitless = (isinstance(gap, str) and gap.strip().lstrip("+-").isdigit()) or (
        isinstance(gap, np.timedelta64) and np.datetime_data(gap.dtype)[0] == "generic")
    if unitless:  # pandas reads a span without a unit as nanoseconds: '3' would zero-fill no bucket at all
        raise WorkloadDataError(f"max_gap={quote(gap)} has no unit: pass a number of buckets as an int (e.g. "
                                "max_gap=3) or a span with its unit (e.g. max_gap='3min').")
    if isinstance(gap, (str, pd.Timedelta, np.timedelta64)):
        try:
            span = pd.Timedelta(gap)
        except (TypeError, ValueError):
            span = pd.NaT
        if span is not pd.NaT and span >= pd.Timedelta(0):
            if pd.Timedelta(0) < span < freq:
                raise WorkloadDataError(
                    f"max_gap={quote(gap)} is shorter than one bucket ({duration_text(freq)}): no missing bucket "
                    "could be zero-filled, so every update after one would be refused. Pass a span of at least one "
                    f"bucket (e.g. max_gap='{duration_text(freq).replace(' ', '')}'), a number of buckets, or "
                    "max_gap=0 to refuse every gap.")
            return int(span // freq)
    raise WorkloadDataError(
        f"max_gap={quote(gap)} must be a number of buckets >= 0, a span such as '1h', or None for no bound."
    )


#: ``fit``'s target when none is named: a bucketed frame's request counts.
DEFAULT_TARGET = "requests"


def as_target_list(target: str | Sequence[str]) -> list[str]:
    """``target`` as a list of distinct column names, each a plain ``str`` (a numpy array's ``np.str_`` too, as a
    model file gives them back), or a :class:`WorkloadDataError`."""
    if isinstance(target, str):
        return [str(target)]
    targets = list(target) if isinstance(target, (list, tuple, pd.Index, pd.Series, np.ndarray)) else []
    if not targets or not all(isinstance(t, str) for t in targets):
        raise WorkloadDataError(f"target={quote(target)}: pass a column name (a str) or a list of them; give "
                                "columns with other labels str names first.")
    if len(set(targets)) != len(targets):
        raise WorkloadDataError(f"target={quote(target)} names a column twice; name each once.")
    return [str(t) for t in targets]


def prepare_series(
    data: pd.DataFrame | pd.Series,
    *,
    timestamp: str | None = "timestamp",
    target: str | Sequence[str] = "requests",
    freq: Any = None,
    unit: str | None = None,
    origin: Any = None,
    tz: Any = None,
) -> BucketedSeries:
    """Validate an already-bucketed series and return it sorted, regular and normalised.

    ``data`` is a DataFrame with a ``timestamp`` column (or, with ``timestamp=None``
    or a missing column, a DatetimeIndex), or a Series with a DatetimeIndex.
    """
    stamps, values, targets = _rows(data, timestamp, target)
    with _row_numbers_are_no_times(stamps, unit, data):
        index = to_utc_index(stamps, unit=unit, origin=origin, tz=tz)
    if len(index) > 1:
        check_span(index.min(), index.max(), unit=unit)
        index, values = _sorted_unique(index, values)
    step = parse_freq(freq) if freq is not None else infer_freq(index)
    _check_regular(index, step)
    return BucketedSeries(index=index, values=values, targets=targets, freq=step)


def missing_targets_error(columns: pd.Index, wanted: list, missing: list) -> WorkloadDataError:
    """The error of an update frame without the fitted target columns ``missing`` (of ``wanted``)."""
    return WorkloadDataError(f"no target column {quote(missing[0])} (columns: {quote_columns(columns)}): update needs "
                             f"every fitted target column ({quote(wanted)}); add {quote(missing)}.")


def no_timestamp_error(timestamp: Any, columns: pd.Index) -> WorkloadDataError:
    """The error of a frame without the column ``timestamp`` names (and no DatetimeIndex)."""
    return WorkloadDataError(f"no timestamp column {quote(timestamp)} (columns: {quote_columns(columns)}); pass "
                             "timestamp=<column name>, or use a DatetimeIndex and timestamp=None."
                             + alike_column_hint(columns, timestamp, "timestamp"))


def alike_column_hint(columns: Any, name: Any, parameter: str) -> str:
    """The sentence a missing column's message adds where a column of ``columns`` differs from ``name`` only in
    case or spelling (``TIMESTAMP`` for ``timestamp``, ``Requests`` for ``requests``), naming it as the one to pass
    as ``parameter=``; else ``""``."""
    alike = columns_by_key(columns).get(column_key(name))
    if alike is None:
        return ""
    return f" Column {quote(alike)} differs only in case or spelling: pass {parameter}={quote(alike)}."


def prepare_continuation(
    data: pd.DataFrame | pd.Series,
    *,
    last: pd.Timestamp,
    freq: pd.Timedelta,
    timestamp: str | None = "timestamp",
    target: str | Sequence[str] = "requests",
    unit: str | None = None,
    origin: Any = None,
    max_gap: Any = None,
    tz: Any = None,
) -> "Continuation":
    """Rows that continue a fitted series ending at ``last`` (UTC), on its ``freq`` grid: what ``update`` gets.

    The same checks as :func:`prepare_series`, then :func:`continue_series`. Timestamps
    stay numpy ``datetime64[ns]`` (UTC): ``update`` runs every few seconds, and a
    DatetimeIndex costs tens of microseconds per operation.
    """
    wanted = [target] if isinstance(target, str) else list(target)
    check_unit(unit)  # before the datetime column's short path, which reads no unit
    if isinstance(data, pd.DataFrame):
        check_flat_columns(data)
    # The common frame first: it holds every target (a fresh frame's ``name in data`` builds its columns' hash table).
    # Its short path reads no unit or origin: given, the general path reads them, and refuses them beside datetimes.
    read = _datetime_frame_rows(data, timestamp, target) if origin is None and unit is None and tz is None else None
    if read is None:
        missing = [name for name in wanted if name not in data] if isinstance(data, pd.DataFrame) else []
        if missing:  # the update's own message: it has no ``target`` to pass
            raise missing_targets_error(data.columns, wanted, missing)
        stamps, values, _ = _rows(data, timestamp, target, empty=_EMPTY_UPDATE)
        with _row_numbers_are_no_times(stamps, unit, data):
            instants = utc_instants(stamps, unit=unit, origin=origin, tz=tz)
    else:
        instants, values = read
    rows = None  # each instant's row in data, where sorting moved them
    if len(instants) > 1:  # one row (an update every few seconds) is sorted and unique
        instants, values, rows = _sorted_unique_instants(instants, values)
    return continue_series(instants, values, last, freq, max_gap=max_gap, rows=rows)


@contextlib.contextmanager
def _row_numbers_are_no_times(stamps: Any, unit: str | None, data: Any) -> Iterator[None]:
    """Words the error of a Series or frame whose timestamps are its default index (``fit(frame["requests"])``):
    row numbers 0, 1, 2 ... are no epoch, and the fix is a DatetimeIndex, not the ``unit=`` the epoch error advises.
    """
    try:
        yield
    except WorkloadDataError:
        if unit is not None or not isinstance(stamps, pd.RangeIndex):
            raise
        kind = type(data).__name__
        raise WorkloadDataError(
            f"the index of the {kind} holds row numbers ({stamps[0]} to {stamps[-1]}), not timestamps: give it "
            "a DatetimeIndex (data.index = pd.to_datetime(...)), or pass a DataFrame with a timestamp column and "
            "timestamp=<its name>.") from None


# An update of no rows: the predictor's update appends at least one bucket (a fleet's takes no rows as no key's).
_EMPTY_UPDATE = ("the update holds no rows; pass the buckets after the last one, and skip the call while no new "
                 "bucket has closed.")


def _rows(data: Any, timestamp: str | None, target: str | Sequence[str],
          empty: str = "the input is empty; pass a series with at least one bucket per row.",
          ) -> tuple[Any, np.ndarray, tuple[str, ...]]:
    """The timestamps (as given), the target values (a checked float copy) and the target names of ``data``
    (``empty``: the message for a frame or series of no rows)."""
    if isinstance(data, pd.Series):
        # A Series is one target: its name, or ``target`` when it has none. A name that differs from a target the
        # caller chose is refused (``fit``'s default "requests" leaves a named Series its name).
        wanted = [target] if isinstance(target, str) else list(target) if isinstance(target, (list, tuple)) else []
        if len(wanted) > 1:  # fitting one column as if it were all, or update's model erring deep inside
            raise WorkloadDataError(
                f"a Series holds one target, but target={quote(wanted)} names {len(wanted)}: pass a DataFrame with "
                "a column for each of them (and the timestamps as a column or a DatetimeIndex).")
        if isinstance(data.name, str) and wanted and data.name not in wanted and target != DEFAULT_TARGET:
            raise WorkloadDataError(
                f"the Series is named {quote(data.name)}, not {quote(target if isinstance(target, str) else wanted)}: "
                f"rename it (series.rename({quote(wanted[0])})) or pass the target it holds.")
        name = data.name if isinstance(data.name, str) else (target if isinstance(target, str) else "y")
        frame = data.to_frame(name=name)
        targets = [name]
        stamps = frame.index
    elif isinstance(data, pd.DataFrame):
        check_flat_columns(data)
        if timestamp is not None:
            check_label(timestamp, "timestamp", "timestamp")
        targets = as_target_list(target)
        frame = data
        stamps = frame.get(timestamp) if timestamp is not None else None  # one column lookup, not two
        if stamps is None and (timestamp is None or isinstance(frame.index, pd.DatetimeIndex)):
            stamps = frame.index
        elif stamps is None:
            raise no_timestamp_error(timestamp, frame.columns)
    else:
        raise WorkloadDataError(
            f"expected a pandas DataFrame or Series, got {type(data).__name__}; "
            "wrap your data in pd.DataFrame(...) first."
        )
    if len(frame) == 0:
        raise WorkloadDataError(empty)
    if isinstance(stamps, pd.MultiIndex):  # pandas cannot read it as one column (a bare NotImplementedError)
        raise WorkloadDataError(
            f"the index is a MultiIndex (levels {quote(list(stamps.names))}), not one column of timestamps: keep "
            "only the time level (data.droplevel(...)), or move it to a column (data.reset_index()) and pass "
            "timestamp=<that column>.")
    return stamps, _target_matrix(frame, targets), tuple(targets)


def _datetime_frame_rows(data: Any, timestamp: str | None,
                         target: str | Sequence[str]) -> tuple[np.ndarray, np.ndarray] | None:
    """:func:`_rows` then :func:`utc_instants` for the common update frame, read from its columns' arrays.

    The common frame: a DataFrame whose ``timestamp`` column holds datetimes without a
    missing stamp and whose targets hold numbers in range, plain numpy ones or objects
    (read as :func:`_numbers` reads them). Building a Series
    per column costs tens of microseconds each, most of a one-row frame's trip through
    the door; the arrays the frame stores are what those Series would hand over. Returns
    the UTC ``datetime64[ns]`` instants and the float64 ``(n, k)`` targets, exactly what the
    general path returns, or ``None`` for anything else (including every input the
    general path refuses), which the general path then reads, checks and words.
    """
    if type(data) is not pd.DataFrame or not isinstance(timestamp, str) or len(data) == 0:
        return None  # (MultiIndex columns: refused by prepare_continuation, the only caller, before it asks)
    column_array = getattr(data, "_get_column_array", None)  # pandas' own per-column read (it has no public one)
    if column_array is None:
        return None
    targets = as_target_list(target)  # the first check the general path makes of a frame
    columns = list(data.columns)  # a fresh frame's Index builds its hash table on the first lookup: a list is cheaper
    try:
        if len(set(columns)) != len(columns) or not all(name in columns for name in (timestamp, *targets)):
            return None  # a repeated column name or a missing one: the general path words it
    except (TypeError, ValueError):  # labels that do not hash or compare as plain names
        return None
    positions = [columns.index(name) for name in (timestamp, *targets)]
    stamps = column_array(positions[0])
    if not isinstance(stamps, pd.arrays.DatetimeArray) or len(stamps) != len(data):
        return None
    instants = _datetime_array_instants(stamps)
    if instants is None:
        return None
    matrix = []
    for position in positions[1:]:
        column = column_array(position)
        if not (isinstance(column, np.ndarray) and column.dtype.kind in "iufO" and column.shape == (len(data),)):
            return None
        if column.dtype.kind == "O":  # numbers (or number text) as objects: a concat of per-endpoint frames
            try:
                array = _object_numbers(column, columns[position], False)  # as _numbers reads it, a new array
            except WorkloadDataError:  # a value that is no number: the general path words it
                return None
        else:
            array = np.array(column, dtype=np.float64)  # as _target_matrix copies a numpy column
        if not ((array >= 0) & (array <= MAX_VALUE)).all():
            return None
        matrix.append(array)
    return instants, matrix[0][:, None] if len(matrix) == 1 else np.column_stack(matrix)


def _sorted_unique(index: pd.DatetimeIndex, values: np.ndarray) -> tuple[pd.DatetimeIndex, np.ndarray]:
    """Rows sorted by time (stable); a repeated timestamp is an error. ``index`` is UTC (from :func:`to_utc_index`)."""
    instants, values, _ = _sorted_unique_instants(np.asarray(index.array, dtype="datetime64[ns]"), values)
    return pd.DatetimeIndex(instants).tz_localize("UTC"), values


@dataclass(frozen=True)
class Continuation:
    """New buckets continuing a fitted series: every bucket from the one after its end to ``last``."""

    values: np.ndarray  # float64 (n, k): the rows' values on the grid, zero where no row came
    last: pd.Timestamp  # UTC: the newest bucket
    gap: int = 0  # the zero-filled buckets before the first row
    missing: np.ndarray | None = None  # (rows,) the zero-filled buckets before each row (None: none between rows)

    def jump(self, threshold: int) -> tuple[int, int] | None:
        """The jump far ahead these buckets make: the newest run of more than ``threshold`` zero-filled buckets
        between two rows, else the gap before the first row where it is longer. Returns the buckets before the jump
        (0 for the gap before the first row; else up to the row before the run: the update's rows before the jump)
        and the run's length; ``None`` where there is none."""
        if self.missing is not None and len(self.missing) > 1:
            over = np.flatnonzero(self.missing[1:] > threshold)
            if len(over):
                row = int(over[-1]) + 1
                return int(np.sum(self.missing[:row] + 1)), int(self.missing[row])
        return (0, self.gap) if self.gap > threshold else None

    def rows_after(self, buckets: int) -> int:
        """The rows among these buckets after the first ``buckets`` (a zero-filled bucket is no row)."""
        if self.missing is None:  # the rows fill every bucket after the gap before the first
            return len(self.values) - max(buckets, self.gap)
        return int(np.count_nonzero(np.cumsum(self.missing + 1) > buckets))  # each row's bucket, counted from 1

    def head(self, buckets: int, freq: pd.Timedelta) -> "Continuation":
        """The first ``buckets`` buckets, as their own continuation (a copy: the rest is not held)."""
        return Continuation(values=self.values[:buckets].copy(), last=self.last - (len(self.values) - buckets) * freq,
                            gap=self.gap)


def continue_series(instants: np.ndarray, values: np.ndarray, last: pd.Timestamp, freq: pd.Timedelta,
                    max_gap: Any = None, rows: np.ndarray | None = None) -> Continuation:
    """New buckets (``instants``: sorted, unique, UTC ``datetime64[ns]``) that continue a series ending at ``last``.

    Every bucket from ``last + freq`` to the newest one is present; those the rows
    do not mention are zero (no requests arrived, as :func:`bucketize` counts them).
    Rows at or before ``last`` or off the grid are an error: the past is changed by
    refitting, not by appending. A run of more than ``max_gap`` missing buckets (from
    ``last`` or between rows; ``None``: no bound) is an :class:`UpdateGapError`, raised
    before anything is allocated for it. ``max_gap`` is the setting as the user gave it (buckets, or a span
    that :func:`gap_buckets` divides by ``freq``); the error speaks its unit. Each error names the row it refuses
    (:func:`naming_rows`): its position in the caller's rows, ``rows[i]`` for the
    ``i``-th instant (``None``: the instants are in the caller's order).
    """
    given, max_gap = max_gap, gap_buckets(max_gap, freq)
    end = last.as_unit("ns").to_datetime64()  # UTC
    # Timedelta arithmetic in numpy's timedelta64[ns] on the UTC wall times. A row 292 years or more from ``last``
    # (1700 for a series of 2024) is past what int64 nanoseconds hold: its difference wraps to the other sign (numpy
    # 2.4 and before) or raises OverflowError (2.5), so the extreme rows are measured first.
    for at in (0, len(instants) - 1):  # the earliest and the newest row
        if centuries_from(instants[at], end):
            raise _centuries_apart(instants, at, rows, last, "before" if instants[at] < end else "after")
    elapsed = instants - end
    if instants[0] <= end:
        error = naming_rows(
            UpdateOrderError, f"new bucket {_utc_isoformat(instants[0])} at ", _row_of(rows, 0), " is not after the last "
            f"fitted bucket {last.isoformat()}: update() appends buckets that continue the series (drop rows already "
            "seen, or refit with fit()).")
        error.first, error.last = pd.Timestamp(instants[0]).tz_localize("UTC"), last
        raise error
    position, remainder = np.divmod(elapsed, np.timedelta64(freq.to_timedelta64(), "ns"))
    off_grid = np.flatnonzero(remainder)  # the rows with a nonzero remainder
    if len(off_grid):
        at = int(off_grid[0])
        raise naming_rows(
            WorkloadDataError, f"new bucket {_utc_isoformat(instants[at])} at ", _row_of(rows, at), " is off the fitted grid "
            f"(every {duration_text(freq)} from {last.isoformat()}); bucketize the new requests with the same freq "
            "and origin as the fitted series."
        )
    n_buckets = int(position[-1])  # position 1 is the bucket right after ``last``
    if max_gap is not None and n_buckets > len(instants) + max_gap:  # the missing buckets could form a long run
        missing = np.diff(position, prepend=0) - 1  # buckets without a row before each row
        longest = int(np.argmax(missing))
        if missing[longest] > max_gap:
            after, between = int(missing[longest]) + 1, int(missing[longest])
            where = "last fitted bucket" if longest == 0 else "previous row"
            if is_integer(given):  # buckets given: the gap in buckets
                found = (f"is {after:,} buckets after the {where} (buckets of {duration_text(freq)}): the "
                         f"{plural(between, 'bucket')} between would be zero-filled, more than max_gap={max_gap}.")
            else:  # a span given: the gap as a span, its bucket count beside it
                span_text = quote(given) if isinstance(given, str) else duration_text(given)
                found = (f"is {duration_text(after * freq)} after the {where} ({after:,} buckets of "
                         f"{duration_text(freq)}): the {duration_text(between * freq)} between "
                         f"({plural(between, 'bucket')}) would be zero-filled, more than max_gap={span_text} "
                         f"({plural(max_gap, 'bucket')}).")
            finding = naming_rows(UpdateGapError, f"new bucket {_utc_isoformat(instants[longest])} at ",
                                  _row_of(rows, longest), f" {found}")
            error = UpdateGapError(
                f"{finding} A clock-skewed or stray row? Drop it (the predictor is unchanged and accepts the next "
                "correct row), refit after a long outage, or raise max_gap (None disables the bound).", str(finding))
            error.rows, error._row_spans = finding.rows, finding._row_spans
            raise error
    if n_buckets == len(instants):  # no gap: the rows are the buckets
        return Continuation(values=values, last=last + n_buckets * freq)
    check_memory("zero-filling new buckets", extra_bytes=8.0 * n_buckets * (values.shape[1] + 1))
    filled = np.zeros((n_buckets, values.shape[1]))
    filled[position - 1] = values
    missing = np.diff(position, prepend=0) - 1
    return Continuation(values=filled, last=last + n_buckets * freq, gap=int(missing[0]),
                        missing=missing if len(missing) > 1 and missing[1:].any() else None)


#: The epoch and one nanosecond in numpy's units: instants' nanoseconds since the epoch, ``(t - NS_EPOCH) // ONE_NS``.
NS_EPOCH, ONE_NS = np.datetime64(0, "ns"), np.timedelta64(1, "ns")


def epoch_ns(instant: Any) -> int:
    """An instant's nanoseconds since the epoch as a Python integer (a ``Timestamp``, aware or naive, or a
    ``datetime64``): spans between two of them, or to the ends of pandas' range, then never overflow."""
    if isinstance(instant, pd.Timestamp):
        instant = instant.as_unit("ns").to_datetime64()
    return int((instant - NS_EPOCH) // ONE_NS)


def centuries_from(instant: Any, end: Any) -> bool:
    """Whether ``instant`` and ``end`` (datetime64[ns]) lie 2**63 nanoseconds (292 years) or more apart, where their
    difference is past what timedelta64[ns] holds: each one's nanoseconds since the epoch (within int64, so no
    overflow), compared as Python integers. Two instants on the same side of 1970 (most) are always nearer."""
    if (instant < NS_EPOCH) == (end < NS_EPOCH):
        return False
    return abs(epoch_ns(instant) - epoch_ns(end)) >= 2**63


def _centuries_apart(instants: np.ndarray, at: int, rows: np.ndarray | None, last: pd.Timestamp,
                     word: str) -> WorkloadDataError:
    """The error for the ``at``-th new row, 292 years or more ``word`` ("before", "after") ``last``: one before it an
    :class:`UpdateOrderError`, as every row at or before the last bucket is (its ``first`` and ``last`` set)."""
    error = naming_rows(
        UpdateOrderError if word == "before" else WorkloadDataError, f"new bucket {_utc_isoformat(instants[at])} at ",
        _row_of(rows, at), f" is 292 years or more {word} the last fitted bucket {last.isoformat()}: a stray row (a "
        "clock or a parse gone wrong)? Drop it: the series is unchanged and accepts the next correct row.")
    if word == "before":
        error.first, error.last = pd.Timestamp(instants[at]).tz_localize("UTC"), last
    return error


def _row_of(rows: np.ndarray | None, i: int) -> int:
    """The caller's row of the ``i``-th sorted instant (``rows``: :func:`continue_series`')."""
    return int(i if rows is None else rows[i])


def _utc_isoformat(instant: np.datetime64) -> str:
    return pd.Timestamp(instant).tz_localize("UTC").isoformat()


def _sorted_unique_instants(instants: np.ndarray,
                            values: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Rows sorted by time (stable), for UTC ``datetime64[ns]`` instants; a repeated timestamp is an error. With
    the order that sorted them (each sorted row's position as given), ``None`` where they were in order."""
    order = None
    if (instants[1:] < instants[:-1]).any():
        order = np.argsort(instants, kind="stable")
        instants, values = instants[order], values[order]
    repeated = np.flatnonzero(instants[1:] == instants[:-1])
    if len(repeated):
        at = int(repeated[0])
        rows = (at, at + 1) if order is None else (int(order[at]), int(order[at + 1]))  # as given (stable: in order)
        raise naming_rows(
            WorkloadDataError, f"duplicate timestamp {_utc_isoformat(instants[at])} at ", rows[0], " and ", rows[1],
            ": a bucketed series has one row per bucket. For a request log (one row per request), call "
            "workload_predictor.bucketize(...) first."
        )
    return instants, values, order


def _no_target(frame: pd.DataFrame, name: str) -> str:
    """The message for a missing target column ``name``: a frame without the ``requests`` count that holds a
    request log's token columns is most likely a request log, to bucketize first; a column named as ``name`` in
    another case or spelling (``Requests``) is named as the one to pass."""
    message = f"no target column {quote(name)} (columns: {quote_columns(frame.columns)}); pass target=<column>."
    hint = alike_column_hint(frame.columns, name, "target")
    if hint:
        message += hint
    elif name == "requests" and token_columns(frame.columns):
        message += (" This looks like a request log (one row per request, token columns): count its requests per "
                    "bucket first, with workload_predictor.bucketize(log, freq='10s').")
    return message


def _target_matrix(frame: pd.DataFrame, targets: list[str]) -> np.ndarray:
    """The target columns as a new float64 ``(n, k)`` array: numbers, finite, in ``[0, MAX_VALUE]``."""
    columns = []
    for name in targets:
        array = _numbers(frame, name)
        if not ((array >= 0) & (array <= MAX_VALUE)).all():  # NaN fails both: one pass for the common case
            _refuse_values(name, array)
        columns.append(array)
    return columns[0][:, None] if len(columns) == 1 else np.column_stack(columns)


def _refuse_values(name: str, array: np.ndarray) -> None:
    """The error for the first kind of bad value in ``array``: non-finite, negative or too large."""
    bad = ~np.isfinite(array)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise naming_rows(
            WorkloadDataError, f"target column {quote(name)} holds {quote(float(array[row]))} at ", row,
            f" ({plural(int(bad.sum()), 'non-finite value')}); drop or fill them explicitly first."
        )
    if (array < 0).any():
        row = int(np.flatnonzero(array < 0)[0])
        raise naming_rows(
            WorkloadDataError, f"target column {quote(name)} holds a negative value ({quote(float(array[row]))} at ",
            row, "); workload counts are non-negative: fix the data."
        )
    row = int(np.flatnonzero(array > MAX_VALUE)[0])
    raise naming_rows(
        WorkloadDataError, f"target column {quote(name)} holds {array[row]:g} at ", row,
        f", above {MAX_VALUE:g}: no request or token count per bucket is that large (and squares of such values "
        "overflow); check the units or the parsing, or rescale the column."
    )


def _check_regular(index: pd.DatetimeIndex, step: pd.Timedelta) -> None:
    if len(index) < 2:
        return
    gaps = np.diff(_instants(index))
    off = np.flatnonzero(gaps != step.to_timedelta64())
    if len(off):
        i = int(off[0])
        raise WorkloadDataError(
            f"irregular spacing: {index[i].isoformat()} -> {index[i + 1].isoformat()} is "
            f"{duration_text(gaps[i])}, not the bucket width {duration_text(step)} "
            f"({plural(len(off), 'irregular step')}). For a request log or a series with missing buckets, call "
            "workload_predictor.bucketize(...) first (it fills empty buckets with zeros)."
        )


def bucketize(
    log: pd.DataFrame,
    timestamp: str = "TIMESTAMP",
    freq: Any = "1s",
    unit: str | None = None,
    origin: Any = None,
    sums: Mapping[str, str] | None = None,
    count: str = "requests",
    max_buckets: int = 10_000_000,
    by: str | None = None,
    common_grid: bool = True,
    tz: Any = None,
) -> pd.DataFrame:
    """Turn a request log (one row per request) into a regular bucketed frame.

    Every bucket from the first request's to the last request's is present; empty
    buckets are zero. The buckets are anchored at the Unix epoch: each starts a whole
    number of ``freq`` after 1970-01-01 00:00 UTC, whatever the first request's time
    or ``origin`` (a width that divides a day starts its buckets at UTC midnight; two
    logs bucketized at one width share their grid). The log is not modified.

    Parameters
    ----------
    log : pandas.DataFrame
        One row per request.
    timestamp : str
        The arrival-time column, in any encoding :meth:`WorkloadPredictor.fit` accepts.
    freq : str or pandas.Timedelta
        The bucket width, e.g. ``"1s"``, ``"10s"``, ``"1min"``.
    unit, origin :
        For numeric timestamps, as for :meth:`WorkloadPredictor.fit`.
    sums : mapping of str to str or None
        Output column -> log column summed per bucket. ``None``: the log's token
        columns (:func:`token_columns`: ``input_tokens``, the Azure trace's
        ``ContextTokens``, ...) become ``input_tokens``/``output_tokens``. Each value
        must be a number in ``[0, 1e18]``: a missing one (NaN) is an error, not a zero.
    count : str
        Name of the requests-per-bucket column.
    max_buckets : int
        The most rows the result may have: a longer span (e.g. one stray timestamp
        decades away) is an error rather than gigabytes of empty buckets.
    by : str or None
        A key column (model, endpoint, tenant): the result is then a long frame with
        that column first, one zero-filled grid per key, sorted by key and time (a
        categorical's keys in its categories' order; keys that do not sort, in the
        order they first appear).
    common_grid : bool
        With ``by``: ``True`` (default) gives every key the same buckets, from the
        first request of the whole log to its last; ``False`` gives each key its own
        first to last request (each key's rows then equal ``bucketize`` of that key's
        requests alone).
    tz : str or None
        The zone of naive wall-clock timestamps (e.g. ``'America/New_York'``), as for
        :meth:`WorkloadPredictor.fit`; the buckets are UTC's.

    Returns
    -------
    pandas.DataFrame
        Columns ``timestamp`` (UTC bucket start, ``datetime64[ns, UTC]``), ``count``
        (int64) and one per entry of ``sums`` (with ``by``, the key column first). A
        sum of whole numbers is int64 and exact (2**53 + 1 tokens stay 2**53 + 1),
        unless a bucket's total passes int64 (about 9.2e18): then the column is
        float64, as is a sum of values with a fraction.

    Raises
    ------
    WorkloadDataError
        Missing columns, unparsable or out-of-range timestamps, a bad ``freq``, a
        summed value that is missing, negative or above 1e18, or more than
        ``max_buckets`` buckets (or, as its subclass ``MemoryLimitError``, more
        than the machine's available memory holds).
    """
    if not is_positive_int(max_buckets):
        raise WorkloadDataError(f"max_buckets={quote(max_buckets)} must be a positive integer.")
    if sums is not None and (not isinstance(sums, Mapping) or not all(
            isinstance(name, str) and isinstance(column, str) for name, column in sums.items())):
        raise WorkloadDataError(f"sums={quote(sums)} must map output names to log columns, e.g. "
                                "{'input_tokens': 'ContextTokens'}.")
    if not isinstance(count, str) or not count:  # an output name, as the keys of sums (None would name a column None)
        raise WorkloadDataError(f"count={quote(count)} must be the name (a str) of the requests-per-bucket column, "
                                "e.g. count='requests'.")
    if sums is not None and "" in sums:  # a column without a name: no CSV header or CLI option can name it back
        raise WorkloadDataError(f"sums={quote(sums)} maps an empty output name; name every output column, e.g. "
                                "{'input_tokens': 'ContextTokens'}.")
    check_label(timestamp, "timestamp", "TIMESTAMP")
    check_label(by, "by", "model")
    if not isinstance(common_grid, (bool, np.bool_)):  # a truthy "False" would put every key on one grid
        raise WorkloadDataError(f"common_grid={quote(common_grid)} must be True or False.")
    if by is not None:
        return _bucketize_by(log, by, timestamp, freq, unit, origin, sums, count, max_buckets, common_grid, tz)
    if not isinstance(log, pd.DataFrame):
        raise WorkloadDataError(f"bucketize expects a DataFrame request log, got {type(log).__name__}.")
    check_flat_columns(log)
    if timestamp not in log.columns:
        raise WorkloadDataError(
            f"no timestamp column {quote(timestamp)} in the log (columns: {quote_columns(log.columns)}); "
            "pass timestamp=<column name>." + alike_column_hint(log.columns, timestamp, "timestamp")
        )
    if len(log) == 0:
        raise WorkloadDataError("the request log is empty; it needs at least one request.")
    if sums is None:
        sums = token_columns(log.columns)
    _check_count_column(log, count, sums)
    names = ["timestamp", count, *sums]
    clash = next((name for name in names if names.count(name) > 1), None)
    if clash is not None:  # one would silently overwrite the other (e.g. token sums in the timestamp column)
        raise WorkloadDataError(
            f"bucketize would write two columns named {quote(clash)}: 'timestamp', count={quote(count)} and the keys of "
            f"sums={quote(dict(sums))} must all differ; rename one."
        )
    width = parse_freq(freq)
    stamps = to_utc_index(log[timestamp], unit=unit, origin=origin, tz=tz, name=timestamp)
    check_span(stamps.min(), stamps.max(), timestamp, unit)
    try:
        start = stamps.min().floor(width)
    except (OverflowError, ValueError, pd.errors.OutOfBoundsDatetime):  # the first bucket starts before 1677
        raise _out_of_range(timestamp, unit) from None
    # Bucket number of each request: Timedelta floor division, no epoch integers.
    codes = np.asarray((stamps - start) // width, dtype=np.int64)
    n_buckets = int(codes.max()) + 1
    if n_buckets > max_buckets:
        raise WorkloadDataError(
            f"the log spans {duration_text(stamps.max() - stamps.min())} from {stamps.min().isoformat()}: "
            f"{n_buckets:,} buckets of {duration_text(width)}, over max_buckets={max_buckets}. Check for stray "
            f"timestamps{_unit_hint(unit)}, pass a coarser freq, or raise max_buckets."
        )
    check_memory("bucketize", extra_bytes=8.0 * n_buckets * (2 + len(sums)), advice=_BUCKETIZE_ADVICE)
    out = {"timestamp": pd.date_range(start=start, periods=n_buckets, freq=width)}
    out[count] = np.bincount(codes, minlength=n_buckets).astype(np.int64)
    for name, column in sums.items():
        if column not in log.columns:
            raise WorkloadDataError(f"sums names column {quote(column)}, which the log lacks; fix sums={quote(dict(sums))}.")
        out[name] = _bucket_sums(log, column, codes, n_buckets)
    result = pd.DataFrame(out)
    result["timestamp"] = pd.DatetimeIndex(result["timestamp"]).as_unit("ns")
    return result


#: The largest bucket total summed as int64: int64's limit less 0.1 %, more than the rounding of a float64 sum of
#: fewer than 10**12 values, which decides whether a total passes it.
_INT64_SUMS = 0.999 * 2.0**63


def _bucket_sums(log: pd.DataFrame, column: str, buckets: np.ndarray, n_buckets: int) -> np.ndarray:
    """The values of the log's ``column`` (checked as token counts, messages naming that column) summed into
    ``n_buckets`` buckets, row ``i`` into ``buckets[i]``.

    Whole numbers (an integer column, or floats with no fraction) give int64 sums, exact: while every total is
    below 2**53 float64's own sums are, beyond that the column's integers are summed as int64 (an int64 column's
    2**53 + 1 is not rounded to a float's 2**53 on the way). A total past int64 (about 9.2e18) makes the column
    float64 rather than wrap; fractional values give float64 sums.
    """
    weights = _target_matrix(log[[column]], [column])[:, 0]
    totals = np.bincount(buckets, weights=weights, minlength=n_buckets)
    if not np.all(np.mod(weights, 1) == 0):
        return totals
    largest = totals.max(initial=0.0)
    if largest < 2.0**53:  # every partial sum a whole number float64 holds exactly
        return totals.astype(np.int64)
    if largest >= _INT64_SUMS:
        return totals
    exact = np.zeros(n_buckets, dtype=np.int64)
    np.add.at(exact, buckets, _whole_numbers(log[column], weights))
    return exact


def _whole_numbers(column: pd.Series, weights: np.ndarray) -> np.ndarray:
    """A token column of whole numbers (checked: ``weights``, its float64 reading, holds each in ``[0, MAX_VALUE]``)
    as int64: an integer column's own integers (float64 rounds those past 2**53), else ``weights``'."""
    dtype = column.dtype
    if pd.api.types.is_integer_dtype(dtype) or (pd.api.types.is_object_dtype(dtype)
                                                and pd.api.types.infer_dtype(column, skipna=False) == "integer"):
        return np.asarray(column.to_numpy(), dtype=np.int64)  # a nullable column holds no <NA> here: checked
    return weights.astype(np.int64)


def check_label(value: Any, what: str, example: str) -> None:
    """A typed error unless ``value`` (the argument ``what``) can be one column's label: a list (``["model"]``) would
    fail deep in pandas' column lookup."""
    try:
        hash(value)
    except TypeError:
        raise WorkloadDataError(f"{what}={quote(value)} must be one column name, e.g. {what}={example!r}.") from None


def check_flat_columns(frame: pd.DataFrame) -> None:
    """Refuse a frame whose columns are a MultiIndex: a column name would select several columns (or none)."""
    if isinstance(frame.columns, pd.MultiIndex):
        raise WorkloadDataError(
            f"the columns are a MultiIndex ({frame.columns.nlevels} levels, e.g. {quote(frame.columns[0])}), not one "
            "name per column: flatten them first, e.g. frame.columns = ['_'.join(map(str, c)) for c in "
            "frame.columns], then name the columns you want.")


def _check_count_column(log: pd.DataFrame, count: str, sums: Mapping[str, str]) -> None:
    """Refuse a log that already has a column named ``count`` which no entry of ``sums`` reads: bucketize counts
    rows, so a bucketed series' counts (one row per bucket, ``requests`` = 40) would be replaced by its rows per
    new bucket without a word."""
    if count in log.columns and count not in sums.values():
        raise WorkloadDataError(
            f"the log has a column {quote(count)}, which bucketize would not read: it counts rows (one per request) "
            f"into {quote(count)}. To re-bucket a bucketed series, sum its counts: bucketize(series, freq=..., "
            f"count='rows', sums={{{quote(count)}: {quote(count)}, ...}}); for a request log, rename that column "
            "or pass count=<another name>."
        )


# What a bucketize too large for the memory left can change (max_buckets was raised past what the machine holds).
_BUCKETIZE_ADVICE = "Check for stray timestamps, pass a coarser freq, or a lower max_buckets"


def _unit_hint(unit: str | None) -> str:
    """What a span too long for ``max_buckets`` says of the epoch unit: the given ``unit`` may be wrong; without
    one, the caller may pass one."""
    if unit is not None:
        return f" (or a wrong unit={unit!r})"
    return " (or numeric epochs of another unit than their magnitude implies: pass unit=...)"


def _bucketize_by(log: Any, by: str, timestamp: str, freq: Any, unit: str | None, origin: Any,
                  sums: Mapping[str, str] | None, count: str, max_buckets: int, common_grid: bool,
                  tz: Any = None) -> pd.DataFrame:
    """:func:`bucketize` with a key column: one zero-filled bucket grid per key, in one long frame."""
    if not isinstance(log, pd.DataFrame):
        raise WorkloadDataError(f"bucketize expects a DataFrame request log, got {type(log).__name__}.")
    check_flat_columns(log)
    for column, what in ((by, "by"), (timestamp, "timestamp")):
        if column not in log.columns:
            raise WorkloadDataError(
                f"no {what} column {quote(column)} in the log (columns: {quote_columns(log.columns)}); "
                f"pass {what}=<column name>."
            )
    if len(log) == 0:
        raise WorkloadDataError("the request log is empty; it needs at least one request.")
    if sums is None:
        sums = token_columns(log.columns)
    _check_count_column(log, count, sums)
    names = [by, "timestamp", count, *sums]
    clash = next((name for name in names if names.count(name) > 1), None)
    if clash is not None:
        raise WorkloadDataError(
            f"bucketize would write two columns named {quote(clash)}: by={quote(by)}, 'timestamp', count={quote(count)} and the "
            f"keys of sums={quote(dict(sums))} must all differ; rename one."
        )
    missing = next((column for column in sums.values() if column not in log.columns), None)
    if missing is not None:
        raise WorkloadDataError(f"sums names column {quote(missing)}, which the log lacks; fix sums={quote(dict(sums))}.")
    codes, keys = factorize_keys(log[by], by)
    width = parse_freq(freq)
    stamps = to_utc_index(log[timestamp], unit=unit, origin=origin, tz=tz, name=timestamp)
    check_span(stamps.min(), stamps.max(), timestamp, unit)
    try:
        floor = np.asarray(stamps.floor(width).array, dtype="datetime64[ns]")  # UTC wall times
    except (OverflowError, ValueError, pd.errors.OutOfBoundsDatetime):  # a bucket starts before 1677
        raise _out_of_range(timestamp, unit) from None
    if common_grid:
        starts = np.full(len(keys), floor.min())
    else:
        starts = np.full(len(keys), np.datetime64("NaT", "ns"))
        np.fmin.at(starts, codes, floor)
    step = width.to_timedelta64()
    bucket = ((floor - starts[codes]) // step).astype(np.int64)
    lengths = np.zeros(len(keys), dtype=np.int64)
    np.maximum.at(lengths, codes, bucket + 1)
    if common_grid:
        lengths[:] = lengths.max()
    # Summed as Python integers: a key spans up to 2**63 buckets (292 years of 1 ns), so an int64 sum over the keys
    # could wrap, to a negative total that passes the bound or a wrong figure in the message.
    total = sum(lengths.tolist())
    if total > max_buckets:
        raise WorkloadDataError(
            f"{plural(len(keys), 'key')} x their spans of {duration_text(width)} buckets make {total:,} rows, over "
            f"max_buckets={max_buckets}. Check for stray timestamps{_unit_hint(unit)}, pass a coarser freq, "
            "common_grid=False, or raise max_buckets."
        )
    check_memory("bucketize by key", extra_bytes=8.0 * total * (3 + len(sums)), advice=_BUCKETIZE_ADVICE)
    first_row = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    rows = first_row[codes] + bucket
    position = np.arange(total) - np.repeat(first_row, lengths)
    instants = np.repeat(starts, lengths) + position * step
    out = {by: keys.take(np.repeat(np.arange(len(keys)), lengths)),
           "timestamp": pd.DatetimeIndex(instants).tz_localize("UTC").as_unit("ns")}
    out[count] = np.bincount(rows, minlength=total).astype(np.int64)
    for name, column in sums.items():
        out[name] = _bucket_sums(log, column, rows, total)
    return pd.DataFrame(out)


def factorize_keys(column: pd.Series, name: str, missing_ok: bool = False,
                   infinite_ok: bool = False) -> tuple[np.ndarray, pd.Index]:
    """Codes ``0..K-1`` per row and the ``K`` keys, sorted where they sort; a missing key (code ``-1`` with
    ``missing_ok``), a key that cannot be hashed (a list, a dict), a key column that appears twice (``column`` a
    frame), a boolean key beside the number it equals (``True`` and ``1``, one key to pandas) and an infinite key
    (kept with ``infinite_ok``: a fleet's update, to which it is an unknown key, that key's error alone) are errors.
    Numbers that are equal are one key (``1`` and ``1.0``)."""
    if isinstance(column, pd.DataFrame):
        raise WorkloadDataError(f"key column {quote(name)} appears {column.shape[1]} times; rename the duplicates "
                                "(or drop them) so that one column holds the keys.")
    try:
        if _tuples_beside_text(column):  # pandas would sort the text as the tuple of its characters (deprecated)
            raise TypeError("tuples beside text")
        codes, keys = pd.factorize(column, sort=True)
    except (TypeError, UnicodeEncodeError):  # keys of mixed types (one's text pandas cannot sort): as first seen
        try:
            codes, keys = pd.factorize(column, sort=False)
        except TypeError:  # a key that cannot be hashed: named (searched only once factorising has failed)
            _refuse_unhashable(column, name)
            raise
    text = column.dtype == object and pd.api.types.infer_dtype(keys, skipna=True) == "string"
    if column.dtype == object and not text:
        _refuse_booleans_beside_numbers(column, codes, keys, name)
    if not text and not infinite_ok:
        _refuse_infinite(column, codes, keys, name)
    if not missing_ok and (codes < 0).any():
        row = int(np.flatnonzero(codes < 0)[0])
        raise in_frame(naming_rows(WorkloadDataError, f"key column {quote(name)} is missing at ", row,
                                   "; give every row a key (or drop it)."), column.index)
    return codes, pd.Index(keys)


def _tuples_beside_text(column: pd.Series) -> bool:
    """Whether the key column ``column`` holds tuples beside text (``str`` or ``bytes``): pandas sorts such keys as
    tuples, each text as the tuple of its characters, padded to the longest with NaN (``Pandas4Warning``: to
    raise in a future pandas). Only a column of objects whose types pandas reads as ``"mixed"`` is looked at."""
    if column.dtype != object or pd.api.types.infer_dtype(column, skipna=True) != "mixed":
        return False
    tuples = text = False
    for value in column.array:
        tuples = tuples or isinstance(value, tuple)
        text = text or isinstance(value, (str, bytes))
        if tuples and text:
            return True
    return False


def _refuse_infinite(column: pd.Series, codes: np.ndarray, keys: Any, name: str) -> None:
    """A typed error where a key of ``column`` (factorized as ``codes`` and ``keys``, each key once) is an infinite
    number: no output writes it back (JSON has no infinity; ``--out`` wrote ``inf`` and ``-inf`` both as ``null``)."""
    index = pd.Index(keys)
    if pd.api.types.is_float_dtype(index.dtype):
        infinite = np.isinf(index.to_numpy(dtype=np.float64, na_value=np.nan))
    elif index.dtype == object:
        infinite = np.fromiter((isinstance(v, (float, np.floating)) and math.isinf(v) for v in index), dtype=bool,
                               count=len(index))
    else:
        return
    if infinite.any():
        row = int(np.flatnonzero(codes == int(np.flatnonzero(infinite)[0]))[0])
        raise in_frame(naming_rows(WorkloadDataError,
                                   f"key column {quote(name)} holds {quote(_plain(column.array[row]))} at ", row,
                                   ": a key must be finite (no output writes an infinite one back); fix or drop that "
                                   "row."), column.index)


def _refuse_booleans_beside_numbers(column: pd.Series, codes: np.ndarray, keys: Any, name: str) -> None:
    """A typed error where one key of ``column`` (objects, factorized as ``codes`` and ``keys``) holds a boolean and
    a number both (``True`` and ``1``, which hash and compare alike): a JSON file's tenants ``true`` and ``1`` would
    be counted as one. Only the rows of a key equal to 0 or 1 are looked at."""
    for code in np.flatnonzero(pd.Index(keys).isin([0, 1])):  # a hash lookup per key (a fleet's update is hot)
        rows = np.flatnonzero(codes == code)
        values = column.array[rows]
        booleans = np.fromiter((isinstance(v, (bool, np.bool_)) for v in values), dtype=bool, count=len(values))
        if booleans.any() and not booleans.all():
            flag, number = int(rows[np.argmax(booleans)]), int(rows[np.argmin(booleans)])
            raise in_frame(naming_rows(
                WorkloadDataError,
                f"key column {quote(name)} holds {quote(_plain(column.array[flag]))} (a boolean) at ", flag,
                f" and {quote(_plain(column.array[number]))} (a number) at ", number,
                ", which would be one key (they are equal in Python and pandas): convert the column, e.g. "
                f"data[{quote(name)}] = data[{quote(name)}].astype(str)."), column.index)


def _refuse_unhashable(column: pd.Series, name: str) -> None:
    """A typed error naming the first key of ``column`` that cannot be hashed, if any."""
    for row, value in enumerate(column.array):
        try:
            hash(value)
        except TypeError:
            raise in_frame(naming_rows(
                WorkloadDataError, f"key column {quote(name)} holds {quote(value)} at ", row,
                f", a {type(value).__name__}, which cannot be a key (keys are text, numbers, timestamps or tuples of "
                f"them): convert the column, e.g. data[{quote(name)}] = data[{quote(name)}].astype(str)."),
                column.index) from None


@dataclass(frozen=True)
class KeySeries:
    """One key's regular series, as the fleet's workers get it: cheap to build and to send to another process."""

    key: Any
    start: np.datetime64  # UTC wall time (ns) of the first bucket
    freq: pd.Timedelta
    values: np.ndarray  # float64 (n, k), finite, in [0, MAX_VALUE]

    @property
    def last(self) -> pd.Timestamp:
        return pd.Timestamp(self.start).tz_localize("UTC") + (len(self.values) - 1) * self.freq

    def to_bucketed(self, targets: tuple[str, ...]) -> BucketedSeries:
        instants = self.start + np.arange(len(self.values)) * self.freq.to_timedelta64()
        index = pd.DatetimeIndex(instants).tz_localize("UTC").as_unit("ns")
        return BucketedSeries(index=index, values=self.values, targets=targets, freq=self.freq)


def split_by_key(
    data: pd.DataFrame,
    *,
    key: str,
    timestamp: str = "timestamp",
    target: str | Sequence[str] = "requests",
    freq: Any = None,
    unit: str | None = None,
    origin: Any = None,
    missing_ok: bool = False,
) -> tuple[list[KeySeries], dict[Any, WorkloadDataError], tuple[str, ...]]:
    """A long frame (a key column, timestamps, targets) as one validated series per key.

    The checks are :func:`prepare_series`'s, run once over the whole frame for the
    columns (their names, the timestamps' encoding, the targets' dtypes: those raise)
    and per key for the values (a key whose series :func:`prepare_series` refuses is
    returned in the errors with that error, and the other keys are kept; so is a key whose
    timestamps hold a value that does not parse, see :func:`_key_instants`). Returns the
    good keys' series, the refused keys' errors and the target names. Rows without a key raise, or with
    ``missing_ok`` are left out and reported in the errors under the key ``None`` (:func:`keyless_error`).
    """
    if not isinstance(data, pd.DataFrame):
        raise WorkloadDataError(
            f"expected a long pandas DataFrame (a key column, a timestamp column, targets), got {type(data).__name__}."
        )
    check_flat_columns(data)
    targets = tuple(as_target_list(target))
    on_index = timestamp is None and isinstance(data.index, pd.DatetimeIndex)  # as a predictor's fit reads it
    for column, what in ((key, "key"), (timestamp, "timestamp")):
        if on_index and what == "timestamp":
            continue
        check_label(column, what, what)
        if column not in data.columns:
            raise WorkloadDataError(
                f"no {what} column {quote(column)} (columns: {quote_columns(data.columns)}); pass {what}=<column>."
            )
    if len(data) == 0:
        raise WorkloadDataError("the input is empty; pass at least one row per key.")
    codes, keys = factorize_keys(data[key], key, missing_ok=missing_ok)
    errors = keyless_error(codes, key, "fitted", index=data.index)
    index, kept = data.index, None  # the caller's rows, which errors name (kept: the positions of those read)
    if errors:  # the other rows, copied out (the caller's frame is never written)
        kept = np.flatnonzero(codes >= 0)
        data, codes = data.iloc[codes >= 0], codes[codes >= 0]
    try:
        stamps = data.index.to_series(index=data.index) if on_index else data[timestamp]
        instants, unparsed = _key_instants(stamps, codes, unit, origin, "timestamp" if on_index else timestamp)
    except WorkloadDataError as exc:
        raise in_frame(exc, index, kept) from None
    # One target: a column view (each key's rows are copied out below; the caller's data is never written).
    # A key's value that is no number (an object column) is NaN here: that key alone goes to the door, which words it.
    values = _numbers(data, targets[0], True)[:, None] if len(targets) == 1 else np.column_stack(
        [_numbers(data, name, True) for name in targets])
    step = parse_freq(freq) if freq is not None else None
    order = _key_time_order(codes, instants)
    bounds = np.searchsorted(codes if order is None else codes[order], np.arange(len(keys) + 1))
    good = ((values >= 0) & (values <= MAX_VALUE)).all(axis=1)
    series = []
    faulty = keys.dtype == object  # only objects hold text or tuples (a str column's text encodes)
    for i, name in enumerate(keys.tolist()):
        rows = slice(bounds[i], bounds[i + 1]) if order is None else order[bounds[i] : bounds[i + 1]]
        fault = key_fault(name, key) if faulty else None
        if fault is not None:  # that key alone (its first row named), as a key whose values the door refuses
            first = int(np.flatnonzero(codes == i)[0])
            errors[name] = in_frame(naming_rows(WorkloadDataError, f"key column {quote(key)} holds {quote(name)} at ",
                                                first, f": {fault}"), index, kept)
            continue
        stamps = instants[rows]
        steps = np.diff(stamps)
        regular = len(stamps) > 1 and bool((steps == steps[0]).all()) and steps[0] > np.timedelta64(0, "ns")
        if regular and step is not None:
            regular = steps[0] == step.to_timedelta64()
        if regular and good[rows].all() and i not in unparsed:
            series.append(KeySeries(name, stamps[0], step if step is not None else pd.Timedelta(steps[0]),
                                    values[rows].copy() if order is None else values[rows]))
            continue
        try:  # the door itself words the error (or accepts what the quick check could not vouch for)
            checked = prepare_series(data.iloc[rows], timestamp=timestamp, target=list(targets), freq=freq, unit=unit,
                                     origin=origin)
        except WorkloadDataError as exc:
            errors[name] = in_frame(exc, index, rows if kept is None else kept[rows])
            continue
        start = np.asarray(checked.index.array, dtype="datetime64[ns]")[0]
        series.append(KeySeries(name, start, checked.freq, checked.values))
    return series, errors, targets


def key_fault(name: Any, column: Any) -> str | None:
    """Why the fleet key ``name`` (of the key column ``column``) cannot be kept (the rest of the message naming it,
    with the fix), or ``None``.

    Text holding half of a UTF-16 surrogate pair (``json.loads`` of ``"\\ud800"``): no UTF-8 output writes it,
    and pandas (its str dtype, on Arrow) fails on it in any index or column of keys (the fleet's forecast, health).
    A tuple holding NaN: NaN equals nothing, so the same key given again in another row is another key to
    every lookup by key (an update's rows, a loaded file's keys) but pandas' grouping. An infinite number (which
    :func:`factorize_keys` refuses, but for a fleet's update: no fit holds one)."""
    if isinstance(name, (float, np.floating)) and math.isinf(name):
        return "a key must be finite (no output writes an infinite one back); fix or drop its rows."
    parts, nan = [name], False
    while parts:
        part = parts.pop()
        if isinstance(part, str):
            if not part.isascii():
                try:
                    part.encode("utf-8")
                except UnicodeEncodeError:
                    return ("text with half a character (a lone UTF-16 surrogate, such as a JSON escape "
                            "\\ud800 without its pair), which no output can write: write the character whole or "
                            f"drop the escape, e.g. data[{quote(column)}] = data[{quote(column)}].map(lambda k: k.encode("
                            "'utf-8', 'backslashreplace').decode()).")
        elif isinstance(part, tuple):
            parts.extend(part)
        elif part is not name and isinstance(part, (float, np.floating)) and math.isnan(part):
            nan = True
    if nan:
        return ("a tuple holding NaN, which equals nothing: an update's rows of that key would not find it; fill "
                "the missing part (e.g. with None or \"\") or drop those rows.")
    return None


def keyless_error(codes: np.ndarray, key: Any, done: str, strict: bool = False, index: pd.Index | None = None) -> dict:
    """The error for a long frame's rows without a key (code ``-1``), under the key ``None`` (no key is ``None``:
    pandas reads it as missing), or none. Those rows are left out and the other keys ``done`` ("fitted", "updated"):
    one endpoint's malformed row must not hold back a fleet's fit or update. ``strict``: the error is raised, and
    the message says that nothing was ``done``. ``index``: the frame's, to name its first such row as the frame's
    (:func:`in_frame`)."""
    missing = np.flatnonzero(codes < 0)
    if not len(missing):
        return {}
    outcome = (f"nothing was {done} (strict=True)" if strict else
               f"those rows were left out and the other keys {done}")
    error = naming_rows(WorkloadDataError, f"key column {quote(key)} is missing at {plural(len(missing), 'row')} "
                        "(the first: ", int(missing[0]), f"); {outcome}: give every row a key (or drop the rows "
                        "without one).")
    return {None: error if index is None else in_frame(error, index)}


def in_frame(error: WorkloadDataError, index: pd.Index, positions: Any = None) -> WorkloadDataError:
    """``error``, raised on some rows of a caller's frame (``positions``: their positions in it, an array or a
    slice; ``None``: the frame's own rows), with each row it names written as the frame's, in place: "row 7 of the
    frame", a position from 0 (``DataFrame.iloc``), with the row's label in ``index`` (the frame's) beside it where
    that is not the position itself (``(index label 'x')``). Its ``rows`` become those positions. An error naming
    no row, or named so already, is left as it is; returns it. Only a refused row costs this."""
    if not error.rows or getattr(error, "_in_frame", False):
        return error
    at = range(len(index))[positions] if isinstance(positions, slice) else positions
    rows = tuple(int(at[row]) if at is not None else row for row in error.rows)
    texts = []
    for row in rows:
        label = _plain(index[row])
        same = is_integer(label) and label == row  # a default index (0, 1, 2 ...) at that row
        texts.append(f"row {row} of the frame" + ("" if same else f" (index label {quote(label)})"))
    renamed_rows(error, texts)
    error.rows, error._in_frame = rows, True
    return error


#: Keys a long frame's timestamp column may refuse one by one for a value that does not parse (each costs a parse of
#: the column); past them, the column's own error is raised.
MAX_UNPARSED_KEYS = 16


def _key_instants(column: pd.Series, codes: np.ndarray, unit: str | None, origin: Any,
                  name: str) -> tuple[np.ndarray, set[int]]:
    """The UTC instants of a long frame's timestamp ``column`` (:func:`utc_instants`), and the codes of the keys whose
    rows hold a missing stamp or a value that is no timestamp (a column of strings or objects: one endpoint's "n/a"),
    their rows NaT.

    The column is parsed whole, as one encoding; where it does not parse for a missing stamp or
    a value that is no timestamp, that row's key is left out and the others' rows are parsed
    again, together (at most ``MAX_UNPARSED_KEYS`` times), or read from the failed parse's ISO
    pass where that gives what their own parse would (:func:`_coerced_rows`). Any other error is the column's.
    """
    rows, unparsed, first, iso, aware = None, set(), None, None, None
    while True:
        part = column if rows is None else column.iloc[rows]
        parsed = None
        if iso is not None and unit is None and origin is None:
            whole = None
            if aware is not None:  # the left-out keys' rows, to take their offsets off the column's count
                left_out = np.ones(len(column), dtype=bool)
                left_out[rows] = False
                whole = (aware, column[left_out].to_numpy(dtype=object))
            parsed = _coerced_rows(part, iso[rows], name, whole)
        try:
            if parsed is None:
                parsed = utc_instants(part, unit=unit, origin=origin, name=name) if len(part) else part.to_numpy()
        except WorkloadDataError as exc:
            if first is None:  # the whole column's: its rows are the frame's
                first, iso = exc, exc.__dict__.pop("iso_coerced", None)
                aware = exc.__dict__.pop("aware_count", None)
            bad = None
            if len(unparsed) < MAX_UNPARSED_KEYS:  # a missing stamp first (the door refuses it in any dtype)
                missing = np.flatnonzero(part.isna().to_numpy())
                text = pd.api.types.is_string_dtype(part.dtype)  # object or str: strings, datetimes, ...
                found = getattr(exc, "unparsed_row", None)  # where the parse found the value at fault
                bad = (int(missing[0]) if len(missing) else found if found is not None
                       else _first_unparseable(part.to_numpy(dtype=object)) if text else None)
            if bad is None:
                raise first from None
            unparsed.add(int(codes[bad if rows is None else rows[bad]]))
            rows = np.flatnonzero(~np.isin(codes, list(unparsed)))
            continue
        if rows is None:
            return parsed, unparsed
        instants = np.full(len(column), np.datetime64("NaT", "ns"))
        instants[rows] = parsed
        return instants, unparsed


def _coerced_rows(part: pd.Series, iso: pd.DatetimeIndex, name: str,
                  whole: tuple[int, np.ndarray] | None = None) -> np.ndarray | None:
    """The instants of the timestamps ``part`` (some keys' rows of a long frame's column) read from ``iso``, the
    whole column's ISO pass (:func:`_iso_coerced`) at those rows, where that is what :func:`utc_instants` would
    return for them; else ``None`` (the caller parses them).

    That holds where ``part`` takes :func:`_from_objects`' ISO path: strings only, none missing or too
    long, all or none carrying a UTC offset, each read by the ISO pass (which reads each value on its own).
    ``whole``: where the column's parse found it strings (or missing) none too long, how many of them carry an
    offset and the values of the rows ``part`` leaves out; ``part``'s strings then are not looked at again (the
    left-out rows' are counted and taken off).
    """
    if len(part) == 0 or iso.hasnans or part.dtype != object and not isinstance(part.dtype, pd.StringDtype):
        return None
    if whole is not None:  # none of part's rows is missing (iso has no NaT): strings, none too long
        aware, left_out = whole
        aware -= _aware_count(left_out[~pd.isna(left_out)])
        if aware not in (0, len(part)):
            return None
        values = part.array
    else:
        values = part.to_numpy(dtype=object)
        if (pd.api.types.infer_dtype(values, skipna=False) != "string"
                or max(map(len, values)) > MAX_TIMESTAMP_CHARS or not _offsets_agree(values)):
            return None
    try:
        return np.asarray(_normalised(pd.DatetimeIndex(iso), values, name).array, dtype="datetime64[ns]")
    except WorkloadDataError:
        return None


def _key_time_order(codes: np.ndarray, instants: np.ndarray) -> np.ndarray | None:
    """The rows' order by key, then time (``np.lexsort``, stable), or ``None`` when they already are in it.

    A long frame usually arrives sorted (``bucketize(by=...)`` writes it so): each key's
    rows together, their times increasing. Checking that is two passes over the rows;
    the sort it saves took seconds at 10,000,000 rows.
    """
    if len(codes) > 1 and bool((codes[1:] >= codes[:-1]).all()):
        same_key = codes[1:] == codes[:-1]
        if bool((instants[1:] > instants[:-1])[same_key].all()):
            return None
    elif len(codes) <= 1:
        return None
    return np.lexsort((instants, codes))


def _numbers(frame: pd.DataFrame, name: str, not_numbers_missing: bool = False) -> np.ndarray:
    """A target column as a new float64 array (NaN where missing): its name and dtype checked, not its values.

    An object column (a frame built by concatenating per-key frames, one of which held a
    string or ``None``) is read as numbers: numbers (``Decimal`` too) as they are, missing
    values NaN; a value that is no number (among numbers, a string, even "12"; a bool) is
    an error naming it, or NaN with ``not_numbers_missing`` (a long frame's caller then
    refuses only the keys whose rows hold one). A column of text (pandas' string dtype, or
    an object column of strings only: what ``pd.read_csv`` makes of a count column one
    cell of which is no number) is read as ``pd.read_csv`` reads numbers
    (:func:`_text_numbers`); its text that is no number is such a value.
    """
    column = frame.get(name)
    if column is None:
        raise WorkloadDataError(_no_target(frame, name))
    if isinstance(column, pd.DataFrame):
        raise WorkloadDataError(f"target column {quote(name)} appears more than once; rename the duplicates.")
    dtype = column.dtype
    if isinstance(dtype, np.dtype) and dtype.kind in "iuf":  # plain numpy numbers: a float64 copy
        return np.array(column.to_numpy(), dtype=np.float64)
    if isinstance(dtype, np.dtype) and dtype.kind == "O":
        return _object_numbers(column.to_numpy(), name, not_numbers_missing)
    if isinstance(dtype, pd.StringDtype):
        return _text_numbers(column.to_numpy(dtype=object), name, not_numbers_missing, dtype)
    if (pd.api.types.is_bool_dtype(dtype) or pd.api.types.is_complex_dtype(dtype)
            or not pd.api.types.is_numeric_dtype(dtype)):
        raise WorkloadDataError(
            f"target column {quote(name)} has dtype {dtype}, not numbers; convert it with pd.to_numeric(...) first."
        )
    return column.to_numpy(dtype="float64", na_value=np.nan)  # nullable extension dtypes: <NA> becomes NaN


def _not_numbers(name: str, dtype: Any, values: np.ndarray, wrong: np.ndarray, text: bool = False) -> WorkloadDataError:
    """The error for the values of target column ``name`` at the rows ``wrong`` (not empty), which are no number."""
    row = int(wrong[0])
    return naming_rows(
        WorkloadDataError,
        f"target column {quote(name)} has dtype {dtype}, not numbers: it holds {quote(values[row])} at ", row,
        f" ({plural(len(wrong), 'value')} {'is' if len(wrong) == 1 else 'are'} no number"
        f"{'; the other text reads as numbers' if text else ''}); convert it with "
        f"pd.to_numeric(data[{quote(name)}], errors='coerce') and drop or fill the rows that become NaN, or fix "
        "the data at its source."
    )


#: A decimal number written as text ("12", " -1.5e3 "), which pandas' to_numeric reads whatever its magnitude: ASCII
#: digits and spaces only, as pandas reads them ("7\x1f", "7\xa0" or "\u0667" is no number to pandas, and float()
#: refuses the first and reads the others).
_DECIMAL_TEXT = re.compile(r"\s*[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?\s*", re.ASCII)


def to_numbers(values: pd.Series) -> pd.Series:
    """``pd.to_numeric(values, errors="coerce")``, a number written as text past float's range ("1e400", a corrupt
    count of 400 digits) read as ``inf`` (``-inf``) on every pandas: pandas 3 reads it so, pandas 2.2 as NaN, which
    would call it no number. Only the values pandas coerced to NaN are looked at again, one by one."""
    parsed = pd.to_numeric(values, errors="coerce")
    dtype = parsed.dtype
    if isinstance(dtype, np.dtype) and (dtype.kind != "f" or not np.isnan(parsed.to_numpy()).any()):
        return parsed  # the common column: every value read (a check in numpy, a fraction of pandas' isna)
    lost = np.flatnonzero(np.asarray(parsed.isna()) & np.asarray(values.notna()))
    overflow = [row for row in lost if isinstance(values.iloc[row], str) and _DECIMAL_TEXT.fullmatch(values.iloc[row])]
    if not overflow:
        return parsed
    # a new, writable array (a nullable Int64 holds no inf; pandas 3 may hand out a read-only view)
    fixed = np.array(parsed.to_numpy(dtype=np.float64, na_value=np.nan), dtype=np.float64)
    fixed[overflow] = [float(values.iloc[row]) for row in overflow]
    return pd.Series(fixed, index=parsed.index, name=parsed.name)


def _text_numbers(values: np.ndarray, name: str, not_numbers_missing: bool, dtype: Any = "object") -> np.ndarray:
    """The object array ``values`` of strings and missing values (target column ``name``, of ``dtype``) as a new
    float64 array, each string read as ``pd.read_csv`` reads a number (``pd.to_numeric``: "12", " 7 ", "1e3"); a
    string that reads as no number ("ERR", "n/a", "nan", "1,000") is an error naming it, or NaN with
    ``not_numbers_missing`` (see :func:`_numbers`)."""
    parsed = to_numbers(pd.Series(values, dtype=object, copy=False))
    out = np.array(parsed.to_numpy(dtype=np.float64, na_value=np.nan), dtype=np.float64)  # a new array
    wrong = np.flatnonzero(np.isnan(out) & ~pd.isna(values))
    if len(wrong):
        if not not_numbers_missing:
            raise _not_numbers(name, dtype, values, wrong, text=True)
        out[wrong] = np.nan
    return out


def _object_numbers(values: np.ndarray, name: str, not_numbers_missing: bool) -> np.ndarray:
    """The object array ``values`` of target column ``name`` as a new float64 array (see :func:`_numbers`)."""
    kind = pd.api.types.infer_dtype(values, skipna=True)
    if kind in ("integer", "floating", "mixed-integer-float"):
        try:
            return values.astype(np.float64)  # numbers and NaN only: one pass in C
        except (TypeError, ValueError, OverflowError):  # None or pd.NA among them, or an int past float: below
            pass
    elif kind == "string":  # text only (and missing values)
        return _text_numbers(values, name, not_numbers_missing)
    numbers = np.fromiter((_is_number(v) for v in values), dtype=bool, count=len(values))
    missing = np.fromiter((_is_missing(v) or v is pd.NA for v in values), dtype=bool, count=len(values))
    wrong = np.flatnonzero(~(numbers | missing))
    if len(wrong) and not not_numbers_missing:
        raise _not_numbers(name, "object", values, wrong)
    out = np.full(len(values), np.nan)
    out[numbers] = [_as_float(v) for v in values[numbers]]
    return out


def _as_float(value: Any) -> float:
    """A number as a float; a Python int past float's range (a corrupt counter read from a CSV as 400 digits) is
    ``inf``, which the value checks then refuse, as they refuse ``Decimal("1e400")`` and the string "1e400"."""
    try:
        return float(value)
    except OverflowError:
        return math.inf if value > 0 else -math.inf
