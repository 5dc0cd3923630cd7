"""How far past ``max_training_time`` a fit ends: LSTM and ensemble on a long Poisson series.

Usage: python benchmarks/time_limit_overrun.py [n_points] [limit_s] [--floor]
Prints the wall time of each fit, its overrun beyond the limit, how training stopped and the stages the
limit ended early (``time_limited_stages_``). ``--floor`` also fits with a limit of 0: the work no limit
can skip (the door, DLinear's statistics, the LSTM's base), below which no limit can be met.
"""

from __future__ import annotations

import sys
import time

import numpy as np
import pandas as pd

from workload_predictor import WorkloadPredictor


def main() -> None:
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    n = int(args[0]) if args else 1_000_000
    limit = float(args[1]) if len(args) > 1 else 1.0
    rng = np.random.default_rng(0)
    t = np.arange(n)
    y = rng.poisson(50 + 20 * np.sin(2 * np.pi * t / 360)).astype(float)
    import torch  # noqa: F401  (imported before timing: its import is not training)

    frame = pd.DataFrame({"timestamp": pd.date_range("2024-01-01", periods=n, freq="1s"), "requests": y})
    limits = (limit, 0.0) if "--floor" in sys.argv else (limit,)
    for model in ("lstm", "ensemble"):
        for seconds_allowed in limits:
            started = time.perf_counter()
            fitted = WorkloadPredictor(model=model, random_state=0, max_training_time=seconds_allowed,
                                       memory_limit_mb=None).fit(frame)
            seconds = time.perf_counter() - started
            lstm = fitted.model_.members_["lstm"] if model == "ensemble" else fitted.model_
            print(f"{model:8s} n={n} limit={seconds_allowed:g}s fit={seconds:.2f}s "
                  f"overrun={seconds - seconds_allowed:+.2f}s epochs={lstm.n_epochs_} "
                  f"training={lstm.training_.seconds:.2f}s stopped: {', '.join(fitted.time_limited_stages_) or '-'}")


if __name__ == "__main__":
    main()
