"""Merge baselines saved back to back from one commit on one machine: per case, the least contended run.

The calibration normalises most, not all, of what busy neighbours do to a figure: two saves of an
unchanged tree five minutes apart differed by up to 1.38x on some cases (2026-11-26, calibration
10-16 ms against 9.8-10 ms in a quiet hour). A baseline saved in a busy minute is a looser gate
without anyone choosing it. So save two or three times and keep, per case, the run that was
disturbed least: the lowest normalised median for timed cases, the lowest growth for memory cases
(figures measured by the test itself, such as import ratios, keep the first run's)::

    python3 -m pytest perf/ --benchmark-save=baseline --deselect perf/test_gate.py   # twice or more
    python3 -m perf.merge_baselines .benchmarks/Linux-CPython-3.11-64bit/0004_baseline.json \\
        .benchmarks/Linux-CPython-3.11-64bit/0005_baseline.json
    # writes the merged file over the newest input and removes the others (pass --keep to keep them)

Inputs from different commits or machines are refused: the minimum of two different programs is
not a baseline of either.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def _key(benchmark: dict) -> tuple[int, float]:
    """Sort key of one run of a case: lower is less disturbed (0: timed, 1: memory, 2: keep order)."""
    info = benchmark.get("extra_info", {})
    if "normalised" in info:
        return 0, float(info["normalised"])
    if "growth_fit_mb" in info:
        return 1, float(info["growth_fit_mb"]) + float(info.get("growth_predict_mb", 0.0))
    return 2, 0.0


def merge(runs: list[dict]) -> dict:
    """One baseline document: the first run's metadata, each case from its least disturbed run."""
    first = runs[0]
    for run in runs[1:]:
        if run["commit_info"].get("id") != first["commit_info"].get("id"):
            raise SystemExit(f"the baselines come from different commits: {first['commit_info'].get('id')} and "
                             f"{run['commit_info'].get('id')}")
        if run["machine_info"].get("node") != first["machine_info"].get("node") or \
                run["machine_info"].get("cpu", {}).get("brand_raw") != first["machine_info"].get("cpu", {}).get("brand_raw"):
            raise SystemExit("the baselines come from different machines")
    chosen: dict[str, tuple[int, dict]] = {}
    for index, run in enumerate(runs):
        for benchmark in run["benchmarks"]:
            name = benchmark["fullname"]
            if name not in chosen or _key(benchmark) < _key(chosen[name][1]):
                chosen[name] = index, benchmark
    order = [b["fullname"] for b in first["benchmarks"]]
    order += [name for name in chosen if name not in order]
    merged = dict(first, benchmarks=[chosen[name][1] for name in order])
    merged["merged_from"] = [{"datetime": run["datetime"],
                              "cases": sum(1 for i, _ in chosen.values() if i == index)} for index, run in enumerate(runs)]
    return merged


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="+", type=Path, help="baseline files saved from one commit, oldest first")
    parser.add_argument("--keep", action="store_true", help="keep the input files (default: remove all but the newest)")
    args = parser.parse_args()
    runs = [json.loads(path.read_text()) for path in args.files]
    merged = merge(runs)
    target = args.files[-1]
    target.write_text(json.dumps(merged, indent=4))
    for path in args.files[:-1]:
        if not args.keep:
            path.unlink()
    counts = ", ".join(f"{entry['cases']} from {path.name}" for entry, path in zip(merged["merged_from"], args.files))
    print(f"merged {len(runs)} runs into {target}: {len(merged['benchmarks'])} cases ({counts})")


if __name__ == "__main__":
    main()
