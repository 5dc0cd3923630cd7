"""Predict latency of float32 vs int8 inference, interleaved in one process (medians of many calls).

Per-key LSTM (batch 1: one forecast) and the global LSTM at batch 1 (one key's forecast) and
batch = fleet size (every key's forecast in one pass), plus model sizes. Latency does not
depend on how well a network is trained, so the networks train for one epoch. float32 and
int8 calls alternate (ABAB...) so both see the same machine load; the ratio is the figure.

Run:  PYTHONPATH=$PWD python3 scripts/int8_latency.py [--keys 100 1000] [--calls 300]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np


def interleaved(a, b, calls: int) -> tuple[float, float]:
    a(), b()  # warm-up (the int8 copy is built on first use)
    ta, tb = [], []
    for _ in range(calls):
        for func, out in ((a, ta), (b, tb)):
            start = time.perf_counter()
            func()
            out.append(time.perf_counter() - start)
    return 1000 * statistics.median(ta), 1000 * statistics.median(tb)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--keys", type=int, nargs="+", default=[100, 1000])
    parser.add_argument("--calls", type=int, default=300)
    args = parser.parse_args()
    import torch

    from workload_predictor.models.global_lstm import GlobalLSTM
    from workload_predictor.models.lstm import LSTM
    from workload_predictor.models.quantize import network_bytes
    from workload_predictor.models.torch_runtime import inference_network

    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    t = np.arange(1000)

    def make(n_keys):
        levels = np.exp(rng.uniform(0, 7, n_keys))[:, None]
        periods = rng.choice([24, 60, 144, 288], n_keys)[:, None]
        return list(rng.poisson(levels * (1.5 + np.sin(2 * np.pi * t[None] / periods))).astype(float)[:, :, None])

    y = make(1)[0]
    plain = LSTM(horizon=10, max_epochs=1, random_state=0).fit(y)
    int8 = LSTM(horizon=10, max_epochs=1, random_state=0, quantize="int8").fit(y)
    f, q = interleaved(plain.predict, int8.predict, args.calls)
    print(f"per-key LSTM 32x1, batch 1: float32 {f:.3f} ms, int8 {q:.3f} ms (int8/float {q / f:.2f}); network "
          f"{network_bytes(plain.network_) / 1024:.1f} KiB vs {network_bytes(inference_network(int8.network_, 'int8')) / 1024:.1f} KiB")
    for n_keys in args.keys:
        series = make(n_keys)
        model = GlobalLSTM(horizon=10, max_epochs=1, random_state=0).fit(series)
        quant = GlobalLSTM(horizon=10, quantize="int8")
        vars(quant).update({k: v for k, v in vars(model).items() if k.endswith("_")})
        one = lambda m: (lambda: m._forecast([m.recent_[0]], [np.array([len(m.recent_[0])])], keys=[0]))  # noqa: E731
        f1, q1 = interleaved(one(model), one(quant), args.calls)
        fn, qn = interleaved(model.predict, quant.predict, max(10, args.calls // max(1, n_keys // 100)))
        print(f"global LSTM 64x1, {n_keys} keys: batch 1 float32 {f1:.3f} ms, int8 {q1:.3f} ms ({q1 / f1:.2f}); "
              f"batch {n_keys} float32 {fn:.2f} ms, int8 {qn:.2f} ms ({qn / fn:.2f}); model "
              f"{model.model_bytes() / 1024:.1f} KiB vs {quant.model_bytes() / 1024:.1f} KiB")


if __name__ == "__main__":
    main()
