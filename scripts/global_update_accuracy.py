"""A global-LSTM fleet kept current by ``update`` against one refitted at every origin.

The first ``--keys`` keys of the fleet benchmark (perf/datasets.py ``fleet(1000)``, one-minute buckets)
are fitted on their first 800 buckets; then 10 updates of 20 buckets each follow. At each origin
(800, 820, ..., 980) the updated fleet and a fleet refitted on every bucket before the origin (same
settings and seed) forecast the next 10 buckets. Prints each origin's summed absolute error for both,
then the overall WAPE of both, their ratio (updated / refitted) and the median time of one update.

Run:  PYTHONPATH=$PWD python3 scripts/global_update_accuracy.py --keys 30 --max-epochs 10
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from perf import datasets  # noqa: E402
from workload_predictor import FleetPredictor  # noqa: E402

HORIZON = 10
FIRST, LAST, EVERY = 800, 1000, 20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keys", type=int, default=30)
    parser.add_argument("--max-epochs", type=int, default=10)
    args = parser.parse_args()
    frame = datasets.fleet(1000)
    frame = frame[frame["key"].isin(sorted(frame["key"].unique())[: args.keys])]
    step = datasets.FLEET_FREQ
    settings = dict(model="global_lstm", horizon=HORIZON, random_state=0, model_params={"max_epochs": args.max_epochs})
    origins = [datasets.START + step * t for t in range(FIRST, LAST, EVERY)]
    fleet = FleetPredictor(**settings).fit(frame[frame["timestamp"] < origins[0]])
    updated, refitted, load, seconds = [], [], [], []
    for i, origin in enumerate(origins):
        if i:
            started = time.perf_counter()
            fleet.update(frame[(frame["timestamp"] >= origins[i - 1]) & (frame["timestamp"] < origin)])
            seconds.append(time.perf_counter() - started)
        refit = FleetPredictor(**settings).fit(frame[frame["timestamp"] < origin])
        actual = frame[(frame["timestamp"] >= origin) & (frame["timestamp"] < origin + HORIZON * step)]
        actual = actual.set_index(["key", "timestamp"])["requests"]
        for forecast, errors in ((fleet.predict(), updated), (refit.predict(), refitted)):
            joined = forecast.set_index(["key", "timestamp"])["yhat"].to_frame().join(actual, how="inner")
            errors.append(float(np.abs(joined["yhat"] - joined["requests"]).sum()))
        load.append(float(actual.sum()))
        print(f"origin {FIRST + EVERY * i}: updated {updated[-1]:.1f}, refitted {refitted[-1]:.1f} (summed absolute "
              f"error), ratio {updated[-1] / refitted[-1]:.3f}", flush=True)
    print(f"WAPE updated {sum(updated) / sum(load):.4f}, refitted {sum(refitted) / sum(load):.4f}, ratio "
          f"{sum(updated) / sum(refitted):.3f}; one update {np.median(seconds) * 1e3:.0f} ms (median)")


if __name__ == "__main__":
    main()
