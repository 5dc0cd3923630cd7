"""One patch-LSTM over many series: a *global* model for a fleet of keys.

A fleet has one series per key (endpoint, tenant, adapter). Instead of one network per
key, ``GlobalLSTM`` trains one network on the windows of all keys, as neuralforecast
and darts do for many series:

* **Per-key scaling.** Each key is standardised with the mean and standard deviation
  of its own training part (``windows.fit_scale``; with ``robust``, each point counted by
  its input-anomaly weight, as DLinear's scaling does), so a key at 5 requests per bucket
  and one at 5,000 give the network windows of the same scale; forecasts are scaled
  back per key (neuralforecast's per-series ``local_scaler_type="standard"``, darts'
  per-series ``Scaler``). A target constant over its training part has no spread to
  scale by (``scale_pending_``): its scale only keeps its inputs finite, and its
  forecast is the network's output times its spread, 0: its value, in validation as at
  the end (a key constant at 7 is forecast 7, inside its interval). Once its points
  leave that constant it is scaled from them (at the end of the fit, at each update),
  so an idle key that wakes is read at its new level; while those points are all flagged as
  input anomalies (fewer than ``anomaly.MIN_BUSY`` busy) they set no scale, and it is
  forecast at their mean.
* **The single-series LSTM's network and training loop.** ``_PatchLSTM`` (the window
  read in about 12 patches, a direct multi-step head that starts at zero) and
  ``training.train_network`` (Adam, early stopping on an inner tail, a time limit).
* **A global linear base.** As the per-key LSTM learns the residual of a DLinear fit,
  the global network learns the residual of one ridge regression from the
  standardised window to the standardised horizon, shared by all keys and solved in
  closed form from accumulated Gram statistics (exact, milliseconds, and exactly
  updatable). Early stopping keeps the base alone when the network cannot beat it.
  A window far from its key's scale (a level shift) is forecast toward the level-following
  map solved from the same statistics (NLinear's, as DLinear's ``follow_level``).
* **The validation protocol of every forecaster.** Each key's chronological tail
  (``validation_origins``) is held out of training and forecast out of sample; those
  forecasts (``validation_forecast_`` against ``validation_actual_``) give the
  fleet's per-key conformal interval and confidence. The base is then refitted on
  all data; the network is not retrained.

Options measured in ``scripts/global_options_table.py``: ``distributed`` (data-parallel
training over processes, :mod:`.distributed`), ``quantize="int8"`` (dynamic int8
inference, :mod:`.quantize`) and ``device="cuda"``.
"""

from __future__ import annotations

import functools
import logging
import math
import os
import time
import weakref
from collections.abc import Hashable, Mapping, Sequence
from typing import Any

import numpy as np
import torch

from .. import _deadline, anomaly
from .._deadline import check_seconds
from .._memory import check_memory, epoch_hook
from .._progress import epoch_callback, progress_bar
from .._threads import torch_threads
from ..errors import NoKeyFittedError, WorkloadDataError, check_is_fitted, is_number, is_positive_int, plural, quote
from ..health import naive_error
from ..windows import carried_left_out, fit_scale, left_out_windows, targets_at, validation_origins, windows_at
from ..windows import newest as newest_of  # `newest` is a local name in methods below
from .base import MIN_TRAIN_WINDOWS, ParamsMixin, as_matrix, check_validation_settings, unfitted_on_error
from .dlinear import FOLLOW_ALPHA, window_weights
from .lstm import _GLOBAL_RNG, _PatchLSTM, patch_for
from .registry import check_verbose
from .torch_runtime import (
    PREDICT_CHUNK,
    check_network_memory,
    check_patch_size,
    check_quantize,
    check_settings,
    forward_in_chunks,
    inference_network,
    resolve_device,
    time_left,
    training_seed,
)
from .training import train_network

DEFAULT_WINDOW = 96  # buckets: 12 patches of 8
EARLY_STOPPING_WINDOWS = 16  # inner-tail windows per key for early stopping
BASE_CHUNK = 8192  # origins per chunk of the base's statistics (bounds their float64 features)
#: Standardised values (key scales) past which a window weighs less in the base (``robust``; :func:`_extent_weights`):
#: far past an ordinary key's windows (on the fleet benchmark's keys it moved ``scripts/global_update_accuracy.py``'s
#: WAPE by under 2 %), well short of a degenerate scale's thousands.
WINDOW_EXTENT = 30.0
#: Key scales between which a forecast moves from the base's map to the level-following one (:meth:`GlobalLSTM._followed`),
#: by how far the mean of its window's newest patch sits from its key's offset: past most of the standardised windows
#: the base is fitted on (1.2 % of the fleet benchmark's windows are past 4), wholly followed from 8 (a key at
#: Poisson(100) dropping to 20 stands 8.5 scales out).
LEVEL_NEAR, LEVEL_FAR = 4.0, 8.0
#: Key scales past which the level of an update's window (the mean of its inputs, or of its targets, for a target)
#: weighs it down in the base (``robust``; :func:`_level_weights`), past which a window's mean moves its forecast toward
#: the level-following map by the share those weights take (:meth:`GlobalLSTM._followed`), and past which the mean of
#: a key's newest points on one side of its offset, over at least a window and its targets, has it scaled again
#: (:meth:`GlobalLSTM._level_rescaled`): a standardised key's window means have a spread of at most 1 (means of points
#: of spread 1); past 2 are 0.16 % of the fleet benchmark's fitted 96-bucket windows, and 2.3 % of those in its next
#: 200 buckets.
LEVEL_SHIFT = 2.0
#: Robust spreads of a key's fitted windows' means (``level_spread_``) past which its newest windows' means have it
#: scaled again (:meth:`GlobalLSTM._shift_rescaled`): a key at 0.8 or
#: 1.2 times its level stands 11-14 of them out, and the means of its newest windows swing 3-4 about that (at 10, two
#: of three such keys were not scaled again); on the fleet benchmark's first 30 keys (60 updates of 20 buckets after
#: a fit on 800) no key is scaled again at 6, 6 keys at 4 (its WAPE 0.15 % worse), 10 at 3 (0.45 %).
LEVEL_SPREADS = 6.0
#: How often an update finds a key's level moved by its one-step base residuals when it has not (:func:`_level_limits`,
#: :func:`_cusum_limit`).
LEVEL_FALSE_ALARM = 0.01
#: A Brownian motion's largest distance from 0 over [0, 1] passes 2.807 with probability 0.0100
#: (``1 - 4/pi sum_j (-1)^j / (2j+1) exp(-(2j+1)^2 pi^2 / (8 c^2))``): the limit of :func:`_cusum_limit` for a
#: deviation known exactly.
LEVEL_CUSUM = 2.807
#: ``time_limited_stages_``: the network's training ended by ``max_training_time`` (a fleet's name for it too).
TRAINING_STAGE = "global lstm training"

logger = logging.getLogger(__name__)


def _extent_weights(x: np.ndarray, target: np.ndarray, weight: np.ndarray | None) -> np.ndarray | None:
    """``weight`` (``[c]``, ``None``: all 1) times ``(WINDOW_EXTENT / extent)^4`` for each window whose inputs ``x``
    (``[c, W*k]``) or targets (``[c, H*k]``), standardised, reach further than ``WINDOW_EXTENT`` of its key's scales
    (``extent``: the furthest), as the input-anomaly weights bound a flagged bucket's: such a window adds at most
    ``WINDOW_EXTENT^4 / extent^2`` to the base's statistics, which every key shares.

    A key is read on the scale of its training part: one constant there but for a flagged burst has the weighted
    spread of its points (1e-3 for counts of 5), an idle one the fallback 1, so its later ordinary buckets, which the
    input-anomaly rule leaves unflagged, stand thousands of scales out; unweighted, its windows took the base and
    every key's forecast with them (one of about 14 fell to 0)."""
    extent = np.maximum(np.maximum(x.max(axis=1), -x.min(axis=1)), np.maximum(target.max(axis=1), -target.min(axis=1)))
    far = np.flatnonzero(extent > WINDOW_EXTENT)
    if len(far) == 0:
        return weight
    weight = np.ones(len(x)) if weight is None else weight.copy()
    weight[far] *= (WINDOW_EXTENT / extent[far]) ** 4
    return weight


def _level_weights(x: np.ndarray, target: np.ndarray, weight: np.ndarray | None, k: int,
                   limit: np.ndarray | None = None) -> np.ndarray | None:
    """``weight`` (``[c]``, ``None``: all 1) times ``(limit / level)^4`` for each window whose ``level`` (each
    target's larger mean of inputs ``x`` (``[c, W*k]``) and of targets (``[c, H*k]``), standardised, in absolute
    value) is past its ``limit`` (``[c, k]`` key scales; ``None``: ``LEVEL_SHIFT``; the largest ``level / limit`` of
    its targets), so that such a window adds at most ``limit^2`` ordinary windows' worth along the level to the
    base's statistics, which every key shares. A window of a key whose level left the range its fit had
    (:func:`_level_limits`) has its key's own spread of window means as its limit.

    Unweighted, a key whose level moved (3 to 40 of its scales in review h106's fleets of 8 and 16 keys) weighs
    ``level^2`` ordinary windows each, and the base follows it: every other key's forecast would be 9-17 % further
    off. Its own forecasts move toward the level-following map by the share these weights take
    (:meth:`GlobalLSTM._followed`) until it is scaled again (:meth:`GlobalLSTM._level_rescaled`)."""
    c = len(x)
    level = np.maximum(np.abs(x.reshape(c, -1, k).mean(axis=1)), np.abs(target.reshape(c, -1, k).mean(axis=1)))
    level = (level / LEVEL_SHIFT if limit is None else level / limit).max(axis=1)  # [c]: in limits
    far = np.flatnonzero(level > 1.0)
    if len(far) == 0:
        return weight
    weight = np.ones(c) if weight is None else weight.copy()
    weight[far] *= level[far] ** -4.0
    return weight


def _level_runs(z: np.ndarray, window: int) -> np.ndarray:
    """The longest run ``[k]`` of consecutive windows of ``window`` points of ``z`` (``[T, k]``, at least ``window``
    points, standardised) whose means sit on one side of its offset (key scales' sign; 0 is a side of its own), in
    windows: how long its level stays on one side of its offset (a period's half, a drift's excursion)."""
    means = _window_means(z, window)
    runs = np.zeros(z.shape[1], dtype=np.int64)
    for col, column in enumerate(np.sign(means).T):
        edges = np.concatenate([[-1], np.flatnonzero(column[1:] != column[:-1]), [len(column) - 1]])
        runs[col] = int(np.diff(edges).max())
    return runs


def _level_limits(z: np.ndarray, origins: np.ndarray, window: int, horizon: int, runs: np.ndarray | None,
                  spreads: np.ndarray, step_coef: np.ndarray | None = None, residual: np.ndarray | None = None,
                  settled: np.ndarray | None = None) -> np.ndarray | None:
    """The level limits ``[m, k]`` (key scales; :func:`_level_weights`) of an update's windows at ``origins`` of
    ``z`` (``[T, k]``: a key's kept and new points on the scale they are read on), ``None`` where each is
    ``LEVEL_SHIFT``: for each target whose newest windows' means sit on one side of its offset over more windows
    than the longest such run of its fit (``runs``: ``level_run_``'s row), each window within that run has its key's
    spread of fitted windows' means (``spreads``: ``level_spread_``'s row on this scale) as its limit, where that is
    less. Its level has then left the range its own period and noise kept it in at fit, though within
    ``LEVEL_SHIFT`` and within ``LEVEL_SPREADS`` of those spreads (:meth:`GlobalLSTM._shift_rescaled`): a Poisson key
    at 20 requests with a 31-bucket period (24-bucket windows, spread 0.33 of its scales) whose windows' means cross
    its offset every 16 windows or so, at half its level for 60 buckets (1.1 scales below), moved the other keys'
    forecasts by 3 to 26 times what a new draw of its points did, each window weighing ordinary along the level.

    The same limit is set from the first point of the newest residuals that moved most, where the one-step residuals
    of its points from the base (``step_coef``; ``settled``: its points as a forecast reads them, ``None``: ``z``) sum,
    about their fitted mean, past :func:`_cusum_limit` times what that sum's spread would be where the level had not
    moved (``residual``: ``level_residual_``'s column on this scale: mean, long-run deviation, that mean's error; the
    largest distance of the newest residuals' sums from 0, against their count N: ``N deviation^2 + N^2 error^2``). The
    base forecasts the key's period away, so its residuals read a shift its windows' means swing across: at 1.2 times
    its level (0.47 scales up), those means still reached its offset within its fitted run and moved the others by
    2.5 to 5.8 times a new draw; its residuals' sums stood 4.1 to 6.1 times their spread out (limit 3.69)."""
    if len(origins) == 0 or len(z) < window or (runs is None and residual is None):
        return None
    means = _window_means(z, window)  # [T - W + 1, k]: means[o - W] are the inputs' of the window at origin o
    errors = None  # [T - W, k]: the one-step residuals of the windows at origins W .. T - 1, found when first read
    limits = None
    # a spread of 0 (windows' means at its offset, as a key at a constant but for a few flagged buckets): no limit
    for col in np.flatnonzero((spreads > 0) & (spreads < LEVEL_SHIFT)):
        first = len(z)
        if runs is not None and runs[col] < len(means):
            side = np.sign(means[:, col])
            other = np.flatnonzero(side != side[-1])
            run_first = int(other[-1]) + 1 if len(other) else 0  # the newest run's first window
            if len(means) - run_first > runs[col]:
                first = run_first
        if residual is not None and 0 < residual[1, col] < np.inf and residual[2, col] > 0 and len(z) > window:
            if errors is None:
                errors = _step_residuals(z if settled is None else settled, window, step_coef)
            moved = _moved_from(errors[:, col], residual[:, col], window)
            if moved is not None:
                first = min(first, window + moved)  # errors[j] is point window + j's
        if first == len(z):
            continue
        if limits is None:
            limits = np.full((len(origins), z.shape[1]), LEVEL_SHIFT)
        limits[origins + horizon > first, col] = spreads[col]  # inputs or targets among the moved points
    return limits


def _brownian_tail(c: np.ndarray) -> np.ndarray:
    """P(sup_{t <= 1} |W_t| >= c) for a Brownian motion ``W``, elementwise (0 past 8, where it is below 1e-14)."""
    c = np.minimum(np.asarray(c, float), 8.0)[None]
    j = np.arange(40)[:, None]  # enough terms for c <= 8
    terms = (-1.0) ** j / (2 * j + 1) * np.exp(-((2 * j + 1) ** 2) * np.pi**2 / (8 * c**2))
    return np.where(c[0] >= 8.0, 0.0, np.clip(1 - 4 / np.pi * terms.sum(axis=0), 0.0, 1.0))


def _cusum_limit(fitted: int, window: int) -> float | None:
    """The point ``c`` past which the residual rule's statistic (the newest residuals' largest partial sum over their
    deviation estimated from ``fitted`` residuals in overlapping batches of ``window``) lies with probability
    ``LEVEL_FALSE_ALARM`` where the level has not moved: ``P(sup |W| >= c sqrt(V)) = LEVEL_FALSE_ALARM``, ``V`` the
    estimate's share of the true variance, a chi-square of ``1.5 (fitted / window - 1)`` degrees of freedom over them
    (overlapping batch means have about 1.5 times the degrees of freedom of as many separate batches: Meketon and
    Schmeiser 1984). An estimate from a few batches is often low, and the statistic with it large: 3.69 for 176
    residuals in batches of 24 (the Poisson keys of tests/test_global_poisson_shift.py) or 704 in batches of 96 (the
    fleet benchmark's; 9.5 degrees of freedom, read as 9), ``LEVEL_CUSUM`` (2.807) for a deviation known exactly.
    ``None`` (no rule) under one degree of freedom. The degrees of freedom are rounded down (to a whole number under
    32, a power of 2 from there), which only raises ``c``, so that a fleet of keys of many lengths finds a few dozen
    limits at most (a few ms each, kept)."""
    df = 1.5 * (fitted / window - 1)
    if not df >= 1:
        return None
    return _cusum_limit_of(float(np.floor(df)) if df < 32 else float(2 ** np.floor(np.log2(df))))


@functools.lru_cache(maxsize=None)
def _cusum_limit_of(df: float) -> float:
    """:func:`_cusum_limit` for ``df`` degrees of freedom."""
    log_share = np.linspace(np.log(1e-8), np.log(1 + 12 * np.sqrt(2 / df)), 400)  # chi2_df / df: mean 1
    share = np.exp(log_share)
    # the density of the share times the share (the density of its log), times the grid step
    weight = np.exp(df / 2 * np.log(share * df / 2) - share * df / 2 - math.lgamma(df / 2))
    weight *= log_share[1] - log_share[0]
    low, high = LEVEL_CUSUM, 100.0
    for _ in range(24):  # to 6e-6
        mid = (low + high) / 2
        if (weight * _brownian_tail(mid * np.sqrt(share))).sum() > LEVEL_FALSE_ALARM:
            low = mid
        else:
            high = mid
    return high


def _moved_from(errors: np.ndarray, residual: np.ndarray, window: int) -> int | None:
    """Where the newest of one target's one-step residuals ``errors`` (``[N]``, oldest first) moved from: summed about
    their fitted mean from the newest back, the position (among ``errors``) of the first of those whose sum lies
    furthest from 0, where that sum passes :func:`_cusum_limit` times its spread (``residual``: ``[3]``, their fitted
    mean, long-run deviation and that mean's error; ``N deviation^2 + N^2 error^2``); ``None``: within it."""
    sums = np.cumsum(errors[::-1] - residual[0])  # the newest n residuals' sum, n = 1, 2, ...
    newest = int(np.argmax(np.abs(sums)))
    n = len(sums)
    spread = np.sqrt(n * residual[1] ** 2 + (n * residual[2]) ** 2)
    if abs(sums[newest]) <= LEVEL_CUSUM * spread:  # within the least limit there is: none read
        return None
    limit = _cusum_limit(int(round((residual[1] / residual[2]) ** 2)), window)  # the fit's count: (deviation/error)^2
    if limit is None or abs(sums[newest]) <= limit * spread:
        return None
    return n - newest - 1


def _step_residuals(z: np.ndarray, window: int, step_coef: np.ndarray | None) -> np.ndarray:
    """The one-step residuals ``[T - window, k]`` of ``z`` (``[T, k]``, standardised) at origins ``window .. T - 1``:
    each point less the base's forecast of it from the ``window`` points before it (``step_coef``: the base's
    coefficients of its first step, ``[W*k+1, k]``; ``None``: no base, the point itself)."""
    residuals = z[window:].copy()
    if step_coef is None:
        return residuals
    for first in range(window, len(z), BASE_CHUNK):  # BASE_CHUNK windows at a time, as the base's statistics
        origins = np.arange(first, min(first + BASE_CHUNK, len(z)))
        residuals[origins - window] -= windows_at(z, origins, window).reshape(len(origins), -1) @ step_coef[:-1]
    residuals -= step_coef[-1]
    return residuals


def _residual_noise(residuals: np.ndarray, window: int) -> np.ndarray:
    """``[3, k]``: the mean of ``residuals`` (``[N, k]``, one-step residuals of the base, N > ``window``), their
    long-run deviation about it and that mean's standard error (the deviation over the root of N). The deviation is
    estimated from the means of every ``window`` consecutive residuals (overlapping batch means, with Meketon and
    Schmeiser's factor ``N / (N - window)``): the base forecasts each point from the ``window`` before it, so its
    residuals are correlated over as many (a map whose weights sum to ``S`` leaves ``1 - S`` of a slow swing of the
    noise in them), which the residuals' own variance does not see."""
    n = len(residuals)
    if n <= window:  # no batch to read a deviation from: no rule (_level_limits reads a deviation of 0 as none)
        return np.zeros((3, residuals.shape[1]))
    mean = residuals.mean(axis=0)
    batches = _window_means(residuals - mean, window)  # [N - W + 1, k]
    deviation = np.sqrt(window * (batches**2).mean(axis=0) * n / (n - window))
    return np.stack([mean, deviation, deviation / np.sqrt(n)])


def _level_spreads(z: np.ndarray, window: int) -> np.ndarray:
    """The robust spread ``[k]`` of the means of the windows of ``window`` points of ``z`` (``[T, k]``, at least
    ``window`` points, standardised) about its offset: 1.4826 times their median distance from it (key scales).
    Measured from the offset, a key whose level drifted (a daily swing, a trend) has its windows' means far from it,
    and a spread as large."""
    return 1.4826 * np.median(np.abs(_window_means(z, window)), axis=0)


def _window_means(z: np.ndarray, window: int) -> np.ndarray:
    """The mean of each window of ``window`` consecutive points of ``z`` (``[..., T, k]``, along its points):
    ``[..., T - window + 1, k]``."""
    sums = np.cumsum(z, axis=-2)
    means = sums[..., window - 1 :, :].copy()
    means[..., 1:, :] -= sums[..., : sums.shape[-2] - window, :]
    means /= window
    return means


def _outside_zero_runs(column: np.ndarray) -> np.ndarray:
    """``[T]`` bool: the points of ``column`` (``[T]``) outside its runs of zero loads (two points or more in a row at
    exactly 0, idle or zero-filled). A single zero stays in: one of a Poisson key's counts at a low level."""
    zero = column == 0
    return ~(zero & (np.append(zero[1:], False) | np.insert(zero[:-1], 0, False)))


#: The dtypes a key's newest non-zero points are kept in (:func:`_packed`), narrowest first: counts up to each
#: integer type's largest, then any value float32 holds exactly, then the rest.
PACKED_DTYPES = (np.uint8, np.uint16, np.uint32, np.float32, np.float64)
_COUNT_TOPS = tuple(float(np.iinfo(t).max) for t in PACKED_DTYPES[:3])
_FLOAT32_TOP = float(np.finfo(np.float32).max)


def _packed(kept: np.ndarray) -> tuple[np.ndarray, ...]:
    """A key's newest non-zero points (:func:`anomaly.busy_values`' rows ``[m, k]``, NaN before a target's first) as
    one array per target of ``anomaly.BUSY_KEPT`` entries, its points last and 0 before them (no point is 0), each in
    the narrowest of ``PACKED_DTYPES`` that holds every point exactly: counts below 256 take a byte each, below
    65,536 two, not 8. :func:`_unpacked` gives the rows back, bit for bit, padded with NaN to ``anomaly.BUSY_KEPT``;
    each key's state is that size from its fit on, so the model and its file grow with its points only where one
    needs a wider dtype (at most to float64's 8 kB a target)."""
    columns = []
    for column in np.ascontiguousarray(kept.T):  # each target's points contiguous
        values = column[int(np.count_nonzero(np.isnan(column))) :]  # its points: the NaN are before them
        top = float(values.max()) if len(values) else 0.0
        if top <= _COUNT_TOPS[-1] and float(values.min(initial=1.0)) > 0 \
                and (values.astype(np.uint32).astype(np.float64) == values).all():  # in range: exact if whole
            dtype = PACKED_DTYPES[next(i for i, t in enumerate(_COUNT_TOPS) if top <= t)]
        elif top <= _FLOAT32_TOP and (values.astype(np.float32).astype(np.float64) == values).all():
            dtype = np.float32  # (a point past float32's largest would overflow the cast: float64)
        else:
            dtype = np.float64
        packed = np.zeros(anomaly.BUSY_KEPT, dtype=dtype)
        packed[anomaly.BUSY_KEPT - len(values) :] = values
        columns.append(packed)
    return tuple(columns)


def _unpacked(kept: tuple[np.ndarray, ...] | np.ndarray) -> np.ndarray:
    """:func:`_packed`'s arrays as :func:`anomaly.busy_values`' rows padded with NaN to ``anomaly.BUSY_KEPT`` (float64,
    NaN for each 0 before a target's first point); the rows themselves as a file saved before kept them."""
    if isinstance(kept, np.ndarray):
        return kept
    rows = np.stack(kept, axis=1).astype(np.float64)
    rows[rows == 0] = np.nan
    return rows


def _before_shift(before: np.ndarray | None, shifted: dict, shape: tuple) -> np.ndarray | None:
    """``scaling_before_shift_`` (``before``: ``[2, n_keys, k]`` offsets and scales, NaN where none; ``None``: none)
    with ``shifted``'s changes (``(key, target)``: its ``(offset, scale)``, or ``None`` to clear it); ``None`` where
    none is left."""
    before = np.full((2, *shape), np.nan) if before is None else before.copy()
    for (i, col), scaling in shifted.items():
        before[:, i, col] = np.nan if scaling is None else scaling
    return None if np.isnan(before).all() else before


def _level_since(column: np.ndarray, constant: float, origins: np.ndarray) -> np.ndarray:
    """At each of ``origins`` (at least 1), the mean of ``column``'s points before it since its last at ``constant``
    (``constant`` where the point before it is)."""
    at = np.where(column == constant, np.arange(len(column)), -1)
    last = np.maximum.accumulate(at)[origins - 1]  # [m]: the last point at the constant before each origin (-1: none)
    since = origins - 1 - last  # the points after it
    sums = np.concatenate([[0.0], np.cumsum(column)])
    level = np.full(len(origins), float(constant))
    moved = since > 0
    level[moved] = (sums[origins[moved]] - sums[last[moved] + 1]) / since[moved]
    return level


def _with_leads(values: np.ndarray, flagged: np.ndarray, low: int, high: int) -> np.ndarray:
    """``flagged`` (``[T, k]`` bools of ``values``' points) with each flagged run that climbs in as a counter's does
    read as begun where that climb began (:func:`~workload_predictor.anomaly.with_leads`, its reference median the
    median of the ``anomaly.REFERENCE_BUCKETS`` points before it), for the runs whose climb may reach points ``low``
    to ``high`` (each begins before ``high + anomaly.REFERENCE_BUCKETS`` and ends from ``low -
    anomaly.REFERENCE_BUCKETS`` on, where the run before it bounds its climb): a new array where one is read so,
    else ``flagged`` itself."""
    lead, reach = anomaly.COUNTER_RUN - 1, anomaly.REFERENCE_BUCKETS
    padded = np.concatenate([np.zeros((1, flagged.shape[1]), dtype=bool), flagged, np.zeros((1, flagged.shape[1]), dtype=bool)])
    first_cols, firsts = np.nonzero((padded[1:-1] & ~padded[:-2]).T)  # each run's first point, column by column
    last_cols, lasts = np.nonzero((padded[1:-1] & ~padded[2:]).T)  # and its last, in the same order
    near = (firsts < high + reach) & (lasts >= low - reach)
    firsts, lasts, cols = firsts[near], lasts[near], first_cols[near]
    climbs = (firsts >= lead) & (firsts >= low) & (firsts < high + reach)
    if not climbs.any():
        return flagged
    steps = np.diff(values, axis=0) >= 0  # [T - 1, k]: each step that never decreases
    counts = np.concatenate([np.zeros((1, values.shape[1]), dtype=np.int64), np.cumsum(steps, axis=0)])
    at = np.flatnonzero(climbs)
    climbs[at] = counts[firsts[at], cols[at]] - counts[firsts[at] - lead, cols[at]] == lead  # its lead steps rise
    if not climbs.any():
        return flagged
    runs = sorted((int(f), int(e), int(c), float(np.median(values[max(0, int(f) - reach) : int(f), int(c)])))
                  for f, e, c in zip(firsts, lasts, cols))
    moved = [(new[0], old[0], old[2]) for new, old in zip(anomaly.with_leads(values, runs), runs) if new[0] < old[0]]
    if not moved:
        return flagged
    flagged = flagged.copy()
    for first, old, col in moved:
        flagged[first:old, col] = True
    return flagged


def _left_out(runs: Sequence[tuple[int, int, int, float]], origins: np.ndarray, horizon: int) -> np.ndarray | None:
    """Which of a key's validation windows at ``origins`` its interval leaves out (``None``: none), as a predictor's
    fit and updates leave them out (:func:`~workload_predictor.windows.left_out_windows`): those whose targets hold a
    bucket of a burst the series came back from (``runs``, :meth:`GlobalLSTM._settled`'s: begun where a counter's run
    climbs into it). There the validation target reads the burst as a forecast's inputs do (:meth:`GlobalLSTM._settled`;
    a window kept from an update before the series came back, at its median): its error is no load's."""
    if not runs:
        return None
    return left_out_windows(np.asarray(origins, dtype=np.int64), horizon, runs)


def _check_keys(keys: list) -> None:
    """A typed error for a key given twice (it would name two series: fitted and in ``errors_`` at once, its
    forecast and a teacher's lookup the first one's) or one that cannot be a dict key (``errors_`` is keyed by it)."""
    seen = set()
    for key in keys:
        try:
            repeated = key in seen
        except TypeError:  # unhashable (a list, or a tuple holding one)
            raise WorkloadDataError(f"key {quote(key)} is a {type(key).__name__}, which cannot name a series; pass "
                                    "hashable keys (text, numbers, tuples of them).") from None
        if repeated:
            raise WorkloadDataError(f"key {quote(key)} is given for two series; pass one distinct key per series.")
        seen.add(key)


#: Each fitted model's kept points as its forecast reads them, with the kept points and ``robust`` they were found for
#: (:meth:`GlobalLSTM._settled_recent`).
_SETTLED_RECENT: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
#: Each fitted model's level-following map, with the base statistics it was solved from (:meth:`GlobalLSTM._following_coef`).
_FOLLOWING: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _same_setting(now: Any, fitted: Any) -> bool:
    """Whether a setting's value is the one the fit read: equal, and a bool where that was one (``True`` is not 1)."""
    try:
        return bool(now == fitted) and isinstance(now, (bool, np.bool_)) == isinstance(fitted, (bool, np.bool_))
    except (TypeError, ValueError):  # an array's comparison, which no setting the fit accepted is
        return False


def check_param_names(params: Any, argument: str, owned: Sequence[str]) -> None:
    """A typed error for the names of ``params`` (a fleet's ``argument``: ``model_params`` or ``teacher_params``) that
    are no :class:`GlobalLSTM` parameters, listing those it may hold: GlobalLSTM's less the fleet's ``owned`` settings,
    which the fleet refuses there."""
    unknown = set(params) - set(GlobalLSTM._param_names())
    if unknown:
        valid = [name for name in GlobalLSTM._param_names() if name not in owned]
        raise WorkloadDataError(f"{argument} {quote(sorted(unknown, key=str))} are not GlobalLSTM parameters; "
                                f"valid: {', '.join(valid)}. The fleet's own {', '.join(owned)} are set as "
                                "FleetPredictor(...) parameters.")


class GlobalLSTM(ParamsMixin):
    """One patch-LSTM (on a shared linear base) trained on the standardised windows of many series.

    Parameters
    ----------
    horizon : int
        Buckets forecast directly, in one forward pass.
    window : int or None
        Input window in buckets (``None``: 96), rounded down to whole patches (``window_``).
    patch_size : int or None
        Buckets per LSTM step, at most the window; ``None`` cuts the window into about 12 patches.
    hidden_size, num_layers : int
        LSTM size (default 64 x 1: one network serves every key, so it can be larger
        than the per-key LSTM's 32). Before the network is built, its training memory
        (``torch_runtime.network_bytes``) is checked against the memory limit in force.
    max_epochs, batch_size, learning_rate, patience :
        Adam training with early stopping on each key's inner validation tail.
    linear_base : bool
        Learn the residual of a shared ridge regression on the standardised window (default) or the series itself.
    ridge : float
        The base's penalty (positive, finite), relative to the mean diagonal of its Gram matrix.
    robust : bool
        The base weighs each window holding a bucket far outside its key's recent range
        (:mod:`workload_predictor.anomaly`) as ``DLinear(robust=True)`` does, at fit and
        in ``update``, and each window reaching past ``WINDOW_EXTENT`` (30) of its key's
        scales as those weights bound a flagged bucket: its statistics are shared by every
        key, and without the weights one 1e9 bucket of one key moves every key's forecast
        from then on.
    max_windows_per_key : int or None
        Training windows per key, spread evenly over its training part (the newest
        included); ``None`` uses all. Bounds an epoch's cost for long series.
    random_state : int or None
        Seed in [0, 2**32 - 1] for initial weights and batch order; the global torch RNG is left untouched.
    n_threads : int or None
        torch threads during fit/predict (restored afterwards); ``None`` keeps the caller's setting.
    device : str
        ``"cpu"``, ``"cuda"`` or ``"auto"`` (cuda when available).
    distributed : None, int or "env"
        ``None``: train in this process. An int ``n >= 2``: data-parallel training
        (``DistributedDataParallel``) over ``n`` processes this call spawns (backend
        ``gloo`` on the CPU, at most one process per CPU; ``nccl`` on GPUs, one GPU per
        process). Each process holds its own copy of the training data and network:
        ``n`` times those are checked against the memory limit before any is spawned. With less of
        ``max_training_time`` (or a fleet's deadline) left than starting them takes
        (``distributed.SPAWN_SECONDS``, 3 s), this process trains instead, on the same batches, and records the
        stage ``"data-parallel processes"`` in ``time_limited_stages_`` (a fleet in its own too). ``"env"``: this
        process is one rank of a group already started by ``torchrun`` (every rank calls
        ``fit`` on the same data and ends with the same model). The group stays the caller's to tear down;
        under torch 2.13 a gloo rank may abort while it does ("terminate called without an active exception",
        a torch race seen with a bare DDP script too, fewer with a ``dist.barrier()`` first): the fit's results
        are complete by then.
    quantize : None or "int8"
        ``"int8"``: forecast with a dynamically quantised copy of the network (LSTM and
        linear layers, CPU only). Training and the saved file stay float32.
    max_training_time : float or None
        Seconds after which training stops and keeps its best weights (a number >= 0, or ``None``).
    validation_fraction, max_validation_windows :
        Each key's validation tail, as for every forecaster (checked as every forecaster checks them).
    verbose : bool or None
        A progress bar over the epochs on stderr (``None``: only when stderr is a terminal).

    Notes
    -----
    ``fit(series, keys)`` takes one float array ``(T_i, k)`` per key (lengths may differ,
    ``k`` may not). A key too short for a window, the horizon, ten training windows and
    a validation tail is reported in ``errors_`` and left out; the others are fitted.
    ``time_limited_stages_`` (a tuple of names, as ``WorkloadPredictor``'s) lists the stages
    ``max_training_time`` ended early: ``"data-parallel processes"`` (see ``distributed``) and
    ``"global lstm training"`` (``stopped_by_ == "time_limit"``); a fit on its own logs them as a warning.
    ``level_spread_`` (``[n_keys, k]``, in each key's loads; ``inf`` for a target constant where it was scaled) is the
    robust spread of each key's training windows' means about its offset, from which an update judges a small level
    shift (:meth:`_shift_rescaled`). ``level_run_`` (``[n_keys, k]`` int64; ``None``: a file saved before it was kept)
    is the longest run of each key's training windows' means on one side of its offset, in windows: an update's windows
    of a key whose means sit on one side longer weigh no more in the shared base than its ordinary windows
    (:func:`_level_limits`). ``level_residual_`` (``[3, n_keys, k]`` float64, in each key's loads; ``None``: a file
    saved before it was kept) is the mean of each key's one-step residuals from the base over its fitted series, their
    long-run deviation and that mean's standard error: an update's windows of a key whose newest residuals sum past
    what those allow (a 1 % false-alarm rate) weigh no more either. ``scaling_before_shift_`` (``None``: none held, or
    ``[2, n_keys, k]``: the offset and scale each target had before that rule first scaled it again, NaN where it
    holds none) is what a key that comes back gets again (:meth:`_shift_undone`).
    ``validation_left_out_`` (one entry per key: ``None``, or a bool per validation window, at least one true) marks
    the validation windows whose targets hold a bucket of a burst the series came back from (:meth:`_settled`'s runs):
    a fleet calibrates the key's interval and confidence without them, as a predictor's ``interval_left_out_``. A fit
    finds them in each key's whole series, an update among its kept and new points; a window left out stays out while
    it is a validation window.
    ``lost_buckets_`` (one entry per key: ``None``, or positions from its first point, ascending, among its kept points)
    are the buckets an update was told were zero-filled (``update(..., filled=)``) where the buckets before them make a
    zero no load, as a predictor's ``lost_buckets_``: read as the median of the buckets before them, as a predictor
    reads them (a fit records none; a file saved before them reads them as 0).
    ``fit_naive_error_`` (``[n_keys, k]`` float64) is each key's naive forecast error over ``horizon`` buckets in the
    series it was fitted on, as its validation read it (a burst it came back from as :meth:`_settled` reads it;
    :func:`workload_predictor.health.naive_error`, a predictor's ``noise_scale_`` row 0),
    carried by every update (a file saved before it was kept: its kept points' at its next update, kept from then):
    a fleet's ``health`` measures the key's validation error against it and its kept points'.
    ``fitted_settings_`` (``{"linear_base", "ridge", "robust"}``) are those settings as the fit read them: ``predict``,
    ``predict_at`` and ``update`` refuse a model where one of them, or ``horizon``, was set since (``set_params``), with
    a ``WorkloadDataError`` saying to fit again or set it back; ``window`` and ``patch_size`` take effect at the next
    fit (the forecasts read ``window_`` and ``patch_size_``).
    """

    min_window = 12
    _fitted_attribute = "network_"  # what predict, predict_at and update check

    def __init__(
        self,
        horizon: int = 10,
        window: int | None = None,
        patch_size: int | None = None,
        hidden_size: int = 64,
        num_layers: int = 1,
        max_epochs: int = 30,
        batch_size: int = 512,
        learning_rate: float = 3e-3,
        patience: int = 5,
        linear_base: bool = True,
        ridge: float = 1e-3,
        robust: bool = True,
        max_windows_per_key: int | None = 256,
        random_state: int | None = None,
        n_threads: int | None = 1,
        device: str = "cpu",
        distributed: int | str | None = None,
        quantize: str | None = None,
        max_training_time: float | None = None,
        validation_fraction: float = 0.15,
        max_validation_windows: int = 100,
        verbose: bool | None = None,
    ):
        self.horizon = horizon
        self.window = window
        self.patch_size = patch_size
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.max_epochs = max_epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.patience = patience
        self.linear_base = linear_base
        self.ridge = ridge
        self.robust = robust
        self.max_windows_per_key = max_windows_per_key
        self.random_state = random_state
        self.n_threads = n_threads
        self.device = device
        self.distributed = distributed
        self.quantize = quantize
        self.max_training_time = max_training_time
        self.validation_fraction = validation_fraction
        self.max_validation_windows = max_validation_windows
        self.verbose = verbose

    # -- checks ----------------------------------------------------------------------------
    def _check_params(self) -> None:
        def positive_int(name: str, value: Any, allow_none: bool = False) -> None:
            if value is None and allow_none:
                return
            if not is_positive_int(value):
                raise WorkloadDataError(f"{name}={quote(value)} must be a positive integer.")

        positive_int("horizon", self.horizon)
        positive_int("max_windows_per_key", self.max_windows_per_key, allow_none=True)
        if self.window is not None:
            positive_int("window", self.window)
            if self.window < self.min_window:
                raise WorkloadDataError(f"window={quote(self.window)} is below the global LSTM's minimum of "
                                        f"{self.min_window} buckets: pass window={self.min_window} or more, or None "
                                        "for the default.")
        device = resolve_device(self.device)
        check_quantize(self.quantize, device)
        # The settings every other forecaster checks: the time limit, the validation split, the progress bar.
        check_seconds(self.max_training_time)
        check_validation_settings(self)
        check_verbose(self.verbose)
        # The settings the per-key LSTM shares (network, training, seed, threads), and the network's smallest
        # size against the memory limit.
        check_settings(self, outputs=self.horizon)
        check_patch_size(self.patch_size, self.window or DEFAULT_WINDOW, "" if self.window else " (the default)")
        ridge = self.ridge
        if not is_number(ridge) or not 0 < ridge < np.inf:  # NaN fails every comparison: refused too
            raise WorkloadDataError(f"ridge={quote(ridge)} must be a positive, finite penalty relative to the base's "
                                    "Gram matrix (e.g. 1e-3, the default).")
        if not isinstance(self.robust, (bool, np.bool_)):
            raise WorkloadDataError(f"robust={quote(self.robust)} must be True or False.")
        if self.distributed is not None and self.distributed != "env":
            if not is_positive_int(self.distributed):
                raise WorkloadDataError(f"distributed={quote(self.distributed)} must be None (train in this process), "
                                        "a number of training processes n >= 2 (1: this process), or 'env' (this "
                                        "process is a rank of a torchrun group).")
            cpus = os.cpu_count() or 1
            if device.type == "cpu" and self.distributed > cpus:  # on GPUs: one per process, checked below
                raise WorkloadDataError(f"distributed={quote(self.distributed)} spawns more training processes than "
                                        f"this machine's {cpus} CPUs; pass distributed=n with n <= {cpus} (or None "
                                        "to train in this process).")
        if self.distributed is not None and self.distributed != 1:  # torchrun's group, the GPUs: a setting's error
            from .distributed import check_processes

            check_processes(self.distributed, device)

    def _check_fitted_settings(self) -> None:
        """A typed error where a setting the forecasts or updates read was set since the fit (``set_params``), as a
        per-key model checks its horizon: a fitted model forecasts and updates with the settings it was fitted with.
        ``horizon``: the steps its base and network forecast; ``linear_base``, ``ridge``, ``robust``: as its fit
        recorded them (``fitted_settings_``; a file saved before it was kept: its settings as saved)."""
        fitted = {"horizon": self.base_coef_.shape[1] // self.n_targets_,  # [window * k + 1, horizon * k]
                  **self.__dict__.get("fitted_settings_", {})}
        for name, value in fitted.items():
            now = getattr(self, name)
            if not _same_setting(now, value):
                raise WorkloadDataError(f"{name} changed from {quote(value)} to {quote(now)} since fit: fit again, or "
                                        f"set it back with set_params({name}={value!r}).")

    def _geometry(self) -> tuple[int, int]:
        """``(window, patch)``: the window rounded down to whole patches (``_check_params`` refused a patch
        larger than the window, so there is at least one)."""
        window = int(self.window or DEFAULT_WINDOW)  # numpy integers as Python ints: torch's sizes take no others
        patch = int(self.patch_size or patch_for(window))
        return window // patch * patch, patch

    def _split(self, n: int, window: int) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
        """A key's ``(training origins, early-stopping origins, validation origins)``, or None if too short."""
        horizon = self.horizon
        validation = validation_origins(n, horizon, self.validation_fraction, self.max_validation_windows)
        train_end = int(validation[0])  # the network and the base see only y[:train_end]
        if train_end < window + horizon:
            return None
        inner = validation_origins(train_end, horizon, self.validation_fraction, EARLY_STOPPING_WINDOWS)
        training = np.arange(window, int(inner[0]) - horizon + 1)
        if len(training) < MIN_TRAIN_WINDOWS:
            return None
        return training, inner, validation

    # -- fit -------------------------------------------------------------------------------
    @anomaly.keeping_scans
    def fit(self, series: Sequence[Any], keys: Sequence[Hashable] | None = None) -> GlobalLSTM:
        """Fit one network on every key's series. Returns ``self``.

        ``series``: one ``(T_i,)`` or ``(T_i, k)`` array per key (the same ``k`` for all);
        ``keys``: their names (default ``0 .. n-1``). Keys too short to fit go to ``errors_``; where every key is,
        :class:`~workload_predictor.errors.NoKeyFittedError` (its ``errors``: each key's).
        """
        start = time.perf_counter()
        self._check_params()
        if isinstance(series, Mapping):
            raise WorkloadDataError("series is a dict; pass its arrays and their keys as two lists: "
                                    "fit(list(series.values()), keys=list(series)).")
        if isinstance(series, np.ndarray) and series.ndim >= 1 and series.dtype != object:
            series = list(series)
        if len(series) == 0:
            raise WorkloadDataError("series is empty; pass one array per key.")
        keys = list(range(len(series))) if keys is None else list(keys)
        if len(keys) != len(series):
            raise WorkloadDataError(f"{len(keys)} keys for {len(series)} series; pass one key per series.")
        _check_keys(keys)
        window, patch = self._geometry()
        asked = int(self.window or DEFAULT_WINDOW)
        read_as = "" if window == asked else f" (window={asked} read as {window // patch} whole patches of {patch})"
        arrays, kept, splits, errors = [], [], [], {}
        n_targets = None
        for key, values in zip(keys, series):
            y, _ = as_matrix(values, f"series[{quote(key)}]")
            if n_targets is None:
                n_targets = y.shape[1]
            if y.shape[1] != n_targets:
                raise WorkloadDataError(f"series[{quote(key)}] has {y.shape[1]} targets, the first key {n_targets}; "
                                        "every key must have the same targets.")
            split = self._split(len(y), window)
            if split is None:
                errors[key] = WorkloadDataError(
                    f"series[{quote(key)}] has {plural(len(y), 'point')}, too few for window {window}{read_as} + "
                    f"horizon {self.horizon}: "
                    f"training needs {MIN_TRAIN_WINDOWS} windows plus a validation tail. Pass more history, a "
                    "smaller window= or a smaller horizon=.")
                continue
            arrays.append(y)
            kept.append(key)
            splits.append(split)
        if not arrays:
            first = next(iter(errors.values()))
            raise NoKeyFittedError(f"no key is long enough to fit the global LSTM; for example: {first}", errors)
        # From here the fit changes the model: if it raises (a torch error, an interrupt), the model is unfitted, not
        # the fit before with some of this one's state (its target count beside the old network's).
        with unfitted_on_error(self):
            k, horizon = n_targets, self.horizon
            self.window_, self.patch_size_, self.n_targets_ = window, patch, k
            # Each key's scale floor for the input-anomaly weights, from the data before its validation tail; the
            # typical burst of its points seen (weight_nonzero_, set at the end) raises it from then on (_floor).
            self.weight_floor_ = (np.stack([anomaly.floor_of(y[: int(split[2][0])])
                                            for y, split in zip(arrays, splits)]) if self.robust else None)
            self.weight_nonzero_ = self.weight_nonzero_counts_ = None
            elements = [self._fit_weights(i, y) for i, y in enumerate(arrays)]  # [T_i, k] or None
            # Per-key scaling from the same data, each point counted by its weight (as DLinear's): one flagged 1e6
            # bucket among counts of 50 would otherwise set the key's mean and scale, and every forecast with them.
            scales = [fit_scale(y[: int(split[2][0])], None if e is None else e[: int(split[2][0])],
                                return_constant=True) for y, e, split in zip(arrays, elements, splits)]
            self.offset_ = np.stack([s[0] for s in scales])  # [n_keys, k]
            self.scale_ = np.stack([s[1] for s in scales])  # [n_keys, k]
            # [n_keys, k]: fit_scale's fallback, no spread to scale by (the validation forecasts read it: _forecast)
            self.scale_pending_ = np.stack([s[2] for s in scales])
            z = [(y - self.offset_[i]) / self.scale_[i] for i, y in enumerate(arrays)]
            # [n_keys, k]: how far each key's windows' means sit from its offset, in its loads (_shift_rescaled)
            level_spread = np.stack([_level_spreads(zi[: int(split[2][0])], window) for zi, split in zip(z, splits)])
            # [n_keys, k]: the longest run of each key's training windows' means on one side of its offset
            # (_level_limits)
            self.level_run_ = np.stack([_level_runs(zi[: int(split[2][0])], window) for zi, split in zip(z, splits)])
            level_spread *= self.scale_
            level_spread[self.scale_pending_] = np.inf  # a constant's windows say nothing of its spread

            training = [self._spread(split[0]) for split in splits]
            check_memory("global LSTM windows", extra_bytes=self._fit_bytes(training, splits, [len(y) for y in arrays]))
            # The network (torch_runtime.network_bytes), before torch builds it: the largest forward pass without
            # gradients is the early-stopping windows of every key at once, or a predict chunk.
            n_validation = sum(len(split[2]) for split in splits)
            check_network_memory(self, patch_inputs=patch * k, n_patches=window // patch, outputs=horizon * k,
                                 batch=min(self.batch_size, max(1, sum(len(t) for t in training))),
                                 n_eval=max(sum(len(split[1]) for split in splits), min(PREDICT_CHUNK, n_validation)))
            # The base on every training window (its targets end before the inner tail).
            self.base_gram_, self.base_cross_ = self._base_stats(z, [split[0] for split in splits], elements)
            self.base_coef_ = self._solve_base()
            device = resolve_device(self.device)
            with torch_threads(self.n_threads):
                x_train, r_train = self._tensors(z, training, with_targets=True)
                x_val, r_val = self._tensors(z, [split[1] for split in splits], with_targets=True)
                seed = training_seed(self.random_state)
                # Python ints (a numpy integer is refused by nn.LSTM), as the file's network arguments are stored.
                init = (patch * k, int(self.hidden_size), int(self.num_layers), int(horizon) * k)
                # The training's limit (from the fit's start): a stage it cuts (distributed's processes not started) is
                # recorded in it, and in the deadline of a fit around this one (a fleet's).
                around = _deadline.current().stages
                with _deadline.limit(time_left(self.max_training_time, start)) as deadline:
                    before = len(deadline.stages)
                    network, result = self._train(init, seed, x_train, r_train, x_val, r_val, device, start)
                stages = deadline.stages[before:] + ([TRAINING_STAGE] if result.stopped_by == "time_limit" else [])
            if stages and deadline.stages is not around:  # fitted on its own: a fit around this one warns
                logger.warning("global LSTM fit reached max_training_time=%gs; ended early: %s (time_limited_stages_)",
                               self.max_training_time, ", ".join(stages))
            self.time_limited_stages_ = tuple(stages)
            self.network_ = network
            self.training_ = result
            self.n_epochs_, self.best_epoch_, self.stopped_by_ = result.epochs_run, result.best_epoch, result.stopped_by
            self.keys_ = kept
            self.errors_ = errors
            validation = [split[2] for split in splits]
            self.validation_origins_ = validation
            settled = [self._settled(y, 0, self._floor(i)) for i, y in enumerate(arrays)]  # as the forecasts read them
            evaluated = [values for values, _ in settled]
            self.validation_forecast_ = self._forecast(evaluated, validation, elements=elements)
            self.validation_actual_ = [targets_at(y, o, horizon) for y, o in zip(evaluated, validation)]
            self.validation_left_out_ = [_left_out(runs, o, horizon) for o, (_, runs) in zip(validation, settled)]
            # A target constant over its training part is scaled from its points since they left that constant (as
            # an update does from its kept and new points): a key that woke in its validation tail is read at its new
            # level.
            offset, scale, self.scale_pending_ = self._rescaled(
                range(len(arrays)), arrays, [0] * len(arrays), (self.offset_, self.scale_, self.scale_pending_))
            for i in np.flatnonzero((offset != self.offset_).any(axis=1) | (scale != self.scale_).any(axis=1)):
                z[i] = (arrays[i] - offset[i]) / scale[i]
            self.offset_, self.scale_, self.level_spread_ = offset, scale, level_spread
            self.scaling_before_shift_ = None  # no key scaled again by a small level shift (_shift_rescaled)
            # Refit the base on all data (scaling and network fixed), as the per-key LSTM does.
            all_origins = [np.arange(window, len(y) - horizon + 1) for y in arrays]
            extra_gram, extra_cross = self._base_stats(
                z, [o[o >= int(split[0][-1]) + 1] for o, split in zip(all_origins, splits)], elements)
            self.base_gram_, self.base_cross_ = self.base_gram_ + extra_gram, self.base_cross_ + extra_cross
            self.base_coef_ = self._solve_base()
            # [3, n_keys, k]: each key's one-step residuals from the base over its series as the forecasts read it
            # (a burst it came back from as _settled reads it): their mean, long-run deviation and that mean's standard
            # error, in its loads (_level_limits)
            step = self.base_coef_[:, :k] if self.linear_base else None
            self.level_residual_ = np.stack([
                _residual_noise(_step_residuals((values - self.offset_[i]) / self.scale_[i], window, step), window)
                * self.scale_[i] for i, values in enumerate(evaluated)], axis=1)
            keep = self._recent_length()
            self.recent_ = [y[-keep:].copy() for y in arrays]
            self.recent_weights_ = [anomaly.kept_weights(e, keep) for e in elements]
            self.n_seen_ = np.array([len(y) for y in arrays], dtype=np.int64)
            self.lost_buckets_ = [None] * len(arrays)  # a fit reads its series as given; updates find the lost buckets
            # What health measures each key's validation error against, beside its kept points' (as a predictor's
            # noise_scale_ row 0): an idle stretch of kept points after a busy fit is not the noise the fit had. Read
            # on the series as its validation read it (a burst it came back from as _settled reads it), as a
            # predictor's row 0 is.
            self.fit_naive_error_ = np.stack([naive_error(y, horizon) for y in evaluated])
            if self.robust:  # each key's newest non-zero points and their count, as a WorkloadPredictor keeps them
                busy = [anomaly.busy_values(y) for y in arrays]
                self.weight_nonzero_ = [_packed(kept) for kept, _ in busy]
                self.weight_nonzero_counts_ = np.stack([counts for _, counts in busy])
            # What the forecasts and updates read of the settings, as this fit read them (set since: a typed error).
            self.fitted_settings_ = {"linear_base": self.linear_base, "ridge": self.ridge, "robust": self.robust}
            self.fit_seconds_ = time.perf_counter() - start
            return self

    def _fit_bytes(self, training: list[np.ndarray], splits: list, lengths: list[int]) -> float:
        """An upper estimate of the bytes ``fit`` allocates besides the network (float64 unless said).

        The training and early-stopping windows as the network's patches (each key's, their
        concatenation, its float32 copy) and residual targets (targets, the base's features
        and forecast per key, then the same three); the base's statistics over every training
        origin and then the refit's (``BASE_CHUNK`` origins at a time: features, weighted
        copy, targets) with its Gram matrices and solves (at most five at once: the statistics,
        the refit's, a product, the penalised copy and the solve's); the validation forecast of
        every key's tail (:meth:`_forecast_bytes`); per point of each key, its standardised and
        settled copies, its weights, its origins and their temporaries (eight floats; some exist
        already when ``fit`` asks, so the estimate errs high); and each key's newest non-zero points
        (``weight_nonzero_``: ``anomaly.BUSY_KEPT`` rows each).
        """
        window, horizon, k = self.window_, self.horizon, self.n_targets_
        n_windows = sum(len(t) for t in training) + sum(len(split[1]) for split in splits)
        largest = max((len(t) for t in training), default=0) + max(len(split[1]) for split in splits)
        tensors = (8.0 * n_windows * (2.5 * window * k + 2.5 * horizon * k)
                   + 8.0 * largest * (2 * window * k + 2 * horizon * k + 1))
        chunk = min(BASE_CHUNK, max(lengths) - window - horizon + 1)  # a pass's origins (at most a key's all)
        p = window * k + 1
        base = 8.0 * chunk * (3 * p + 2 * horizon * k) + 8.0 * 5 * p * (p + horizon * k)
        n_validation = sum(len(split[2]) for split in splits)
        # The network's activations in the validation forecast are check_network_memory's (its n_eval).
        nonzero = 8.0 * k * anomaly.BUSY_KEPT * 2 * len(lengths)  # busy_values' rows and their padded copies
        return tensors + base + self._forecast_bytes(n_validation, activations=False) + 8.0 * 8 * sum(lengths) * k + nonzero

    def _forecast_bytes(self, m: float, activations: bool = True) -> float:
        """An upper estimate of the bytes :meth:`_forecast` allocates for ``m`` windows: their patches (float64,
        concatenated, float32), the base's features (windows, then with the intercept) and forecast, the
        network's output (float32, float64) and the forecasts; the level-following map's solve (at most five
        matrices of the base's statistics' size, :meth:`_following_coef`); and, with ``activations``, the
        network's activations (float32, a ``PREDICT_CHUNK`` of windows at a time)."""
        window, k, horizon = self.window_, self.n_targets_, self.horizon
        n_patches = window // self.patch_size_
        network = 4.0 * min(m, PREDICT_CHUNK) * n_patches * int(self.hidden_size) * (int(self.num_layers) + 4)
        p = window * k + 1
        return (8.0 * m * (4.5 * window * k + 6 * horizon * k + 2) + 8.0 * 5 * p * (p + horizon * k)
                + (network if activations else 0.0))

    def _spread(self, origins: np.ndarray) -> np.ndarray:
        """At most ``max_windows_per_key`` origins, spread evenly, the newest kept."""
        cap = self.max_windows_per_key
        if cap is None or len(origins) <= cap:
            return origins
        return origins[np.unique(np.round(np.linspace(0, len(origins) - 1, cap)).astype(np.int64))]

    def _train(self, init, seed, x_train, r_train, x_val, r_val, device, start):
        with _GLOBAL_RNG, torch.random.fork_rng(devices=[]):  # nn.LSTM's init draws from the global RNG
            # The CPU generator alone, which fork_rng restores: torch.manual_seed would also reseed every CUDA
            # (and MPS, XPU) device's generator, which fork_rng(devices=[]) leaves as this fit set them.
            torch.default_generator.manual_seed(seed)
            network = _PatchLSTM(*init)
        config = {"max_epochs": self.max_epochs, "batch_size": self.batch_size, "learning_rate": self.learning_rate,
                  "patience": self.patience, "max_time": time_left(self.max_training_time, start)}
        if self.distributed is not None and self.distributed != 1:
            from .distributed import train_data_parallel

            result = train_data_parallel(network, x_train, r_train, x_val, r_val, config, seed=seed,
                                         processes=self.distributed, device=device, n_threads=self.n_threads)
            return network.to(device).eval(), result
        network = network.to(device)
        if device.type == "cuda":  # one copy of the data onto the GPU: it is small next to its memory
            x_train, r_train, x_val, r_val = (t.pin_memory().to(device, non_blocking=True)
                                              for t in (x_train, r_train, x_val, r_val))
        with progress_bar(self.max_epochs, "global LSTM fit", self.verbose, unit="epoch") as bar:
            result = train_network(network, x_train, r_train, x_val, r_val, generator=torch.Generator().manual_seed(seed),
                                   progress=epoch_callback(bar, then=epoch_hook), device=device, **config)
        return network, result

    # -- the linear base -------------------------------------------------------------------
    def _features(self, z: np.ndarray, origins: np.ndarray, windows: np.ndarray | None = None) -> np.ndarray:
        """The base's features ``[m, W*k+1]`` of the windows at ``origins`` of ``z`` (``windows``: those windows
        ``[m, W, k]``, gathered already)."""
        windows = windows_at(z, origins, self.window_) if windows is None else windows  # [m, W, k]
        flat = windows.reshape(len(origins), self.window_ * self.n_targets_)
        return np.concatenate([flat, np.ones((len(origins), 1))], axis=1)  # [m, W*k+1]

    def _base_stats(self, z: list[np.ndarray], origins: list[np.ndarray], elements: list[np.ndarray | None],
                    read_after: bool = False, limits: list | None = None) -> tuple[np.ndarray, np.ndarray]:
        """The base's Gram and cross statistics of the windows at ``origins[i]`` (consecutive) of ``z[i]``, each
        window weighted by the lowest weight of its points (``elements[i]``: ``[T_i, k]`` weights of ``z[i]``'s
        points, ``None``: all 1), and with ``robust`` by :func:`_extent_weights` and, for windows read on a scale
        fitted before them (``read_after``: an update's), :func:`_level_weights`; a fit's windows are on the scale
        fitted on their own points (``limits[i]``: :func:`_level_limits`' for ``origins[i]``, ``None``:
        ``LEVEL_SHIFT``).
        ``BASE_CHUNK`` origins at a time: the float64 features of every window of a long series at once would be
        gigabytes."""
        p = self.window_ * self.n_targets_ + 1
        gram, cross = np.zeros((p, p)), np.zeros((p, self.horizon * self.n_targets_))
        for e, (zi, oi, element) in enumerate(zip(z, origins, elements)):
            if len(oi) == 0:
                continue
            limit = None if limits is None else limits[e]
            weights = window_weights(None if element is None else element.min(axis=1), oi, self.window_, self.horizon)
            for first in range(0, len(oi), BASE_CHUNK):
                chunk = oi[first : first + BASE_CHUNK]
                x = self._features(zi, chunk)  # [c, p]
                target = targets_at(zi, chunk, self.horizon).reshape(len(chunk), -1)  # [c, H*k]
                weight = None if weights is None else weights[first : first + BASE_CHUNK]  # [c]
                if self.robust:
                    weight = _extent_weights(x[:, :-1], target, weight)
                    if read_after:
                        weight = _level_weights(x[:, :-1], target, weight, self.n_targets_,
                                                None if limit is None else limit[first : first + BASE_CHUNK])
                weighted = x if weight is None else x * weight[:, None]  # [c, p]
                gram += weighted.T @ x
                cross += weighted.T @ target
        return gram, cross

    def _floor(self, i: int, nonzero: tuple[np.ndarray, np.ndarray] | None = None, n: int = 0) -> np.ndarray | None:
        """Key ``i``'s input-anomaly floor in force (``None``: ``robust=False``, or a file saved before the weights):
        its training part's (``weight_floor_``), or where more the typical burst of the points it has seen, as a
        ``WorkloadPredictor``'s update judges its buckets (:func:`anomaly.busy_floor` of ``nonzero``, its
        ``busy_values`` state (its rows, or :func:`_packed`'s arrays) once ``n`` points are seen; default the key's
        ``weight_nonzero_`` after its ``n_seen_``). A key that wakes from idle at 5,000 tokens has its wake flagged
        against its idle floor (1) only until ``anomaly.MIN_BUSY`` of its buckets are busy. A file saved before the state was kept keeps the
        training part's floor."""
        floor = getattr(self, "weight_floor_", None)
        if not self.robust or floor is None:
            return None
        if nonzero is None:
            kept = getattr(self, "weight_nonzero_", None)
            if kept is None:
                return floor[i]
            nonzero, n = (kept[i], self.weight_nonzero_counts_[i]), int(self.n_seen_[i])
        busy = anomaly.busy_floor(_unpacked(nonzero[0]), nonzero[1], n)
        return floor[i] if busy is None else np.maximum(floor[i], busy)

    def _element_weights(self, i: int, y: np.ndarray, start: int) -> np.ndarray | None:
        """The input-anomaly weights ``[T - start, k]`` of key ``i``'s points ``y[start:]`` (``None``: all 1), flagged
        against its floor in force (:meth:`_floor`)."""
        floor = self._floor(i)
        return None if floor is None else anomaly.element_weights(y, start, floor)

    def _fit_weights(self, i: int, y: np.ndarray) -> np.ndarray | None:
        """Key ``i``'s input-anomaly weights at fit (``None``: all 1), its first points, which have too few before
        them to be judged, judged against the points after them (:func:`anomaly.leading_weights`): a corrupt first
        bucket would otherwise set the key's scale and, as a target, its base (1e18 among counts of 5: a forecast
        of 1.5e15). Updates add windows after them only."""
        element = self._element_weights(i, y, 0)
        floor = self._floor(i)
        leading = anomaly.leading_weights(y, floor) if floor is not None else None
        if leading is None:
            return element
        return leading if element is None else np.minimum(element, leading)

    @staticmethod
    def _settled(y: np.ndarray, shift: int, floor: np.ndarray | None,
                 lost: np.ndarray | None = None) -> tuple[np.ndarray, list[tuple[int, int, int, float]]]:
        """A key's points ``y`` with each burst the series came back from read between the buckets around it (flagged
        against its ``floor``, :meth:`_floor`; ``None``: none), begun where a counter's run climbs into it
        (:func:`~workload_predictor.anomaly.with_leads`, as a predictor reads its bursts: a counter's first buckets,
        below the rule's margin, are not flagged), and each run of its ``lost`` buckets (positions in ``y``,
        ascending; ``None``: none) read as the median of the buckets before it
        (:func:`~workload_predictor.anomaly.lost_runs`, on ``y`` with its bursts settled), as a predictor reads its
        ``lost_buckets_``; and those runs, positions from the key's first point (``y[0]`` is its point ``shift``).

        A burst is read from its reference median towards the bucket before it and the bucket after it as the key's
        ordinary buckets correlate at lag 1 (:func:`~workload_predictor.anomaly.bridged`), where a predictor's models
        read it at that median (:func:`~workload_predictor.anomaly.settle`): the network's input window is short and
        its base weighs the lags, and a flat median over a third of a 24-bucket window, where a key cycling about 8
        requests had a trough and a peak, read its forecast 4.1 requests from its clean twin's; read so, 3.4
        (``tests/test_global_lstm_dense_bursts.py``). A burst in noise, and the middle of a long one, still read about
        the median."""
        bursts = [] if floor is None else anomaly.bursts(y, min(anomaly.REFERENCE_BUCKETS, len(y) - 1), floor)
        runs, found = bursts, []
        if lost is not None and len(lost):
            found = anomaly.lost_runs(anomaly.settle(y, runs) if runs else y, lost)
            if found:
                runs = sorted([*runs, *found])
        if not runs:
            return y, []
        settled = anomaly.bridged(y, anomaly.settle(y, runs), bursts, found)
        return settled, anomaly.shifted_runs(runs, shift, shift + len(y))

    def _kept_lost(self, i: int, shift: int, length: int) -> np.ndarray | None:
        """Key ``i``'s lost buckets (``lost_buckets_``) as positions among ``length`` of its points from its point
        ``shift`` on; ``None``: none there (or none kept: a file saved before them)."""
        lost = (getattr(self, "lost_buckets_", None) or [None] * len(self.keys_))[i]
        if lost is None:
            return None
        lost = lost[(lost >= shift) & (lost < shift + length)] - shift
        return lost if len(lost) else None

    def _settled_recent(self) -> list[np.ndarray]:
        """Each key's kept points as a forecast reads them (:meth:`_settled`, its lost buckets at their reference
        medians too), found once per fit or update (kept
        beside the model, not in it: a model file does not carry them), for the kept points and ``robust`` they
        were found for."""
        recent, robust = self.recent_, self.robust
        cached = _SETTLED_RECENT.get(self)
        if cached is None or cached[0] is not recent or cached[1] != robust:  # refitted, updated or set since
            seen = self.n_seen_
            cached = _SETTLED_RECENT[self] = (recent, robust, [
                self._settled(r, 0, self._floor(i), self._kept_lost(i, int(seen[i]) - len(r), len(r)))[0]
                for i, r in enumerate(recent)])
        return cached[2]

    def _rescaled(self, keys: Sequence[int], ys: Sequence[np.ndarray], olds: Sequence[int],
                  scaling: tuple[np.ndarray, np.ndarray, np.ndarray | None]) -> tuple[np.ndarray, np.ndarray, Any]:
        """``scaling`` (``offset_``, ``scale_``, ``scale_pending_``; new arrays where one changes) with each target of
        key ``keys[j]`` still pending (constant at its offset where its scale was last set) scaled from its points in
        ``ys[j]`` since the first that left that constant, as a fit on them would: after its run at the constant that
        ends the ``olds[j]`` points it already held (kept points before an update's; 0 at fit). ``None`` pending (a
        file saved before it was kept): none is rescaled.

        A pending target's scale is ``fit_scale``'s fallback, ``max(1, |offset|)`` (an idle key's 1): kept, it read an
        idle key woken at 100 requests as 100 scales, far past ``WINDOW_EXTENT``, and its forecast stayed about 0.
        Its weight floor came from the same constant (``anomaly.floor_of``: 1 for an idle key), against which a new
        level of 5,000 tokens is a sentinel flagged again and again: the points are weighed against the floor of all
        of ``ys[j]`` (which a few corrupt buckets do not set: ``anomaly.MIN_BUSY``), and the target varies where its
        unflagged points do (one corrupt bucket, flagged, sets nothing). Where they are constant at a new level, that
        level is its offset and fallback scale, and it stays pending (forecast at it: :meth:`_forecast`)."""
        offset, scale, pending = scaling
        if pending is None or not pending[list(keys)].any():
            return offset, scale, pending
        offset, scale, pending = offset.copy(), scale.copy(), pending.copy()
        for i, y, old in zip(keys, ys, olds):
            for col in np.flatnonzero(pending[i]):
                other = np.flatnonzero(y[:, col] != offset[i, col])
                run = 1 + int(other[other < old][-1]) if (other < old).any() else 0  # where its held run began
                if not (other >= run).any():
                    continue
                first = int(other[other >= run][0])
                column = y[:, col : col + 1]  # [T, 1]
                weights = anomaly.element_weights(column, 0, anomaly.floor_of(column)) if self.robust else None
                column = column[first:]
                weights = None if weights is None else weights[first:]
                ordinary = column if weights is None else column[weights[:, 0] == 1.0]
                if not len(ordinary):
                    continue
                mean, spread, constant = fit_scale(ordinary, return_constant=True)
                if constant[0]:
                    offset[i, col], scale[i, col] = mean[0], spread[0]
                else:
                    mean, spread = fit_scale(column, weights)
                    offset[i, col], scale[i, col], pending[i, col] = mean[0], spread[0], False
        return offset, scale, pending

    def _level_rescaled(self, keys: Sequence[int], ys: Sequence[np.ndarray], elements: Sequence[np.ndarray | None],
                        offset: np.ndarray, scale: np.ndarray, pending: np.ndarray | None,
                        spreads: np.ndarray, shifted: dict | None = None, idle: set | None = None) -> list[tuple]:
        """For each key ``keys[j]``: ``(offset, scale, first)``, its ``[k]`` scaling for its windows from point
        ``first`` of ``ys[j]`` on (its kept and new points, each burst the series came back from read as a forecast
        reads it: :meth:`_settled`), and for its next forecasts and updates.

        That is its scaling in force (``first``: ``len(ys[j])``, none), except for each target whose level moved: its
        newest patches (their means, counted from the newest) sit on one side of its offset over at least a window and
        its targets (``window + horizon`` points), and those of that run that sit nearer the level of its newest
        window and targets than its offset (from the first that does) lie past ``LEVEL_SHIFT`` of its scales on
        average, over at least a window and its targets still. It is scaled from those points, the first of them
        from its first point that sits nearer that level too (a patch may straddle the shift: one old point among a
        run of zeros made a scale of neither; ``first``: the earliest of them, of its targets so scaled), each counted
        by its weight (``elements[j]``, ``None``: all 1), as
        a fit on them would. A pending target (:meth:`_rescaled`'s) or one constant over them keeps its scaling. So
        does one whose points since hold runs of zero loads (:func:`_outside_zero_runs`: idle or zero-filled buckets)
        unless its points outside them sit past ``LEVEL_SHIFT`` on average too: two gaps of 7 zero-filled buckets
        beside a trough of its period put a key at 120 requests 2.1 of its scales below its offset though it came
        back after each (its counts among them: 0.8), and scaled again on them it forecast [71 73 74] for [162 175 180];
        a key that drops to a level where zeros come in runs is still scaled again. A target constant over those
        points (an endpoint drained to 0, or to a health check's one request a bucket) is scaled as a fit on them
        scales a constant (its offset the constant, its scale ``max(1, |offset|)``) and added to ``idle`` (``(key,
        target)``; ``None``: a file saved before ``scale_pending_`` was kept, left as it was) to be made pending, so
        that it wakes as an idle key does (:meth:`_rescaled`): read on its busy scale, each of its constant windows
        weighed about an ordinary window in the shared base along the level (:func:`_level_weights`), and an
        endpoint drained for an update of 60 buckets moved the other keys' forecasts by 4 to 21 times what a new
        draw of its points did.

        Each patch on one side, not past ``LEVEL_SHIFT``: a key's period swings its patches by as much as its level
        moved (a key at half its level: 2.1 scales out, its patches 1.4 to 2.8), and its first patches after a shift
        by the swing of its old level. The base is shared: a key read on a scale its points have left weighs
        ``level^2`` ordinary windows in it (:func:`_level_weights` bounds that), and its forecast is the fitted map's
        on windows it was never fitted on. Scaled again, its windows within those points are ordinary ones for the
        base, the network and its forecast; the windows wholly before them are read on the scale they were forecast
        on, and those reaching across their first point, on neither, are left out of the base."""
        patch, span = self.patch_size_, self.window_ + self.horizon
        newest = -(-span // patch)  # the patches a window and its targets need
        read = [(offset[i], scale[i], len(y)) for i, y in zip(keys, ys)]
        long = [j for j, y in enumerate(ys) if len(y) >= newest * patch]
        if not long:
            return read
        rows = [keys[j] for j in long]
        tails = np.stack([ys[j][len(ys[j]) - newest * patch :] for j in long])  # [l, newest * patch, k]
        tails -= offset[rows][:, None]
        tails /= scale[rows][:, None]
        level = tails.reshape(len(long), newest, patch, -1).mean(axis=2)  # [l, newest, k]
        candidates = (level > 0).all(axis=1) | (level < 0).all(axis=1)  # [l, k]: on one side of its offset
        if pending is not None:
            candidates &= ~pending[rows]
        for j, candidate in zip(long, candidates):
            if not candidate.any():
                continue
            i, y, element = keys[j], ys[j], elements[j]
            moved_offset, moved_scale, first = read[j]
            n_patches = len(y) // patch  # the run of patches on that side, as far back as it goes
            level = ((y[len(y) - n_patches * patch :] - offset[i]) / scale[i]).reshape(n_patches, patch, -1).mean(axis=1)
            for col in np.flatnonzero(candidate):
                side = np.sign(level[-1, col]) * level[:, col] > 0  # [n_patches]: on the newest's side
                run = n_patches - (int(np.flatnonzero(~side)[-1]) + 1 if not side.all() else 0)  # newest patches so
                moved = np.abs(level[n_patches - run :, col])  # [run]
                # its first patches nearer its offset than the level of its newest ones are still at the old level
                half = moved[-newest:].mean() / 2
                run -= int(np.argmax(moved > half))
                if run * patch < span or moved[-run:].mean() <= LEVEL_SHIFT:
                    continue
                # patches are counted from the newest point, so the run's first may begin with points of the old
                # level: its points from the first that sits past half the newest level too
                start = len(y) - run * patch
                points = np.sign(level[-1, col]) * (y[start : start + patch, col] - offset[i, col]) / scale[i, col]
                start += int(np.argmax(points > half))
                if len(y) - start < span:
                    continue
                busy = _outside_zero_runs(y[start:, col])
                drained = not y[start:, col].any()  # all 0 since: no gap, a constant (read below)
                if not drained and not busy.all() and not (busy.any() and np.sign(level[-1, col]) * (
                        y[start:, col][busy] - offset[i, col]).mean() / scale[i, col] > LEVEL_SHIFT):
                    continue  # its points outside its runs of zero loads sit within LEVEL_SHIFT: a gap, not a shift
                weights = None if element is None else element[start:, col : col + 1]
                mean, spread, constant = fit_scale(y[start:, col : col + 1], weights, return_constant=True)
                if constant[0]:  # constant since, scaled as a fit scales it: pending until it leaves it (_rescaled)
                    if idle is None:  # a file saved before scale_pending_ was kept: none is pending
                        continue
                    idle.add((i, int(col)))
                if first == len(y):
                    moved_offset, moved_scale = moved_offset.copy(), moved_scale.copy()
                moved_offset[col], moved_scale[col], first = mean[0], spread[0], min(first, start)
            read[j] = (moved_offset, moved_scale, first)
        if self.robust:
            self._shift_rescaled(read, keys, ys, elements, offset, scale, pending, spreads, long, tails,
                                 {} if shifted is None else shifted)
        return read

    def _shift_rescaled(self, read: list[tuple], keys: Sequence[int], ys: Sequence[np.ndarray],
                        elements: Sequence[np.ndarray | None], offset: np.ndarray, scale: np.ndarray,
                        pending: np.ndarray | None, spreads: np.ndarray, long: list[int], tails: np.ndarray,
                        shifted: dict) -> None:
        """:meth:`_level_rescaled`'s ``read`` (changed in place), with each target it did not scale again whose level
        moved by less than ``LEVEL_SHIFT`` of its key's scales but past where its windows' means sit: scaled from its
        points since the shift (each counted by its weight, ``elements[j]``), as a fit on them would. ``long``: the
        positions in ``keys`` of those with at least ``tails.shape[1]`` points, their newest standardised ``tails``
        (``[l, n, k]``, ``n`` at least a window and its targets).

        Its limit is ``LEVEL_SPREADS`` times the spread of its fitted windows' means (``spreads``: ``[n_keys, k]``,
        ``level_spread_``, in its loads) on its scale, ``LEVEL_SHIFT`` where that is less (the rule of
        :meth:`_level_rescaled` past it). Every window among its newest window and targets has its mean past its
        limit on one side of its offset. The
        shift is the split of its kept and new points ``ys[j]`` into two means that explains most of their spread
        (least squares: one step); it is scaled again where at least a window and its targets follow the shift and
        each window after it has its mean past its limit, on that side, and so has the mean of its points outside the
        runs of zero loads (two buckets or more in a row, idle or zero-filled: with them, a gap of 7 zero-filled
        buckets beside a trough of its period puts every window after the step past the limit of a key at 8.5
        requests that comes back after it, and on the new scale, which stays, its forecasts' error over the next 120
        buckets is 20 % higher; a single zero stays in: one of a Poisson key's counts at half its level). The spread
        is kept from its fit, so a shift is found however few points each update brings: the points before it need not be among those kept. A key at 1.3 times its level (1.25 of its scales out) swings
        across its offset by its period (its patches do, 1.6 either way, so :meth:`_level_rescaled` does not scale
        it again) while its windows' means sit 17 robust spreads out; read on its old scale, each of its windows
        would weigh about ``17^2`` of its ordinary ones along the level in the shared base, which ordinary windows
        barely set, and move the other keys' forecasts (by 0.4-0.5 of their scales in one update)."""
        window, span = self.window_, self.window_ + self.horizon
        self._shift_undone(read, keys, ys, offset, scale, pending, spreads, long, shifted)
        rows = [keys[j] for j in long]
        limit = np.minimum(LEVEL_SHIFT, LEVEL_SPREADS * spreads[rows] / scale[rows])  # [l, k]
        newest = _window_means(tails[:, tails.shape[1] - span :], window)  # [l, H + 1, k]: among its newest window and targets
        past = ((newest > limit[:, None]).all(axis=1) | (newest < -limit[:, None]).all(axis=1)) & (limit < LEVEL_SHIFT)
        if pending is not None:
            past &= ~pending[rows]
        for row in np.flatnonzero(past.any(axis=1)):
            j, i = long[int(row)], rows[int(row)]
            y, n = ys[j], len(ys[j])
            moved_offset, moved_scale, first = read[j]
            for col in np.flatnonzero(past[row] & (moved_offset == offset[i]) & (moved_scale == scale[i])):
                column = (y[:, col] - offset[i, col]) / scale[i, col]
                sums = np.concatenate([[0.0], np.cumsum(column)])
                t = np.arange(1, n)
                before, after = sums[t] / t, (sums[n] - sums[t]) / (n - t)
                start = int(t[np.argmax(t * (n - t) * (before - after) ** 2)])
                if n - start < span:  # not yet a window and its targets since the shift
                    continue
                later = _window_means(column[start:, None], window)[:, 0]  # the windows wholly after the shift
                if not ((later > limit[row, col]).all() or (later < -limit[row, col]).all()):
                    continue
                busy = _outside_zero_runs(y[start:, col])
                if not busy.all():  # each window's mean of its points outside the runs of zero loads, past it too
                    counts = _window_means(busy[:, None].astype(float), window)[:, 0]
                    sums = _window_means(np.where(busy, column[start:], 0.0)[:, None], window)[:, 0]
                    later = np.where(counts > 0, sums / np.maximum(counts, 1.0 / window), later)
                    if not ((later > limit[row, col]).all() or (later < -limit[row, col]).all()):
                        continue
                weights = None if elements[j] is None else elements[j][start:, col : col + 1]
                mean, spread, constant = fit_scale(y[start:, col : col + 1], weights, return_constant=True)
                if constant[0]:
                    continue
                if first == n:
                    moved_offset, moved_scale = moved_offset.copy(), moved_scale.copy()
                moved_offset[col], moved_scale[col], first = mean[0], spread[0], min(first, start)
                before = getattr(self, "scaling_before_shift_", None)
                if before is None or np.isnan(before[0, i, col]):  # the scaling it had before its first such shift
                    shifted[(i, int(col))] = (float(offset[i, col]), float(scale[i, col]))
            read[j] = (moved_offset, moved_scale, first)

    def _shift_undone(self, read: list[tuple], keys: Sequence[int], ys: Sequence[np.ndarray], offset: np.ndarray,
                      scale: np.ndarray, pending: np.ndarray | None, spreads: np.ndarray, long: list[int],
                      shifted: dict) -> None:
        """:meth:`_shift_rescaled`'s rule in reverse (``read`` changed in place): a target that rule scaled again
        (``scaling_before_shift_``: the offset and scale it had before) whose newest windows are back within that
        scaling's limit gets it again. Its limit there is ``LEVEL_SPREADS`` spreads of its fitted windows' means
        (``spreads``) on that scale, ``LEVEL_SHIFT`` where that is less; every window among its newest window and
        targets has its mean within it and nearer that offset than the one it has (a key still at its shifted level,
        whose windows swing across the old limit, keeps its scaling), and it is scaled so from the first of the run of
        such windows (``shifted[(key, target)]``: ``None``, none kept). Scaled from its points since it came back
        instead, a key that moved to 1.3 times its level for 150 buckets and back kept the scale of those few points:
        its forecasts' error over the next 350 buckets was 29 % above a twin's that never moved, 9 % given its
        scaling back."""
        before = getattr(self, "scaling_before_shift_", None)
        if before is None:
            return
        window, span = self.window_, self.window_ + self.horizon
        held = ~np.isnan(before[0])  # [n_keys, k]
        if pending is not None:
            held &= ~pending
        rows = [keys[j] for j in long]
        for j in np.asarray(long)[held[rows].any(axis=1)] if rows else ():
            i, y = keys[j], ys[j]
            cols = np.flatnonzero(held[i])
            moved_offset, moved_scale, first = read[j]
            for col in cols:
                if moved_offset[col] != offset[i, col] or moved_scale[col] != scale[i, col]:
                    continue  # scaled again by a level past LEVEL_SHIFT in this update
                old_offset, old_scale = before[:, i, col]
                limit = min(LEVEL_SHIFT, LEVEL_SPREADS * spreads[i, col] / old_scale)
                means = _window_means(y[:, col : col + 1], window)[:, 0]  # in its loads
                # within that limit, and nearer that offset than the one it has: a key still at its shifted level
                # whose windows swing within the limit stays as it is
                within = (np.abs(means - old_offset) <= limit * old_scale) & (
                    np.abs(means - old_offset) < np.abs(means - offset[i, col]))
                run = len(within) - (int(np.flatnonzero(~within)[-1]) + 1 if not within.all() else 0)
                if run < span - window + 1:  # not every window among its newest window and targets
                    continue
                if first == len(y):
                    moved_offset, moved_scale = moved_offset.copy(), moved_scale.copy()
                moved_offset[col], moved_scale[col] = old_offset, old_scale
                first = min(first, len(means) - run)
                shifted[(i, int(col))] = None
            read[j] = (moved_offset, moved_scale, first)

    def _spreads(self) -> np.ndarray:
        """``level_spread_``, or for a file saved before it was kept, the spread of each key's kept points' windows'
        means (:func:`_level_spreads`; infinite for a pending target)."""
        spreads = getattr(self, "level_spread_", None)
        if spreads is not None:
            return spreads
        spreads = np.stack([_level_spreads((r - self.offset_[i]) / self.scale_[i], self.window_)
                            for i, r in enumerate(self.recent_)]) * self.scale_
        pending = getattr(self, "scale_pending_", None)
        if pending is not None:
            spreads[pending] = np.inf
        return spreads

    def _solve_base(self) -> np.ndarray:
        p = len(self.base_gram_)
        penalty = self.ridge * np.trace(self.base_gram_[:-1, :-1]) / max(1, p - 1)
        ridge = np.full(p, max(penalty, 1e-12))
        ridge[-1] = 1e-12  # the intercept is not shrunk
        return np.linalg.solve(self.base_gram_ + np.diag(ridge), self.base_cross_)  # [p, H*k]

    def _base_forecast(self, z: np.ndarray, origins: np.ndarray, windows: np.ndarray | None = None) -> np.ndarray:
        if not self.linear_base:
            return np.zeros((len(origins), self.horizon * self.n_targets_))
        return self._features(z, origins, windows) @ self.base_coef_  # [m, H*k]

    def _followed(self, base: np.ndarray, newest: np.ndarray, z: list[np.ndarray], origins: list[np.ndarray],
                  window_level: np.ndarray | None = None) -> np.ndarray:
        """The base's forecasts ``base`` (``[m, H*k]``, of the windows at ``origins[i]`` of ``z[i]``, in that order)
        with each window whose newest patch (``newest``: ``[m, P*k]``) sits further than ``LEVEL_NEAR`` of its key's
        scales from its offset (its mean, per target) forecast toward the level-following map
        (:meth:`_following_coef`), wholly past ``LEVEL_FAR``; and each whose mean (``window_level``: ``[m, k]``,
        ``None``: not read) sits past ``LEVEL_SHIFT``, by at least the share the base's level weights take from such
        a window in an update (``1 - (LEVEL_SHIFT / level)^4``, :func:`_level_weights`); the others' as they are.

        The base is fitted on standardised windows, which sit near their key's offset: nothing in them says how a
        window far from it goes on, and the fitted map's weights sum to about 2 there (1.7-2.7 a step on a fleet of
        three keys), so a key at Poisson(100) that dropped to Poisson(20) was forecast 2.6 after 50 buckets (a
        per-key DLinear 17.9) and one that rose from 20 to 100 was forecast 150 (108). Forecasts only: the network's
        residual targets are the fitted map's. A key at three times its level (8 of its scales out) has newest
        patches its period swings to 4-5 scales, and the fitted map would forecast it near its old level until it is
        scaled again (:meth:`_level_rescaled`); its window's mean swings less."""
        if not self.linear_base or not len(base):
            return base
        k = self.n_targets_
        level = np.add.reduce(newest.reshape(len(newest), self.patch_size_, k), axis=1, dtype=np.float64)
        level /= self.patch_size_  # [m, k]: each window's newest patch's mean, target by target
        outside = ~(np.abs(level) <= LEVEL_NEAR)  # a share above 0 (or NaN)
        if window_level is not None:
            outside |= np.abs(window_level) > LEVEL_SHIFT
        far = np.flatnonzero(outside.any(axis=1))
        if not len(far):
            return base
        share = np.clip((np.abs(level[far]) - LEVEL_NEAR) / (LEVEL_FAR - LEVEL_NEAR), 0.0, 1.0)  # [f, k]
        if window_level is not None:  # the share the base's level weights take from such a window
            shifted = np.maximum(np.abs(window_level[far]), LEVEL_SHIFT)
            share = np.maximum(share, 1.0 - (LEVEL_SHIFT / shifted) ** 4)
        first = np.cumsum([0] + [len(o) for o in origins])  # each key's first row
        features = []
        for i in np.unique(np.searchsorted(first, far, side="right") - 1):  # the keys of the far windows
            rows = far[(far >= first[i]) & (far < first[i + 1])]
            features.append(self._features(z[i], origins[i][rows - first[i]]))
        share = np.tile(share, (1, self.horizon))  # [f, H*k]: output (h, t) is column h*k + t
        base = base.copy()
        base[far] = (1 - share) * base[far] + share * (np.concatenate(features) @ self._following_coef())
        return base

    def _following_coef(self) -> np.ndarray:
        """The level-following map ``[W*k+1, H*k]`` on the base's features: the ridge regression of each window less
        its target's newest input onto its targets less the same (NLinear's normalisation, as DLinear's
        ``follow_level``), solved from the base's statistics (``S f`` for the features ``f``; ``S G S^T`` and
        ``S (C - G P^T)`` with ``P`` picking each output's newest input) with DLinear's penalty (``FOLLOW_ALPHA``, which
        shrinks it toward that input), and mapped back to the raw features: each step's weights on a target's inputs
        sum to one, so a window's level carries to its forecast. Solved once per state of the statistics."""
        gram, cross = self.base_gram_, self.base_cross_
        cached = _FOLLOWING.get(self)
        if cached is not None and cached[0] is gram and cached[1] is cross:
            return cached[2]
        p, k = len(gram), self.n_targets_
        newest = np.zeros((p - 1, k))  # [W*k, k]: each target's newest input
        newest[(self.window_ - 1) * k :] = np.eye(k)
        shift = np.eye(p)  # S: each input less its target's newest
        shift[:-1, :-1] -= np.tile(np.eye(k), (self.window_, 1)) @ newest.T
        picks = np.tile(newest, (1, self.horizon))  # [W*k, H*k]: P^T
        shifted_gram = shift @ gram @ shift.T
        shifted_cross = shift @ (cross - gram[:, :-1] @ picks)
        ridge = np.full(p, max(FOLLOW_ALPHA * np.trace(shifted_gram[:-1, :-1]) / max(1, p - 1), 1e-12))
        ridge[-1] = 1e-12  # the intercept is not shrunk
        coef = shift.T @ np.linalg.solve(shifted_gram + np.diag(ridge), shifted_cross)
        coef[:-1] += picks
        _FOLLOWING[self] = (gram, cross, coef)
        return coef

    # -- tensors and forecasts -------------------------------------------------------------
    def _tensors(self, z: list[np.ndarray], origins: list[np.ndarray], with_targets: bool):
        """Patches ``[m, L, P*k]`` of every key's windows, float32 on the host, and the residual targets ``[m, H*k]``
        (float32 tensors) or, without targets, the base's forecasts ``[m, H*k]`` (float64), each key's windows
        gathered once for both."""
        patches, second = [], []
        n_patches = self.window_ // self.patch_size_
        for zi, oi in zip(z, origins):
            windows = windows_at(zi, oi, self.window_)  # [m_i, W, k]
            patches.append(windows.reshape(len(oi), n_patches, self.patch_size_ * self.n_targets_))  # [m_i, L, P*k]
            base = self._base_forecast(zi, oi, windows)  # [m_i, H*k]
            if with_targets:
                second.append(targets_at(zi, oi, self.horizon).reshape(len(oi), -1) - base)  # [m_i, H*k]
            else:
                second.append(base)
        x = torch.from_numpy(np.concatenate(patches).astype(np.float32))
        if not with_targets:
            return x, np.concatenate(second)
        return x, torch.from_numpy(np.concatenate(second).astype(np.float32))

    def _forecast(self, series: list[np.ndarray], origins: list[np.ndarray], keys: list[int] | None = None,
                  elements: Sequence[np.ndarray | None] | None = None) -> list[np.ndarray]:
        """Forecasts ``[m_i, H, k]`` at ``origins[i]`` of ``series[i]`` (key ``keys[i]``, default ``i``): one batched pass;
        with ``elements`` (``[T_i, k]`` input-anomaly weights of ``series[i]``'s points, ``None``: all 1), a window whose
        inputs hold flagged points of some targets forecasts the others as :meth:`_unspilled` does."""
        keys = list(range(len(series))) if keys is None else keys
        # A pending target has no spread to read its inputs on: they are read at its constant (0), as its forecast is.
        # On its placeholder scale a woken idle key's 5,000 tokens (flagged until they set its scale) would stand 5,000
        # scales out and take the key's other targets with them (its requests at 100 forecast 20,932).
        # The keys with a pending target (their positions in ``keys``), found in one pass; the others' inputs are read
        # on their scale, as their read masks (all 1) leave them.
        pending = getattr(self, "scale_pending_", None)
        if pending is None or not pending.any():
            waking, read = [], None
        else:
            waking = np.flatnonzero(pending[keys].any(axis=1)).tolist()
            read = (~pending).astype(float)  # [n_keys, k]
        z = [(y - self.offset_[j]) / self.scale_[j] for y, j in zip(series, keys)]
        for i in waking:
            z[i] = z[i] * read[keys[i]]
        counts = [len(o) for o in origins]
        if sum(counts) == 0:
            return [np.zeros((0, self.horizon, self.n_targets_)) for _ in series]
        forecast_z = self._forecast_z(z, origins)  # [m, H, k]
        if elements is not None and self.n_targets_ > 1:
            self._unspilled(forecast_z, z, origins, elements, series)
        # Scaled back by each target's spread: a pending one's is 0 (its scale_ only keeps its inputs finite), so a
        # target that has shown one value is forecast at it, as its validation windows (all at it) calibrate.
        # A pending target whose newest points have left its constant (all flagged: fewer than anomaly.MIN_BUSY busy yet,
        # so they set no scale) is forecast at their mean, as a per-key model reads its newest window (an idle key woken
        # by 10 buckets of ~5,000 tokens: 5,016, a per-key DLinear 4,978).
        spread = self.scale_ if read is None else self.scale_ * read  # [n_keys, k]
        out, first = [], 0
        for j, count in zip(keys, counts):
            out.append(forecast_z[first : first + count] * spread[j] + self.offset_[j])
            first += count
        for i in waking:
            j = keys[i]
            for col in np.flatnonzero(read[j] == 0):  # its pending targets
                out[i][:, :, col] = _level_since(series[i][:, col], self.offset_[j, col], origins[i])[:, None]
        return out

    def _forecast_z(self, z: list[np.ndarray], origins: list[np.ndarray]) -> np.ndarray:
        """Standardised forecasts ``[m, H, k]`` of the windows at ``origins[i]`` of ``z[i]`` (at least one), in that order:
        the base (:meth:`_followed`) plus the network's residual, one batched pass."""
        network = inference_network(self.network_, self.quantize)
        device = next(network.parameters(), torch.empty(0)).device if self.quantize is None else torch.device("cpu")
        with torch_threads(self.n_threads), torch.inference_mode():
            x, base = self._tensors(z, origins, with_targets=False)  # [m, L, P*k], [m, H*k]
            if device.type == "cuda":
                x = x.pin_memory()
            residual = forward_in_chunks(network, x, device, PREDICT_CHUNK)  # [m, H*k]
        inputs = x.numpy()
        window_level = np.add.reduce(inputs.reshape(len(inputs), -1, self.n_targets_), axis=1, dtype=np.float64)
        window_level /= self.window_  # [m, k]: each window's mean, target by target
        base = self._followed(base, inputs[:, -1], z, origins, window_level)  # a window far from its key's scale
        return (base + residual).reshape(-1, self.horizon, self.n_targets_)  # [m, H, k]

    def _unspilled(self, forecast_z: np.ndarray, z: list[np.ndarray], origins: list[np.ndarray],
                   elements: Sequence[np.ndarray | None], series: Sequence[np.ndarray]) -> None:
        """``forecast_z`` (``[m, H, k]``, :meth:`_forecast_z`'s of the windows at ``origins[i]`` of ``z[i]``), changed in
        place: in each window whose inputs hold points of some targets flagged as input anomalies (``elements[i]``:
        ``[T_i, k]`` weights of ``z[i]``'s points, below 1; ``None``: none) but none of others, those others are
        forecast from the window with each flagged target's inputs read as the mean of theirs (standardised).

        The base and the network read every target of a key's window: a key's targets move together (tokens follow
        requests), and where they are near collinear the fitted map spreads each target's forecast over all of them
        (its weights on one target's inputs can be larger for another target than for its own). A fault in one
        target's buckets would move the key's clean targets: read as they are, a cumulative counter exported for
        requests (flagged from its fifth bucket) forecast its tokens up to 3.75 times their level, and those
        validation windows would keep their interval 1.2-1.3 times their level wider as long as they are kept. Read
        as the clean targets show them, the flagged target's inputs look to the map as its training
        windows did; where the targets do not move together the map's weights across them are small, and so is
        the change. The flagged target's own forecast reads its inputs as they are.

        A flagged run is read as begun where the climb into it began (:func:`_with_leads`, of ``series[i]``, the
        points ``z[i]`` standardises): a counter's first buckets, below the rule's margin, are not flagged, and the
        windows holding them and no later bucket moved the tokens by 0.5-1.5 of their scales."""
        k, window = self.n_targets_, self.window_
        first = np.cumsum([0] + [len(o) for o in origins])  # each key's first row
        read, read_origins, rows, own = [], [], [], []
        for i, (zi, oi, element) in enumerate(zip(z, origins, elements)):
            if element is None or not len(oi):
                continue
            flagged = element < 1.0  # [T, k]
            if not flagged.any():
                continue
            flagged = _with_leads(series[i], flagged, int(oi.min()) - window, int(oi.max()))
            counts = np.concatenate([np.zeros((1, k), dtype=np.int64), np.cumsum(flagged, axis=0)])
            inside = counts[oi] > counts[oi - window]  # [m_i, k]: flagged inputs in the window, by target
            mixed = np.flatnonzero(inside.any(axis=1) & ~inside.all(axis=1))
            if not len(mixed):
                continue
            windows = windows_at(zi, oi[mixed], window).copy()  # [r, W, k]
            clean = ~inside[mixed]  # [r, k]
            proxy = (windows * clean[:, None]).sum(axis=2) / clean.sum(axis=1)[:, None]  # [r, W]
            windows = np.where(clean[:, None], windows, proxy[:, :, None])
            read.append(windows.reshape(-1, k))  # the windows end to end, each forecast at its end
            read_origins.append(window * np.arange(1, len(mixed) + 1))
            rows.append(first[i] + mixed)
            own.append(inside[mixed])
        if not read:
            return
        rows, own = np.concatenate(rows), np.concatenate(own)  # [r], [r, k]
        forecast_z[rows] = np.where(own[:, None, :], forecast_z[rows], self._forecast_z(read, read_origins))

    # -- predict ---------------------------------------------------------------------------
    def predict(self, steps: int | None = None) -> list[np.ndarray]:
        """Each fitted key's forecast ``(steps, k)`` after its last point, in ``keys_`` order: loads, clipped at 0 as
        a fleet's forecast of the key is (the map may forecast below 0, e.g. on a load falling to 0;
        :meth:`_map_predict` gives it unclipped)."""
        return [np.maximum(forecast, 0.0) for forecast in self._map_predict(steps)]

    def _map_predict(self, steps: int | None = None) -> list[np.ndarray]:
        """:meth:`predict` unclipped: the model's map (what a fleet reads, and clips, and a model file's check)."""
        check_is_fitted(self, "network_")
        self._check_fitted_settings()
        steps = self.horizon if steps is None else steps
        if not is_positive_int(steps) or steps > self.horizon:
            raise WorkloadDataError(f"steps={quote(steps)} must be an integer in [1, horizon={self.horizon}].")
        recent = self._settled_recent()  # a burst the series came back from read between the buckets around it
        forecasts = self._forecast(recent, [np.array([len(r)]) for r in recent], elements=getattr(self, "recent_weights_", None))
        return [f[0, :steps] for f in forecasts]

    def predict_at(self, series: Sequence[Any], origins: Sequence[Any]) -> list[np.ndarray]:
        """Forecasts ``(len(origins[i]), horizon, k)`` from ``series[i]`` (aligned with ``keys_``) before each origin:
        loads, clipped at 0 as :meth:`predict`'s (:meth:`_map_predict_at`: unclipped)."""
        return [np.maximum(forecast, 0.0) for forecast in self._map_predict_at(series, origins)]

    def _map_predict_at(self, series: Sequence[Any], origins: Sequence[Any]) -> list[np.ndarray]:
        """:meth:`predict_at` unclipped: the model's map, as a teacher's students learn from it."""
        check_is_fitted(self, "network_")
        self._check_fitted_settings()
        if len(series) != len(self.keys_) or len(origins) != len(self.keys_):
            raise WorkloadDataError(f"pass one series and one origin array per fitted key ({len(self.keys_)}).")
        arrays, checked = [], []
        for key, values, o in zip(self.keys_, series, origins):
            y, _ = as_matrix(values, f"series[{quote(key)}]")
            o = np.asarray(o, dtype=np.int64).reshape(-1)
            if len(o) and (o.min() < self.window_ or o.max() > len(y)):
                raise WorkloadDataError(f"origins of key {quote(key)} must lie in [{self.window_}, {len(y)}] so each "
                                        "has a full input window.")
            arrays.append(y)
            checked.append(o)
        return self._forecast(arrays, checked)

    # -- update ----------------------------------------------------------------------------
    def _recent_length(self) -> int:
        """The newest window's inputs and targets, and the input-anomaly rule's reference before them (a forecast
        reads a burst the series came back from between the buckets around it: :meth:`_settled`), at least
        ``HISTORY_BUCKETS``."""
        if not self.robust:
            return self.window_ + self.horizon - 1
        return max(self.window_ + self.horizon - 1 + anomaly.REFERENCE_BUCKETS, anomaly.HISTORY_BUCKETS)

    @anomaly.keeping_scans  # a key's settled points and its new points' weights read the same scan of its points
    def update(self, new_series: Sequence[Any], filled: Sequence[Any] | None = None) -> GlobalLSTM:
        """Append each key's new points (one ``(m_i, k)`` array per key of ``keys_``, ``m_i`` may be 0).

        ``filled`` (``None``: none) names, per key, the positions among its new points that no row came for (zero-filled
        by the caller's gap filling, 0 in every target: an int array, ascending, or ``None``; anything else is a
        ``WorkloadDataError``). Each run of them whose reference (the
        ``anomaly.REFERENCE_BUCKETS`` kept points before it, less the lost and flagged ones) says it was a load, as a
        ``WorkloadPredictor``'s update finds them (:func:`~workload_predictor.anomaly.lost_buckets`), is a lost
        bucket (``lost_buckets_``: per key ``None`` or its positions from its first point, among its kept points).
        The forecasts and the validation windows' targets read it as the median of the buckets before it, as a
        predictor reads it, and the interval leaves out the validation windows whose targets
        hold it, as a predictor reads its ``lost_buckets_`` (a key's zero-filled gap is otherwise a load of 0 to the
        network).

        The windows the new points complete are first forecast by the model as it was
        (out of sample) and replace each key's oldest validation windows (those whose targets hold a burst the key's
        kept and new points came back from are left out of its interval, as are those left out before:
        ``validation_left_out_``); then the
        linear base absorbs them exactly (its Gram statistics grow). The network and
        each key's scaling are kept (the network forecasts from the extended histories);
        refit to retrain it. A target constant wherever its scale was fitted (``scale_pending_``:
        an idle key) is scaled from its kept and new points since they left that constant,
        before the base absorbs them (:meth:`_rescaled`). Each key keeps only its newest
        points (``window + horizon - 1``, at least the input-anomaly rule's reference) and its validation windows, so a stream
        of updates does not grow the model. Everything is computed before anything changes.
        """
        check_is_fitted(self, "network_")
        self._check_fitted_settings()
        if isinstance(new_series, Mapping):
            raise WorkloadDataError("new_series is a dict; pass one array (or None) per key of keys_, in that order: "
                                    "update([new_series.get(key) for key in model.keys_]).")
        if len(new_series) != len(self.keys_):
            raise WorkloadDataError(f"pass one array per fitted key ({len(self.keys_)}), got {len(new_series)}.")
        if filled is not None and (isinstance(filled, (str, bytes, Mapping)) or not hasattr(filled, "__len__")
                                   or len(filled) != len(self.keys_)):
            got = len(filled) if hasattr(filled, "__len__") else quote(filled)
            raise WorkloadDataError(f"pass filled= as one array (or None) per fitted key ({len(self.keys_)}), in the "
                                    f"order of keys_; got {got}.")
        active, ys, olds, origins, elements, settled = [], [], [], [], [], []  # the keys with new points
        lost_new = list(getattr(self, "lost_buckets_", None) or [None] * len(self.keys_))
        following = getattr(self, "weight_nonzero_", None) is not None and self.robust  # None: a file saved before it
        nonzero = list(self.weight_nonzero_) if following else None
        nonzero_counts = self.weight_nonzero_counts_.copy() if following else None
        for i, (key, recent, values) in enumerate(zip(self.keys_, self.recent_, new_series)):
            if values is None or not np.size(values):
                if filled is not None:
                    self._checked_filled(i, filled[i], None)  # none of no new points
                continue
            new, _ = as_matrix(values, f"new_series[{quote(key)}]")
            if new.shape[1] != self.n_targets_:
                raise WorkloadDataError(f"new_series[{quote(key)}] has {new.shape[1]} targets; fitted on {self.n_targets_}.")
            y = np.concatenate([recent, new])
            if following:  # the new points judged against the typical burst of the points seen with them
                rows = _unpacked(nonzero[i])
                kept, nonzero_counts[i] = anomaly.busy_continued(rows, nonzero_counts[i], new)
                if kept is not rows or isinstance(nonzero[i], np.ndarray):  # changed, or a file's rows saved before
                    nonzero[i] = _packed(kept)
                floor = self._floor(i, (kept, nonzero_counts[i]), int(self.n_seen_[i]) + len(new))
            else:
                floor = self._floor(i)
            active.append(i)
            ys.append(y)
            olds.append(len(recent))
            shift = int(self.n_seen_[i]) - len(recent)  # y[0] is point number shift of the key's whole series
            element = self._update_weights(i, y, len(recent), floor)
            lost = self._lost_after(i, y, len(recent), shift, element, None if filled is None else filled[i])
            settled.append(self._settled(y, shift, floor, lost))
            elements.append(element)
            kept_from = len(y) - self._recent_length()
            lost = None if lost is None else lost[lost >= kept_from] + shift
            lost_new[i] = lost if lost is not None and len(lost) else None
            origins.append(np.arange(len(recent) - self.horizon + 1, len(y) - self.horizon + 1))
        if not active:
            return self
        forecasts = self._forecast([values for values, _ in settled], origins, keys=active, elements=elements)  # at the scales they had
        offset, scale, pending = self._rescaled(active, ys, olds, (self.offset_, self.scale_,
                                                                   getattr(self, "scale_pending_", None)))
        spreads = self._spreads()
        # [(offset, scale, first)]: a level read from the points as a forecast reads them (a burst the series came
        # back from as _settled reads it), so that a corrupt count does not hide a shift the real counts show
        shifted: dict = {}  # (key, target): its scaling before a small level shift, None: undone (_shift_rescaled)
        idle: set | None = None if pending is None else set()  # (key, target): constant since, now pending
        read = self._level_rescaled(active, [values for values, _ in settled], elements, offset, scale, pending, spreads,
                                    shifted, idle)
        if idle:  # new arrays: the model's own change only once the update is committed
            pending, spreads = pending.copy(), spreads.copy()
            for i, col in idle:
                pending[i, col], spreads[i, col] = True, np.inf  # as a fit's pending target: no spread to read
        runs = getattr(self, "level_run_", None) if self.robust else None  # None: a file saved before it was kept
        noise = getattr(self, "level_residual_", None) if self.robust else None  # None: as runs
        step = self.base_coef_[:, : self.n_targets_] if self.linear_base else None
        z, read_origins, read_elements, limits = [], [], [], []
        for i, y, o, element, (moved_offset, moved_scale, first), (values, _) in zip(
                active, ys, origins, elements, read, settled):
            scalings = [(offset[i], scale[i], o)]
            if first < len(y):
                late = o - self.window_ >= first  # the windows wholly within its shifted points: on its new scale
                # those reaching across its shift are on neither
                scalings = [(offset[i], scale[i], o[o + self.horizon <= first]), (moved_offset, moved_scale, o[late])]
            for read_offset, read_scale, read_o in scalings:
                z.append((y - read_offset) / read_scale)
                read_origins.append(read_o)
                read_elements.append(element)
                limits.append(_level_limits(z[-1], read_o, self.window_, self.horizon,
                                            None if runs is None else runs[i], spreads[i] / read_scale, step,
                                            None if noise is None else noise[:, i] / read_scale,
                                            (values - read_offset) / read_scale))
        gram, cross = self._base_stats(z, read_origins, read_elements, read_after=True, limits=limits)
        moved = [(i, moved_offset, moved_scale) for i, y, (moved_offset, moved_scale, first) in zip(active, ys, read)
                 if first < len(y)]
        if moved:  # new arrays only where a key is scaled again: a fit held since shares the others
            offset, scale = offset.copy(), scale.copy()
            for i, moved_offset, moved_scale in moved:
                offset[i], scale[i] = moved_offset, moved_scale
        forecast_new, actual_new, origins_new = (list(self.validation_forecast_), list(self.validation_actual_),
                                                 list(self.validation_origins_))
        left_out_new = list(getattr(self, "validation_left_out_", None) or [None] * len(self.keys_))
        fitted = getattr(self, "fit_naive_error_", None)  # a file's without it: the points it kept stand for the fit's
        if fitted is None:
            fitted = np.stack([naive_error(r, self.horizon) for r in self._settled_recent()])
        recent, n_seen, keep_recent = list(self.recent_), self.n_seen_.copy(), self._recent_length()
        recent_weights = list(getattr(self, "recent_weights_", None) or [None] * len(self.keys_))
        for i, y, o, old, forecast, element, (evaluated, runs) in zip(active, ys, origins, olds, forecasts, elements,
                                                                       settled):
            keep = len(self.validation_actual_[i])
            shift = int(self.n_seen_[i]) - old  # y[0] is point number n_seen_ - old of the key's whole series
            forecast_new[i] = newest_of(np.concatenate([self.validation_forecast_[i], forecast]), keep)
            origins_new[i] = newest_of(np.concatenate([self.validation_origins_[i], o + shift]), keep)
            actual = newest_of(np.concatenate([self.validation_actual_[i], targets_at(evaluated, o, self.horizon)]), keep)
            fixed = anomaly.settle_targets(actual, origins_new[i], runs)  # the kept windows' targets in those bursts
            actual_new[i] = actual if fixed is None else fixed
            found = _left_out(runs, origins_new[i], self.horizon)
            before = left_out_new[i]
            if before is not None:
                found = carried_left_out(before, found, keep, len(o))
            left_out_new[i] = found
            recent[i] = y[-keep_recent:].copy()
            recent_weights[i] = anomaly.kept_weights(element, keep_recent)
            n_seen[i] += len(y) - old
        self.base_gram_, self.base_cross_ = self.base_gram_ + gram, self.base_cross_ + cross
        self.base_coef_ = self._solve_base()
        self.validation_forecast_, self.validation_actual_, self.validation_origins_ = forecast_new, actual_new, origins_new
        self.validation_left_out_ = left_out_new
        self.recent_, self.recent_weights_, self.n_seen_ = recent, recent_weights, n_seen
        self.lost_buckets_ = lost_new
        self.fit_naive_error_ = fitted  # carried from the fit, as a predictor carries its noise_scale_ row 0
        if following:
            self.weight_nonzero_, self.weight_nonzero_counts_ = nonzero, nonzero_counts
        self.offset_, self.scale_, self.level_spread_ = offset, scale, spreads  # a file's missing spreads kept from now
        if pending is not None:  # a file saved before scale_pending_ was kept stays without it
            self.scale_pending_ = pending
        if shifted:
            self.scaling_before_shift_ = _before_shift(getattr(self, "scaling_before_shift_", None), shifted,
                                                       self.offset_.shape)
        return self

    def _lost_after(self, i: int, y: np.ndarray, n_old: int, shift: int, element: np.ndarray | None,
                    filled: Any) -> np.ndarray | None:
        """Key ``i``'s lost buckets among its kept and new points ``y`` (the first ``n_old`` kept, ``y[0]`` its point
        ``shift``), positions in ``y``, ascending (``None``: none): those it had (``lost_buckets_``) and the runs of its
        zero-filled new points (``filled``: positions among them) whose reference, less the lost buckets and the kept
        points flagged as input anomalies (``element`` weights below 1), says they were a load, as a predictor's
        ``_lost_after`` finds them (:func:`~workload_predictor.anomaly.lost_buckets`)."""
        old = self._kept_lost(i, shift, n_old)
        filled = self._checked_filled(i, filled, y[n_old:])
        if filled is None:
            return old
        out = np.zeros(len(y), dtype=bool)  # the buckets left out of the references
        if old is not None:
            out[old] = True
        if element is not None:
            out[:n_old] |= (element[:n_old] < 1.0).any(axis=1)
        found = anomaly.lost_buckets(y, filled + n_old, out)
        if not len(found):
            return old
        return found if old is None else np.concatenate([old, found])

    def _checked_filled(self, i: int, filled: Any, new: np.ndarray | None) -> np.ndarray | None:
        """Key ``i``'s ``filled`` (``update``'s) as int64 positions among its new points ``new`` (``(m, k)``; ``None``:
        none), or ``None`` where it names none; anything but increasing integer positions among them (a float, a 2-D
        array, a position past its new points) is a typed error, never read as some other positions, and so is a
        position whose point holds a load (a zero-filled point is 0 in every target: read as lost, a load there would
        be replaced by the median before it, and the file saved after it refused)."""
        m = 0 if new is None else len(new)
        if filled is None:
            return None
        try:
            positions = np.asarray(filled)
        except (TypeError, ValueError):  # a ragged nest of lists
            positions = None
        if positions is not None and positions.size == 0 and positions.ndim == 1:
            return None
        if positions is None or positions.ndim != 1 or positions.dtype.kind not in "iu" or positions.min() < 0 \
                or positions.max() >= m or (np.diff(positions.astype(np.int64)) <= 0).any():
            raise WorkloadDataError(
                f"filled[{i}] (key {quote(self.keys_[i])}) is {quote(filled)}, not increasing integer positions among "
                f"the key's {plural(m, 'new point')} (those no row came for); pass None where each had a row.")
        positions = positions.astype(np.int64)
        loaded = positions[(new[positions] != 0).any(axis=1)]
        if len(loaded):
            raise WorkloadDataError(
                f"filled[{i}] (key {quote(self.keys_[i])}) names new point {int(loaded[0]):,}, which holds the loads "
                f"{quote(new[loaded[0]].tolist())}: filled names the points no row came for, zero-filled (0 in every "
                "target); leave out the points that had a row.")
        return positions

    def _update_weights(self, i: int, y: np.ndarray, n_old: int, floor: np.ndarray | None) -> np.ndarray | None:
        """The weights of key ``i``'s kept and new points ``y`` (the first ``n_old`` kept; the new flagged against
        ``floor``), ``None``: all 1."""
        kept = (getattr(self, "recent_weights_", None) or [None] * len(self.keys_))[i]
        new = None if floor is None else anomaly.element_weights(y, n_old, floor)
        return anomaly.continued_weights(kept, new, y.shape, n_old)

    def update_bytes(self, added: Sequence[int]) -> float:
        """An upper estimate of the bytes ``update`` allocates for ``added[i]`` new points of key ``i``.

        Each key's kept tail is extended and standardised (float64 copies); each window the new
        points complete is gathered as the network's patches (float64, then float32) and the
        base's features (twice: forecast and statistics) and forecast; each key's validation
        buffers are concatenated and cut; the base's Gram statistics are replaced (and the level-following map
        solved from them, :meth:`_following_coef`: five matrices of their size at most); each updated key's
        newest non-zero points (``weight_nonzero_``) are extended and cut. The network's activations
        (float32, a ``PREDICT_CHUNK`` of windows at a time) are added.
        """
        k, window, horizon = self.n_targets_, self.window_, self.horizon
        m = float(np.sum(added))
        history = len(self.keys_) * self._recent_length() + m
        validation = float(sum(len(v) for v in self.validation_actual_))
        p = window * k + 1
        activations = 4.0 * min(m, PREDICT_CHUNK) * (window // self.patch_size_) * self.hidden_size * (self.num_layers + 4)
        nonzero = 8.0 * 2 * k * (int(np.count_nonzero(added)) * anomaly.BUSY_KEPT + m)
        return (8.0 * 3 * history * k + 8.0 * m * (4.5 * window * k + 6 * horizon * k + 2)
                + 8.0 * 4 * validation * horizon * k + 8.0 * 7 * p * (p + horizon * k) + activations + nonzero)

    def model_bytes(self) -> int:
        """Bytes of the network's weights as used for inference (int8 when quantised) plus the base's coefficients."""
        from .quantize import network_bytes

        return network_bytes(inference_network(self.network_, self.quantize)) + self.base_coef_.nbytes
