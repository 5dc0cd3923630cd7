"""workload-predictor: forecast the load of an LLM-serving system.

Importing the package loads numpy and pandas only: PyTorch is imported the first
time an LSTM is fitted, and importing changes no global state (no logging or
warnings configuration).
"""

from .data import bucketize
from .errors import (MemoryLimitError, ModelFileError, NoKeyFittedError, NoSeasonError, NotFittedError, UndoneJumpWarning,
                     UnsaveableModelError, UpdateGapError, UpdateOrderError, WorkloadDataError)
from .fleet import FleetPredictor
from .forecast import Forecast
from ._version import __version__
from .predictor import WorkloadPredictor

__all__ = [
    "WorkloadPredictor",
    "FleetPredictor",
    "Forecast",
    "bucketize",
    "NotFittedError",
    "WorkloadDataError",
    "ModelFileError",
    "MemoryLimitError",
    "UpdateGapError",
    "UpdateOrderError",
    "UndoneJumpWarning",
    "NoSeasonError",
    "NoKeyFittedError",
    "UnsaveableModelError",
    "__version__",
]
