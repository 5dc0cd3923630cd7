"""One corrupt bucket in a Poisson(50) series: the forecast from the raw inputs against the one predict gives.

A 1e6 bucket ``back`` buckets before the end of 1,500 buckets of Poisson(50) at 10 s; each model is fitted
on the series and forecasts the next 5 buckets. ``raw``: the fitted model's forecast from its raw context
(what ``predict`` returned before 0.10.0); ``predict``: ``WorkloadPredictor.predict`` (a spike the series
came back from read as its reference median). A last row shifts the level a hundredfold 10 buckets before
the end (flagged at first): the forecast must follow it. ``half-width`` (the widest step of the interval,
``interval_halfwidth_``) and ``confidence`` come from the validation windows, which read a spike the series came
back from as ``predict`` does. A case with a second, smaller corrupt bucket 30 buckets after a first, and an
update stream with the same two, follow.

Run: python3 scripts/spike_settling.py
"""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd

from workload_predictor import WorkloadPredictor

N = 1500
MODELS = {"dlinear": None, "exponential_smoothing": None, "moving_average": None,
          "ensemble": {"members": ["dlinear", "naive", "moving_average", "exponential_smoothing"]}}


def frame(y: np.ndarray) -> pd.DataFrame:
    return pd.DataFrame({"timestamp": pd.date_range("2026-01-01", periods=len(y), freq="10s", tz="UTC"),
                         "requests": y})


def main() -> None:
    rng = np.random.default_rng(0)
    base = rng.poisson(50, N).astype(float)
    shifted = base.copy()
    shifted[N - 10 :] = rng.poisson(5000, 10)
    cases = [("clean", base)] + [(f"1e6 bucket {back} back", _spike(base, N - back)) for back in (300, 100, 20, 5, 1)]
    cases.append(("1e6, 5e5 30 later", _spike(_spike(base, N - 200), N - 170, 5e5)))
    cases.append(("level x100, 10 back", shifted))
    print(f"{'case':<22} {'model':<22} {'raw (max |yhat|)':>17} {'predict (max |yhat|)':>21} {'half-width':>11} "
          f"{'confidence':>10}")
    for name, y in cases:
        for model, params in MODELS.items():
            predictor = WorkloadPredictor(model=model, horizon=5, model_params=params, random_state=0).fit(frame(y))
            raw = np.clip(predictor.model_.predict(5), 0.0, None)
            forecast = predictor.predict()
            print(f"{name:<22} {model:<22} {np.abs(raw).max():>17,.1f} {np.abs(forecast.yhat).max():>21,.1f} "
                  f"{predictor.interval_halfwidth_.max():>11,.1f} {predictor.confidence_:>10.2f}")
    stream()


def stream() -> None:
    """An update stream: fitted on the clean series, then 400 buckets one update at a time, the 11th 1e6 and the
    41st 5e5; the forecast, half-width and confidence after some updates, spiked stream / clean stream."""
    base = np.random.default_rng(0).poisson(50, N).astype(float)
    clean_values = np.random.default_rng(1).poisson(50, 400).astype(float)
    spiked_values = _spike(_spike(clean_values, 10), 40, 5e5)
    shown = (10, 11, 41, 100, 200, 399)
    print("\nupdate stream (1e6 at update 10, 5e5 at update 40): yhat / half-width / confidence, spiked | clean")
    for model, params in MODELS.items():
        clean = WorkloadPredictor(model=model, horizon=5, model_params=params, random_state=0).fit(frame(base))
        spiked = copy.deepcopy(clean)
        figures = []
        for t, (a, b) in enumerate(zip(clean_values, spiked_values)):
            for predictor, value in ((clean, a), (spiked, b)):
                predictor.update(pd.DataFrame({"timestamp": [predictor.last_timestamp_ + predictor.freq_],
                                               "requests": [value]}))
            if t in shown:
                figures.append(f"{t}: " + " | ".join(
                    f"{p.predict().yhat.max():,.0f} / {p.interval_halfwidth_.max():,.0f} / {p.confidence_:.2f}"
                    for p in (spiked, clean)))
        print(f"{model:<22} " + "; ".join(figures))


def _spike(y: np.ndarray, position: int, value: float = 1e6) -> np.ndarray:
    out = y.copy()
    out[position] = value
    return out


if __name__ == "__main__":
    main()
