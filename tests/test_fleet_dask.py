"""FleetPredictor(client=...) on a Dask cluster: what a fit or an update leaves on the client and the cluster."""

from __future__ import annotations

import asyncio
import functools
import gc
import os
import re
import signal
import threading
import weakref

import dask
import pandas as pd
import pytest
from test_fleet import _continuation, _wait_until, _within, make_fleet

from workload_predictor import FleetPredictor
from workload_predictor import fleet as fleet_module
from workload_predictor.errors import WorkloadDataError

distributed = pytest.importorskip("distributed", reason="dask[distributed] is not installed: "
                                  "pip install workload-predictor[dask] to run the Dask tests")


@pytest.fixture
def no_garbage_collector():
    """The collector stays off (a large process's collector looks at old objects rarely: 20 s and more went by
    without it in the full test suite)."""
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def test_a_fit_and_an_update_on_a_cluster_release_their_futures_and_partitions_at_once(monkeypatch,
                                                                                        no_garbage_collector):
    """A future held by the client keeps its partition's result on the cluster, and a result lost with its worker
    is computed again on the next one. A fleet's fit waited on its partitions in polls whose timeouts left the
    futures (and the fit's frames: its series, its packed partitions) in reference cycles until the collector's
    next full pass: a long-lived client accumulated them, and the no-worker test found its first fit's futures
    still there, lost and wanted, 20 s after the cluster lost its worker. They are released when the fit returns."""
    monkeypatch.setattr(fleet_module, "WORKER_POLL", 0.001)  # every partition takes longer than a poll
    partitions = _recorded_partitions(monkeypatch)
    frame, new = _continuation(4, 300, 3, seed=1)
    # distributed keeps its last messages to the workers, partitions included, for its logs: none here
    with dask.config.set({"distributed.admin.low-level-log-length": 0}), distributed.LocalCluster(
            n_workers=1, threads_per_worker=1, processes=False, dashboard_address=":0", silence_logs=40) as cluster, \
            distributed.Client(cluster) as client:
        fleet = FleetPredictor(horizon=5, client=client, partition_size=1).fit(frame, key="endpoint")
        assert len(partitions.refs) == 4  # one a key
        _wait_until(lambda: not client.futures, within=10)
        assert not client.refcount
        fleet.update(new)  # an update's refit, by partitions on the cluster
        _wait_until(lambda: not client.futures, within=10)
        assert not client.refcount
        # the worker (in this process) drops a task's partition once the released key reaches it
        _wait_until(lambda: not partitions.alive(), within=10)


class _Partitions:
    """Weak references to the partitions packed (a dataclass compares by value: no weak set)."""

    def __init__(self):
        self.refs = []

    def alive(self) -> int:
        return sum(ref() is not None for ref in self.refs)


def _recorded_partitions(monkeypatch) -> _Partitions:
    """The partitions the fleet packs from now on, held weakly: one in a reference cycle stays (the collector is off).
    Counted without ``gc.get_objects()``, whose list holds every tuple another thread is building: CPython's
    ``tuple(generator)`` then fails with "SystemError: Objects/tupleobject.c:927: bad argument to internal function"
    in that thread (the cluster's, or the next tests' when the poll outlived its test)."""
    made = _Partitions()
    pack = fleet_module.PackedSeries.pack

    def recorded(series):
        packed = pack(series)
        made.refs.append(weakref.ref(packed))
        return packed

    monkeypatch.setattr(fleet_module.PackedSeries, "pack", staticmethod(recorded))
    return made



@pytest.mark.parametrize("call", ["fit", "update"])
def test_a_client_closed_during_a_fit_or_an_update_is_the_closed_clients_typed_error(monkeypatch, call):
    """A Client closed while the fleet's partitions run (by another thread, at the end of its ``with`` block, or its
    scheduler lost past its reconnect timeout) raised Dask's FuturesCancelledError or CommClosedError; it is the
    typed error of a Client closed before the call, naming the fix, and the fleet is left as it was."""
    frame, new = _continuation(4, 300, 3, seed=1)
    started, go_on = threading.Event(), threading.Event()
    fit_partition = fleet_module._fit_partition

    def held(config, series):  # a partition that runs until the client is closed
        started.set()
        go_on.wait(20)
        return fit_partition(config, series)

    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False, dashboard_address=":0",
                                  silence_logs=40) as cluster:
        client = distributed.Client(cluster)
        fleet = FleetPredictor(horizon=5, client=client, partition_size=1).fit(frame, key="endpoint")
        before = fleet.predict()
        monkeypatch.setattr(fleet_module, "_fit_partition", held)
        out = {}
        run = functools.partial(fleet.fit, frame, key="endpoint") if call == "fit" else functools.partial(
            fleet.update, new)
        thread = threading.Thread(target=_error_of, args=(run, out), daemon=True)
        thread.start()
        assert started.wait(20), "no partition started"
        client.close()
        go_on.set()
        thread.join(30)
        assert not thread.is_alive(), f"the {call} still waits after its client was closed"
    assert isinstance(out.get("error"), WorkloadDataError), repr(out.get("error"))
    assert re.search(r"is clos(ed|ing): it cannot run the fleet's partitions.*client=None", str(out["error"]))
    pd.testing.assert_frame_equal(fleet.predict(), before)
    monkeypatch.setattr(fleet_module, "_fit_partition", fit_partition)
    expected = FleetPredictor(horizon=5).fit(frame, key="endpoint").update(new).predict()
    pd.testing.assert_frame_equal(fleet.set_params(client=None).update(new).predict(), expected)


def _error_of(call, out: dict) -> None:
    try:
        call()
    except Exception as exc:  # noqa: BLE001 - handed to the test
        out["error"] = exc


def test_an_asynchronous_client_in_its_event_loop_is_a_typed_error_and_works_from_a_thread():
    """``Client(asynchronous=True)`` used in a coroutine: its calls return coroutines, and a fit waiting for its
    partitions would block the loop that runs them. It crashed inside the fleet (AttributeError: 'coroutine' object
    has no attribute 'values'; TypeError: 'coroutine' object is not iterable); it is a typed error naming the fix,
    and the fix (the fleet called from another thread) gives the local fit's forecasts."""
    frame, new = _continuation(4, 300, 3, seed=1)
    expected = FleetPredictor(horizon=5).fit(frame, key="endpoint").update(new).predict()

    async def main():
        async with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False, asynchronous=True,
                                            dashboard_address=":0", silence_logs=40) as cluster, \
                distributed.Client(cluster, asynchronous=True) as client:
            for size in (None, 1):
                with pytest.raises(WorkloadDataError, match="is asynchronous .* asyncio.to_thread"):
                    FleetPredictor(horizon=5, client=client, partition_size=size).fit(frame, key="endpoint")
            fleet = FleetPredictor(horizon=5, client=client, partition_size=1)
            await asyncio.to_thread(fleet.fit, frame, key="endpoint")
            with pytest.raises(WorkloadDataError, match="is asynchronous"):
                fleet.update(new)
            await asyncio.to_thread(fleet.update, new)
            return fleet.predict()

    pd.testing.assert_frame_equal(_within(60, asyncio.run, main()), expected)


def test_a_partition_that_kills_its_workers_is_a_typed_error_naming_its_keys():
    """A partition whose workers all die running it (a key too large for a worker's memory): Dask's KilledWorker
    named a task ('_fit_packed-<uuid>-3'), not the keys; it is a typed error naming them and the remedies, the
    fleet is left as it was and no future stays on the client."""
    frame = make_fleet(24, 600, seed=7)
    with dask.config.set({"distributed.scheduler.allowed-failures": 0}), distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0", silence_logs=40) as cluster, \
            distributed.Client(cluster) as client:
        fleet = FleetPredictor(horizon=5, client=client, partition_size=1)
        pids = client.run(os.getpid)
        out = {}
        thread = threading.Thread(target=_error_of, args=(functools.partial(fleet.fit, frame, key="endpoint"), out),
                                  daemon=True)
        thread.start()
        victim = None
        while victim is None and thread.is_alive():
            busy = [worker for worker, tasks in client.processing().items() if tasks]
            victim = busy[0] if busy else None
        assert victim is not None, "the fit finished before a worker could be killed"
        os.kill(pids[victim], signal.SIGKILL)
        thread.join(60)
        assert not thread.is_alive()
        error = out.get("error")
        assert isinstance(error, WorkloadDataError), repr(error)
        assert re.match(r"the partition of keys \['k\d+'\] killed every Dask worker that ran it", str(error)), error
        assert "memory_limit_mb" in str(error) and "partition_size" in str(error)
        assert not hasattr(fleet, "keys_")
        _wait_until(lambda: not client.futures, within=10)


@pytest.mark.parametrize("call", ["fit", "update"])
def test_a_result_lost_with_the_last_worker_before_the_gather_is_waited_for_as_a_worker_is_not_a_hang(
        monkeypatch, call):
    """The fleet waits for its partitions bounded by its deadline (NO_WORKER_WAIT without a worker), then gathers
    their results. A result lost with the last worker between the two (the worker's machine reclaimed as the wait
    returned) is computed again on the next worker, and Dask's gather waits for one forever: the fit hung. The gather
    is waited for as the partitions are: a worker that comes back gives the local fit's forecasts, none is the typed
    error, the fleet left as it was and no partition left queued on the cluster."""
    monkeypatch.setattr(fleet_module, "WORKER_POLL", 0.05)
    frame, new = _continuation(4, 300, 3, seed=1)
    await_workers = fleet_module._await_workers
    expected = FleetPredictor(horizon=5, max_training_time=None).fit(frame, key="endpoint")
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False, dashboard_address=":0",
                                  silence_logs=40) as cluster, distributed.Client(cluster) as client:
        # no deadline: a fit, as an update, waits NO_WORKER_WAIT in a row without a worker
        fleet = FleetPredictor(horizon=5, client=client, partition_size=1, max_training_time=None)
        if call == "update":
            fleet.fit(frame, key="endpoint")
        before = fleet.predict() if call == "update" else None
        run = functools.partial(fleet.fit, frame, key="endpoint") if call == "fit" else functools.partial(
            fleet.update, new)
        lost = []

        def then_the_last_worker_leaves(client_, futures, comes_back):
            await_workers(client_, futures)  # every partition's result is on the worker
            if not lost and len(futures) > 1:  # the partitions' wait, not the gather's
                lost.append(len(futures))
                cluster.scale(0)
                _wait_until(lambda: not client.nthreads(), within=20)
                if comes_back:
                    threading.Timer(0.3, cluster.scale, (1,)).start()

        # no worker: the typed error once NO_WORKER_WAIT has passed without one
        monkeypatch.setattr(fleet_module, "NO_WORKER_WAIT", 1.0)
        monkeypatch.setattr(fleet_module, "_await_workers", functools.partial(then_the_last_worker_leaves,
                                                                              comes_back=False))
        with pytest.raises(WorkloadDataError, match="no worker.*client.wait_for_workers"):
            _within(20, run)
        assert lost == [4]
        if call == "fit":
            assert not hasattr(fleet, "keys_")
        else:
            pd.testing.assert_frame_equal(fleet.predict(), before)
        _wait_until(lambda: not client.futures, within=10)  # cancelled, not queued for a later worker

        # a worker that comes back within NO_WORKER_WAIT computes the lost results again: the local forecasts
        cluster.scale(1)
        client.wait_for_workers(1, timeout=20)
        lost.clear()
        monkeypatch.setattr(fleet_module, "NO_WORKER_WAIT", 20.0)
        monkeypatch.setattr(fleet_module, "_await_workers", functools.partial(then_the_last_worker_leaves,
                                                                              comes_back=True))
        _within(30, run)
        assert lost == [4]
    if call == "update":
        expected.update(new)
    pd.testing.assert_frame_equal(fleet.predict(), expected.predict())
