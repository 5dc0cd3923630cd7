"""What the first fit in a fresh process pays, and why: import, first fit, second fit, RSS growth.

Each model runs in its own fresh interpreter (3 times; medians printed). RSS via psutil.
Run: python3 benchmarks/cold_fit.py
"""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np

CHILD = r"""
import json, sys, time, psutil, threading
proc = psutil.Process()
t0 = time.perf_counter(); rss0 = proc.memory_info().rss
import numpy as np, pandas as pd
import workload_predictor as wp
t_import = time.perf_counter() - t0; rss_import = proc.memory_info().rss
t = np.arange(1000); rng = np.random.default_rng(0)
y = 100 + 0.02 * t + 20 * np.sin(2 * np.pi * t / 60) + 30 * np.sin(2 * np.pi * t / 288) + 5 * rng.standard_normal(1000)
frame = pd.DataFrame({"timestamp": pd.date_range("2024-01-01", periods=1000, freq="1min"), "requests": y})
model = sys.argv[1]
t_torch = 0.0; torch_mb = 0.0
if model != "dlinear":  # split the torch import from the first fit
    r = proc.memory_info().rss; tt = time.perf_counter()
    import torch, torch.nn
    t_torch = time.perf_counter() - tt; torch_mb = (proc.memory_info().rss - r) / 2**20
peak = [proc.memory_info().rss]; stop = []
def watch():
    while not stop:
        peak[0] = max(peak[0], proc.memory_info().rss); time.sleep(0.002)
w = threading.Thread(target=watch); w.start()
rss_before = proc.memory_info().rss; peak[0] = rss_before
t1 = time.perf_counter(); wp.WorkloadPredictor(model=model, random_state=0).fit(frame); first = time.perf_counter() - t1
cold_growth = peak[0] - rss_before
rss_before = proc.memory_info().rss; peak[0] = rss_before
t2 = time.perf_counter(); p = wp.WorkloadPredictor(model=model, random_state=0).fit(frame); second = time.perf_counter() - t2
warm_growth = peak[0] - rss_before
stop.append(1); w.join()
torch_loaded = "torch" in sys.modules
print(json.dumps(dict(import_s=t_import, first_fit_s=first, second_fit_s=second, cold_growth_mb=cold_growth / 2**20,
                      warm_growth_mb=warm_growth / 2**20, import_rss_mb=(rss_import - rss0) / 2**20,
                      torch_loaded=torch_loaded, torch_import_s=t_torch, torch_import_mb=torch_mb)))
"""


def main() -> None:
    print(f"{'model':10s} {'import s':>9s} {'torch s':>8s} {'torch MB':>9s} {'1st fit s':>10s} {'2nd fit s':>10s} "
          f"{'cold MB':>8s} {'warm MB':>8s}")
    for model in ("dlinear", "lstm", "ensemble"):
        runs = [json.loads(subprocess.run([sys.executable, "-c", CHILD, model], capture_output=True, text=True,
                                          check=True).stdout) for _ in range(3)]
        med = {k: float(np.median([r[k] for r in runs])) for k in runs[0] if k != "torch_loaded"}
        print(f"{model:10s} {med['import_s']:9.3f} {med['torch_import_s']:8.3f} {med['torch_import_mb']:9.1f} "
              f"{med['first_fit_s']:10.3f} {med['second_fit_s']:10.3f} "
              f"{med['cold_growth_mb']:8.1f} {med['warm_growth_mb']:8.1f}")


if __name__ == "__main__":
    main()
