"""Prediction intervals and the confidence score: pure functions of validation data."""

from __future__ import annotations

import math

import numpy as np


# The ensemble's interval pool (out-of-sample windows of the whole history and the validation tail): the tail's
# windows, the newest regime, weigh two thirds of it, the history's the rest (see ``recency_weights``). Chosen on
# the 42-setting Azure grid (scripts/accuracy_benchmark.py): every history window weighed as a tail window
# over-covered (0.99-1.0 where the history is unlike the test span); two thirds gave a mean interval score 6 %
# below the tail alone's. The README's evaluation table has the coverage it gives.
RECENT_SHARE = 2.0 / 3.0


def conformal_quantile(abs_residuals: np.ndarray, level: float, weights: np.ndarray | None = None,
                       floor_residuals: np.ndarray | None = None) -> np.ndarray:
    """Split-conformal half-width per column: the classic rank, interpolated where the residuals do not tie there.

    ``abs_residuals`` is ``(n, ...)`` (validation windows first). The classic split-conformal
    half-width is the ``k``-th smallest residual, ``k = ceil((n + 1) * level)``: coverage
    >= ``level``, up to ``1 / (n + 1)`` more. Where that value is one window's alone, the
    empirical distribution of the residuals, with ``n + 1`` in the denominator, is interpolated
    linearly across its jump: between the largest residual below it (0 when there is none),
    where ``m = k - 1`` residuals lie below, and the value itself, the half-width is

        below + (value - below) * ((n + 1) * level - m),

    so that on continuous residuals the expected coverage is ``level``, not up to ``1 / (n + 1)``
    more. Where several windows tie at the value (integer counts forecast by an integer: the
    median, the last value), the residuals are discrete and a new one lands on the value itself,
    not between: any half-width below it covers only what ``below`` covers (``m / (n + 1)``, e.g.
    0.74 at 0.90 on Poisson(0.7) counts forecast by their median), so the value is kept, as
    classic split conformal keeps it (coverage >= ``level``, on counts often 0.93-0.97 at 0.90).
    The result never exceeds the classic half-width.

    When ``k`` exceeds ``n`` (too few windows for that level: fewer than 9 at 0.9, than 99 at
    0.99), no step's own residuals reach the rank: a step's largest residual is its classic
    bound, and with one window it is that window's error alone (0.1 to 38 across the steps
    of one Poisson(100) fit). Then the residuals of every step are pooled (axis 1:
    ``abs_residuals`` is ``(n, H, ...)``, horizon steps second; ``n * H`` per target) and
    no step's half-width falls below their split-conformal half-width (as above with
    ``n * H`` for ``n``; their largest where even the pool is short of the rank): each step
    takes the larger of its largest residual and the pooled half-width. The step's largest
    residual bounds its half-width at any level its windows reach, so the pooling never
    narrows a step as the level rises. The caller reports the interval as inexact
    (:func:`conformal_is_exact`). ``(n,)`` residuals (one step) keep their largest.

    ``weights`` (``(n,)``, positive, optional) weigh the windows as in weighted
    (non-exchangeable) split conformal: the counts above become sums of weights, and
    the test window weighs 1 (pooled, each residual weighs its window's weight). A tie is
    still several windows at the value: one window of weight ``w`` is interpolated across
    like one window, ``w`` copies of it are not.

    A zero half-width, or one below the smallest positive residual of a step with exact windows (it covers only
    those, as 0 does: :func:`exact_only_as_zero`), is raised by :func:`no_zero_width` from ``floor_residuals``
    (``(v, ...)``, default ``abs_residuals``): a pool of older windows passes the
    validation tail's, so that a series the tail forecast exactly keeps width 0 however
    large an old burst's error was.
    """
    r = np.asarray(abs_residuals, dtype=np.float64)
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must lie in (0, 1), got {level}")
    n = r.shape[0]
    if n == 0:
        raise ValueError("no validation residuals")
    floor = r if floor_residuals is None else np.asarray(floor_residuals, dtype=np.float64)
    if weights is not None:
        weights = np.asarray(weights, dtype=np.float64)
    total = n if weights is None else weights.sum()
    if r.ndim > 1 and (total + 1.0) * level > total:  # too few windows for the level: pool the steps
        steps = r.shape[1]
        pooled = r.reshape(n * steps, *r.shape[2:])  # window-major: window i's steps are rows i * steps + h
        width = exact_only_as_zero(_column_quantile(pooled, level, None if weights is None else np.repeat(weights, steps)),
                                   pooled)
        return no_zero_width(np.maximum(r.max(axis=0), width), floor)  # width broadcasts over the steps
    return no_zero_width(exact_only_as_zero(_column_quantile(r, level, weights), r), floor)


def exact_only_as_zero(halfwidth: np.ndarray, abs_residuals: np.ndarray) -> np.ndarray:
    """``halfwidth`` with 0 where it lies below the smallest positive residual of its step and the step has exact
    windows (residual 0): such a width, interpolated across the jump from 0, covers only the exact windows, as width 0
    does, and is raised as a zero is (:func:`no_zero_width`). Without it a higher level could give a narrower interval
    (seven windows, six exact: 1 at level 0.5, the zero raised; 0.4 at 0.8, interpolated)."""
    exact = (abs_residuals == 0).any(axis=0)
    if not exact.any():
        return halfwidth
    smallest = np.where(abs_residuals > 0, abs_residuals, np.inf).min(axis=0)
    return np.where(exact & (halfwidth < smallest), 0.0, halfwidth)


def _column_quantile(r: np.ndarray, level: float, weights: np.ndarray | None) -> np.ndarray:
    """:func:`conformal_quantile` of each column of ``r`` (``(n, ...)``) on its own, before the zero-width floor:
    the largest residual where ``n`` (or the weights' sum) is short of the rank."""
    if weights is not None:
        return _weighted_conformal_quantile(r, level, weights)
    n = r.shape[0]
    target = (n + 1) * level
    rank = math.ceil(target)
    if rank > n:
        return r.max(axis=0)
    ordered = np.sort(r, axis=0)
    value = ordered[rank - 1]
    less = ordered < value
    below_count = less.sum(axis=0)  # m <= rank - 1 < target
    at_or_below = (ordered <= value).sum(axis=0)  # c >= rank >= target
    below = np.where(below_count > 0, np.where(less, ordered, -np.inf).max(axis=0), 0.0)  # the largest one below
    share = np.where(at_or_below - below_count > 1, 1.0, (target - below_count) / (at_or_below - below_count))
    return below + (value - below) * share


def _weighted_conformal_quantile(r: np.ndarray, level: float, weights: np.ndarray) -> np.ndarray:
    """:func:`conformal_quantile` with window weights: the same interpolation across the jump at the value where the
    weights' running sum (with the test window's 1 in the total) first reaches ``level``, that value itself where
    several windows tie at it (zeros not raised)."""
    total = weights.sum()
    target = (total + 1.0) * level
    if target > total:
        return r.max(axis=0)
    order = np.argsort(r, axis=0, kind="stable")
    ordered = np.take_along_axis(r, order, axis=0)
    running = np.cumsum(weights[order], axis=0)  # like r
    rank = np.minimum((running < target).sum(axis=0), len(r) - 1)  # the first position reaching the target
    value = np.take_along_axis(ordered, rank[None], axis=0)[0]
    shape = (-1,) + (1,) * (r.ndim - 1)
    w = weights.reshape(shape)
    below_weight = np.where(r < value, w, 0.0).sum(axis=0)
    at_or_below = np.where(r <= value, w, 0.0).sum(axis=0)
    below = np.where(r < value, r, 0.0).max(axis=0)
    tied = (r == value).sum(axis=0) > 1
    share = np.where(tied, 1.0, np.clip((target - below_weight) / (at_or_below - below_weight), 0.0, 1.0))
    return below + (value - below) * share


def recency_weights(n: int, recent: int, share: float) -> np.ndarray:
    """Weights ``(n,)`` that give the newest ``recent`` of ``n`` windows ``share`` of the total and the older ones
    the rest, scaled so an average window weighs 1 (all ones when every window is recent)."""
    if recent >= n or recent <= 0:
        return np.ones(n)
    return np.where(np.arange(n) >= n - recent, share * n / recent, (1.0 - share) * n / (n - recent))


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
    """Whether ``n_windows`` validation windows reach the conformal rank ``ceil((n + 1) * level)`` at ``level``."""
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
    """``1 - WAPE`` clipped to ``[0, 1]`` (see :func:`confidence_score`); an undefined WAPE (NaN) scores 0."""
    return 0.0 if math.isnan(value) else min(max(1.0 - value, 0.0), 1.0)


def confidence_of_totals(error: float, load: float, cells: int) -> float:
    """A predictor's confidence from its validation sums ``sum|actual - forecast|`` and ``sum|actual|`` over
    ``cells`` values: ``1 - WAPE``, clipped to ``[0, 1]``.

    An all-zero span (an idle endpoint) has no WAPE: there the error is measured against one unit per value
    (the smallest load a count above zero can have), so forecasts within rounding of the zeros keep a high
    confidence and a forecast of real load on an idle endpoint scores 0.
    """
    return confidence_of_wape(wape_of_totals(error, load if load != 0.0 else float(cells)))
