"""The torch paths' promises to the process around them: its generators, its memory limit, its time limit."""

from __future__ import annotations

import time

import numpy as np
import pytest
import torch

from workload_predictor.models import lstm as lstm_module
from workload_predictor.models.global_lstm import GlobalLSTM
from workload_predictor.models.lstm import LSTM


def series(n: int, seed: int = 0) -> np.ndarray:
    t = np.arange(n)
    return 50 + 10 * np.sin(2 * np.pi * t / 24) + np.random.default_rng(seed).normal(0, 2, n)


@pytest.mark.parametrize("max_epochs", [np.uint64(2**64 - 1), np.int64(2**63 - 1)], ids=["uint64 top", "int64 top"])
@pytest.mark.parametrize("make", [lambda y, **kw: LSTM(**kw).fit(y), lambda y, **kw: GlobalLSTM(**kw).fit([y])],
                         ids=["lstm", "global_lstm"])
def test_a_numpy_max_epochs_at_its_dtypes_top_trains_until_patience_stops_it(make, max_epochs):
    """A positive numpy integer is a valid setting; at its dtype's largest value the epoch count's end (one more)
    wrapped round to 0 or below, and the fit kept the initial weights without one epoch (a RuntimeWarning only)."""
    model = make(series(300), horizon=3, window=24, hidden_size=8, max_epochs=max_epochs, patience=1, random_state=0)
    assert model.training_.epochs_run >= 1 and model.training_.stopped_by == "patience"


@pytest.mark.parametrize("fit", [
    lambda y: LSTM(horizon=6, window=48, hidden_size=8, max_epochs=2, random_state=7).fit(y).predict(),
    lambda y: GlobalLSTM(horizon=6, window=48, hidden_size=8, max_epochs=2, random_state=7).fit([y]).predict()[0],
], ids=["lstm", "global_lstm"])
def test_a_seeded_fit_reseeds_no_devices_generator_and_forecasts_the_same(fit, monkeypatch):
    """``random_state`` seeds the network's initial weights through the CPU generator, restored afterwards; the
    generators of CUDA (and MPS, XPU) devices are the caller's: torch.manual_seed would reseed all of them, and on
    a GPU machine every fit reset the user's CUDA random stream to the fit's seed."""
    reseeded = []
    for module, name in ((torch.cuda, "manual_seed_all"), (torch.mps, "manual_seed"),
                         (getattr(torch, "xpu", None), "manual_seed_all")):  # torch.xpu: torch 2.3 and later
        if module is not None:
            monkeypatch.setattr(module, name, lambda seed, name=name: reseeded.append((name, seed)))
    y = series(400)
    cpu_state = torch.get_rng_state()
    first = fit(y)
    assert reseeded == []
    assert torch.equal(torch.get_rng_state(), cpu_state)
    np.testing.assert_array_equal(fit(y), first)


def test_an_lstm_update_forecasts_its_windows_a_chunk_at_a_time_within_its_memory_estimate():
    """The validation roll of an update forecasts every window the new points complete; all at once, the network's
    activations of 100,000 windows were 3 GB at hidden_size=256, against an estimate of 66 MiB. The forward passes
    now take at most PREDICT_CHUNK windows, and ``update_bytes`` (checked against ``memory_limit_mb`` before the
    update allocates) covers at least the LSTM's output for the largest of them."""
    y = series(400 + 20_000)
    model = LSTM(horizon=6, window=48, hidden_size=64, max_epochs=1, linear_base=False, random_state=0).fit(y[:400])
    batches = []
    model.network_.register_forward_hook(lambda module, args, output: batches.append(len(args[0])))
    n_new = len(y) - 400
    estimate = model.update_bytes(n_new)
    model.update(y[400:])
    largest = max(batches)
    assert largest <= getattr(lstm_module, "PREDICT_CHUNK", 8192)
    n_patches = model.window_ // model.patch_size_
    assert estimate >= 4.0 * largest * n_patches * model.hidden_size  # nn.LSTM's float32 output alone


def test_the_lstm_forecasts_the_same_in_chunks(monkeypatch):
    y = series(1000)
    model = LSTM(horizon=6, window=48, hidden_size=8, max_epochs=1, linear_base=False, random_state=0).fit(y[:600])
    origins = np.arange(600, 1000)
    whole = model.predict_at(y, origins)
    monkeypatch.setattr(lstm_module, "PREDICT_CHUNK", 64, raising=False)
    np.testing.assert_allclose(model.predict_at(y, origins), whole, rtol=1e-6, atol=1e-9)


def test_distributed_training_counts_the_processes_start_against_the_time_limit(monkeypatch):
    """Spawning the training processes (each imports torch) took 8 s here; the ranks timed the limit from their
    own start, so ``max_training_time=1`` trained until 9.5 s after the fit began. The limit is now a wall-clock
    instant every rank reads. Here one in-process rank stands in for the spawned ones, after a start-up of 1 s
    against a limit of 0.5 s: nothing is left for training, which keeps the initial weights."""
    import torch.multiprocessing as mp

    from workload_predictor.models import distributed, global_lstm

    def spawn(fn, args, nprocs, join):  # one rank of a group of one, in this process, after a slow start-up
        time.sleep(1.0)
        threads = torch.get_num_threads()
        try:
            fn(0, 1, *args[1:])
        finally:
            torch.set_num_threads(threads)

    monkeypatch.setattr(mp, "spawn", spawn)
    monkeypatch.setattr(global_lstm.os, "cpu_count", lambda: 2)
    # The ranks' reading of the limit, tested below the time a real spawn takes (which trains in this process).
    monkeypatch.setattr(distributed, "SPAWN_SECONDS", 0.0)
    y = series(600)
    model = GlobalLSTM(horizon=6, window=48, hidden_size=8, max_epochs=1000, patience=1000, random_state=0,
                       distributed=2, max_training_time=0.5).fit([y, 2 * y])
    assert model.stopped_by_ == "time_limit"
    assert model.training_.epochs_run == 0


def test_distributed_training_ends_by_the_deadline_of_a_fit_around_it(monkeypatch):
    """The spawned ranks read only the model's own max_training_time: a fleet's deadline (counted from its door)
    around a GlobalLSTM(distributed=2) fit was ignored, and training ran 29.8 s past a 3 s deadline to max_epochs
    (in one process it stopped at 3.0 s). Here one rank stands in for the spawned ones, in a fresh context as a
    new process has, after a start-up of 1 s against an enclosing deadline of 0.5 s."""
    import contextvars

    import torch.multiprocessing as mp

    from workload_predictor import _deadline
    from workload_predictor.models import distributed, global_lstm

    def spawn(fn, args, nprocs, join):  # one rank of a group of one, as a new process: no deadline in force
        time.sleep(1.0)
        threads = torch.get_num_threads()
        try:
            contextvars.Context().run(fn, 0, 1, *args[1:])
        finally:
            torch.set_num_threads(threads)

    monkeypatch.setattr(mp, "spawn", spawn)
    monkeypatch.setattr(global_lstm.os, "cpu_count", lambda: 2)
    # The ranks' reading of the deadline, tested below the time a real spawn takes (which trains in this process).
    monkeypatch.setattr(distributed, "SPAWN_SECONDS", 0.0)
    y = series(600)
    with _deadline.limit(0.5):
        model = GlobalLSTM(horizon=6, window=48, hidden_size=8, max_epochs=40, patience=40, random_state=0,
                           distributed=2, max_training_time=None).fit([y, 2 * y])
    assert model.stopped_by_ == "time_limit"
    assert model.training_.epochs_run == 0


def test_distributed_training_with_no_time_left_spawns_no_process(monkeypatch):
    """max_training_time=0 (or a fleet past its deadline): every rank keeps the initial weights, yet the fit spawned
    the processes for them (5.75 s here, against 0.01 s in one process). Now it validates them in this process,
    and the model equals the one-process fit."""
    import torch.multiprocessing as mp

    from workload_predictor.models import global_lstm

    def spawn(*args, **kwargs):
        raise AssertionError("processes were spawned with no time left to train")

    monkeypatch.setattr(mp, "spawn", spawn)
    monkeypatch.setattr(global_lstm.os, "cpu_count", lambda: 2)
    y = series(600)
    settings = dict(horizon=6, window=48, hidden_size=8, max_epochs=5, random_state=0, max_training_time=0)
    ddp = GlobalLSTM(**settings, distributed=2).fit([y, 2 * y])
    single = GlobalLSTM(**settings).fit([y, 2 * y])
    assert ddp.stopped_by_ == single.stopped_by_ == "time_limit" and ddp.training_.epochs_run == 0
    for a, b in zip(ddp.predict(), single.predict()):
        np.testing.assert_array_equal(a, b)
