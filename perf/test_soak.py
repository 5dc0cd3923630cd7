"""Soak: 10,000 cycles of ``predictor.update(one row)`` + ``predict()`` on DLinear, as an autoscaler runs it.

What must stay flat over weeks: the latency of a cycle (p50 and p99 of the last 2,000 cycles over
those of cycles 500-2,500, the first 500 being warm-up) and the memory (RSS after the soak minus
RSS after the warm-up, psutil's figure). Budgets: ``soak_*`` in perf/budgets.toml. About 10 s of
CI time (0.7 ms per update, 0.2 ms per predict on the CI machine).
"""

import numpy as np
import pandas as pd

from perf.harness import BUDGETS

CYCLES = 10_000
WARMUP = 500
WINDOW = 2_000


def test_soak_update_predict_latency_and_memory_stay_flat(frames):
    import time

    from workload_predictor import WorkloadPredictor, _memory

    frame = frames["synthetic"]
    predictor = WorkloadPredictor().fit(frame, timestamp="timestamp", target="requests")
    values = frame["requests"].to_numpy()
    step, last = predictor.freq_, predictor.last_timestamp_
    seconds = np.empty(CYCLES)
    rss_after_warmup = None
    for k in range(CYCLES):
        if k == WARMUP:
            rss_after_warmup = _memory.rss_mb()
        # Each row is built when it arrives, as a service receives it (10,000 frames built up front
        # grow by pandas' per-frame caches as each is first read: 1.7 MB per 1,000, not the predictor's).
        row = pd.DataFrame({"timestamp": [last + (k + 1) * step], "requests": [values[k % len(values)]]})
        started = time.perf_counter()
        predictor.update(row)
        predictor.predict()
        seconds[k] = time.perf_counter() - started
    growth = _memory.rss_mb() - rss_after_warmup
    early, late = seconds[WARMUP : WARMUP + WINDOW], seconds[-WINDOW:]
    drift = {q: float(np.percentile(late, q) / np.percentile(early, q)) for q in (50, 99)}
    print(f"soak: {CYCLES} cycles, p50 {np.percentile(seconds, 50) * 1e3:.3f} ms, "
          f"p99 {np.percentile(seconds, 99) * 1e3:.3f} ms, drift p50 {drift[50]:.2f} p99 {drift[99]:.2f}, "
          f"RSS growth {growth:.2f} MB")
    assert predictor.n_updates_ == CYCLES
    assert growth <= BUDGETS["target"]["soak_rss_growth_mb"]["dlinear"], growth
    assert max(drift.values()) <= BUDGETS["target"]["soak_latency_drift"]["dlinear"], drift
