"""DLinear's memory guard against what a fit really adds: peak RSS growth vs the guard's figure.

For each size, a fresh child process builds a Poisson(50) series at 10 s buckets, resets the
kernel's peak-RSS mark (``/proc/self/clear_refs``, Linux), and fits
``WorkloadPredictor(model="dlinear", memory_limit_mb=None)``. Every ``check_memory`` call made
inside DLinear is recorded: the guard compares ``growth so far + extra_bytes`` with the limit,
so the largest of those is what the limit must exceed. Prints that figure, the measured peak
growth (``VmHWM`` minus the RSS before the fit) and their ratio, and whether the default
2,048 MiB limit admits the fit.

Run: python3 benchmarks/dlinear_fit_memory.py [100000 1000000]   (about 30 s at 1,000,000)
"""

import json
import subprocess
import sys

CHILD = r"""
import gc, json, sys
import numpy as np, pandas as pd
import workload_predictor
from workload_predictor import _memory
from workload_predictor.models import dlinear

n = int(sys.argv[1])
frame = pd.DataFrame({"timestamp": pd.date_range("2026-01-01", periods=n, freq="10s", tz="UTC"),
                      "requests": np.random.default_rng(0).poisson(50, n).astype(float)})
checks = []
original = dlinear.check_memory

def recording(step, extra_bytes=0.0):
    watch = _memory._current.get()
    growth = _memory.rss_mb() - watch.start_mb if watch is not None else 0.0
    checks.append((step, growth, extra_bytes / 2**20))
    original(step, extra_bytes)

dlinear.check_memory = recording
predictor = workload_predictor.WorkloadPredictor(model="dlinear", memory_limit_mb=None)
gc.collect()

def status(key):
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) / 1024 for line in f if line.startswith(key))

with open("/proc/self/clear_refs", "w") as f:
    f.write("5")  # reset VmHWM to the current RSS
before = status("VmRSS:")
predictor.fit(frame)
print(json.dumps({"n": n, "peak_growth_mb": status("VmHWM:") - before, "window": predictor.window_,
                  "checks": checks}))
"""


def main() -> None:
    sizes = [int(a) for a in sys.argv[1:]] or [100_000, 1_000_000]
    print(f"{'buckets':>10} {'window':>6} {'guard MiB':>10} {'peak growth MiB':>16} {'guard/peak':>10}  step of the largest")
    for n in sizes:
        out = subprocess.run([sys.executable, "-c", CHILD, str(n)], capture_output=True, text=True, check=True)
        result = json.loads(out.stdout.strip().splitlines()[-1])
        step, growth, extra = max(result["checks"], key=lambda c: c[1] + c[2])
        guard = growth + extra
        print(f"{n:>10,} {result['window']:>6} {guard:>10.1f} {result['peak_growth_mb']:>16.1f} "
              f"{guard / result['peak_growth_mb']:>10.2f}  {step} ({growth:.1f} grown + {extra:.1f} estimated); "
              f"default 2048 MiB limit {'admits' if guard <= 2048 else 'REFUSES'} it")


if __name__ == "__main__":
    main()
