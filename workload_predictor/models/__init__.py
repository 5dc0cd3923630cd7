"""Forecasting models: one file each, all with the same ``fit(y)`` / ``predict(steps)`` contract.

``LSTM`` (and so PyTorch) is imported only when first used.
"""

from .base import BaseForecaster
from .baselines import ExponentialSmoothing, MovingAverage, Naive, SeasonalNaive
from .dlinear import DLinear
from .ensemble import Ensemble

__all__ = ["BaseForecaster", "DLinear", "LSTM", "Ensemble", "Naive", "MovingAverage", "SeasonalNaive",
           "ExponentialSmoothing"]


def __getattr__(name: str):
    if name == "LSTM":
        from .lstm import LSTM

        return LSTM
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
