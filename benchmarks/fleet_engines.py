"""A DLinear fleet's fit + predict on local processes (n_jobs=2, loky) and on a Dask LocalCluster (2 worker
processes), alternated in one run, each engine with two ways of shipping a partition: "before" sends the list of
per-key series and gets each block back with its series (the fleet's transfer until Dask overhead was profiled),
"after" sends the packed partition (``fleet.PackedSeries``) in a worker's heap scope and gets blocks without
their series. Prints wall and CPU time (this process and its children) per round, the medians and the median
per-round Dask / processes ratio.

    PYTHONPATH=. python3 benchmarks/fleet_engines.py SERIES ROUNDS [MODES]

e.g. ``1000 5`` (about 5 min on a busy 2-core box) or ``10000 3`` (25-30 min there); MODES is a comma list of
loky_before, dask_before, loky_after, dask_after (default all four). Every mode's forecasts are checked equal.
"""
import os
import statistics
import sys
import time
import warnings

import psutil


def cpu_all() -> float:
    """CPU seconds of this process and its children (the workers)."""
    me = psutil.Process()
    total = sum(me.cpu_times()[:2])
    for child in me.children(recursive=True):
        try:
            total += sum(child.cpu_times()[:2])
        except psutil.Error:
            pass
    return total


def legacy(config, part):
    """The partition task as it was: a list of per-key series in, blocks with their series out."""
    from workload_predictor import fleet

    return fleet._fit_partition(config, part)


def main() -> None:
    warnings.filterwarnings("ignore")
    from distributed import Client, LocalCluster

    from perf import datasets
    from workload_predictor import FleetPredictor, fleet

    n, rounds = int(sys.argv[1]), int(sys.argv[2])
    modes = sys.argv[3].split(",") if len(sys.argv) > 3 else ["loky_before", "dask_before", "loky_after", "dask_after"]
    frame = datasets.fleet(n)
    pack, packed_fit = fleet.PackedSeries.pack, fleet._fit_packed
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                      silence_logs=50) as cluster, Client(cluster) as client:
        engines = {"loky": dict(n_jobs=2), "dask": dict(client=client)}

        def run(mode):
            engine, when = mode.split("_")
            fleet.PackedSeries.pack = pack if when == "after" else (lambda part: part)
            fleet._fit_packed = packed_fit if when == "after" else legacy
            return FleetPredictor(**engines[engine]).fit(frame).predict()

        for mode in modes:  # warm: workers started, the package imported in them
            run(mode.split("_")[0] + "_after")
        wall = {m: [] for m in modes}
        cpu = {m: [] for m in modes}
        reference = None
        for r in range(rounds):
            for mode in modes if r % 2 == 0 else modes[::-1]:
                used, started = cpu_all(), time.perf_counter()
                forecast = run(mode)
                wall[mode].append(time.perf_counter() - started)
                cpu[mode].append(cpu_all() - used)
                if reference is None:
                    reference = forecast
                assert forecast.equals(reference), mode
            print(r, {m: (round(wall[m][-1], 2), round(cpu[m][-1], 2)) for m in modes}, "load",
                  round(os.getloadavg()[0], 1), flush=True)
        for m in modes:
            print(f"{m:12s} wall median {statistics.median(wall[m]):7.2f} s  cpu median {statistics.median(cpu[m]):7.2f} s"
                  f"  walls {[round(x, 2) for x in wall[m]]}")
        for when in ("before", "after"):
            if f"dask_{when}" in wall and f"loky_{when}" in wall:
                ratios = [d / p for d, p in zip(wall[f"dask_{when}"], wall[f"loky_{when}"])]
                print(f"{when}: dask/loky per-round ratios {[round(x, 3) for x in ratios]} "
                      f"median {statistics.median(ratios):.3f}")


if __name__ == "__main__":
    main()
