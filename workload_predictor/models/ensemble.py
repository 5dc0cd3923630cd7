"""A convex combination of forecasters, weighted by their out-of-sample errors."""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from ..confidence import convex_weights_absolute
from ..errors import WorkloadDataError, check_is_fitted
from .base import BaseForecaster, as_matrix

MEMBERS = ("dlinear", "lstm", "naive", "moving_average", "exponential_smoothing", "seasonal_naive")


class Ensemble(BaseForecaster):
    """Weighted mean of member forecasts; weights from their validation errors.

    Every member fits with the same chronological validation tail (at most 15 %
    of the points and 100 windows), so their validation forecasts cover the same
    windows. The weights are the non-negative, sum-to-one combination with the
    least absolute error on those windows (targets scaled to a common size first),
    so a member that is clearly worse gets less weight, and one that adds nothing
    gets none. Absolute, not squared, error: it is what the backtest scores (MAE),
    and on bursty traces, where most buckets are empty, least squares favours the
    smooth mean forecast while the absolute error rewards tracking the median.

    The default members are DLinear, the LSTM and three baselines, the last value
    (``naive``), the mean of the last ``moving_average_window`` buckets and simple
    exponential smoothing (its factor chosen on the whole training part): when the
    learned models lose to a baseline on validation (measured on the Azure code
    trace: DLinear's MAE 33-41 against 6-34 for the last value), the baselines take
    the weight instead of the ensemble averaging two bad forecasts. The ensemble's own
    validation forecast is that weighted sum, which is what its interval and confidence
    are computed from. Members are then refitted on all data (DLinear exactly; the LSTM
    refits its linear base, not its network).

    Parameters are those of the members (see :class:`DLinear` and :class:`LSTM`);
    ``members`` names them, from ``"dlinear"``, ``"lstm"``, ``"naive"``,
    ``"moving_average"``, ``"exponential_smoothing"`` and ``"seasonal_naive"``.
    """

    def __init__(
        self,
        horizon: int = 10,
        members: Sequence[str] = ("dlinear", "lstm", "naive", "moving_average", "exponential_smoothing"),
        window: int | None = None,
        kernel_size: int = 25,
        hidden_size: int = 32,
        num_layers: int = 1,
        max_epochs: int = 50,
        batch_size: int = 64,
        learning_rate: float = 3e-3,
        patience: int = 5,
        random_state: int | None = None,
        n_threads: int | None = 1,
        device: str = "cpu",
        max_training_time: float | None = None,
        moving_average_window: int = 12,
        season_length: int = 60,
        validation_fraction: float = 0.15,
        max_validation_windows: int = 100,
        verbose: bool | None = None,
    ):
        self.horizon = horizon
        self.members = members
        self.window = window
        self.kernel_size = kernel_size
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.max_epochs = max_epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.patience = patience
        self.random_state = random_state
        self.n_threads = n_threads
        self.device = device
        self.max_training_time = max_training_time
        self.moving_average_window = moving_average_window
        self.season_length = season_length
        self.validation_fraction = validation_fraction
        self.max_validation_windows = max_validation_windows
        self.verbose = verbose

    def _member(self, name: str, window: int | None) -> BaseForecaster:
        split = dict(horizon=self.horizon, validation_fraction=self.validation_fraction,
                     max_validation_windows=self.max_validation_windows)
        if name == "dlinear":
            from .dlinear import DLinear

            return DLinear(window=window, kernel_size=self.kernel_size, **split)
        if name == "lstm":
            from .lstm import LSTM

            return LSTM(window=window, kernel_size=self.kernel_size, hidden_size=self.hidden_size,
                        num_layers=self.num_layers, max_epochs=self.max_epochs, batch_size=self.batch_size,
                        learning_rate=self.learning_rate, patience=self.patience,
                        random_state=self.random_state, n_threads=self.n_threads, device=self.device,
                        max_training_time=self.max_training_time, verbose=getattr(self, "verbose", None), **split)
        from .baselines import ExponentialSmoothing, MovingAverage, Naive, SeasonalNaive

        if name == "naive":
            return Naive(**split)
        if name == "exponential_smoothing":
            return ExponentialSmoothing(**split)
        if name == "moving_average":
            return MovingAverage(window=self.moving_average_window, **split)
        return SeasonalNaive(season_length=self.season_length, **split)

    def fit(self, y: Any):
        """Fit every member, weight them on the shared validation tail. Returns ``self``."""
        matrix, one_d = as_matrix(y)
        self._check_horizon()
        names = list(self.members)
        unknown = [n for n in names if n not in MEMBERS]
        if not names or unknown or len(set(names)) != len(names):
            raise WorkloadDataError(
                f"members={self.members!r}: name each member once, from {', '.join(MEMBERS)}."
            )
        fitted: dict[str, BaseForecaster] = {}
        # The LSTM's DLinear base runs the same window search on the same data as the DLinear member,
        # so both see the same windows (blended, see DLinear's ``blend``) without passing them along.
        for name in names:
            fitted[name] = self._member(name, self.window if name in ("dlinear", "lstm") else None).fit(matrix)
        self.members_ = {name: fitted[name] for name in names}
        self.n_targets_ = matrix.shape[1]
        self._one_d = one_d
        first = self.members_[names[0]]
        self.validation_origins_ = first.validation_origins_
        self.validation_actual_ = first.validation_actual_
        forecasts = np.stack([m.validation_forecast_ for m in self.members_.values()])  # [M, v, H, k]
        self.weights_, self.validation_forecast_ = self._weigh(forecasts, self.validation_actual_)
        self.window_ = max(m.context_length() for m in self.members_.values())
        self.context_ = matrix[-self.window_ :].copy()
        self.n_seen_ = len(matrix)
        return self

    def _weigh(self, forecasts: np.ndarray, actual: np.ndarray) -> tuple[dict[str, float], np.ndarray]:
        """Member weights from validation forecasts ``[M, v, H, k]``, and the weighted forecast ``[v, H, k]``."""
        # A common size per target, so token counts do not drown request counts.
        size = np.abs(actual).mean(axis=(0, 1))
        size = np.where(size > 0, size, 1.0)
        weights = convex_weights_absolute((forecasts / size).reshape(len(forecasts), -1), (actual / size).ravel())
        return {name: float(w) for name, w in zip(self.members_, weights)}, np.tensordot(weights, forecasts, axes=1)

    def _prepare_update(self, new_y: Any) -> list:
        """Update every member, then re-weigh them on their refreshed validation windows."""
        check_is_fitted(self, "context_")
        new, _ = as_matrix(new_y, "new_y")
        plan = [step for member in self.members_.values() for step in member._prepare_update(new)]
        rolled = {id(target): changes for target, changes in plan}
        buffers = [rolled[id(member)] for member in self.members_.values()]
        actual = buffers[0]["validation_actual_"]
        weights, forecast = self._weigh(np.stack([b["validation_forecast_"] for b in buffers]), actual)
        own = dict(weights_=weights, validation_forecast_=forecast, validation_actual_=actual,
                   validation_origins_=buffers[0]["validation_origins_"],
                   context_=np.concatenate([self.context_, new])[-self.window_ :], n_seen_=self.n_seen_ + len(new))
        return plan + [(self, own)]

    def context_length(self) -> int:
        return int(self.window_)

    def _predict_at(self, y: np.ndarray, origins: np.ndarray) -> np.ndarray:
        total = None
        for name, member in self.members_.items():
            weight = self.weights_[name]
            if weight == 0.0:
                continue
            part = weight * member._predict_at(y, origins)
            total = part if total is None else total + part
        return total
