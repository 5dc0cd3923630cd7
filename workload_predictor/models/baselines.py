"""Simple baselines with the same contract: naive, seasonal naive, moving average, exponential smoothing,
and the median of the last seasons with a period found in the data.

They are the bar every model must clear in a backtest, and cheap ensemble members.
"""

from __future__ import annotations

import itertools
import math
from typing import Any

import numpy as np

from .._deadline import current
from .._memory import check_memory
from ..errors import (NoSeasonError, WorkloadDataError, check_is_fitted, is_integer, is_number, is_positive_int, plural,
                      quote)
from ..windows import targets_at, validation_origins, windows_at
from .base import MAX_WINDOW, MIN_TRAIN_WINDOWS, BaseForecaster, check_origins
from .combination import target_size

SMOOTHING_ALPHAS = (0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 1.0)
ALPHA_CHUNK = 16384  # origins whose errors exponential smoothing's fit sums at a time (newest first)
# Target values (origins x horizon x targets) the fits of exponential smoothing and the moving median score at a
# time: a long horizon scores fewer origins at once (8 MiB of float64 per array).
SCORED_CHUNK_VALUES = 1 << 20
# Bytes each scored target value takes while it is scored: the gather's index and value, and the error beside it.
SCORED_VALUE_BYTES = 3 * 8


def flat_forecast(level: np.ndarray, horizon: int) -> np.ndarray:
    """A level per origin ``(m, k)`` repeated over the horizon: ``(m, horizon, k)``."""
    return np.repeat(level[:, None, :], horizon, axis=1)


def scaled_error_sum(actual: np.ndarray, level: np.ndarray, size: np.ndarray) -> float:
    """The sum of ``|actual - level| / size`` over the origins, steps and targets of ``actual`` ``(m, H, k)``
    (``level`` ``(m, k)`` repeated over the steps, ``size`` ``(k,)``), computed in one array of ``actual``'s shape."""
    error = np.subtract(actual, level[:, None, :])
    np.abs(error, out=error)
    np.divide(error, size, out=error)
    return float(error.sum())


def scored_chunk(horizon: int, k: int) -> int:
    """How many origins a fit scores at a time: at most ``SCORED_CHUNK_VALUES`` target values (at least one origin)."""
    return max(1, SCORED_CHUNK_VALUES // (horizon * k))


def check_scored_memory(step: str, origins: int, horizon: int, k: int) -> None:
    """:func:`check_memory` for scoring ``origins`` origins of ``horizon`` steps and ``k`` targets (``step``: the
    fit's stage, named in the error)."""
    check_memory(step, extra_bytes=float(SCORED_VALUE_BYTES) * origins * horizon * k)


def check_buckets(name: str, value: Any, example: int) -> None:
    """Raise :class:`WorkloadDataError` unless the setting ``name`` is a positive integer number of buckets.

    A window of 0 or less would read no points (a NaN mean) or index before the series, and
    ``int()`` would quietly turn ``2.5``, ``"3"`` or ``True`` into a window: all are refused.
    """
    if not is_positive_int(value):
        raise WorkloadDataError(f"{name}={quote(value)} must be a positive integer number of buckets, e.g. "
                                f"{name}={example}.")


def check_candidates(name: str, values: Any, valid: Any, what: str, example: str) -> None:
    """Raise :class:`WorkloadDataError` unless the setting ``name`` is a non-empty 1-D list, tuple or array whose
    every item passes ``valid`` (``what`` the items must be, ``example`` a valid setting)."""
    if not isinstance(values, (list, tuple, np.ndarray)) or np.ndim(values) != 1 or len(values) == 0 or not all(
            valid(v) for v in values):
        raise WorkloadDataError(f"{name}={quote(values)} must be a non-empty list or tuple of {what}, e.g. "
                                f"{name}={example}.")


class Naive(BaseForecaster):
    """Repeat the last observed value over the horizon.

    Parameters
    ----------
    horizon : int
        Buckets forecast.
    validation_fraction, max_validation_windows :
        The chronological validation tail: this share of the points (at least one horizon), forecast at up to
        this many origins spread evenly over it.
    """

    min_window = 1

    def __init__(self, horizon: int = 10, validation_fraction: float = 0.15, max_validation_windows: int = 100):
        self.horizon = horizon
        self.validation_fraction = validation_fraction
        self.max_validation_windows = max_validation_windows

    _forecast_within = 1.0  # the last load, repeated (BaseForecaster._forecast_within)

    def context_length(self) -> int:
        return 1

    def _fit_arrays(self, y: np.ndarray, refit: bool) -> None:
        self.window_ = 1

    def _predict_at(self, y: np.ndarray, origins: np.ndarray) -> np.ndarray:
        return flat_forecast(y[origins - 1], self.horizon)


class MovingAverage(BaseForecaster):
    """Repeat the mean of the last ``window`` values over the horizon.

    Parameters
    ----------
    horizon : int
        Buckets forecast.
    window : int
        Buckets averaged (default 12; the predictor's ``window`` sets it).
    validation_fraction, max_validation_windows :
        The chronological validation tail: this share of the points (at least one horizon), forecast at up to
        this many origins spread evenly over it.
    """

    def __init__(self, horizon: int = 10, window: int = 12, validation_fraction: float = 0.15,
                 max_validation_windows: int = 100):
        self.horizon = horizon
        self.window = window
        self.validation_fraction = validation_fraction
        self.max_validation_windows = max_validation_windows

    def _required_window(self) -> int:
        check_buckets("window", self.window, 12)  # the length check, hence fit, starts here
        return int(self.window)

    _forecast_within = 1.0  # the mean of its window (BaseForecaster._forecast_within)

    def context_length(self) -> int:
        return int(self.window_)

    def _fit_arrays(self, y: np.ndarray, refit: bool) -> None:
        self.window_ = int(self.window)

    def _predict_at(self, y: np.ndarray, origins: np.ndarray) -> np.ndarray:
        return flat_forecast(windows_at(y, origins, self.window_).mean(axis=1), self.horizon)


MEDIAN_WINDOWS = (5, 10, 20, 40, 80, 160)  # the moving median's candidate windows (buckets)
MEDIAN_SCORED_ORIGINS = 4096  # the newest training origins each candidate window is scored on
MEDIAN_CHUNK_VALUES = 1 << 22  # window values gathered at a time (32 MiB of float64, as much again of indices)


def moving_medians(y: np.ndarray, origins: np.ndarray, window: int) -> np.ndarray:
    """The median of the ``window`` points before each origin, ``(len(origins), k)``, in chunks of origins that
    gather at most ``MEDIAN_CHUNK_VALUES`` values at a time."""
    step = max(1, MEDIAN_CHUNK_VALUES // (window * y.shape[1]))
    out = np.empty((len(origins), y.shape[1]))
    for start in range(0, len(origins), step):
        out[start : start + step] = np.median(windows_at(y, origins[start : start + step], window), axis=1)
    return out


class MovingMedian(BaseForecaster):
    """Repeat the median of the last ``window_`` values over the horizon.

    The median is the forecast with the lowest expected absolute error: on bursty counts (most
    buckets empty, a few large) it stays at the typical bucket where a mean is pulled up by the
    bursts. The window is the one of ``windows`` whose forecasts have the lowest MAE over the
    newest ``MEDIAN_SCORED_ORIGINS`` origins of the training part (every step), as exponential
    smoothing chooses its factor; the origins are scored at most ``SCORED_CHUNK_VALUES`` target
    values at a time, each chunk's memory checked before it is gathered.

    Parameters
    ----------
    horizon : int
        Buckets forecast.
    windows : tuple of int
        The candidate windows in buckets (default ``MEDIAN_WINDOWS``, 5 to 160); the shortest sets the
        fewest points a fit needs. The predictor's ``window`` is not read.
    validation_fraction, max_validation_windows :
        The chronological validation tail: this share of the points (at least one horizon), forecast at up to
        this many origins spread evenly over it.
    """

    min_window = 1
    window_setting = "windows="  # the shortest sets the length check's window; the predictor's window is not read

    def __init__(self, horizon: int = 10, windows: tuple[int, ...] = MEDIAN_WINDOWS,
                 validation_fraction: float = 0.15, max_validation_windows: int = 100):
        self.horizon = horizon
        self.windows = windows
        self.validation_fraction = validation_fraction
        self.max_validation_windows = max_validation_windows

    def _check_params(self) -> None:
        check_candidates("windows", self.windows, is_positive_int, "positive integer numbers of buckets", "(10, 40)")

    def _required_window(self) -> int:
        self._check_params()  # the length check, hence fit, starts here
        return int(min(self.windows))

    _forecast_within = 1.0  # the median of its window (BaseForecaster._forecast_within)

    def context_length(self) -> int:
        return int(self.window_)

    def _fit_arrays(self, y: np.ndarray, refit: bool) -> None:
        if refit:  # the window stays the one chosen on the training part
            return
        self._check_params()
        # Every window is scored on the same origins (those with room for the longest usable window, at least
        # half the series): scores over different stretches are not comparable.
        room = max(1, (len(y) - self.horizon) // 2)
        usable = sorted({int(w) for w in self.windows if int(w) <= room}) or [int(min(self.windows))]
        origins = np.arange(max(usable), len(y) - self.horizon + 1)[-MEDIAN_SCORED_ORIGINS:]
        if len(origins) == 0:
            self.window_, self.window_scores_ = usable[0], {}
            return
        size = target_size(y)  # a common size, so tokens do not drown requests
        horizon, k = int(self.horizon), y.shape[1]
        totals = dict.fromkeys(usable, 0.0)
        step = scored_chunk(horizon, k)  # origins x horizon x targets bounded, checked before the gather
        for start in range(0, len(origins), step):
            chunk = origins[start : start + step]
            check_scored_memory("moving median window", len(chunk), horizon, k)
            actual = targets_at(y, chunk, horizon)
            for w in usable:
                totals[w] += scaled_error_sum(actual, moving_medians(y, chunk, w), size)
        scores = {w: total / (len(origins) * horizon * k) for w, total in totals.items()}
        self.window_ = min(scores, key=scores.get)
        self.window_scores_ = scores

    def _predict_at(self, y: np.ndarray, origins: np.ndarray) -> np.ndarray:
        return flat_forecast(moving_medians(y, origins, self.window_), self.horizon)


class SeasonalNaive(BaseForecaster):
    """Repeat the value one season (``season_length`` buckets) earlier.

    Parameters
    ----------
    horizon : int
        Buckets forecast.
    season_length : int
        The season in buckets (default 60; the predictor's ``window`` sets it).
    validation_fraction, max_validation_windows :
        The chronological validation tail: this share of the points (at least one horizon), forecast at up to
        this many origins spread evenly over it.
    """

    def __init__(self, horizon: int = 10, season_length: int = 60, validation_fraction: float = 0.15,
                 max_validation_windows: int = 100):
        self.horizon = horizon
        self.season_length = season_length
        self.validation_fraction = validation_fraction
        self.max_validation_windows = max_validation_windows

    def _required_window(self) -> int:
        check_buckets("season_length", self.season_length, 60)  # the length check, hence fit, starts here
        return int(self.season_length)

    _forecast_within = 1.0  # the loads one season back (BaseForecaster._forecast_within)

    def context_length(self) -> int:
        return int(self.window_)

    def _fit_arrays(self, y: np.ndarray, refit: bool) -> None:
        self.window_ = int(self.season_length)

    def _predict_at(self, y: np.ndarray, origins: np.ndarray) -> np.ndarray:
        season = self.window_
        steps = np.arange(self.horizon)
        # Step h reads the value one season before it; beyond a season, the last season repeats.
        return y[origins[:, None] - season + (steps % season)[None, :]]


def kernel_length(alpha: float, tolerance: float = 1e-3) -> float:
    """How many values :func:`exponential_weights` keeps for ``alpha`` in (0, 1], computed without allocating them:
    ``ceil(log(tolerance) / log(1 - alpha)) + 1`` (1 for ``alpha = 1``), ``inf`` where that count is too large for
    a float (a factor near the smallest float)."""
    if alpha == 1.0:
        return 1
    steps = math.log(tolerance) / math.log1p(-alpha)  # log1p: 1 - alpha rounds to 1 for alpha < 1.1e-16
    return math.ceil(steps) + 1 if math.isfinite(steps) else math.inf


def exponential_weights(alpha: float, tolerance: float = 1e-3) -> np.ndarray:
    """Weights of simple exponential smoothing over the last values, oldest first, summing to 1.

    ``alpha (1 - alpha)^j`` for the value ``j`` steps back, cut where it falls below
    ``tolerance`` of the newest weight and renormalised: a finite window, so the model's
    context is bounded like every other model's. ``alpha = 1`` is the last value.
    The length (:func:`kernel_length`) is checked before the weights are allocated: longer
    than any series (``MAX_WINDOW``) is a :class:`WorkloadDataError`, more than the memory
    limit or the machine has is a :class:`~workload_predictor.errors.MemoryLimitError`.
    """
    if not 0.0 < alpha <= 1.0:
        raise WorkloadDataError(f"alpha={quote(alpha)} must be in (0, 1], e.g. alpha=0.3.")
    length = kernel_length(alpha, tolerance)
    if length > MAX_WINDOW:
        raise WorkloadDataError(f"alpha={quote(alpha)} weighs more than {MAX_WINDOW:,} past values, more than any "
                                "series holds: pass a larger smoothing factor, e.g. alpha=0.01.")
    check_memory("exponential smoothing weights", extra_bytes=16.0 * length)  # the powers, then the weights
    weights = alpha * (1.0 - alpha) ** np.arange(length)[::-1]
    return weights / weights.sum()


def smoothed_levels(y: np.ndarray, origins: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """The smoothed level before each origin, ``(m, k)``: the weighted mean of the ``len(weights)`` values.

    For a long run of consecutive origins (the fit scores every origin of the training
    part) one correlation per target reads the series once; gathering every window
    took 14 s on 200,000 points. Otherwise the windows are gathered in chunks of origins
    of at most ``MEDIAN_CHUNK_VALUES`` values, as :func:`moving_medians` gathers them.
    """
    if len(origins) > 1024 and bool(np.all(np.diff(origins) == 1)):
        span = y[int(origins[0]) - len(weights) : int(origins[-1])]  # (m + L - 1, k)
        return np.stack([np.correlate(span[:, j], weights, mode="valid") for j in range(y.shape[1])], axis=1)
    step = max(1, MEDIAN_CHUNK_VALUES // (len(weights) * y.shape[1]))
    if len(origins) <= step:
        return np.einsum("mwk,w->mk", windows_at(y, origins, len(weights)), weights)
    out = np.empty((len(origins), y.shape[1]))
    for start in range(0, len(origins), step):
        out[start : start + step] = np.einsum("mwk,w->mk", windows_at(y, origins[start : start + step],
                                                                      len(weights)), weights)
    return out


class ExponentialSmoothing(BaseForecaster):
    """Simple exponential smoothing: repeat the exponentially weighted level over the horizon.

    The level is computed over a finite window, the factor's kernel
    (:func:`exponential_weights`). The smoothing factor ``alpha_`` is the one of ``alphas``
    whose forecasts have the lowest MAE (every step) over the origins of the training part
    that leave room for the longest kernel scored, so it adapts between the last value
    (``alpha = 1``) and a long mean from all the history, not from the short validation tail
    alone. A factor whose kernel is longer than half the training part is not scored; when no
    factor's kernel is that short, ``alpha_`` is the one with the shortest kernel (the
    largest factor). The series must leave room for that kernel (the length check): a
    shorter one is a :class:`WorkloadDataError` naming the points needed. The origins are
    scored newest first, at most ``ALPHA_CHUNK`` and ``SCORED_CHUNK_VALUES`` target values
    at a time, each chunk's memory checked before it is gathered. Under a time limit
    (:mod:`workload_predictor._deadline`) the MAE is taken over the newest origins scored
    before the deadline (at least the newest chunk; a later chunk starts only when the time
    left covers it).

    Parameters
    ----------
    horizon : int
        Buckets forecast.
    alphas : tuple of float
        The candidate smoothing factors in (0, 1] (default ``SMOOTHING_ALPHAS``, 0.02 to 1.0).
    validation_fraction, max_validation_windows :
        The chronological validation tail: this share of the points (at least one horizon), forecast at up to
        this many origins spread evenly over it.
    """

    min_window = 1

    def __init__(self, horizon: int = 10, alphas: tuple[float, ...] = SMOOTHING_ALPHAS,
                 validation_fraction: float = 0.15, max_validation_windows: int = 100):
        self.horizon = horizon
        self.alphas = alphas
        self.validation_fraction = validation_fraction
        self.max_validation_windows = max_validation_windows

    def _check_params(self) -> None:
        check_candidates("alphas", self.alphas, lambda a: is_number(a) and 0.0 < a <= 1.0,
                         "smoothing factors in (0, 1]", "(0.1, 0.3, 1.0)")

    def _kernel_lengths(self) -> dict[float, float]:
        """Each factor of ``alphas`` with its kernel's length (:func:`kernel_length`), none allocated."""
        return {float(a): kernel_length(float(a)) for a in self.alphas}

    def _required_window(self) -> int:
        self._check_params()  # the length check, hence fit, starts here
        shortest = min(self._kernel_lengths().values())  # the largest factor's kernel, the fit's fallback
        if shortest > MAX_WINDOW:
            raise WorkloadDataError(f"alphas={quote(self.alphas)} weigh more than {MAX_WINDOW:,} past values each, "
                                    "more than any series holds: pass larger smoothing factors, e.g. "
                                    "alphas=(0.1, 0.3, 1.0).")
        return int(shortest)

    def _check_length(self, n: int, origins: np.ndarray | None = None) -> None:
        if self._length_suffices(n):
            return
        largest = max(self._kernel_lengths())
        raise WorkloadDataError(
            f"{plural(n, 'point')} {'is' if n == 1 else 'are'} too few for exponential smoothing with "
            f"alphas={quote(self.alphas)} + horizon "
            f"{self.horizon}: the largest factor, {largest:g}, weighs the last {self._required_window()} points, and "
            f"training needs {MIN_TRAIN_WINDOWS} windows plus a validation tail, i.e. at least "
            f"{self.minimum_length()} points. {self._shortfall_fix(n, self._shorter_window_fix())}"
        )

    def _shorter_window_fix(self) -> str | None:
        """A larger factor shortens what the smoothing weighs, down to the last point (a factor of 1)."""
        return "a larger factor in alphas= (e.g. 1.0)" if self._required_window() > 1 else None

    _forecast_within = 1.0  # the kernel's weighted mean (weights >= 0 summing to 1; BaseForecaster._forecast_within)

    def context_length(self) -> int:
        return len(self.kernel_)

    def _fit_arrays(self, y: np.ndarray, refit: bool) -> None:
        if refit:  # alpha stays the one chosen on the training part, as DLinear keeps its windows
            return
        self._check_params()
        lengths = self._kernel_lengths()
        # Every factor is scored on the same origins (those with room for the longest usable
        # kernel, at least half the series): scores over different stretches are not comparable.
        # A longer kernel is left out before its weights are allocated; with none short enough, the
        # largest factor (the shortest kernel, which the length check left room for) is the one.
        room = max(1, (len(y) - self.horizon) // 2)
        fitting = [a for a, length in lengths.items() if length <= room] or [max(lengths)]
        usable = {a: exponential_weights(a) for a in fitting}
        origins = np.arange(max(len(w) for w in usable.values()), len(y) - self.horizon + 1)
        size = target_size(y)  # a common size, so tokens do not drown requests
        # The absolute errors are summed a chunk of origins at a time (at most ALPHA_CHUNK, and at most
        # SCORED_CHUNK_VALUES target values, checked before they are gathered), newest first: the chunk's targets
        # stay in cache for every factor (a third of the time at 1,000,000 points), and under a time limit
        # the factor is chosen on the newest origins scored once the deadline has passed.
        # A chunk after the first starts only when the time left covers it (the longest chunk so far).
        deadline = current()
        horizon, k = int(self.horizon), y.shape[1]
        step = min(ALPHA_CHUNK, scored_chunk(horizon, k))  # origins x horizon x targets bounded
        totals, scored, longest = dict.fromkeys(usable, 0.0), 0, 0.0
        for stop in range(len(origins), 0, -step):
            if scored and deadline.end is not None and (deadline.expired() or deadline.left() < longest):
                deadline.cut("exponential smoothing factor")
                break
            started = deadline.clock()
            chunk = origins[max(0, stop - step) : stop]
            check_scored_memory("exponential smoothing factor", len(chunk), horizon, k)
            actual = targets_at(y, chunk, horizon)  # (c, H, k)
            for alpha, weights in usable.items():
                totals[alpha] += scaled_error_sum(actual, smoothed_levels(y, chunk, weights), size)  # levels (c, k)
            scored += len(chunk)
            longest = max(longest, deadline.clock() - started)
        scores = {alpha: total / (scored * horizon * k) for alpha, total in totals.items()}
        self.alpha_ = min(scores, key=scores.get)
        self.alpha_scores_ = scores
        self.kernel_ = usable[self.alpha_]

    def _predict_at(self, y: np.ndarray, origins: np.ndarray) -> np.ndarray:
        return flat_forecast(smoothed_levels(y, origins, self.kernel_), self.horizon)


MIN_SCORED_ORIGINS = 10  # the fewest training origins a season length is chosen on
MAX_SCORED_ORIGINS = 4096  # the newest origins each candidate season length is scored on
MAX_SEASON_LENGTH = 1440  # the longest season searched for (a day of one-minute buckets)
SEASON_SEARCH_POINTS = 2 * 4 * MAX_SEASON_LENGTH * 2  # the newest points the search reads (room for 2x the longest)
SEASON_PACE = "season search"  # Deadline.pace key: seconds of one period search (the fit's, the longest)
SEARCH_MARGIN = 2.0  # a history group's search starts under a time limit only if this many searches fit
HISTORY_SCORED_ORIGINS = 1024  # the newest origins a history group's search scores (it runs SEASON_REFITS times)
SEASON_REFITS = 10  # the groups of history origins whose period the ensemble's evidence chooses afresh
SEASON_CANDIDATES = 10  # autocorrelation peaks per source (differenced, detrended) whose forecasts are scored


def autocorrelation(x: np.ndarray, max_lag: int) -> np.ndarray:
    """The sample autocorrelation of ``x`` at lags ``0 .. max_lag`` (zeros for a constant series)."""
    x = x - x.mean()
    spectrum = np.fft.rfft(x, 2 * len(x))
    covariance = np.fft.irfft(spectrum * np.conj(spectrum))[: max_lag + 1]
    return covariance / covariance[0] if covariance[0] > 0 else np.zeros(max_lag + 1)


def season_candidates(x: np.ndarray, max_lag: int, count: int = SEASON_CANDIDATES) -> list[int]:
    """Lags ``2 .. max_lag`` where the autocorrelation of ``x`` has a positive local peak, the ``count`` highest first.

    Two views of the series are searched, because each hides a kind of season: the first
    difference (a short cycle on a drifting level) and the series less its linear trend (a
    slow cycle, which differencing turns into noise).
    """
    if max_lag < 2:
        return []
    t = np.arange(len(x), dtype=np.float64)
    found: list[int] = []
    for view in (np.diff(x), x - np.polyval(np.polyfit(t, x, 1), t)):
        acf = autocorrelation(view, max_lag + 1)
        lags = np.arange(2, max_lag + 1)
        peak = (acf[lags] > 0) & (acf[lags] >= acf[lags - 1]) & (acf[lags] >= acf[lags + 1])
        found.extend(int(lag) for lag in sorted(lags[peak], key=lambda lag: -acf[lag])[:count])
    return list(dict.fromkeys(found))


def search_points(horizon: int, seasons: int) -> int:
    """The fewest training points :func:`choose_period` can search: lags from 2 (a ``2 (seasons + 1)``-th of the
    points, ``max_lag >= 2``) and ``MIN_SCORED_ORIGINS`` origins in the newest half (``ceil(n / 2) - horizon + 1``)."""
    return max(4 * (seasons + 1), 2 * (horizon + MIN_SCORED_ORIGINS - 1) - 1)


def choose_period(y: np.ndarray, horizon: int, seasons: int,
                  max_origins: int = MAX_SCORED_ORIGINS) -> tuple[int, dict[int, float]]:
    """The season length of ``y`` ``(n, k)`` whose seasonal-median forecasts score best, and every candidate's score.

    The candidates are the autocorrelation peaks (:func:`season_candidates`) at lags up to a
    ``2 (seasons + 1)``-th of the points read (the newest ``SEASON_SEARCH_POINTS``), so every
    candidate has room and is scored on the same origins, the newest half (at most
    ``max_origins``): the lowest MAE over every step wins, in units of each target's
    mean (the shorter season on a tie). Raises :class:`~workload_predictor.errors.NoSeasonError`
    where there is none. Under a time limit (:mod:`workload_predictor._deadline`) the candidates
    are scored strongest first (each target's highest autocorrelation peaks in turn) until the
    deadline, at least one; the stage cut is "seasonal median period search".
    """
    y = y[-SEASON_SEARCH_POINTS:]
    n, depth = len(y), seasons + 1
    start = max(n // 2, 1)
    max_lag = min(start // depth, MAX_SEASON_LENGTH)
    origins = np.arange(start, n - horizon + 1)[-max_origins:]
    if len(origins) < MIN_SCORED_ORIGINS or max_lag < 2:
        raise NoSeasonError(
            f"{plural(n, 'training point')} {'is' if n == 1 else 'are'} too few to search for a season: the search "
            "needs at least "
            f"{search_points(horizon, seasons)} (with horizon={horizon}, seasons={seasons}); pass more history, "
            "season_length= or choose another model.")
    ranked = [season_candidates(y[:, j], max_lag) for j in range(y.shape[1])]
    candidates = list(dict.fromkeys(lag for tier in itertools.zip_longest(*ranked) for lag in tier if lag is not None))
    if not candidates:
        longer = "" if max_lag >= MAX_SEASON_LENGTH else (
            f"; a season longer than {max_lag} buckets needs more history (about {2 * (seasons + 1)} training points "
            "per bucket of the season)")
        raise NoSeasonError(
            f"found no seasonal period in {plural(n, 'training point')} (no positive autocorrelation peak at lags "
            f"2..{max_lag}){longer}; pass season_length= or choose another model.")
    actual = targets_at(y, origins, horizon)
    size = target_size(y)  # a common size, so tokens do not drown requests
    deadline, scores = current(), {}
    for lag in candidates:
        if scores and deadline.expired():
            deadline.cut("seasonal median period search")
            break
        scores[lag] = float((np.abs(seasonal_medians(y, origins, horizon, lag, seasons) - actual) / size).mean())
    scores = dict(sorted(scores.items()))
    return min(scores, key=lambda lag: (scores[lag], lag)), scores


def seasonal_medians(y: np.ndarray, origins: np.ndarray, horizon: int, period: int, seasons: int) -> np.ndarray:
    """Forecasts ``(m, horizon, k)``: the median of the last ``seasons`` seasons at each step, moved to today's level.

    With ``L_s`` the mean of the season ``s`` seasons back (``L_1``: the last ``period`` values),
    step ``h`` reads the values ``h mod period`` into each of the last ``seasons`` seasons, each
    less its season's mean, and takes their median (a burst in one season is not repeated):
    the forecast is that median plus ``L_1``, plus the trend from one season to the next,
    ``L_s - L_(s + 1)`` for ``s = 1 .. seasons``, where every one of those changes has the same
    sign (the smallest in size), else none. A linear trend carries over exactly (every change
    is the same); a level change in one season (a step, a new tenant) is no trend: the forecast
    settles at the new level instead of extrapolating the step (a shift read from the seasons'
    means alone would double a step up and drive a step down below zero for two seasons).
    Beyond a season, the last season repeats.
    """
    # The gathered seasons and their median: checked before they are allocated (seasons and horizon are settings).
    check_memory("seasonal median forecasts", extra_bytes=8.0 * (seasons + 2) * len(origins) * horizon * y.shape[1])
    sums = np.concatenate([np.zeros((1, y.shape[1])), np.cumsum(y, axis=0)])
    offsets = np.arange(horizon) % period
    ends = origins[None, :] - period * np.arange(seasons + 1)[:, None]  # (seasons + 1, m): each season's end
    levels = (sums[ends] - sums[ends - period]) / period  # (seasons + 1, m, k): L_1 .. L_(seasons + 1)
    starts = ends[1:]  # (seasons, m): the first bucket of the seasons the median reads
    deviations = y[starts[:, :, None] + offsets[None, None, :]] - levels[:-1, :, None, :]  # (seasons, m, horizon, k)
    changes = levels[:-1] - levels[1:]  # (seasons, m, k)
    agree = np.all(changes > 0, axis=0) | np.all(changes < 0, axis=0)
    trend = np.where(agree, np.sign(changes[0]) * np.abs(changes).min(axis=0), 0.0)  # (m, k)
    return np.median(deviations, axis=0) + (levels[0] + trend)[:, None, :]


class SeasonalMedian(BaseForecaster):
    """The median of the last ``seasons`` seasons, moved to the level of the last season; the period from the data.

    It differs from the other members where they are alike: it repeats a cycle instead of
    a level, and its median ignores a burst in one season (for bursty counts the median
    also suits the absolute error the ensemble is scored on).

    With ``season_length=None`` the period ``period_`` is chosen on the training part: the
    candidates are the autocorrelation peaks (:func:`season_candidates`, lags up to a
    ``2 (seasons + 1)``-th of the points, so every candidate has room and is scored on the
    same origins, the newest half), and the one whose forecasts have the lowest MAE there over every step
    wins (``period_scores_``), as exponential smoothing chooses its factor. The search reads
    the newest ``SEASON_SEARCH_POINTS`` at most, seasons up to ``MAX_SEASON_LENGTH`` and the
    newest ``MAX_SCORED_ORIGINS`` origins, so its cost is bounded at any length. A series with
    no candidate raises :class:`~workload_predictor.errors.NoSeasonError`; the ensemble
    then leaves this member out. The period stays the one chosen on the training part;
    :meth:`rolling_forecast` forecasts a history out of sample, period included (the
    ensemble's evidence).

    Parameters
    ----------
    horizon : int
        Buckets forecast.
    season_length : int or None
        The season in buckets; ``None`` (default) finds it in the data (``period_``). The
        predictor's ``window`` is not read.
    seasons : int
        The past seasons whose median is forecast (default 3).
    validation_fraction, max_validation_windows :
        The chronological validation tail: this share of the points (at least one horizon), forecast at up to
        this many origins spread evenly over it.
    """

    min_window = 1
    window_setting = "season_length="  # (seasons + 1) seasons; the predictor's window is not read

    def __init__(self, horizon: int = 10, season_length: int | None = None, seasons: int = 3,
                 validation_fraction: float = 0.15, max_validation_windows: int = 100):
        self.horizon = horizon
        self.season_length = season_length
        self.seasons = seasons
        self.validation_fraction = validation_fraction
        self.max_validation_windows = max_validation_windows

    def _check_params(self) -> None:
        for name, low in (("seasons", 1), ("season_length", 1)):
            value = getattr(self, name)
            if name == "season_length" and value is None:
                continue
            if not is_integer(value) or value < low:
                raise WorkloadDataError(f"{name}={quote(value)} must be an integer >= {low}"
                                        + (" (or None: found from the data)." if name == "season_length" else "."))

    def _required_window(self) -> int:
        self._check_params()
        if self.season_length is None:
            return self.min_window  # the candidates adapt to the length (none: fit says so)
        return (int(self.seasons) + 1) * int(self.season_length)

    def _search_points(self) -> int | None:
        """With ``season_length=None``, the fewest training points the period search needs (:func:`search_points`);
        None with a given ``season_length``. Raises :class:`NoSeasonError` when the search could never run: it
        reads at most ``SEASON_SEARCH_POINTS``."""
        self._check_params()
        if self.season_length is not None:
            return None
        needed = search_points(int(self.horizon), int(self.seasons))
        if needed > SEASON_SEARCH_POINTS:
            raise NoSeasonError(f"seasons={self.seasons} and horizon={self.horizon} leave the period search no "
                                    f"room: it reads at most {SEASON_SEARCH_POINTS} points. Pass season_length=, "
                                    "fewer seasons or a shorter horizon.")
        return needed

    def _length_suffices(self, n: int) -> bool:
        """Room for the training windows and, with ``season_length=None``, for the period search on the training
        part (the points before the validation tail)."""
        if not super()._length_suffices(n):
            return False
        needed = self._search_points()
        return needed is None or int(validation_origins(n, self.horizon, self.validation_fraction,
                                                        self.max_validation_windows)[0]) >= needed

    def _check_length(self, n: int, origins: np.ndarray | None = None) -> None:
        if self.season_length is None and not self._length_suffices(n):
            raise NoSeasonError(
                f"{plural(n, 'point')} {'is' if n == 1 else 'are'} too few to search for a season: the period search "
                f"needs {self._search_points()} "
                f"training points before the validation tail, i.e. at least {self.minimum_length()} points (with "
                f"horizon={self.horizon}, seasons={self.seasons}). Pass more history, season_length= or choose "
                "another model.")
        super()._check_length(n, origins)

    def search_shortfall(self, n: int) -> str | None:
        """Why ``n`` points are too few to search for a season (None: they suffice, or ``season_length`` is given):
        the ensemble leaves the member out then, as where the data show no season."""
        if self.season_length is None:
            try:
                self._check_length(n)
            except NoSeasonError as exc:
                return str(exc)
        return None

    # The median over seasons s of y_s + L_1 - L_s + trend (seasonal_medians), each term within -MAX_VALUE .. 2 MAX_VALUE:
    # without a trend, a load plus a difference of means; with a rising one, trend <= L_s - L_(s+1) leaves at most
    # y_s + L_1; with a falling one, trend >= L_s - L_(s+1) leaves at least L_1 - L_(s+1) and at most y_s. Plus the
    # cumulative sums' rounding, n eps of the largest load for n points (BaseForecaster._forecast_within).
    _forecast_within = 2.0

    def context_length(self) -> int:
        return (int(self.seasons) + 1) * int(self.period_)

    def _fit_arrays(self, y: np.ndarray, refit: bool) -> None:
        if refit:  # the period stays the one chosen on the training part
            return
        self._check_params()
        if self.season_length is not None:
            self.period_, self.period_scores_ = int(self.season_length), {}
            return
        deadline = current()
        started = deadline.clock()
        self.period_, self.period_scores_ = choose_period(y, self.horizon, int(self.seasons))
        deadline.measure(SEASON_PACE, started, 1.0)  # under a time limit: the search's time, for rolling_forecast

    def rolling_forecast(self, y: np.ndarray, origins: np.ndarray, refits: int = SEASON_REFITS) -> np.ndarray:
        """Out-of-sample forecasts ``(m, H, k)`` at sorted ``origins`` of ``y`` ``(n, k)`` or ``(n,)``, each from a
        period chosen before it (:meth:`_rolling_forecast`): loads, clipped at 0 as :meth:`predict`'s (a falling
        level's trend takes the map below 0; an ensemble's history reads it unclipped)."""
        return np.maximum(self._rolling_forecast(y, origins, refits), 0.0)

    def _rolling_forecast(self, y: np.ndarray, origins: np.ndarray, refits: int = SEASON_REFITS) -> np.ndarray:
        """:meth:`rolling_forecast` unclipped: the out-of-sample forecasts of the map, each from a period chosen
        before it.

        The origins are cut into at most ``refits`` consecutive groups; each group's period is
        chosen (:func:`choose_period`, scored on at most ``HISTORY_SCORED_ORIGINS`` origins) on
        the points whose targets end before its first origin,
        so neither the forecasts nor the period saw the values they are scored on. An origin
        without a period found before it, or without room for its seasons, forecasts the last
        value (there is no season to repeat yet). A fixed ``season_length`` is used as it is.
        Under a time limit (:mod:`workload_predictor._deadline`) a group's search starts only
        when the time left covers ``SEARCH_MARGIN`` times the fit's search (the longest: it reads
        the most points); the remaining groups keep ``period_``.
        """
        check_is_fitted(self, "period_")
        y = np.asarray(y, dtype=np.float64)
        y = y[:, None] if y.ndim == 1 else y
        origins = check_origins(origins, 1, len(y), "a point before it", ordered=True)
        forecast = np.empty((len(origins), self.horizon, y.shape[1]))
        depth, deadline = int(self.seasons) + 1, current()
        search = deadline.pace.get(SEASON_PACE, 0.0)  # the fit's search, the longest (it reads the most points)
        for group in np.array_split(np.arange(len(origins)), min(refits, len(origins))) if len(origins) else ():
            at = origins[group]
            period = 0  # none: the last value
            if self.season_length is not None:
                period = int(self.season_length)
            elif deadline.expired() or (deadline.left() or 0.0) < SEARCH_MARGIN * search:
                deadline.cut("seasonal median history periods")
                period = int(self.period_)
            else:
                try:
                    period = choose_period(y[: int(at[0])], self.horizon, int(self.seasons),
                                           max_origins=HISTORY_SCORED_ORIGINS)[0]
                except NoSeasonError:
                    pass
            room = at >= depth * period if period else np.zeros(len(at), dtype=bool)  # the seasons read fit in
            if room.any():  # on the stretch the group reads (the cumulative sums need no more)
                lo, hi = int(at[room][0]) - depth * period, int(at[room][-1])
                forecast[group[room]] = seasonal_medians(y[lo:hi], at[room] - lo, self.horizon, period,
                                                         int(self.seasons))
            forecast[group[~room]] = flat_forecast(y[at[~room] - 1], self.horizon)
        return forecast

    def _predict_at(self, y: np.ndarray, origins: np.ndarray) -> np.ndarray:
        return seasonal_medians(y, origins, self.horizon, int(self.period_), int(self.seasons))
