"""DLinear over many series at once: the statistics, window search and ridge solves of
:mod:`workload_predictor.models.dlinear`, stacked along a leading series axis.

Every key of a fleet is its own DLinear problem: its own scaling, window search,
blend and ridge systems. Here the keys' window statistics are built together
(``(S, W, W)`` Gram matrices) and their ridge systems are solved together (batched
``numpy.linalg.solve`` over blocks of series, or torch on a GPU with ``device=``),
instead of one Python call per series. The single-series
:class:`~workload_predictor.models.dlinear.DLinear` stays the reference: for each
series, :func:`fit_batched` returns what ``DLinear(...).fit(y)`` computes, up to
floating-point rounding (tested).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import Callable, Iterable, Iterator, Sequence

import numpy as np

from .. import anomaly
from .._deadline import current
from .._memory import check_memory
from .._threads import single_blas_thread
from ..errors import WorkloadDataError
from ..windows import fit_scale, targets_at, validation_origins, window_moments, windows_at
from .base import MIN_TRAIN_WINDOWS
from .combination import significantly_better
from . import dlinear
from .dlinear import (DEFAULT_WINDOWS, SEARCH_SHARE, CentredStats, DLinear, WindowStats, _branch_penalty,
                      affordable_origins, blend_weights, level_map, pass_seconds, pass_units, shift_cross,
                      settled_weights, solvable_penalty)

#: Elements of the statistics built at once (a block of series' ``W x (W + H)``: the lag table ``window_moments``
#: builds for fewer than 8 series, the rows ``_moments`` writes out for more): bounds memory.
STATS_BLOCK_ELEMENTS = 2**22
#: Elements of the ridge systems built and solved at once on the CPU (a block of series), and of the Gram matrices
#: centred and shifted at once: 1 MB, which stays in a core's L2 cache between the passes over a block and which the
#: heap serves again from one block to the next, where the systems of a whole batch (58 MB for 125 series at window
#: 240) would each be a fresh mapping whose pages all fault on first touch. At 125 series of window 168 (thread CPU,
#: medians of 5), centring took 7.1 ms against 10.2 ms in blocks of 8 MB, shifting 7.7 against 8.8, the ridge
#: systems and solves 34.6 against 37.5.
SOLVE_BLOCK_ELEMENTS = 2**17
#: Rows whose refit windows' deviations are taken at once (:func:`_row_deviations`): 8 rows of 219 windows at horizon
#: 10 (a 1,000-point series' tail and its references) hold 17,520 residuals. 8 ran faster than 16 and 32.
JUDGE_ROWS = 8


@dataclass
class BatchStats:
    """Window statistics of ``S`` series over the same origins: ``WindowStats`` with a leading series axis."""

    count: float
    sum_x: np.ndarray  # (S, W)
    sum_y: np.ndarray  # (S, H)
    xx: np.ndarray  # (S, W, W)
    xy: np.ndarray  # (S, W, H)

    def __add__(self, other: "BatchStats") -> "BatchStats":
        return BatchStats(self.count + other.count, self.sum_x + other.sum_x, self.sum_y + other.sum_y,
                          self.xx + other.xx, self.xy + other.xy)

    def take(self, rows: np.ndarray) -> "BatchStats":
        return BatchStats(self.count, self.sum_x[rows], self.sum_y[rows], self.xx[rows], self.xy[rows])


def batched_window_stats(z: np.ndarray, origins: np.ndarray, window: int, horizon: int) -> BatchStats:
    """The statistics of the windows of each row of ``z`` (``(S, n)``) at the consecutive ``origins``.

    The same lag-table construction as ``WindowStats.from_series``, row by row of a
    stacked array; built in blocks of series so the temporary products stay under
    ``STATS_BLOCK_ELEMENTS`` elements.
    """
    z = np.asarray(z, dtype=np.float64)
    n_series, count = z.shape[0], len(origins)
    if count == 0:
        return BatchStats(0.0, np.zeros((n_series, window)), np.zeros((n_series, horizon)),
                          np.zeros((n_series, window, window)), np.zeros((n_series, window, horizon)))
    if count <= 8:  # a few windows: the products themselves cost less than the lag tables
        x = windows_at(z.T, origins, window).transpose(2, 0, 1)  # [S, m, W]
        y = targets_at(z.T, origins, horizon).transpose(2, 0, 1)  # [S, m, H]
        return BatchStats(float(count), x.sum(axis=1), y.sum(axis=1), np.matmul(x.transpose(0, 2, 1), x),
                          np.matmul(x.transpose(0, 2, 1), y))
    block = max(1, STATS_BLOCK_ELEMENTS // (window * (window + horizon)))
    if block >= n_series:
        return _lag_stats(z, origins, window, horizon)
    out = BatchStats(float(count), np.empty((n_series, window)), np.empty((n_series, horizon)),
                     np.empty((n_series, window, window)), np.empty((n_series, window, horizon)))
    for i in range(0, n_series, block):  # each block's X^T X written in place: no block-sized copy
        part = BatchStats(float(count), *_moments(z[i : i + block], origins, window, horizon,
                                                  xx_out=out.xx[i : i + block]))
        for name in ("sum_x", "sum_y", "xy"):
            getattr(out, name)[i : i + block] = getattr(part, name)
    return out


def _lag_stats(z: np.ndarray, origins: np.ndarray, window: int, horizon: int) -> BatchStats:
    """``batched_window_stats`` for more than 8 consecutive origins (see ``windows.window_moments``)."""
    return BatchStats(float(len(origins)), *_moments(z, origins, window, horizon))


def _moments(z: np.ndarray, origins: np.ndarray, window: int, horizon: int, xx_out: np.ndarray | None = None
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """:func:`~workload_predictor.windows.window_moments` of ``S`` series, the same numbers bit for bit, without its
    ``(S, W, W + H)`` lag table: from 8 series on, each row ``R[i]`` of the table is formed as that function forms it
    (the products entering the range less those leaving it, summed row by row, plus the first range's
    correlations) and written straight to its places in ``X^T X`` (row ``i`` from the diagonal on) and ``X^T Y``;
    the lower triangle is then copied from the upper one, a series at a time (while it is in cache). The table was
    the largest array of the statistics (60 MB for 125 series at window 240), written whole and read again."""
    n_series, count = z.shape[0], len(origins)
    if n_series < 8 or window < 2:
        return window_moments(z, origins, window, horizon, xx_out=xx_out)
    first = int(origins[0])
    lags = window + horizon
    start = first - window
    base = np.stack([np.correlate(row[start : start + count + lags - 1], row[start : start + count], mode="valid")
                     for row in z])  # [S, lags]: R[0]
    padded = np.concatenate([z, np.zeros((n_series, lags))], axis=1)
    lagged_products = np.lib.stride_tricks.sliding_window_view(padded, lags, axis=1)  # [S, n + 1, lags], a view
    xx = np.empty((n_series, window, window)) if xx_out is None else xx_out
    xy = np.empty((n_series, window, horizon))
    xx[:, 0] = base[:, :window]
    xy[:, 0] = base[:, window:]
    entering, leaving = np.empty((n_series, lags)), np.empty((n_series, lags))
    summed, row = np.empty((n_series, lags)), np.empty((n_series, lags))
    for i in range(1, window):
        np.multiply(padded[:, start + count + i - 1, None], lagged_products[:, start + count + i - 1], out=entering)
        np.multiply(padded[:, start + i - 1, None], lagged_products[:, start + i - 1], out=leaving)
        entering -= leaving
        if i == 1:
            summed[...] = entering
        else:
            summed += entering
        np.add(summed, base, out=row)  # R[i]
        xx[:, i, i:] = row[:, : window - i]
        xy[:, i] = row[:, window - i : lags - i]
    lower = np.tril(np.ones((window, window), dtype=bool), -1)
    for gram in xx:
        np.copyto(gram, gram.T, where=lower)
    prefix = np.concatenate([np.zeros((n_series, 1)), np.cumsum(z, axis=1)], axis=1)
    sum_x = prefix[:, start + count + np.arange(window)] - prefix[:, start + np.arange(window)]
    sum_y = prefix[:, first + count + np.arange(horizon)] - prefix[:, first + np.arange(horizon)]
    return sum_x, sum_y, xx, xy


def batch_affordable_origins(z: np.ndarray, origins: np.ndarray, window: int, horizon: int,
                             share: float = 1.0) -> tuple[np.ndarray, float]:
    """:func:`~workload_predictor.models.dlinear.affordable_origins` of one batched pass over the rows of ``z``
    ``(S, n)`` (no point weighted): the consecutive ``origins`` whose statistics it sums in ``share`` of the
    deadline's time left (all of them, or the newest that fit, at least ``NEWEST_MIN_ORIGINS``), and the pace
    measured for it (seconds per unit of :func:`pass_units`; 0 when none was).

    The pace is the batch's own, measured on its newest ``NEWEST_MIN_ORIGINS`` origins (not the fit's
    ``Deadline.pace``, which a weighted series' pass, tens of times slower, may have set).
    """
    deadline = current()
    rows = len(z)
    if deadline.end is None or rows == 0 or len(origins) <= dlinear.NEWEST_MIN_ORIGINS or \
            deadline.left() * share >= pass_seconds(len(origins), rows, window, horizon, dlinear.SLOW_PACE):
        return origins, 0.0
    sample, started = origins[-dlinear.NEWEST_MIN_ORIGINS :], deadline.clock()
    batched_window_stats(z, sample, window, horizon)
    pace = max(deadline.clock() - started, 0.0) / (len(sample) * pass_units(rows, window, horizon))
    budget = deadline.left() * share
    if pace <= 0.0 or budget >= pass_seconds(len(origins), rows, window, horizon, pace):
        return origins, pace
    count = max(int(budget / pass_seconds(1, rows, window, horizon, pace)), dlinear.NEWEST_MIN_ORIGINS)
    return origins[-count:], pace


def _no_time(origins: int, rows: int, window: int, horizon: int, pace: float | None = None) -> bool:
    """Whether a pass of the statistics of ``rows`` rows over ``origins`` origins would end past the deadline
    (:func:`~workload_predictor.models.dlinear.pass_seconds` at ``pace``, default the fit's), as ``DLinear._refit``
    decides: once it has passed, wherever a pace was measured."""
    left = current().left()
    return left is not None and left < pass_seconds(origins, rows, window, horizon, pace)


def _recorder(n_series: int) -> tuple[list[list[str]], Callable[[Iterable[int], str], None]]:
    """Per series, the stages the deadline cut (a list each), and the function that records ``stage`` as cut for
    the series it is given (each stage once per series, and once in the deadline's own record)."""
    limited: list[list[str]] = [[] for _ in range(n_series)]

    def cut(series: Iterable[int], stage: str) -> None:
        series = [int(b) for b in series]
        if series:
            current().cut(stage)
        for b in series:
            if stage not in limited[b]:
                limited[b].append(stage)

    return limited, cut


@dataclass
class BatchCentred:
    """Means and centred moments of ``S`` series' window statistics (``CentredStats`` stacked)."""

    mean_x: np.ndarray  # (S, W)
    mean_y: np.ndarray  # (S, H)
    gram: np.ndarray  # (S, W, W)
    cross: np.ndarray  # (S, W, H)
    count: np.ndarray  # (S,) each series' total window weight (CentredStats.count)
    second: np.ndarray  # (S, W) the uncentred X^T X's diagonals (CentredStats.second)

    @classmethod
    def of(cls, stats: BatchStats, in_place: bool = False) -> "BatchCentred":
        """The centred moments of ``stats``, formed a block of series at a time (``SOLVE_BLOCK_ELEMENTS``: each block's
        spread is subtracted while it is in cache); ``in_place``: the Gram matrices written over ``stats.xx`` (read no
        more), so no second ``(S, W, W)`` array is allocated: the same numbers."""
        mean_x, mean_y = stats.sum_x / stats.count, stats.sum_y / stats.count
        second = np.diagonal(stats.xx, axis1=1, axis2=2).copy()
        # Otherwise written in xx's layout (the product's own would follow mean_x's strides), each block's spread then
        # turned into its centred Gram in place: the layout of xx - spread, which the order of summation of the
        # reductions reading it (traces, solves) follows.
        gram = stats.xx if in_place else np.empty_like(stats.xx)
        width = gram.shape[1]
        block = max(1, SOLVE_BLOCK_ELEMENTS // max(width * width, 1))
        spread = np.empty((min(block, len(gram)), width, width)) if in_place else None
        for i in range(0, len(gram), block):
            part = gram[i : i + block] if spread is None else spread[: len(gram[i : i + block])]
            np.multiply(mean_x[i : i + block, :, None], mean_x[i : i + block, None, :], out=part)
            part *= stats.count
            np.subtract(stats.xx[i : i + block], part, out=gram[i : i + block])
        return cls(mean_x, mean_y, gram, stats.xy - stats.sum_x[:, :, None] * mean_y[:, None, :],
                   np.full(len(mean_x), float(stats.count)), second)

    def last(self, window: int) -> "BatchCentred":
        return BatchCentred(self.mean_x[:, -window:], self.mean_y, self.gram[:, -window:, -window:],
                            self.cross[:, -window:], self.count, self.second[:, -window:])

    def put(self, row: int, centred: CentredStats) -> None:
        """Replace series ``row``'s moments with one series' ``CentredStats``."""
        self.mean_x[row], self.mean_y[row], self.gram[row], self.cross[row], self.count[row], self.second[row] = (
            centred.mean_x, centred.mean_y, centred.gram, centred.cross, centred.count, centred.second)


@dataclass
class Weighted:
    """The series of a batch that hold a bucket DLinear weighs down (``DLinear(robust=True)``), and their weights.

    Their windows enter the statistics with weights, so each such row's statistics are
    built by the single-series code (``WindowStats.weighted``) and replace the batched
    ones; everything else (search, solves, blend, forecasts) stays batched. ``train``
    maps a series' index in the batch to the weights ``(n_train, k)`` of its training
    part's points as its statistics weigh them (:func:`~workload_predictor.models.dlinear.counter_starts` of the
    rule's weights; ``None``: all 1); ``models`` to a DLinear holding its floor; ``flags`` to the flagged
    buckets of its whole series (:func:`~workload_predictor.anomaly.series_flags` for that floor), which every
    part's weights read: a point's weight depends only on the points up to it, so the training part's and the
    refit's are those of the same flags (as ``DLinear._element_weights`` of each part gives them), and a counter's
    start is read in the part alone, as DLinear's fit on it reads it.
    """

    models: dict[int, DLinear]
    train: dict[int, np.ndarray | None]
    flags: dict[int, list] = field(default_factory=dict)

    @classmethod
    def of(cls, y: np.ndarray, floors: dict[int, np.ndarray] | None, horizon: int, n_train: int,
           scans: dict[int, list] | None = None) -> "Weighted":
        """``scans``: the flags of the series the caller scanned already (see ``fit_batched``); the others are
        scanned here."""
        models, flags = {}, {}
        for b, floor in (floors or {}).items():
            model = DLinear(horizon=horizon, robust=True)
            model.weight_floor_ = floor
            models[int(b)] = model
            if floor is not None:
                known = (scans or {}).get(int(b))
                flags[int(b)] = anomaly.series_flags(y[b], floor) if known is None else known
        shape = (n_train, y.shape[2])
        return cls(models, {b: dlinear.counter_starts(y[b, :n_train], _part_weights(flags.get(b), shape, 0))
                            for b in models}, flags)

    def refit_weights(self, b: int, y: np.ndarray, window: int, n_train: int,
                      judging: bool = False) -> tuple[np.ndarray | None, int]:
        """Series ``b``'s point weights for the refit on all of ``y`` ``(n, k)`` and the position they start at,
        as ``DLinear._refit`` computes them: those its statistics read (:func:`~.dlinear.counter_starts`), or with
        ``judging`` the rule's, which the judging of windows reads."""
        model = self.models[b]
        model.window_ = window
        lead = 2 * (anomaly.COUNTER_RUN - 1)  # and the training part's newest windows' (DLinear._extend)
        start = max(min(n_train - window - model.horizon + 1 - lead, len(y) - model._recent_length()), 0)
        element = _part_weights(self.flags.get(b), y.shape, start)
        return (element if judging else dlinear.counter_starts(y, element, start)), start


def _part_weights(flags: list | None, shape: tuple[int, int], start: int) -> np.ndarray | None:
    """:func:`~workload_predictor.anomaly.element_weights` of positions ``start .. shape[0] - 1`` of a series whose
    whole scan flagged ``flags`` (``None``: no floor, all 1)."""
    if not flags:
        return None
    return anomaly._weights_of([flag for flag in flags if start <= flag[0] < shape[0]], shape, start)


@contextlib.contextmanager
def _naming_series(series: np.ndarray, k: int) -> Iterator[None]:
    """A penalty error raised within (:func:`relative_penalties`', whose ``row`` is one of the rows of ``series``'
    ``k`` targets each, in that order) given the ``series`` (of :func:`fit_batched`'s ``y``) whose numbers it quotes."""
    try:
        yield
    except WorkloadDataError as exc:
        if getattr(exc, "row", None) is not None and getattr(exc, "series", None) is None:
            exc.series = int(series[exc.row // k])
        raise


def relative_penalties(gram: np.ndarray, alpha: float | np.ndarray, count: np.ndarray | None = None,
                       second: np.ndarray | None = None, trace: np.ndarray | None = None,
                       checked: bool = False) -> np.ndarray:
    """``relative_penalty`` per series (``alpha`` one, or one per series): ``alpha * trace(G) / W`` (at least
    ``alpha * PENALTY_FLOOR * min(count, 1)``, ``count`` the series' total window weight, default 1, and at least
    ``alpha * PENALTY_ROUNDING * sum(second) / W``, ``second`` ``(S, W)`` the diagonals of the uncentred ``X^T X``; see
    :func:`~workload_predictor.models.dlinear.trace_penalty`), ``(S,)``. ``trace``: the Gram matrices' traces
    ``(S,)`` where the caller has them (``gram`` then gives only the width). ``checked``: a typed error where a
    penalty is past the largest float or below the smallest normal one, as ``trace_penalty``'s (its ridge system's
    solution would be NaN)."""
    width = gram.shape[1]
    least = dlinear.PENALTY_FLOOR * (1.0 if count is None else np.minimum(count, 1.0))
    if second is not None:
        least = np.maximum(least, dlinear.PENALTY_ROUNDING * second.sum(axis=1) / width)
    if trace is None:
        trace = np.trace(gram, axis1=1, axis2=2)
    scale = np.maximum(trace / width, least)
    with np.errstate(over="ignore", under="ignore"):  # refused below where checked
        lam = alpha * scale
    if checked:
        bad = np.flatnonzero((lam == np.inf) | ((lam < np.finfo(np.float64).tiny) & (scale > 0.0)))
        if len(bad):
            first = int(bad[0])
            error = dlinear.penalty_error(float(np.broadcast_to(alpha, lam.shape)[first]), float(scale[first]))
            error.row = first  # whose numbers it quotes: the position among those given (see _ridge_map, fit_batched)
            raise error
    return lam


def _systems(gram: np.ndarray, kernel_size: int, lam: np.ndarray) -> np.ndarray:
    """``G + lam M^-1`` per series, ``(S, W, W)`` (``lam`` at least ``solvable_penalty``'s, as DLinear's)."""
    system = solvable_penalty(gram, lam)[:, None, None] * _branch_penalty(gram.shape[1], kernel_size)
    system += gram
    return system


def batched_shifted_moments(gram: np.ndarray, cross: np.ndarray, in_place: bool = False
                            ) -> tuple[np.ndarray, np.ndarray]:
    """:func:`~workload_predictor.models.dlinear.shifted_moments` of ``S`` series' centred moments ``(S, W, W)``,
    ``(S, W, H)``, the same numbers: the Gram matrices shifted a block of series at a time (``SOLVE_BLOCK_ELEMENTS``),
    so the only ``(S, W, W)`` array it allocates is the result, or none with ``in_place`` (``gram`` overwritten)."""
    last = gram[:, :, -1].copy()
    corner = gram[:, -1:, -1:].copy()
    moved = shift_cross(cross, last)
    shifted = gram if in_place else np.empty_like(gram)
    block = max(1, SOLVE_BLOCK_ELEMENTS // (gram.shape[1] * gram.shape[2]))
    for i in range(0, len(gram), block):
        part = last[i : i + block]
        np.subtract(gram[i : i + block], part[:, :, None] + part[:, None, :], out=shifted[i : i + block])
        shifted[i : i + block] += corner[i : i + block]
    return shifted, moved


def batched_solve(system: np.ndarray, rhs: np.ndarray, device: str | None = None) -> np.ndarray:
    """``system^-1 rhs`` per series: numpy's batched LAPACK solve, or torch on ``device`` (float64)."""
    if device is None:
        return np.linalg.solve(system, rhs)
    import torch

    a = torch.as_tensor(system, device=device)
    b = torch.as_tensor(rhs, device=device)
    return torch.linalg.solve(a, b).cpu().numpy()


def batched_inverse(system: np.ndarray, device: str | None = None) -> np.ndarray:
    """``system^-1`` per series, made exactly symmetric (as ``ridge_inverse``)."""
    if device is None:
        inverse = np.linalg.inv(system)
    else:
        import torch

        inverse = torch.linalg.inv(torch.as_tensor(system, device=device)).cpu().numpy()
    inverse += inverse.transpose(0, 2, 1)
    inverse *= 0.5
    return inverse


@dataclass
class BatchFit:
    """What DLinear's fit leaves per series, stacked over the ``B`` series of one batch (``k`` targets each).

    Maps are zero-padded at the front to the widest window of the batch, ``W``, so a
    forecast is ``context[-W:]`` (zero-padded likewise) times ``coef``.
    """

    offset: np.ndarray  # (B, k)
    scale: np.ndarray  # (B, k)
    window: np.ndarray  # (B,) each series' window_ (its widest blended window)
    window_weights: list[dict[int, float]]  # per series
    window_scores: list[dict[int, float]]  # per series
    coef: np.ndarray  # (B, k, W, H)
    intercept: np.ndarray  # (B, k, H)
    validation_origins: np.ndarray  # (v,)
    validation_forecast: np.ndarray  # (B, v, H, k), raw units
    validation_actual: np.ndarray  # (B, v, H, k)
    time_limited: list[list[str]] = field(default_factory=list)  # per series: the stages the deadline cut, in order


def batch_bytes(rows: int, n: int, window: int, horizon: int, n_validation: int, moments: int) -> float:
    """An upper estimate of the bytes the statistics and ridge solves of ``rows`` scaled series (series times
    targets) of ``n`` points at ``window`` allocate at once (checked before they are).

    Per row: copies of the series; ``moments`` arrays of ``W x (W + H)`` held at once (the
    statistics, their centred and shifted moments, the ridge systems and their solutions: 3 in
    the window search, 5 in a fit, which adds the validation tail's statistics); and the
    validation inputs, targets and errors (``v x (W + 2H)``).
    """
    lags = window + horizon
    return 8.0 * rows * (3 * n + moments * window * lags + n_validation * (lags + horizon))


def check_length(n: int, horizon: int, window: int | None, fraction: float, max_windows: int,
                 candidate_windows: Sequence[int] | None = None) -> np.ndarray:
    """The validation origins of an ``n``-point series, after DLinear's own length check (which raises): room for
    ``window``, or else for the smallest of ``candidate_windows`` (``DLinear._required_window``)."""
    from .dlinear import DLinear

    model = DLinear(horizon=horizon, window=window, validation_fraction=fraction, max_validation_windows=max_windows,
                    candidate_windows=candidate_windows)
    model._check_horizon()
    origins = validation_origins(n, horizon, fraction, max_windows)
    model._check_length(n, origins)
    return origins


@anomaly.keeping_scans
def fit_batched(
    y: np.ndarray, horizon: int = 10, window: int | None = None, kernel_size: int = 25,
    alpha: float | None = None,
    candidate_windows: Sequence[int] | None = None, validation_fraction: float = 0.15,
    max_validation_windows: int = 100, blend: int = 3, device: str | None = None,
    floors: dict[int, np.ndarray] | None = None, follow_level: bool = True,
    settled: dict[int, np.ndarray] | None = None, scans: dict[int, list] | None = None,
) -> BatchFit:
    """Fit DLinear to each of ``B`` series of the same length, ``y`` ``(B, n, k)``: the batched ``DLinear.fit``.

    The steps are DLinear's: scale on the training part, pick and blend windows on
    the validation tail (every series its own), fit on the training part, forecast
    the tail out of sample, refit on all data with a fresh relative penalty.
    ``device`` runs the ridge solves in torch on that device (``"cuda"``, or
    ``"cpu"`` for CPU tensors); ``None`` uses numpy. ``floors`` maps the index of each
    series that may hold a bucket ``DLinear(robust=True)`` weighs down to its weight
    floor ``(k,)`` (``anomaly.floor_of`` of the whole series, as DLinear's fit): those series' windows are
    weighed as DLinear weighs them (see :class:`Weighted`). ``follow_level`` is DLinear's (each
    window less its last value, :func:`~workload_predictor.models.dlinear.follow_last`), and so
    is ``alpha`` (``None``: DLinear's default, chosen per series). ``settled`` maps the index of each series
    holding a burst it came back from to that series with the burst at its median (``(n, k)``): its validation
    forecasts and targets, and its window search's, read that, as ``DLinear.fit`` given the flagged buckets does. ``scans`` maps the index of
    a series of ``floors`` the caller scanned already to its flagged buckets over all of its points
    (:func:`~workload_predictor.anomaly.series_flags` for its floor): its weights are read from them, not scanned
    again. Raises ``WorkloadDataError``
    (from DLinear's checks) when the series are too short for the settings.

    Under a time limit (:mod:`workload_predictor._deadline`) the stages end early as ``DLinear.fit``'s do:
    the window search (see :func:`_search`), the statistics, summed over the newest training origins
    whose pass fits in the time left (:func:`batch_affordable_origins` for the series summed together, at
    their pace; :func:`~workload_predictor.models.dlinear.affordable_origins` for each weighted series, at
    its own), and the refit, skipped (the fit on the training part kept) for the series whose tail's pass
    would end past the deadline (at the pace of their pass of the statistics). ``time_limited`` lists each series'
    stages cut ('dlinear window search', 'dlinear statistics', 'dlinear refit').
    """
    y = np.asarray(y, dtype=np.float64)
    alphas = DLinear(alpha=alpha, follow_level=follow_level).alphas()  # the penalties DLinear's fit may use
    n_series, n, k = y.shape
    deadline = current()
    limited, cut = _recorder(n_series)
    origins_val = check_length(n, horizon, window, validation_fraction, max_validation_windows, candidate_windows)
    n_train = int(origins_val[0])
    with single_blas_thread():
        if floors:  # the whole series' floor (as DLinear's fit), where a caller gave another
            floors, scans = dict(floors), dict(scans or {})
            for b, floor in floors.items():
                whole = dlinear.series_floor(y[b, :n_train], y[b], floor)
                if not np.array_equal(whole, floor):
                    floors[b] = whole
                    scans.pop(b, None)  # found for the other floor: scanned again
        weighted = Weighted.of(y, floors, horizon, n_train, scans)
        offset, scale = _scales(y[:, :n_train], weighted.train)  # [B, k]
        constant = (y[:, :n_train] == y[:, :1]).all(axis=1)  # [B, k]: scaled at the refit where the tail leaves it
        z_all = ((y - offset[:, None, :]) / scale[:, None, :]).transpose(0, 2, 1).reshape(n_series * k, n)  # [B*k, n]
        if window is not None:  # no search: the default penalty, as DLinear
            weights = [{int(window): 1.0}] * n_series
            scores, penalties = [{} for _ in range(n_series)], np.full(n_series, alphas[0])
        else:
            with _naming_series(np.arange(n_series), k):
                weights, scores, penalties = _search(
                    z_all[:, :n_train], k, horizon, candidate_windows or DEFAULT_WINDOWS, kernel_size, alphas,
                    validation_fraction, max_validation_windows, blend, device, weighted.train, follow_level, cut,
                    {int(b): ((values[:n_train] - offset[b]) / scale[b]).T for b, values in (settled or {}).items()})
        widest = np.array([max(w) for w in weights])
        width = int(widest.max())
        coef = np.zeros((n_series, k, width, horizon))
        intercept = np.zeros((n_series, k, horizon))
        forecast = np.zeros((n_series, len(origins_val), horizon, k))
        for w in np.unique(widest):
            keys = np.flatnonzero(widest == w)
            rows = (keys[:, None] * k + np.arange(k)[None, :]).ravel()  # the series' targets, in z_all's order
            group = [weights[b] for b in keys]
            group_alphas = penalties[keys]
            origins_train = np.arange(w, n_train - horizon + 1)
            check_memory("DLinear fleet fit", extra_bytes=batch_bytes(len(rows), n, w, horizon, len(origins_val),
                                                                                moments=5))
            is_weighted = np.isin(keys, list(weighted.models))
            plain = keys[~is_weighted]
            newest, pace = batch_affordable_origins(z_all[rows, :n_train], origins_train, w, horizon)
            if len(newest) < len(origins_train):
                cut(plain, "dlinear statistics")
            started = deadline.clock()
            stats = batched_window_stats(z_all[rows, :n_train], newest, w, horizon)
            if pace == 0.0 and len(newest):  # the batch's pace, for its refit's check below
                pace = max(deadline.clock() - started, 0.0) / (len(newest) * pass_units(len(rows), w, horizon))
            centred = BatchCentred.of(stats)
            kept = {}  # the weighted series' own statistics per row of the group
            summed = {}  # and the origins they sum
            for g in np.flatnonzero(is_weighted):
                b = int(keys[g])
                element = weighted.train[b]
                origins = newest
                if element is not None:  # its own pass, at its own pace (a window holding a flagged point costs W^2)
                    origins = affordable_origins(z_all[b * k : (b + 1) * k, :n_train].T, origins_train, w, horizon,
                                                 element=element)
                if len(origins) < len(origins_train):  # its own newest origins, or the batch's
                    cut([b], "dlinear statistics")
                summed[int(g)] = origins
                for j in range(k):
                    row = int(g) * k + j
                    column = None if element is None else element[:, j]
                    kept[row] = WindowStats.weighted(z_all[rows[row], :n_train], origins, w, horizon,
                                                     settled_weights(column, z_all[rows[row], :n_train], origins, w,
                                                                     horizon), column)
                    centred.put(row, CentredStats.of(kept[row]))
            # centred.gram shifted in place: the refit reads fresh moments (or, cut, the training part's again)
            with _naming_series(keys, k):
                train_coef, train_intercept = _solution(centred, group, group_alphas, k, kernel_size, device,
                                                        follow_level, in_place=True)  # [G*k, w, H]
            # np.take: each row's windows contiguous (see _search's inputs)
            x = np.take(z_all[rows], origins_val[:, None] + np.arange(-w, 0), axis=1)  # [G*k, v, w]
            for g in np.flatnonzero(np.isin(keys, list(settled or ()))):
                b = int(keys[g])
                z_settled = ((settled[b] - offset[b]) / scale[b]).T  # [k, n]
                x[g * k : (g + 1) * k] = z_settled[:, origins_val[:, None] + np.arange(-w, 0)]
            z_forecast = np.matmul(x, train_coef) + train_intercept[:, None, :]  # [G*k, v, H]
            z_forecast = z_forecast.reshape(len(keys), k, len(origins_val), horizon).transpose(0, 2, 3, 1)
            forecast[keys] = z_forecast * scale[keys, None, None, :] + offset[keys, None, None, :]
            for g in np.flatnonzero(constant[keys].any(axis=1)):  # a target the training part held constant
                _scale_woken(y[keys[g]], n_train, int(keys[g]), int(g) * k, k, offset, scale, z_all, rows, stats,
                             kept, train_intercept, weighted)
            # The refit: add the windows the validation tail completes, penalty relative to all data. Where the
            # tail's pass would end past the deadline, the fit on the training part is kept (centred's rows as
            # they are), as DLinear's _refit keeps it.
            origins_tail = np.arange(n_train - horizon + 1, n - horizon + 1)
            judged = {}  # per row of the group, its tail windows' weights by their residuals (DLinear._judged)
            if not _no_time(len(origins_tail), len(rows), w, horizon, pace):
                judged = _judged_rows(z_all, rows, origins_tail, w, horizon, train_coef, train_intercept, k,
                                      {int(g): (*weighted.refit_weights(int(keys[g]), y[keys[g]], w, n_train, True),
                                                weighted.flags.get(int(keys[g])), y[keys[g]].shape)
                                       for g in np.flatnonzero(is_weighted)})
            trained = {row: WindowStats(stats.count, stats.sum_x[row].copy(), stats.sum_y[row].copy(),
                                        stats.xx[row].copy(), stats.xy[row].copy())
                       for row in judged if not is_weighted[row // k]}
            if _no_time(len(origins_tail), len(rows), w, horizon, pace):
                cut(plain, "dlinear refit")
                centred = BatchCentred.of(stats, in_place=True)  # the training part's (weighted rows put below)
            else:
                added = batched_window_stats(z_all[rows], origins_tail, w, horizon)
                xx = stats.xx  # the training part's, read no more: the tail's added in place
                xx += added.xx
                stats = BatchStats(stats.count + added.count, stats.sum_x + added.sum_x, stats.sum_y + added.sum_y,
                                   xx, stats.xy + added.xy)
                centred = BatchCentred.of(stats, in_place=True)  # stats read no more
                for row, train in trained.items():  # a plain row with a window weighed down: summed as DLinear sums it
                    tail = WindowStats.weighted(z_all[rows[row]], origins_tail, w, horizon, judged[row], None)
                    centred.put(row, CentredStats.of(train + tail))
            for g in np.flatnonzero(is_weighted):
                if _no_time(len(origins_tail), k, w, horizon):  # at the fit's pace (a weighted series': its own)
                    cut([int(keys[g])], "dlinear refit")
                    for j in range(k):
                        centred.put(int(g) * k + j, CentredStats.of(kept[int(g) * k + j]))
                    continue
                element, first = weighted.refit_weights(int(keys[g]), y[keys[g]], w, n_train)
                for j in range(k):
                    row = int(g) * k + j
                    column = None if element is None else element[:, j]
                    if column is not None:  # a counter's start the tail ends: the training part's windows again
                        kept[row] = _restarted(kept[row], z_all[rows[row]], weighted.train[int(keys[g])], j,
                                               summed[int(g)], column, first, w, horizon, n_train)
                    tail = WindowStats.weighted(z_all[rows[row]], origins_tail, w, horizon,
                                                dlinear.combined_weights(
                                                    settled_weights(column, z_all[rows[row]], origins_tail, w,
                                                                    horizon, first),
                                                    judged.get(row)), column, first)
                    centred.put(row, CentredStats.of(kept[row] + tail))
            with _naming_series(keys, k):
                full_coef, full_intercept = _solution(centred, group, group_alphas, k, kernel_size, device,
                                                      follow_level, in_place=True)  # centred's last use
            coef[keys, :, width - w :] = full_coef.reshape(len(keys), k, w, horizon)
            intercept[keys] = full_intercept.reshape(len(keys), k, horizon)
    if settled:
        y = y.copy()
        for b, values in settled.items():
            y[b] = values
    actual = targets_at(y.transpose(1, 0, 2), origins_val, horizon).transpose(2, 0, 1, 3)  # [B, v, H, k]
    return BatchFit(offset=offset, scale=scale, window=widest, window_weights=weights, window_scores=scores,
                    coef=coef, intercept=intercept, validation_origins=origins_val, validation_forecast=forecast,
                    validation_actual=actual, time_limited=limited)


def _restarted(stats: WindowStats, z: np.ndarray, train: np.ndarray | None, j: int, origins: np.ndarray,
               after: np.ndarray, first: int, window: int, horizon: int, n_train: int) -> WindowStats:
    """``DLinear._retracted`` at a fit's refit, of target ``j`` of a weighted series: its training part's statistics
    ``stats`` (the windows at ``origins``, weighed by ``train``, its training part's weights) with the windows that
    hold a counter's start the tail ends (``after``: the refit's weights of its points from ``first`` on) summed
    again (:func:`~workload_predictor.models.dlinear.restarted`)."""
    lead = anomaly.COUNTER_RUN - 1
    ends = np.arange(n_train - lead, n_train)
    at = ends - horizon + 1
    if int(at[0]) < window:  # windows without room for their inputs: none summed
        return stats
    before = np.ones(n_train - first) if train is None else train[first:, j]
    taken = (at >= (int(origins[0]) if len(origins) else n_train)) & (at <= (int(origins[-1]) if len(origins) else -1))
    weights = settled_weights(None if train is None else train[:, j], z, at, window, horizon)
    newest = np.where(taken, 1.0 if weights is None else weights, np.nan)
    return dlinear.restarted(stats, z, n_train, newest, before, after, first, window, horizon)[0]


def _scale_woken(series: np.ndarray, n_train: int, b: int, first_row: int, k: int, offset: np.ndarray,
                 scale: np.ndarray, z_all: np.ndarray, rows: np.ndarray, stats: BatchStats, kept: dict,
                 train_intercept: np.ndarray, weighted: Weighted) -> None:
    """``DLinear._scale_woken`` of series ``b`` (``series`` ``(n, k)``; its targets' rows of the group from
    ``first_row``), in place: each target its training part held constant and its tail leaves takes
    :func:`~workload_predictor.models.dlinear.woken_scale`'s scale (its row of ``z_all`` read again, its statistics
    and intercept converted)."""
    model = weighted.models.get(b)
    floors = None if model is None else model.weight_floor_
    for j in range(k):
        column = series[:, j]
        if not bool((column[:n_train] == column[0]).all()):
            continue
        woken = dlinear.woken_scale(column, n_train, None if floors is None else float(floors[j]))
        if woken is None:
            continue
        factor = float(scale[b, j]) / woken
        scale[b, j] = woken
        row = first_row + j
        z_all[rows[row]] = (column - offset[b, j]) / woken
        for part in (stats.sum_x, stats.sum_y):
            part[row] *= factor
        for part in (stats.xx, stats.xy):
            part[row] *= factor**2
        if row in kept:
            own = kept[row]
            kept[row] = WindowStats(own.count, own.sum_x * factor, own.sum_y * factor, own.xx * factor**2,
                                    own.xy * factor**2)
        train_intercept[row] *= factor


def _judged_rows(z_all: np.ndarray, rows: np.ndarray, origins_tail: np.ndarray, window: int, horizon: int,
                 coef: np.ndarray, intercept: np.ndarray, k: int,
                 elements: dict[int, tuple[np.ndarray | None, int, list | None, tuple[int, int]]]) -> dict[int, np.ndarray]:
    """Per row of a group (``rows``: their rows of ``z_all``), the weights of its refit's tail windows by their
    residuals under the training part's map (``coef`` ``(R, W, H)``, ``intercept`` ``(R, H)``), as
    ``DLinear._judge_series`` sets them at the refit; rows whose every weight is 1 are left out. ``elements``: per
    weighted series of the group (its index in the group), its points' weights for the refit, their first position,
    its flags and its shape (the reference windows before the tail may need weights from further back)."""
    judged_from = int(origins_tail[-dlinear.RESIDUAL_WINDOWS:][0])
    begin = max(window, judged_from // dlinear.RESIDUAL_EVERY * dlinear.RESIDUAL_EVERY - dlinear.RESIDUAL_REFERENCE)
    span = np.arange(begin, int(origins_tail[-1]) + 1)
    skip = judged_from - begin
    found = {}
    plain = []  # the rows none of whose points is weighted: their deviations taken JUDGE_ROWS at a time
    for row in range(len(rows)):
        element, first, flags, shape = elements.get(row // k, (None, 0, None, None))
        if shape is not None and begin - window < first:
            element, first = _part_weights(flags, shape, begin - window), begin - window
        column = None if element is None else element[:, row % k]
        residuals, noise = dlinear.window_residuals(z_all[rows[row]], span, window, horizon, column, first,
                                                    coef[row], intercept[row])
        if column is None:
            plain.append((row, residuals, noise))
            if len(plain) == JUDGE_ROWS or row == len(rows) - 1:
                _judge_plain(plain, z_all, rows, span, skip, window, horizon, len(origins_tail), found)
                plain = []
            continue
        weights = dlinear.calm_weights(dlinear.residual_deviations(residuals, skip, begin, noise=noise)[0],
                                       z_all[rows[row]], span[skip:], window, horizon, column, first)
        if weights is not None:
            found[row] = np.r_[np.ones(len(origins_tail) - len(weights)), weights]
    if plain:
        _judge_plain(plain, z_all, rows, span, skip, window, horizon, len(origins_tail), found)
    return dict(sorted(found.items()))


def _judge_plain(plain: list, z_all: np.ndarray, rows: np.ndarray, span: np.ndarray, skip: int, window: int,
                 horizon: int, n_tail: int, found: dict[int, np.ndarray]) -> None:
    """``_judged_rows``' weights, into ``found``, of rows none of whose points is weighted (``plain``: each row's index
    in the group, its residuals and its windows' noises, :func:`~workload_predictor.models.dlinear.window_residuals`'):
    their deviations taken together (:func:`_row_deviations`), and a row with a window beyond ``RESIDUAL_K`` judged
    as ``calm_weights`` judges it (a row without one weighs every window 1: ``calm_weights`` gives ``None``)."""
    deviations = _row_deviations(np.stack([residuals for _, residuals, _ in plain]), skip, int(span[0]),
                                 np.stack([noise for _, _, noise in plain]))
    for (row, _, _), deviation in zip(plain, deviations):
        if not (deviation > dlinear.RESIDUAL_K).any():
            continue
        weights = dlinear.calm_weights(deviation, z_all[rows[row]], span[skip:], window, horizon, None, 0)
        if weights is not None:
            found[row] = np.r_[np.ones(n_tail - len(weights)), weights]


def _row_deviations(residuals: np.ndarray, start: int, first_origin: int, noise: np.ndarray) -> np.ndarray:
    """:func:`~workload_predictor.models.dlinear.residual_deviations`' deviations (no ``known`` reference) of ``R``
    rows at once, their residuals ``(R, m, H)`` and windows' noises ``(R, m)``: ``(R, m - start)``, the same numbers
    (the same medians, spreads (:func:`~workload_predictor.models.dlinear.reference_spread`) and units, each row's
    own: a sort's middle values and sums do not depend on the axes before it). The rows' blocks and references lie at the same positions, so they are found once."""
    length = dlinear.RESIDUAL_REFERENCE
    positions = np.arange(start, residuals.shape[1])
    out = np.zeros((len(residuals), len(positions)))
    if not len(positions):
        return out
    block_starts = (first_origin + positions) // dlinear.RESIDUAL_EVERY * dlinear.RESIDUAL_EVERY - first_origin
    blocks, of_row = np.unique(block_starts, return_inverse=True)
    references: list[tuple | None] = [None] * len(blocks)  # per block: medians (R, H), spreads (R, H), units (R,)
    whole = [i for i, block in enumerate(blocks.tolist()) if block >= length]
    if whole:
        lagged = np.lib.stride_tricks.sliding_window_view(residuals, length, axis=1)  # [R, m - length + 1, H, length]
        lagged_noise = np.lib.stride_tricks.sliding_window_view(noise, length, axis=1)  # [R, m - length + 1, length]
        step = max(dlinear.RESIDUAL_BLOCK // length, 1)
        for begin in range(0, len(whole), step):
            part = whole[begin : begin + step]
            reference = lagged[:, blocks[part] - length]  # [R, b, H, length]
            center = dlinear._middle(reference)
            spread = dlinear.reference_spread(reference, center)
            unit = dlinear._middle(lagged_noise[:, blocks[part] - length])  # [R, b]
            for j, i in enumerate(part):
                references[i] = (center[:, j], spread[:, j], unit[:, j])
    for i, block in enumerate(blocks.tolist()):
        below = slice(max(block - length, 0), max(block, 0))
        if references[i] is None and below.stop - below.start >= anomaly.MIN_REFERENCE:  # residual_reference's
            reference = residuals[:, below].transpose(0, 2, 1)  # [R, H, r]
            center = dlinear._middle(reference)
            spread = dlinear.reference_spread(reference, center)
            references[i] = (center, spread, dlinear._middle(noise[:, below]))
    usable = np.array([reference is not None for reference in references])
    if usable.any():
        centers = np.stack([reference[0] for reference in references if reference is not None], axis=1)  # [R, u, H]
        spreads = np.stack([reference[1] for reference in references if reference is not None], axis=1)
        units = np.stack([reference[2] for reference in references if reference is not None], axis=1)  # [R, u]
        judged = usable[of_row]
        at, of = positions[judged], (np.cumsum(usable) - 1)[of_row][judged]  # each judged row's reference
        scaled = residuals[:, at] * np.minimum(noise[:, at] / units[:, of], 1.0)[:, :, None]
        out[:, judged] = (np.abs(scaled - centers[:, of]) / spreads[:, of]).max(axis=2)
    return out


def _scales(y: np.ndarray, weights: dict[int, np.ndarray | None]) -> tuple[np.ndarray, np.ndarray]:
    """``fit_scale`` per series of ``y`` ``(B, n, k)`` (series ``b``'s points weighted by ``weights.get(b)``):
    ``(B, k)`` offsets and scales."""
    offsets, scales = zip(*(fit_scale(series, weights.get(b)) for b, series in enumerate(y)))
    return np.array(offsets), np.array(scales)


def _search(z: np.ndarray, k: int, horizon: int, candidates: Sequence[int], kernel_size: int,
            alphas: Sequence[float], fraction: float, max_windows: int, blend: int, device: str | None,
            element: dict[int, np.ndarray | None] | None = None, follow_level: bool = True,
            cut: Callable[[Iterable[int], str], None] | None = None, scored: dict[int, np.ndarray] | None = None
            ) -> tuple[list[dict], list[dict], np.ndarray]:
    """DLinear's window search and ``blend_weights`` per series: the blend weights, the validation scores
    and the relative penalty ``(B,)`` of each.

    ``z`` is the scaled training part, ``(B*k, n_train)``, each series' targets in
    consecutive rows. As in the single-series search, the candidates are scored on
    the tail of the training part, all fitted on the rows with room for the widest,
    and a series' score sums its targets' validation MAEs; they are scored with the first
    of ``alphas``, and a series whose errors at its best window are significantly lower
    with another is scored again with that one. ``scored`` maps the index of a series to its training part as
    its validation windows read it, inputs and targets (``(k, n_train)``, scaled: the series with each burst it came
    back from at its median, as the single-series search's ``scored``); the others read ``z``.

    Under a time limit it ends early as ``DLinear``'s search does (``cut`` records the stage for the series
    it names): once the deadline has passed before it starts, or where not even the batched pass over the newest
    ``NEWEST_MIN_ORIGINS`` origins fits in ``SEARCH_SHARE`` of the time left, every series takes the middle usable
    candidate without scores; the Gram matrices are summed over the newest training origins that fit in that
    share (a weighted series': its own, see :func:`~workload_predictor.models.dlinear.affordable_origins`, and
    the middle candidate where not even its newest fit); the candidates are scored from the shortest up until
    the deadline passes (the best of those scored wins), and no other penalty is tried after it.
    """
    n_series = z.shape[0] // k
    deadline = current()
    if cut is None:
        cut = _recorder(n_series)[1]
    origins_val = validation_origins(z.shape[1], horizon, fraction, max_windows)
    last_train_origin = int(origins_val[0]) - horizon
    usable = [w for w in sorted(set(candidates)) if last_train_origin - w + 1 >= max(2 * w, MIN_TRAIN_WINDOWS)]
    if not usable:  # too short to score any candidate: the shortest, with the default penalty
        return [{min(candidates): 1.0} for _ in range(n_series)], [{} for _ in range(n_series)], np.full(
            n_series, alphas[0])
    if len(usable) == 1 and len(alphas) == 1:
        return [{usable[0]: 1.0} for _ in range(n_series)], [{} for _ in range(n_series)], np.full(n_series, alphas[0])
    middle = usable[len(usable) // 2]

    def unscored(series: Iterable[int]) -> None:  # the middle candidate, without scores, at the first penalty
        cut(series, "dlinear window search")

    if deadline.expired():
        unscored(range(n_series))
        return [{middle: 1.0} for _ in range(n_series)], [{} for _ in range(n_series)], np.full(n_series, alphas[0])
    widest = usable[-1]
    origins_train = np.arange(widest, last_train_origin + 1)
    check_memory("DLinear fleet window search", extra_bytes=batch_bytes(len(z), z.shape[1], widest, horizon,
                                                                         len(origins_val), moments=3))
    newest, pace = batch_affordable_origins(z, origins_train, widest, horizon, SEARCH_SHARE)
    if len(newest) < len(origins_train):
        if deadline.left() * SEARCH_SHARE < pass_seconds(len(newest), len(z), widest, horizon, pace):
            unscored(range(n_series))  # not even the newest origins' pass fits
            return [{middle: 1.0} for _ in range(n_series)], [{} for _ in range(n_series)], np.full(n_series,
                                                                                                    alphas[0])
        unscored([b for b in range(n_series) if (element or {}).get(b) is None])
    centred = BatchCentred.of(batched_window_stats(z, newest, widest, horizon), in_place=True)  # xx read no more
    middles = []  # the weighted series whose newest origins' own pass does not fit either
    for b, weights in (element or {}).items():
        if weights is None:
            continue
        origins = affordable_origins(z[b * k : (b + 1) * k].T, origins_train, widest, horizon, SEARCH_SHARE, weights)
        if len(origins) < len(origins_train):
            unscored([b])
            if deadline.left() * SEARCH_SHARE < pass_seconds(len(origins), k, widest, horizon):
                middles.append(b)  # its statistics stay the batch's, and its scores are dropped below
                continue
        for j in range(k):
            windows = settled_weights(weights[:, j], z[b * k + j], origins, widest, horizon)
            if windows is not None or len(origins) != len(newest):
                centred.put(b * k + j, CentredStats.of(WindowStats.weighted(z[b * k + j], origins, widest,
                                                                            horizon, windows, weights[:, j])))
    if follow_level:  # each window less its last input: shifted once, every candidate reads a slice
        centred.gram, centred.cross = batched_shifted_moments(centred.gram, centred.cross, in_place=True)
    actual = np.take(z, origins_val[:, None] + np.arange(horizon), axis=1)  # [B*k, v, H]
    # np.take writes a C-contiguous array: each series' (v, widest) windows are a matrix BLAS reads as it is.
    # z[:, index] holds the same values with the series axis innermost (strides (8, ...)), which matmul copies
    # series by series before each product: at 125 series the products of the 7 candidates took 14.8 ms
    # against 5.2 ms, the same numbers.
    inputs = np.take(z, origins_val[:, None] + np.arange(-widest, 0), axis=1)  # [B*k, v, widest]
    for b, settled in (scored or {}).items():  # a series holding a burst it came back from: read settled
        actual[b * k : (b + 1) * k] = np.take(settled, origins_val[:, None] + np.arange(horizon), axis=1)
        inputs[b * k : (b + 1) * k] = np.take(settled, origins_val[:, None] + np.arange(-widest, 0), axis=1)

    def errors(series: np.ndarray | None, w: int, alpha: float) -> tuple[np.ndarray, np.ndarray]:
        """The validation MAE summed over the targets ``(S,)`` and the error per origin ``(S, v)`` of ``series``
        (None: every series, read in place) at window ``w``."""
        rows = slice(None) if series is None else (series[:, None] * k + np.arange(k)[None, :]).ravel()
        part = centred.last(w) if series is None else BatchCentred(  # the Gram matrices gathered block by block
            centred.mean_x[rows, -w:], centred.mean_y[rows], centred.gram[:, -w:, -w:], centred.cross[rows, -w:],
            centred.count[rows], centred.second[rows, -w:])
        coef = _ridge_map(part.gram, part.cross, kernel_size, alpha, device, part.count, part.second,
                          alike_zero=True, rows=None if series is None else rows)  # [S*k, w, H]
        if follow_level:
            coef = level_map(coef)
        intercept = part.mean_y - np.einsum("sw,swh->sh", part.mean_x, coef)  # the raw means, the raw map
        error = np.matmul(inputs[rows, :, widest - w :], coef)  # then less the targets, in place: no temporaries
        error += intercept[:, None, :]
        error -= actual[rows]
        np.abs(error, out=error)
        count = n_series if series is None else len(series)
        mae = error.mean(axis=(1, 2)).reshape(count, k)
        per_origin = error.mean(axis=2).reshape(count, k, -1)
        score, by_origin = np.zeros(count), np.zeros((count, len(origins_val)))
        for j in range(k):  # summed target by target, in order, as the single-series search does
            score += mae[:, j]
            by_origin += per_origin[:, j]
        return score, by_origin

    def expired() -> bool:
        if deadline.expired():
            unscored(range(n_series))
            return True
        return False

    scores = np.zeros((n_series, len(usable)))
    by_origin = np.zeros((n_series, len(usable), len(origins_val)))
    for i, w in enumerate(usable):
        if i and expired():  # the candidates scored before the deadline
            usable = usable[:i]
            scores, by_origin = scores[:, :i], by_origin[:, :i]
            break
        scores[:, i], by_origin[:, i] = errors(None, w, alphas[0])
    penalty = np.full(n_series, alphas[0])
    undecided = np.ones(n_series, dtype=bool)
    for other in alphas[1:]:
        if expired():
            break
        best = np.argmin(scores, axis=1)  # the first of equal scores, as min() over the windows in order
        switch = np.zeros(n_series, dtype=bool)
        trial_score, trial_by_origin = np.zeros(n_series), np.zeros((n_series, len(origins_val)))  # at its best
        for i in np.unique(best[undecided]):
            series = np.flatnonzero(undecided & (best == i))
            trial_score[series], trial_by_origin[series] = errors(series, usable[i], other)
            switch[series] = significantly_better(trial_by_origin[series] - by_origin[series, i], origins_val,
                                                  horizon)
        series = np.flatnonzero(switch)
        scored = len(usable)  # the candidates scored again with ``other`` before the deadline
        if len(series):
            for i, w in enumerate(usable):
                if i and expired():
                    scored = i
                    break
                tried = series[best[series] == i]  # their trial scored this window with ``other`` already
                scores[tried, i], by_origin[tried, i] = trial_score[tried], trial_by_origin[tried]
                rest = series[best[series] != i]
                if len(rest):
                    scores[rest, i], by_origin[rest, i] = errors(rest, w, other)
        penalty[series] = other
        undecided &= ~switch
        if scored < len(usable):  # those series keep only the candidates scored with their penalty
            scores[series, scored:] = np.nan
    by_window = [{w: float(v) for w, v in zip(usable, row) if not np.isnan(v)} for row in scores]
    weights = [blend_weights(scored_windows, blend) for scored_windows in by_window]
    for b in middles:
        by_window[b], weights[b], penalty[b] = {}, {middle: 1.0}, alphas[0]
    return weights, by_window, penalty


def _ridge_map(gram: np.ndarray, cross: np.ndarray, kernel_size: int, alpha: float | np.ndarray,
               device: str | None, count: np.ndarray | None = None, second: np.ndarray | None = None,
               alike_zero: bool = False, rows: np.ndarray | None = None) -> np.ndarray:
    """``solve_dlinear``'s map per series from centred moments ``(S, W, W)``, ``(S, W, H)`` (total window weights
    ``count`` ``(S,)``, uncentred diagonals ``second`` ``(S, W)``; ``alike_zero`` as ``solve_dlinear``'s): ``(S, W, H)``.

    ``rows``: the series of ``gram`` solved (``cross``, ``count``, ``second`` and ``alpha`` are theirs already), each
    block of them gathered as it is solved, so no copy of all their Gram matrices is made (a view ``gram``, a few of
    its series: the window search's other penalty, a blend's windows)."""
    trace = np.trace(gram, axis1=1, axis2=2)  # the diagonals of a view: no copy
    if rows is not None:
        trace = trace[rows]
    try:
        lam = relative_penalties(gram, alpha, count, second, trace, checked=True)
    except WorkloadDataError as exc:  # its row as one of gram's series
        if rows is not None and getattr(exc, "row", None) is not None:
            exc.row = int(rows[exc.row])
        raise
    if alike_zero:
        # the penalty at its floor, read at alpha 1 as windows_alike reads it ((alpha t) / alpha may round above t)
        alike = relative_penalties(gram, 1.0, count, second, trace) > trace / gram.shape[1]
        if alike.any():
            cross = cross.copy()
            cross[alike] = 0.0
    width = gram.shape[1]
    block = max(1, SOLVE_BLOCK_ELEMENTS // (width * width))
    if block >= len(cross) or device is not None:  # a device solves the batch in one call
        return batched_solve(_systems(gram if rows is None else gram[rows], kernel_size, lam), cross, device)
    coef = np.empty(cross.shape)
    for i in range(0, len(cross), block):  # each series' system is its own: solved a block of series at a time
        part = gram[i : i + block] if rows is None else gram[rows[i : i + block]]
        coef[i : i + block] = batched_solve(_systems(part, kernel_size, lam[i : i + block]), cross[i : i + block],
                                            device)
    return coef


def _solution(centred: BatchCentred, weights: list[dict[int, float]], alphas: np.ndarray, k: int,
              kernel_size: int, device: str | None, follow_level: bool = True,
              in_place: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """DLinear's ``_ridge`` + ``_solution`` per series: the blended map ``(S, W, H)`` and intercept ``(S, H)``.

    Series ``b``'s targets are rows ``b*k .. b*k+k-1`` and share its blend weights and its
    relative penalty ``alphas[b]``, applied to each window's own Gram matrix. ``in_place``: with
    ``follow_level``, ``centred.gram`` is shifted in place (it is read no more).
    """
    width = centred.mean_x.shape[1]
    gram, cross = batched_shifted_moments(centred.gram, centred.cross, in_place) if follow_level else (
        centred.gram, centred.cross)
    coef = np.zeros_like(centred.cross)
    for w in sorted({w for blend in weights for w in blend}):
        series = np.array([b for b, blend in enumerate(weights) if w in blend])
        rows = (series[:, None] * k + np.arange(k)[None, :]).ravel()
        weight = np.repeat([weights[b][w] for b in series], k)
        alpha = np.repeat(alphas[series], k)
        # DLinear keeps each system's inverse for its rank-one updates; a fleet refits instead, so one solve
        # (a third of an inversion's cost) gives the same map up to rounding.
        every = len(rows) == len(gram)  # every series (its widest window): no copy; else gathered block by block
        part = _ridge_map(gram[:, width - w :, width - w :], cross[slice(None) if every else rows, width - w :],
                          kernel_size, alpha, device, centred.count[rows], centred.second[rows, width - w :],
                          alike_zero=True, rows=None if every else rows)
        coef[rows, width - w :] += weight[:, None, None] * (level_map(part) if follow_level else part)
    intercept = centred.mean_y - np.einsum("sw,swh->sh", centred.mean_x, coef)
    return coef, intercept
