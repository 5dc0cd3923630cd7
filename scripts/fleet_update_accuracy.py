"""How accurate a DLinear fleet kept current by ``update`` is, and what each update costs.

The keys of perf's fleet benchmark (``perf.datasets.fleet``, 1,000 one-minute buckets; the empty, short and NaN
keys left out) are fitted on their first 600 buckets, then given 19 updates of 20 buckets; after each update the
fleet forecasts the next 10 buckets. Prints the mean and median over keys of MAE / the key's mean level over the
fitted buckets, and the update's CPU time per key (the first update, which with ``update_mode="incremental"`` fits
each key's own predictor, and the median of the later ones). MODE: ``refit`` (default), ``incremental``, or
``default`` for a version without ``update_mode``.

    python3 scripts/fleet_update_accuracy.py [KEYS] [MODE]   # default 100 keys, update_mode="refit"

To compare with another version, run it with that version's package first on ``PYTHONPATH`` (from a checkout of
it: ``PYTHONPATH=. python3 /path/to/this/script``).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path.cwd()))  # perf.datasets, from the repository root
from perf import datasets  # noqa: E402

from workload_predictor import FleetPredictor  # noqa: E402

FIT, STEP, UPDATES, HORIZON = 600, 20, 19, 10


def main(n_keys: int, mode: str) -> None:
    frame = datasets.fleet(n_keys, n=1000)
    sizes = frame.groupby("key").size()
    frame = frame[frame["key"].isin(sizes[sizes == 1000].index)]
    frame = frame[frame.groupby("key")["requests"].transform(lambda s: s.notna().all() and s.sum() > 0)]
    stamps = np.sort(frame["timestamp"].unique())
    actual = frame.pivot(index="timestamp", columns="key", values="requests")
    level = actual.iloc[:FIT].mean()
    settings = {} if mode == "default" else {"update_mode": mode}  # "default": a version without update_mode
    fleet = FleetPredictor(horizon=HORIZON, max_training_time=None, **settings).fit(
        frame[frame["timestamp"] < stamps[FIT]])
    errors, cpu = [], []
    for u in range(UPDATES):
        start, end = FIT + STEP * u, FIT + STEP * (u + 1)
        rows = frame[(frame["timestamp"] >= stamps[start]) & (frame["timestamp"] < stamps[end])]
        started = time.process_time()
        fleet.update(rows)
        cpu.append(time.process_time() - started)
        forecast = fleet.predict().pivot(index="timestamp", columns="key", values="yhat")
        truth = actual.loc[forecast.index, forecast.columns]
        errors.append(((forecast - truth).abs().mean() / level[forecast.columns]).to_numpy())
    per_key = np.nanmean(np.vstack(errors), axis=0)
    keys = len(per_key)
    print(f"update_mode {mode}, keys {keys}: MAE / level mean {per_key.mean():.4f}, median {np.median(per_key):.4f}; update CPU per key: "
          f"first {cpu[0] / keys * 1e3:.2f} ms, later (median) {np.median(cpu[1:]) / keys * 1e3:.2f} ms; "
          f"update errors {len(fleet.update_errors_)}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("keys", nargs="?", type=int, default=100, help="keys of the fleet benchmark (default 100)")
    parser.add_argument("mode", nargs="?", default="refit", choices=("refit", "incremental", "default"),
                        help="update_mode (default refit; default: a version without update_mode)")
    args = parser.parse_args()
    main(args.keys, args.mode)
