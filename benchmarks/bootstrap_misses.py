"""How sure are the code-trace comparisons? A moving-block bootstrap of the ensemble / best-baseline MAE ratio.

The settings of ``scripts/evaluate_traces.sh`` test on the last quarter of one hour: at 10 s that is 58-77
forecast origins, only 2-8 non-overlapping horizons; at 1 s with h=30, 30 of them. This resamples whole
horizons (blocks of ``horizon`` origins) of the same backtest the CLI runs and prints the 95 % interval of
the ratio for the code-trace settings that miss or nearly miss the 2 % bar.

Run: python3 benchmarks/bootstrap_misses.py   (about a minute)
"""

from importlib import resources

import numpy as np

from workload_predictor.backtest import run_backtest
from workload_predictor.readers import read_trace

TRACES = resources.files("workload_predictor.datasets") / "data"  # the bundled Azure traces (.csv.gz)
BASELINES = ("naive", "moving_average", "seasonal_naive")


def main() -> None:
    rng = np.random.default_rng(0)
    for trace, freq, horizon in [("code", "1s", 30), ("code", "10s", 30), ("code", "10s", 10)]:
        series = read_trace(TRACES / f"AzureLLMInferenceTrace_{trace}.csv.gz", freq=freq, timestamp_column=None, unit=None,
                            origin=None, input_column=None, output_column=None, keep_partial=False).series
        result = run_backtest(series, models=("ensemble",), horizon=horizon, verbose=False)
        actual = result.actual[:, :, 0]
        error = {m: np.abs(result.forecasts[m]["yhat"][:, :, 0] - actual).mean(axis=1) for m in ("ensemble",) + BASELINES}
        best = min(BASELINES, key=lambda m: error[m].mean())
        n = len(actual)
        ratios = []
        for _ in range(5000):
            starts = rng.integers(0, n - horizon + 1, size=int(np.ceil(n / horizon)))
            rows = np.concatenate([np.arange(s, s + horizon) for s in starts])[:n]
            ratios.append(error["ensemble"][rows].mean() / error[best][rows].mean())
        low, high = np.percentile(ratios, [2.5, 97.5])
        print(f"{trace} {freq} h{horizon}: {n} origins, ensemble / {best} = {error['ensemble'].mean() / error[best].mean():.3f}; "
              f"moving-block bootstrap (block {horizon}) 95 % interval [{low:.3f}, {high:.3f}], "
              f"share of resamples within 2 %: {np.mean(np.array(ratios) <= 1.02):.2f}")


if __name__ == "__main__":
    main()
