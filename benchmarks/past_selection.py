"""Can any rule that sees only the past meet the 2 % bar? The bar's own baselines, chosen without hindsight.

The bar compares the ensemble with the best of naive, seasonal naive and moving average, the best chosen on
the test span itself (after the fact). This runs the same rolling-origin backtest (last quarter, every origin,
three refits) for a selector that has no learned model at all: at each refit it takes whichever of those three
baselines had the lowest MAE over every earlier forecast origin (all out of sample: they have no parameters),
and forecasts the test origins up to the next refit with it. Its MAE over the hindsight-best baseline's shows
how much of the bar is the hindsight: where even this selector misses by more than 2 %, matching the best
baseline within 2 % needs luck, not a better weighting.

Run: python3 benchmarks/past_selection.py   (a few seconds)
"""

from importlib import resources

import numpy as np

from workload_predictor.data import prepare_series
from workload_predictor.backtest import backtest_origins, default_season_length, refit_points
from workload_predictor.models.baselines import MovingAverage, Naive, SeasonalNaive
from workload_predictor.readers import read_trace
from workload_predictor.windows import targets_at

TRACES = resources.files("workload_predictor.datasets") / "data"  # the bundled Azure traces (.csv.gz)
CANONICAL = {(trace, freq, horizon, "requests") for trace in ("conv", "code") for freq in ("1s", "10s")
             for horizon in (10, 30)}


def selector_ratio(y: np.ndarray, horizon: int, freq) -> tuple[float, str, list[str]]:
    """MAE of the past-best selector over the hindsight-best baseline, that baseline, and the selector's picks."""
    origins = backtest_origins(len(y), horizon, 0.25, 1)
    refits = refit_points(origins, None)
    season = default_season_length(freq, int(origins[0]))
    models = {"naive": Naive(horizon=horizon), "seasonal_naive": SeasonalNaive(horizon=horizon, season_length=season),
              "moving_average": MovingAverage(horizon=horizon, window=12)}
    for model in models.values():  # parameter-free: fitting only records the window
        model.fit(y[: origins[0]])
    start = max(m.context_length() for m in models.values())
    everywhere = np.arange(start, len(y) - horizon + 1)  # every origin with a full input and horizon
    actual_all = targets_at(y, everywhere, horizon)
    error = {name: np.abs(m._predict_at(y, everywhere) - actual_all).mean(axis=(1, 2)) for name, m in models.items()}
    test = np.searchsorted(everywhere, origins)
    hindsight = min(models, key=lambda name: error[name][test].mean())
    bounds = np.searchsorted(origins, refits).tolist() + [len(origins)]
    chosen, picks = np.empty(len(origins)), []
    for point, first, stop in zip(refits, bounds[:-1], bounds[1:]):
        past = everywhere <= point - horizon  # windows whose targets end before the refit point
        pick = min(models, key=lambda name: error[name][past].mean())
        picks.append(pick)
        chosen[first:stop] = error[pick][test[first:stop]]
    return chosen.mean() / error[hindsight][test].mean(), hindsight, picks


def main() -> None:
    ratios = {}
    for trace in ("conv", "code"):
        for freq in ("1s", "5s", "10s", "30s"):
            frame = read_trace(TRACES / f"AzureLLMInferenceTrace_{trace}.csv.gz", freq=freq).series
            series = prepare_series(frame, target=["requests", "input_tokens", "output_tokens"])
            for horizon in (10, 30):
                if horizon > round(0.25 * len(series.values)):  # the backtest's test span holds no horizon
                    continue
                for j, target in enumerate(series.targets):
                    ratio, best, picks = selector_ratio(series.values[:, j : j + 1], horizon, series.freq)
                    ratios[(trace, freq, horizon, target)] = ratio
                    mark = "*" if (trace, freq, horizon, target) in CANONICAL else " "
                    print(f"{mark}{trace} {freq:>3} h{horizon} {target:13s} past-best selector / {best:14s} "
                          f"{ratio - 1:+6.1%}   picks {', '.join(picks)}")
    values = np.array(list(ratios.values()))
    canonical = np.array([r for key, r in ratios.items() if key in CANONICAL])
    print(f"\nwithin 2 %: {np.sum(values <= 1.02)}/{len(values)} (the README's eight, marked *: "
          f"{np.sum(canonical <= 1.02)}/{len(canonical)}); mean excess {np.mean(np.maximum(values - 1, 0)):.1%}; "
          f"worst {values.max() - 1:+.1%}")


if __name__ == "__main__":
    main()
