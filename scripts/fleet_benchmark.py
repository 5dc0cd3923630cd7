"""The fleet table, measured in one run: DLinear fleets of 1,000 and 10,000 series x 1,000 buckets
(fit s, predict ms, peak RSS growth, n_jobs 1 and 2, a Dask LocalCluster), the per-series loop it replaces,
per-key LSTM fleets on 1 and 2 processes, and the accuracy shares on the 10,000-series benchmark.

    PYTHONPATH=. python3 scripts/fleet_benchmark.py [--series 10000] [--lstm-keys 16] [--accuracy-keys 200]

Data: ``perf.datasets.fleet`` (fixed seed) with 1,010 buckets per series: every fit sees the first 1,000
(the timed 10,000 x 1,000 fleet) and the last 10 buckets score the forecasts (MAE per key, h = 10).
Accuracy: the share of keys where the fleet's default model (DLinear) is within 2 % of the best simple
baseline (last value, 12-bucket mean, seasonal naive at 60 buckets) or better, and on ``--accuracy-keys``
keys the share where the global LSTM beats per-key LSTMs. Prints one JSON line per measurement and a
table at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from perf import datasets  # noqa: E402
from perf.harness import PeakRSS  # noqa: E402
from workload_predictor import FleetPredictor, WorkloadPredictor  # noqa: E402

H = 10


def emit(record: dict) -> dict:
    print(json.dumps(record), flush=True)
    return record


def timed_fleet(frame: pd.DataFrame, label: str, **settings) -> tuple[dict, FleetPredictor]:
    with PeakRSS() as memory:
        started = time.perf_counter()
        fleet = FleetPredictor(**settings).fit(frame)
        fitted = time.perf_counter()
        forecast = fleet.predict()
        done = time.perf_counter()
    record = dict(case=label, series=int(frame["key"].nunique()), fit_s=round(fitted - started, 3),
                  predict_ms=round((done - fitted) * 1e3, 1), rss_growth_mb=round(memory.growth_mb, 1),
                  fitted=len(fleet.keys_), errors=len(fleet.errors_), rows=len(forecast))
    return emit(record), fleet


def holdout_mae(fleet: FleetPredictor, truth: pd.DataFrame) -> pd.Series:
    forecast = fleet.predict()
    merged = forecast.merge(truth, on=["key", "timestamp"])
    return (merged["yhat"] - merged["requests"]).abs().groupby(merged["key"]).mean()


def baseline_maes(train: pd.DataFrame, truth: pd.DataFrame, keys) -> pd.DataFrame:
    rows = {}
    actual = truth.set_index("key")["requests"]
    for key, group in train.groupby("key"):
        if key not in keys:
            continue
        y = group["requests"].to_numpy(float)
        target = actual.loc[key].to_numpy(float)
        rows[key] = {
            "naive": np.abs(target - y[-1]).mean(),
            "moving_average": np.abs(target - y[-12:].mean()).mean(),
            "seasonal_naive": np.abs(target - y[-60:][:H]).mean(),
        }
    return pd.DataFrame.from_dict(rows, orient="index")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--series", type=int, default=10_000)
    parser.add_argument("--lstm-keys", type=int, default=16)
    parser.add_argument("--accuracy-keys", type=int, default=200)
    parser.add_argument("--skip-dask", action="store_true")
    args = parser.parse_args()
    emit(dict(case="machine", cpus=os.cpu_count(), load_avg=os.getloadavg()))

    started = time.perf_counter()
    full = datasets.fleet(args.series, n=1000 + H)
    emit(dict(case="generate", series=args.series, seconds=round(time.perf_counter() - started, 1)))
    cut = datasets.START + datasets.FLEET_FREQ * 1000
    train, truth = full[full["timestamp"] < cut], full[full["timestamp"] >= cut]
    small = train[train["key"] < args.series // 10]

    rows = []
    rows.append(timed_fleet(small, "dlinear n_jobs=1")[0])
    big, fleet = timed_fleet(train, "dlinear n_jobs=1")
    rows.append(big)
    emit(dict(case="linearity", ratio_10x=round(big["fit_s"] / (10 * rows[0]["fit_s"]), 3)))

    FleetPredictor(n_jobs=2).fit(small[small["key"] < 50])  # starts loky's workers (reused below)
    rows.append(timed_fleet(small, "dlinear n_jobs=2", n_jobs=2)[0])
    rows.append(timed_fleet(train, "dlinear n_jobs=2", n_jobs=2)[0])
    if not args.skip_dask:
        from distributed import Client, LocalCluster

        with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                          silence_logs=40) as cluster, Client(cluster) as client:
            FleetPredictor(client=client).fit(small[small["key"] < 50])  # warm: imports on the workers
            rows.append(timed_fleet(small, "dlinear dask 2 workers", client=client)[0])
            rows.append(timed_fleet(train, "dlinear dask 2 workers", client=client)[0])

    # The per-series loop the fleet replaces (200 keys, extrapolated per series).
    sample = train[train["key"].isin(fleet.keys_[:200])]
    started = time.perf_counter()
    for _, group in sample.groupby("key"):
        WorkloadPredictor().fit(group, target="requests").predict()
    loop_ms = (time.perf_counter() - started) / 200 * 1e3
    emit(dict(case="per-series loop (WorkloadPredictor fit+predict)", ms_per_series=round(loop_ms, 2),
              fleet_ms_per_series=round(big["fit_s"] / big["series"] * 1e3 + big["predict_ms"] / big["series"], 2)))

    # Accuracy: DLinear against the best simple baseline, per key.
    mae = holdout_mae(fleet, truth)
    base = baseline_maes(train, truth, set(mae.index))
    best = base.min(axis=1).reindex(mae.index)
    within = (mae <= 1.02 * best) | ((mae == 0) & (best == 0))
    emit(dict(case="accuracy dlinear vs best baseline", keys=len(mae), share_within_2pct=round(float(within.mean()), 4),
              median_ratio=round(float((mae / best.replace(0, np.nan)).median()), 4)))

    # Per-key LSTMs on 1 and 2 processes, and the global LSTM against them.
    lstm_keys = fleet.keys_[: args.lstm_keys]
    lstm_frame = train[train["key"].isin(lstm_keys)]
    lstm = dict(model="lstm", random_state=0, model_params={"max_epochs": 10})
    FleetPredictor(n_jobs=2, **lstm).fit(lstm_frame[lstm_frame["key"].isin(lstm_keys[:2])])  # warm workers
    one = timed_fleet(lstm_frame, "lstm per key n_jobs=1", **lstm)[0]
    two = timed_fleet(lstm_frame, "lstm per key n_jobs=2", n_jobs=2, **lstm)[0]
    rows += [one, two]
    emit(dict(case="lstm n_jobs speed-up", speedup=round(one["fit_s"] / two["fit_s"], 3)))

    acc_keys = fleet.keys_[: args.accuracy_keys]
    acc_frame = train[train["key"].isin(acc_keys)]
    per_key = FleetPredictor(n_jobs=2, **lstm).fit(acc_frame)
    global_ = FleetPredictor(model="global_lstm", random_state=0, model_params={"max_epochs": 10}).fit(acc_frame)
    a, b = holdout_mae(global_, truth), holdout_mae(per_key, truth)
    common = a.index.intersection(b.index)
    emit(dict(case="accuracy global vs per-key LSTM", keys=len(common),
              share_global_better=round(float((a[common] < b[common]).mean()), 4),
              median_ratio=round(float((a[common] / b[common].replace(0, np.nan)).median()), 4)))

    print()
    print(pd.DataFrame(rows).to_string(index=False))


if __name__ == "__main__":
    main()
