"""The ensemble's one-bucket ``predictor.update`` at ``horizon=1000``: is it faster than real time at 1 s buckets?

Fits ``WorkloadPredictor(model="ensemble", horizon=1000)`` on 8,000 one-second buckets of a
seasonal series (periods 60 and 288, noise 5), then times 60 one-row updates and prints the
median, mean, 90th percentile and largest update, and how many took longer than the bucket
(1 s). The LSTM member fine-tunes once every few buckets (``LSTM_UPDATE_EVERY``): those
updates are the largest.

Run: python3 benchmarks/ensemble_update_h1000.py   (about 40 s, most of it the fit)
"""

import time

import numpy as np
import pandas as pd

from workload_predictor import WorkloadPredictor


def main() -> None:
    n, m = 8000, 60
    t = np.arange(n + m)
    values = (100 + 30 * np.sin(2 * np.pi * t / 60) + 20 * np.sin(2 * np.pi * t / 288)
              + np.random.default_rng(0).normal(0, 5, n + m))
    frame = pd.DataFrame({"timestamp": pd.date_range("2026-01-01", periods=n + m, freq="1s", tz="UTC"),
                          "requests": values})
    started = time.perf_counter()
    predictor = WorkloadPredictor(model="ensemble", horizon=1000, random_state=0).fit(frame.iloc[:n])
    print(f"fit on {n} buckets: {time.perf_counter() - started:.1f} s (window {predictor.window_})")
    times = []
    for i in range(n, n + m):
        started = time.perf_counter()
        predictor.update(frame.iloc[i : i + 1])
        times.append(time.perf_counter() - started)
    times = np.array(times)
    print(f"{m} one-bucket updates: median {np.median(times) * 1e3:.0f} ms, mean {times.mean() * 1e3:.0f} ms, "
          f"p90 {np.quantile(times, 0.9) * 1e3:.0f} ms, max {times.max() * 1e3:.0f} ms; "
          f"longer than the 1 s bucket: {(times > 1).sum()}")


if __name__ == "__main__":
    main()
