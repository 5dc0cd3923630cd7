"""The longest runs of exact non-zero repeats in real and simulated series (docs/health.md, "Why 30 and 1,000").

A repeat is a bucket whose count equals the bucket before's and is not 0, as ``health()``'s ``stuck_input`` counts
it; a run is such buckets in a row. Prints, per series, the longest run per target: the two bundled Azure traces
bucketed at 1 s, 10 s and 60 s, ``perf.datasets.generate`` (5 seeds, 100,000 buckets) and Poisson counts of several
rates (8 seeds, 2,000,000 buckets), with the share of buckets that repeat a non-zero count.

Run:  PYTHONPATH=$PWD python3 scripts/repeat_runs.py   (about 10 s)
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from perf import datasets  # noqa: E402
from workload_predictor import bucketize  # noqa: E402
from workload_predictor.datasets import azure_llm_trace  # noqa: E402

TARGETS = ("requests", "input_tokens", "output_tokens")


def repeats(values: np.ndarray) -> np.ndarray:
    """Per bucket after the first: whether it repeats the bucket before's count, a count not 0."""
    values = np.asarray(values, dtype=float)
    return (values[1:] == values[:-1]) & (values[1:] != 0)


def longest_run(values: np.ndarray) -> int:
    edges = np.diff(np.concatenate([[0], repeats(values).astype(np.int8), [0]]))
    starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    return int((ends - starts).max()) if len(starts) else 0


def main() -> None:
    for name in ("conv", "code"):
        for freq in ("1s", "10s", "60s"):
            series = bucketize(azure_llm_trace(name), freq=freq)
            runs = {target: longest_run(series[target]) for target in TARGETS}
            print(f"Azure {name} trace at {freq}: {len(series):,} buckets, longest runs {runs}")
    runs = [longest_run(datasets.generate(100_000, seed=seed)["requests"]) for seed in range(5)]
    print(f"perf.datasets.generate, seeds 0-4, 100,000 buckets: longest runs {runs}")
    for rate in (0.5, 1, 2, 5, 30):
        counts = [np.random.default_rng(seed).poisson(rate, 2_000_000) for seed in range(8)]
        share = float(np.mean([repeats(c).mean() for c in counts]))
        print(f"Poisson({rate}), seeds 0-7, 2,000,000 buckets: longest runs {[longest_run(c) for c in counts]}, "
              f"non-zero repeats in {share:.3f} of the buckets")


if __name__ == "__main__":
    main()
