"""A convex combination of forecasters, weighted by their out-of-sample errors."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, Callable, Sequence

import numpy as np

from .. import anomaly
from .._deadline import SERIES_PACE, current, limit
from ..errors import NoSeasonError, WorkloadDataError, check_is_fitted, plural, quote
from ..windows import newest, targets_at
from . import registry
from .combination import (EXACT_MEMBERS, ROUNDING, best_weights, describe, error_difference, evidence_share,
                          evidence_shrinkage, median_weight, rank_members, significantly_better, student_t_critical,
                          target_size)
from .base import BaseForecaster, as_matrix, check_validation_settings, evaluated_series, fewest_points, unfitted_on_error

# The baselines' weights are scored on at most this many origins of the history (spread evenly):
# plenty for three weights, and it bounds the fit's cost on long series.
HISTORY_ORIGINS = 500
# The members besides the registered baselines that forecast the history out of sample (DLinear by rolling
# refits, standing in for the LSTM, and DLinear on log1p by its own; exponential smoothing with the factor it chose
# on the training part; the seasonal median with a period chosen before each group of origins).
HISTORY_MEMBERS = ("dlinear", "dlinear_log", "lstm", "exponential_smoothing", "seasonal_median")
# The members whose history is forecast by rolling refits (DLinear.rolling_forecast): DLinear's slot (the
# LSTM's too), and DLinear on log1p.
ROLLING_MEMBERS = ("dlinear", "lstm", "dlinear_log")
# In ``update``, the LSTM member's network trains once this many buckets have arrived (its linear base
# takes each bucket exactly): a one-bucket update then costs about the members' exact updates, and the
# network's few epochs are spread over the buckets (measured in perf/test_update_perf.py).
LSTM_UPDATE_EVERY = 10
# Under a time limit, the time the members before exponential smoothing leave for it and the combination, in
# passes over the series at the pace of the predictor's input-anomaly scan (``_deadline.SERIES_PACE``). At
# 1,000,000 points past the deadline: smoothing's newest chunk 0.016-0.044 s, the combination 0.017-0.023 s,
# an untrained LSTM's base and validation forecast 0.02-0.03 s, the scan 0.012-0.030 s (traces, load 3).
AFTER_MEMBERS_PASSES = 4
# ... and the time exponential smoothing leaves for the combination (0.015-0.021 s there, the scan 0.012-0.014 s).
COMBINATION_PASSES = 2
# The members whose fit ends early under a time limit, in the order they are fitted, after those that cannot (the
# baselines but smoothing: moving and seasonal median 0.08-0.2 s together at 1,000,000 points): their stages then
# read the time the others leave. The LSTM (and any member with a ``max_training_time`` of its own) comes between
# DLinear, whose first fit its base may take, and smoothing, the last.
EARLY_ENDING = ("dlinear", "dlinear_log", "lstm", "exponential_smoothing")


class Ensemble(BaseForecaster):
    """Weighted mean of member forecasts; weights from their out-of-sample errors.

    The weights are non-negative and sum to one per horizon step (``step_weights_``;
    ``weights_`` shows each member's mean over the steps). They come from out-of-sample
    forecasts at many origins, not from the validation tail alone (the last 15 % of the
    points, at most 100 windows: with 10-step windows a few independent stretches, on which
    weights chase whichever member the last stretch favoured):

    1. **Evidence.** Every member forecasts the validation tail from a fit before it, and
       the history before the tail at up to ``HISTORY_ORIGINS`` rolling origins: the
       baselines read only the points before each origin (the moving median with the window it
       chose on the training part), DLinear is
       refitted on the windows before each group of origins (sufficient statistics are
       sums: :meth:`DLinear.rolling_forecast`), exponential smoothing keeps the factor it
       chose on the training part, and the seasonal median chooses its period afresh before
       each group of origins (:meth:`SeasonalMedian.rolling_forecast`). The LSTM shares
       DLinear's slot (on the history its linear base is all there is) and takes all of
       that slot's weight: it keeps its network's correction to that base only as far as
       the tail says the correction helps (the LSTM's ``correction_share_``). A plain LSTM
       (``linear_base=False``) has no such base: it is a slot of its own, and like any
       registered member with no out-of-sample history it leaves the tail as the only evidence.
       The seasonal median stays only where its history is significantly better than the best
       baseline's (a block t over the history's origins, :meth:`_admit_seasonal`).
    2. **A rule, chosen out of sample.** Fitted convex weights, the plain mean of the best
       ``k`` members (over all steps, or per step), or the members' median (from three
       members) are scored by cross-validation over blocks of those origins
       (:func:`~workload_predictor.models.combination.choose`); the lowest held-out error
       wins (``combination_``, every rule's score in ``combination_scores_``). The median,
       where it wins, shares the weight with the best weighted rule as far as the evidence
       says it beats it; its part of the final weight is ``median_share_``, beside
       ``step_weights_``. The fallback: the one candidate with the lowest absolute error on the
       history, among the registered baselines, the seasonal median where it was kept, and any
       other member whose history is significantly better than the best of those (the same block
       t, :meth:`_beating_baselines`; the candidates: ``fallback_members_``). One member chosen on
       the whole history, not weights per step: on mostly empty buckets a mix costs what the
       best baseline alone does not (the moving median's zero is the forecast with the lowest
       absolute error there), and per-step weights fitted on a few dozen origins chase noise.
       (Least-absolute-error weights of the baselines per step instead: within 2 % of the best
       member on 27 of the 42 grid settings of ``scripts/accuracy_benchmark.py``, geometric-mean
       ratio 1.035; this rule, 30 and 1.024.)
    3. **Weigh it against the fallback on the newest evidence.** History can favour a member
       that the latest regime does not: the validation tail's t statistic of the chosen
       combination's errors less the fallback's (over non-overlapping stretches of ``horizon``
       origins, ``combination_t_``) gives it ``combination_share_ = clip(0.5 - t / (2 t_crit),
       0, 1)`` of the weight (:func:`~workload_predictor.models.combination.evidence_share`):
       all of it once the tail shows it significantly better, none once significantly worse,
       half where the tail shows no difference; the fallback takes the rest. (Trusting it only
       as far as it was significantly better, 0 without evidence, left the ensemble within 2 %
       of its best member on 28 of the 42 grid settings of ``scripts/accuracy_benchmark.py``;
       this rule, 34.)

    **Under a time limit** (``max_training_time``, one deadline for the members and the
    combination, see :mod:`workload_predictor._deadline`) the members that cannot end
    early are fitted first, then DLinear (its window search and statistics fit in the
    time left), the LSTM (its training takes the time left) and
    exponential smoothing (its factor scored on the newest origins); the members before
    smoothing leave time for it and the combination, and smoothing for the combination
    (``AFTER_MEMBERS_PASSES``, ``COMBINATION_PASSES``: passes over the series at the pace
    the predictor's input-anomaly scan measured). Once the deadline has
    passed, the history holds the origins DLinear's rolling refits reached (none: the
    validation tail is the only evidence).

    The ensemble's own validation forecast is its weighted sum, which its confidence is
    computed from. Its interval comes from a larger pool (``calibration_forecast_``
    against ``calibration_actual_``): the combination's forecasts at every origin of the
    evidence, each with weights fitted on the cross-validation folds that left it out, so
    out of sample for members and weights alike (the LSTM's DLinear base stands in for
    it); the predictor gives the tail's windows ``confidence.RECENT_SHARE`` of its weight.
    ``update`` adds the windows the new points complete to the evidence and to the pool
    (forecast with the weights before the update; the oldest leave both), applies the
    chosen rules to the evidence as it then is (its error sums, or one least-squares solve)
    and chooses the fallback again on it (all but the newest tail's windows, as at fit); the
    LSTM member's network trains once per ``LSTM_UPDATE_EVERY`` buckets. The rules are
    chosen again at the next ``fit``. Those weights rest mostly on the history's windows, so
    after a level shift that one member follows they would keep a member that lags it for
    as long as the shift takes to outweigh the history's errors (a 10x shift, the moving
    median: 80 buckets). So each update also tests whether a member's errors on the newest
    blocks of windows fell significantly below the combination's, against the older
    evidence (:func:`~workload_predictor.models.combination.newest_shift`), and moves
    ``shift_share_`` of the weight to that member (``shift_member_``: the slot's name, DLinear's where the
    LSTM holds its slot; ``shift_t_``): none without a significant change, back as the changed windows
    become older evidence. The test needs three blocks of ``horizon`` windows in the validation tail
    (``3 x horizon`` windows; at most ``max_validation_windows`` of them): with fewer (a short series, or a
    horizon over a third of ``max_validation_windows``) weight moves only as the error sums move it (a 10x
    shift at horizon 50 on 1,500 buckets: 81 buckets until within 30 % of the new level, DLinear 51). Reading
    the windows updates add as the tail instead moved weight on stationary Poisson counts (horizon 30, 400
    buckets: in 49 and 62 of 400 updates), where the whole evidence holds three blocks.
    ``combination_`` names the rule and the fallback, not the weight an update
    moved; ``weights_`` and ``step_weights_`` are what forecasts.

    Parameters
    ----------
    horizon : int
        Buckets forecast directly.
    members : sequence of str
        Registered model names (:mod:`~workload_predictor.models.registry`, ``member=True``), each once.
        ``"dlinear_log"`` (DLinear on ``log(1 + load)``, :class:`LogDLinear`) is a member where named: its history is
        forecast by its own rolling refits, as DLinear's.
        ``"seasonal_median"`` (a cycle found in the data) is left out (``left_out_``, with the
        reason) where the data show no cycle or the series is too short to search for one
        (:meth:`SeasonalMedian.minimum_length`), or where its out-of-sample forecasts of the history
        are not significantly better than the best baseline's there (it then could only add noise to the
        weights).
    window : int or None
        The learned members' input window (the baselines keep their own settings).
    follow_level : bool
        The learned members' ``follow_level`` (DLinear's; the LSTM's base's and network's),
        True by default. On the benchmark set (``scripts/accuracy_benchmark.py``) members
        that follow the level lowered the ensemble's MAE by 0.5 % on the Azure grid and 3.1 %
        on perf's synthetic series (geometric means), and no setting got worse by more than
        1.5 %; with raw windows for the network alone, the combination chased the LSTM's
        extrapolations (synthetic seed 5: +28 %).
    member_params : dict or None
        Each member's own parameters, by member name, e.g.
        ``{"lstm": {"hidden_size": 64}, "moving_average": {"window": 24}}``.
    random_state, n_threads, device, max_training_time, validation_fraction, max_validation_windows, verbose :
        Runtime settings, passed to every member that takes them (see :class:`LSTM`).
    """

    #: State a released version stored that this one derives (0.8.0: ``median_share_``): a file's value is dropped
    #: on load (:func:`workload_predictor.persistence.loads`).
    DERIVED_STATE = ("median_share_",)
    #: Under a time limit, the time the predictor's input-anomaly scan leaves the fit after it, in passes over the
    #: series (``anomaly.MODEL_PASSES``, one model's): the members' fits, then ``AFTER_MEMBERS_PASSES`` for smoothing
    #: and the combination. Every member runs its smallest fit (at 1,000,000 sparse buckets, 7.5-8.5 passes together).
    scan_passes = anomaly.MODEL_PASSES + AFTER_MEMBERS_PASSES

    def __init__(
        self,
        horizon: int = 10,
        members: Sequence[str] = ("dlinear", "lstm", "naive", "moving_average", "moving_median",
                                   "exponential_smoothing", "seasonal_median"),
        window: int | None = None,
        follow_level: bool = True,
        member_params: dict[str, dict[str, Any]] | None = None,
        random_state: int | None = None,
        n_threads: int | None = 1,
        device: str = "cpu",
        max_training_time: float | None = None,
        validation_fraction: float = 0.15,
        max_validation_windows: int = 100,
        verbose: bool | None = None,
    ):
        self.horizon = horizon
        self.members = members
        self.window = window
        self.follow_level = follow_level
        self.member_params = member_params
        self.random_state = random_state
        self.n_threads = n_threads
        self.device = device
        self.max_training_time = max_training_time
        self.validation_fraction = validation_fraction
        self.max_validation_windows = max_validation_windows
        self.verbose = verbose

    def _member(self, name: str) -> BaseForecaster:
        """An unfitted member: the ensemble's runtime settings, its window (learned members only: the
        baselines keep their own), ``follow_level`` (members that take it), and ``member_params[name]``."""
        settings = {key: getattr(self, key) for key in registry.RUNTIME_PARAMS if hasattr(self, key)}
        if not registry.get(name, "member").baseline:
            settings["window"] = self.window
        params = dict((self.member_params or {}).get(name) or {})
        if "follow_level" in registry.get(name, "member").params():
            params.setdefault("follow_level", getattr(self, "follow_level", False))
        return registry.build(name, settings, params, f"member_params[{name!r}]")

    def _check_members(self) -> list[str]:
        valid = registry.names(member=True)
        names = list(self.members) if isinstance(self.members, (list, tuple)) else None
        if names is None or not all(isinstance(n, str) for n in names):
            raise WorkloadDataError(f"members={quote(self.members)} must be a list or tuple of member names, e.g. "
                                    f"members=('dlinear', 'naive'), from {', '.join(valid)}.")
        unknown = [n for n in names if n not in valid]
        if not names or unknown or len(set(names)) != len(names) or len(names) > EXACT_MEMBERS:
            raise WorkloadDataError(f"members={quote(self.members)}: name each member once (at most {EXACT_MEMBERS}), "
                                    f"from {', '.join(valid)}.")
        params = {} if self.member_params is None else self.member_params  # False, 0 or [] is no mapping
        if not isinstance(params, dict) or any(key not in names for key in params):
            raise WorkloadDataError(f"member_params={quote(params)} must map member names ({', '.join(names)}) "
                                    "to dicts of their parameters.")
        for name, value in params.items():
            if value is not None and not isinstance(value, Mapping):
                raise WorkloadDataError(f"member_params[{name!r}]={quote(value)} must be a dict of {name}'s "
                                        f"parameters (or None), e.g. member_params={{{name!r}: {{...}}}}.")
        return names

    @anomaly.keeping_scans
    def fit(self, y: Any, anomalies: dict[tuple[int, int], float] | None = None):
        """Fit every member, weight them on the shared validation tail. Returns ``self``.

        ``anomalies`` as for :meth:`BaseForecaster.fit` (``None``: the predictor's scan of ``y``, run once for every
        member): the members' validation windows and the history's rolling forecasts read a burst the series came
        back from as its median; the members train on ``y`` as it is.
        """
        matrix, one_d = as_matrix(y)
        # Every member's length check before any member trains: the longest requirement is the ensemble's.
        planned, short = self._kept_members(len(matrix))
        widest = _widest(planned)
        if not widest._length_suffices(len(matrix)):
            widest._check_length(len(matrix))
        # ``max_training_time`` bounds the ensemble as a whole (and no later than a deadline around it): one
        # deadline for every member and the choice of the combination. The members with a closed form are
        # fitted first; the networks last, their training taking what time is left.
        # Every member reads the series with the same bursts settled: settled once (anomaly.Flags; a predictor's,
        # which its noise_scale_ reads again, kept as it is). None of them scans it again: no flags are Flags({}).
        try:
            with unfitted_on_error(self), limit(self.max_training_time):
                anomalies = self._fit_flags(matrix, anomalies)  # the scan, where none are given, within the time limit
                anomalies = anomalies if isinstance(anomalies, anomaly.Flags) else anomaly.Flags(anomalies)
                self._fit_members(matrix, planned, left_out=short, anomalies=anomalies)
                self._fit_combination(matrix, list(self.members_), evaluated_series(matrix, anomalies))
                self._one_d = one_d
                self._keep_scan(matrix)  # a scan of its own: what its predict and update read (its members hold none)
        finally:
            vars(self).pop("_own_scan", None)
        return self

    def _fit_members(self, matrix: np.ndarray, planned: dict[str, BaseForecaster],
                     left_out: dict[str, str] | None = None,
                     anomalies: dict[tuple[int, int], float] | None = None) -> None:
        """Fit the ``planned`` members (by name, in the order ``members_`` keeps) on ``matrix`` (with its flagged
        ``anomalies``); ``left_out``: the members already left out, with the reasons (``left_out_`` adds the fit's
        own).

        The members that cannot end early come first (the baselines but smoothing, and any
        other member without a stage that reads the deadline), then those whose fit uses the
        time that is left under a time limit: DLinear (its window search and statistics), the
        LSTM (its training), then exponential smoothing (the origins it scores its factor on).
        The LSTM's DLinear base would first repeat the DLinear
        member's first fit (window search, scaling, statistics) on the same points: when it is
        the member's twin, it takes a copy of that fit instead. Under a time limit, the members
        before exponential smoothing end early enough to leave it and the combination
        ``AFTER_MEMBERS_PASSES`` passes over the series (at the pace measured in this fit), and
        smoothing leaves the combination ``COMBINATION_PASSES``. A member
        that finds no season in the data (:class:`~workload_predictor.errors.NoSeasonError`) is left
        out (``left_out_``, with the reason), unless it is the only member.
        """
        def rank(name: str) -> int:
            if name in EARLY_ENDING:
                return EARLY_ENDING.index(name) + 1
            return EARLY_ENDING.index("lstm") + 1 if hasattr(planned[name], "max_training_time") else 0

        twins = "lstm" in planned and _twin_of(planned.get("dlinear"), planned["lstm"])
        if twins:
            planned["dlinear"]._keep_first_fit = True
        # Under a time limit the members before exponential smoothing leave time for it and the combination,
        # and smoothing leaves time for the combination.
        pace = current().pace.get(SERIES_PACE, 0.0) * matrix.size
        already, left_out = dict(left_out or {}), {}
        for name in sorted(planned, key=rank):
            try:
                with limit(None, reserve=pace * (COMBINATION_PASSES if name == "exponential_smoothing"
                                                 else AFTER_MEMBERS_PASSES)):
                    planned[name].fit(matrix, anomalies)
            except NoSeasonError as exc:
                if len(planned) - len(left_out) == 1:
                    raise
                left_out[name] = str(exc)
            if name == "dlinear" and twins:
                planned["lstm"]._base_first_fit = vars(planned["dlinear"]).pop("_first_fit")
        self.members_ = {name: member for name, member in planned.items() if name not in left_out}
        self.left_out_ = {**already, **left_out}

    def _fit_combination(self, matrix: np.ndarray, names: list[str], evaluated: np.ndarray) -> None:
        """Weigh the fitted members on ``evaluated`` (``matrix`` as the validation reads it, see
        :meth:`_choose_combination`) and keep the forecast's context (from ``matrix``)."""
        if "lstm" in self.members_:
            # Its network trains once per LSTM_UPDATE_EVERY new buckets; its linear base takes every bucket exactly.
            self.members_["lstm"].network_update_every_ = LSTM_UPDATE_EVERY
        # Read by _slots (before any slot is weighed): whether the LSTM shares DLinear's slot.
        self.lstm_shares_slot_ = ("dlinear" in self.members_
                                  and getattr(self.members_.get("lstm"), "base_", None) is not None)
        # A model loaded from a 0.8.0 file holds the LSTM's part of that slot (``lstm_share_``, see _lstm_share); a
        # fit gives the LSTM all of it, as it does any model.
        vars(self).pop("lstm_share_", None)
        vars(self).pop("lstm_t_", None)
        self.n_targets_ = matrix.shape[1]
        first = self.members_[names[0]]
        self.validation_origins_ = first.validation_origins_
        self.validation_actual_ = first.validation_actual_
        self._choose_combination(evaluated)
        self.window_ = max(m.context_length() for m in self.members_.values())
        self.context_ = matrix[-self.window_ :].copy()
        self.n_seen_ = len(matrix)

    def _slots(self) -> list[str]:
        """The members the combination weighs: all but the LSTM where it shares DLinear's slot
        (:meth:`_lstm_shares_slot`)."""
        shared = self._lstm_shares_slot()
        return [n for n in self.members_ if not (n == "lstm" and shared)]

    def _lstm_shares_slot(self) -> bool:
        """Whether the LSTM shares DLinear's slot (``lstm_shares_slot_``): where both are members and the LSTM has a
        linear base, DLinear's twin, to which its network adds a correction. A plain LSTM (``linear_base=False``) is a
        slot of its own, weighed on its own forecasts (DLinear's errors say nothing of it). Files saved before the
        attribute share the slot whenever both are members (their evidence holds one slot for the two)."""
        names = self.members_
        return bool(getattr(self, "lstm_shares_slot_", "lstm" in names and "dlinear" in names))

    def _linear(self) -> Any:
        """The DLinear whose rolling forecasts stand for the learned members on the history (or None)."""
        if "dlinear" in self.members_:
            return self.members_["dlinear"]
        return getattr(self.members_.get("lstm"), "base_", None)

    def _refitted(self) -> dict[str, Any]:
        """The DLinear models whose rolling refits forecast the history, by the slot they stand for: ``"dlinear"``
        (:meth:`_linear`, None where there is none) and ``"dlinear_log"``, where such slots are weighed."""
        slots = self._slots()
        refitted = {"dlinear": self._linear()} if any(n in ("dlinear", "lstm") for n in slots) else {}
        if "dlinear_log" in slots:
            refitted["dlinear_log"] = self.members_["dlinear_log"]
        return refitted

    def _history_origins(self, matrix: np.ndarray) -> np.ndarray:
        """Origins before the validation tail (targets ending before it) where every slot forecasts out of sample:
        up to ``HISTORY_ORIGINS``, spread evenly."""
        first = int(self.validation_origins_[0])
        slots = self._slots()
        if not all(n in HISTORY_MEMBERS or registry.get(n, "member").baseline for n in slots):
            return np.zeros(0, dtype=np.int64)  # a member with no out-of-sample history: the tail alone
        if "lstm" in slots and getattr(self.members_["lstm"], "base_", None) is None:
            return np.zeros(0, dtype=np.int64)  # a plain LSTM: no linear base forecasts the history for it
        # The seasonal median chooses its period before each group of origins (none found yet: the last value), so
        # its context does not shorten the others' history.
        starts = [self.members_[n].context_length() for n in self._slots()
                  if n not in (*ROLLING_MEMBERS, "seasonal_median")] + [1]
        for linear in self._refitted().values():
            if linear is None:
                return np.zeros(0, dtype=np.int64)
            starts.append(linear.rolling_start())
        origins = np.arange(max(starts, default=0), first - self.horizon + 1)
        if len(origins) > HISTORY_ORIGINS:
            origins = np.unique(np.round(np.linspace(origins[0], origins[-1], HISTORY_ORIGINS)).astype(np.int64))
        return origins

    def _history(self, matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Each slot's out-of-sample forecasts ``[S, n, H, k]`` at the history origins, the actual values, and the
        origins.

        The baselines read only the points before each origin; DLinear (standing in for the LSTM's
        linear base too), and DLinear on log1p, are refitted on the windows before each group of origins
        (:meth:`DLinear.rolling_forecast`); exponential smoothing keeps the factor it chose on
        the training part (one of eight, a mild in-sample choice); the seasonal median chooses its
        period on the points before each group of origins, so its evidence is out of sample like the
        others' (:meth:`SeasonalMedian.rolling_forecast`).
        """
        origins = self._history_origins(matrix)
        deadline = current()
        if len(origins) and deadline.expired():  # the time limit has passed: the validation tail alone
            deadline.cut("ensemble history")
            origins = origins[:0]
        rolling: dict[str, np.ndarray] = {}
        for slot, linear in self._refitted().items():
            if not len(origins):
                break
            # DLinear's refits stop at the deadline: the history is then the origins forecast before it.
            forecast, done = linear._rolling_forecast(matrix, origins, deadline=deadline)
            if done < len(origins):
                deadline.cut("ensemble history")
                origins = origins[:done]
                rolling = {name: part[:done] for name, part in rolling.items()}
            rolling[slot] = forecast
        parts = []
        for name in self._slots():
            member = self.members_[name]
            if name in ROLLING_MEMBERS:
                parts.append(rolling.get("dlinear" if name == "lstm" else name))
            elif name == "seasonal_median":  # a period chosen before each group of origins
                parts.append(member._rolling_forecast(matrix, origins))  # the map, as the other members'
            else:
                parts.append(member._predict_at(matrix, origins))
        return (np.stack(parts) if len(origins) else np.zeros((len(parts), 0, self.horizon, matrix.shape[1])),
                targets_at(matrix, origins, self.horizon), origins)

    def _choose_combination(self, matrix: np.ndarray) -> None:
        """Weigh the members on the history's rolling-origin forecasts and the validation tail's (all out of sample).

        The rule (fitted weights, or the mean of the best few members, over all steps or per
        step) is chosen by cross-validation over those origins
        (:func:`~workload_predictor.models.combination.choose`). The LSTM shares DLinear's
        slot: on the history its linear base's forecasts are all there is; the slot's weight
        goes to the LSTM, which keeps its correction to that base as far as the tail's evidence
        says it helps (its ``correction_share_``).
        """
        from . import combination

        history, history_actual, history_origins = self._history(matrix)
        history = self._admit_seasonal(history, history_actual, history_origins)
        slots = self._slots()
        tail = np.stack([self.members_[name].validation_forecast_ for name in slots])  # [S, v, H, k]
        self.n_history_origins_ = history.shape[1]
        forecasts = np.concatenate([history, tail], axis=1)
        actual = np.concatenate([history_actual, self.validation_actual_])
        size = target_size(actual)
        origins = np.concatenate([history_origins, self.validation_origins_])
        rule, _, scores, held_out = combination.choose(forecasts, actual, origins=origins, horizon=self.horizon)
        self.combination_rule_ = rule
        self.combination_ = combination.describe(rule, slots)
        self.combination_scores_ = {combination.describe(r, slots): score for r, score in scores.items()}
        # The fallback: the baseline with the lowest error on the history.
        simple = self._simple_slots()
        self.fallback_weights_, self.fallback_members_ = None, []
        if simple and len(simple) < len(slots):
            simple = self._baseline_slots()
            simple = simple + self._beating_baselines(history, history_actual, history_origins, simple)
            self.fallback_members_ = [slots[i] for i in simple]
            self.fallback_weights_ = self._best_baseline(forecasts[:, : self.n_history_origins_ or None],
                                                         actual[: self.n_history_origins_ or None], simple)
        self.evidence_forecast_, self.evidence_actual_, self.evidence_size_ = forecasts, actual, size
        self.evidence_error_ = self._errors(forecasts, actual)
        self.combination_t_, self.combination_share_ = 0.0, 1.0
        self.shift_share_, self.shift_member_, self.shift_t_ = 0.0, None, 0.0  # update's (_newest_shift)
        if self.fallback_weights_ is not None:
            # Weigh the chosen combination against the fallback on the validation tail (the newest evidence):
            # history can favour a member the latest regime does not.
            chosen, fallback = self._rule_weights(forecasts, actual, self.evidence_error_)
            difference = error_difference(combination.combine_rule(self.combination_rule_, chosen, tail),
                                          combination.combine(fallback, tail), self.validation_actual_, size)
            self.combination_t_, self.combination_share_ = (float(v) for v in evidence_share(
                difference, self.validation_origins_, self.horizon))
            self.combination_ = self._with_fallback(self.combination_, self.fallback_weights_)
        weights = self._slot_weights(forecasts, actual, self.evidence_error_)
        self.step_weights_ = self._member_weights(weights)
        self.validation_forecast_ = self._weighted(
            np.stack([m.validation_forecast_ for m in self.members_.values()]))
        self.calibration_forecast_ = self._held_out(forecasts, actual, held_out)
        self.calibration_actual_ = actual

    def _held_out(self, forecasts: np.ndarray, actual: np.ndarray, chosen: np.ndarray) -> np.ndarray:
        """The combination's out-of-sample forecasts ``[n, H, k]`` at every evidence origin, for the interval.

        The members' forecasts there are out of sample already; the weights are too: at each
        origin they come from the cross-validation fold that left its block out (``chosen``:
        the chosen rule's, from :func:`~workload_predictor.models.combination.choose`; the
        fallback's best baseline is chosen again on the same folds), mixed by ``combination_share_``. The LSTM is not among them: its DLinear base stands in for it.
        """
        from . import combination

        if self.fallback_weights_ is None:
            return chosen
        simple = self._fallback_slots()
        source = np.zeros(len(actual), dtype=bool)
        source[: self.n_history_origins_ or None] = True  # where the fallback's weights were fitted
        fallback = np.empty_like(chosen)
        for test, train in combination.fold_masks(len(actual)):
            weights, fit_on = self.fallback_weights_, train & source
            if fit_on.any() and (fit_on != source).any():  # the fold leaves some of the fallback's origins out
                weights = self._best_baseline(forecasts[:, fit_on], actual[fit_on], simple)
            fallback[test] = combination.combine(weights, forecasts[:, test])
        return self.combination_share_ * chosen + (1.0 - self.combination_share_) * fallback

    def _simple_slots(self) -> list[int]:
        """Positions among the slots of the registered baselines."""
        return [i for i, name in enumerate(self._slots()) if registry.get(name, "member").baseline]

    def _admit_seasonal(self, history: np.ndarray, actual: np.ndarray, origins: np.ndarray) -> np.ndarray:
        """Keep the seasonal median only where its forecasts of the history (out of sample, a period chosen before
        each group of origins) are significantly better than the best baseline's there; otherwise leave it out
        (``left_out_``, with both errors and the t). Returns the history ``[S, n, H, k]`` of the slots kept.

        The evidence is the per-origin scaled error of the member less that of the baseline with the lowest mean
        error (:func:`~workload_predictor.models.combination.error_difference`), read as
        :func:`~workload_predictor.models.combination.evidence_shrinkage` reads it: a t over blocks of ``horizon``
        origins, which must reach Student's 97.5 % critical value (shrinkage 1). A lower mean by less than the
        noise of a few blocks would make it a member, and often the fallback, on a coin flip.
        Where the ensemble has no baseline the member stays; where it has no history, it is left out (no
        evidence for it)."""
        slots, simple = self._slots(), self._simple_slots()
        if "seasonal_median" not in slots or not simple:
            return history
        seasonal = slots.index("seasonal_median")
        if history.shape[1]:
            size = target_size(actual)
            error = (np.abs(history - actual[None]) / size).mean(axis=(1, 2, 3))  # [S]
            best = simple[int(rank_members(error[simple, None], ROUNDING, 1)[0, 0])]  # ties within rounding: the earlier
            difference = error_difference(history[seasonal], history[best], actual, size)
            t, shrinkage = evidence_shrinkage(difference, origins, self.horizon)
            if shrinkage >= 1.0:
                return history
            blocks = len(np.unique((origins - origins.min()) // max(int(self.horizon), 1)))
            lower = error[seasonal] < error[best]
            need = ("two blocks are the least that show a difference" if blocks < 2 else
                    f"it needs t <= -{student_t_critical(blocks - 1):.2f}")
            reason = (f"its forecasts of the history (out of sample) have a mean scaled error {error[seasonal]:.4g}, "
                      f"{'below' if lower else 'not below'} the best baseline's ({slots[best]}) {error[best]:.4g}"
                      f"{', but not significantly' if lower else ''}: t = {t:.2f} over {plural(blocks, 'block')} "
                      f"of {plural(self.horizon, 'origin')} ({need})")
        else:
            reason = "no history before the validation tail to show it beats the baselines"
        self.left_out_["seasonal_median"] = reason
        del self.members_["seasonal_median"]
        return np.delete(history, seasonal, axis=0)

    def _baseline_slots(self) -> list[int]:
        """Positions of the registered baselines among the slots, and of the seasonal median where it was kept on its
        history's evidence (:meth:`_admit_seasonal`)."""
        slots = self._slots()
        return self._simple_slots() + ([slots.index("seasonal_median")] if "seasonal_median" in slots else [])

    def _fallback_slots(self) -> list[int]:
        """Positions of the fallback's candidates (``fallback_members_``, chosen at fit: :meth:`_beating_baselines`);
        :meth:`_baseline_slots` for a model without them."""
        slots, kept = self._slots(), getattr(self, "fallback_members_", None)
        names = dict.fromkeys(n for n in (kept if isinstance(kept, (list, tuple)) else ()) if isinstance(n, str))
        return [slots.index(name) for name in names if name in slots] or self._baseline_slots()

    def _beating_baselines(self, history: np.ndarray, actual: np.ndarray, origins: np.ndarray,
                           baselines: list[int]) -> list[int]:
        """Positions of the other slots whose forecasts of the history ``[S, n, H, k]`` are significantly better
        than the best of the ``baselines``' there: candidates for the fallback beside them.

        The test is :meth:`_admit_seasonal`'s: per origin, the slot's scaled error less the best baseline's, a t over
        blocks of ``horizon`` origins that must reach Student's 97.5 % critical value
        (:func:`~workload_predictor.models.combination.significantly_better`). A fitted member whose history beats
        every baseline by more than the noise of its blocks is the better member to fall back on (on perf's
        synthetic series, exponential smoothing or DLinear); one that beats them by less than that noise stays out,
        as on a coin flip it would trade the baseline's robustness to bursts for nothing. No history: none."""
        others = [i for i in range(len(history)) if i not in baselines]
        if not others or not history.shape[1]:
            return []
        size = target_size(actual)
        error = (np.abs(history[baselines] - actual[None]) / size).mean(axis=(1, 2, 3))
        best = baselines[int(rank_members(error[:, None], ROUNDING, 1)[0, 0])]  # ties within rounding: the earlier
        differences = np.stack([error_difference(history[i], history[best], actual, size) for i in others])
        return [i for i, better in zip(others, significantly_better(differences, origins, self.horizon)) if better]

    @staticmethod
    def _best_baseline(forecasts: np.ndarray, actual: np.ndarray, rows: list[int]) -> np.ndarray:
        """One-hot slot weights ``[S, H]``: all of it, at every step, on the slot among ``rows`` whose forecasts
        ``[S, n, H, k]`` have the lowest absolute error on ``actual`` ``[n, H, k]`` (each target scaled by its
        size; ties to the earlier slot)."""
        error = (np.abs(forecasts[rows] - actual[None]) / target_size(actual)).sum(axis=(1, 3))  # [rows, H]
        weights = np.zeros((forecasts.shape[0], forecasts.shape[2]))
        weights[rows] = best_weights(("best", 1, False), error, ROUNDING * actual.shape[0] * actual.shape[2])
        return weights

    def _rule_weights(self, forecasts: np.ndarray, actual: np.ndarray, error: np.ndarray,
                      fallback: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray | None]:
        """The chosen rule's slot weights ``[S, H]`` on the evidence, and the fallback's: ``fallback``, else
        ``fallback_weights_`` (``None`` without one)."""
        from . import combination

        def apply(rule, rows):
            if rule[0] == "best":  # error sums over the evidence's windows and targets, in units of their sizes
                return combination.best_weights(rule, error[rows], ROUNDING * actual.shape[0] * actual.shape[2])
            if rule[0] == "median" and len(rule) > 1:  # as combination.rule_weights, with the errors ``error``
                return (1.0 - median_weight(rule)) * apply(rule[2], rows)
            return combination.rule_weights(rule, forecasts[rows] / self.evidence_size_, actual / self.evidence_size_)

        chosen = apply(self.combination_rule_, list(range(len(forecasts))))
        return chosen, self.fallback_weights_ if fallback is None else fallback

    def _slot_weights(self, forecasts: np.ndarray, actual: np.ndarray, error: np.ndarray,
                      fallback: np.ndarray | None = None) -> np.ndarray:
        """``share x chosen + (1 - share) x fallback``: the slots' weights ``[S, H]`` from the evidence (``fallback``:
        the fallback's weights, default ``fallback_weights_``)."""
        chosen, fallback = self._rule_weights(forecasts, actual, error, fallback)
        if fallback is None:
            return chosen
        return self.combination_share_ * chosen + (1.0 - self.combination_share_) * fallback

    def _with_fallback(self, rule: str, fallback: np.ndarray) -> str:
        """``combination_``: the chosen ``rule`` in words, weighed against the ``fallback`` (one-hot slot weights),
        named by its slot (DLinear's where the LSTM holds it): "the best baseline" where that is a baseline, "the
        fallback member" where it is a member admitted by :meth:`_beating_baselines`."""
        position = int(np.argmax(fallback[:, 0]))
        name = self._slots()[position]
        which = "the best baseline" if position in self._baseline_slots() else "the fallback member"
        return f"{self.combination_share_:.2f} x {rule} + {1 - self.combination_share_:.2f} x {which} ({name})"

    def _rechosen_fallback(self, evidence: np.ndarray, actual: np.ndarray) -> np.ndarray | None:
        """The fallback chosen again on the evidence ``[S, n, H, k]`` an update leaves, as the fit chose it
        (:meth:`_best_baseline`): the baseline with the lowest error on all but the newest windows, as many as the
        validation tail (at fit, the history before the tail; the tail itself where there was no history).
        ``None`` without a fallback; files saved before 0.12.0 keep their per-step weights (returned as they are)."""
        kept = self.fallback_weights_
        if kept is None or not (np.isin(kept, (0.0, 1.0)).all() and (kept == kept[:, :1]).all()):
            return kept  # no fallback, or per-step weights of the baselines (0.11.0 and before): kept as fitted
        older = len(actual) - (len(self.validation_actual_) if self.n_history_origins_ else 0)
        return self._best_baseline(evidence[:, :older], actual[:older], self._fallback_slots())

    def _errors(self, forecasts: np.ndarray, actual: np.ndarray) -> np.ndarray:
        """Absolute errors ``[S, H]`` of slot forecasts ``[S, n, H, k]``, each target scaled by its size, summed."""
        return (np.abs(forecasts - actual[None]) / self.evidence_size_).sum(axis=(1, 3))

    def _member_weights(self, slot_weights: np.ndarray) -> dict[str, np.ndarray]:
        """Each member's weights per step ``{name: [H]}`` from the slots' ``[S, H]``: the LSTM takes
        :meth:`_lstm_share` of the slot it shares with DLinear."""
        weights = {name: slot_weights[i].copy() for i, name in enumerate(self._slots())}
        if self._lstm_shares_slot():
            weights["lstm"] = self._lstm_share() * weights["dlinear"]
            weights["dlinear"] = weights["dlinear"] - weights["lstm"]
        return {name: weights[name] for name in self.members_}

    def _weighted(self, forecasts: np.ndarray) -> np.ndarray:
        """The members' forecasts ``[M, n, H, k]`` combined with ``step_weights_``, plus ``median_share_`` times
        the slots' median (the LSTM's and DLinear's forecasts mixed by :meth:`_lstm_share` in the slot they
        share)."""
        weights = np.stack([self.step_weights_[name] for name in self.members_])  # [M, H]
        combined = np.einsum("mh,mnhk->nhk", weights, forecasts)
        median_share = self.median_share_
        if median_share:
            names = list(self.members_)
            slots = []
            for name in self._slots():
                slot = forecasts[names.index(name)]
                if name == "dlinear" and self._lstm_shares_slot():
                    lstm_share = self._lstm_share()
                    slot = lstm_share * forecasts[names.index("lstm")] + (1.0 - lstm_share) * slot
                slots.append(slot)
            combined = combined + median_share * np.median(np.stack(slots), axis=0)
        return combined

    def _lstm_share(self) -> float:
        """The LSTM's part of the slot it shares with DLinear: all of it, since the LSTM weighs its network's
        correction against its DLinear base itself (``correction_share_``). Files saved before keep the share
        the ensemble weighed between the LSTM and DLinear then (``lstm_share_``)."""
        return float(getattr(self, "lstm_share_", 1.0))

    @property
    def median_share_(self) -> float:
        """The members' median's part of the forecast's weight (0 unless the combination chose the median; files
        saved before the median rule have none): the combination's share times the rule's median share.
        ``NotFittedError`` before ``fit``, as ``weights_``."""
        check_is_fitted(self, "step_weights_")
        return self._chosen_median_share() * (1.0 - getattr(self, "shift_share_", 0.0))

    def _kept_members(self, n: int, planned: dict[str, BaseForecaster] | None = None
                      ) -> tuple[dict[str, BaseForecaster], dict[str, str]]:
        """The planned members (``planned``, else built) a fit on ``n`` points keeps, and those it leaves out with the
        reason: a member that searches the data for its season is left out where ``n`` points are too few for the
        search, as where the data show no season (unless it is the only member), so it does not lengthen the series
        the ensemble needs."""
        planned = self._planned_members() if planned is None else planned
        short = {}
        for name, member in planned.items():
            reason = member.search_shortfall(n)
            if reason is not None and len(planned) - len(short) > 1:
                short[name] = reason
        return {name: member for name, member in planned.items() if name not in short}, short

    def _length_suffices(self, n: int, planned: dict[str, BaseForecaster] | None = None) -> bool:
        """Whether ``n`` points are enough for every member a fit on them keeps, as :meth:`fit` checks (by the
        widest of them): what :meth:`minimum_length` counts. A member left out for too few points to search for its
        season does not count, as in the fit."""
        return all(member._length_suffices(n) for member in self._kept_members(n, planned)[0].values())

    def minimum_length(self) -> int:
        """The fewest points ``fit`` accepts with these settings: every member a fit on them keeps has enough (the
        members built once for every length tried)."""
        planned = self._planned_members()
        return fewest_points(lambda n: self._length_suffices(n, planned))

    def check_settings(self) -> None:
        """The ensemble's own settings, as a fit checks them before it reads any data (its members' are checked as
        it builds them): the length rule of its own window, without building every member at every length tried
        (a model file's save and load run this: :meth:`minimum_length` took 1.5 ms)."""
        fewest_points(lambda n: BaseForecaster._length_suffices(self, n))

    def widest_member(self, n: int) -> BaseForecaster:
        """The kept member (on ``n`` points) that needs the longest series: the one whose length a fit checks (the
        backtest checks its first refit by it before any model is fitted)."""
        return _widest(self._kept_members(n)[0])

    def _planned_members(self) -> dict[str, BaseForecaster]:
        """The members named, built, after the ensemble's settings and each member's horizon are checked: what
        ``fit`` checks before it reads the series."""
        self._check_horizon()
        check_validation_settings(self)
        registry.check_runtime_settings(self)
        planned = {name: self._member(name) for name in self._check_members()}
        for member in planned.values():
            member._check_horizon()
        return planned

    def _chosen_median_share(self) -> float:
        """The median's share the combination chose, before an update moved weight (``shift_share_``)."""
        return getattr(self, "combination_share_", 1.0) * median_weight(getattr(self, "combination_rule_", None))

    @property
    def weights_(self) -> dict[str, float]:
        """Each member's weight averaged over the horizon steps; the forecast uses ``step_weights_``. They sum to
        1, less ``median_share_``: the weight of the members' median where the combination chose it."""
        check_is_fitted(self, "step_weights_")
        return {name: float(np.mean(w)) for name, w in self.step_weights_.items()}

    def _prepare_update(self, new_y: Any, checked: bool = False,
                        runs: Sequence[tuple[int, int, int, float]] = (),
                        flagged: dict[tuple[int, int], float] | None = None) -> list:
        """Update every member, add the windows the new points complete to the evidence, re-weigh incrementally.

        Each completed window is forecast by every member before it absorbs the new points
        (out of sample, as on the validation tail), joins the evidence the combination was
        chosen on, and the oldest leave it (its length stays). The rule chosen at fit (fitted
        weights, the mean of the best few, or the median beside one of them) is kept and applied to
        the refreshed evidence: a ranking of its error sums (``evidence_error_``, summed afresh on
        the evidence kept, so windows that left it leave no trace), or one small least-squares
        solve, not a cross-validation; the fallback's baseline is ranked again on the errors of all
        but the newest windows (:meth:`_rechosen_fallback`), its share (``combination_share_``) kept.
        Where a member's errors on the newest windows fell significantly below the combination's,
        weight moves to it (:meth:`_newest_shift`).
        The ensemble's own forecasts of those windows (with the weights before the update)
        join its validation buffers, from which the interval and confidence follow. The bursts
        ``runs`` (as for :meth:`BaseForecaster._prepare_update`) are read as their medians by the
        new windows and in the kept ones' targets; the members judge the new points with ``flagged`` (as there).
        """

        check_is_fitted(self, "context_")
        self._fitted_horizon()
        new = new_y if checked else as_matrix(new_y, "new_y")[0]
        plan = [step for member in self.members_.values()
                for step in member._prepare_update(new, checked=True, runs=runs, flagged=flagged)]
        rolled = {id(target): changes for target, changes in plan}
        buffers = {name: rolled[id(member)] for name, member in self.members_.items()}
        first = buffers[next(iter(buffers))]
        actual, origins = first["validation_actual_"], first["validation_origins_"]
        if len(new) <= len(actual):  # the windows completed now are at the buffers' end
            members_new = np.stack([b["validation_forecast_"][len(actual) - len(new) :] for b in buffers.values()])
        else:  # more than the buffers keep: every completed window, forecast by each member as it was
            members_new = np.stack([member._predict_at(
                member._settled(np.concatenate([member.recent_, new]), len(member.recent_), runs),
                np.arange(len(member.recent_) - self.horizon + 1, len(member.recent_) + len(new) - self.horizon + 1))
                for member in self.members_.values()])
        combined_new = self._weighted(members_new)  # with the weights before the update: out of sample
        forecast = newest(np.concatenate([self.validation_forecast_, combined_new]), len(actual))
        keep = self.evidence_actual_.shape[0]
        slots_new = np.stack([members_new[list(self.members_).index(name)] for name in self._slots()])
        recent = next(iter(self.members_.values())).recent_  # the newest window's inputs and targets
        evaluated = self._settled(np.concatenate([recent, new]), len(recent), runs)
        actual_new = targets_at(evaluated, np.arange(
            len(recent) - self.horizon + 1, len(recent) + len(new) - self.horizon + 1), self.horizon)
        evidence = np.concatenate([self.evidence_forecast_, slots_new], axis=1)
        evidence_actual = np.concatenate([self.evidence_actual_, actual_new])
        if keep:  # an ensemble fitted without evidence windows keeps none
            evidence, evidence_actual = newest(evidence, keep, axis=1), newest(evidence_actual, keep)
        else:
            evidence, evidence_actual = evidence[:, :0], evidence_actual[:0]
        settled = _settle_newest(evidence_actual, origins, runs)
        if settled is not None:  # a burst read as its median in kept windows' targets
            evidence_actual = settled
        # The error sums of the evidence as it now is, summed afresh (0.1-0.2 ms at 600 windows), so they depend on the
        # kept windows alone: running sums (the new windows' errors added, the leaving ones' taken away) would carry
        # rounding residues of windows long gone, and rank by them members exact on every kept window (all zero after
        # an idle stretch), which the tie rule (the earlier member) ranks.
        error = self._errors(evidence, evidence_actual)
        fallback = self._rechosen_fallback(evidence, evidence_actual)
        weights = self._slot_weights(evidence, evidence_actual, error, fallback)
        weights, shift = self._newest_shift(weights, evidence, evidence_actual, len(origins))
        own = dict(validation_forecast_=forecast, validation_actual_=actual, validation_origins_=origins, **shift,
                   evidence_forecast_=evidence, evidence_actual_=evidence_actual, evidence_error_=error,
                   **({} if fallback is self.fallback_weights_ else dict(  # chosen again: named again
                       fallback_weights_=fallback,
                       combination_=self._with_fallback(describe(self.combination_rule_, self._slots()), fallback))),
                   **self._calibration_update(combined_new, actual_new, origins, runs),
                   step_weights_=self._member_weights(weights),
                   context_=newest(np.concatenate([self.context_, new]), self.window_), n_seen_=self.n_seen_ + len(new))
        return plan + [(self, own)]

    def _newest_shift(self, weights: np.ndarray, evidence: np.ndarray, actual: np.ndarray,
                      newest: int) -> tuple[np.ndarray, dict[str, Any]]:
        """The slots' weights ``[S, H]`` with ``shift_share_`` of them moved to the slot whose errors on the newest
        windows fell significantly below the combination's, against the older evidence
        (:func:`~workload_predictor.models.combination.newest_shift`: the slots' forecasts ``evidence``
        ``[S, n, H, k]`` of ``actual``, the ``newest`` of them the validation windows), and the attributes that say so
        (``shift_share_``, ``shift_member_``: the slot's name; DLinear's slot goes to the LSTM where it shares it,
        ``shift_t_``).

        The weights rest mostly on the history's windows: after a level shift one member follows,
        its newest windows' errors are far below the combination's long before the error sums
        say so. The test compares each slot's errors less the combination's (as weighed now, the
        median's share included) on the newest blocks of windows with the older ones; the weight
        moves only as far as that is significant for the slots and splits tested together, and
        goes back as the changed windows become older evidence.
        """
        from . import combination

        median_share = self._chosen_median_share()
        current = combination.combine(weights, evidence)
        if median_share:
            current = current + median_share * combination.median_of_members(evidence)
        error = np.abs(evidence - actual[None]) / self.evidence_size_  # [S, n, H, k]
        difference = (error - (np.abs(current - actual) / self.evidence_size_)[None]).mean(axis=(2, 3))
        row, t, share = combination.newest_shift(difference, newest, self.horizon)
        if share:
            weights = (1.0 - share) * weights
            weights[row] += share
        return weights, dict(shift_share_=share, shift_member_=self._slots()[row] if share else None, shift_t_=t)

    def _calibration_update(self, forecast_new: np.ndarray, actual_new: np.ndarray, origins: np.ndarray,
                            runs: list[tuple[int, int, int, float]]) -> dict[str, np.ndarray]:
        """The calibration pool with the newly completed windows' combined forecasts and actual values added and
        as many of the oldest dropped (its length stays), the targets inside ``runs`` read as their medians (its
        newest windows are those at the validation ``origins``); none for a model saved without a pool."""
        if getattr(self, "calibration_forecast_", None) is None:
            return {}
        keep = len(self.calibration_actual_)
        actual = newest(np.concatenate([self.calibration_actual_, actual_new]), keep)
        settled = _settle_newest(actual, origins, runs)
        return dict(calibration_forecast_=newest(np.concatenate([self.calibration_forecast_, forecast_new]), keep),
                    calibration_actual_=actual if settled is None else settled)

    def context_length(self) -> int:
        return int(self.window_)

    def update_bytes(self, n_new: int) -> float:
        """Every member's update, plus the baselines' history forecasts and the combined buffers."""
        k = getattr(self, "n_targets_", 1)
        own = 8.0 * (n_new + self.window_) * k * self.horizon * (len(self.members_) + 4)
        return own + sum(member.update_bytes(n_new) for member in self.members_.values())

    def _predict_at(self, y: np.ndarray, origins: np.ndarray) -> np.ndarray:
        return self._combined(lambda member: member._predict_at(y, origins))

    def _combined_size_bound(self, bound_of: Callable[[BaseForecaster], float]) -> float:
        """An upper bound on the size of :meth:`_combined`'s forecast given ``bound_of(member)``, at least the size of
        that member's forecast (save's check, :func:`~workload_predictor.model_file.check_saveable`): each step's
        weights in size times the bounds of the members the combination reads, plus the median's share in size
        times the largest slot's bound (a median lies within its values; a slot the LSTM shares with DLinear within
        the sizes of their shares). NaN where a weight or share is NaN; ``inf`` where it reads no member."""
        names = list(self.members_)
        reads = names if self.median_share_ else [name for name in names if self.step_weights_[name].any()]
        bounds = {name: bound_of(self.members_[name]) for name in reads}
        total = sum((np.abs(self.step_weights_[name]) * bounds[name] for name in reads), np.zeros(1))
        median_share = self.median_share_
        if median_share:
            slots = []
            for name in self._slots():
                slot = bounds[name]
                if name == "dlinear" and self._lstm_shares_slot():
                    share = self._lstm_share()
                    slot = abs(share) * bounds["lstm"] + abs(1.0 - share) * slot
                slots.append(slot)
            total = total + abs(median_share) * (np.max(slots) if slots else math.inf)  # NaN kept
        return float(np.max(total)) if reads else math.inf

    def _combined(self, forecast_of: Callable[[BaseForecaster], np.ndarray]) -> np.ndarray:
        """The forecasts ``[n, H, k]`` combined from ``forecast_of(member)`` (each ``[n, H, k]``) of the members the
        combination reads: every member where the median counts, else those weighed at some step."""
        if self.median_share_:  # the median reads every slot's forecast
            return self._weighted(np.stack([forecast_of(member) for member in self.members_.values()]))
        total = None
        for name, member in self.members_.items():
            weight = self.step_weights_[name]  # [H]
            if not weight.any():
                continue
            part = weight[None, :, None] * forecast_of(member)
            total = part if total is None else total + part
        return total


def _settle_newest(actual: np.ndarray, origins: np.ndarray, runs: list) -> np.ndarray | None:
    """``actual`` (``[n, H, k]``, its newest windows those at ``origins``) with the targets inside ``runs`` read as
    their medians (:func:`workload_predictor.anomaly.settle_targets`); ``None`` when none lies in them."""
    if not runs:
        return None
    m = min(len(actual), len(origins))
    newest = anomaly.settle_targets(actual[len(actual) - m :], origins[len(origins) - m :], runs)
    return None if newest is None else np.concatenate([actual[: len(actual) - m], newest])


def _twin_of(dlinear: Any, lstm: Any) -> bool:
    """Whether ``dlinear``'s first fit (on the points before the validation tail) is exactly what ``lstm``'s
    base will fit first on the same points: the same parameters but ``half_life``, which a fit does not read (the
    base keeps its own and records it, see ``LSTM._fit_network``)."""
    if dlinear is None:
        return False
    mine, theirs = dlinear.get_params(), lstm._new_base().get_params()
    mine.pop("half_life"), theirs.pop("half_life")
    return mine == theirs


def _widest(members: dict[str, BaseForecaster]) -> BaseForecaster:
    """The member of ``members`` that needs the longest series."""
    return max(members.values(), key=lambda m: m.minimum_length())
