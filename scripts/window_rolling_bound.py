"""How close can a rolling-origin window choice come to the best fixed DLinear window of a test span?

Issue 11 asks DLinear's own window choice to be within 3 % of the best fixed window on each synthetic seed
(perf's generator, 1,000 buckets, refitted every 10 buckets at the last ``origins`` origins, 10 steps), and
suggests scoring every candidate window by rolling-origin out-of-sample forecasts: at each origin of the
history, the forecast of the map fitted on the windows before it (what one pass of DLinear's rank-one updates
gives). This script measures what such a choice can reach at best, with the evidence computed exactly: each
candidate window is refitted (``DLinear(window=w).fit``) on the points before every scored origin, so no
approximation of the updates enters. At each test origin a rule scores each window by its mean absolute error
over the ``length`` origins (every ``every``-th bucket) whose horizons end at or before the test origin, and
forecasts with the ``blend`` best, weighted by ``1 / MAE ** power`` (DLinear's own blend: 3 windows, power 1).

Each rule is printed as its MAE over the best fixed window's on the test span (the target's ratio), with DLinear's
defaults (its own choice) for reference. ``scripts/window_selection_bound.py`` gives the rules that see the
test span itself (jackknife) or the span just before it (neighbour).

Run: python3 scripts/window_rolling_bound.py [--seeds 6] [--origins 9] [--every 10] [--lengths 50,90,200,400]
[--blends 1,3,9] [--powers 1,4] [--windows 12,24,...]  (every=10: ~1 minute on a busy core; every=1 and lengths up to 200: ~10 minutes)
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.append(str(ROOT))  # perf.datasets

from perf.datasets import generate  # noqa: E402
from workload_predictor.errors import WorkloadDataError  # noqa: E402
from workload_predictor.models.dlinear import DEFAULT_WINDOWS, DLinear  # noqa: E402

HORIZON = 10
N = 1000


def forecast(values: np.ndarray, origin: int, window: int | None) -> np.ndarray | None:
    """The forecast (clipped at 0) at ``origin`` of DLinear fitted on the points before it; ``None`` where they are
    too few for the window."""
    try:
        model = DLinear(horizon=HORIZON, window=window).fit(values[:origin])
    except WorkloadDataError:
        return None
    return np.clip(model.predict_at(values, np.array([origin])), 0.0, None)[0, :, 0]


def mae(actual: np.ndarray, predicted: np.ndarray | None) -> float:
    return np.inf if predicted is None else float(np.abs(actual - predicted).mean())


def int_list(text: str) -> list[int]:
    return [int(part) for part in text.split(",")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=6)
    parser.add_argument("--origins", type=int, default=9, help="test origins, every 10th bucket before the end")
    parser.add_argument("--every", type=int, default=10, help="spacing of the scored past origins, in buckets")
    parser.add_argument("--lengths", type=int_list, default=[50, 90, 200, 400],
                        help="past origins' spans, in buckets (comma-separated)")
    parser.add_argument("--blends", type=int_list, default=[1, 3, 9], help="windows blended (comma-separated)")
    parser.add_argument("--powers", type=int_list, default=[1, 4], help="blend weights 1 / MAE ** power")
    parser.add_argument("--windows", type=int_list, default=list(DEFAULT_WINDOWS),
                        help="the candidates the rules choose among (default DEFAULT_WINDOWS; the best fixed window "
                             "is always DEFAULT_WINDOWS')")
    args = parser.parse_args()
    test = np.arange(N - HORIZON * args.origins, N - HORIZON + 1, HORIZON)
    rules = [(length, blend, power) for length in args.lengths for blend in args.blends for power in args.powers
             if blend > 1 or power == args.powers[0]]
    ratios: dict = {rule: [] for rule in rules}
    ratios["defaults"] = []
    for seed in range(args.seeds):
        values = generate(N, seed=seed)[["requests"]].to_numpy(float)
        actual = values[:, 0]
        first = int(test[0]) - HORIZON - max(args.lengths) + 1
        scored = np.arange(int(test[-1]) - HORIZON, first - 1, -args.every)[::-1]  # past origins, on test's grid
        origins = np.union1d(scored, test)
        windows = sorted(set(DEFAULT_WINDOWS) | set(args.windows))
        table = {w: {int(o): forecast(values, int(o), w) for o in origins} for w in windows}
        errors = {w: {o: mae(actual[o : o + HORIZON], f) for o, f in table[w].items()} for w in windows}
        best = min(np.mean([errors[w][int(o)] for o in test]) for w in DEFAULT_WINDOWS)
        for length, blend, power in rules:
            total = 0.0
            for o in map(int, test):
                past = [int(p) for p in scored if o - HORIZON - length < p <= o - HORIZON]
                score = {w: np.mean([errors[w][p] for p in past]) for w in args.windows}
                chosen = sorted(score, key=lambda w: (score[w], w))[:blend]
                weights = np.array([max(score[w], 1e-12) ** -float(power) for w in chosen])
                weights /= weights.sum()
                total += mae(actual[o : o + HORIZON], sum(v * table[w][o] for v, w in zip(weights, chosen)))
            ratios[length, blend, power].append(total / len(test) / best)
        own = np.mean([mae(actual[o : o + HORIZON], forecast(values, int(o), None)) for o in test])
        ratios["defaults"].append(own / best)
        print(f"seed {seed} done", flush=True)
    print(f"{'rule':<42}" + "".join(f"{s:>7}" for s in range(args.seeds)) + "  geo mean  within 3 %")
    for rule, values in ratios.items():
        name = "DLinear defaults" if rule == "defaults" else (
            f"last {rule[0]} buckets every {args.every}, blend {rule[1]}" + (f", 1/MAE^{rule[2]}" if rule[1] > 1 else ""))
        r = np.array(values)
        print(f"{name:<42}" + "".join(f"{x:>7.3f}" for x in r)
              + f"  {np.exp(np.log(r).mean()):>8.3f}  {int(np.sum(r <= 1.03))}/{len(r)}")


if __name__ == "__main__":
    main()
