"""The result of a prediction: future timestamps, point forecasts, intervals and a confidence."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd


@dataclass(frozen=True, eq=False)
class Forecast:
    """A forecast of one or more targets over future buckets.

    Attributes
    ----------
    index : pd.DatetimeIndex
        Start of each future bucket (UTC), continuing the fitted series at its frequency.
    yhat, lower, upper : np.ndarray
        ``(steps, k)`` point forecast and interval bounds, clipped at 0 (loads are non-negative).
    targets : tuple of str
        The forecast columns, in order.
    level : float
        Nominal coverage of ``[lower, upper]`` (split-conformal, per horizon step).
    model : str
        The model name (``"dlinear"``, ``"lstm"``, ``"ensemble"``).
    confidence : float
        ``1 - WAPE`` of the model's out-of-sample validation forecasts, clipped to ``[0, 1]``
        (the mean over targets when there are several).
    confidence_by_target : dict
        The same per target.
    history : pd.DataFrame or None
        The last observed buckets (for plots and ``to_requests``).
    """

    index: pd.DatetimeIndex
    yhat: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    targets: tuple[str, ...]
    level: float
    model: str
    confidence: float
    confidence_by_target: dict[str, float] = field(default_factory=dict)
    freq: pd.Timedelta | None = None
    history: pd.DataFrame | None = None

    @property
    def steps(self) -> int:
        return len(self.index)

    def to_frame(self) -> pd.DataFrame:
        """Forecast table indexed by the future timestamps.

        One target: columns ``yhat, lower, upper``. Several: a column MultiIndex
        ``(target, field)``.
        """
        fields = ("yhat", "lower", "upper")
        index = self.index.copy()
        index.name = "timestamp"
        if len(self.targets) == 1:
            return pd.DataFrame({f: getattr(self, f)[:, 0] for f in fields}, index=index)
        columns = pd.MultiIndex.from_product([self.targets, fields], names=["target", "field"])
        data = np.stack([getattr(self, f) for f in fields], axis=2).reshape(self.steps, -1)  # [steps, k*3]
        return pd.DataFrame(data, index=index, columns=columns)

    def __repr__(self) -> str:
        return (
            f"Forecast(model={self.model!r}, targets={list(self.targets)}, steps={self.steps}, "
            f"start={self.index[0].isoformat()}, level={self.level}, confidence={self.confidence:.3f})"
        )
