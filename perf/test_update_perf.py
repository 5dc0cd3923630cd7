"""update: incremental updates (issue 5), against a full fit, and their accuracy after 10 updates.

* ``update[dlinear]``: ``model.update(one bucket)`` on the DLinear fitted to the 1000-point
  synthetic series (the new window's statistics added, a rank-one step on each kept ridge inverse).
  Budget: <= 1 ms. ``update_predictor[dlinear]`` is ``predictor.update(one-row frame)``, what an
  autoscaler calls: the timestamp door, the model update and the recalibration. Budget: <= 1 ms.
* ``update_flagged[bare|predictor-burst|counter]``: the same one-bucket updates (``model.update`` of a bare
  ``DLinear(horizon=10).fit(values)``, ``predictor.update``) where the windows hold a flagged bucket (the synthetic
  series with a 2**32 - 1 bucket 4 before its end, or its newest buckets exported as a counter): the scan, weights,
  settling and judging a clean update skips. No budget; gated against the baseline's code like the others.
* ``update_share[lstm|ensemble]``: ``predictor.update`` with 10 new buckets (the LSTM warm-starts
  for at most 10 epochs on its newest windows) over a full ``fit`` of the same predictor, the two
  alternated in the same run, both in CPU time of the calling thread (as the suite budgets time).
  Budget: LSTM <= 0.2.
* ``update_ratio[ensemble]``: one-bucket ``model.update`` of the ensemble over DLinear's, alternated in the same
  run. Budget: <= 30.
* ``update_accuracy[...]``: fit on the first 700 points, apply 10 updates of 10 buckets, then the
  rolling-origin MAE (horizon 10, origins 800 .. 990, no further updates) over the MAE of a predictor
  refitted on all 800 points. Budget: <= 1.05. A refit re-runs DLinear's window search while an
  update keeps the first fit's windows (a blend of the best three, which moves less than a single
  winner: 1.089 with one window, 1.046 with the blend), so the same backtest on 12 more series drawn
  like ``synthetic`` is reported with it (``extra_info``: ratios, median, how many within 5 %) in the runs that
  save figures (``--benchmark-save``: a baseline, a pull request's base): seeded, it reads the same on any
  machine (seed 0's ratios here on an AMD host equal the stored ones from an Intel host to 4 digits), it is
  budgeted nowhere, and it costs 12 fits, 10 updates and 12 refits of each model (~30 s CPU of a CI run).
"""

import copy
import time

import numpy as np
import pytest

from perf import datasets, harness
from perf.harness import median

ACCURACY_SEEDS = range(12)


def _fitted(frame, model):
    from workload_predictor import WorkloadPredictor

    return WorkloadPredictor(model=model, random_state=0).fit(frame, timestamp="timestamp", target="requests")


@pytest.mark.paired
def test_update(perf, frames):
    model = _fitted(frames["synthetic"], "dlinear").model_
    bucket = frames["synthetic"]["requests"].to_numpy(dtype=float)[-1:, None]
    call = lambda: model.update(bucket)  # noqa: E731 - each call appends one bucket; the cost does not grow
    calls = harness.calls_per_round(call)
    perf.time("update", "dlinear", call, rounds=30, warmup_rounds=3, calls=calls, extra={"window": model.window_})


@pytest.mark.paired
def test_update_predictor(perf, frames):
    import pandas as pd

    frame = frames["synthetic"]
    predictor = _fitted(frame, "dlinear")
    step, values = predictor.freq_, frame["requests"].to_numpy()
    rows = iter([pd.DataFrame({"timestamp": [predictor.last_timestamp_ + (k + 1) * step], "requests": [values[k % 1000]]})
                 for k in range(5000)])
    call = lambda: predictor.update(next(rows))  # noqa: E731 - every call continues the series by one bucket
    calls = min(harness.calls_per_round(call), 100)
    perf.time("update_predictor", "dlinear", call, rounds=30, warmup_rounds=2, calls=calls)


FLAGGED_CALLS = 10  # one-bucket updates a round, each round on a fresh copy: all within the flagged stretch


def _flagged_values(frames, data: str) -> np.ndarray:
    """The synthetic series with a flagged bucket in every window the next ~110 updates complete: one 2**32 - 1
    bucket (a counter wrap) 4 before its end (``burst``), or its newest 30 buckets but 2 exported as a counter, their
    running sum (``counter``: flagged from its 5th bucket), as ``benchmarks/hot_paths.py`` makes them."""
    values = frames["synthetic"]["requests"].to_numpy(dtype=float, copy=True)
    if data == "burst":
        values[-5] = 2.0**32 - 1
    else:
        values[-32:-2] = np.cumsum(values[-32:-2])
    return values


@pytest.mark.paired
@pytest.mark.parametrize("data", ["burst", "counter"])
@pytest.mark.parametrize("caller", ["bare", "predictor"])
def test_update_flagged(perf, frames, caller, data):
    """One-bucket updates of DLinear whose windows hold a flagged bucket (what ``update[dlinear]`` and
    ``update_predictor[dlinear]``, on a clean series, never reach): the new bucket's scan (``anomaly.update_scan``),
    the points' weights (``element_weights``), the counter's starts, the new window settled and weighed, its
    residuals judged with the others (``_judge_windows``), the bursts' leads. ``bare``: ``model.update(bucket)`` of
    ``DLinear(horizon=10).fit(values)`` (its own scan); ``predictor``: ``predictor.update(one-row frame)`` of a DLinear
    ``WorkloadPredictor``. Each round updates a fresh deep copy of the fitted object (made in the round's setup,
    untimed) ``FLAGGED_CALLS`` times with the series' continuation, so every round times the same stretch of updates.
    No budget: gated against the baseline's code; a code whose updates do not weigh the flagged bucket fails the
    check below, and the case is paired with ``later_base``'s instead (the stored baseline's, 2ebc42b, weighs it)."""
    import copy

    import pandas as pd

    from workload_predictor import WorkloadPredictor
    from workload_predictor.models import DLinear

    values = _flagged_values(frames, data)
    more = datasets.generate(2000, seed=datasets.SEED)["requests"].to_numpy(dtype=float)[1000 : 1000 + FLAGGED_CALLS]
    if caller == "bare":
        fitted = DLinear(horizon=10).fit(values)
        rows = [more[k : k + 1, None] for k in range(FLAGGED_CALLS)]
    else:
        fitted = WorkloadPredictor(model="dlinear", random_state=0).fit(
            frames["synthetic"].assign(requests=values), timestamp="timestamp", target="requests")
        step = fitted.freq_
        rows = [pd.DataFrame({"timestamp": [fitted.last_timestamp_ + (k + 1) * step], "requests": [more[k]]})
                for k in range(FLAGGED_CALLS)]
    updated = perf.time("update_flagged", "dlinear", lambda twin, new: twin.update(next(new)),
                        setup=lambda: ((copy.deepcopy(fitted), iter(rows)), {}), rounds=20, warmup_rounds=1,
                        calls=FLAGGED_CALLS, extra={"caller": caller, "data": data})
    model = updated if caller == "bare" else updated.model_
    # DLinear keeps its newest points' weights only where one of them is flagged: the updates weighed it.
    assert getattr(model, "recent_weights_", None) is not None, "no flagged bucket weighed: the case times nothing"


@pytest.mark.paired
def test_update_ensemble(perf, frames):
    """``model.update(one bucket)`` of the ensemble on its own, so that a slow-down of it is gated as it is (the
    ratio to DLinear's, ``update_ratio``, moves only against its budget). Ten calls a round: every round trains
    the LSTM member's network once (once per 10 buckets), as every round of the baseline's code does."""
    model = _fitted(frames["synthetic"], "ensemble").model_
    more = datasets.generate(2000, seed=datasets.SEED)["requests"].to_numpy(dtype=float)[1000:, None]
    arrived = iter(range(10**9))

    def call():
        k = next(arrived) % len(more)
        return model.update(more[k : k + 1])

    perf.time("update", "ensemble", call, rounds=20, warmup_rounds=2, calls=10)


@pytest.mark.paired
@pytest.mark.parametrize("model", ["lstm", "ensemble"])
def test_update_predictor_10_buckets(perf, frames, model):
    """``predictor.update`` of 10 buckets (the LSTM trains up to 10 warm-started epochs), each round on a copy of
    one fitted predictor: gated as it is (``update_share`` divides it by a fit, which a slow-down of both would
    not move)."""
    frame = frames["synthetic"]
    start, new = frame.iloc[:-10], frame.iloc[-10:]
    fitted = _fitted(start, model)
    perf.time("update_predictor", model, lambda predictor: predictor.update(new, timestamp="timestamp"),
              setup=lambda: ((copy.deepcopy(fitted),), {}), rounds=int(harness.SETTINGS["fit_rounds"][model]) + 3,
              warmup_rounds=1)


def test_update_ratio(perf, frames):
    """``update_ratio[ensemble]``: one-bucket ``model.update`` of the ensemble over DLinear's, both fitted on the
    synthetic series and updated alternately with the same buckets (the series continued by another draw), so
    the ratio holds on any machine. Medians over 400 buckets, after 20 unmeasured ones; the LSTM member's network
    trains on one bucket in ten, which the median does not see: ``extra`` gives the means too."""
    from statistics import mean

    frame = frames["synthetic"]
    ensemble, dlinear = _fitted(frame, "ensemble").model_, _fitted(frame, "dlinear").model_
    more = datasets.generate(2000, seed=datasets.SEED)["requests"].to_numpy(dtype=float)[1000:, None]
    times = {"ensemble": [], "dlinear": []}

    def measure():
        for k in range(420):
            for name, model in (("dlinear", dlinear), ("ensemble", ensemble)):
                start = time.perf_counter()
                model.update(more[k : k + 1])
                if k >= 20:
                    times[name].append(time.perf_counter() - start)

    perf.benchmark.group = "update_ratio"
    perf.benchmark.pedantic(measure, rounds=1, iterations=1)
    ratio = median(times["ensemble"]) / median(times["dlinear"])
    perf.figure("update_ratio", "ensemble", ratio, "x", budget_kind="update_ratio",
                extra={"ensemble_median_ms": median(times["ensemble"]) * 1e3,
                       "dlinear_median_ms": median(times["dlinear"]) * 1e3,
                       "ensemble_mean_ms": mean(times["ensemble"]) * 1e3, "dlinear_mean_ms": mean(times["dlinear"]) * 1e3})


@pytest.mark.parametrize("model", ["lstm", "ensemble"])
def test_update_share(perf, frames, model):
    from workload_predictor import WorkloadPredictor

    frame = frames["synthetic"]
    start, new = frame.iloc[:-10], frame.iloc[-10:]
    fitted = _fitted(start, model)
    pairs = []

    def cpu_seconds(operation) -> float:  # CPU time of this thread, as the suite budgets time
        start = time.thread_time()
        operation()
        return time.thread_time() - start

    def one_pair():
        twin = copy.deepcopy(fitted)
        update = cpu_seconds(lambda: twin.update(new, timestamp="timestamp"))
        fit = cpu_seconds(lambda: WorkloadPredictor(model=model, random_state=0).fit(
            start, timestamp="timestamp", target="requests"))
        pairs.append((update, fit, twin.model_))

    perf.benchmark.group = "update_share"
    perf.benchmark.pedantic(one_pair, rounds=int(harness.SETTINGS["fit_rounds"][model]), warmup_rounds=1, iterations=1)
    share = median(u for u, _, _ in pairs) / median(f for _, f, _ in pairs)
    lstm = pairs[-1][2] if model == "lstm" else pairs[-1][2].members_["lstm"]
    perf.figure("update_share", model, share, "x", budget_kind="update_share",
                extra={"update_cpu_s": median(u for u, _, _ in pairs), "fit_cpu_s": median(f for _, f, _ in pairs),
                       "update_epochs": lstm.update_training_.epochs_run, "fit_epochs": lstm.n_epochs_})


def _after_updates_over_refit(frame, model) -> float:
    y = frame["requests"].to_numpy(dtype=float)[:, None]
    updated = _fitted(frame.iloc[:700], model)
    for first in range(700, 800, 10):
        updated.update(frame.iloc[first : first + 10], timestamp="timestamp")
    refit = _fitted(frame.iloc[:800], model)
    origins = np.arange(800, len(y) - 10 + 1)
    actual = y[origins[:, None] + np.arange(10)]
    mae = [float(np.abs(np.clip(p.model_.predict_at(y, origins), 0, None) - actual).mean()) for p in (updated, refit)]
    return mae[0] / mae[1]


def _saving(config) -> bool:
    """Whether this run saves its figures (``--benchmark-save`` or ``--benchmark-autosave``)."""
    session = getattr(config, "_benchmarksession", None)
    return bool(session is not None and (session.save or session.autosave))


@pytest.mark.parametrize("model", ["dlinear", "lstm", "ensemble"])
def test_update_accuracy(perf, frames, model):
    ratio = []
    perf.once("update_accuracy", lambda: ratio.append(_after_updates_over_refit(frames["synthetic"], model)))
    extra = {"other_series": "measured in runs that save figures (--benchmark-save)"}
    if _saving(perf.request.config):
        spread = [_after_updates_over_refit(datasets.generate(1000, seed=seed), model) for seed in ACCURACY_SEEDS]
        limit = float(harness.BUDGETS["target"]["update_accuracy_ratio"][model])
        extra = {"other_series_ratios": [round(r, 4) for r in spread], "other_series_median": median(spread),
                 "other_series_within_budget": f"{sum(r <= limit for r in spread)}/{len(spread)}"}
    perf.figure("update_accuracy", model, ratio[0], "x", budget_kind="update_accuracy", extra=extra)
