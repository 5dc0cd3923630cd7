"""Soak for a large fleet: every key's update frame holds one bad row, beside keys whose frames are clean.

A DLinear fleet of ``--keys`` keys (default 10,000; short series of ``--length`` 10 s buckets, Poisson counts around a
per-key level) gets, in one update, two rows for every key: on the keys of even index both clean, on the others one
clean and one bad, cycling through the faults of ``BAD`` (a NaN, an inf, a negative count, text, a stamp off the grid,
a stamp before the last bucket, a duplicated stamp, a NaT). A twin fleet (a deep copy) gets the clean keys' rows only.
Reported: the update's time (and, with ``--trace``, its traced peak memory) beside the twin's, the errors (every bad key's, typed, none for a clean key), and
whether every clean key forecasts bit for bit as in the twin and every bad key as before the update. Run::

    OMP_NUM_THREADS=1 PYTHONPATH=$PWD python3 scripts/soak_fleet.py [--keys 10000] [--length 120] [--mode refit] [--trace]
"""

from __future__ import annotations

import argparse
import copy
import sys
import time
import tracemalloc
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from workload_predictor import FleetPredictor  # noqa: E402

FREQ = pd.Timedelta(seconds=10)
START = pd.Timestamp("2024-10-27", tz="UTC")
BAD = ("nan", "inf", "negative", "text", "off grid", "before last", "duplicate stamp", "NaT")


def bad_row(row: dict, fault: str, last: pd.Timestamp) -> dict:
    """``row`` (a clean row of one key) with ``fault``."""
    value = {"nan": np.nan, "inf": np.inf, "negative": -5.0, "text": "n/a"}.get(fault, row["requests"])
    stamp = {"off grid": row["timestamp"] + pd.Timedelta(seconds=3.7), "before last": last,
             "NaT": pd.NaT}.get(fault, row["timestamp"])
    return {**row, "timestamp": stamp, "requests": value}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--keys", type=int, default=10_000)
    parser.add_argument("--length", type=int, default=120)
    parser.add_argument("--mode", default="refit", choices=("refit", "incremental"))
    parser.add_argument("--trace", action="store_true", help="trace the update's peak memory (tracemalloc: slower)")
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    rng = np.random.default_rng(0)
    levels = rng.uniform(5, 50, args.keys)
    keys = [f"k{i}" for i in range(args.keys)]
    stamps = START + FREQ * np.arange(args.length)
    fit = pd.DataFrame({"key": np.repeat(keys, args.length), "timestamp": np.tile(stamps, args.keys),
                        "requests": rng.poisson(np.repeat(levels, args.length)).astype(float)})
    started = time.perf_counter()
    fleet = FleetPredictor("dlinear", horizon=5, window=24, update_mode=args.mode).fit(
        fit, key="key", timestamp="timestamp", target="requests")
    print(f"fit: {args.keys} keys x {args.length} buckets, {time.perf_counter() - started:.1f} s", flush=True)
    last = stamps[-1]
    rows, clean_rows = [], []
    for i, name in enumerate(keys):
        good = [{"key": name, "timestamp": last + j * FREQ, "requests": float(rng.poisson(levels[i]))} for j in (1, 2)]
        if i % 2 == 0:
            rows += good
            clean_rows += good
        else:
            fault = BAD[(i // 2) % len(BAD)]
            rows += [good[0], bad_row(good[1], fault, last) if fault != "duplicate stamp" else good[0]]
    frame, clean = pd.DataFrame(rows), pd.DataFrame(clean_rows)
    before = fleet.predict()
    twin = copy.deepcopy(fleet)
    started = time.perf_counter()
    twin.update(clean)
    twin_seconds = time.perf_counter() - started
    if args.trace:
        tracemalloc.start()
    started = time.perf_counter()
    fleet.update(frame)
    seconds = time.perf_counter() - started
    peak = tracemalloc.get_traced_memory()[1] if args.trace else None
    tracemalloc.stop()
    errors = fleet.update_errors_
    kinds = pd.Series({name: type(error).__name__ for name, error in errors.items()}).value_counts().to_dict()
    bad_keys = set(keys[1::2])
    after, expected = fleet.predict(), twin.predict()
    clean_mask = after["key"].isin(set(keys[::2]))
    same_clean = after[clean_mask].reset_index(drop=True).equals(expected[clean_mask].reset_index(drop=True))
    same_bad = after[~clean_mask].reset_index(drop=True).equals(before[~clean_mask].reset_index(drop=True))
    print(f"update of {len(frame)} rows ({len(bad_keys)} keys with one bad row): {seconds:.2f} s"
          + ("" if peak is None else f" (traced: peak {peak / 2**20:.0f} MiB)")
          + f"; the twin's of the clean keys' {len(clean)} rows alone: {twin_seconds:.2f} s")
    print(f"errors: {len(errors)} ({kinds}); every bad key refused: {set(errors) == bad_keys}; "
          f"untyped: {sum(not isinstance(e, ValueError) for e in errors.values())}")
    print(f"clean keys bit for bit as the twin's: {same_clean}; bad keys as before the update: {same_bad}")
    for fault in BAD:  # one message per fault
        i = 2 * BAD.index(fault) + 1
        if keys[i] in errors:
            print(f"  {fault:16} {type(errors[keys[i]]).__name__}: {str(errors[keys[i]])[:150]}")


if __name__ == "__main__":
    main()
