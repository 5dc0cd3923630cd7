"""The ensemble against its members and the simple baselines on the whole benchmark set.

Settings:

* ``synthetic``: perf's synthetic family (``perf/datasets.py``: periods 60 and 288, trend, Poisson noise,
  bursts), seeds 0-5, 1000 points, refitted at each of 9 origins (the last 90 buckets, every 10th),
  10 steps each. DLinear alone (its defaults) and with each fixed window of ``DEFAULT_WINDOWS`` are scored
  too (DLinear's target: its own window choice no worse than the best fixed window by more than 3 %).
* ``grid``: both Azure 2023 traces at 1, 5, 10 and 30 s, horizons 10 and 30, each target alone (42
  settings; ``scripts/evaluate_grid.py``'s protocol: the last quarter, every origin, three refits). The
  README's eight (requests; 1 s and 10 s) are marked ``*``.

Per setting: the ensemble's MAE, its best member's (DLinear, LSTM, last value, moving average, moving median,
exponential smoothing, and the seasonal median where the ensemble kept it at every refit: each read from the ensemble's own
fitted members, so the same fits; a member left out at some refit is listed in ``partial_members`` with the
share of the test span it forecast, and compared with nothing), the best simple baseline's
(the library's registered baselines: naive, seasonal naive, moving average, moving median), the ensemble's 90 %
coverage and mean interval score (Winkler),
and the combination it chose (``combination_`` where the library has it). Next to each ratio to the best
member or baseline, its 95 % interval (``interval``: a paired circular block bootstrap over the test origins,
blocks of one horizon): a setting whose interval holds 1.02 cannot tell "within 2 %" from "over 2 %" on this
test span. A summary checks the accuracy targets, and counts the misses whose interval lies wholly above
1.02. ``--json`` writes the records (with the ensemble's error at each test origin); ``--compare OLD.json``
prints before/after per setting, and where both runs hold their errors per origin, the change as evidence: a
paired t over blocks of one horizon per setting, the settings where it is significant either way, and a t of the
mean relative change over the settings (a count within 2 % moves with noise on settings whose test span holds
few horizons: the paired t says whether a change of rule changed the errors).

The summary also prints what combining these members could reach at best, in hindsight (each fitted on
the test span it is scored on, so no method that sees only the past can do better on average): the best
plain mean of two members, and the least-absolute-error convex weights of all members, per setting, as
ratios to the best member; and what a choice costs in selection noise alone, with the best evidence there
is: the single best member, and convex weights, each chosen on the rest of the test span and scored on the
part left out (ten contiguous folds of origins; one per origin where fewer). For DLinear it prints, next to each seed's best fixed window (a minimum over
nine noisy scores of 90 points), the one window best over all seeds (``scripts/window_selection_bound.py``
measures what choosing a window costs in selection noise).

Run: python3 scripts/accuracy_benchmark.py [--quick] [--seeds N] [--origins M] [--json FILE] [--compare OLD.json]
(full: ~5-10 minutes on 2 busy cores; --quick: seeds 0-2 and the eight README settings only).
Against another revision: PYTHONPATH=<its checkout> python3 scripts/accuracy_benchmark.py
"""

from __future__ import annotations

from importlib import resources
import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.append(str(ROOT))  # perf.datasets (after PYTHONPATH, so another checkout can be measured)

import workload_predictor  # noqa: E402 - after sys.path
from perf.datasets import generate  # noqa: E402
from workload_predictor import WorkloadPredictor  # noqa: E402
from workload_predictor.backtest import run_backtest  # noqa: E402
from workload_predictor.data import BucketedSeries  # noqa: E402
from workload_predictor.errors import WorkloadDataError  # noqa: E402
from workload_predictor.models.combination import convex_weights_absolute, student_t_critical  # noqa: E402
from workload_predictor.models import registry  # noqa: E402
from workload_predictor.models.dlinear import DEFAULT_WINDOWS, DLinear  # noqa: E402
from workload_predictor.readers import read_trace  # noqa: E402

TRACES = resources.files("workload_predictor.datasets") / "data"  # the bundled Azure traces (.csv.gz)
BASELINES = tuple(registry.names(baseline=True))  # the library's registered baselines (of the revision measured)
BOOTSTRAP_RESAMPLES = 2000
CV_FOLDS = 10  # folds of the test span for the cross-validated hindsight bounds
LEVEL = 0.9
README_EIGHT = {(trace, freq, horizon, "requests") for trace in ("conv", "code") for freq in ("1s", "10s")
                for horizon in (10, 30)}


def winkler(actual: np.ndarray, lower: np.ndarray, upper: np.ndarray, level: float = LEVEL) -> float:
    """Mean interval score (Gneiting & Raftery 2007): width plus ``2 / (1 - level)`` times each miss."""
    alpha = 1.0 - level
    return float(np.mean(upper - lower + (2.0 / alpha) * (np.maximum(lower - actual, 0.0)
                                                          + np.maximum(actual - upper, 0.0))))


def score_setting(values: np.ndarray, index: pd.DatetimeIndex, freq: pd.Timedelta, horizon: int,
                  test_size: float | int, stride: int, refit_every: int | None,
                  fixed_windows: tuple[int, ...] = ()) -> dict:
    """One setting: the ensemble (and its members, and DLinear with fixed windows) refitted as the backtest does."""
    frame = pd.DataFrame(values, index=index, columns=["y"])
    base = run_backtest(BucketedSeries(index=index, values=values, targets=("y",), freq=freq), (), BASELINES,
                        horizon=horizon, test_size=test_size,
                        stride=stride, refit_every=refit_every, verbose=False)
    origins, refits = base.origins, base.refits
    actual = base.actual[..., 0]
    record: dict = {name: float(m) for name, m in zip(base.table["model"], base.table["mae"])}
    yhat = np.empty_like(actual)
    halfwidth = np.empty_like(actual)
    members: dict[str, np.ndarray] = {}
    fixed = {w: np.full_like(actual, np.nan) for w in fixed_windows}
    alone = np.full_like(actual, np.nan)  # DLinear with its defaults (the ensemble's member fits raw windows)
    combination, fit_seconds = [], []
    bounds = np.searchsorted(origins, refits, side="left").tolist() + [len(origins)]
    for point, first, stop in zip(refits, bounds[:-1], bounds[1:]):
        train = frame.iloc[:point]
        predictor = WorkloadPredictor(model="ensemble", horizon=horizon, level=LEVEL, random_state=0, verbose=False)
        started = time.perf_counter()
        predictor.fit(train, timestamp=None, target=["y"], freq=freq)
        fit_seconds.append(time.perf_counter() - started)
        at = origins[first:stop]
        yhat[first:stop] = np.clip(predictor._forecasts_at(values, at), 0.0, None)[..., 0]  # as predict gives them
        halfwidth[first:stop] = predictor.interval_halfwidth_[None, :, 0]
        for name, member in predictor.model_.members_.items():
            members.setdefault(name, np.full_like(actual, np.nan))[first:stop] = np.clip(
                member.predict_at(values, at), 0.0, None)[..., 0]
        combination.append(str(getattr(predictor.model_, "combination_", "")))
        if fixed_windows:
            alone[first:stop] = np.clip(DLinear(horizon=horizon).fit(values[:point]).predict_at(values, at),
                                        0.0, None)[..., 0]
        for window in fixed_windows:
            try:
                model = DLinear(horizon=horizon, window=window).fit(values[:point])
            except WorkloadDataError:
                continue
            fixed[window][first:stop] = np.clip(model.predict_at(values, at), 0.0, None)[..., 0]
    lower, upper = np.clip(yhat - halfwidth, 0.0, None), yhat + halfwidth
    # A member the ensemble left out at some refit (the seasonal median, where the data showed no cycle or its
    # history did not beat the baselines) forecast only part of the test span: it is listed apart, not compared.
    partial = {name: f for name, f in members.items() if np.isnan(f).any()}
    members = {name: f for name, f in members.items() if name not in partial}
    record["hindsight"] = hindsight_bounds(members, actual)
    block = -(-horizon // stride)  # origins whose forecasts share a bucket (stride 1: the horizon)
    errors = lambda forecast: np.abs(actual - forecast).mean(axis=1)  # noqa: E731 - per origin
    record["interval"] = {
        key: ratio_interval(errors(yhat), {name: errors(f) for name, f in group.items()}, block)
        for key, group in (("best_member", members),
                           ("best_baseline", {b: base.forecasts[b]["yhat"][..., 0] for b in BASELINES
                                              if b in base.forecasts}))}
    record.update(
        ensemble=float(np.abs(actual - yhat).mean()),
        members={name: float(np.abs(actual - f).mean()) for name, f in members.items()},
        partial_members={name: float(np.isfinite(f).mean()) for name, f in partial.items()},
        coverage=float(np.mean((lower <= actual) & (actual <= upper))),
        winkler=winkler(actual, lower, upper),
        combination=combination, fit_seconds=float(np.median(fit_seconds)), n_origins=len(origins),
        origin_errors=errors(yhat).tolist(), block=block,
    )
    if fixed_windows:
        record["dlinear_alone"] = float(np.abs(actual - alone).mean())
        record["fixed"] = {str(w): float(np.abs(actual - f).mean()) for w, f in fixed.items() if np.isfinite(f).all()}
    return record


def ratio_interval(ensemble: np.ndarray, others: dict[str, np.ndarray], block: int,
                   resamples: int = BOOTSTRAP_RESAMPLES) -> list[float]:
    """The 95 % interval of the ratio ensemble MAE / the MAE of the best of ``others`` (the lowest MAE over the
    whole test span), by a paired circular block bootstrap over the test origins (``ensemble`` and each of
    ``others``: the error per origin).

    Blocks of ``block`` consecutive origins keep together the forecasts that share buckets (circular: a block
    may wrap from the last origin to the first, so every origin is drawn equally often, the first and last
    included); both models are resampled at the same origins. The best model is the one the ratio names, fixed
    before resampling (taking the lowest MAE again in each resample would favour whichever was luckiest there).
    """
    count = len(ensemble)
    block = max(1, min(block, count))
    best = min(others.values(), key=lambda errors: errors.mean())
    starts = np.random.default_rng(0).integers(0, count, size=(resamples, -(-count // block)))
    rows = (starts[:, :, None] + np.arange(block)).reshape(resamples, -1)[:, :count] % count
    ratios = ensemble[rows].mean(axis=1) / np.maximum(best[rows].mean(axis=1), 1e-300)
    return [float(q) for q in np.quantile(ratios, [0.025, 0.975])]


def hindsight_bounds(members: dict[str, np.ndarray], actual: np.ndarray) -> dict[str, float]:
    """MAE of combinations that read the test span (none is a rule the ensemble could follow; they bound what one
    could reach).

    Fitted on the whole test span, in sample (lower bounds for any combination of these forecasts):
    ``pair_mean``, the best plain mean of two members; ``convex``, least-absolute-error convex weights of all
    members over every test point and step (:func:`convex_weights_absolute`). Fitted on the test span less the
    part scored (``CV_FOLDS`` contiguous folds of origins, each scored with what the other folds chose): the
    selection noise any rule pays, with the best evidence there is, the neighbouring test origins themselves:
    ``cv_member``, the member with the lowest MAE on the other folds; ``cv_convex``, convex weights fitted there.
    """
    names = list(members)
    stacked = np.stack([members[n] for n in names])  # [M, t, H]
    pairs = [np.abs(0.5 * (stacked[i] + stacked[j]) - actual).mean()
             for i in range(len(names)) for j in range(i + 1, len(names))]
    weights = convex_weights_absolute(stacked.reshape(len(names), -1), actual.ravel())
    member_cv, convex_cv = np.empty_like(actual), np.empty_like(actual)
    for fold in np.array_split(np.arange(len(actual)), min(CV_FOLDS, len(actual))):
        train = np.ones(len(actual), dtype=bool)
        train[fold] = False
        errors = np.abs(stacked[:, train] - actual[train]).mean(axis=(1, 2))
        member_cv[fold] = stacked[int(np.argmin(errors)), fold]
        fold_weights = convex_weights_absolute(stacked[:, train].reshape(len(names), -1), actual[train].ravel())
        convex_cv[fold] = np.tensordot(fold_weights, stacked[:, fold], axes=1)
    return dict(pair_mean=float(min(pairs, default=np.inf)),
                convex=float(np.abs(np.tensordot(weights, stacked, axes=1) - actual).mean()),
                cv_member=float(np.abs(member_cv - actual).mean()),
                cv_convex=float(np.abs(convex_cv - actual).mean()))


def synthetic_settings(seeds: list[int], origins: int = 9):
    for seed in seeds:
        frame = generate(1000, seed=seed)
        index = pd.DatetimeIndex(frame["timestamp"])
        yield dict(kind="synthetic", name=f"synthetic seed {seed}", readme=False), dict(
            values=frame[["requests"]].to_numpy(float), index=index, freq=pd.Timedelta(seconds=10), horizon=10,
            test_size=10 * origins, stride=10, refit_every=10, fixed_windows=DEFAULT_WINDOWS)


def grid_settings(readme_only: bool):
    for trace in ("conv", "code"):
        for freq in ("1s", "5s", "10s", "30s"):
            if readme_only and freq not in ("1s", "10s"):
                continue
            series = read_trace(TRACES / f"AzureLLMInferenceTrace_{trace}.csv.gz", freq=freq).series
            index = pd.DatetimeIndex(series["timestamp"])
            for horizon in (10, 30):
                for target in ("requests", "input_tokens", "output_tokens"):
                    readme = (trace, freq, horizon, target) in README_EIGHT
                    if readme_only and not readme:
                        continue
                    yield dict(kind="grid", name=f"{trace} {freq} h{horizon} {target}", readme=readme), dict(
                        values=series[[target]].to_numpy(float), index=index, freq=pd.Timedelta(freq), horizon=horizon,
                        test_size=0.25, stride=1, refit_every=None)


def summarise(records: list[dict]) -> None:
    def ratio(r, key):
        return r["ensemble"] / r[key] if r[key] > 0 else (1.0 if r["ensemble"] == 0 else np.inf)

    for r in records:
        r["best_member"] = min(r["members"].values())
        r["best_baseline"] = min(r[b] for b in BASELINES if b in r)
    synthetic = [r for r in records if r["kind"] == "synthetic"]
    grid = [r for r in records if r["kind"] == "grid"]
    readme = [r for r in grid if r["readme"]]
    member_ratios = np.array([ratio(r, "best_member") for r in records])
    print("\n== targets")
    if synthetic:
        s = np.array([ratio(r, "best_member") for r in synthetic])
        print(f"synthetic: ensemble within 2 % of its best member {np.sum(s <= 1.02)}/{len(s)} (want all); "
              f"worst {s.max() - 1:+.1%}")
        fixed = [r for r in synthetic if r.get("fixed")]
        gaps = [r.get("dlinear_alone", r["members"]["dlinear"]) / min(r["fixed"].values()) for r in fixed]
        print(f"synthetic: DLinear alone / best fixed window: {' '.join(f'{g:.3f}' for g in gaps)} (want all <= 1.03)")
        common = set.intersection(*(set(r["fixed"]) for r in fixed)) if fixed else set()
        if common:  # the one window best over all seeds (geometric mean), not each seed's own minimum
            best = min(common, key=lambda w: np.mean([np.log(r["fixed"][w]) for r in fixed]))
            single = [r.get("dlinear_alone", r["members"]["dlinear"]) / r["fixed"][best] for r in fixed]
            print(f"synthetic: DLinear alone / the window best over all seeds ({best}): "
                  f"{' '.join(f'{g:.3f}' for g in single)}, geometric mean {np.exp(np.mean(np.log(single))):.3f}")
    if grid:
        g = np.array([ratio(r, "best_member") for r in grid])
        b = np.array([ratio(r, "best_baseline") for r in grid])
        print(f"grid: within 2 % of best member {np.sum(g <= 1.02)}/{len(g)} (want >= 40/42); "
              f"of best baseline {np.sum(b <= 1.02)}/{len(b)} (want >= 40/42); worst vs baseline {b.max() - 1:+.1%}")
    if readme:
        b = np.array([ratio(r, "best_baseline") for r in readme])
        c = np.array([r["coverage"] for r in readme])
        print(f"README eight: within 2 % of best baseline {np.sum(b <= 1.02)}/{len(b)} (want 8/8); coverage "
              f"{c.min():.3f}..{c.max():.3f}, in [0.85, 0.95]: {np.sum((c >= 0.85) & (c <= 0.95))}/{len(c)}")
    print(f"geometric-mean ratio to the best member, all {len(records)} settings: "
          f"{np.exp(np.mean(np.log(member_ratios))):.3f} (want <= 0.99)")
    for part, rows in (("synthetic", synthetic), ("grid", grid)):
        for key, words in (("best_member", "member"), ("best_baseline", "baseline")):
            if not rows or not all("interval" in r for r in rows):  # records of a run before the intervals
                continue
            misses = [r for r in rows if ratio(r, key) > 1.02]
            beyond = [r["name"] for r in misses if r["interval"][key][0] > 1.02]
            print(f"{part}: over 2 % from the best {words} in {len(misses)}/{len(rows)}; the bootstrap's 95 % "
                  f"interval lies above 1.02 in {len(beyond)}{': ' + ', '.join(beyond) if beyond else ''}")
    in_sample = "fitted on the test span itself"
    cross_validated = f"chosen on the rest of the test span ({CV_FOLDS} folds, one per origin where fewer)"
    for key, words, how in (("pair_mean", "the best mean of two members", in_sample),
                            ("convex", "convex weights of all members", in_sample),
                            ("cv_member", "the single best member", cross_validated),
                            ("cv_convex", "convex weights of all members", cross_validated)):
        for part, rows in (("synthetic", synthetic), ("grid", grid)):
            ratios = np.array([r["hindsight"][key] / r["best_member"] for r in rows if key in r.get("hindsight", {})
                               and r["best_member"] > 0])
            if len(ratios):
                print(f"hindsight bound, {part}: {words}, {how}: within 2 % of the best "
                      f"member {np.sum(ratios <= 1.02)}/{len(ratios)}, geometric-mean ratio "
                      f"{np.exp(np.mean(np.log(ratios))):.3f}")


def paired_change(before: list[float], after: list[float], block: int) -> tuple[float, float, int]:
    """The ensemble's change in MAE on one setting, as evidence: ``(relative change, t, blocks)``.

    ``before`` and ``after`` are the two runs' errors per test origin (the same origins, the same
    actual values: the difference is the change of rule alone). The differences, divided by the MAE
    before, are averaged over blocks of ``block`` consecutive origins (origins closer than a horizon
    share buckets: the blocks are close to independent; the oldest partial block is dropped), and
    ``t`` is the blocks' mean over its standard error (``nan`` with fewer than two blocks; where every
    block is the same, 0 for no change, else an infinity of its sign).
    """
    old, new = np.asarray(before, dtype=np.float64), np.asarray(after, dtype=np.float64)
    scale = max(float(old.mean()), 1e-300)
    relative = (new - old) / scale
    blocks = len(relative) // max(block, 1)
    if blocks < 2:
        return float(relative.mean()), float("nan"), blocks
    means = relative[len(relative) - blocks * block :].reshape(blocks, -1).mean(axis=1)
    mean, spread = float(means.mean()), float(means.std(ddof=1))
    if spread <= 1e-12 * max(1.0, abs(mean)):  # every block the same: the sign decides (0: no change)
        return float(relative.mean()), float(np.sign(mean)) * float("inf") if mean else 0.0, blocks
    return float(relative.mean()), mean / (spread / np.sqrt(blocks)), blocks


def print_compare(records: list[dict], old: list[dict]) -> None:
    before = {r["name"]: r for r in old}
    print("\n== before / after (ensemble MAE; ratio to best member; ratio to best baseline; coverage; Winkler; "
          "paired t of the change over blocks of a horizon, where both runs hold their errors per origin)")
    print(f"{'setting':34s} {'MAE before':>10s} {'after':>9s} {'/member b':>9s} {'a':>6s} {'/base b':>8s} "
          f"{'a':>6s} {'cov b':>6s} {'a':>6s} {'Winkler b':>10s} {'a':>9s} {'t':>6s} {'blocks':>6s}")
    paired = []
    for r in records:
        o = before.get(r["name"])
        if o is None:
            continue
        for x in (o, r):
            x.setdefault("best_member", min(x["members"].values()))
            x.setdefault("best_baseline", min(x[b] for b in BASELINES if b in x))
        print(f"{'*' if r['readme'] else ' '}{r['name']:33s} {o['ensemble']:10.4g} {r['ensemble']:9.4g} "
              f"{o['ensemble'] / o['best_member']:9.3f} {r['ensemble'] / r['best_member']:6.3f} "
              f"{o['ensemble'] / o['best_baseline']:8.3f} {r['ensemble'] / r['best_baseline']:6.3f} "
              f"{o['coverage']:6.3f} {r['coverage']:6.3f} {o['winkler']:10.4g} {r['winkler']:9.4g}", end="")
        if "origin_errors" in o and len(o["origin_errors"]) == len(r.get("origin_errors", ())):
            change, t, blocks = paired_change(o["origin_errors"], r["origin_errors"], r["block"])
            paired.append((change, t, blocks))
            print(f" {t:6.2f} {blocks:6d}")
        else:
            print()
    tested = [(change, t, blocks) for change, t, blocks in paired if blocks >= 2]
    if tested:
        critical = [student_t_critical(blocks - 1) for _, _, blocks in tested]
        worse = sum(t > c for (_, t, _), c in zip(tested, critical))
        better = sum(t < -c for (_, t, _), c in zip(tested, critical))
        changes = np.array([change for change, _, _ in tested])
        spread = float(changes.std(ddof=1)) if len(changes) > 1 else 0.0
        across = (float(changes.mean()) / (spread / np.sqrt(len(changes))) if spread > 0
                  else float("nan") if changes.any() else 0.0)
        print(f"paired: of {len(tested)} settings with two or more blocks, significantly better in {better} and worse "
              f"in {worse} (a two-sided 5 % t test over each one's blocks: about 1 in 40 each by chance); mean "
              f"relative change {changes.mean():+.2%}, t over these settings {across:+.2f} (significant beyond "
              f"+-{student_t_critical(max(len(changes) - 1, 1)):.2f}); {len(paired) - len(tested)} settings with "
              "fewer than two blocks cannot tell a change from noise")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="seeds 0-2 and the README's eight settings only")
    parser.add_argument("--seeds", type=int, default=6, help="synthetic seeds 0 .. SEEDS-1 (default 6: the targets')")
    parser.add_argument("--origins", type=int, default=9,
                        help="synthetic test origins, every 10th bucket before the end (default 9: the targets'; a "
                             "longer span, e.g. --seeds 12 --origins 30, resolves changes of about 1 %%)")
    parser.add_argument("--only", choices=("synthetic", "grid"), help="one part of the benchmark set")
    parser.add_argument("--json", help="write the per-setting records here")
    parser.add_argument("--compare", help="records of an earlier run (--json) to print before/after")
    args = parser.parse_args()
    print(f"workload_predictor from {Path(workload_predictor.__file__).parent}")
    if not 1 <= args.origins <= 60 or args.seeds < 1:
        parser.error("--origins must be 1-60 (the test span lies in the series' 1,000 buckets) and --seeds >= 1")
    seeds = [0, 1, 2] if args.quick else list(range(args.seeds))
    parts = []
    if args.only != "grid":
        parts.append(synthetic_settings(seeds, args.origins))
    if args.only != "synthetic":
        parts.append(grid_settings(readme_only=args.quick))
    records = []
    started = time.perf_counter()
    for part in parts:
        for label, setting in part:
            try:
                record = dict(label, **score_setting(**setting))
            except WorkloadDataError as exc:
                print(f"{label['name']}: skipped ({exc})")
                continue
            records.append(record)
            best_member = min(record["members"], key=record["members"].get)
            best_base = min(BASELINES, key=lambda b: record.get(b, np.inf))
            print(f"{'*' if label['readme'] else ' '}{label['name']:32s} ensemble {record['ensemble']:9.4g}  "
                  f"member {best_member} {record['members'][best_member]:9.4g} "
                  f"({record['ensemble'] / record['members'][best_member] - 1:+.1%})  "
                  f"baseline {best_base} {record[best_base]:9.4g} ({record['ensemble'] / record[best_base] - 1:+.1%})  "
                  f"[{record['interval']['best_member'][0]:.3f}, {record['interval']['best_member'][1]:.3f}]  "
                  f"cov {record['coverage']:.3f}  winkler {record['winkler']:.4g}  fit {record['fit_seconds']:.2f} s  "
                  f"{' '.join(sorted(set(record['combination'])))}", flush=True)
    summarise(records)
    print(f"({time.perf_counter() - started:.0f} s)")
    if args.json:
        Path(args.json).write_text(json.dumps(records, indent=1))
    if args.compare:
        print_compare(records, json.loads(Path(args.compare).read_text()))


if __name__ == "__main__":
    main()
