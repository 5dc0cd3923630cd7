"""The runtime settings every torch model reads the same way: device, int8 inference, seed, time limit.

``LSTM`` (one series) and ``GlobalLSTM`` (many) take the same ``device``, ``quantize``,
``random_state`` and ``max_training_time`` settings; these functions are their one reading,
so a bad value gets the same typed error from both.
"""

from __future__ import annotations

import time

import numpy as np
import torch

from ..errors import WorkloadDataError, quote

DEVICES = ("cpu", "cuda", "auto")
QUANTIZE = (None, "int8")


def resolve_device(device: str) -> torch.device:
    """The torch device ``device`` names: ``"cpu"``, ``"cuda"``, ``"cuda:N"`` or ``"auto"`` (cuda when torch sees one).

    Raises
    ------
    WorkloadDataError
        Another name, or a cuda device when this torch sees none.
    """
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device not in DEVICES and not (isinstance(device, str) and device.startswith("cuda:")):
        raise WorkloadDataError(f"device={quote(device)} must be one of {DEVICES} (or 'cuda:N').")
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


def inference_network(network: torch.nn.Module, quantize: str | None) -> torch.nn.Module:
    """The network forecasts run through: ``network`` itself, or its cached int8 copy."""
    if quantize == "int8":
        from .quantize import quantized

        return quantized(network)
    return network


def training_seed(random_state: int | None) -> int:
    """The seed of a fit: ``random_state``, or a fresh one from the operating system's entropy."""
    return random_state if random_state is not None else int(np.random.SeedSequence().entropy % 2**63)


def time_left(max_training_time: float | None, start: float) -> float | None:
    """Seconds left of ``max_training_time`` since ``start`` (``time.perf_counter``), at least 0; None: no limit."""
    if max_training_time is None:
        return None
    return max(0.0, max_training_time - (time.perf_counter() - start))
