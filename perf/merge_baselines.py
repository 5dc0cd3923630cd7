"""Merge baselines saved back to back from one commit on one machine: per case, the least contended run.

The calibration normalises most, not all, of what busy neighbours do to a figure: two saves of an
unchanged tree five minutes apart differed by up to 1.38x on some cases (2026-11-26, calibration
10-16 ms against 9.8-10 ms in a quiet hour). A baseline saved in a busy minute is a looser gate
without anyone choosing it. So save two or three times and keep, per case, the run that was
disturbed least: the lowest normalised median for timed cases, the lowest growth for memory cases
(figures measured by the test itself, such as import ratios, keep the first run's)::

    python3 -m pytest perf/ --benchmark-save=baseline --deselect perf/test_gate.py   # twice or more
    # the saves are the newest files (pytest-benchmark numbers them 0001, 0002, ...): tail -2 for two, -3 for three
    python3 -m perf.merge_baselines $(ls .benchmarks/Linux-CPython-3.11-64bit/*_baseline.json | tail -2)
    # writes the merged file over the newest input and removes the others (pass --keep to keep them)

Inputs from different commits or machines are refused: the minimum of two different programs is
not a baseline of either.

``--add-to BASELINE`` adds to a stored baseline the cases it lacks, from runs of those cases saved (into
another storage) at a later commit on the same machine kind, each from its least disturbed run, and changes
nothing else: the baseline keeps its commit, so the gate still pairs every case with that commit's code, and
compares the added cases, which that code cannot run (a parameter it does not have), with their stored
figures. The baseline records what was added, from which commit and when (``added``)::

    storage=$(mktemp -d)
    python3 -m pytest "$CASE" --benchmark-storage="file://$storage" \
        --benchmark-save=added          # two or three times, on a clean checkout
    python3 -m perf.merge_baselines --add-to "$(ls .benchmarks/Linux-CPython-3.11-64bit/*_baseline.json | tail -1)" \
        "$storage"/Linux-CPython-3.11-64bit/*_added.json

A case the baseline has is refused: replacing its figures is a refresh (CONTRIBUTING.md).
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
        if not _same_machine(first, run):
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


def _same_machine(first: dict, run: dict) -> bool:
    return run["machine_info"].get("node") == first["machine_info"].get("node") and \
        run["machine_info"].get("cpu", {}).get("brand_raw") == first["machine_info"].get("cpu", {}).get("brand_raw")


def add(baseline: dict, runs: list[dict]) -> dict:
    """``baseline`` with the cases it lacks added from ``runs`` (one commit, the baseline's machine kind), each from
    its least disturbed run; ``added`` names them with the commit and time they were measured at."""
    new = merge(runs)
    if not _same_machine(baseline, new):
        raise SystemExit("the runs come from another machine than the baseline")
    known = {b["fullname"] for b in baseline["benchmarks"]}
    again = sorted(b["fullname"] for b in new["benchmarks"] if b["fullname"] in known)
    if again:
        raise SystemExit(f"the baseline already has {', '.join(again)}: replacing stored figures is a refresh of the "
                         "whole baseline (CONTRIBUTING.md), not an addition")
    added = [{"commit": new["commit_info"].get("id"), "dirty": new["commit_info"].get("dirty"),
              "datetime": [run["datetime"] for run in runs], "cases": [b["fullname"] for b in new["benchmarks"]]}]
    return dict(baseline, benchmarks=baseline["benchmarks"] + new["benchmarks"], added=baseline.get("added", []) + added)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="+", type=Path, help="baseline files saved from one commit, oldest first")
    parser.add_argument("--keep", action="store_true", help="keep the input files (default: remove all but the newest)")
    parser.add_argument("--add-to", type=Path, metavar="BASELINE",
                        help="add the cases BASELINE lacks from the files (saved from one later commit), in place")
    args = parser.parse_args()
    missing = [str(path) for path in [*args.files, *([args.add_to] if args.add_to else [])] if not path.is_file()]
    if missing:
        parser.error(f"no such file: {', '.join(missing)}")
    runs = [json.loads(path.read_text()) for path in args.files]
    if args.add_to:
        baseline = json.loads(args.add_to.read_text())
        if any(run["commit_info"].get("dirty") for run in runs):
            raise SystemExit("the runs were saved from a dirty tree: their code is unknown")
        merged = add(baseline, runs)
        args.add_to.write_text(json.dumps(merged, indent=4))
        print(f"added {len(merged['added'][-1]['cases'])} cases to {args.add_to} (measured at "
              f"{merged['added'][-1]['commit']}): {', '.join(merged['added'][-1]['cases'])}")
        return
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
