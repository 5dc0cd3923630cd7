"""max_training_time and memory_limit_mb: stop gracefully, raise before allocating, change nothing."""

from __future__ import annotations

import copy
import inspect
import json
import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from conftest import periodic_series
from workload_predictor import WorkloadDataError, WorkloadPredictor, _memory
from workload_predictor.errors import MemoryLimitError
from workload_predictor.models.registry import params_for


def test_production_defaults():
    defaults = {name: p.default for name, p in inspect.signature(WorkloadPredictor.__init__).parameters.items()}
    assert defaults["model"] == "dlinear"
    assert defaults["max_training_time"] == 300.0
    assert defaults["memory_limit_mb"] == 2048


def test_memory_limit_error_is_typed():
    assert issubclass(MemoryLimitError, WorkloadDataError)
    assert issubclass(MemoryLimitError, ValueError) and issubclass(MemoryLimitError, MemoryError)


@pytest.mark.parametrize("limit", [np.int64(64), np.float32(64.0), np.uint16(64)])
def test_a_numpy_memory_limit_is_a_number_of_mib(limit):
    """Before: np.int64(64) and np.float32(64) were refused as "not a positive, finite number" (np.float64 passed)."""
    fitted = WorkloadPredictor(model="naive", horizon=3, memory_limit_mb=limit).fit(periodic_series(200))
    assert np.isfinite(fitted.predict().yhat).all()


@pytest.mark.parametrize("limit", [True, np.bool_(True), 10**400, float("nan"), -1, "64"],
                         ids=["True", "np.True_", "10**400", "nan", "-1", "text"])
def test_a_memory_limit_that_is_no_positive_finite_number_is_refused(limit):
    with pytest.raises(MemoryLimitError, match="memory_limit_mb="):
        WorkloadPredictor(model="naive", horizon=3, memory_limit_mb=limit).fit(periodic_series(200))


# -- time --------------------------------------------------------------------------------------
def test_tiny_time_limit_stops_the_lstm_early_and_says_so():
    frame = periodic_series(500, noise=5.0)
    cut = WorkloadPredictor(model="lstm", horizon=5, random_state=0, model_params={"max_epochs": 50, "patience": 50},
                            max_training_time=1e-3).fit(frame)
    model = cut.model_
    assert model.stopped_by_ == "time_limit" and cut.training_cut_short_
    assert model.n_epochs_ <= 1 < 50  # stopped in or before the first epoch, not at max_epochs
    forecast = cut.predict()
    assert np.isfinite(forecast.yhat).all() and (forecast.lower <= forecast.upper).all()


def test_time_limit_is_checked_while_the_lstm_prepares_its_training_targets(monkeypatch):
    """The base forecasts behind the LSTM's targets (seconds at 1,000,000 points) stop at the deadline: here 50 ms
    chunks, a 0.15 s limit; the fit used to prepare every chunk (8 and more) before training ran 0 epochs."""
    import time

    from workload_predictor.models import DLinear, lstm

    monkeypatch.setattr(lstm, "CHUNK_ORIGINS", 50)
    original, chunks = DLinear._predict_at, []

    def slow(self, y, origins):
        if len(origins) == 50:  # a chunk of the LSTM's training targets
            chunks.append(len(origins))
            time.sleep(0.05)
        return original(self, y, origins)

    monkeypatch.setattr(DLinear, "_predict_at", slow)
    fitted = WorkloadPredictor(model="lstm", horizon=5, window=24, random_state=0,
                               max_training_time=0.15).fit(periodic_series(600, noise=5.0))
    assert fitted.model_.stopped_by_ == "time_limit" and fitted.model_.n_epochs_ == 0
    assert len(chunks) <= 5  # the time left after the base's fit (none on a busy machine), then one chunk more
    assert np.isfinite(fitted.predict().yhat).all()


def test_time_limit_is_recorded_for_an_ensemble_member():
    frame = periodic_series(500, noise=5.0)
    cut = WorkloadPredictor(model="ensemble", horizon=5, random_state=0,
                            model_params=params_for("ensemble", max_epochs=50, patience=50),
                            max_training_time=1e-3).fit(frame)
    assert cut.model_.members_["lstm"].stopped_by_ == "time_limit" and cut.training_cut_short_


def test_time_limit_is_checked_before_every_batch_not_only_between_epochs():
    """A limit of L s ends training at most one batch after L: no batch starts after the deadline."""
    import time

    import torch

    from workload_predictor.models.training import train_network

    starts: list[float] = []

    class SlowBatches(torch.nn.Module):  # every training batch takes >= 20 ms
        def __init__(self):
            super().__init__()
            self.linear = torch.nn.Linear(4, 2)

        def forward(self, x):
            if self.training:
                starts.append(time.perf_counter())
                time.sleep(0.02)
            return self.linear(x)

    x, y = torch.randn(2000, 4), torch.randn(2000, 2)
    limit, batch_size = 0.3, 8  # 250 batches per epoch: >= 5 s, so the old per-epoch check overran it 16-fold
    began = time.perf_counter()
    result = train_network(SlowBatches(), x, y, x[:50], y[:50], max_epochs=5, batch_size=batch_size,
                           learning_rate=1e-3, patience=5, generator=torch.Generator().manual_seed(0),
                           max_time=limit)
    late = [s for s in starts if s > began + limit + 0.02]  # 20 ms: one batch of slack for the call's own start
    assert late == [] and result.stopped_by == "time_limit"
    assert 0 < len(starts) < 2000 // batch_size and result.epochs_run == 1  # cut inside the first epoch


def test_default_time_limit_does_not_cut_a_normal_fit():
    fitted = WorkloadPredictor(model="lstm", horizon=5, random_state=0, model_params={"max_epochs": 3}).fit(periodic_series(400))
    assert fitted.model_.stopped_by_ != "time_limit" and not fitted.training_cut_short_


# -- memory ------------------------------------------------------------------------------------
@pytest.fixture
def fitted() -> WorkloadPredictor:
    return WorkloadPredictor(horizon=5).fit(periodic_series(400, noise=3.0))


def snapshot(predictor: WorkloadPredictor) -> dict:
    return {k: (v.copy() if isinstance(v, np.ndarray) else v) for k, v in vars(predictor).items()}


def assert_unchanged(predictor: WorkloadPredictor, before: dict, forecast: np.ndarray) -> None:
    after = vars(predictor)
    assert after.keys() == before.keys()
    for name, value in before.items():
        if isinstance(value, np.ndarray):
            np.testing.assert_array_equal(after[name], value)
        else:
            assert after[name] is value or after[name] == value, name
    np.testing.assert_array_equal(predictor.predict().yhat, forecast)


def fake_rss(monkeypatch, values):
    """Make psutil's RSS read ``values`` one after another (MiB), the last one forever; returns the calls."""
    calls = []

    def rss() -> float:
        calls.append(None)
        return values[min(len(calls), len(values)) - 1]

    monkeypatch.setattr(_memory, "rss_mb", rss)
    return calls


def test_growth_over_the_limit_raises_and_leaves_the_predictor_as_it_was(fitted, monkeypatch):
    before, forecast = snapshot(fitted), fitted.predict().yhat
    fake_rss(monkeypatch, [800.0, 800.0, 3000.0])  # the fit adds 2200 MiB after its first check
    with pytest.raises(MemoryLimitError, match="added 2200 MiB"):
        fitted.fit(periodic_series(600, noise=9.0))
    monkeypatch.undo()
    assert_unchanged(fitted, before, forecast)


def test_a_host_process_above_the_limit_can_still_fit(monkeypatch):
    """The limit bounds what the fit adds: a simulator holding 5 GB is no reason to refuse a 2 MB fit."""
    fake_rss(monkeypatch, [5000.0])
    predictor = WorkloadPredictor(horizon=5, memory_limit_mb=2048).fit(periodic_series(400))
    assert predictor.fit_peak_rss_mb_ == 5000.0


def test_unfitted_predictor_stays_unfitted_after_a_memory_error(monkeypatch):
    fake_rss(monkeypatch, [100.0, 5000.0])
    predictor = WorkloadPredictor(horizon=5)
    with pytest.raises(MemoryLimitError):
        predictor.fit(periodic_series(400))
    assert not hasattr(predictor, "model_")


def test_limit_crossed_between_lstm_epochs(monkeypatch):
    """RSS that grows by 10 MiB per check crosses the limit during training: raised there, nothing kept."""
    predictor = WorkloadPredictor(model="lstm", horizon=5, random_state=0, model_params={"max_epochs": 50, "patience": 50})
    predictor.fit(periodic_series(400, noise=3.0))
    before, forecast = snapshot(predictor), predictor.predict().yhat
    fake_rss(monkeypatch, [1000.0 + 10.0 * i for i in range(1000)])
    predictor.memory_limit_mb = 95.0
    # Raised at the first reading past the limit (growth 100 MiB), which falls between two epochs.
    with pytest.raises(MemoryLimitError, match=r"LSTM epoch \d+'.*added 100 MiB"):
        predictor.fit(periodic_series(400, noise=3.0))
    monkeypatch.undo()
    predictor.memory_limit_mb = before["memory_limit_mb"]
    assert_unchanged(predictor, before, forecast)


def long_series(n: int = 300_000) -> pd.DataFrame:
    return pd.DataFrame({"timestamp": pd.date_range("2024-01-01", periods=n, freq="1s"),
                         "requests": np.random.default_rng(0).poisson(20.0, n).astype(float)})


def test_large_window_allocation_is_refused_before_it_happens():
    """Window 3000: DLinear's lag tables (about 4 x 3000 x 3010 floats, ~290 MB) are refused up front, RSS does
    not grow by them."""
    frame = long_series()
    predictor = WorkloadPredictor(horizon=10, window=3000, memory_limit_mb=200)
    rss_before = _memory.rss_mb()
    with pytest.raises(MemoryLimitError, match="DLinear windows") as error:
        predictor.fit(frame)
    assert "about to allocate" in str(error.value)
    assert _memory.rss_mb() - rss_before < 150  # the lag tables were never allocated
    assert not hasattr(predictor, "model_")


def test_allocation_larger_than_available_memory_is_refused_even_without_a_limit(monkeypatch):
    import psutil

    class Machine:
        available = 100 * _memory.MB

    monkeypatch.setattr(psutil, "virtual_memory", lambda: Machine())
    with pytest.raises(MemoryLimitError, match="100 MiB available"):
        WorkloadPredictor(horizon=10, window=3000, memory_limit_mb=None).fit(long_series())


_FIT_MEMORY_CHILD = """
import gc, json, sys
import numpy as np, pandas as pd
from workload_predictor import WorkloadPredictor, _memory
from workload_predictor.models import dlinear

n = int(sys.argv[1])
frame = pd.DataFrame({"timestamp": pd.date_range("2026-01-01", periods=n, freq="10s", tz="UTC"),
                      "requests": np.random.default_rng(0).poisson(50, n).astype(float)})
guard = []
original = dlinear.check_memory

def recording(step, extra_bytes=0.0):
    guard.append(_memory.rss_mb() - _memory._current.get().start_mb + extra_bytes / 2**20)
    original(step, extra_bytes)

dlinear.check_memory = recording
predictor = WorkloadPredictor(model="dlinear", memory_limit_mb=None)
gc.collect()
def status(key):
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) / 1024 for line in f if line.startswith(key))
with open("/proc/self/clear_refs", "w") as f:
    f.write("5")
before = status("VmRSS:")
predictor.fit(frame)
print(json.dumps({"peak": status("VmHWM:") - before, "guard": max(guard)}))
"""


@pytest.mark.skipif(not os.path.exists("/proc/self/clear_refs"), reason="needs Linux's peak-RSS reset")
def test_the_dlinear_memory_guard_is_an_honest_upper_bound_of_the_fits_peak():
    """The guard (growth so far + the estimate of what comes) covers the measured peak RSS growth of a DLinear fit,
    and by less than 2x: it used to count the m x W window matrix the lag tables never build (25x over at
    1,000,000 buckets, which the default 2048 MiB limit nearly refused; 11.6x at 100,000)."""
    child = subprocess.run([sys.executable, "-c", _FIT_MEMORY_CHILD, "300000"], capture_output=True, text=True,
                           check=True, env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    figures = json.loads(child.stdout.strip().splitlines()[-1])
    assert figures["peak"] <= figures["guard"] <= 2 * figures["peak"], figures


def test_memory_error_during_update_changes_nothing(fitted, monkeypatch):
    before, forecast = snapshot(fitted), fitted.predict().yhat
    model_before = copy.deepcopy(fitted.model_)
    new = periodic_series(430, noise=3.0).iloc[400:]
    fake_rss(monkeypatch, [100.0, 9000.0])
    with pytest.raises(MemoryLimitError):
        fitted.update(new)
    monkeypatch.undo()
    assert_unchanged(fitted, before, forecast)
    np.testing.assert_array_equal(fitted.model_.stats_[0].xx, model_before.stats_[0].xx)


def test_update_refuses_a_gap_too_large_for_the_memory_limit(fitted):
    # 200 years of 1-minute buckets: 1.7 GB of zeros, over a limit of 500 MiB.
    far = pd.DataFrame({"timestamp": [fitted.last_timestamp_ + pd.Timedelta(days=365 * 200)], "requests": [1.0]})
    fitted.memory_limit_mb, fitted.max_gap = 500, None  # with the default max_gap it is an UpdateGapError
    with pytest.raises(MemoryLimitError, match="zero-filling"):
        fitted.update(far)


def test_peak_rss_is_recorded_without_a_limit():
    predictor = WorkloadPredictor(horizon=5, memory_limit_mb=None).fit(periodic_series(400))
    assert predictor.fit_peak_rss_mb_ > 0


@pytest.mark.parametrize("limit", [0, -5, "2GB", True, float("nan"), float("inf"), -float("inf"), np.float64("nan")])
def test_bad_memory_limit_is_a_typed_error(limit):
    with pytest.raises(WorkloadDataError, match="memory_limit_mb"):
        WorkloadPredictor(horizon=5, memory_limit_mb=limit).fit(periodic_series(400))


def test_rss_is_psutils_figure_and_follows_a_fork():
    import os

    import psutil

    _memory.rss_mb()  # the first call opens the fast reader
    ours, psutils = _memory.rss_mb(), psutil.Process().memory_info().rss / 2**20
    assert abs(ours - psutils) < 2.0
    if not hasattr(os, "fork"):
        pytest.skip("no fork on this platform")
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: 200 MiB that only it holds
        try:
            before = _memory.rss_mb()
            ballast = np.ones(200 * 2**17)
            figures = (before, _memory.rss_mb(), psutil.Process().memory_info().rss / 2**20, ballast[-1])
            os.write(write_end, " ".join(map(str, figures)).encode())
        finally:
            os._exit(0)
    os.close(write_end)
    parent_before = _memory.rss_mb()
    child_before, child_ours, child_psutils, _ = map(float, os.read(read_end, 400).split())
    os.waitpid(pid, 0)
    # The child sees its own 200 MiB (not the parent's figure, which a descriptor opened before the fork reads).
    assert abs(child_ours - child_psutils) < 2.0 and child_ours - child_before > 150
    assert abs(_memory.rss_mb() - parent_before) < 50


# -- the baselines' scoring of origins x horizon x targets ---------------------------------------------------
@pytest.mark.parametrize("model", ["exponential_smoothing", "moving_median"])
def test_the_baselines_fits_check_memory_before_each_chunk_of_scored_targets(model, monkeypatch):
    """The exponential smoothing and moving median fits gathered every scored origin's targets at once, unchecked:
    40,000 points, horizon 5000 reached 1,951 MB (and 549 MB) under memory_limit_mb=256. Each chunk is now at most
    SCORED_CHUNK_VALUES target values, and the limit is checked for it before it is gathered."""
    from workload_predictor.models import baselines, registry

    events = []
    real_check, real_targets = baselines.check_memory, baselines.targets_at

    def check(step, extra_bytes=0.0):
        events.append(("check", step, extra_bytes))
        real_check(step, extra_bytes)

    def targets(y, origins, horizon):
        out = real_targets(y, origins, horizon)
        events.append(("gather", out.nbytes))
        return out

    monkeypatch.setattr(baselines, "check_memory", check)
    monkeypatch.setattr(baselines, "targets_at", targets)
    y = np.random.default_rng(0).poisson(20.0, (3000, 2)).astype(float)
    registry.build(model, {"horizon": 600}).fit(y)  # one pass would gather about 2,000 x 600 x 2 values
    gathers = [i for i, event in enumerate(events) if event[0] == "gather"]
    assert len(gathers) > 1
    for i in gathers:
        assert events[i][1] <= 8 * baselines.SCORED_CHUNK_VALUES
        assert events[i - 1][0] == "check" and events[i - 1][2] >= events[i][1], events[i - 1]


@pytest.mark.parametrize("model, step", [("exponential_smoothing", "exponential smoothing factor"),
                                         ("moving_median", "moving median window")])
def test_a_baselines_scored_targets_over_the_limit_are_refused_before_they_are_gathered(model, step, monkeypatch):
    """RSS held still: only what the fit is about to allocate counts. A chunk of 600-step targets for 2 targets
    is over 4 MiB, so the fit stops at its first chunk and the predictor stays unfitted."""
    fake_rss(monkeypatch, [100.0])
    frame = periodic_series(3000, noise=3.0)
    frame["tokens"] = 3 * frame["requests"]
    predictor = WorkloadPredictor(model=model, horizon=600, memory_limit_mb=4)
    with pytest.raises(MemoryLimitError, match=f"at '{step}'.*about to allocate"):
        predictor.fit(frame)
    assert not hasattr(predictor, "model_")


def test_a_memory_limit_error_carries_what_the_call_would_have_held():
    """``needed_mib``: the growth so far plus the allocation about to be made, where the limit stopped the call (what a
    caller logs or compares with the limit it set); ``None`` where the machine's memory, not the limit, stopped it."""
    with _memory.memory_limit(50):
        with pytest.raises(MemoryLimitError) as caught:
            _memory.check_memory("a step", extra_bytes=80 * _memory.MB)
    assert 50 < caught.value.needed_mib < 80 + 50, caught.value.needed_mib  # over the limit, by what it was to add
    assert f"{caught.value.needed_mib - 80:.0f} MiB to the process plus 80 MiB" in str(caught.value)
    with pytest.raises(MemoryLimitError) as caught:  # outside a limit: more than any machine has available
        _memory.check_memory("a step", extra_bytes=2.0**60)
    assert caught.value.needed_mib is None and "available" in str(caught.value)
