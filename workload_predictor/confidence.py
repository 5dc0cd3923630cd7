"""Prediction intervals and the confidence score: pure functions of validation data."""

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
    return no_zero_width(np.partition(r, rank - 1, axis=0)[rank - 1], r)


def no_zero_width(halfwidth: np.ndarray, abs_residuals: np.ndarray) -> np.ndarray:
    """``halfwidth`` with every zero raised to the smallest positive residual of its step, else of its target.

    When more than ``level`` of a step's validation errors are exactly zero (a quiet
    series with one burst in the tail: every window but the burst's forecast exactly),
    the conformal quantile is 0: an interval of width 0, certain and wrong. A step
    whose own errors are all zero takes its target's smallest positive error (the
    last axis is the target; ``(n, H)`` is one target). Only a target whose
    validation errors are all zero keeps width 0.
    """
    zero = halfwidth == 0
    if not zero.any():
        return halfwidth
    positive = np.where(abs_residuals > 0, abs_residuals, np.inf)
    by_step = positive.min(axis=0)  # like halfwidth
    by_target = by_step.min(axis=tuple(range(by_step.ndim - 1))) if by_step.ndim > 1 else by_step.min()
    floor = np.where(np.isfinite(by_step), by_step, by_target)
    return np.where(zero & np.isfinite(floor), floor, halfwidth)


def interval(yhat: np.ndarray, halfwidth: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The prediction interval ``(lower, upper)`` around non-negative forecasts ``yhat``.

    ``halfwidth`` (from :func:`conformal_quantile`) broadcasts against ``yhat``; the lower
    bound is clipped at 0, as load is never negative.
    """
    return np.clip(yhat - halfwidth, 0.0, None), yhat + halfwidth


def conformal_is_exact(n_windows: int, level: float) -> bool:
    """Whether ``n_windows`` validation windows suffice for the finite-sample guarantee at ``level``."""
    return math.ceil((n_windows + 1) * level) <= n_windows


def wape(actual: np.ndarray, forecast: np.ndarray) -> float:
    """Weighted absolute percentage error ``sum|actual - forecast| / sum|actual|``.

    An all-zero ``actual`` gives 0 for a perfect forecast and infinity otherwise.
    """
    actual = np.asarray(actual, dtype=np.float64)
    error = float(np.abs(actual - np.asarray(forecast, dtype=np.float64)).sum())
    return wape_of_totals(error, float(np.abs(actual).sum()))


def wape_of_totals(error: float, load: float) -> float:
    """WAPE from its two sums, ``sum|actual - forecast|`` and ``sum|actual|`` (see :func:`wape`)."""
    if load == 0.0:
        return 0.0 if error == 0.0 else math.inf
    return error / load


def confidence_score(actual: np.ndarray, forecast: np.ndarray) -> float:
    """``1 - WAPE`` of out-of-sample forecasts, clipped to ``[0, 1]``.

    1 means the validation forecasts were exact; 0 means their absolute error
    was at least as large as the load itself.
    """
    return confidence_of_wape(wape(actual, forecast))


def confidence_of_wape(value: float) -> float:
    """``1 - WAPE`` clipped to ``[0, 1]`` (see :func:`confidence_score`)."""
    return min(max(1.0 - value, 0.0), 1.0)
