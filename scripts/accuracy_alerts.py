"""How often health() alerts on accuracy: the absolute rule (1 - WAPE, 0.8 / 0.6) against ``relative_error`` (3 / 5).

A DLinear predictor (horizon 10) is fitted, then updated a few buckets at a time; its health is rated after the fit
and after each update. Plain series (no alert wanted): Poisson counts at 3, 20 and 500 a bucket, buckets of 1 s, 10 s
and 60 s; the bundled Azure conv and code traces at 1 s, 10 s and 60 s (requests and both token counts). Degradations
(an alert wanted while the model is off): a level shift x3 up and down, a fit on another series, a stuck exporter.

    python3 scripts/accuracy_alerts.py            # the tables of docs/health.md, "Why 3 and 5 for relative_error"
"""

from __future__ import annotations

import logging
import warnings

import numpy as np
import pandas as pd

from workload_predictor import WorkloadPredictor, bucketize
from workload_predictor.datasets import azure_llm_trace
from workload_predictor.health import ABSOLUTE_ACCURACY

TARGETS = ["requests", "input_tokens", "output_tokens"]


def rate(predictor: WorkloadPredictor) -> tuple[str, str, float]:
    """The absolute rule's accuracy level, relative_error's level and value."""
    report = predictor.health(thresholds={"accuracy": ABSOLUTE_ACCURACY})
    relative = report["metrics"]["relative_error"]
    return report["metrics"]["accuracy"]["level"], relative["level"], relative["value"]


def walk(fit: pd.DataFrame, after: pd.DataFrame, step: int = 1) -> list[tuple[str, str, float]]:
    targets = [c for c in fit.columns if c != "timestamp"]
    predictor = WorkloadPredictor(horizon=10).fit(fit, target=targets)
    out = [rate(predictor)]
    for i in range(0, len(after), step):
        predictor.update(after.iloc[i:i + step])
        out.append(rate(predictor))
    return out


def poisson(lam: float, n: int, freq: str, seed: int, start: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    stamps = pd.Timestamp("2024-01-01", tz="UTC") + (start + np.arange(n)) * pd.Timedelta(freq)
    return pd.DataFrame({"timestamp": stamps, "requests": rng.poisson(lam, n)})


def shares(rated: list[tuple[str, str, float]]) -> str:
    old = [r[0] for r in rated]
    new = [r[1] for r in rated]
    top = max(r[2] for r in rated)

    def pct(levels, wanted):
        return f"{100 * np.mean([level in wanted for level in levels]):.0f} %"

    return (f"{len(rated)} | {pct(old, ('warning', 'critical'))} / {pct(old, ('critical',))} | "
            f"{pct(new, ('warning', 'critical'))} / {pct(new, ('critical',))} | {np.median([r[2] for r in rated]):.2f} / "
            f"{top:.2f}")


def first(levels: list[str], wanted: tuple[str, ...]) -> str:
    found = [i for i, level in enumerate(levels) if level in wanted]
    return str(found[0]) if found else "never"


def plain() -> None:
    print("| series | ratings | absolute rule: warning+ / critical | relative_error: warning+ / critical | "
          "relative_error median / largest |")
    print("| --- | --- | --- | --- | --- |")
    for lam in (3, 20, 500):
        for freq in ("1s", "10s", "60s"):
            rated = []
            for seed in range(4):
                series = poisson(lam, 800, freq, seed)
                rated += walk(series[:600], series[600:], step=2)
            print(f"| Poisson({lam}) at {freq}, 4 seeds | {shares(rated)} |", flush=True)
    for name in ("conv", "code"):
        log = azure_llm_trace(name)
        for freq, fit_n, step in (("1s", 1000, 5), ("10s", 150, 1), ("60s", 45, 1)):
            series = bucketize(log, freq=freq).iloc[1:-1].reset_index(drop=True)
            print(f"| {name} trace at {freq} | {shares(walk(series[:fit_n], series[fit_n:], step))} |", flush=True)


def degraded() -> None:
    print("\n| degradation (after the fit on 600 buckets of Poisson(20) at 10 s) | absolute rule: first warning / "
          "critical, share alerted in buckets 1-30 / 61-100 | relative_error: the same |")
    print("| --- | --- | --- |")

    def row(label: str, rated: list[tuple[str, str, float]]) -> None:
        cells = []
        for column in (0, 1):
            levels = [r[column] for r in rated]
            early = np.mean([level != "ok" for level in levels[1:31]])
            late = np.mean([level != "ok" for level in levels[61:101]]) if len(levels) > 61 else float("nan")
            cells.append(f"{first(levels, ('warning', 'critical'))} / {first(levels, ('critical',))}, "
                         f"{100 * early:.0f} % / {100 * late:.0f} %")
        print(f"| {label} | {cells[0]} | {cells[1]} |", flush=True)

    for seed in range(3):
        fit = poisson(20, 600, "10s", seed)
        row(f"level x3 up, seed {seed}", walk(fit, poisson(60, 100, "10s", seed + 10, start=600)))
        row(f"level x3 down, seed {seed}", walk(fit, poisson(20 / 3, 100, "10s", seed + 10, start=600)))
        stuck = poisson(20, 100, "10s", 0, start=600).assign(requests=fit["requests"].iloc[-1])
        row(f"stuck exporter (the last count repeated), seed {seed}", walk(fit, stuck))
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
    warnings.filterwarnings("ignore")
    logging.disable(logging.WARNING)
    plain()
    degraded()
