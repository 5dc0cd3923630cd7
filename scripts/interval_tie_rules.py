"""What the interval's rule at tied residuals does to coverage and the interval score (Winkler), on counts.

The ensemble's 90 % interval is split conformal on ``|actual - forecast|`` (``confidence.conformal_quantile``,
weighted by ``recency_weights``). Where several windows tie at the rank's residual (integer counts forecast by an
integer) it keeps that value (the classic rank: coverage >= the level, more by up to the tie's mass). Two rules
that bring the coverage nearer the level are compared with it:

* ``nearest``: at a tie, the largest residual below the value instead, where the share of the weight below it
  (with the test window's 1 in the total) lies nearer the level than the share at or below it;
* ``randomised``: the value with the probability that makes the expected coverage the level, else the largest
  residual below it (smoothed conformal; its coverage and score are the expectation over that draw, not a draw).

Part 1, exchangeable integer errors (nothing shifts between calibration and test): a two-sided case (Poisson(20)
load forecast by 20) and a clipped one (counts 86 % zero, forecast 0: the lower bound is 0 and every miss lies
above it, as on the code trace at 1 s and 10 s). Part 2, the benchmark's settings (scripts/accuracy_benchmark.py's
protocol: the last quarter, every origin, three refits; the README's eight, or with ``--grid`` all 42): each fitted
once, the rules and the levels 0.86-0.94 read from the same fits; per setting the share of test cells whose lower
bound is clipped at 0, the misses below and above the interval, and the change of the interval score from the
classic rule to ``nearest`` as evidence (``accuracy_benchmark.paired_change``: a t over blocks of one horizon).

Why the interval score can favour over-coverage: for ``yhat +- h`` the score ``2 h + (2 / alpha) E(|e| - h)+``
falls while ``P(|e| > h) > alpha``, so its minimum is the ``1 - alpha`` quantile of ``|e|``, at a tie the tied
value itself (the classic rank). Clipped at 0, the width is ``yhat + h`` and only the upper side misses: the score
``h + (2 / alpha) E(e - h)+`` falls while ``P(e > h) > alpha / 2``, its minimum covers ``1 - alpha / 2`` = 0.95.

Run: python3 scripts/interval_tie_rules.py [--grid] [--trials N]   (README eight: ~30 s; --grid: ~3 minutes)
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.append(str(Path(__file__).resolve().parent))  # accuracy_benchmark (after PYTHONPATH)

import accuracy_benchmark as benchmark  # noqa: E402 - after sys.path
from workload_predictor import WorkloadPredictor, confidence  # noqa: E402
from workload_predictor.backtest import run_backtest  # noqa: E402
from workload_predictor.data import BucketedSeries  # noqa: E402
from workload_predictor.errors import WorkloadDataError  # noqa: E402
from workload_predictor.predictor import calibration  # noqa: E402

LEVEL = benchmark.LEVEL
RULES = ("classic", "nearest", "randomised")
LEVELS = (0.86, 0.88, 0.89, 0.9, 0.91, 0.92, 0.94)
LIBRARY_QUANTILE = confidence._weighted_conformal_quantile  # the library's rule (``tie_rule`` swaps it)


def tie_parts(r: np.ndarray, level: float, weights: np.ndarray) -> tuple[np.ndarray, ...]:
    """Per column of ``r`` (``(n, ...)``): the library's weighted conformal half-width (the classic rank's value at a
    tie), the largest residual below that value (0 when none), whether several windows tie at it, and the weight
    shares (with the test window's 1 in the total) below it and at or below it."""
    total = weights.sum()
    width = LIBRARY_QUANTILE(r, level, weights)
    target = (total + 1.0) * level
    if target > total:
        none = np.zeros(r.shape[1:], dtype=bool)
        return width, width, none, np.ones(r.shape[1:]), np.ones(r.shape[1:])
    order = np.argsort(r, axis=0, kind="stable")
    ordered = np.take_along_axis(r, order, axis=0)
    rank = np.minimum((np.cumsum(weights[order], axis=0) < target).sum(axis=0), len(r) - 1)
    value = np.take_along_axis(ordered, rank[None], axis=0)[0]
    w = weights.reshape((-1,) + (1,) * (r.ndim - 1))
    below_weight = np.where(r < value, w, 0.0).sum(axis=0)
    at_or_below = np.where(r <= value, w, 0.0).sum(axis=0)
    below = np.where(r < value, r, 0.0).max(axis=0)
    tied = (r == value).sum(axis=0) > 1
    return width, below, tied, below_weight / (total + 1.0), at_or_below / (total + 1.0)


@contextlib.contextmanager
def tie_rule(rule: str, level: float, draws: list):
    """Within it, the library's weighted conformal quantile follows ``rule`` at ties (``randomised``: the value,
    each call's probability of it appended to ``draws``, with the residual below it under ``randomised-below``)."""
    def quantile(r: np.ndarray, at: float, weights: np.ndarray) -> np.ndarray:
        width, below, tied, share_below, share_at = tie_parts(r, at, weights)
        if rule == "nearest":
            return np.where(tied & (np.abs(share_below - at) < np.abs(share_at - at)), below, width)
        if rule.startswith("randomised"):
            draws.append(np.where(tied, (at - share_below) / np.maximum(share_at - share_below, 1e-300), 1.0))
            return np.where(tied, below, width) if rule == "randomised-below" else width
        return width

    confidence._weighted_conformal_quantile = quantile
    try:
        yield
    finally:
        confidence._weighted_conformal_quantile = LIBRARY_QUANTILE


def halfwidth(fit: dict, level: float, rule: str = "classic") -> tuple[np.ndarray, np.ndarray | None]:
    """The ensemble's half-widths ``[H]`` of one fit at ``level`` under ``rule``, and for ``randomised`` the
    probability of the tied value per step (else None); ``randomised-below`` the half-widths below the tie."""
    draws: list = []
    weights = confidence.recency_weights(len(fit["pool"]), len(fit["validation_actual"]), confidence.RECENT_SHARE)
    with tie_rule(rule, level, draws):
        width = calibration(fit["validation_forecast"], fit["validation_actual"], level,
                            (fit["pool"], fit["pool_actual"], weights), fit["left_out"])["interval_halfwidth_"]
    return width[:, 0], (draws[-1][:, 0] if draws else None)


def cell_scores(actual: np.ndarray, yhat: np.ndarray, width: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per test cell: covered (bool) and the interval score, the interval clipped at 0 as ``predict`` clips it."""
    lower, upper = np.clip(yhat - width, 0.0, None), yhat + width
    score = upper - lower + (2.0 / (1.0 - LEVEL)) * (np.maximum(lower - actual, 0.0) + np.maximum(actual - upper, 0.0))
    return (lower <= actual) & (actual <= upper), score


def rule_scores(fits: list[dict], rule: str, level: float = LEVEL) -> tuple[float, float, np.ndarray]:
    """Coverage and mean interval score of ``rule`` over the test spans of ``fits`` (``randomised``: expected), and
    the interval score per test origin (the mean over its steps)."""
    covered, scores = [], []
    for fit in fits:
        width, chance = halfwidth(fit, level, "randomised" if rule == "randomised" else rule)
        hit, score = cell_scores(fit["actual"], fit["yhat"], width)
        if rule == "randomised":
            below = halfwidth(fit, level, "randomised-below")[0]
            hit_below, score_below = cell_scores(fit["actual"], fit["yhat"], below)
            hit, score = chance * hit + (1.0 - chance) * hit_below, chance * score + (1.0 - chance) * score_below
        covered.append(hit)
        scores.append(score)
    scores = np.concatenate(scores)  # [origins, H]
    return float(np.concatenate(covered).mean()), float(scores.mean()), scores.mean(axis=1)


def fit_setting(kwargs: dict) -> list[dict]:
    """The ensemble refitted as the benchmark refits it; per refit its interval pool and the test span it forecast."""
    values, index, freq, horizon = kwargs["values"], kwargs["index"], kwargs["freq"], kwargs["horizon"]
    base = run_backtest(BucketedSeries(index=index, values=values, targets=("y",), freq=freq), (), benchmark.BASELINES,
                        horizon=horizon, test_size=kwargs["test_size"], stride=kwargs["stride"],
                        refit_every=kwargs["refit_every"], verbose=False)
    frame = pd.DataFrame(values, index=index, columns=["y"])
    bounds = np.searchsorted(base.origins, base.refits, side="left").tolist() + [len(base.origins)]
    fits = []
    for point, first, stop in zip(base.refits, bounds[:-1], bounds[1:]):
        predictor = WorkloadPredictor(model="ensemble", horizon=horizon, level=LEVEL, random_state=0, verbose=False)
        predictor.fit(frame.iloc[:point], timestamp=None, target=["y"], freq=freq)
        model = predictor.model_
        fits.append(dict(pool=model.calibration_forecast_, pool_actual=model.calibration_actual_,
                         validation_forecast=model.validation_forecast_, validation_actual=model.validation_actual_,
                         left_out=getattr(predictor, "interval_left_out_", None),
                         yhat=np.clip(predictor._forecasts_at(values, base.origins[first:stop]), 0.0, None)[..., 0],
                         actual=base.actual[first:stop, :, 0]))
        assert np.array_equal(halfwidth(fits[-1], LEVEL)[0], predictor.interval_halfwidth_[:, 0])  # the fit's own
    return fits


def exchangeable(trials: int) -> None:
    """Part 1: calibration and test errors of one distribution, many calibrations of each size."""
    rng = np.random.default_rng(1)
    cases = (("two-sided: Poisson(20) forecast by 20", lambda size: np.abs(rng.poisson(20, size) - 20.0), False),
             ("clipped: counts 86 % zero, forecast 0", lambda size: rng.binomial(1, 0.14, size)
              * rng.geometric(0.25, size) * 1.0, True))
    for label, draw, clipped in cases:
        for n in (100, 600):
            totals = {rule: np.zeros(2) for rule in RULES}
            for _ in range(trials):
                residuals, fresh = draw((n, 1)), draw(200)
                yhat = np.zeros(200) if clipped else np.full(200, 20.0)
                actual = fresh if clipped else yhat + fresh * rng.choice([-1.0, 1.0], 200)
                width, below, tied, share_below, share_at = (np.asarray(part)[0] for part in
                                                             tie_parts(residuals, LEVEL, np.ones(n)))
                nearest = below if tied and abs(share_below - LEVEL) < abs(share_at - LEVEL) else width
                chance = (LEVEL - share_below) / (share_at - share_below) if tied else 1.0
                for rule, parts in (("classic", ((width, 1.0),)), ("nearest", ((nearest, 1.0),)),
                                    ("randomised", ((width, chance), (below, 1.0 - chance)))):
                    for h, p in parts:
                        hit, score = cell_scores(actual, yhat, h)
                        totals[rule] += p * np.array([hit.mean(), score.mean()]) / trials
            print(f"{label:40s} n {n:4d}  " + "  ".join(f"{rule} cov {c:.4f} score {s:.4f}"
                                                         for rule, (c, s) in totals.items()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--grid", action="store_true", help="all 42 grid settings (default: the README's eight)")
    parser.add_argument("--trials", type=int, default=2000, help="calibrations per exchangeable case")
    args = parser.parse_args()
    print(f"workload_predictor from {Path(confidence.__file__).parent}")
    print("== exchangeable integer errors, level 0.9 (randomised: the expectation over its draw)")
    exchangeable(args.trials)
    print("== benchmark settings, level 0.9: coverage / mean interval score per rule; the classic rule at other levels")
    print(f"{'setting':26s}" + "".join(f"{rule:>20s}" for rule in RULES) + "".join(f"{f'L={lv}':>19s}" for lv in LEVELS)
          + "   clipped  miss<  miss>   nearest/classic score, paired t (blocks of one horizon)")
    rows = []
    for meta, kwargs in benchmark.grid_settings(readme_only=not args.grid):
        try:
            fits = fit_setting(kwargs)
        except WorkloadDataError as exc:
            print(f"{meta['name']}: skipped ({exc})")
            continue
        scores = {rule: rule_scores(fits, rule) for rule in RULES}
        levels = [rule_scores(fits, "classic", lv)[:2] for lv in LEVELS]
        change, t, _ = benchmark.paired_change(scores["classic"][2], scores["nearest"][2], kwargs["horizon"])
        actual = np.concatenate([f["actual"].ravel() for f in fits])
        yhat = np.concatenate([f["yhat"].ravel() for f in fits])
        width = np.concatenate([np.broadcast_to(halfwidth(f, LEVEL)[0], f["yhat"].shape).ravel() for f in fits])
        lower, upper = np.clip(yhat - width, 0.0, None), yhat + width
        rows.append((meta, scores))
        print(f"{('*' if meta['readme'] else ' ') + meta['name']:26s}"
              + "".join(f"{c:9.4f} /{s:9.4g}" for c, s, _ in scores.values())
              + "".join(f"{c:8.4f} /{s:9.4g}" for c, s in levels)
              + f"   {np.mean(yhat - width <= 0):.3f}  {np.mean(actual < lower):.3f}  {np.mean(actual > upper):.3f}"
              + f"   {change:+.2%} t {t:+.2f}",
              flush=True)
    groups = [("the README's eight", [row for row in rows if row[0]["readme"]])]
    if args.grid:
        groups.append((f"all {len(rows)} settings", rows))
    for label, group in groups:
        for rule in RULES:
            inside = sum(0.85 <= scores[rule][0] <= 0.95 for _, scores in group)
            relative = np.exp(np.mean([np.log(scores[rule][1] / scores["classic"][1]) for _, scores in group]))
            mean = np.mean([scores[rule][1] for _, scores in group])
            worse = sum(scores[rule][1] > scores["classic"][1] + 1e-12 for _, scores in group)
            print(f"{label}: {rule:11s} coverage in [0.85, 0.95]: {inside}/{len(group)}  mean interval score "
                  f"{mean:.4f}  geometric-mean ratio to classic {relative:.5f}  worse than classic in {worse}")


if __name__ == "__main__":
    main()
