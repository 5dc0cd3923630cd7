"""Input anomalies: buckets far outside the series' recent range, detected and reported, never altered.

Bursts are real load, so nothing here changes the series; a flagged bucket is recorded
on the predictor (``input_anomalies_``, the newest ``KEPT``; ``input_flags_``, every one among the buckets
it keeps) and raised by ``health()`` as the ``input_anomaly`` metric. Only the inputs of a forecast, and the
inputs and targets of the validation windows that calibrate its interval and confidence, read a flagged run that the series has already
come back from as its reference medians (:func:`settled_inputs`, :func:`settle_targets`); and
DLinear's statistics sum the windows holding a flagged bucket weighed down and settled (below).

The rule, per target, for a bucket of value ``v`` and the ``REFERENCE_BUCKETS`` buckets
before it (fewer when the history is shorter, at least ``MIN_REFERENCE``)::

    v > max(reference)  and  v > median(reference) + K * max(1.4826 * MAD(reference), floor)

or, for a drop, ``v < min(reference)`` and ``v < median(reference) - K * max(...)``. The
*deviation* of such a bucket is ``|v - median| / max(1.4826 * MAD, floor)`` (above ``K``).
A bucket held within the reference's range by a burst the series came back from is judged
again with that burst read as its median (:func:`_chained`), so a second corrupt bucket a
few buckets after a first, smaller than it, is flagged too. A burst unlocks a bucket so where
it lies far above the rest of the reference, and only if it was flagged by the plain rule or
lies ``UNLOCK_FLOORS`` (``K^2``) floors from its reference median: a sentinel (2**32-1) written
again and again is flagged every time, while the bursts of a bursty series, within ``K^2`` floors,
cannot flag each other in a cascade. A bucket held inside a burst (before the series came back)
belongs to it, and is flagged only where, judged against its reference with that burst read as its median, it also
lies ``UNLOCK_FLOORS`` floors from that median while its reference still holds buckets before the burst: the second
and third of adjacent sentinels are flagged, while the later buckets of a burst of load or of a level shift within
``K^2`` floors are not, nor, past a reference, those of any burst that goes on (the series' new level). The
series' first ``MIN_REFERENCE`` buckets are judged at fit against the ``REFERENCE_BUCKETS`` after each instead (once the series holds them, ``LEADING_SPAN`` buckets), and
flagged only where they lie ``UNLOCK_FLOORS`` floors (and ``K`` deviations) from that reference's
median (:func:`_leading`): a sentinel written from the first bucket on is flagged there, and unlocks
the chain of the ones after it. A bucket's flag depends on
the buckets before it only, through chains that may reach back to the series' first bucket: a
scan of a series starts at its first bucket (:func:`series_flags`), whatever position its flags
are wanted from, so a fit and a refit from a later position agree. The scans of the updates that
brought a series in (each reading ``HISTORY_BUCKETS`` before its new buckets, told their position in
the series, with the predictor's flags found among them) agree with it, but for bursts longer than a
reference, a flag among a tail's first ``REFERENCE_BUCKETS`` held by a larger value in the part of its
reference before the tail (judged against the part the tail holds), and the first buckets of a series
fitted on fewer than ``LEADING_SPAN`` (no update judges them again). The predictor keeps every flag
among the buckets it and its model keep (``input_flags_``, a row per bucket: however many the
``KEPT`` it reports leave out), and its forecast's inputs, validation windows and model update read
them all; a file saved without them reads the ``KEPT`` it recorded. A model's update on its own, which
keeps no flags, scans the points it keeps from the first (:func:`element_weights`).

``floor`` is the target's 90th percentile over the fitted series, or the median of its non-zero
buckets where that is larger and at least ``MIN_BUSY`` are non-zero (at least 1): a recent
history of zeros or of low Poisson counts has a MAD near 0, and without the floor an
ordinary burst of a bursty trace after a quiet minute would fire. The median of the non-zero
buckets is a sparse series' typical burst: with bursts in fewer than 10 % of the buckets the
90th percentile is 0, and the floor would fall to 1 (from 20 % on it is at least that median,
so the floor does not jump as the share of busy buckets crosses a threshold). A burst is then
flagged where it is ``K`` typical bursts above its reference's median and above all of it. A predictor's updates
follow that median over the series seen (:func:`busy_floor`, from the newest ``BUSY_KEPT`` non-zero buckets and the
count of all): a sparse series fitted on fewer than ``MIN_BUSY`` bursts stops flagging them once it holds that
many, as a refit would; the floor they use never falls below the fit's. ``K = 10`` raises no
alert on either bundled Azure trace (conv, code; all three targets) at 1 s or 10 s
buckets over their hour, and fires on one 1e9 bucket in a Poisson(50) stream.
A value written in 10 % of the buckets or more (a sentinel such as 2**32-1) would be the 90th percentile itself,
and nothing would be flagged: where the quantile is more than ``OUTLIER_RATIO`` (``K^4``) times the median
magnitude of the non-zero buckets, it is taken over the buckets up to that multiple instead (the bundled traces'
90th percentile lies within 2.3 times that median, their largest bucket within 13 times). The limits, measured
on Poisson(50) with 2**32-1 at random positions (2,000 buckets, 4 draws): the floor stays the clean buckets'
below half of the non-zero buckets corrupt; every sentinel and no ordinary bucket is flagged up to 30 %, 1-7 ordinary
ones are at 35-45 % (read as drops where a reference holds more sentinels than ordinary buckets), and where the first
``LEADING_SPAN`` buckets hold about half sentinels, the first is not flagged and the rest, each held by an unflagged
one of its value, are not either (1 draw of 4 at each of 35, 40 and 45 %: 3 flagged at most); from half on the median
is the sentinel and nothing is flagged.
For non-negative counts the drop rule fires only on a series far above its own floor
(median > K floors): an outage to zero stays unflagged, a corrupt negative value does not.
The first condition is a cheap gate, together with ``v > min(reference) + K * floor`` (the
median is at least the minimum and the spread at least the floor; for drops the mirror
image): the medians are computed only for the few buckets that pass it. The reference's
running maximum and minimum take O(n) at fit, whatever its length, and a series whose whole
range is within ``K`` floors is not scanned at all; the held buckets are swept once per
target, in position order, where a flagged burst lies before them.

A counter exported instead of per-bucket counts (each bucket the running total) climbs like load and stays within
``K`` floors for its first buckets; a reset one stays below its first part. A bucket is flagged as a counter's
(:func:`counter_flags`) where it ends ``COUNTER_RUN`` (5) buckets that never decrease and climb, lies more than
``COUNTER_MARGIN`` (2) floors above every ordinary bucket of the ``REFERENCE_BUCKETS`` before them (flagged ones
left out, and the start of a counter's run before its first flag, so the second part of a reset counter is judged
against the series' own buckets), and the steps of its run (the first differences, up to ``REFERENCE_BUCKETS``)
have a median above 0 within half to twice (plus 1) the reference's median and a spread (1.4826 MAD) within twice
(plus 1) the reference's: a counter's steps are the series' own counts, while a ramp of real load rises by noisy steps
of its own. Its reference median and a deviation of at least ``K^2`` are recorded, so the run is settled as a burst
is; a dense series' counter is flagged from its 5th bucket, a sparse one's once it is 2 floors above the reference.
Measured (``counter_flags`` over 1,000,000 buckets each): no flag on Poisson(3 ... 5000), on sines (period 360 and
8640 buckets, +-90 %) and on ramps to 10 times the rate over 30 or 360 buckets at rates 1 ... 5000, nor on the
project's synthetic load (flash crowds of 2-4 times, ``perf.datasets.generate``); 2 on Poisson(0.3) and 1 on
Poisson(1); none on the bundled Azure traces (conv, code; all three targets; 1 s, 10 s, 1 min buckets). The
counter's first buckets (4 where it is flagged from its 5th, up to 4 times the level) are not flagged. Two readings
of them answer two questions: DLinear weighs the 4 before a counter's flag as the flag
(:func:`~workload_predictor.models.dlinear.counter_starts`) and, in an update, takes the windows it summed before
the run was recognised out of its statistics again (as far back as it keeps those windows' weights); a predictor
reads a flagged run as begun where the climb into it began (:func:`with_leads`), for
the inputs and validation windows it reads again from the kept series, however late the counter was flagged. A counter within a fit's first ``REFERENCE_BUCKETS`` buckets is not judged.

DLinear sums the windows holding a flagged bucket with their flagged buckets read as the median of
the window's other buckets (:func:`~workload_predictor.models.dlinear.settled_windows`), each weighing
the share of its buckets it reads where the series came back within it from its flagged runs, else
the lowest of its buckets' :func:`weights` (``(K / deviation)^4``,
:func:`~workload_predictor.models.dlinear.settled_weights`): one absurd bucket cannot dominate its
statistics, and where every window holds one (a sentinel written every few buckets), the fit is one
on the settled windows, not on the sentinels.
"""

from __future__ import annotations

import bisect
import collections
import contextlib
import contextvars
import functools
import heapq
import threading
import zlib
from typing import Any, Callable, Sequence

import numpy as np
import pandas as pd
from numpy.lib.stride_tricks import sliding_window_view

from . import _deadline
from .windows import newest

REFERENCE_BUCKETS = 60  # buckets before a bucket that set its reference range
# Buckets before the new ones that an update's scan reads: their reference, and the references of the buckets in it
# (a burst there that the series came back from is read as its median in the new buckets' references).
HISTORY_BUCKETS = 2 * REFERENCE_BUCKETS
MIN_REFERENCE = 8  # fewer preceding buckets: not checked by the rule (see LEADING_SPAN)
K = 10.0  # robust standard deviations (or floors) above the recent median
# A burst flagged only once an earlier burst was read as its median (a chained flag) unlocks the next bucket in turn only
# when it lies this many floors from its reference median: a sentinel repeated does, an ordinary burst does not.
UNLOCK_FLOORS = K * K
# A series' first MIN_REFERENCE buckets, which have too few before them, are judged at fit against the
# REFERENCE_BUCKETS after each, once a series holds them all (this many buckets): flagged where they lie UNLOCK_FLOORS
# floors from that reference's median (and K deviations), a sentinel written from the first bucket on.
LEADING_SPAN = MIN_REFERENCE + REFERENCE_BUCKETS
FLOOR_QUANTILE = 0.9  # the scale floor: this quantile of the fitted series, per target
# or, where more, the median of its non-zero buckets once there are this many: fewer than half of them corrupt (up to 9
# of 20) leave that median at an ordinary burst, so the corrupt buckets of a quiet series cannot raise the floor over them.
MIN_BUSY = 20
# A 90th percentile more than this many times the median of the non-zero buckets (at least 1) is set by outliers (a
# sentinel written in 10 % of the buckets or more): the floor's quantile is then taken over the buckets within this many
# times that median. No load's bursts lie so far above its typical bucket in a tenth of its buckets; the bundled traces'
# 90th percentile is within 2.3 times it.
OUTLIER_RATIO = K**4
# A counter exported instead of per-bucket counts (see counter_flags): a run of this many buckets that never decrease,
# the last more than COUNTER_MARGIN floors above the reference before the run, whose steps look like its buckets.
COUNTER_RUN = 5
COUNTER_MARGIN = 2.0
KEPT = 100  # newest anomalies kept on the predictor
# Newest non-zero buckets per target a predictor keeps for the floor's typical burst through updates (at most 8 KB a
# target): the median of these stands for that of all the series' (:func:`busy_floor`).
BUSY_KEPT = 1000
RECENT_BUCKETS = 1000  # health() counts the anomalies among the newest buckets of this many
_CHUNK = 65536  # positions checked at once at fit (bounds the temporary arrays)
# Under a time limit (max_training_time), the held buckets (see scan) are judged again only until the deadline, less
# the time the model's fit needs after the scan: this many passes of the plain rule over the series
# (``_deadline.SERIES_PACE``, measured by the scan; a model that needs more has ``scan_passes``, which the predictor
# passes to fit_scan). The stage cut is "input-anomaly chains". The sweep reads the clock every CLOCK_EVERY buckets.
MODEL_PASSES = 8
# The passes a fit's model needs after its scan (fit_scan's ``passes``), read by the scans within it.
_PASSES: contextvars.ContextVar[float] = contextvars.ContextVar("workload_predictor_scan_passes", default=MODEL_PASSES)
CLOCK_EVERY = 256
CHAINS_STAGE = "input-anomaly chains"
# Under a time limit, the runs that never decrease (counter_flags' candidates) are judged only until the deadline, less
# the time the model's fit needs after the scan (as the held buckets are): the runs left are not judged.
COUNTERS_STAGE = "input-anomaly counters"


def floor_of(values: np.ndarray) -> np.ndarray:
    """The per-target scale floor of a fitted ``[n, k]`` series (see the module notes).

    ``np.quantile(values, FLOOR_QUANTILE, axis=0)`` (linear interpolation), from one
    partition: a fit computes it twice, and the quantile's own overhead was most of it.
    Where that quantile is more than ``OUTLIER_RATIO`` times the median of the non-zero
    buckets, it is taken over the buckets within that multiple of the median instead.
    """
    quantile = _floor_quantile(values)
    # Beyond OUTLIER_RATIO typical buckets (each at least 1): only a quantile above OUTLIER_RATIO itself can be.
    for col in np.flatnonzero(quantile > OUTLIER_RATIO):
        quantile[col] = _trimmed_quantile(values[:, col], float(quantile[col]))
    # The median of the non-zero buckets: a sparse series' typical burst (below 20 % non-zero, the 90th percentile falls
    # into the zeros; from 20 % on it is at least that median, for non-negative counts, so nothing changes there).
    busy = np.array([_nonzero_median(values[:, col]) for col in range(values.shape[1])])
    return np.maximum(np.maximum(quantile, busy), 1.0)


def _floor_quantile(values: np.ndarray) -> np.ndarray:
    """``np.quantile(values, FLOOR_QUANTILE, axis=0)`` (its linear interpolation) from one partition."""
    position = FLOOR_QUANTILE * (len(values) - 1)
    below = int(position)
    above = min(below + 1, len(values) - 1)
    part = np.partition(values, [below, above], axis=0)
    low, high, t = part[below], part[above], position - below
    return low + (high - low) * t if t < 0.5 else high - (high - low) * (1 - t)


def _trimmed_quantile(column: np.ndarray, quantile: float) -> float:
    """``quantile`` (the ``FLOOR_QUANTILE`` of ``column``), or where it is more than ``OUTLIER_RATIO`` times the
    median magnitude of the non-zero buckets (at least 1), the ``FLOOR_QUANTILE`` of the buckets up to that multiple.

    Up to half of the non-zero buckets may be outliers (a sentinel such as 2**32-1 written in 10 %, 25 %, 40 % of a
    busy series' buckets) and the median still reads an ordinary bucket: the floor is then that of the rest, and the
    outliers are flagged. From half on the median is an outlier itself, and nothing is trimmed."""
    if column.min() >= 0 and quantile <= OUTLIER_RATIO * float(np.median(column)):
        return quantile  # non-negative: the median of the non-zero buckets is at least that of all (one partition)
    bound = OUTLIER_RATIO * max(float(np.median(np.abs(column[column != 0]))), 1.0)
    if quantile <= bound:
        return quantile
    return float(_floor_quantile(column[column <= bound]))


def _nonzero_median(column: np.ndarray) -> float:
    """The median of the non-zero values of ``column`` (``np.median``'s); 0 when fewer than ``MIN_BUSY`` are non-zero (a
    few corrupt buckets in a quiet series must not set its floor), or when it cannot exceed the 90th percentile."""
    count = int(np.count_nonzero(column))
    if count < MIN_BUSY or (count >= 0.2 * len(column) + 0.8 and column.min() >= 0):
        # The second: non-negative, its non-zero median sorts at or below the 90th percentile's position, so it is
        # no larger (the common busy series, without a copy).
        return 0.0
    return median_in_place(column[column != 0])  # a copy


def median_in_place(values: np.ndarray) -> float:
    """``np.median`` of the 1-D ``values`` from one partition of them (reordered in place), at a fraction of its
    cost. Of an even count, the lower middle value is the largest below the upper one's position (a partition at
    two positions takes about five times as long)."""
    half = len(values) // 2
    values.partition(half)
    if len(values) % 2:
        return float(values[half])
    return float(0.5 * (values[:half].max() + values[half]))


def busy_values(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The newest ``BUSY_KEPT`` non-zero buckets of each target of ``values`` (``[n, k]``) and the count of all of
    them (:func:`busy_floor`'s state): rows ``[m, k]`` (the newest last, at least one; NaN before the first of a
    target that has fewer than ``m``) and counts ``[k]`` (int64). Each target is read from its end, in growing
    chunks."""
    counts = np.count_nonzero(values, axis=0).astype(np.int64)
    columns = []
    for col in range(values.shape[1]):
        size = BUSY_KEPT
        while True:
            tail = values[-size:, col]
            nonzero = tail[tail != 0]
            if len(nonzero) >= BUSY_KEPT or size >= len(values):
                break
            size *= 4
        columns.append(nonzero[-BUSY_KEPT:])
    return _busy_rows(columns, values.shape[1]), counts


def busy_continued(kept: np.ndarray, counts: np.ndarray, new: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """:func:`busy_values`' state ``(kept, counts)`` once the buckets ``new`` (``[n, k]``) follow; ``kept`` and
    ``counts`` themselves where ``new`` holds no non-zero bucket (a reader may hold them), else new arrays."""
    # One bucket (the common update) is read in Python: numpy's reductions of so few values cost more.
    row = new[0].tolist() if len(new) == 1 else None
    if (0.0 not in row) if row is not None else new.all():  # all non-zero (a busy series): every column moves alike
        return newest(np.concatenate([kept, new]), BUSY_KEPT), counts + len(new)
    if row is not None and not any(row):
        return kept, counts
    added = (new != 0).sum(axis=0)
    if not added.any():
        return kept, counts
    columns = []
    for col in range(new.shape[1]):
        old = kept[:, col]
        column = new[:, col]
        columns.append(np.concatenate([old[~np.isnan(old)], column[column != 0]])[-BUSY_KEPT:])
    return _busy_rows(columns, new.shape[1]), counts + added


def _busy_rows(columns: list[np.ndarray], k: int) -> np.ndarray:
    """``columns`` (each at most ``BUSY_KEPT`` values, the newest last) as rows ``[m, k]`` aligned at their end, NaN
    before a shorter column's first value (at least one row)."""
    rows = np.full((max(max(map(len, columns)), 1), k), np.nan)
    for col, column in enumerate(columns):
        rows[len(rows) - len(column) :, col] = column
    return rows


def busy_floor(kept: np.ndarray, counts: np.ndarray, n: int) -> np.ndarray | None:
    """The typical burst per target (:func:`floor_of`'s median of the non-zero buckets) of a series of ``n`` buckets
    with ``counts`` non-zero, ``kept`` the newest of them (:func:`busy_values`): their median; 0 where fewer than
    ``MIN_BUSY`` are non-zero or at least a fifth are (where the 90th percentile is no less); ``None`` where that is
    every target (a busy series: the common update)."""
    limit = 0.2 * n + 0.8
    result = None
    for col, count in enumerate(counts.tolist()):  # a few targets: a numpy gate costs more than the loop
        if MIN_BUSY <= count < limit:
            result = np.zeros(len(counts)) if result is None else result
            result[col] = median_in_place(kept[len(kept) - min(count, BUSY_KEPT) :, col].copy())
    return result


def update_flags(tail: np.ndarray, new: np.ndarray, floor: np.ndarray,
                 known: Callable[[], dict[tuple[int, int], float]], offset: int) -> list[tuple[int, int, float, float]]:
    """:func:`detect` of an update's buckets ``new`` (``[m, k]``) after ``tail`` (the ``HISTORY_BUCKETS`` before them,
    its first bucket the series' ``offset``-th) against ``floor``, the flags ``known()`` gives in ``tail`` read as their
    medians in the new buckets' references (a burst the series came back from); positions in ``tail`` and ``new``
    together. ``[]``, neither ``known`` nor the windows built, where one new bucket lies near its recent values
    (:func:`may_flag`, a necessary condition of detect's: the common update)."""
    if len(new) == 1 and not may_flag(tail[-REFERENCE_BUCKETS:], new[0], floor):
        return []
    return detect(np.concatenate([tail, new]), len(tail), floor, known=known(), offset=offset)


def update_scan(floor: np.ndarray, nonzero: np.ndarray | None, counts: np.ndarray | None, tail: np.ndarray,
                new: np.ndarray, known: Callable[[], dict[tuple[int, int], float]], offset: int,
                old: np.ndarray | None, span: int, seen: int) -> tuple[list, np.ndarray | None, np.ndarray | None,
                                                                   np.ndarray | None, np.ndarray | None]:
    """An update's scan of its buckets ``new`` (``[m, k]``), as a ``WorkloadPredictor`` and a model fitted on its own
    run it: the newest non-zero buckets and their counts (``nonzero``, ``counts``: ``None`` in files saved before
    they were kept) moved on, the floor raised to the series' typical burst (:func:`busy_floor`, the model having
    seen ``seen`` buckets before these), :func:`update_flags` of ``new`` after ``tail`` (the series' ``offset``-th
    bucket first; ``known``: the flags in it) and the rows of flags ``old`` continued over the newest ``span``
    buckets. Returns ``(found, flags, nonzero, counts, busy)``: detect's records, the rows (``None``: none flagged),
    the moved-on busy state, and the typical burst (``None`` where it raised no floor)."""
    busy = None
    if nonzero is not None:
        nonzero, counts = busy_continued(nonzero, counts, new)
        busy = busy_floor(nonzero, counts, seen + len(new))
        floor = floor if busy is None else np.maximum(floor, busy)
    found = update_flags(tail, new, floor, known, offset)
    n_new, k = new.shape
    rows = flag_rows(flagged_of(found), len(tail), n_new, k) if found else None
    flags = continued_flags(old, rows, n_new, k, span) if old is not None or rows is not None else None
    return found, flags, nonzero, counts, busy


def detect(values: np.ndarray, start: int, floor: np.ndarray, reference: int = REFERENCE_BUCKETS,
           k: float = K, known: dict[tuple[int, int], float] | None = None,
           offset: int = 0) -> list[tuple[int, int, float, float]]:
    """Flagged buckets of ``values`` (``[n, k]``) at positions ``start`` and after.

    Each is ``(position, target index, value, median of its reference)``, in position
    order. The reference is the ``min(reference, start)`` buckets before each position,
    with the bursts the series came back from before it read as their medians (see
    :func:`scan`); nothing is checked when that is under ``MIN_REFERENCE``. ``known``: the
    buckets flagged before ``start`` (``{(position, target index): median}``, as earlier
    scans found them); without it they are found again in the reference before ``start``.
    ``offset``: the position of ``values[0]`` in the series (an update's tail starts later), which tells a known
    flag among the series' first ``reference`` buckets from one that only has fewer before it in ``values``.
    ``values`` is only read.
    """
    return [found[:4] for found in scan(values, start, floor, reference, k, known, offset)]


def fit_scan(values: np.ndarray,
             passes: float = MODEL_PASSES) -> tuple[np.ndarray, list[tuple[int, int, float, float]]]:
    """A fitted series' scale floor (:func:`floor_of`) and its flagged buckets (:func:`scan_series` from its start).
    ``passes``: the model's fit after the scan, in passes of the plain rule (its reserve under a time limit, see
    ``MODEL_PASSES``)."""
    floor = floor_of(values)
    token = _PASSES.set(passes)
    try:
        return floor, scan_series(values, 0, floor)
    finally:
        _PASSES.reset(token)


def scan_series(values: np.ndarray, start: int, floor: np.ndarray) -> list[tuple[int, int, float, float]]:
    """The flagged buckets of ``values[start:]`` (``[n, k]``) as a fit flags them against ``floor``: each position from
    ``REFERENCE_BUCKETS`` on against the ``REFERENCE_BUCKETS`` before it (:func:`detect`), and each from
    ``MIN_REFERENCE`` to ``REFERENCE_BUCKETS - 1`` against all the buckets before it (as updates arriving one at a
    time after a fit on those would judge them), the bursts flagged among those read as their medians in the later
    references as any others.

    The scan always starts at ``values[0]`` (:func:`series_flags`), whatever ``start``: a bucket's flag depends on
    the buckets before it through the chains of bursts (:func:`_chained`), which may reach back to the first, so a
    scan from a later position could flag it otherwise."""
    return [found[:4] for found in series_flags(values, floor) if found[0] >= start]


def series_flags(values: np.ndarray, floor: np.ndarray) -> list[tuple[int, int, float, float, float]]:
    """:func:`scan_series`' flagged buckets of all of ``values`` (``[n, k]``), each with its deviation (as
    :func:`scan`'s), in position order: the one scan whose flags a suffix of the series is judged by.

    A fit scans its training part, then its refit all of the series: the flags of the last series scanned in this
    thread, for its floor, are kept with a digest of its values (:class:`_Scanned`), and a series that starts with
    it has only its positions after it scanned (:func:`scan` with the flags before them ``known``: the same flags).
    A series that is the start of it (the model's training part, after the predictor's scan of the whole series for
    the same floor) reads the kept flags before its end.
    """
    kept = _SCANNED.__dict__.get("last")
    if kept is not None:
        reused = kept.reused(values, floor)
        if reused is not None:
            return reused
    stop = min(REFERENCE_BUCKETS, len(values))
    early = _leading(values, floor)
    if MIN_REFERENCE < stop:
        # A position can only be flagged beyond K floors from the range of the buckets before it (detect's own
        # first test): those, found with running extremes, are scanned one at a time.
        reach = K * floor
        high = np.maximum.accumulate(values[:stop], axis=0)[MIN_REFERENCE - 1 : stop - 1]
        low = np.minimum.accumulate(values[:stop], axis=0)[MIN_REFERENCE - 1 : stop - 1]
        current = values[MIN_REFERENCE:stop]
        for position in np.flatnonzero(((current > low + reach) | (current < high - reach)).any(axis=1)) + MIN_REFERENCE:
            early.extend(scan(values[: position + 1], int(position), floor, int(position), known=flagged_of(early)))
    found = early if len(values) <= REFERENCE_BUCKETS else early + scan(values, REFERENCE_BUCKETS, floor,
                                                                        known=flagged_of(early))
    _Scanned.keep(values, floor, found)
    return found


def _leading(values: np.ndarray, floor: np.ndarray) -> list[tuple[int, int, float, float, float]]:
    """The flagged buckets among the first ``MIN_REFERENCE`` of ``values`` (``[n, k]``), in position order: each
    judged against the ``REFERENCE_BUCKETS`` buckets after it, once ``values`` holds ``LEADING_SPAN`` buckets (none
    before), and flagged where it lies more than ``K`` deviations and ``UNLOCK_FLOORS`` floors from their median.

    No range condition: a sentinel written again and again from the first bucket lies within the range of the
    references after it, and the bursts after it, not yet judged, cannot be read as their medians. The bar is the one
    a chained flag meets to unlock the next bucket, so such a flag unlocks the chain (:func:`_sweep` reads a flag
    before ``REFERENCE_BUCKETS`` as unlocking), while an ordinary burst of a bursty series stays unflagged. The
    reference is fixed once the series holds it: a fit, its refit and the fleet's scans agree on these flags.
    """
    if len(values) < LEADING_SPAN:
        return []
    head, after = values[:MIN_REFERENCE], values[1:LEADING_SPAN]
    reach = UNLOCK_FLOORS * floor
    # The median lies within the range of the buckets after: a necessary condition, in a few operations.
    rows, cols = np.nonzero((head > after.min(axis=0) + reach) | (head < after.max(axis=0) - reach))
    if not len(rows):
        return []
    references = sliding_window_view(after, REFERENCE_BUCKETS, axis=0)  # [MIN_REFERENCE, k, REFERENCE_BUCKETS]
    value = head[rows, cols]
    deviation, median = _deviation(references[rows, cols], value, floor[cols])
    hit = (deviation > K) & (np.abs(value - median) > reach[cols])
    return sorted((int(r), int(c), float(v), float(m), float(d))
                  for r, c, v, m, d in zip(rows[hit], cols[hit], value[hit], median[hit], deviation[hit]))


class _Scanned:
    """A series :func:`series_flags` scanned (its length, its values themselves, not copied, a checksum of them as
    they were scanned, and its floor) and its flags.

    A series is reused only where its values and its floor are the kept ones bit for bit (compared in full, a few
    passes' worth of memory reads) and the kept values still have the checksum they were scanned with: a write into
    them since (no fit writes into the series it scans) is seen, at a CRC-32's 1 in 2**32 miss, without a copy of
    the series held for the fit."""

    __slots__ = ("length", "checksum", "values", "floor", "flags")

    def __init__(self, length: int, checksum: int, values: np.ndarray, floor: np.ndarray,
                 flags: list[tuple[int, int, float, float, float]]):
        self.length, self.checksum, self.values, self.floor, self.flags = length, checksum, values, floor, flags

    @staticmethod
    def _checksum(values: np.ndarray) -> int:
        return zlib.crc32(np.ascontiguousarray(values, dtype=np.float64))

    @staticmethod
    def _same(values: np.ndarray, other: np.ndarray) -> bool:
        """Whether ``values`` and ``other`` hold the same float64 values bit for bit (NaN alike, -0.0 not 0.0)."""
        if values.shape != other.shape:
            return False
        bits = (np.ascontiguousarray(a, dtype=np.float64).view(np.uint64) for a in (values, other))
        return bool(np.array_equal(*bits))

    @classmethod
    def keep(cls, values: np.ndarray, floor: np.ndarray, flags: list) -> None:
        """Keep ``flags`` for ``values`` inside a fit (:func:`keeping_scans`). Where a time limit cut the chains they
        are the plain rule's only, and so is every later scan in that fit (the stage stays cut, see :func:`scan`): a
        model's scans of the series read them too, and flag what the predictor reports."""
        if not _SCANNED.__dict__.get("depth"):
            _SCANNED.__dict__.pop("last", None)
            return
        floor = np.array(floor, dtype=np.float64)  # its own copy (one value per target)
        _SCANNED.last = cls(len(values), cls._checksum(values), values, floor, flags)

    def _holds(self, values: np.ndarray, floor: np.ndarray) -> bool:
        """Whether ``values`` (at most the kept length) is the start of the kept series as scanned, for its floor."""
        return self._same(np.asarray(floor), self.floor) and \
            self._same(values, self.values[: len(values)]) and self._checksum(self.values) == self.checksum

    def reused(self, values: np.ndarray, floor: np.ndarray) -> list[tuple[int, int, float, float, float]] | None:
        """The flags of ``values`` where it starts with the kept series (only the positions after it scanned), or
        where it is the start of the kept series (a fit's training part after the predictor's scan of the whole
        series, for the same floor): the kept flags before its end, as a bucket's flag depends on the buckets before
        it only (the series' first ones on the ``LEADING_SPAN`` after them, which both hold); the kept series stays."""
        m = self.length
        if LEADING_SPAN <= len(values) < m:
            if not self._holds(values, floor):
                return None
            end = bisect.bisect_left(self.flags, (len(values),))
            return self.flags[:end]
        if len(values) < m or (m < LEADING_SPAN and len(values) > m) or not self._holds(values[:m], floor):
            return None
        if len(values) == m:
            return self.flags
        found = self.flags + scan(values, m, floor, known=flagged_of(self.flags))
        _Scanned.keep(values, floor, found)
        return found


_SCANNED = threading.local()  # the last series_flags scanned, per thread (a fleet's threads fit keys at once)


def keeping_scans(fit: Callable) -> Callable:
    """``fit`` with the flags of the last series scanned kept while it runs (:func:`series_flags`: a fit scans its
    training part, then its refit all of the series), and forgotten when the outermost such call returns: they would
    otherwise hold, per thread, a list as long as the flags of the largest series fitted (outside any memory limit)."""

    @functools.wraps(fit)
    def kept(*args: Any, **kwargs: Any) -> Any:
        depth = _SCANNED.__dict__.get("depth", 0)
        _SCANNED.depth = depth + 1
        try:
            return fit(*args, **kwargs)
        finally:
            _SCANNED.depth = depth
            if depth == 0:
                _SCANNED.__dict__.pop("last", None)

    return kept


def flagged_of(found: Sequence[tuple]) -> dict[tuple[int, int], float]:
    """:func:`detect`'s (or :func:`scan`'s) flagged buckets as ``{(position, target index): reference median}``."""
    return {(position, col): median for position, col, _, median, *_ in found}


def may_hold_flags(values: np.ndarray, floor: np.ndarray | None = None) -> bool:
    """Whether a scan of ``values`` (``[n, k]``) against ``floor`` (``(k,)``; ``None``: any floor, every floor being
    at least 1, :func:`floor_of`) may flag a bucket: a necessary condition, from each target's range, in a few
    operations (a fleet skips its keys that cannot). A bucket the plain rule flags lies more than ``K`` floors from
    its reference's median, and one that ends a counter's run more than ``COUNTER_MARGIN`` floors above every
    bucket of its reference (:func:`counter_flags`): either way some target's range exceeds the smaller of the two
    (``COUNTER_MARGIN``) floors."""
    spread = values.max(axis=0) - values.min(axis=0)
    return bool((spread > min(K, COUNTER_MARGIN) * (1.0 if floor is None else floor)).any())


def may_flag(reference: np.ndarray, value: np.ndarray, floor: np.ndarray, k: float = K) -> bool:
    """Whether ``value`` (``[k]``) could be flagged against ``reference`` (``[r, k]``): a necessary condition, in
    a few operations (the one-bucket update's gate). A flagged value is more than ``k`` floors from the
    reference's median, hence from at least one reference value; or it may end a counter's run
    (:func:`counter_flags`: it and the reference's newest ``COUNTER_RUN - 1`` never decrease, and climb)."""
    if reference.shape[1] == 1 and floor[0] > 0:  # one target (finite values): the same tests on Python floats
        return _may_flag_one(reference[:, 0].tolist(), float(value[0]), float(floor[0]), k)
    if float((np.abs(reference - value).max(axis=0) / floor).max()) > k:
        return True
    if len(reference) < COUNTER_RUN - 1 + MIN_REFERENCE:
        return False
    tail = reference[len(reference) - COUNTER_RUN + 1 :]
    return bool(((value >= tail[-1]) & (np.diff(tail, axis=0) >= 0).all(axis=0) & (value > tail[0])).any())


def _may_flag_one(reference: list[float], value: float, floor: float, k: float) -> bool:
    """:func:`may_flag` of one target, in Python floats (a handful of numpy calls on ~60 values cost ~10 us, twice per
    one-bucket update): the largest ``|reference - value|`` is at the reference's largest or least value (rounding
    keeps a difference's order), so the same bits compare with ``k``."""
    if max(abs(max(reference) - value), abs(min(reference) - value)) / floor > k:
        return True
    if len(reference) < COUNTER_RUN - 1 + MIN_REFERENCE:
        return False
    tail = reference[len(reference) - COUNTER_RUN + 1 :]
    return value >= tail[-1] and value > tail[0] and all(b - a >= 0 for a, b in zip(tail, tail[1:]))


def scan(values: np.ndarray, start: int, floor: np.ndarray, reference: int = REFERENCE_BUCKETS,
         k: float = K, known: dict[tuple[int, int], float] | None = None,
         offset: int = 0) -> list[tuple[int, int, float, float, float]]:
    """:func:`detect`'s flagged buckets, each with its deviation appended (``> k``): those the rule flags
    (:func:`_scan_rule`) and the buckets that end a counter's run (:func:`counter_flags`, the rule's flags left out of
    its references); where there are such, the rule's are found again with the counter's in its chains.

    The two readings depend on each other, each on the other's flags before a bucket only: the counters are judged
    again with the rule's flags found with them, and the rule's with those counters, until the counters stay the
    same (the first that changes lies later each time). So each bucket is judged with every flag before it left out
    of its references, as an update's scan judges its new buckets with the flags found before them (``known``): a
    series' flags are the same scanned whole or through its updates. Under a time limit the loop ends at the deadline
    (less the model's passes, see ``MODEL_PASSES``): with the counters found so far where their first judging is cut,
    and with the pass before (the counters and the rule's flags found with them) where a judging again is
    (:func:`counter_flags`, ``COUNTERS_STAGE``)."""
    rule = _scan_rule(values, start, floor, reference, k, known, offset)
    deadline = _deadline.current()
    pace = deadline.pace.get(_deadline.SERIES_PACE)
    counters: list[tuple[int, int, float, float, float]] = []
    marks = {(flag[0], flag[1]) for flag in rule}
    before = None  # the counters judged with other flags of the rule's, and the positions where those differ
    while True:
        # Under a time limit, the time the model's fit needs after the scan is kept from the counters' judging too.
        with _deadline.limit(None, reserve=_PASSES.get() * pace * values.size) if pace else contextlib.nullcontext():
            again = counter_flags(values, start, floor, reference, {**(known or {}), **flagged_of(rule)}, before)
        if again == counters:
            break
        counters = again
        rule = _scan_rule(values, start, floor, reference, k, known, offset, counters)
        if deadline.expired():  # past the time limit: the counters found so far (see COUNTERS_STAGE)
            break
        judged, marks = marks, {(flag[0], flag[1]) for flag in rule}
        if marks == judged:  # the counters read the rule's positions only: judged again, the same
            break
        before = (counters, marks ^ judged)
    if not counters:
        return rule
    taken = set(flagged_of(counters))
    return sorted(counters + [flag for flag in rule if (flag[0], flag[1]) not in taken])


def counter_flags(values: np.ndarray, start: int, floor: np.ndarray, reference: int = REFERENCE_BUCKETS,
                  known: dict[tuple[int, int], float] | None = None,
                  again: tuple[list[tuple[int, int, float, float, float]], set[tuple[int, int]]] | None = None,
                  ) -> list[tuple[int, int, float, float, float]]:
    """The buckets of ``values`` (``[n, k]``) at ``start`` and after that end a counter's run (see the module notes):
    ``(position, target index, value, reference median, deviation)``, in position order.

    A bucket ends one where it and the ``COUNTER_RUN - 1`` before it never decrease and climb, it lies more than
    ``COUNTER_MARGIN`` floors above every ordinary bucket of the ``reference`` before those (the flagged ones left out:
    ``known`` and those found here before it, with the buckets of a counter's run before its first flag), and the
    steps of the run that never decreases up to it (at most ``reference``) look like those ordinary buckets: their
    median above 0 and within half to twice (plus 1) the buckets' median, their spread (1.4826 MAD) within twice
    (plus 1) the buckets' spread. The deviation is at least ``K^2`` (weight ``K^-4``): a counter's bucket is no
    load. ``values`` is only read.

    ``again``: ``(found, changed)``, this call's result for other ``known`` flags, which differ from these at the
    ``changed`` positions: only the buckets whose reference or run holds one of them (a flag before a bucket, up to
    ``COUNTER_RUN - 1 + reference`` back) are judged again, and those after one whose flag changes in turn.

    Under a time limit the runs are judged only until the deadline (the clock read every ``CLOCK_EVERY`` runs):
    past it the stage is cut (``COUNTERS_STAGE``) and the runs left are not judged; judged again (``again``), the
    flags are then ``found`` as they were, for the flags that call was given (:func:`scan` keeps its pass before).
    """
    n = len(values)
    first = max(start, COUNTER_RUN - 1 + MIN_REFERENCE)
    if first >= n:
        return []
    part = values[first - COUNTER_RUN + 1 :]
    rising = part[1:] >= part[:-1]  # [n - first + COUNTER_RUN - 2, k]
    m = n - first
    run = part[COUNTER_RUN - 1 :] > part[:m]  # the run climbs (its median step is above 0)
    for lag in range(COUNTER_RUN - 1):
        run &= rising[lag : lag + m]
    if not run.any():
        return []
    flags = dict(known or {})
    found: list[tuple[int, int, float, float, float]] = []
    deadline = _deadline.current()
    for col in np.flatnonzero(run.any(axis=0)).tolist():
        column = values[:, col]
        runs = np.flatnonzero(run[:, col]) + first
        # Necessary: a reference's maximum is at least the series' minimum.
        runs = runs[column[runs] > float(column.min()) + COUNTER_MARGIN * float(floor[col])]
        # Necessary where a reference holds no flag: the bucket above the reference's raw maximum by the margin.
        begins = runs - COUNTER_RUN + 1
        lows = np.maximum(begins - reference, 0)
        full = lows == begins - reference
        high = np.empty(len(runs))
        if full.any():
            high[full] = sliding_window_view(column, reference)[lows[full]].max(axis=1)
        for i in np.flatnonzero(~full).tolist():
            high[i] = column[lows[i] : begins[i]].max()
        marks = sorted(p for p, c in flags if c == col)
        pending = set(runs[column[runs] > high + COUNTER_MARGIN * float(floor[col])].tolist())
        if again is not None:
            judged = _judged_again(column, col, float(floor[col]), reference, runs, pending, flags, marks,
                                   [flag for flag in again[0] if flag[1] == col],
                                   sorted(p for p, c in again[1] if c == col), deadline)
            if judged is None:  # past the time limit: the flags judged before, as they were
                deadline.cut(COUNTERS_STAGE)
                return sorted(again[0])
            found.extend(judged)
            continue
        for mark in marks:  # the positions whose reference holds a known flag
            pending.update(_within(runs, mark + COUNTER_RUN - 1, mark + COUNTER_RUN - 1 + reference))
        heap = sorted(pending)  # a sorted list is a heap
        seen: set[int] = set()
        while heap:
            if len(seen) % CLOCK_EVERY == 0 and deadline.expired():
                deadline.cut(COUNTERS_STAGE)  # past the time limit: the runs left are not judged
                return sorted(found)
            position = heapq.heappop(heap)
            if position in seen:
                continue
            seen.add(position)
            flag = _counter_at(column, position, col, float(floor[col]), reference, flags, marks)
            if flag is None:
                continue
            flags[(position, col)] = flag[3]
            bisect.insort(marks, position)
            found.append(flag)
            for later in _within(runs, position + COUNTER_RUN - 1, position + COUNTER_RUN - 1 + reference):
                if later not in seen:
                    heapq.heappush(heap, later)
    return sorted(found)


def _judged_again(column: np.ndarray, col: int, floor: float, reference: int, runs: np.ndarray, high: set[int],
                  flags: dict[tuple[int, int], float], marks: list[int],
                  before: list[tuple[int, int, float, float, float]], changed: list[int],
                  deadline: _deadline.Deadline) -> list[tuple[int, int, float, float, float]] | None:
    """:func:`counter_flags`' flags of target ``col`` (``column``) where its flags were ``before`` for known flags
    that differ from these (``flags``, ``marks``: their positions, ascending) at the ``changed`` positions: the
    ``runs`` whose test reads a changed flag (one among the ``COUNTER_RUN - 1 + reference`` before them) judged
    again, in position order, and those after a bucket whose flag changes in turn; ``high``: the runs above their
    reference's raw maximum by the margin, judged wherever no flag lies in their reference. ``None`` where
    ``deadline`` passes before every such run is judged (the clock read every ``CLOCK_EVERY`` runs)."""
    known = set(marks)
    result = {flag[0]: flag for flag in before}
    marks = sorted(known | set(result))  # the flags the judging reads: the known ones and the counters'
    span = COUNTER_RUN - 1 + reference
    heap = sorted({later for mark in changed for later in _within(runs, mark, mark + span)})
    seen: set[int] = set()
    while heap:
        if len(seen) % CLOCK_EVERY == 0 and deadline.expired():
            return None
        position = heapq.heappop(heap)
        if position in seen:
            continue
        seen.add(position)
        # counter_flags judges a run above its raw reference by the margin, or one after a flag (within a reference)
        low = bisect.bisect_left(marks, position - span)
        judged = position in high or (low < len(marks) and marks[low] < position - COUNTER_RUN + 1)
        flag = _counter_at(column, position, col, floor, reference, flags, marks) if judged else None
        if flag == result.get(position):
            continue
        if flag is None:
            del result[position]
            if position not in known:
                marks.remove(position)
        else:
            if position not in known and position not in result:
                bisect.insort(marks, position)
            result[position] = flag
        for later in _within(runs, position, position + span):
            if later not in seen:
                heapq.heappush(heap, later)
    return list(result.values())


def _within(positions: np.ndarray, low: int, high: int) -> list[int]:
    """The ``positions`` (ascending) in ``(low, high]``."""
    return positions[np.searchsorted(positions, low, side="right") : np.searchsorted(positions, high, side="right")
                     ].tolist()


def _counter_at(column: np.ndarray, position: int, col: int, floor: float, reference: int,
                flags: dict[tuple[int, int], float], marks: list[int]) -> tuple[int, int, float, float, float] | None:
    """:func:`counter_flags`' test of ``position`` (that ends ``COUNTER_RUN`` buckets that never decrease), with the
    flagged buckets (``marks``: their positions in ``col``, ascending, keys of ``flags``) left out of its reference;
    its flag, or ``None``."""
    begin = position - COUNTER_RUN + 1
    low = max(begin - reference, 0)
    if begin - low < MIN_REFERENCE:
        return None
    ref = column[low:begin]
    ordinary = np.ones(len(ref), dtype=bool)
    # A flag that ends COUNTER_RUN buckets that never decrease (a counter's first flag) has its run's unflagged
    # buckets before it left out too (the counter's start, below the margin), as every flag is.
    inside = marks[bisect.bisect_left(marks, low) : bisect.bisect_left(marks, begin + COUNTER_RUN - 1)]
    for p in inside:
        lead = max(p - COUNTER_RUN + 1, 0)
        if lead < begin and p - lead == COUNTER_RUN - 1 and bool((np.diff(column[lead : p + 1]) >= 0).all()):
            ordinary[max(lead, low) - low : min(p, begin) - low] = False
        if p < begin:
            ordinary[p - low] = False
    if ordinary.sum() < MIN_REFERENCE:
        return None
    ref = ref[ordinary]
    value = float(column[position])
    if not value > float(ref.max()) + COUNTER_MARGIN * floor:
        return None
    level = median_in_place(ref)  # ref, the steps and the deviations below are arrays of their own
    spread = 1.4826 * median_in_place(np.abs(ref - level))
    # The steps of the whole run that never decreases up to the bucket (at most ``reference`` of them).
    back = np.diff(column[max(position - reference, 0) : position + 1])
    falls = np.flatnonzero(back < 0)
    diffs = back[falls[-1] + 1 :] if len(falls) else back
    step = median_in_place(diffs)
    if not (step > 0 and level / 2 <= step <= 2 * level + 1
            and 1.4826 * median_in_place(np.abs(diffs - step)) <= 2 * spread + 1):
        return None
    return position, col, value, level, max(abs(value - level) / max(spread, floor), K * K)


def _scan_rule(values: np.ndarray, start: int, floor: np.ndarray, reference: int = REFERENCE_BUCKETS,
               k: float = K, known: dict[tuple[int, int], float] | None = None,
               offset: int = 0, counters: Sequence[tuple] = ()) -> list[tuple[int, int, float, float, float]]:
    """The rule's flagged buckets (see the module notes), each with its deviation appended (``> k``); ``counters``
    (:func:`counter_flags`' at ``start`` and after) start bursts in the chains (:func:`_chained`) as its own flags do.

    A bucket beyond the rule's reach but not beyond its reference's maximum (or minimum) is *held*:
    a burst the series came back from may hold that extreme (a second corrupt bucket within a
    reference of the first). Held buckets are judged again against their reference with such
    bursts read as their medians (:func:`_chained`), where one lies in it.
    """
    length = min(int(reference), int(start))
    n = len(values)
    if length < MIN_REFERENCE or start >= n:
        return []
    reach = k * floor
    if n - start == 1:  # one new bucket: the common update, without building window views
        window = values[n - 1 - length : n - 1]
        high, low = window.max(axis=0), window.min(axis=0)
        rise, drop = values[-1] > low + reach, values[-1] < high - reach
        if not (rise | drop).any():
            return []
        outside = (rise & (values[-1] > high)) | (drop & (values[-1] < low))
        cols = np.flatnonzero(outside)
        found = _confirm(window.T[None], values[-1:], np.zeros(len(cols), dtype=np.int64), cols, start, floor, k) \
            if len(cols) else []
        held = np.flatnonzero((rise | drop) & ~outside)
        return _chained(values, start, floor, length, k, found, (np.full(len(held), n - 1), held), known, offset,
                        counters) \
            if len(held) else found
    deadline = _deadline.current()
    started = deadline.clock()
    seen = values[start - length :]
    if bool((seen.max(axis=0) - seen.min(axis=0) <= reach).all()):
        # A bucket is at most the range away from a median of the range: none can be flagged. Under a time limit
        # the pace of a pass of the plain rule (the unit of the model's reserves, see MODEL_PASSES) is measured on
        # its first chunk (the range alone is no measure of it: 0.6 ms against 31 ms a pass at 1,000,000 buckets).
        if deadline.end is not None:
            started, last = deadline.clock(), min(start + _CHUNK, n)
            _plain_rule(values, start, last, length, reach)
            deadline.measure(_deadline.SERIES_PACE, started, (last - start + length - 1) * values.shape[1])
        return []
    found: list[tuple[int, int, float, float, float]] = []
    held: list[tuple[np.ndarray, np.ndarray]] = []  # (positions, target indices) per chunk
    for first in range(start, n, _CHUNK):
        last = min(first + _CHUNK, n)
        span, current, rise, drop, outside = _plain_rule(values, first, last, length, reach)
        rows, cols = np.nonzero(outside)
        if len(rows):
            windows = sliding_window_view(span, length, axis=0)  # [m, k, length] view, read at the candidates only
            found.extend(_confirm(windows, current, rows, cols, first, floor, k))
        if deadline.expired():  # past the time limit: the plain rule only (see CHAINS_STAGE)
            deadline.cut(CHAINS_STAGE)
            held = []
        elif CHAINS_STAGE not in deadline.stages:
            rows, cols = np.nonzero((rise | drop) & ~outside)
            held.append((rows + first, cols))
    found.sort()
    pace = deadline.measure(_deadline.SERIES_PACE, started, seen.size)
    if not sum(len(rows) for rows, _ in held):
        return found
    positions, cols = (np.concatenate(part) for part in zip(*held))
    with _deadline.limit(None, reserve=_PASSES.get() * pace * values.size):
        return _chained(values, start, floor, length, k, found, (positions, cols), known, offset, counters)


def _plain_rule(values: np.ndarray, first: int, last: int, length: int, reach: np.ndarray) -> tuple[np.ndarray, ...]:
    """The plain rule's test of ``values[first:last]`` against the ``length`` buckets before each: the span it reads,
    the buckets, and where each rises beyond ``reach`` above its reference's minimum, drops beyond it below the
    maximum, and lies outside the reference (its candidates)."""
    span = values[first - length : last - 1]
    current = values[first:last]
    high, low = _sliding(span, length, np.maximum), -_sliding(-span, length, np.maximum)
    # The median lies in [low, high] and the spread is at least the floor: a necessary condition.
    rise, drop = current > low + reach, current < high - reach
    outside = (rise & (current > high)) | (drop & (current < low))
    return span, current, rise, drop, outside


def _chained(values: np.ndarray, start: int, floor: np.ndarray, length: int, k: float,
             found: list[tuple[int, int, float, float, float]], held: tuple[np.ndarray, np.ndarray],
             known: dict[tuple[int, int], float] | None = None,
             offset: int = 0, counters: Sequence[tuple] = ()) -> list[tuple[int, int, float, float, float]]:
    """``found`` and the ``held`` buckets (``(positions, target indices)``, two arrays in position order, see
    :func:`scan`) flagged once the bursts the series came back from before them are read as their medians in their
    references.

    The bursts start at the flagged buckets found (one that ends a counter's run, in ``counters``, read with the
    counter's median, as :func:`scan` reports it and an update's ``known`` holds it) and at those before ``start``:
    ``known``, else those among the ``length`` buckets before it (scanned again against the buckets before them,
    where ``values`` holds them: a chain of bursts reaching further back is not seen). Each target is swept in position order
    (:func:`_sweep`): a burst ends at its first bucket back (:func:`settled_runs`' rule), and a held bucket
    after it, within a reference of its end and not inside a later burst, is judged against its reference
    with the bursts that ended before it read as their medians; flagged, it starts a burst of its own.
    """
    if known is not None:
        prior = [(p, c, float(values[p, c]), median, 0.0) for (p, c), median in known.items() if 0 <= p < start]
    else:
        prior = scan(values[:start], start - length, floor, length, k) if start - length >= MIN_REFERENCE else []
    if counters:  # a bucket that ends a counter's run is the counter's flag (scan reports it): read with its median
        taken = {(flag[0], flag[1]) for flag in counters}
        flags = sorted(prior + list(counters) + [flag for flag in found if (flag[0], flag[1]) not in taken])
    else:
        flags = prior + found
    if not flags:
        return found
    new: list[tuple[int, int, float, float, float]] = []
    positions, cols = held
    for col in sorted(set(np.unique(cols).tolist()) & {f[1] for f in flags}):
        new.extend(_sweep(values, col, floor, length, k, [f for f in flags if f[1] == col], positions[cols == col],
                          offset))
    return sorted(found + new) if new else found


#: The most held positions :func:`_sweep` sets apart from the flags' in Python (a set; at 256 it costs what
#: ``np.isin`` does): more, with ``np.isin``.
_FEW_HELD = 256


def _sweep(values: np.ndarray, col: int, floor: np.ndarray, length: int, k: float, flags: list[tuple],
           held: np.ndarray, offset: int = 0) -> list[tuple[int, int, float, float, float]]:
    """The ``held`` positions (ascending) of target ``col`` that :func:`_chained` flags, given its other ``flags``.

    Only a burst whose first bucket is beyond its raw reference's range (flagged by the plain rule), or lies
    ``UNLOCK_FLOORS`` floors from its reference median, is read as its median in a later reference, and only where
    it lies far above the rest of that reference (``K`` times its largest magnitude, at least ``K`` floors): a
    bucket flagged because such a burst hid it unlocks the next one only if it is that far out itself (a sentinel
    written again and again), so the bursts of a bursty series cannot flag each other in a cascade. A held bucket
    inside a burst (the series has not come back yet: a burst still going lasts to the end) is judged so with that
    burst read as its median too, where it unlocks and its reference holds a bucket before it, and flagged only beyond
    ``UNLOCK_FLOORS`` floors from that median; it starts no burst of its own. The rule reads a burst's value, median
    and the floor only, so an update's scan, given the flags found before, agrees.
    """
    deadline = _deadline.current()
    if deadline.end is not None and deadline.expired():
        deadline.cut(CHAINS_STAGE)  # past the time limit already: none is judged again (the lists below not built)
        return []
    column = values[:, col]
    points = column.tolist() if bool(np.isfinite(column).all()) else None  # None: NaN among them, numpy's tests
    medians = {f[0]: f[3] for f in flags}
    plain = dict(zip(medians, _plain_flags(column, list(medians), length, offset)))
    # The positions never a bucket back: the flags a scan of the whole series holds when its sweep begins (the plain
    # rule's, and those with fewer than a reference before them). A flag the sweep finds (a chained one) is found at
    # its own position, after the bursts before it ended, so it never ends one before it: a known one is read so too.
    marked = sorted(position for position, first in plain.items() if first)
    starts = np.fromiter(medians, dtype=np.int64, count=len(medians))
    held = np.asarray(held, dtype=np.int64)
    if len(held) <= _FEW_HELD:  # an update's few: np.isin's setup costs 50 us a call, a set's 3 us
        taken = set(starts.tolist())
        others = np.array([position for position in held.tolist() if position not in taken], dtype=np.int64)
    else:
        others = held[~np.isin(held, starts)]
    positions = np.concatenate([starts, others])
    kinds = np.repeat(np.array([0, 1], dtype=np.int8), [len(starts), len(positions) - len(starts)])
    order = np.lexsort((kinds, positions))  # by position, a burst's start before a held bucket
    events = zip(positions[order].tolist(), kinds[order].tolist())
    runs: list[tuple[int, int, float, bool]] = []  # (first, last, median, unlocks), in order, not overlapping
    unlock = UNLOCK_FLOORS * floor[col]  # how far from its median a burst unlocks the buckets after it
    unlocked = -1  # the last bucket of the latest burst that unlocks (runs end in order)
    new = []
    for count, (position, is_held) in enumerate(events):
        if deadline.end is not None and not count % CLOCK_EVERY and deadline.expired():
            deadline.cut(CHAINS_STAGE)  # past the time limit: the held buckets left are not judged again
            break
        member = bool(runs) and position <= runs[-1][1]  # inside a burst (the series has not come back yet)
        if member and (not is_held or not runs[-1][3] or position - runs[-1][0] >= length):
            continue  # a flag inside a burst belongs to it; past a reference of it, or where it unlocks nothing, all do
        if is_held:
            if not member and unlocked < position - length:
                continue  # no burst that unlocks ended in its reference: held by a real maximum
            reference = column[position - length : position]  # a view: copied below only where a burst is settled
            inside = []  # the bursts that end in its reference: the newest runs (they end in order)
            for first, last, median, unlocks in reversed(runs):
                if last < position - length:
                    break
                inside.append((max(first - position + length, 0), last - position + length + 1, median, unlocks))
            if points is None:
                clean = np.ones(length, dtype=bool)
                for low, high, _, _ in inside:
                    clean[low:high] = False
                rest, value = reference[clean], column[position]
                if len(rest) and rest.min() <= value <= rest.max():
                    continue  # outside the bursts its reference holds values on both sides of it: never beyond them
                scale = k * max(float(np.abs(rest).max(initial=0.0)), float(floor[col]))
                settle = [(low, high, median) for low, high, median, unlocks in inside
                          if unlocks and np.abs(reference[low:high]).max() > scale]
            else:  # the same tests on Python floats: a few dozen points each, where numpy's per-call cost dominates
                rest, cursor, base, value = [], 0, position - length, points[position]
                for low, high, _, _ in reversed(inside):  # in position order, not overlapping
                    rest += points[base + cursor : base + low]
                    cursor = high
                rest += points[base + min(cursor, length) : position]
                if rest and min(rest) <= value <= max(rest):
                    continue  # outside the bursts its reference holds values on both sides of it: never beyond them
                scale = k * max(max(map(abs, rest), default=0.0), float(floor[col]))
                settle = [(low, high, median) for low, high, median, unlocks in inside
                          if unlocks and max(map(abs, points[base + low : base + min(high, length)])) > scale]
            if member and not (len(rest) and settle and settle[0][1] > length):
                continue  # a member is judged only with its burst read as its median, beside buckets before it
            if settle:
                reference = reference.copy()
                for low, high, median in settle:
                    reference[low:high] = median
            reach = k * floor[col]
            high, low = reference.max(), reference.min()
            if not ((value > high and value > low + reach) or (value < low and value < high - reach)):
                continue
            deviation, median = _deviation(reference[None], np.array([value]), floor[col : col + 1])
            if not deviation[0] > k:
                continue
            median = float(median[0])
            if member and not abs(float(value) - median) > unlock:
                continue  # within UNLOCK_FLOORS floors: load (a burst of several buckets, a level shift) belongs to it
            new.append((position, col, float(value), median, float(deviation[0])))
            bisect.insort(marked, position)
            if member:
                continue  # flagged within its burst, which goes on
            unlocks = abs(float(value) - median) > unlock  # held by its raw reference's extreme
        else:
            median, value = medians[position], column[position] if points is None else points[position]
            unlocks = plain[position] or abs(float(value) - median) > unlock
        back = _first_back(column, position, median, abs(value - median) / K, marked, points)
        if back is None:
            back = len(column)  # still going: every later bucket belongs to it
        runs.append((position, back - 1, median, unlocks))
        if unlocks:
            unlocked = back - 1
    return new


def _plain(column: np.ndarray, position: int, length: int, offset: int = 0) -> bool:
    """Whether the flag at ``position`` of ``column`` is one the plain rule finds (beyond the range of the ``length``
    buckets before it), or has fewer than ``length`` before it in the series (found before the sweep of a whole
    series begins). ``offset``: the position of ``column[0]`` in the series (an update's tail starts later); a flag
    whose reference begins before ``column`` is judged against the part of it ``column`` holds."""
    if position + offset < length:
        return True
    raw = column[max(position - length, 0) : position]
    return not len(raw) or not raw.min() <= column[position] <= raw.max()


#: :func:`_plain_flags` tests this many flags or more at once (fewer: one by one, which costs less for a few).
_PLAIN_AT_ONCE = 16


def _plain_flags(column: np.ndarray, positions: list[int], length: int, offset: int = 0) -> list[bool]:
    """:func:`_plain` of each of ``positions`` (flags in ``column``), tested at once: an update's sweep judges every
    flag among the kept buckets again (a sentinel in every third bucket: about 40 a target), and each alone is two
    numpy reductions of a few dozen points. A flag with a whole reference in ``column`` reads its window; one whose
    reference ``column`` cuts at its start (an update's tail, ``offset`` > 0) reads the running minimum and maximum of
    ``column``'s first points."""
    if len(positions) < _PLAIN_AT_ONCE:
        return [_plain(column, position, length, offset) for position in positions]
    at = np.asarray(positions, dtype=np.int64)
    result = at + offset < length
    whole = ~result & (at >= length)  # a reference of length buckets, all in column
    if whole.any():
        reference = sliding_window_view(column, length)[at[whole] - length]  # [f, length]: column[p - length : p]
        value = column[at[whole]]
        # not (min <= value <= max), as _plain reads it: a NaN in the reference (its min and max NaN) or as the value
        # is outside it
        result[whole] = ~((reference.min(axis=1) <= value) & (value <= reference.max(axis=1)))
    cut = ~result & ~whole & (at > 0)  # a reference cut at column's start (an update's tail): column[:p]
    if cut.any():
        head = column[:length]
        lowest, highest = np.minimum.accumulate(head), np.maximum.accumulate(head)  # NaN from one on, as min() reads it
        before, value = at[cut] - 1, column[at[cut]]
        result[cut] = ~((lowest[before] <= value) & (value <= highest[before]))
    result[~whole & (at == 0)] = True  # nothing before it
    return result.tolist()


def _sliding(values: np.ndarray, length: int, ufunc: np.ufunc) -> np.ndarray:
    """``ufunc.reduce`` of every ``length`` consecutive rows of ``values`` (``[n, k]`` -> ``[n - length + 1, k]``).

    Van Herk / Gil-Werman: within blocks of ``length`` rows, running reductions from each
    block's start and from its end; a window spans at most two blocks, so its result is one
    ``ufunc`` of the two. O(n) instead of O(n * length).
    """
    n, k = values.shape
    blocks = -(-n // length)
    padded = np.full((blocks * length, k), -np.inf)
    padded[:n] = values
    shaped = padded.reshape(blocks, length, k)
    from_start = ufunc.accumulate(shaped, axis=1).reshape(-1, k)
    from_end = ufunc.accumulate(shaped[:, ::-1], axis=1)[:, ::-1].reshape(-1, k)
    m = n - length + 1
    return ufunc(from_end[:m], from_start[length - 1 : length - 1 + m])


def weights(values: np.ndarray, start: int, floor: np.ndarray) -> np.ndarray | None:
    """Per-bucket weights ``[n - start, k]`` of ``values[start:]``: 1, or ``(K / deviation)^4`` where flagged;
    ``None`` when nothing is flagged.

    A window weighted so contributes ``weight * deviation^2 = K^4 / deviation^2 <= K^2``
    (in floors squared) to second moments: bounded, and vanishing for an absurd value
    (1e9 among counts of 50 counts about 1e-10 of one ordinary window), while a bucket
    just past the threshold still counts almost fully.
    """
    return _weights_of(scan(values, start, floor), values.shape, start)


def _weights_of(found: Sequence[tuple], shape: tuple[int, ...], start: int) -> np.ndarray | None:
    """The weights ``[n - start, k]`` (``shape``: ``(n, k)``) of the flags ``found`` (:func:`scan`'s, with their
    deviations): ``(K / deviation)^4`` where flagged, else 1; ``None`` when nothing is flagged."""
    if not found:
        return None
    result = np.ones((max(shape[0] - start, 0), shape[1]))
    for position, col, _, _, deviation in found:
        result[position - start, col] = (K / deviation) ** 4
    return result


def element_weights(y: np.ndarray, start: int, floor: np.ndarray,
                    known: dict[tuple[int, int], float] | None = None) -> np.ndarray | None:
    """The weights ``(n - start, k)`` of ``y[start:]`` (raw values ``[n, k]``) under :func:`weights`' rule, each
    position flagged as a scan of all of ``y`` from its first point flags it (:func:`series_flags`); ``None`` when
    all are 1.

    A position's weight depends only on the points of ``y`` up to it and ``floor``, not on ``start``: a fit on a
    series and its refit from any later position agree on it. An update passes the points it keeps before its new
    ones (at least ``HISTORY_BUCKETS``) as ``y``: without ``known``, its new points are judged with a chain of bursts
    found from the first kept point on (a chain that began before it is not seen). ``known``: the buckets flagged
    before ``start`` as the scans of the whole series found them (``{(position, target index): reference median}``,
    as a ``WorkloadPredictor`` records them; a :class:`Known` tells the position of ``y[0]`` in the series); the points
    from ``start`` on are then judged with those flags, as a scan of the whole series judges them (:func:`scan`), where
    ``start >= REFERENCE_BUCKETS``. A ``known`` with a ``floor`` raises ``floor`` to it.
    """
    n = len(y)
    if start >= n:
        return None
    if getattr(known, "floor", None) is not None:
        floor = np.maximum(floor, known.floor)
    if start == n - 1 and (start < MIN_REFERENCE or not may_flag(
            y[max(start - REFERENCE_BUCKETS, 0) : start], y[start], floor)):
        return None  # one new point (the common update), far from nothing before it
    if known is not None and start >= REFERENCE_BUCKETS:
        found = scan(y, start, floor, known=known, offset=getattr(known, "offset", 0))
    elif start == n - 1 and start >= REFERENCE_BUCKETS and not _held(y[start - REFERENCE_BUCKETS :], floor) \
            and not _may_end_counter(y, floor):
        # the plain rule alone: no chain can flag it, and no counter's run ends there (see scan)
        found = scan(y, start, floor, known={})
    else:
        found = [flag for flag in series_flags(y, floor) if flag[0] >= start]
    return _weights_of(found, y.shape, start)


def _may_end_counter(values: np.ndarray, floor: np.ndarray) -> bool:
    """Whether :func:`counter_flags` judges ``values[-1]`` (``values`` ``[n, k]``): it ends ``COUNTER_RUN`` buckets
    that never decrease and climb, more than ``COUNTER_MARGIN`` floors above the least of ``values``. Its flag then
    depends on the flags among the buckets before it (left out of its reference, with a counter's start), which a
    scan from the first point finds and a scan of the new bucket alone does not."""
    if len(values) < COUNTER_RUN - 1 + MIN_REFERENCE + 1:
        return False
    high = values[-1] > values.min(axis=0) + COUNTER_MARGIN * floor  # first: most climbs of noise stay below
    if not high.any():
        return False
    tail = values[len(values) - COUNTER_RUN :]
    return bool((high & (np.diff(tail, axis=0) >= 0).all(axis=0) & (tail[-1] > tail[0])).any())


def _held(values: np.ndarray, floor: np.ndarray) -> bool:
    """Whether ``values[-1]`` is held (:func:`scan`) against the buckets before it: beyond ``K`` floors from their
    range's far end but not beyond its near one, where only a chain of bursts before it can flag it."""
    reference, value = values[:-1], values[-1]
    high, low, reach = reference.max(axis=0), reference.min(axis=0), K * floor
    rise, drop = value > low + reach, value < high - reach
    return bool(((rise | drop) & ~((rise & (value > high)) | (drop & (value < low)))).any())


def leading_weights(y: np.ndarray, floor: np.ndarray) -> np.ndarray | None:
    """The weights ``[n, k]`` of ``y``'s first ``REFERENCE_BUCKETS`` points, which have too few before them for
    :func:`element_weights`, each judged against the ``REFERENCE_BUCKETS`` after it (:func:`weights` on the start
    reversed); the later points weigh 1. ``None`` when all are 1.

    For statistics of a whole fitted series, such as a per-key scale: a position's weight here depends on the
    points after it, so it must never weigh windows that an update has to reproduce.
    """
    n = len(y)
    length = min(n, 2 * REFERENCE_BUCKETS)
    judged = min(REFERENCE_BUCKETS, length - MIN_REFERENCE)  # each with at least MIN_REFERENCE points after it
    if judged <= 0:
        return None
    found = weights(y[:length][::-1], length - judged, floor)
    if found is None:
        return None
    result = np.ones(y.shape)
    result[:judged] = found[::-1]
    return result


def continued_weights(kept: np.ndarray | None, new: np.ndarray | None, shape: tuple[int, ...],
                      n_old: int) -> np.ndarray | None:
    """The weights ``shape`` of a kept tail (its first ``n_old`` points) followed by new points (weights ``new``);
    ``None`` when both are all 1. ``kept`` weighs the newest points of the tail (a model that keeps another
    length than the tail's, as the LSTM's linear base does, aligns them at its end); older points weigh 1."""
    if kept is None and new is None:
        return None
    element = np.ones(shape)
    if kept is not None and n_old:
        count = min(len(kept), n_old)
        element[n_old - count : n_old] = kept[len(kept) - count :]
    if new is not None:
        element[n_old:] = new
    return element


def kept_weights(element: np.ndarray | None, keep: int) -> np.ndarray | None:
    """The weights of the newest ``keep`` points of ``element`` (``None``: all 1), as a model keeps them."""
    if element is None or bool((element[-keep:] >= 1.0).all()):
        return None
    return element[-keep:].copy()


def _confirm(windows: np.ndarray, current: np.ndarray, rows: np.ndarray, cols: np.ndarray, offset: int,
             floor: np.ndarray, k: float) -> list[tuple[int, int, float, float, float]]:
    """The candidates ``(rows, cols)`` more than ``k * max(1.4826 MAD, floor)`` from their window's median."""
    value = current[rows, cols]
    deviation, median = _deviation(windows[rows, cols], value, floor[cols])  # windows[rows, cols]: [c, length]
    hit = deviation > k
    return [(int(r) + offset, int(c), float(v), float(m), float(d))
            for r, c, v, m, d in zip(rows[hit], cols[hit], value[hit], median[hit], deviation[hit])]


def _deviation(references: np.ndarray, value: np.ndarray, floor: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``|value - median| / max(1.4826 MAD, floor)`` of each value against its reference (a row of ``references``,
    ``[c, length]``), and the references' medians."""
    median = np.median(references, axis=1)
    spread = 1.4826 * np.median(np.abs(references - median[:, None]), axis=1)
    return np.abs(value - median) / np.maximum(spread, floor), median


def settled_inputs(values: np.ndarray, flagged: dict[tuple[int, int], float]) -> np.ndarray | None:
    """The forecast's inputs ``values`` (``[n, k]``, the newest last) with each burst the series has come back
    from read as its reference median, begun where a counter's climb into it began (:func:`with_leads`); ``None``
    when there is none (the inputs stand as they are). Every reading of a series' flagged runs that is read again
    from its buckets (a model fit's validation windows, a predictor's ``noise_scale_``, a batched fleet's validation
    and noise) reads them so, as the forecast's inputs and an update's windows do.

    ``flagged`` maps ``(position, target index)`` to the median of that bucket's reference (as
    :func:`detect` gives it); the bursts are :func:`settled_runs`'. A burst still going (it reaches
    the newest input) stands: it may be the start of a real surge, which the forecast should follow;
    so does a level shift, after which the series never comes back. A spike that came back (a
    corrupt bucket or a burst that ended) then moves the forecast for the buckets it lasted, instead
    of for as long as it sits in the input window (a linear map's weight at lag ``L`` times a 1e6
    bucket is noise of size 1e4, not a forecast).
    """
    runs = led_runs(values, flagged)
    return settle(values, runs) if runs else None


def led_runs(values: np.ndarray, flagged: dict[tuple[int, int], float]) -> list[tuple[int, int, int, float]]:
    """:func:`settled_runs` of ``flagged`` in ``values``, each begun where a counter's climb into it began
    (:func:`with_leads`): the runs every reading of a series' bursts settles; ``[]`` when there is none."""
    runs = settled_runs(values, flagged) if flagged else []
    return with_leads(values, runs) if runs else []


def settled_series(values: np.ndarray, flagged: dict[tuple[int, int], float] | None) -> np.ndarray:
    """``values`` with the runs of ``flagged`` settled (:func:`settled_inputs`; a :class:`Flags`' series settled once,
    read-only), or ``values`` itself where none is flagged or settled."""
    if not flagged:
        return values
    settled = flagged.settled(values) if isinstance(flagged, Flags) else settled_inputs(values, flagged)
    return values if settled is None else settled


class Known(dict):
    """Flagged buckets before an update's new points (``{(position, target index): reference median}``, positions of
    the points a model keeps) with ``offset``, the position of the first kept point in the series (:func:`scan`), and
    ``floor``: a least scale floor per target (the typical burst a predictor learnt since its fit, :func:`busy_floor`)
    or ``None``."""

    def __init__(self, flags: dict[tuple[int, int], float], offset: int, floor: np.ndarray | None = None):
        super().__init__(flags)
        self.offset = offset
        self.floor = floor


class Flags(dict):
    """Flagged buckets (``{(position, target index): reference median}``, a plain dict to every reader) that keep the
    last series :meth:`settled` settled with them: the members of an ensemble each read the same series settled
    (:func:`workload_predictor.models.base.evaluated_series`), and on a long sparse series each settling is a pass
    over thousands of bursts."""

    _last: tuple[np.ndarray, dict, np.ndarray | None] | None = None

    def settled(self, values: np.ndarray) -> np.ndarray | None:
        """:func:`settled_inputs` of ``values`` with these flags, computed once for an equal series and equal flags
        (both compared in full: a copy of the series settles from the kept result, and flags changed since settle
        again; the result is shared, so it is read-only)."""
        last = self._last
        if last is not None and last[0].shape == values.shape and np.array_equal(last[0], values) and last[1] == self:
            return last[2]
        settled = settled_inputs(values, self)
        if settled is not None:
            settled.setflags(write=False)
        self._last = (values.copy(), dict(self), settled)
        return settled


def bursts(values: np.ndarray, start: int, floor: np.ndarray) -> list[tuple[int, int, int, float]]:
    """:func:`settled_runs` of the buckets :func:`scan_series` flags in ``values[start:]`` (``[n, k]``) against
    ``floor``: the bursts the series came back from, ``(first, last, target index, median)`` each, begun where a
    counter's climb into one began (:func:`with_leads`), as a predictor reads them."""
    found = scan_series(values, start, floor)
    return led_runs(values, flagged_of(found)) if found else []


def shifted_runs(runs: Sequence[tuple[int, int, int, float]], shift: int,
                 length: int) -> list[tuple[int, int, int, float]]:
    """``runs`` (``(first, last, target index, median)``) with ``shift`` added to their positions, each cut to the
    positions ``[0, length)``; those outside are left out."""
    if isinstance(runs, Runs):
        return runs.shifted(shift, length)
    return _shifted_each(runs, shift, length)


def _shifted_each(runs: Sequence[tuple[int, int, int, float]], shift: int,
                  length: int) -> list[tuple[int, int, int, float]]:
    """:func:`shifted_runs`, run by run."""
    moved = [(max(first + shift, 0), min(last + shift, length - 1), col, median) for first, last, col, median in runs]
    return [run for run in moved if run[0] <= run[1]]


class Runs(tuple):
    """Bursts ``(first, last, target index, median)`` that every model of one update reads (an ensemble's members and
    the ensemble itself, :meth:`~workload_predictor.models.base.BaseForecaster._prepare_update`'s ``runs``): their
    parts as arrays, their positions shifted (:func:`shifted_runs`) and the targets of windows settled
    (:func:`settle_targets`) are computed once per update and kept here, each result for the arguments it came from
    (compared in full, bit for bit), so a reader gets what the function computes afresh. A tuple: the runs cannot
    change under what is kept."""

    def __init__(self, runs: Sequence[tuple[int, int, int, float]] = ()):
        self._parts: Any = None
        self._shifts: dict[tuple, list[tuple[int, int, int, float]]] = {}
        self._targets: list[tuple[np.ndarray, np.ndarray, np.ndarray | None]] = []

    def parts(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | bool:
        """:func:`_run_parts` of these runs (once)."""
        if self._parts is None:
            self._parts = _run_parts(self)
        return self._parts

    def shifted(self, shift: int, length: int) -> list[tuple[int, int, int, float]]:
        """:func:`shifted_runs` of these runs (a new list; once per ``shift`` and ``length``). Where every position,
        ``shift`` and ``length`` are Python ints within ``_PLAIN_INTS`` (as the predictor's are), the runs are shifted
        and cut at once on the positions' arrays (exact integer arithmetic, the same ints), and only those kept are
        built; else run by run."""
        key = (type(shift), shift, type(length), length)
        moved = self._shifts.get(key)
        if moved is None:
            moved = self._shifts[key] = self._moved(shift, length)
        return list(moved)

    def _moved(self, shift: int, length: int) -> list[tuple[int, int, int, float]]:
        parts = self.parts()
        if parts is False or type(shift) is not int or type(length) is not int or \
                max(abs(shift), abs(length)) >= _PLAIN_INTS or parts[0].dtype != np.int64:
            return _shifted_each(self, shift, length)
        firsts, lasts = parts[0], parts[1]
        if len(firsts) and max(int(np.abs(firsts).max()), int(np.abs(lasts).max())) >= _PLAIN_INTS:
            return _shifted_each(self, shift, length)
        low, high = np.maximum(firsts + shift, 0), np.minimum(lasts + shift, length - 1)
        kept = np.flatnonzero(low <= high)
        return [(first, last, self[i][2], self[i][3])
                for i, first, last in zip(kept.tolist(), low[kept].tolist(), high[kept].tolist())]

    def settled_targets(self, actual: np.ndarray, origins: np.ndarray) -> np.ndarray | None:
        """:func:`settle_targets` of ``actual`` and ``origins`` with these runs (a new array; once for equal numeric
        arguments: the same dtype, shape and bytes)."""
        origins = np.asarray(origins)
        if actual.dtype.kind not in "fiu" or origins.dtype.kind not in "iu":
            return _settle_targets(actual, origins, self)
        for kept_actual, kept_origins, settled in self._targets:
            if _same(kept_actual, actual) and _same(kept_origins, origins):
                return None if settled is None else settled.copy()
        settled = _settle_targets(actual, origins, self)
        if len(self._targets) < _KEPT_TARGETS:
            self._targets.append((actual.copy(), origins.copy(), None if settled is None else settled.copy()))
        return settled


#: :class:`Runs` shifts positions as int64 arrays where every position, shift and length lies below this in size (so
#: no sum overflows), and keeps the settled targets of this many different windows (an ensemble's update settles
#: three: its members' validation windows, its evidence's newest and its pool's newest, which are alike).
_PLAIN_INTS = 2**62
_KEPT_TARGETS = 8


def _same(kept: np.ndarray, given: np.ndarray) -> bool:
    """Whether ``given`` is ``kept`` bit for bit: the same dtype, shape and bytes."""
    return kept.dtype == given.dtype and kept.shape == given.shape and kept.tobytes() == given.tobytes()


def _run_parts(runs: Sequence[tuple[int, int, int, float]]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | bool:
    """The runs' firsts, lasts and target indices (integer arrays) and medians (float64, as setting each in a float64
    array reads it); ``False`` where a part is no integer, or a median no number. Integer parts are taken only where
    every one is a Python int (no bool)."""
    if not all(type(run[0]) is int and type(run[1]) is int and type(run[2]) is int for run in runs):
        return False
    try:
        firsts, lasts, cols = (np.array([run[j] for run in runs], dtype=np.int64) for j in range(3))
        medians = np.array([run[3] for run in runs], dtype=np.float64)
    except (TypeError, ValueError, OverflowError):
        return False
    return firsts, lasts, cols, medians


def settle_targets(actual: np.ndarray, origins: np.ndarray, runs: list[tuple[int, int, int, float]]) -> np.ndarray | None:
    """A copy of the targets ``actual`` (``[m, H, k]``) of the windows at ``origins`` (``[m]``) with every cell inside
    one of ``runs`` (``(first, last, target index, median)``, positions of the same series) set to its median;
    ``None`` when no cell lies in one."""
    if isinstance(runs, Runs):
        return runs.settled_targets(actual, origins)
    return _settle_targets(actual, origins, runs)


def _settle_targets(actual: np.ndarray, origins: np.ndarray,
                    runs: Sequence[tuple[int, int, int, float]]) -> np.ndarray | None:
    """:func:`settle_targets`, computed."""
    if not runs or not len(origins):
        return None
    positions = np.asarray(origins)[:, None] + np.arange(actual.shape[1])  # [m, H]
    if len(runs) >= _PAINT_RUNS and actual.ndim == 3 and actual.dtype == np.float64 and positions.dtype.kind == "i":
        low, high = int(positions.min()), int(positions.max())
        if high - low < _PAINT_SPAN * positions.size:
            painted = _painted_targets(actual, positions, runs, low, high)
            if painted is not False:
                return painted
    return _settled_each(actual, positions, runs)


#: :func:`settle_targets` paints its runs on a line of positions from this many runs on (below, a test of every
#: window's cells per run costs less than the line), where the windows' positions span at most ``_PAINT_SPAN`` times
#: their count (a validation pool's consecutive origins span about its windows; the line's length stays bounded).
_PAINT_RUNS = 8
_PAINT_SPAN = 4


def _painted_targets(actual: np.ndarray, positions: np.ndarray, runs: list[tuple[int, int, int, float]], low: int,
                     high: int) -> np.ndarray | None | bool:
    """:func:`settle_targets` for windows whose cells ``positions`` (``[m, H]``) lie in ``[low, high]``: each target's
    runs are painted in order on a line of those positions (the index of the latest run covering each, as the runs set
    in order leave the cells), then every cell reads its position's run. ``False`` for a run whose target index is not
    one of ``actual``'s, a position that is no integer or a median that is no number (:func:`_settled_each` answers
    as the runs set one by one do). :class:`Runs` give their parts made once."""
    parts = runs.parts() if isinstance(runs, Runs) else False
    if parts is not False:
        firsts, lasts, cols, medians = parts
    else:
        try:
            firsts, lasts, cols = (np.array([run[j] for run in runs]) for j in range(3))
            medians = np.array([run[3] for run in runs], dtype=np.float64)  # as setting each in a float64 array reads it
        except (TypeError, ValueError, OverflowError):
            return False
    if any(part.dtype.kind != "i" for part in (firsts, lasts, cols)) or \
            not bool(((cols >= 0) & (cols < actual.shape[2])).all()):
        return False
    starts, stops = np.maximum(firsts, low) - low, np.minimum(lasts, high) + 1 - low  # on the line
    lines: dict[int, np.ndarray] = {}
    hit = np.flatnonzero(starts < stops)
    for i, start, stop, col in zip(hit.tolist(), starts[hit].tolist(), stops[hit].tolist(), cols[hit].tolist()):
        line = lines.get(col)
        if line is None:
            line = lines[col] = np.full(high - low + 1, -1, dtype=np.int64)
        line[start:stop] = i
    changed = None
    offsets = positions - low
    for col, line in lines.items():
        index = line[offsets]  # [m, H]: the run each cell reads, -1 for none
        inside = index >= 0
        if inside.any():
            changed = actual.copy() if changed is None else changed
            changed[..., col][inside] = medians[index[inside]]
    return changed


def _settled_each(actual: np.ndarray, positions: np.ndarray,
                  runs: list[tuple[int, int, int, float]]) -> np.ndarray | None:
    """:func:`settle_targets` with the runs set one by one (each tests every window's cells)."""
    changed = None
    for first, last, col, median in runs:
        inside = (positions >= first) & (positions <= last)
        if inside.any():
            changed = actual.copy() if changed is None else changed
            changed[..., col][inside] = median
    return changed


def settle(values: np.ndarray, runs: list[tuple[int, int, int, float]]) -> np.ndarray:
    """A copy of ``values`` with each of ``runs`` (``(first, last, target index, median)``) set to its median."""
    changed = values.copy()
    if len(runs) < 64:
        for first, last, col, median in runs:
            changed[first : last + 1, col] = median
        return changed
    firsts, lasts, cols, medians = (np.array(part) for part in zip(*runs))
    order = np.lexsort((firsts, cols))
    # Runs of one bucket set at once where every run lies within the series (as a slice reads it) and no two runs of a
    # target overlap (then the order they are set in is moot); else each in order.
    apart = bool((firsts >= 0).all() and (lasts < len(values)).all() and (cols >= 0).all()) and \
        not bool(((cols[order][1:] == cols[order][:-1]) & (firsts[order][1:] <= lasts[order][:-1])).any())
    single = (firsts == lasts) if apart else np.zeros(len(runs), dtype=bool)
    changed[firsts[single], cols[single]] = medians[single]
    for i in np.flatnonzero(~single).tolist():
        first, last, col, median = runs[i]
        changed[first : last + 1, col] = median
    return changed


def bridged(values: np.ndarray, settled: np.ndarray, runs: Sequence[tuple[int, int, int, float]],
            around: Sequence[tuple[int, int, int, float]] = ()) -> np.ndarray:
    """``settled`` (``values``, ``[n, k]``, with ``runs`` and ``around`` at their medians: :func:`settle`) with each
    bucket of ``runs`` (``(first, last, target index, median)``, positions of ``values``' buckets) read as its target's
    expected value between the nearest buckets before and after it that lie in no run of its target (of ``runs`` or
    ``around``), as ``values`` holds them: a series about its median ``m`` (the bucket's value in ``settled``) whose
    buckets correlate as its ordinary ones do at lag 1 (``rho``, over the pairs of adjacent buckets in no run, up to
    the last run's next bucket: later buckets may hold a burst still going), ``d`` buckets after the one before (of
    value ``L``) and ``e`` before the one after (``R``)::

        m + (L - m) rho^d (1 - rho^(2e)) / (1 - rho^(2(d + e))) + (R - m) rho^e (1 - rho^(2d)) / (1 - rho^(2(d + e)))

    (the mean of a stationary AR(1) series between two of its values). With ``rho`` at 1 it is the straight line from
    ``L`` to ``R``, at 0 the median. A short burst in a series that follows a shape (a trough or a peak of a season)
    is read on that shape, where its median reads every bucket of it at the level of its reference; the middle of a
    long one, and a burst in noise, at the median. A bucket with no such bucket on one side keeps its value in
    ``settled``. A new array where a bucket is read so, else ``settled`` itself; neither argument is modified."""
    if not len(runs):
        return settled
    n, out = len(values), None
    positions = np.arange(n)
    bridge = np.array([run[:3] for run in runs], dtype=np.int64).reshape(-1, 3)
    every = np.array([run[:3] for run in (*runs, *around)], dtype=np.int64).reshape(-1, 3)
    for col in np.unique(bridge[:, 2]).tolist():
        inside, read = _covered(every, col, n), _covered(bridge, col, n)
        before = np.maximum.accumulate(np.where(inside, -1, positions))
        after = np.minimum.accumulate(np.where(inside, n, positions)[::-1])[::-1]
        read &= (before >= 0) & (after < n)
        if not read.any():
            continue
        column = values[:, col]
        rho = _lag_one(column[: int(after[read].max()) + 1], inside)
        if rho == 0.0:
            continue  # every bucket at its median, as settled reads it
        at, low, high = positions[read], before[read], after[read]
        d, e = (at - low).astype(np.float64), (high - at).astype(np.float64)
        if rho >= 1.0:
            to_low, to_high = e / (d + e), d / (d + e)  # the limit: the straight line
        else:
            a = np.log(rho)
            whole = np.expm1(2 * (d + e) * a)
            to_low, to_high = rho**d * np.expm1(2 * e * a) / whole, rho**e * np.expm1(2 * d * a) / whole
        median = settled[at, col]
        out = settled.copy() if out is None else out
        out[at, col] = median + (column[low] - median) * to_low + (column[high] - median) * to_high
    return settled if out is None else out


def _lag_one(column: np.ndarray, inside: np.ndarray) -> float:
    """The lag-1 correlation of ``column``'s adjacent buckets both outside ``inside`` (bools, at least as long), in
    ``[0, 1]``: 0 where fewer than 3 such pairs are, or either side of them is constant."""
    ordinary = ~inside[: len(column)]
    pairs = np.flatnonzero(ordinary[:-1] & ordinary[1:])
    if len(pairs) < 3:
        return 0.0
    x, z = column[pairs], column[pairs + 1]
    x, z = x - x.mean(), z - z.mean()
    x_size, z_size = float(np.abs(x).max()), float(np.abs(z).max())
    if not (x_size > 0 and z_size > 0 and np.isfinite(x_size) and np.isfinite(z_size)):
        return 0.0
    x, z = x / x_size, z / z_size  # the products below stay finite whatever the loads' size
    return float(np.clip((x @ z) / np.sqrt((x @ x) * (z @ z)), 0.0, 1.0))


def _covered(runs: np.ndarray, col: int, n: int) -> np.ndarray:
    """``[n]`` bools: the positions ``0 .. n-1`` inside a run of ``runs`` (``[r, 3]``: first, last, target index) of
    target ``col``."""
    mine = runs[runs[:, 2] == col]
    marks = np.zeros(n + 1, dtype=np.int64)  # +1 at each run's first bucket, -1 after its last
    np.add.at(marks, np.clip(mine[:, 0], 0, n), 1)
    np.add.at(marks, np.clip(mine[:, 1] + 1, 0, n), -1)
    return np.cumsum(marks[:n]) > 0


def settled_runs(values: np.ndarray, flagged: dict[tuple[int, int], float]) -> list[tuple[int, int, int, float]]:
    """The bursts of ``values`` (``[n, k]``) the series came back from: ``(first, last, target index, median)``.

    A burst starts at a flagged bucket and lasts while the buckets after it stay more than a
    ``K``-th of its first deviation from its first reference median (so a second corrupt bucket
    right after the first, which the plain rule does not flag because the reference's maximum now holds
    the first, belongs to it, flagged or not, see :func:`_sweep`); the first bucket back within that distance
    ends it. A burst that lasts to the newest input has not come back.
    """
    runs = []
    for col in sorted({c for _, c in flagged}):
        positions = sorted(p for p, c in flagged if c == col)
        column = values[:, col]
        medians = [flagged[(first, col)] for first in positions]
        # A burst of one bucket (the next is back, :func:`_first_back`'s first test) is judged for all at once: a
        # sparse series holds thousands of them. It covers no later flag; the others are searched in order.
        quick = _back_next(column, np.asarray(positions, dtype=np.int64), np.asarray(medians, dtype=np.float64))
        end, stop, longer = -1, len(positions), []
        for i in np.flatnonzero(~quick).tolist():
            first = positions[i]
            if first <= end:
                continue  # inside the burst already found
            median = medians[i]
            back = _first_back(column, first, median, abs(values[first, col] - median) / K, positions)
            if back is None:
                stop = i  # still going: it and every later flag stand
                break
            end = back - 1
            longer.append((i, end))
        found = [(i, positions[i]) for i in np.flatnonzero(quick[:stop]).tolist()]
        if longer:  # those inside a longer burst belong to it
            starts = np.array([positions[i] for i, _ in longer], dtype=np.int64)
            ends = np.array([last for _, last in longer], dtype=np.int64)
            at = np.array([first for _, first in found], dtype=np.int64)
            before = np.searchsorted(starts, at, side="left") - 1
            inside = (before >= 0) & (ends[np.maximum(before, 0)] >= at)
            found = [item for item, within in zip(found, inside.tolist()) if not within]
            found = sorted(found + [(i, positions[i]) for i, _ in longer])
            last_of = dict(longer)
        else:
            last_of = {}
        runs.extend((first, last_of.get(i, first), col, medians[i]) for i, first in found)
    return runs


def _back_next(column: np.ndarray, positions: np.ndarray, medians: np.ndarray) -> np.ndarray:
    """For each flagged position (ascending, each once) with its reference median: whether the next position is not
    flagged and within a ``K``-th of the flag's deviation from that median (:func:`_first_back`'s first test)."""
    after = positions + 1
    result = after < len(column)
    result[:-1] &= positions[1:] != after[:-1]
    at = np.flatnonzero(result)
    reach = np.abs(column[positions[at]] - medians[at]) / K
    result[at] = np.abs(column[after[at]] - medians[at]) <= reach
    return result


def _first_back(column: np.ndarray, first: int, median: float, reach: float, flagged: list[int],
                points: list[float] | None = None) -> int | None:
    """The first position after ``first`` that is not flagged and within ``reach`` of ``median`` (None: none), read
    in growing chunks (a level shift early in a long series is a long search); the next position alone first (a
    sparse series' burst is one bucket long: thousands of them), from ``points`` (``column`` as a list) where given."""
    start, size = first + 1, 64
    if start < len(column) and abs((float(column[start]) if points is None else points[start]) - median) <= reach and \
            bisect.bisect_left(flagged, start) == bisect.bisect_right(flagged, start):
        return start
    while start < len(column):
        stop = min(start + size, len(column))
        back = np.abs(column[start:stop] - median) <= reach
        # bisect on the list itself: np.searchsorted would copy the whole list into an array at every call
        inside = flagged[bisect.bisect_left(flagged, start) : bisect.bisect_left(flagged, stop)]
        back[np.asarray(inside, dtype=np.int64) - start] = False
        found = np.flatnonzero(back)
        if len(found):
            return start + int(found[0])
        start, size = stop, 2 * size
    return None


def records(found: Sequence[tuple[int, int, float, float]], timestamp_of: Any,
            targets: Sequence[str]) -> list[tuple[pd.Timestamp, str, float, float]]:
    """``detect``'s output as ``(timestamp, target, value, recent median)``; ``timestamp_of(position)``."""
    return [(timestamp_of(p), str(targets[c]), v, m) for p, c, v, m in found[-KEPT:]]


def recent_flagged(old: np.ndarray | None, stamps: Any, last: pd.Timestamp, freq: pd.Timedelta) -> np.ndarray | None:
    """The starts (UTC ``datetime64[ns]``, ascending, each once) of the flagged buckets among the newest
    ``RECENT_BUCKETS`` up to ``last``: those of ``old`` and the new ``stamps``. ``old`` itself when there is no new
    stamp (a reader may hold it; the count reads only those since its window's start)."""
    stamps = np.asarray(stamps, dtype="datetime64[ns]")
    if not len(stamps):
        return old
    since = _naive_utc(recent_start(last, freq))
    joined = stamps if old is None else np.concatenate([old, stamps])
    return np.unique(joined[joined >= since])


def recent_flagged_count(stamps: np.ndarray | None, last: pd.Timestamp, freq: pd.Timedelta) -> int:
    """The flagged buckets (:func:`recent_flagged`'s ``stamps``) among the newest ``RECENT_BUCKETS`` up to ``last``."""
    if stamps is None:
        return 0
    since = _naive_utc(recent_start(last, freq))
    return int(np.count_nonzero(stamps >= since))


def kept(old: collections.deque | None, new: list) -> collections.deque:
    """The newest ``KEPT`` anomalies: ``old`` itself when ``new`` is empty (a reader may hold it), else a copy."""
    if old is not None and not new:
        return old
    result = collections.deque(old or (), maxlen=KEPT)
    result.extend(new)
    return result


def flag_rows(flagged: dict[tuple[int, int], float], first: int, count: int, k: int) -> np.ndarray | None:
    """The flags ``flagged`` (``{(position, target index): reference median}``) among the ``count`` positions from
    ``first`` as rows ``[count, k]``: the median where flagged, NaN elsewhere; ``None`` when none lies among them."""
    rows = None
    for (position, col), median in flagged.items():
        if first <= position < first + count:
            rows = np.full((count, k), np.nan) if rows is None else rows
            rows[position - first, col] = median
    return rows


def continued_flags(old: np.ndarray | None, new: np.ndarray | None, n_new: int, k: int,
                    span: int) -> np.ndarray | None:
    """The flag rows (:func:`flag_rows`) of the newest ``span`` buckets once ``n_new`` buckets (rows ``new``, ``None``:
    none flagged) follow those of ``old`` (``None``: none flagged); ``None`` when none is flagged among them."""
    if old is None and new is None:
        return None
    new = np.full((n_new, k), np.nan) if new is None else new
    rows = new[-span:] if old is None else np.concatenate([old[max(len(old) + n_new - span, 0) :], new])[-span:]
    return rows if bool((~np.isnan(rows)).any()) else None


def flags_in(rows: np.ndarray | None, count: int, newest: int) -> dict[tuple[int, int], float]:
    """The flags among the newest ``count`` of ``rows`` (:func:`flag_rows`, the newest last, at position ``newest``)
    as ``{(position, target index): reference median}``."""
    if rows is None:
        return {}
    part = rows[-count:] if count else rows[:0]
    positions, cols = np.nonzero(~np.isnan(part))
    first = newest - len(part) + 1
    return {(first + p, c): median for p, c, median in zip(positions.tolist(), cols.tolist(),
                                                             part[positions, cols].tolist())}


def recent(anomalies: Sequence[tuple], last: pd.Timestamp, freq: pd.Timedelta) -> list[tuple]:
    """The anomalies among the newest ``RECENT_BUCKETS`` buckets up to ``last``."""
    since = recent_start(last, freq)
    return [a for a in anomalies if a[0] >= since]


def recent_start(last: pd.Timestamp, freq: pd.Timedelta) -> pd.Timestamp:
    """The first of the newest ``RECENT_BUCKETS`` buckets up to ``last`` (what health counts among), or the first
    instant int64 nanoseconds hold where those buckets would begin before it (a series near 1677-09-21: every bucket
    it holds is among them)."""
    try:
        return last - (RECENT_BUCKETS - 1) * freq
    except (OverflowError, pd.errors.OutOfBoundsDatetime):
        return pd.Timestamp.min.tz_localize("UTC").tz_convert(last.tz) if last.tz is not None else pd.Timestamp.min


def _naive_utc(stamp: pd.Timestamp) -> np.datetime64:
    """``stamp`` as the naive UTC ``datetime64[ns]`` that :func:`recent_flagged` keeps."""
    return stamp.tz_convert("UTC").tz_localize(None).to_datetime64()


def with_leads(values: np.ndarray, runs: Sequence[tuple[int, int, int, float]]) -> list[tuple[int, int, int, float]]:
    """``runs`` (positions in ``values``), each begun where it climbs in as a counter's run does: where the
    ``COUNTER_RUN`` buckets ending at its first flag never decrease and the steps of the stretch that never decreases
    up to it (at most ``REFERENCE_BUCKETS`` before it, after the burst before it) have a median within half to twice
    (plus 1) its reference median (a counter's steps are the series' counts; a sentinel's climb is noise), from the
    first of that stretch, which the rule leaves unflagged below its margin (a counter's first flag is its
    ``COUNTER_RUN``-th bucket or later), after the ordinary buckets that tie before the climb (:func:`_climbs`: a
    load of a few requests a bucket repeats its values, and the stretch would reach back into it).

    Its question: where a flagged run began, for what is read again from the kept series each time (the validation
    windows' and the forecast's inputs read as the median, the windows the interval leaves out): the whole climb,
    which may hold a few ordinary buckets that climb into the counter. DLinear's statistics answer another
    one (:func:`~workload_predictor.models.dlinear.counter_starts`): which points to weigh down, at most the
    ``COUNTER_RUN - 1`` before a counter's flag, as far as an update can take its windows out again. Where a
    counter is flagged from its ``COUNTER_RUN``-th bucket, both read the same ``COUNTER_RUN - 1`` buckets."""
    ordered = sorted(runs)
    if len(ordered) <= _FEW_RUNS:
        if not any(_may_climb(values, first, col) for first, _, col, _ in ordered):
            return ordered  # none climbs in (a forecast's or an update's few runs: 2 us, 48 us in numpy below)
        if values.dtype == np.float64:  # Python's float subtraction is float64's
            return _few_leads(values, ordered)
    moved = list(ordered)
    by_column: dict[int, list[int]] = {}
    for i, run in enumerate(ordered):
        by_column.setdefault(run[2], []).append(i)
    for col, rows in by_column.items():
        firsts = np.array([ordered[i][0] for i in rows])
        lasts = np.array([ordered[i][1] for i in rows])
        low = np.maximum(np.maximum(firsts - REFERENCE_BUCKETS, np.concatenate([[-1], lasts[:-1]]) + 1), 0)
        room = np.flatnonzero(firsts - low >= COUNTER_RUN - 1)  # a first at COUNTER_RUN - 1 or later
        if not len(room):
            continue
        steps = np.diff(values[:, col])
        fall = np.maximum.accumulate(np.where(steps < 0, np.arange(len(steps)), -1))  # the latest fall up to each step
        # the stretch that never decreases up to first, from start: its steps are steps[start:first]
        start = np.zeros_like(firsts)
        start[room] = np.maximum(low[room], fall[firsts[room] - 1] + 1)
        climbing = room[firsts[room] - start[room] >= COUNTER_RUN - 1]
        for chunk in range(0, len(climbing), LEAD_CHUNK):  # [runs, REFERENCE_BUCKETS] at a time: bounded temporaries
            at = climbing[chunk : chunk + LEAD_CHUNK]
            for j, lead in zip(at, _climbs(steps, start[at], firsts[at] - start[at],
                                             np.array([ordered[rows[j]][3] for j in at]))):
                if lead >= 0:
                    _, last, _, median = ordered[rows[j]]
                    moved[rows[j]] = (int(start[j]) + int(lead), last, col, median)
    return moved


#: The most runs :func:`with_leads` first checks one by one in Python (:func:`_may_climb`) before it reads them in
#: numpy: a few runs, none of which climbs in, cost 2 us so, and 48 us in numpy's small calls.
_FEW_RUNS = 64


def _may_climb(values: np.ndarray, first: int, col: int) -> bool:
    """Whether the ``COUNTER_RUN`` buckets of target ``col`` ending at ``first`` exist and never decrease: what
    :func:`with_leads` requires of a run it moves the first bucket of (its stretch that never decreases up to the
    first bucket, ``COUNTER_RUN - 1`` steps at least)."""
    if first < COUNTER_RUN - 1:
        return False
    points = values[first - COUNTER_RUN + 1 : first + 1, col].tolist()
    return not any(later - earlier < 0 for earlier, later in zip(points, points[1:]))


def _few_leads(values: np.ndarray, ordered: list[tuple[int, int, int, float]]) -> list[tuple[int, int, int, float]]:
    """:func:`with_leads` of a few runs (sorted), one at a time in Python: the same stretches, steps (a float
    subtraction, as ``np.diff``), median (the middle step, or the mean of the two middle ones) and split
    (:func:`_climbs`), each run's ``REFERENCE_BUCKETS`` values at most read. A run whose stretch holds a NaN step
    is read by :func:`_climbs` (Python's sort does not order NaN as numpy's). An update's or a forecast's few runs
    where one may climb: 6-20 us (1-4 runs of an update's 181 values), 48-50 us in numpy's small calls."""
    moved = list(ordered)
    end: dict[int, int] = {}
    for i, (first, last, col, median) in enumerate(ordered):
        low = max(first - REFERENCE_BUCKETS, end.get(col, -1) + 1, 0)
        end[col] = last
        if first - low < COUNTER_RUN - 1:
            continue
        points = values[low : first + 1, col].tolist()
        steps = [later - earlier for earlier, later in zip(points, points[1:])]  # steps[i]: from low + i
        start = next((low + at + 1 for at in range(len(steps) - 1, -1, -1) if steps[at] < 0), low)
        climb = steps[start - low :]
        if len(climb) < COUNTER_RUN - 1:
            continue
        if any(step != step for step in climb):
            lead = int(_climbs(np.diff(values[:, col]), np.array([start]), np.array([len(climb)]),
                               np.array([median]))[0])
        else:
            lead = _climb_lead(climb, median)
        if lead >= 0:
            moved[i] = (start + lead, last, col, median)
    return moved


def _climb_lead(climb: list[float], median: float) -> int:
    """:func:`_climbs` of one climb (its steps, no NaN, none below 0) into a run of reference median ``median``."""
    ordered = sorted(climb)
    middle = len(ordered) // 2
    centre = ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2
    if not median / 2 <= centre <= 2 * median + 1:
        return -1
    score = best_score = 0
    best = None
    for at, step in enumerate(climb):  # after at + 1 steps: the zeros left before less the rises
        score += -1 if step > 0 else 1
        if best is None or score > best_score:
            best, best_score = at, score
    tied = any(step == 0 for step in climb)
    return best + 1 if tied and best_score > 0 else 0


#: Runs :func:`with_leads` reads at once (each a row of ``REFERENCE_BUCKETS`` steps: 2 MiB a temporary).
LEAD_CHUNK = 4096


def _climbs(steps: np.ndarray, start: np.ndarray, length: np.ndarray, median: np.ndarray) -> np.ndarray:
    """For each of the climbs ``steps[start:start + length]`` (``length`` at least ``COUNTER_RUN - 1``, at most
    ``REFERENCE_BUCKETS``; first differences, none below 0) into a run of reference median ``median``: where the
    counter's run begins in it, or -1 where the median of its steps is not within half to twice (plus 1) ``median``
    (a sentinel's climb is noise). It begins after the ordinary buckets that tie before it: the split of the climb
    that leaves the most steps of 0 before it and the most above 0 after it (the earliest where several do; none
    where no step is 0, a dense counter's climb). A counter's steps are the series' counts, rarely 0 (a Poisson(3)
    count: 1 in 20); the buckets of a load that stays at a low level and never decreases for a while before it climb
    by 0 mostly (ties)."""
    offsets = np.arange(REFERENCE_BUCKETS)
    valid = offsets < length[:, None]
    taken = np.where(valid, steps[np.minimum(start[:, None] + offsets, len(steps) - 1)], np.inf)
    ordered = np.sort(taken, axis=1)
    rows, middle = np.arange(len(start)), length // 2
    # np.median's number: the middle step, or the mean of the two middle ones
    centre = np.where(length % 2 == 1, ordered[rows, middle], (ordered[rows, middle - 1] + ordered[rows, middle]) / 2)
    # after i + 1 steps: the zeros left before less the rises
    score = np.where(valid, np.cumsum(np.where(taken > 0, -1, 1) * valid, axis=1), np.iinfo(np.int64).min)
    best = np.argmax(score, axis=1)
    tied = ((taken == 0) & valid).any(axis=1)
    lead = np.where(tied & (score[rows, best] > 0), best + 1, 0)
    return np.where((median / 2 <= centre) & (centre <= 2 * median + 1), lead, -1)


def recorded_flags(state: dict[str, Any], last: pd.Timestamp, count: int,
                    newest: int) -> dict[tuple[int, int], float]:
    """The flagged buckets among the ``count`` up to ``last`` (the newest in ``state``, a predictor's attributes) as
    ``{(position, target index): reference median}`` with ``newest`` the position of ``last``: from ``input_flags_``
    (every flag among the buckets the predictor and its model keep), or in a file saved before it was kept, from the
    newest ``KEPT`` anomalies recorded."""
    if "input_flags_" in state:
        return flags_in(state["input_flags_"], count, newest)
    return _flagged_among(state.get("input_anomalies_"), state["targets_"], state["freq_"], last, count, newest)


def _flagged_among(anomalies: Any, targets: Sequence[str], freq: pd.Timedelta, last: pd.Timestamp, count: int,
                   newest: int) -> dict[tuple[int, int], float]:
    """The recorded ``anomalies`` among the ``count`` buckets up to ``last``, as ``{(position, target index):
    reference median}`` with ``newest`` the position of ``last``.

    The anomalies are kept newest last, so the walk back stops at the first one older than those buckets.
    """
    flagged: dict[tuple[int, int], float] = {}
    if not anomalies:
        return flagged
    first = last - (count - 1) * freq
    column = {name: j for j, name in enumerate(targets)}
    for timestamp, target, _, median in reversed(anomalies):
        if timestamp < first:
            break
        if timestamp <= last and target in column:
            flagged[(newest - (last - timestamp) // freq, column[target])] = median
    return flagged


#: Robust spreads below its reference median that a zero-filled bucket lies, with no zero in that reference, for the
#: zero to be no load but a lost bucket. The spread is the bucket-to-bucket noise (1.4826 MAD of the reference's
#: steps over sqrt(2), at least one count), not a season's drift across it: Poisson counts reach 3 from a mean of 9,
#: where a zero has a chance of 1.2e-4 (a series that idles between its rows is not told lost buckets).
LOST_SPREADS = 3.0


def _runs_of(positions: np.ndarray) -> list[np.ndarray]:
    """``positions`` (ascending) split into runs of adjacent ones."""
    return np.split(positions, np.flatnonzero(np.diff(positions) > 1) + 1)


def _ordinary_reference(values: np.ndarray, start: int, out: np.ndarray) -> np.ndarray:
    """The ``REFERENCE_BUCKETS`` buckets of ``values`` before ``start``, less those marked in ``out``."""
    low = max(start - REFERENCE_BUCKETS, 0)
    return values[low:start][~out[low:start]]


def lost_buckets(values: np.ndarray, filled: np.ndarray, out: np.ndarray) -> np.ndarray:
    """The zero-filled buckets ``filled`` (positions in ``values``, ``[n, k]``, ascending) that were lost rather than
    idle: each run of them whose reference (the ``REFERENCE_BUCKETS`` buckets before it, less those marked in
    ``out``, ``(n,)`` bools: the buckets lost already and the flagged ones, and less the runs found lost before it)
    holds no zero and, in some target, a median more than ``LOST_SPREADS`` spreads of its noise above 0. Positions in
    ``values``, ascending; ``out`` is marked with them."""
    if not len(filled):
        return filled
    found = []
    for run in _runs_of(filled):
        reference = _ordinary_reference(values, int(run[0]), out)
        if len(reference) < MIN_REFERENCE:
            continue
        median = np.median(reference, axis=0)
        steps = np.diff(reference, axis=0)  # the noise from bucket to bucket, not a season's drift across the reference
        spread = np.maximum(1.4826 * np.median(np.abs(steps - np.median(steps, axis=0)), axis=0) / np.sqrt(2.0), 1.0)
        if ((reference.min(axis=0) > 0) & (median > LOST_SPREADS * spread)).any():
            found.append(run)
            out[run] = True
    return np.concatenate(found) if found else filled[:0]


def lost_runs(values: np.ndarray, lost: np.ndarray) -> list[tuple[int, int, int, float]]:
    """The runs of ``lost`` buckets (positions in ``values``, ascending) as bursts ``(first, last, target index,
    median)`` per target, each read as the median of its reference (the ``REFERENCE_BUCKETS`` buckets before it, lost
    ones left out), as a burst the series came back from is; none for a run with no such bucket before it. ``values``
    with the flagged bursts settled, so that they do not count in those medians."""
    lost = lost[(lost >= 0) & (lost < len(values))]
    if not len(lost):
        return []
    out = np.zeros(len(values), dtype=bool)
    out[lost] = True
    runs = []
    for run in _runs_of(lost):
        reference = _ordinary_reference(values, int(run[0]), out)
        if len(reference):
            runs.extend((int(run[0]), int(run[-1]), col, float(median))
                        for col, median in enumerate(np.median(reference, axis=0)))
    return runs
