"""FleetPredictor: one forecast per key (endpoint, model, tenant) of a long frame, in one call.

The fleet splits a long frame into one series per key at the door
(:func:`workload_predictor.data.split_by_key`), cuts the keys into partitions and
fits each partition where the caller says: in this process, in ``n_jobs`` local
worker processes, on any ``concurrent.futures.Executor``, or on a
``dask.distributed`` cluster (``client=``). A partition of DLinear keys is fitted
as one batched problem (:mod:`workload_predictor.models.dlinear_batched`); other
models fit one :class:`~workload_predictor.predictor.WorkloadPredictor` per key.
Each key's forecast equals that of a ``WorkloadPredictor`` with the same settings
on that key's series alone, unless ``max_training_time`` ended a stage early (each takes
its smallest valid path on its own measure of the time left: past the deadline the batched
DLinear fit, which times its own pass, skips the refit on the validation tail that a
``WorkloadPredictor`` whose fit measured no pace still does; both are recorded in
``time_limited_stages_``).
A batched key's update refits it, batched, on its newest buckets, as many as it was fitted on
(``update_mode="refit"``), or makes it its own ``WorkloadPredictor``, which takes that update and
every later one at a ``WorkloadPredictor.update``'s cost (``"incremental"``): either way neither the
cost of an update nor the fleet's memory grows with the keys' history.
"""

from __future__ import annotations

import collections.abc
import concurrent.futures
import contextlib
import copy
import dataclasses
import functools
import logging
import math
import os
import threading
import time
import types
import typing
import warnings
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np
import pandas as pd

from . import _deadline, anomaly, model_file
from ._memory import MB, UPDATE_ADVICE, check_limit, check_memory, memory_limit
from ._version import __version__
from .confidence import conformal_is_exact, conformal_quantile, interval
from .data import (DEFAULT_MAX_GAP, NS_EPOCH, KeySeries, as_target_list, check_flat_columns, check_label,
                   check_unit, duration_text, factorize_keys, gap_buckets, in_frame, key_fault, keyless_error,
                   missing_targets_error, no_timestamp_error, prepare_continuation, read_zone, split_by_key,
                   steps_within_range, to_utc_index)
from .errors import (MemoryLimitError, ModelFileError, NoKeyFittedError, UndoneJumpWarning, UpdateOrderError,
                     WorkloadDataError, check_is_fitted, coverage_level, cut, is_integer, is_positive_int,
                     naming_rows, plural, quote, quote_columns)
from .models.base import BaseForecaster, ParamsMixin, commit, instance_lock, serialised
from .models import registry
from .models.dlinear import DLinear, LogDLinear, forecast_each
from .predictor import (WorkloadPredictor, _fit_anomalies, _point, calibration, carried_jump, check_update_target,
                        filled_positions, fit_left_out, holds_jump, jump_buckets, order_refusal, undoes_jump,
                        undone_text)
from .windows import left_out_windows

#: Models that fit one network over the whole fleet (the others fit one model per key).
GLOBAL_MODELS = ("global_lstm",)
logger = logging.getLogger(__name__)
#: Settings a fleet hands to each key's WorkloadPredictor (the names both take).
_PREDICTOR_SETTINGS = ("model", "horizon", "level", "window", "model_params", "random_state", "n_threads", "device",
                       "max_training_time", "memory_limit_mb", "max_gap")
#: The settings that define the fitted models (``fitted_params_``): predict, update and save read these as
#: fitted, whatever ``set_params`` changed since; the others (device, limits, ...) apply to each call as they are.
_FITTED_SETTINGS = ("model", "horizon", "level", "window", "model_params")
#: The fleet's own settings that a global model (and a teacher) also takes: set on the fleet, for every key and
#: the whole fit, never in ``model_params`` or ``teacher_params`` (a per-key model's ``model_params`` refuses them
#: as ``WorkloadPredictor`` does).
_FLEET_OWNED = ("horizon", "random_state", "n_threads", "device", "max_training_time")
#: Keys per partition of a DLinear fleet: enough to amortise a task's scheduling and the batched kernels'
#: per-call cost, few enough that a partition's statistics stay within tens of MB.
DLINEAR_PARTITION = 128
#: Partitions per worker when the fleet picks the size: some slack for uneven partitions.
PARTITIONS_PER_WORKER = 4
#: Seconds a fleet without a deadline (``max_training_time=None``, an update's refit) waits for a Dask cluster that
#: has no worker to run its partitions (an autoscaler that starts none, every worker lost); with a deadline it waits
#: until the deadline. Then it raises, rather than waiting forever as Dask does.
NO_WORKER_WAIT = 120.0
#: Seconds between two looks at whether a Dask cluster still has a worker, while the partitions run.
WORKER_POLL = 0.5
#: How a DLinear fleet's update treats a batched key (``FleetPredictor(update_mode=...)``).
UPDATE_MODES = ("refit", "incremental")


@dataclass
class FleetBlock:
    """Fitted DLinear state of keys of the same length and bucket width, stacked (``B`` keys, ``k`` targets)."""

    keys: list
    start: np.ndarray  # (B,) datetime64[ns], UTC wall time of each key's first bucket
    freq: pd.Timedelta
    values: np.ndarray  # (B, n, k) the keys' series (the inputs of predict and of a key's fit at its first update)
    offset: np.ndarray  # (B, k)
    scale: np.ndarray  # (B, k)
    window: np.ndarray  # (B,) each key's window_
    window_weights: list  # per key {window: weight}
    coef: np.ndarray  # (B, k, W, H) zero-padded at the front to the block's widest window
    intercept: np.ndarray  # (B, k, H)
    halfwidth: np.ndarray  # (B, H, k) conformal interval half-widths
    confidence: np.ndarray  # (B,)
    confidence_by_target: np.ndarray  # (B, k)
    validation_mae: np.ndarray  # (B, k)
    n_validation: int
    interval_exact: bool
    # The flagged buckets the keys' forecasts read (:meth:`settled_inputs`), as their fit's scan found them (a
    # scan a time limit cut short included): those among each key's window and the ``anomaly.REFERENCE_BUCKETS``
    # before it, one row each of (key row, position in its series, target index), in that order, and each one's
    # reference median. Saved with the block, so a loaded one forecasts as the fit did. ``None`` (a file saved
    # before they were kept): its first forecast scans the keys' series again.
    flag_at: np.ndarray | None = None  # (m, 3) int64
    flag_median: np.ndarray | None = None  # (m,) float64
    # The flagged buckets among each key's newest ``anomaly.RECENT_BUCKETS``, what health's ``input_anomaly`` counts
    # (as a predictor's ``input_anomaly_buckets_``): its fit's and, through refits, each update's new buckets' (as a
    # predictor's update flags them, :func:`_update_flags`), one row each of (key row, position in its series: below 0
    # before the buckets kept), in that order, each bucket once. ``None`` (a file saved before they were kept): rated
    # unknown.
    recent_flags: np.ndarray | None = None  # (r, 2) int64
    # The MAE of each key's newest ``horizon`` validation windows (as a predictor's ``recent_mae_``), what health's
    # ``relative_error`` rates beside ``validation_mae``. ``None`` (a file saved before it was kept): that alone.
    recent_mae: np.ndarray | None = None  # (B, k)
    # The lost buckets among each key's series: zero-filled by its updates where a predictor updated with them counts
    # them lost (:func:`workload_predictor.predictor.lost_buckets`, as its ``lost_buckets_``), one row each of (key
    # row, position in its series), in that order. Its forecast's inputs and its refit's validation read each run of
    # them at the median of the ``anomaly.REFERENCE_BUCKETS`` before it (:func:`~workload_predictor.anomaly.lost_runs`),
    # as a predictor does. ``None``: none (a fit's block, or a file saved before they were kept).
    lost_at: np.ndarray | None = None  # (l, 2) int64
    # Each key's input-anomaly floor as its fit found it (``anomaly.floor_of`` of the series it was fitted on, a
    # predictor's ``input_floor_``), which its refits keep as a predictor's updates keep theirs: each update's buckets
    # are judged against it (:func:`_update_flags`). ``None`` (a fit's block, or a file saved before it was kept):
    # the floor of the series each key holds.
    input_floor: np.ndarray | None = None  # (B, k) float64

    def take(self, rows: np.ndarray) -> "FleetBlock":
        rows = np.asarray(rows, dtype=np.int64)
        picked = {name: getattr(self, name)[rows] for name in ("start", "values", "offset", "scale", "window", "coef",
                                                               "intercept", "halfwidth", "confidence",
                                                               "confidence_by_target", "validation_mae")}
        block = FleetBlock(keys=[self.keys[i] for i in rows], freq=self.freq,
                           window_weights=[self.window_weights[i] for i in rows], n_validation=self.n_validation,
                           interval_exact=self.interval_exact, **picked)
        if self.flag_at is not None:  # the picked rows' flags, renumbered as the new block's rows, in its order
            moved = np.full(len(self.keys), -1, dtype=np.int64)
            moved[rows] = np.arange(len(rows))
            new_row = moved[self.flag_at[:, 0]]
            kept = np.flatnonzero(new_row >= 0)
            at = self.flag_at[kept]
            at[:, 0] = new_row[kept]
            order = np.lexsort((at[:, 2], at[:, 1], at[:, 0]))
            block.flag_at, block.flag_median = at[order], self.flag_median[kept][order]
        if self.recent_flags is not None:  # the picked rows', renumbered (rows picked in order keep theirs in order)
            moved = np.full(len(self.keys), -1, dtype=np.int64)
            moved[rows] = np.arange(len(rows))
            recent = self.recent_flags[moved[self.recent_flags[:, 0]] >= 0]
            recent[:, 0] = moved[recent[:, 0]]
            block.recent_flags = recent[np.lexsort((recent[:, 1], recent[:, 0]))]
        if self.recent_mae is not None:
            block.recent_mae = self.recent_mae[rows]
        if self.input_floor is not None:
            block.input_floor = self.input_floor[rows]
        if self.lost_at is not None:  # the picked rows', renumbered, in the new block's order
            moved = np.full(len(self.keys), -1, dtype=np.int64)
            moved[rows] = np.arange(len(rows))
            lost = self.lost_at[moved[self.lost_at[:, 0]] >= 0]
            lost[:, 0] = moved[lost[:, 0]]
            block.lost_at = lost[np.lexsort((lost[:, 1], lost[:, 0]))] if len(lost) else None
        # The picked rows' settled inputs and held noise, found already: not found again.
        position = {int(row): i for i, row in enumerate(rows)}
        for name in ("_settled", "_held"):
            found = self.__dict__.get(name)
            if found is not None:
                vars(block)[name] = {position[row]: value for row, value in found.items() if row in position}
        return block

    def last_timestamp(self, row: int) -> pd.Timestamp:
        """The UTC start of the newest bucket of the key in ``row``."""
        return pd.Timestamp(self.start[row]).tz_localize("UTC") + (self.values.shape[1] - 1) * self.freq

    def point(self, steps: int) -> np.ndarray:
        """Point forecasts ``(B, steps, k)`` after each key's last bucket, unclipped, as a ``WorkloadPredictor`` of
        DLinear forecasts (its inputs settled where a flagged run lies in them: :meth:`settled_inputs`)."""
        out = np.empty((len(self.keys), steps, self.values.shape[2]))
        width = self.coef.shape[2]
        settled = self.settled_inputs()
        for w in np.unique(self.window):
            rows = np.flatnonzero(self.window == w)
            inputs = self.values[rows, -w:]
            if settled:
                inputs = np.stack([settled.get(int(row), inputs[j]) for j, row in enumerate(rows)])
            z = (inputs - self.offset[rows, None, :]) / self.scale[rows, None, :]  # [G, w, k]
            z = z.transpose(0, 2, 1)[:, :, None, :]  # [G, k, 1, w]
            forecast = np.matmul(z, self.coef[rows][:, :, width - w :])[:, :, 0] + self.intercept[rows]  # [G, k, H]
            out[rows] = (forecast.transpose(0, 2, 1) * self.scale[rows, None, :] + self.offset[rows, None, :])[:, :steps]
        return out

    def idle_fit(self, row: int) -> tuple[float, str | None]:
        """The share of the key in ``row``'s fitted buckets that lie in idle stretches and the detail naming the
        newest (:func:`workload_predictor.health.idle_fit`), found for every row at the block's first health check."""
        from .health import IDLE_RUN, idle_rows, idle_text

        found = self.__dict__.get("_idle")
        if found is None:
            found = self.__dict__["_idle"] = idle_rows(self.values, self.window)
        idle, first, last = (int(column[row]) for column in found)
        if not idle:
            return 0.0, None
        n, start = self.values.shape[1], pd.Timestamp(self.start[row]).tz_localize("UTC")
        return idle / n, idle_text(idle, n, start + first * self.freq, start + last * self.freq,
                                   max(int(self.window[row]), IDLE_RUN))

    def stuck_input(self, row: int, targets: Any) -> tuple[float, str | None]:
        """The buckets in a row, ending at the newest of the key in ``row``, in which a target repeats the bucket
        before's non-zero count exactly, the longest of its targets' runs, and the detail
        (:func:`workload_predictor.health.stuck_input`), found for every row and target at the block's first health
        check, among the buckets the key was fitted on."""
        from .health import stuck_measure, stuck_rows

        found = self.__dict__.get("_stuck")
        if found is None:
            found = self.__dict__["_stuck"] = stuck_rows(self.values)
        return stuck_measure(found[row].tolist(), self.values[row, -1], targets, self.last_timestamp(row), self.freq,
                             held=self.values.shape[1])

    def flagged_count(self, row: int) -> float:
        """The flagged buckets among the newest ``anomaly.RECENT_BUCKETS`` of the key in ``row`` (:attr:`recent_flags`,
        each among them), as a predictor's ``health()`` counts its ``input_anomaly_buckets_``; found for every row at
        the block's first health check."""
        found = self.__dict__.get("_counts")
        if found is None:
            found = self.__dict__["_counts"] = np.bincount(self.recent_flags[:, 0], minlength=len(self.keys))
        return float(found[row])

    def fit_floor(self, row: int) -> np.ndarray:
        """The input-anomaly floor ``(k,)`` of the key in ``row`` as its fit found it (:attr:`input_floor`), or where
        none is kept the floor of the series it holds (a fit's block: the series it was fitted on)."""
        if self.input_floor is not None:
            return self.input_floor[row]
        return anomaly.floor_of(self.values[row])

    def flagged_recent(self, row: int) -> np.ndarray | None:
        """The starts (UTC ``datetime64[ns]``, naive, ascending) of the flagged buckets among the newest
        ``anomaly.RECENT_BUCKETS`` of the key in ``row`` (:attr:`recent_flags`), as a predictor's
        ``input_anomaly_buckets_``; ``None`` where none is flagged (what a refit of the key carries into it)."""
        at = self.recent_flags
        positions = at[np.searchsorted(at[:, 0], row) : np.searchsorted(at[:, 0], row, side="right"), 1]
        return self.start[row] + positions * self.freq.to_timedelta64() if len(positions) else None

    def relative_error(self, row: int, targets: Any) -> tuple[float, str]:
        """The validation error of the key in ``row`` against what its series allows and the detail
        (:func:`workload_predictor.health.relative_error`): the larger of its validation MAE and its newest windows'
        (``recent_mae``; a block of a file saved before it was kept has its validation MAE alone), over
        the larger naive forecast error over the horizon in the buckets it was refitted on and in the newest of them a
        predictor keeps (:func:`workload_predictor.health.naive_error`; the newest windows' over that error lowered as
        their level fell, :func:`workload_predictor.health.level_fall`), found for every row at the block's first
        health check, a few hundred keys at a time (a copy of their buckets at most). A key whose series holds a burst
        it came back from is measured on its series as its validation read it (:meth:`held_noise`)."""
        found = self.__dict__.get("_relative")
        if found is None:
            from .health import held_scale, kept_buckets, relative_text

            horizon, kept = self.coef.shape[3], kept_buckets(self.window.max(), self.coef.shape[3])
            scale, fall = np.empty((2, len(self.keys), self.values.shape[2]))
            for start in range(0, len(self.keys), 256):  # a copy of 256 keys' buckets at most
                chunk = self.values[start:start + 256]
                scale[start:start + 256], fall[start:start + 256] = held_scale(chunk, kept, horizon)
            for held, (naive, lowered) in self.held_noise().items():
                scale[held], fall[held] = naive, lowered
            recent = self.validation_mae if self.recent_mae is None else self.recent_mae
            error = np.maximum(self.validation_mae, recent / fall)
            ratios = error / np.where(scale > 0, scale, 1.0)  # (B, k); one unit where none moved
            worst = ratios.argmax(axis=1)
            rows = np.arange(len(self.keys))
            found = self.__dict__["_relative"] = [
                (ratio, relative_text(targets[j], mae, newest, ratio, naive, lowered))
                for ratio, j, mae, newest, naive, lowered in zip(
                    ratios[rows, worst].tolist(), worst.tolist(), self.validation_mae[rows, worst].tolist(),
                    recent[rows, worst].tolist(), scale[rows, worst].tolist(), fall[rows, worst].tolist())]
        return found[row]

    def held_noise(self, settled: dict[int, np.ndarray] | None = None) -> dict[int, tuple[np.ndarray, np.ndarray]]:
        """Per row whose series holds a burst it came back from: the naive forecast's error (the larger of the whole
        series' and the newest kept buckets', :func:`workload_predictor.health.naive_error`) and the level fall of its
        newest windows (:func:`workload_predictor.health.level_fall`), ``(k,)`` each, on its series as its fit's
        validation read it: each such burst at its reference median, as a predictor's fit on it reads it (a burst
        inflates the naive error a degraded model is measured against). ``settled``: ``{row: that series}``, given by
        the fit, which found them; else found at the block's first health check by scanning again (as its fit did)
        the keys with a flagged bucket among their newest ``anomaly.RECENT_BUCKETS`` or their forecast's inputs
        (:attr:`recent_flags`, :attr:`flag_at`; a key whose only bursts are older is measured on its buckets as they
        are, as is every key of a file saved before those were kept)."""
        found = self.__dict__.get("_held")
        if found is not None and settled is None:
            return found
        from . import anomaly
        from .health import held_scale, kept_buckets

        if settled is None:
            rows = set()
            for at in (self.recent_flags, self.flag_at):
                if at is not None:
                    rows.update(np.unique(at[:, 0]).tolist())
            settled = {}
            for row in sorted(rows):
                y = self.values[row]
                flagged = anomaly.fit_scan(y)[1]
                y = anomaly.settled_inputs(y, anomaly.flagged_of(flagged)) if flagged else None
                if y is not None:
                    settled[row] = y
        horizon = int(self.coef.shape[3])
        kept = kept_buckets(self.window.max(), horizon)
        found = self.__dict__["_held"] = {
            row: held_scale(y, kept, horizon)
            for row, y in settled.items()}
        return found

    def settled_inputs(self) -> dict[int, np.ndarray]:
        """Per row whose newest ``window`` buckets hold a burst the key's series came back from, those buckets
        with the burst read as its reference median (as a ``WorkloadPredictor`` fitted on the key's series reads
        them, from every flagged bucket among them and the ``anomaly.REFERENCE_BUCKETS`` before them:
        :func:`workload_predictor.anomaly.settled_inputs`).
        Each run of lost buckets among them (:attr:`lost_at`) is read as its reference median too, as a predictor
        updated with them reads its ``lost_buckets_``.
        Found once per block, at its first forecast, from the flagged buckets its fit found (``flag_at``,
        ``flag_median``, saved with it; a block of a file saved before they were kept scans its keys again)."""
        settled = self.__dict__.get("_settled")
        if settled is None:
            flags = None if self.flag_at is None else _flags_by_row(self.flag_at, self.flag_median)
            settled = self.__dict__["_settled"] = _settled_rows(self.values, self.window, flags,
                                                                _lost_by_row(self.lost_at))
        return settled

    def lost_of(self, row: int) -> np.ndarray | None:
        """The positions of the lost buckets (:attr:`lost_at`) in the series of the key in ``row``; ``None``: none."""
        at = self.lost_at
        if at is None:
            return None
        positions = at[np.searchsorted(at[:, 0], row) : np.searchsorted(at[:, 0], row, side="right"), 1]
        return positions if len(positions) else None


@dataclass
class FleetGlobal:
    """A global model's fit over the fleet: the network (one for all keys) and each key's grid and calibration."""

    model: Any  # GlobalLSTM
    keys: list
    start: np.ndarray  # (N,) datetime64[ns], UTC wall time of each key's first bucket
    length: np.ndarray  # (N,) buckets per key
    freqs: list  # per key pd.Timedelta
    halfwidth: np.ndarray  # (N, H, k)
    confidence: np.ndarray  # (N,)
    confidence_by_target: np.ndarray  # (N, k)

    def last_timestamp(self, j: int) -> pd.Timestamp:
        """The UTC start of the newest bucket of key ``j``."""
        return pd.Timestamp(self.start[j]).tz_localize("UTC") + (int(self.length[j]) - 1) * self.freqs[j]

    def stuck_input(self, j: int, targets: Any) -> tuple[float | None, str | None]:
        """:func:`workload_predictor.health.stuck_input` of key ``j``, among the newest buckets the network keeps of
        it (``recent_``)."""
        from .health import stuck_measure, stuck_runs

        kept = getattr(self.model, "recent_", None)
        if kept is None:  # not kept by this network: not measured
            return None, None
        recent = np.asarray(kept[j]).reshape(len(kept[j]), -1)
        return stuck_measure(stuck_runs(recent), recent[-1], targets, self.last_timestamp(j), self.freqs[j],
                             held=len(recent))

    def relative_error(self, j: int, targets: Any, level: float) -> tuple[float | None, str | None]:
        """The validation error of key ``j`` against what its series allows and the detail
        (:func:`workload_predictor.health.relative_error`): the larger of the MAE of its validation forecasts
        (``validation_forecast_`` against ``validation_actual_``, clipped at 0, without the windows its interval at
        ``level`` leaves out: ``validation_left_out_``, as :func:`~workload_predictor.predictor.calibration` reads
        them) and its newest ``horizon`` windows', over the larger naive forecast error over the horizon in the
        points the network keeps of it (``recent_``), in the newest of them a predictor keeps and in the series it was
        fitted on (``fit_naive_error_``, carried by updates as a predictor's ``noise_scale_`` row 0; a file saved
        before it was kept: the kept points' alone); the newest windows' over that error lowered as their level fell
        (:func:`workload_predictor.health.level_fall`). Found for every key at the first health check of this fit or
        update; ``(None, None)`` where the network keeps no points."""
        found = self.__dict__.get("_relative")
        if found is None:
            found = self.__dict__["_relative"] = _global_relative(self.model, targets, level)
        return found[j]


class _Jump(typing.NamedTuple):
    """A batched DLinear key's state before an update that jumped far ahead (see ``FleetPredictor.update``): the
    series it was fitted on then (its own copy, not a view of the block's), kept through the key's updates from the
    stray clock while :func:`~workload_predictor.predictor.holds_jump` (their rows are not kept, only counted)."""

    series: KeySeries
    jumped: int  # the buckets the jump zero-filled
    stray: pd.Timestamp  # the key's last bucket after the jump: rows before it (and after the series') undo it
    held: pd.Timestamp | None = None  # the key's last bucket after the newest stray update it was held through
    updates: int = 0  # the stray updates it was held through
    rows: int = 0  # the rows of the jumping update after the jump and of those updates: what an undo drops

    @property
    def before(self) -> pd.Timestamp:
        """The key's last bucket before the jump."""
        return self.series.last

    @property
    def newest(self) -> pd.Timestamp:
        """The key's last bucket in the state the record pairs with."""
        return self.stray if self.held is None else self.held


class _GlobalJump(typing.NamedTuple):
    """A ``global_lstm`` fleet's fit before an update in which a key's rows jumped far ahead (see
    ``FleetPredictor.update``), that update's new buckets per key, and those of each update since (``since``), while
    the key's updates end fewer buckets past the jumped one than a jump is wide and the updates since stay within
    :func:`_global_held_bound`. The undo applies while the fleet holds ``after`` (the fit the newest of them
    published): it is those updates applied again from ``before``, without the key's rows after the jump.

    Past the bound the record lapses: ``before``, ``new`` and ``since`` are let go (``None``) and ``lapsed`` says why,
    which the refusal of the key's rows names."""

    before: FleetGlobal | None
    new: tuple | None  # per key its new buckets (an ``_Added``), or None: what that update passed to ``GlobalLSTM.update``
    after: FleetGlobal
    jumped: int  # the buckets the key's jump zero-filled
    stray: pd.Timestamp  # the key's last bucket after the jump
    base: pd.Timestamp  # the key's last bucket before the jump (after its rows before a jump between its rows)
    head: int = 0  # the key's new buckets before a jump between its rows (kept when that update is applied again)
    since: tuple | None = ()  # each update since: its ``new`` (the key's entries are its stray rows)
    held: pd.Timestamp | None = None  # the key's last bucket after the newest of its stray updates since
    updates: int = 0  # the key's stray updates since (updates without its rows are not counted)
    rows: int = 0  # the rows of the jumping update after the jump and of those updates: what an undo drops
    sizes: tuple | None = ()  # per update since: its new buckets, all keys, and the keys whose rows jumped in it
    lapsed: str | None = None  # why the undo was let go (``since`` over the bound, or its bytes over the limit)
    profile: tuple | None = None  # ``before``'s arrays, as :func:`_global_over_memory` compares them (found once)

    @property
    def newest(self) -> pd.Timestamp:
        """The key's last bucket in the fit the record pairs with."""
        return self.stray if self.held is None else self.held


def _global_held_bound(threshold: int, n_keys: int) -> tuple[int, int]:
    """The updates since a global fleet key's jump that its undo holds, at most, and their new buckets, at most: as
    many updates as a jump is wide (``threshold``), and as many buckets as that many updates of one bucket per key. An
    undo applies them all again, so this bounds its work and what the record holds (its own jumping update is held
    as a first jump always was; another key's jump in an update since counts while no record of that key holds it:
    :func:`_global_lapsed`)."""
    return threshold, threshold * max(1, n_keys)


def _global_lapsed(records: dict, position: dict, threshold: int) -> dict:
    """``records`` (a global fleet's jump records after an update, each holding that update in ``since`` or made by
    it) with each one over :func:`_global_held_bound` lapsed: its fit and updates let go, ``lapsed`` saying why.

    A record counts every new bucket of the updates since its jump, but another key's jumping update while that
    key's own record holds it (the key's door bounds it: ``max_gap``, ``memory_limit_mb``). Once that record goes
    (the jump undone, confirmed, replaced by the key's next jump, or lapsed), the jump counts to the bound of each
    record still holding it. So the records together hold the oldest one's jumping update, at most the bound's
    buckets since it, and each other record's own jump. Younger records are judged first: whether one lapses decides
    what its jump costs the older ones (records made by one update do not hold each other's)."""
    held = {position[name]: jump.new for name, jump in records.items() if jump.lapsed is None}
    calls, buckets = _global_held_bound(threshold, len(position))
    for name in sorted(records, key=lambda name: len(records[name].since or ())):
        jump = records[name]
        if not jump.since:  # lapsed, or made by this update
            continue
        total = dropped = 0
        for call, (size, jumped) in zip(jump.since, jump.sizes):
            total += size
            for j in jumped:
                if held.get(j) is call:
                    total -= len(call[j])
                else:
                    dropped += len(call[j])
        if len(jump.since) > calls or total > buckets:
            gone = f" their own undo still holds; {dropped:,} of them are jumps it no longer holds" if dropped else ""
            records[name] = jump._replace(before=None, new=None, since=None, sizes=None, profile=None, lapsed=(
                f"{plural(len(jump.since), 'update')} since it, with {plural(total, 'new bucket')} in all (but other "
                f"keys' jumps{gone}), are more than its undo holds ({plural(calls, 'update')}, "
                f"{plural(buckets, 'bucket')}: an undo applies them all again)"))
            held.pop(position[name], None)
    return records


#: An ndarray object's own bytes (its header, shape and strides: ``sys.getsizeof`` of a 2-D view), beside its buffer.
ARRAY_OBJECT_BYTES = 128


def _held_bytes(value: Any) -> int:
    """The bytes an attribute value of a fit holds: an array's buffer (a view's base's: it keeps it whole) and its
    objects, a list's or tuple's pointers and items; anything else (the network, settings) is shared by every fit of
    a fleet: 0."""
    if isinstance(value, np.ndarray):
        objects = ARRAY_OBJECT_BYTES
        while isinstance(value.base, np.ndarray):
            objects, value = objects + ARRAY_OBJECT_BYTES, value.base
        return objects + value.nbytes
    if isinstance(value, (list, tuple)):
        return 8 * len(value) + sum(_held_bytes(item) for item in value)
    return 0


def _fit_attributes(fit: FleetGlobal) -> Iterator[tuple[bool, str, Any]]:
    """``fit``'s attributes as ``(own, name, value)``: its own (``own``), then its model's (the model itself left out)."""
    for own, owner in ((True, fit), (False, fit.model)):
        for name, value in vars(owner).items():
            if not (own and name == "model"):
                yield own, name, value


def _fit_profile(fit: FleetGlobal) -> tuple:
    """``fit``'s attributes (:func:`_fit_attributes`) as :func:`_fit_bytes_beyond` compares them: each one's object
    id and bytes, and for a list (one item per key) each item's id and bytes. Found once per held fit; the ids stay
    valid while the record holds the fit (``(id(fit), parts)``: a copy's fit is another object, found again)."""
    parts = []
    for own, name, value in _fit_attributes(fit):
        if isinstance(value, list):
            parts.append((own, name, id(value), _item_ids(value),
                          np.fromiter(map(_held_bytes, value), np.int64, len(value))))
        else:
            parts.append((own, name, id(value), None, _held_bytes(value)))
    return id(fit), tuple(parts)


def _item_ids(items: list) -> np.ndarray:
    return np.fromiter(map(id, items), np.uintp, len(items))


def _fit_ids(fit: FleetGlobal) -> dict:
    """``fit``'s attributes by ``(own, name)`` (:func:`_fit_attributes`): each one's object id, and for a list its
    items' ids, as :func:`_fit_profile` finds them."""
    return {(own, name): (id(value), _item_ids(value) if isinstance(value, list) else None)
            for own, name, value in _fit_attributes(fit)}


def _fit_bytes_beyond(profile: tuple, later: dict) -> int:
    """The bytes the fit of ``profile`` (:func:`_fit_profile`) holds that a later fit (``later``: its
    :func:`_fit_ids`; a fit of the same keys it was updated into) does not share: an update replaces what it changes
    and shares the rest (the network, and each key it did not update), so a held fit costs what the updates since it
    replaced."""
    total = 0
    for own, name, ident, items, size in profile[1]:
        other, others = later.get((own, name), (None, None))
        if other == ident:
            continue
        if items is None:
            total += size
        elif others is not None and len(others) == len(items):  # per key: the items the later fit replaced
            total += 8 * len(items) + int(size[items != others].sum())
        else:
            total += 8 * len(items) + int(size.sum())
    return total


def _global_over_memory(records: dict, live: FleetGlobal, limit_mb: float | None, n_targets: int) -> dict:
    """``records`` (after :func:`_global_lapsed`) with each one whose undo would take what the held undos hold
    together past half of ``memory_limit_mb`` lapsed, ``lapsed`` saying so (the other half is left for an undo, which
    builds again the fits of the records it keeps, and for the update's own work). They hold the fits before their
    jumps (each what the updates since it replaced: :func:`_fit_bytes_beyond`, against the next held fit, the newest
    against ``live``) and the new buckets of the oldest one's jumping update and every update since (the younger
    ones' are among them). Judged oldest first, the first held first: a record lapses at the update that would take
    the total past the limit, the one that makes it (its fit is not kept past that update) or a later one (the
    updates since replace more of the fits it holds)."""
    held = sorted((name for name, jump in records.items() if jump.lapsed is None),
                  key=lambda name: -len(records[name].since))
    if limit_mb is None or not held:
        return records
    total, kept, live_cost = 0, None, 0  # what the records kept so far hold; the youngest kept; its fit beyond live
    profiles, live_ids = {}, _fit_ids(live)
    for name in held:
        jump = records[name]
        if kept is not None and jump.before is kept.before:  # made by the same update: it holds nothing more
            continue
        if jump.profile is None or jump.profile[0] != id(jump.before):
            profile = profiles.get(id(jump.before)) or _fit_profile(jump.before)
            records[name] = jump = jump._replace(profile=profile)
        profiles[id(jump.before)] = jump.profile
        beyond_live = _fit_bytes_beyond(jump.profile, live_ids)
        if kept is None:  # the oldest kept: its jumping update's and every later update's new buckets, and its fit
            buckets = sum(len(values) for values in jump.new if values is not None) + sum(size for size, _ in jump.sizes)
            added = 8 * n_targets * buckets + beyond_live
        else:  # the youngest kept fit now costs what this one's does not share, this one's what live does not
            step = _fit_bytes_beyond(kept.profile, {(own, name): (ident, items)
                                                    for own, name, ident, items, _ in jump.profile[1]})
            added = step - live_cost + beyond_live
        if total + added > limit_mb * MB / 2:
            records[name] = jump._replace(before=None, new=None, since=None, sizes=None, profile=None, lapsed=(
                f"holding it would take what the fleet's held undos hold to {(total + added) / MB:,.1f} MiB, over "
                f"half of memory_limit_mb={quote(limit_mb)} (each holds the fit before its jump, what the updates "
                "since replaced, and their new buckets; an undo builds as much again)"))
            continue
        total, kept, live_cost = total + added, jump, beyond_live
    return records


def _lapsed_refusal(exc: UpdateOrderError, jump: _GlobalJump) -> UpdateOrderError:
    """The error for a global fleet key's rows that fall between its last bucket before a jump and the jumped one,
    where the fleet let the undo go (``jump.lapsed``): the jump stands, and why."""
    error = naming_rows(
        UpdateOrderError, f"new bucket {exc.first.isoformat()}", *((" at ", exc.rows[0]) if exc.rows else ()),
        f" is not after the last fitted bucket {exc.last.isoformat()}: it falls between {jump.base.isoformat()} and "
        f"{jump.stray.isoformat()}, where an update jumped {jump.jumped + 1:,} buckets ahead (a clock running "
        f"ahead?), but that jump can no longer be undone: {jump.lapsed}. Every row before {exc.last.isoformat()} is "
        "refused: refit with fit() on the rows with their correct times. If this row was sent before, drop it.")
    error.first, error.last = exc.first, exc.last
    return error


#: A fitted fleet's attributes: ``fit`` sets them all, ``update`` replaces some, and each publishes them together
#: (:meth:`FleetPredictor._state`), which is what a forecast, a health report or a save reads.
_FITTED_STATE = ("keys_", "errors_", "targets_", "key_", "fitted_params_", "_blocks", "_predictors", "_global",
                 "update_errors_", "fit_seconds_", "time_limited_stages_", "time_limited_keys_")


_LAST_NS = pd.Timestamp.max.as_unit("ns").to_datetime64()


def _future_stamp_errors(keys: list, last: np.ndarray, step: np.ndarray, steps: int) -> dict[int, WorkloadDataError]:
    """``{position: WorkloadDataError}`` for each key whose ``steps`` buckets of ``step`` after ``last`` (its newest
    bucket, datetime64[ns]) would end past the last instant int64 nanoseconds hold, where numpy's datetime64
    arithmetic wraps round to 1677 without a word (:meth:`WorkloadPredictor.predict` refuses the same buckets).
    In float seconds (1e-6 s apart near 2262) for every key, then in Python's integers for those within a second."""
    limit = (_LAST_NS - NS_EPOCH) / np.timedelta64(1, "s")
    seconds = (last - NS_EPOCH) / np.timedelta64(1, "s") + (steps + 1) * (step / np.timedelta64(1, "s"))
    errors = {}
    for i in np.flatnonzero(seconds > limit - 1.0):
        room = steps_within_range(pd.Timestamp(last[i], tz="UTC"), pd.Timedelta(step[i]))
        if steps > room:
            fix = f"forecast at most {plural(room, 'step')} for that key, or fix" if room > 0 else \
                "no bucket after it fits: fix"
            errors[int(i)] = WorkloadDataError(
                f"Key {quote(keys[i])}: {plural(steps, 'bucket')} of "
                f"{duration_text(pd.Timedelta(step[i]))} after {pd.Timestamp(last[i], tz='UTC').isoformat()} would "
                f"end past {pd.Timestamp(_LAST_NS, tz='UTC')}, the last instant int64 nanoseconds since the epoch "
                f"hold; {fix} its timestamps (numeric epochs are read in the unit their magnitude implies: pass "
                "unit=... to read them in another).")
    return errors


class FleetPredictor(ParamsMixin):
    """Forecast many series (one per key of a long frame) with one model, in one call.

    Parameters
    ----------
    model : str
        Any registered :class:`~workload_predictor.WorkloadPredictor` model (default ``"dlinear"``,
        fitted as one batched problem per partition), or ``"global_lstm"`` (one network over all keys).
    horizon, level :
        The per-key settings, as :class:`~workload_predictor.WorkloadPredictor` takes them.
    n_jobs : int
        Local worker processes (joblib's loky, reused across fits; ``-1``: one per CPU). 1 fits in
        this process.
    client : dask.distributed.Client or None
        Run the partitions on this Dask cluster (``pip install workload-predictor[dask]``).
        A lost worker's partitions are rescheduled by Dask itself. Pass the ``Client``, not the
        scheduler's address (``Client("tcp://...")`` connects to it). A cluster with no worker (an
        autoscaler that starts none, every worker lost) is waited for until the fleet's deadline
        (``max_training_time``; ``NO_WORKER_WAIT`` = 120 s in a row without one when there is none, as at an
        update's refit), then the fit or update raises a
        :class:`~workload_predictor.errors.WorkloadDataError`, changing nothing, where Dask would wait
        forever; its partitions are cancelled, as they are when one raises. A worker the fleet has not yet
        seen on the client is asked its workload-predictor version before it is sent a partition: one
        without the package, or of another version, is a ``WorkloadDataError`` naming it; one that joins
        during the fit is asked when the fleet sees it, and left out of the fit (a logged warning) if it
        cannot run this version: partitions go only to workers that answered. The cluster holds at most
        ``PARTITIONS_IN_FLIGHT`` partitions per worker thread at once: each partition's result is gathered,
        and its task released, as it ends, and the next one sent. A model registered
        (``registry.register``) in this process is registered in the workers that fit its keys.
    executor : concurrent.futures.Executor or None
        Run the partitions on this executor (``client`` and ``executor`` exclude each other).
        ``client`` and ``executor`` are running resources, not settings: ``copy.copy``, ``copy.deepcopy`` and
        scikit-learn's ``clone`` share them; a pickled fleet (joblib, a worker process, Dask shipping it to a
        worker: ``client.submit(fleet.predict)``) has neither (``None``), as :meth:`save` writes it: set them again
        where the copy runs (``fleet.set_params(client=...)``).
    strict : bool
        ``False`` (default): a key whose series cannot be fitted is reported in ``errors_`` and
        the others are fitted (where none can be, the fit raises
        :class:`~workload_predictor.errors.NoKeyFittedError` and nothing is stored). ``True``: the
        first such key raises its error and nothing is stored. Likewise at :meth:`predict`: a key whose
        forecast would end past 2262-04-11 is left out with a logged warning (``strict``: raised).
    window, model_params, random_state, n_threads :
        The per-key settings, as :class:`~workload_predictor.WorkloadPredictor` takes them.
    device : str
        ``"cpu"``; ``"cuda"`` solves a DLinear fleet's ridge systems in torch on the GPU (and
        trains LSTMs there). An update's refit where torch sees no such device (a fleet loaded from a file
        written on a GPU host) solves on the CPU; a fit raises a
        :class:`~workload_predictor.errors.WorkloadDataError`.
    max_training_time, memory_limit_mb, max_gap :
        The per-key settings, as :class:`~workload_predictor.WorkloadPredictor` takes them.
        ``max_gap`` bounds the buckets :meth:`update` zero-fills for every model, the batched and global ones
        included: a key's row further ahead is an :class:`~workload_predictor.errors.UpdateGapError` in
        ``update_errors_``. ``max_training_time`` is one deadline for the whole fleet's ``fit``,
        counted from its start (the door included), not a limit per key: every key's fit reads it,
        and a key reached after it has passed is still fitted, by each stage's smallest valid path
        (as :class:`~workload_predictor.WorkloadPredictor` documents: no window search, an
        untrained LSTM on its linear base, the ensemble weighed on its validation tail), so no key is
        dropped for time; those keys and their stages are in ``time_limited_keys_``. A fleet past its
        deadline therefore still ends later by about one smallest fit per key left. The batched
        DLinear fit ends its stages early as DLinear's do (window search, statistics over the newest
        origins that fit, refit; :func:`~workload_predictor.models.dlinear_batched.fit_batched`),
        recorded per key; the global LSTM's training stops at the deadline. Partitions fitted in
        other processes read it on the wall clock. A key whose stages were cut may forecast
        otherwise than a ``WorkloadPredictor`` on its series under the same limit (each measures
        the time left on its own; e.g. past the deadline a batched key skips the refit on its
        validation tail, which such a predictor still does when its fit measured no pace).
        ``memory_limit_mb`` bounds what each key's fit or update adds to the process, as for a
        ``WorkloadPredictor``; a DLinear fleet fits a partition of keys as one problem, so there it
        bounds what each partition's fit adds (its statistics and solves, checked before they are
        allocated); an update, each key's own (its door, its fit at its first update, its update). It
        reads the process's RSS, which cannot
        tell threads apart: partitions fitted on threads of one process (``executor=`` a
        ``ThreadPoolExecutor``, a Dask cluster with ``processes=False``) count each other's
        allocations, so a small limit may refuse a key there that fits alone (its error says so);
        processes (``n_jobs``, a ``ProcessPoolExecutor``, Dask's default workers) bound each alone. A partition over it is fitted again key
        by key, each within the limit, and a key over it even alone is a
        :class:`~workload_predictor.errors.MemoryLimitError` in ``errors_`` (``update_errors_`` at an
        update); the fit (or update) raises it, storing nothing, only where no key fits (at an
        update: where no key's update fits).
        The global LSTM (``model="global_lstm"``, or a ``teacher``) is one fit over every key:
        the limit bounds what that fit adds, and over it the fit raises the error. Its update too
        is one update of every key with new rows: a key whose update alone is over the limit (a gap
        ``max_gap`` lets in, zero-filled) is that key's error in ``update_errors_`` and the others
        are updated; keys that fit alone but not together raise the error, changing nothing (pass
        their rows over several updates).
    partition_size : int or None
        Keys per partition; ``None`` picks enough partitions to keep every worker busy, at most
        ``DLINEAR_PARTITION`` keys each for DLinear.
    teacher : None or "global_lstm"
        With ``model="dlinear"``: distillation. A :class:`~workload_predictor.models.global_lstm.GlobalLSTM`
        is fitted on all keys and each key gets a DLinear student trained on its actuals blended with the
        teacher's forecasts (mixing weight ``models.distill.MIXING_WEIGHT`` = 0.5); the students forecast at
        DLinear's cost. Fitted per key in this process (not batched). A key too short for the teacher's
        window gets a plain DLinear, logged as a warning (how many keys, and the first one's error).
    teacher_params : dict or None
        The teacher's own settings (``GlobalLSTM`` parameters, e.g. ``{"max_epochs": 20}``). The fleet's
        ``horizon``, ``random_state``, ``n_threads``, ``device`` and ``max_training_time`` are set on the
        fleet, not here (nor in a global model's ``model_params``, with ``window`` when the fleet gives
        one): ``fit`` refuses them with a :class:`~workload_predictor.errors.WorkloadDataError`, as it
        refuses ``teacher_params`` without a teacher.
    update_mode : {"refit", "incremental"}
        What :meth:`update` does with a key of a batched DLinear block (other keys have their own
        predictors, which update as a ``WorkloadPredictor`` does). ``"refit"`` (default): refits it,
        batched, on its newest buckets, as many as it was fitted on (a window that slides with the
        series): its state stays the fitted one's (8 bytes per bucket and target) and an update costs
        about a fit (5 ms per key at 1,000 buckets). ``"incremental"``: its first update fits the key's
        own ``WorkloadPredictor`` on the series it was fitted on, then updates it; every later update
        adds the new windows to DLinear's statistics (about 1 ms per key, whatever the history), but
        each key then holds those statistics and kept inverses, which grow with the square of the
        fitted window (about 0.7 MB per target at 168 buckets, 2.4 MB at 336); the first update
        checks their total against ``memory_limit_mb`` before fitting any. ``model_params={"half_life":
        ...}`` (DLinear's forgetting) needs ``"incremental"``.
    resources : dict or None
        The Dask worker resources each partition needs, e.g. ``{"GPU": 1}`` for ``device="cuda"`` on a cluster
        whose GPU workers were started with ``--resources "GPU=1"`` (Dask's worker resources: abstract names
        the workers declare; Dask does not detect a GPU). Only workers that declare them run the partitions, and
        each runs as many at once as its resources allow. A cluster whose workers declare none of them is a
        :class:`~workload_predictor.errors.WorkloadDataError` at once, not a wait; once the fit runs, losing every
        such worker is waited for as a cluster with no worker is. ``None`` (default): any worker. Read with
        ``client`` only; a ``global_lstm`` fleet or a teacher's students, which train in this process, refuse it.

    Attributes
    ----------
    keys_ : list
        The fitted keys, sorted.
    errors_ : dict
        Key -> the typed error (:class:`~workload_predictor.errors.WorkloadDataError`) of each key
        that could not be fitted (too short, NaN, negative values, irregular timestamps).
    confidence_ : pandas.Series
        Per fitted key, ``1 - WAPE`` of its out-of-sample validation forecasts (as
        ``WorkloadPredictor.confidence_``).
    targets_ : tuple of str
    fitted_params_ : dict
        ``model``, ``horizon``, ``level``, ``window`` and ``model_params`` as fitted. :meth:`predict`
        forecasts up to the fitted horizon, :meth:`update` refits keys with these settings, and
        :meth:`save` refuses a ``model`` or ``horizon`` set to other values since :meth:`fit`.
    update_errors_ : dict
        Key -> the error of each key the last :meth:`update` could not apply (that key keeps its fit).
    time_limited_stages_ : tuple of str
        The stages ``max_training_time`` ended early in any key's fit (as
        ``WorkloadPredictor.time_limited_stages_``, plus ``"global lstm training"``, and
        ``"data-parallel processes"`` where ``distributed=n`` trained in the fleet's process for want
        of the time starting them takes), in order of first appearance; ``()`` when nothing was cut. Logged once per fit as a warning.
    time_limited_keys_ : dict
        Key -> the stages cut in that key's own fit (only keys with a cut; a batched DLinear key's are
        those of its partition's fit that applied to it). A key an :meth:`update` fits anew (a batched
        DLinear key) leaves it: no deadline cuts an update's fit.
    """

    # Not in vars(), so never saved: ``_published`` is rebuilt from the fitted attributes after load; ``_jumps`` (key ->
    # ``_Jump``, the batched keys whose last update jumped far ahead) starts empty, as a loaded predictor's undo does;
    # ``_lock``, the lock ``update`` holds (base.instance_lock).
    __slots__ = ("_published", "_jumps", "_lock")
    _fitted_attribute = "keys_"  # what predict, update, health and save check

    def __init__(
        self,
        model: str = "dlinear",
        horizon: int = 10,
        level: float = 0.9,
        n_jobs: int = 1,
        client: Any = None,
        executor: Any = None,
        strict: bool = False,
        window: int | None = None,
        model_params: dict[str, Any] | None = None,
        random_state: int | None = None,
        n_threads: int | None = 1,
        device: str = "cpu",
        max_training_time: float | None = 300.0,
        memory_limit_mb: float | None = 2048,
        max_gap: int | str | pd.Timedelta | None = DEFAULT_MAX_GAP,
        partition_size: int | None = None,
        teacher: str | None = None,
        teacher_params: dict[str, Any] | None = None,
        update_mode: str = "refit",
        resources: dict[str, float] | None = None,
    ):
        self.model = model
        self.horizon = horizon
        self.level = level
        self.n_jobs = n_jobs
        self.client = client
        self.executor = executor
        self.strict = strict
        self.window = window
        self.model_params = model_params
        self.random_state = random_state
        self.n_threads = n_threads
        self.device = device
        self.max_training_time = max_training_time
        self.memory_limit_mb = memory_limit_mb
        self.max_gap = max_gap
        self.partition_size = partition_size
        self.teacher = teacher
        self.teacher_params = teacher_params
        self.update_mode = update_mode
        self.resources = resources

    # -- copies ----------------------------------------------------------------------------
    #: Parameters that are running resources, not settings: copies share them (a thread pool or a Dask client
    #: cannot be copied, and a copy of one would run nothing the caller controls).
    _SHARED = ("client", "executor")

    def __deepcopy__(self, memo: dict) -> "FleetPredictor":
        """A deep copy of the settings and fitted state that shares ``client`` and ``executor``."""
        shared = {name: getattr(self, name) for name in self._SHARED}
        memo.update({id(value): value for value in shared.values() if value is not None})
        clone = object.__new__(type(self))
        memo[id(self)] = clone
        # The attributes as they are now (a dict copy in C, which no other thread interleaves with): an update landing
        # while they are copied one by one would mix its state with the one before it.
        vars(clone).update(copy.deepcopy(dict(vars(self)), memo))
        clone._jumps = copy.deepcopy(getattr(self, "_jumps", {}), memo)
        return clone

    def __copy__(self) -> "FleetPredictor":
        """A shallow copy: the same attribute values, ``client`` and ``executor`` included."""
        clone = object.__new__(type(self))
        vars(clone).update(vars(self))
        clone._jumps = getattr(self, "_jumps", {})
        return clone

    def __getstate__(self) -> dict[str, Any]:
        """What ``pickle`` keeps (joblib, a worker process, Dask shipping the fleet to a worker): every attribute but
        ``client`` and ``executor``, which are ``None`` in the copy, as :meth:`save` leaves them. A running resource
        holds sockets, threads and locks, and means nothing in another process; set it again where the copy runs
        (``fleet.set_params(client=...)``)."""
        state = {**vars(self), **dict.fromkeys(self._SHARED)}
        jumps = getattr(self, "_jumps", None)
        if jumps:  # a held fit's profile names objects of this process by id: found again where the copy runs
            jumps = {name: jump._replace(profile=None) if isinstance(jump, _GlobalJump) else jump
                     for name, jump in jumps.items()}
        return (state, {"_jumps": jumps}) if jumps else state

    def __sklearn_clone__(self) -> "FleetPredictor":
        """scikit-learn's ``clone``: the same parameters (deep copies, ``client`` and ``executor`` shared), unfitted."""
        params = self.get_params()
        shared = {name: params.pop(name) for name in self._SHARED}
        return type(self)(**copy.deepcopy(params), **shared)

    # -- fit -------------------------------------------------------------------------------
    @anomaly.keeping_scans
    def fit(
        self,
        data: pd.DataFrame,
        key: str = "key",
        timestamp: str = "timestamp",
        target: str | Sequence[str] = "requests",
        freq: Any = None,
        unit: str | None = None,
        origin: Any = None,
        tz: Any = None,
    ) -> "FleetPredictor":
        """Fit one model per key of the long frame ``data``. Returns ``self``.

        ``data`` has a ``key`` column, a ``timestamp`` column (any encoding
        :meth:`WorkloadPredictor.fit` accepts) and the ``target`` column(s); each key's
        rows form a regular bucketed series (a request log goes through
        ``bucketize(log, by=...)`` first). The caller's frame is never modified. Rows without a key are left
        out and reported in ``errors_`` under the key ``None``, as :meth:`update` does (``strict=True`` raises).

        Parameters
        ----------
        data : pandas.DataFrame
            The long frame, one row per key and bucket.
        key : str
            The key column.
        timestamp, target, freq, unit, origin :
            How each key's rows are read, as :meth:`WorkloadPredictor.fit` reads them (``timestamp`` names
            a column; ``None``: the frame's DatetimeIndex, as :meth:`update` reads it too).
        tz : str or None
            The zone of naive wall-clock timestamps, as :meth:`WorkloadPredictor.fit` reads it; the whole column is
            read in it first, so a row it refuses (a DST wall time) is the frame's error, not one key's. Not kept:
            pass the same ``tz=`` to :meth:`update`.

        Returns
        -------
        FleetPredictor
            ``self``, fitted.

        Raises
        ------
        WorkloadDataError
            A bad setting or frame; with ``strict=True``, the first key that cannot be fitted.
        NoKeyFittedError
            No key could be fitted (each key's error is in the error's ``errors``); nothing is stored.
        MemoryLimitError
            Every key's fit (a global LSTM's one fit) would add more than ``memory_limit_mb``; nothing is stored.
        """
        started = time.perf_counter()
        self._check_settings()
        self._check_owned_settings()
        self._check_device()
        _check_key_name(key, target)
        self._check_model_settings(len(as_target_list(target)))
        fitted_params = copy.deepcopy({name: getattr(self, name) for name in _FITTED_SETTINGS})
        data = _in_zone(data, timestamp, tz)
        # One deadline for the whole fleet's fit, from its start (see max_training_time in the class docstring).
        with _deadline.limit(self.max_training_time) as deadline:
            # Rows without a key: left out and reported under the key None, as update does (strict: refused).
            series, errors, targets = split_by_key(data, key=key, timestamp=timestamp, target=target, freq=freq,
                                                   unit=unit, origin=origin, missing_ok=not self.strict)
            for width in sorted({item.freq for item in series}):  # a span shorter than a key's bucket: refused
                gap_buckets(self.max_gap, width)
            self._raise_if_strict(errors)
            blocks, predictors, fit_errors, global_state = self._fit_series(series, targets)
        errors.update(fit_errors)
        self._raise_if_strict(errors)
        order = {k: i for i, k in enumerate(s.key for s in series)}
        fitted = sorted((k for k in order if k not in errors), key=order.get)
        if not fitted and errors:  # nothing to forecast: the fit fails (a fitted fleet keeps its fit)
            ordered = dict(sorted(errors.items(), key=lambda item: order.get(item[0], -1)))
            first, error = next(iter(ordered.items()))
            raise NoKeyFittedError(f"no key could be fitted ({plural(len(errors), 'key')} in error); the first, key "
                                   f"{quote(str(first))}: {error}", ordered) from error
        batched = {}  # the stages the batched DLinear fit cut, per key (recorded on its blocks)
        for block in blocks:
            batched.update(vars(block).pop("_time_limited", {}))
        limited = {k: predictors[k].time_limited_stages_ if k in predictors else batched[k] for k in fitted
                   if (k in predictors and predictors[k].time_limited_stages_) or batched.get(k)}
        stages = list(deadline.stages)
        if global_state is not None and getattr(global_state.model, "stopped_by_", None) == "time_limit":
            stages.append("global lstm training")
        for key_stages in limited.values():
            stages.extend(stage for stage in key_stages if stage not in stages)
        if stages:
            # A global network's training cut short is every key's, which time_limited_keys_ (per key's own fit)
            # does not list.
            which = ("the global network, every key" if global_state is not None
                     else f"{plural(len(limited), 'key')}; time_limited_keys_")
            logger.warning("fleet fit reached max_training_time=%gs; ended early: %s (%s)",
                           self.max_training_time, ", ".join(stages), which)
        with instance_lock(self):  # after an update running in another thread, never in its middle
            self._publish(
                keys_=fitted, errors_=dict(sorted(errors.items(), key=lambda item: order.get(item[0], -1))),
                targets_=targets, key_=key, fitted_params_=fitted_params, _blocks=blocks, _predictors=predictors,
                _global=global_state,
                update_errors_={}, fit_seconds_=time.perf_counter() - started,
                time_limited_stages_=tuple(stages), time_limited_keys_=limited, jumps={},
            )
        return self

    def _check_settings(self) -> None:
        BaseForecaster._check_horizon(self)  # first: the model's length check below reads it
        if self.model not in GLOBAL_MODELS:
            registry.get(self.model)  # a typed error naming the registered models
            model = WorkloadPredictor(**self._config(())["settings"])._build_model()  # model_params checked once, here
            # The settings the length check reads (the window, the validation split, DLinear's all) once for the
            # fleet, not as each key's error.
            model.check_settings()
        WorkloadPredictor(level=self.level)._check_level()
        # A bad max_gap fails at fit, not at the first update (a span against each key's buckets once they are known).
        gap_buckets(self.max_gap, pd.Timedelta(1, "ns"))
        registry.check_runtime_settings(self)  # random_state, n_threads and the device's name, as WorkloadPredictor
        check_limit(self.memory_limit_mb)
        if not isinstance(self.strict, (bool, np.bool_)):
            raise WorkloadDataError(f"strict={quote(self.strict)} must be True or False.")
        teacher = getattr(self, "teacher", None)
        if teacher is not None and (teacher != "global_lstm" or self.model != "dlinear"):
            raise WorkloadDataError(f"teacher={teacher!r:.40} with model={self.model!r:.40}: distillation trains "
                                    "per-key DLinear students of the global LSTM; use model='dlinear', "
                                    "teacher='global_lstm' (or teacher=None).")
        if teacher is None and getattr(self, "teacher_params", None) is not None:
            raise WorkloadDataError(f"teacher_params={quote(self.teacher_params)} without a teacher: they set the "
                                    "teacher's network; pass teacher='global_lstm' too (or drop teacher_params).")
        mode = self._update_mode()
        half_life = self.model_params.get("half_life") if isinstance(self.model_params, dict) else None
        if self.model == "dlinear" and teacher is None and half_life is not None and mode == "refit":
            raise WorkloadDataError(f"model_params['half_life']={quote(half_life)} with update_mode='refit': each "
                                    "update refits a key on its newest buckets, weighed equally, so nothing would "
                                    "forget; pass update_mode='incremental' (each key's own DLinear forgets at its "
                                    "updates) or drop half_life.")
        transform = self.model_params.get("transform") if isinstance(self.model_params, dict) else None
        if self.model == "dlinear" and transform is not None:
            raise WorkloadDataError(f"model_params['transform']={quote(transform)} with model='dlinear': a DLinear "
                                    "fleet is solved as one batched problem on the loads as they are; pass "
                                    "model='dlinear_log' (each key its own DLinear on log(1 + load)) and drop "
                                    "transform.")
        n_jobs = self.n_jobs
        if not is_integer(n_jobs) or (n_jobs < 1 and n_jobs != -1):
            raise WorkloadDataError(f"n_jobs={quote(n_jobs)} must be a positive number of processes, or -1 for one per CPU.")
        if self.client is not None and self.executor is not None:
            raise WorkloadDataError("pass client= (Dask) or executor= (concurrent.futures), not both.")
        client, executor = self.client, self.executor
        if client is not None and not all(callable(getattr(client, name, None)) for name in ("map", "gather",
                                                                                            "nthreads")):
            address = " (connect to the scheduler with distributed.Client(address))" if isinstance(client, str) else ""
            raise WorkloadDataError(f"client={quote(client)} is not a dask.distributed.Client{address}; pass the "
                                    "Client, or client=None to fit in this process.")
        if executor is not None and not all(callable(getattr(executor, name, None)) for name in ("submit", "map")):
            raise WorkloadDataError(f"executor={quote(executor)} is not a concurrent.futures.Executor; pass one (e.g. "
                                    "ThreadPoolExecutor()), or executor=None.")
        if self.model not in GLOBAL_MODELS and teacher is None:  # the models whose partitions the client runs
            self._check_client()
        resources = self.resources
        if resources is not None and (not isinstance(resources, collections.abc.Mapping) or not resources or not all(
                isinstance(name, str) and name and isinstance(amount, (int, float, np.integer, np.floating))
                and not isinstance(amount, (bool, np.bool_)) and math.isfinite(amount) and amount > 0
                for name, amount in resources.items())):
            raise WorkloadDataError(f"resources={quote(resources)} must map Dask worker resource names to the positive "
                                    "amount each partition needs (e.g. {'GPU': 1}), or be None.")
        if resources is not None and client is not None and (self.model in GLOBAL_MODELS or teacher is not None):
            what = "model='global_lstm'" if self.model in GLOBAL_MODELS else f"teacher={quote(teacher)}"
            raise WorkloadDataError(f"resources={quote(resources)} with {what}: that network trains in this process, "
                                    "not in partitions on the Dask cluster, so no worker resource applies; pass "
                                    "resources=None (and device= for this process's GPU).")
        size = self.partition_size
        if size is not None and not is_positive_int(size):
            raise WorkloadDataError(f"partition_size={quote(size)} must be a positive number of keys (or None).")

    def _check_model_settings(self, n_targets: int) -> None:
        """The settings a per-key model checks at the start of its fit, before it reads the series (an LSTM's
        network, an ensemble's members and each member's own), checked once here: a bad one is the fit's error,
        not the same error in ``errors_`` once per key (thousands of keys, thousands of copies, and no key fitted).
        The batched DLinear and baseline settings are checked by :meth:`_check_settings`; a global model's by its
        own ``_check_params``."""
        if self.model in GLOBAL_MODELS:
            return
        model = WorkloadPredictor(**self._config(())["settings"])._build_model()
        if self.teacher is not None:  # per-key DLinear students: their candidate windows, as a fit checks them
            model._check_candidates()
            return
        with memory_limit(self.memory_limit_mb):  # a network too large for the limit whatever the data, as a key's
            _check_model_settings(model, n_targets)

    def _check_client(self) -> None:
        """A typed error for a Dask ``client`` closed since it was passed (a fleet fitted inside ``with Client(...)``
        and updated after the block): Dask's own answer is an ``AttributeError`` from deep inside ``distributed``."""
        status = getattr(self.client, "status", None)
        if self.client is not None and status in ("closing", "closed"):
            raise WorkloadDataError(f"client={quote(self.client)} is {status}: it cannot run the fleet's partitions. "
                                    "Pass a running Client (fleet.set_params(client=...)), or client=None to fit "
                                    "in this process.")
        if self.client is not None and getattr(self.client, "asynchronous", False) is True:
            # Called in the thread that runs the client's event loop (``Client(asynchronous=True)`` in a coroutine):
            # its calls return coroutines, and waiting here for the partitions would block the loop that runs them.
            raise WorkloadDataError(f"client={quote(self.client)} is asynchronous and this call runs in its event "
                                    "loop, which a fit waiting here would block. Call the fleet from another thread "
                                    "(await asyncio.to_thread(fleet.fit, ...)), or pass a synchronous Client.")

    def _check_owned_settings(self) -> None:
        """A typed error for a fleet setting given again in the global model's ``model_params`` or the teacher's
        ``teacher_params``: it would override the fleet's (a network of another horizon than the fleet
        forecasts, saves and loads; students that cannot read the teacher's forecasts)."""
        given = []
        if self.model in GLOBAL_MODELS:
            given.append(("model_params", self.model_params, ("window",) if self.window is not None else ()))
        if getattr(self, "teacher", None) is not None:
            given.append(("teacher_params", getattr(self, "teacher_params", None), ()))
        for name, params, also in given:
            if params is not None and not isinstance(params, collections.abc.Mapping):
                raise WorkloadDataError(f"{name}={quote(params)} must be a dict of GlobalLSTM parameters, or None.")
            owned = [setting for setting in (*_FLEET_OWNED, *also) if setting in (params or {})]
            if owned:
                setting = owned[0]
                raise WorkloadDataError(
                    f"{name}[{quote(setting)}]={quote(params[setting])} sets the fleet's own {setting} "
                    f"(FleetPredictor({setting}={quote(getattr(self, setting))})); pass it as "
                    f"FleetPredictor({setting}=...) and leave it out of {name}.")

    def _check_device(self) -> None:
        """A device other than the CPU must be one torch sees (a typed error here, once, not one per key or a
        crash inside torch); torch is imported only then. Partitions on a Dask cluster are checked on the workers
        that run them (:class:`_ClusterRun`), not here: the fleet's process may have no GPU."""
        on_cluster = self.client is not None and self.model not in GLOBAL_MODELS and getattr(self, "teacher", None) is None
        if self.device not in ("cpu", "auto") and not on_cluster:
            from .models.torch_runtime import resolve_device

            resolve_device(self.device)

    def _device_here(self) -> bool:
        """Whether the fleet's ``device`` can run its partitions here (:meth:`_check_device` passes; torch missing
        counts as no GPU). An update's refit solves on the CPU where it cannot: a file written on a GPU host
        updates on a host without one, as a per-key model's update does; a fit raises the typed error."""
        try:
            self._check_device()
        except (WorkloadDataError, ImportError):
            return False
        return True

    def _check_fitted(self) -> None:
        """``fitted_params_`` names the fitted settings, and they pass the checks ``fit`` ran on them (for a file)."""
        fitted = self.fitted_params_
        if not isinstance(fitted, dict) or sorted(fitted, key=str) != sorted(_FITTED_SETTINGS):
            raise WorkloadDataError(f"fitted_params_={quote(fitted)} must name {', '.join(_FITTED_SETTINGS)}.")
        settings = {name: value for name, value in fitted.items() if name != "model"}
        WorkloadPredictor(**settings)._check_level()
        if fitted["model"] not in GLOBAL_MODELS:
            registry.get(fitted["model"])
            WorkloadPredictor(model=fitted["model"], **settings)._build_model().check_settings()

    def _fitted(self, state: Any = None) -> dict[str, Any]:
        """``fitted_params_`` (a file saved before they were recorded: the parameters, which its checks compared
        with its state), of ``state`` (a :meth:`_state`; default: the fleet's attributes)."""
        fitted = getattr(self if state is None else state, "fitted_params_", None)
        return fitted if fitted is not None else {name: getattr(self, name) for name in _FITTED_SETTINGS}

    def _publish(self, *, jumps: dict | None = None, **changes: Any) -> None:
        """Set the fitted attributes ``changes`` and publish them, with the others, as one state in one assignment
        (and ``jumps`` as ``_jumps``, where given): a reader in another thread (:meth:`_state`) reads the state before
        or the one after, never a mix, and so does an interrupted commit (:func:`~.models.base.commit`)."""
        held = {**vars(self), **changes}
        published = types.SimpleNamespace(**{name: held.get(name) for name in _FITTED_STATE})
        commit(self, changes, {"_published": published} if jumps is None else {"_published": published, "_jumps": jumps})

    def _state(self) -> types.SimpleNamespace:
        """The fitted state last published by ``fit`` or ``update`` (``_FITTED_STATE``): every reader reads it once.
        A loaded or copied fleet's is published from its attributes at the first read."""
        try:
            return self._published
        except AttributeError:
            with instance_lock(self):  # not beside an update's commit
                try:
                    return self._published
                except AttributeError:
                    self._publish()
                    return self._published

    def _raise_if_strict(self, errors: dict) -> None:
        if self.strict and errors:
            first, error = next(iter(errors.items()))
            named = f"key {quote(str(first))}"
            # Named once: a message about the key itself ("key 'zz' was not fitted") names it already; the rows
            # without a key (under None) are no key's.
            keyed = first is not None and not str(error).startswith(named)
            try:
                raised = copy.copy(error)  # what the key's error holds (an UpdateOrderError's buckets, the rows it names)
            except Exception:  # noqa: BLE001 - an error type that cannot be made again from its args: its message
                raised = WorkloadDataError(str(error))
            if keyed:
                prefix = f"{named}: "
                raised.args = (prefix + str(error),)
                spans = getattr(error, "_row_spans", ())  # the rows' places in the message, after the name
                if spans:
                    raised._row_spans = tuple((start + len(prefix), end + len(prefix)) for start, end in spans)
            raise raised from error

    def _config(self, targets: tuple[str, ...], fitted: bool = False, per_key: bool = False) -> dict[str, Any]:
        """What a partition's fit reads; ``fitted``: with the model settings as fitted (an update's fits);
        ``per_key``: each key as its own ``WorkloadPredictor``, DLinear's too (not one batched problem)."""
        settings = {name: getattr(self, name) for name in _PREDICTOR_SETTINGS}
        if fitted:
            settings.update(self._fitted())
        settings["verbose"] = False  # no progress bar per key (thousands of keys would print thousands)
        # The fleet's deadline on the wall clock, for partitions fitted in other processes.
        left = _deadline.current().left()
        return dict(settings=settings, targets=targets, ends_at=None if left is None else time.time() + left,
                    fleet_thread=(os.getpid(), threading.get_ident()), per_key=per_key,
                    models=_built_models(settings))

    def _fit_series(self, series: list[KeySeries], targets: tuple[str, ...]):
        """Fit every key: returns DLinear blocks, per-key predictors, errors and the global model's state."""
        if not series:
            return [], {}, {}, None
        if self.model in GLOBAL_MODELS:
            state, errors = self._fit_global(series)
            return [], {}, errors, state
        if self.teacher is not None:  # per-key DLinear students of a teacher (models/distill.py)
            from .models.distill import fit_fleet_students

            predictors, errors = fit_fleet_students(self, series, targets)
            return [], predictors, errors, None
        return (*self._fit_partitions(series, self._config(targets)), None)

    def _fit_partitions(self, series: list[KeySeries], config: dict[str, Any]):
        """Fit ``series`` by partitions with ``config`` (:meth:`_config`): blocks, per-key predictors and errors."""
        try:
            parts = self._partitions(series, config["settings"]["model"])
            if self._runs_here(len(parts)):
                results = [_fit_partition(config, part) for part in parts]
            else:
                # A partition travels as a few large arrays and its blocks come back without the series the
                # parent already holds: ten thousand small arrays cost Dask (and loky) far more to serialise.
                results = self._map(functools.partial(_fit_packed, config), parts, pack=PackedSeries.pack)
                by_key = {item.key: item for item in series}
                for part_blocks, _, _ in results:
                    for block in part_blocks:
                        block.values = np.stack([by_key[name].values for name in block.keys])
        except Exception:
            # A Client closed during the call (by another thread, at the end of its ``with`` block, or its scheduler
            # lost past its reconnect timeout): Dask's own error (a cancelled future, a closed connection) says
            # neither what happened nor what to do; the typed error of a Client closed before the call does.
            self._check_client()
            raise
        blocks, predictors, errors = [], {}, {}
        for part_blocks, part_predictors, part_errors in results:
            blocks.extend(part_blocks)
            predictors.update(part_predictors)
            errors.update(part_errors)
        over = [(name, error) for name, error in errors.items() if isinstance(error, MemoryLimitError)]
        if over and not blocks and config["settings"]["model"] == "dlinear" and not config.get("per_key"):
            # no key fits within the limit, alone
            name, error = over[0]
            raise MemoryLimitError(f"key {quote(str(name))}: {error} No key of this fleet could be fitted within the "
                                   "limit, not even alone.")
        return blocks, predictors, errors

    def _fit_global(self, series: list[KeySeries]) -> tuple[FleetGlobal | None, dict]:
        """One GlobalLSTM over every key, in this process (its own ``distributed=`` setting spreads training)."""
        from .models.global_lstm import GlobalLSTM, check_param_names

        given = {**{name: getattr(self, name) for name in ("horizon", "window", "random_state", "n_threads", "device",
                                                             "max_training_time")}, **(self.model_params or {})}
        # The fleet's own settings, which it refuses in model_params (_check_owned_settings).
        check_param_names(self.model_params or {}, "model_params",
                          (*_FLEET_OWNED, *(("window",) if self.window is not None else ())))
        model = GlobalLSTM(**{k: v for k, v in given.items() if k in GlobalLSTM._param_names()})
        model._check_params()  # a bad setting is the fleet's error, not each key's
        by_key = {item.key: item for item in series}
        try:
            with memory_limit(self.memory_limit_mb):  # what the one fit over every key adds, as a key's fit
                model.fit([item.values for item in series], [item.key for item in series])
        except MemoryLimitError:  # one network for every key: no key fits within the limit
            raise
        except NoKeyFittedError as exc:  # no key is long enough: every key gets the error (another is the fit's)
            return None, {item.key: exc for item in series}
        fitted = [by_key[key] for key in model.keys_]
        state = FleetGlobal(
            model=model, keys=list(model.keys_), start=np.array([i.start for i in fitted], dtype="datetime64[ns]"),
            length=np.array([len(i.values) for i in fitted], dtype=np.int64), freqs=[i.freq for i in fitted],
            **_global_calibration(model, self.level))
        return state, dict(model.errors_)

    def _workers(self) -> int:
        if self.client is not None:
            return max(1, sum(self.client.nthreads().values()))
        if self.executor is not None:
            return max(1, getattr(self.executor, "_max_workers", 1))
        return (os.cpu_count() or 1) if self.n_jobs == -1 else int(self.n_jobs)

    def _partitions(self, series: list[KeySeries], model: str) -> list[list[KeySeries]]:
        """Consecutive runs of keys: as many partitions as ``PARTITIONS_PER_WORKER`` per worker, no larger
        than ``DLINEAR_PARTITION`` keys for DLinear (or ``partition_size`` keys when given)."""
        size = self.partition_size
        if size is None:
            workers = self._workers()
            size = math.ceil(len(series) / (PARTITIONS_PER_WORKER * workers)) if workers > 1 else len(series)
            if model == "dlinear":
                size = min(size, DLINEAR_PARTITION)
        return [series[i : i + size] for i in range(0, len(series), max(1, int(size)))]

    def _runs_here(self, n_parts: int) -> bool:
        """Whether ``n_parts`` partitions are fitted in this process (no client, no executor, one job)."""
        return self.client is None and self.executor is None and (self._workers() == 1 or n_parts == 1)

    def _map(self, func, parts: list, pack: Any = None) -> list:
        """``func`` over ``parts``, in order, where the fleet was told to run them; ``pack``: what each partition
        travels as (applied to a partition as it is sent)."""
        if self.client is not None:
            return _ClusterRun(self.client, func, pack, self.resources, self.device).run(parts)
        if pack is not None:
            parts = [pack(part) for part in parts]
        if self.executor is not None:
            try:
                results = self.executor.map(func, parts)  # every partition is submitted here, none has run yet
            except RuntimeError as exc:  # shut down (a `with` block that ended) or broken (a worker died)
                raise WorkloadDataError(f"executor={quote(self.executor)} cannot run the fleet's partitions "
                                        f"({type(exc).__name__}: {cut(exc)}). Pass a running executor "
                                        "(fleet.set_params(executor=...)), or executor=None to fit in this "
                                        "process.") from exc
            return list(results)
        if self._runs_here(len(parts)):
            return [func(part) for part in parts]
        # joblib's loky processes: started once and reused by later fits, robust to threads in this process
        # (torch, BLAS) and to a __main__ that cannot be re-imported (a REPL, a notebook, stdin).
        from joblib import Parallel, delayed

        return Parallel(n_jobs=min(self._workers(), len(parts)), backend="loky")(delayed(func)(part) for part in parts)

    # -- predict ---------------------------------------------------------------------------
    def predict(self, steps: int | None = None, level: float | None = None) -> pd.DataFrame:
        """Forecast ``steps`` buckets (default: the fitted horizon) after each key's last bucket.

        Returns a long frame: the key column, ``timestamp`` (UTC bucket start), a
        ``target`` column when the fleet has several targets, ``yhat``, ``lower`` and
        ``upper`` (the interval at ``level``), sorted by key (then target) and time.
        Keys in ``errors_`` have no rows. Nor has a key whose buckets would end past 2262-04-11 23:47:16 UTC, the
        last instant pandas' nanosecond timestamps hold: it is that key's problem, left out with a logged warning
        (``workload_predictor.fleet``) naming it and the steps that fit, and the others are forecast; with
        ``strict=True``, or where no key is left, the forecast raises that key's error. The key column holds the
        keys of ``keys_``, typed as pandas types those values (an ``int32`` or ``Int64`` key column's keys as
        ``int64``, a ``category`` or ``string`` column's as text): the same after :meth:`save` and :meth:`load`, and
        equal to the fitted frame's keys, so a merge on the key column with that frame matches every key.

        ``level`` (in (0, 1); default: the level the fleet was fitted at, ``fitted_params_["level"]``): another
        level is calibrated from each key's out-of-sample validation errors, as a fit at that level calibrates it
        (:meth:`WorkloadPredictor.predict`), for a per-key model's key and a ``global_lstm`` fleet's keys. A batched
        DLinear key keeps its interval at the fitted level, not its validation errors: a fleet that holds one
        refuses another level (:class:`~workload_predictor.errors.WorkloadDataError`; fit it at that level).

        Parameters
        ----------
        steps : int or None
            Buckets to forecast, at most the fitted horizon; ``None``: the fitted horizon.
        level : float or None
            The interval's coverage, in (0, 1); ``None``: the fitted level.

        Returns
        -------
        pandas.DataFrame
            The long frame described above.

        Raises
        ------
        NotFittedError
            Before :meth:`fit`.
        WorkloadDataError
            A bad ``steps`` or ``level``, or another level for a fleet holding a batched DLinear key; a key whose
            buckets would end past 2262-04-11 23:47:16 UTC where ``strict=True`` or no other key is left.
        """
        frame, refused = self._forecast(steps, level)
        if refused:
            first, error = next(iter(refused.items()))
            others = [quote(name) for name in list(refused)[1:11]]
            rest = f" and {len(refused) - 11:,} more" if len(refused) > 11 else ""
            more = f" Also left out, each for the same reason: {', '.join(others)}{rest}." if others else ""
            logger.warning("fleet forecast left out %s whose buckets would pass the last nanosecond timestamp, the "
                           "others are forecast: %s%s", plural(len(refused), "key"), error, more)
        return frame

    def _forecast(self, steps: int | None, level: float | None, raising: bool = True) -> tuple[pd.DataFrame, dict]:
        """:meth:`predict`'s frame and ``{key: WorkloadDataError}`` of the keys it left out (buckets past 2262);
        ``raising=False`` leaves them out even where ``strict`` or none is left."""
        check_is_fitted(self, "keys_")
        state = self._state()  # one read: every value below comes from one fit's or update's state
        return self._forecast_frame(state, *self._forecast_numbers(state, steps, level), raising)

    def _forecast_numbers(self, state: types.SimpleNamespace, steps: int | None,
                          level: float | None) -> tuple[list, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Every fitted key's forecast numbers, without timestamps: its keys in ``keys_``'s order, the clipped point
        forecasts and half-widths ``[N, steps, k]``, each key's newest bucket (datetime64[ns]) and bucket width."""
        fitted = self._fitted(state)
        steps = BaseForecaster._check_steps(types.SimpleNamespace(horizon=fitted["horizon"]), steps)
        level = _other_level(state, level, fitted["level"])  # None: the fitted level's half-widths
        k = len(state.targets_)
        keys, starts, freqs, point, halfwidth = [], [], [], [], []
        blocks, predictors = state._blocks, state._predictors
        for block in blocks:
            n = block.values.shape[1]
            keys.extend(block.keys)
            starts.append(block.start + (n - 1) * block.freq.to_timedelta64())
            freqs.append(np.full(len(block.keys), block.freq.to_timedelta64()))
            point.append(block.point(steps))
            halfwidth.append(block.halfwidth[:, :steps])
        if predictors:
            own = [predictor._snapshot() for predictor in predictors.values()]
            keys.extend(predictors)
            # A zone-aware Timestamp's datetime64 is its UTC wall time.
            starts.append(np.array([held.last_timestamp.to_datetime64() for held in own], dtype="datetime64[ns]"))
            freqs.append(np.array([held.freq.to_timedelta64() for held in own], dtype="timedelta64[ns]"))
            point.append(_own_points(own, steps, k))
            if level is None:
                halfwidth.append(np.array([held.halfwidth[:steps] for held in own]))
            else:
                halfwidth.append(np.array([predictor._interval_at(held, level)[0][:steps]
                                           for predictor, held in zip(predictors.values(), own)]))
        if state._global is not None:
            held = state._global
            step = np.array([f.to_timedelta64() for f in held.freqs], dtype="timedelta64[ns]")
            keys.extend(held.keys)
            starts.append(held.start + (held.length - 1) * step)
            freqs.append(step)
            point.append(np.stack(held.model._map_predict(steps)))  # clipped below with the others
            # Another level: each key's validation windows, as its fit and updates calibrate them (the keys in the
            # model's order, as held.keys are).
            halfwidth.append(held.halfwidth[:, :steps] if level is None
                             else _global_calibration(held.model, level)["halfwidth"][:, :steps])
        if not keys:
            empty = np.empty((0, steps, k))
            return [], empty, empty, np.empty(0, dtype="datetime64[ns]"), np.empty(0, dtype="timedelta64[ns]")
        yhat = np.clip(np.concatenate(point), 0.0, None)  # [N, steps, k]
        half = np.concatenate(halfwidth)
        last = np.concatenate(starts)
        step = np.concatenate(freqs)
        position = {name: i for i, name in enumerate(state.keys_)}
        order = np.argsort([position[name] for name in keys], kind="stable")
        return [keys[i] for i in order], yhat[order], half[order], last[order], step[order]

    def _forecast_frame(self, state: types.SimpleNamespace, keys: list, yhat: np.ndarray, half: np.ndarray,
                        last: np.ndarray, step: np.ndarray, raising: bool) -> tuple[pd.DataFrame, dict]:
        """:meth:`_forecast_numbers`' keys as :meth:`predict`'s frame, with timestamps, and ``{key:
        WorkloadDataError}`` of the keys left out, whose buckets would end past 2262 (see :meth:`_forecast`)."""
        k, steps = len(state.targets_), yhat.shape[1]
        columns = [state.key_, "timestamp", *(["target"] if k > 1 else []), "yhat", "lower", "upper"]
        if not keys:
            return pd.DataFrame({name: [] for name in columns}), {}
        refused = _future_stamp_errors(keys, last, step, steps)
        if refused:
            # That key's problem (strict, or no key left: raised): the others are forecast.
            if raising and (self.strict or len(refused) == len(keys)):
                raise next(iter(refused.values()))
            kept = np.setdiff1d(np.arange(len(keys)), np.fromiter(refused, dtype=np.intp, count=len(refused)))
            yhat, half, last, step = yhat[kept], half[kept], last[kept], step[kept]
            refused = {keys[i]: error for i, error in refused.items()}
            keys = [keys[i] for i in kept]
        stamps = last[:, None] + np.arange(1, steps + 1)[None, :] * step[:, None]  # [N, steps]
        # Rows: key, then target, then step.
        frame = {
            state.key_: pd.Index(keys, tupleize_cols=False).repeat(k * steps),
            "timestamp": pd.DatetimeIndex(np.repeat(stamps[:, None, :], k, axis=1).ravel()).tz_localize("UTC"),
        }
        if k > 1:
            frame["target"] = np.tile(np.repeat(np.array(state.targets_, dtype=object), steps), len(keys))
        yhat, half = yhat.transpose(0, 2, 1).ravel(), half.transpose(0, 2, 1).ravel()
        lower, upper = interval(yhat, half)
        frame.update(yhat=yhat, lower=lower, upper=upper)
        return pd.DataFrame(frame), refused

    @property
    def confidence_(self) -> pd.Series:
        """Per fitted key, the confidence (``1 - WAPE`` on its validation tail) in ``[0, 1]``."""
        check_is_fitted(self, "keys_")
        state = self._state()
        values = {}
        blocks, predictors = state._blocks, state._predictors
        for block in blocks:
            values.update(zip(block.keys, map(float, block.confidence)))
        values.update({name: float(p.confidence_) for name, p in predictors.items()})
        if state._global is not None:
            values.update(zip(state._global.keys, map(float, state._global.confidence)))
        index = pd.Index(state.keys_, name=state.key_, tupleize_cols=False)  # tuple keys as they are, not levels
        return pd.Series([values[name] for name in state.keys_], index=index, name="confidence", dtype="float64")

    # -- health ----------------------------------------------------------------------------
    def health(self, thresholds: dict | None = None, now: Any = None) -> pd.DataFrame:
        """Per fitted key, what a :meth:`WorkloadPredictor.health` rates that every key has: a frame indexed by key.

        Columns: ``level`` (the key's worst known level), then for each metric its value and its level
        (``ok``, ``warning``, ``critical`` or ``unknown``): ``accuracy`` (the key's confidence, ``1 - WAPE`` of its
        validation forecasts; not rated by default), ``relative_error`` (its validation error over the naive forecast's
        error over the horizon on its series: a global key's on the points the network keeps of it and on the series
        it was fitted on),
        ``input_anomaly`` (buckets flagged among its newest 1000, as a predictor fitted and updated on its series
        counts them: a batched DLinear key's as its fit's and refits' scans flag them;
        ``unknown`` for a global key, and for a batched key of a file saved before the counts were kept until its next
        refit) and, with ``now``, ``stale_buckets`` (the whole buckets that ended after the key's newest
        bucket and before ``now``: a key whose updates stopped, or were refused; or the whole buckets between ``now``
        and a newest bucket that starts after it: a clock running ahead), ``idle_fit`` (the share of the buckets the
        key's fit rests on that lie in idle stretches: a batched key's refitted span, a key's own predictor's fit and
        updates; ``unknown`` for a global key, whose shared network rests on every key's windows), ``stuck_input``
        (the newest buckets in a row in which a target repeats the bucket before's non-zero count exactly, the longest
        of the targets' runs, a stuck sensor: among a batched key's refitted buckets, a global key's buckets the network keeps, or a key's own
        predictor's fit and updates); and
        ``update_error``, the message of the key's error at the last :meth:`update` (``None`` if it had none).

        Parameters
        ----------
        thresholds : dict or None
            ``{metric: (warning, critical)}`` (or ``None``: not rated) for any of the six metrics, as :meth:`WorkloadPredictor.health`
            takes them (defaults: ``workload_predictor.health.DEFAULT_THRESHOLDS``; ``stale_buckets``: warning at
            ``min(2, horizon)``, critical at the fitted horizon).
        now : timestamp or None
            The time it is (any timestamp ``fit`` reads, naive as UTC), e.g. ``pd.Timestamp.now(tz="UTC")``;
            ``None``: ``stale_buckets`` is not measured.
        """
        check_is_fitted(self, "keys_")
        return self._health(self._state(), thresholds, now)

    def _health(self, state: types.SimpleNamespace, thresholds: dict | None, now: Any) -> pd.DataFrame:
        from .health import fleet_health

        return fleet_health(self._health_states(state), self._fitted(state)["horizon"], thresholds, now, state.key_)

    def check_alerts(self, thresholds: dict | None = None, now: Any = None) -> list[dict[str, Any]]:
        """Every key's metric at warning or critical level in :meth:`health` (as ``{"key", "metric", "value",
        "level", "warning", "critical", "message"}``), each logged (``workload_predictor.health``: ``WARNING``
        for a warning, ``ERROR`` for a critical level).

        Parameters
        ----------
        thresholds, now :
            As :meth:`health` takes them.

        Returns
        -------
        list of dict
            One per key and metric at warning or critical level.
        """
        from .health import fleet_thresholds, log_fleet_alerts

        check_is_fitted(self, "keys_")
        state = self._state()
        frame = self._health(state, thresholds, now)
        return log_fleet_alerts(frame, fleet_thresholds(thresholds, self._fitted(state)["horizon"]))

    def _health_states(self, held: types.SimpleNamespace) -> list[tuple[Any, Any, str | None]]:
        """``(key, state, update error)`` per fitted key of ``held`` (a :meth:`_state`), in ``keys_`` order: a key's
        own predictor, or what a batched or global key holds (its newest bucket, bucket width and confidence)."""
        states = {}
        blocks, predictors = held._blocks, held._predictors
        for block in blocks:
            for row, name in enumerate(block.keys):
                states[name] = types.SimpleNamespace(last_timestamp_=block.last_timestamp(row), freq_=block.freq,
                                                     confidence_=float(block.confidence[row]),
                                                     idle_fit_=block.idle_fit(row),
                                                     stuck_input_=block.stuck_input(row, held.targets_),
                                                     relative_error_=block.relative_error(row, held.targets_))
                if block.recent_flags is not None:  # counted as a predictor counts its input_anomaly_buckets_
                    states[name].input_anomaly_ = (block.flagged_count(row), None)
        states.update(predictors)
        if held._global is not None:
            state, level = held._global, self._fitted(held)["level"]
            for j, name in enumerate(state.keys):
                # The shared network rests on every key's windows: one key's idle stretch is not its fit's. Its
                # input is the key's own: the run its newest buckets the network keeps (recent_) end with.
                states[name] = types.SimpleNamespace(last_timestamp_=state.last_timestamp(j), freq_=state.freqs[j],
                                                     confidence_=float(state.confidence[j]), idle_fit_=(None, None),
                                                     stuck_input_=state.stuck_input(j, held.targets_),
                                                     relative_error_=state.relative_error(j, held.targets_, level))
        errors = held.update_errors_
        return [(name, states[name], str(errors[name]) if name in errors else None) for name in held.keys_]

    # -- update ----------------------------------------------------------------------------
    @serialised
    def update(
        self,
        data: pd.DataFrame,
        timestamp: str = "timestamp",
        unit: str | None = None,
        origin: Any = None,
        *,
        key: str | None = None,
        target: str | Sequence[str] | None = None,
        tz: Any = None,
    ) -> "FleetPredictor":
        """Append new buckets to the keys in ``data`` (a long frame as ``fit`` takes). Returns ``self``.

        Each key's rows continue its series on its grid, as :meth:`WorkloadPredictor.update`
        requires (skipped buckets are zero, at most ``max_gap`` of them in a run). Every per-key
        model's key is updated by its own ``WorkloadPredictor.update``, so its forecast equals that
        of a ``WorkloadPredictor`` fitted on the key's series and given the same updates. A key of
        a batched DLinear block, by ``update_mode``:

        * ``"refit"``: refitted, batched by partitions where the fleet fits, on its newest buckets, as
          many as it was fitted on, with the settings it was fitted with (``fitted_params_``,
          whatever was set since); its forecast equals ``WorkloadPredictor.fit`` on those buckets, but that
          the buckets its updates zero-filled which a predictor updated with them counts lost (``lost_buckets_``)
          are read as that predictor reads them: at their reference median in the forecast's inputs and the
          validation windows, whose interval leaves out those they are targets of.
        * ``"incremental"``: at its first update it gets its own predictor, fitted as above on the
          series the fleet fitted it on (no deadline), then updated; it then updates as a per-key
          model's key. That first update costs about one fit per key, every later one about 1 ms
          per key, the same after a day of buckets or a month. With ``model_params={"half_life":
          ...}`` the updates forget as DLinear's do.

        Neither the cost of an update nor a key's state grows with its history (see ``update_mode``
        for the state each holds). Fit the fleet again to apply a ``model``, ``horizon``, ``level`` or
        ``window`` set since.

        A ``global_lstm`` fleet keeps its network, as neuralforecast and darts forecast
        new data with a fitted global model: each key's new buckets extend the history
        its next forecast reads (:meth:`GlobalLSTM.update
        <workload_predictor.models.global_lstm.GlobalLSTM.update>`). The windows they
        complete are first forecast by the fleet as it was and replace each key's
        oldest validation windows, from which its interval and confidence are
        recomputed (as a per-key update does); then the shared linear base absorbs
        them exactly. A key without rows keeps its history and calibration, but its
        forecast follows the shared base. The network is not retrained: fit the fleet
        again to retrain it.

        A key's update whose rows jump far ahead (a clock glitch: before its first row, or between
        two rows) is undone by that key's later rows if they start before the jumped bucket, with
        the key's stray updates since, as :meth:`WorkloadPredictor.update` undoes it (an
        :class:`~workload_predictor.errors.UndoneJumpWarning` naming the key). A batched ``"refit"``
        key keeps its series from before the jump for this while its updates end fewer buckets past
        the jumped bucket than a jump is wide (the predictor's rule). A ``global_lstm``
        key follows the same rule: the fleet keeps its fit from before that update, the buckets it
        added and those of every update since (any key's: the keys an update calibrates read the
        shared base, which held the stray rows), and the undoing update applies them all again
        without the key's stray rows, then its own. Rows of several keys in one update undo each
        key's held jump, made by one update or by several (from the oldest, each key's stray rows
        dropped from its own jumping update on). It holds as many updates since as a jump is
        wide, with as many buckets as that many updates of one bucket a key (another key's jump
        counts once no undo of that key holds it), and the held undos together hold at most half of
        ``memory_limit_mb`` (each fit what the updates since replaced; the first held are kept, and an
        undo keeps only the fits the others need as it applies the updates again); past either, or
        where the undo itself would go over the limit, the undo is let go and the key's rows
        before the jumped bucket are refused, saying so. Neither is saved; ``copy`` and ``pickle``
        keep them.

        A key the fleet does not know, or whose rows do not continue its series or hold a
        value that is no number, is reported in ``update_errors_`` and keeps its fit; rows
        without a key are left out and reported under the key ``None`` (``strict=True``
        raises instead, changing nothing). A frame no key's rows can continue from (no ``timestamp`` column, a
        fitted target column missing, ``unit=`` or ``origin=`` beside datetimes) raises at once, as :meth:`fit`
        does, changing nothing. A key without rows keeps its fit, so a frame of no rows
        (a tick in which no bucket closed) updates no key and leaves ``update_errors_`` empty;
        :meth:`WorkloadPredictor.update`, a call for its one series, refuses one.

        Parameters
        ----------
        data : pandas.DataFrame
            The new rows, a long frame with the fitted key, timestamp and target columns.
        timestamp, unit, origin :
            How the rows' times are read, as :meth:`fit` reads them.
        key : str or None
            The key column, as passed to :meth:`fit`: ``None`` (default) or ``key_``; the fitted
            key column is read, and another name is refused.
        target : str, sequence of str or None
            The targets, as passed to :meth:`fit`: ``None`` (default) or the fitted ones (``targets_``,
            in any order); the fitted target columns are read, and other columns are refused, as
            :meth:`WorkloadPredictor.update` refuses them.
        tz : str or None
            As for :meth:`fit`: the zone its fit read the naive timestamps in.

        Returns
        -------
        FleetPredictor
            ``self``, updated.
        """
        check_is_fitted(self, "keys_")
        if key is not None:
            check_label(key, "key", "endpoint")
        if key is not None and key != self.key_:
            raise WorkloadDataError(f"key={quote(key)}, but the fleet was fitted with key={quote(self.key_)}: update "
                                    f"reads the fitted key column; leave key out (or pass key={quote(self.key_)}) "
                                    "and give the rows that column, or fit the fleet again on the new one.")
        if target is not None:
            check_update_target(target, self.targets_, "fleet")
        if not isinstance(data, pd.DataFrame):
            raise WorkloadDataError(f"update() takes a long DataFrame with the key column {quote(self.key_)}, as fit "
                                    f"does; got {type(data).__name__}.")
        if self.key_ not in data.columns:
            raise WorkloadDataError(f"update() takes a long DataFrame with the key column {quote(self.key_)}, as fit "
                                    f"does (columns: {quote_columns(data.columns)}); add it.")
        mode = self._update_mode()  # one typed error for a mode set since fit, before any key is read
        data = _in_zone(data, timestamp, tz)
        check_unit(unit)  # one typed error for the whole call, not one per key in update_errors_
        _check_update_columns(data, timestamp, self.targets_, unit, origin)  # so are the frame's columns
        # An infinite key (no fit holds one) is that key's error alone, as an unknown key is.
        codes, keys = factorize_keys(data[self.key_], self.key_, missing_ok=True, infinite_ok=True)
        check_limit(self.memory_limit_mb)  # one typed error, not one per key
        # Rows without a key (code -1): left out, reported under the key None (strict: refused, nothing updated).
        errors = keyless_error(codes, self.key_, "updated", strict=bool(self.strict), index=data.index)
        if self._global is not None:
            return self._update_global(data, codes, keys, errors, timestamp=timestamp, unit=unit, origin=origin)
        where = {name: (b, row) for b, block in enumerate(self._blocks) for row, name in enumerate(block.keys)}
        batched, updates, jumped = [], {}, {}
        fitted, unknown_key = _fitted_names(self.keys_), _UnknownKey(self.keys_, self.key_)
        # A batched key's rows, e.g. the buckets its gap zero-fills, are checked at the door as that key's update alone
        # (its error is that key's) before its own predictor is fitted. Each per-key predictor's update bounds its own.
        refit, undone_jumps, carried, lost, floors = [], [], {}, {}, {}
        jumps, undone_keys, horizon = getattr(self, "_jumps", {}), {}, self._fitted()["horizon"]
        positions = {}  # each incremental key's rows' positions in data, which its own predictor's errors name
        for name, (at, rows) in zip(keys.tolist(), _rows_by_key(data, codes, len(keys))):
            name = fitted.get(name, name)  # the fitted key (1 for an update's 1.0): forecasts keep its name
            try:
                if name in where:
                    b, row = where[name]
                    block = self._blocks[b]
                    door = dict(timestamp=timestamp, target=list(self.targets_), unit=unit, origin=origin,
                                max_gap=self.max_gap)
                    series = KeySeries(name, block.start[row], block.freq, block.values[row])
                    try:
                        with memory_limit(self.memory_limit_mb):
                            new = prepare_continuation(rows, last=series.last, freq=block.freq, **door)
                    except UpdateOrderError as exc:
                        # Rows between the bucket before the key's last update and the one it jumped to: that
                        # update's rows were stray, and these continue the series it had before (as a per-key
                        # predictor's update undoes its jump). Only the state that jump made is undone.
                        jump = jumps.get(name)
                        if jump is None or \
                                not undoes_jump(jump.before, jump.stray, series.last, exc.first, jump.held):
                            raise order_refusal(exc, block.values[row], series.last, block.freq) from None
                        series = jump.series
                        with memory_limit(self.memory_limit_mb):
                            new = prepare_continuation(rows, last=series.last, freq=block.freq, **door)
                        undone_keys[name] = undone_text(jump.jumped, series.last, jump.stray, "", jump.updates,
                                                        jump.rows, jump.newest)
                    if mode == "refit":  # the newest buckets, as many as it was fitted on: that window slid forward
                        moved = len(new.values)
                        values = np.concatenate([series.values[moved:], new.values[-len(series.values):]])
                        start = series.start + moved * block.freq.to_timedelta64()
                        refit.append(KeySeries(name, start, block.freq, values))
                        found = _refit_lost(block, row, series, new)
                        if found is not None:
                            lost[name] = found
                        floor = floors[name] = block.fit_floor(row)  # kept through its refits
                        if block.recent_flags is not None:  # the flags it counts, up to the bucket continued
                            last = series.start + (len(series.values) - 1) * block.freq.to_timedelta64()
                            stamps = block.flagged_recent(row)
                            stamps = None if stamps is None else stamps[stamps <= last]
                            carried[name] = _update_flags(series, new, floor, stamps)  # and its update's
                        # Undoable while the stray clock has not run as far as a jump is wide (as a predictor's
                        # jump): the series before it, or where the jump lay between its rows (the newest such), the
                        # series its rows before the jump slid forward; or the record held before, through this
                        # update of the stray clock.
                        threshold = jump_buckets(block.window[row], horizon)
                        jump = new.jump(threshold)
                        if jump is not None:
                            head = jump[0]
                            kept = np.concatenate([series.values[head:], new.values[:head][-len(series.values):]])
                            jumped[name] = _Jump(KeySeries(name, series.start + head * block.freq.to_timedelta64(),
                                                           block.freq, kept), jump[1], new.last,
                                                 rows=new.rows_after(head))
                        elif (held := carried_jump(jumps.get(name), series.last, new, threshold,
                                                   block.freq)) is not None:
                            jumped[name] = held
                    else:  # its own predictor, fitted on that series, then updated (it keeps its own undo)
                        batched.append((series, rows))
                        positions[name] = at
                elif name in self._predictors:
                    # A shallow copy: an update replaces a predictor's attributes, never writes into them (a
                    # predict in another thread reads the old ones), so the held predictor stays as it was until
                    # the fleet commits every key's update at once.
                    predictor = copy.copy(self._predictors[name])
                    # The fleet's bounds as they are now (set_params since fit included), as its batched keys read them.
                    predictor.memory_limit_mb, predictor.max_gap = self.memory_limit_mb, self.max_gap
                    undone = predictor._update_or_undo(rows, timestamp=timestamp, unit=unit, origin=origin)
                    if undone is not None:
                        undone_jumps.append(f"key {quote(str(name))}: {undone}")
                    updates[name] = predictor
                else:
                    raise unknown_key(name)
            except WorkloadDataError as exc:
                errors[name] = in_frame(exc, data.index, at)  # its rows named as data's, not as the key's
        self._raise_if_strict(errors)
        blocks = []
        if refit:  # refitted, batched, as they were fitted (fitted_params_), whatever was set since
            self._check_client()
            config = self._config(self.targets_, fitted=True)
            config["lost"] = lost  # each refitted key's lost buckets, which its validation and forecast read
            if not self._device_here():  # a fleet fitted on a GPU host updates on one without: on the CPU
                config["settings"]["device"] = "cpu"
            blocks, _, fit_errors = self._fit_partitions(refit, config)
            _carried_flags(blocks, carried, floors)  # the refitted keys count the flags their predictors would
            self._raise_if_strict(fit_errors)
            errors.update(fit_errors)
        refitted = {name for block in blocks for name in block.keys}  # fitted anew here, with no deadline
        if batched:
            self._check_own_state([item.key for item, _ in batched], where)
            own = self._own_predictors(batched, errors, (data.index, positions), timestamp=timestamp, unit=unit,
                                       origin=origin)
            updates.update(own)
            refitted.update(own)
        over = [(name, error) for name, error in errors.items() if isinstance(error, MemoryLimitError)]
        if over and len(over) == len(errors) and not updates and not blocks:  # no key's update fits: as fit raises
            name, error = over[0]
            raise MemoryLimitError(f"key {quote(str(name))}: {error} No key's update fits within the limit.")
        kept = _without(self._blocks, {*updates, *refitted})
        limited = self.time_limited_keys_
        if refitted and limited:  # those keys' fits now are the update's, which no deadline cut
            limited = {k: v for k, v in limited.items() if k not in refitted}
        # A refitted key's jump (or none) replaces what it had; a key that is refused keeps its own, as the fit it
        # pairs with; a key that has its own predictor now keeps its undo there.
        refit_keys = {name for block in blocks for name in block.keys}
        jumps = {name: jump for name, jump in jumps.items() if name not in refit_keys and name not in updates}
        jumps.update({name: jump for name, jump in jumped.items() if name in refit_keys})
        # The commit, published at once: the new mapping of predictors, the blocks without the keys that left them
        # with the ones refitted (then the undos that pair with them, which only an update reads).
        self._publish(_predictors={**self._predictors, **updates}, _blocks=kept + blocks, update_errors_=errors,
                      time_limited_keys_=limited, jumps=jumps)
        undone_jumps.extend(f"key {quote(str(name))}: {text}" for name, text in undone_keys.items()
                            if name in refitted)
        for message in undone_jumps:  # once the update is committed: a key's jump undone with its rows
            warnings.warn(UndoneJumpWarning(f"update: {message}"), stacklevel=2)
        return self

    def _update_mode(self) -> str:
        mode = getattr(self, "update_mode", "refit")  # a fleet file saved before update_mode: its default
        if not isinstance(mode, str) or mode not in UPDATE_MODES:
            raise WorkloadDataError(f"update_mode={quote(mode)} must be one of {', '.join(map(repr, UPDATE_MODES))}.")
        return mode

    def _check_own_state(self, names: list, where: dict) -> None:
        """Refuse an ``incremental`` update whose keys' own predictors would hold more than ``memory_limit_mb``
        together (DLinear's statistics and kept inverses of each, :func:`own_state_bytes`), before any is fitted."""
        horizon = self._fitted()["horizon"]
        total = sum(own_state_bytes(self._blocks[where[name][0]], where[name][1], horizon) for name in names)
        try:
            with memory_limit(self.memory_limit_mb):
                check_memory(f"DLinear fleet update: the own predictors of {plural(len(names), 'key')}",
                             extra_bytes=total)
        except MemoryLimitError as exc:
            raise MemoryLimitError(f"{exc} With update_mode='refit' a key keeps its series, not its own predictor: "
                                   "each update refits it, batched, on as many buckets as it was fitted on.") from None

    def _own_predictors(self, batched: list[tuple[KeySeries, pd.DataFrame]], errors: dict, frame: tuple,
                        **door: Any) -> dict[str, WorkloadPredictor]:
        """Each batched key of ``batched`` (its fitted series, its update's rows) as its own ``WorkloadPredictor``:
        fitted on the series the fleet fitted it on, with the fitted settings (by partitions, where the fleet fits),
        then updated with the rows. A key that cannot be is added to ``errors`` (``strict``: raised, changing
        nothing), the rows it names as the update's frame's (``frame``: its index, and each key's rows' positions).
        The device is not checked: a per-key DLinear solves on the CPU (a fleet fitted on a GPU host updates on a CPU
        one)."""
        self._check_client()
        _, predictors, fit_errors = self._fit_partitions(
            [item for item, _ in batched], self._config(self.targets_, fitted=True, per_key=True))
        updated = {}
        for item, rows in batched:
            if item.key in predictors:
                try:
                    updated[item.key] = predictors[item.key].update(rows, **door)
                except WorkloadDataError as exc:
                    fit_errors[item.key] = in_frame(exc, frame[0], frame[1][item.key])
        self._raise_if_strict(fit_errors)
        errors.update(fit_errors)
        return updated

    def _update_global(self, data: pd.DataFrame, codes: np.ndarray, keys: pd.Index, errors: dict,
                       **door: Any) -> "FleetPredictor":
        """:meth:`update` of a ``global_lstm`` fleet: every key's rows checked, then one ``GlobalLSTM.update``
        on a copy of the model, committed with the recomputed calibration (nothing changes if it raises).

        A key whose update alone would take the model's update over ``memory_limit_mb`` (a gap ``max_gap`` lets in,
        zero-filled) is that key's :class:`MemoryLimitError` in ``update_errors_``, naming its gap, and the others are
        updated, as in a per-key fleet (where no key's update fits alone and no other key was refused for its data,
        the update raises the error, as a fit over the limit does). Where the keys fit one by one but not together, the
        update raises the error, changing nothing: which keys to leave out would be an arbitrary choice, and the caller
        keeps every row to pass over several updates."""
        state = held = self._global
        position = {name: j for j, name in enumerate(state.keys)}
        new: list[np.ndarray | None] = [None] * len(state.keys)
        given = np.zeros(len(state.keys), dtype=np.int64)  # each key's rows (its new buckets less its zero-filled)
        fitted, unknown_key = _fitted_names(state.keys), _UnknownKey(state.keys, self.key_)
        jumps, undo, undone, gaps, refused = getattr(self, "_jumps", {}), None, {}, {}, {}
        counted = np.zeros(len(state.keys), dtype=np.int64)  # each key's rows (its buckets with a row)
        threshold = jump_buckets(state.model.window_, self._fitted()["horizon"])
        for name, (at, rows) in zip(keys.tolist(), _rows_by_key(data, codes, len(keys))):
            name = fitted.get(name, name)  # the fitted key (1 for an update's 1.0), as update_errors_ names it
            try:
                j = position.get(name)
                if j is None:
                    raise unknown_key(name)
                freq = state.freqs[j]
                door_j = dict(freq=freq, target=list(self.targets_), max_gap=self.max_gap, **door)
                # Each key's door (the buckets its gap zero-fills) within the limit as that key's alone: over it, a
                # MemoryLimitError in update_errors_ for that key, raised before the buckets are allocated.
                with memory_limit(self.memory_limit_mb):
                    try:
                        found = prepare_continuation(rows, last=state.last_timestamp(j), **door_j)
                    except UpdateOrderError as exc:
                        # Rows between the key's last bucket before its jump and the one it jumped to: the jumping
                        # update and every update since are applied again from the fit before it, without this key's
                        # rows after the jump (stray), if the fleet holds the fit the newest of them published.
                        jump = jumps.get(name)
                        if jump is None or jump.after is not state or \
                                not undoes_jump(jump.base, jump.stray, state.last_timestamp(j), exc.first, jump.held):
                            # the key's newest buckets name a zero-filled run it falls in
                            raise order_refusal(exc, state.model.recent_[j], state.last_timestamp(j), freq) from None
                        if jump.lapsed is not None:
                            raise _lapsed_refusal(exc, jump) from None
                        found = prepare_continuation(rows, last=jump.base, **door_j)
                        undone[j], refused[j] = jump, (exc, at)
                        if undo is None or len(jump.since) > len(undo.since):
                            undo = jump  # the oldest jump this update undoes (each update since lengthens ``since``)
                new[j] = _Added(found.values, filled_positions(found))
                # Undoable while held (see the record's carry below): a jump before its rows, or between them (the
                # newest such).
                jump = found.jump(threshold)
                if jump is not None:
                    gaps[j] = (jump[1], found.last, jump[0], found.rows_after(jump[0]))
                given[j] = len(rows)
                counted[j] = found.rows_after(0)
            except WorkloadDataError as exc:
                errors[name] = in_frame(exc, data.index, at)  # its rows named as data's, not as the key's
        self._raise_if_strict(errors)
        replayed = {}  # id of each update applied again -> (the fit before it again, it without the undone keys' rows)
        if undo is not None:  # the oldest undone jump's update and those since again, from the fit before it,
            # without each undone key's rows after its jump: its head in its jumping update, nothing after. Every held
            # record pairs with the fit this update starts from, so it was carried through each update since it was
            # made: the oldest record's ``since`` holds each younger one's jumping update (records made by one update
            # share ``before``, ``new`` and ``since``; an undo's replay keeps them shared).
            calls = (undo.new, *undo.since)
            at = {id(call): i for i, call in enumerate(calls)}
            cut = {j: at[id(jump.new)] for j, jump in undone.items()}
            again = [tuple(values if j not in cut or i < cut[j] else None if i > cut[j] or not undone[j].head
                           else values.head(undone[j].head) for j, values in enumerate(call))
                     for i, call in enumerate(calls)]
            state = undo.before
            # The fits applied again are kept only where a record held on holds one (the fit before its jump): the
            # others are let go as the replay passes them, so it adds about what those records held.
            befores = {id(jump.new) for name, jump in jumps.items() if position[name] not in undone}
            try:
                with memory_limit(self.memory_limit_mb):
                    for old, call in zip(calls, again):
                        check_memory("global LSTM update: the updates since a key's jump again, without its stray "
                                     "rows", extra_bytes=_global_update_bytes(state.model, _lengths(call)),
                                     advice=UPDATE_ADVICE)
                        replayed[id(old)] = (state if id(old) in befores else None, call)
                        state = self._global_applied(state, call)
            except MemoryLimitError as exc:  # the undo does not fit: the jumps stand, their keys' rows are refused
                # saying why, and the other keys are updated (raising would refuse every update with these keys' rows)
                jumps = dict(jumps)
                needed = "" if exc.needed_mib is None else f" (about {exc.needed_mib:,.1f} MiB at the step it stopped)"
                for j, jump in undone.items():
                    reason = (f"applying its update and the {len(jump.since):,} since again, without the stray rows, "
                              f"would take more than memory_limit_mb={quote(self.memory_limit_mb)} allows{needed}")
                    jumps[held.keys[j]] = jump._replace(before=None, new=None, since=None, sizes=None, profile=None,
                                                        lapsed=reason)
                    late, places = refused[j]  # its rows named as data's, not as the key's
                    errors[held.keys[j]] = in_frame(_lapsed_refusal(late, jumps[held.keys[j]]), data.index, places)
                    new[j], given[j], counted[j] = None, 0, 0
                    gaps.pop(j, None)
                undone, replayed, state = {}, {}, held
                self._raise_if_strict(errors)
        added = _lengths(new)
        model = state.model  # the byte estimates' (GlobalLSTM.update replaces its arrays, never writes into them)
        def roll(added: np.ndarray) -> None:  # a global update of added[j] new buckets to key j within the limit
            check_memory("global LSTM update: the validation roll", extra_bytes=_global_update_bytes(model, added),
                         advice=f"{UPDATE_ADVICE} (this update adds {int(added.sum()):,} to {int((added > 0).sum()):,} "
                                "keys)")

        def refuse_alone_over() -> list:
            """Each key whose update alone is over the limit: its error (naming its gap) into ``errors``, its rows out
            of ``new`` and ``added``; those keys. Tried from the most new buckets: the estimate grows with a key's
            buckets, so the first that fits ends the search (every key after it fits alone too)."""
            refused = []
            for j in sorted(np.flatnonzero(added).tolist(), key=lambda j: -added[j]):
                alone = np.zeros_like(added)
                alone[j] = added[j]
                try:
                    check_memory(f"global LSTM update of key {quote(state.keys[j])} alone",
                                 extra_bytes=_global_update_bytes(model, alone),
                                 advice=f"Its rows reach {duration_text(int(added[j]) * state.freqs[j])} past its last "
                                        f"bucket ({plural(int(added[j]), 'bucket')} of "
                                        f"{duration_text(state.freqs[j])}, "
                                        f"{int(given[j]):,} with a row, the rest zero-filled): a clock-skewed or stray "
                                        "row? Drop it (the key keeps its fit and accepts the next correct row), refit "
                                        f"after a long outage, lower max_gap (now {quote(self.max_gap)}) to refuse such "
                                        "a gap before it is filled")
                except MemoryLimitError as exc:
                    errors[state.keys[j]], new[j], added[j] = exc, None, 0
                    refused.append(state.keys[j])
                    continue
                break
            return refused

        if added.any():
            with memory_limit(self.memory_limit_mb):
                try:
                    roll(added)
                except MemoryLimitError as together:
                    refused = refuse_alone_over()
                    if not refused:
                        raise MemoryLimitError(f"{together} Each key's update fits alone: pass their rows over several "
                                               "updates.") from None
                    if not added.any() and _all_over_limit(errors):  # no key's update fits: as fit raises
                        raise MemoryLimitError(f"{together} No key's update fits within the limit, not even alone "
                                               f"(key {quote(refused[0])}: {errors[refused[0]]})") from None
                    self._raise_if_strict(errors)
                    if added.any():
                        roll(added)  # the others together
                if added.any():
                    published = self._global_applied(state, new)
        elif _all_over_limit(errors):  # every key with rows over the limit at its door (its gap zero-filled alone)
            name, error = next(iter(errors.items()))
            raise MemoryLimitError(f"key {quote(str(name))}: {error} No key's update fits within the limit.")
        if not added.any():  # the fit as it is (a jump it holds stays undoable)
            published = state
        kept_jumps = None  # the undos as they were
        if published is not held:  # an update that changed the fit
            kept = {name: jump for name, jump in jumps.items() if position[name] not in undone}
            kept_jumps = self._global_jumps(kept, replayed, held, state, published, new, gaps, counted, threshold,
                                            self.memory_limit_mb)
        elif jumps is not getattr(self, "_jumps", {}):  # undos let go above (their replay over the limit)
            kept_jumps = jumps
        self._publish(_global=published, update_errors_=errors, jumps=kept_jumps)
        for j, jump in undone.items():  # once the update is committed: a key's jump undone with its rows
            text = undone_text(jump.jumped, jump.base, jump.stray, "", jump.updates, jump.rows, jump.newest)
            warnings.warn(UndoneJumpWarning(f"update: key {quote(str(state.keys[j]))}: {text}"), stacklevel=3)
        return self

    @staticmethod
    def _global_jumps(jumps: dict, replayed: dict, held: FleetGlobal, state: FleetGlobal, published: FleetGlobal,
                      new: list, gaps: dict, counted: np.ndarray, threshold: int,
                      limit_mb: float | None) -> dict:
        """A global fleet's jump records after an update that published ``published`` from ``state`` (``held`` before
        it; ``jumps`` its records but those it undid, ``replayed`` the updates the undo applied again), with the keys'
        ``new`` buckets: a key whose rows jumped far ahead (``gaps``) gets a record with the fit before this update
        (one more fit held, which shares the network and every array this update did not replace); a held record is
        carried through this update while the key's rows end fewer buckets past the jumped one than a jump is wide
        (:func:`holds_jump`), and lapses once the updates since it are over :func:`_global_held_bound`. A record the
        undo's updates are part of holds them as applied again (and, where its jump is among them, the fit before
        it as applied again)."""
        added, call = _lengths(new), tuple(new)  # one tuple, shared by every record: an undo finds it by identity
        made = (int(added.sum()), tuple(j for j in gaps if added[j]))  # its buckets, and the keys that jumped in it
        position = {name: j for j, name in enumerate(state.keys)}
        again = {}  # id of an update applied again -> (its buckets, its keys' jumps) as applied again

        def rebased(old: tuple, sizes: tuple) -> tuple:
            if id(old) not in again:
                call = replayed[id(old)][1]  # an undone key's entry is cut (its head, or None): no jump of it left
                again[id(old)] = (int(_lengths(call).sum()), tuple(j for j in sizes[1] if call[j] is old[j]))
            return again[id(old)]

        records = {}
        for name, jump in jumps.items():
            j = position[name]
            if not isinstance(jump, _GlobalJump) or jump.after is not held or j in gaps:
                continue  # pairs with another fit, or replaced by the key's new jump
            last = published.last_timestamp(j)
            if added[j]:  # the key's stray clock again: held while it has not run as far as a jump is wide
                if not holds_jump(jump.base, jump.jumped, last, threshold, state.freqs[j]):
                    continue
                jump = jump._replace(held=last, updates=jump.updates + 1, rows=jump.rows + int(counted[j]))
            if jump.lapsed is None:
                if id(jump.new) in replayed:  # a fit built again: its profile is found again (the old fit's id may be
                    # a new object's once it is let go)
                    jump = jump._replace(**dict(zip(("before", "new"), replayed[id(jump.new)])), profile=None)
                if replayed:
                    jump = jump._replace(
                        since=tuple(replayed.get(id(old), (None, old))[1] for old in jump.since),
                        sizes=tuple(rebased(old, sizes) if id(old) in replayed else sizes
                                    for old, sizes in zip(jump.since, jump.sizes)))
                jump = jump._replace(since=jump.since + (call,), sizes=jump.sizes + (made,))
            records[name] = jump._replace(after=published)
        for j, (gap, last, head, rows) in gaps.items():
            if added[j]:
                records[state.keys[j]] = _GlobalJump(state, call, published, gap, last,
                                                     state.last_timestamp(j) + head * state.freqs[j], head, rows=rows)
        return _global_over_memory(_global_lapsed(records, position, threshold), published, limit_mb,
                                   published.halfwidth.shape[2])

    def _global_applied(self, state: FleetGlobal, new: list) -> FleetGlobal:
        """``state`` with ``new[j]`` (or nothing) appended to key ``j``: one ``GlobalLSTM.update`` on a copy of the
        model, and the updated keys' interval and confidence recomputed from their validation windows (the others'
        are unchanged)."""
        added = _lengths(new)
        model = copy.copy(state.model)  # GlobalLSTM.update replaces its arrays (never writes into them)
        rows = np.flatnonzero(added)
        calibrated = {name: getattr(state, name).copy() for name in ("halfwidth", "confidence", "confidence_by_target")}
        if len(rows):
            model.update([None if added is None else added.values for added in new],
                         filled=[None if added is None else added.filled for added in new])
            for name, values in _global_calibration(model, self._fitted()["level"], rows).items():
                calibrated[name][rows] = values
        return dataclasses.replace(state, model=model, length=state.length + added, **calibrated)

    # -- persistence -----------------------------------------------------------------------
    def _key_points(self, steps: int) -> np.ndarray:
        """The unclipped point forecasts ``[N, steps, k]`` of the keys that are their own predictors, as
        :meth:`predict` gives them (what a loaded file's forecast is checked on; save checks them first)."""
        own = [predictor._snapshot() for predictor in self._predictors.values()]
        return _own_points(own, steps, len(self.targets_))

    def save(self, path: str | os.PathLike) -> Path:
        """Write the fitted fleet to one file (JSON and NumPy arrays, no pickle; see
        :mod:`workload_predictor.persistence`). ``client`` and ``executor`` are not saved.

        Raises :class:`~workload_predictor.errors.WorkloadDataError` if ``model`` or ``horizon``
        were set (``set_params``) to other values than the fitted ones since :meth:`fit`: the
        file would hold parameters its state does not have; or if a parameter set since is one
        ``fit`` refuses (:meth:`load` would refuse the file). Raises its subclass
        :class:`~workload_predictor.errors.UnsaveableModelError`, naming the key, if a key's forecast (or stored
        validation forecast, interval or error) is beyond what a model file may hold; nothing is written.

        Parameters
        ----------
        path : str or os.PathLike
            The file written.

        Returns
        -------
        pathlib.Path
            The path written.
        """
        from . import model_file, persistence

        check_is_fitted(self, "keys_")
        state = self._state()  # one fit's or update's state, also beside a fit or update in another thread
        fitted = self._fitted(state)
        changed = {name: getattr(self, name) for name in ("model", "horizon") if getattr(self, name) != fitted[name]}
        if changed:
            raise WorkloadDataError(
                f"{', '.join(f'{name}={quote(value)}' for name, value in changed.items())} set since fit, but the "
                f"fleet was fitted with {', '.join(f'{name}={quote(fitted[name])}' for name in changed)}: fit again, "
                "or set them back, before saving.")
        for check in model_file.fleet_parameter_checks(self):  # what load would refuse as damaged
            check()
        _check_saveable_keys(state)
        clone = copy.copy(self)
        vars(clone).update(vars(state))
        clone.client = clone.executor = None
        clone.errors_ = {name: [type(error).__name__, str(error)] for name, error in state.errors_.items()}
        clone.update_errors_ = {name: [type(error).__name__, str(error)] for name, error in state.update_errors_.items()}
        if state._global is not None:  # the network's own errors_ are the fleet's (saved above)
            model = copy.copy(state._global.model)
            model.errors_ = {}
            clone._global = dataclasses.replace(state._global, model=model)
        return persistence.save(clone, path)

    @classmethod
    def load(cls, path: str | os.PathLike, max_bytes: int = model_file.MAX_FILE_BYTES) -> "FleetPredictor":
        """Read a fleet written by :meth:`save`; it forecasts identically to the one saved.

        ``max_bytes``: the largest file read (default 1 GiB, checked before a byte is read; a positive int, as
        :meth:`WorkloadPredictor.load` takes it); pass more for a trusted file of a large fleet. Anything amiss
        (see :meth:`WorkloadPredictor.load`) raises
        :class:`~workload_predictor.errors.ModelFileError`.

        Parameters
        ----------
        path : str or os.PathLike
            A file :meth:`save` wrote.
        max_bytes : int
            The largest file read, as above.

        Returns
        -------
        FleetPredictor
            The fitted fleet.
        """
        from . import errors as error_types
        from . import persistence
        from .predictor import PREDICT_TIMINGS

        def checked(fleet: FleetPredictor) -> None:  # a refusal of a file another release wrote names that release
            for name, none_cut in (("time_limited_stages_", ()), ("time_limited_keys_", {})):
                if hasattr(fleet, "keys_") and name not in vars(fleet):  # a file saved before the fleet kept them
                    setattr(fleet, name, none_cut)  # what a fit no deadline cut holds, which an update reads
            try:
                # Before the state is used: what no fit produces (its key column's name: one fit takes).
                model_file.check_fleet(fleet, PREDICT_TIMINGS, _check_key_name)
                for name in ("errors_", "update_errors_"):
                    records = getattr(fleet, name)
                    setattr(fleet, name, {k: _error_type(error_types, kind)(message)
                                          for k, (kind, message) in records.items()})
                # Every key's numbers over the whole horizon are checked. A key whose buckets would pass 2262 is no
                # damage: its timestamps are left out of the frame (unlogged), whose build checks the others'.
                state = fleet._state()
                numbers = fleet._forecast_numbers(state, None, None)
                fleet._forecast_frame(state, *numbers, raising=False)
                parts = [np.asarray(part, dtype=np.float64) for part in (numbers[1], *interval(*numbers[1:3]))]
                horizon = fleet._fitted(state)["horizon"]
            except ModelFileError:
                raise
            except Exception as exc:  # noqa: BLE001 - whatever damaged state breaks, the answer is the same
                raise ModelFileError(f"the fleet file's state does not forecast ({type(exc).__name__}: {exc}); "
                                     "it was damaged or altered: refit and save again.") from None
            model_file.check_loaded_forecast(*parts, horizon, "the fleet file's")

        return persistence.load(path, expected=cls, max_bytes=max_bytes, check=checked)


#: The workers of each Dask Client found to run this version of the package (their addresses): each is asked once.
_CHECKED_WORKERS: "weakref.WeakKeyDictionary[Any, set]" = weakref.WeakKeyDictionary()
_checked_lock = threading.Lock()
#: How long the workers' version check waits for their answers (a healthy worker answers within milliseconds).
WORKER_CHECK_SECONDS = 30.0


def _worker_version() -> str:
    """This package's version, where it runs (a Dask worker, asked by :func:`_check_workers`)."""
    return __version__


def _check_workers(client: Any, workers: Any = None, joined: bool = False) -> set:
    """The workers of ``client`` (or ``workers``, addresses) that may run this version of the package's partitions;
    a typed error, before any partition is sent, for one that cannot: Dask unpickles a task's function and data by
    reference, so a worker without the package drops its connection to the scheduler on the first partition it is
    sent (and its nanny closes with it), and a worker of another version would fit the keys with its own code.
    ``joined``: workers that joined during the call, when partitions already run: such a worker is left out of the
    call (a logged warning), not an error. Each worker the fleet has not yet found fit on this client is asked its
    version (``client.run``, whose errors come back without harming the worker); one found fit is not asked again.
    ``client.run`` has no timeout: the answers are awaited ``WORKER_CHECK_SECONDS``, and workers that have not
    answered by then are left to Dask, as a worker whose connection timed out is, and asked again at the next
    call."""
    workers = set(client.nthreads()) if workers is None else set(workers)
    with _checked_lock:
        known = _CHECKED_WORKERS.get(client, set())
        new = sorted(workers - known)
        fit = workers & known
    if not new:
        return fit
    found = _ask_workers(client, new, _worker_version)
    if found is None:
        logger.warning("Dask workers %s did not answer the version check within %g s: left to Dask, asked again at "
                       "the next call.", cut(", ".join(new), 200), WORKER_CHECK_SECONDS)
        return fit | set(new)
    # Another error (a worker closing, a connection timed out) says nothing of its package: the worker is left to
    # Dask, and asked again at the next call.
    wrong = {address: answer for address, answer in found.items()
             if isinstance(answer, str) and answer != __version__ or _cannot_import(answer)}
    with _checked_lock:
        _CHECKED_WORKERS.setdefault(client, set()).update(
            address for address, answer in found.items() if answer == __version__)
    if wrong:
        address, version = next(iter(wrong.items()))
        said = (f"has workload-predictor {quote(version)}" if isinstance(version, str) else
                f"cannot run workload-predictor's code ({type(version).__name__}: {cut(version)})")
        others = f" (and {len(wrong) - 1} more of the {len(found)} workers asked)" if len(wrong) > 1 else ""
        fix = (f"Install workload-predictor=={__version__} on every worker (their image or environment; pip install "
               "workload-predictor[dask] where they run) and restart them, or pass client=None to fit in this "
               "process.")
        if joined:
            logger.warning("Dask worker %s joined during the fleet's call and %s%s; this process has %s. It is left "
                           "out of this call (no partition is sent to it); the next call refuses the cluster while "
                           "it is there. %s", quote(address), said, others, __version__, fix)
        else:
            raise WorkloadDataError(f"Dask worker {quote(address)} {said}{others}; this process has {__version__}. "
                                    f"Nothing was sent to the cluster. {fix}")
    return fit | (set(new) - set(wrong))


def _ask_workers(client: Any, workers: list, function: Any, *args: Any) -> dict | None:
    """``client.run(function, *args)`` on ``workers``: address -> its answer or error; ``None`` when they have not
    all answered within ``WORKER_CHECK_SECONDS`` (``client.run`` has no timeout). The Client's own error (closed, no
    scheduler) is raised in the caller's thread."""
    answers: dict = {}

    def ask() -> None:
        try:
            answers["found"] = client.run(function, *args, workers=workers, on_error="return")
        except BaseException as exc:  # noqa: BLE001 - raised in the caller's thread below
            answers["error"] = exc

    asking = threading.Thread(target=ask, name="workload-predictor worker check", daemon=True)
    asking.start()
    asking.join(WORKER_CHECK_SECONDS)
    if asking.is_alive():
        return None
    if "error" in answers:
        raise answers["error"]
    return answers["found"]


def _worker_device(device: str) -> str | None:
    """Where it runs (a Dask worker, asked by :class:`_ClusterRun`): ``None`` when torch there has ``device``,
    else why not."""
    from .models.torch_runtime import resolve_device

    try:
        resolve_device(device)
    except WorkloadDataError as exc:
        return str(exc)
    return None


def _cannot_import(answer: Any) -> bool:
    """Whether a worker's error from :func:`_worker_version` says it cannot import this package's code: an
    ``ImportError`` or ``AttributeError`` (a module, or a function in it, that is not there), raised, or as Dask
    hands one on from a worker that could not unpickle the call (an ``Exception`` holding its ``repr``)."""
    if isinstance(answer, (ImportError, AttributeError)):
        return True
    return type(answer) is Exception and str(answer).startswith(("ModuleNotFoundError(", "ImportError(",
                                                                 "AttributeError("))


#: Bytes of partitions sent to a Dask cluster in one graph when Dask's ``distributed.admin.large-graph-warning-threshold``
#: is not set (distributed 2024.1 has none; 10 MB is its default where it has one).
GRAPH_BYTES = 10 * 2**20


def _graph_batches(parts: list) -> Iterator[list]:
    """``parts`` in consecutive batches, each of partitions whose arrays add up to less than half Dask's large-graph
    threshold (one partition alone when it is larger). Each partition travels in its task, so that Dask computes
    it again on another worker when its worker is lost (data scattered to a worker is lost with it); the scheduler
    holds it until its task ends. In one graph, a fleet of 2,000 keys x 1,000 buckets (15 MB) would draw Dask's
    "Sending large graph" warning, whose advice (load the data with Dask, scatter it) does not apply to a fleet's
    series."""
    try:
        import dask
        from dask.utils import parse_bytes

        limit = parse_bytes(dask.config.get("distributed.admin.large-graph-warning-threshold", GRAPH_BYTES)) // 2
    except (ImportError, ValueError, TypeError):  # a client without Dask behind it, a setting Dask cannot read
        limit = GRAPH_BYTES // 2
    batch, size = [], 0
    for part in parts:
        nbytes = sum(getattr(value, "nbytes", 0) for value in getattr(part, "__dict__", {}).values())
        if batch and size + nbytes > limit:
            yield batch
            batch, size = [], 0
        batch.append(part)
        size += nbytes
    if batch:
        yield batch


#: Partitions a Dask cluster holds at once per worker thread that may run them (``FleetPredictor(client=...)``):
#: enough that a worker finds its next partition queued as one ends. The scheduler holds a partition until its task
#: is released; the fleet sends the next one as a partition's result is gathered and its task released.
PARTITIONS_IN_FLIGHT = 2


class _ClusterRun:
    """One call's partitions on a Dask cluster, at most ``PARTITIONS_IN_FLIGHT`` per worker thread at once, each
    result gathered and its task released as it ends, in order of ``parts`` when all have ended.

    Partitions go only to workers that answered the version check (:func:`_check_workers`) and hold ``resources``
    (Dask's ``workers=``, ``resources=``): a worker that joins during the call is asked when the fleet sees it (at
    the next send, or the next ``WORKER_POLL`` look), before it can be sent one. A partition waiting for workers
    that have all left is sent again to those there."""

    def __init__(self, client: Any, func: Any, pack: Any, resources: dict | None, device: str = "cpu"):
        self.client, self.func, self.pack, self.device = client, func, pack, device
        self.resources = dict(resources) if resources else None
        self.asked: set = set()  # the workers checked during this call
        self.allowed: set = set()  # those of them that may run its partitions
        self.present: dict = {}  # the cluster's workers at the last look: address -> threads
        self.held: dict = {}  # with resources: address -> the resources the worker declares
        self.idle_since: float | None = None  # since when no worker there may run the partitions
        self.looked = -math.inf  # when the fleet last looked at the cluster's workers

    def run(self, parts: list) -> list:
        self._look(joined=False)
        client, results = self.client, [None] * len(parts)
        running: dict = {}  # future -> (partition index, the workers it may run on)
        queued = collections.deque(range(len(parts)))
        # Woken by each partition's end (its result, error or cancel). Not dask's ``wait(futures, timeout=...)``: each
        # of its timeouts leaves the futures and this call's frames (the fleet's series) in a reference cycle that
        # only the garbage collector frees, and a large process's collector looks at old objects rarely.
        ended = threading.Event()
        try:
            while queued or running:
                ended.clear()
                try:
                    if time.monotonic() - self.looked >= WORKER_POLL:
                        self._poll(running)
                    self._send(parts, queued, running, ended)
                    done = [future for future in running if future.done()]
                    if done:  # a partition's error, or its cancel, is raised by the gather
                        gathered = {future: running[future] for future in done}
                        for future, result in zip(done, _gather(client, done, functools.partial(self._poll, gathered))):
                            results[running.pop(future)[0]] = result
                            future.release()  # the scheduler forgets the task and its partition now
                        self.idle_since = None
                    else:
                        ended.wait(WORKER_POLL)
                except _Stranded as stranded:  # sent again, first, to the workers there now
                    client.cancel(stranded.futures)
                    for future in reversed(stranded.futures):
                        queued.appendleft(running.pop(future)[0])
                        future.release()
            return results
        except BaseException as exc:  # a partition's error, no worker, an interrupt: no partition is left running
            with contextlib.suppress(Exception):
                client.cancel(list(running))
            try:
                from dask.distributed import KilledWorker  # the dask extra (dask[distributed])
            except ImportError:  # a client without Dask behind it
                KilledWorker = ()
            if isinstance(exc, KilledWorker):  # Dask's error names its task, not the keys that killed it
                keys = next((_part_keys(parts[index]) for future, (index, _) in running.items()
                             if future.key == exc.task), [])
                raise WorkloadDataError(
                    f"the partition of keys {quote(keys)} killed every Dask worker that ran it ({cut(exc)}); "
                    "nothing was changed. A worker's memory limit is the usual cause: pass memory_limit_mb= to "
                    "bound what a partition's fit adds, a smaller partition_size, or give the workers more "
                    "memory; the workers' logs say why they died.") from exc
            raise
        finally:
            # The cluster keeps a partition's result (and a lost one is computed again) while the client holds
            # a future of it: released now, not when the last reference to ``running`` goes (a traceback the
            # caller keeps, a reference cycle only the garbage collector frees).
            for future in running:
                with contextlib.suppress(Exception):
                    future.release()

    def _poll(self, running: dict) -> None:
        """One look at the cluster (every ``WORKER_POLL`` s) while partitions run or their results are gathered:
        the workers that joined are checked; raises :class:`_Stranded` for partitions waiting for workers that have
        all left (a result lost with its worker is computed again, by Dask, only on a worker its task may run on),
        and a :class:`~workload_predictor.errors.WorkloadDataError` once the cluster has had no worker to run them
        past the fleet's deadline (``NO_WORKER_WAIT`` seconds in a row without one): Dask itself waits forever for
        a worker. A cluster with a worker is waited for as long as its partitions take."""
        self._look(joined=True)
        if self._eligible():
            self.idle_since = None
            stranded = [future for future, (_, allowed) in running.items()
                        if not future.done() and not allowed.intersection(self.present)]
            if stranded:
                raise _Stranded(stranded)
            return
        deadline = _deadline.current()
        bounded = deadline.end is not None and math.isfinite(deadline.end)  # max_training_time=inf: no deadline
        now = time.monotonic()
        self.idle_since = now if self.idle_since is None else self.idle_since
        if deadline.expired() if bounded else now - self.idle_since >= NO_WORKER_WAIT:
            waited = "past max_training_time (the fleet's deadline)" if bounded else f"for {NO_WORKER_WAIT:g} s"
            held = f" that declares resources={quote(self.resources)}" if self.resources else ""
            raise WorkloadDataError(
                f"client={quote(self.client)} has no worker{held} to run the fleet's partitions (waited {waited}); "
                "nothing was fitted. Start workers first (cluster.scale(n), then client.wait_for_workers(n)), or "
                "pass client=None to fit in this process.")

    def _look(self, joined: bool) -> None:
        """Check the workers that joined since the last look (:func:`_check_workers`; at the call's start, a
        worker that cannot run the package is an error), and read the resources they declare. At the start, a
        cluster with workers none of which declares ``resources`` is a typed error."""
        self.present, self.looked = dict(self.client.nthreads()), time.monotonic()
        new = [address for address in self.present if address not in self.asked]
        if not new:
            return
        if self.resources:
            info = self.client.scheduler_info(n_workers=-1).get("workers", {})  # n_workers: all (distributed>=2025)
            self.held.update({address: dict(info.get(address, {}).get("resources") or {}) for address in new})
        self.allowed |= _check_workers(self.client, new, joined=joined)
        self.asked.update(new)
        if self.device not in ("cpu", "auto"):  # checked where the partitions run, not in this process
            self._check_device([address for address in new if address in self.allowed and self._slots(address)],
                               joined)
        if not joined and self.resources and self.present and not self._eligible():
            declared = {address: self.held.get(address, {}) for address in sorted(self.present)}
            raise WorkloadDataError(
                f"resources={quote(self.resources)}: no worker of client={quote(self.client)} declares them (the "
                f"workers declare {cut(declared, 200)}); nothing was sent to the cluster. Start the workers with them "
                "(dask worker <scheduler> --resources \"GPU=1\", LocalCluster(resources={'GPU': 1})), or pass "
                "resources=None to run the partitions on any worker.")

    def _check_device(self, workers: list, joined: bool) -> None:
        """A typed error for a worker of ``workers`` whose torch does not have the fleet's ``device`` (a worker that
        joined during the call: left out of it, a logged warning); workers that have not answered within
        ``WORKER_CHECK_SECONDS`` are left to Dask."""
        found = _ask_workers(self.client, workers, _worker_device, self.device) if workers else {}
        wrong = {address: answer for address, answer in (found or {}).items() if answer is not None}
        if not wrong:
            return
        address, answer = next(iter(wrong.items()))
        why = answer if isinstance(answer, str) else f"{type(answer).__name__}: {cut(answer)}"
        fix = ("Run the partitions on the workers that have it: resources={'GPU': 1}, with those workers started "
               "with --resources \"GPU=1\" (or LocalCluster(resources={'GPU': 1})); or pass device='cpu'.")
        if joined:
            self.allowed -= set(wrong)
            logger.warning("Dask worker %s joined during the fleet's call and cannot run device=%s (%s): left out of "
                           "this call. %s", quote(address), quote(self.device), cut(why, 200), fix)
            return
        others = f" (and {len(wrong) - 1} more)" if len(wrong) > 1 else ""
        raise WorkloadDataError(f"Dask worker {quote(address)}{others} cannot run device={quote(self.device)}: "
                                f"{cut(why, 300)} Nothing was sent to the cluster. {fix}")

    def _slots(self, address: str) -> int:
        """How many partitions the worker at ``address`` runs at once: its threads, within its resources."""
        slots = self.present.get(address, 0)
        for name, need in (self.resources or {}).items():
            slots = min(slots, int(self.held.get(address, {}).get(name, 0) // need))
        return slots

    def _eligible(self) -> list:
        """The workers there now that may run the partitions."""
        return sorted(address for address in self.present if address in self.allowed and self._slots(address) > 0)

    def _send(self, parts: list, queued: collections.deque, running: dict, ended: threading.Event) -> None:
        """Send queued partitions until ``PARTITIONS_IN_FLIGHT`` per slot of the eligible workers run or wait."""
        workers = self._eligible()
        room = PARTITIONS_IN_FLIGHT * max(1, sum(self._slots(address) for address in workers)) - len(running)
        if not workers or room <= 0 or not queued:
            return
        indices = [queued.popleft() for _ in range(min(room, len(queued)))]
        allowed = frozenset(workers)
        packed = [self.pack(parts[index]) if self.pack is not None else parts[index] for index in indices]
        sent = 0
        for batch in _graph_batches(packed):
            futures = self.client.map(self.func, batch, pure=False, workers=workers, allow_other_workers=False,
                                      resources=self.resources)
            for future, index in zip(futures, indices[sent : sent + len(batch)]):
                running[future] = (index, allowed)
                future.add_done_callback(lambda _: ended.set())
            sent += len(batch)


class _Stranded(Exception):
    """Partitions (``futures``) waiting for workers that have all left."""

    def __init__(self, futures: list):
        super().__init__(futures)
        self.futures = futures

    def __str__(self) -> str:
        return f"{plural(len(self.futures), 'partition waits', 'partitions wait')} for workers that have left"


def _part_keys(part: Any) -> list:
    """The keys of a partition (its series, or packed)."""
    keys = getattr(part, "keys", None)
    return list(keys) if isinstance(keys, list) else [getattr(item, "key", item) for item in part]


#: Seconds a gather whose wait failed (no worker, an interrupt) is given to end once its partitions are cancelled.
GATHER_END_SECONDS = 5.0


def _gather(client: Any, futures: list, poll: Any) -> list:
    """The results of ``futures`` (done), waited for as the partitions are: ``poll`` (:meth:`_ClusterRun._poll`)
    every ``WORKER_POLL`` s, for a result lost with its worker since is computed again, and Dask's gather waits for
    it forever."""
    import asyncio

    # The gather runs in the client's event loop; this thread waits for it and looks at the cluster meanwhile.
    gathering = asyncio.run_coroutine_threadsafe(client.gather(futures, asynchronous=True), client.loop.asyncio_loop)
    try:
        while not concurrent.futures.wait([gathering], timeout=WORKER_POLL).done:
            poll()
    except BaseException as exc:
        # The gather ends on its own once a future of it is cancelled, and its outcome is read here. Cancelling the
        # gather instead would leave its per-future waits (tasks in the client's loop) running, each to end in an
        # exception no one reads: asyncio then prints "Task exception was never retrieved" for each.
        with contextlib.suppress(Exception):
            client.cancel(exc.futures if isinstance(exc, _Stranded) else futures)
        with contextlib.suppress(BaseException):
            concurrent.futures.wait([gathering], timeout=GATHER_END_SECONDS)
            gathering.exception(timeout=0)
        gathering.cancel()
        raise
    try:
        return gathering.result()
    except asyncio.CancelledError as exc:
        # A partition cancelled (a Client closed during the call): distributed 2024.1 raises concurrent.futures'
        # CancelledError, which asyncio hands across threads as its own, a BaseException that no ``except
        # Exception`` sees; later versions raise a subclass, handed on as it is. Raised as the Exception it was.
        raise concurrent.futures.CancelledError(*exc.args) from None


def own_state_bytes(block: FleetBlock, row: int, horizon: int) -> float:
    """The bytes a batched key's own DLinear predictor holds once updated: per target the statistics of its window
    ``W`` (a ``W x W`` Gram matrix, ``W x horizon`` cross-moments) and the kept inverse of each blended window."""
    width = int(block.window[row])
    blended = [int(w) for w in block.window_weights[row]] or [width]
    per_target = width * width + sum(w * w for w in blended) + 2 * width * horizon
    return 8.0 * block.values.shape[2] * per_target


def _own_points(states: list, steps: int, k: int) -> np.ndarray:
    """The unclipped point forecasts ``[N, steps, k]`` of per-key predictors' published ``states``, each as
    ``WorkloadPredictor.predict`` reads it (:func:`~workload_predictor.predictor._point`): the DLinear ones of one
    window and horizon in one product (:func:`~workload_predictor.models.dlinear.forecast_each`), the others one by
    one."""
    out = np.empty((len(states), steps, k))
    groups: dict[tuple, list[int]] = {}
    for i, state in enumerate(states):
        if type(state.model) in (DLinear, LogDLinear):
            groups.setdefault(state.model.coef_.shape, []).append(i)
        else:
            out[i] = _point(state, steps)
    for rows in groups.values():
        inputs = [states[i].model.context_ if states[i].inputs is None else states[i].inputs for i in rows]
        out[rows] = forecast_each([states[i].model for i in rows], inputs)[:, :steps]
    return out


def _without(blocks: list[FleetBlock], names: Any) -> list[FleetBlock]:
    """``blocks`` without the keys in ``names`` (a block keeping all of its keys is the same object)."""
    kept = []
    for block in blocks:
        rows = [i for i, name in enumerate(block.keys) if name not in names]
        if len(rows) == len(block.keys):
            kept.append(block)
        elif rows:
            kept.append(block.take(np.array(rows)))
    return kept


def _all_over_limit(errors: dict) -> bool:
    """Whether an update's ``errors`` are all :class:`MemoryLimitError` (and there is one): where no other key has an
    update either, no key's update fits and the update raises, as a fit over the limit does; a key refused for its
    data instead is reported with the others in ``update_errors_``."""
    return bool(errors) and all(isinstance(error, MemoryLimitError) for error in errors.values())


def _in_zone(data: Any, timestamp: str | None, tz: Any) -> Any:
    """A long frame with its timestamps (``timestamp``'s column, or with ``None`` its DatetimeIndex) read in ``tz``
    as UTC datetimes, a new frame (the caller's is not written); ``data`` itself where ``tz`` is ``None`` or there
    are no such timestamps (the fleet's own checks word that). A row the read refuses is named as the frame's."""
    if tz is None:
        return data
    read_zone(tz, "tz")  # an unknown zone is refused whatever the frame holds
    if not isinstance(data, pd.DataFrame) or len(data) == 0:
        return data
    try:
        if timestamp is None and isinstance(data.index, pd.DatetimeIndex):
            return data.set_axis(to_utc_index(data.index, tz=tz, name="timestamp"), axis=0)
        if timestamp is None or timestamp not in data.columns:
            return data
        read = data.copy(deep=False)
        read[timestamp] = to_utc_index(data[timestamp], tz=tz, name=str(timestamp))
        return read
    except WorkloadDataError as exc:
        raise in_frame(exc, data.index) from None


def _check_update_columns(data: pd.DataFrame, timestamp: Any, targets: Sequence[str], unit: str | None,
                          origin: Any) -> None:
    """The typed error of an update frame that no key's rows can continue their series from, once for the call (as
    ``fit`` raises it), not once per key in ``update_errors_``: no ``timestamp`` column (and no DatetimeIndex), a
    fitted target column missing, or ``unit=``/``origin=`` beside a datetime column, which they would not change; and
    columns that are a MultiIndex, whose names select no one column."""
    check_flat_columns(data)
    stamps = None
    if timestamp is not None:
        check_label(timestamp, "timestamp", "timestamp")
        stamps = data.get(timestamp)
        if stamps is None and not isinstance(data.index, pd.DatetimeIndex):
            raise no_timestamp_error(timestamp, data.columns)
    if stamps is None and isinstance(data.index, pd.DatetimeIndex) and (unit is not None or origin is not None):
        stamps = data.index[:1].to_series(index=pd.RangeIndex(min(len(data), 1)))  # each key's rows read them there
    missing = [name for name in targets if name not in data.columns]
    if missing:
        raise missing_targets_error(data.columns, list(targets), missing)
    if (unit is not None or origin is not None) and isinstance(stamps, pd.Series) and len(stamps) \
            and pd.api.types.is_datetime64_any_dtype(stamps.dtype):
        to_utc_index(stamps.iloc[:1], unit=unit, origin=origin,  # raises: they change nothing
                     name="timestamp" if timestamp is None else str(timestamp))


def _rows_by_key(data: pd.DataFrame, codes: np.ndarray, n_keys: int):
    """Each key's rows of ``data`` (codes ``0 .. n_keys - 1``; a row of code ``-1`` in none), in their order, with
    their positions in ``data`` (a view; an error names the rows by them): one stable sort, then a slice per key (a
    take over the frame per key cost 1.6 ms each, 1.6 s for an update of 1,000 keys)."""
    order = np.argsort(codes, kind="stable")
    bounds = np.searchsorted(codes[order], np.arange(n_keys + 1))
    grouped = data.iloc[order]
    return ((order[bounds[i] : bounds[i + 1]], grouped.iloc[bounds[i] : bounds[i + 1]]) for i in range(n_keys))


def forecast_columns(target: Any) -> list[str]:
    """The columns of :meth:`FleetPredictor.predict`'s frame besides the key column, for the fleet's ``target``
    (``target`` among them only when there are several)."""
    several = not isinstance(target, str) and len(as_target_list(target)) > 1
    return [name for name in ("timestamp", "target", "yhat", "lower", "upper") if name != "target" or several]


def _check_model_settings(model: BaseForecaster, n_targets: int) -> None:
    """What ``model``'s fit checks of its settings before it reads a series of ``n_targets`` targets: a torch
    model's network settings (and its patch against a given window), an ensemble's members and, in turn, each
    member's (length and horizon included), DLinear's candidate windows (checked at fit only: a file fitted with
    one of a bucket beside wider ones loads)."""
    if hasattr(model, "_check_candidates"):  # DLinear, dlinear_log and the batched DLinear keys
        model._check_candidates()
    if hasattr(model, "_planned_members"):  # an ensemble
        for member in model._planned_members().values():
            member.check_settings()
            _check_model_settings(member, n_targets)
    elif hasattr(model, "_check_network_settings"):  # a patch LSTM (torch already imported)
        model._check_network_settings(n_targets)


def _check_key_name(key: Any, target: Any) -> None:
    """A typed error for a key column named as a column of :meth:`FleetPredictor.predict`'s frame: that column would
    be written over the keys, and the forecast would name no key."""
    check_label(key, "key", "endpoint")
    taken = forecast_columns(target)
    if isinstance(key, str) and key in taken:
        raise WorkloadDataError(
            f"key={quote(key)} is the name of a column of the forecast ({', '.join(taken)}), which predict() would "
            f"write over the keys: rename the key column, e.g. data.rename(columns={{{quote(key)}: 'endpoint'}}), "
            "and pass key='endpoint'.")


def _fitted_names(keys: list) -> dict:
    """Each fitted key by itself: an update's key that equals one (``1.0`` or ``np.int64(1)`` for ``1``) is looked up
    as that fitted key, so the forecast, its key column's dtype and ``update_errors_`` keep the fitted names."""
    return {name: name for name in keys}


def _check_saveable_keys(fleet: Any) -> None:
    """A typed error, before anything is written, for a key (fitted, or in ``errors_`` or ``update_errors_``) of a
    fleet's state (:meth:`FleetPredictor._state`) that a fleet file cannot hold (bytes, a date, a Decimal, ...): the
    file format's own encoder is the judge."""
    from .persistence import _Encoder

    encoder = _Encoder()
    for name in (*fleet.keys_, *fleet.errors_, *fleet.update_errors_):
        try:
            encoder.encode(name)
        except TypeError:
            part = _unsaveable_part(name, encoder)  # a tuple's member the file cannot hold, not the tuple
            kind = "a missing timestamp (NaT)" if part is pd.NaT else f"a {type(part).__name__}"
            what = f"is {kind}" if part is name else f"holds {'NaT' if part is pd.NaT else quote(part)}, {kind}"
            raise WorkloadDataError(
                f"key {quote(name)} {what}, which a fleet file cannot hold (it holds text, numbers, booleans, "
                "timestamps and tuples of them): fit the fleet on keys converted first, e.g. "
                f"data[{quote(fleet.key_)}] = data[{quote(fleet.key_)}].astype(str), then save.") from None


def _unsaveable_part(name: Any, encoder: Any) -> Any:
    """The first value within ``name`` (itself, or a member of a tuple, however deep) that ``encoder`` refuses;
    ``name`` itself where none of its members is refused alone."""
    if isinstance(name, tuple):
        for member in name:
            part = _unsaveable_part(member, encoder)
            try:
                encoder.encode(part)
            except TypeError:
                return part
    return name


class _UnknownKey:
    """The error for an update's key the fleet does not know. Where a fitted key reads as the same text in another
    type (the update's ``"1"`` for the fit's ``1``: a pipeline that read the key column as text this time), it says
    so and how to convert the column; refitting would add the key a second time. The fitted keys' texts are
    gathered once per update, at its first unknown key."""

    def __init__(self, keys: Any, column: Any):
        self.keys, self.column, self.texts = keys, column, None

    def __call__(self, name: Any) -> WorkloadDataError:
        fault = key_fault(name, self.column)  # a key no fit keeps: why (an infinite number, half a character)
        if fault is not None:
            return naming_rows(WorkloadDataError, f"key column {quote(self.column)} holds {quote(name)} at ", 0,
                               f": {fault}")  # the key's first row, which the caller names as its frame's
        if self.texts is None:
            self.texts = {}
            for key in self.keys:
                self.texts.setdefault(str(key), key)
        fitted = self.texts.get(str(name))
        if fitted is not None and type(fitted) is not type(name):
            kind, fitted_kind = type(name).__name__, type(fitted).__name__
            return WorkloadDataError(
                f"key {quote(name)} (type {kind}) was not fitted, but key {quote(fitted)} (type {fitted_kind}) was: the "
                f"update's key column holds {kind} where the fit's held {fitted_kind}; convert it, e.g. "
                f"data[{quote(self.column)}] = data[{quote(self.column)}].astype({fitted_kind}), and update again.")
        return WorkloadDataError(f"key {quote(str(name))} was not fitted (it is new, or in errors_); fit the fleet "
                                 "again to add it.")


def _other_level(state: Any, level: Any, fitted: float) -> float | None:
    """``predict``'s ``level`` when it is another than the ``fitted`` one (``None``: the fitted one, whose
    half-widths every key holds); a typed error for no coverage, or for another level on a fleet holding a batched
    DLinear key, which keeps its half-widths at the fitted level and not the validation errors they came from."""
    if level is None:
        return None
    level = coverage_level(level)
    if level == fitted:
        return None
    batched = next((block.keys[0] for block in state._blocks if block.keys), None)
    if batched is not None:
        raise WorkloadDataError(
            f"level={level:g} is not the level this fleet was fitted at ({fitted:g}), and its batched DLinear "
            f"keys (e.g. {quote(str(batched), 40)}) keep their interval at {fitted:g}, not the validation errors it "
            f"was calibrated from: fit the fleet at that level (fleet.set_params(level={level:g}).fit(...)), "
            f"or predict at level={fitted:g}.")
    return level


def _global_calibration(model: Any, level: float, rows: Any = None) -> dict[str, np.ndarray]:
    """The interval and confidence of each key (of the keys at ``rows``) from the global model's validation windows,
    as ``FleetGlobal`` holds them: one :func:`_calibrate` call per count of validation windows, on at most
    ``CALIBRATION_CHUNK_BYTES`` of windows at a time (one key's at least; each key's result is its own). A key whose
    validation windows the model leaves out of its interval (``validation_left_out_``, absent in files saved before
    it was kept: none) is calibrated again on its own, as a predictor's interval leaves them out
    (:func:`~workload_predictor.predictor.calibration`)."""
    rows = np.arange(len(model.keys_)) if rows is None else np.asarray(rows, dtype=np.int64)
    counts = np.array([len(model.validation_actual_[i]) for i in rows], dtype=np.int64)
    horizon, k = model.horizon, model.n_targets_
    out = dict(halfwidth=np.empty((len(rows), horizon, k)), confidence=np.empty(len(rows)),
               confidence_by_target=np.empty((len(rows), k)))
    for count in np.unique(counts):
        same = np.flatnonzero(counts == count)
        step = max(1, int(CALIBRATION_CHUNK_BYTES // max(1, 8 * int(count) * horizon * k)))
        for chunk in (same[start:start + step] for start in range(0, len(same), step)):
            part = _calibrate(np.stack([model.validation_forecast_[rows[j]] for j in chunk]),
                              np.stack([model.validation_actual_[rows[j]] for j in chunk]), level)  # [G, v, H, k] each
            for name, values in out.items():
                values[chunk] = part[name]
    left_out = getattr(model, "validation_left_out_", None)
    for j in () if left_out is None else np.flatnonzero([left_out[i] is not None for i in rows]):
        row = rows[j]
        own = calibration(model.validation_forecast_[row], model.validation_actual_[row], level, left_out=left_out[row])
        out["halfwidth"][j], out["confidence"][j] = own["interval_halfwidth_"], own["confidence_"]
        out["confidence_by_target"][j] = own["_confidence_by_index"]
    return out


def _global_relative(model: Any, targets: Any, level: float) -> list[tuple[float | None, str | None]]:
    """:meth:`FleetGlobal.relative_error` of every key of the global ``model``: the validation MAEs of the keys with
    as many windows at once (``CALIBRATION_CHUNK_BYTES`` of them at a time), a key with windows left out on its own
    (:func:`~workload_predictor.predictor.calibration`), the naive errors and level falls of the keys keeping as many
    points at once (256 keys at a time; read as the forecasts read them, a burst the key came back from at its median:
    ``GlobalLSTM._settled_recent``), each naive error at least the key's fit's (``fit_naive_error_``)."""
    from .health import held_scale, kept_buckets, relative_text

    if getattr(model, "recent_", None) is None:
        return [(None, None)] * len(model.keys_)
    points = model._settled_recent()  # as the forecasts read them: a burst held does not inflate the naive error
    horizon, k, n_keys = model.horizon, model.n_targets_, len(model.keys_)
    kept = kept_buckets(model.window_, horizon)
    mae, recent, scale, fall = np.ones((4, n_keys, k))
    left_out = getattr(model, "validation_left_out_", None) or [None] * n_keys
    counts = np.array([len(model.validation_actual_[i]) if left_out[i] is None else -1 for i in range(n_keys)])
    for count in np.unique(counts[counts > 0]):
        same = np.flatnonzero(counts == count)
        step = max(1, int(CALIBRATION_CHUNK_BYTES // (8 * int(count) * horizon * k)))
        for chunk in (same[start:start + step] for start in range(0, len(same), step)):
            errors = np.abs(np.stack([model.validation_actual_[i] for i in chunk])
                            - np.maximum(np.stack([model.validation_forecast_[i] for i in chunk]), 0.0))
            mae[chunk], recent[chunk] = errors.mean(axis=(1, 2)), errors[:, -horizon:].mean(axis=(1, 2))
    for i in np.flatnonzero(counts < 0):
        own = calibration(model.validation_forecast_[i], model.validation_actual_[i], level, left_out=left_out[i])
        mae[i], recent[i] = own["validation_mae_"], own["recent_mae_"]
    lengths = np.array([len(held) for held in points])
    for length in np.unique(lengths):
        same = np.flatnonzero(lengths == length)
        for chunk in (same[start:start + 256] for start in range(0, len(same), 256)):
            held = np.stack([np.asarray(points[i], dtype=np.float64).reshape(length, k) for i in chunk])
            scale[chunk], fall[chunk] = held_scale(held, kept, horizon)
    fitted = getattr(model, "fit_naive_error_", None)  # None: a file saved before it was kept (its kept points alone)
    if fitted is not None:
        scale = np.maximum(scale, fitted)
    ratios = np.maximum(mae, recent / fall) / np.where(scale > 0, scale, 1.0)  # (N, k); one unit where none moved
    worst = ratios.argmax(axis=1)
    rows = np.arange(n_keys)
    found = [(ratio, relative_text(targets[j], m, newest, ratio, naive, lowered))
             for ratio, j, m, newest, naive, lowered in zip(
                 ratios[rows, worst].tolist(), worst.tolist(), mae[rows, worst].tolist(), recent[rows, worst].tolist(),
                 scale[rows, worst].tolist(), fall[rows, worst].tolist())]
    for i in np.flatnonzero(counts == 0):  # no validation window: not measured
        found[i] = (None, None)
    return found


#: Float64 copies of the validation windows :func:`_calibrate` holds at once: the stacked forecasts and actuals, their
#: clipped difference and its absolute value, the errors side by side, the conformal quantile's sort (6.2 measured:
#: 33.9 MiB for 5,000 windows of 48 steps x 3 targets).
CALIBRATION_COPIES = 7
#: The validation windows (bytes, float64) :func:`_global_calibration` calibrates in one call, so that its memory does
#: not grow with the fleet (16 MB: 2,500 keys of 56 windows x 5 steps x 3 targets).
CALIBRATION_CHUNK_BYTES = 16e6


class _Added:
    """A global fleet key's new buckets in one update (``values``, ``(m, k)``) and the positions among them that no row
    came for (``filled``, ascending: zero-filled by the gap filling), from which ``GlobalLSTM.update`` finds its lost
    buckets as a predictor's update does."""

    __slots__ = ("values", "filled")

    def __init__(self, values: np.ndarray, filled: np.ndarray):
        self.values, self.filled = values, filled

    def __len__(self) -> int:
        return len(self.values)

    def head(self, count: int) -> "_Added":
        """The first ``count`` buckets (an undo's head: the key's buckets before its jump)."""
        return _Added(self.values[:count], self.filled[self.filled < count])


def _lengths(new: list) -> np.ndarray:
    """Each key's count of new buckets in ``new`` (an :class:`_Added` per key, or None)."""
    return np.array([0 if values is None else len(values) for values in new], dtype=np.int64)


def _global_update_bytes(model: Any, added: np.ndarray) -> float:
    """An upper estimate of the bytes a global fleet's update of ``added[j]`` new buckets to key ``j`` allocates: the
    model's update (:meth:`GlobalLSTM.update_bytes`) and the recalibration of the keys it updates (one chunk of
    :func:`_global_calibration` at a time)."""
    sizes = [8.0 * len(model.validation_actual_[j]) * model.horizon * model.n_targets_ for j in np.flatnonzero(added)]
    chunk = max(min(sum(sizes), CALIBRATION_CHUNK_BYTES), max(sizes, default=0.0))
    return model.update_bytes(added) + CALIBRATION_COPIES * chunk


def _error_type(module: Any, name: Any) -> type:
    """The error class a fleet file names: one of this package's ``errors`` (anything else is refused)."""
    error = getattr(module, name, None) if isinstance(name, str) else None
    if not (isinstance(error, type) and issubclass(error, ValueError) and error.__module__ == module.__name__):
        raise ModelFileError(f"the fleet file names an unknown error type {quote(str(name))}.")
    return error


# -- what a worker runs --------------------------------------------------------------------
@dataclass
class PackedSeries:
    """A partition's series as one array (keys' rows one after the other) and per-key arrays: what a
    worker process receives. A few large buffers serialise in one pass where a list of per-key arrays
    costs the engine a frame each (10,000 series: 8 s through a Dask LocalCluster, 0.9 s packed)."""

    keys: list
    starts: np.ndarray  # (P,) datetime64[ns]
    freqs: np.ndarray  # (P,) timedelta64[ns]
    bounds: np.ndarray  # (P + 1,) each key's rows are values[bounds[i]:bounds[i + 1]]
    values: np.ndarray  # (sum of lengths, k)

    @classmethod
    def pack(cls, series: list[KeySeries]) -> "PackedSeries":
        return cls(keys=[item.key for item in series],
                   starts=np.array([item.start for item in series], dtype="datetime64[ns]"),
                   freqs=np.array([item.freq.to_timedelta64() for item in series], dtype="timedelta64[ns]"),
                   bounds=np.concatenate([[0], np.cumsum([len(item.values) for item in series])]).astype(np.int64),
                   values=np.concatenate([item.values for item in series]))

    def unpack(self) -> list[KeySeries]:
        return [KeySeries(name, self.starts[i], pd.Timedelta(self.freqs[i]), self.values[self.bounds[i] : self.bounds[i + 1]])
                for i, name in enumerate(self.keys)]


def _fit_packed(config: dict[str, Any], packed: PackedSeries):
    """:func:`_fit_partition` in a worker process; its blocks come back without their series (``values``
    is ``None``: the parent holds them)."""
    from ._heap import reuse_heap

    with reuse_heap():
        blocks, predictors, errors = _fit_partition(config, packed.unpack())
    for block in blocks:
        block.values = None
    return blocks, predictors, errors


def _fit_partition(config: dict[str, Any], series: list[KeySeries]):
    """Fit one partition: ``(DLinear blocks, {key: WorkloadPredictor}, {key: error})``. Runs in any process.

    A key's :class:`~workload_predictor.errors.MemoryLimitError` from a partition run on another thread of the
    fleet's process (a thread executor, a Dask worker with ``processes=False``) says so: the process's RSS, which
    the limit reads, counts the allocations of the partitions running beside it too."""
    blocks, predictors, errors = _fit_partition_here(config, series)
    pid, thread = config.get("fleet_thread") or (None, None)
    if pid == os.getpid() and thread != threading.get_ident():
        for name, error in errors.items():
            if type(error) is MemoryLimitError:
                errors[name] = MemoryLimitError(f"{error} {SHARED_PROCESS_NOTE}")
    return blocks, predictors, errors


#: Appended to a key's MemoryLimitError from a partition fitted on a thread beside others in the fleet's process.
SHARED_PROCESS_NOTE = ("This key was fitted on a thread of the fleet's process beside other partitions, whose "
                       "allocations the process's RSS (what memory_limit_mb reads) counts too: fit in processes "
                       "(n_jobs=..., a ProcessPoolExecutor, Dask workers with processes=True) to bound each key "
                       "alone, or raise memory_limit_mb.")


def _built_models(settings: dict[str, Any]) -> tuple:
    """The registry entries of the models a key's fit with ``settings`` builds: its model and, for a model that
    combines others (the ensemble), the members it names. A partition carries them to its worker process, where a
    model registered only in the fleet's process is unknown (:func:`_register_models`)."""
    try:
        entry = registry.get(settings["model"])
    except WorkloadDataError:  # the fleet's own check names it
        return ()
    entries = [entry]
    if entry.combines:
        params = settings.get("model_params")
        members = params.get("members") if isinstance(params, collections.abc.Mapping) else None
        if members is None:
            members = entry.defaults().get("members", ())
        if isinstance(members, (list, tuple)):
            entries += [registry.get(name) for name in members if isinstance(name, str) and name in registry.names()]
    return tuple(entries)


_register_lock = threading.Lock()


def _registered(name: str):
    """The registry entry named ``name`` in this process, or None."""
    try:
        return registry.get(name)
    except WorkloadDataError:
        return None


def _register_models(entries: Sequence) -> None:
    """Register in this process the entries (:func:`_built_models`) it lacks or holds otherwise: those of the fleet's
    process, which the keys' fits build by name. In the fleet's process (or a worker that registered them at an
    earlier partition) they are already there, and nothing changes."""
    for entry in entries:
        if _registered(entry.name) == entry:
            continue
        with _register_lock:  # the worker's threads fit partitions side by side
            known = _registered(entry.name)
            if known == entry:
                continue
            if known is not None:
                registry.unregister(entry.name)
            registry.register(entry.name, entry.target, needs_torch=entry.needs_torch, baseline=entry.baseline,
                              member=entry.member, combines=entry.combines, window_param=entry.window_param,
                              persisted=entry.persisted)


@anomaly.keeping_scans
def _fit_partition_here(config: dict[str, Any], series: list[KeySeries]):
    """:func:`_fit_partition`'s work, in the process and thread it runs on."""
    settings, targets = config["settings"], config["targets"]
    _register_models(config.get("models", ()))
    ends_at = config.get("ends_at")
    if _deadline.current().end is not None or ends_at is None:  # in the fleet's process: its deadline is open
        within = contextlib.nullcontext()
    else:  # another process: the fleet's deadline, on the wall clock
        within = _deadline.limit(max(0.0, ends_at - time.time()))
    with within:
        if settings["model"] == "dlinear" and not config.get("per_key"):
            # one batched problem: the limit bounds what the partition adds
            try:
                with memory_limit(settings["memory_limit_mb"]):
                    return _fit_dlinear(settings, series, targets, config.get("lost"))
            except MemoryLimitError as exc:
                if len(series) == 1:
                    return [], {}, {series[0].key: exc}
            # Over the limit as one problem: each key alone, as a WorkloadPredictor of it would be bounded (a key
            # over it even so is that key's error; _fit_partitions raises when no key of the fleet fits).
            blocks, predictors, errors = [], {}, {}
            for item in series:
                try:
                    with memory_limit(settings["memory_limit_mb"]):
                        fitted, _, failed = _fit_dlinear(settings, [item], targets, config.get("lost"))
                except MemoryLimitError as exc:
                    fitted, failed = [], {item.key: exc}
                blocks.extend(fitted)
                errors.update(failed)
            return blocks, predictors, errors
        predictors, errors = {}, {}
        for item in series:
            _fit_key(settings, item, targets, predictors, errors)
    return [], predictors, errors


def _fit_key(settings: dict[str, Any], item: KeySeries, targets: list[str], predictors: dict, errors: dict) -> None:
    """Fit one key's own ``WorkloadPredictor`` into ``predictors`` (or its error into ``errors``)."""
    predictor = WorkloadPredictor(**settings)
    started = time.perf_counter()
    try:
        # The fleet's deadline (a key past it takes each stage's smallest valid path); this key's own record of
        # the stages cut.
        with _deadline.limit(None, own_record=True) as deadline:
            model = predictor._build_model()
            bucketed = item.to_bucketed(targets)
            with memory_limit(predictor.memory_limit_mb) as memory:
                anomalies, flagged = _fit_anomalies(bucketed)
                model.fit(item.values, flagged)
        predictors[item.key] = predictor._commit_fit(model, bucketed, memory.peak_mb, started,
                                                     tuple(deadline.stages), anomalies, warn=False)
    except WorkloadDataError as exc:
        errors[item.key] = exc


def _settled_rows(values: np.ndarray, window: np.ndarray, flags: dict[int, list] | None,
                  lost: dict[int, np.ndarray] | None = None) -> dict[int, np.ndarray]:
    """:meth:`FleetBlock.settled_inputs` of the series ``values`` ``(B, n, k)`` with windows ``window`` ``(B,)``.

    A key's window is settled as a predictor fitted on its series settles its context (from its ``input_flags_``,
    each run begun where a counter's climb into it began: :func:`~workload_predictor.anomaly.with_leads`): with the
    buckets its fit flags over the whole series (:func:`workload_predictor.anomaly.fit_scan`: a chain of
    repeated bursts is flagged from its first one, which may lie long before the window) among the window and the
    ``anomaly.REFERENCE_BUCKETS`` before it, all of them (more than the ``anomaly.KEPT`` it reports). ``flags``:
    ``{row: [(position, target index, reference median), ...]}``, the buckets the fit flagged there (a row absent
    has none); ``None`` (a file saved before they were kept): every key is scanned here, where a key that cannot hold a flagged bucket
    (:func:`~workload_predictor.anomaly.may_hold_flags`, for the least floor) is skipped before its floor is computed.
    ``lost``: ``{row: positions of its lost buckets}`` (:meth:`FleetBlock.lost_of`); where one lies in a key's window,
    each run of them is read as the median of the buckets before it (:func:`~workload_predictor.anomaly.lost_runs`,
    on the series with its bursts settled), as a predictor's ``_settled_inputs`` reads its ``lost_buckets_``.
    """
    from . import anomaly

    n, lost = values.shape[1], lost or {}
    found = {}
    rows = range(len(values)) if flags is None else sorted({*flags, *lost})
    for row in rows:  # key by key: no block-sized temporaries
        y, w = values[row], int(window[row])
        first = max(n - w - anomaly.REFERENCE_BUCKETS, 0)
        if flags is None:
            flagged = [] if not anomaly.may_hold_flags(y) else [
                (position, col, median) for position, col, _, median in anomaly.fit_scan(y)[1]]
        else:
            flagged = flags.get(row, [])
        among = {(position - first, col): median for position, col, median in flagged if position >= first}
        runs = anomaly.led_runs(y[first:], among)
        positions = lost.get(row)
        if positions is not None and positions[-1] >= n - w:  # a lost bucket in the window
            settled = anomaly.settle(y[first:], runs) if runs else y[first:]
            runs = sorted(runs + anomaly.lost_runs(settled, positions - first))
        if runs:
            found[row] = anomaly.settle(y[first:], runs)[-w:]
    return found


def _lost_by_row(at: np.ndarray | None) -> dict[int, np.ndarray]:
    """A block's lost buckets (``lost_at`` rows sorted by key row) as :func:`_settled_rows` reads them: ``{row:
    positions}``."""
    if at is None or not len(at):
        return {}
    rows, starts = np.unique(at[:, 0], return_index=True)
    return dict(zip(rows.tolist(), np.split(at[:, 1], starts[1:])))


def _flags_by_row(at: np.ndarray, median: np.ndarray) -> dict[int, list]:
    """A block's flagged buckets (``flag_at`` rows sorted by key row, ``flag_median``) as :func:`_settled_rows`
    reads them: ``{row: [(position, target index, reference median), ...]}``."""
    rows, starts = np.unique(at[:, 0], return_index=True)
    ends = [*starts[1:].tolist(), len(at)]
    return {row: list(zip(at[start:end, 1].tolist(), at[start:end, 2].tolist(), median[start:end].tolist()))
            for row, start, end in zip(rows.tolist(), starts.tolist(), ends)}


def _kept_flags(flags: dict[int, list], n: int, window: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A block's ``flag_at`` and ``flag_median`` from its fit's scans (``{row: fit_scan's flagged buckets}``, series
    of ``n`` buckets, windows ``window``): the ones its forecast reads, among each key's window and the
    ``anomaly.REFERENCE_BUCKETS`` before it, sorted by (row, position, target index)."""
    from . import anomaly

    kept = sorted((row, position, col, median) for row, found in flags.items() for position, col, _, median in found
                  if position >= n - int(window[row]) - anomaly.REFERENCE_BUCKETS)
    at = np.array([flag[:3] for flag in kept], dtype=np.int64).reshape(len(kept), 3)
    return at, np.array([flag[3] for flag in kept], dtype=np.float64)


def _recent_flags(flags: dict[int, list], n: int) -> np.ndarray:
    """A block's ``recent_flags`` from its fit's scans (``{row: fit_scan's flagged buckets}``, series of ``n``
    buckets): each flagged bucket among its key's newest ``anomaly.RECENT_BUCKETS`` once, as (row, position), sorted."""
    since = n - anomaly.RECENT_BUCKETS
    kept = sorted({(row, position) for row, found in flags.items() for position, *_ in found if position >= since})
    return np.array(kept, dtype=np.int64).reshape(len(kept), 2)


def _refit_lost(block: FleetBlock, row: int, series: KeySeries, new: Any) -> np.ndarray | None:
    """The lost buckets of the key in ``row`` of ``block`` once ``new`` (a :class:`~workload_predictor.data.Continuation`)
    continues ``series`` (its series, or the one from before a jump its update undoes), as positions in the series
    its refit reads (its newest ``len(series.values)`` buckets), ascending; ``None``: none. Those it had
    (:meth:`FleetBlock.lost_of`) and ``new``'s zero-filled buckets a predictor updated with ``new`` counts lost
    (:func:`~workload_predictor.anomaly.lost_buckets`: each run whose reference, less the lost and the flagged
    buckets, says it was a load), as its ``_lost_after`` finds them."""
    old = block.lost_of(row)
    if old is not None:  # from the block's series to ``series`` (the same, or the one before a jump)
        width = block.freq.to_timedelta64()
        old = old + (block.start[row] - series.start) // width
        old = old[(old >= 0) & (old < len(series.values))]
    n = len(series.values)
    if new.gap or new.missing is not None:
        out = np.zeros(n + len(new.values), dtype=bool)  # the buckets left out of the references
        if old is not None:
            out[old] = True
        if block.flag_at is not None and series.start == block.start[row]:  # its flagged buckets, where they lie
            at = block.flag_at
            out[at[np.searchsorted(at[:, 0], row) : np.searchsorted(at[:, 0], row, side="right"), 1]] = True
        found = anomaly.lost_buckets(np.concatenate([series.values, new.values]), filled_positions(new) + n, out)
        if len(found):
            old = found if old is None else np.concatenate([old, found])
    if old is None:
        return None
    old = old - len(new.values)  # the refit reads the newest n buckets
    old = old[old >= 0]
    return old if len(old) else None


def _update_flags(series: KeySeries, new: Any, fitted: np.ndarray, stamps: np.ndarray | None) -> np.ndarray | None:
    """``stamps`` (a refit key's flagged starts up to the bucket its update continues, or None) with the buckets of
    ``new`` (a :class:`~workload_predictor.data.Continuation` of ``series``) a predictor fitted on the key's series
    and updated with them flags (``WorkloadPredictor._update_anomalies``), where they lie among its newest
    ``anomaly.RECENT_BUCKETS``: each judged against the floor of the key's fit (``fitted``, the one a predictor's
    updates keep), or the typical burst of the series where more (:func:`~workload_predictor.anomaly.busy_floor`,
    of the buckets the key keeps and the new ones), and against the ``anomaly.HISTORY_BUCKETS`` before the update
    (with the bursts a scan of the newest ``2 * anomaly.HISTORY_BUCKETS`` of ``series`` against that floor flags
    there); naive UTC ``datetime64[ns]``, ascending."""
    n, m = len(series.values), len(new.values)
    counts = np.count_nonzero(series.values, axis=0) + np.count_nonzero(new.values, axis=0)
    busy = None  # busy_floor's, found only where a target is sparse (the common busy series has none)
    if ((counts >= anomaly.MIN_BUSY) & (counts < 0.2 * (n + m) + 0.8)).any():
        busy = anomaly.busy_floor(*anomaly.busy_continued(*anomaly.busy_values(series.values), new.values), n + m)
    floor = fitted if busy is None else np.maximum(fitted, busy)
    tail = series.values[-anomaly.HISTORY_BUCKETS:]
    # The bursts flagged among the tail, as a scan of the key's newest buckets against that floor flags them (a
    # predictor reads the flags its scans recorded there). The scan reads the tail and as many buckets before it, which
    # hold each reference of a tail bucket and each of theirs: its cost does not grow with the series.
    first, scanned = n - len(tail), series.values[-2 * anomaly.HISTORY_BUCKETS:]
    skip = n - len(scanned)

    def known() -> dict[tuple[int, int], float]:
        if not anomaly.may_hold_flags(scanned, floor):
            return {}
        return {(skip + position - first, col): median
                for position, col, _, median, _ in anomaly.series_flags(scanned, floor) if skip + position >= first}

    since = len(tail) + m - anomaly.RECENT_BUCKETS
    positions = sorted({position for position, *_ in anomaly.update_flags(tail, new.values, floor, known, first)
                        if position >= since})
    if not positions:
        return stamps
    found = series.start + (np.array(positions, dtype=np.int64) + first) * series.freq.to_timedelta64()
    return found if stamps is None else np.concatenate([stamps, found])


def _carried_flags(blocks: list[FleetBlock], carried: dict, floors: dict) -> None:
    """Give each refitted key of ``blocks`` the flags a predictor updated with its new buckets would count
    (``carried``: ``{key: flagged starts, or None}``, naive UTC ``datetime64[ns]``: those it counted before and its
    update's, :func:`_update_flags`), among its newest ``anomaly.RECENT_BUCKETS``, and the floor of its fit
    (``floors``: ``{key: floor (k,)}``), which its next update judges its buckets against. A key absent from
    ``carried`` (its block was read from a file saved before they were kept) keeps the refit's flags, every one
    among them."""
    for block in blocks:
        block.input_floor = np.stack([floors[name] for name in block.keys]).astype(np.float64)
        at, width = block.recent_flags, block.freq.to_timedelta64()
        if at is None:
            continue
        rows = {row for row, name in enumerate(block.keys) if carried.get(name) is not None}
        rows.update(row for row in at[:, 0].tolist() if block.keys[row] not in carried)
        n, parts = block.values.shape[1], [np.empty((0, 2), dtype=np.int64)]
        for row in sorted(rows):  # the keys holding a flag, old or new (most hold none)
            name = block.keys[row]
            if name not in carried:
                parts.append(at[np.searchsorted(at[:, 0], row) : np.searchsorted(at[:, 0], row, side="right")])
                continue
            positions = (carried[name] - block.start[row]) // width  # int64
            positions = positions[positions >= n - anomaly.RECENT_BUCKETS]
            parts.append(np.stack([np.full(len(positions), row, dtype=np.int64), positions], axis=1))
        block.recent_flags = np.concatenate(parts).reshape(-1, 2)
        vars(block).pop("_counts", None)


def _settled_keys(items: list[KeySeries], flags: dict[int, list]) -> dict[int, np.ndarray]:
    """The keys whose series holds a burst it came back from, as a predictor's fit flags it (against the scale floor
    of the whole series): ``{index in items: the series with each such burst at its median}``, what the validation
    reads. A key that cannot hold a flagged bucket (:func:`~workload_predictor.anomaly.may_hold_flags`, for the least floor:
    a counter's run is flagged within ``K`` floors) is skipped; each
    scanned key's flagged buckets go to ``flags[index]`` (its forecast's inputs are settled with them)."""
    from . import anomaly

    found = {}
    for i, item in enumerate(items):
        if not anomaly.may_hold_flags(item.values):
            continue
        flagged = flags[i] = anomaly.fit_scan(item.values)[1]
        settled = anomaly.settled_inputs(item.values, anomaly.flagged_of(flagged)) if flagged else None
        if settled is not None:
            found[i] = settled
    return found


def _lost_settled(items: list[KeySeries], lost: dict, settled: dict[int, np.ndarray]) -> dict[int, np.ndarray]:
    """The keys of ``items`` with lost buckets (``lost``: ``{key: positions in its series}``), ``{index in items:
    positions}``; each one's series in ``settled`` (found by :func:`_settled_keys`: what its validation reads) gets each run of
    them read as its reference median too (:func:`~workload_predictor.anomaly.lost_runs`, on the series with its
    bursts settled), as the windows a predictor's updates complete read its ``lost_buckets_``."""
    found = {}
    for i, item in enumerate(items):
        positions = lost.get(item.key)
        if positions is None or not len(positions):
            continue
        found[i] = np.asarray(positions, dtype=np.int64)
        values = settled.get(i, item.values)
        runs = anomaly.lost_runs(values, found[i])
        if runs:
            settled[i] = anomaly.settle(values, runs)
    return found


def _weighted_keys(reference: BaseForecaster, items: list[KeySeries]) -> tuple[dict[int, np.ndarray], dict[int, list]]:
    """The keys of one length whose DLinear fit would weigh a flagged bucket (``DLinear(robust=True)``):
    ``{index in items: weight floor (k,)}``, and their flagged buckets over the whole series
    (:func:`workload_predictor.anomaly.series_flags` for that floor, ``{index in items: flags}``).

    The batched fit weighs these keys' windows as DLinear does (``fit_batched``'s
    ``floors``, reading their weights from ``scans``). A key can only hold one if its range exceeds ``COUNTER_MARGIN``
    floors (:func:`~workload_predictor.anomaly.may_hold_flags`, a few microseconds per key: a counter's run is flagged
    within ``K`` floors); those are scanned for their floor: a key's fit weighs a bucket where its training
    part or its refit's points hold a flag, and a point's flag depends only on the points up to it, so where the
    scan of the whole series flags any.
    """
    from . import anomaly
    from .windows import validation_origins

    if not getattr(reference, "robust", False) or not items:
        return {}, {}
    try:
        n_train = int(validation_origins(len(items[0].values), reference.horizon, reference.validation_fraction,
                                         reference.max_validation_windows)[0])
    except (ValueError, IndexError):
        return {}, {}  # too short: the batched fit reports it
    if n_train < 2:
        return {}, {}
    found, scans = {}, {}
    for i, item in enumerate(items):  # key by key: no block-sized temporaries (a worker's heap is kept small)
        if not anomaly.may_hold_flags(item.values):
            continue
        floor = anomaly.floor_of(item.values)  # the whole series' (DLinear's fit, dlinear.series_floor)
        if not anomaly.may_hold_flags(item.values, floor):
            continue
        flags = anomaly.series_flags(item.values, floor)
        if flags:
            found[i], scans[i] = floor, flags
    return found, scans


def _fit_dlinear(settings: dict[str, Any], series: list[KeySeries], targets: list[str],
                 lost: dict | None = None):
    """Batched DLinear over keys grouped by length and bucket width (keys holding a flagged bucket weighed as
    DLinear weighs them). ``lost``: ``{key: positions of its lost buckets in its series}`` (a refit's, :meth:`FleetPredictor.update`),
    which its validation and its forecast's inputs read at their reference medians (:func:`_lost_settled`)."""
    from .models.dlinear_batched import fit_batched

    # DLinear with the predictor's settings, checked by the fleet's fit (_check_settings) or, fitted, by its load.
    reference = WorkloadPredictor(**settings)._build_model()
    device = _solve_device(settings["device"])
    groups: dict[tuple, list[KeySeries]] = {}
    for item in series:
        groups.setdefault((len(item.values), item.freq), []).append(item)
    blocks, predictors, errors = [], {}, {}
    for (_, freq), items in groups.items():
        flags: dict[int, list] = {}  # each scanned key's flagged buckets (by its row in the block)
        try:
            floors, scans = _weighted_keys(reference, items)
            settled = _settled_keys(items, flags)
            bursts = dict(settled)  # what health measures against (a loaded block finds the same from its flags)
            lost_rows = _lost_settled(items, lost, settled) if lost else {}
            fit = fit_batched(np.stack([item.values for item in items]), horizon=reference.horizon,
                              window=reference.window, kernel_size=reference.kernel_size, alpha=reference.alpha,
                              candidate_windows=reference.candidate_windows,
                              validation_fraction=reference.validation_fraction,
                              max_validation_windows=reference.max_validation_windows, blend=reference.blend,
                              device=device, floors=floors, scans=scans,
                              follow_level=reference.follow_level, settled=settled)
        except MemoryLimitError:  # the partition's, not a key's: _fit_partition fits its keys one by one
            raise
        except WorkloadDataError as exc:
            errors.update({item.key: _naming_key(exc, items) for item in items})
            continue
        calibrated = _calibrate(fit.validation_forecast, fit.validation_actual, settings["level"])
        _leave_out(calibrated, fit, [item.values for item in items], flags, settings["level"], reference.horizon,
                   lost_rows)
        block = FleetBlock(
            keys=[item.key for item in items], start=np.array([item.start for item in items], dtype="datetime64[ns]"),
            freq=freq, values=np.stack([item.values for item in items]), offset=fit.offset, scale=fit.scale,
            window=fit.window, window_weights=fit.window_weights, coef=fit.coef, intercept=fit.intercept,
            n_validation=len(fit.validation_origins), **calibrated,
        )
        block.flag_at, block.flag_median = _kept_flags(flags, block.values.shape[1], block.window)
        block.recent_flags = _recent_flags(flags, block.values.shape[1])
        if lost_rows:
            block.lost_at = np.concatenate([np.stack([np.full(len(positions), row, dtype=np.int64), positions], axis=1)
                                            for row, positions in sorted(lost_rows.items())])
        block.held_noise(bursts)  # what health measures its keys' validation error against, from the fit's scans
        # The stages max_training_time cut per key, for fit's time_limited_keys_ (which takes them off the block).
        vars(block)["_time_limited"] = {item.key: tuple(stages) for item, stages in zip(items, fit.time_limited)
                                        if stages}
        blocks.append(block)
    return blocks, predictors, errors


def _naming_key(error: WorkloadDataError, items: list[KeySeries]) -> WorkloadDataError:
    """``error`` of a batch of ``items`` (keys fitted together); a ridge penalty's outside the floats, which quotes
    one series' numbers (its ``series``: fit_batched's), as an error naming that key, which says the others of the
    batch are refused with it."""
    from .models.dlinear import penalty_error

    series = getattr(error, "series", None)
    if series is None or not hasattr(error, "scale"):
        return error
    others = len(items) - 1
    rest = "the other key of this batch is" if others == 1 else f"the {others:,} other keys of this batch are"
    more = (f"The fleet fits the keys of one length and bucket width in one batch: {rest} refused with it."
            if others else "")
    return penalty_error(error.alpha, error.scale, of=f"key {quote(items[series].key)}", more=more)


def _solve_device(device: str) -> str | None:
    """Where a DLinear fleet solves its ridge systems: ``None`` (numpy) on the CPU, else a torch device (a device
    torch does not see is a typed error)."""
    if device in (None, "cpu"):
        return None
    from .models.torch_runtime import resolve_device

    resolved = resolve_device(device)
    return None if resolved.type == "cpu" else device if device != "auto" else "cuda"


def _leave_out(calibrated: dict[str, Any], fit: Any, values: list, flags: dict[int, list], level: float,
               horizon: int, lost: dict[int, np.ndarray] | None = None) -> None:
    """Calibrate again, in ``calibrated`` (:func:`_calibrate`'s), each key of a batched ``fit`` whose flagged buckets
    (``flags``, by row: ``fit_scan``'s, on its series ``values[row]``) leave validation windows out of its interval, as
    a predictor's fit on its series leaves them out (:func:`~workload_predictor.predictor.fit_left_out`), and those
    whose lost buckets (``lost``, by row: positions in its series) do, as a predictor's update leaves out the windows
    whose targets hold one (:func:`~workload_predictor.windows.left_out_windows`)."""
    origins, lost = np.asarray(fit.validation_origins), lost or {}
    for row in sorted({*flags, *lost}):
        left_out = None if row not in flags else fit_left_out(values[row], anomaly.flagged_of(flags[row]), origins,
                                                              horizon)
        if row in lost:
            touched = left_out_windows(origins, horizon, [], lost[row])
            left_out = touched if left_out is None or touched is None else left_out | touched
        if left_out is not None:
            own = calibration(fit.validation_forecast[row], fit.validation_actual[row], level, left_out=left_out)
            calibrated["halfwidth"][row] = own["interval_halfwidth_"]
            calibrated["confidence"][row] = own["confidence_"]
            calibrated["confidence_by_target"][row] = own["_confidence_by_index"]
            calibrated["validation_mae"][row] = own["validation_mae_"]
            calibrated["recent_mae"][row] = own["recent_mae_"]
            calibrated["interval_exact"] = calibrated["interval_exact"] and own["interval_exact_"]


def _calibrate(forecast: np.ndarray, actual: np.ndarray, level: float) -> dict[str, Any]:
    """:func:`~workload_predictor.predictor.calibration` of ``B`` keys at once (``(B, v, H, k)`` validation
    forecasts and actuals): the same half-widths, confidences and validation MAEs, key by key.

    The conformal half-width is a function of each column (step, target) of the errors and
    its zero-width floor of each target's steps, so the keys' targets are laid side by side
    as ``B * k`` targets of one ``(v, H, B * k)`` call.
    """
    n_keys, v, horizon, k = forecast.shape
    errors = np.abs(actual - np.maximum(forecast, 0.0))  # [B, v, H, k]
    error_totals, load_totals = errors.sum(axis=(1, 2)), np.abs(actual).sum(axis=(1, 2))  # [B, k]
    # confidence_of_totals: an all-zero load (an idle key) is measured against one unit per value.
    wape = error_totals / np.where(load_totals != 0.0, load_totals, float(v * horizon))
    scores = np.clip(1.0 - wape, 0.0, 1.0)  # [B, k]
    side_by_side = errors.transpose(1, 2, 0, 3).reshape(v, horizon, n_keys * k)
    halfwidth = conformal_quantile(side_by_side, level).reshape(horizon, n_keys, k).transpose(1, 0, 2)
    return dict(
        halfwidth=np.ascontiguousarray(halfwidth),  # [B, H, k]
        confidence=scores.mean(axis=1),
        confidence_by_target=scores,  # [B, k]
        validation_mae=error_totals / (v * horizon),  # [B, k]
        recent_mae=errors[:, -horizon:].mean(axis=(1, 2)),  # [B, k] the newest horizon windows', as calibration's
        interval_exact=conformal_is_exact(v, level),  # the same window count for every key of a block
    )
