"""WorkloadPredictor: the public estimator (fit / predict) over the data door and the models."""

from __future__ import annotations

import time
from typing import Any, Sequence

import numpy as np
import pandas as pd

from .confidence import conformal_is_exact, conformal_quantile, confidence_score
from .data import BucketedSeries, future_index, prepare_series
from .errors import WorkloadDataError, check_is_fitted
from .forecast import Forecast
from .models.base import BaseForecaster, ParamsMixin

MODELS = ("dlinear", "lstm", "ensemble", "naive", "moving_average", "seasonal_naive")


class WorkloadPredictor(ParamsMixin):
    """Forecast the load of an LLM-serving system (requests and tokens per bucket).

    Parameters
    ----------
    model : str
        ``"dlinear"`` (default), ``"lstm"``, ``"ensemble"``, or a baseline (``"naive"``,
        ``"moving_average"``, ``"seasonal_naive"``). DLinear is the default because it
        is the fastest model (a closed-form fit in milliseconds, no torch) and, on
        every series we measured, as accurate as the LSTM or better.
    horizon : int
        Buckets forecast directly; ``predict(steps)`` accepts ``steps <= horizon``.
    level : float
        Nominal coverage of the prediction interval, in (0, 1).
    window : int or None
        Input window in buckets; ``None`` picks it on the validation tail.
    kernel_size : int
        DLinear's moving-average length.
    hidden_size, num_layers, max_epochs, batch_size, learning_rate, patience :
        LSTM settings (LSTM and ensemble only).
    members : sequence of str
        Ensemble members.
    random_state : int or None
        Seed for the LSTM; forecasts are reproducible with a fixed seed.
    n_threads : int or None
        torch threads for the LSTM; ``None`` respects ``torch.set_num_threads``.
    device : str
        ``"cpu"``, ``"cuda"`` or ``"auto"`` for the LSTM.
    max_training_time : float or None
        Seconds after which LSTM training stops and keeps its best weights.

    Notes
    -----
    ``fit`` holds out the chronological tail of the series (at most 15 % of it and
    100 windows), trains on the rest, and forecasts the tail out of sample. Those
    validation forecasts give the split-conformal interval per horizon step and the
    confidence (``1 - WAPE``); DLinear is then refitted on all data.
    """

    def __init__(
        self,
        model: str = "dlinear",
        horizon: int = 10,
        level: float = 0.9,
        window: int | None = None,
        kernel_size: int = 25,
        hidden_size: int = 32,
        num_layers: int = 1,
        max_epochs: int = 50,
        batch_size: int = 64,
        learning_rate: float = 3e-3,
        patience: int = 5,
        members: Sequence[str] = ("dlinear", "lstm"),
        random_state: int | None = None,
        n_threads: int | None = None,
        device: str = "cpu",
        max_training_time: float | None = None,
    ):
        self.model = model
        self.horizon = horizon
        self.level = level
        self.window = window
        self.kernel_size = kernel_size
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.max_epochs = max_epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.patience = patience
        self.members = members
        self.random_state = random_state
        self.n_threads = n_threads
        self.device = device
        self.max_training_time = max_training_time

    # -- construction ----------------------------------------------------------------------
    def _build_model(self) -> BaseForecaster:
        if self.model not in MODELS:
            raise WorkloadDataError(f"model={self.model!r} is unknown; choose one of {', '.join(MODELS)}.")
        lstm = dict(hidden_size=self.hidden_size, num_layers=self.num_layers, max_epochs=self.max_epochs,
                    batch_size=self.batch_size, learning_rate=self.learning_rate, patience=self.patience,
                    random_state=self.random_state, n_threads=self.n_threads, device=self.device,
                    max_training_time=self.max_training_time)
        if self.model == "dlinear":
            from .models.dlinear import DLinear

            return DLinear(horizon=self.horizon, window=self.window, kernel_size=self.kernel_size)
        if self.model == "lstm":
            from .models.lstm import LSTM

            return LSTM(horizon=self.horizon, window=self.window, kernel_size=self.kernel_size, **lstm)
        if self.model == "ensemble":
            from .models.ensemble import Ensemble

            return Ensemble(horizon=self.horizon, members=self.members, window=self.window,
                            kernel_size=self.kernel_size, **lstm)
        from .models.baselines import MovingAverage, Naive, SeasonalNaive

        if self.model == "naive":
            return Naive(horizon=self.horizon)
        if self.model == "moving_average":
            return MovingAverage(horizon=self.horizon, window=self.window or 12)
        return SeasonalNaive(horizon=self.horizon, season_length=self.window or 60)

    def _check_level(self) -> None:
        if isinstance(self.level, bool) or not isinstance(self.level, (int, float)) or not 0.0 < self.level < 1.0:
            raise WorkloadDataError(f"level={self.level!r} must be a coverage in (0, 1), e.g. 0.9.")

    # -- fit / predict ---------------------------------------------------------------------
    def fit(
        self,
        data: pd.DataFrame | pd.Series,
        timestamp: str | None = "timestamp",
        target: str | Sequence[str] = "requests",
        freq: Any = None,
        unit: str | None = None,
        origin: Any = None,
    ) -> "WorkloadPredictor":
        """Fit on a bucketed series. Returns ``self``.

        ``data`` is a DataFrame with a ``timestamp`` column (any encoding the door
        accepts; numeric epochs take ``unit`` and, for offsets, ``origin``) or a
        DatetimeIndex, or a Series with a DatetimeIndex. ``target`` names one column
        or several. ``freq`` is the bucket width (inferred from the median step when
        omitted). The caller's data is never modified. A request log (one row per
        request) goes through :func:`workload_predictor.bucketize` first.
        """
        started = time.perf_counter()
        self._check_level()
        model = self._build_model()
        series = prepare_series(data, timestamp=timestamp, target=target, freq=freq, unit=unit, origin=origin)
        model.fit(series.values)
        self._calibrate(model)
        self.model_ = model
        self.series_ = series
        self.targets_ = series.targets
        self.freq_ = series.freq
        self.last_timestamp_ = series.index[-1]
        self.window_ = model.context_length()
        if hasattr(model, "weights_"):
            self.weights_ = dict(model.weights_)
        self.fit_seconds_ = time.perf_counter() - started
        return self

    def _calibrate(self, model: BaseForecaster) -> None:
        """Interval half-widths and confidence from the model's out-of-sample validation forecasts."""
        forecast = np.clip(model.validation_forecast_, 0.0, None)  # [v, H, k], as predict clips
        actual = model.validation_actual_
        self.n_validation_windows_ = len(actual)
        self.interval_halfwidth_ = conformal_quantile(np.abs(actual - forecast), self.level)  # [H, k]
        self.interval_exact_ = conformal_is_exact(len(actual), self.level)
        targets = range(actual.shape[2])
        scores = [confidence_score(actual[:, :, j], forecast[:, :, j]) for j in targets]
        self.confidence_ = float(np.mean(scores))
        self._confidence_by_index = scores
        self.validation_mae_ = np.abs(actual - forecast).mean(axis=(0, 1))  # [k]

    def predict(self, steps: int | None = None) -> Forecast:
        """Forecast ``steps`` buckets (default ``horizon``) after the last fitted bucket."""
        check_is_fitted(self, "model_")
        steps = self.model_._check_steps(steps)
        point = self.model_.predict(steps)  # [steps, k]
        yhat = np.clip(point, 0.0, None)
        halfwidth = self.interval_halfwidth_[:steps]
        series: BucketedSeries = self.series_
        tail = max(3 * steps, self.window_)
        history = pd.DataFrame(series.values[-tail:], index=series.index[-tail:], columns=list(series.targets))
        return Forecast(
            index=future_index(self.last_timestamp_, self.freq_, steps),
            yhat=yhat,
            lower=np.clip(yhat - halfwidth, 0.0, None),
            upper=yhat + halfwidth,
            targets=tuple(self.targets_),
            level=float(self.level),
            model=self.model,
            confidence=self.confidence_,
            confidence_by_target=dict(zip(self.targets_, self._confidence_by_index)),
            freq=self.freq_,
            history=history,
        )
