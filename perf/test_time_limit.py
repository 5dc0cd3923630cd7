"""max_training_time: how far past its limit a whole fit ends, on 1,000,000 one-second buckets.

``WorkloadPredictor(max_training_time=L).fit`` is one deadline from the moment ``fit``
starts (the timestamp door included). The figure is the fit's wall time over ``L``,
the median of 3 fits, for the LSTM and the ensemble at ``L`` = 0.5 s and 1 s, on Poisson
counts, and for DLinear and the ensemble at ``L`` = 0.5 s on a sparse bursty series (95 %
empty buckets; of the rest, 60 % hold one request, a health check, and 40 % a lognormal burst:
the typical non-empty bucket is 1, so about two bursts in three, 12,705, are flagged by the
input-anomaly scan, whose second look and DLinear's weighted windows are the slow passes
there); the budget
(``time_limit_ratio``) is 1.1: the fit ends within ``L + 10 %``. The clock a
deadline reads is the wall clock, so this case is judged on wall time, and a run over
budget is measured again (``confirm_reruns``) before it fails. Torch is imported
before the timing, as a long-running service has it imported; the model's own first
build is timed.
"""

import time

import numpy as np
import pandas as pd
import pytest

from perf.harness import BUDGETS, median

N_POINTS = 1_000_000
LIMITS_S = (0.5, 1.0)
FITS = 3
SPARSE_EMPTY = 0.95  # the sparse series' share of empty buckets
SPARSE_SINGLE = 0.6  # the share of its other buckets holding one request
SPARSE_LIMIT_S = 0.5
#: Fits that miss the budget on this project's 2-core hosts, recorded as expected failures with their figure while
#: under the gate's regression threshold (``time_ratio``, 1.5x), failing over it; a fit within the budget passes. None
#: at present: the ensemble's fit of the sparse series, whose work it cannot cut (the timestamp door, the input-anomaly
#: scan of the 1,000,000 buckets, every member's smallest fit, the combination) is the closest to L, read 0.89x and
#: 0.95x in quiet full runs of 0.29.0 and 0.94-1.04x under a neighbour's load, within the 1.1 budget.
KNOWN_MISS: dict[str, str] = {}


@pytest.fixture(scope="module")
def long_frame():
    rng = np.random.default_rng(0)
    t = np.arange(N_POINTS)
    y = rng.poisson(50 + 20 * np.sin(2 * np.pi * t / 360)).astype(float)
    return pd.DataFrame({"timestamp": pd.date_range("2024-01-01", periods=N_POINTS, freq="1s"), "requests": y})


@pytest.fixture(scope="module")
def sparse_frame():
    rng = np.random.default_rng(0)
    burst = np.where(rng.random(N_POINTS) < SPARSE_SINGLE, 1.0, rng.lognormal(3.0, 1.0, N_POINTS).round())
    y = np.where(rng.random(N_POINTS) < SPARSE_EMPTY, 0.0, burst)
    return pd.DataFrame({"timestamp": pd.date_range("2024-01-01", periods=N_POINTS, freq="1s"), "requests": y})


@pytest.mark.parametrize("limit", LIMITS_S)
@pytest.mark.parametrize("model", ["lstm", "ensemble"])
def test_fit_ends_within_its_time_limit(perf, long_frame, model, limit):
    limited_fit(perf, long_frame, model, model, limit)


@pytest.mark.parametrize("model", ["dlinear", "ensemble"])
def test_fit_on_a_sparse_series_ends_within_its_time_limit(perf, sparse_frame, model):
    limited_fit(perf, sparse_frame, model, f"{model}_sparse", SPARSE_LIMIT_S)


def limited_fit(perf, frame, model, label, limit):
    """Record ``label``'s figure: the median wall time of ``FITS`` fits of ``model`` on ``frame`` over ``limit``."""
    import torch  # noqa: F401  (imported before timing: a service has it imported)

    from workload_predictor import WorkloadPredictor

    def one_fit(seconds, stages):
        predictor = WorkloadPredictor(model=model, random_state=0, max_training_time=limit, memory_limit_mb=None)
        started = time.perf_counter()
        predictor.fit(frame, timestamp="timestamp", target="requests")
        seconds.append(time.perf_counter() - started)
        stages.append(predictor.time_limited_stages_)

    def measure(attempt):
        seconds, stages = [], []
        if attempt == 0:
            perf.benchmark.pedantic(one_fit, args=(seconds, stages), rounds=FITS, iterations=1)
        else:  # a confirmation (the fixture benchmarks once per test)
            for _ in range(FITS):
                one_fit(seconds, stages)
        # The limit must bind at this size: a fit that ends early because nothing was cut measures nothing.
        assert all(stages), f"{model} fit of {N_POINTS:,} points under {limit} s cut no stage: {seconds}"
        return median(seconds) / limit, {"limit_s": limit, "seconds": [round(s, 3) for s in seconds],
                                         "stages": list(stages[-1])}

    known = KNOWN_MISS.get(label)
    figure = perf.confirmed_figure("time_limit", label, measure, "x", budget_kind=None if known else "time_limit")
    if known:
        budget, regression = BUDGETS["target"]["time_limit_ratio"][label], BUDGETS["gate"]["time_ratio"]
        assert figure <= regression, (
            f"REGRESSION: {label} fit under max_training_time={limit:g} s ended at {figure:.3f} x the limit, over "
            f"the gate's {regression:g}x (its budget is {budget:g}x, a known miss up to that)")
        if figure > budget:
            pytest.xfail(f"target missed (known): {label} fit under max_training_time={limit:g} s ended at "
                         f"{figure:.3f} x the limit > {budget:g}: {known} (perf/test_time_limit.py, KNOWN_MISS)")
