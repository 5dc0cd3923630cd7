"""Distillation: a per-key DLinear student trained on a teacher's forecasts blended with the actuals.

DLinear's fit is a ridge regression from the standardised window to the next
``horizon`` points, solved in closed form from window statistics. The targets enter
those statistics only through ``X^T Y`` and the sum of ``Y``; so training on the
blended targets

    Y_student = (1 - mixing) * Y_actual + mixing * Y_teacher

is the plain fit with those two statistics blended, the window search, scaling and
ridge penalty unchanged. The student is an ordinary :class:`DLinear` afterwards (the
same predict cost, the same model file); only its weights differ.

``mixing`` (default :data:`MIXING_WEIGHT` = 0.5) weighs the teacher: 0 is plain
DLinear, 1 fits the teacher's forecasts alone. The teacher's forecasts are its
in-sample forecasts at the student's training origins (soft targets, as in Hinton
et al.'s distillation); with the global LSTM as teacher they come from one batched
forward pass per key. A later ``update`` of the student adds the new windows with
their actual targets (the teacher is not consulted again): refit to distil afresh.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ..windows import targets_at, windows_at
from .dlinear import DLinear

MIXING_WEIGHT = 0.5

#: ``teacher(y, origins) -> (len(origins), horizon, k)``: forecasts in the series' units from the points before each
#: origin; NaN where it cannot forecast (an origin before its input window), where the student keeps the actuals.
Teacher = Callable[[np.ndarray, np.ndarray], np.ndarray]


class _Student(DLinear):
    """DLinear whose fits blend the targets' statistics with the teacher's (used inside :func:`fit_student` only)."""

    _teacher: Teacher
    _mixing: float

    def _fit_arrays(self, y: np.ndarray, refit: bool) -> None:
        super()._fit_arrays(y, refit)
        self._distil(y)

    def _refit(self, y: np.ndarray, n_seen: int) -> None:
        super()._refit(y, n_seen)
        self._distil(y)

    def _distil(self, y: np.ndarray) -> None:
        window, horizon = int(self.window_), self.horizon
        origins = np.arange(window, len(y) - horizon + 1)  # the windows DLinear's statistics sum over
        taught = (np.asarray(self._teacher(y, origins), dtype=np.float64) - self.offset_) / self.scale_  # [m, H, k]
        z = (y - self.offset_) / self.scale_
        actual = targets_at(z, origins, horizon)  # [m, H, k]
        taught = np.where(np.isnan(taught), actual, taught)  # origins the teacher cannot forecast: the actuals
        blended = (1.0 - self._mixing) * actual + self._mixing * taught  # [m, H, k]
        for j, stats in enumerate(self.stats_):
            x = windows_at(z[:, j], origins, window)  # [m, W]
            stats.xy = x.T @ blended[:, :, j]  # [W, H]
            stats.sum_y = blended[:, :, j].sum(axis=0)  # [H]
        for name, value in self._solution(self.stats_, self.ridge_).items():
            setattr(self, name, value)


def fit_student(y: Any, teacher: Teacher, mixing: float = MIXING_WEIGHT, **dlinear_params: Any) -> DLinear:
    """A :class:`DLinear` fitted on ``y`` with targets ``(1 - mixing) * actual + mixing * teacher``.

    ``teacher(y, origins)`` forecasts ``(len(origins), horizon, k)`` from ``y`` before each
    origin; ``dlinear_params`` are DLinear's (``horizon``, ``window``, ...). The validation
    tail is forecast out of sample by the student fitted on the data before it, as in
    every fit.
    """
    from ..errors import WorkloadDataError, quote

    if isinstance(mixing, bool) or not isinstance(mixing, (int, float)) or not 0.0 <= mixing <= 1.0:
        raise WorkloadDataError(f"mixing={quote(mixing)} must be a weight in [0, 1] (0: plain DLinear).")
    student = _Student(**dlinear_params)
    student._teacher, student._mixing = teacher, float(mixing)
    student.fit(y)
    plain = DLinear(**student.get_params())  # the student as a plain DLinear: no teacher, same model file
    vars(plain).update({k: v for k, v in vars(student).items() if k not in ("_teacher", "_mixing")})
    return plain


def global_lstm_teacher(model: Any, key: Any) -> Teacher:
    """The teacher function of one key of a fitted :class:`~workload_predictor.models.global_lstm.GlobalLSTM`."""
    index = model.keys_.index(key)

    def teach(y: np.ndarray, origins: np.ndarray) -> np.ndarray:
        out = np.full((len(origins), model.horizon, model.n_targets_), np.nan)
        usable = origins >= model.window_
        out[usable] = model._forecast([y], [origins[usable]], keys=[index])[0]
        return out

    return teach


def fit_fleet_students(fleet: Any, series: list, targets: tuple[str, ...]) -> tuple[dict, dict]:
    """``FleetPredictor(model="dlinear", teacher="global_lstm")``'s fit: ``({key: WorkloadPredictor}, {key: error})``.

    The teacher is fitted on every key; each key's student is a DLinear with the fleet's
    settings fitted by :func:`fit_student`, committed to a per-key ``WorkloadPredictor`` (so
    predict, update, save and load are those of any per-key fleet). A key the teacher could
    not fit (too short for its window) gets a plain DLinear (the teacher forecasts nothing).
    """
    import time

    from .._memory import memory_limit
    from ..errors import WorkloadDataError
    from ..predictor import WorkloadPredictor
    from .global_lstm import GlobalLSTM

    given = {name: getattr(fleet, name) for name in ("horizon", "random_state", "n_threads", "device",
                                                      "max_training_time")}
    params = dict(fleet.teacher_params or {})
    unknown = set(params) - set(GlobalLSTM._param_names())
    if unknown:
        raise WorkloadDataError(f"teacher_params {sorted(unknown)!r:.120} are not GlobalLSTM parameters; valid: "
                                f"{', '.join(GlobalLSTM._param_names())}.")
    teacher = GlobalLSTM(**{**given, **params})
    try:
        teacher.fit([item.values for item in series], [item.key for item in series])
    except WorkloadDataError:
        teacher = None  # no key is long enough for the teacher: every student is a plain DLinear
    settings = fleet._config(targets)["settings"]
    predictors, errors = {}, {}
    for item in series:
        predictor = WorkloadPredictor(**settings)
        started = time.perf_counter()
        try:
            student_params = predictor._build_model().get_params()
            if teacher is not None and item.key in teacher.keys_:
                teach = global_lstm_teacher(teacher, item.key)
            else:
                teach = _no_teacher(student_params["horizon"])
            with memory_limit(predictor.memory_limit_mb) as memory:
                student = fit_student(item.values, teach, **student_params)
            predictors[item.key] = predictor._commit_fit(student, item.to_bucketed(targets), memory.peak_mb, started)
        except WorkloadDataError as exc:
            errors[item.key] = exc
    return predictors, errors


def _no_teacher(horizon: int) -> Teacher:
    """A teacher that forecasts nothing (NaN): the student is a plain DLinear."""
    def teach(y: np.ndarray, origins: np.ndarray) -> np.ndarray:
        return np.full((len(origins), horizon, y.shape[1]), np.nan)

    return teach
