"""Simple baselines with the same contract: naive, seasonal naive, moving average, exponential smoothing.

They are the bar every model must clear in a backtest, and cheap ensemble members.
"""

from __future__ import annotations

import numpy as np

from .._deadline import current
from ..errors import quote
from ..windows import targets_at, windows_at
from .base import BaseForecaster

SMOOTHING_ALPHAS = (0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 1.0)
ALPHA_CHUNK = 16384  # origins whose errors exponential smoothing's fit sums at a time (newest first)


def flat_forecast(level: np.ndarray, horizon: int) -> np.ndarray:
    """A level per origin ``(m, k)`` repeated over the horizon: ``(m, horizon, k)``."""
    return np.repeat(level[:, None, :], horizon, axis=1)


class Naive(BaseForecaster):
    """Repeat the last observed value over the horizon."""

    min_window = 1

    def __init__(self, horizon: int = 10, validation_fraction: float = 0.15, max_validation_windows: int = 100):
        self.horizon = horizon
        self.validation_fraction = validation_fraction
        self.max_validation_windows = max_validation_windows

    def context_length(self) -> int:
        return 1

    def _fit_arrays(self, y: np.ndarray, refit: bool) -> None:
        self.window_ = 1

    def _predict_at(self, y: np.ndarray, origins: np.ndarray) -> np.ndarray:
        return flat_forecast(y[origins - 1], self.horizon)


class MovingAverage(BaseForecaster):
    """Repeat the mean of the last ``window`` values over the horizon."""

    def __init__(self, horizon: int = 10, window: int = 12, validation_fraction: float = 0.15,
                 max_validation_windows: int = 100):
        self.horizon = horizon
        self.window = window
        self.validation_fraction = validation_fraction
        self.max_validation_windows = max_validation_windows

    def context_length(self) -> int:
        return int(self.window_)

    def _fit_arrays(self, y: np.ndarray, refit: bool) -> None:
        self.window_ = int(self.window)

    def _predict_at(self, y: np.ndarray, origins: np.ndarray) -> np.ndarray:
        return flat_forecast(windows_at(y, origins, self.window_).mean(axis=1), self.horizon)


class SeasonalNaive(BaseForecaster):
    """Repeat the value one season (``season_length`` buckets) earlier."""

    def __init__(self, horizon: int = 10, season_length: int = 60, validation_fraction: float = 0.15,
                 max_validation_windows: int = 100):
        self.horizon = horizon
        self.season_length = season_length
        self.validation_fraction = validation_fraction
        self.max_validation_windows = max_validation_windows

    def _required_window(self) -> int:
        return int(self.season_length)

    def context_length(self) -> int:
        return int(self.season_length)

    def _fit_arrays(self, y: np.ndarray, refit: bool) -> None:
        self.window_ = int(self.season_length)

    def _predict_at(self, y: np.ndarray, origins: np.ndarray) -> np.ndarray:
        season = self.window_
        steps = np.arange(self.horizon)
        # Step h reads the value one season before it; beyond a season, the last season repeats.
        return y[origins[:, None] - season + (steps % season)[None, :]]


def exponential_weights(alpha: float, tolerance: float = 1e-3) -> np.ndarray:
    """Weights of simple exponential smoothing over the last values, oldest first, summing to 1.

    ``alpha (1 - alpha)^j`` for the value ``j`` steps back, cut where it falls below
    ``tolerance`` of the newest weight and renormalised: a finite window, so the model's
    context is bounded like every other model's. ``alpha = 1`` is the last value.
    """
    if not 0.0 < alpha <= 1.0:
        raise ValueError(f"alpha={quote(alpha)} must be in (0, 1]")
    length = 1 if alpha == 1.0 else int(np.ceil(np.log(tolerance) / np.log(1.0 - alpha))) + 1
    weights = alpha * (1.0 - alpha) ** np.arange(length)[::-1]
    return weights / weights.sum()


def smoothed_levels(y: np.ndarray, origins: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """The smoothed level before each origin, ``(m, k)``: the weighted mean of the ``len(weights)`` values.

    For a long run of consecutive origins (the fit scores every origin of the training
    part) one correlation per target reads the series once; gathering every window
    took 14 s on 200,000 points.
    """
    if len(origins) > 1024 and bool(np.all(np.diff(origins) == 1)):
        span = y[int(origins[0]) - len(weights) : int(origins[-1])]  # (m + L - 1, k)
        return np.stack([np.correlate(span[:, j], weights, mode="valid") for j in range(y.shape[1])], axis=1)
    return np.einsum("mwk,w->mk", windows_at(y, origins, len(weights)), weights)


class ExponentialSmoothing(BaseForecaster):
    """Simple exponential smoothing: repeat the exponentially weighted level over the horizon.

    The smoothing factor ``alpha_`` is the one of ``alphas`` whose forecasts have the
    lowest MAE over the whole training part (every origin, every step), so it adapts
    between the last value (``alpha = 1``) and a long mean from all the history, not
    from the short validation tail alone. The level is computed over a finite window
    (:func:`exponential_weights`). Under a time limit (:mod:`workload_predictor._deadline`)
    the MAE is taken over the newest origins scored when the deadline passes (at least
    the newest ``ALPHA_CHUNK``).
    """

    min_window = 1

    def __init__(self, horizon: int = 10, alphas: tuple[float, ...] = SMOOTHING_ALPHAS,
                 validation_fraction: float = 0.15, max_validation_windows: int = 100):
        self.horizon = horizon
        self.alphas = alphas
        self.validation_fraction = validation_fraction
        self.max_validation_windows = max_validation_windows

    def context_length(self) -> int:
        return len(self.kernel_)

    def _fit_arrays(self, y: np.ndarray, refit: bool) -> None:
        if refit:  # alpha stays the one chosen on the training part, as DLinear keeps its windows
            return
        kernels = {float(a): exponential_weights(float(a)) for a in self.alphas}
        # Every factor is scored on the same origins (those with room for the longest usable
        # kernel, at least half the series): scores over different stretches are not comparable.
        room = max(1, (len(y) - self.horizon) // 2)
        usable = {a: w for a, w in kernels.items() if len(w) <= room} or {1.0: exponential_weights(1.0)}
        origins = np.arange(max(len(w) for w in usable.values()), len(y) - self.horizon + 1)
        size = np.maximum(np.abs(y).mean(axis=0), 1e-12)  # a common size, so tokens do not drown requests
        # The absolute errors are summed ALPHA_CHUNK origins at a time, newest first: the chunk's targets
        # stay in cache for every factor (a third of the time at 1,000,000 points), and under a time limit
        # the factor is chosen on the newest origins scored once the deadline has passed.
        deadline = current()
        totals, scored = dict.fromkeys(usable, 0.0), 0
        for stop in range(len(origins), 0, -ALPHA_CHUNK):
            if scored and deadline.expired():
                deadline.cut("exponential smoothing factor")
                break
            chunk = origins[max(0, stop - ALPHA_CHUNK) : stop]
            actual = targets_at(y, chunk, self.horizon)  # (c, H, k)
            for alpha, weights in usable.items():
                levels = smoothed_levels(y, chunk, weights)  # (c, k)
                totals[alpha] += float((np.abs(actual - levels[:, None, :]) / size).sum())
            scored += len(chunk)
        scores = {alpha: total / (scored * self.horizon * y.shape[1]) for alpha, total in totals.items()}
        self.alpha_ = min(scores, key=scores.get)
        self.alpha_scores_ = scores
        self.kernel_ = usable[self.alpha_]

    def _predict_at(self, y: np.ndarray, origins: np.ndarray) -> np.ndarray:
        return flat_forecast(smoothed_levels(y, origins, self.kernel_), self.horizon)
