"""Input anomalies the package's rule flags on the bundled Azure traces and on Poisson(50) streams.

For each trace (conv, code) and bucket width (1 s, 10 s), fits the rule as ``fit`` does (the
whole hour: floor from the series, every bucket after the first 60 checked against the 60
before it) and prints the flagged buckets per target. Then a Poisson(50) stream of 100,000
buckets, without and with one 1e9 bucket.

Run: python3 scripts/input_anomaly_counts.py
"""

import numpy as np

from workload_predictor import anomaly, bucketize
from workload_predictor.datasets import azure_llm_trace

TARGETS = ("requests", "input_tokens", "output_tokens")


def flagged(values: np.ndarray) -> list:
    return anomaly.detect(values, min(anomaly.REFERENCE_BUCKETS, len(values) - 1), anomaly.floor_of(values))


def main() -> None:
    print(f"rule: K={anomaly.K}, reference {anomaly.REFERENCE_BUCKETS} buckets, floor q{anomaly.FLOOR_QUANTILE}")
    for kind in ("conv", "code"):
        log = azure_llm_trace(kind)
        for freq in ("1s", "10s"):
            buckets = bucketize(log, timestamp="TIMESTAMP", freq=freq).iloc[1:]  # the first bucket is partial
            values = buckets[list(TARGETS)].to_numpy(dtype=float)
            found = flagged(values)
            per_target = {t: sum(1 for f in found if f[1] == i) for i, t in enumerate(TARGETS)}
            print(f"{kind} at {freq}: {len(values)} buckets, flagged {per_target}")
    stream = np.random.default_rng(0).poisson(50, 100_000).astype(float)[:, None]
    print(f"Poisson(50), 100,000 buckets: {len(flagged(stream))} flagged")
    stream[50_000] = 1e9
    print(f"the same with 1e9 at bucket 50,000: {[f[:3] for f in flagged(stream)]}")


if __name__ == "__main__":
    main()
