"""Dynamic int8 quantisation of the LSTM networks for CPU inference.

``quantized(network)`` returns an int8 copy of a trained float network: the weights
of its ``nn.LSTM`` and ``nn.Linear`` layers are stored as int8 with a scale, and the
activations are quantised on the fly at each call (dynamic quantisation). Training,
``update`` and the saved model file keep the float32 network; the int8 copy is built
on first use and cached per network object (a weak reference: it goes when the
network goes), so a loaded model quantises itself on its first forecast and a
model file never holds anything but float arrays. Building it leaves torch's global
RNG as it was (the models' ``random_state`` promise).

Which API: torch 2.13 marks ``torch.ao.quantization`` deprecated in favour of
torchao, but torchao's ``quantize_`` rewrites ``nn.Linear`` only and leaves
``nn.LSTM`` (where our networks spend their time) in float32, and importing torchao
0.18 took 6-16 s here. ``torch.ao.quantization.quantize_dynamic`` is the API that
still quantises LSTM layers, so we use it and silence its deprecation warning
here only; if a later torch removes it, ``quantize="int8"`` raises a clear error.
"""

from __future__ import annotations

import copy
import io
import threading
import warnings
import weakref

import torch
from torch import nn

from ..errors import WorkloadDataError

_cache: weakref.WeakKeyDictionary[nn.Module, nn.Module] = weakref.WeakKeyDictionary()
_lock = threading.Lock()


def quantize_dynamic_int8(network: nn.Module) -> nn.Module:
    """A new module: ``network``'s LSTM and linear layers with int8 weights (CPU inference only)."""
    try:
        from torch.ao.quantization import quantize_dynamic
    except ImportError as exc:  # pragma: no cover - depends on the installed torch
        raise WorkloadDataError(f"quantize='int8' needs torch.ao.quantization.quantize_dynamic, which this torch "
                                f"{torch.__version__} lacks ({exc}); use quantize=None.") from None
    from .._threads import TORCH_GLOBAL_RNG

    float_copy = copy.deepcopy(network).cpu().eval()
    # The quantised LSTM is built with placeholder weights drawn from torch's global RNG (then replaced by the
    # float network's): drawn from a fork of it, which the caller's seeded draws never see, and never while a
    # seeded fit initialises its network from it (the lock those fits hold).
    with TORCH_GLOBAL_RNG, torch.random.fork_rng(devices=[]), warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.filterwarnings("ignore", message=".*quantize_per_tensor.*")
        return quantize_dynamic(float_copy, {nn.LSTM, nn.Linear}, dtype=torch.qint8).eval()


def quantized(network: nn.Module) -> nn.Module:
    """The cached int8 copy of ``network`` (built on first use)."""
    with _lock:
        result = _cache.get(network)
        if result is None:
            result = quantize_dynamic_int8(network)
            _cache[network] = result
        return result


def network_bytes(network: nn.Module) -> int:
    """The size of ``network``'s serialised state (``torch.save`` of its ``state_dict``): what it weighs in memory
    and on disk, int8 packed weights included."""
    buffer = io.BytesIO()
    torch.save(network.state_dict(), buffer)
    return buffer.getbuffer().nbytes
