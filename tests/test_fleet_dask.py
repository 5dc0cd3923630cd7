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

import pandas as pd
import pytest
from test_fleet import _continuation, _wait_until, _within, make_fleet

from workload_predictor import FleetPredictor
from workload_predictor import fleet as fleet_module
from workload_predictor.errors import WorkloadDataError

dask = pytest.importorskip("dask", reason="dask is not installed: pip install workload-predictor[dask] to run the Dask "
                          "tests")
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
        monkeypatch, caplog, call):
    """The fleet waits for its partitions bounded by its deadline (NO_WORKER_WAIT without a worker), and gathers
    each one's result once it has ended. A result lost with the last worker between the two (the worker's machine
    reclaimed as the partition ended) is computed again on the next worker, and Dask's gather waits for one forever:
    the fit hung. The gather is waited for as the partitions are: a new worker gives the local fit's forecasts (the
    lost partitions, which may run only on the workers the fleet had checked, are sent again to it), none is the
    typed error, the fleet left as it was and no partition left queued on the cluster."""
    monkeypatch.setattr(fleet_module, "WORKER_POLL", 0.05)
    frame, new = _continuation(4, 300, 3, seed=1)
    gather = fleet_module._gather
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

        def then_the_last_worker_leaves(client_, futures, poll, comes_back):
            if not lost:  # the first gather: its partitions' results are on the worker
                lost.append(len(futures))
                cluster.scale(0)
                _wait_until(lambda: not client.nthreads(), within=20)
                if comes_back:  # a new worker (another address)
                    threading.Timer(0.3, cluster.scale, (1,)).start()
            return gather(client_, futures, poll)

        # no worker: the typed error once NO_WORKER_WAIT has passed without one
        monkeypatch.setattr(fleet_module, "NO_WORKER_WAIT", 1.0)
        monkeypatch.setattr(fleet_module, "_gather", functools.partial(then_the_last_worker_leaves, comes_back=False))
        with pytest.raises(WorkloadDataError, match="no worker.*client.wait_for_workers"):
            _within(20, run)
        assert lost and lost[0] >= 1
        if call == "fit":
            assert not hasattr(fleet, "keys_")
        else:
            pd.testing.assert_frame_equal(fleet.predict(), before)
        _wait_until(lambda: not client.futures, within=10)  # cancelled, not queued for a later worker
        # The gather that waited was ended by cancelling its partitions, not cancelled itself, which left its waits
        # on each partition (tasks in the client's loop) to end in exceptions no one read: asyncio printed "Task
        # exception was never retrieved" (distributed.client.AllExit) for each when they were collected.
        gc.collect()
        assert not [r for r in caplog.records if "never retrieved" in r.getMessage()]

        # a worker that comes back within NO_WORKER_WAIT computes the lost results again: the local forecasts
        cluster.scale(1)
        client.wait_for_workers(1, timeout=20)
        lost.clear()
        monkeypatch.setattr(fleet_module, "NO_WORKER_WAIT", 20.0)
        monkeypatch.setattr(fleet_module, "_gather", functools.partial(then_the_last_worker_leaves, comes_back=True))
        _within(30, run)
        assert lost and lost[0] >= 1
    if call == "update":
        expected.update(new)
    pd.testing.assert_frame_equal(fleet.predict(), expected.predict())


def _where_partitions_run(monkeypatch, hold=None) -> list:
    """The names of the workers that run each partition from now on; ``hold(series)``, if given, runs first."""
    ran = []
    fit_partition = fleet_module._fit_partition

    def recorded(config, series):
        ran.append(distributed.get_worker().name)
        if hold is not None:
            hold(series)
        return fit_partition(config, series)

    monkeypatch.setattr(fleet_module, "_fit_partition", recorded)
    return ran


def test_the_cluster_holds_a_bounded_number_of_partitions_at_once(monkeypatch):
    """Each partition travels in its task (a lost worker's is computed again elsewhere), and the scheduler holds it
    until the task is released. Every partition was sent at once and released at the end of the fit: the scheduler
    held the whole fleet's series (+76 MiB for 10,000 keys x 500 buckets, 38 MiB of series). At most
    PARTITIONS_IN_FLIGHT per worker thread are on the cluster at once: each result is gathered, and its task
    released, as it ends, and the next partition sent; the forecasts are the local fit's."""
    monkeypatch.setattr(fleet_module, "PARTITIONS_IN_FLIGHT", 1, raising=False)
    frame, _ = _continuation(8, 200, 0, seed=3)
    expected = FleetPredictor(horizon=5).fit(frame, key="endpoint").predict()
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False, dashboard_address=":0",
                                  silence_logs=40) as cluster, distributed.Client(cluster) as client:
        held = []
        _where_partitions_run(monkeypatch, hold=lambda series: held.append(
            sum(str(key).startswith("_fit_packed") for key in list(cluster.scheduler.tasks))))
        fleet = _within(30, FleetPredictor(horizon=5, client=client, partition_size=1).fit, frame, key="endpoint")
        assert held == [1] * 8  # one worker thread: one partition on the cluster at a time
        pd.testing.assert_frame_equal(fleet.predict(), expected)


def _worker_1_has_another_version(dask_worker=None) -> str:
    return "0.1.0" if dask_worker.name == 1 else fleet_module.__version__


def test_a_worker_that_joins_during_a_fit_is_checked_before_it_is_sent_a_partition(monkeypatch, caplog):
    """The workers' version check ran once, before the partitions were sent: a worker that joined during the fit
    (an autoscaler's) was sent partitions unchecked, and one without the package died on the first. Partitions go
    only to workers that answered the check, and a worker that joins is asked when the fleet sees it: one of another
    version is left out of the fit (a logged warning naming it), one of this version runs partitions, and the
    forecasts are the local fit's. The next fit refuses the cluster while the other version's worker is there."""
    monkeypatch.setattr(fleet_module, "WORKER_POLL", 0.05)
    frame, _ = _continuation(6, 200, 0, seed=2)
    expected = FleetPredictor(horizon=5).fit(frame, key="endpoint").predict()
    joined_ran = threading.Event()

    def hold(series):  # the first partition runs until a new worker ran one (the test fails after 10 s without)
        if len(ran) == 1:
            joined_ran.wait(10)
        elif ran[-1] in (1, 2):
            joined_ran.set()

    monkeypatch.setattr(fleet_module, "_worker_version", _worker_1_has_another_version)
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False, dashboard_address=":0",
                                  silence_logs=40) as cluster, distributed.Client(cluster) as client:
        ran = _where_partitions_run(monkeypatch, hold=hold)
        fleet = FleetPredictor(horizon=5, client=client, partition_size=1)
        out = {}
        thread = threading.Thread(target=lambda: out.update(fleet=fleet.fit(frame, key="endpoint")), daemon=True)
        with caplog.at_level("WARNING", logger="workload_predictor.fleet"):
            thread.start()
            _wait_until(lambda: ran, within=20)
            cluster.scale(3)
            thread.join(30)
        assert "fleet" in out, "the fit did not end"
        assert 1 not in ran and 2 in ran, ran
        pd.testing.assert_frame_equal(fleet.predict(), expected)
        bad = next(address for address, info in client.scheduler_info()["workers"].items() if info["name"] == 1)
        assert any(bad in record.getMessage() and "left out" in record.getMessage() for record in caplog.records)
        with pytest.raises(WorkloadDataError, match=rf"Dask worker '{re.escape(bad)}' has workload-predictor '0\.1\.0'"):
            _within(20, FleetPredictor(horizon=5, client=client).fit, frame, key="endpoint")


def test_resources_send_the_partitions_to_the_workers_that_declare_them_and_none_is_a_typed_error(monkeypatch):
    """``device="cuda"`` fleets on a cluster of CPU and GPU workers had no way to ask for the GPU workers, and a
    Dask resource no worker declares leaves a task waiting forever. ``resources={"GPU": 1}`` (here a made-up name)
    sends the partitions only to workers that declare it; a cluster where none does is a typed error at once, and a
    bad value or a model that trains in this process refuses it. ``device`` is checked on the workers that run the
    partitions, not in the fleet's process."""
    frame, _ = _continuation(4, 200, 0, seed=6)
    expected = FleetPredictor(horizon=5).fit(frame, key="endpoint").predict()
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False, dashboard_address=":0",
                                  silence_logs=40) as cluster, distributed.Client(cluster) as client:
        fleet = FleetPredictor(horizon=5, client=client, partition_size=1, resources={"FAKE_GPU": 1})
        with pytest.raises(WorkloadDataError, match=r"resources=\{'FAKE_GPU': 1\}: no worker of client=.* declares "
                                                    r"them \(the workers declare \{'[^']+': \{\}\}\).*resources=None"):
            _within(10, fleet.fit, frame, key="endpoint")
        assert not client.futures
        cluster.new_spec["options"]["resources"] = {"FAKE_GPU": 1}  # a second worker, which declares it
        cluster.scale(2)
        client.wait_for_workers(2, timeout=20)
        ran = _where_partitions_run(monkeypatch)
        pd.testing.assert_frame_equal(_within(30, fleet.fit, frame, key="endpoint").predict(), expected)
        assert ran == [1, 1, 1, 1]
        # the device is checked where the partitions run (the fleet's process may have no GPU): here none has CUDA
        gpu = next(address for address, info in client.scheduler_info()["workers"].items() if info["name"] == 1)
        with pytest.raises(WorkloadDataError, match=rf"Dask worker '{re.escape(gpu)}' cannot run device='cuda': "
                                                    r"device='cuda' but torch sees no CUDA device.*resources="):
            _within(30, fleet.set_params(device="cuda").fit, frame, key="endpoint")
        assert ran == [1, 1, 1, 1] and not client.futures
        for bad in ({}, {"FAKE_GPU": 0}, {"FAKE_GPU": True}, {"FAKE_GPU": float("nan")}, "FAKE_GPU", {1: 1}):
            with pytest.raises(WorkloadDataError, match="must map Dask worker resource names"):
                FleetPredictor(horizon=5, client=client, resources=bad).fit(frame, key="endpoint")
        with pytest.raises(WorkloadDataError, match="model='global_lstm': that network trains in this process"):
            FleetPredictor(model="global_lstm", horizon=5, client=client, resources={"GPU": 1}).fit(frame,
                                                                                                  key="endpoint")
