"""How often health() alerts on accuracy: the absolute rule (1 - WAPE, 0.8 / 0.6) against ``relative_error`` (3 / 4).

A predictor (horizon 10; DLinear by default, ``--model`` another) is fitted, then updated a few buckets at a time; its
health is rated after the fit and after each update. Plain series (no alert wanted): Poisson counts at 3, 20 and 500
a bucket, buckets of 1 s, 10 s and 60 s (4 seeds each, others at each width); the bundled Azure conv and code traces
at 1 s, 10 s and 60 s (requests and both token counts). Degradations (an alert wanted while the model is off): a level shift x3 up and down, a fit on
another series, a stuck exporter, a level shift with a burst (one 1e6 bucket) held. A fleet (``--model fleet``, ``fleet-incremental``, ``global_lstm``) holds the seeds
of a row as its keys and rates each key.

    python3 scripts/accuracy_alerts.py                    # the tables of docs/health.md, "Why 3 and 4 for relative_error"
    python3 scripts/accuracy_alerts.py --model lstm       # the same for another model (LSTM: 3 epochs)
"""

from __future__ import annotations

import argparse
import logging
import warnings

import numpy as np
import pandas as pd

from workload_predictor import FleetPredictor, WorkloadDataError, WorkloadPredictor, bucketize
from workload_predictor.datasets import azure_llm_trace
from workload_predictor.health import ABSOLUTE_ACCURACY

#: --model -> (fleet or not, the constructor's arguments); the LSTMs train a few epochs (the rating, not the model,
#: is measured).
MODELS = {
    "dlinear": (False, {}),
    "ensemble": (False, {"model": "ensemble"}),
    "lstm": (False, {"model": "lstm", "model_params": {"max_epochs": 3}, "random_state": 0}),
    "fleet": (True, {}),
    "fleet-incremental": (True, {"update_mode": "incremental"}),
    "global_lstm": (True, {"model": "global_lstm", "model_params": {"max_epochs": 3}, "random_state": 0}),
}
MODEL = "dlinear"

Rated = list[tuple[str, str, float]]


def walk_all(pairs: list[tuple[pd.DataFrame, pd.DataFrame]], step: int = 1) -> list[Rated]:
    """Per (fit, after) pair: the absolute rule's accuracy level, relative_error's level and value after the fit
    and after each update of ``step`` buckets; a fleet's pairs are its keys."""
    fleet, params = MODELS[MODEL]
    thresholds = {"accuracy": ABSOLUTE_ACCURACY}
    targets = [c for c in pairs[0][0].columns if c != "timestamp"]
    if not fleet:
        out = []
        for fit, after in pairs:
            predictor = WorkloadPredictor(horizon=10, **params).fit(fit, target=targets)
            rated = []
            for i in range(-step, len(after), step):
                if i >= 0:
                    predictor.update(after.iloc[i:i + step])
                metric = predictor.health(thresholds=thresholds)["metrics"]
                rated.append((metric["accuracy"]["level"], metric["relative_error"]["level"],
                              metric["relative_error"]["value"]))
            out.append(rated)
        return out
    keyed = [(pd.concat([fit.assign(key=j) for j, (fit, _) in enumerate(pairs)]),
              pd.concat([after.assign(key=j) for j, (_, after) in enumerate(pairs)]))]
    fleet_predictor = FleetPredictor(horizon=10, **params).fit(keyed[0][0], target=targets)
    out = [[] for _ in pairs]
    n = max(len(after) for _, after in pairs)
    for i in range(-step, n, step):
        if i >= 0:
            fleet_predictor.update(pd.concat([after.iloc[i:i + step].assign(key=j) for j, (_, after) in enumerate(pairs)
                                              if i < len(after)]))
        frame = fleet_predictor.health(thresholds=thresholds)
        for j in range(len(pairs)):
            row = frame.loc[j]
            out[j].append((row["accuracy_level"], row["relative_error_level"], float(row["relative_error"])))
    return out


def walk(fit: pd.DataFrame, after: pd.DataFrame, step: int = 1) -> Rated:
    return walk_all([(fit, after)], step)[0]


def poisson(lam: float, n: int, freq: str, seed: int, start: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    stamps = pd.Timestamp("2024-01-01", tz="UTC") + (start + np.arange(n)) * pd.Timedelta(freq)
    return pd.DataFrame({"timestamp": stamps, "requests": rng.poisson(lam, n)})


def shares(rated: Rated) -> str:
    old = [r[0] for r in rated]
    new = [r[1] for r in rated]
    values = [r[2] for r in rated if not np.isnan(r[2])]

    def pct(levels, wanted):
        return f"{100 * np.mean([level in wanted for level in levels]):.0f} %"

    figures = f"{np.median(values):.2f} / {max(values):.2f}" if values else "unknown"
    return (f"{len(rated)} | {pct(old, ('warning', 'critical'))} / {pct(old, ('critical',))} | "
            f"{pct(new, ('warning', 'critical'))} / {pct(new, ('critical',))} | {figures}")


def first(levels: list[str], wanted: tuple[str, ...]) -> str:
    found = [i for i, level in enumerate(levels) if level in wanted]
    return str(found[0]) if found else "never"


def plain() -> None:
    print("| series | ratings | absolute rule: warning+ / critical | relative_error: warning+ / critical | "
          "relative_error median / largest |")
    print("| --- | --- | --- | --- | --- |")
    for lam in (3, 20, 500):
        for width, freq in enumerate(("1s", "10s", "60s")):  # the same counts at any width: other seeds at each
            seeds = range(4 * width, 4 * width + 4)
            pairs = [(series[:600], series[600:]) for series in (poisson(lam, 800, freq, seed) for seed in seeds)]
            rated = [r for walked in walk_all(pairs, step=2) for r in walked]
            print(f"| Poisson({lam}) at {freq}, seeds {seeds[0]}-{seeds[-1]} | {shares(rated)} |", flush=True)
    pairs = [(series[:600].assign(requests=series["requests"].where(series.index != 560, 10**6)), series[600:])
             for series in (poisson(20, 800, "10s", seed) for seed in range(4))]
    rated = [r for walked in walk_all(pairs, step=2) for r in walked]
    print(f"| Poisson(20) at 10s, seeds 0-3, a 1e6 bucket 40 before the fit's end | {shares(rated)} |", flush=True)
    for name in ("conv", "code"):
        log = azure_llm_trace(name)
        for freq, fit_n, step in (("1s", 1000, 5), ("10s", 150, 1), ("60s", 45, 1)):
            series = bucketize(log, freq=freq).iloc[1:-1].reset_index(drop=True)
            try:
                figures = shares(walk(series[:fit_n], series[fit_n:], step))
            except WorkloadDataError as error:  # a model that needs more buckets than the trace has at this width
                figures = f"not fitted: {str(error).split(':')[0]} | | |"
            print(f"| {name} trace at {freq} | {figures} |", flush=True)


def degraded() -> None:
    print("\n| degradation (after the fit on 600 buckets of Poisson(20) at 10 s) | absolute rule: first warning / "
          "critical, share alerted in buckets 1-30 / 61-100 | relative_error: the same, its largest |")
    print("| --- | --- | --- |")

    def row(label: str, rated: Rated) -> None:
        cells = []
        for column in (0, 1):
            levels = [r[column] for r in rated]
            early = np.mean([level != "ok" for level in levels[1:31]])
            late = np.mean([level != "ok" for level in levels[61:101]]) if len(levels) > 61 else float("nan")
            cells.append(f"{first(levels, ('warning', 'critical'))} / {first(levels, ('critical',))}, "
                         f"{100 * early:.0f} % / {100 * late:.0f} %")
        print(f"| {label} | {cells[0]} | {cells[1]}, {max(r[2] for r in rated):.2f} |", flush=True)

    fits = [poisson(20, 600, "10s", seed) for seed in range(3)]
    for label, lam in (("level x3 up", 60), ("level x3 down", 20 / 3)):
        walked = walk_all([(fit, poisson(lam, 100, "10s", seed + 10, start=600)) for seed, fit in enumerate(fits)])
        for seed, rated in enumerate(walked):
            row(f"{label}, seed {seed}", rated)
    burst = [fit.assign(requests=fit["requests"].where(fit.index != 560, 10**6)) for fit in fits]
    for label, lam in (("level x3 up", 60), ("level x3 down", 20 / 3)):  # the burst held through the 100 updates
        walked = walk_all([(fit, poisson(lam, 100, "10s", seed + 10, start=600)) for seed, fit in enumerate(burst)])
        for seed, rated in enumerate(walked):
            row(f"{label}, a 1e6 bucket 40 before the fit's end, seed {seed}", rated)
    stuck = [(fit, poisson(20, 100, "10s", 0, start=600).assign(requests=fit["requests"].iloc[-1])) for fit in fits]
    for seed, rated in enumerate(walk_all(stuck)):
        row(f"stuck exporter (the last count repeated), seed {seed}", rated)
    for lam in (500, 2):
        fit = poisson(20, 600, "10s", 0)
        rated = walk(fit, poisson(lam, 150, "10s", 1, start=600), step=150)
        print(f"| fit on Poisson(20), one update of 150 buckets of Poisson({lam}) | {rated[-1][0]} | "
              f"{rated[-1][1]} ({rated[-1][2]:.2f}) |")
    for fitted, other in (("conv", "code"), ("code", "conv")):
        a = bucketize(azure_llm_trace(fitted), freq="10s").iloc[1:-1].reset_index(drop=True)
        b = bucketize(azure_llm_trace(other), freq="10s").iloc[1:-1].reset_index(drop=True)[:150]
        b["timestamp"] = a["timestamp"].iloc[-1] + pd.Timedelta("10s") * np.arange(1, len(b) + 1)
        rated = walk(a, b, step=150)
        print(f"| fit on the {fitted} trace at 10 s, one update of 150 buckets of the {other} trace | "
              f"{rated[-1][0]} | {rated[-1][1]} ({rated[-1][2]:.2f}) |")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=sorted(MODELS), default="dlinear")
    parser.add_argument("--only", choices=("plain", "degraded"), help="one of the two tables")
    args = parser.parse_args()
    MODEL = args.model
    warnings.filterwarnings("ignore")
    logging.disable(logging.WARNING)
    if args.only != "degraded":
        plain()
    if args.only != "plain":
        degraded()
