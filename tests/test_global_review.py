"""The global LSTM fleet and its options as a user meets them (review h106)."""

from __future__ import annotations

import numpy as np
import torch

from workload_predictor.models.global_lstm import GlobalLSTM

TINY = {"horizon": 4, "window": 24, "hidden_size": 4, "max_epochs": 1, "batch_size": 64, "random_state": 0}


def _series(n_keys: int = 3, n: int = 160) -> list[np.ndarray]:
    """Keys at 1, 10, 100 ... requests per bucket (a period of 12 buckets and noise)."""
    rng = np.random.default_rng(0)
    t = np.arange(n)
    return [10.0**i * (2 + np.sin(2 * np.pi * t / 12)) + rng.uniform(0, 10.0**i, n) for i in range(n_keys)]


def test_int8_inference_leaves_the_global_torch_rng_untouched():
    """``random_state``'s promise (the global torch RNG is left untouched) holds with ``quantize="int8"``: the int8
    copy is built at the fit's first forecast (its validation tail) and after a load at the first predict. Before:
    building it drew from the global RNG (the quantised LSTM's placeholder weights), so a caller's seeded torch
    draws changed after a fit, and a seeded fit in another thread could initialise its network from a shifted
    stream."""
    torch.manual_seed(123)
    expected = torch.rand(4)
    torch.manual_seed(123)
    model = GlobalLSTM(**TINY, quantize="int8").fit(_series())
    torch.testing.assert_close(torch.rand(4), expected, rtol=0, atol=0)
    model.network_ = _copy(model.network_)  # a loaded model: a new network, quantised at its first forecast
    torch.manual_seed(123)
    model.predict()
    torch.testing.assert_close(torch.rand(4), expected, rtol=0, atol=0)


def _copy(network: torch.nn.Module) -> torch.nn.Module:
    import copy

    return copy.deepcopy(network)
