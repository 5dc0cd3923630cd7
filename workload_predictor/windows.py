"""Sliding windows, moving-average decomposition and scaling: pure numeric kernels."""

from __future__ import annotations

from functools import lru_cache

import numpy as np


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
        raise ValueError(f"a series of {len(y)} points has no window of {window} + horizon {horizon}")
    both = np.lib.stride_tricks.sliding_window_view(y, window + horizon)[:m]
    return both[:, :window], both[:, window:]


def windows_at(y: np.ndarray, origins: np.ndarray, window: int) -> np.ndarray:
    """The ``window`` points before each forecast origin: ``(len(origins), window, ...)``.

    An origin ``t`` is the index of the first forecast step, so its input is ``y[t - window : t]``.
    """
    origins = np.asarray(origins, dtype=np.int64)
    offsets = np.arange(-window, 0)
    return np.asarray(y)[origins[:, None] + offsets[None, :]]


def targets_at(y: np.ndarray, origins: np.ndarray, horizon: int) -> np.ndarray:
    """The ``horizon`` points from each forecast origin: ``(len(origins), horizon, ...)``."""
    origins = np.asarray(origins, dtype=np.int64)
    return np.asarray(y)[origins[:, None] + np.arange(horizon)[None, :]]


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


def fit_scale(y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-column mean and scale of ``y`` (``(n, k)``); a constant column gets scale 1."""
    y = np.asarray(y, dtype=np.float64)
    mean = y.mean(axis=0)
    scale = y.std(axis=0)
    scale = np.where(scale > 1e-12 * np.maximum(1.0, np.abs(mean)), scale, np.maximum(1.0, np.abs(mean)))
    return mean, scale
