"""The typed errors users catch.

Every error raised for bad input subclasses :class:`ValueError`, names the
problem and says how to fix it.
"""

from __future__ import annotations


class WorkloadDataError(ValueError):
    """The input data cannot be used as given (the message says why and how to fix it)."""


class NotFittedError(ValueError, AttributeError):
    """A predictor or model was used before ``fit`` (same contract as scikit-learn's)."""


class MemoryLimitError(WorkloadDataError, MemoryError):
    """Fitting or updating would take the process over its ``memory_limit_mb``; nothing was changed."""


class ModelFileError(ValueError):
    """A saved model file is unreadable, tampered with or of an unsupported version."""


def check_is_fitted(estimator, attribute: str) -> None:
    """Raise :class:`NotFittedError` unless ``estimator`` has the fitted ``attribute``."""
    if getattr(estimator, attribute, None) is None:
        name = type(estimator).__name__
        raise NotFittedError(
            f"This {name} instance is not fitted yet: call fit(...) before using it."
        )
