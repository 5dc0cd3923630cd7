"""How DLinear's forecast recovers after one corrupt bucket in an update stream.

A default ``WorkloadPredictor()`` (DLinear, horizon 10) is fitted on Poisson(50) buckets at
10 s, then updated one bucket at a time with Poisson(50) buckets of which one is 1e9. For the
corrupt bucket and +1, +10, +100, +1000 and +3000 buckets after it, prints the forecast of
the next bucket (yhat), the largest forecast over the horizon, and the interval width of the
next bucket; then the same figures for a stream without the corrupt bucket (same seed).

Run: python3 scripts/dlinear_recovery.py [--fit 2000] [--after 3000] [--model-params '{"half_life": 500}']
(about 10 s at the defaults; run it with ``PYTHONPATH`` on another checkout to compare).
"""

import argparse
import json
import time

import numpy as np
import pandas as pd

from workload_predictor import WorkloadPredictor

MARKS = (0, 1, 10, 100, 1000, 3000)


def stream(n: int, seed: int) -> pd.DataFrame:
    index = pd.date_range("2026-01-01", periods=n, freq="10s", tz="UTC")
    return pd.DataFrame({"timestamp": index, "requests": np.random.default_rng(seed).poisson(50, n).astype(float)})


def run(fit: int, after: int, corrupt: bool, params: dict) -> tuple[np.ndarray, np.ndarray, int]:
    """(yhat of the next bucket, max |yhat| over the horizon, width of the next bucket) after each bucket; the window."""
    predictor = WorkloadPredictor(model_params=params or None).fit(stream(fit, seed=0))
    values = np.random.default_rng(1).poisson(50, after + 1).astype(float)
    if corrupt:
        values[0] = 1e9
    figures = np.empty((len(values), 3))
    for i, value in enumerate(values):
        row = pd.DataFrame({"timestamp": [predictor.last_timestamp_ + predictor.freq_], "requests": [value]})
        predictor.update(row)
        forecast = predictor.predict()
        yhat = np.asarray(forecast.yhat, dtype=float).reshape(-1)
        width = (np.asarray(forecast.upper, dtype=float) - np.asarray(forecast.lower, dtype=float)).reshape(-1)
        figures[i] = yhat[0], np.abs(yhat).max(), width[0]
    return figures, predictor.window_


def recovered(figures: np.ndarray, clean: np.ndarray, column: int, tolerance: float = 0.05) -> int:
    """Buckets after the corrupt one from which on ``column`` stays within ``tolerance`` of the clean stream's."""
    off = np.flatnonzero(np.abs(figures[:, column] - clean[:, column]) > tolerance * np.abs(clean[:, column]))
    return 0 if len(off) == 0 else int(off[-1]) + 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fit", type=int, default=2000, help="buckets fitted before the stream")
    parser.add_argument("--after", type=int, default=3000, help="buckets streamed after the corrupt one")
    parser.add_argument("--model-params", default="{}", help="DLinear parameters as JSON")
    args = parser.parse_args()
    params = json.loads(args.model_params)
    import workload_predictor

    print(f"package: {workload_predictor.__file__}; fit {args.fit} buckets, model_params {params}")
    results = {}
    for corrupt in (True, False):
        started = time.perf_counter()
        results[corrupt], window = run(args.fit, args.after, corrupt, params)
        label = "with one 1e9 bucket" if corrupt else "clean stream (same seed)"
        print(f"\n{label} ({time.perf_counter() - started:.1f} s, window {window}, horizon 10)")
        print(f"{'buckets after it':>17} {'yhat next':>14} {'max |yhat|':>14} {'width next':>14}")
        for i in MARKS:
            if i < len(results[corrupt]):
                yhat, peak, width = results[corrupt][i]
                print(f"{'+' + str(i):>17} {yhat:14.6g} {peak:14.6g} {width:14.6g}")
    print("\nbuckets after the corrupt one until the stream's figures stay within 5 % of the clean stream's:")
    for column, name in enumerate(("yhat next", "max |yhat|", "width next")):
        print(f"  {name}: {recovered(results[True], results[False], column)}")

if __name__ == "__main__":
    main()
