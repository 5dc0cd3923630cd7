"""Soak: 10,000 cycles of ``predictor.update(one row)`` + ``predict()`` on DLinear, as an autoscaler runs it.

What must stay flat over weeks: the latency of a cycle and the memory. Latency is read as the gate
reads it (the wall time less the time the thread waited for a core), and the soaked predictor is
compared with a young one in the same minutes: over the last 2,000 cycles the two alternate, cycle by
cycle, so the host's load then falls on both alike (comparing the soak's first and last minutes instead
read drifts of 0.7-1.9x for unchanged code on a shared machine). The young predictor has seen 2,500
updates when the soaked one reaches 10,000. Memory: RSS after the soak minus RSS after the warm-up
(psutil's figure). Budgets: ``soak_*`` in perf/budgets.toml. About 22 s of CI time (three runs of this file alone on the
2-core machine, quiet: 22.0-22.1 s).
"""

import numpy as np
import pandas as pd

from perf.harness import BUDGETS
from perf.paired import Clock

CYCLES = 10_000
WARMUP = 500
WINDOW = 2_000


class _Stream:
    """A predictor fed one row per cycle, each row built when it arrives (as a service receives it: 10,000
    frames built up front grow by pandas' per-frame caches as each is first read, 1.7 MB per 1,000)."""

    def __init__(self, predictor, values):
        self.predictor, self.values, self.k = predictor, values, 0

    def cycle(self) -> float:
        predictor, self.k = self.predictor, self.k + 1
        row = pd.DataFrame({"timestamp": [predictor.last_timestamp_ + predictor.freq_],
                            "requests": [self.values[self.k % len(self.values)]]})
        with Clock() as clock:
            predictor.update(row)
            predictor.predict()
        return clock.sample.latency


def test_soak_update_predict_latency_and_memory_stay_flat(frames):
    from workload_predictor import WorkloadPredictor, _memory

    frame = frames["synthetic"]
    values = frame["requests"].to_numpy()
    soaked, young = (_Stream(WorkloadPredictor().fit(frame, timestamp="timestamp", target="requests"), values)
                     for _ in range(2))
    for _ in range(WARMUP):
        soaked.cycle(), young.cycle()
    rss_after_warmup = _memory.rss_mb()
    for _ in range(CYCLES - WARMUP - WINDOW):
        soaked.cycle()
    late, fresh = np.empty(WINDOW), np.empty(WINDOW)
    for j in range(WINDOW):
        late[j], fresh[j] = soaked.cycle(), young.cycle()
    growth = _memory.rss_mb() - rss_after_warmup
    drift = {q: float(np.percentile(late, q) / np.percentile(fresh, q)) for q in (50, 99)}
    print(f"soak: {soaked.k} cycles, p50 {np.percentile(late, 50) * 1e3:.3f} ms, "
          f"p99 {np.percentile(late, 99) * 1e3:.3f} ms; against a predictor of {young.k} cycles in the same "
          f"minutes: p50 {drift[50]:.2f}x, p99 {drift[99]:.2f}x; RSS growth {growth:.2f} MB")
    assert soaked.predictor.n_updates_ == CYCLES and young.predictor.n_updates_ == WARMUP + WINDOW
    assert growth <= BUDGETS["target"]["soak_rss_growth_mb"]["dlinear"], growth
    assert max(drift.values()) <= BUDGETS["target"]["soak_latency_drift"]["dlinear"], drift
