"""WorkloadPredictor: the public estimator (fit / predict) over the data door and the models."""

from __future__ import annotations

import collections
import collections.abc
import copy
import logging
import math
import os
import time
import types
import warnings
from pathlib import Path
from typing import Any, NamedTuple, Sequence

import numpy as np
import pandas as pd

from . import _deadline, anomaly, model_file, persistence
from ._memory import UPDATE_ADVICE, check_memory, memory_limit
from .confidence import (
    RECENT_SHARE, confidence_of_totals, conformal_is_exact, conformal_quantile, interval, recency_weights,
)
from .data import (DEFAULT_MAX_GAP, BucketedSeries, Continuation, as_target_list, centuries_from, future_index,
                   gap_buckets, prepare_continuation, prepare_series)
from .errors import (UndoneJumpWarning, UpdateOrderError, WorkloadDataError, check_is_fitted, coverage_level, is_number,
                     naming_rows, plural, quote)
from .forecast import Forecast
from .health import (IDLE_RUN, held_runs, held_span, held_values, idle_span, kept_length, naive_error, noise_scale,
                     settled_held, stuck_runs)
from .models import registry
from .models.base import BaseForecaster, ParamsMixin, commit, instance_lock, serialised
from .windows import carried_left_out, left_out_windows, newest

logger = logging.getLogger(__name__)

PREDICT_TIMINGS = 100  # predict durations kept for health()
HISTORY_GRID_AHEAD = 1024  # buckets of timestamps built ahead for the history an update keeps
UNDONE_KEPT = 10  # undone jumps kept in undone_jumps_
# Under a time limit, the time the model's fit leaves for the predictor's work after it (_commit_fit: the buckets the
# calibration leaves out, noise_scale_, the idle and stuck runs), in passes over the series at the pace the
# input-anomaly scan measured (``_deadline.SERIES_PACE``): 0.6-1.25 passes at 1,000,000 sparse buckets (0.03-0.045 s).
COMMIT_PASSES = 2


class _Published(NamedTuple):
    """Everything ``predict`` reads, published by ``fit``/``update`` as one reference (see the class notes)."""

    model: BaseForecaster
    halfwidth: np.ndarray  # [H, k]
    series: BucketedSeries
    last_timestamp: pd.Timestamp
    freq: pd.Timedelta
    targets: tuple
    confidence: float
    confidence_by_index: list
    window: int
    model_name: str  # the registered name of ``model``: parameters set after ``fit`` do not relabel it
    level: float  # the interval's level, as calibrated
    inputs: np.ndarray | None  # the forecast's inputs where a flagged run has settled (None: the model's context)
    columns: pd.Index  # the targets as a forecast history's columns: a copy of it per forecast (an Index's name is
    #                    settable in place), 2 us instead of the 25 us of building it from the names
    left_out: np.ndarray | None = None  # the calibration windows the interval leaves out (interval_left_out_)


class _Undo(NamedTuple):
    """The state before an update that jumped far ahead (see ``WorkloadPredictor.update``): its attributes, as they
    were (an update replaces attributes, never writes into them, so they are the state itself). Held through the
    stray clock's updates after it while :func:`holds_jump`; no row of theirs is kept, only their count."""

    attributes: dict[str, Any]
    jumped: int  # the buckets the jump zero-filled
    stray: pd.Timestamp  # the jumping update's last bucket: rows before it (and after ``before``) undo the jump
    head: Continuation | None = None  # that update's buckets before a jump between its rows (applied again on undo)
    held: pd.Timestamp | None = None  # the last bucket of the stray update it was held through (None: ``stray``)
    updates: int = 0  # the stray updates it was held through
    rows: int = 0  # the rows of the jumping update after the jump and of those updates: what an undo drops

    @property
    def before(self) -> pd.Timestamp:
        """The last bucket before the jump."""
        return self.attributes["last_timestamp_"] if self.head is None else self.head.last

    @property
    def newest(self) -> pd.Timestamp:
        """The last bucket of the state the undo pairs with (the jumping update's, or the newest stray update's)."""
        return self.stray if self.held is None else self.held


def _published_of(state: dict[str, Any], before: _Published | None = None) -> _Published:
    """The published state of a predictor's attributes ``state``; ``before``, the state an update follows (the same
    model class and targets), spares the registry lookup and the columns."""
    return _Published(state["model_"], state["interval_halfwidth_"], state["series_"], state["last_timestamp_"],
                      state["freq_"], tuple(state["targets_"]), state["confidence_"], state["_confidence_by_index"],
                      int(state["window_"]), before.model_name if before else registry.name_of(state["model_"]),
                      float(state["interval_level_"]), _settled_inputs(state),
                      before.columns if before else pd.Index(list(state["series_"].targets)),
                      state.get("interval_left_out_"))


def _point(state: _Published, steps: int) -> np.ndarray:
    """The unclipped point forecast ``[steps, k]`` of a published state (``steps`` checked by the caller): from the
    model's context, or from its settled inputs where a flagged run the series came back from lies in it."""
    inputs = state.model.context_ if state.inputs is None else state.inputs
    return state.model._predict_at(inputs, np.array([len(inputs)]))[0, :steps]


def _settled_inputs(state: dict[str, Any]) -> np.ndarray | None:
    """The model's context with the flagged runs the series has come back from read as their reference medians
    (:func:`workload_predictor.anomaly.settled_inputs`, from the recorded flags, :func:`~workload_predictor.anomaly.recorded_flags`), and so the
    lost buckets (``lost_buckets_``, :func:`~workload_predictor.anomaly.lost_runs`); ``None`` when none lies in it.

    The runs are found on the kept series (the context and up to ``REFERENCE_BUCKETS`` before it), so a burst that
    began before the context and ends in it is settled too.
    """
    context = getattr(state["model_"], "context_", None)
    if context is None:
        return None
    values = state["series_"].values[-(len(context) + anomaly.REFERENCE_BUCKETS) :]
    if len(values) < len(context):  # a file whose series kept less than the model's context
        values = context
    runs = _recorded_bursts(values, state, state["last_timestamp_"])
    lost = state.get("lost_buckets_")
    if lost is not None and lost[-1] >= state["model_"].n_seen_ - len(context):  # a lost bucket in the context
        settled = anomaly.settle(values, runs) if runs else values
        runs = sorted(runs + anomaly.lost_runs(settled, lost - (state["model_"].n_seen_ - len(values))))
    return anomaly.settle(values, runs)[-len(context) :] if runs else None


def _recorded_bursts(values: np.ndarray, state: dict[str, Any],
                     last: pd.Timestamp) -> list[tuple[int, int, int, float]]:
    """The bursts the series came back from in ``values`` (buckets up to ``last``), flagged as a predictor's attributes
    ``state`` record (:func:`~workload_predictor.anomaly.recorded_flags`, :func:`workload_predictor.anomaly.settled_runs`); positions are
    ``values``'."""
    flagged = anomaly.recorded_flags(state, last, len(values), len(values) - 1)
    return anomaly.led_runs(values, flagged)


def _updated_copies(plan: list) -> dict[int, Any]:
    """Copies of the objects in an update ``plan`` with its changes applied, by ``id`` of the original.

    The originals stay as they were, so a forecast still reading them (another thread's
    ``predict``) sees one consistent state; a copy combining members points to the
    members' copies.
    """
    copies = {}
    for target, changes in plan:
        updated = copy.copy(target)
        vars(updated).update(changes)
        copies[id(target)] = updated
    for updated in copies.values():
        members = vars(updated).get("members_")
        if isinstance(members, dict):
            updated.members_ = {name: copies.get(id(member), member) for name, member in members.items()}
    return copies


def jump_buckets(window: Any, horizon: Any) -> int:
    """The zero-filled buckets beyond which an update's first row jumped far ahead: half the model's context
    ``window`` (the jump zero-fills most of what the forecast reads), at least the ``horizon`` (a row a few buckets
    late is no jump)."""
    return max(int(window) // 2, int(horizon))


def undoes_jump(before: pd.Timestamp, stray: pd.Timestamp, last: pd.Timestamp, first: pd.Timestamp,
                held: pd.Timestamp | None = None) -> bool:
    """Whether rows refused for starting at ``first``, at or before a series' last bucket ``last``, undo the jump an
    update made from ``before`` to ``stray`` (its last bucket): the series is still where that jump left it, or where
    the stray updates the undo was held through left it (``held``: the newest one's last bucket), and ``first`` falls
    between ``before`` and ``stray``."""
    return (stray if held is None else held) == last and before < first < stray


def holds_jump(before: pd.Timestamp, jumped: int, last: pd.Timestamp, threshold: int, freq: pd.Timedelta) -> bool:
    """Whether an update that ends at ``last`` keeps undoable a jump of ``jumped`` zero-filled buckets after ``before``
    (a jump: more than ``threshold``, :func:`jump_buckets`): while the clock that jumped has run fewer buckets past
    the bucket it jumped to than ``threshold``, its rows are no proof the jump was right."""
    return last < before + (jumped + 1 + threshold) * freq


def carried_jump(record: Any, last: pd.Timestamp, new: Continuation, threshold: int, freq: pd.Timedelta) -> Any:
    """A held jump ``record`` (a predictor's ``_Undo``, a fleet key's ``_Jump``: ``before``, ``jumped``, ``newest``,
    ``held``, ``updates``, ``rows``) after an update ``new`` that made no jump of its own, from the state ending at
    ``last``: held through it, one stray update more, while :func:`holds_jump`; ``None`` once it confirms the jump,
    or where the record pairs with another state (or there is none)."""
    if record is None or record.newest != last or not holds_jump(record.before, record.jumped, new.last, threshold,
                                                                 freq):
        return None
    return record._replace(held=new.last, updates=record.updates + 1, rows=record.rows + new.rows_after(0))


def undone_text(jumped: int, before: pd.Timestamp, stray: pd.Timestamp, recorded: str = "", since: int = 0,
                rows: int = 0, last: pd.Timestamp | None = None) -> str:
    """What an undone jump of ``jumped`` zero-filled buckets from ``before`` to ``stray`` (the jumping update's last
    bucket) was, in words (the warning's text; ``recorded``: where it is kept, in brackets); ``since`` stray updates
    after it, up to ``last``, were undone with it, ``rows`` rows in all."""
    if since:
        which = f"the update {since + 1} updates before"
        dropped = (f"its rows after {before.isoformat()} and the {plural(since, 'update')} since "
                   f"({plural(rows, 'row')}, up to {last.isoformat()}) were")
    else:
        which, dropped = "the update before", f"its rows after {before.isoformat()} were"
    return (f"{which} jumped {jumped + 1} buckets ahead, from {before.isoformat()} to {stray.isoformat()}, and these "
            f"rows fall between the two: {dropped} dropped as stray (a clock glitch) and these continue the series "
            f"from {before.isoformat()}{recorded}. If the jump was right and these rows were late, refit with fit() on "
            "the rows as they are.")


def check_update_target(target: Any, fitted: Sequence[str], who: str) -> None:
    """A typed error unless ``target``, given to an update, names the fitted targets ``fitted`` in a form ``fit``
    takes (a str, a list of them), in any order; ``who``: ``"predictor"`` or ``"fleet"``, for the message."""
    if set(as_target_list(target)) != set(fitted):
        shown = fitted[0] if len(fitted) == 1 else list(fitted)
        raise WorkloadDataError(
            f"target={quote(target)}, but the {who} was fitted with target={quote(shown)}: update reads the fitted "
            f"target columns; leave target out (or pass target={quote(shown)}) and give the rows those columns, or "
            f"fit the {who} again on the new ones.")


def order_refusal(exc: UpdateOrderError, values: np.ndarray, last: pd.Timestamp,
                  freq: pd.Timedelta) -> UpdateOrderError:
    """The error for rows at or before the last bucket ``last`` (``exc``) of a series whose newest buckets are
    ``values`` (``(n, k)``, of width ``freq``), naming the run of zero buckets the first of them falls in (or lies
    before, where the run reaches back past the buckets kept): no row came for those buckets, so "drop rows already
    seen" would mislead where a row from a clock running ahead moved the series past them. The run ends at the first
    bucket with load after it, or at the newest bucket, which a row made even where its value was 0. ``exc`` itself
    where the refused bucket holds load, or lies 292 years or more before ``last`` (their difference is past what
    int64 nanoseconds hold)."""
    if centuries_from(exc.first.as_unit("ns").to_datetime64(), last.as_unit("ns").to_datetime64()):
        return exc
    back = (last - exc.first) // freq  # the refused bucket's position before the newest (1: the one before)
    position = len(values) - 1 - back
    if back < 1 or values[max(position, 0)].any():
        return exc
    seen = values.any(axis=1)
    seen[-1] = True  # the newest bucket came from a row (an update ends at its newest row), with load or without
    after = max(position, 0) + int(np.argmax(seen[max(position, 0):]))  # the first bucket with load, or the newest
    earlier = np.flatnonzero(seen[:max(position, 0)])
    resumed = (last - (len(values) - 1 - after) * freq).isoformat()
    if position >= 0:
        first = int(earlier[-1]) + 1 if len(earlier) else 0
        run = plural(after - first, "zero bucket") if len(earlier) else f"{after - first:,} or more zero buckets"
        where = f"no row came for it: it lies in a run of {run} before {resumed}"
    else:
        where = f"the {plural(after, 'bucket')} kept before {resumed} all hold zeros, and it is older than them"
    error = naming_rows(
        UpdateOrderError, f"new bucket {exc.first.isoformat()}", *((" at ", exc.rows[0]) if exc.rows else ()),
        f" is not after the last fitted bucket {last.isoformat()}, but {where} (a gap an update zero-filled, or no "
        f"load). If the row at {resumed} came from a clock running ahead, every row before {last.isoformat()} is "
        "refused: refit with fit() on the rows with their correct times. If this row was sent before, drop it.")
    error.first, error.last = exc.first, last
    return error


#: Fitted attributes an update carries forward from the state before it (O(new buckets)); a predictor loaded from a
#: file saved before they were kept has none, and counts them from the buckets it keeps (``series_``).
_CARRIED = ("idle_span_", "stuck_run_", "noise_scale_")


class WorkloadPredictor(ParamsMixin):
    """Forecast the load of an LLM-serving system (requests and tokens per bucket).

    Parameters
    ----------
    model : str
        A registered model (:mod:`workload_predictor.models.registry`): ``"dlinear"``
        (default), ``"lstm"``, ``"ensemble"``, or a baseline (``"naive"``,
        ``"seasonal_naive"``, ``"moving_average"``, ``"moving_median"``, ``"exponential_smoothing"``,
        ``"seasonal_median"``). DLinear is the default because it
        is the fastest model (a closed-form fit in milliseconds, no torch) and, on
        every series we measured, as accurate as the LSTM or better.
    horizon : int
        Buckets forecast directly; ``predict(steps)`` accepts ``steps <= horizon``.
    level : float
        Nominal coverage of the prediction interval, in (0, 1).
    window : int or None
        Input window in buckets (the season length for ``"seasonal_naive"``); ``None``
        lets the model choose (DLinear and the LSTM search it on the validation tail).
    model_params : dict or None
        The model's own parameters, e.g. ``{"kernel_size": 13}`` for DLinear,
        ``{"hidden_size": 64, "max_epochs": 20}`` for the LSTM, ``{"members": ("dlinear",
        "naive"), "member_params": {"lstm": {"max_epochs": 20}}}`` for the ensemble
        (see each model class). An unknown key raises
        :class:`~workload_predictor.errors.WorkloadDataError` listing the valid ones.
    random_state : int or None
        Seed for the LSTM; forecasts are reproducible with a fixed seed.
    n_threads : int or None
        torch threads for the LSTM (default 1, fastest for these small networks and
        robust under load); ``None`` uses the process's ``torch.set_num_threads``.
    device : str
        ``"cpu"``, ``"cuda"`` or ``"auto"`` for the LSTM.
    max_training_time : float or None
        Seconds ``fit`` may take, counted from its start (the timestamp door
        included); ``None`` disables the limit. Every stage reads the same deadline,
        and a stage that can end early with a smaller but valid result does so once
        it has passed: LSTM training stops (checked before every batch) and keeps
        its best weights; DLinear's window search keeps the best candidates scored
        so far; exponential smoothing chooses its factor on the newest origins
        scored; the ensemble weighs its members on the validation tail alone. A pass
        over the whole series that cannot stop part-way starts only when the time
        left covers it, at the pace the passes before it in this fit measured:
        otherwise the smaller valid thing is done (DLinear's window search and
        statistics on the newest windows that fit, the refit on the validation tail
        skipped). The stages cut are listed in ``time_limited_stages_``
        (``training_cut_short_`` says whether there is any), logged as a warning and
        shown in :meth:`health`: ``"input-anomaly chains"`` (the buckets a burst in
        their reference hid are not judged again: a second corrupt bucket behind a
        first may stay unflagged), ``"input-anomaly counters"`` (the runs that never
        decrease left are not judged as a counter's), ``"dlinear window search"`` (fewer candidates
        scored, or the candidates fitted on the newest windows), ``"dlinear
        statistics"`` (the search's sums reused, or the newest windows summed),
        ``"dlinear refit"`` (the validation tail's windows not added), ``"lstm
        training"``, ``"lstm training windows"`` (trained on the newest windows
        prepared), ``"lstm base refit"`` (the validation tail's windows not added to
        the base's sums), ``"exponential smoothing factor"``, ``"seasonal median
        history periods"`` (its period chosen on the newest history) and
        ``"ensemble history"``. What cannot end early (the door, the
        input-anomaly scan, DLinear's smallest pass) still completes, so a limit
        ``L`` ends a fit within about ``L`` plus one batch or one chunk of a stage,
        once ``L`` exceeds that floor (about 0.1-0.2 s at 1,000,000 points). Default
        300 (the old production setting): a normal fit takes seconds, so the limit
        never changes a result and only stops a runaway fit on a huge series.
    memory_limit_mb : float or None
        MiB that ``fit`` or ``update`` may add to the process's RSS (measured with
        psutil). Checked before each large allocation (with an estimate of its size)
        and after every LSTM epoch; exceeding it, or an allocation larger than the
        machine's available memory, raises
        :class:`~workload_predictor.errors.MemoryLimitError` before the allocation
        and leaves the predictor as it was. Default 2048 (the old production
        setting); ``None`` only records the peak. It bounds what the fit adds, not
        the process's total, so a host process holding gigabytes can still fit.
    verbose : bool or None
        A progress bar over the LSTM's epochs on stderr: ``None`` (default) only when
        stderr is a terminal, ``True`` always, ``False`` never. Logging goes through
        ``logging`` either way.
    max_gap : int, str, pandas.Timedelta or None
        The longest run of missing buckets ``update`` zero-fills: a row further ahead
        (of the last bucket or of the previous row) raises
        :class:`~workload_predictor.errors.UpdateGapError` and changes nothing, so
        the next correctly timed row is accepted. A number of buckets, or a span
        (``"1h"``) divided by the bucket width, rounded down (a span shorter than one
        bucket is refused at ``fit``: no gap could be zero-filled). Default 1000 buckets (17 min at 1 s,
        2.8 h at 10 s, 17 h at 1 min): longer than a restart of the feeding process,
        and far below what one stray timestamp can ask for (a day ahead at 1 s is
        86,400 zero buckets that drive the forecast and confidence to zero; a year
        ahead needed more than 24 GB). ``None`` disables the bound (the memory limit
        still applies). After a longer outage, refit.

    Attributes
    ----------
    model_ : BaseForecaster
        The fitted model (a class of :mod:`workload_predictor.models`).
    weights_ : dict
        Combining models only (the ensemble): each member's share of the forecast,
        averaged over the horizon steps. Other models have no ``weights_``.
    series_ : BucketedSeries
        The newest buckets: the history a forecast shows and the input-anomaly
        scan's reference (at least ``anomaly.HISTORY_BUCKETS``).
    targets_ : tuple of str
        The fitted targets, in the order of every forecast's columns.
    freq_ : pandas.Timedelta
        The bucket width.
    last_timestamp_ : pandas.Timestamp
        The last fitted or updated bucket (UTC).
    window_ : int
        The input window the model reads.
    interval_halfwidth_ : numpy.ndarray
        The split-conformal half-width ``[horizon, targets]``, calibrated at
        ``interval_level_``; ``interval_exact_`` says whether the windows it was
        calibrated on reach that level exactly (``n_calibration_windows_`` of them).
        Where they do not, no step's half-width falls below that of every step's
        residuals of its target pooled (:func:`~workload_predictor.confidence.conformal_quantile`).
    confidence_ : float
        ``1 - WAPE`` of the validation forecasts, in [0, 1]; ``validation_mae_`` the
        MAE per target, both on the ``n_validation_windows_`` windows less those the interval
        leaves out (``interval_left_out_``).
    input_anomalies_ : collections.deque
        The newest input values the anomaly scan flagged (at most ``anomaly.KEPT``;
        a bucket flagged in several targets takes one entry per target), as
        ``(timestamp, target, value, reference median)``; :meth:`health` counts their
        buckets.
    input_floor_ : numpy.ndarray
        The scale floor per target of the fitted series (see :mod:`.anomaly`); an update
        judges its buckets against it, or where more against the typical burst of the
        series seen, from ``input_nonzero_`` (the newest ``anomaly.BUSY_KEPT`` non-zero
        buckets per target, NaN before a target's first) and ``input_nonzero_counts_``
        (the non-zero buckets of each target seen).
    input_anomaly_buckets_ : numpy.ndarray or None
        The starts (UTC ``datetime64[ns]``) of every flagged bucket among the newest
        ``anomaly.RECENT_BUCKETS`` (1000), which :meth:`health` counts (``input_anomalies_``
        keeps only the newest 100 values); ``None`` when none was flagged.
    input_flags_ : numpy.ndarray or None
        Every flagged bucket among the newest buckets the predictor and its model keep,
        a row per bucket (the newest last) holding the reference median where flagged and
        NaN elsewhere; ``None`` when none is flagged among them. What the forecast's
        inputs, the validation windows and the model's update read as flagged.
    lost_buckets_ : numpy.ndarray or None
        The buckets an update zero-filled where the buckets before them make a zero no load (a refused row's, a row
        that never came in a busy series), among the newest buckets ``input_flags_`` covers, as positions counted
        from the first fitted bucket; ``None`` when there is none. The forecast's inputs and the validation windows
        read them as their reference medians (see ``docs/bad-samples.md``).
    interval_left_out_ : numpy.ndarray or None
        A bool per window the interval is calibrated on, true for those left out of its residuals: the validation
        windows whose targets hold a lost bucket or a bucket of a flagged burst the series came back from (read as a
        median there); ``None`` when none is.
    time_limited_stages_ : list of str
        The stages ``max_training_time`` cut (see that parameter);
        ``training_cut_short_`` is whether any was cut or the LSTM stopped early.
    fit_seconds_, fit_peak_rss_mb_ : float
        The last fit's duration and the peak memory it added (MiB).
    predict_seconds_ : collections.deque
        The durations of the newest ``PREDICT_TIMINGS`` (100) :meth:`predict` calls, which :meth:`health` rates;
        ``update_seconds_``, the last :meth:`update`'s (none before the first).
    idle_span_, stuck_run_ : tuple of int
        What :meth:`health`'s ``idle_fit`` and ``stuck_input`` rate, carried from update to update: the buckets the fit
        and the updates rest on, those in idle stretches, the idle run they end with and the newest stretch's first
        and last position (:func:`workload_predictor.health.idle_span`); per target, the run of repeated non-zero
        counts the series ends with (:func:`workload_predictor.health.stuck_runs`).
    noise_scale_ : numpy.ndarray
        ``(2, k)``: per target, the naive forecast's error over ``horizon`` buckets (the bucket before a window,
        repeated) in the fitted series (row 0, carried by updates) and in the buckets ``series_`` keeps (row 1), each
        read as the model's forecast reads it (a burst the series came back from at its reference median, a counter's
        run from where its climb began): what
        :meth:`health`'s ``relative_error`` measures the validation error against
        (:func:`workload_predictor.health.noise_scale`).
    recent_mae_ : numpy.ndarray
        ``(k,)``: the validation MAE per target of the newest ``horizon`` validation windows (``validation_mae_``'s
        of all of them): what the latest forecasts missed, which ``relative_error`` also rates.
    n_updates_ : int
        Updates since the fit (an undone one not counted).
    undone_jumps_ : tuple of (pandas.Timestamp, pandas.Timestamp)
        The newest ``UNDONE_KEPT`` (10) updates undone as stray jumps since the fit (see
        :meth:`update`), oldest first, each as the last bucket before the jump and the
        newest bucket dropped (the jumping update's last, or that of the newest stray update
        undone with it; UTC): the buckets after the first up to the second were dropped.

    Notes
    -----
    ``fit`` holds out the chronological tail of the series (its last 15 %, at least one
    horizon), trains on the rest, and forecasts the tail out of sample (at up to 100
    origins spread evenly over it). Those
    validation forecasts give the split-conformal interval per horizon step and the
    confidence (``1 - WAPE``); DLinear is then refitted on all data.

    Thread safety: ``predict`` may be called from many threads while one thread calls
    ``update`` (or ``fit``): ``update`` builds the new state on copies (the model
    objects a forecast may be reading are never changed) and publishes it with one
    reference assignment; ``predict`` reads that one reference once, so every forecast
    is exactly the sequential forecast of one state, values and timestamps alike.
    ``health`` measures one state too. Concurrent ``update`` calls on one instance run one
    after the other (each holds the instance's own lock), and a ``fit`` commits after a
    running ``update``. Interrupted (``KeyboardInterrupt``) anywhere, ``fit`` and ``update``
    leave the state before the call or the one after it; see docs/updates-and-limits.md.
    """

    # Not in vars(), so never saved: the published state (rebuilt from the fitted attributes after load) and the
    # state an update that jumped far ahead may be undone to (see update; a loaded predictor has none), and the lock
    # update holds (base.instance_lock).
    __slots__ = ("_published", "_undo", "_lock")
    _fitted_attribute = "model_"  # what predict, update, health and save check

    def __getstate__(self) -> dict[str, Any] | tuple[dict[str, Any], dict[str, Any]]:
        """What ``copy.copy``, ``copy.deepcopy`` and ``pickle`` take: the attributes, copied at once (a dict copy in
        C, which no other thread interleaves with), and the published state where it is theirs. An update in
        another thread publishes its state, then sets the attributes: a copy reading them one by one beside it mixed
        the states before and after it (a forecast of one, the series and last bucket an update continues of the
        other). A published state of other attributes is left out; the copy publishes its own at its first read.
        The state an update that jumped far ahead may be undone to is copied with them (a copy updates as the
        original would).

        The predict timings are copied too (``deque.copy``, in C): ``predict`` appends to them in any thread, so a
        shallow copy sharing them showed its timings in the original's ``health``, and a deep copy iterating them
        beside a ``predict`` failed with "deque mutated during iteration"."""
        attributes = dict(vars(self))
        timings = attributes.get("predict_seconds_")
        if isinstance(timings, collections.deque):
            attributes["predict_seconds_"] = timings.copy()
        published, undo = getattr(self, "_published", None), getattr(self, "_undo", None)
        slots = {} if undo is None else {"_undo": undo}
        if published is not None and published.model is attributes.get("model_") and \
                published.series is attributes.get("series_"):
            slots["_published"] = published
        return (attributes, slots) if slots else attributes

    def __init__(
        self,
        model: str = "dlinear",
        horizon: int = 10,
        level: float = 0.9,
        window: int | None = None,
        model_params: dict[str, Any] | None = None,
        random_state: int | None = None,
        n_threads: int | None = 1,
        device: str = "cpu",
        max_training_time: float | None = 300.0,
        memory_limit_mb: float | None = 2048,
        verbose: bool | None = None,
        max_gap: int | str | pd.Timedelta | None = DEFAULT_MAX_GAP,
    ):
        self.model = model
        self.horizon = horizon
        self.level = level
        self.window = window
        self.model_params = model_params
        self.random_state = random_state
        self.n_threads = n_threads
        self.device = device
        self.max_training_time = max_training_time
        self.memory_limit_mb = memory_limit_mb
        self.verbose = verbose
        self.max_gap = max_gap

    # -- construction ----------------------------------------------------------------------
    def _build_model(self) -> BaseForecaster:
        """The registered model ``self.model`` with this predictor's runtime settings and ``model_params``."""
        settings = {key: getattr(self, key) for key in (*registry.RUNTIME_PARAMS, "window") if hasattr(self, key)}
        return registry.build(self.model, settings, self.model_params)

    def _check_level(self) -> None:
        if not is_number(self.level) or not 0.0 < self.level < 1.0:
            raise WorkloadDataError(f"level={quote(self.level)} must be a coverage in (0, 1), e.g. 0.9.")

    # -- fit / predict ---------------------------------------------------------------------
    @anomaly.keeping_scans
    def fit(
        self,
        data: pd.DataFrame | pd.Series,
        timestamp: str | None = "timestamp",
        target: str | Sequence[str] = "requests",
        freq: Any = None,
        unit: str | None = None,
        origin: Any = None,
        tz: Any = None,
    ) -> "WorkloadPredictor":
        """Fit on a bucketed series.

        A request log (one row per request) goes through
        :func:`workload_predictor.bucketize` first. The caller's data is never modified.

        Parameters
        ----------
        data : pandas.DataFrame or pandas.Series
            A DataFrame with a ``timestamp`` column or a DatetimeIndex, or a Series
            with a DatetimeIndex; one row per bucket.
        timestamp : str or None
            The timestamp column, in any encoding the door accepts (datetimes of any
            unit, naive or aware, ISO strings, numeric epochs); ``None`` for the index.
        target : str or sequence of str
            The column or columns to forecast.
        freq : str, pandas.Timedelta or None
            The bucket width; inferred from the median step when omitted.
        unit : {"s", "ms", "us", "ns"} or None
            Unit of numeric timestamps (inferred from their magnitude when unambiguous).
        origin : str, datetime or None
            Start of the series when numeric timestamps are offsets from it.
        tz : str or None
            The zone of naive wall-clock timestamps (an IANA name, e.g. ``'America/New_York'``): read in it and
            converted to UTC (``None``: naive stamps are UTC). A wall time its clocks skip or pass twice (a DST
            change), stamps that carry an offset, and numeric timestamps are refused beside it, naming the row.
            The predictor does not keep it: pass the same ``tz=`` to :meth:`update`.

        Returns
        -------
        WorkloadPredictor
            ``self``, fitted.

        Raises
        ------
        WorkloadDataError
            Bad or too short data, an unknown model or ``model_params`` key, a bad
            setting; the message names the problem and the fix.
        MemoryLimitError
            The fit would add more than ``memory_limit_mb`` to the process.
        """
        started = time.perf_counter()
        self._check_level()
        registry.check_runtime_settings(self)
        # Nothing is stored on self until the fit succeeded: an error leaves the predictor as it was.
        # One deadline for the whole fit, from its start: every stage below reads it (see max_training_time),
        # the model's first build (its module's imports: 0.1 s for the LSTM's) included.
        with memory_limit(self.memory_limit_mb) as memory, _deadline.limit(self.max_training_time) as deadline:
            model = self._build_model()
            series = prepare_series(data, timestamp=timestamp, target=target, freq=freq, unit=unit, origin=origin,
                                    tz=tz)
            gap_buckets(self.max_gap, series.freq)  # a bad max_gap fails here, not at the first update
            # The input-anomaly scan runs before the model's stages, which then fit in the time left after it (the
            # scan measures the pace of a pass over the series, and leaves the model anomaly.MODEL_PASSES of them, or
            # its scan_passes, and the predictor's own work after the model COMMIT_PASSES).
            anomalies, flagged = _fit_anomalies(series, getattr(model, "scan_passes", anomaly.MODEL_PASSES)
                                                + COMMIT_PASSES)
            with _deadline.limit(None, reserve=COMMIT_PASSES * series.values.size
                                 * deadline.pace.get(_deadline.SERIES_PACE, 0.0)):
                model.fit(series.values, flagged)
        with instance_lock(self):  # after an update running in another thread, never in its middle
            return self._commit_fit(model, series, memory.peak_mb, started, tuple(deadline.stages), anomalies)

    def _commit_fit(self, model: BaseForecaster, series: BucketedSeries, peak_mb: float | None,
                    started: float, stages: tuple[str, ...], anomalies: dict[str, Any],
                    warn: bool = True) -> "WorkloadPredictor":
        """Store a fitted ``model`` and its ``series`` (from the door) as this predictor's state. Returns ``self``.

        ``stages``: the stages the time limit ended early, in order (logged when ``warn``). ``anomalies``:
        the state :func:`_fit_anomalies` found in ``series``.
        """
        left_out = fit_left_out(series.values, anomalies["input_flags_"], fit_origins(model), model.horizon)
        state = self._calibration(model, left_out=left_out)
        if stages and warn:
            logger.warning("fit reached max_training_time=%gs; ended early: %s (time_limited_stages_)",
                           self.max_training_time, ", ".join(stages))
        state.update(
            model_=model, series_=series, targets_=series.targets, freq_=series.freq,
            last_timestamp_=series.index[-1], window_=model.context_length(), fit_peak_rss_mb_=peak_mb,
            training_cut_short_=bool(stages) or _cut_short(model), time_limited_stages_=stages,
            predict_seconds_=collections.deque(maxlen=PREDICT_TIMINGS),
            n_updates_=0, undone_jumps_=(), _history_grid=None, lost_buckets_=None, interval_left_out_=left_out,
            **anomalies,
        )
        state["idle_span_"] = idle_span(series.values, max(model.context_length(), IDLE_RUN))  # what health rates
        state["stuck_run_"] = stuck_runs(series.values)  # one run per target
        # The flags among the buckets kept (anomalies gives all the series' as {(position, target index): median}).
        span = min(self._flag_span(model), len(series.values))
        state["input_flags_"] = anomaly.flag_rows(anomalies["input_flags_"], len(series.values) - span, span,
                                                  len(series.targets))
        # What relative_error measures the validation error against, on the buckets as the forecast reads them (a
        # burst the series came back from at its reference median, a counter's run from where its climb began): the
        # whole series with every flag of the fit, and the newest as an update and health read them (the flags kept).
        state["noise_scale_"] = noise_scale(settled_held(series.values, state["input_flags_"]), kept_length(model),
                                            model.horizon,
                                            naive_error(anomaly.settled_series(series.values, anomalies["input_flags_"]),
                                                        model.horizon))
        if hasattr(model, "weights_"):
            state["weights_"] = dict(model.weights_)
        state["fit_seconds_"] = time.perf_counter() - started
        # A refit keeps nothing of the state before it: a fitted attribute this fit does not set (the ensemble's
        # weights_ after a refit with another model, the last update's update_seconds_) goes, after the new state is
        # in (a predict in another thread reads _published, which is replaced below, never removed). Parameters do
        # not end in "_" (scikit-learn's convention).
        stale = [name for name in vars(self) if name not in state and name.endswith("_") and not name.startswith("_")]
        commit(self, state, {"_published": _published_of({**vars(self), **state}), "_undo": None}, drop=stale)
        return self

    def _snapshot(self) -> _Published:
        """The published state (built from the fitted attributes once after ``load``, holding the lock ``update``
        holds: a first forecast beside an update reads the state before it or after it)."""
        try:
            return self._published
        except AttributeError:
            with instance_lock(self):
                try:
                    return self._published
                except AttributeError:
                    self._published = _published_of(vars(self))
                    return self._published

    def _calibration(self, model: BaseForecaster, level: float | None = None,
                     left_out: np.ndarray | None = None) -> dict[str, Any]:
        """Interval half-widths at ``level`` (default: the predictor's) and confidence from the model's out-of-sample
        validation forecasts, the windows ``left_out`` (``interval_left_out_``) left out of the interval's.

        A model that keeps a larger pool of out-of-sample forecasts (``calibration_forecast_``
        against ``calibration_actual_``: the ensemble's at every rolling origin of its
        evidence, the newest last) takes its interval half-widths from that pool, its newest
        windows (as many as the validation tail holds) weighing ``RECENT_SHARE`` of it
        (weighted split conformal); the confidence stays the validation tail's.
        """
        pool = getattr(model, "calibration_forecast_", None)
        if pool is not None:
            weights = recency_weights(len(pool), len(model.validation_actual_), RECENT_SHARE)
            pool = (pool, model.calibration_actual_, weights)
        return calibration(model.validation_forecast_, model.validation_actual_,
                           self.level if level is None else level, pool, left_out)

    def predict(self, steps: int | None = None, level: float | None = None) -> Forecast:
        """Forecast ``steps`` buckets after the last fitted bucket.

        Parameters
        ----------
        steps : int or None
            Buckets to forecast, at most ``horizon`` (default ``horizon``).
        level : float or None
            The interval's coverage, in (0, 1) (default: the level it was calibrated at, ``interval_level_``).
            Another level is calibrated from the same out-of-sample validation errors, as a fit at that level
            calibrates it (e.g. ``0.99`` for the capacity to provision, beside the default ``0.9``).

        Returns
        -------
        Forecast
            Future timestamps, point forecast, interval at ``level`` and confidence.

        Raises
        ------
        NotFittedError
            Before :meth:`fit`.
        WorkloadDataError
            ``steps`` is not a positive integer up to ``horizon``, or ``level`` is not a coverage in (0, 1).
        """
        check_is_fitted(self, "model_")
        started = time.perf_counter()
        state = self._snapshot()  # one read: every value below comes from the same state
        steps = state.model._check_steps(steps)
        yhat, lower, upper, level = self._values(state, steps, level)
        series: BucketedSeries = state.series
        tail = min(max(3 * steps, state.window), max(state.window, 3 * int(state.model.horizon)))
        # An explicit copy: pandas 2.x would otherwise hand the caller a view of the fitted series.
        history = pd.DataFrame(series.values[-tail:].copy(), index=series.index[-tail:],
                               columns=state.columns.copy(), copy=False)
        try:
            forecast = Forecast(
                index=future_index(state.last_timestamp, state.freq, steps),
                yhat=yhat,
                lower=lower,
                upper=upper,
                targets=state.targets,
                level=level,
                model=state.model_name,
                confidence=state.confidence,
                confidence_by_target=dict(zip(state.targets, state.confidence_by_index)),
                freq=state.freq,
                history=history,
            )
        except WorkloadDataError:  # in predict's words where the last bucket would end past 2262-04-11 23:47:16
            future_index(state.last_timestamp, state.freq, steps, whole=True)
            raise
        self.predict_seconds_.append(time.perf_counter() - started)  # deque.append is thread-safe
        return forecast

    def _values(self, state: _Published, steps: int,
                level: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
        """:meth:`predict`'s numbers without its timestamps: the point forecast ``[steps, k]`` of ``state`` (clipped
        at 0), its interval at ``level`` (None: its own) and that level. Load checks them for every step of the
        horizon, also where the timestamps of only some steps fit (a series ending near 2262-04-11)."""
        halfwidth, level = self._interval_at(state, level)
        yhat = np.clip(_point(state, steps), 0.0, None)
        lower, upper = interval(yhat, halfwidth[:steps])
        return yhat, lower, upper, level

    def _interval_at(self, state: _Published, level: Any) -> tuple[np.ndarray, float]:
        """The interval half-widths ``[H, k]`` of ``state`` at ``level`` (None: its own), and that level."""
        if level is None:
            return state.halfwidth, state.level
        level = coverage_level(level)
        if level == state.level:
            return state.halfwidth, level
        return self._calibration(state.model, level, state.left_out)["interval_halfwidth_"], level

    def _forecasts_at(self, values: np.ndarray, origins: np.ndarray) -> np.ndarray:
        """The fitted model's forecasts ``[len(origins), H, k]`` from the points of ``values`` (``[n, k]``, the fitted
        series and what followed it) before each origin, as :meth:`predict` would give them at that point of the
        stream: a flagged run the series came back from before the origin is read as its reference medians
        (flagged as ``fit`` and ``update`` flag, against ``input_floor_``, begun where a counter's climb into it
        began: :func:`~workload_predictor.anomaly.with_leads`); a run that reaches the origin's newest input stands.
        The backtest's forecasts."""
        model = self.model_
        runs = anomaly.bursts(values, 0, self.input_floor_)
        if not runs:
            return model._map_predict_at(values, origins)
        settled = anomaly.settle(values, runs)
        forecasts = model._map_predict_at(settled, origins)
        width = model.context_length()
        for i, origin in enumerate(np.asarray(origins)):
            going = [(first, last, col) for first, last, col, _ in runs if first < origin <= last + 1]
            if going:  # raw where a burst reaches this origin's newest input (it has not come back there yet)
                start = origin - width
                inputs = settled[start:origin].copy()
                for first, last, col in going:
                    low, stop = max(first, start), min(last + 1, origin)
                    inputs[low - start : stop - start, col] = values[low:stop, col]
                forecasts[i] = model._map_predict_at(inputs, np.array([width]))[0]
        return forecasts

    # -- production: persistence, incremental updates, health ------------------------------
    def save(self, path: str | os.PathLike) -> Path:
        """Write the predictor (parameters and fitted state) to ``path``.

        The file holds JSON and NumPy arrays only (no pickle), a format version, the
        package version and a SHA-256 checksum, so :meth:`load` runs no code from it.
        It is written to a temporary file and moved into place. See
        :mod:`workload_predictor.persistence`.

        Parameters
        ----------
        path : str or os.PathLike
            Where to write.

        Returns
        -------
        pathlib.Path
            The path written.

        Raises
        ------
        NotFittedError
            Before :meth:`fit`.
        WorkloadDataError
            ``model`` or ``horizon`` set (``set_params``) to other values than the fitted model's
            since :meth:`fit`: the file would hold parameters its model does not have; or a parameter
            set since that ``fit`` or ``update`` refuses (e.g. ``level=1.0``): :meth:`load` would refuse the file;
            or a ``path`` that is no path.
        UnsaveableModelError
            A forecast (the model's, a member's) or a stored validation forecast, interval or error beyond what a
            model file may hold (``(1 + horizon) * MAX_VALUE``: loads growing faster than any trend up to near
            ``MAX_VALUE``): :meth:`load` would refuse the file. Nothing is written; the predictor still forecasts.
        OSError
            The file cannot be written (its ``filename`` is ``path``).
        """
        check_is_fitted(self, "model_")
        fitted = {"model": registry.name_of(self.model_), "horizon": self.model_.horizon}
        changed = {name: getattr(self, name) for name, value in fitted.items() if getattr(self, name) != value}
        if changed:
            raise WorkloadDataError(
                f"{', '.join(f'{name}={quote(value)}' for name, value in changed.items())} set since fit, but the "
                f"fitted model has {', '.join(f'{name}={quote(fitted[name])}' for name in changed)}: fit again, or "
                "set them back, before saving.")
        for check in model_file.predictor_parameter_checks(self):  # what load would refuse as damaged
            check()
        return persistence.save(self, path)

    @classmethod
    def load(cls, path: str | os.PathLike, max_bytes: int = model_file.MAX_FILE_BYTES) -> "WorkloadPredictor":
        """Read a predictor written by :meth:`save`; it forecasts bit-identically to the one saved.

        Parameters
        ----------
        path : str or os.PathLike
            A file written by :meth:`save`.
        max_bytes : int
            The largest file read (default 1 GiB, checked before a byte is read); pass more for a
            trusted file fitted on tens of millions of buckets.

        Returns
        -------
        WorkloadPredictor

        Raises
        ------
        ModelFileError
            A wrong format version, a bad checksum, a truncated or altered file, a
            pickle, anything but this package's own classes, or more than ``max_bytes``; nothing is built.
        """
        return persistence.load(path, expected=cls, max_bytes=max_bytes)

    @serialised
    def update(
        self,
        data: pd.DataFrame | pd.Series,
        timestamp: str | None = "timestamp",
        unit: str | None = None,
        origin: Any = None,
        *,
        target: str | Sequence[str] | None = None,
        tz: Any = None,
    ) -> "WorkloadPredictor":
        """Append new buckets after the fitted series and refresh the model cheaply.

        The model absorbs the new windows (DLinear exactly as a refit on all data with
        the first fit's window, scaling and ridge penalty would; the LSTM by a few
        warm-started epochs on the newest windows; the ensemble re-weighs its members),
        and the interval and confidence are recomputed from the newest validation
        windows, each forecast before the model saw it (a flagged burst the series came
        back from read as its reference median, as ``predict`` reads it). Nothing
        changes if it raises.

        Parameters
        ----------
        data : pandas.DataFrame or pandas.Series
            The fitted targets (``targets_``: the columns read, as :meth:`FleetPredictor.update
            <workload_predictor.FleetPredictor.update>` reads a fleet's), with timestamps that continue
            the series at its frequency; buckets it skips are zero (no requests came). At least one row:
            skip the call while no bucket has closed (a fleet's update takes no rows as an update of no key).
        timestamp, unit, origin :
            As for :meth:`fit`.
        target : str, sequence of str or None
            The targets, as passed to :meth:`fit`: ``None`` (default) or the fitted ones (``targets_``, in any
            order); the fitted target columns are read, and other columns are refused.
        tz : str or None
            As for :meth:`fit`: a feed of naive local stamps passes the ``tz=`` its fit was given.

        Returns
        -------
        WorkloadPredictor
            ``self``, updated.

        Raises
        ------
        NotFittedError
            Before :meth:`fit`.
        WorkloadDataError
            No rows, rows at or before the last fitted bucket, missing targets, bad values, a ``target`` other than
            the fitted ones.
        UpdateGapError
            A row after more than ``max_gap`` missing buckets (more than ``max_gap + 1`` buckets after the row
            or bucket before it).
        UpdateOrderError
            Rows at or before the last bucket (a :class:`WorkloadDataError`).
        MemoryLimitError
            The update would add more than ``memory_limit_mb`` to the process.

        Warns
        -----
        UndoneJumpWarning
            An update before this one (and the stray updates after it) was undone as a stray jump (see the notes).

        Notes
        -----
        An update whose first row is more than half the model's context (``window_ // 2`` buckets, at least
        ``horizon``) after the last bucket zero-fills most of what the forecast reads: a genuine outage, or one row
        whose clock was wrong. So does an update with such a run between two of its rows (a batch of correct rows,
        then a stray one): the jump is the newest such run. The predictor keeps the state before that update (and its
        buckets before the jump), and keeps it through later updates while they end fewer buckets past the jumped
        bucket than that threshold (a stray clock sending more rows; their rows are not kept). An update that reaches
        that far, or jumps again, confirms the jump (the kept state is dropped). Rows whose first bucket falls
        between the bucket before the jump and the jumping update's last bucket contradict it: the jump is undone
        with every stray update since (their rows are dropped, recorded in ``undone_jumps_`` and warned of with
        :class:`UndoneJumpWarning`, which counts them) and these rows continue the series from the bucket before the
        jump. ``save`` and ``load`` do not keep the state before a jump (a loaded predictor refuses those rows as any
        other); ``copy`` and ``pickle`` do.
        """
        if target is not None:
            check_is_fitted(self, "model_")
            check_update_target(target, self.targets_, "predictor")
        undone = self._update_or_undo(data, timestamp, unit, origin, tz)
        if undone is not None:
            warnings.warn(UndoneJumpWarning(f"update: {undone}"), stacklevel=2)
        return self

    def _update_or_undo(self, data: Any, timestamp: str | None, unit: str | None, origin: Any,
                        tz: Any = None) -> str | None:
        """:meth:`update` without its warning: what it would warn of (an undone jump), or ``None``."""
        check_is_fitted(self, "model_")
        undo = getattr(self, "_undo", None)
        try:
            self._update(data, timestamp, unit, origin, tz=tz)
            return None
        except UpdateOrderError as exc:
            # (A copy taken beside an update may pair its attributes with the undo of the state before them.)
            if undo is None or not undoes_jump(undo.before, undo.stray, self.last_timestamp_, exc.first, undo.held):
                raise self._refusal(exc) from None
        return self._undo_jump(undo, data, timestamp, unit, origin, tz)

    def _refusal(self, exc: UpdateOrderError) -> UpdateOrderError:
        """The error for rows at or before the last bucket (``exc``): :func:`order_refusal` of the buckets kept."""
        return order_refusal(exc, self.series_.values, self.last_timestamp_, self.freq_)

    def _jump_buckets(self) -> int:
        """The zero-filled buckets beyond which an update's first row jumped far ahead: half the model's context (the
        jump zero-fills most of what the forecast reads), at least the horizon (a row a few buckets late is no
        jump)."""
        return jump_buckets(self.window_, self.model_.horizon)

    def _undo_jump(self, undo: _Undo, data: Any, timestamp: str | None, unit: str | None, origin: Any,
                   tz: Any = None) -> str:
        """Update with ``data`` from the state ``undo`` kept before the last update, which jumped far ahead (its rows
        are dropped); if this update raises, the predictor stays as it was, jump included. Returns what was undone,
        in words.

        The update runs on a copy, committed whole at the end with its record in ``undone_jumps_``: ``save`` and
        ``health`` in another thread (which copy the attributes) and ``predict`` read the jumped state until then,
        the new one after, never the state before the jump that the update starts from."""
        before, last = undo.before, self.last_timestamp_
        undone = copy.copy(self)  # its own attributes: the jumped state's objects stay as the others read them
        # The attributes before the jumping update (the stray updates since are dropped with it): the ones an update
        # adds (update_seconds_, weights_) are set by this one. Where its jump lay between its rows, the buckets
        # before it are that update, applied again.
        vars(undone).update(undo.attributes)
        for name in _CARRIED:  # a state saved without them (an older file's) counts them again from its series
            if name not in undo.attributes:
                vars(undone).pop(name, None)
        undone._undo = None
        if undo.head is not None:
            undone._update(None, timestamp, unit, origin, new=undo.head, tz=tz)
            undone._undo = None  # a jump before the head's first row was confirmed by the jump after it
        undone._update(data, timestamp, unit, origin, tz=tz)
        state = {**vars(undone), "undone_jumps_": (*getattr(self, "undone_jumps_", ())[-(UNDONE_KEPT - 1):],
                                                   (before, last))}
        commit(self, state, {"_published": undone._published, "_undo": undone._undo},
               drop=tuple(name for name in vars(self) if name not in state))
        return undone_text(undo.jumped, before, undo.stray, " (undone_jumps_)", undo.updates, undo.rows, last)

    def _update(self, data: Any, timestamp: str | None, unit: str | None, origin: Any,
                new: Continuation | None = None, tz: Any = None) -> "WorkloadPredictor":
        """:meth:`update`, from the state the predictor holds now: the jump it made before is neither undone nor
        forgotten if this raises. ``new``: the buckets ``data`` continues the series with, checked already."""
        self._check_level()  # the level the interval is calibrated at again, which may have been set since fit
        started = time.perf_counter()
        max_gap = getattr(self, "max_gap", DEFAULT_MAX_GAP)  # older files lack it
        with memory_limit(self.memory_limit_mb):
            if new is None:
                new = prepare_continuation(data, last=self.last_timestamp_, freq=self.freq_, timestamp=timestamp,
                                           target=list(self.targets_), unit=unit, origin=origin, max_gap=max_gap,
                                           tz=tz)
            # The model forecasts every window the new buckets complete (the validation roll) and adds
            # them to its state: checked before it allocates, as the zero-filling was.
            check_memory("update: the validation roll and model state",
                         extra_bytes=self.model_.update_bytes(len(new.values)), advice=UPDATE_ADVICE)
            found, busy = self._update_anomalies(self.series_.values, new)
            # The validation windows read a burst the series came back from as its median, as predict does.
            flagged_runs = self._bursts_before(found, new)
            lost = self._lost_after(new)
            runs = self._with_lost(flagged_runs, new, lost)
            # The model judges the new buckets with the flags the scans of the whole series found among the ones
            # it keeps (a chain of sentinels that began before them included), as a refit would weigh them, and
            # with a floor at least the typical burst of the series seen.
            flagged = self._flagged_kept()
            if flagged is not None and busy is not None:
                flagged = anomaly.Known(flagged, 0, busy)
            plan = self.model_._prepare_update(new.values, checked=True, runs=runs,  # the door made it finite
                                               flagged=flagged)
        state = self._calibration_after(plan, flagged_runs, lost)
        if lost is not None:  # those the forecast's inputs, the windows an update completes and their references read
            lost = lost[lost >= self.model_.n_seen_ + len(new.values) - self._flag_span(self.model_)]
        state["lost_buckets_"] = lost if lost is not None and len(lost) else None
        # Only the newest buckets stay (what predict shows as history, and the input-anomaly scan's reference):
        # a stream of updates over days neither grows the predictor nor makes each update copy the whole series.
        old, n_new = self.series_, len(new.values)
        keep = min(self._kept_length(), len(old.values) + n_new)
        values = newest(new.values, keep) if n_new >= keep else np.concatenate([old.values[n_new - keep :], new.values])
        index, grid = self._history_index(n_new, new.last, keep)
        series = BucketedSeries(index=index, targets=old.targets, values=values, freq=self.freq_)
        model = _updated_copies(plan)[id(self.model_)]  # the old model objects stay as forecasts read them
        state.update(found)
        flags = found["input_flags_"]
        if flags is not None and len(flags) > self._flag_span(model):
            # A model that kept more points than its update keeps (a file's): the flags of the buckets still kept.
            state["input_flags_"] = anomaly.continued_flags(flags, None, 0, len(self.targets_), self._flag_span(model))
        run = max(int(self.window_), IDLE_RUN)
        state["idle_span_"] = idle_span(new.values, run, held_span(self, run))  # the buckets kept, for an old file's
        state["stuck_run_"] = stuck_runs(new.values, held_runs(self), old.values[-1])
        fitted = getattr(self, "noise_scale_", None)  # an old file's: the buckets it kept stand for the fit's
        horizon = self.model_.horizon
        # The kept buckets as the forecast reads them (a burst held, which the series came back from, at its median).
        state["noise_scale_"] = noise_scale(settled_held(values, state["input_flags_"]), keep, horizon,
                                            naive_error(held_values(self), horizon) if fitted is None else fitted[0])
        state.update(model_=model, series_=series, last_timestamp_=new.last, n_updates_=self.n_updates_ + 1,
                     _history_grid=grid, update_seconds_=time.perf_counter() - started)
        if hasattr(model, "weights_"):
            state["weights_"] = dict(model.weights_)
        # The state before a jump far ahead is kept until an update confirms or contradicts it (see update): before
        # this update, with its buckets before the jump where that lies between its rows (the newest such); or the
        # one held before, through this update of the stray clock while it has not run as far as a jump is wide.
        threshold = self._jump_buckets()
        jump = new.jump(threshold)
        if jump is not None:
            undo = _Undo(dict(vars(self)), jump[1], new.last, new.head(jump[0], self.freq_) if jump[0] else None,
                         rows=new.rows_after(jump[0]))
        else:
            undo = carried_jump(getattr(self, "_undo", None), self.last_timestamp_, new, threshold, self.freq_)
        # The commit: the attributes, then the state predict reads (one reference), whole even if interrupted.
        commit(self, state, {"_published": _published_of({**vars(self), **state}, self._snapshot()), "_undo": undo})
        return self

    def _update_anomalies(self, history: np.ndarray, new: Any) -> tuple[dict[str, Any], np.ndarray | None]:
        """The new buckets far outside their recent range, added to ``input_anomalies_`` (values untouched), judged
        against the fit's floor, or the typical burst of the series seen where more: the state, and that typical
        burst per target (:func:`anomaly.busy_floor`; ``None`` where it is 0 for every target, or for a file saved
        before it was kept)."""
        fitted = getattr(self, "input_floor_", None)
        if fitted is None:  # a file saved before input anomalies were recorded
            fitted = anomaly.floor_of(history)
        k, n_new = len(self.targets_), len(new.values)
        if "input_flags_" in vars(self):
            old = self.input_flags_
        else:  # a file saved before the flags were kept: the recorded anomalies
            recorded = anomaly.recorded_flags(vars(self), self.last_timestamp_, len(history), len(history) - 1)
            old = anomaly.flag_rows(recorded, 0, len(history), k)
        tail = history[-anomaly.HISTORY_BUCKETS:]
        # The buckets flagged in the tail, as the scans before found them; the tail's first bucket in the series (the
        # model has seen every bucket up to the tail's last). The busy state is absent in files saved before it was
        # kept.
        found, flags, kept, counts, busy = anomaly.update_scan(
            fitted, getattr(self, "input_nonzero_", None), getattr(self, "input_nonzero_counts_", None), tail,
            new.values, lambda: anomaly.recorded_flags(vars(self), self.last_timestamp_, len(tail), len(tail) - 1),
            self.model_.n_seen_ - len(tail), old, self._flag_span(self.model_), self.model_.n_seen_)
        nonzero = {} if kept is None else {"input_nonzero_": kept, "input_nonzero_counts_": counts}
        buckets = getattr(self, "input_anomaly_buckets_", None)  # absent in files saved before it was kept
        if found:
            end, freq, start = new.last, self.freq_, len(tail) + n_new - 1
            stamps = [(end - (start - position) * freq).tz_localize(None) for position in {f[0] for f in found}]
            buckets = anomaly.recent_flagged(buckets, stamps, end, freq)
            found = anomaly.records(found, lambda p: end - (start - p) * freq, self.targets_)
        return {"input_floor_": fitted, "input_flags_": flags, "input_anomaly_buckets_": buckets, **nonzero,
                "input_anomalies_": anomaly.kept(getattr(self, "input_anomalies_", None), found)}, busy

    def _flagged_kept(self) -> dict[tuple[int, int], float] | None:
        """The recorded flags among the buckets the model (or an ensemble's member) keeps, as ``{(position,
        target index): reference median}`` with positions counted from the model's first point; ``None`` for a file
        saved before anomalies were recorded (the model then finds them among the points it keeps)."""
        if "input_flags_" not in vars(self) and getattr(self, "input_anomalies_", None) is None:
            return None
        return anomaly.recorded_flags(vars(self), self.last_timestamp_, self.model_._kept_count(),
                                      self.model_.n_seen_ - 1)

    def _models_kept_points(self) -> list[np.ndarray]:
        """The points the model keeps for its updates (``recent_``; an ensemble's: each member's), newest last."""
        models = getattr(self.model_, "members_", {None: self.model_}).values()
        return [m.recent_ for m in models if getattr(m, "recent_", None) is not None]

    def _flag_span(self, model: BaseForecaster) -> int:
        """The newest buckets whose flags ``input_flags_`` keeps: those a forecast of ``model`` (an ensemble's
        members: each) reads and the ones an update's scan or its model reads, and ``REFERENCE_BUCKETS`` before
        them (a burst that began there may end among them): the model's own
        (:meth:`~workload_predictor.models.base.BaseForecaster._input_span`)."""
        return model._input_span()

    def _bursts_before(self, found: dict[str, Any], new: Any) -> Sequence[tuple[int, int, int, float]]:
        """The bursts the series came back from among the buckets the model keeps (and up to ``REFERENCE_BUCKETS``
        before them, where the predictor keeps them) and the ``new`` ones, flagged as recorded once they came
        (``found``: :meth:`_update_anomalies`' state, :func:`~workload_predictor.anomaly.recorded_flags`), each begun where a counter's run climbs
        into it (:func:`~workload_predictor.anomaly.with_leads`): ``(first, last, target index, median)``, positions counted from the model's first
        point. What the model's validation reads as medians."""
        n_new = len(new.values)
        kept = self._kept_before()
        anomalies = found["input_anomalies_"]
        if found["input_flags_"] is None or not anomalies or \
                anomalies[-1][0] <= new.last - (len(kept) + n_new) * self.freq_:
            return []  # the common update: no flag among these buckets (the anomalies are kept newest last)
        runs = _recorded_bursts(np.concatenate([kept, new.values]), {**vars(self), **found}, new.last)
        # One Runs: the models of this update (an ensemble's members) shift them and settle equal windows once.
        return anomaly.Runs(anomaly.shifted_runs(runs, self.model_.n_seen_ - len(kept), self.model_.n_seen_ + n_new))

    def _kept_before(self) -> np.ndarray:
        """The buckets an update reads bursts in before its new ones: the predictor's kept series, or the points a
        model (an ensemble's member) keeps where it keeps more (all end at the last bucket), up to
        ``REFERENCE_BUCKETS`` before the longest a model keeps."""
        recent = self._models_kept_points()
        kept = max([self.series_.values, *recent], key=len)
        return kept[-(max(map(len, recent), default=0) + anomaly.REFERENCE_BUCKETS) :]

    def _with_lost(self, runs: Sequence[tuple[int, int, int, float]], new: Any,
                   lost: np.ndarray | None) -> Sequence[tuple[int, int, int, float]]:
        """``runs`` (:meth:`_bursts_before`) and the runs of ``lost`` buckets (positions from the model's first point)
        among the same buckets, each read as its reference median (:func:`~workload_predictor.anomaly.lost_runs`), as
        one ``Runs``; ``runs`` where none lies among the points the models keep."""
        if lost is None or lost[-1] < self.model_.n_seen_ - max(map(len, self._models_kept_points()), default=0):
            return runs  # none among the points the windows completed now read
        kept = self._kept_before()
        shift, end = self.model_.n_seen_ - len(kept), self.model_.n_seen_ + len(new.values)
        values = np.concatenate([kept, new.values])
        inside = anomaly.shifted_runs(runs, -shift, len(values))
        found = anomaly.lost_runs(anomaly.settle(values, inside) if inside else values, lost - shift)
        if not found:
            return runs
        return anomaly.Runs(sorted(list(runs) + anomaly.shifted_runs(found, shift, end)))

    def _history_index(self, n_new: int, last: pd.Timestamp, keep: int) -> tuple[pd.DatetimeIndex, tuple]:
        """The timestamps of the ``keep`` newest buckets once ``n_new`` buckets, the newest at ``last``, continue
        the grid.

        The history is regular, so its future timestamps are known: they are built
        ``HISTORY_GRID_AHEAD`` buckets ahead and each update slices them (appending
        to a DatetimeIndex costs a few times more, in a call made every few seconds).
        Returns the index and the grid with the position after the newest bucket.
        """
        grid = getattr(self, "_history_grid", None)  # None after fit
        if grid is not None and grid[1] + n_new <= len(grid[0]):
            end = grid[1] + n_new
            return grid[0][end - keep : end], (grid[0], end)
        first = last - (keep - 1) * self.freq_
        # From ``first`` itself: the bucket before it may lie before 1677-09-21 00:12:43, the first nanosecond instant.
        try:
            ahead = pd.date_range(start=first, periods=keep + HISTORY_GRID_AHEAD, freq=self.freq_).as_unit("ns")
        except (OverflowError, ValueError, pd.errors.OutOfBoundsDatetime):  # ahead past 2262-04-11: the kept alone
            ahead = pd.date_range(start=first, periods=keep, freq=self.freq_).as_unit("ns")
        timeline = pd.DatetimeIndex(ahead, freq=None)
        return timeline[:keep], (timeline, keep)

    def _history_length(self) -> int:
        """Buckets of history a forecast carries: the model's window or three horizons, whichever is longer."""
        return max(int(self.window_), 3 * int(self.model_.horizon))

    def _kept_length(self) -> int:
        """Buckets ``series_`` keeps after an update: the history a forecast carries, and at least what the
        input-anomaly scan reads before new buckets (``anomaly.HISTORY_BUCKETS``), so an update judges a bucket as a
        fit on the same rows would. A shorter series (a short fit, or a file whose updates kept less) keeps all it
        has."""
        return kept_length(self.model_, self.window_)

    def _lost_after(self, new: Continuation) -> np.ndarray | None:
        """The lost buckets once ``new`` is in (positions from the model's first point, ascending; ``None``: none):
        those recorded before (``lost_buckets_``) and ``new``'s buckets that no row came for where the buckets before
        them make a zero no load (:func:`~workload_predictor.anomaly.lost_buckets`)."""
        lost = getattr(self, "lost_buckets_", None)
        if not new.gap and new.missing is None:
            return lost
        history = self.series_.values
        shift = self.model_.n_seen_ - len(history)  # values[0] is point number shift of the series
        out = np.zeros(len(history) + len(new.values), dtype=bool)  # the buckets left out of the references
        if lost is not None:
            out[lost[lost >= shift] - shift] = True
        flags = getattr(self, "input_flags_", None)
        if flags is not None:  # rows for the newest buckets
            flagged = ~np.isnan(flags[-len(history):]).all(axis=1)
            out[len(history) - len(flagged) : len(history)] |= flagged
        found = anomaly.lost_buckets(np.concatenate([history, new.values]), filled_positions(new) + len(history), out)
        if not len(found):
            return lost
        return found + shift if lost is None else np.concatenate([lost, found + shift])

    def _calibration_after(self, plan: list, runs: Sequence[tuple[int, int, int, float]],
                           lost: np.ndarray | None = None) -> dict[str, Any]:
        """The calibration the model will have once ``plan`` (from ``_prepare_update``) is committed, the windows
        whose targets hold a ``lost`` bucket or that were forecast while a burst of ``runs`` was going
        (:func:`left_out_windows`, among the validation windows) and those left out before (``interval_left_out_``,
        :func:`carried_left_out`) left out of the interval's."""
        changes = next(changes for target, changes in plan if target is self.model_)
        buffers = types.SimpleNamespace(**{name: changes[name] for name in (
            "validation_forecast_", "validation_actual_", "calibration_forecast_", "calibration_actual_",
            "validation_origins_") if name in changes})
        left_out = None
        if hasattr(buffers, "validation_origins_"):
            count = len(getattr(buffers, "calibration_actual_", buffers.validation_actual_))
            if runs or lost is not None:  # judged among the validation windows, whose origins are known
                origins = np.asarray(buffers.validation_origins_, dtype=np.int64)[-count:]
                left_out = left_out_windows(origins, self.model_.horizon, runs, lost)
                if left_out is not None and count > len(origins):  # a pool's older windows: as judged before
                    left_out = np.concatenate([np.zeros(count - len(origins), dtype=bool), left_out])
            before = getattr(self, "interval_left_out_", None)
            if before is not None:  # the windows left out before, as many as are still kept
                added = int(buffers.validation_origins_[-1] - self.model_.validation_origins_[-1])
                left_out = carried_left_out(before, left_out, count, added)
        return {**self._calibration(buffers, left_out=left_out), "interval_left_out_": left_out}

    def health(self, thresholds: dict | None = None, measurements: dict | None = None,
               now: Any = None) -> dict[str, Any]:
        """A health report from what this predictor measured; see :func:`workload_predictor.health.health_report`.

        Metrics: ``training_seconds`` (the last fit), ``prediction_seconds`` (95th
        percentile of the recent ``predict`` calls), ``memory_mb`` (the predictor's own
        arrays and tensors; the process's RSS, which includes what the host holds, is
        reported beside the metrics as ``process_rss_mb`` and raises no alert),
        ``accuracy`` (the validation confidence, ``1 - WAPE``: reported, not rated unless ``thresholds`` rate it,
        e.g. ``{"accuracy": (0.8, 0.6)}``), ``relative_error`` (the validation error, also of the newest windows,
        against the naive forecast's over the buckets held, ``noise_scale_``: warning at 3, critical at 4),
        ``input_anomaly``
        (input buckets flagged among the newest 1000, :mod:`workload_predictor.anomaly`),
        ``idle_fit`` (the share of the buckets the fit and the updates since rest on that lie in
        idle stretches, runs of all-zero buckets: warning at 0.75), ``stuck_input`` (the newest buckets in a
        row in which a target repeats the bucket before's non-zero count exactly, the longest of the targets' runs, a
        stuck sensor: warning at 30, critical at 1000) and with ``now``
        ``stale_buckets`` (the whole buckets missing after the newest one).

        Parameters
        ----------
        thresholds : dict or None
            ``{metric: (warning, critical)}`` overriding the defaults
            (``workload_predictor.health.DEFAULT_THRESHOLDS``) per metric; ``{metric: None}``: reported, not rated.
        measurements : dict or None
            ``{metric: value}`` overriding measured values (e.g. to test an alert route).
        now : timestamp or None
            The time it is (any timestamp ``fit`` reads, naive as UTC), e.g.
            ``pd.Timestamp.now(tz="UTC")``: ``stale_buckets`` counts the whole buckets that ended
            after the newest one the predictor holds and before it (warning at 2: one may be in
            flight; critical at the horizon: the forecast then covers no bucket after ``now``), or
            where the newest bucket starts after ``now`` (a clock running ahead), the whole buckets
            between them. ``None`` (default, e.g. a replay of old data): not measured.

        Returns
        -------
        dict
            ``{"level": the worst level, "metrics": {metric: {"value", "level", "warning",
            "critical"}}}``, levels ``"ok"``, ``"warning"``, ``"critical"`` or ``"unknown"``.

        Raises
        ------
        NotFittedError
            Before :meth:`fit`.
        WorkloadDataError
            An unknown metric, thresholds out of order, a measurement that is no number.
        """
        from .health import check_measurements, measure, predictor_limits, rated

        check_is_fitted(self, "model_")
        given = {} if measurements is None else check_measurements(measurements)
        # One state measured, also beside an update in another thread: its attributes copied at once (a dict copy in
        # C, which no other thread interleaves with; copy.copy's protocol costs 30 us more per call).
        state = _Attributes(**vars(self))
        limits = predictor_limits(state.model_.horizon, thresholds)
        # An injected value goes without the measured value's detail (unless one is injected with it). What measure
        # reads was checked at fit, update or load, and ``given`` above: the merged dict is not checked again.
        details = {f"{name}_detail": None for name in given if name in limits}
        return rated({**measure(state, now), **details, **given}, limits)

    def check_alerts(self, thresholds: dict | None = None, measurements: dict | None = None,
                     now: Any = None) -> list[dict[str, Any]]:
        """The metrics at warning or critical level, each also logged (``workload_predictor.health``).

        Parameters
        ----------
        thresholds, measurements, now :
            As for :meth:`health`.

        Returns
        -------
        list of dict
            One entry per metric at ``"warning"`` or ``"critical"`` (none when all is well), each
            logged (``WARNING`` for a warning, ``ERROR`` for a critical level).
        """
        from .health import log_alerts

        return log_alerts(self.health(thresholds, measurements, now))


class _Attributes(types.SimpleNamespace):
    """A predictor's attributes as one object (what :func:`~workload_predictor.health.measure` reads: ``health``
    measures them beside an update in another thread), of this package, so that
    :func:`~workload_predictor.health.footprint_bytes` walks it as it walks the predictor."""


def calibration(forecast: np.ndarray, actual: np.ndarray, level: float,
                pool: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
                left_out: np.ndarray | None = None) -> dict[str, Any]:
    """A predictor's interval half-widths and confidence from validation forecasts and actuals ``[v, H, k]``.

    The forecasts are clipped at 0 as ``predict`` clips them. Returns the fitted attributes
    (``interval_halfwidth_`` ``[H, k]``, ``confidence_``, ...); the fleet computes the same for many
    keys at once (``fleet._calibrate``).
    ``pool`` (forecasts and actuals ``[n, H, k]`` and window weights ``[n]``): a larger set of
    out-of-sample forecasts the interval comes from instead (weighted split conformal); the
    validation errors still give the confidence, and decide whether a zero width stands.
    ``left_out`` (``[n]`` bools, the newest ``v`` the validation windows): the windows the interval is not calibrated
    on (:func:`left_out_windows`), unless fewer would be left than the level's conformal rank needs (9 at 0.9, 99 at
    0.99) or, where that is fewer, than half of them (one at least: a tail of one window keeps it); the confidence and ``validation_mae_`` then read the validation
    windows left (all of them where none is).
    """
    errors = np.abs(actual - np.maximum(forecast, 0.0))  # [v, H, k]
    if pool is None:
        interval_errors, weights = errors, None
    else:
        pool_forecast, pool_actual, weights = pool
        interval_errors = np.abs(pool_actual - np.maximum(pool_forecast, 0.0))  # [n, H, k]
    floor = read = errors
    n = len(interval_errors)
    if left_out is not None and (~left_out).sum() >= max(1, min(math.ceil(level / (1.0 - level) - 1e-9), n // 2)):
        kept = ~left_out
        interval_errors = interval_errors[kept]
        weights = None if weights is None else weights[kept]
        if kept[-len(errors):].any():
            floor = read = errors[kept[-len(errors):]]
            actual = actual[kept[-len(errors):]]
    # Per target sums, once: update() recalibrates every few seconds.
    error_totals, load_totals = read.sum(axis=(0, 1)), np.abs(actual).sum(axis=(0, 1))
    cells = read.shape[0] * read.shape[1]
    scores = [confidence_of_totals(float(e), float(a), cells) for e, a in zip(error_totals, load_totals)]
    newest = read[-read.shape[1]:]  # the newest horizon windows: what the model's latest forecasts missed
    return dict(
        n_validation_windows_=len(errors),
        interval_halfwidth_=conformal_quantile(interval_errors, level, weights, floor),  # [H, k]
        interval_exact_=conformal_is_exact(len(interval_errors), level),
        interval_level_=float(level),
        n_calibration_windows_=len(interval_errors),
        confidence_=sum(scores) / len(scores),
        _confidence_by_index=scores,
        validation_mae_=error_totals / cells,  # [k]
        recent_mae_=newest.sum(axis=(0, 1)) / (newest.shape[0] * newest.shape[1]),  # [k]
    )


def filled_positions(new: Continuation) -> np.ndarray:
    """The positions among ``new``'s buckets that no row came for (zero-filled), ascending."""
    if new.missing is None:
        return np.arange(new.gap)
    filled = np.ones(len(new.values), dtype=bool)
    filled[np.cumsum(new.missing + 1) - 1] = False  # each row's bucket
    return np.flatnonzero(filled)


def calibration_origins(model: Any, count: int) -> np.ndarray:
    """The origins (positions from the model's first point) of the ``count`` windows the interval is calibrated on,
    the newest last: the validation windows' (``validation_origins_``), and before them, in a larger pool, the windows
    the updates completed one origin apart (a fit's own older windows end before the newest buckets, where the
    bursts that leave windows out lie)."""
    origins = np.asarray(model.validation_origins_, dtype=np.int64)
    older = count - len(origins)
    if older <= 0:
        return origins[-count:]
    return np.concatenate([origins[0] - np.arange(older, 0, -1), origins])


def fit_left_out(values: np.ndarray, flagged: dict[tuple[int, int], float], origins: np.ndarray,
                 horizon: int) -> np.ndarray | None:
    """Which calibration windows at ``origins`` (:func:`fit_origins`) of a fit on ``values`` (``[n, k]``) whose flagged
    buckets are ``flagged`` (``{(position, target index): reference median}``) its interval leaves out
    (:func:`left_out_windows`; ``None``: none), as an update leaves them out: those whose targets hold a bucket of a
    burst the series came back from, begun where a counter's run climbs into it (:func:`~workload_predictor.anomaly.with_leads`). The fleet's
    batched DLinear fit leaves out the same windows of its keys."""
    runs = _runs_near(anomaly.settled_runs(values, flagged), origins, horizon) if flagged else None
    runs = anomaly.with_leads(values, runs) if runs else None
    return left_out_windows(origins, horizon, runs) if runs else None


def _runs_near(runs: Sequence[tuple[int, int, int, float]], origins: np.ndarray,
               horizon: int) -> list[tuple[int, int, int, float]]:
    """Of ``runs`` (:func:`~workload_predictor.anomaly.settled_runs`'), in order, those that may hold a target of a
    window at ``origins`` once :func:`~workload_predictor.anomaly.with_leads` moved their start (by at most
    ``REFERENCE_BUCKETS``), and the run before each of them in its target, whose end bounds where that start may
    move: ``with_leads`` reads nothing else, so it moves those runs as it would among all of them. A sparse series'
    fit holds thousands of runs (8,500 on 1,000,000 buckets: 0.4 s for them all), its windows' targets a few."""
    ordered = sorted(runs)
    if not ordered:
        return ordered
    at = np.sort(np.asarray(origins, dtype=np.int64))
    firsts = np.fromiter((run[0] for run in ordered), dtype=np.int64, count=len(ordered))
    lasts = np.fromiter((run[1] for run in ordered), dtype=np.int64, count=len(ordered))
    near = np.searchsorted(at, firsts - anomaly.REFERENCE_BUCKETS - horizon + 1) < np.searchsorted(at, lasts, "right")
    keep, latest = near.copy(), {}
    for i, run in enumerate(ordered):
        j = latest.get(run[2])  # the run before it in its target
        if near[i] and j is not None:
            keep[j] = True
        latest[run[2]] = i
    return [run for run, kept in zip(ordered, keep) if kept]


def fit_origins(model: Any) -> np.ndarray:
    """The origins of a fitted ``model``'s calibration windows, the newest last: the validation windows', and before
    them, in an ensemble's pool (``calibration_actual_``), the history origins it forecast (its ``_history_origins``,
    as many as its pool holds)."""
    pool = getattr(model, "calibration_actual_", None)
    count = len(model.validation_actual_ if pool is None else pool)
    origins = np.asarray(model.validation_origins_, dtype=np.int64)
    older = count - len(origins)
    if older <= 0:
        return origins[-count:]
    history = np.asarray(model._history_origins(None), dtype=np.int64)[:older]
    if len(history) != older:  # not the history it forecast: one origin apart, as an update's windows
        return calibration_origins(model, count)
    return np.concatenate([history, origins])


def _fit_anomalies(series: BucketedSeries,
                   passes: float = anomaly.MODEL_PASSES) -> tuple[dict[str, Any], dict[tuple[int, int], float]]:
    """The fitted series' scale floor and the buckets far outside their recent range (see :mod:`.anomaly`): the
    predictor's state, and the flagged buckets ``{(position, target index): reference median}`` the model's fit
    reads. ``passes``: the model's fit after the scan (its reserve under a time limit, see ``anomaly.fit_scan``)."""
    floor, found = anomaly.fit_scan(series.values, passes)
    index = series.index
    # Flags: the model's fit, its validation and noise_scale_ each read the series settled with them, settled once
    flagged = anomaly.Flags(anomaly.flagged_of(found))
    positions = sorted({position for position, _ in flagged})
    kept, counts = anomaly.busy_values(series.values)
    state = {"input_floor_": floor, "input_nonzero_": kept, "input_nonzero_counts_": counts,
             "input_anomalies_": anomaly.kept(None, anomaly.records(found, lambda p: index[p], series.targets)),
             "input_anomaly_buckets_": anomaly.recent_flagged(None, np.asarray(index[positions].array, "datetime64[ns]"),
                                                              index[-1], series.freq),
             "input_flags_": flagged}  # cut to the buckets kept by _commit_fit
    return state, flagged


def _cut_short(model: BaseForecaster) -> bool:
    """Whether any torch member of ``model`` stopped training at ``max_training_time``."""
    members = getattr(model, "members_", {"model": model}).values()
    return any(getattr(m, "stopped_by_", None) == "time_limit" for m in members)


def _checked_on_load(predictor: WorkloadPredictor) -> None:
    """Refuse a loaded predictor that no fit produces (:func:`model_file.check_predictor`). A file saved before 0.9.1
    holds no ``interval_level_``: its ``level`` is the one its interval was calibrated at, recorded once here, so a
    ``level`` set later neither relabels the interval nor is saved as its level."""
    model_file.check_predictor(predictor, PREDICT_TIMINGS)
    if hasattr(predictor, "model_") and not hasattr(predictor, "interval_level_"):
        predictor.interval_level_ = float(predictor.level)


persistence.allow(WorkloadPredictor, check=_checked_on_load, forecast_on_load=True)
