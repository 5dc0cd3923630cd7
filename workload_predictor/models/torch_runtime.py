"""The runtime settings every torch model reads the same way: device, int8 inference, seed, time limit.

``LSTM`` (one series) and ``GlobalLSTM`` (many) take the same ``device``, ``quantize``,
``random_state``, ``n_threads``, ``max_training_time`` and network and training settings
(``hidden_size``, ``num_layers``, ``max_epochs``, ``batch_size``, ``learning_rate``,
``patience``, ``patch_size``, ``linear_base``); these functions are their one reading, so a bad value gets
the same typed error from both, before torch builds anything.

Memory: :func:`network_bytes` is a closed-form upper estimate of what training a
``_PatchLSTM`` allocates, and :func:`check_network_memory` compares it with the limit in
force (:mod:`workload_predictor._memory`) before the network is built, so that a size
torch's allocator would refuse (``hidden_size=10**6``: 16 TB) or one that fits in RAM but
not in ``memory_limit_mb`` raises :class:`~workload_predictor.errors.MemoryLimitError`
instead of being allocated.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import torch

from .._memory import MB, check_memory
from ..errors import MemoryLimitError, WorkloadDataError, is_number, is_positive_int, quote
from .registry import check_device_name, check_n_threads, check_random_state

#: Float32 copies of the parameters training holds at its peak: the weights, their gradients, Adam's two
#: moments, the best epoch's state (two while it is replaced), foreach Adam's temporaries and
#: ``load_state_dict``'s copy. Measured: 7.2-7.5 copies (hidden 1000-2000, 1-2 layers); 10 is the bound.
PARAM_COPIES = 10
#: Floats per window, patch step, layer and hidden unit that training keeps for and allocates in the
#: backward pass (gates, cell and hidden states and their gradients). Measured: 17-18 (hidden 64-256,
#: batch 4096, 12-24 patches; fewer per layer with 3 layers).
TRAIN_ACTIVATION_FLOATS = 24
#: The same for a forward pass without gradients (validation, forecasts). Measured: 2.6.
EVAL_ACTIVATION_FLOATS = 6

QUANTIZE = (None, "int8")
#: Largest ``learning_rate``: far above any rate that trains (the default is 3e-3), far below the ~3e37 where Adam's
#: float32 step size (the rate over its bias correction, up to 10x) overflows inside torch.
MAX_LEARNING_RATE = 1e6


def resolve_device(device: str) -> torch.device:
    """The torch device ``device`` names: ``"cpu"``, ``"cuda"``, ``"cuda:N"`` or ``"auto"`` (cuda when torch sees one).

    Raises
    ------
    WorkloadDataError
        Another name, or a cuda device when this torch sees none.
    """
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    check_device_name(device)
    resolved = torch.device(device)
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise WorkloadDataError(f"device={quote(device)} but torch sees no CUDA device (torch "
                                f"{torch.__version__}); use device='cpu' or 'auto'.")
    return resolved


def check_quantize(quantize: str | None, device: torch.device) -> None:
    """``quantize`` is ``None`` or ``"int8"``, and ``"int8"`` (dynamic quantisation) runs on the CPU only."""
    if quantize not in QUANTIZE:
        raise WorkloadDataError(f"quantize={quote(quantize)} must be None or 'int8'.")
    if quantize == "int8" and device.type != "cpu":
        raise WorkloadDataError("quantize='int8' is CPU inference (dynamic quantisation); use device='cpu' "
                                "with it, or quantize=None on a GPU.")


#: Windows per forward pass when a network forecasts many (an update's validation roll, a backtest, a fleet's
#: predict): it bounds the activations, which for 100,000 windows at once were gigabytes (hidden_size=256).
PREDICT_CHUNK = 8192


def forward_in_chunks(network: torch.nn.Module, x: torch.Tensor, device: torch.device, chunk: int) -> np.ndarray:
    """The network's outputs for the windows ``x`` as a float64 array, ``chunk`` windows per forward pass, each moved
    to ``device`` (without blocking where ``x`` is pinned; a no-op where it is there already)."""
    return torch.cat([network(x[first : first + chunk].to(device, non_blocking=True)).cpu()
                      for first in range(0, len(x), chunk)]).numpy().astype(np.float64)


def inference_network(network: torch.nn.Module, quantize: str | None) -> torch.nn.Module:
    """The network forecasts run through: ``network`` itself, or its cached int8 copy."""
    if quantize == "int8":
        from .quantize import quantized

        return quantized(network)
    return network


def _positive_int(name: str, value: Any, example: str) -> None:
    if not is_positive_int(value):
        raise WorkloadDataError(f"{name}={quote(value)} must be a positive integer (e.g. {example}).")


def check_settings(model: Any, outputs: int = 1) -> None:
    """Typed errors for the settings every torch model shares (see the module docstring), read from ``model``.

    Then the network's smallest possible size (one input per patch, one patch, one window; ``outputs``: the
    head's outputs if known) against the memory limit in force: a ``hidden_size`` or ``num_layers`` that
    cannot fit whatever the window fails here, before any other work of the fit.
    """
    _positive_int("hidden_size", model.hidden_size, "32")
    _positive_int("num_layers", model.num_layers, "1")
    _positive_int("max_epochs", model.max_epochs, "50")
    _positive_int("batch_size", model.batch_size, "64")
    _positive_int("patience", model.patience, "5")
    if model.patch_size is not None:
        _positive_int("patch_size", model.patch_size, "8; or None for about 12 patches per window")
    if not isinstance(model.linear_base, (bool, np.bool_)):
        raise WorkloadDataError(f"linear_base={quote(model.linear_base)} must be True or False.")
    rate = model.learning_rate
    if not is_number(rate) or not 0 < rate <= MAX_LEARNING_RATE:  # NaN fails every comparison: refused too
        raise WorkloadDataError(f"learning_rate={quote(rate)} must be a positive, finite number up to "
                                f"{MAX_LEARNING_RATE:g} (e.g. 3e-3).")
    check_random_state(model.random_state)
    check_n_threads(model.n_threads)
    check_network_memory(model, patch_inputs=1, n_patches=1, outputs=outputs, batch=1, n_eval=0, smallest=True)


def check_patch_size(patch_size: int | None, window: int, whose: str = "") -> None:
    """A typed error when ``patch_size`` (checked a positive int or None) exceeds ``window``: the window is read in
    whole patches, at least one. ``whose``: where the window comes from, for the message."""
    if patch_size is not None and patch_size > window:
        raise WorkloadDataError(
            f"patch_size={quote(patch_size)} exceeds the window {window}{whose}: the network reads the window in "
            f"whole patches of patch_size buckets. Pass patch_size <= {window} (e.g. {max(1, round(window / 12))} "
            "for 12 patches), a larger window=, or patch_size=None for about 12 patches per window.")


def network_bytes(patch_inputs: int, hidden_size: int, num_layers: int, outputs: int, n_patches: int,
                  batch: int, n_eval: int) -> float:
    """An upper estimate of the bytes training a ``_PatchLSTM`` allocates, from its settings alone.

    ``patch_inputs``: inputs per LSTM step (patch size x targets); ``outputs``: the head's (horizon x targets);
    ``batch``: windows per training batch; ``n_eval``: windows of the largest forward pass without gradients
    (validation). With ``P`` parameters (``nn.LSTM``: ``4h(i + h + 2)`` per layer, ``i`` the layer's input;
    the head ``(h + 1) * outputs``), the bound is::

        4 * (PARAM_COPIES * P + n_patches * num_layers * hidden_size
             * (TRAIN_ACTIVATION_FLOATS * batch + EVAL_ACTIVATION_FLOATS * n_eval))

    (float32 throughout; Python integers, so huge settings give a huge number rather than an overflow).
    """
    h = int(hidden_size)
    params = (4 * h * (int(patch_inputs) + h + 2) + (int(num_layers) - 1) * 4 * h * (2 * h + 2)
              + (h + 1) * int(outputs))
    activations = int(n_patches) * int(num_layers) * h * (TRAIN_ACTIVATION_FLOATS * int(batch)
                                                          + EVAL_ACTIVATION_FLOATS * int(n_eval))
    return 4.0 * (PARAM_COPIES * params + activations)


def check_network_memory(model: Any, *, patch_inputs: int, n_patches: int, outputs: int, batch: int,
                         n_eval: int, extra_bytes: float = 0.0, smallest: bool = False) -> None:
    """Raise :class:`MemoryLimitError` before the network is built when :func:`network_bytes` (plus
    ``extra_bytes`` allocated with it, e.g. the training windows) exceeds the memory limit in force or the
    machine's available memory; the message names the network's settings. Outside a memory limit (a model used
    directly, not through a predictor or fleet) only the available memory bounds it, as
    :func:`~workload_predictor._memory.check_memory`.
    ``smallest``: the geometry is the smallest possible one, before the window is known.
    """
    needed = network_bytes(patch_inputs, model.hidden_size, model.num_layers, outputs, n_patches, batch, n_eval)
    try:
        check_memory("LSTM network", extra_bytes=needed + extra_bytes)
    except MemoryLimitError as error:
        shape = "whatever the window" if smallest else f"{n_patches} patches of {patch_inputs} inputs"
        raise MemoryLimitError(
            f"{error} The network alone (hidden_size={quote(model.hidden_size)}, num_layers="
            f"{quote(model.num_layers)}, batch_size={quote(model.batch_size)}, {shape}) needs "
            f"{'at least' if smallest else 'about'} {needed / MB:,.0f} MiB to train: use a smaller hidden_size, "
            "num_layers or batch_size."
        ) from None


def training_seed(random_state: int | None) -> int:
    """The seed of a fit: ``random_state`` (a Python int: ``torch.Generator.manual_seed`` refuses numpy integers),
    or a fresh one from the operating system's entropy."""
    return int(random_state) if random_state is not None else int(np.random.SeedSequence().entropy % 2**63)


def time_left(max_training_time: float | None, start: float) -> float | None:
    """Seconds left of ``max_training_time`` since ``start`` (``time.perf_counter``), at least 0; None: no limit."""
    if max_training_time is None:
        return None
    return max(0.0, max_training_time - (time.perf_counter() - start))
