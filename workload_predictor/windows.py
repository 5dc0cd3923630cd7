"""Sliding windows, moving-average decomposition and scaling: pure numeric kernels."""

from __future__ import annotations

from functools import lru_cache
from typing import Sequence

import numpy as np

from .errors import plural


def sliding_windows(y: np.ndarray, window: int, horizon: int) -> tuple[np.ndarray, np.ndarray]:
    """Input windows ``(m, window)`` and target windows ``(m, horizon)`` of a 1-D series.

    Row ``i`` reads ``y[i : i + window]`` and predicts ``y[i + window : i + window + horizon]``;
    ``m = len(y) - window - horizon + 1``. Both are read-only views (no copy).
    """
    y = np.asarray(y)
    if y.ndim != 1:
        raise ValueError(f"sliding_windows expects a 1-D series, got shape {y.shape}")
    m = len(y) - window - horizon + 1
    if m < 1:
        raise ValueError(f"a series of {plural(len(y), 'point')} has no window of {window} + horizon {horizon}")
    both = np.lib.stride_tricks.sliding_window_view(y, window + horizon)[:m]
    return both[:, :window], both[:, window:]


def newest(array: np.ndarray, keep: int, axis: int = 0) -> np.ndarray:
    """``array``'s last ``keep`` entries along ``axis`` (all of it where ``keep`` is 0 or its length or more, as
    ``[-keep:]`` reads them): a view where they are at least half of it, else a copy of its own, so that a buffer's
    newest entries, taken from the thousands one large update made, do not keep all of them alive until the next
    update."""
    n = array.shape[axis]
    start = n - keep if 0 < keep < n else 0
    part = array[(slice(None),) * axis + (slice(start, None),)]
    return part.copy() if start > n - start else part


def windows_at(y: np.ndarray, origins: np.ndarray, window: int) -> np.ndarray:
    """The ``window`` points before each forecast origin: ``(len(origins), window, ...)``.

    An origin ``t`` is the index of the first forecast step, so its input is ``y[t - window : t]``.
    """
    return _gather(np.asarray(y), np.asarray(origins, dtype=np.int64), -window, window)


def targets_at(y: np.ndarray, origins: np.ndarray, horizon: int) -> np.ndarray:
    """The ``horizon`` points from each forecast origin: ``(len(origins), horizon, ...)``."""
    return _gather(np.asarray(y), np.asarray(origins, dtype=np.int64), 0, horizon)


def _gather(y: np.ndarray, origins: np.ndarray, offset: int, length: int) -> np.ndarray:
    """``y[t + offset : t + offset + length]`` for each origin ``t``, stacked: ``(len(origins), length, ...)``, a copy.

    One origin inside ``y`` (an update's new window) is a slice copied, the same array
    as the gather gives at a fraction of its cost.
    """
    if len(origins) == 1 and 0 <= int(origins[0]) + offset and int(origins[0]) + offset + length <= len(y):
        start = int(origins[0]) + offset
        return y[start : start + length][None].copy()
    return y[origins[:, None] + np.arange(offset, offset + length)[None, :]]


def window_moments(z: np.ndarray, origins: np.ndarray, window: int, horizon: int, xx_out: np.ndarray | None = None
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``sum x``, ``sum y``, ``X^T X`` and ``X^T Y`` of the windows of ``S`` series at consecutive ``origins``.

    ``z`` is ``(S, n)``; the windows of series ``s`` are ``X = z[s, o - window : o]`` and
    ``Y = z[s, o : o + horizon]`` for every origin ``o``. Returned shapes: ``(S, W)``,
    ``(S, H)``, ``(S, W, W)``, ``(S, W, H)``. Windows overlap, so every moment is a lagged
    product sum ``R[i, d] = sum_s z[s] z[s + d]`` over the rows' range shifted by ``i``: row 0
    is one correlation, each next row adds the product entering the range and drops the one
    leaving it. That is ``O(m (W + H))`` per series instead of ``O(m W^2)`` for ``X^T X``.
    ``xx_out``: an ``(S, W, W)`` array to write ``X^T X`` into (and return), instead of a new one.
    """
    n_series, count = z.shape[0], len(origins)
    first = int(origins[0])
    lags = window + horizon
    start = first - window
    # R[0, d] for every lag: one correlation per series over the first range.
    base = np.stack([np.correlate(row[start : start + count + lags - 1], row[start : start + count], mode="valid")
                     for row in z])  # [S, lags]
    # Beyond the series' end a product cannot enter a range the windows use; pad with 0.
    padded = np.concatenate([z, np.zeros((n_series, lags))], axis=1)
    # Row i of the lag table adds the products entering the range (at start + count + i) and drops those
    # leaving it (at start + i): z[s] * z[s + d] for every lag d, read through sliding views (no gathers).
    lagged_products = np.lib.stride_tricks.sliding_window_view(padded, lags, axis=1)  # [S, n + 1, lags], a view
    lagged = np.empty((n_series, window, lags))  # R[i, d]
    lagged[:, 0] = base
    if n_series >= 8 and window > 1:
        # Many series: row by row, each step forms its (S, lags) entering less leaving products in two small
        # buffers and adds them to the previous row: the same terms summed in the same order as cumsum along the
        # middle axis (which strides through the whole table, 2x slower here), without an (S, W, lags) temporary.
        entering, leaving = np.empty((n_series, lags)), np.empty((n_series, lags))
        for i in range(1, window):
            np.multiply(padded[:, start + count + i - 1, None], lagged_products[:, start + count + i - 1], out=entering)
            np.multiply(padded[:, start + i - 1, None], lagged_products[:, start + i - 1], out=leaving)
            entering -= leaving
            if i == 1:
                lagged[:, 1] = entering
            else:
                np.add(lagged[:, i - 1], entering, out=lagged[:, i])
    else:
        entering = padded[:, start + count : start + count + window - 1, None] * lagged_products[
            :, start + count : start + count + window - 1]
        entering -= padded[:, start : start + window - 1, None] * lagged_products[:, start : start + window - 1]
        np.cumsum(entering, axis=1, out=lagged[:, 1:])
    lagged[:, 1:] += base[:, None, :]
    # xx[i, j] = R[i, j - i] (j >= i) and xy[i, h] = R[i, W - i + h]: both read R along the diagonals
    # i * (lags - 1) + const of its flat layout, as strided views.
    item = lagged.itemsize
    diagonal = np.lib.stride_tricks.as_strided(lagged, shape=(n_series, window, window),
                                               strides=(lagged.strides[0], (lags - 1) * item, item), writeable=False)
    upper = np.triu(np.ones((window, window), dtype=bool))
    if xx_out is None:
        xx = np.where(upper, diagonal, diagonal.transpose(0, 2, 1))
    else:  # the same copies, into the caller's array
        xx = xx_out
        np.copyto(xx, diagonal.transpose(0, 2, 1))
        np.copyto(xx, diagonal, where=upper)
    xy = np.lib.stride_tricks.as_strided(lagged[:, 0, window:], shape=(n_series, window, horizon),
                                         strides=(lagged.strides[0], (lags - 1) * item, item), writeable=False).copy()
    prefix = np.concatenate([np.zeros((n_series, 1)), np.cumsum(z, axis=1)], axis=1)
    sum_x = prefix[:, start + count + np.arange(window)] - prefix[:, start + np.arange(window)]
    sum_y = prefix[:, first + count + np.arange(horizon)] - prefix[:, first + np.arange(horizon)]
    return sum_x, sum_y, xx, xy


def validation_origins(n: int, horizon: int, fraction: float = 0.15, max_windows: int = 100) -> np.ndarray:
    """Forecast origins of the chronological validation tail.

    The tail is the last ``fraction`` of the points (its windows' targets lie in it);
    the last origin's horizon ends at the last point. When the tail holds more than
    ``max_windows`` windows, ``max_windows`` origins are spread evenly over it rather
    than packed at its end, so interval, confidence and weights are estimated over
    the whole tail (e.g. 500 s of a 1 s series instead of the last 100 s).
    """
    available = int(np.clip(np.floor(fraction * n) - horizon + 1, 1, None))
    last = n - horizon
    first = last - available + 1
    if available <= max_windows:
        return np.arange(first, last + 1)
    return np.unique(np.round(np.linspace(first, last, max(1, max_windows))).astype(np.int64))


@lru_cache(maxsize=64)
def moving_average_matrix(window: int, kernel_size: int) -> np.ndarray:
    """The ``(window, window)`` matrix ``A`` with ``trend = A @ x`` (DLinear's edge-padded moving average).

    As in the original DLinear, the window is padded with ``(kernel_size - 1) // 2``
    copies of its first and last value before averaging, so the trend has the
    window's length. Read-only: it is cached.
    """
    if kernel_size < 1:
        raise ValueError("kernel_size must be >= 1")
    pad = (kernel_size - 1) // 2
    # Row r averages x[clip(t, 0, W - 1)] for t in r - pad .. r + pad (2 * pad + 1 terms, odd, as the
    # original). Counted in closed form, so a huge kernel costs no more than a small one (building the
    # padded index array took 8 GB for kernel_size=10**9).
    rows, cols = np.arange(window)[:, None], np.arange(window)[None, :]
    counts = (np.abs(cols - rows) <= pad).astype(np.float64)
    counts[:, 0] = np.maximum(0, pad - rows[:, 0] + 1)  # t <= 0: the first value and its padding
    counts[:, -1] = np.maximum(0, rows[:, 0] + pad - window + 2)  # t >= W - 1: the last value and its padding
    if window == 1:
        counts[:] = 2 * pad + 1
    matrix = counts / (2 * pad + 1)
    matrix.setflags(write=False)
    return matrix


def decompose(x: np.ndarray, kernel_size: int) -> tuple[np.ndarray, np.ndarray]:
    """DLinear's split of windows ``x`` (``(..., window)``) into trend and seasonal parts."""
    x = np.asarray(x, dtype=np.float64)
    trend = x @ moving_average_matrix(x.shape[-1], kernel_size).T
    return trend, x - trend


def fit_scale(y: np.ndarray, weights: np.ndarray | None = None, return_constant: bool = False) -> tuple[np.ndarray, ...]:
    """Per-column mean and scale of ``y`` (``(n, k)``), each point counted ``weights`` (``(n, k)``) times if
    given; a constant column gets scale ``max(1, |mean|)``. With ``return_constant``, also which columns were
    constant (``(k,)`` bool).

    A weighted column whose points of weight 1 are constant is that constant (its mean): the points weighed down
    (flagged bursts) count ``weight * deviation^2``, bounded and vanishing for an absurd value, so their spread is
    no scale of the load. Scaled by it, a series of zeros with 1.55e11 bursts read its bursts as 1e21 and its
    windows of bursts as the data, every one of them weighed as an ordinary window of a series in those units."""
    y = np.asarray(y, dtype=np.float64)
    if weights is None:
        mean = y.mean(axis=0)
        scale = y.std(axis=0)
    else:
        mean = (weights * y).sum(axis=0) / weights.sum(axis=0)
        scale = np.sqrt((weights * (y - mean) ** 2).sum(axis=0) / weights.sum(axis=0))
    constant = ~(scale > 1e-12 * np.maximum(1.0, np.abs(mean)))
    if weights is not None:
        ordinary = weights == 1.0
        count = ordinary.sum(axis=0)
        # only a column whose spread comes from points weighed down
        judged = ~constant & (count > 0) & (count < len(y))
        if judged.any():
            level = np.where(ordinary, y, 0.0).sum(axis=0) / np.maximum(count, 1)
            spread = np.sqrt((np.where(ordinary, y - level, 0.0) ** 2).sum(axis=0) / np.maximum(count, 1))
            held = judged & ~(spread > 1e-12 * np.maximum(1.0, np.abs(level)))
            mean = np.where(held, level, mean)
            constant |= held
    scale = np.where(constant, np.maximum(1.0, np.abs(mean)), scale)
    return (mean, scale, constant) if return_constant else (mean, scale)


def windows_touching(origins: np.ndarray, window: int, horizon: int, positions: np.ndarray) -> np.ndarray:
    """Whether each window at ``origins`` (inputs ``origin - window`` to ``origin - 1``, targets ``origin`` to
    ``origin + horizon - 1``) holds one of ``positions`` (ascending): ``(len(origins),)`` bools."""
    origins = np.asarray(origins, dtype=np.int64)
    low = np.searchsorted(positions, origins - window, side="left")
    return np.searchsorted(positions, origins + horizon, side="left") > low


def carried_left_out(before: np.ndarray, found: np.ndarray | None, count: int, added: int) -> np.ndarray | None:
    """The ``count`` calibration windows left out once ``added`` newer ones came (the oldest gone): those left out
    ``before`` (a bool per window before them) that are still kept, and those ``found`` (``None``: none). A window's
    targets stay what they were, so a window left out stays out; the windows an update finds start from the buckets
    it keeps, which may no longer reach a burst a fit found among older windows. ``None`` when none is left out."""
    kept = max(count - max(added, 0), 0)
    carried = np.zeros(count, dtype=bool)
    old = before[len(before) - min(kept, len(before)) :] if kept else before[:0]
    carried[kept - len(old) : kept] = old
    out = carried if found is None else carried | found
    return out if out.any() else None


def left_out_windows(origins: np.ndarray, horizon: int, runs: Sequence[tuple[int, int, int, float]],
                     lost: np.ndarray | None = None) -> np.ndarray | None:
    """Which windows at ``origins`` the interval leaves out (``None``: none): those whose targets hold a ``lost``
    bucket or a bucket of a burst the series came back from (``runs``), read as a median there: their error is no
    load's. Among them are the windows forecast while such a burst was in their inputs and not over, which read it as
    load. Positions from the model's first point."""
    out = None if lost is None else windows_touching(origins, 0, horizon, lost)
    for first, last, _, _ in runs:
        held = (origins <= last) & (origins + horizon - 1 >= first)
        out = held if out is None else out | held
    return out if out is not None and out.any() else None
