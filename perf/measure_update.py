"""Incremental updates: their cost, and their accuracy against a full refit (issue 5).

Run ``python -m perf.measure_update`` from the repository root; prints one table and,
with ``--json PATH``, writes the figures. What it measures, on the perf suite's
1000-point ``synthetic`` series (``perf/datasets.py``), torch pinned to one thread:

* ``update`` cost: the median of ``model.update(one bucket)`` (the model alone) and of
  ``predictor.update(one-row frame)`` (the timestamp door included), against a full
  fit of the same predictor on the same 1000 points, measured in the same run. The
  LSTM's update trains (up to 10 warm-started epochs), so it is timed on 10 new
  buckets, on copies of one fitted predictor so every round starts from the same state.
* accuracy after 10 updates: fit on the first 700 points, apply 10 updates of 10
  buckets, and compare the rolling-origin MAE (horizon 10, origins 800 .. 990, no
  further updates) with a predictor refitted on all 800 points; then the same on
  ``--seeds`` more series generated like ``synthetic`` (a refit re-runs DLinear's
  window search, an update keeps the first fit's window, so one series says little).

Budgets: those of perf/budgets.toml (``[target]`` ``update_s``, ``update_share_of_fit``,
``update_accuracy_ratio``), as the perf suite checks them.
"""

from __future__ import annotations

import argparse
import copy
import json
import statistics
import time

import numpy as np

from perf.datasets import synthetic
from perf.harness import BUDGETS, pin_threads

BUDGET_UPDATE_S = BUDGETS["target"]["update_s"]  # model -> seconds of model.update(one bucket)
BUDGET_UPDATE_SHARE = BUDGETS["target"]["update_share_of_fit"]  # model -> predictor.update(10) / a full fit
BUDGET_ACCURACY_RATIO = BUDGETS["target"]["update_accuracy_ratio"]  # model -> MAE after 10 updates / a refit's


def timed(operation, rounds: int, setup=None) -> list[float]:
    seconds = []
    for _ in range(rounds):
        argument = setup() if setup else None
        start = time.perf_counter()
        operation(argument)
        seconds.append(time.perf_counter() - start)
    return seconds


def cost(model: str, frame, rounds_fit: int, rounds_update: int) -> dict:
    from workload_predictor import WorkloadPredictor

    def new():
        return WorkloadPredictor(model=model, horizon=10, random_state=0)

    fit = timed(lambda p: p.fit(frame), rounds_fit, setup=new)
    fitted = new().fit(frame.iloc[:-10])
    tail = frame.iloc[-10:]
    if model == "dlinear":
        # One bucket per call, as a streaming autoscaler does; the model grows by one window each time.
        model_part = copy.deepcopy(fitted.model_)
        values = tail["requests"].to_numpy()[:, None]
        per_model = timed(lambda i: model_part.update(values[i % 10 : i % 10 + 1]), rounds_update,
                          setup=iter(range(10**9)).__next__)
        predictor = copy.deepcopy(fitted)
        rows = [tail.iloc[[i]] for i in range(10)]
        counter = iter(range(10**9))
        per_predictor = []
        for _ in range(rounds_update):
            i = next(counter)
            if i and i % 10 == 0:
                predictor = copy.deepcopy(fitted)  # back to the start: the rows continue it again
            start = time.perf_counter()
            predictor.update(rows[i % 10])
            per_predictor.append(time.perf_counter() - start)
        update_label = "update(1 bucket)"
    else:
        copies = iter([copy.deepcopy(fitted) for _ in range(rounds_update)])
        per_predictor = timed(lambda p: p.update(tail), rounds_update, setup=copies.__next__)
        per_model = None
        update_label = "update(10 buckets)"
    fit_s = statistics.median(fit)
    predictor_s = statistics.median(per_predictor)
    return {
        "model": model, "fit_s": fit_s, "update": update_label,
        "model_update_s": statistics.median(per_model) if per_model else None,
        "predictor_update_s": predictor_s, "update_share_of_fit": predictor_s / fit_s,
        "rounds": {"fit": rounds_fit, "update": rounds_update},
    }


def accuracy_over_seeds(model: str, seeds: range) -> dict:
    """The same backtest on series drawn like ``synthetic`` with other seeds: how often within 5 %."""
    from perf.datasets import generate

    ratios = [accuracy(model, generate(1000, seed=seed))["ratio"] for seed in seeds]
    return {"model": model, "seeds": len(ratios), "median_ratio": float(np.median(ratios)),
            "max_ratio": float(max(ratios)), "within_5_percent": sum(r <= BUDGET_ACCURACY_RATIO[model] for r in ratios),
            "ratios": [round(r, 4) for r in ratios]}


def accuracy(model: str, frame) -> dict:
    from workload_predictor import WorkloadPredictor

    y = frame["requests"].to_numpy(dtype=float)[:, None]
    updated = WorkloadPredictor(model=model, horizon=10, random_state=0).fit(frame.iloc[:700])
    for start in range(700, 800, 10):
        updated.update(frame.iloc[start : start + 10])
    refit = WorkloadPredictor(model=model, horizon=10, random_state=0).fit(frame.iloc[:800])
    origins = np.arange(800, len(y) - 10 + 1)
    actual = y[origins[:, None] + np.arange(10)]
    mae = {name: float(np.abs(np.clip(p.model_.predict_at(y, origins), 0, None) - actual).mean())
           for name, p in (("updated", updated), ("refit", refit))}
    return {"model": model, "mae_after_10_updates": mae["updated"], "mae_refit": mae["refit"],
            "ratio": mae["updated"] / mae["refit"], "windows": len(origins)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", help="write the figures to this file")
    parser.add_argument("--models", default="dlinear,lstm,ensemble")
    parser.add_argument("--seeds", type=int, default=12, help="series for the accuracy spread (0: skip)")
    args = parser.parse_args()
    pin_threads(1)
    frame = synthetic()
    models = args.models.split(",")
    rounds = {"dlinear": (30, 500), "lstm": (5, 5), "ensemble": (5, 5)}
    costs = [cost(m, frame, *rounds[m]) for m in models]
    accuracies = [accuracy(m, frame) for m in models]
    print(f"{'model':9} {'fit':>9} {'update':>20} {'model.update':>13} {'predictor.update':>17} {'share of fit':>13}")
    for c in costs:
        model_s = f"{c['model_update_s'] * 1e3:.3f} ms" if c["model_update_s"] is not None else "-"
        print(f"{c['model']:9} {c['fit_s']:8.3f}s {c['update']:>20} {model_s:>13} "
              f"{c['predictor_update_s'] * 1e3:14.3f} ms {c['update_share_of_fit']:12.1%}")
    print(f"\n{'model':9} {'MAE after 10 updates':>21} {'MAE refit':>10} {'ratio':>7}  (budgets {BUDGET_ACCURACY_RATIO})")
    for a in accuracies:
        print(f"{a['model']:9} {a['mae_after_10_updates']:21.4f} {a['mae_refit']:10.4f} {a['ratio']:7.3f}")
    spread = [accuracy_over_seeds(m, range(args.seeds)) for m in models] if args.seeds else []
    if spread:
        print(f"\nthe same backtest on {args.seeds} series generated like synthetic (seeds 0..{args.seeds - 1}):")
        for a in spread:
            print(f"{a['model']:9} median ratio {a['median_ratio']:.3f}, max {a['max_ratio']:.3f}, within 5 %: "
                  f"{a['within_5_percent']}/{a['seeds']}  {a['ratios']}")
    verdicts = []
    for c in costs:
        if c["model"] in BUDGET_UPDATE_S and c["model_update_s"] is not None:
            budget = BUDGET_UPDATE_S[c["model"]]
            verdicts.append((f"{c['model']} model.update <= {budget * 1e3:g} ms", c["model_update_s"] <= budget))
        if c["model"] in BUDGET_UPDATE_SHARE:
            budget = BUDGET_UPDATE_SHARE[c["model"]]
            verdicts.append((f"{c['model']} update <= {budget:.0%} of a fit", c["update_share_of_fit"] <= budget))
    verdicts += [(f"{a['model']} MAE after 10 updates <= {BUDGET_ACCURACY_RATIO[a['model']]:g} x refit",
                  a["ratio"] <= BUDGET_ACCURACY_RATIO[a["model"]]) for a in accuracies]
    print()
    for what, ok in verdicts:
        print(f"{'ok  ' if ok else 'MISS'} {what}")
    if args.json:
        with open(args.json, "w") as out:
            json.dump({"costs": costs, "accuracy": accuracies, "accuracy_over_seeds": spread, "verdicts": verdicts},
                      out, indent=2)


if __name__ == "__main__":
    main()
