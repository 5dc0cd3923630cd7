"""A/B of ``WorkloadPredictor.update(one-row frame)`` (or ``.fit``): this working tree against a git revision, in one process.

The machine is shared and noisy, so two runs minutes apart differ by up to 2x. Here both
packages are loaded side by side (the revision's copy under another name) and fitted on perf's
1000-point synthetic series, and blocks of 50 updates alternate between them; each block's
median CPU time per update is recorded. Prints both medians and the median of the per-block
ratios (new / old), and checks that both forecast the same after all updates. ``--level fit``
times ``WorkloadPredictor(model="dlinear").fit`` on the same series instead (blocks of 10 fits).

Run: python3 benchmarks/update_ab.py REV [--blocks 40] [--level predictor|model|fit]
"""

import argparse
import importlib
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from perf import datasets  # noqa: E402


def load_revision(revision: str, into: Path):
    """The package as of ``revision``, imported as ``wp_old``."""
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", revision, "workload_predictor"],
                             check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    (into / "workload_predictor").rename(into / "wp_old")
    sys.path.insert(0, str(into))
    return importlib.import_module("wp_old")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("revision")
    parser.add_argument("--blocks", type=int, default=40)
    parser.add_argument("--level", choices=("predictor", "model", "fit"), default="predictor")
    args = parser.parse_args()
    frame = datasets.load("synthetic")
    frame = frame.assign(timestamp=pd.to_datetime(frame["timestamp"], utc=True))
    values = frame["requests"].to_numpy()
    with tempfile.TemporaryDirectory() as tmp:
        packages = {"old": load_revision(args.revision, Path(tmp)), "new": importlib.import_module("workload_predictor")}
        calls, predictors = {}, {}
        for name, package in packages.items():
            predictor = package.WorkloadPredictor(model="dlinear", random_state=0).fit(
                frame, timestamp="timestamp", target="requests")
            predictors[name] = predictor
            if args.level == "fit":
                calls[name] = (lambda package: lambda k: package.WorkloadPredictor(model="dlinear").fit(
                    frame, timestamp="timestamp", target="requests"))(package)
            elif args.level == "model":
                bucket = values[-1:, None].astype(float)
                calls[name] = (lambda model: lambda k: model.update(bucket))(predictor.model_)
            else:
                step, last = predictor.freq_, predictor.last_timestamp_
                rows = [pd.DataFrame({"timestamp": [last + (k + 1) * step], "requests": [values[k % 1000]]})
                        for k in range(args.blocks * 50)]
                calls[name] = (lambda p, rows: lambda k: p.update(rows[k]))(predictor, rows)
        blocks = {name: [] for name in packages}
        size = 10 if args.level == "fit" else 50
        for block in range(args.blocks):
            for name, call in calls.items():
                cpu = []
                for k in range(block * size, block * size + size):
                    start = time.thread_time()
                    call(k)
                    cpu.append(time.thread_time() - start)
                blocks[name].append(statistics.median(cpu))
    ratios = [new / old for new, old in zip(blocks["new"], blocks["old"])]
    old_yhat, new_yhat = predictors["old"].predict().yhat, predictors["new"].predict().yhat
    same = np.allclose(old_yhat, new_yhat, rtol=1e-9, atol=1e-9)
    difference = float(np.abs(new_yhat - old_yhat).max() / max(np.abs(old_yhat).max(), 1e-12))
    print(f"{args.level}.{'fit' if args.level == 'fit' else 'update'}, {args.blocks} blocks of {size}: {args.revision} {statistics.median(blocks['old']) * 1e3:.3f} ms, "
          f"working tree {statistics.median(blocks['new']) * 1e3:.3f} ms (CPU medians); "
          f"ratio new/old median {statistics.median(ratios):.3f}; same forecasts: {same} "
          f"(largest difference {difference:.1e} of the largest forecast)")


if __name__ == "__main__":
    main()
