"""Distillation: a per-key DLinear student trained on a teacher's forecasts blended with the actuals.

DLinear's fit is a ridge regression from the standardised window to the next
``horizon`` points, solved in closed form from window statistics. The targets enter
those statistics only through ``X^T Y`` and the sum of ``Y``; so training on the
blended targets

    Y_student = (1 - mixing) * Y_actual + mixing * Y_teacher

is the plain fit with those two statistics blended, the window search, scaling and
ridge penalty unchanged. The teacher's share is added at exactly the origins DLinear's
statistics sum (the newest ones only, when a time limit cut the pass) and with each
window's robust weight (``robust``: a window holding a flagged bucket counts for little,
whatever the teacher says of it). The student is an ordinary :class:`DLinear` afterwards (the
same predict cost, the same model file); only its weights differ.

``mixing`` (default :data:`MIXING_WEIGHT` = 0.5) weighs the teacher: 0 is plain
DLinear, 1 fits the teacher's forecasts alone. The teacher's forecasts are its
in-sample forecasts at the student's training origins (soft targets, as in Hinton
et al.'s distillation); with the global LSTM as teacher they come from one batched
forward pass per key. A later ``update`` of the student adds the new windows with
their actual targets (the teacher is not consulted again): refit to distil afresh.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import numpy as np

from .._memory import check_memory
from ..errors import WorkloadDataError, quote
from ..windows import targets_at, windows_at
from .dlinear import DLinear, combined_weights, counter_starts, settled_weights, window_weights

logger = logging.getLogger(__name__)
MIXING_WEIGHT = 0.5
#: Origins whose input windows the student gathers at once when it adds the teacher's share.
CHUNK_ORIGINS = 65_536
#: Origins the teacher forecasts at once (its windows, features and activations are gathered per chunk).
TEACHER_CHUNK = 8192

#: ``teacher(y, origins) -> (len(origins), horizon, k)``: forecasts in the series' units from the points before each
#: origin; NaN where it cannot forecast (an origin before its input window, a window holding a flagged bucket),
#: where the student keeps the actuals.
Teacher = Callable[[np.ndarray, np.ndarray], np.ndarray]


class _Student(DLinear):
    """DLinear whose fits add the teacher's share of the targets to their statistics (inside :func:`fit_student`
    only).

    Each fit's statistics are DLinear's own: the origins it summed (all, or the newest a
    time limit left; a refit's new windows, or none when the limit skipped them) and each
    window's robust weight. The student adds ``mixing * (teacher - actual)`` at exactly those
    origins, with exactly those weights, to ``X^T Y`` and the sum of ``Y``; so the statistics
    stay those of one weighted regression, and ``mixing=0`` (or a teacher that forecasts the
    actuals) leaves DLinear's fit unchanged.
    """

    _teacher: Teacher
    _mixing: float

    def _element_weights(self, y: np.ndarray, start: int,
                         known: dict[tuple[int, int], float] | None = None) -> np.ndarray | None:
        self._used_weights = super()._element_weights(y, start, known)  # the rule's weights of the fit's points
        return self._used_weights

    def _fit_arrays(self, y: np.ndarray, refit: bool) -> None:
        self._used_weights = None
        super()._fit_arrays(y, refit)
        # the weights the statistics read: the rule's, with each counter's start weighed as its run's flag
        element, window, z = counter_starts(y, self._used_weights), int(self.window_), self._scaled(y)
        every = np.arange(window, len(y) - self.horizon + 1)  # the origins a fit without a time limit sums
        covered = [self._summed_origins(s, every, None if element is None else element[:, j], z[:, j])
                   for j, s in enumerate(self.stats_)]
        self._distil(y, covered, [window_weights(None if element is None else element[:, j], origins, window,
                                                 self.horizon) for j, origins in enumerate(covered)])

    def _stats_after(self, z: np.ndarray, n_old: int, element: np.ndarray, first: int, judged: Any = None) -> list:
        # The refit on the validation tail adds these windows (``_refit`` skips this when the time left is short).
        self._added = (np.arange(n_old - self.horizon + 1, len(z) - self.horizon + 1), element, first, judged)
        return super()._stats_after(z, n_old, element, first, judged)

    def _retracted(self, z: np.ndarray, y: np.ndarray, n_old: int, element: np.ndarray | None,
                   summed: np.ndarray | None, first: int = 0, decayed: bool = True) -> tuple[list, np.ndarray | None]:
        # The refit's tail may end a counter's run whose start the first fit's newest windows hold: DLinear sums
        # them again at a lower weight (``newest_weights_`` before and after).
        before = self._newest()
        stats, newest = super()._retracted(z, y, n_old, element, summed, first, decayed)
        if stats is not self.stats_:
            self._resummed = (n_old, before, self._newest() if newest is None else newest)
        return stats, newest

    def _refit(self, y: np.ndarray, n_seen: int) -> None:
        self._added = self._resummed = None
        super()._refit(y, n_seen)
        if self._added is None:
            return
        origins, element, first, judged = self._added
        covered = [origins] * len(self.stats_)
        weights = [combined_weights(window_weights(None if element is None else element[:, j], origins,
                                                   int(self.window_), self.horizon, first),
                                    None if judged is None else judged[j]) for j in range(len(self.stats_))]
        if self._resummed is not None:
            # the first fit's windows summed again: their teacher share moves by the change of their weight
            n_old, before, after = self._resummed
            lead = len(before)
            newest = np.arange(n_old - self.horizon + 1 - lead, n_old - self.horizon + 1)
            change = np.nan_to_num(after - before)  # NaN: a window not summed, whose weight did not change
            for j in range(len(self.stats_)):
                moved = np.flatnonzero(change[:, j] != 0.0)
                if len(moved):
                    weights[j] = np.r_[change[moved, j], np.ones(len(origins)) if weights[j] is None else weights[j]]
                    covered[j] = np.r_[newest[moved], origins]
        self._distil(y, covered, weights)

    def _summed_origins(self, stats: Any, every: np.ndarray, element: np.ndarray | None,
                        z: np.ndarray) -> np.ndarray:
        """The origins among ``every`` whose windows ``stats`` sums: the newest ones (a time limit keeps those)
        whose window weights (``z``: the scaled series) add up to the statistics' count (DLinear keeps the count, not
        the origins)."""
        weights = settled_weights(element, z, every, int(self.window_), self.horizon)
        newest_first = np.cumsum(np.ones(len(every)) if weights is None else weights[::-1])
        if len(every) == 0 or stats.count <= 0.0:
            return every[:0]
        kept = int(np.argmin(np.abs(newest_first - stats.count))) + 1
        return every[len(every) - kept :]

    def _distil(self, y: np.ndarray, covered: list[np.ndarray], weights: list[np.ndarray | None]) -> None:
        """Add ``mixing * (teacher - actual)`` of the windows at ``covered[j]`` (target ``j``'s origins in ``y``)
        to the statistics, each window times ``weights[j]`` (aligned with ``covered[j]``; ``None``: 1), and re-solve
        with the fit's penalties. The callers pass the rule's weights (:func:`window_weights`, the lowest of each
        window's points): a window holding a flagged bucket, which the statistics hold settled
        (:func:`settled_weights`), is read raw here, so it adds (almost) no teacher share."""
        window, horizon = int(self.window_), self.horizon
        origins = np.unique(np.concatenate(covered)) if covered else np.zeros(0, dtype=np.int64)
        if len(origins) == 0 or self._mixing == 0.0:  # nothing to add: DLinear's fit as it is
            return
        # The teacher's forecasts, scaled, the actuals and the shift (float64, [m, H, k] each, and a temporary),
        # and the standardised series.
        check_memory("distillation targets", extra_bytes=8.0 * 5 * len(origins) * horizon * y.shape[1] + 8.0 * y.size)
        taught = np.asarray(self._teacher(y, origins), dtype=np.float64)
        if taught.shape != (len(origins), horizon, y.shape[1]):
            raise WorkloadDataError(f"the teacher's forecasts have shape {taught.shape}; the student needs "
                                    f"{(len(origins), horizon, y.shape[1])} (origins, horizon, targets).")
        z = (y - self.offset_) / self.scale_
        taught = (taught - self.offset_) / self.scale_
        actual = targets_at(z, origins, horizon)  # [m, H, k]
        # Where the teacher cannot forecast (NaN, inf), the student keeps the actuals: no change there.
        shift = self._mixing * np.where(np.isfinite(taught), taught - actual, 0.0)
        for j, stats in enumerate(self.stats_):
            rows = np.searchsorted(origins, covered[j])
            change = shift[rows, :, j] if weights[j] is None else shift[rows, :, j] * weights[j][:, None]  # [m_j, H]
            xy = stats.xy.copy()
            for begin in range(0, len(rows), CHUNK_ORIGINS):  # the windows themselves, a chunk at a time
                part = slice(begin, begin + CHUNK_ORIGINS)
                xy += windows_at(z[:, j], covered[j][part], window).T @ change[part]
            stats.xy, stats.sum_y = xy, stats.sum_y + change.sum(axis=0)
        for name, value in self._solution(self.stats_, self.ridge_).items():
            setattr(self, name, value)


def fit_student(y: Any, teacher: Teacher, mixing: float = MIXING_WEIGHT,
                anomalies: dict[tuple[int, int], float] | None = None, **dlinear_params: Any) -> DLinear:
    """A :class:`DLinear` fitted on ``y`` with targets ``(1 - mixing) * actual + mixing * teacher``.

    ``teacher(y, origins)`` forecasts ``(len(origins), horizon, k)`` from ``y`` before each
    origin; ``dlinear_params`` are DLinear's (``horizon``, ``window``, ...). The validation
    tail is forecast out of sample by the student fitted on the data before it, as in
    every fit (``anomalies`` as for :meth:`~workload_predictor.models.base.BaseForecaster.fit`).
    """
    if isinstance(mixing, bool) or not isinstance(mixing, (int, float)) or not 0.0 <= mixing <= 1.0:
        raise WorkloadDataError(f"mixing={quote(mixing)} must be a weight in [0, 1] (0: plain DLinear).")
    student = _Student(**dlinear_params)
    student._teacher, student._mixing = teacher, float(mixing)
    student.fit(y, anomalies)
    plain = DLinear(**student.get_params())  # the student as a plain DLinear: no teacher, same model file
    vars(plain).update({k: v for k, v in vars(student).items()
                        if k not in ("_teacher", "_mixing", "_used_weights", "_added", "_resummed")})
    return plain


def global_lstm_teacher(model: Any, key: Any) -> Teacher:
    """The teacher function of one key of a fitted :class:`~workload_predictor.models.global_lstm.GlobalLSTM`.

    It forecasts nothing (NaN: the student keeps the actuals) at an origin before its
    window, and at one whose input window holds a bucket the input-anomaly rule flags (with
    ``robust``): its forecast there follows the burst, and the student's window there may
    not hold that bucket (the teacher's window can be the longer), so nothing else would
    weigh it down.
    """
    index = model.keys_.index(key)

    def teach(y: np.ndarray, origins: np.ndarray) -> np.ndarray:
        check_memory("teacher forecasts", extra_bytes=8.0 * len(origins) * model.horizon * model.n_targets_
                     + 8.0 * 2 * y.size)  # the forecasts, the weights and the standardised series
        out = np.full((len(origins), model.horizon, model.n_targets_), np.nan)
        usable = origins >= model.window_
        element = model._element_weights(index, y, 0)  # [T, k], None: no bucket flagged
        if element is not None:
            flagged = np.concatenate([[0], np.cumsum((element < 1.0).any(axis=1))])  # flagged buckets before each
            inside = flagged[origins] - flagged[np.maximum(origins - model.window_, 0)]  # ... in each input window
            usable &= inside == 0
        rows = np.flatnonzero(usable)
        for first in range(0, len(rows), TEACHER_CHUNK):  # a chunk of windows at a time (gathered in float64)
            chunk = rows[first : first + TEACHER_CHUNK]
            check_memory("teacher forecasts", extra_bytes=model._forecast_bytes(len(chunk)))
            out[chunk] = model._forecast([y], [origins[chunk]], keys=[index])[0]
        return out

    return teach


def fit_fleet_students(fleet: Any, series: list, targets: tuple[str, ...]) -> tuple[dict, dict]:
    """``FleetPredictor(model="dlinear", teacher="global_lstm")``'s fit: ``({key: WorkloadPredictor}, {key: error})``.

    The teacher is fitted on every key, within the fleet's memory limit (over it, the fit raises
    :class:`~workload_predictor.errors.MemoryLimitError`); each key's student is a DLinear with the fleet's
    settings fitted by :func:`fit_student`, committed to a per-key ``WorkloadPredictor`` (so
    predict, update, save and load are those of any per-key fleet). A key the teacher could
    not fit (too short for its window) gets a plain DLinear (the teacher forecasts nothing);
    how many did is logged as a warning, with the first one's error.
    """
    import time

    from .. import _deadline
    from .._memory import memory_limit
    from ..errors import MemoryLimitError, NoKeyFittedError, WorkloadDataError
    from ..predictor import WorkloadPredictor, _fit_anomalies
    from .global_lstm import GlobalLSTM, check_param_names

    given = {name: getattr(fleet, name) for name in ("horizon", "random_state", "n_threads", "device",
                                                      "max_training_time")}
    params = dict(fleet.teacher_params or {})
    check_param_names(params, "teacher_params", tuple(given))  # the fleet's own settings it refuses there
    teacher = GlobalLSTM(**{**given, **params})
    teacher._check_params()  # a bad setting is the caller's error, not a key too short for the teacher
    try:
        with memory_limit(fleet.memory_limit_mb):  # what the teacher's fit over every key adds, as a key's fit
            teacher.fit([item.values for item in series], [item.key for item in series])
        untaught = teacher.errors_
    except MemoryLimitError:  # the caller's limit, not a key too short: no student is taught without a word
        raise
    except NoKeyFittedError as exc:  # (another error, e.g. its training processes', is the fit's)
        teacher = None  # no key is long enough for the teacher: every student is a plain DLinear
        untaught = {item.key: exc for item in series}
    if teacher is not None and teacher.stopped_by_ == "time_limit":  # in the fleet's time_limited_stages_
        _deadline.current().cut("global lstm training")
    if untaught:  # those students are plain DLinear: said once per fit, as a fleet's time limit is
        key, error = next(iter(untaught.items()))
        logger.warning("teacher='global_lstm' could not be fitted on %d of %d keys, whose students are plain DLinear "
                       "(not distilled); e.g. key %s: %s", len(untaught), len(series), quote(key), error)
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
            bucketed = item.to_bucketed(targets)
            # The fleet's deadline; this student's own record of the stages it cut (the fleet's time_limited_keys_).
            with _deadline.limit(None, own_record=True) as deadline, \
                    memory_limit(predictor.memory_limit_mb) as memory:
                anomalies, flagged = _fit_anomalies(bucketed)
                student = fit_student(item.values, teach, anomalies=flagged, **student_params)
            predictors[item.key] = predictor._commit_fit(student, bucketed, memory.peak_mb, started,
                                                         tuple(deadline.stages), anomalies, warn=False)
        except WorkloadDataError as exc:
            errors[item.key] = exc
    return predictors, errors


def _no_teacher(horizon: int) -> Teacher:
    """A teacher that forecasts nothing (NaN): the student is a plain DLinear."""
    def teach(y: np.ndarray, origins: np.ndarray) -> np.ndarray:
        return np.full((len(origins), horizon, y.shape[1]), np.nan)

    return teach
