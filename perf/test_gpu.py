"""GPU cases: the LSTMs on ``device="cuda"``, run only where torch sees a CUDA device (skipped elsewhere).

Each timed call ends with ``torch.cuda.synchronize()``: CUDA kernels run asynchronously, so
without it the clock would stop before the GPU finished. Anchors from the issue (one H200):
a 64x2 LSTM, 50 epochs full batch, 0.15 s; one epoch of a 64x1 global LSTM over 10,000
series x 976 windows, 4.24 s. No stored baseline or budget yet: the first GPU run records
them (``scripts/gpu_checks.sh``).
"""

import numpy as np
import pytest
import torch

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(),
                                reason="no CUDA device: the GPU cases run only where torch.cuda.is_available()")


def _synchronised(func):
    def timed(*args, **kwargs):
        result = func(*args, **kwargs)
        torch.cuda.synchronize()
        return result
    return timed


def _series(n_keys: int, n: int = 1000, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    levels = np.exp(rng.uniform(0, 7, n_keys))[:, None]
    periods = rng.choice([24, 60, 144, 288], n_keys)[:, None]
    rate = levels * (1 + 0.5 * np.sin(2 * np.pi * t[None, :] / periods))
    return list(rng.poisson(rate).astype(np.float64)[:, :, None])


def test_gpu_single_lstm_64x2_50_epochs_full_batch(benchmark):
    from workload_predictor.models.lstm import LSTM

    y = _series(1)[0]
    make = lambda: ((LSTM(horizon=10, hidden_size=64, num_layers=2, max_epochs=50, patience=50,
                          batch_size=100_000, device="cuda", random_state=0),), {})
    model = benchmark.pedantic(_synchronised(lambda m: m.fit(y)), setup=make, rounds=5, warmup_rounds=1)
    assert model.n_epochs_ == 50 and next(model.network_.parameters()).is_cuda


@pytest.mark.parametrize("n_keys", [1_000, 10_000])
def test_gpu_global_lstm_one_epoch(benchmark, n_keys):
    from workload_predictor.models.global_lstm import GlobalLSTM

    series = _series(n_keys)
    make = lambda: ((GlobalLSTM(horizon=10, hidden_size=64, max_epochs=1, max_windows_per_key=None,
                                batch_size=4096, device="cuda", random_state=0),), {})
    model = benchmark.pedantic(_synchronised(lambda m: m.fit(series)), setup=make, rounds=3, warmup_rounds=1)
    benchmark.extra_info.update(keys=n_keys, windows=int(len(model.keys_) * 976))
    assert model.n_epochs_ == 1 and next(model.network_.parameters()).is_cuda


def test_gpu_global_lstm_predict_fleet(benchmark):
    from workload_predictor.models.global_lstm import GlobalLSTM

    model = GlobalLSTM(horizon=10, max_epochs=2, device="cuda", random_state=0).fit(_series(10_000))
    forecasts = benchmark.pedantic(_synchronised(model.predict), rounds=20, warmup_rounds=2)
    assert len(forecasts) == 10_000
