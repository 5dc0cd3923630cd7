"""Prediction intervals, the confidence score and ensemble weights: pure functions of validation data."""

from __future__ import annotations

import math

import numpy as np


def conformal_quantile(abs_residuals: np.ndarray, level: float) -> np.ndarray:
    """Split-conformal half-width per column: the ``ceil((n + 1) * level)``-th smallest residual.

    ``abs_residuals`` is ``(n, ...)`` (validation windows first). The finite-sample
    rank ``ceil((n + 1) * level)`` guarantees coverage >= ``level`` for exchangeable
    errors; when it exceeds ``n`` (too few windows for that level) the largest
    residual is used, which the caller reports as under-calibrated.
    """
    r = np.asarray(abs_residuals, dtype=np.float64)
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must lie in (0, 1), got {level}")
    n = r.shape[0]
    if n == 0:
        raise ValueError("no validation residuals")
    rank = min(math.ceil((n + 1) * level), n)
    return np.partition(r, rank - 1, axis=0)[rank - 1]


def conformal_is_exact(n_windows: int, level: float) -> bool:
    """Whether ``n_windows`` validation windows suffice for the finite-sample guarantee at ``level``."""
    return math.ceil((n_windows + 1) * level) <= n_windows


def wape(actual: np.ndarray, forecast: np.ndarray) -> float:
    """Weighted absolute percentage error ``sum|actual - forecast| / sum|actual|``.

    An all-zero ``actual`` gives 0 for a perfect forecast and infinity otherwise.
    """
    actual = np.asarray(actual, dtype=np.float64)
    error = float(np.abs(actual - np.asarray(forecast, dtype=np.float64)).sum())
    total = float(np.abs(actual).sum())
    if total == 0.0:
        return 0.0 if error == 0.0 else math.inf
    return error / total


def confidence_score(actual: np.ndarray, forecast: np.ndarray) -> float:
    """``1 - WAPE`` of out-of-sample forecasts, clipped to ``[0, 1]``.

    1 means the validation forecasts were exact; 0 means their absolute error
    was at least as large as the load itself.
    """
    return float(np.clip(1.0 - wape(actual, forecast), 0.0, 1.0))


def convex_weights(forecasts: np.ndarray, actual: np.ndarray, n_iter: int = 500) -> np.ndarray:
    """Non-negative weights summing to 1 that minimise the squared error of ``w @ forecasts``.

    ``forecasts`` is ``(m, N)`` (one row per member), ``actual`` is ``(N,)``. Solved by
    projected gradient on the simplex (exact for this convex problem up to ``n_iter``);
    ties between identical members are split evenly.
    """
    f = np.asarray(forecasts, dtype=np.float64)
    y = np.asarray(actual, dtype=np.float64)
    m = f.shape[0]
    if m == 1:
        return np.ones(1)
    scale = max(float(np.abs(y).max(initial=0.0)), float(np.abs(f).max(initial=0.0)), 1e-12)
    f, y = f / scale, y / scale
    gram = f @ f.T / f.shape[1]
    cross = f @ y / f.shape[1]
    step = 1.0 / max(float(np.linalg.eigvalsh(gram).max()), 1e-12)
    w = np.full(m, 1.0 / m)
    for _ in range(n_iter):
        w_next = project_to_simplex(w - step * (gram @ w - cross))
        if np.abs(w_next - w).max() < 1e-10:
            w = w_next
            break
        w = w_next
    return w


def project_to_simplex(v: np.ndarray) -> np.ndarray:
    """Euclidean projection of ``v`` onto ``{w : w >= 0, sum(w) = 1}`` (Duchi et al., 2008)."""
    v = np.asarray(v, dtype=np.float64)
    u = np.sort(v)[::-1]
    cumulative = np.cumsum(u) - 1.0
    ranks = np.arange(1, len(v) + 1)
    rho = np.flatnonzero(u - cumulative / ranks > 0)[-1]
    theta = cumulative[rho] / (rho + 1)
    return np.maximum(v - theta, 0.0)
