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
2023 (conversation service, CC-BY 4.0, Patel et al., ISCA 2024), the copy the package
bundles (:func:`workload_predictor.datasets.azure_llm_trace`). The trace's first bucket is partial
(the hour starts mid-second), so the 1000 buckets start at the second one.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
SYNTHETIC_CSV = HERE / "data" / "synthetic_1000.csv"
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


def azure_conv(n: int = 1000) -> pd.DataFrame:
    """The first ``n`` whole one-second buckets of the bundled Azure conv trace."""
    from workload_predictor import bucketize
    from workload_predictor.datasets import azure_llm_trace

    log = azure_llm_trace("conv")
    buckets = bucketize(log, timestamp="TIMESTAMP", freq="1s")
    return buckets.iloc[1 : n + 1].reset_index(drop=True)


DATASETS = ("synthetic", "azure_conv")


def load(name: str) -> pd.DataFrame | None:
    """A dataset by name (``None`` when it is not available on this machine)."""
    return synthetic() if name == "synthetic" else azure_conv()


# -- fleets ----------------------------------------------------------------------------------------
FLEET_SEED = 20240113
FLEET_FREQ = pd.Timedelta(minutes=1)


def fleet(n_series: int = 10_000, n: int = 1000, seed: int = FLEET_SEED) -> pd.DataFrame:
    """A fleet of ``n_series`` one-minute request counts of ``n`` buckets: a long frame (``key``, ``timestamp``,
    ``requests``), keys ``0 .. n_series - 1``, every key on the same grid except the short ones.

    Each series: a base level drawn log-uniformly from 0.5 to 2,000 requests per bucket;
    one or two cycles (periods drawn from 24, 60, 144, 288 and 20..400 buckets, amplitudes
    up to 60 % of the level); a linear trend of up to +-30 % over the series; Poisson noise,
    with 30 % of the series overdispersed (a gamma-distributed rate, shape 2 to 10);
    0 to 6 bursts of 3 to 30 buckets multiplying the rate by 2 to 8. Then, in fixed
    shares: 2 % are empty (all zero), 2 % are too short for any model (their last 20
    buckets only) and 0.5 % hold a NaN (one missing bucket). The same seed gives the same
    fleet, and the first ``m`` keys of ``fleet(N)`` are ``fleet(m)`` for the same ``n``.
    """
    rng_main = np.random.default_rng(seed)
    seeds = rng_main.integers(0, 2**63 - 1, size=n_series)
    t = np.arange(n)
    counts = np.empty((n_series, n))
    kinds = np.empty(n_series, dtype="<U5")
    for i, series_seed in enumerate(seeds):
        rng = np.random.default_rng(series_seed)
        level = float(np.exp(rng.uniform(np.log(0.5), np.log(2000.0))))
        rate = np.full(n, level)
        for _ in range(rng.integers(1, 3)):
            period = float(rng.choice([24, 60, 144, 288, rng.uniform(20, 400)]))
            rate += rng.uniform(0.05, 0.6) * level * np.sin(2 * np.pi * t / period + rng.uniform(0, 2 * np.pi))
        rate *= 1.0 + rng.uniform(-0.3, 0.3) * t / n
        for start, length, factor in zip(rng.integers(0, n, rng.integers(0, 7)), rng.integers(3, 31, 7),
                                         rng.uniform(2.0, 8.0, 7)):
            rate[start : start + length] *= factor
        rate = np.clip(rate, 0.0, None)
        if rng.uniform() < 0.3:
            shape = rng.uniform(2.0, 10.0)
            rate = rng.gamma(shape, rate / shape)
        counts[i] = rng.poisson(rate)
        draw = rng.uniform()
        kinds[i] = "empty" if draw < 0.02 else "short" if draw < 0.04 else "nan" if draw < 0.045 else "ok"
    counts[kinds == "empty"] = 0.0
    nan_rows = np.flatnonzero(kinds == "nan")
    counts[nan_rows, rng_main.integers(0, n, len(nan_rows))] = np.nan
    keep = np.ones((n_series, n), dtype=bool)
    keep[kinds == "short", : n - 20] = False
    stamps = pd.date_range(START, periods=n, freq=FLEET_FREQ)
    keys = np.repeat(np.arange(n_series), n)
    frame = pd.DataFrame({"key": keys, "timestamp": np.tile(stamps.to_numpy(), n_series), "requests": counts.ravel()})
    return frame[keep.ravel()].reset_index(drop=True)


def fleet_kinds(n_series: int = 10_000, n: int = 1000, seed: int = FLEET_SEED) -> pd.Series:
    """Which keys of :func:`fleet` are ``"ok"``, ``"empty"``, ``"short"`` or ``"nan"`` (for the tests)."""
    frame = fleet(n_series, n, seed)
    sizes = frame.groupby("key").size().reindex(range(n_series), fill_value=0)
    has_nan = frame["requests"].isna().groupby(frame["key"]).any().reindex(range(n_series), fill_value=False)
    totals = frame.groupby("key")["requests"].sum().reindex(range(n_series), fill_value=0.0)
    kinds = pd.Series("ok", index=range(n_series))
    kinds[totals == 0] = "empty"
    kinds[sizes < n] = "short"
    kinds[has_nan] = "nan"
    return kinds
