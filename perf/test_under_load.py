"""Under load: fit and predict(10) for each model while another process keeps one core busy (the library runs
inside simulators and autoscalers that are busy themselves). torch keeps its default thread count here, as
a user's process would; the same budgets must hold within 2x ([under_load] factor), on the wall median
times the CPU share the calibration got (1 when only our busy process competes: it holds one core of two).
An oversubscribed BLAS or torch thread pool makes small kernels up to 100x slower on 2 cores: this case
catches it. Paired, the cases are also gated against the baseline's code in alternating rounds under the
same load: a slow-down that shows only beside a busy core (a thread pool waiting for its preempted workers)
would otherwise stay within those 2x budgets, which have 3-9x headroom."""

import subprocess
import sys
import time

import pytest

from perf import harness
from perf.harness import MODELS


@pytest.fixture
def busy_core(pinned_threads):
    import torch

    spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    time.sleep(0.3)  # let it reach the scheduler
    torch.set_num_threads(pinned_threads)  # torch's default for this machine, as a user gets it
    try:
        yield spinner
    finally:
        spinner.kill()
        spinner.wait()
        harness.pin_threads()


@pytest.mark.paired
@pytest.mark.parametrize("phase", ["fit", "predict"])
@pytest.mark.parametrize("model", MODELS)
def test_under_load(perf, frames, busy_core, model, phase):
    from workload_predictor import WorkloadPredictor

    frame = frames["synthetic"]
    factor = float(harness.BUDGETS["under_load"]["factor"])
    assert busy_core.poll() is None, "the busy process died"
    if phase == "fit":
        perf.time("under_load_fit", model, lambda p: p.fit(frame, timestamp="timestamp", target="requests"),
                  setup=lambda: ((WorkloadPredictor(model=model, random_state=0),), {}),
                  rounds=int(harness.SETTINGS["fit_rounds"][model]) // 2 + 1, warmup_rounds=1, gate=True,
                  budget_kind="fit", budget_factor=factor, calibration_runs=1 if model == "dlinear" else 5,
                  budget_on="wall")
    else:
        predictor = WorkloadPredictor(model=model, random_state=0).fit(frame, timestamp="timestamp", target="requests")
        call = lambda: predictor.predict(10)  # noqa: E731
        perf.time("under_load_predict", model, call, rounds=30, warmup_rounds=2, calls=harness.calls_per_round(call),
                  gate=True, budget_kind="predict", budget_factor=factor, budget_on="wall")
    assert busy_core.poll() is None, "the busy process died during the measurement"
