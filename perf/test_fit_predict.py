"""fit on the 1000-point datasets and predict(10): pedantic, a fresh model each round, warm-up rounds,
torch threads pinned (``perf/budgets.toml`` [settings]). Also the confidence each model returns (reported), and the
other calls of a serving loop, each per call: DLinear's predict at another level, its health() (also with ``now``),
check_alerts() and a backtest, bucketize, and a model file's save and load (the command line's ``--model-file`` run
loads, updates and saves one every run)."""

import os
import tempfile
from pathlib import Path

import numpy as np
import pytest

from perf import harness
from perf.datasets import DATASETS
from perf.harness import MODELS

pytestmark = pytest.mark.paired  # also measured against the baseline's code (perf/conftest.py)


def _fit(frame):
    return lambda predictor: predictor.fit(frame, timestamp="timestamp", target="requests")


@pytest.mark.parametrize("dataset", DATASETS)
@pytest.mark.parametrize("model", MODELS)
def test_fit(perf, frames, model, dataset):
    from workload_predictor import WorkloadPredictor

    frame = harness.dataset_or_skip(frames, dataset)
    confidence = _fitted(frames, model, dataset).predict(10).confidence
    assert 0.0 <= confidence <= 1.0
    perf.time(
        "fit", model, _fit(frame),
        setup=lambda: ((WorkloadPredictor(model=model, random_state=0),), {}),
        rounds=int(harness.SETTINGS["fit_rounds"][model]),
        warmup_rounds=int(harness.SETTINGS["fit_warmup_rounds"][model]), calibration_runs=1 if model == "dlinear" else 5,
        extra={"dataset": dataset, "points": len(frame), "confidence": confidence},
    )


@pytest.mark.parametrize("dataset", DATASETS)
@pytest.mark.parametrize("model", MODELS)
def test_predict(perf, frames, model, dataset):
    harness.dataset_or_skip(frames, dataset)
    predictor = _fitted(frames, model, dataset)
    call = lambda: predictor.predict(10)  # noqa: E731
    forecast = perf.time("predict", model, call, rounds=int(harness.SETTINGS["predict_rounds"]), warmup_rounds=2,
                         calls=harness.calls_per_round(call), extra={"dataset": dataset})
    assert len(forecast.to_frame()) == 10


def _bare_dlinear_settling(frames):
    """A bare DLinear (``DLinear(horizon=10).fit(values)``, its own input-anomaly scan) on the synthetic series with one
    2**32 - 1 bucket (a counter wrap) 4 before its end: flagged, among its forecast's inputs, and the series came back
    from it, so its ``predict()`` settles it (reads it as its reference median), once per state. The baseline's code
    before 0.44.0 has no such settling (no ``_own_inputs``: it fails here, and the case is gated on stored figures)."""
    from workload_predictor.models import DLinear

    values = frames["synthetic"]["requests"].to_numpy(dtype=float, copy=True)
    values[-5] = 2.0**32 - 1
    model = DLinear(horizon=10).fit(values)
    assert not np.array_equal(model._own_inputs(), model.context_), "the bucket is not settled: the case times nothing"
    return model


@pytest.mark.parametrize("state", ["cached", "settled"])
def test_bare_predict(perf, frames, state):
    """``predict()`` of a bare DLinear whose inputs hold a burst to settle (:func:`_bare_dlinear_settling`). It settles
    them once per state and reads them back after (``base._OWN_INPUTS``): ``cached`` calls it again and again on one
    state (what a loop of forecasts between updates costs: the kept inputs read); ``settled`` calls it once on each of
    fresh shallow copies of the model made before the round (a new state, as after each update: the settling itself,
    which repeated calls on one state would time once in a round of hundreds)."""
    import copy

    model = _bare_dlinear_settling(frames)
    expected = copy.copy(model).predict()
    if state == "cached":
        call = lambda: model.predict()  # noqa: E731
        calls, setup, target = harness.calls_per_round(call), None, call
    else:
        # A fixed count (about 10 ms of calls): the baseline code's rounds make as many calls as this code's, each
        # taking one of its own copies, so both passes must make as many copies.
        calls = 250
        setup = lambda: ((iter([copy.copy(model) for _ in range(calls)]),), {})  # noqa: E731
        target = lambda models: next(models).predict()  # noqa: E731
    forecast = perf.time("bare_predict", "dlinear", target, setup=setup, rounds=12, warmup_rounds=1, calls=calls,
                         extra={"state": state})
    assert np.array_equal(forecast, expected), (forecast, expected)


def test_predict_at_level(perf, frames):
    """``predict(10, level=0.8)`` of DLinear (fitted at 0.9): the interval recalibrated at another coverage."""
    from workload_predictor import WorkloadPredictor

    frame = frames["synthetic"]
    predictor = WorkloadPredictor(random_state=0).fit(frame, timestamp="timestamp", target="requests")
    call = lambda: predictor.predict(10, level=0.8)  # noqa: E731
    forecast = perf.time("predict_level", "dlinear", call, rounds=12, warmup_rounds=1,
                         calls=harness.calls_per_round(call))
    assert forecast.level == 0.8


def test_health(perf, frames):
    """``health()`` of the DLinear predictor: every metric rated against its thresholds."""
    from workload_predictor import WorkloadPredictor

    frame = frames["synthetic"]
    predictor = WorkloadPredictor(random_state=0).fit(frame, timestamp="timestamp", target="requests")
    call = lambda: predictor.health()  # noqa: E731
    report = perf.time("health", "dlinear", call, rounds=12, warmup_rounds=1, calls=harness.calls_per_round(call))
    assert report["level"] in ("ok", "warning", "critical"), report["level"]


def test_health_now(perf, frames):
    """``health(now=...)`` of the DLinear predictor, as a monitor asks it every few seconds: with the time it is, so
    ``stale_buckets`` is measured too (two whole buckets missing: a warning). The baseline's code has no ``now``: the
    stored figures."""
    from workload_predictor import WorkloadPredictor

    frame = frames["synthetic"]
    predictor = WorkloadPredictor(random_state=0).fit(frame, timestamp="timestamp", target="requests")
    now = predictor.last_timestamp_ + 3 * predictor.freq_
    call = lambda: predictor.health(now=now)  # noqa: E731
    report = perf.time("health_now", "dlinear", call, rounds=12, warmup_rounds=1, calls=harness.calls_per_round(call))
    assert report["metrics"]["stale_buckets"]["level"] == "warning", report["metrics"]["stale_buckets"]


@pytest.fixture
def quiet_health_log():
    """The alerts' logger with a handler that drops its records, so that a case logs as a served process does (the
    records made and handled) without pytest keeping thousands of them."""
    import logging

    logger = logging.getLogger("workload_predictor.health")
    handler, propagate = logging.NullHandler(), logger.propagate
    logger.addHandler(handler)
    logger.propagate = False
    try:
        yield logger
    finally:
        logger.removeHandler(handler)
        logger.propagate = propagate


def test_check_alerts(perf, frames, quiet_health_log):
    """``check_alerts()`` of the DLinear predictor with an accuracy threshold it misses: the health report, then the
    critical alert made and logged (``workload_predictor.health``, ``ERROR``)."""
    from workload_predictor import WorkloadPredictor

    frame = frames["synthetic"]
    predictor = WorkloadPredictor(random_state=0).fit(frame, timestamp="timestamp", target="requests")
    thresholds = {"accuracy": (0.999, 0.998)}
    call = lambda: predictor.check_alerts(thresholds)  # noqa: E731
    alerts = perf.time("check_alerts", "dlinear", call, rounds=12, warmup_rounds=1,
                       calls=harness.calls_per_round(call))
    assert [alert["metric"] for alert in alerts] == ["accuracy"] and alerts[0]["level"] == "critical", alerts


def test_backtest(perf, frames):
    """``backtest`` of DLinear against the baselines on the synthetic series (the last quarter the test span, three
    refits, every bucket an origin): what ``evaluate`` runs, and a scheduled model check."""
    from workload_predictor.backtest import backtest

    frame = frames["synthetic"]
    call = lambda: backtest(frame, ["dlinear"], timestamp="timestamp", target="requests", verbose=False)  # noqa: E731
    table = perf.time("backtest", "dlinear", call, rounds=8, warmup_rounds=1)
    assert list(table["model"])[0] == "dlinear" and table["mae"].notna().all(), table


def test_bucketize(perf):
    """``bucketize`` of a chunk of a request log (the bundled Azure conv trace's first 2,000 requests, timestamps as
    strings; counts and token sums per 10 s), what an autoscaler does to each interval's requests before ``update``."""
    from workload_predictor import bucketize
    from workload_predictor.datasets import azure_llm_trace

    log = azure_llm_trace("conv").iloc[:2000]
    sums = {"input_tokens": "ContextTokens", "output_tokens": "GeneratedTokens"}
    call = lambda: bucketize(log, timestamp="TIMESTAMP", freq="10s", sums=sums)  # noqa: E731
    buckets = perf.time("bucketize", "-", call, rounds=12, warmup_rounds=1, calls=harness.calls_per_round(call))
    assert int(buckets["requests"].sum()) == len(log)


@pytest.fixture(scope="module")
def model_dir():
    """A directory in memory where the host has one (``/dev/shm``): ``save`` ends with an ``fsync`` of the file and of
    its directory, whose time on a shared disk is the disk's, not the library's; on tmpfs it is a no-op."""
    root = "/dev/shm" if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK) else None
    with tempfile.TemporaryDirectory(prefix="wp-perf-", dir=root) as directory:
        yield Path(directory)


_FITTED: dict = {}


def _fitted(frames, model, dataset="synthetic"):
    """A predictor fitted on a dataset, one per model, dataset and copy of the package (the baseline's code fits
    its own in a paired case's first pass): ``fit`` reads the confidence it returns, ``predict``, ``save`` and
    ``load`` time it, and none of them changes it, so the cases share it (an LSTM's or an ensemble's fit is most of
    their time outside the rounds)."""
    from workload_predictor import WorkloadPredictor

    key = (WorkloadPredictor, model, dataset)
    if key not in _FITTED:
        _FITTED[key] = WorkloadPredictor(model=model, random_state=0).fit(frames[dataset], timestamp="timestamp",
                                                                          target="requests")
    return _FITTED[key]


@pytest.mark.parametrize("model", ["dlinear", "ensemble"])
def test_save(perf, frames, model, model_dir):
    """``save`` of a fitted predictor to a model file (encoding, checksum, a temporary file renamed over the old)."""
    predictor = _fitted(frames, model)
    path = model_dir / f"{model}-{perf.phase}.wp"  # the baseline's code writes its own file
    call = lambda: predictor.save(path)  # noqa: E731
    perf.time("save", model, call, rounds=12, warmup_rounds=1, calls=harness.calls_per_round(call))
    assert path.stat().st_size > 0


@pytest.mark.parametrize("model", ["dlinear", "ensemble"])
def test_load(perf, frames, model, model_dir):
    """``WorkloadPredictor.load`` of a model file (the checks of every field before anything is built)."""
    from workload_predictor import WorkloadPredictor

    path = model_dir / f"{model}-{perf.phase}.wp"  # each code reads the file its own save wrote
    _fitted(frames, model).save(path)
    call = lambda: WorkloadPredictor.load(path)  # noqa: E731
    loaded = perf.time("load", model, call, rounds=12, warmup_rounds=1, calls=harness.calls_per_round(call))
    assert loaded.predict(10).to_frame().shape[0] == 10
