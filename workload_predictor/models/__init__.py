"""Forecasting models: one file each, all with the same ``fit(y)`` / ``predict(steps)`` contract. ``fit(y)`` without
``anomalies`` runs the predictor's input-anomaly scan of ``y`` (``fit(y, anomalies={})``: none flagged), so a model
fitted on its own chooses and validates as a ``WorkloadPredictor``'s model does.

The registry (:mod:`~workload_predictor.models.registry`) names them; each class is
imported when first used (``from workload_predictor.models import LSTM`` imports torch,
``import workload_predictor.models`` does not).
"""

from . import registry
from .base import BaseForecaster
from .registry import register

__all__ = ["BaseForecaster", "register", "registry",
           *(registry.class_name(registry.get(name).target) for name in registry.names())]


def __getattr__(name: str):
    cls = registry.resolve_persisted(name)
    if cls is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return cls
