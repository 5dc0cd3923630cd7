"""From a forecast to a synthetic request log that a serving simulator can replay.

Each future bucket gets ``Poisson(forecast)`` requests at uniformly random instants
inside it (a Poisson process whose rate is constant within the bucket). Token
lengths are drawn, jointly per request (so prompt and output lengths keep their
correlation), from the empirical distribution of recent requests; where the
forecast also predicted token totals, the lengths in each bucket are scaled so
that they add up to the forecast total for that bucket (split evenly where no
lengths are known; a bucket that draws no request carries none of its tokens).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ._memory import check_memory
from .data import MAX_VALUE, TOKEN_COLUMNS, token_columns
from .errors import WorkloadDataError, is_positive_int, plural, quote, quote_columns

QUANTITIES = ("yhat", "lower", "upper")
#: Most synthetic requests one call draws (a log of 100,000,000 requests is gigabytes of CSV); a forecast that
#: draws more is refused before anything is allocated for its requests.
MAX_REQUESTS = 100_000_000
#: Memory a drawn request takes while the log is built (its arrival, bucket, token draws and their rounding,
#: the frame and its sorted copy): what :func:`~workload_predictor._memory.check_memory` is told per request.
REQUEST_BYTES = 256
#: Every name a token column goes by (:data:`TOKEN_COLUMNS`): a target of that name counts tokens, not requests.
_TOKEN_NAMES = frozenset(name for names in TOKEN_COLUMNS.values() for name in names)


def length_sample(forecast, lengths: pd.DataFrame | None, recent: int | None) -> pd.DataFrame | None:
    """Per-request ``input_tokens``/``output_tokens`` to draw from, or None if nothing says.

    From ``lengths`` (a request log: one row per request, the last ``recent`` rows),
    else from the forecast's history as tokens per request of each non-empty bucket
    (coarser: bucket means vary less than single requests).
    """
    if lengths is not None:
        if not isinstance(lengths, pd.DataFrame) or len(lengths) == 0:
            raise WorkloadDataError("lengths must be a non-empty request log DataFrame (one row per request).")
        rows = lengths if recent is None else lengths.iloc[-recent:]
        columns = token_columns(rows.columns)
        if not columns:
            raise WorkloadDataError(
                f"lengths has no token column (columns: {quote_columns(rows.columns)}); name them one of "
                f"{', '.join(TOKEN_COLUMNS['input_tokens'])} / {', '.join(TOKEN_COLUMNS['output_tokens'])}."
            )
        sample = {}
        for out, column in columns.items():
            values = pd.to_numeric(rows[column], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
            # Missing, text, negative or above MAX_VALUE (1e20 tokens has no int64 value to round to): refused,
            # naming the first such row (a position in lengths) of the rows drawn from.
            bad = np.flatnonzero(~((values >= 0) & (values <= MAX_VALUE)))
            if len(bad):
                row = int(bad[0])
                value = rows[column].iloc[row]
                raise WorkloadDataError(
                    f"lengths column {quote(column)} holds "
                    f"{quote(value.item() if isinstance(value, np.generic) else value)} at row "
                    f"{len(lengths) - len(rows) + row} ({plural(len(bad), 'such value')} among the rows drawn from), "
                    f"no token count (a number in 0 .. {MAX_VALUE:g}); drop or fix those rows."
                )
            sample[out] = values
        return pd.DataFrame(sample)
    history = forecast.history
    if history is None or "requests" not in history.columns:
        return None
    counted = token_columns(history.columns)  # {"input_tokens": column, ...}, as a request log's are found
    if not counted:
        return None
    requests = pd.to_numeric(history["requests"], errors="coerce").to_numpy(float, na_value=np.nan)
    busy = np.flatnonzero(requests > 0)
    if len(busy) == 0:
        return None
    sample = {}
    for out, column in counted.items():
        values = pd.to_numeric(history[column], errors="coerce").to_numpy(float, na_value=np.nan)[busy]
        # A hand-built history's NaN, text, negative or 1e30 tokens would round to 1 token per request, unsaid.
        bad = np.flatnonzero(~((values >= 0) & (values <= MAX_VALUE)))
        if len(bad):
            row = int(busy[bad[0]])
            value = history[column].iloc[row]
            raise WorkloadDataError(
                f"the forecast's history column {quote(column)} holds "
                f"{quote(value.item() if isinstance(value, np.generic) else value)} in its bucket of "
                f"{history.index[row].isoformat()} ({plural(len(bad), 'such bucket')} with requests), no token count "
                f"(a number in 0 .. {MAX_VALUE:g}): build the Forecast with a history of token counts, or pass "
                "lengths=<request log>."
            )
        sample[out] = values / requests[busy]
    return pd.DataFrame(sample)


def round_to_totals(values: np.ndarray, groups: np.ndarray, totals: np.ndarray) -> np.ndarray:
    """Integers close to ``values`` whose sum per group equals ``round(totals[group])``.

    Largest-remainder rounding: floor every value, then give one more to the values
    with the largest fractional parts until each group's total is reached. The sums are
    taken in int64: above 2**53 float64 steps by more than one token, and the values,
    scaled in float64, need not add up to the total there; what is left (a few tokens) goes
    to the group's largest value.
    """
    floor = np.floor(values)
    fraction = values - floor
    order = np.lexsort((-fraction, groups))  # by group, largest fraction first
    sorted_groups = groups[order]
    first_of_group = np.searchsorted(sorted_groups, sorted_groups, side="left")
    rank = np.arange(len(order)) - first_of_group
    whole = floor.astype(np.int64)
    starts = np.flatnonzero(rank == 0)
    floor_sums = np.zeros(len(totals), dtype=np.int64)
    if len(starts):
        floor_sums[sorted_groups[starts]] = np.add.reduceat(whole[order], starts)
    counts = np.bincount(groups, minlength=len(totals))
    missing = np.round(totals).astype(np.int64) - floor_sums  # per group; in 0 .. counts below 2**53 tokens
    bumps = np.clip(missing, 0, counts)
    whole[order] += rank < bumps[sorted_groups]
    rest = np.where(counts > 0, missing - bumps, 0)
    if rest.any():
        rows = np.flatnonzero(rest[groups] != 0)
        rows = rows[np.lexsort((-values[rows], groups[rows]))]  # by group, largest value first
        largest = rows[np.flatnonzero(np.diff(groups[rows], prepend=-1))]
        whole[largest] += rest[groups[largest]]
    return whole


def forecast_column(values: np.ndarray, targets: list[str], name: str, quantity: str) -> np.ndarray:
    """The forecast's ``quantity`` of target ``name``, clipped at 0; a :class:`WorkloadDataError` for a value that is
    not finite or is above :data:`MAX_VALUE`: numpy's Poisson draw fails on NaN ("lam value too large"), and a NaN
    or 1e25 token total has no int64 value to round the requests' tokens to."""
    column = values[:, targets.index(name)]
    bad = np.flatnonzero(~(np.isfinite(column) & (column <= MAX_VALUE)))
    if len(bad):
        step = int(bad[0])
        raise WorkloadDataError(
            f"the forecast's {quantity} of {quote(name)} is {quote(float(column[step]))} at step {step} ({len(bad):,} "
            f"such steps), not a count in 0 .. {MAX_VALUE:g}: forecast again, or build the Forecast from finite "
            "values."
        )
    return np.clip(column, 0.0, None)


def at_least_one(values: np.ndarray, groups: np.ndarray, totals: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``values`` (summing to ``totals`` per group) moved so that each is at least 1, and the totals to round to.

    In a group with a value below 1, the values are raised to 1 and their parts above 1
    scaled down so that the group still sums to its total; a group whose total is below
    its number of values gets 1 each (its total becomes that number). Groups whose
    values are all at least 1 are left exactly as they are.
    """
    counts = np.bincount(groups, minlength=len(totals))
    low = np.bincount(groups, weights=values < 1, minlength=len(totals)) > 0  # groups to move
    raised = np.maximum(values, 1.0)
    above = np.bincount(groups, weights=raised - 1.0, minlength=len(totals))  # their parts above 1, summed
    spare = np.maximum(totals - counts, 0.0)  # what the total leaves once each value has its 1
    scale = np.divide(spare, above, out=np.zeros_like(spare), where=above > 0)
    moved = np.where(low[groups], 1.0 + (raised - 1.0) * np.minimum(scale, 1.0)[groups], values)
    return moved, np.where(low, np.maximum(totals, counts), totals)


def _check_request_count(total: float, rates: np.ndarray, quantity: str) -> None:
    """Refuse a draw of ``total`` requests (over the buckets of ``rates``) above :data:`MAX_REQUESTS`."""
    if total > MAX_REQUESTS:
        raise WorkloadDataError(
            f"the forecast draws about {total:,.0f} synthetic requests over {plural(len(rates), 'bucket')} ({quantity} "
            f"up to {rates.max():.4g} per bucket), more than {MAX_REQUESTS:,}: forecast fewer buckets, or check the "
            "series' units (does its request-count target count requests per bucket?)."
        )


def forecast_to_requests(
    forecast,
    random_state: Any = None,
    lengths: pd.DataFrame | None = None,
    recent: int | None = 2000,
    quantity: str = "yhat",
    count: str | None = None,
) -> pd.DataFrame:
    """A synthetic request log following ``forecast`` (see :meth:`Forecast.to_requests`)."""
    if quantity not in QUANTITIES:
        raise WorkloadDataError(f"quantity={quote(quantity)} must be one of {', '.join(QUANTITIES)}.")
    targets = list(forecast.targets)
    if count is not None and not any(count is t or (isinstance(count, str) and count == t) for t in targets):
        raise WorkloadDataError(f"count={quote(count)} is not a target of the forecast (targets: {quote(targets)}): "
                                "pass the target that counts requests, or count=None for the default.")
    if count is None:  # a single target counts requests unless it is named as a token count
        count = "requests" if "requests" in targets else (
            targets[0] if len(targets) == 1 and targets[0] not in _TOKEN_NAMES else None)
    if count not in targets:
        tokens = " (a token target counts tokens, not requests)" if set(targets) & _TOKEN_NAMES else ""
        raise WorkloadDataError(
            f"the forecast has no request-count target (targets: {quote(targets)}){tokens}; fit with "
            "target='requests' (or pass count=<target>)."
        )
    if count in _TOKEN_NAMES:
        raise WorkloadDataError(
            f"count={quote(count)} names a token target, which counts tokens, not requests: pass the target that "
            f"counts requests (targets: {quote(targets)}), or count=None for the default."
        )
    if recent is not None and not is_positive_int(recent):
        raise WorkloadDataError(f"recent={quote(recent)} must be a positive integer (the last rows of lengths to "
                                "draw token lengths from), or None for all of them.")
    width = forecast.freq
    if width is None:
        if forecast.steps < 2:
            raise WorkloadDataError("the forecast carries no bucket width (freq); refit with a recent version.")
        width = forecast.index[1] - forecast.index[0]
    values = getattr(forecast, quantity)  # (steps, k)
    try:
        if isinstance(random_state, (bool, np.bool_)):  # numpy reads True as the seed 1
            raise TypeError
        rng = np.random.default_rng(random_state)
    except (TypeError, ValueError):
        raise WorkloadDataError(f"random_state={quote(random_state)} must be None, a non-negative int or a "
                                "numpy Generator.") from None

    rates = forecast_column(values, targets, count, quantity)
    _check_request_count(float(rates.sum()), rates, quantity)  # before the draw: numpy's Poisson caps its rate
    per_bucket = rng.poisson(rates)
    total = float(per_bucket.sum(dtype=np.float64))  # float: counts near 1e18 per bucket would wrap int64
    _check_request_count(total, rates, quantity)
    check_memory("synthetic requests", extra_bytes=float(REQUEST_BYTES) * total)
    bucket = np.repeat(np.arange(forecast.steps), per_bucket)
    start_ns = np.asarray((forecast.index - pd.Timestamp(0, tz="UTC")) // pd.Timedelta(1, "ns"), dtype=np.int64)
    width_ns = int(width // pd.Timedelta(1, "ns"))
    offsets = np.floor(rng.random(len(bucket)) * width_ns).astype(np.int64)
    out = {"arrival_time_ns": start_ns[bucket] + offsets}

    sample = length_sample(forecast, lengths, recent)
    forecast_tokens = token_columns(targets, exact=True)  # {"input_tokens": its target's name, ...}
    # A token total the forecast predicts with no lengths to draw from is shared evenly by its bucket's requests.
    even = {c: 1.0 for c in forecast_tokens if sample is None or c not in sample}
    if even:
        sample = pd.DataFrame(even, index=[0]) if sample is None else sample.assign(**even)
        sample = sample[[c for c in ("input_tokens", "output_tokens") if c in sample]]
    if sample is not None:
        drawn = sample.iloc[rng.integers(0, len(sample), len(bucket))]  # whole rows: lengths stay paired
        for column in sample.columns:
            tokens = drawn[column].to_numpy(float)
            if column in forecast_tokens:
                totals = forecast_column(values, targets, forecast_tokens[column], quantity)
                drawn_total = np.bincount(bucket, weights=tokens, minlength=forecast.steps)
                n = np.maximum(per_bucket, 1)
                # Scale each bucket's draws to its forecast total; all-zero draws share it evenly.
                factor = np.divide(totals, drawn_total, out=np.zeros_like(totals), where=drawn_total > 0)
                even = np.where(drawn_total > 0, 0.0, totals / n)
                # Every request gets at least one token within the bucket's total, so the np.maximum below changes
                # nothing here: only a total below the bucket's number of requests is exceeded, to one token each.
                scaled, totals = at_least_one(tokens * factor[bucket] + even[bucket], bucket, totals)
                tokens = round_to_totals(scaled, bucket, totals)
            else:
                tokens = np.round(tokens).astype(np.int64)
            out[column] = np.maximum(tokens, 1)  # a request has at least one token each way
    requests = pd.DataFrame(out)
    return requests.sort_values("arrival_time_ns", kind="stable").reset_index(drop=True)


def _seconds_since(requests: pd.DataFrame, start: pd.Timestamp | None) -> np.ndarray:
    ns = requests["arrival_time_ns"].to_numpy(np.int64)
    origin_ns = int((start - pd.Timestamp(0, tz="UTC")) // pd.Timedelta(1, "ns")) if start is not None else (
        int(ns.min()) if len(ns) else 0)
    return (ns - origin_ns) / 1e9


def _require_tokens(requests: pd.DataFrame, format: str) -> None:
    missing = [c for c in ("input_tokens", "output_tokens") if c not in requests.columns]
    if missing:
        raise WorkloadDataError(
            f"format={quote(format)} needs token lengths, and {missing} are unknown: pass lengths=<request log> or fit "
            "the forecast with target=['requests', 'input_tokens', 'output_tokens']."
        )


def to_vidur(requests: pd.DataFrame, start: pd.Timestamp | None = None) -> pd.DataFrame:
    """The trace columns of Vidur's repository (main branch): ``arrived_at`` (seconds since ``start``,
    default the first request), ``num_prefill_tokens``, ``num_decode_tokens``."""
    _require_tokens(requests, "vidur-main")
    return pd.DataFrame({
        "arrived_at": _seconds_since(requests, start),
        "num_prefill_tokens": requests["input_tokens"].to_numpy(np.int64),
        "num_decode_tokens": requests["output_tokens"].to_numpy(np.int64),
    })


def to_vidur_0_0_26(requests: pd.DataFrame, start: pd.Timestamp | None = None) -> pd.DataFrame:
    """The columns the released ``vidur`` 0.0.26 package's trace replay reads.

    Its ``TraceReplayRequestGenerator`` keeps the rows whose ``Date`` equals its ``date``
    setting (a ``YYYY-MM-DD`` string; default ``2023-08-21``), replays each at ``Time`` (seconds)
    times ``time_scale_factor`` (default 0.04) with ``PromptTokenCount`` times
    ``prefill_scale_factor`` (default 0.3) and ``CompletionTokenCount``: set the date to the
    forecast's and both factors to 1 to replay the forecast as it is. ``Date`` is each request's
    UTC calendar date, ``Time`` seconds since ``start`` (default the first request).
    """
    _require_tokens(requests, "vidur-0.0.26")
    return pd.DataFrame({
        "Date": _utc_dates(requests["arrival_time_ns"].to_numpy(np.int64)),
        "Time": _seconds_since(requests, start),
        "PromptTokenCount": requests["input_tokens"].to_numpy(np.int64),
        "CompletionTokenCount": requests["output_tokens"].to_numpy(np.int64),
    })


_NS_PER_DAY = 86_400 * 10**9


def _utc_dates(ns: np.ndarray) -> np.ndarray:
    """The UTC calendar date (``YYYY-MM-DD``, an object array) of each instant ``ns`` (int64 ns since the epoch),
    each day formatted once: arrivals span a few days (formatting every request took 1.5 s per 2,000,000)."""
    days = ns // _NS_PER_DAY  # floor: an instant before 1970 falls in its own day
    if len(days) and bool((np.diff(days) >= 0).all()):  # sorted arrivals (to_requests'): runs of one day
        starts = np.flatnonzero(np.diff(days, prepend=days[0] - 1))
        unique, repeats = days[starts], np.diff(np.append(starts, len(days)))
        inverse = np.repeat(np.arange(len(unique)), repeats)
    else:
        unique, inverse = np.unique(days, return_inverse=True)
    names = pd.to_datetime(unique * _NS_PER_DAY, unit="ns", utc=True).strftime("%Y-%m-%d")
    return np.asarray(names, dtype=object)[inverse]


# --format / to_requests(format=...): each named after the program that reads it.
REQUEST_FORMATS = {
    "native": None,  # arrival_time_ns, input_tokens, output_tokens as drawn
    "vidur-main": to_vidur,
    "vidur-0.0.26": to_vidur_0_0_26,
}


def needs_token_lengths(format: str) -> bool:
    """Whether ``format`` has token columns, so that the requests need token lengths."""
    return REQUEST_FORMATS.get(format) is not None


def check_format(format: Any) -> None:
    """A typed error unless ``format`` names one of ``REQUEST_FORMATS`` (a list or a dict is no name: it does not
    hash)."""
    if not isinstance(format, str) or format not in REQUEST_FORMATS:
        raise WorkloadDataError(f"format={quote(format)} is unknown; choose one of {', '.join(map(repr, REQUEST_FORMATS))}.")


def in_format(requests: pd.DataFrame, format: str, start: pd.Timestamp | None = None) -> pd.DataFrame:
    """``requests`` (from :func:`forecast_to_requests`) in the columns of ``format`` (see ``REQUEST_FORMATS``)."""
    check_format(format)
    convert = REQUEST_FORMATS[format]
    return requests if convert is None else convert(requests, start=start)
