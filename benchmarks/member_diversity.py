"""Would a cheap new member make combination pay? Hindsight bounds with and without candidate members.

``scripts/accuracy_benchmark.py`` prints what combining the ensemble's members could reach at best, in
hindsight (convex weights fitted on the test span itself; the single best member chosen on the rest of the
test span): with the members of today (DLinear, LSTM, naive, moving average, moving median, exponential
smoothing, the seasonal median where the ensemble kept it at every refit) those bounds stay short of issue
#11's bars (geometric-mean ratio to the best member <= 0.99; within 2 % of it on >= 40 of the 42 grid
settings). A member whose errors differ from the others' could move them; this script measures whether any of
these cheap candidates does (each fitted on the training part at each refit, its settings chosen there, then
forecasting every test origin from the points before it, as the members do):

* ``seasonal_median_alone``: the library's :class:`SeasonalMedian` fitted alone at every refit (the ensemble
  keeps it only where its history beats the baselines; absent where the data show no season);
* ``seasonal_mean``: the mean of the same phase over the last ``k`` cycles of the period the seasonal median's
  search chooses (:func:`choose_period`), not moved to today's level; ``k`` of 1, 2, 4, 8 chosen on the
  training part (absent where there is no season);
* ``theta``: the Theta method's forecast, simple exponential smoothing (the library's, factor chosen on the
  training part) plus half the training part's least-squares slope, ``b / 2 (h - 1 + 1 / alpha)``;
* ``dlinear_log``: DLinear (its defaults) fitted on ``log1p`` of the load, forecasts mapped back by ``expm1``
  (a median-like forecast of bursty counts);
* ``local_trend``: the least-squares line through the last ``w`` points, extended over the horizon; ``w`` of
  2, 4 or 8 horizons chosen on the training part;
* ``dlinear_raw``: DLinear with its defaults on the load itself, a control for ``dlinear_log`` (the ensemble's
  DLinear member is fitted with the ensemble's settings: this separates the log from the settings).

Per setting (the benchmark's synthetic seeds 0-5 and its 42-setting grid, the same origins and refits; the
members' MAEs equal ``accuracy_benchmark.py``'s): each candidate's MAE over the best member's, and the hindsight
bounds (``accuracy_benchmark.hindsight_bounds``) with today's members, with each candidate added, and with as
many candidates as ``EXACT_MEMBERS`` leaves room for (the lowest-MAE ones, ``all``). The summary gives each
bound's geometric-mean ratio and its count within 2 % against three references: the best member of the same
set (the benchmark's bar), today's best member (the accuracy gained) and the best baseline (the bar of the
ensemble against the baselines). Phase one (the ensemble's fits: ~1 minute for the synthetic seeds, 5-18 for
the grid on 2 busy cores) is cached (``--cache``); the candidates (a few minutes) are computed afresh each run.

Measured at 0.37.0 (main 6caacb8): no candidate moves the bounds against the best member past the bars (grid:
convex weights in sample, geometric mean 0.9961 today, 0.9933 at best with one candidate added, local_trend;
the best member chosen on the other folds within 2 % on 38/42 today and at best). ``dlinear_log`` is the one
candidate that changes the errors: it is better than every member of today on 13 of the 42 grid settings and 4
of 6 seeds, and lowers the bounds against today's best member (convex 0.9961 -> 0.9794 on the grid, 0.9792 ->
0.9282 synthetic) and against the best baseline (the best member chosen on the other folds within 2 % of the
best baseline on 39 -> 40 of 42, convex weights chosen there 37 -> 41); ``dlinear_raw`` changes nothing, so the
log is what does it.

Run: nice python3 benchmarks/member_diversity.py [--cache DIR] [--only synthetic|grid] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.append(str(ROOT / "scripts"))
import accuracy_benchmark as bench  # noqa: E402 - after sys.path: the benchmark's settings and bounds
from workload_predictor import WorkloadPredictor  # noqa: E402
from workload_predictor.backtest import run_backtest  # noqa: E402
from workload_predictor.data import BucketedSeries  # noqa: E402
from workload_predictor.errors import NoSeasonError, WorkloadDataError  # noqa: E402
from workload_predictor.models.baselines import ExponentialSmoothing, SeasonalMedian, choose_period  # noqa: E402
from workload_predictor.models.combination import EXACT_MEMBERS  # noqa: E402
from workload_predictor.models.dlinear import DLinear  # noqa: E402

import pandas as pd  # noqa: E402


# ---------------------------------------------------------------- phase one: the ensemble's members, cached

def collect(values: np.ndarray, index: pd.DatetimeIndex, freq: pd.Timedelta, horizon: int, test_size, stride: int,
            refit_every, fixed_windows=()) -> dict:
    """The benchmark's refits (``accuracy_benchmark.score_setting``): origins, refit points, actual values and
    every member's forecasts (clipped at 0, as the benchmark scores them; NaN where a refit left it out)."""
    frame = pd.DataFrame(values, index=index, columns=["y"])
    base = run_backtest(BucketedSeries(index=index, values=values, targets=("y",), freq=freq), (), bench.BASELINES,
                        horizon=horizon, test_size=test_size, stride=stride, refit_every=refit_every, verbose=False)
    origins, refits, actual = base.origins, base.refits, base.actual[..., 0]
    members: dict[str, np.ndarray] = {}
    bounds = np.searchsorted(origins, refits, side="left").tolist() + [len(origins)]
    for point, first, stop in zip(refits, bounds[:-1], bounds[1:]):
        predictor = WorkloadPredictor(model="ensemble", horizon=horizon, level=bench.LEVEL, random_state=0,
                                      verbose=False)
        predictor.fit(frame.iloc[:point], timestamp=None, target=["y"], freq=freq)
        at = origins[first:stop]
        for name, member in predictor.model_.members_.items():
            members.setdefault(name, np.full_like(actual, np.nan))[first:stop] = np.clip(
                member.predict_at(values, at), 0.0, None)[..., 0]
    return dict(values=values[:, 0], origins=np.asarray(origins), refits=np.asarray(refits), actual=actual,
                horizon=horizon, **{f"member_{name}": f for name, f in members.items()})


# ---------------------------------------------------------------- phase two: the candidates

def flat_origins(n: int, horizon: int, first: int) -> np.ndarray:
    """Training origins with room (``first``) and targets inside the training part, at most the newest 2,000."""
    return np.arange(max(first, n // 2), n - horizon + 1)[-2000:]


def targets(y: np.ndarray, origins: np.ndarray, horizon: int) -> np.ndarray:
    return y[origins[:, None] + np.arange(horizon)]


def seasonal_means(y: np.ndarray, origins: np.ndarray, horizon: int, period: int, cycles: int) -> np.ndarray:
    """Mean of ``y[o - j period + (s mod period)]`` over ``j = 1 .. cycles``, per origin ``o`` and step ``s``."""
    offsets = np.arange(horizon) % period
    reads = origins[:, None, None] - period * np.arange(1, cycles + 1)[None, :, None] + offsets[None, None, :]
    return y[reads].mean(axis=1)


def local_lines(y: np.ndarray, origins: np.ndarray, horizon: int, window: int) -> np.ndarray:
    """The least-squares line through ``y[o - window : o]``, extended ``1 .. horizon`` steps past ``o - 1``."""
    t = np.arange(len(y), dtype=np.float64)
    s0 = np.concatenate([[0.0], np.cumsum(y)])
    s1 = np.concatenate([[0.0], np.cumsum(t * y)])
    lo = origins - window
    sy = s0[origins] - s0[lo]
    sxy = (s1[origins] - s1[lo]) - lo * sy  # x = t - lo, 0 .. window - 1
    sx = window * (window - 1) / 2.0
    sxx = (window - 1) * window * (2 * window - 1) / 6.0
    slope = (window * sxy - sx * sy) / (window * sxx - sx * sx)
    intercept = (sy - slope * sx) / window
    return intercept[:, None] + slope[:, None] * (window - 1 + np.arange(1, horizon + 1))[None, :]


def fit_seasonal_median(train: np.ndarray, horizon: int):
    try:
        model = SeasonalMedian(horizon=horizon).fit(train[:, None])
    except (NoSeasonError, WorkloadDataError):
        return None
    return lambda y, at: model.predict_at(y[:, None], at)[..., 0]


def fit_seasonal_mean(train: np.ndarray, horizon: int):
    try:
        period = choose_period(train[:, None], horizon, 3)[0]
    except NoSeasonError:
        return None
    usable = [k for k in (1, 2, 4, 8) if (k + 1) * period < len(train) // 2]
    if not usable:
        return None
    origins = flat_origins(len(train), horizon, max(usable) * period)
    actual = targets(train, origins, horizon)
    cycles = min(usable, key=lambda k: np.abs(seasonal_means(train, origins, horizon, period, k) - actual).mean())
    return lambda y, at: seasonal_means(y, at, horizon, period, cycles)


def fit_theta(train: np.ndarray, horizon: int):
    try:
        smoothing = ExponentialSmoothing(horizon=horizon).fit(train[:, None])
    except WorkloadDataError:
        return None
    t = np.arange(len(train), dtype=np.float64)
    slope = np.polyfit(t, train, 1)[0]
    drift = slope / 2.0 * (np.arange(horizon) + 1.0 / smoothing.alpha_)  # b / 2 (h - 1 + 1 / alpha), h = 1 .. H
    return lambda y, at: smoothing.predict_at(y[:, None], at)[..., 0] + drift[None, :]


def fit_dlinear_log(train: np.ndarray, horizon: int):
    try:
        model = DLinear(horizon=horizon).fit(np.log1p(np.clip(train, 0.0, None))[:, None])
    except WorkloadDataError:
        return None
    return lambda y, at: np.expm1(model.predict_at(np.log1p(np.clip(y, 0.0, None))[:, None], at)[..., 0])


def fit_dlinear_raw(train: np.ndarray, horizon: int):
    try:
        model = DLinear(horizon=horizon).fit(train[:, None])
    except WorkloadDataError:
        return None
    return lambda y, at: model.predict_at(y[:, None], at)[..., 0]


def fit_local_trend(train: np.ndarray, horizon: int):
    windows = [m * horizon for m in (2, 4, 8) if m * horizon < len(train) // 2]
    if not windows:
        return None
    origins = flat_origins(len(train), horizon, max(windows))
    actual = targets(train, origins, horizon)
    best = min(windows, key=lambda w: np.abs(np.clip(local_lines(train, origins, horizon, w), 0, None)
                                             - actual).mean())
    return lambda y, at: local_lines(y, at, horizon, best)


CANDIDATES = {"seasonal_median_alone": fit_seasonal_median, "seasonal_mean": fit_seasonal_mean, "theta": fit_theta,
              "dlinear_log": fit_dlinear_log, "local_trend": fit_local_trend, "dlinear_raw": fit_dlinear_raw}


def candidate_forecasts(data: dict, names: list[str]) -> tuple[dict[str, np.ndarray], dict[str, float]]:
    """Each candidate's forecasts at the test origins (absent where some refit could not fit it) and the median
    seconds of its fit."""
    y, origins, refits, horizon = data["values"], data["origins"], data["refits"], int(data["horizon"])
    bounds = np.searchsorted(origins, refits, side="left").tolist() + [len(origins)]
    out, seconds = {}, {}
    for name in names:
        fit = CANDIDATES[name]
        forecast, times = np.full(data["actual"].shape, np.nan), []
        for point, first, stop in zip(refits, bounds[:-1], bounds[1:]):
            started = time.perf_counter()
            model = fit(y[: int(point)], horizon)
            times.append(time.perf_counter() - started)
            if model is None:
                break
            forecast[first:stop] = np.clip(model(y, origins[first:stop]), 0.0, None)
        if np.isfinite(forecast).all():
            out[name] = forecast
        seconds[name] = float(np.median(times))
    return out, seconds


def bounds_for(members: dict[str, np.ndarray], actual: np.ndarray) -> dict[str, float]:
    record = bench.hindsight_bounds(members, actual)
    record["best_member"] = min(float(np.abs(f - actual).mean()) for f in members.values())
    return record


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache", default="/tmp/member_diversity_cache", help="phase one's forecasts (npz per setting)")
    parser.add_argument("--only", choices=("synthetic", "grid"))
    parser.add_argument("--json", help="write the per-setting records here")
    parser.add_argument("--candidates", default=",".join(CANDIDATES), help="comma-separated (default: all)")
    args = parser.parse_args()
    names = args.candidates.split(",")
    unknown = sorted(set(names) - set(CANDIDATES))
    if unknown:
        parser.error(f"unknown candidates {unknown}; choose from {list(CANDIDATES)}")
    cache = Path(args.cache)
    cache.mkdir(parents=True, exist_ok=True)
    parts = []
    if args.only != "grid":
        parts.append(bench.synthetic_settings(list(range(6))))
    if args.only != "synthetic":
        parts.append(bench.grid_settings(readme_only=False))
    records = []
    for part in parts:
        for label, setting in part:
            path = cache / (label["name"].replace(" ", "_") + ".npz")
            if not path.exists():
                try:
                    np.savez(path, **collect(**setting))
                except WorkloadDataError as exc:
                    print(f"{label['name']}: skipped ({str(exc)[:80]})", flush=True)
                    continue
            data = dict(np.load(path))
            actual = data["actual"]
            members = {k[len("member_"):]: v for k, v in data.items() if k.startswith("member_")}
            members = {k: v for k, v in members.items() if np.isfinite(v).all()}  # as the benchmark: full members
            candidates, seconds = candidate_forecasts(data, names)
            mae = {k: float(np.abs(v - actual).mean()) for k, v in {**members, **candidates}.items()}
            today = bounds_for(members, actual)
            record = dict(label, today=today, mae=mae, fit_seconds=seconds, added={})
            for name, forecast in candidates.items():
                record["added"][name] = bounds_for({**members, name: forecast}, actual)
            room = EXACT_MEMBERS - len(members)
            chosen = sorted(candidates, key=mae.get)[:room]
            record["added"]["all"] = bounds_for({**members, **{k: candidates[k] for k in chosen}}, actual)
            record["added"]["all"]["members"] = chosen
            records.append(record)
            best = today["best_member"]
            print(f"{label['name']:30s} best {min(members, key=mae.get):22s} "
                  + " ".join(f"{k}={mae[k] / best:.3f}" for k in candidates)
                  + f" | convex {today['convex'] / best:.3f} -> "
                  + " ".join(f"{k[:6]}:{v['convex'] / v['best_member']:.3f}" for k, v in record["added"].items()),
                  flush=True)
    summarise(records, names)
    if args.json:
        Path(args.json).write_text(json.dumps(records, indent=1))


def summarise(records: list[dict], candidates: list[str]) -> None:
    """Per candidate set: the hindsight bounds' geometric-mean ratios and counts within 2 %, to the best member of the
    same set (the benchmark's bar), to today's best member, and to the best baseline (the smallest MAE of the naive,
    moving average and moving median members: the benchmark's best registered baseline on every one of its settings,
    whose seasonal naive never wins)."""
    def gm(ratios):
        return float(np.exp(np.mean(np.log(ratios))))

    print("\n== hindsight bounds: geometric-mean ratio (count <= 1.02) to the best member of the same set | to today's "
          "best member | to the best baseline")
    print(f"{'set':21s} {'part':9s} {'n':>3s} {'convex (in sample)':>34s} {'cv_member (10 folds)':>34s} "
          f"{'cv_convex (10 folds)':>34s} {'alone/today best':>17s}")
    for part in ("synthetic", "grid"):
        rows = [r for r in records if r["kind"] == part]
        for name in ["today"] + candidates + ["all"]:
            have = [r for r in rows if name == "today" or name in r["added"]]
            if not have:
                continue
            sets = [r["today"] if name == "today" else r["added"][name] for r in have]
            today = np.array([r["today"]["best_member"] for r in have])
            same = np.array([b["best_member"] for b in sets])
            base = np.array([min(r["mae"][k] for k in ("naive", "moving_average", "moving_median")) for r in have])
            cells = []
            for key in ("convex", "cv_member", "cv_convex"):
                bound = np.array([b[key] for b in sets])
                cells.append(" | ".join(f"{gm(bound / ref):.4f} ({int(np.sum(bound / ref <= 1.02)):2d})"
                                        for ref in (same, today, base)))
            alone = ""
            if name in CANDIDATES:
                ratio = np.array([r["mae"][name] for r in have]) / today
                alone = f"{gm(ratio):.3f}, < 1 in {int(np.sum(ratio < 1))}"
            print(f"{name:21s} {part:9s} {len(have):3d} " + " ".join(f"{c:>34s}" for c in cells) + f" {alone:>17s}")
    seconds = {k: max(r["fit_seconds"].get(k, 0.0) for r in records) for k in candidates}
    print("largest median fit time per candidate over the settings (s): "
          + ", ".join(f"{k} {v:.4f}" for k, v in seconds.items()))


if __name__ == "__main__":
    main()
