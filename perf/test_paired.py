"""perf/paired.py: the baseline's code loads as a separate copy of the package, and the clock sees waits."""

import shutil
import sys
import time

import pytest

from perf import datasets, paired
from perf.harness import ROOT


@pytest.fixture(scope="module")
def committed_copy():
    if shutil.which("git") is None:
        pytest.skip("git is not available")
    try:
        folder = paired.extract("HEAD", ROOT)
    except RuntimeError as error:
        pytest.skip(str(error))
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def test_the_baseline_code_is_a_separate_copy(committed_copy):
    import workload_predictor as head

    base = paired.load(committed_copy, "HEAD")
    frame = datasets.generate(300, seed=1)
    with paired.active(base) as package:
        from workload_predictor import WorkloadPredictor

        forecast = WorkloadPredictor(model="dlinear", random_state=0).fit(frame, timestamp="timestamp",
                                                                          target="requests").predict(5)
        assert package is not head and WorkloadPredictor is not head.WorkloadPredictor
    assert len(forecast.to_frame()) == 5
    assert sys.modules["workload_predictor"] is head  # restored
    # Every module the fit and predict imported, lazily included, came from the copy: the package imports
    # itself relatively (an absolute import would have pulled the code under test into the baseline's).
    base_files = {name: getattr(module, "__file__", None) for name, module in base.modules.items()}
    assert "workload_predictor.models.dlinear" in base_files
    assert all(str(committed_copy) in str(path) for path in base_files.values() if path), base_files
    head_modules = {id(m) for name, m in sys.modules.items() if name.startswith("workload_predictor")}
    assert not head_modules & {id(m) for m in base.modules.values()}


def test_the_clock_sees_a_wait_and_not_a_busy_loop():
    waits = []
    for _ in range(3):  # the kernel over-counts an occasional queue delay on a loaded host (perf/paired.py)
        with paired.Clock() as waiting:
            time.sleep(0.05)
        waits.append(waiting.sample)
    with paired.Clock() as computing:
        start = time.thread_time()
        while time.thread_time() - start < 0.02:
            pass
    assert max(s.blocked for s in waits) >= 0.045 and max(s.cpu for s in waits) < 0.01, waits
    assert computing.sample.cpu >= 0.02 and computing.sample.blocked < 0.01, computing.sample
