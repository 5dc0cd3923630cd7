"""DLinear (Zeng et al., AAAI 2023), fitted exactly by ridge regression.

DLinear splits each input window ``x`` into a moving-average trend ``A x`` and a
seasonal rest ``(I - A) x`` and maps each to the horizon with its own linear
layer. The model is linear in its parameters, so instead of 50 epochs of SGD we
solve the ridge problem on the windows in closed form. With ``B = [A^T, (I-A)^T]``
and the centred window Gram matrix ``G``, the push-through identity turns the
``2W``-dimensional ridge problem into one symmetric ``W x W`` solve::

    w = (M G + lam I)^-1 M X^T Y = (G + lam M^-1)^-1 X^T Y,   M = B B^T = A^T A + (I - A)^T (I - A)

from which the trend and seasonal weights follow exactly. Fitting from sufficient
statistics (``sum x``, ``sum y``, ``X^T X``, ``X^T Y``) also lets the window search
share one Gram matrix, and lets ``update`` add new rows without a refit.

**Following the level** (``follow_level=True``, the default) is NLinear's normalisation
(Zeng et al., same paper): each window's last input is subtracted from its inputs and
targets and added back to the forecast. With ``T = I - 1 e_W^T`` the statistics of the
shifted windows are linear in the raw ones (``G' = T G T^T``, ``C' = T (C - G e_W 1^T)``),
so the same sums serve both, and the map back to raw inputs has each horizon step's
weights summing to one: the forecast moves with a shift in level instead of reverting
to the training mean. Load series shift level all the time (a new tenant, a deploy).

``update`` keeps each system's inverse and the penalty ``lam`` of the first fit (one the fit set on windows all
alike, an idle target's, is set where they first differ: :func:`first_penalty`; each is set anew by the fit's rule
where the windows held raise that ``PENALTY_DRIFT`` times above it: :func:`followed_penalty`), so
one new window is a rank-one change of the system: Sherman-Morrison gives the new
inverse in ``O(W^2)`` instead of an ``O(W^3)`` solve. A fit solves its systems without
inverting them; the first update inverts them, and they are recomputed from the statistics
every ``REFRESH_AFTER`` windows, which bounds the rounding the rank-one steps accumulate.
"""

from __future__ import annotations

import copy
import weakref
from dataclasses import dataclass
from functools import lru_cache
from typing import Sequence

import numpy as np

from .. import anomaly
from .._deadline import SERIES_PACE, Deadline, current
from .._memory import check_memory
from .._threads import single_blas_thread
from ..data import MAX_VALUE
from ..errors import WorkloadDataError, is_number, is_positive_int, quote
from ..windows import (fit_scale, moving_average_matrix, targets_at, validation_origins, window_moments,
                       windows_at)
from .base import MAX_WINDOW, MIN_TRAIN_WINDOWS, BaseForecaster, as_matrix, check_is_fitted, check_origins
from .combination import evidence_shrinkage

DEFAULT_WINDOWS = (12, 24, 48, 72, 96, 120, 168, 240, 336)
#: The shortest window DLinear reads: one bucket has no step to measure its noise from (the residuals' scale, see
#: :func:`window_residuals`), and less its last value (``follow_level``) no input at all.
MIN_DLINEAR_WINDOW = 2
_ONE_BUCKET = "a window of one bucket has no step to measure its noise from, and less its last value nothing to read"
#: Rank-one steps on a kept inverse before it is recomputed from the statistics (bounds accumulated rounding).
REFRESH_AFTER = 256
# A window whose rank-one step would dominate the system (``weight u^T S^-1 u`` above this: a bucket far outside the
# scaled range the kept inverse was built on, such as a burst of 1e11 in a sparse series fitted on its quiet part)
# recomputes the inverses from the statistics instead: past it the step cancels most of the inverse, which loses its
# definiteness (NaN forecasts until the next recomputation).
RANK_ONE_DOMINANT = 100.0
#: An update completing more windows than this recomputes the inverses: k rank-one steps would cost more.
RANK_ONE_MAX = 8
#: Forecasts at more consecutive origins than this are computed by correlation, not by gathering windows.
CORRELATE_ORIGINS = 4096
#: The relative ridge penalty of ``follow_level`` by default: it shrinks a noisy series' map toward the last value plus
#: drift. On the 48 settings of scripts/accuracy_benchmark.py (DLinear against the best baseline, geometric mean):
#: 1e-3 1.024, 0.1 1.016, 0.3 1.006, 1 0.997, 3 1.001.
FOLLOW_ALPHA = 1.0
#: The weak penalty: the default without ``follow_level`` (where a stronger one shrinks toward the training mean and
#: did not help: 1.374 at 1), and with it wherever the validation tail shows it forecasts significantly better (it keeps
#: a clean cycle exact, which the strong one biases).
EXACT_ALPHA = 1e-3
#: Refits (one solve per blended window each) behind :meth:`DLinear.rolling_forecast`'s out-of-sample forecasts.
ROLLING_REFITS = 25
#: What ``transform`` takes: ``None`` (the loads as they are) or ``"log1p"`` (``log(1 + load)``, forecasts mapped back
#: with ``expm1``).
TRANSFORMS = (None, "log1p")
#: The largest forecast a ``"log1p"`` fit maps back, ``log1p(MAX_VALUE)``: no load is larger (``expm1`` of more
#: overflows to inf).
LOG_TOP = float(np.log1p(MAX_VALUE))


#: Windows holding a flagged point are summed this many at a time (:meth:`WindowStats.weighted`): their inputs,
#: weighted inputs and targets, 8 * FLAGGED_BLOCK * (2 * window + horizon) bytes (22 MB at window 336), and to settle
#: them (:func:`windows_settled_at`) twice their points more (45 MB in all; 23 MB traced at its peak).
FLAGGED_BLOCK = 4096


@dataclass
class WindowStats:
    """Sufficient statistics of a ridge regression on windows ``X`` (m, W) -> ``Y`` (m, H)."""

    count: float
    sum_x: np.ndarray  # (W,)
    sum_y: np.ndarray  # (H,)
    xx: np.ndarray  # (W, W)
    xy: np.ndarray  # (W, H)

    @classmethod
    def from_windows(cls, x: np.ndarray, y: np.ndarray, weights: np.ndarray | None = None) -> "WindowStats":
        """The statistics of the windows ``x`` (m, W) -> ``y`` (m, H), each counted ``weights`` (m,) times (default 1)."""
        if weights is None and len(x) == 1:
            # One window (an update's): X^T X is the outer product of its row, and a matrix product forms each entry
            # as 0 + x_i x_j. The same sum without the product's call (a BLAS product of one row took 29 us of it):
            # adding +0.0 leaves every entry but the zeros, which it gives the sign the sum gives them.
            return cls(1.0, x.sum(axis=0), y.sum(axis=0), x.T * x + 0.0, x.T @ y)
        if weights is None:
            return cls(float(len(x)), x.sum(axis=0), y.sum(axis=0), x.T @ x, x.T @ y)
        weighted = x * weights[:, None]
        return cls(float(weights.sum()), weighted.sum(axis=0), weights @ y, weighted.T @ x, weighted.T @ y)

    @classmethod
    def weighted(cls, z: np.ndarray, origins: np.ndarray, window: int, horizon: int,
                 weights: np.ndarray | None, element: np.ndarray | None = None, first: int = 0,
                 blocks: list | None = None) -> "WindowStats":
        """``from_series`` with a weight per window (``weights`` (m,), None: all 1) at consecutive ``origins``.

        Runs of weight-1 windows are summed by ``from_series``; the windows of lower weight
        by ``from_windows``, ``FLAGGED_BLOCK`` at a time (on a sparse series whose bursts are
        all flagged, nearly every window). Nothing is ever subtracted: removing a huge window
        from a sum that holds it would cancel most of the sum's digits. ``element``: the weights
        of ``z``'s points (``element[i]``: point ``first + i``), of which :func:`settled_weights` made
        ``weights``; the windows of lower weight are then summed :func:`settled <settled_windows>`.

        ``blocks``: a list holding ``(count, sum)``, the sum of the first ``count`` windows of lower weight (whole
        blocks) as a call on the same points, weights and first origin summed them (the window search's, which the
        fit's extends: the search's origins are the first of the fit's), or nothing; the call starts after them, and
        leaves its own such pair there after each whole block it sums.
        """
        if weights is None or len(origins) == 0 or bool((weights >= 1.0).all()):
            return cls.from_series(z, origins, window, horizon)
        low = weights < 1.0
        flagged, flagged_weights = origins[low], weights[low]
        # The flagged windows are materialised (inputs, weighted inputs and targets; to settle them, their points,
        # their points' flags, a sorted copy and a few numbers per window), a block at a time.
        width = 2 * window + horizon + (2 * (window + horizon) + 8 if element is not None else 0)
        check_memory("DLinear flagged windows", extra_bytes=8.0 * min(len(flagged), FLAGGED_BLOCK) * width)
        done, total = blocks[0] if blocks else (0, None)
        for begin in range(done, len(flagged), FLAGGED_BLOCK):
            block = flagged[begin : begin + FLAGGED_BLOCK]
            inputs, targets = windows_settled_at(z, block, window, horizon, element, first)
            part = cls.from_windows(inputs, targets, flagged_weights[begin : begin + FLAGGED_BLOCK])
            total = part if total is None else total + part
            if blocks is not None and len(block) == FLAGGED_BLOCK:
                blocks[:] = [(begin + FLAGGED_BLOCK, total)]
        edges = np.flatnonzero(np.diff(low.astype(np.int8))) + 1
        for run in np.split(np.arange(len(origins)), edges):
            if len(run) and not low[run[0]]:
                # read from the points the run spans only: its sums (prefix sums) then hold none of the flagged
                # points outside it, whose digits would cancel most of theirs
                start = int(origins[run[0]]) - window
                part = z[start : int(origins[run[-1]]) + horizon]
                total = total + cls.from_series(part, origins[run] - start, window, horizon)
        return total

    def with_window(self, x: np.ndarray, y: np.ndarray) -> "WindowStats":
        """``self + WindowStats.from_windows(x, y)`` for one window ``x`` (1, W) -> ``y`` (1, H): the same sums bit
        for bit (addition commutes), without two temporaries of the Gram matrix's size (an update's)."""
        xx = np.multiply(x.T, x)
        xx += 0.0  # as from_windows: a zero product takes the sign a sum gives it
        xx += self.xx
        xy = x.T @ y
        xy += self.xy
        return WindowStats(self.count + 1.0, self.sum_x + x.sum(axis=0), self.sum_y + y.sum(axis=0), xx, xy)

    def last(self, window: int) -> "WindowStats":
        """The statistics of the same windows' newest ``window`` inputs (their rows and columns go last)."""
        return WindowStats(self.count, self.sum_x[-window:], self.sum_y, self.xx[-window:, -window:],
                           self.xy[-window:])

    def scaled(self, factor: float) -> "WindowStats":
        """Every sum times ``factor`` (forgetting)."""
        return WindowStats(self.count * factor, self.sum_x * factor, self.sum_y * factor, self.xx * factor,
                           self.xy * factor)

    @classmethod
    def from_series(cls, z: np.ndarray, origins: np.ndarray, window: int, horizon: int) -> "WindowStats":
        """The statistics of the windows of the 1-D series ``z`` at the consecutive ``origins``.

        Equal to ``from_windows`` on the materialised windows, in ``O(m (W + H))`` instead
        of ``O(m W^2)`` (:func:`~workload_predictor.windows.window_moments`).
        """
        z = np.asarray(z, dtype=np.float64)
        count = len(origins)
        if count == 0:
            return cls(0.0, np.zeros(window), np.zeros(horizon), np.zeros((window, window)), np.zeros((window, horizon)))
        if count <= 8:  # a few windows (an update): the products themselves cost less than the lag tables
            return cls.from_windows(windows_at(z, origins, window), targets_at(z, origins, horizon))
        sum_x, sum_y, xx, xy = window_moments(z[None, :], origins, window, horizon)
        return cls(float(count), sum_x[0], sum_y[0], xx[0], xy[0])

    @staticmethod
    def series_bytes(n: int, window: int, horizon: int) -> float:
        """An upper estimate of the bytes :meth:`from_series` allocates at once for a series of ``n`` points.

        The lag-table kernel (:func:`~workload_predictor.windows.window_moments`) holds
        the series padded by ``W + H``, its cumulative sum and prefix sums, the
        contiguous copies ``np.correlate`` may make of a strided column, and three
        ``W x (W + H)`` lag tables: about five series' worth, never the ``m x W`` windows.
        """
        lags = window + horizon
        return 8.0 * (5 * (n + lags) + 4 * window * lags)

    def __add__(self, other: "WindowStats") -> "WindowStats":
        return WindowStats(self.count + other.count, self.sum_x + other.sum_x, self.sum_y + other.sum_y,
                           self.xx + other.xx, self.xy + other.xy)


@dataclass
class DLinearSolution:
    coef: np.ndarray  # (W, H): forecast = x @ coef + intercept
    intercept: np.ndarray  # (H,)
    trend_coef: np.ndarray | None  # (W, H): weights of the trend branch
    seasonal_coef: np.ndarray | None  # (W, H): weights of the seasonal branch


@lru_cache(maxsize=64)
def _branch_penalty(window: int, kernel_size: int) -> np.ndarray:
    """``M^-1`` for ``M = A^T A + (I - A)^T (I - A)``: the ridge penalty of the two branches, seen from ``x``."""
    trend = moving_average_matrix(window, kernel_size)
    seasonal = np.eye(window) - trend
    penalty = np.linalg.inv(trend.T @ trend + seasonal.T @ seasonal)
    penalty.setflags(write=False)
    return penalty


@dataclass
class RidgeInverse:
    """One window's inverted ridge system ``(G + lam M^-1)^-1`` and its penalty, kept so that updates are rank-one.

    ``inverse`` is None after a fit, whose maps are solved directly (a third of an inversion's
    cost): the first ``update`` that takes rank-one steps inverts the systems.
    """

    lam: float
    inverse: np.ndarray | None  # (W, W), symmetric


@dataclass
class CentredStats:
    """Means and centred moments of window statistics: what the ridge solve reads.

    ``shifted``: the moments of the windows less their last input (:func:`follow_last`), whose
    maps :func:`solve_dlinear` turns back into maps on raw inputs. ``count``: the windows' total weight
    (:func:`trace_penalty` reads it).
    """

    mean_x: np.ndarray  # (W,)
    mean_y: np.ndarray  # (H,)
    gram: np.ndarray  # centred X^T X, (W, W)
    cross: np.ndarray  # centred X^T Y, (W, H)
    shifted: bool = False
    count: float = 1.0
    second: np.ndarray | None = None  # (W,) the uncentred X^T X's diagonal (trace_penalty's ``second``)

    @classmethod
    def of(cls, stats: WindowStats) -> "CentredStats":
        mean_x, mean_y = stats.sum_x / stats.count, stats.sum_y / stats.count
        spread = np.outer(mean_x, mean_x)  # scaled in place: the centred Gram stays exactly symmetric
        spread *= stats.count
        return cls(mean_x, mean_y, stats.xx - spread, stats.xy - np.outer(stats.sum_x, mean_y), count=stats.count,
                   second=np.diagonal(stats.xx).copy())

    def last(self, window: int) -> "CentredStats":
        """The same rows restricted to their last ``window`` inputs (centring is per column, so this is a slice;
        so is shifting, since every window of a blend ends at the same last input)."""
        return CentredStats(self.mean_x[-window:], self.mean_y, self.gram[-window:, -window:], self.cross[-window:],
                            self.shifted, self.count, None if self.second is None else self.second[-window:])

    def second_trace(self) -> float:
        """The trace of the uncentred ``X^T X`` (0 where not known)."""
        return 0.0 if self.second is None else float(self.second.sum())


def follow_last(centred: CentredStats) -> CentredStats:
    """The moments of the same windows with each window's last input subtracted from its inputs and targets.

    With ``T = I - 1 e_W^T``: ``G' = T G T^T`` and ``C' = T (C - g 1_H^T)``, ``g`` the Gram
    matrix's last column (centring commutes with ``T``). ``G'`` is exactly symmetric when
    ``G`` is; its last row and column are zero (the last shifted input is always 0), which
    the ridge penalty keeps solvable. Already shifted moments are returned as they are.
    """
    if centred.shifted:
        return centred
    gram, cross = shifted_moments(centred.gram, centred.cross)
    level = centred.mean_x[-1]
    return CentredStats(centred.mean_x - level, centred.mean_y - level, gram, cross, shifted=True,
                        count=centred.count, second=centred.second)


def shifted_moments(gram: np.ndarray, cross: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """:func:`follow_last`'s ``(T G T^T, T (C - g 1_H^T))`` of centred moments ``gram`` ``(..., W, W)`` and
    ``cross`` ``(..., W, H)`` (a leading axis holds a batch of series)."""
    last = gram[..., :, -1]
    shifted = gram - (last[..., :, None] + last[..., None, :])  # the sum is symmetric, so the result stays symmetric
    shifted += gram[..., -1:, -1:]
    return shifted, shift_cross(cross, last)


def shift_cross(cross: np.ndarray, last: np.ndarray) -> np.ndarray:
    """:func:`shifted_moments`'s ``T (C - g 1_H^T)`` of centred cross moments ``cross`` ``(..., W, H)``, given the
    centred Gram matrix's last column ``g`` ``(..., W)``."""
    moved = cross - last[..., :, None]
    moved -= moved[..., -1:, :]
    return moved


def level_map(coef: np.ndarray) -> np.ndarray:
    """The map ``(..., W, H)`` on raw inputs of a map ``coef`` on inputs less their last value, plus that value.

    ``x' @ c + x_W = x @ (T^T c + e_W 1^T)``: the last row gains ``1 - sum(c)`` per step,
    so every step's weights sum to one.
    """
    raw = coef.copy()
    raw[..., -1, :] += 1.0 - coef.sum(axis=-2)
    return raw


#: The least penalty, relative to ``alpha``, per unit of the windows' total weight up to 1 (:func:`trace_penalty`).
PENALTY_FLOOR = 1e-12
#: The least penalty, relative to ``alpha`` and to the windows' mean uncentred second moment (the sums of squares a
#: centred Gram matrix is the difference of, per row; :func:`trace_penalty`). A centred Gram matrix whose trace lies
#: below it holds windows alike up to the rounding of that difference: a stretch constant at a value other than the
#: scaling's offset (an idle endpoint's zeros among a few busy buckets) gives a trace of about 1e-16 of those sums,
#: which a penalty relative to it fitted as signal, and whose digits differ between a series and the same series
#: times 1,000. Fitted penalties lie far above it: the centred trace of windows of noise is of the order of their
#: sums of squares.
PENALTY_ROUNDING = 1e-6


def relative_penalty(gram: np.ndarray, alpha: float, count: float = 1.0, second: float = 0.0) -> float:
    """``lam = alpha * trace(G) / W``: a ridge penalty that scales with the data, so forecasts are scale-equivariant
    (``count``: the windows' total weight, ``second``: their uncentred sums of squares; see :func:`trace_penalty`)."""
    return trace_penalty(float(np.trace(gram)), gram.shape[0], alpha, count, second)


def trace_penalty(trace: float, width: int, alpha: float, count: float = 1.0, second: float = 0.0) -> float:
    """:func:`relative_penalty` of a Gram matrix of ``width`` rows with the given ``trace``: at least ``alpha *
    PENALTY_FLOOR * min(count, 1)``, which keeps the system of constant windows (trace 0) solvable, and at least
    ``alpha * PENALTY_ROUNDING * second / width`` (``second``: the trace of the windows' uncentred ``X^T X``), below
    which the trace is the rounding of centring windows alike.

    The floor shrinks with a total weight below 1: where every window holds a flagged bucket (see ``robust``),
    each counts ``(K / deviation)^4`` (5e-28 for the sentinel 2**32-1 among counts of 50), and the Gram matrix with them;
    a floor of ``alpha * 1e-12`` would then outweigh it by 1e10 and reduce the map to zero.

    A typed error where the penalty is past the largest float (an ``alpha`` near it, a setting or a file's
    ``alpha_``): its ridge systems would hold inf, and their solution NaN; or where it is below the smallest normal
    float (an ``alpha`` near 0, 1e-300 on a constant series, whose windows' variance is the floor 1e-12): a penalty
    of a few significant bits or none, the inverse of systems of windows alike past the largest float, and the
    forecasts NaN after an update (a penalty of 0: numpy's bare LinAlgError at fit)."""
    scale = max(trace / width, PENALTY_FLOOR * min(count, 1.0), PENALTY_ROUNDING * second / width)  # _penalty_scale
    lam = alpha * scale
    if lam == np.inf or (lam < _SMALLEST_NORMAL and scale > 0.0):
        raise penalty_error(alpha, scale)
    return lam


def penalty_error(alpha: float, scale: float, of: str = "", more: str = "") -> WorkloadDataError:
    """The error of a relative ridge penalty ``alpha`` whose product with the windows' mean variance ``scale``
    (:func:`trace_penalty`) is past the largest float, or below the smallest normal one. ``of``: whose windows
    (``"key 'idle'"``, a fleet's); ``more``: a sentence added. It keeps ``alpha`` and ``scale``."""
    above = alpha * scale == np.inf
    error = WorkloadDataError(
        f"alpha={alpha:.6g} (the relative ridge penalty; a fitted model's alpha_) times the windows' mean variance"
        + (f" of {of}, {scale:.6g}," if of else f" {scale:.6g}") + " is "
        + ("past the largest float: pass a smaller alpha" if above else
                              f"below the smallest normal float ({_SMALLEST_NORMAL:.6g}): pass a larger alpha")
        + " (e.g. 1.0), or alpha=None to choose one (a model file holding it was altered: refit and save again)."
        + (f" {more}" if more else ""))
    error.alpha, error.scale = alpha, scale
    return error


#: The smallest normal float64 (2.2e-308): a penalty below it holds few significant bits, or none.
_SMALLEST_NORMAL = float(np.finfo(np.float64).tiny)


def _penalty_scale(trace: float, width: int, count: float, second: float) -> float:
    """:func:`trace_penalty` of ``alpha`` 1: the windows' mean variance, at least its floors."""
    return max(trace / width, PENALTY_FLOOR * min(count, 1.0), PENALTY_ROUNDING * second / width)


def windows_alike(trace: float, width: int, count: float, second: float) -> bool:
    """Whether windows whose centred Gram matrix of ``width`` rows has ``trace`` (their total weight ``count``, their
    uncentred ``X^T X``'s trace ``second``) are alike: :func:`trace_penalty` is its floor, above the trace itself.
    Their map is zero (every solution of windows alike is the same)."""
    return _penalty_scale(trace, width, count, second) > trace / width


def centred_diagonal(stats: WindowStats, follow_level: bool) -> np.ndarray:
    """The diagonal of :class:`CentredStats` ``.gram`` of ``stats`` (of :func:`follow_last`'s with ``follow_level``),
    computed as they compute it, in ``O(W)``: what :func:`relative_penalty` reads of a window's Gram matrix."""
    mean = stats.sum_x / stats.count
    spread = mean * mean
    spread *= stats.count
    diagonal = np.diagonal(stats.xx) - spread
    if follow_level:
        last = centred_last_column(stats)
        diagonal = diagonal - (last + last) + diagonal[-1]
    return diagonal


def centred_last_column(stats: WindowStats) -> np.ndarray:
    """The last column of :class:`CentredStats` ``.gram`` of ``stats``, computed as it computes it, in ``O(W)``."""
    mean = stats.sum_x / stats.count
    return stats.xx[:, -1] - mean * mean[-1] * stats.count


def floor_bound(stats: WindowStats, window: int, follow_level: bool) -> bool:
    """Whether :func:`trace_penalty` of the newest ``window`` inputs of ``stats`` is its floor: their Gram matrix's
    (:func:`centred_diagonal`'s) trace is at most ``PENALTY_FLOOR * min(count, 1)`` per row, windows all alike (an
    idle target's)."""
    return windows_alike(float(centred_diagonal(stats, follow_level)[-window:].sum()), window, stats.count,
                         uncentred_trace(stats, window))


def first_penalty(prefix, count: int, window: int, alpha: float, follow_level: bool) -> float | None:
    """The relative penalty (:func:`trace_penalty`) of the newest ``window`` inputs of ``prefix(i)``, the statistics
    of windows alike (whose penalty is the floor, :func:`floor_bound`) followed by the first ``i`` of ``count``
    windows, at the least ``i`` where it is no longer the floor; ``None`` where all ``count`` leave it there.

    Adding a window (of weight > 0) never shrinks the windows' scatter, so the least such ``i`` is found by
    bisection: ``O(log count)`` statistics."""
    if count == 0 or floor_bound(prefix(count), window, follow_level):
        return None
    low, high = 0, count  # at the floor with ``low`` windows added, above it with ``high``
    while high - low > 1:
        middle = (low + high) // 2
        if floor_bound(prefix(middle), window, follow_level):
            low = middle
        else:
            high = middle
    stats = prefix(high)
    return trace_penalty(float(centred_diagonal(stats, follow_level)[-window:].sum()), window, alpha, stats.count,
                         uncentred_trace(stats, window))


#: How far the penalty a model keeps (the fit's, which updates keep so that a new window is a rank-one change of the
#: system) may fall below the fit's rule on the data it holds (:func:`trace_penalty` of their statistics) before it
#: is set anew by the rule: at the first window where the rule exceeds it this many times (:func:`followed_penalty`).
#: Windows of a steady spread raise the rule in proportion to their count, so the penalty is set anew (one inversion)
#: once per doubling of the windows; a burst that comes to count as load, or a level shift, raises it at once (by
#: 5e5 times on seed 4 of tests/test_corrupt_buckets.py, where the penalty kept left its windows unpenalised and the
#: forecast reached 1.01e7 for loads of at most 65535).
PENALTY_DRIFT = 2.0


def rule_penalty(stats: WindowStats, window: int, alpha: float, follow_level: bool) -> float:
    """The fit's penalty (:func:`trace_penalty`) of the newest ``window`` inputs of ``stats``, in ``O(W)``."""
    return rule_penalties(stats, (window,), alpha, follow_level)[window]


def rule_penalties(stats: WindowStats, windows, alpha: float, follow_level: bool) -> dict[int, float]:
    """:func:`rule_penalty` of each of ``windows``, reading the Gram matrix's diagonal once."""
    # the sums of the newest 1, 2, ... inputs' diagonal entries, centred and not
    sums = np.cumsum(np.stack([centred_diagonal(stats, follow_level), np.diagonal(stats.xx)])[:, ::-1], axis=1)
    return {window: trace_penalty(float(sums[0, window - 1]), window, alpha, stats.count, float(sums[1, window - 1]))
            for window in windows}


def followed_penalty(prefix, count: int, window: int, alpha: float, follow_level: bool, lam: float,
                     start: WindowStats | None = None, last: float | None = None,
                     raises: list | None = None) -> float:
    """The penalty ``lam`` kept on statistics ``start`` (``None``: none, no windows) as the windows of ``prefix(i)``,
    ``start`` followed by the first ``i`` of ``count`` windows, join them: set to :func:`rule_penalty` of
    ``prefix(i)`` at each least ``i`` where that exceeds ``PENALTY_DRIFT`` times the penalty then kept (of ``start``
    itself where it does), so it never lies that far below the rule on the windows held.

    Adding a window (of weight > 0) never shrinks the windows' scatter nor their sums of squares, so the rule's
    penalty grows with ``i`` and each least ``i`` is found by bisection (``O(log count)`` statistics); where no
    window raises it (most calls) the cost is one :func:`rule_penalty` of ``prefix(count)`` (``last``, where the
    caller read it). ``raises``: a list that gets ``(i, penalty)`` for each ``i`` where it is set anew (``i`` 0:
    at ``start``), so the penalty in force before each window is known (:func:`penalties_before`)."""
    low = 0
    if last is None:
        last = rule_penalty(prefix(count), window, alpha, follow_level) if count else 0.0
    if last > PENALTY_DRIFT * lam and start is not None:
        held = rule_penalty(start, window, alpha, follow_level)
        if held > PENALTY_DRIFT * lam:
            lam = held
            if raises is not None:
                raises.append((0, lam))
    while count > low and last > PENALTY_DRIFT * lam:
        high = count  # the rule above PENALTY_DRIFT * lam with ``high`` windows added, not above it with ``low``
        while high - low > 1:
            middle = (low + high) // 2
            if rule_penalty(prefix(middle), window, alpha, follow_level) > PENALTY_DRIFT * lam:
                high = middle
            else:
                low = middle
        lam, low = rule_penalty(prefix(high), window, alpha, follow_level), high
        if raises is not None:
            raises.append((high, lam))
    return lam


def penalties_before(lam: float, raises: list, positions: np.ndarray) -> np.ndarray:
    """The penalty in force before each of the windows at ``positions`` (0: the first) of a pass of
    :func:`followed_penalty` that began with ``lam`` and set it anew at ``raises`` (``(i, penalty)``: after its
    ``i``-th window, in order)."""
    out = np.full(len(positions), lam, dtype=np.float64)
    for i, value in raises:
        out[positions >= i] = value
    return out


def uncentred_trace(stats: WindowStats, window: int) -> float:
    """The trace of the uncentred ``X^T X`` of ``stats``' newest ``window`` inputs (:func:`trace_penalty`'s
    ``second``)."""
    return float(np.diagonal(stats.xx)[-window:].sum())


#: The least penalty a ridge system takes, relative to its Gram matrix's mean diagonal: it keeps the system invertible
#: in float64 when a penalty kept from an earlier fit (a refit's, an update's) was set on far smaller data (a training
#: part of zeros: ``alpha * 1e-12``; then a 1e12 bucket). Fitted penalties are ``alpha`` times that mean, far above it.
SOLVABLE_PENALTY = 1e-12


def solvable_penalty(gram: np.ndarray, lam: float | np.ndarray) -> float | np.ndarray:
    """``lam``, raised where needed to :data:`SOLVABLE_PENALTY` times the mean diagonal of ``gram`` ``(..., W, W)``."""
    return np.maximum(lam, SOLVABLE_PENALTY * np.trace(gram, axis1=-2, axis2=-1) / gram.shape[-1])


def ridge_system(gram: np.ndarray, kernel_size: int, lam: float) -> np.ndarray:
    """``G + lam M^-1``, DLinear's ridge system (``lam`` at least :func:`solvable_penalty`'s)."""
    system = float(solvable_penalty(gram, lam)) * _branch_penalty(gram.shape[0], kernel_size)
    system += gram
    return system


def ridge_inverse(gram: np.ndarray, kernel_size: int, lam: float) -> np.ndarray:
    """``(G + lam M^-1)^-1``, the inverse of DLinear's ridge system, made exactly symmetric."""
    inverse = np.linalg.inv(ridge_system(gram, kernel_size, lam))
    inverse += inverse.T
    inverse *= 0.5
    return inverse


def add_rank_one(inverse: np.ndarray, u: np.ndarray, weight: float, limit: float | None = None) -> np.ndarray | None:
    """``(S + weight u u^T)^-1`` from ``S^-1`` (Sherman-Morrison), for symmetric positive definite ``S``, weight >= 0.

    The correction is the outer product of one vector with itself, so a symmetric
    inverse stays exactly symmetric. Accurate while the update does not dominate the
    system (``weight u^T S^-1 u`` of order 1 or less; a window joining hundreds is about
    ``W / n``): a dominant one cancels most of the inverse and loses digits in proportion.
    ``limit``: ``None`` instead where ``weight u^T S^-1 u`` exceeds it, or is not a number >= 0 (the inverse kept
    has lost its definiteness), for the caller to invert the system anew.
    """
    v = inverse @ u
    share = weight * float(u @ v)
    if limit is not None and not 0.0 <= share <= limit:
        return None
    v *= np.sqrt(weight / (1.0 + share))
    return inverse - v[:, None] * v  # the outer product v v^T


def solve_dlinear(stats: WindowStats | CentredStats, kernel_size: int, alpha: float,
                  branches: bool = True, lam: float | None = None, follow_level: bool = False,
                  alike_zero: bool = False) -> DLinearSolution:
    """Ridge-optimal DLinear weights from window statistics (intercept unpenalised).

    Ridge on the two branches' ``2W`` weights equals, by the push-through identity,
    ``(M G + lam I)^-1 M C = (G + lam M^-1)^-1 C``: one symmetric ``W x W`` solve.
    ``alpha`` is relative (``lam = alpha * trace(G) / W``), so scaling the series
    scales the forecast and nothing else; a given ``lam`` overrides it. ``branches=False``
    skips the trend/seasonal weights (the window search needs only the forecast map).
    ``follow_level`` (or moments already ``shifted``) fits the windows less their last value
    (:func:`follow_last`): ``coef`` and ``intercept`` are then the map on raw inputs
    (:func:`level_map`), and the branch weights act on the shifted window (whose seasonal
    part equals the raw window's). ``alike_zero``: windows alike (their penalty at its floor, :func:`trace_penalty`:
    a Gram matrix that is the rounding of centring them) get the map of alike windows exactly, zero (the window
    search, whose candidates then tie exactly instead of by that rounding).
    """
    centred = stats if isinstance(stats, CentredStats) else CentredStats.of(stats)
    if follow_level:
        centred = follow_last(centred)
    mean_x, mean_y, gram, cross = centred.mean_x, centred.mean_y, centred.gram, centred.cross
    window = gram.shape[0]
    lam = relative_penalty(gram, alpha, centred.count, centred.second_trace()) if lam is None else lam
    if alike_zero and windows_alike(float(np.trace(gram)), window, centred.count, centred.second_trace()):
        cross = np.zeros_like(cross)
    coef = np.linalg.solve(ridge_system(gram, kernel_size, lam), cross)  # (W, H)
    trend_coef = seasonal_coef = None
    if branches:
        residual = (cross - gram @ coef) / lam  # branch weights theta = B^T residual
        trend = moving_average_matrix(window, kernel_size)
        trend_coef, seasonal_coef = trend @ residual, residual - trend @ residual
    # Shifted: the intercept of the shifted map equals the raw map's (the shift's level terms cancel).
    intercept = mean_y - mean_x @ coef
    return DLinearSolution(coef=level_map(coef) if centred.shifted else coef, intercept=intercept,
                           trend_coef=trend_coef, seasonal_coef=seasonal_coef)


def settled_windows(inputs: np.ndarray, targets: np.ndarray, input_weights: np.ndarray,
                    target_weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The windows' inputs ``(m, W)`` and targets ``(m, H)`` (their points' weights alike) with each point of weight
    below 1 (a flagged bucket) read as the median of its window's points of weight 1; a window with none stays as it
    is. ``inputs`` and ``targets`` (copies) are changed in place and returned.

    A window is settled from its own points and their weights only, which a fit, a refit and an update
    (:meth:`DLinear.update`, from the kept points' weights) all hold, so they settle it alike. A window holding
    a flagged bucket already counts ``(K / deviation)^4`` of an ordinary one; settled, what it does count is an
    ordinary window. Where every window holds one (a sentinel written every few buckets), the fit is one on the
    settled windows, not on the sentinels.
    """
    width = inputs.shape[1]
    values = np.concatenate([inputs, targets], axis=1)
    flagged = np.concatenate([input_weights, target_weights], axis=1) < 1.0
    clean = (~flagged).sum(axis=1)
    rows = np.flatnonzero((clean > 0) & (clean < flagged.shape[1]))
    if len(rows):
        kept, marked, count = values[rows], flagged[rows], clean[rows]
        # the median of each row's points of weight 1: sorted with the flagged ones last (as +inf), the middle one
        # or two of the first ``count``
        ordered = np.sort(np.where(marked, np.inf, kept), axis=1)
        at = np.arange(len(rows))
        median = 0.5 * (ordered[at, (count - 1) // 2] + ordered[at, count // 2])
        kept[marked] = np.broadcast_to(median[:, None], kept.shape)[marked]
        inputs[rows], targets[rows] = kept[:, :width], kept[:, width:]
    return inputs, targets


def windows_settled_at(z: np.ndarray, origins: np.ndarray, window: int, horizon: int, element: np.ndarray | None,
                       first: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """The inputs ``(m, window)`` and targets ``(m, horizon)`` of ``z``'s windows at ``origins``, settled
    (:func:`settled_windows`) where ``element`` (the weights of ``z``'s points, ``element[i]``: point ``first + i``;
    None: all 1) flags a point.

    The same arrays as :func:`settled_windows` on the gathered windows, in fewer passes over them: each window's
    points are read once, as one row of ``window + horizon`` (a sliding view, no index array), and settled in place.
    One window within ``z`` and ``element`` (an update's new one, read three times by an update with a flagged point
    in it) is settled as one slice (:func:`_settled_window`).
    """
    if element is not None and len(origins) == 1:
        start = int(origins[0]) - window
        if (z.dtype == np.float64 and z.ndim == element.ndim == 1 and 0 <= start and 0 <= start - first
                and start + window + horizon <= min(len(z), len(element) + first)):
            return _settled_window(z, element, start, start - first, window, horizon)
    if element is None or len(origins) <= 1:
        inputs, targets = windows_at(z, origins, window), targets_at(z, origins, horizon)
        if element is None:
            return inputs, targets
        return settled_windows(inputs, targets, windows_at(element, origins - first, window),
                               targets_at(element, origins - first, horizon))
    length = window + horizon
    starts = np.asarray(origins, dtype=np.int64) - window
    values = np.lib.stride_tricks.sliding_window_view(np.asarray(z, dtype=np.float64), length)[starts]  # [m, W + H]
    flagged = np.lib.stride_tricks.sliding_window_view(element, length)[starts - first] < 1.0  # [m, W + H]
    clean = length - np.count_nonzero(flagged, axis=1)
    # as settled_windows: the median of each row's points of weight 1, sorted with the flagged ones last (as +inf)
    ordered = np.where(flagged, np.inf, values)
    ordered.sort(axis=1)
    at = np.arange(len(values))
    median = 0.5 * (ordered[at, np.maximum(clean - 1, 0) // 2] + ordered[at, clean // 2])
    del ordered
    flagged &= (clean > 0)[:, None]  # a window with no point of weight 1 stays as it is
    np.copyto(values, median[:, None], where=flagged)
    return values[:, :window].copy(), values[:, window:].copy()


def _settled_window(z: np.ndarray, element: np.ndarray, start: int, at: int, window: int, horizon: int
                    ) -> tuple[np.ndarray, np.ndarray]:
    """:func:`windows_settled_at` of the one window whose points are ``z[start : start + window + horizon]`` (their
    weights ``element[at : at + window + horizon]``): the arithmetic of :func:`settled_windows` on its one row (the
    same sort of the same values, the same median), as ``(1, window)`` inputs and ``(1, horizon)`` targets, views of
    one copy of its points. An update adds one window; :func:`settled_windows`' concatenations, boolean masks and
    broadcasts cost it 25 us a call (this: 4 us), three calls an update with a flagged point in its windows."""
    length = window + horizon
    values = z[start : start + length].copy()
    flagged = element[at : at + length] < 1.0
    clean = length - int(np.count_nonzero(flagged))
    if 0 < clean < length:
        ordered = np.where(flagged, np.inf, values)
        ordered.sort()
        values[flagged] = 0.5 * (ordered[(clean - 1) // 2] + ordered[clean // 2])
    return values[None, :window], values[None, window:]


#: A window whose residual lies more than this many spreads (:func:`reference_spread`) from its reference's median, at
#: some horizon step, enters the statistics weighed ``(RESIDUAL_K / deviation)^4`` (:func:`residual_deviations`): the
#: input-anomaly rule's ``K`` and weight, on the residuals of windows instead of on buckets.
RESIDUAL_K = anomaly.K
#: A judged window's reference: the residuals of the windows at the this many origins before it (the input-anomaly
#: rule's reference length), per horizon step; with fewer than ``anomaly.MIN_REFERENCE`` it is not judged.
RESIDUAL_REFERENCE = anomaly.REFERENCE_BUCKETS
#: The reference's median and spread are taken anew every this many origins (:func:`residual_deviations`): per
#: window, the medians took longer than the rest of a fit at 1,000 points.
RESIDUAL_EVERY = 16
#: A fit judges at most the newest this many windows of its validation tail (``O(W H)`` each: a fit on 100,000
#: points at horizon 60 took 18 ms longer at 1024, 65 ms at 4096): every window whose targets a forecast's input can
#: hold at the default windows (up to 336) and horizons up to 688.
RESIDUAL_WINDOWS = 1024
#: Windows whose residuals are computed at once (their inputs, targets and references: memory).
RESIDUAL_BLOCK = 1024
#: The least residual spread, relative to the scaled series' (1): residuals below it are rounding (a clean cycle).
RESIDUAL_FLOOR = 1e-6


def _middle(values: np.ndarray) -> np.ndarray:
    """The median along the last axis of ``values`` (``np.median``'s value), from a sorted copy: :func:`_sorted_middle`.
    """
    ordered = np.array(values, order="C")
    ordered.sort(axis=-1)
    return _sorted_middle(ordered)


def _sorted_middle(ordered: np.ndarray) -> np.ndarray:
    """The median along the last axis of ``ordered``, sorted along it. numpy's sort of a few dozen values per row
    (an update's judging: its reference's 60 rows, its window's steps) took half the time of one partition and, of an
    even count, the largest value below the middle."""
    count = ordered.shape[-1]
    half = count // 2
    if count % 2:
        return ordered[..., half]
    return 0.5 * (ordered[..., half - 1] + ordered[..., half])


def window_residuals(z: np.ndarray, origins: np.ndarray, window: int, horizon: int, element: np.ndarray | None,
                     first: int, coef: np.ndarray, intercept: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The residuals ``(m, H)`` of the 1-D scaled series ``z``'s windows at ``origins`` (settled as the statistics
    read them, see :func:`windows_settled_at`) under the map ``coef`` ``(W, H)``, ``intercept`` ``(H,)``, each in
    units of its inputs' noise: the robust spread of the inputs' steps (1.4826 MAD of their differences, over
    sqrt 2; at least ``RESIDUAL_FLOOR``), and those noises ``(m,)``. Load's noise grows with its level (Poisson: as
    its root), and after a shift to a higher level the windows would otherwise all lie far from the residuals before
    them."""
    residuals, noises = np.empty((len(origins), horizon)), np.empty(len(origins))
    for begin in range(0, len(origins), RESIDUAL_BLOCK):
        part = origins[begin : begin + RESIDUAL_BLOCK]
        inputs, targets = windows_settled_at(z, part, window, horizon, element, first)
        noise = noises[begin : begin + len(part)] = _input_noise(inputs)
        residuals[begin : begin + len(part)] = (targets - inputs @ coef - intercept) / noise[:, None]
    return residuals, noises


def calm_weights(deviation: np.ndarray, z: np.ndarray, origins: np.ndarray, window: int, horizon: int,
                 element: np.ndarray | None, first: int) -> np.ndarray | None:
    """:func:`deviation_weights` of the windows at ``origins`` (their ``deviation``) whose inputs are calm: within
    ``RESIDUAL_K`` noises of their median, plain noise, which squared loss bends the map toward where the targets
    hold a burst. A window whose inputs hold a jump (a burst, a level shift) is what teaches the map what follows
    one, and weighs 1. The inputs are read again for the far windows only (most windows lie near)."""
    far = deviation > RESIDUAL_K
    if far.any():
        deviation = np.where(far, deviation, 0.0)
        deviation[far] = np.where(calm_inputs(z, origins[far], window, horizon, element, first), deviation[far], 0.0)
    return deviation_weights(deviation)


#: A normal noise's standard deviation per 1 MAD of its steps (which have sqrt 2 its spread).
_NOISE_SCALE = 1.4826 / np.sqrt(2.0)


def _input_noise(inputs: np.ndarray) -> np.ndarray:
    """The noise of each row of ``inputs`` ``(m, W)``: 1.4826 MAD of its steps over sqrt 2, at least
    ``RESIDUAL_FLOOR`` (:func:`window_residuals`)."""
    return np.maximum(_NOISE_SCALE * _middle(np.abs(np.diff(inputs, axis=1))), RESIDUAL_FLOOR)


def _calm(inputs: np.ndarray, noise: np.ndarray) -> np.ndarray:
    """Whether each row of ``inputs`` lies within ``RESIDUAL_K`` of its ``noise`` from its median."""
    return np.abs(inputs - _middle(inputs)[:, None]).max(axis=1) <= RESIDUAL_K * noise


def calm_inputs(z: np.ndarray, origins: np.ndarray, window: int, horizon: int, element: np.ndarray | None,
                first: int) -> np.ndarray:
    """Whether the inputs of ``z``'s windows at ``origins`` are calm (:func:`calm_weights`)."""
    inputs = windows_settled_at(z, origins, window, horizon, element, first)[0]
    return _calm(inputs, _input_noise(inputs))


def reference_spread(reference: np.ndarray, center: np.ndarray) -> np.ndarray:
    """The spread of each row of ``reference`` ``(..., m)`` (residuals along the last axis) about its ``center``
    ``(...)``: the larger of 1.4826 MAD and the root mean square deviation of the values within ``RESIDUAL_K`` of
    that (those the rule would not call far), at least ``RESIDUAL_FLOOR``.

    For normal residuals the two agree. The residuals of low counts are discrete and skewed (Poisson at 1.5-5.4 a
    bucket): their MAD fell to 0.6 of their standard deviation, and an ordinary count (11 at a rate of 4.1, one in
    300) lay 10 MADs out. A burst in the reference lies beyond ``RESIDUAL_K`` and is left out of the root mean
    square, so it does not hide the next one. Each row's deviations are sorted (for the median), and summed in
    that order: every path that holds the same values gets the same spread."""
    deviation = np.abs(np.subtract(reference, center[..., None], order="C"))
    deviation.sort(axis=-1)
    count = deviation.shape[-1]
    spread = np.maximum(1.4826 * _sorted_middle(deviation), RESIDUAL_FLOOR)
    limit = RESIDUAL_K * spread
    inside: int | np.ndarray = count
    if bool((deviation[..., -1] > limit).any()):  # the largest of a row beyond K (a burst): left out
        far = deviation > limit[..., None]
        inside = count - np.count_nonzero(far, axis=-1)
        deviation[far] = 0.0
    np.square(deviation, out=deviation)
    return np.maximum(spread, np.sqrt(np.add.reduce(deviation, axis=-1) / inside))


def residual_reference(reference: np.ndarray, noise: np.ndarray | None = None) -> tuple | None:
    """The median and spread (:func:`reference_spread`) per step ``(H,)`` of the residuals ``reference``
    ``(m, H)``, and with their windows' ``noise`` ``(m,)`` the reference's unit, their median
    (:func:`residual_deviations`); ``None`` for fewer than ``anomaly.MIN_REFERENCE`` rows (nothing is judged
    against it)."""
    if len(reference) < anomaly.MIN_REFERENCE:
        return None
    center = _middle(reference.T)
    spread = reference_spread(reference.T, center)
    return (center, spread) if noise is None else (center, spread, _middle(noise))


def residual_deviations(residuals: np.ndarray, start: int, first_origin: int, known: tuple | None = None,
                        noise: np.ndarray | None = None) -> tuple[np.ndarray, tuple | None]:
    """Each row's deviation from ``start`` on of ``residuals`` ``(m, H)`` (the windows at consecutive origins from
    ``first_origin``): the largest over the steps of ``|r - median| / spread``, the median and spread
    (:func:`residual_reference`) per step over its reference, the ``RESIDUAL_REFERENCE`` rows before the first
    origin of its block of ``RESIDUAL_EVERY`` origins (0 where fewer than ``anomaly.MIN_REFERENCE`` rows precede
    it); and the reference of the last row's block (``None``: too few rows, or no row).

    ``noise``: the rows' windows' noises ``(m,)`` (:func:`window_residuals`, the unit of each row). A row whose noise
    is below its reference's unit (the median of the reference rows' noises) is judged in that unit, ``r`` times
    ``noise / unit``: its residual is compared with residuals measured in units no smaller. A window's noise is the
    MAD of a few dozen steps, and of counts' steps it takes few values (Poisson(3): a median step of 1 or 2); in a
    unit half its reference's, an ordinary residual lay 10 spreads out. ``None``: each row in its own unit.

    The blocks are aligned on the origins, so a fit and the updates after it judge a window alike. ``known``: the
    reference of row ``start - 1``'s block (as this returned it), taken for the rows in that block: an update that
    adds a window to the block pays its residual alone. The blocks with a whole reference take theirs at once,
    ``RESIDUAL_BLOCK // RESIDUAL_REFERENCE`` blocks at a time (the same medians, one partition each)."""
    if known is not None and start and start == len(residuals) - 1 and (first_origin + start) % RESIDUAL_EVERY:
        # one row (an update's window) in the block of the row before it: judged against ``known`` alone, the
        # arithmetic below on one row without its index arrays (3 us; tens of microseconds of small calls below)
        row = residuals[start]
        if noise is not None:
            row = row * np.minimum(noise[start] / np.float64(known[2]), 1.0)
        return np.array([np.maximum.reduce(np.abs(row - known[0]) / known[1])]), known
    rows = np.arange(start, len(residuals))
    out = np.zeros(len(rows))
    if not len(rows):
        return out, None
    block_starts = (first_origin + rows) // RESIDUAL_EVERY * RESIDUAL_EVERY - first_origin
    blocks, of_row = np.unique(block_starts, return_inverse=True)
    known_block = (first_origin + start - 1) // RESIDUAL_EVERY * RESIDUAL_EVERY - first_origin if start else None
    references: list[tuple | None] = [None] * len(blocks)
    whole = [i for i, block in enumerate(blocks.tolist())
             if block >= RESIDUAL_REFERENCE and not (known is not None and block == known_block)]
    if whole:
        lagged = np.lib.stride_tricks.sliding_window_view(residuals, RESIDUAL_REFERENCE, axis=0)  # [m - R + 1, H, R]
        step = max(RESIDUAL_BLOCK // RESIDUAL_REFERENCE, 1)
        for begin in range(0, len(whole), step):
            part = whole[begin : begin + step]
            reference = lagged[blocks[part] - RESIDUAL_REFERENCE]  # [b, H, R]: each block's rows before it, per step
            center = _middle(reference)
            spread = reference_spread(reference, center)
            if noise is None:
                for i, c, s in zip(part, center, spread):
                    references[i] = (c, s)
            else:
                unit = _middle(np.lib.stride_tricks.sliding_window_view(noise, RESIDUAL_REFERENCE)[
                    blocks[part] - RESIDUAL_REFERENCE])  # [b]
                for i, c, s, u in zip(part, center, spread, unit):
                    references[i] = (c, s, u)
    for i, block in enumerate(blocks.tolist()):
        if known is not None and block == known_block:
            references[i] = known
        elif references[i] is None:
            below = slice(max(block - RESIDUAL_REFERENCE, 0), max(block, 0))
            references[i] = residual_reference(residuals[below], None if noise is None else noise[below])
    usable = np.array([reference is not None for reference in references])
    if usable.any():
        centers = np.array([reference[0] for reference in references if reference is not None])
        spreads = np.array([reference[1] for reference in references if reference is not None])
        index = (np.cumsum(usable) - 1)[of_row]  # each row's reference among the usable ones
        judged = usable[of_row]
        at = rows[judged]
        judged_residuals = residuals[at]
        if noise is not None:
            units = np.array([reference[2] for reference in references if reference is not None])
            judged_residuals = judged_residuals * np.minimum(noise[at] / units[index[judged]], 1.0)[:, None]
        out[judged] = (np.abs(judged_residuals - centers[index[judged]]) / spreads[index[judged]]).max(axis=1)
    return out, references[-1]


def _stacked(references: list) -> tuple[np.ndarray | None, np.ndarray | None, np.ndarray | None]:
    """The targets' references (:func:`residual_reference`) as median and spread arrays ``(k, H)`` and units ``(k,)``
    (``None``: judged in their own units); ``None`` where they are too short (all alike: the targets' windows are
    the same)."""
    if any(reference is None for reference in references):
        return None, None, None
    units = np.array([reference[2] for reference in references]) if len(references[0]) > 2 else None
    return np.array([reference[0] for reference in references]), np.array([reference[1] for reference in references]), units


#: :func:`_near_radii` of each reference taken (by its spread array's ``id``), kept while the array lives.
_NEAR: dict[int, tuple] = {}
#: The share of ``RESIDUAL_K`` spreads (and of a radius' square) that :func:`_near_radii` leaves to rounding.
_NEAR_MARGIN = 1e-6


def _near_radii(center: np.ndarray, spread: np.ndarray) -> list[float]:
    """Per target of a reference's median ``center`` and ``spread`` ``(k, H)`` (:func:`residual_reference`), the
    square of a radius ``R`` about 0: a window whose residuals' sum of squares, as computed, is at most it lies
    within ``RESIDUAL_K`` spreads of the median at every step, its deviation as computed (:func:`residual_deviations`,
    in its own unit or, scaled toward 0, in its reference's) at most ``RESIDUAL_K``. ``R`` is the distance from 0
    to the nearest of ``center -+ RESIDUAL_K (1 - _NEAR_MARGIN) spread`` over the steps, where 0 lies between them
    at every step (else -1: every window's deviation is computed); the margins cover the rounding of these, of the
    sum of squares (relative error below ``H`` units of the last place) and of the deviation's arithmetic.

    A reference's arrays are not written in place (an update sets new ones): the radii are kept by the spread's
    identity, the center's checked with it, and taken once per block."""
    key = id(spread)
    kept = _NEAR.get(key)
    if kept is not None and kept[0]() is spread and kept[1] is center:
        return kept[2]
    # per step, the distance from 0 to the nearer of center -+ reach (as computed, -(c - reach) and c + reach)
    radius = np.subtract(RESIDUAL_K * (1.0 - _NEAR_MARGIN) * spread, np.abs(center)).min(axis=1).tolist()
    radii = [r * r * (1.0 - _NEAR_MARGIN) if r > 0.0 else -1.0 for r in radius]
    _NEAR[key] = (weakref.ref(spread, lambda _, key=key: _NEAR.pop(key, None)), center, radii)
    return radii


@lru_cache(maxsize=None)
def _shifted(rows: int) -> np.ndarray:
    """The rows of a kept history of ``rows`` rows that the next one keeps, and its last row's index again (its
    place for the new row: ``take(..., mode="clip")``): the newest ``RESIDUAL_REFERENCE + RESIDUAL_EVERY - 1`` at
    most."""
    index = np.arange(int(rows >= RESIDUAL_REFERENCE + RESIDUAL_EVERY), rows + 1)
    index.flags.writeable = False
    return index


def deviation_weights(deviation: np.ndarray) -> np.ndarray | None:
    """Windows' weights from their :func:`residual_deviations`: 1, or ``(RESIDUAL_K / deviation)^4`` beyond
    ``RESIDUAL_K``; ``None`` when all are 1."""
    far = deviation > RESIDUAL_K
    if not bool(far.any()):
        return None
    weights = np.ones(len(deviation))
    weights[far] = (RESIDUAL_K / deviation[far]) ** 4
    return weights


def combined_weights(first: np.ndarray | None, second: np.ndarray | None) -> np.ndarray | None:
    """The lower of two windows' weights (``None``: all 1)."""
    if first is None or second is None:
        return second if first is None else first
    return np.minimum(first, second)


def window_weights(element: np.ndarray | None, origins: np.ndarray, window: int, horizon: int,
                   first: int = 0) -> np.ndarray | None:
    """Each window's weight: the lowest weight of its inputs and targets; ``None`` when every one is 1.

    ``element[i]`` is the weight of the series' position ``first + i`` (``None``: all 1); the
    window at origin ``t`` spans positions ``t - window`` to ``t + horizon - 1``. ``origins``
    are consecutive.
    """
    if element is None:
        return None
    low = np.flatnonzero(element < 1.0)
    if len(low) == 0 or len(origins) == 0:
        return None
    start = int(origins[0])
    result = np.ones(len(origins))
    if len(low) * (window + horizon) > 4 * len(origins):  # many flagged: one sliding minimum
        span = element[start - window - first : int(origins[-1]) + horizon - first]
        return np.lib.stride_tricks.sliding_window_view(span, window + horizon).min(axis=1)
    for position in low + first:  # the origins whose span holds it: position - horizon + 1 ... position + window
        lo, hi = max(position - horizon + 1 - start, 0), min(position + window + 1 - start, len(origins))
        if lo < hi:
            np.minimum(result[lo:hi], element[position - first], out=result[lo:hi])
    return result if bool((result < 1.0).any()) else None


def settled_weights(element: np.ndarray | None, z: np.ndarray, origins: np.ndarray, window: int, horizon: int,
                    first: int = 0) -> np.ndarray | None:
    """Each window's weight in the statistics (``None``: all 1): :func:`window_weights`, except that a window the
    series came back within from each of its runs of flagged points counts by the share of its points it reads.

    Such a window is summed settled (:func:`settled_windows`: its flagged points read as the median of its other
    points), and it comes back from a run where the point after the run lies in the window and within a ``K``-th
    of the run's largest deviation from that median (the rule of :func:`workload_predictor.anomaly.settled_runs`,
    on the window's own points): its settled points then stand for load the series went on with, and the windows
    that hold a lone burst keep teaching the map (a rise in level that follows a burst). A window whose run lasts to
    its end, or whose points after the run stay off (a step in level the rule flags while its reference catches
    up), keeps the lowest weight of its points: the median its flagged points would read stands for no load
    there. ``z`` holds the points at ``origins``' positions, ``element[i]`` the weight of its point ``first + i``;
    the weights read each window's points and flags alone, so a fit, a refit and an update weigh it alike.
    """
    weights = window_weights(element, origins, window, horizon, first)
    if weights is None:
        return None
    low = np.flatnonzero(weights < 1.0)
    length = window + horizon
    if len(low) == 1:  # one window (an update's new one)
        start = int(origins[int(low[0])]) - window
        if (z.dtype == np.float64 and z.ndim == element.ndim == 1 and 0 <= start and 0 <= start - first
                and start + length <= min(len(z), len(element) + first)):
            check_memory("DLinear settled weights", extra_bytes=6.0 * 8.0 * length)
            share = _settled_share(z[start : start + length], element[start - first : start - first + length])
            if share is not None:
                weights[low] = np.maximum(weights[low], share)
            return weights
    return _settled_blocks(weights, low, element, z, origins, window, horizon, first)


def _settled_blocks(weights: np.ndarray, low: np.ndarray, element: np.ndarray, z: np.ndarray, origins: np.ndarray,
                    window: int, horizon: int, first: int) -> np.ndarray:
    """:func:`settled_weights` of the windows at ``origins[low]`` (``weights``: :func:`window_weights`, raised in
    place and returned), ``FLAGGED_BLOCK`` at a time."""
    length = window + horizon
    starts = np.asarray(origins, dtype=np.int64)[low] - window
    # a block's windows: their positions, points, flags, sorted points, deviations and run edges
    check_memory("DLinear settled weights", extra_bytes=6.0 * 8.0 * min(len(low), FLAGGED_BLOCK) * length)
    for begin in range(0, len(low), FLAGGED_BLOCK):
        at = starts[begin : begin + FLAGGED_BLOCK]
        spans = at[:, None] + np.arange(length)
        values = np.asarray(z, dtype=np.float64)[spans]
        flagged = element[spans - first] < 1.0
        clean = length - np.count_nonzero(flagged, axis=1)
        ordered = np.where(flagged, np.inf, values)  # as windows_settled_at: the median of the points of weight 1
        ordered.sort(axis=1)
        rows = np.arange(len(at))
        median = 0.5 * (ordered[rows, np.maximum(clean - 1, 0) // 2] + ordered[rows, clean // 2])
        deviation = np.abs(values - median[:, None]).ravel()
        # the runs of flagged points, row by row (a run stops at its row's end): first and last positions
        edge = np.diff(flagged.astype(np.int8), axis=1, prepend=np.int8(0), append=np.int8(0))
        first_at = np.flatnonzero(edge[:, :-1] == 1)
        last_at = np.flatnonzero(edge[:, 1:] == -1)
        # a run's largest deviation: the points from its first to the next run's first are its own or unflagged
        largest = np.maximum.reduceat(np.where(flagged.ravel(), deviation, 0.0), first_at)
        after = last_at + 1
        back = after % length != 0  # the point after the run lies in the row
        back[back] = deviation[after[back]] * anomaly.K <= largest[back]
        settled = (clean > 0) & (np.bincount(last_at[~back] // length, minlength=len(at)) == 0)
        chosen = low[begin : begin + FLAGGED_BLOCK][settled]
        weights[chosen] = np.maximum(weights[chosen], clean[settled] / length)
    return weights


def _settled_share(values: np.ndarray, element: np.ndarray) -> float | None:
    """:func:`settled_weights` of one window, its points ``values`` and their weights ``element``: the share of its
    points of weight 1 where the series came back within it from each of its runs of flagged points, else ``None``
    (it keeps its lowest weight). The arithmetic of the blocks' path on one row (the same median and deviations,
    each run's largest deviation a maximum over its points): an update judges one new window, where the blocks'
    index arrays, ``reduceat`` and ``bincount`` cost 42 us a call (this: 6 us)."""
    length = len(values)
    flagged = element < 1.0
    clean = length - int(np.count_nonzero(flagged))
    if not clean:
        return None
    ordered = np.where(flagged, np.inf, values)
    ordered.sort()
    median = 0.5 * (ordered[(clean - 1) // 2] + ordered[clean // 2])
    deviation = np.abs(values - median)
    marked = np.flatnonzero(flagged).tolist()
    run_first = marked[0]
    for position, following in zip(marked, marked[1:] + [length + 1]):
        if following == position + 1:
            continue
        after = position + 1  # the point after the run from run_first
        if after == length or not deviation[after] * anomaly.K <= np.maximum.reduce(deviation[run_first:after]):
            return None
        run_first = following
    return clean / length


#: The largest weight of a flag that may end a counter's run (:func:`counter_starts`): that of ``K^2 / 2`` deviations.
#: A counter's flag deviates ``K^2`` or more (``anomaly.counter_flags``: weight ``K^-4``, 16 times less); a burst
#: the rule flags a few tens of deviations off (weight above this) starts no counter's run.
COUNTER_WEIGHT = (2.0 / anomaly.K) ** 4
#: Flagged points whose counter's start :func:`counter_starts` checks at once (``COUNTER_RUN`` values each).
STARTS_BLOCK = 65536


def counter_starts(y: np.ndarray, element: np.ndarray | None, first: int = 0) -> np.ndarray | None:
    """The weights the statistics read of ``y``'s points from ``first`` on (``y`` raw ``(n, k)``, ``element``
    ``(n - first, k)``: the input-anomaly rule's, ``None``: all 1): ``element``, with the start of each counter's run
    weighed as the flag that ends it.

    Its question: which of a counter's unflagged first buckets DLinear's statistics weigh down, as far as an update
    can take the windows it summed them in out again (the ``COUNTER_RUN - 1`` newest, ``newest_weights_``). The
    predictor's :func:`~workload_predictor.anomaly.with_leads` answers another one, where a flagged run began for
    the windows and inputs read again from the kept series: the whole climb into the flag, longer where a counter
    is flagged after its ``COUNTER_RUN``-th bucket (a reset's second part, a sparse series). Where a counter is
    flagged from its ``COUNTER_RUN``-th bucket, both read the same ``COUNTER_RUN - 1`` buckets. A point flagged with a weight of at most ``COUNTER_WEIGHT`` (every counter's
    flag is, an ordinary burst's is not) that ends ``anomaly.COUNTER_RUN`` points that never decrease,
    whose ``COUNTER_RUN - 1`` before it climb (the first below the last), is read as the end of a counter's run
    (:func:`~workload_predictor.anomaly.counter_flags` flags a counter from its ``COUNTER_RUN``-th bucket on, and
    leaves out the same points from the references of the flags after it): those ``COUNTER_RUN - 1`` points weigh at
    most its weight. A counter's first buckets lie within the rule's reach (up to ``COUNTER_RUN - 1`` times the
    level) and the windows they end in would otherwise stay in the statistics as load.

    Only the rule's own flags mark a start (a start is not a flag), so a point's weight here depends on the points
    up to ``COUNTER_RUN - 1`` after it: an update whose new points flag a counter changes the weights of kept
    points, whose windows :meth:`DLinear._update_state` takes out of the statistics again (``newest_weights_``).
    ``element`` is only read; ``None`` stays ``None``."""
    if element is None:
        return None
    lead = anomaly.COUNTER_RUN - 1
    rows, cols = np.nonzero(element <= COUNTER_WEIGHT)
    keep = rows + first >= lead
    rows, cols = rows[keep], cols[keep]
    out = None
    for begin in range(0, len(rows), STARTS_BLOCK):
        row, col = rows[begin : begin + STARTS_BLOCK], cols[begin : begin + STARTS_BLOCK]
        runs = y[(row + first)[:, None] + np.arange(-lead, 1), col[:, None]]  # [m, COUNTER_RUN]
        ends = (np.diff(runs, axis=1) >= 0).all(axis=1) & (runs[:, 0] < runs[:, -2])
        if not ends.any():
            continue
        out = element.copy() if out is None else out
        row, col = row[ends], col[ends]
        for back in range(1, lead + 1):
            inside = row - back >= 0  # a start before ``first`` is not among the weights
            np.minimum.at(out, (row[inside] - back, col[inside]), element[row[inside], col[inside]])
    return element if out is None else out


def restarted(stats: WindowStats, z: np.ndarray, n_old: int, newest: np.ndarray, before: np.ndarray,
              after: np.ndarray, first: int, window: int, horizon: int, gamma: float = 1.0
              ) -> tuple[WindowStats, np.ndarray]:
    """One target's statistics and ``newest`` (the weights its newest windows, those whose last targets are the
    ``len(newest)`` points before ``n_old``, were summed with; NaN: not summed) once the weights of its points
    (from ``first`` on, 1-D; ``z`` the scaled series) change from ``before`` to ``after`` where a counter's start is
    found (:func:`counter_starts`): each such window that holds a changed point summed again (:func:`resummed`;
    forgetting, ``gamma`` per window, decays it by the windows added after it). A window whose points' flags do not
    all lie from ``first + len(newest)`` on stays as it is (its weights may have read points before ``first``)."""
    changed = np.flatnonzero(after[: n_old - first] != before[: n_old - first])
    if not len(changed):
        return stats, newest
    ends = np.arange(n_old - len(newest), n_old)  # the last targets of the newest windows
    slots = np.flatnonzero((ends >= first + int(changed[0])) & ~np.isnan(newest)
                           & (ends - horizon + 1 - window >= first + len(newest)))
    if not len(slots):
        return stats, newest
    newest = newest.copy()
    stats, newest[slots] = resummed(stats, z, ends[slots] - horizon + 1, before, after, first, newest[slots],
                                    window, horizon, gamma ** (n_old - 1 - ends[slots]))
    return stats, newest


def _compact(newest: np.ndarray) -> np.ndarray | None:
    """``newest_weights_`` as kept: ``None`` where every one is 1."""
    return None if bool((newest == 1.0).all()) else newest


def resummed(stats: WindowStats, z: np.ndarray, origins: np.ndarray, before: np.ndarray, after: np.ndarray,
             first: int, kept: np.ndarray, window: int, horizon: int, decay: np.ndarray | float = 1.0
             ) -> tuple[WindowStats, np.ndarray]:
    """``stats`` with the windows of ``z`` (1-D, scaled) at ``origins`` summed again under new point weights, and
    their new weights: each window's contribution as it was summed taken out (weight ``kept``, its points settled
    by ``before``, the weights of ``z``'s points from ``first`` on) and the same window added with the lower of
    ``kept`` and its weight under ``after`` (:func:`window_weights`), its points settled by ``after``; both times
    ``decay`` (forgetting: the windows added since). A counter's start found after its windows were summed
    (:func:`counter_starts`). The windows hold values within the rule's reach of the load (a counter's first
    buckets), so taking them out leaves the sums' digits."""
    new = combined_weights(settled_weights(after, z, origins, window, horizon, first), kept)
    new = kept if new is None else new
    old_x, old_y = windows_settled_at(z, origins, window, horizon, before, first)
    new_x, new_y = windows_settled_at(z, origins, window, horizon, after, first)
    decay = np.broadcast_to(np.asarray(decay, dtype=np.float64), kept.shape)
    return stats + WindowStats.from_windows(np.concatenate([new_x, old_x]), np.concatenate([new_y, old_y]),
                                            np.concatenate([new * decay, -kept * decay])), new


def blend_weights(scores: dict[int, float], count: int) -> dict[int, float]:
    """Weights of the ``count`` best windows by validation MAE, proportional to 1 / MAE, summing to 1.

    A single best window is a noisy choice: on a short tail two windows often score
    within a few per cent of each other and the winner flips as data arrives. Averaging
    the best few forecasts is steadier and, being linear, is itself one linear map.
    """
    best = sorted(scores, key=lambda w: (scores[w], w))[: max(1, count)]
    inverse = np.array([1.0 / max(scores[w], 1e-12) for w in best])
    return {w: float(v) for w, v in zip(best, inverse / inverse.sum())}


def select_window(
    z: np.ndarray, horizon: int, candidates: Sequence[int], kernel_size: int, alpha: float,
    fraction: float, max_windows: int, element: np.ndarray | None = None, follow_level: bool = False,
) -> tuple[int, dict[int, float]]:
    """The candidate window with the lowest validation MAE on the tail of ``z`` (``(n, k)``, scaled),
    and every scored candidate's MAE; see :func:`_search_window`."""
    return _search_window(z, horizon, candidates, kernel_size, (alpha,), fraction, max_windows, element,
                          follow_level)[:2]


def _search_window(
    z: np.ndarray, horizon: int, candidates: Sequence[int], kernel_size: int, alphas: Sequence[float],
    fraction: float, max_windows: int, element: np.ndarray | None = None, follow_level: bool = False,
    blocks: list | None = None, scored: np.ndarray | None = None,
) -> tuple[int, dict[int, float], tuple[list[WindowStats], np.ndarray, int] | None, float]:
    """The candidate window with the lowest validation MAE on the tail of ``z`` (``(n, k)``, scaled),
    every scored candidate's MAE, the statistics the search computed (per target, of the
    widest window at its training origins: ``(stats, origins, widest)``; ``None`` without a search),
    and the relative penalty chosen. ``follow_level``: each candidate fits its windows less their
    last value (:func:`follow_last`). ``blocks``: a list that receives, per target, the whole blocks of
    flagged windows the statistics summed first (see :meth:`WindowStats.weighted`), for a fit that sums
    the same windows and more. ``scored``: ``z`` as the candidates' validation windows read it, inputs and
    targets (``(n, k)``, scaled; default ``z``): with each burst the series came back from at its median, as the
    fit's own validation reads it (:func:`~workload_predictor.models.base.evaluated_series`), so that one flagged
    bucket in the search's tail does not choose the windows (read raw, its error outweighs every other: a 1e6
    bucket among Poisson(20) counts scored the windows 4,223 (12) down to 3,465 (120), which smooths it most, where
    the series without it scores each 0.72-0.74).

    The candidates are scored with the first of ``alphas``; another is taken where, at the best
    window, its errors are lower by a significant margin (per validation origin, averaged
    over horizon-long blocks, a t test at 97.5 %: :func:`~.combination.evidence_shrinkage`),
    and the candidates are then scored with it.

    All candidates are fitted on the same rows (those with room for the largest
    window), so one Gram matrix per target serves every candidate. ``element``
    (``(n, k)``, default all 1) weighs each point's windows as :func:`window_weights`
    does, for the widest window.

    Under a time limit (:mod:`workload_predictor._deadline`) the Gram matrices, a pass over
    the whole series, take at most ``SEARCH_SHARE`` of the time left (the fit's own pass
    follows them): when a pass over every training origin would take longer (at the pace
    measured in this fit), they are summed over the newest origins that fit, and the
    candidates are fitted on those. The candidates are scored from the shortest up until
    the deadline passes, and the best of those scored wins. Once it has passed before the
    search starts, or where not even the pass over the newest ``NEWEST_MIN_ORIGINS`` fits in
    that share, the middle usable candidate (96 of the defaults) is taken without scores.
    """
    origins_val = validation_origins(len(z), horizon, fraction, max_windows)
    last_train_origin = origins_val[0] - horizon
    usable = [w for w in sorted(set(candidates)) if last_train_origin - w + 1 >= max(2 * w, MIN_TRAIN_WINDOWS)]
    if not usable:  # too short to score any candidate: the shortest, with the default penalty
        return min(candidates), {}, None, alphas[0]
    if len(usable) == 1 and len(alphas) == 1:
        return usable[0], {}, None, alphas[0]
    deadline = current()
    if deadline.expired():
        deadline.cut("dlinear window search")
        return usable[len(usable) // 2], {}, None, alphas[0]
    widest = usable[-1]
    origins_train = np.arange(widest, last_train_origin + 1)
    check_memory("DLinear window search", extra_bytes=WindowStats.series_bytes(len(z), widest, horizon))
    newest = affordable_origins(z, origins_train, widest, horizon, SEARCH_SHARE, element)
    if len(newest) < len(origins_train):
        deadline.cut("dlinear window search")
        if deadline.left() * SEARCH_SHARE < pass_seconds(len(newest), z.shape[1], widest, horizon):
            return usable[len(usable) // 2], {}, None, alphas[0]  # not even the newest origins' pass fits
        origins_train = newest
    targets, kept = [], []  # per target: the widest window's centred statistics, the series, the validation targets
    started = deadline.clock()
    for j in range(z.shape[1]):
        summed: list = []
        kept.append(_window_stats(z[:, j], origins_train, widest, horizon, None if element is None else element[:, j],
                                  summed))
        if blocks is not None:
            blocks.append(summed)
        centred = CentredStats.of(kept[-1])
        # The validation inputs are gathered once, for the widest window: a narrower one reads their newest columns.
        read = z if scored is None else scored
        targets.append((follow_last(centred) if follow_level else centred,
                        windows_at(read[:, j], origins_val, widest), targets_at(read[:, j], origins_val, horizon)))
    deadline.measure(STATISTICS_PACE, started, len(origins_train) * pass_units(z.shape[1], widest, horizon))

    def errors(window: int, alpha: float) -> tuple[float, np.ndarray]:
        """The window's validation MAE summed over the targets, and its error per origin."""
        score, per_origin = 0.0, np.zeros(len(origins_val))
        for centred, inputs, actual in targets:
            solution = solve_dlinear(centred.last(window), kernel_size, alpha, branches=False, alike_zero=True)
            error = np.abs(inputs[:, widest - window :] @ solution.coef + solution.intercept - actual)
            score += float(error.mean())
            per_origin += error.mean(axis=1)
        return score, per_origin

    def scored(alpha: float, known: dict[int, tuple[float, np.ndarray]]) -> dict[int, tuple[float, np.ndarray]]:
        """Every usable window's errors at ``alpha`` (``known``: those already computed at it)."""
        found: dict[int, tuple[float, np.ndarray]] = {}
        for window in usable:
            if found and deadline.expired():
                deadline.cut("dlinear window search")
                break
            found[window] = known[window] if window in known else errors(window, alpha)
        return found

    alpha, found = alphas[0], scored(alphas[0], {})
    best = min(found, key=lambda w: found[w][0])
    for other in alphas[1:]:
        if deadline.expired():
            deadline.cut("dlinear window search")
            break
        trial = errors(best, other)
        _, share = evidence_shrinkage(trial[1] - found[best][1], origins_val, horizon)
        if share >= 1.0:  # significantly better: the candidates are scored with it (the best one already is)
            alpha, found = other, scored(other, {best: trial})
            best = min(found, key=lambda w: found[w][0])
            break
    return best, {w: score for w, (score, _) in found.items()}, (kept, origins_train, widest), alpha


#: Under a time limit, the share of the time left the window search's Gram matrices may take: the fit's own
#: pass of the statistics, about as long, follows them.
SEARCH_SHARE = 0.5
#: A pass of the statistics over at most this many origins always runs whole (milliseconds); a pass cut to the
#: newest origins keeps at least this many.
NEWEST_MIN_ORIGINS = 16_384
#: Where points are flagged, the pace is measured on this many of the newest origins: a window holding a flagged
#: point is summed on its own in ``O(window^2)`` (16,384 such windows of 336 lags: 0.3-0.6 s here).
FLAGGED_PACE_ORIGINS = 1024
#: Seconds per origin and lag slower than any machine's pass of the statistics (this 2-core box: about 4e-10): a
#: pass that fits in the time left at this pace runs without its pace being measured first.
SLOW_PACE = 2e-8
#: The key of the statistics' pace in ``Deadline.pace``: seconds per unit of :func:`pass_units`.
STATISTICS_PACE = "dlinear statistics"
#: The work per origin of a pass of the statistics that does not grow with the window (the series' padded copy,
#: its cumulative sums), in lags: about 40 on this 2-core box (1,000,000 origins: 56 ms at window 12, 228 ms at 336).
PASS_OVERHEAD_LAGS = 40
#: A pace measured on a smaller pass underestimates a pass over the whole series by up to about 2x (a million
#: points leave the caches): a pass starts whole only when this many times its estimate fits in the time left.
PACE_MARGIN = 2.0


def pass_units(targets: int, window: int, horizon: int) -> float:
    """The work per origin of a pass of the statistics, in the units of ``Deadline.pace[STATISTICS_PACE]``."""
    return float(targets * (window + horizon + PASS_OVERHEAD_LAGS))


def pass_seconds(origins: int, targets: int, window: int, horizon: int, pace: float | None = None) -> float:
    """The seconds to allow a pass of the statistics over ``origins`` origins: its estimate at ``pace``
    (default: the pace measured in this fit, 0 when none was), times ``PACE_MARGIN``."""
    if pace is None:
        pace = current().pace.get(STATISTICS_PACE, 0.0)
    return PACE_MARGIN * pace * origins * pass_units(targets, window, horizon)


def _window_stats(z: np.ndarray, origins: np.ndarray, window: int, horizon: int,
                  element: np.ndarray | None, blocks: list | None = None,
                  judged: np.ndarray | None = None) -> WindowStats:
    """The statistics of one target's windows at the consecutive ``origins`` (each weighted, and settled, as
    :func:`window_weights` and :func:`settled_windows` say of ``element``, the weights of ``z``'s points), read
    from the part of ``z`` they span: a pass over the newest origins costs them alone. ``blocks``: see
    :meth:`WindowStats.weighted`; ``judged``: the windows' weights by their residuals, the lower one counts)."""
    weights = combined_weights(settled_weights(element, z, origins, window, horizon), judged)
    start = int(origins[0]) - window if len(origins) else 0
    if start <= 0:
        return WindowStats.weighted(z, origins, window, horizon, weights, element, blocks=blocks)
    return WindowStats.weighted(z[start:], origins - start, window, horizon, weights, element, -start, blocks)


def affordable_origins(z: np.ndarray, origins: np.ndarray, window: int, horizon: int,
                       share: float = 1.0, element: np.ndarray | None = None) -> np.ndarray:
    """The consecutive ``origins`` whose statistics (``window``, every target of ``z`` ``(n, k)``, each point
    weighted by ``element`` as :func:`window_weights` says) one pass sums in ``share`` of the deadline's time
    left: all of them, or the newest that fit (at least ``NEWEST_MIN_ORIGINS``) when a pass over all of them, its
    estimate times ``PACE_MARGIN``, would end past it.

    The pace is the one measured by a pass earlier in this fit, or else measured on the newest
    ``NEWEST_MIN_ORIGINS`` (a few milliseconds, spent only when the time left could be short). Where
    ``element`` flags points, the pace is always measured, on the newest ``FLAGGED_PACE_ORIGINS`` with their
    weights: a window holding a flagged point is summed on its own, in ``O(window^2)`` (on a sparse series
    whose every burst is flagged, most windows; a pass then takes tens of times an unweighted one).
    """
    deadline = current()
    targets = z.shape[1]
    if deadline.end is None or len(origins) <= NEWEST_MIN_ORIGINS:
        return origins
    flagged = element is not None and bool((element < 1.0).any())
    if not flagged and deadline.left() * share >= pass_seconds(len(origins), targets, window, horizon, SLOW_PACE):
        return origins
    pace = None if flagged else deadline.pace.get(STATISTICS_PACE)
    if pace is None:
        sample, started = origins[-(FLAGGED_PACE_ORIGINS if flagged else NEWEST_MIN_ORIGINS):], deadline.clock()
        for j in range(z.shape[1]):
            _window_stats(z[:, j], sample, window, horizon, None if element is None else element[:, j])
        pace = deadline.measure(STATISTICS_PACE, started, len(sample) * pass_units(targets, window, horizon))
    budget = deadline.left() * share
    if pace <= 0.0 or budget >= pass_seconds(len(origins), targets, window, horizon, pace):
        return origins
    return origins[-max(int(budget / pass_seconds(1, targets, window, horizon, pace)), NEWEST_MIN_ORIGINS):]


def series_floor(train: np.ndarray, series: np.ndarray, floor: np.ndarray) -> np.ndarray:
    """The input-anomaly floor ``(k,)`` of a fit on ``train``, the start of the whole ``series`` (``floor``:
    :func:`~workload_predictor.anomaly.floor_of` of ``train``): the whole series' floor, the one a
    ``WorkloadPredictor``'s scan of it reads (``input_floor_``), ``floor`` itself where they are equal.

    A predictor records the flags its scans find against its floor and its updates pass them to the model
    (``known``), whose new points are judged with them: against another floor, a flag near the rule's margins (a
    counter's, 2 floors above its reference) lies elsewhere, and with it the references and marks of the buckets
    after it, so the updates would weigh otherwise than a refit on the same data. A training part that sets no floor
    (``floor_of``'s least, 1: an idle target, or one with fewer than ``anomaly.MIN_BUSY`` non-zero buckets before its
    validation tail) would also weigh a series and the same series times 1,000 apart (that 1 is in the load's own
    units)."""
    whole = anomaly.floor_of(series)
    return floor if np.array_equal(whole, floor) else whole


def woken_scale(column: np.ndarray, n_seen: int, floor: float | None, transform: str | None = None) -> float | None:
    """The scale of a target whose first fit read it constant (``column[:n_seen]``, its raw values, all equal) and
    whose later points leave that constant: ``fit_scale``'s spread of the points from the first that leaves it on,
    each counted by its weight under the input-anomaly ``floor`` (``None``: all 1); ``None`` where it stays there
    (no later point leaves it, or those that do and weigh 1 are constant: one corrupt bucket scales nothing).
    ``transform``: the fit's (DLinear's ``transform_``): the spread is of the transformed points, the weights those
    of the loads.

    A constant has no spread: ``fit_scale`` gives it ``max(1, |constant|)`` (an idle target's 1), a scale in the
    load's own units, which every relative quantity of the fit would then read in those units (the residual floor,
    the penalty's)."""
    left = np.flatnonzero(column[n_seen:] != column[0])
    if len(left) == 0:
        return None
    first = n_seen + int(left[0])
    weights = None if floor is None else anomaly.element_weights(column[:, None], first, np.array([floor]))
    part = transformed(column[first:, None], transform)
    ordinary = part if weights is None else part[weights[:, 0] == 1.0]
    if not len(ordinary) or fit_scale(ordinary, return_constant=True)[2][0]:
        return None
    scale = float(fit_scale(part, weights)[1][0])
    # as fit_scale tells a constant, against the offset the target keeps (a spread below it is no scale of it)
    offset = float(transformed(column[:1], transform)[0])
    return scale if scale > 1e-12 * max(1.0, abs(offset)) else None


def transformed(y: np.ndarray, transform: str | None) -> np.ndarray:
    """``y`` (loads) as a fit with ``transform`` (DLinear's) reads them: ``y`` itself, or ``log1p(y)``; a typed error
    for a load below 0, which has no logarithm."""
    if transform is None:
        return y
    if y.size and not float(y.min()) >= 0.0:
        rows = y.reshape(len(y), -1)
        row = int(np.argmax((rows < 0).any(axis=1)))
        raise WorkloadDataError(f"transform={transform!r} fits log(1 + load), and the series holds "
                                f"{float(rows[row].min()):g} at row {row}: loads must be >= 0. Clip or shift the "
                                "series, or pass transform=None.")
    return np.log1p(y)


def loads_of(forecast: np.ndarray, transform: str | None) -> np.ndarray:
    """Forecasts in a fit's units (``transform``'s) as loads: ``forecast`` itself, or ``expm1`` of it clipped to
    ``[0, LOG_TOP]`` (a load >= 0 and at most ``MAX_VALUE``)."""
    if transform is None:
        return forecast
    return np.expm1(np.clip(forecast, 0.0, LOG_TOP))


class DLinear(BaseForecaster):
    """DLinear: trend/seasonal decomposition and two linear maps, one set per target.

    Parameters
    ----------
    horizon : int
        Buckets forecast directly.
    window : int or None
        Input window, 2 buckets or more (one has no step to read its noise from). ``None`` picks the candidate in
        ``candidate_windows`` with the lowest MAE on the validation tail of the training data.
    kernel_size : int
        Moving-average length of the trend (odd; even values are rounded down). The kernel of the fit is
        ``kernel_size_``: updates, ``rolling_forecast`` and the branch weights read it, and a ``kernel_size`` set
        since takes effect at the next ``fit``.
    alpha : float or None
        Relative ridge penalty (scale-free); keeps long windows from overfitting. ``None``
        (default): with ``follow_level``, ``FOLLOW_ALPHA`` (1.0: a noisy series' map shrinks
        toward its last value plus drift), or ``EXACT_ALPHA`` (1e-3) where the validation
        tail shows it forecasts better by a significant margin (a clean cycle, which it keeps
        exact; the same test as the ensemble's, over horizon-long blocks of origins; a given
        ``window`` has no search and keeps ``FOLLOW_ALPHA``); without ``follow_level``,
        ``EXACT_ALPHA``. The penalty used is ``alpha_``.
    candidate_windows : sequence of int or None
        Windows tried when ``window`` is None, each 2 buckets or more; ``None`` (default) tries ``DEFAULT_WINDOWS``
        (12 ... 336), clipped to the data.
    validation_fraction, max_validation_windows :
        The chronological validation tail: this share of the points (at least one horizon), forecast at up to
        this many origins spread evenly over it.
    blend : int
        When ``window`` is None, the forecasts of the ``blend`` best candidate windows are
        averaged, weighted by 1 / validation MAE (one linear map over the widest of them,
        ``window_``; ``window_weights_`` holds the weights). 1 keeps the single best window.
    robust : bool
        Bounded influence of corrupt buckets (default True). A bucket the input-anomaly
        rule flags (:mod:`workload_predictor.anomaly`: more than ``K = 10`` robust spreads,
        at least the fitted series' 90th percentile, from the median of the 60 buckets
        before it) gets the weight ``(K / deviation)^4``, and every window whose inputs or
        targets hold it enters the statistics (at fit and in ``update``) settled: its flagged
        buckets read as the median of its other buckets (:func:`settled_windows`). It weighs
        the share of its buckets it reads where the series came back within it from each of
        its runs of flagged buckets (the bucket after the run near that median, the rule of
        :func:`workload_predictor.anomaly.settled_runs` on the window's own buckets), so that
        a lone burst does not keep the ``window_ + horizon`` windows after it from teaching
        the map (a rise in level that follows it); and the lowest weight among its buckets
        otherwise (a run that lasts to its end, or a step in level the rule flags while its
        reference catches up, whose settled buckets would read the old level:
        :func:`settled_weights`). Where every window holds one (a sentinel written every few
        buckets) the fit is one on the settled windows. A flag
        that ends a counter's run (``anomaly.COUNTER_RUN`` buckets that never decrease, see
        :func:`counter_starts`) weighs the run's first buckets as well, which the rule cannot flag
        when they arrive: an update whose buckets flag it takes the windows summed before that
        hold them out of the statistics again and sums them as a fit on the same data does
        (``newest_weights_`` keeps the weights of the newest windows for this). The
        series is never changed: while a burst sits in the input window this model's own
        forecast reflects it, but the fitted map does not keep it (a window holding one 1e9
        bucket in Poisson(50) counts settled, or like 1e-25 of an ordinary window), so the
        forecast is back to the clean stream's within ``window_ + horizon`` buckets (the
        burst has left every window) and the interval within ``window_ + horizon`` plus the
        validation windows it keeps (``max_validation_windows``). A ``WorkloadPredictor``
        (or fleet) forecasts from inputs that read a burst the series has come back from as
        its reference median (:func:`workload_predictor.anomaly.settled_inputs`): there the
        forecast moves for the bucket the burst arrived in only.

        Bursts the rule leaves alone as load (three buckets at 3x a dense series' level lie
        within ``K`` of its floor, the 90th percentile) are judged by the windows' residuals
        instead: at the refit on the validation tail, each of its windows (the newest
        ``RESIDUAL_WINDOWS``), and in ``update`` each new window, is forecast by the map fitted
        before the tail (``residual_coef_``); one whose inputs are calm and whose residual, in
        units of its inputs' noise (at least the median of its reference windows' noises,
        ``residual_unit_``), lies more than ``K`` robust spreads (per horizon step, 1.4826 MAD or,
        where larger, the root mean square deviation within ``K`` of it, :func:`reference_spread`,
        over the ``RESIDUAL_REFERENCE`` windows before its block of ``RESIDUAL_EVERY``
        origins, kept for updates as ``residual_center_`` and ``residual_spread_``) from that
        reference's median at some step enters the statistics weighed ``(K / deviation)^4``
        (with a flagged bucket's weight: the lower; :func:`calm_weights`). Squared loss would
        otherwise bend each step's weights toward the noise inputs of the windows whose targets
        hold the burst, and a forecast whose input then holds it would read them. The windows
        judged and their references depend on the series and that map only, so an update stays
        a refit on the same data. Series with no flagged bucket and no such window are fitted
        exactly as with ``robust=False``. A robust fit keeps its anomaly floor (``weight_floor_``), a fit without
        ``robust`` none; updates read that, so a ``robust`` set since takes effect at the next ``fit``.
    half_life : float or None
        Forgetting, in buckets: each window ``update`` adds first multiplies the statistics
        by ``2 ** (-1 / half_life)``, so a window's weight halves every ``half_life``
        buckets and the fit follows about the newest ``1.44 * half_life`` windows. ``fit``
        weighs its windows equally; ``None`` (default) forgets nothing. The kept inverses
        decay with the statistics, so between recomputations the ridge penalty decays too;
        they are recomputed from the statistics, with the penalty per window of the fit,
        every ``min(REFRESH_AFTER, half_life)`` updates (so the penalty stays within a
        factor 2 of the fit's), and where the fit's rule on the decayed statistics exceeds
        ``PENALTY_DRIFT`` times that penalty, with the rule's penalty per window from then on (an update checks
        that once; where its points weigh kept windows down, a counter's start, from the penalty per window in
        force before the update that added the first of them, as an update of all those points does).
        The forgetting of the fit is ``half_life_``, which updates read: a ``half_life`` set
        since takes effect at the next ``fit``.
    follow_level : bool
        Fit each window less its last value and add that value back to the forecast
        (NLinear's normalisation; default True): every horizon step's weights sum to one,
        so the forecast follows a shift in level instead of reverting to the training
        mean. False fits the raw windows (DLinear as published).
    transform : str or None
        ``None`` (default) fits the loads as they are; ``"log1p"`` fits ``log(1 + load)`` and maps each forecast
        back with ``expm1``, clipped to ``[0, MAX_VALUE]``: the map (and ``follow_level``'s shift) act on ratios of
        load, a burst weighs by its logarithm, and the forecast is a median-like one that does not chase bursts.
        Loads must be ``>= 0`` (a typed error otherwise). What flags a bucket (``robust``) reads the loads, as the
        predictor's scan does; the scaling, statistics, judging by residuals and ``coef_`` live in the transformed
        units, the forecasts, validation windows and ``rolling_forecast`` in loads. The transform of the fit is
        ``transform_``. Registered as ``"dlinear_log"`` (:class:`LogDLinear`, the default ``"log1p"``).
    """

    def __init__(
        self,
        horizon: int = 10,
        window: int | None = None,
        kernel_size: int = 25,
        alpha: float | None = None,
        candidate_windows: Sequence[int] | None = None,
        validation_fraction: float = 0.15,
        max_validation_windows: int = 100,
        blend: int = 3,
        robust: bool = True,
        half_life: float | None = None,
        follow_level: bool = True,
        transform: str | None = None,
    ):
        self.horizon = horizon
        self.window = window
        self.kernel_size = kernel_size
        self.alpha = alpha
        self.candidate_windows = candidate_windows
        self.validation_fraction = validation_fraction
        self.max_validation_windows = max_validation_windows
        self.blend = blend
        self.robust = robust
        self.half_life = half_life
        self.follow_level = follow_level
        self.transform = transform

    min_window = min(DEFAULT_WINDOWS)

    _forecast_reads = "window"  # its window, scaled elementwise, times its weights (BaseForecaster._forecast_reads)

    def context_length(self) -> int:
        return int(self.window_)

    def _check_params(self) -> None:
        """Typed errors for settings the numeric kernels would reject deep inside."""
        for name in ("kernel_size", "window", "blend"):
            value = getattr(self, name)
            if value is None and name == "window":
                continue
            if not is_positive_int(value):
                raise WorkloadDataError(f"{name}={quote(value)} must be a positive integer number of buckets.")
        if self.window is not None and self.window < MIN_DLINEAR_WINDOW:  # no fit had one: a file holds none
            raise WorkloadDataError(f"window={quote(self.window)} is too short for DLinear (the LSTM's and the "
                                    f"ensemble's base too): {_ONE_BUCKET}; pass window={MIN_DLINEAR_WINDOW} or more "
                                    f"(e.g. 12), or None to search {min(DEFAULT_WINDOWS)} to {max(DEFAULT_WINDOWS)} "
                                    "(model='naive' forecasts the last bucket).")
        if self.kernel_size > MAX_WINDOW:  # its padding is counted in int64 (windows.moving_average_matrix)
            raise WorkloadDataError(f"kernel_size={quote(self.kernel_size)} is longer than any series ({MAX_WINDOW:,} "
                                    "buckets at most): pass a smaller kernel_size (e.g. 25).")
        candidates = self.candidate_windows
        if candidates is not None and (not isinstance(candidates, (list, tuple, range, np.ndarray))
                                       or np.ndim(candidates) != 1 or len(candidates) == 0
                                       or not all(is_positive_int(w) for w in candidates)):
            raise WorkloadDataError(f"candidate_windows={quote(candidates)} must be a non-empty list of positive "
                                    "integer window lengths in buckets, e.g. candidate_windows=[24, 48, 96] (or None "
                                    f"for the defaults {list(DEFAULT_WINDOWS)}); a single window is window=24.")
        alpha = self.alpha
        if alpha is not None and (not is_number(alpha) or not 0 < alpha < np.inf):
            raise WorkloadDataError(f"alpha={quote(alpha)} must be a positive, finite ridge penalty (e.g. 1.0), or None "
                                    "for the default.")
        for name in ("robust", "follow_level"):
            if not isinstance(getattr(self, name), (bool, np.bool_)):
                raise WorkloadDataError(f"{name}={quote(getattr(self, name))} must be True or False.")
        half_life = self.half_life
        if half_life is not None and (not is_number(half_life) or not 1 <= half_life < np.inf):
            raise WorkloadDataError(f"half_life={quote(half_life)} must be a finite number of buckets >= 1 "
                                    "(e.g. 2000), or None to forget nothing.")
        transform = getattr(self, "transform", None)  # files saved before the setting: none
        if not any(transform is t or (isinstance(transform, str) and transform == t) for t in TRANSFORMS):
            raise WorkloadDataError(f"transform={quote(transform)} must be None (the loads as they are) or 'log1p' "
                                    "(log(1 + load), forecasts mapped back).")

    def _check_candidates(self) -> None:
        """Refuse, at fit, ``candidate_windows`` holding a window of one bucket, which the search may choose as the
        widest of its blend (the only one with room to score, or the best with ``blend=1``). Not among the settings
        a model file's load checks: a file fitted with one beside wider windows loads and forecasts as before."""
        candidates = self.candidate_windows
        if candidates is not None and min(int(w) for w in candidates) < MIN_DLINEAR_WINDOW:
            raise WorkloadDataError(f"candidate_windows={quote(candidates)} holds a window of one bucket, too short "
                                    f"for DLinear: {_ONE_BUCKET}; drop it (every candidate {MIN_DLINEAR_WINDOW} "
                                    "buckets or more), or use model='naive', which forecasts the last bucket.")

    def _required_window(self) -> int:
        """The window the length check asks room for: ``window``, or else the smallest candidate (the search
        leaves out the candidates the series has no room to score)."""
        self._check_params()  # the length check, hence fit, starts here
        if self.window is None:
            return min(int(w) for w in self.candidate_windows or DEFAULT_WINDOWS)
        return int(self.window)

    def alphas(self) -> tuple[float, ...]:
        """The relative ridge penalties a fit may use, the default first (see ``alpha``)."""
        if self.alpha is not None:
            return (float(self.alpha),)
        follows = self._follows_level() if hasattr(self, "stats_") else bool(self.follow_level)
        return (FOLLOW_ALPHA, EXACT_ALPHA) if follows else (EXACT_ALPHA,)

    def ridge_alpha(self) -> float:
        """The relative ridge penalty of the fit (``alpha_``; before a fit, and in files saved before it, the
        first of :meth:`alphas`)."""
        return float(getattr(self, "alpha_", None) or self.alphas()[0])

    def _follows_level(self) -> bool:
        """Whether the fit's windows are shifted by their last value (files saved before the setting: no)."""
        return bool(getattr(self, "follow_level_", False))

    def _kernel(self) -> int:
        """The moving-average kernel of the fit (``kernel_size_``; a file saved before it was recorded has it recorded
        at load from its setting, ``model_file.record_fitted_settings``)."""
        return self.__dict__.get("kernel_size_", self.kernel_size)

    def _half_life(self) -> float | None:
        """The forgetting of the fit's updates (``half_life_``; recorded at load as ``kernel_size_`` is)."""
        return self.__dict__.get("half_life_", getattr(self, "half_life", None))

    def _robust(self) -> bool:
        """Whether the fit weighs flagged buckets (``robust`` at fit): a robust fit keeps an anomaly floor
        (``weight_floor_``), any other none (files saved before the floor: the setting)."""
        state = self.__dict__
        return state["weight_floor_"] is not None if "weight_floor_" in state else bool(getattr(self, "robust", True))

    def _record_settings(self) -> None:
        """Record what the fit reads of its settings after it (``follow_level_``, ``transform_``, ``kernel_size_``,
        ``half_life_``): a setting changed since takes effect at the next fit."""
        self.follow_level_ = bool(self.follow_level)
        self.transform_ = self.transform
        self.kernel_size_ = int(self.kernel_size)
        self.half_life_ = None if self.half_life is None else float(self.half_life)

    def _transform(self) -> str | None:
        """The transform of the fit (``transform_``; files saved before the setting: none). Read from the instance's
        dict: a forecast reads it twice, and a missing fitted attribute goes through ``__getattr__``."""
        return self.__dict__.get("transform_")

    def _scaled(self, y: np.ndarray) -> np.ndarray:
        """The loads ``y`` in the fit's units: through its transform, less ``offset_``, over ``scale_``."""
        transform = self.__dict__.get("transform_")
        return ((y if transform is None else transformed(y, transform)) - self.offset_) / self.scale_

    def _loads(self, forecast: np.ndarray) -> np.ndarray:
        """Forecasts in the fit's units (``_scaled``'s) as loads."""
        forecast = forecast * self.scale_ + self.offset_
        transform = self.__dict__.get("transform_")
        return forecast if transform is None else loads_of(forecast, transform)

    def _recent_length(self) -> int:
        """The newest window's inputs and targets, and at least the history the input-anomaly scan of an update
        reads (``anomaly.HISTORY_BUCKETS``); with ``robust``, the ``anomaly.COUNTER_RUN - 1`` windows before the
        newest too, and the points whose flags weigh their first points (a counter's start an update finds is
        taken out of their statistics, :meth:`_retracted`)."""
        if not self._robust():
            return super()._recent_length()
        return max(super()._recent_length() + 2 * (anomaly.COUNTER_RUN - 1), anomaly.HISTORY_BUCKETS)

    def _gamma(self) -> float:
        """The factor each new window multiplies the statistics by (1: no forgetting)."""
        half_life = self._half_life()
        return 1.0 if half_life is None else float(2.0 ** (-1.0 / half_life))

    @anomaly.keeping_scans  # the scan of all of y (anomalies=None) is the one the training part's weights read
    def fit(self, y, anomalies: dict[tuple[int, int], float] | None = None):
        """Fit on ``y`` (see :meth:`BaseForecaster.fit`; ``anomalies=None``: the buckets the predictor's scan flags in
        ``y``, ``{}``: none); the input-anomaly floor is the whole series' (not its
        training part's, :func:`series_floor`). A series constant throughout (an idle endpoint's)
        is refitted at the update that makes it fit-worthy (:meth:`_woken`). The window search's validation windows
        read the series as the fit's validation does (:func:`~workload_predictor.models.base.evaluated_series`:
        ``anomalies``' bursts the series came back from at their medians; see :func:`_search_window`'s
        ``scored``)."""
        whole = self._whole_series = as_matrix(y)[0]
        try:
            super().fit(y, self._scored_flags(whole, anomalies))
        finally:
            vars(self).pop("_whole_series", None)
            vars(self).pop("_scored_series", None)
            vars(self).pop("_own_scan", None)
        self._record_idle(whole)
        return self

    def _record_idle(self, whole: np.ndarray) -> None:
        """``idle_`` of a fit on the series ``whole`` (``(n, k)``): whether every point is its first (an idle
        endpoint's history), which an update then wakes (:meth:`_woken`); never with ``half_life``. An LSTM's base,
        fitted through ``_fit_arrays``, records it from its LSTM's fit."""
        self.idle_ = self.half_life is None and bool((whole == whole[:1]).all())

    def _element_weights(self, y: np.ndarray, start: int,
                         known: dict[tuple[int, int], float] | None = None) -> np.ndarray | None:
        """The weights ``(n - start, k)`` of ``y[start:]`` (raw values) under the input-anomaly rule (see
        ``robust``); ``None`` when all are 1.

        A position's weight depends only on the points of ``y`` before it and the floor fixed
        at the first fit (:func:`workload_predictor.anomaly.element_weights` scans ``y`` from its
        first point), so fit and refit agree on it. An update judges its new points against the
        points it keeps with ``known``, the flags among them (positions of ``y``) that the scans of the
        whole series found (a ``WorkloadPredictor`` passes those it recorded); without it (``update``
        called on the model), with the flags a scan of the kept points finds, a chain of bursts that
        began before them unseen.
        """
        floor = getattr(self, "weight_floor_", None)  # None: a fit without robust (files saved before weighting: none)
        if floor is None:
            return None
        return anomaly.element_weights(y, start, floor, known)

    def _fit_arrays(self, y: np.ndarray, refit: bool) -> None:
        if not refit:
            self._check_params()
            self._check_candidates()
        # An ensemble hands this first fit to its LSTM member's base (see Ensemble._fit_members): what it sets.
        handed = set(vars(self)) if not refit and "_keep_first_fit" in vars(self) else None
        scored = vars(self).pop("_scored_series", None)  # what the search's validation windows read (see fit)
        with single_blas_thread():
            if not refit:
                # the whole series' floor where the fit is given one (see series_floor), else the training part's
                whole = vars(self).pop("_whole_series", None)
                self.weight_floor_ = anomaly.floor_of(y if whole is None else whole) if self.robust else None
                self._record_settings()
                self.residual_from_ = self.residual_coef_ = self.residual_intercept_ = None
                self.residual_history_ = self.residual_next_ = self.residual_center_ = self.residual_spread_ = None
            element = self._element_weights(y, 0)
            summed = counter_starts(y, element)  # what the statistics weigh the points with (the rule's: judging)
            if not refit:
                if element is not None:  # the weighted moments' temporaries
                    check_memory("DLinear weighted scale", extra_bytes=24.0 * y.size)
                # A flagged point would set the scale (one 1e9 among counts of 50 makes every other point
                # -0.05 +- 1e-7 and the centred Gram loses most of its digits): the scale counts it by its weight.
                self.offset_, self.scale_ = fit_scale(transformed(y, self._transform()), summed)
            z = self._scaled(y)
            searched, blocks = None, []
            if refit:
                window = self.window_
            elif self.window is not None:  # no search: the default penalty
                window, self.window_scores_, self.alpha_ = int(self.window), {}, self.alphas()[0]
                self.window_weights_ = {window: 1.0}
            else:
                window, self.window_scores_, searched, self.alpha_ = _search_window(
                    z, self.horizon, self.candidate_windows or DEFAULT_WINDOWS, self._kernel(), self.alphas(),
                    self.validation_fraction, self.max_validation_windows, summed, self._follows_level(), blocks,
                    None if scored is None else self._scaled(scored[: len(y)]),
                )
                self.window_weights_ = blend_weights(self.window_scores_, self.blend) if self.window_scores_ else {
                    window: 1.0}
                window = max(self.window_weights_)
            origins = np.arange(window, len(z) - self.horizon + 1)
            check_memory("DLinear windows", extra_bytes=WindowStats.series_bytes(len(z), window, self.horizon))
            reused = self._searched_stats(searched, z, origins, window, summed)
            if reused is not None:
                origins = origins[origins > searched[1][-1]]
            elif not refit:
                newest = affordable_origins(z, origins, window, self.horizon, element=summed)
                if len(newest) < len(origins):
                    current().cut("dlinear statistics")
                    origins = newest
            # The search's whole blocks of flagged windows begin the fit's where it summed the same windows first.
            same = searched is not None and reused is None and window == searched[2] and len(origins) and \
                len(searched[1]) and origins[0] == searched[1][0]
            judged = self._judge_series(y, z, origins, element, 0) if refit and self._judging() else None
            kept_stats = self.stats_ if refit else None
            self.stats_ = [_window_stats(z[:, j], origins, window, self.horizon,
                                         None if summed is None else summed[:, j], blocks[j] if same else None,
                                         None if judged is None else judged[j])
                           for j in range(z.shape[1])]
            if reused is not None:
                self.stats_ = [kept + added for kept, added in zip(reused, self.stats_)]
            self.window_ = window
            self.recent_weights_ = anomaly.kept_weights(element, self._recent_length())
            self.newest_weights_ = self._newest_weights(z, origins, summed, 0, judged)
            # A first pass sets each system's penalty relative to its Gram matrix (and ``_refit``, fit's last step,
            # sets it again on all the data); a refit here keeps it, as it keeps the window and the scaling, and so
            # do updates, so that a new window is a rank-one change of the system, until the windows raise the
            # fit's rule PENALTY_DRIFT times above it (:func:`followed_penalty`).
            penalties = [{w: r.lam for w, r in ridge.items()} for ridge in self.ridge_] if refit else None
            if refit:  # a penalty kept at the floor (windows all alike) is set where they first differ

                def prefix(j: int, i: int) -> WindowStats:
                    return self.stats_[j] if i == len(origins) else _window_stats(
                        z[:, j], origins[:i], window, self.horizon, None if summed is None else summed[:, j], None,
                        None if judged is None or judged[j] is None else judged[j][:i])

                floor_set = self._first_penalties(kept_stats, penalties, prefix, len(origins))
                start, raises = floor_set or penalties, {}
                kept_penalties = penalties
                penalties = self._followed_penalties(start, prefix, len(origins), raises=raises) or start
                held = self._pass_penalties(len(z), origins, start, raises, floor_set, kept_penalties)
            self.ridge_ = self._ridge(self.stats_, penalties, invert=refit)
            # a first fit's penalties are the rule's on all its windows, which never raise it as they join; with
            # forgetting it holds the penalty rates before them, which a refit's pass (of penalties) does not follow
            self.newest_penalties_ = self._compact_penalties(held, self.ridge_) if refit and \
                self._gamma() == 1.0 else None
            self.rank_one_steps_ = 0
            for name, value in self._solution(self.stats_, self.ridge_).items():
                setattr(self, name, value)
        if handed is not None and vars(self).pop("_keep_first_fit"):
            # The attributes this first fit set (the member is built for the fit: not its settings, nor what
            # BaseForecaster.fit set before), for a twin that would repeat it on the same points.
            self._first_fit = copy.deepcopy({name: value for name, value in vars(self).items() if name not in handed})

    def _searched_stats(self, searched: tuple | None, z: np.ndarray, origins: np.ndarray, window: int,
                        element: np.ndarray | None) -> list[WindowStats] | None:
        """The window search's statistics, to which the fit adds the windows after the search's origins instead
        of summing the windows at every one of ``origins`` again, when the deadline leaves less time than that
        pass would take (at the pace of the search's pass, times ``PACE_MARGIN``); ``None`` otherwise.

        For the widest candidate they are the same sums (up to their order). For a narrower
        window, without flagged points, they are the newest ``window`` inputs of the same
        windows: the fit then lacks the ``widest - window`` oldest windows.
        """
        deadline = current()
        if searched is None or deadline.end is None:
            return None
        kept, _, widest = searched
        if not (deadline.expired() or deadline.left() < pass_seconds(len(origins), z.shape[1], window, self.horizon)):
            return None
        if widest == window:
            reused = kept
        elif element is None:
            reused = [stats.last(window) for stats in kept]
        else:
            return None
        deadline.cut("dlinear statistics")
        return reused

    def _blend(self) -> dict[int, float]:
        return getattr(self, "window_weights_", None) or {int(self.window_): 1.0}

    def _ridge(self, stats: list[WindowStats], penalties: list[dict[int, float]] | None,
               invert: bool = True) -> list[dict[int, RidgeInverse]]:
        """Each target's inverted ridge system per blended window, from the statistics (penalties relative if None;
        ``invert=False``: the penalties alone, for :meth:`_solution` to solve the systems directly)."""
        ridge, alpha = [], self.ridge_alpha()
        for j, target_stats in enumerate(stats):
            if not invert:  # the penalties read only the Gram matrices' diagonals; _solution builds the systems
                diagonal = centred_diagonal(target_stats, self._follows_level()) if penalties is None else None
                ridge.append({window: RidgeInverse(lam=penalties[j][window] if penalties is not None else
                                                   trace_penalty(float(diagonal[-window:].sum()), window, alpha,
                                                                 target_stats.count,
                                                                 uncentred_trace(target_stats, window)),
                                                   inverse=None) for window in self._blend()})
                continue
            centred = CentredStats.of(target_stats)  # once for the widest window; each blended window reads a slice
            if self._follows_level():
                centred = follow_last(centred)
            systems = {}
            for window in self._blend():
                gram = centred.gram[-window:, -window:]
                lam = relative_penalty(gram, alpha, target_stats.count, uncentred_trace(target_stats, window)) if (
                    penalties is None) else penalties[j][window]
                systems[window] = RidgeInverse(lam=lam, inverse=ridge_inverse(gram, self._kernel(), lam))
            ridge.append(systems)
        return ridge

    def _solution(self, stats: list[WindowStats], ridge: list[dict[int, RidgeInverse]]) -> dict[str, np.ndarray]:
        """The forecast map: per target, the weighted sum of each blended window's ridge solution, zero-padded
        to the widest window (a shorter window reads the newest inputs: its rows go last)."""
        weights, follow = self._blend(), self._follows_level()
        coef, intercept = np.zeros((len(stats), self.window_, self.horizon)), np.zeros((len(stats), self.horizon))
        for j, (target_stats, systems) in enumerate(zip(stats, ridge)):
            solved = None  # the systems without a kept inverse are solved (a third of an inversion's cost)
            if any(r.inverse is None for r in systems.values()):
                solved = CentredStats.of(target_stats)
                solved = follow_last(solved) if follow else solved
            mean_y = target_stats.sum_y / target_stats.count
            cross = target_stats.xy - target_stats.sum_x[:, None] * mean_y  # centred X^T Y
            if follow:
                # The shifted windows' cross moments (follow_last): every blended window ends at the same last
                # input, so one shift of the widest serves each window's slice.
                cross = shift_cross(cross, centred_last_column(target_stats))
            for window, weight in weights.items():
                if systems[window].inverse is None:
                    gram = solved.gram[-window:, -window:]
                    # windows alike: their map, zero (as solve_dlinear's alike_zero)
                    if not windows_alike(float(np.trace(gram)), window, solved.count,
                                         float(solved.second[-window:].sum())):
                        system = ridge_system(gram, self._kernel(), systems[window].lam)
                        coef[j, -window:] += weight * np.linalg.solve(system, cross[-window:])
                else:
                    coef[j, -window:] += weight * (systems[window].inverse @ cross[-window:])
            if follow:  # back to raw inputs: level_map is affine in the map, and the blend's weights sum to 1
                coef[j] = level_map(coef[j])
            # Each window's intercept is mean_y - mean_x @ its map; the weights sum to 1, so the blend's is this.
            intercept[j] = mean_y - (target_stats.sum_x / target_stats.count) @ coef[j]
        return dict(coef_=coef, intercept_=intercept)

    def _blended(self, stats: WindowStats, ridge: dict[int, RidgeInverse]) -> DLinearSolution:
        """One target's map and branch weights (for inspection), as one map over the widest window."""
        widest = stats.sum_x.shape[0]
        centred = CentredStats.of(stats)
        if self._follows_level():
            centred = follow_last(centred)
        parts = [(weight, window, solve_dlinear(centred.last(window), self._kernel(), self.ridge_alpha(),
                                                lam=ridge[window].lam, alike_zero=True))
                 for window, weight in self._blend().items()]

        def padded(name: str) -> np.ndarray:  # a shorter window reads the newest inputs: its rows go last
            total = np.zeros_like(stats.xy)
            for weight, window, part in parts:
                total[widest - window :] += weight * getattr(part, name)
            return total

        return DLinearSolution(coef=padded("coef"), intercept=sum(w * part.intercept for w, _, part in parts),
                               trend_coef=padded("trend_coef"), seasonal_coef=padded("seasonal_coef"))

    # The branch weights are for inspection only (forecasts use ``coef_``): computed on demand, so
    # that fit and update solve only for the forecast map.
    @property
    def trend_coef_(self) -> np.ndarray:
        """Weights of the trend branch, ``(k, W, H)``: applied to the moving average of the window's inputs.

        For a blend, each window's weights (over the decomposition of its own newest
        inputs) are zero-padded to ``window_`` and weighted. With ``follow_level`` the branches
        read the window less its last value, which the forecast then adds back.
        """
        return self._branch("trend_coef")

    @property
    def seasonal_coef_(self) -> np.ndarray:
        """Weights of the seasonal branch (the window minus its moving average), ``(k, W, H)``."""
        return self._branch("seasonal_coef")

    def _branch(self, name: str) -> np.ndarray:
        check_is_fitted(self, "stats_")
        with single_blas_thread():
            return np.stack([getattr(self._blended(s, r), name) for s, r in zip(self.stats_, self.ridge_)])

    def statistics_seconds(self, count: int) -> float:
        """The seconds to allow a pass of the statistics over ``count`` windows: its estimate at the pace
        measured in this fit, times ``PACE_MARGIN`` (0 when no pace was measured)."""
        return pass_seconds(count, len(self.stats_), self.window_, self.horizon)

    def _refit(self, y: np.ndarray, n_seen: int, stage: str = "dlinear refit") -> None:
        # Statistics are sums over windows: add the windows the validation tail completes
        # instead of recomputing the training part's (a third less work per fit). The penalty
        # is set anew, relative to all the data: the fit's last step, which updates then keep.
        # When the time left does not cover the tail's windows, the fit stays on ``y[:n_seen]``
        # (the deadline records ``stage`` as cut; an LSTM names its base's refit).
        deadline = current()
        if deadline.left() is not None and deadline.left() < self.statistics_seconds(len(y) - n_seen):
            deadline.cut(stage)
            self._skip_tail(y)
        else:
            self._scale_woken(y, n_seen)
            self._extend(y, n_seen, keep_penalties=False)
        self.penalty_rates_ = [{w: r.lam / s.count for w, r in systems.items()}
                               for systems, s in zip(self.ridge_, self.stats_)]
        self.newest_penalties_ = None  # the rule's on all the windows held, which never raise it as they join

    def _scale_woken(self, y: np.ndarray, n_seen: int) -> None:
        """Scale each target that the first fit read constant (``y[:n_seen]``) and whose later points leave that
        constant by :func:`woken_scale` (its offset, the constant, kept): the fit's last step, as the penalty is set
        anew on all the data. Its windows so far are the constant's, 0 in any scale; what the fit holds in scaled
        units (the statistics, the intercept) is converted, so it stays the fit on those windows."""
        floors = getattr(self, "weight_floor_", None)  # None: a fit without robust
        for j in range(y.shape[1]):
            if not bool((y[:n_seen, j] == y[0, j]).all()):
                continue
            scale = woken_scale(y[:, j], n_seen, None if floors is None else float(floors[j]), self._transform())
            if scale is None:
                continue
            factor = float(self.scale_[j]) / scale
            self.scale_ = self.scale_.copy()
            self.scale_[j] = scale
            stats = self.stats_[j]
            self.stats_[j] = WindowStats(stats.count, stats.sum_x * factor, stats.sum_y * factor,
                                         stats.xx * factor**2, stats.xy * factor**2)
            self.intercept_ = self.intercept_.copy()
            self.intercept_[j] *= factor

    def _extend(self, y: np.ndarray, n_seen: int, keep_penalties: bool = True) -> None:
        """Add the windows ``y[n_seen:]`` completes to the statistics of a fit on ``y[:n_seen]`` and re-solve
        (window and scaling kept; the penalties kept, or set anew relative to all the data).

        With the penalties kept this is ``_fit_arrays(y, refit=True)`` up to the order of the
        sums (rounding), at the cost of the new windows alone.
        """
        with single_blas_thread():
            # the points of the windows the tail completes, and of the first fit's newest (:meth:`_retracted`)
            lead = 2 * (anomaly.COUNTER_RUN - 1) if self._robust() else 0
            start = max(min(n_seen - self.window_ - self.horizon + 1 - lead, len(y) - self._recent_length()), 0)
            element = self._element_weights(y, start)
            penalties = [{w: r.lam for w, r in systems.items()} for systems in self.ridge_] if keep_penalties else None
            z = self._scaled(y)
            origins = np.arange(n_seen - self.horizon + 1, len(z) - self.horizon + 1)
            judged = None
            if not keep_penalties and self._robust() and len(origins):
                # the refit of a fit: its tail's windows are judged under the map fitted before them
                self.residual_coef_, self.residual_intercept_ = self.coef_.copy(), self.intercept_.copy()
                self.residual_from_ = int(origins[-RESIDUAL_WINDOWS:][0])
                judged = self._judge_series(y, z, origins, element, start)
            summed = counter_starts(y, element, start)
            # a counter's start the tail ends, among the first fit's points, leaves its windows as in a refit
            self.stats_, newest = self._retracted(z, y, n_seen, element, summed, start, decayed=False)
            newest = self._newest() if newest is None else newest
            self.stats_ = self._stats_after(z, n_seen, summed, start, judged)
            self.recent_weights_ = anomaly.kept_weights(element, self._recent_length())
            self.newest_weights_ = self._newest_weights(z, origins, summed, start, judged, newest)
            # The maps are solved; the inverses are built by the first update that takes rank-one steps.
            self.ridge_, self.rank_one_steps_ = self._ridge(self.stats_, penalties, invert=False), 0
            for name, value in self._solution(self.stats_, self.ridge_).items():
                setattr(self, name, value)

    def _newest_weights(self, z: np.ndarray, origins: np.ndarray, summed: np.ndarray | None, first: int,
                        judged: list[np.ndarray | None] | None, before: np.ndarray | None = None) -> np.ndarray | None:
        """``newest_weights_`` once the windows at the consecutive ``origins`` of the scaled series ``z`` are summed
        (``summed``: the weights of its points from ``first`` on, :func:`counter_starts`; ``judged``: per target, the
        windows' weights by their residuals, aligned with ``origins``): the weights ``(COUNTER_RUN - 1, k)`` the
        statistics hold the windows at the newest ``COUNTER_RUN - 1`` origins with, oldest first; NaN where one is not
        summed; ``None`` where all are 1. ``before``: the weights of the windows just before ``origins`` (a refit's
        first fit's, :meth:`_newest`)."""
        lead, k, n = anomaly.COUNTER_RUN - 1, len(self.stats_), len(z)
        out = np.full((lead, k), np.nan)
        if before is not None and len(origins) < lead:
            out = np.concatenate([before, out])[len(origins) : len(origins) + lead]
        if not len(origins) or int(origins[-1]) != n - self.horizon:
            return _compact(out)
        taken = np.arange(max(n - self.horizon + 1 - lead, int(origins[0])), n - self.horizon + 1)
        for j in range(k):
            weights = combined_weights(
                settled_weights(None if summed is None else summed[:, j], z[:, j], taken, self.window_, self.horizon,
                                first),
                None if judged is None or judged[j] is None else judged[j][len(judged[j]) - len(taken) :])
            out[lead - len(taken) :, j] = 1.0 if weights is None else weights
        return _compact(out)

    def _skip_tail(self, y: np.ndarray) -> None:
        """Keep the fit on the start of ``y`` (the windows after it are not added) and take the weights of
        ``y``'s newest points, which ``update`` continues from."""
        start = max(len(y) - self._recent_length(), 0)
        self.recent_weights_ = anomaly.kept_weights(self._element_weights(y, start), self._recent_length())
        # the windows the tail completes are not in the statistics
        self.newest_weights_ = np.full((anomaly.COUNTER_RUN - 1, len(self.stats_)), np.nan)

    def _stats_after(self, z: np.ndarray, n_old: int, element: np.ndarray, first: int,
                     judged: list[np.ndarray | None] | None = None) -> list[WindowStats]:
        """The statistics once the windows completed by ``z[n_old:]`` are added (``z``: the scaled series' end;
        ``element[i]``: the weights of its point ``first + i``; ``judged``: per target, the windows' weights by their
        residuals, :meth:`_judged`)."""
        origins = np.arange(n_old - self.horizon + 1, len(z) - self.horizon + 1)
        return [s + WindowStats.weighted(z[:, j], origins, self.window_, self.horizon,
                                         combined_weights(settled_weights(None if element is None else element[:, j],
                                                                          z[:, j], origins, self.window_, self.horizon,
                                                                          first),
                                                          None if judged is None else judged[j]),
                                         None if element is None else element[:, j], first)
                for j, s in enumerate(self.stats_)]

    def _judging(self) -> bool:
        """Whether windows are judged by their residuals: ``robust``, and a fit that set the map they are judged
        under (a fit whose refit the deadline skipped, or a file saved before it, judges none)."""
        return self._robust() and getattr(self, "residual_from_", None) is not None

    def _judge_series(self, y: np.ndarray, z: np.ndarray, origins: np.ndarray, element: np.ndarray | None,
                      first: int) -> list[np.ndarray | None] | None:
        """Per target, the weights ``(len(origins),)`` by their residuals (:func:`residual_deviations` under
        ``residual_coef_``) of the windows at the consecutive ``origins`` of ``z`` (the scaled ``y``), where they
        are ``residual_from_`` or later (the others: 1); ``None``: all 1. Sets what an update judges its windows
        with: ``residual_history_``, the newest residuals, ``residual_noise_``, their windows' noises, and the
        reference of the newest window's block (``residual_center_``, ``residual_spread_``, ``residual_unit_``;
        ``None`` where it is too short).

        The reference of the first judged windows is the windows before them: their residuals are computed from
        ``y`` (``element``: the weights of its points from ``first`` on, where it covers them; else scanned)."""
        judged = origins[origins >= self.residual_from_]
        if len(judged) == 0:
            return None
        begin = max(int(self.window_), int(judged[0]) // RESIDUAL_EVERY * RESIDUAL_EVERY - RESIDUAL_REFERENCE)
        if begin - self.window_ < first:
            element, first = self._element_weights(y, begin - self.window_), begin - self.window_
        span = np.arange(begin, int(judged[-1]) + 1)
        weights, history, noises, references = [], [], [], []
        for j in range(z.shape[1]):
            column = None if element is None else element[:, j]
            residuals, noise = window_residuals(z[:, j], span, self.window_, self.horizon, column, first,
                                                self.residual_coef_[j], self.residual_intercept_[j])
            skip = int(judged[0]) - begin
            deviation, reference = residual_deviations(residuals, skip, begin, noise=noise)
            found = calm_weights(deviation, z[:, j], span[skip:], self.window_, self.horizon, column, first)
            history.append(residuals[-RESIDUAL_REFERENCE - RESIDUAL_EVERY :])
            noises.append(noise[-RESIDUAL_REFERENCE - RESIDUAL_EVERY :])
            references.append(reference)
            if found is not None and len(found) < len(origins):
                found = np.r_[np.ones(len(origins) - len(found)), found]
            weights.append(found)
        self.residual_history_, self.residual_next_ = np.array(history), int(judged[-1]) + 1
        self.residual_noise_ = np.array(noises)
        self.residual_center_, self.residual_spread_, self.residual_unit_ = _stacked(references)
        return weights

    def _judge_new(self, z: np.ndarray, origins: np.ndarray, element: np.ndarray | None
                   ) -> tuple[list[np.ndarray | None] | None, dict]:
        """An update's: the weights (as :meth:`_judge_series`) of the new windows at ``origins`` of ``z`` (its
        points' weights ``element``, from 0), each judged against the kept ``residual_history_`` and the new windows
        before it, and the judging state after them: the residual history, the series' origin of the next window
        (``residual_next_``, which aligns the blocks of :func:`residual_deviations` with the fit's) and the newest
        window's reference (kept: while the windows an update adds stay in its block, their residuals are the
        judging's whole cost, :meth:`_judge_in_block`). A model without ``residual_noise_`` (a file saved before it)
        judges each window in its own unit, as it did, until it is fitted again."""
        state = {"residual_history_": getattr(self, "residual_history_", None),
                 "residual_next_": getattr(self, "residual_next_", None),
                 "residual_center_": getattr(self, "residual_center_", None),
                 "residual_spread_": getattr(self, "residual_spread_", None),
                 "residual_noise_": getattr(self, "residual_noise_", None),
                 "residual_unit_": getattr(self, "residual_unit_", None)}
        if state["residual_history_"] is None or len(origins) == 0 or not self._judging():
            return None, state
        if len(origins) == 1 and element is None:
            if not state["residual_next_"] % RESIDUAL_EVERY:
                return self._judge_block_start(z, int(origins[0]), state)
            if state["residual_center_"] is not None:
                return self._judge_in_block(z, int(origins[0]), state)
        return self._judge_windows(z, origins, element, state)

    def _judge_windows(self, z: np.ndarray, origins: np.ndarray, element: np.ndarray | None, state: dict
                       ) -> tuple[list[np.ndarray | None], dict]:
        """:meth:`_judge_new` of any windows: their references taken anew where a block begins (or the kept one is
        too short), the calm inputs checked where a window lies far."""
        history, following = state["residual_history_"], state["residual_next_"]
        center, spread = state["residual_center_"], state["residual_spread_"]
        unit, noise_history = state["residual_unit_"], state["residual_noise_"]
        weights, kept, kept_noise, references = [], [], [], []
        for j in range(z.shape[1]):
            column = None if element is None else element[:, j]
            new, new_noise = window_residuals(z[:, j], origins, self.window_, self.horizon, column, 0,
                                              self.residual_coef_[j], self.residual_intercept_[j])
            residuals = np.concatenate([history[j], new])
            noise = None if noise_history is None else np.concatenate([noise_history[j], new_noise])
            known = None if center is None else (center[j], spread[j]) if noise is None else (center[j], spread[j],
                                                                                              unit[j])
            deviation, reference = residual_deviations(residuals, len(history[j]), following - len(history[j]),
                                                       known, noise)
            weights.append(calm_weights(deviation, z[:, j], origins, self.window_, self.horizon, column, 0))
            kept.append(residuals[-RESIDUAL_REFERENCE - RESIDUAL_EVERY :])
            if noise is not None:
                kept_noise.append(noise[-RESIDUAL_REFERENCE - RESIDUAL_EVERY :])
            references.append(reference)
        state.update(residual_history_=np.array(kept), residual_next_=following + len(origins),
                     residual_noise_=np.array(kept_noise) if kept_noise else None)
        state["residual_center_"], state["residual_spread_"], state["residual_unit_"] = _stacked(references)
        return weights, state

    def _judge_in_block(self, z: np.ndarray, origin: int, state: dict
                        ) -> tuple[list[np.ndarray | None] | None, dict]:
        """:meth:`_judge_new` of one window with no flagged point, in the block of the window before it: judged
        against the kept reference (:meth:`_judge_one`)."""
        return self._judge_one(z, origin, state)

    def _judge_block_start(self, z: np.ndarray, origin: int, state: dict
                           ) -> tuple[list[np.ndarray | None] | None, dict]:
        """:meth:`_judge_new` of one window with no flagged point that begins a block: its reference
        (:func:`residual_reference`) is the kept history's newest ``RESIDUAL_REFERENCE`` rows, the rows before the
        block, all targets' in one partition (:func:`residual_deviations` reads the same rows), its unit the median
        of the kept noises of those rows; then :meth:`_judge_one`."""
        reference = state["residual_history_"][:, -RESIDUAL_REFERENCE:].transpose(0, 2, 1)  # [k, H, r]
        if reference.shape[2] < anomaly.MIN_REFERENCE:
            state["residual_center_"] = state["residual_spread_"] = state["residual_unit_"] = None
        else:
            center = _middle(reference)
            state["residual_center_"] = center
            state["residual_spread_"] = reference_spread(reference, center)
            noise = state["residual_noise_"]
            state["residual_unit_"] = None if noise is None else _middle(noise[:, -RESIDUAL_REFERENCE:])
        return self._judge_one(z, origin, state)

    def _judge_one(self, z: np.ndarray, origin: int, state: dict) -> tuple[list[np.ndarray | None] | None, dict]:
        """One window at ``origin`` with no flagged point, judged against the reference in ``state`` (``None``:
        too short, nothing is judged); its weights are ``None`` where every target's is 1. The arithmetic of
        :func:`window_residuals` and :func:`residual_deviations` in as few numpy calls as it takes (each costs half a
        microsecond or more, more than its arithmetic on a window's values): a window whose residuals lie within its
        reference's :func:`_near_radii` (most) is near without its deviation computed."""
        center, spread, history = state["residual_center_"], state["residual_spread_"], state["residual_history_"]
        units, noises = state["residual_unit_"], state["residual_noise_"]
        k, rows = history.shape[:2]
        if rows:  # the rows kept and a last one (a copy of the newest, written below), in one call per array
            shifted = _shifted(rows)
            kept = history.take(shifted, axis=1, mode="clip")
            kept_noise = None if noises is None else noises.take(shifted, axis=1, mode="clip")
        else:
            kept, kept_noise = np.empty((k, 1, self.horizon)), None if noises is None else np.empty((k, 1))
        if noises is not None:
            state["residual_noise_"] = kept_noise
        window, horizon = self.window_, self.horizon
        begin, end = origin - window, origin + horizon
        half, odd = (window - 1) // 2, (window - 1) % 2  # the median of the window - 1 steps (_sorted_middle)
        radii = None if center is None else _near_radii(center, spread)
        weights: list[np.ndarray | None] | None = None
        for j in range(k):
            column = z[:, j]
            inputs = column[begin:origin]
            steps = np.subtract(inputs[1:], inputs[:-1])
            np.abs(steps, out=steps)
            steps.sort()
            noise = _NOISE_SCALE * (steps.item(half) if odd else 0.5 * (steps.item(half - 1) + steps.item(half)))
            if noise < RESIDUAL_FLOOR:
                noise = RESIDUAL_FLOOR
            residual = kept[j, -1]
            np.subtract(column[origin:end], inputs @ self.residual_coef_[j], out=residual)
            residual -= self.residual_intercept_[j]
            residual /= noise
            if noises is not None:
                kept_noise[j, -1] = noise
            if radii is None or residual.dot(residual) <= radii[j]:  # near (NaN is not)
                continue
            # below its reference's unit, in that unit (residual_deviations)
            judged = residual if units is None or noise >= units[j] else residual * (noise / units[j])
            deviation = np.abs(judged - center[j])
            deviation /= spread[j]
            far = float(np.maximum.reduce(deviation))  # .max() without its Python wrapper
            # only windows with calm inputs are judged
            if far > RESIDUAL_K and bool(_calm(inputs[None], np.array([noise]))[0]):
                if weights is None:
                    weights = [None] * k
                weights[j] = deviation_weights(np.array([far]))
        state["residual_history_"] = kept
        state["residual_next_"] += 1
        return weights, state

    def _continued_weights(self, y: np.ndarray, n_old: int,
                           known: dict[tuple[int, int], float] | None = None) -> np.ndarray | None:
        """The weights of ``y``'s points (the kept ones from ``n_old`` back, then the new ones judged with ``known``,
        see :meth:`_element_weights`) that :meth:`_update_state` weighs its new windows with; ``None`` when all are 1.
        """
        return anomaly.continued_weights(getattr(self, "recent_weights_", None),
                                         self._element_weights(y, n_old, known), y.shape, n_old)

    def _update_state(self, y: np.ndarray, n_old: int,
                      known: dict[tuple[int, int], float] | None = None, element: np.ndarray | None = None,
                      judged: bool = False, seen: int | None = None) -> dict:
        """Add the windows completed by ``y[n_old:]`` to the statistics and the kept inverses, and re-solve.

        Statistics are sums over windows (each with its weight, see ``robust``; the new points
        judged with the flags ``known`` among the kept ones, see :meth:`_element_weights`) and the
        penalty is the first fit's, set anew by the fit's rule at each window that raises the rule
        ``PENALTY_DRIFT`` times above it (:func:`followed_penalty`), so without forgetting this equals a refit
        on all the data seen (with the window, scaling and penalty of the first fit, and that rule) up to rounding;
        where the new points weigh kept windows down (:meth:`_retracted`), the penalty follows them again from the
        one in force before them (``newest_penalties_``, :meth:`_restarts`), as a refit reads them. With forgetting
        the rule is checked once, on the decayed statistics, against the penalty per window (``penalty_rates_``),
        which such an update takes from before the update that added the first of those windows
        (``newest_penalties_`` then holds rates, :meth:`_newest_penalties`), as an update of all those points does.
        A few new windows are rank-one steps on the kept inverses (``O(W^2)`` each); more,
        or ``REFRESH_AFTER`` steps (``half_life`` if fewer) since the last recomputation,
        recompute them (one ``W x W`` inversion per system). ``judged``: ``element`` holds :meth:`_continued_weights`
        of the same ``y``, ``n_old`` and ``known``, which the caller computed already (an LSTM's base: the LSTM leaves
        out the windows they weigh down). ``seen``: the points seen before ``y[n_old:]`` where the model counts none
        of its own (an LSTM's base: its LSTM's ``n_seen_``), which an idle fit's update reads (:meth:`_woken`).
        """
        with single_blas_thread():
            z = self._scaled(y)
            # The weights of y's points, all 1 (None) unless a kept or a new point is flagged.
            if not judged:
                element = self._continued_weights(y, n_old, known)
            origins = np.arange(n_old - self.horizon + 1, len(y) - self.horizon + 1)
            # The statistics weigh a counter's start as its run's flag (the judging reads the rule's weights); a
            # start the new points end takes the kept windows that hold it out of the statistics again.
            if element is None:  # nothing flagged (most updates)
                summed, base, newest = None, self.stats_, getattr(self, "newest_weights_", np.nan)
            else:
                summed = counter_starts(y, element)
                base, newest = self._retracted(z, y, n_old, element, summed)
            weights = [settled_weights(None if summed is None else summed[:, j], z[:, j], origins, self.window_,
                                      self.horizon) for j in range(y.shape[1])]
            judged, judging = self._judge_new(z, origins, element)
            if judged is not None:
                weights = [combined_weights(w, v) for w, v in zip(weights, judged)]
            gamma = self._gamma()
            refresh = REFRESH_AFTER if gamma == 1.0 else max(1, min(REFRESH_AFTER, int(self._half_life())))
            new_windows = len(origins)
            steps = self.rank_one_steps_ + new_windows
            # A fit leaves its systems uninverted (most fitted models never update): the first update inverts.
            recompute = base is not self.stats_ or new_windows > RANK_ONE_MAX or steps > refresh or any(
                r.inverse is None for systems in self.ridge_ for r in systems.values())
            # One new window of weight 1 (most updates): its inputs, gathered once, serve its statistics (as
            # WindowStats.from_series reads a few windows) and its rank-one step.
            gathered = [windows_at(z[:, j], origins, self.window_) if new_windows == 1 and weights[j] is None
                        else None for j in range(y.shape[1])]
            if gamma == 1.0:
                stats = [s + WindowStats.weighted(z[:, j], origins, self.window_, self.horizon, weights[j],
                                                  None if summed is None else summed[:, j])
                         if gathered[j] is None else s.with_window(gathered[j], targets_at(z[:, j], origins,
                                                                                            self.horizon))
                         for j, s in enumerate(base)]
            else:  # the window added i-th of m is multiplied by gamma m - 1 - i times after it
                decay = gamma ** np.arange(new_windows - 1, -1, -1.0)
                stats = [s.scaled(gamma ** new_windows) + WindowStats.from_windows(
                    *windows_settled_at(z[:, j], origins, self.window_, self.horizon,
                                        None if summed is None else summed[:, j]),
                    decay * (1.0 if weights[j] is None else weights[j])) for j, s in enumerate(base)]
            # A penalty kept at the floor (an idle target's windows) is set where the windows first differ.
            # Each penalty is set anew where the windows raise the fit's rule PENALTY_DRIFT times above it.
            kept = [{w: r.lam for w, r in systems.items()} for systems in self.ridge_]
            count = new_windows if gamma == 1.0 else 1  # forgetting: the decayed sums of all the windows at once

            def prefix(j: int, i: int) -> WindowStats:
                return stats[j] if i == count else base[j] + WindowStats.weighted(
                    z[:, j], origins[:i], self.window_, self.horizon, None if weights[j] is None else weights[j][:i],
                    None if summed is None else summed[:, j])

            first = self._first_penalties(base, kept, prefix, count)
            held = getattr(self, "newest_penalties_", np.nan)
            exact = {}  # forgetting: (target, window) -> (penalty, rate) of a rate followed again from a kept one
            if gamma == 1.0:
                floor_set, start, raises = first, first or kept, {}
                first = self._followed_penalties(start, prefix, count, base, raises=raises) or first
                # Kept windows weighed down again (a counter's start): the penalties follow them as a refit does,
                # from the penalty in force before the first of them.
                restarts = {} if base is self.stats_ else self._restarts(z, n_old, base, newest, summed, prefix, count,
                                                                      floor_set, kept)
                if restarts:
                    first = [dict(target) for target in (first or kept)]
                    for j, (_, _, found) in restarts.items():
                        first[j].update(found)
                if held is not None or raises or restarts or floor_set is not None:
                    held = self._held_after(start, raises, restarts, floor_set, kept, count)
            else:  # forgetting: against the penalty a recomputation sets (the kept one decays between them)
                floor_set, start = first, self._penalties(stats) if first is None else first
                # Kept windows weighed down again (a counter's start): each rate follows them again from the one in
                # force before the update that added the first of them, as an update of all those points reads them.
                before = None if base is self.stats_ or newest is None or self.__dict__.get(
                    "penalty_rates_") is None else self._newest_penalties(rates=True)
                restored = {} if before is None else self._restart_slots(
                    n_old, base, np.asarray(newest, dtype=np.float64), before, floor_set, kept)
                anew = first or kept
                if restored:
                    windows = sorted(self.ridge_[0])
                    start, anew = [dict(t) for t in start], [dict(t) for t in anew]
                    for j, s in restored.items():
                        for b, window in enumerate(windows):
                            rate = float(before[s, j, b])
                            start[j][window] = anew[j][window] = rate * stats[j].count
                            exact[j, window] = (start[j][window], rate)
                first = self._followed_penalties(start, prefix, count, kept=anew) or (anew if restored else first)
            penalties, rates = None, getattr(self, "penalty_rates_", None)
            if first is not None:
                recompute, penalties = True, self._penalties(stats)
                rates = None if rates is None else [dict(target) for target in rates]
                for j, target in enumerate(first):
                    for w, lam in target.items():
                        if lam != kept[j][w]:
                            penalties[j][w] = lam
                            if rates is not None:  # forgetting reads the penalty per window of the statistics
                                restored_rate = exact.get((j, w))
                                rates[j][w] = restored_rate[1] if restored_rate is not None and \
                                    restored_rate[0] == lam else lam / stats[j].count
            if recompute:
                ridge = self._ridge(stats, penalties or self._penalties(stats))
                steps = 0
            else:
                ridge = [self._add_windows(systems, s, windows_settled_at(
                    z[:, j], origins, self.window_, self.horizon,
                    None if summed is None or weights[j] is None else summed[:, j])[0]
                    if gathered[j] is None else gathered[j],
                    weights[j], gamma, self._follows_level()) for j, (systems, s) in enumerate(zip(self.ridge_, base))]
                if any(systems is None for systems in ridge):
                    ridge, steps = self._ridge(stats, self._penalties(stats)), 0
            if first is not None and rates is not None:
                judging["penalty_rates_"] = rates
            if newest is not None or [w for w in weights if w is not None]:  # None: all 1 (most updates)
                newest = newest if newest is None or isinstance(newest, np.ndarray) else self._newest()
                added = np.array([np.ones(new_windows) if w is None else w for w in weights]).T.reshape(
                    new_windows, len(weights))
                newest = _compact(np.concatenate([self._newest() if newest is None else newest, added])[new_windows:])
            if gamma == 1.0 and held is not None:
                judging["newest_penalties_"] = self._compact_penalties(held, ridge)
            elif gamma != 1.0 and rates is not None and (held is not None or first is not None):
                judging["newest_penalties_"] = self._rates_after(rates, restored, floor_set, kept, new_windows)
            state = dict(stats_=stats, ridge_=ridge, rank_one_steps_=steps, newest_weights_=newest, **judging,
                         recent_weights_=None if element is None else anomaly.kept_weights(element,
                                                                                           self._recent_length()),
                         **self._solution(stats, ridge))
        idle = getattr(self, "idle_", False)
        if idle is not False:  # a fit on a series constant throughout (an update may wake it)
            state.update(self._woken(y, n_old, idle, self.n_seen_ if seen is None else seen))
        return state

    def _woken(self, y: np.ndarray, n_old: int, idle: bool | int, seen: int) -> dict:
        """An update's state of a model fitted on a series constant throughout (``idle_``: True while every point
        seen is that constant, else the position of the first that left it): its new ``idle_``, and at the update
        that makes it fit-worthy the state of a refit on the same data (``_fit_arrays(refit=True)``) with the floor
        and scale a fit on the points since waking sets: every target that left its constant holds ``anomaly.MIN_BUSY``
        points that differ from it and :func:`woken_scale` scales it.

        A fit on constant points sets its floor (1, ``anomaly.floor_of``'s least), scale (``fit_scale``'s ``max(1, |c|)``)
        and penalty (:func:`trace_penalty`'s floor) in the load's own units: the weights of the woken buckets (their
        deviations from the constant, in floors), the statistics and every relative quantity would then read the
        load's units, and a series and the same series times 1,000 be forecast apart. Its windows so far are the
        constant's, 0 in any scale, so the refit (their count, and the windows since waking, weighed and scaled
        anew; the penalties set where the windows first differ, :func:`first_penalty`) is the fit on the same data
        a fit would make with that floor and scale, and updates from there are a refit on the same data with them.
        The points since waking are read from the kept ones: where they no longer hold them all, ``idle_`` is False
        and the model keeps what it holds. ``seen``: the points seen before ``y[n_old:]``."""
        first = seen - n_old  # the series' position of y[0]
        constant = y[0]
        if idle is True:
            left = np.flatnonzero((y[n_old:] != constant).any(axis=1))
            if not len(left):
                return {}
            idle = first + n_old + int(left[0])
        start = int(idle) - first
        if start < 1 or not bool((y[:start] == constant).all()):
            return {"idle_": False}
        moved = (y[start:] != constant).sum(axis=0)
        if bool(((moved > 0) & (moved < anomaly.MIN_BUSY)).any()):
            return {"idle_": int(idle)}
        check_memory("DLinear woken refit", extra_bytes=8.0 * (int(idle) + len(y) - start) * y.shape[1] * 3)
        whole = np.concatenate([np.broadcast_to(constant, (int(idle), y.shape[1])), y[start:]])
        twin = copy.deepcopy(self)
        floors = None if getattr(twin, "weight_floor_", None) is None else np.array(twin.weight_floor_, dtype=float)
        twin.scale_ = np.array(twin.scale_, dtype=float)
        for j in np.flatnonzero(moved):
            if floors is not None:
                floors[j] = anomaly.floor_of(whole[:, j : j + 1])[0]
            scale = woken_scale(whole[:, j], int(idle), None if floors is None else float(floors[j]),
                                self._transform())
            if scale is None:
                return {"idle_": int(idle)}
            twin.scale_[j] = scale
        twin.weight_floor_ = floors
        least = self.ridge_alpha() * PENALTY_FLOOR  # the penalty of the constant's windows (set where they differ)
        twin.ridge_ = [{w: RidgeInverse(lam=least, inverse=None) for w in systems} for systems in twin.ridge_]
        width = int(twin.window_)  # the first fit's statistics: the constant's windows, all alike
        twin.stats_ = [WindowStats(1.0, np.zeros(width), np.zeros(self.horizon), np.zeros((width, width)),
                                   np.zeros((width, self.horizon))) for _ in twin.stats_]
        twin._fit_arrays(whole, refit=True)
        names = ("stats_", "ridge_", "rank_one_steps_", "coef_", "intercept_", "recent_weights_", "newest_weights_",
                 "newest_penalties_", "weight_floor_", "scale_", "residual_history_", "residual_next_",
                 "residual_center_",
                 "residual_spread_")
        return {**{name: getattr(twin, name) for name in names if hasattr(twin, name)}, "idle_": False}

    def _newest(self) -> np.ndarray:
        """``newest_weights_`` as an array (None: all 1; NaN where not known: a file saved before they were kept)."""
        newest = getattr(self, "newest_weights_", np.nan)
        lead, k = anomaly.COUNTER_RUN - 1, len(self.stats_)
        return np.full((lead, k), 1.0 if newest is None else np.nan) if not isinstance(newest, np.ndarray) else (
            newest.copy())

    def _retracted(self, z: np.ndarray, y: np.ndarray, n_old: int, element: np.ndarray | None,
                   summed: np.ndarray | None, first: int = 0, decayed: bool = True
                   ) -> tuple[list[WindowStats], np.ndarray | None]:
        """The statistics before the windows ``y[n_old:]`` completes are added, and ``newest_weights_`` with them:
        the kept ones, or, where the new points end a counter's run whose start lies among the points before them
        (:func:`counter_starts`: ``summed``, the weights of ``y``'s points from ``first`` on, ``element`` the
        rule's), with each window summed before that holds the start summed again as a fit on the same data sums
        it (:func:`resummed`). Such windows are among the newest ``COUNTER_RUN - 1``; one whose weight is not kept
        (NaN: not summed) or whose points' flags are not all among ``y``'s stays as it is. ``decayed``: the
        statistics decayed each window by the windows added after it (updates, with forgetting); a fit's refit
        (:meth:`_extend`) passes False, a fit weighing its windows equally."""
        if summed is None or not bool((element[n_old - first :] < 1.0).any()):
            newest = getattr(self, "newest_weights_", np.nan)  # a file saved before they were kept: none known
            return self.stats_, newest if newest is None or isinstance(newest, np.ndarray) else self._newest()
        newest = self._newest()
        before = counter_starts(y[:n_old], element[: n_old - first], first)
        before = np.ones((n_old - first, y.shape[1])) if before is None else before
        moved = summed[: n_old - first] != before
        if not moved.any():
            return self.stats_, newest
        stats = list(self.stats_)
        for j in np.flatnonzero(moved.any(axis=0)):
            stats[j], newest[:, j] = restarted(stats[j], z[:, j], n_old, newest[:, j], before[:, j], summed[:, j],
                                               first, self.window_, self.horizon,
                                               self._gamma() if decayed else 1.0)
        return stats, newest

    def _newest_penalties(self, rates: bool = False) -> np.ndarray:
        """``newest_penalties_`` as an array ``(COUNTER_RUN - 1, k, windows)`` (the blended windows in increasing
        order): the penalty of each target's system per blended window in force before each of the newest
        ``COUNTER_RUN - 1`` windows (``newest_weights_``' windows, oldest first) was added; ``None`` kept: each the
        penalty kept now; NaN where not known (a window not summed, a file saved before they were kept). ``rates``
        (with forgetting, where the field holds them): the penalty rate (``penalty_rates_``, per window of the
        statistics' count) in force before the update that added each window, ``None`` each the rate kept now."""
        held = getattr(self, "newest_penalties_", np.nan)
        lead, windows = anomaly.COUNTER_RUN - 1, sorted(self.ridge_[0])
        if isinstance(held, np.ndarray):
            return held.copy()
        kept = self.__dict__.get("penalty_rates_") if rates else None
        if held is None and (kept is not None or not rates):
            now = np.array([[target[w] for w in windows] for target in kept] if rates else
                           [[systems[w].lam for w in windows] for systems in self.ridge_], dtype=np.float64)
            return np.broadcast_to(now, (lead, *now.shape)).copy()
        return np.full((lead, len(self.ridge_), len(windows)), np.nan)

    def _rates_after(self, rates: list[dict[int, float]], restored: dict[int, int],
                     floor_set: list[dict[int, float]] | None, kept: list[dict[int, float]], count: int
                     ) -> np.ndarray | None:
        """With forgetting, :meth:`_newest_penalties` once an update's ``count`` new windows are added (``rates``: the
        rates after it): each new window's is the rate in force before the update, that of a target in
        ``restored`` the one it followed them again from (its newest window ``s`` on, read as added with them);
        NaN for a target whose penalty the floor's rule set (``floor_set``, :meth:`_first_penalties`). ``None``
        where each is the rate kept now."""
        windows = sorted(self.ridge_[0])
        held = self._newest_penalties(rates=True)
        now = np.array([[target[w] for w in windows] for target in self.penalty_rates_], dtype=np.float64)
        added = np.broadcast_to(now, (count, *now.shape)).copy()
        for j, s in restored.items():
            held[s:, j] = held[s, j]
            added[:, j] = held[s, j]
        for j in range(len(kept)):
            if floor_set is not None and floor_set[j] != kept[j]:
                added[:, j] = np.nan
        held = np.concatenate([held, added])[count:]
        after = np.array([[target[w] for w in windows] for target in rates], dtype=np.float64)
        return None if bool((held == after[None]).all()) else held

    @staticmethod
    def _compact_penalties(held: np.ndarray, ridge: list[dict[int, RidgeInverse]]) -> np.ndarray | None:
        """``newest_penalties_`` as kept: ``None`` where each is the penalty ``ridge`` keeps now."""
        now = np.array([[systems[w].lam for w in sorted(systems)] for systems in ridge], dtype=np.float64)
        return None if bool((held == now[None]).all()) else held

    def _restart_slots(self, n_old: int, base: list[WindowStats], after: np.ndarray, held: np.ndarray,
                       floor_set: list[dict[int, float]] | None, kept: list[dict[int, float]]) -> dict[int, int]:
        """Per target whose kept windows :meth:`_retracted` summed again (``base``; ``after``: the newest windows'
        weights after that, ``held``: the penalties, or with forgetting the penalty rates, in force before each of
        them), the newest window ``s`` the penalty follows them again from: the oldest of the newest whose penalty
        before it is known, that lies in the update's ``y`` (``n_old`` points before the new ones), and from which
        on each is summed. A target without such a window, or whose penalty the floor's rule sets now
        (:meth:`_first_penalties`: ``floor_set`` differs from ``kept``), is left out."""
        lead = anomaly.COUNTER_RUN - 1
        # the first of the newest windows each summed (a window not summed: those before it are not re-summed)
        known = np.isnan(after[::-1]).argmax(axis=0)
        known = np.where(np.isnan(after).any(axis=0), lead - known, 0)
        out = {}
        for j in range(len(base)):
            if base[j] is self.stats_[j] or (floor_set is not None and floor_set[j] != kept[j]):
                continue  # its windows as they were summed, or its penalty set at the floor now
            first = max(int(known[j]), self.window_ + self.horizon - 1 + lead - n_old, 0)
            fine = np.flatnonzero(~np.isnan(held[first:, j]).any(axis=1))
            if first < lead and len(fine):
                out[j] = first + int(fine[0])
        return out

    def _restarts(self, z: np.ndarray, n_old: int, base: list[WindowStats], newest: np.ndarray | None,
                  summed: np.ndarray | None, prefix, count: int, floor_set: list[dict[int, float]] | None,
                  kept: list[dict[int, float]]) -> dict[int, tuple[int, dict, dict]]:
        """Per target whose kept windows :meth:`_retracted` summed again at other weights (``base``, ``newest``:
        its statistics and newest windows' weights after that; ``prefix(j, i)``: ``base`` and the first ``i`` of
        the ``count`` new windows): ``(s, raises, penalties)``, the penalties followed (:func:`followed_penalty`)
        from those in force before the newest window ``s`` (the oldest of the newest whose penalty before it is
        known, from which on each is summed) over the windows from it on and the new ones, as a refit on the same
        data follows them; ``raises``: per window, where it set them anew. A target without such a window, or
        whose penalty the floor's rule sets now (:meth:`_first_penalties`), keeps the pass from the penalty kept."""
        if summed is None or newest is None:
            return {}
        lead, windows = anomaly.COUNTER_RUN - 1, sorted(self.ridge_[0])
        after, held = np.asarray(newest, dtype=np.float64), self._newest_penalties()
        alpha, follow, out = self.ridge_alpha(), self._follows_level(), {}
        slots = self._restart_slots(n_old, base, after, held, floor_set, kept)
        for j, s in slots.items():
            origins = n_old - self.horizon + 1 - lead + np.arange(s, lead)
            weights = after[s:, j]
            x, targets = windows_settled_at(z[:, j], origins, self.window_, self.horizon, summed[:, j])
            rest = base[j] + WindowStats.from_windows(x, targets, -weights)  # the windows before ``s``
            m = len(origins)

            def restarted_prefix(i: int, j: int = j, rest: WindowStats = rest, x: np.ndarray = x,
                                 targets: np.ndarray = targets, weights: np.ndarray = weights, m: int = m
                                 ) -> WindowStats:
                if i >= m:
                    return prefix(j, i - m)
                return rest if i == 0 else rest + WindowStats.from_windows(x[:i], targets[:i], weights[:i])

            raises, found = {}, {}
            for b, window in enumerate(windows):
                raises[window] = []
                found[window] = followed_penalty(restarted_prefix, m + count, window, alpha, follow,
                                                 float(held[s, j, b]), raises=raises[window])
            out[j] = (s, raises, found)
        return out

    def _pass_penalties(self, n: int, origins: np.ndarray, start: list[dict[int, float]], raises: dict,
                        floor_set: list[dict[int, float]] | None, kept: list[dict[int, float]]) -> np.ndarray:
        """:meth:`_newest_penalties` of a refit on ``n`` points whose windows at the consecutive ``origins`` set the
        penalties anew from ``start`` at ``raises`` (:meth:`_followed_penalties`); NaN for a window not summed and
        for a target whose penalty the floor's rule set (``floor_set`` differs from ``kept``: where, is not kept)."""
        lead, windows = anomaly.COUNTER_RUN - 1, sorted(self.ridge_[0])
        out = np.full((lead, len(start), len(windows)), np.nan)
        if not len(origins):
            return out
        positions = n - self.horizon + 1 - lead + np.arange(lead) - int(origins[0])
        inside = (positions >= 0) & (positions < len(origins))
        for j, target in enumerate(start):
            if floor_set is not None and floor_set[j] != kept[j]:
                continue
            for b, window in enumerate(windows):
                out[inside, j, b] = penalties_before(target[window], raises.get((j, window), []), positions[inside])
        return out

    def _held_after(self, start: list[dict[int, float]], raises: dict, restarts: dict,
                    floor_set: list[dict[int, float]] | None, kept: list[dict[int, float]], count: int) -> np.ndarray:
        """:meth:`_newest_penalties` once an update's ``count`` new windows are added: the pass from ``start``
        set the penalties anew at ``raises`` (:meth:`_followed_penalties`), that of a target in ``restarts`` from
        its newest window ``s`` on (:meth:`_restarts`); NaN for a target whose penalty the floor's rule set
        (``floor_set``, :meth:`_first_penalties`), where it is set is not kept."""
        lead, windows = anomaly.COUNTER_RUN - 1, sorted(self.ridge_[0])
        held = self._newest_penalties()
        added = np.full((count, len(start), len(windows)), np.nan)
        for j in range(len(start)):
            if floor_set is not None and floor_set[j] != kept[j]:
                continue
            for b, window in enumerate(windows):
                if j in restarts:
                    s, steps, _ = restarts[j]
                    lam, steps = float(held[s, j, b]), steps[window]
                    held[s:, j, b] = penalties_before(lam, steps, np.arange(lead - s))
                    added[:, j, b] = penalties_before(lam, steps, lead - s + np.arange(count))
                else:
                    added[:, j, b] = penalties_before(start[j][window], raises.get((j, window), []),
                                                      np.arange(count))
        return np.concatenate([held, added])[count:]

    def _first_penalties(self, stats: list[WindowStats], penalties: list[dict[int, float]], prefix,
                         count: int) -> list[dict[int, float]] | None:
        """``penalties`` (each target's per blended window) with each one kept at the floor (``stats``' windows all
        alike: an idle target's, :func:`floor_bound`) set relative to the statistics ``prefix(j, i)`` of target
        ``j``'s first ``i`` of ``count`` windows at the first ``i`` where they no longer are alike
        (:func:`first_penalty`); ``None`` where none changes. Such a penalty was read from no data (every
        solution of windows alike is the same), and kept it left later windows' maps unpenalised.

        A refit on the same data and updates set it at the same window, so an update stays a refit on the same
        data. Gated on the penalty's size (near its floor): a few microseconds for any other model."""
        alpha, follow = self.ridge_alpha(), self._follows_level()

        def near_floor(j: int, window: int, lam: float) -> bool:  # twice the floor: forgetting decays both alike
            return lam <= 2.0 * alpha * max(PENALTY_FLOOR, PENALTY_ROUNDING * uncentred_trace(stats[j], window) / window)

        # The floor of each window's penalty is at most the widest one's uncentred trace over the narrowest width.
        if all(min(target.values()) > 2.0 * alpha * max(PENALTY_FLOOR, PENALTY_ROUNDING * float(np.trace(s.xx))
                                                         / min(target)) for target, s in zip(penalties, stats)):
            return None
        changed = None
        for j, target in enumerate(penalties):
            for window, lam in target.items():
                if not near_floor(j, window, lam) or not floor_bound(stats[j], window, follow):
                    continue
                found = first_penalty(lambda i, j=j: prefix(j, i), count, window, alpha, follow)
                if found is not None:
                    changed = changed or [dict(t) for t in penalties]
                    changed[j][window] = found
        return changed

    def _followed_penalties(self, penalties: list[dict[int, float]], prefix, count: int,
                            start: list[WindowStats] | None = None,
                            kept: list[dict[int, float]] | None = None,
                            raises: dict | None = None) -> list[dict[int, float]] | None:
        """``penalties`` (each target's per blended window, kept on statistics ``start``, ``None``: on none) with
        each one set anew by the fit's rule as target ``j``'s windows ``prefix(j, i)`` (``start`` and the first
        ``i`` of ``count`` windows) raise the rule above ``PENALTY_DRIFT`` times it (:func:`followed_penalty`);
        ``None`` where none is set anew. A refit on the same data and updates set it at the same windows, so an
        update stays a refit on the same data. ``kept``: the penalties returned where none is set anew (default
        ``penalties``). ``raises``: a dict that gets, per ``(j, window)`` set anew, where (:func:`followed_penalty`).
        """
        alpha, follow, changed = self.ridge_alpha(), self._follows_level(), None
        for j, target in enumerate(penalties):
            held = rule_penalties(prefix(j, count), target, alpha, follow) if count else None
            for window, lam in target.items():
                if held is None or held[window] <= PENALTY_DRIFT * lam:
                    continue  # the windows held leave it (most calls)
                steps = None if raises is None else raises.setdefault((j, window), [])
                found = followed_penalty(lambda i, j=j: prefix(j, i), count, window, alpha, follow, lam,
                                         None if start is None else start[j], held[window], steps)
                if found != lam:
                    changed = changed or [dict(t) for t in (penalties if kept is None else kept)]
                    changed[j][window] = found
        return changed

    def _penalties(self, stats: list[WindowStats]) -> list[dict[int, float]]:
        """The penalties a recomputation uses: the kept ones, or with forgetting the fit's penalty per window (or
        the rule's, where it was set anew: :meth:`_followed_penalties`) times the statistics' (decayed) count."""
        rates = getattr(self, "penalty_rates_", None)
        if self._gamma() == 1.0 or rates is None:
            return [{w: r.lam for w, r in systems.items()} for systems in self.ridge_]
        return [{w: rate * s.count for w, rate in target_rates.items()} for target_rates, s in zip(rates, stats)]

    @staticmethod
    def _add_windows(systems: dict[int, RidgeInverse], stats: WindowStats, x: np.ndarray,
                     weights: np.ndarray | None = None, gamma: float = 1.0,
                     follow_level: bool = False) -> dict[int, RidgeInverse] | None:
        """The inverses once the rows ``x`` (``(m, W)``, weights ``weights``, default 1) join windows with
        statistics ``stats``, each after the statistics are multiplied by ``gamma``; ``None`` where a row's step
        would dominate a system (:data:`RANK_ONE_DOMINANT`).

        Adding a row of weight ``w`` to rows of total weight ``n`` and mean ``mu`` changes the
        centred Gram matrix by ``n w / (n + w) (x - mu)(x - mu)^T`` (Welford): one rank-one
        step per row. Multiplying the statistics by ``gamma`` multiplies the system (Gram
        and penalty) by ``gamma`` and leaves the mean: the inverse is divided by ``gamma``.
        With ``follow_level`` each window's system holds the shifted windows' Gram matrix
        ``T G T^T`` (:func:`follow_last`), whose step is the same with ``T (x - mu)``: the
        window's part of ``x - mu`` less its last entry.
        """
        inverses = {window: r.inverse for window, r in systems.items()}
        lams = {window: r.lam for window, r in systems.items()}
        count, mean = stats.count, stats.sum_x / stats.count
        for i, row in enumerate(x):
            weight = 1.0 if weights is None else float(weights[i])
            if gamma != 1.0:
                count *= gamma
                for window in inverses:
                    inverses[window] = inverses[window] / gamma
                    lams[window] *= gamma
            u = row - mean
            step = u - u[-1] if follow_level else u  # every window's part shifts by the same last input
            for window, inverse in inverses.items():
                inverses[window] = add_rank_one(inverse, step[-window:], count * weight / (count + weight),
                                                RANK_ONE_DOMINANT)
                if inverses[window] is None:
                    return None  # a dominant step: the caller inverts the systems anew
            count += weight
            if i + 1 < len(x):  # the next row's centring (the last row needs none)
                mean = mean + u * (weight / count)
        return {window: RidgeInverse(lam=lams[window], inverse=inverses[window]) for window in systems}

    def rolling_start(self) -> int:
        """The first origin :meth:`rolling_forecast` can forecast: one with ``max(2 W, MIN_TRAIN_WINDOWS)``
        training windows before it (``W = window_``), as the window search asks of its candidates."""
        check_is_fitted(self, "stats_")
        return int(self.window_) + self.horizon - 1 + max(2 * int(self.window_), MIN_TRAIN_WINDOWS)

    def rolling_forecast(self, y: np.ndarray, origins: np.ndarray, refits: int = ROLLING_REFITS) -> np.ndarray:
        """Out-of-sample forecasts ``(m, H, k)`` at sorted ``origins`` (each >= :meth:`rolling_start`) of ``y``.

        The origins are cut into at most ``refits`` consecutive groups; each group is
        forecast by a fit on the windows whose targets end before its first origin (the
        fitted window, blend and scaling; the penalty relative to those windows, as a fit
        sets it). The statistics are sums, so each group adds only the windows completed
        since the previous one, and each refit is one solve per blended window. Flagged
        buckets weigh their windows as in ``fit`` (see ``robust``). ``y`` is ``(n,)`` or ``(n, k)``
        (the forecasts are ``(m, H, k)`` either way); no origins give an empty ``(0, H, k)`` array. Loads, clipped at
        0 as :meth:`predict`'s (an ensemble's history reads :meth:`_rolling_forecast`, unclipped).
        """
        check_is_fitted(self, "stats_")
        matrix, _ = as_matrix(y)
        if matrix.shape[1] != len(self.stats_):
            raise WorkloadDataError(f"y has {matrix.shape[1]} targets; the model was fitted on {len(self.stats_)}.")
        return np.maximum(self._rolling_forecast(matrix, origins, refits)[0], 0.0)

    def _rolling_forecast(self, y: np.ndarray, origins: np.ndarray, refits: int = ROLLING_REFITS,
                          deadline: Deadline | None = None) -> tuple[np.ndarray, int]:
        """:meth:`rolling_forecast`, stopping before a group once ``deadline`` has passed or where the pass over its
        new training windows would end past it (:func:`pass_seconds`, at the pace measured in this fit): the
        forecasts of the first origins, and how many (all of them without a deadline)."""
        check_is_fitted(self, "stats_")
        y = np.asarray(y, dtype=np.float64)
        origins = check_origins(origins, self.rolling_start(), len(y), "enough training windows before it (see "
                                "rolling_start())", ordered=True)
        if len(origins) == 0:
            return np.zeros((0, self.horizon, y.shape[1])), 0
        window, horizon, blend = int(self.window_), self.horizon, self._blend()
        forecast = np.empty((len(origins), horizon, y.shape[1]))
        forecast_count = len(origins)
        with single_blas_thread():
            z = self._scaled(y)
            element = stats = None  # read once a group is forecast (a deadline may leave none the time)
            done = window  # the next training window's origin
            for group in np.array_split(np.arange(len(origins)), min(refits, len(origins))):
                end = int(origins[group[0]]) - horizon + 1  # training windows' origins stop before this
                new = np.arange(done, end)
                # The first group also reads the flagged points' weights: a scan of the series (one pass of the
                # plain rule at the pace the predictor's scan measured).
                scan_seconds = deadline.pace.get(SERIES_PACE, 0.0) * y.size if (
                    deadline is not None and stats is None) else 0.0
                if deadline is not None and deadline.end is not None and (
                        deadline.left() <= scan_seconds + pass_seconds(len(new), z.shape[1], window, horizon)):
                    forecast_count = int(group[0])  # past the deadline, or its windows' pass would end past it
                    break
                if stats is None:
                    # flagged points (and a counter's start) weigh as in fit (None: nothing flagged)
                    element = counter_starts(y, self._element_weights(y, 0))
                    stats = [WindowStats.from_series(z[:, j], np.arange(0), window, horizon)
                             for j in range(z.shape[1])]
                done = max(done, end)
                x_group = windows_at(z, origins[group], window)  # (g, W, k)
                for j in range(z.shape[1]):
                    weights = settled_weights(None if element is None else element[:, j], z[:, j], new, window,
                                              horizon)
                    stats[j] = stats[j] + WindowStats.weighted(z[:, j], new, window, horizon, weights,
                                                               None if element is None else element[:, j])
                    centred = CentredStats.of(stats[j])
                    if self._follows_level():
                        centred = follow_last(centred)
                    coef, intercept = np.zeros((window, horizon)), np.zeros(horizon)
                    for w, weight in blend.items():
                        part = solve_dlinear(centred.last(w), self._kernel(), self.ridge_alpha(),
                                             branches=False, alike_zero=True)  # as a fit solves them
                        coef[-w:] += weight * part.coef
                        intercept += weight * part.intercept
                    forecast[group, :, j] = x_group[:, :, j] @ coef + intercept
        return self._loads(forecast[:forecast_count]), forecast_count

    def _predict_at(self, y: np.ndarray, origins: np.ndarray) -> np.ndarray:
        transform = self.__dict__.get("transform_")  # _scaled and _loads, inline (a forecast costs microseconds)
        z = ((y if transform is None else transformed(y, transform)) - self.offset_) / self.scale_
        if len(origins) > CORRELATE_ORIGINS and bool(np.all(np.diff(origins) == 1)):
            # Many consecutive origins (an LSTM's training targets): one correlation per step and target
            # reads the series once instead of gathering every window (3x faster at 200,000 origins).
            span = z[int(origins[0]) - self.window_ : int(origins[-1])]  # every input, (m + W - 1, k)
            forecast = np.stack([np.stack([np.correlate(span[:, j], self.coef_[j][:, h], mode="valid")
                                           for h in range(self.horizon)], axis=1)
                                 for j in range(span.shape[1])], axis=2) + self.intercept_.T[None]  # (m, H, k)
            forecast = forecast * self.scale_ + self.offset_
            return forecast if transform is None else loads_of(forecast, transform)
        x = windows_at(z, origins, self.window_)  # (m, W, k)
        forecast = np.matmul(x.transpose(2, 0, 1), self.coef_).transpose(1, 2, 0) + self.intercept_.T[None]  # (m, H, k)
        forecast = forecast * self.scale_ + self.offset_
        return forecast if transform is None else loads_of(forecast, transform)


class LogDLinear(DLinear):
    """:class:`DLinear` fitted on ``log(1 + load)``, forecasts mapped back with ``expm1``: the model registered as
    ``"dlinear_log"`` (an ensemble member by that name beside ``"dlinear"``). A class of its own because model files,
    the registry and a forecast's ``model`` name a model by its class.

    Parameters
    ----------
    horizon, window, kernel_size, alpha, candidate_windows, validation_fraction, max_validation_windows, blend, robust, half_life, follow_level :
        As :class:`DLinear`'s.
    transform : str or None
        ``"log1p"`` (default), as :class:`DLinear`'s ``transform``; ``None`` fits the loads as DLinear does.
    """

    def __init__(
        self,
        horizon: int = 10,
        window: int | None = None,
        kernel_size: int = 25,
        alpha: float | None = None,
        candidate_windows: Sequence[int] | None = None,
        validation_fraction: float = 0.15,
        max_validation_windows: int = 100,
        blend: int = 3,
        robust: bool = True,
        half_life: float | None = None,
        follow_level: bool = True,
        transform: str | None = "log1p",
    ):
        super().__init__(horizon, window, kernel_size, alpha, candidate_windows, validation_fraction,
                         max_validation_windows, blend, robust, half_life, follow_level, transform)


#: Bytes of the inputs and maps :func:`forecast_each` stacks at once: ``8 k W (H + 2)`` per model (70 KB at window 336,
#: horizon 24, one target: 240 models a product), at least one model's.
FORECAST_BYTES = 2**24


def forecast_each(models: Sequence[DLinear], inputs: Sequence[np.ndarray]) -> np.ndarray:
    """The forecasts ``(G, H, k)`` of fitted DLinear ``models`` of one ``window_``, horizon and target count, each
    after its own ``inputs`` (``(n, k)``, ``n >= window_``): what each model's ``_predict_at(inputs, [n])`` gives,
    with the same products, as many models at a time as ``FORECAST_BYTES`` holds."""
    window, horizon, k = int(models[0].window_), models[0].horizon, models[0].coef_.shape[0]
    out = np.empty((len(models), horizon, k))
    block = max(1, FORECAST_BYTES // (8 * k * window * (horizon + 2)))
    for begin in range(0, len(models), block):
        part = models[begin : begin + block]
        offset = np.array([m.offset_ for m in part])[:, None, :]  # (G, 1, k)
        scale = np.array([m.scale_ for m in part])[:, None, :]
        transforms = [m._transform() for m in part]
        z = (np.array([transformed(x[-window:], t) for x, t in zip(inputs[begin : begin + block], transforms)])
             - offset) / scale  # (G, W, k)
        forecast = np.matmul(z.transpose(0, 2, 1)[:, :, None, :], np.array([m.coef_ for m in part]))  # (G, k, 1, H)
        forecast = forecast[:, :, 0].transpose(0, 2, 1) + np.array([m.intercept_.T for m in part])  # (G, H, k)
        forecast = forecast * scale + offset
        for i, transform in enumerate(transforms):
            if transform is not None:
                forecast[i] = loads_of(forecast[i], transform)
        out[begin : begin + len(part)] = forecast
    return out
