"""Where the time of ``WorkloadPredictor.update(one-row frame)`` goes (its 1 ms budget in perf/budgets.toml).

DLinear fitted on perf's 1000-point synthetic series, then 1,000 updates of one fresh one-row
DataFrame each (as an autoscaler receives them); prints the mean per update and per step.

Run: python3 benchmarks/update_cost.py
"""

import collections
import statistics
import sys
import time
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import workload_predictor.predictor as predictor_module  # noqa: E402
from perf import datasets  # noqa: E402
from workload_predictor import WorkloadPredictor  # noqa: E402

spent: dict[str, float] = collections.defaultdict(float)


def timed(name, function):
    def wrapper(*args, **kwargs):
        start = time.perf_counter()
        try:
            return function(*args, **kwargs)
        finally:
            spent[name] += time.perf_counter() - start

    return wrapper


def main(updates: int = 1000) -> None:
    predictor_module.prepare_continuation = timed("timestamp door (prepare_continuation)", predictor_module.prepare_continuation)
    WorkloadPredictor._calibration_after = timed("recalibration", WorkloadPredictor._calibration_after)
    frame = datasets.load("synthetic")
    frame = frame.assign(timestamp=pd.to_datetime(frame["timestamp"], utc=True))
    predictor = WorkloadPredictor(model="dlinear", random_state=0).fit(frame, timestamp="timestamp", target="requests")
    model_class = type(predictor.model_)
    model_class._prepare_update = timed("model update", model_class._prepare_update)
    step, values = predictor.freq_, frame["requests"].to_numpy()
    rows = iter([pd.DataFrame({"timestamp": [predictor.last_timestamp_ + (k + 1) * step], "requests": [values[k % 1000]]})
                 for k in range(updates + 200)])
    for _ in range(200):  # warm-up
        predictor.update(next(rows))
    spent.clear()
    start, cpu = time.perf_counter(), []
    for _ in range(updates):
        row = next(rows)
        cpu_start = time.thread_time()
        predictor.update(row)
        cpu.append(time.thread_time() - cpu_start)
    total = (time.perf_counter() - start) / updates
    print(f"predictor.update: {total * 1e3:.3f} ms per call (mean of {updates}); "
          f"CPU time median {statistics.median(cpu) * 1e3:.3f} ms")
    for name, seconds in spent.items():
        print(f"  {name:34s} {seconds / updates * 1e3:.3f} ms")
    print(f"  {'the rest (memory guard, series tail, commit)':34s} {(total - sum(spent.values()) / updates) * 1e3:.3f} ms")


if __name__ == "__main__":
    main()
