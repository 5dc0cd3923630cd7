"""Fit the models on families of awkward but plausible LLM-serving series and print what looks pathological.

Not an accuracy benchmark (``scripts/accuracy_benchmark.py`` is): each check below flags a forecast that nothing in
its history supports, so a flag is a defect to explain, not a small difference.

Families (seeds fixed): a daily cycle at 1-min buckets (period 1440, longer than DLinear's largest window 336), a
weekly cycle at 1-h buckets, a sparse bursty series (mostly zeros), a ramp from 0 (a new endpoint), a step up, a
step down, a steady series with one huge spike (mid-history, 30 buckets ago, in the newest bucket), Poisson(1e4)
with a 3-bucket burst of 3x 30 buckets ago (below the input-anomaly rule's K floors), zeros then load (a new
endpoint), zeros then a ramp, a daily cycle at 1-h buckets stepping up (x2) or down (x0.5) two days before the end,
a constant series, Poisson counts of rate 0.1, 1, 100 and 1e6, a clean (noise-free) cycle, and a Poisson(100)
series and a cycle of period 24 cut to the shortest history each model accepts. Horizons 1 and 60.

Checks (a column each; ``-`` where the check does not apply):

* ``max/hist``: the forecast's largest ``yhat`` over the history's largest (flag above 10: an explosion).
* ``up/lvl``: the smallest ``upper`` over the recent level (the median of the newest 60 buckets) on a steady
  family (flag below 1: the interval's top lies under what the series does now).
* ``zero``: a flat zero forecast of a busy series (the newest 60 buckets' median above 1); ``0 steps``: the share of
  the horizon's steps forecast 0 where none of the newest 60 buckets is 0 (flag above 0).
* ``cov``: the interval's coverage on a held-out tail (the model fitted before it, forecasting from every origin of
  it with the fitted model and its half-widths, as ``predict`` would) on the stationary families (flag off the
  level by more than 0.15).
* ``rough``: the forecast's mean absolute step over the history's newest 120 buckets' (flag above 1.5 on a
  horizon of 60: the forecast zigzags more than the data).
* ``conf``: the confidence (flag, on Poisson counts, one above ``1 - WAPE / 2`` of the true rate, which no forecast
  can beat by that much; below 0.2 on a clean cycle).
* ``wt``: the ensemble's largest weight on a member whose validation MAE exceeds twice the best member's.
* ``x1000``, ``+c``, ``+1d``: the largest change of ``yhat`` (relative to the history's scale) when the series is
  scaled by 1000 (the forecast divided back), a constant of 10x the history's max is added (subtracted back), or
  the timestamps are shifted by a day (flag above 1e-3, ``+c`` only on families with no zeros, where a constant
  changes nothing a model should read; a spike the input-anomaly rule flags against the series' level is no longer
  flagged once a constant 10x its size is added, so ``+c`` also flags the spike families by design).

Run: nice python3 scripts/pathology_survey.py [--quick] [--models dlinear,ensemble,...] [--families ...]
(about 3-5 minutes of CPU; ``--quick``: horizon 1 and 60 on fewer families).
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
import warnings

import numpy as np
import pandas as pd

from workload_predictor import WorkloadPredictor
from workload_predictor.models import registry

LEVEL = 0.9
TAIL = 300  # held-out buckets for the coverage check
MODELS = ("dlinear", "ensemble", "naive", "seasonal_naive", "moving_average", "moving_median",
          "exponential_smoothing", "seasonal_median", "lstm")
LSTM_EPOCHS = 2
TOL = 1e-3


def _poisson(rng: np.random.Generator, rate: np.ndarray) -> np.ndarray:
    return rng.poisson(np.maximum(rate, 0.0)).astype(float)


def families(seed: int = 0) -> dict[str, tuple[np.ndarray, str, bool, bool]]:
    """``{name: (values, freq, steady, stationary)}``: steady families have a recent level to stay above,
    stationary ones a tail whose coverage the validation errors predict."""
    rng = np.random.default_rng(seed)
    out = {}
    t = np.arange(4 * 1440)
    out["daily_1min"] = (_poisson(rng, 40 * (1 + 0.8 * np.sin(2 * np.pi * t / 1440))), "1min", False, True)
    t = np.arange(6 * 168)
    weekly = 30 * (1 + 0.6 * np.sin(2 * np.pi * t / 24)) * np.where((t // 24) % 7 >= 5, 0.4, 1.0)
    out["weekly_1h"] = (_poisson(rng, weekly), "1h", False, True)
    n = 1500
    bursts = np.zeros(n)
    starts = rng.choice(n - 5, 25, replace=False)
    for s in starts:
        bursts[s : s + rng.integers(1, 5)] = rng.poisson(40, 1)
    out["sparse_bursty"] = (bursts, "10s", False, False)
    out["ramp_from_0"] = (_poisson(rng, np.linspace(0, 200, 600)), "1min", False, False)
    out["step_up"] = (_poisson(rng, np.r_[np.full(700, 20.0), np.full(100, 200.0)]), "1min", True, False)
    out["step_down"] = (_poisson(rng, np.r_[np.full(700, 200.0), np.full(100, 20.0)]), "1min", True, False)
    spike = _poisson(rng, np.full(1000, 50.0))
    spike[500] = 1e5
    out["one_spike"] = (spike, "1min", True, True)
    recent = _poisson(rng, np.full(1000, 50.0))
    recent[-30] = 1e5
    out["spike_30_ago"] = (recent, "1min", True, False)
    last = _poisson(rng, np.full(1000, 50.0))
    last[-1] = 1e5
    out["spike_last"] = (last, "1min", False, False)
    out["zeros_then_busy"] = (np.r_[np.zeros(600), _poisson(rng, np.full(120, 50.0))], "1min", True, False)
    out["zeros_then_ramp"] = (np.r_[np.zeros(600), _poisson(rng, np.linspace(0, 100, 200))], "1min", False, False)
    burst = _poisson(rng, np.full(1000, 1e4))
    burst[-30:-27] = 3e4
    out["burst_x3_30_ago"] = (burst, "1min", True, False)
    t = np.arange(30 * 24)
    day = 100 * (1 + 0.5 * np.sin(2 * np.pi * t / 24))
    out["cycle_step_up"] = (_poisson(rng, day * np.where(t >= len(t) - 48, 2.0, 1.0)), "1h", False, False)
    out["cycle_step_down"] = (_poisson(rng, day * np.where(t >= len(t) - 48, 0.5, 1.0)), "1h", False, False)
    out["constant"] = (np.full(800, 42.0), "1min", True, True)
    for rate in (0.1, 1.0, 100.0, 1e6):
        out[f"poisson_{rate:g}"] = (_poisson(rng, np.full(1000, rate)), "10s", rate >= 1, True)
    t = np.arange(1200)
    out["clean_cycle"] = (np.round(100 + 50 * np.sin(2 * np.pi * t / 60)), "1min", False, True)
    return out


def frame(values: np.ndarray, freq: str, start: str = "2024-03-01") -> pd.DataFrame:
    return pd.DataFrame({"timestamp": pd.date_range(start, periods=len(values), freq=freq, tz="UTC"),
                         "requests": values})


def predictor(model: str, horizon: int, **kw) -> WorkloadPredictor:
    params = {"lstm": {"max_epochs": LSTM_EPOCHS},
              "ensemble": {"member_params": {"lstm": {"max_epochs": LSTM_EPOCHS}}}}.get(model)
    return WorkloadPredictor(model=model, horizon=horizon, level=LEVEL, random_state=0, model_params=params, **kw)


def fitted(model: str, horizon: int, values: np.ndarray, freq: str, start: str = "2024-03-01"):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return predictor(model, horizon).fit(frame(values, freq, start))


def minimum_length(model: str, horizon: int) -> int:
    return predictor(model, horizon)._build_model().minimum_length()


def coverage(model: str, horizon: int, values: np.ndarray, freq: str) -> float:
    """The interval's coverage on the last TAIL buckets, the model fitted on the buckets before them."""
    train = values[:-TAIL]
    p = fitted(model, horizon, train, freq)
    origins = np.arange(len(train), len(values) - horizon + 1)
    forecasts = np.clip(p._forecasts_at(values[:, None], origins), 0.0, None)  # [m, H, 1]
    half = p.interval_halfwidth_[None, :, :]
    actual = np.stack([values[o : o + horizon] for o in origins])[:, :, None]
    return float(np.mean((forecasts - half <= actual) & (actual <= forecasts + half)))


def survey(models, horizons, names, seed=0):
    rows = []
    fams = families(seed)
    for name in names:
        values, freq, steady, stationary = fams[name]
        for model in models:
            for horizon in horizons:
                started = time.process_time()
                row = {"family": name, "model": model, "H": horizon}
                try:
                    p = fitted(model, horizon, values, freq)
                    f = p.predict()
                except Exception as exc:  # a refusal is a finding too
                    row["error"] = f"{type(exc).__name__}: {str(exc)[:80]}"
                    rows.append(row)
                    continue
                yhat, upper = f.yhat[:, 0], f.upper[:, 0]
                hist_max = float(values.max())
                scale = max(hist_max, 1.0)
                recent = float(np.median(values[-60:]))
                row["max/hist"] = float(yhat.max() / hist_max) if hist_max > 0 else float(yhat.max())
                row["up/lvl"] = float(upper.min() / recent) if steady and recent > 0 else None
                row["zero"] = bool(recent > 1 and np.all(yhat == 0))
                busy = bool(values[-60:].min() > 0)
                row["0 steps"] = float(np.mean(yhat == 0)) if busy else None
                if horizon > 1:
                    hist_step = np.mean(np.abs(np.diff(values[-120:])))
                    row["rough"] = float(np.mean(np.abs(np.diff(yhat))) / hist_step) if hist_step > 0 else None
                row["conf"] = float(f.confidence)
                if name.startswith("poisson_"):  # the WAPE of the true mean: no forecast can beat it by much
                    rate = float(name.split("_")[1])
                    row["oracle"] = float(np.abs(values - rate).sum() / np.abs(values).sum())
                if model == "ensemble":
                    members = p.model_.members_
                    maes = {m: float(np.mean(np.abs(np.clip(members[m].validation_forecast_, 0, None)
                                                    - members[m].validation_actual_))) for m in members}
                    best = min(maes.values())
                    broken = [m for m, v in maes.items() if v > 2 * best + 1e-9]
                    row["wt"] = max([p.weights_.get(m, 0.0) for m in broken], default=0.0)
                if stationary and len(values) > TAIL + minimum_length(model, horizon):
                    row["cov"] = coverage(model, horizon, values, freq)
                scaled = fitted(model, horizon, values * 1000, freq).predict().yhat[:, 0] / 1000
                row["x1000"] = float(np.max(np.abs(scaled - yhat)) / scale)
                if values.min() > 0:
                    c = 10 * hist_max
                    shifted = fitted(model, horizon, values + c, freq).predict().yhat[:, 0] - c
                    row["+c"] = float(np.max(np.abs(shifted - yhat)) / scale)
                later = fitted(model, horizon, values, freq, "2024-03-02").predict().yhat[:, 0]
                row["+1d"] = float(np.max(np.abs(later - yhat)) / scale)
                row["cpu_s"] = time.process_time() - started
                rows.append(row)
    return rows


def short_survey(models, horizons, seed=0):
    """Each model at the shortest history it accepts, on a steady Poisson(100) series and a cycle of period 24."""
    rows = []
    for model in models:
        for horizon in horizons:
            n = minimum_length(model, horizon)
            rng = np.random.default_rng([seed, n])  # the same series for every model of that length
            for name, values, steady in (
                    ("short_poisson", _poisson(rng, np.full(n, 100.0)), True),
                    ("short_cycle", _poisson(rng, 100 + 80 * np.sin(2 * np.pi * np.arange(n) / 24)), False)):
                row = {"family": f"{name}[{n}]", "model": model, "H": horizon}
                try:
                    f = fitted(model, horizon, values, "1min").predict()
                except Exception as exc:
                    row["error"] = f"{type(exc).__name__}: {str(exc)[:80]}"
                    rows.append(row)
                    continue
                yhat, upper = f.yhat[:, 0], f.upper[:, 0]
                recent = float(np.median(values[-60:]))
                row["max/hist"] = float(yhat.max() / values.max())
                row["up/lvl"] = float(upper.min() / recent) if steady else None
                row["zero"] = bool(np.all(yhat == 0))
                row["0 steps"] = float(np.mean(yhat == 0))
                row["conf"] = float(f.confidence)
                rows.append(row)
    return rows


FLAGS = {
    "max/hist": lambda v: v > 10,
    "up/lvl": lambda v: v < 1,
    "zero": lambda v: v,
    "0 steps": lambda v: v > 0,
    "cov": lambda v: abs(v - LEVEL) > 0.15,
    "rough": lambda v: v > 1.5,
    "x1000": lambda v: v > TOL,
    "+c": lambda v: v > TOL,
    "+1d": lambda v: v > TOL,
    "wt": lambda v: v > 0.5,
}


def flags_of(row: dict) -> list[str]:
    out = [key for key, bad in FLAGS.items() if row.get(key) is not None and bad(row[key])]
    conf = row.get("conf")
    if conf is not None and row.get("oracle") is not None and conf > 1 - 0.5 * row["oracle"]:
        out.append("conf above noise")
    if conf is not None and row["family"] == "clean_cycle" and conf < 0.2:
        out.append("conf~0 on clean cycle")
    if "error" in row:
        out.append("error")
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--families", default=None)
    parser.add_argument("--horizons", default="1,60")
    args = parser.parse_args(argv)
    logging.disable(logging.WARNING)
    models = [m for m in args.models.split(",") if m in registry.names() or m == "ensemble"]
    horizons = [int(h) for h in args.horizons.split(",")]
    names = list(families()) if args.families is None else args.families.split(",")
    if args.quick:
        names = [n for n in names if n in ("daily_1min", "step_down", "burst_x3_30_ago", "cycle_step_down", "poisson_1")]
    started = time.process_time()
    rows = survey(models, horizons, names) + short_survey(models, horizons)
    table = pd.DataFrame(rows)
    table["flags"] = [", ".join(flags_of(r)) for r in rows]
    columns = [c for c in ("family", "model", "H", "max/hist", "up/lvl", "zero", "0 steps", "cov", "rough", "conf", "wt",
                           "x1000", "+c", "+1d", "error", "flags") if c in table]
    with pd.option_context("display.width", 250, "display.max_rows", 1000, "display.max_colwidth", 90):
        print(table[columns].to_string(index=False, float_format=lambda v: f"{v:.3g}", na_rep="-"))
        flagged = table[table["flags"] != ""]
        print(f"\n{len(flagged)} of {len(table)} rows flagged; {time.process_time() - started:.0f} s CPU")
        if len(flagged):
            print(flagged[["family", "model", "H", "flags"]].to_string(index=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
