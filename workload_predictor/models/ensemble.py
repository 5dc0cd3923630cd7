"""A convex combination of forecasters, weighted by their out-of-sample errors."""

from __future__ import annotations

import time
from typing import Any, Sequence

import numpy as np

from ..errors import WorkloadDataError, check_is_fitted
from ..windows import targets_at
from . import registry
from .combination import EXACT_MEMBERS, convex_weights_absolute, evidence_shrinkage
from .base import BaseForecaster, as_matrix

# The baselines' weights are scored on at most this many origins of the history (spread evenly):
# plenty for three weights, and it bounds the fit's cost on long series.
HISTORY_ORIGINS = 500


class Ensemble(BaseForecaster):
    """Weighted mean of member forecasts; weights from their out-of-sample errors.

    The weights are non-negative and sum to one, and come in two steps, because the
    validation tail (at most 15 % of the points and 100 windows, shared by every
    member) is short: with 10-step windows it holds a few independent stretches, and
    weights fitted on it alone chase whichever member the last stretch favoured.

    1. The parameter-free baselines among the members (those registered with
       ``baseline=True``: last value, moving average, seasonal naive) are weighted on the whole history before the tail, per horizon
       step (``baseline_weights_``: least absolute error over up to 500 origins, every
       forecast out of sample, as nothing was fitted on it; the last value tends to win
       the first steps and a mean the later ones). Their weighted sum is the *baseline
       block*.
    2. The fitted members (DLinear, the LSTM, and exponential smoothing, whose factor
       is chosen on the training part: its history score would be in-sample and
       flatter it) and the block are weighted on the tail, where every member's
       forecast is out of sample (least absolute error), and this combination is trusted as far as
       the tail's evidence goes: its error minus the block's, averaged over
       non-overlapping stretches of ``horizon`` origins, gives a t statistic
       (``combination_t_``) and a share ``combination_share_ = clip(-t / t_crit, 0, 1)``
       (Student's 97.5 % value; see :func:`~workload_predictor.models.combination.evidence_shrinkage`).
       The final weights are ``share x combination + (1 - share) x block``, per step
       (``step_weights_``; ``weights_`` shows each member's mean over the steps). With no
       baseline among the members the tail's weights are used as they are (share 1);
       with no learned member the block is the ensemble (share 0).

    So on a series with structure the learned members capture (a daily cycle),
    they get their weight; on a bursty series where they only won the last stretch by
    chance, the block keeps it. Measured on the Azure traces over 42 settings (2 traces
    x 1/5/10/30 s x horizons 10/30 x 3 targets, ``scripts/evaluate_grid.py``): within 2 %
    of the best of naive, seasonal naive and moving average in 35 (one block weight for
    all steps: 33; exponential smoothing in the block: 29; tail-only weights: 25), mean
    excess 1.2 % (1.4 %, 2.2 %, 7.0 %), worst +13 % (+15 %, +20 %, +54 %). Absolute, not squared, error throughout: it is
    what the backtest scores (MAE), and on bursty traces, where most buckets are empty,
    least squares favours the smooth mean forecast while the absolute error rewards
    tracking the median.

    The ensemble's own validation forecast is its weighted sum, which is what its
    interval and confidence are computed from. Members are then refitted on all data
    (DLinear exactly; the LSTM refits its linear base, not its network). ``update``
    re-weighs both steps: the windows that leave the tail join the baselines' history
    (``history_forecast_``, the newest ``HISTORY_ORIGINS`` kept), and step 2 uses the
    refreshed tail.

    Parameters
    ----------
    horizon : int
        Buckets forecast directly.
    members : sequence of str
        Registered model names (:mod:`~workload_predictor.models.registry`, ``member=True``), each once.
    window : int or None
        The learned members' input window (the baselines keep their own settings).
    member_params : dict or None
        Each member's own parameters, by member name, e.g.
        ``{"lstm": {"hidden_size": 64}, "moving_average": {"window": 24}}``.
    random_state, n_threads, device, max_training_time, validation_fraction, max_validation_windows, verbose :
        Runtime settings, passed to every member that takes them (see :class:`LSTM`).
    """

    def __init__(
        self,
        horizon: int = 10,
        members: Sequence[str] = ("dlinear", "lstm", "naive", "moving_average", "exponential_smoothing"),
        window: int | None = None,
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
        baselines keep their own), and ``member_params[name]``."""
        settings = {key: getattr(self, key) for key in registry.RUNTIME_PARAMS if hasattr(self, key)}
        if not registry.get(name, "member").baseline:
            settings["window"] = self.window
        return registry.build(name, settings, (self.member_params or {}).get(name))

    def _check_members(self) -> list[str]:
        names, valid = list(self.members), registry.names(member=True)
        unknown = [n for n in names if n not in valid]
        if not names or unknown or len(set(names)) != len(names) or len(names) > EXACT_MEMBERS:
            raise WorkloadDataError(f"members={self.members!r}: name each member once (at most {EXACT_MEMBERS}), "
                                    f"from {', '.join(valid)}.")
        params = self.member_params or {}
        if not isinstance(params, dict) or any(key not in names for key in params):
            raise WorkloadDataError(f"member_params={params!r:.80} must map member names ({', '.join(names)}) "
                                    "to dicts of their parameters.")
        return names

    def fit(self, y: Any):
        """Fit every member, weight them on the shared validation tail. Returns ``self``."""
        matrix, one_d = as_matrix(y)
        self._check_horizon()
        names = self._check_members()
        # Every member's length check before any member trains: the longest requirement is the ensemble's.
        planned = {name: self._member(name) for name in names}
        for member in planned.values():
            member._check_horizon()
        widest = max(planned.values(), key=lambda m: m.minimum_length())
        if not widest._length_suffices(len(matrix)):
            widest._check_length(len(matrix))
        fitted: dict[str, BaseForecaster] = {}
        # The LSTM's DLinear base runs the same window search on the same data as the DLinear member,
        # so both see the same windows (blended, see DLinear's ``blend``) without passing them along.
        # ``max_training_time`` bounds the ensemble as a whole: a member gets what its predecessors left.
        started = time.perf_counter()
        for name, member in planned.items():
            if self.max_training_time is not None and hasattr(member, "max_training_time"):
                member.max_training_time = max(0.0, self.max_training_time - (time.perf_counter() - started))
            fitted[name] = member.fit(matrix)
        self.members_ = {name: fitted[name] for name in names}
        self.n_targets_ = matrix.shape[1]
        self._one_d = one_d
        first = self.members_[names[0]]
        self.validation_origins_ = first.validation_origins_
        self.validation_actual_ = first.validation_actual_
        forecasts = np.stack([m.validation_forecast_ for m in self.members_.values()])  # [M, v, H, k]
        self.history_forecast_, self.history_actual_ = self._history(matrix)
        self.baseline_weights_ = self._baseline_weights(self.history_forecast_, self.history_actual_)
        (self.step_weights_, self.validation_forecast_, self.combination_t_, self.combination_share_) = self._combine(
            forecasts, self.validation_actual_, self.validation_origins_, self.baseline_weights_)
        self.window_ = max(m.context_length() for m in self.members_.values())
        self.context_ = matrix[-self.window_ :].copy()
        self.n_seen_ = len(matrix)
        return self

    @staticmethod
    def _target_size(actual: np.ndarray) -> np.ndarray:
        """A common size per target ``[k]`` (mean absolute value), so token counts do not drown request counts."""
        size = np.abs(actual).mean(axis=(0, 1))
        return np.where(size > 0, size, 1.0)

    @classmethod
    def _convex_weights(cls, forecasts: np.ndarray, actual: np.ndarray) -> np.ndarray:
        """Least-absolute-error convex weights of forecasts ``[M, n, H, k]`` for ``actual`` ``[n, H, k]``."""
        size = cls._target_size(actual)
        return convex_weights_absolute((forecasts / size).reshape(len(forecasts), -1), (actual / size).ravel())

    def _baseline_names(self) -> list[str]:
        return [name for name in self.members_ if registry.get(name).baseline]

    def _history(self, matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The baseline members' forecasts ``[B, n, H, k]`` at up to ``HISTORY_ORIGINS`` origins before the
        validation tail (spread evenly), and the actual values ``[n, H, k]``."""
        names = self._baseline_names()
        first = int(self.validation_origins_[0])
        start = max((self.members_[name].context_length() for name in names), default=0)
        origins = np.arange(start, first - self.horizon + 1)  # their targets end before the tail starts
        if len(origins) > HISTORY_ORIGINS:
            origins = np.unique(np.round(np.linspace(origins[0], origins[-1], HISTORY_ORIGINS)).astype(np.int64))
        # Each forecast reads only the points before its origin: out of sample for these parameter-free members.
        forecasts = np.stack([self.members_[name]._predict_at(matrix, origins) for name in names]) if names else (
            np.zeros((0, len(origins), self.horizon, matrix.shape[1])))
        return forecasts, targets_at(matrix, origins, self.horizon)

    def _history_after(self, new: np.ndarray, keep: int) -> tuple[np.ndarray, np.ndarray]:
        """The baselines' history once the windows ``new`` completes roll through the validation tail.

        Tail and new windows in order, as each member rolls its buffers; all but the newest
        ``keep`` leave the tail and join the history, whose newest ``HISTORY_ORIGINS`` stay.
        """
        names = self._baseline_names()
        if not names:
            return self.history_forecast_, self.history_actual_
        parts, actual = [], None
        for name in names:
            member = self.members_[name]
            y = np.concatenate([member.recent_, new])
            origins = np.arange(len(member.recent_) - self.horizon + 1, len(y) - self.horizon + 1)
            parts.append(np.concatenate([member.validation_forecast_, member._predict_at(y, origins)]))
            if actual is None:  # the same windows for every member
                actual = np.concatenate([self.validation_actual_, targets_at(y, origins, self.horizon)])
        leaving = max(len(actual) - keep, 0)
        forecast = np.concatenate([self.history_forecast_, np.stack(parts)[:, :leaving]], axis=1)[:, -HISTORY_ORIGINS:]
        return forecast, np.concatenate([self.history_actual_, actual[:leaving]])[-HISTORY_ORIGINS:]

    def _baseline_weights(self, forecasts: np.ndarray, actual: np.ndarray) -> dict[str, np.ndarray]:
        """Per horizon step, weights ``[H]`` of the baseline members from their history forecasts (even when there
        is none to tell): the last value tends to win the first steps and a mean the later ones."""
        names = self._baseline_names()
        if len(names) < 2 or forecasts.shape[1] == 0:
            return {name: np.full(self.horizon, 1.0 / len(names)) for name in names}
        by_step = np.stack([self._convex_weights(forecasts[:, :, step : step + 1], actual[:, step : step + 1])
                            for step in range(self.horizon)])  # [H, B]
        return {name: by_step[:, i] for i, name in enumerate(names)}

    @property
    def weights_(self) -> dict[str, float]:
        """Each member's weight averaged over the horizon steps (they sum to 1); the forecast uses ``step_weights_``."""
        check_is_fitted(self, "step_weights_")
        return {name: float(np.mean(w)) for name, w in self.step_weights_.items()}

    def _combine(self, forecasts: np.ndarray, actual: np.ndarray, origins: np.ndarray,
                 baseline_weights: dict[str, Any]) -> tuple[dict[str, np.ndarray], np.ndarray, float, float]:
        """Member weights per horizon step ``{name: [H]}``, the weighted validation forecast, and the tail's
        evidence ``(t, share)``.

        ``forecasts`` are the members' validation forecasts ``[M, v, H, k]`` at ``origins``;
        ``baseline_weights`` give each baseline's weight per step (a scalar counts for every step).
        """
        names = list(self.members_)
        steps = forecasts.shape[2]
        baselines = [i for i, name in enumerate(names) if name in baseline_weights]
        learned = [i for i, name in enumerate(names) if name not in baseline_weights]
        if not baselines:  # nothing to weigh against: the tail's weights
            weights = self._convex_weights(forecasts, actual)
            return ({name: np.full(steps, float(w)) for name, w in zip(names, weights)},
                    np.tensordot(weights, forecasts, axes=1), 0.0, 1.0)
        block_weights = np.stack([np.broadcast_to(np.asarray(baseline_weights[names[i]], dtype=float), (steps,))
                                  for i in baselines])  # [B, H]
        block = np.einsum("bh,bvhk->vhk", block_weights, forecasts[baselines])
        if not learned:  # the block is the ensemble
            return {names[i]: block_weights[j].copy() for j, i in enumerate(baselines)}, block, 0.0, 0.0
        candidates = np.concatenate([forecasts[learned], block[None]])
        combination_weights = self._convex_weights(candidates, actual)
        combination = np.tensordot(combination_weights, candidates, axes=1)
        gain = (np.abs(combination - actual) - np.abs(block - actual)) / self._target_size(actual)
        difference = gain.mean(axis=(1, 2))  # per origin: the combination's error minus the block's
        t, share = evidence_shrinkage(difference, origins, self.horizon)
        weights = {names[i]: np.full(steps, share * combination_weights[j]) for j, i in enumerate(learned)}
        weights.update({names[i]: (share * combination_weights[-1] + 1.0 - share) * block_weights[j]
                        for j, i in enumerate(baselines)})
        return ({name: weights[name] for name in names}, share * combination + (1.0 - share) * block,
                float(t), float(share))

    def _prepare_update(self, new_y: Any, checked: bool = False) -> list:
        """Update every member, then re-weigh them on their refreshed validation windows."""
        check_is_fitted(self, "context_")
        new = new_y if checked else as_matrix(new_y, "new_y")[0]
        plan = [step for member in self.members_.values() for step in member._prepare_update(new, checked=True)]
        rolled = {id(target): changes for target, changes in plan}
        buffers = [rolled[id(member)] for member in self.members_.values()]
        actual, origins = buffers[0]["validation_actual_"], buffers[0]["validation_origins_"]
        # The windows leaving the tail join the baselines' history (the oldest leave it), and the baselines
        # are re-weighed on it: out-of-sample forecasts of the parameter-free members, as at fit.
        history_forecast, history_actual = self._history_after(new, keep=len(actual))
        baseline_weights = self._baseline_weights(history_forecast, history_actual)
        step_weights, forecast, t, share = self._combine(np.stack([b["validation_forecast_"] for b in buffers]), actual,
                                                    origins, baseline_weights)
        own = dict(step_weights_=step_weights, validation_forecast_=forecast, validation_actual_=actual,
                   validation_origins_=origins, combination_t_=t, combination_share_=share,
                   history_forecast_=history_forecast, history_actual_=history_actual,
                   baseline_weights_=baseline_weights,
                   context_=np.concatenate([self.context_, new])[-self.window_ :], n_seen_=self.n_seen_ + len(new))
        return plan + [(self, own)]

    def context_length(self) -> int:
        return int(self.window_)

    def update_bytes(self, n_new: int) -> float:
        """Every member's update, plus the baselines' history forecasts and the combined buffers."""
        k = getattr(self, "n_targets_", 1)
        own = 8.0 * (n_new + self.window_) * k * self.horizon * (len(self.members_) + 4)
        return own + sum(member.update_bytes(n_new) for member in self.members_.values())

    def _predict_at(self, y: np.ndarray, origins: np.ndarray) -> np.ndarray:
        total = None
        for name, member in self.members_.items():
            weight = self.step_weights_[name]  # [H]
            if not weight.any():
                continue
            part = weight[None, :, None] * member._predict_at(y, origins)
            total = part if total is None else total + part
        return total
