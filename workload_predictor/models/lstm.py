"""An LSTM forecaster that reads the window in patches and learns what DLinear leaves.

Design, chosen by measurement (see CHANGELOG / the issue note):

* **Patches.** The window (the one DLinear's search picks, e.g. 72-120 buckets, so
  the LSTM sees the dominant period) is cut into about 12 patches of several
  buckets; the LSTM runs 12 steps instead of 120, which is what makes a 2 s fit
  possible on 2 cores.
* **Residual on a linear base** (``linear_base=True``, the default): the forecast is
  ``DLinear(x) + head(LSTM(patches(x)))``. The head starts at zero, so training
  starts from the exact DLinear fit and early stopping keeps the initial weights
  when the network cannot beat them on validation. LSTNet (Lai et al., 2018) uses
  the same linear "highway". ``linear_base=False`` gives a plain LSTM.
* **Direct multi-step head**: one forward pass gives the whole horizon.
* Inputs are standardised with statistics of the training part only (a target constant
  there, a new endpoint's idle history, by the spread of its points after the first that
  leaves the constant, as DLinear scales it: :meth:`LSTM._scale_woken`); on a base that
  follows the level (``follow_level``, the default) the network reads each window less
  its last value, so its correction follows the level as the base does.
* **The correction counts as far as the evidence says it helps.** Early stopping
  accepts any gain on the inner tail, which it also chose the epoch on. The validation
  tail, which neither saw, then weighs the network's correction against the base alone
  (``correction_share_``, the ensemble's block t test:
  :func:`~.combination.evidence_shrinkage`): the forecast is ``DLinear(x) + share *
  head(...)``. Trained on squared error, the network can chase a bursty series' bursts
  and forecast far worse than its base in absolute error (the code trace at 1 s, h = 30,
  output tokens: MAE 78.7 against the base's 49.2); there the share is 0.
* The network is trained once, on the data before the validation tail, with early
  stopping on an inner tail. Refitting only touches the closed-form base: after
  training, and again after validation, the linear base is refitted (window and
  scaling fixed) on all the data seen so far, the second time exactly as DLinear
  refits itself, which costs milliseconds and gains the accuracy DLinear gets from
  a refit; the network is not retrained.
"""

from __future__ import annotations

import copy
import time
from typing import Any

import numpy as np
import torch
from torch import nn

from .. import anomaly
from .._deadline import Deadline, current, limit
from .._memory import check_memory, epoch_hook
from .._progress import epoch_callback, progress_bar
from .._threads import TORCH_GLOBAL_RNG, torch_threads
from ..errors import is_positive_int
from ..windows import fit_scale, targets_at, validation_origins, windows_at
from .base import BaseForecaster, as_matrix
from .combination import error_difference, evidence_shrinkage
from .dlinear import DLinear, window_weights, woken_scale
from .registry import check_verbose, record_init
from .torch_runtime import (
    EVAL_ACTIVATION_FLOATS,
    PREDICT_CHUNK,
    forward_in_chunks,
    check_network_memory,
    check_patch_size,
    check_quantize,
    check_settings,
    inference_network,
    resolve_device,
    network_bytes,
    time_left,
    training_seed,
)
from .training import TrainingResult, train_network

PATCHES = 12


def patch_for(window: int) -> int:
    """The patch size (a Python int) that cuts ``window`` into about ``PATCHES`` whole patches: ``round(window /
    PATCHES)``, or ``window // PATCHES`` where whole patches of it cover more of the window (``window=2000``: 12 of
    166 = 1,992 buckets, where 11 of 167 read 1,837). The network reads the window rounded down to whole patches."""
    nearest, below = max(1, round(window / PATCHES)), max(1, window // PATCHES)
    return int(below if window // below * below > window // nearest * nearest else nearest)

#: Under a time limit, the most of the time left the training targets may take (newest windows first): the
#: training takes the rest.
TARGETS_SHARE = 0.5
CHUNK_ORIGINS = 8192  # origins per chunk when the base forecasts many windows (bounds its float64 copies)
#: ``Deadline.pace`` key: the longest chunk of targets in this fit, in seconds.
CHUNK_PACE = "lstm targets chunk"
UPDATE_WINDOWS = 256  # update() trains on the newest windows only ...
UPDATE_EPOCHS = 10  # ... for a few warm-started epochs (the old report's epochs=10) ...
UPDATE_PATIENCE = 2  # ... stopping after 2 without gain: 15-20 % of a fit's cost instead of 22-38 % (measured)
# ... at a tenth of the fit's learning rate: fine-tuning refines the network instead of replacing it. At the
# full rate a few epochs on ~250 windows overfit their short validation: MAE after 10 updates / a refit's,
# synthetic + 12 drawn series (perf update_accuracy), 1.262 (max 1.171) -> 1.027 (max 1.053).
UPDATE_LEARNING_RATE_FACTOR = 0.1
_GLOBAL_RNG = TORCH_GLOBAL_RNG  # seeded initialisation borrows torch's global RNG: one fit at a time


class _OutOfTime(Exception):
    """``max_training_time`` ran out while the training windows' targets were prepared."""


#: The largest gate input, window input or head output size (float64) under which an LSTM's forecast is bounded
#: without its forward pass (:meth:`LSTM._forecast_size_bound`): far from float32's 3.4e38, so no sum overflows.
SIZE_BOUND_LIMIT = 1e30


@record_init  # model files rebuild it from its constructor's arguments
class _PatchLSTM(nn.Module):
    """Patches of the window -> LSTM -> last hidden state -> the whole horizon at once.

    ``level_targets`` (``k``, the series' targets; 0: off) reads each window less its
    last value, target by target, so the output depends on the window's shape and not
    on its level (the residual network on a base that follows the level).
    """

    def __init__(self, patch_inputs: int, hidden_size: int, num_layers: int, outputs: int, level_targets: int = 0):
        super().__init__()
        if level_targets < 0 or (level_targets and patch_inputs % level_targets):
            raise ValueError(f"level_targets={level_targets} does not divide the patch's {patch_inputs} inputs")
        self.level_targets = level_targets
        self.lstm = nn.LSTM(patch_inputs, hidden_size, num_layers, batch_first=True)
        self.head = nn.Linear(hidden_size, outputs)
        nn.init.zeros_(self.head.weight)  # start from the linear base's forecast
        nn.init.zeros_(self.head.bias)

    def __reduce_ex__(self, protocol: Any) -> tuple:
        """What ``pickle`` keeps (a Dask worker's fitted partition on its way back, ``client.submit``, joblib): the
        constructor's arguments, the weights as host arrays and the device they were on, rebuilt by
        :func:`_unpickled_network` on that device where torch sees it, else on the CPU. Torch's own pickle stores
        each tensor with its device and reads it back with a bare ``torch.load``, which raises on a host without
        CUDA for a GPU tensor (a fleet's process beside GPU workers). ``copy`` and ``deepcopy`` stay torch's own
        (:meth:`__copy__`, :meth:`__deepcopy__`)."""
        weights = {name: tensor.detach().cpu().numpy() for name, tensor in self.state_dict().items()}
        device = str(next(self.parameters()).device)
        return _unpickled_network, (type(self), list(self.init_args_.values()), weights, device, self.training)

    def __copy__(self) -> "_PatchLSTM":
        """A shallow copy as ``copy.copy`` makes one of a torch module (the same tensors)."""
        clone = type(self).__new__(type(self))
        clone.__setstate__(self.__getstate__())
        return clone

    def __deepcopy__(self, memo: dict) -> "_PatchLSTM":
        """A deep copy as ``copy.deepcopy`` makes one of a torch module: new tensors on the same device."""
        clone = type(self).__new__(type(self))
        memo[id(self)] = clone
        clone.__setstate__(copy.deepcopy(self.__getstate__(), memo))
        return clone

    def forward(self, patches: torch.Tensor) -> torch.Tensor:
        # patches: [B, n_patches, patch_size * k], a patch's values position by position, k targets each
        if self.level_targets:
            k = self.level_targets
            last = patches[:, -1, -k:]  # [B, k]: each target's last value
            if torch.is_grad_enabled():  # training: repeat's backward, whose sums the fitted weights rest on
                patches = patches - last.repeat(1, patches.shape[2] // k)[:, None, :]
            else:  # a forecast: the same values, broadcast over each position's k values (repeat's copy: ~10 us)
                patches = (patches.unflatten(2, (-1, k)) - last[:, None, None, :]).flatten(2)
        hidden, _ = self.lstm(patches)  # [B, n_patches, hidden]
        return self.head(hidden[:, -1])  # [B, horizon * k]


def _unpickled_network(cls: type, init: list, weights: dict[str, np.ndarray], device: str,
                       training: bool) -> nn.Module:
    """A network pickled by ``_PatchLSTM.__reduce_ex__``: built on torch's meta device (no weights drawn from the
    global RNG), given the stored weights on the CPU, then moved to ``device`` where torch sees it."""
    with torch.device("meta"):
        network = cls(*init)
    network = network.to_empty(device="cpu")
    network.load_state_dict({name: torch.from_numpy(np.asarray(value)) for name, value in weights.items()})
    target = torch.device(device)
    if target.type == "cuda" and torch.cuda.is_available() and (target.index or 0) < torch.cuda.device_count():
        network = network.to(target)
    return network.train(training)


class LSTM(BaseForecaster):
    """Patch-LSTM forecaster (PyTorch), optionally on a DLinear base.

    Parameters
    ----------
    horizon : int
        Buckets forecast directly, in one forward pass.
    window : int or None
        Input window; ``None`` takes the window DLinear's validation search picks.
    patch_size : int or None
        Buckets per LSTM step, at most the window; ``None`` cuts the window into about 12 patches
        (:func:`patch_for`). The network reads the window rounded down to whole patches.
    hidden_size, num_layers : int
        LSTM size (default 32 x 1: chosen by measurement for a 2 s fit). Before the network is
        built, its training memory (``torch_runtime.network_bytes``) is checked against the
        memory limit of a predictor's fit (``MemoryLimitError``).
    max_epochs, batch_size, learning_rate, patience :
        Adam training with early stopping on the inner validation tail: at most ``max_epochs``
        epochs (default 50), fewer when ``patience`` epochs pass without a gain.
    linear_base : bool
        Learn the residual of an exact DLinear fit (default) or the series itself. On the
        base, the forecast adds ``correction_share_`` of the network's correction: as much
        as the validation tail's evidence says it beats the base alone (0 to 1).
    kernel_size : int
        DLinear's moving-average length (base and window search).
    follow_level : bool
        With the linear base (default True): the base's ``follow_level``, and the network
        reads each window less its last value. Base and correction then follow a shift in
        level: the forecast of a window plus a constant is the forecast plus that constant.
        A network reading raw levels learns corrections for the levels of its training
        part and extrapolates them at others: on the code trace's 18 grid settings
        (``scripts/accuracy_benchmark.py``) its test MAE was a median 1.67x DLinear's, against
        1.12x for a network reading windows less their last value.
    random_state : int or None
        Seed in [0, 2**32 - 1] for initial weights and batch order; the global torch RNG is left untouched.
    n_threads : int or None
        torch threads during fit/predict (restored afterwards). The default 1 is the
        fastest for a network this small and robust when other processes load the
        cores (fit 0.44 s with 1 thread vs 2.23 s with 2 on a loaded 2-core machine);
        ``None`` uses whatever ``torch.set_num_threads`` set.
    device : str
        ``"cpu"``, ``"cuda"`` or ``"auto"`` (cuda when available).
    quantize : None or "int8"
        ``"int8"``: forecast with a dynamically quantised int8 copy of the network (CPU
        only; see :mod:`.quantize`). Training, ``update`` and saved files stay float32.
    max_training_time : float or None
        Seconds the fit may take (no later than a deadline around it: a predictor's, an
        ensemble's, a fleet's). Training stops and keeps its best weights; before it, the
        training targets are prepared newest first in at most ``TARGETS_SHARE`` of the time
        left, and the network trains on the newest windows prepared when they are not all.
        The base's final refit and the validation forecast keep the time they need.
    validation_fraction, max_validation_windows :
        The chronological validation tail: this share of the points (at least one horizon), forecast at up to
        this many origins spread evenly over it.
    verbose : bool or None
        A progress bar over the epochs on stderr: ``None`` (default) only when stderr is
        a terminal, ``True`` always, ``False`` never.
    """

    min_window = 12

    def __init__(
        self,
        horizon: int = 10,
        window: int | None = None,
        patch_size: int | None = None,
        hidden_size: int = 32,
        num_layers: int = 1,
        max_epochs: int = 50,
        batch_size: int = 64,
        learning_rate: float = 3e-3,
        patience: int = 5,
        linear_base: bool = True,
        kernel_size: int = 25,
        follow_level: bool = True,
        random_state: int | None = None,
        n_threads: int | None = 1,
        device: str = "cpu",
        quantize: str | None = None,
        max_training_time: float | None = None,
        validation_fraction: float = 0.15,
        max_validation_windows: int = 100,
        verbose: bool | None = None,
    ):
        self.horizon = horizon
        self.window = window
        self.patch_size = patch_size
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.max_epochs = max_epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.patience = patience
        self.linear_base = linear_base
        self.kernel_size = kernel_size
        self.follow_level = follow_level
        self.random_state = random_state
        self.n_threads = n_threads
        self.device = device
        self.quantize = quantize
        self.max_training_time = max_training_time
        self.validation_fraction = validation_fraction
        self.max_validation_windows = max_validation_windows
        self.verbose = verbose

    _forecast_reads = "window"  # its window and its base's, scaled elementwise (BaseForecaster._forecast_reads)

    def context_length(self) -> int:
        return max(self.window_, self.base_.window_ if self.base_ is not None else 0)

    def _length_suffices(self, n: int) -> bool:
        """Room for the validation tail *and*, before it, the inner tail training stops early on.

        ``fit`` trains on the points before the validation tail and splits them again:
        those must themselves hold training windows and an inner tail.
        """
        tail = validation_origins(n, self.horizon, self.validation_fraction, self.max_validation_windows)
        return super()._length_suffices(n) and super()._length_suffices(int(tail[0]))

    @anomaly.keeping_scans
    def fit(self, y: Any, anomalies: dict[tuple[int, int], float] | None = None):
        """Fit on ``y`` (``(n,)`` or ``(n, k)``) within ``max_training_time`` (and no later than a deadline
        around this fit: a predictor's, an ensemble's); ``anomalies`` as for :meth:`BaseForecaster.fit`. The
        DLinear base's window search reads the series as DLinear's own fit does (a burst the series came back from
        at its median, :meth:`DLinear.fit`). Returns ``self``."""
        whole = self._whole_series = as_matrix(y)[0]  # the base's input-anomaly floor reads it (DLinear.fit's)
        try:
            with limit(self.max_training_time):
                super().fit(y, self._scored_flags(whole, anomalies))  # its base's search scores _scored_series
        finally:
            vars(self).pop("_whole_series", None)
            vars(self).pop("_scored_series", None)
            vars(self).pop("_own_scan", None)
        if self.base_ is not None:  # a series constant throughout: the base wakes at an update, as DLinear does
            self.base_._record_idle(whole)
        return self

    def _fit_arrays(self, y: np.ndarray, refit: bool) -> None:
        if refit:  # the closed-form base alone, its window, scaling and penalty fixed (milliseconds)
            if self.base_ is not None:
                self.base_._fit_arrays(y, refit=True)
            return
        # Settings first: a bad one (or a network too large for the memory limit) fails before the base's fit.
        self._check_network_settings(y.shape[1])
        # The base always completes; the targets and the training stop at the deadline.
        self._fit_network(y, current())

    def _check_network_settings(self, n_targets: int) -> None:
        """The settings the fit checks before it reads a series of ``n_targets`` targets: the network's (and its
        smallest size against the memory limit), ``verbose``, and the patch against a given window."""
        check_settings(self, outputs=self.horizon * n_targets)
        check_verbose(self.verbose)
        if is_positive_int(self.window):  # a given window: it and the patch are checked before the base's fit
            self._new_base()._check_params()  # the base's window: 2 buckets or more
            check_patch_size(self.patch_size, int(self.window))

    def _refit(self, y: np.ndarray, n_seen: int) -> None:
        """The base's refit on all of ``y``, as DLinear refits itself (the network is not retrained): the
        windows after ``y[:n_seen]`` are added to its statistics and its penalty is set anew relative to all
        the data, so that the base is the DLinear fit of the same points. When not even those windows fit in
        the time left, the base stays as fitted on ``y[:n_seen]`` (see :meth:`DLinear._refit`)."""
        if self.base_ is not None:
            self.base_._refit(y, n_seen, stage="lstm base refit")
        self._scale_woken(y, n_seen, self.base_)

    def _fit_network(self, y: np.ndarray, deadline: Deadline) -> None:
        """Fit the base and train the network on ``y``; the targets and the training stop at ``deadline``, early
        enough to leave time for the base's refit on the whole series that follows (see ``_fit_arrays``)."""
        start = time.perf_counter()
        device = resolve_device(self.device)
        check_quantize(getattr(self, "quantize", None), device)
        horizon, k = self.horizon, y.shape[1]
        inner = validation_origins(len(y), horizon, self.validation_fraction, self.max_validation_windows)
        train_part = y[: inner[0]]
        # The window comes from DLinear's search on all of y (the same window a DLinear fitted
        # here would use); the base's weights see only the data before the inner tail, so early
        # stopping judges the network on windows neither part was fitted on.
        base = self._new_base()
        twin = vars(self).pop("_base_first_fit", None)  # an ensemble's DLinear member's fit on the same points
        whole = vars(self).pop("_whole_series", None)
        scored = vars(self).pop("_scored_series", None)  # the series as the base's search scores it (see fit)
        first_seconds = 0.0
        if twin is not None:
            # The member's settings may differ from the base's in half_life alone (Ensemble._twin_of), which the
            # fit does not read: the base keeps its own, and records them as its own fit would.
            vars(base).update(copy.deepcopy(twin))
            base._record_settings()
        else:
            if whole is not None:  # as DLinear.fit: the whole series' input-anomaly floor
                base._whole_series = whole
            if scored is not None:
                base._scored_series = scored
            first_started = deadline.clock()
            base._fit_arrays(y, refit=False)
            first_seconds = deadline.clock() - first_started
        # The window DLinear's search chose: the network reads it in whole patches (at least one), rounded down.
        check_patch_size(self.patch_size, int(base.window_), "" if self.window else " DLinear's window search chose")
        # After training the base is refitted on y with its window, scaling and penalty: exactly this fit,
        # which is kept rather than recomputed (one pass of the statistics over y: 0.1 s at 1,000,000 points).
        self._base_on_y = copy.deepcopy(base)
        refit_seconds, left = 0.0, deadline.left()
        # The base refitted on train_part serves the training alone. Training needs that refit and, after it,
        # the refit on the whole series: together about the base's first fit (its search aside), or two passes
        # of its statistics at the pace measured in this fit (a twin's first fit was not timed here). With
        # less time left than that (none past the deadline) nothing would train: both refits are skipped.
        tail = len(y) * self.validation_fraction / max(1.0 - self.validation_fraction, 0.05)
        needed = max(first_seconds, base.statistics_seconds(len(train_part)) + base.statistics_seconds(int(tail)))
        on_train_part = left is None or left > needed
        if on_train_part:
            refit_started = deadline.clock()
            base._fit_arrays(train_part, refit=True)
            # The fit then refits the base on the whole series (``y`` and the validation tail after it): about
            # this refit's time, scaled by the points. The targets and the training leave that time for it.
            refit_seconds = ((deadline.clock() - refit_started) * len(y) / len(train_part)
                             / max(1.0 - self.validation_fraction, 0.05))
        # At the least, the windows of the validation tail after ``y`` are added to the base's statistics.
        refit_seconds = max(refit_seconds, base.statistics_seconds(int(tail)))
        patch = int(self.patch_size or patch_for(int(base.window_)))  # a Python int, as nn.LSTM takes sizes
        n_patches = base.window_ // patch
        self.window_, self.patch_size_ = n_patches * patch, patch
        self.base_ = base if self.linear_base else None
        self.offset_, self.scale_ = fit_scale(train_part)
        self._scale_woken(y, len(train_part), self.base_)

        origins_train = np.arange(self.context_length(), inner[0] - horizon + 1)
        # The inputs are a view of the series (see ``_tensors``); the targets are the big allocation:
        # float64 targets, base forecast and residual (a chunk at a time), and the float32 residual tensor.
        check_memory("LSTM windows", extra_bytes=4.0 * len(y) * k + 28.0 * len(origins_train) * horizon * k)
        # The network's weights, optimiser state and activations (torch_runtime.network_bytes), before torch
        # builds it. Forward passes without gradients: the inner tail and, after training, the validation
        # tail of the whole series (at most about twice as many windows).
        check_network_memory(self, patch_inputs=patch * k, n_patches=n_patches, outputs=horizon * k,
                             batch=min(self.batch_size, max(1, len(origins_train))), n_eval=2 * len(inner))
        with torch_threads(self.n_threads), limit(None, reserve=refit_seconds) as deadline:
            seed = training_seed(self.random_state)
            with _GLOBAL_RNG, torch.random.fork_rng(devices=[]):  # nn.LSTM's init draws from the global RNG
                # The CPU generator alone, which fork_rng restores: torch.manual_seed would also reseed every CUDA
                # (and MPS, XPU) device's generator, which fork_rng(devices=[]) leaves as this fit set them.
                torch.default_generator.manual_seed(seed)
                network = _PatchLSTM(patch * k, int(self.hidden_size), int(self.num_layers), int(horizon) * k,
                                     k if self.follow_level and self.linear_base else 0).to(device)
            if deadline.expired():  # the time went on the base: keep it (the head starts at zero)
                self._keep_untrained(network, start, deadline)
                return
            # The targets' base forecasts (chunk by chunk) are seconds on a long series: the deadline is
            # checked between chunks, and running out there is running out before training.
            try:
                x_val, r_val = self._tensors(y, inner, device, with_targets=True, deadline=deadline)
                x_train, r_train = self._tensors(y, origins_train, device, with_targets=True, deadline=deadline,
                                                 share=TARGETS_SHARE)
            except _OutOfTime:
                self._keep_untrained(network, start, deadline)
                return
            idle = (train_part == train_part[:1]).all(axis=0)  # [k]: the targets constant over the training part
            if on_train_part and idle.any():
                # Their training windows are the constant, which the base refitted on them forecasts as itself (and
                # which is the offset: without a base, 0 in scaled units): the residual is 0, and what was computed
                # is the rounding of the scaling (1e-16 of the offset), which Adam's normalised steps
                # (lr * g / (|g| + 1e-8)) would grow into weights of the size of the learning rate, in a pattern
                # set by that rounding (by the load's scale).
                r_train.view(len(r_train), horizon, k)[:, :, torch.as_tensor(np.flatnonzero(idle), device=device)] = 0.0
            if len(x_train) < len(origins_train):  # the network trains on the newest windows prepared
                deadline.cut("lstm training windows")
            generator = torch.Generator().manual_seed(seed)
            # Training leaves time for the validation forecast after it: about one chunk of targets.
            with progress_bar(self.max_epochs, "LSTM fit", self.verbose, unit="epoch") as bar, \
                    limit(None, reserve=deadline.pace.get(CHUNK_PACE, 0.0)):
                result = train_network(  # reads the deadline around it (max_time=None: no limit of its own)
                    network, x_train, r_train, x_val, r_val,
                    max_epochs=self.max_epochs, batch_size=self.batch_size, learning_rate=self.learning_rate,
                    patience=self.patience, generator=generator, max_time=None,
                    progress=epoch_callback(bar, then=epoch_hook),
                )
        if result.stopped_by == "time_limit":
            deadline.cut("lstm training")
        self.network_ = network
        self._restore_base()
        self.training_ = result
        self.final_train_loss_ = float(result.final_train_loss)
        self.best_epoch_ = result.best_epoch
        self.n_epochs_ = result.epochs_run
        self.stopped_by_ = result.stopped_by
        self.fit_seconds_ = time.perf_counter() - start

    def _scale_woken(self, y: np.ndarray, n_seen: int, base: DLinear | None) -> None:
        """Scale the network's inputs and outputs of each target constant over ``y[:n_seen]`` whose later points
        leave that constant by :func:`~.dlinear.woken_scale` (its offset, the constant, kept), the points weighed
        by ``base``'s input-anomaly floor (all 1 without a robust base: a plain LSTM): as DLinear scales such a target.

        ``fit_scale`` gives a constant target ``max(1, |constant|)``, a scale in the load's own units: an idle
        training part (a new endpoint) would have the network train and validate on the load itself, so a series
        and the same series times 1,000 would train it apart. Its windows over the constant are 0 in any scale, so
        what the network learnt from them holds under the new one. Called before training, on the points before
        the inner tail (``n_seen``) and those of the fit; and at the refit, on the fit's points (``n_seen``) and
        all of them, for a target constant over every point the network trained and validated on."""
        floors = getattr(base, "weight_floor_", None) if base is not None else None  # None: a base without robust
        for j in range(y.shape[1]):
            if not bool((y[:n_seen, j] == y[0, j]).all()):
                continue
            scale = woken_scale(y[:, j], n_seen, None if floors is None else float(floors[j]))
            if scale is not None:
                self.scale_ = np.array(self.scale_, dtype=np.float64)
                self.scale_[j] = scale

    def _new_base(self) -> DLinear:
        """The unfitted DLinear base (its window search and fit are the first steps of ``fit``)."""
        return DLinear(horizon=self.horizon, window=self.window, kernel_size=self.kernel_size,
                       validation_fraction=self.validation_fraction,
                       max_validation_windows=self.max_validation_windows, follow_level=self.follow_level)

    def _keep_untrained(self, network: nn.Module, start: float, deadline: Deadline) -> None:
        """Record a fit whose time limit ran out before training: the network's zero head adds nothing."""
        deadline.cut("lstm training")
        network.eval()
        self.network_ = network
        self._restore_base()
        self.training_ = TrainingResult(best_epoch=0, epochs_run=0, final_train_loss=float("nan"),
                                        best_validation_loss=float("nan"), stopped_by="time_limit", seconds=0.0)
        self.final_train_loss_, self.best_epoch_, self.n_epochs_ = float("nan"), 0, 0
        self.stopped_by_ = "time_limit"
        self.fit_seconds_ = time.perf_counter() - start

    def _restore_base(self) -> None:
        """The base as fitted on all of the fit's ``y`` (kept by ``_fit_network``), now that training is done."""
        base_on_y = vars(self).pop("_base_on_y")
        if self.base_ is not None:
            self.base_ = base_on_y

    def _base_forecast(self, y: np.ndarray, origins: np.ndarray) -> np.ndarray:
        """The linear base's forecast in standardised units, ``(m, H, k)`` (zeros without a base).

        In chunks of ``CHUNK_ORIGINS`` origins: the base materialises each origin's window in
        float64, which for every training window of a long series would be gigabytes.
        """
        if self.base_ is None:
            return np.zeros((len(origins), self.horizon, y.shape[1]))
        parts = [self.base_._predict_at(y, origins[i : i + CHUNK_ORIGINS]) for i in range(0, len(origins), CHUNK_ORIGINS)]
        return (np.concatenate(parts) - self.offset_) / self.scale_

    def _tensors(self, y: np.ndarray, origins: np.ndarray, device: torch.device, with_targets: bool,
                 deadline: Deadline | None = None, share: float | None = None):
        """The network's inputs at ``origins`` (and, ``with_targets``, its residual targets).

        Under ``deadline`` the targets are prepared a chunk at a time, newest first (seconds on a
        long series). ``share`` (of the time left): the most the targets may take; once it is spent,
        the inputs and targets of the newest origins prepared are returned (at least one chunk).
        Without ``share``, or before a first chunk, running out raises ``_OutOfTime``.
        """
        z = (y - self.offset_) / self.scale_
        if with_targets:
            residual, first = self._targets(y, z, origins, deadline, share)
            origins = origins[first:]
        k, n_patches = z.shape[1], self.window_ // self.patch_size_
        m = len(origins)
        if m > 1 and bool(np.all(np.diff(origins) == 1)):
            # Consecutive origins (the training windows): a window is W * k consecutive floats of the
            # row-major series, the next one starts k floats later, so every patch tensor is a strided
            # view of the series itself (no copy; batches gather their rows). Materialised, the windows
            # of 1,000,000 points took 12 s and gigabytes before the first batch.
            flat = torch.as_tensor(np.ascontiguousarray(z, dtype=np.float32).ravel(), device=device)
            x = torch.as_strided(flat, (m, n_patches, self.patch_size_ * k), (k, self.patch_size_ * k, 1),
                                 (int(origins[0]) - self.window_) * k)  # [m, L, P*k]
        else:
            windows = windows_at(z, origins, self.window_)  # [m, W, k]
            patches = windows.reshape(m, n_patches, self.patch_size_ * k)  # [m, L, P*k]
            x = torch.as_tensor(patches, dtype=torch.float32, device=device)
        if not with_targets:
            return x
        return x, torch.as_tensor(residual[first:], device=device)

    def _targets(self, y: np.ndarray, z: np.ndarray, origins: np.ndarray, deadline: Deadline | None,
                 share: float | None) -> tuple[np.ndarray, int]:
        """The residual targets ``[m, H*k]`` (float32) at ``origins`` and the index of the first one prepared
        (0: all), CHUNK_ORIGINS origins at a time, newest first (see :meth:`_tensors`)."""
        m = len(origins)
        residual = np.empty((m, self.horizon * z.shape[1]), dtype=np.float32)  # [m, H*k]
        left = None if deadline is None else deadline.left()
        budget = None if left is None or share is None else share * left
        # The longest chunk so far in this fit (an earlier call's included), the targets' time, the first done.
        chunk_seconds = 0.0 if deadline is None else deadline.pace.get(CHUNK_PACE, 0.0)
        spent, first = 0.0, m
        for i in reversed(range(0, m, CHUNK_ORIGINS)):
            if left is not None:
                # A chunk starts only when the time left covers it and, after it, the validation forecast
                # (about one chunk's work: a base forecast over the scaled series), and the share allows it.
                left = deadline.left()
                if (deadline.expired() or left < 2 * chunk_seconds
                        or (budget is not None and spent + chunk_seconds > budget)):
                    if budget is None or first == m:
                        raise _OutOfTime
                    break
                started = deadline.clock()
            chunk = origins[i : i + CHUNK_ORIGINS]
            part = targets_at(z, chunk, self.horizon) - self._base_forecast(y, chunk)  # [c, H, k]
            residual[i : i + len(chunk)] = part.reshape(len(chunk), -1)
            first = i
            if left is not None:
                seconds = deadline.clock() - started
                chunk_seconds, spent = max(chunk_seconds, seconds), spent + seconds
                deadline.pace[CHUNK_PACE] = chunk_seconds
        return residual, first

    def _predict_at(self, y: np.ndarray, origins: np.ndarray) -> np.ndarray:
        share = self._correction_share()
        if share == 0.0:  # the correction counts for nothing: the base alone, without the network's forward pass
            return self._base_forecast(y, origins) * self.scale_ + self.offset_
        base_z, residual = self._parts_at(y, origins)
        return (base_z + share * residual) * self.scale_ + self.offset_

    def _parts_at(self, y: np.ndarray, origins: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The base's forecast and the network's correction at ``origins``, both ``(m, H, k)`` in standardised
        units."""
        network = inference_network(self.network_, getattr(self, "quantize", None))
        device = next(self.network_.parameters()).device if network is self.network_ else torch.device("cpu")
        with torch_threads(self.n_threads), torch.inference_mode():
            x = self._tensors(y, origins, device, with_targets=False)
            residual = forward_in_chunks(network, x, device, PREDICT_CHUNK)  # [m, H*k]
        return self._base_forecast(y, origins), residual.reshape(len(origins), self.horizon, -1)

    def _correction_share(self) -> float:
        """The part of the network's correction the forecast adds (files saved before it was weighed: all)."""
        return float(getattr(self, "correction_share_", 1.0))

    def _network_counts(self) -> bool:
        """Whether the network reaches a forecast: False on a linear base whose correction counts for nothing
        (``correction_share_`` 0). The share stays as fitted through ``update``, and a refit (``fit``) weighs it anew
        for a network it trains from its initial weights, so until then nothing reads what an update would teach
        the network: ``update`` then updates the base alone (see :meth:`_update_state`)."""
        return self.base_ is None or self._correction_share() != 0.0

    def _forecast_size_bound(self, y: np.ndarray) -> float | None:
        """An upper bound on the size of the forecast from ``y`` (``_predict_at(y, [len(y)])``) without the network's
        forward pass (save's check, :func:`~workload_predictor.model_file.check_saveable`); None where none is
        proven, and the forecast is computed.

        An LSTM's hidden state is an output gate (in [0, 1]) times a tanh (in [-1, 1]), so the head's output ``j``
        is at most ``sum_i |W_ji| + |b_j|`` in size, whatever the window, as long as no gate's input overflows
        float32 to infinity or NaN. That is proven first: the window's inputs are finite and each gate's input is at
        most ``sum |W_ih| * max |x| + sum |W_hh| + |b|`` (the hidden state, and a later layer's input, within
        [-1, 1]; a level-free window's inputs within twice the largest), below ``SIZE_BOUND_LIMIT``. The bound is
        the base's forecast, computed (a linear map, no network), plus the share of the head's bound, in loads,
        with a margin of 1e-3 for float32 rounding. None for a network other than this class's own plain one (a
        quantised copy, dropout while training, projections) or a share of 0 (the base alone: computed, as
        cheaply)."""
        network, share = self.network_, self._correction_share()
        lstm, head = getattr(network, "lstm", None), getattr(network, "head", None)
        if (type(network) is not _PatchLSTM or type(lstm) is not nn.LSTM or type(head) is not nn.Linear
                or getattr(self, "quantize", None) is not None or lstm.proj_size or lstm.bidirectional
                or (network.training and lstm.dropout) or not share or not np.isfinite(share)):
            return None
        x = self._tensors(y, np.array([len(y)]), torch.device("cpu"), with_targets=False).numpy()
        if not np.isfinite(x).all():
            return None
        size = float(np.abs(x).max(initial=0.0)) * (2.0 if network.level_targets else 1.0)
        if not size < SIZE_BOUND_LIMIT:
            return None
        parameters = {name: value.detach().cpu().numpy() for name, value in lstm.named_parameters()}
        for layer in range(lstm.num_layers):
            gate = (np.abs(parameters[f"weight_ih_l{layer}"]).sum(axis=1, dtype=np.float64) * size
                    + np.abs(parameters[f"weight_hh_l{layer}"]).sum(axis=1, dtype=np.float64))
            for bias in (f"bias_ih_l{layer}", f"bias_hh_l{layer}"):
                if bias in parameters:
                    gate = gate + np.abs(parameters[bias])
            if not float(gate.max(initial=0.0)) < SIZE_BOUND_LIMIT:  # also False for NaN
                return None
            size = 1.0  # the next layer reads the hidden state
        reach = np.abs(head.weight.detach().cpu().numpy()).sum(axis=1, dtype=np.float64)
        if head.bias is not None:
            reach = reach + np.abs(head.bias.detach().cpu().numpy())
        if not float(reach.max(initial=0.0)) < SIZE_BOUND_LIMIT:
            return None
        origins = np.array([len(y)])
        scale, offset = np.abs(np.asarray(self.scale_, dtype=np.float64)), np.abs(np.asarray(self.offset_))
        base = np.abs(self._base_forecast(y, origins)[0])  # [H, k]
        bound = (base + abs(share) * reach.reshape(self.horizon, -1) * 1.001) * scale + offset
        return float(bound.max(initial=0.0)) * (1.0 + 1e-6)

    def _validation_forecast(self, y: np.ndarray, origins: np.ndarray) -> np.ndarray:
        """The validation tail's forecasts, with ``correction_share_`` of the network's correction.

        On the tail (out of sample for the base, the network and its early stopping) each
        origin's absolute error with the correction is compared with the base's alone (each
        target scaled by its mean size, :func:`~.combination.error_difference`); the share is
        :func:`~.combination.evidence_shrinkage` of those differences (``correction_t_``, its
        t statistic): 0 unless the correction helps on average, 1 once it helps by a
        significant margin. It stays as fitted through ``update``. Without a linear base
        there is nothing to shrink toward: the share is 1.
        """
        base_z, residual = self._parts_at(y, origins)
        self.correction_t_, self.correction_share_ = 0.0, 1.0
        if self.base_ is not None:
            base = base_z * self.scale_ + self.offset_
            corrected = (base_z + residual) * self.scale_ + self.offset_
            difference = error_difference(corrected, base, targets_at(y, origins, self.horizon))
            self.correction_t_, self.correction_share_ = (float(v) for v in evidence_shrinkage(
                difference, origins, self.horizon))
        return (base_z + self.correction_share_ * residual) * self.scale_ + self.offset_

    def _recent_length(self) -> int:
        return self.context_length() + self.horizon - 1 + UPDATE_WINDOWS

    def update_bytes(self, n_new: int) -> float:
        """:meth:`BaseForecaster.update_bytes` plus what the network adds: the series as float32 (the patches are a
        view of it), one ``PREDICT_CHUNK`` of the validation roll's windows through the network without gradients
        (their activations and outputs, and every window's correction in float32 and float64), and the fine-tuning
        on the newest ``UPDATE_WINDOWS`` windows (:func:`~.torch_runtime.network_bytes`: the network's copy, its
        optimiser state and activations). Where the network counts for nothing (:meth:`_network_counts`: share 0),
        the update runs neither (its validation roll forecasts with the base alone, and the base updates alone):
        :meth:`BaseForecaster.update_bytes` alone, as a DLinear's."""
        if not self._network_counts():
            return super().update_bytes(n_new)
        k = getattr(self, "n_targets_", 1)
        windows = n_new + self._recent_length()
        n_patches, outputs = self.window_ // self.patch_size_, self.horizon * k
        hidden, layers = int(self.hidden_size), int(self.num_layers)
        chunk = min(windows, PREDICT_CHUNK)
        forward = 4.0 * chunk * (n_patches * layers * hidden * EVAL_ACTIVATION_FLOATS + outputs) + 12.0 * windows * outputs
        training = network_bytes(self.patch_size_ * k, hidden, layers, outputs, n_patches,
                                 batch=min(int(self.batch_size), UPDATE_WINDOWS), n_eval=UPDATE_WINDOWS)
        return super().update_bytes(n_new) + 4.0 * windows * k + forward + training

    def _clean_origins(self, y: np.ndarray, n_old: int, origins: np.ndarray,
                       known: dict[tuple[int, int], float] | None = None, element: Any = None,
                       judged: bool = False) -> np.ndarray:
        """``origins`` of ``y`` (the kept points, then from ``n_old`` on the new ones) whose windows hold no bucket the
        linear base weighs down (all of them without a base, or where it weighs none); ``known`` as for
        :meth:`DLinear._element_weights`. ``judged``: ``element`` holds the base's weights of ``y``'s points
        (:meth:`DLinear._continued_weights`), computed already."""
        base = self.base_
        if base is None:
            return origins
        if not judged:
            element = base._continued_weights(y, n_old, known)
        if element is None:
            return origins
        weights = window_weights(element.min(axis=1), origins, self.context_length(), self.horizon)
        return origins if weights is None else origins[weights >= 1.0]

    def _update_state(self, y: np.ndarray, n_old: int, known: dict[tuple[int, int], float] | None = None) -> dict:
        """Update the linear base exactly, then warm-start the network on the newest windows where its correction
        counts (:meth:`_network_counts`): a correction whose share is 0 reaches no forecast until a refit, which
        trains a new network, so the update leaves that network as it is (a one-bucket update then costs about
        DLinear's: 1 ms against 15-50 ms with the training, docs/how-it-works.md).

        The network trains for at most ``UPDATE_EPOCHS`` epochs on the newest
        ``UPDATE_WINDOWS`` windows, early-stopping (patience ``UPDATE_PATIENCE``) on
        the newest of them (the last ``validation_fraction``); as in ``fit``, the weights before training count
        as epoch 0, so an update never keeps weights that validate worse. A window holding a bucket the base
        weighs down (an input anomaly, see ``DLinear(robust=True)``) is left out: one corrupt bucket would
        otherwise teach the network a spike (the base judges the new points with ``known``, see
        :meth:`DLinear._update_state`). Works on copies: the model changes only when ``update`` commits.
        """
        start = time.perf_counter()
        candidate = copy.copy(self)
        element, woken = None, {}
        if self.base_ is not None:
            # The base's weights of y's points, judged once: its update weighs its windows by them, and the windows
            # holding a point they weigh down are left out of the network's training below.
            element = self.base_._continued_weights(y, n_old, known)
            candidate.base_ = copy.copy(self.base_)
            state = self.base_._update_state(y, n_old, known, element, judged=True, seen=self.n_seen_)
            for name, value in state.items():
                setattr(candidate.base_, name, value)
            if "scale_" in state:  # an idle fit's base woke (DLinear._woken): refitted with a new floor and scale
                element, woken = self._woken(candidate.base_, y)
                candidate.scale_ = woken["scale_"]
        # ``network_update_every_`` (set by an ensemble; 1 otherwise) trains the network once that many buckets
        # have arrived since it last trained, and otherwise updates the base alone.
        waiting = getattr(self, "buckets_untrained_", 0) + len(y) - n_old
        if waiting < getattr(self, "network_update_every_", 1):
            return {"base_": candidate.base_, "buckets_untrained_": waiting, **woken}
        if not self._network_counts():  # the base alone; the counter restarts as after a training
            return {"base_": candidate.base_, "buckets_untrained_": 0, **woken}
        origins = self._clean_origins(y, n_old, np.arange(self.context_length(), len(y) - self.horizon + 1), known,
                                      element, judged=True)
        origins = origins[-UPDATE_WINDOWS:]
        n_val = max(1, round(self.validation_fraction * len(origins)))
        if len(origins) - n_val < 1:
            return {"base_": candidate.base_, "buckets_untrained_": 0, **woken}
        candidate.network_ = copy.deepcopy(self.network_)
        device = next(self.network_.parameters()).device
        seed = int(np.random.SeedSequence([training_seed(self.random_state), self.n_seen_]).generate_state(1)[0])  # a new batch order per update
        with torch_threads(self.n_threads):
            x, r = candidate._tensors(y, origins, device, with_targets=True)
            result = train_network(
                candidate.network_, x[:-n_val], r[:-n_val], x[-n_val:], r[-n_val:],
                max_epochs=min(UPDATE_EPOCHS, self.max_epochs), batch_size=self.batch_size,
                learning_rate=self.learning_rate * UPDATE_LEARNING_RATE_FACTOR,
                patience=min(UPDATE_PATIENCE, self.patience),
                generator=torch.Generator().manual_seed(seed), max_time=time_left(self.max_training_time, start), progress=epoch_hook,
            )
        return {"base_": candidate.base_, "network_": candidate.network_, "update_training_": result,
                "buckets_untrained_": 0, **woken}

    def _woken(self, base: DLinear, y: np.ndarray) -> tuple[np.ndarray | None, dict]:
        """At the update whose ``base`` (updated on ``y``) woke from a fit on a series constant throughout
        (:meth:`DLinear._woken`: refitted with the input-anomaly floor and scale of the points since waking): the
        weights of ``y``'s points under that floor (the base's newest, aligned at ``y``'s end; older points, the
        constant's, weigh 1), which leave windows out of the network's training, and the network's new ``scale_``.

        Every target was constant at the fit, where the network's scale is the base's (``fit_scale``'s
        ``max(1, |constant|)``, in the load's own units); the base's woken scale is :func:`~.dlinear.woken_scale`
        of the load (the base has no ``transform``) under that floor, as :meth:`_scale_woken` scales the network
        of a fit on the same points. The network's windows so far are the constant's, 0 in any scale."""
        element = anomaly.continued_weights(getattr(base, "recent_weights_", None), None, y.shape, len(y))
        return element, {"scale_": np.array(base.scale_, dtype=np.float64)}
