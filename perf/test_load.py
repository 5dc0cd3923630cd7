"""Load, as in the old report's load test: 10 concurrent users each doing fit + predict(5), and a burst of
1,000 predict(10) calls from 10 threads on one fitted model. Reported: throughput and p99 latency.
Checked: every result is correct (no exception, and each forecast equals the one computed alone, so
no shared state was corrupted: equal to 1e-9 relative, as BLAS may sum in another order in another thread),
and each latency, times the CPU share the process got, stays under the old report's ceilings."""

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from perf.harness import MODELS

USERS = 10
BURST = 1_000


def _same(a, b) -> bool:
    return a.shape == b.shape and bool(np.allclose(a, b, rtol=1e-9, atol=1e-9))


def _timed(call):
    import time

    start = time.perf_counter()
    result = call()
    return result, time.perf_counter() - start


@pytest.mark.parametrize("model", MODELS)
def test_load_users(perf, frames, model):
    from workload_predictor import WorkloadPredictor

    frame = frames["synthetic"]

    def user(_):
        return _timed(lambda: WorkloadPredictor(model=model, random_state=0)
                      .fit(frame, timestamp="timestamp", target="requests").predict(5))

    expected = user(0)[0].yhat
    results = []

    def all_users():
        with ThreadPoolExecutor(USERS) as pool:
            results.extend(pool.map(user, range(USERS)))

    share = perf.once("load", all_users)
    latencies = np.array([seconds for _, seconds in results])
    wrong = [i for i, (forecast, _) in enumerate(results) if not _same(forecast.yhat, expected)]
    assert len(results) == USERS and not wrong, f"users {wrong} got a forecast that differs from the one fitted alone"
    wall = float(perf.benchmark.stats.stats.median)
    perf.figure("load_users", model, float(latencies.max()), "s", budget_kind="fit_ceiling", cpu_share=share,
                extra={"users": USERS, "throughput_per_s": USERS / wall, "p99_s": float(np.quantile(latencies, 0.99)),
                       "median_s": float(np.median(latencies))})


@pytest.mark.parametrize("model", MODELS)
def test_load_burst(perf, frames, model):
    from workload_predictor import WorkloadPredictor

    predictor = WorkloadPredictor(model=model, random_state=0).fit(frames["synthetic"], timestamp="timestamp",
                                                                  target="requests")
    expected = predictor.predict(10)
    results = []

    def burst():
        with ThreadPoolExecutor(USERS) as pool:
            results.extend(pool.map(lambda _: _timed(lambda: predictor.predict(10)), range(BURST)))

    share = perf.once("load", burst)
    wrong = [i for i, (forecast, _) in enumerate(results)
             if not (_same(forecast.yhat, expected.yhat) and _same(forecast.upper, expected.upper)
                     and forecast.index.equals(expected.index))]
    assert len(results) == BURST and not wrong, f"{len(wrong)} of {BURST} concurrent predicts differ from the reference"
    latencies = np.array([seconds for _, seconds in results])
    wall = float(perf.benchmark.stats.stats.median)
    p99 = float(np.quantile(latencies, 0.99))
    perf.figure("load_burst_p99", model, p99, "s", budget_kind="predict_ceiling", cpu_share=share,
                extra={"calls": BURST, "threads": USERS, "throughput_per_s": BURST / wall,
                       "median_s": float(np.median(latencies))})
