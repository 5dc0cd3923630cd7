"""Input anomalies: buckets far above the series' recent range, detected and reported, never altered.

Bursts are real load, so nothing here changes a value the model sees; a flagged bucket
is recorded on the predictor (``input_anomalies_``) and raised by ``health()`` as the
``input_anomaly`` metric.

The rule, per target, for a bucket of value ``v`` and the ``REFERENCE_BUCKETS`` buckets
before it (fewer when the history is shorter, at least ``MIN_REFERENCE``)::

    v > max(reference)  and  v > median(reference) + K * max(1.4826 * MAD(reference), floor)

``floor`` is the target's 90th percentile over the fitted series (at least 1): a recent
history of zeros or of low Poisson counts has a MAD near 0, and without the floor an
ordinary burst of a bursty trace after a quiet minute would fire. ``K = 10`` raises no
alert on either bundled Azure trace (conv, code; all three targets) at 1 s or 10 s
buckets over their hour, and fires on one 1e9 bucket in a Poisson(50) stream.
The first condition is a cheap gate: most buckets are not above the recent maximum, so
the medians are computed only for the few that are.
"""

from __future__ import annotations

import collections
from typing import Any, Sequence

import numpy as np
import pandas as pd
from numpy.lib.stride_tricks import sliding_window_view

REFERENCE_BUCKETS = 60  # buckets before a bucket that set its reference range
MIN_REFERENCE = 8  # fewer preceding buckets: not checked
K = 10.0  # robust standard deviations (or floors) above the recent median
FLOOR_QUANTILE = 0.9  # the scale floor: this quantile of the fitted series, per target
KEPT = 100  # newest anomalies kept on the predictor
RECENT_BUCKETS = 1000  # health() counts the anomalies among the newest buckets of this many
_CHUNK = 65536  # positions checked at once at fit (bounds the temporary arrays)


def floor_of(values: np.ndarray) -> np.ndarray:
    """The per-target scale floor of a fitted ``[n, k]`` series (see the module notes)."""
    return np.maximum(np.quantile(values, FLOOR_QUANTILE, axis=0), 1.0)


def detect(values: np.ndarray, start: int, floor: np.ndarray, reference: int = REFERENCE_BUCKETS,
           k: float = K) -> list[tuple[int, int, float, float]]:
    """Flagged buckets of ``values`` (``[n, k]``) at positions ``start`` and after.

    Each is ``(position, target index, value, median of its reference)``, in position
    order. The reference is the ``min(reference, start)`` buckets before each position;
    nothing is checked when that is under ``MIN_REFERENCE``. ``values`` is only read.
    """
    length = min(int(reference), int(start))
    n = len(values)
    if length < MIN_REFERENCE or start >= n:
        return []
    if n - start == 1:  # one new bucket: the common update, without building window views
        window = values[n - 1 - length : n - 1]
        above = values[-1] > window.max(axis=0)
        if not above.any():
            return []
        return _confirm(window.T[None], values[-1:], np.array([0]), np.flatnonzero(above), start, floor, k)
    found: list[tuple[int, int, float, float]] = []
    for first in range(start, n, _CHUNK):
        last = min(first + _CHUNK, n)
        windows = sliding_window_view(values[first - length : last - 1], length, axis=0)  # [m, k, length] view
        current = values[first:last]
        rows, cols = np.nonzero(current > windows.max(axis=2))
        if len(rows):
            found.extend(_confirm(windows, current, rows, cols, first, floor, k))
    found.sort()
    return found


def _confirm(windows: np.ndarray, current: np.ndarray, rows: np.ndarray, cols: np.ndarray, offset: int,
             floor: np.ndarray, k: float) -> list[tuple[int, int, float, float]]:
    """The candidates ``(rows, cols)`` above ``median + k * max(1.4826 MAD, floor)`` of their window."""
    chosen = windows[rows, cols]  # [c, length]
    median = np.median(chosen, axis=1)
    spread = 1.4826 * np.median(np.abs(chosen - median[:, None]), axis=1)
    value = current[rows, cols]
    hit = value > median + k * np.maximum(spread, floor[cols])
    return [(int(r) + offset, int(c), float(v), float(m))
            for r, c, v, m in zip(rows[hit], cols[hit], value[hit], median[hit])]


def records(found: Sequence[tuple[int, int, float, float]], timestamp_of: Any,
            targets: Sequence[str]) -> list[tuple[pd.Timestamp, str, float, float]]:
    """``detect``'s output as ``(timestamp, target, value, recent median)``; ``timestamp_of(position)``."""
    return [(timestamp_of(p), str(targets[c]), v, m) for p, c, v, m in found[-KEPT:]]


def kept(old: collections.deque | None, new: list) -> collections.deque:
    """The newest ``KEPT`` anomalies: ``old`` itself when ``new`` is empty (a reader may hold it), else a copy."""
    if old is not None and not new:
        return old
    result = collections.deque(old or (), maxlen=KEPT)
    result.extend(new)
    return result


def recent(anomalies: Sequence[tuple], last: pd.Timestamp, freq: pd.Timedelta) -> list[tuple]:
    """The anomalies among the newest ``RECENT_BUCKETS`` buckets up to ``last``."""
    since = last - (RECENT_BUCKETS - 1) * freq
    return [a for a in anomalies if a[0] >= since]
