"""Tabulate the gate's ratios from runs saved with ``--benchmark-json``: how far unchanged code reads from 1.

Each timed case records, per run, its CPU and latency ratios against the baseline's code in
alternating rounds (``paired_cpu_ratio``, ``paired_latency_ratio``) and against the stored
figures normalised by the calibration (``stored_cpu_ratio``, ``stored_latency_ratio``), and the
CPU share the calibration got (1: idle machine)::

    python3 -m pytest perf/test_fit_predict.py -k synthetic --benchmark-compare --benchmark-json=run1.json
    python3 -m perf.gate_ratios run*.json
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

KEYS = ("paired_cpu_ratio", "paired_latency_ratio", "stored_cpu_ratio", "stored_latency_ratio")


def ratios(files: list[Path]) -> dict[str, dict[str, list[float]]]:
    """{case: {key: [one value per run]}} (and ``cpu_share``)."""
    table: dict[str, dict[str, list[float]]] = {}
    for path in files:
        for bench in json.loads(path.read_text())["benchmarks"]:
            info = bench.get("extra_info", {})
            if not any(key in info for key in KEYS):
                continue
            row = table.setdefault(bench["name"], {})
            for key in (*KEYS, "cpu_share"):
                if info.get(key) is not None:
                    row.setdefault(key, []).append(float(info[key]))
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="+", type=Path)
    args = parser.parse_args()
    print(f"{'case':<36} {'ratio':<22} {'runs':>4} {'min':>6} {'median':>6} {'max':>6}  CPU share of the runs")
    for case, row in ratios(args.files).items():
        shares = " ".join(f"{s:.2f}" for s in row.get("cpu_share", []))
        for key in KEYS:
            values = row.get(key)
            if values:
                print(f"{case:<36} {key:<22} {len(values):>4} {min(values):>6.2f} {statistics.median(values):>6.2f} "
                      f"{max(values):>6.2f}  {shares if key == KEYS[0] else ''}")


if __name__ == "__main__":
    main()
