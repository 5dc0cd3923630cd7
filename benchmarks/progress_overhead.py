"""What a progress bar costs an LSTM fit: verbose=True (tqdm, drawn to stderr) vs verbose=False.

Interleaved fits in one process on the same 1000-point series, same seed (same epochs);
prints the median fit time of each and their ratio. Run: python benchmarks/progress_overhead.py 2>/dev/null
"""

import statistics
import sys
import time

import numpy as np

from workload_predictor.models import LSTM

t = np.arange(1000)
y = 100 + 20 * np.sin(2 * np.pi * t / 60) + 30 * np.sin(2 * np.pi * t / 288) + np.random.default_rng(0).normal(0, 5, 1000)
times = {False: [], True: []}
LSTM(horizon=10, random_state=0).fit(y)  # warm-up: torch import and first-fit costs
for _ in range(int(sys.argv[1]) if len(sys.argv) > 1 else 9):
    for verbose in (False, True):
        started = time.perf_counter()
        model = LSTM(horizon=10, random_state=0, verbose=verbose).fit(y)
        times[verbose].append(time.perf_counter() - started)
quiet, bar = statistics.median(times[False]), statistics.median(times[True])
print(f"epochs {model.n_epochs_}; median fit without bar {quiet * 1e3:.1f} ms, with bar {bar * 1e3:.1f} ms, "
      f"ratio {bar / quiet:.4f}", file=sys.stdout)

# A noise-free bound: the bar's own cost per epoch (create once, then update + postfix) against an epoch.
from workload_predictor._progress import epoch_callback, progress_bar  # noqa: E402

started = time.perf_counter()
with progress_bar(10_000, "overhead", True, unit="epoch") as drawn:
    hook = epoch_callback(drawn)
    for epoch in range(10_000):
        hook(epoch, 0.5, 0.25)
per_epoch = (time.perf_counter() - started) / 10_000
epoch_time = quiet / max(model.n_epochs_, 1)
print(f"bar cost per epoch {per_epoch * 1e6:.1f} us = {per_epoch / epoch_time:.3%} of an epoch ({epoch_time * 1e3:.1f} ms)")

started = time.perf_counter()
for _ in range(200):
    with progress_bar(50, "overhead", True, unit="epoch"):
        pass
opened = (time.perf_counter() - started) / 200
bound = opened + model.n_epochs_ * per_epoch
print(f"bar open+close {opened * 1e3:.2f} ms; bound for this fit {bound * 1e3:.2f} ms = {bound / quiet:.3%} of the fit")
