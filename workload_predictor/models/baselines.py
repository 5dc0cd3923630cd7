"""Simple baselines with the same contract: naive, seasonal naive, moving average.

They are the bar every model must clear in a backtest, and cheap ensemble members.
"""

from __future__ import annotations

import numpy as np

from ..windows import windows_at
from .base import BaseForecaster


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
        last = y[origins - 1]  # (m, k)
        return np.repeat(last[:, None, :], self.horizon, axis=1)


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
        mean = windows_at(y, origins, self.window_).mean(axis=1)  # (m, k)
        return np.repeat(mean[:, None, :], self.horizon, axis=1)


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
