"""Median latency of ``predictor.predict()`` on DLinear (1000-point synthetic series), alone and while
another thread updates the same predictor one bucket at a time.

Usage: python benchmarks/predict_latency.py   (prints both medians in microseconds and their ratio)
"""

from __future__ import annotations

import threading
import time

import numpy as np
import pandas as pd

from workload_predictor import WorkloadPredictor


def median_predict_us(predictor: WorkloadPredictor, calls: int = 3000) -> float:
    seconds = []
    for _ in range(calls):
        started = time.perf_counter()
        predictor.predict()
        seconds.append(time.perf_counter() - started)
    return float(np.median(seconds) * 1e6)


def main() -> None:
    frame = pd.read_csv("perf/data/synthetic_1000.csv", parse_dates=["timestamp"])
    predictor = WorkloadPredictor().fit(frame)
    median_predict_us(predictor, 300)  # warm-up
    alone = median_predict_us(predictor)
    done = threading.Event()
    values, step = frame["requests"].to_numpy(), predictor.freq_

    def updater() -> None:
        k = 0
        while not done.is_set():
            predictor.update(pd.DataFrame({"timestamp": [predictor.last_timestamp_ + step],
                                           "requests": [values[k % len(values)]]}))
            k += 1
            time.sleep(0.001)

    thread = threading.Thread(target=updater)
    thread.start()
    try:
        during = median_predict_us(predictor)
    finally:
        done.set()
        thread.join()
    print(f"predict median alone {alone:.1f} us, while updating {during:.1f} us, ratio {during / alone:.2f}")


if __name__ == "__main__":
    main()
