"""The series the perf suite measures on.

``synthetic``: the 1000-point series shipped as ``perf/data/synthetic_1000.csv`` (the
old report's ``dataset_size: 1000``). It is a request count per 10-second bucket made
by :func:`generate` with seed 20240101:

* a daily-like period of 288 buckets (amplitude 6) and a period of 60 buckets
  (amplitude 8) on a base rate of 20 requests per bucket;
* a linear trend of +5 requests per bucket over the 1000 buckets;
* Poisson noise: each bucket's count is drawn from Poisson(rate), so counts are
  integers and their variance equals their mean, as in real request logs;
* bursts: 6 bursts of 3-12 buckets at random positions, each multiplying the rate
  by 2-4 (flash crowds), so the models see the spikes serving systems see.

The CSV is the reference; :func:`generate` documents how it was made and
``test_datasets.py`` checks that the two agree. ``scaled(n)`` draws longer series
of the same kind for the scaling cases.

``azure_conv``: the first 1000 one-second buckets of the Azure LLM inference trace
2023 (conversation service, CC-BY 4.0, Patel et al., ISCA 2024) from
``../shared/data/traces/`` relative to the repository; ``None`` where that folder is
absent (the cases then skip and say why). The trace's first bucket is partial
(the hour starts mid-second), so the 1000 buckets start at the second one.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
SYNTHETIC_CSV = HERE / "data" / "synthetic_1000.csv"
TRACES = HERE.parent.parent / "shared" / "data" / "traces"
AZURE_CONV = TRACES / "AzureLLMInferenceTrace_conv.csv"
SEED = 20240101
START = pd.Timestamp("2024-01-01 00:00:00", tz="UTC")
FREQ = pd.Timedelta(seconds=10)


def generate(n: int = 1000, seed: int = SEED) -> pd.DataFrame:
    """Periodic + trend + Poisson noise + bursts, ``n`` buckets of 10 s (see the module docstring)."""
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    rate = 20.0 + 8.0 * np.sin(2 * np.pi * t / 60) + 6.0 * np.sin(2 * np.pi * t / 288) + 5.0 * t / 1000
    n_bursts = max(1, round(6 * n / 1000))
    for start, length, factor in zip(rng.integers(0, n, n_bursts), rng.integers(3, 13, n_bursts),
                                     rng.uniform(2.0, 4.0, n_bursts)):
        rate[start : start + length] *= factor
    counts = rng.poisson(rate)
    return pd.DataFrame({"timestamp": START + FREQ * t, "requests": counts.astype(np.int64)})


def write_synthetic(path: Path = SYNTHETIC_CSV) -> None:
    """Regenerate the shipped CSV (only when :func:`generate` changes on purpose)."""
    frame = generate()
    frame.assign(timestamp=frame["timestamp"].dt.strftime("%Y-%m-%dT%H:%M:%SZ")).to_csv(path, index=False)


def synthetic() -> pd.DataFrame:
    """The shipped 1000-point series: columns ``timestamp`` (ISO strings, UTC) and ``requests``."""
    return pd.read_csv(SYNTHETIC_CSV, dtype={"timestamp": str, "requests": "int64"})


def scaled(n: int) -> pd.DataFrame:
    """A series of ``n`` buckets of the same kind, for the scaling cases (the first 1000 are not the CSV's)."""
    return generate(n, seed=SEED + n)


def azure_conv(n: int = 1000) -> pd.DataFrame | None:
    """The first ``n`` whole one-second buckets of the Azure conv trace, or ``None`` without the traces folder."""
    if not AZURE_CONV.is_file():
        return None
    from workload_predictor import bucketize

    log = pd.read_csv(AZURE_CONV, dtype={"TIMESTAMP": str})
    buckets = bucketize(log, timestamp="TIMESTAMP", freq="1s")
    return buckets.iloc[1 : n + 1].reset_index(drop=True)


DATASETS = ("synthetic", "azure_conv")


def load(name: str) -> pd.DataFrame | None:
    """A dataset by name (``None`` when it is not available on this machine)."""
    return synthetic() if name == "synthetic" else azure_conv()
