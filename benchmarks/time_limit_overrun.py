"""How far past ``max_training_time`` a fit ends: LSTM and ensemble on a long Poisson series.

Usage: python benchmarks/time_limit_overrun.py [n_points] [limit_s]
Prints the wall time of each fit, its overrun beyond the limit, and how training stopped.
"""

from __future__ import annotations

import sys
import time

import numpy as np
import pandas as pd

from workload_predictor import WorkloadPredictor


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    limit = float(sys.argv[2]) if len(sys.argv) > 2 else 1.0
    rng = np.random.default_rng(0)
    t = np.arange(n)
    y = rng.poisson(50 + 20 * np.sin(2 * np.pi * t / 360)).astype(float)
    import torch  # noqa: F401  (imported before timing: its import is not training)

    frame = pd.DataFrame({"timestamp": pd.date_range("2024-01-01", periods=n, freq="1s"), "requests": y})
    for model in ("lstm", "ensemble"):
        started = time.perf_counter()
        fitted = WorkloadPredictor(model=model, random_state=0, max_training_time=limit,
                                   memory_limit_mb=None).fit(frame)
        seconds = time.perf_counter() - started
        lstm = fitted.model_.members_["lstm"] if model == "ensemble" else fitted.model_
        print(f"{model:8s} n={n} limit={limit:g}s fit={seconds:.2f}s overrun={seconds - limit:+.2f}s "
              f"epochs={lstm.n_epochs_} stopped_by={lstm.stopped_by_} training={lstm.training_.seconds:.2f}s")


if __name__ == "__main__":
    main()
