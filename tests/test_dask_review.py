"""FleetPredictor(client=...) on a cluster an SRE already runs: workers whose environment differs from the fleet's
process (no workload-predictor, another version, a model registered only in the fleet's process) and the errors an
older distributed raises."""

from __future__ import annotations

import concurrent.futures
import re

import pandas as pd
import pytest
from test_fleet import _continuation, _within

from workload_predictor import FleetPredictor, __version__
from workload_predictor import fleet as fleet_module
from workload_predictor.errors import WorkloadDataError
from workload_predictor.models import registry
from workload_predictor.models.baselines import Naive

distributed = pytest.importorskip("distributed", reason="dask[distributed] is not installed: "
                                  "pip install workload-predictor[dask] to run the Dask tests")


@pytest.fixture(scope="module")
def cluster():
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False, dashboard_address=":0",
                                  silence_logs=40) as cluster:
        yield cluster


@pytest.fixture
def client(cluster):
    """A Client of its own per test: the workers it found fit to run the fleet are its own."""
    with distributed.Client(cluster, set_as_default=False) as client:
        yield client


@pytest.fixture(scope="module")
def frames():
    return _continuation(3, 200, 2, seed=4)


def test_a_worker_without_the_package_or_of_another_version_is_a_typed_error_before_any_partition_is_sent(
        client, frames, monkeypatch):
    """A worker that cannot import workload_predictor died on the first partition it was sent (it cannot unpickle
    the task, and its connection to the scheduler breaks: a nanny closes with it), so the fit killed every such
    worker and, with none left, waited out max_training_time and said the cluster had no worker. A worker of
    another version ran the partitions with its own code. Each worker the fleet has not yet seen on the client is
    asked its version first (Dask's ``client.run``, whose errors leave the worker running): a typed error naming
    the worker, its version or error, and the fix; nothing is sent to the cluster."""
    frame, _ = frames
    address = next(iter(client.nthreads()))
    for answer, said in ((ModuleNotFoundError("No module named 'workload_predictor'", name="workload_predictor"),
                          r"cannot run workload-predictor's code \(ModuleNotFoundError: No module named "),
                         ("0.1.0", r"has workload-predictor '0\.1\.0'")):
        def version(answer=answer):
            if isinstance(answer, Exception):
                raise answer
            return answer

        monkeypatch.setattr(fleet_module, "_worker_version", version, raising=False)
        fleet = FleetPredictor(horizon=5, client=client, partition_size=1)
        with pytest.raises(WorkloadDataError) as raised:
            _within(30, fleet.fit, frame, key="endpoint")
        message = str(raised.value)
        assert re.search(rf"Dask worker '{re.escape(address)}' {said}", message), message
        assert f"workload-predictor=={__version__} on every worker" in message and "client=None" in message
        assert not hasattr(fleet, "keys_") and not client.futures
    expected = FleetPredictor(horizon=5).fit(frame, key="endpoint").predict()
    # another error (a worker closing, a connection timed out) says nothing of its package: left to Dask, asked again
    monkeypatch.setattr(fleet_module, "_worker_version", _timed_out, raising=False)
    fleet = FleetPredictor(horizon=5, client=client, partition_size=1)
    pd.testing.assert_frame_equal(_within(30, fleet.fit, frame, key="endpoint").predict(), expected)
    monkeypatch.undo()  # the worker's own answer: this version, and the worker is not asked again
    pd.testing.assert_frame_equal(_within(30, fleet.fit, frame, key="endpoint").predict(), expected)
    monkeypatch.setattr(fleet_module, "_worker_version", lambda: "0.1.0", raising=False)
    pd.testing.assert_frame_equal(_within(30, fleet.fit, frame, key="endpoint").predict(), expected)


def _timed_out():
    raise OSError("Timed out trying to connect to tcp://10.0.0.7:40000 after 30 s")


def test_a_client_closed_while_an_older_distributed_gathers_is_the_typed_error(client, frames, monkeypatch):
    """distributed 2024.1 (the oldest the dask extra admits) ends the gather of a partition that a closing Client
    cancelled with concurrent.futures' CancelledError, which asyncio hands across threads (the fleet's thread waits
    on the client's loop) as asyncio's CancelledError, a BaseException: it passed the fleet's handler of a Client
    closed during the call (``except Exception``) and reached the caller as a bare CancelledError naming a task
    (later versions raise a subclass, which asyncio hands on as it is). It is the closed Client's typed error, and
    the fleet is left as it was."""
    frame, new = frames
    fleet = FleetPredictor(horizon=5, client=client, partition_size=1).fit(frame, key="endpoint")
    before = fleet.predict()

    async def cancelled(futures, asynchronous=None):  # distributed 2024.1's gather of a cancelled future
        client.status = "closing"
        raise concurrent.futures.CancelledError(futures[0].key)

    monkeypatch.setattr(client, "gather", cancelled)
    try:
        for call in (lambda: fleet.fit(frame, key="endpoint"), lambda: fleet.update(new)):
            with pytest.raises(WorkloadDataError, match=r"is closing: it cannot run the fleet's partitions"):
                _within(30, call)
            pd.testing.assert_frame_equal(fleet.predict(), before)
            client.status = "running"
    finally:
        client.status = "running"


class Tripler(Naive):
    """A model the user registers in the fleet's process only (a Naive under another name)."""


def test_a_model_registered_in_the_fleets_process_is_fitted_by_worker_processes():
    """``registry.register`` in the script that fits the fleet registers the model in that process only: each key
    fitted in a Dask worker process (or an ``n_jobs`` process) failed with "model='tripler' is unknown" though the
    fleet had checked it, and the fit raised NoKeyFittedError. The partitions carry the registry entries of the
    models their fit builds, and a worker registers those it lacks: the local fit's forecasts."""
    frame, _ = _continuation(2, 200, 0, seed=5)
    registry.register("tripler", Tripler, baseline=True, window_param=None)
    try:
        expected = FleetPredictor(horizon=5, model="tripler").fit(frame, key="endpoint").predict()
        with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=":0",
                                      silence_logs=40) as cluster, distributed.Client(cluster) as client:
            fleet = FleetPredictor(horizon=5, model="tripler", client=client, partition_size=1)
            pd.testing.assert_frame_equal(_within(60, fleet.fit, frame, key="endpoint").predict(), expected)
            assert client.run(lambda: "tripler" in registry.names()) == {a: True for a in client.nthreads()}
    finally:
        registry.unregister("tripler")


def test_a_fleet_larger_than_dasks_large_graph_threshold_is_sent_in_graphs_below_it(client, frames):
    """Each partition travels in its task (a lost worker's partition is computed again elsewhere; scattered data would
    be lost with it), and every partition went in one graph: a fleet of 2,000 keys x 1,000 buckets (15 MB) drew
    Dask's "Sending large graph" UserWarning, whose advice (load the data with Dask, scatter it) the user cannot act
    on. The partitions are sent in graphs below the threshold (here lowered to 4 kB: 3 partitions of 1.6 kB of
    series each, 6.6 kiB in one graph), with the local fit's forecasts."""
    import warnings

    import dask

    frame, _ = frames
    expected = FleetPredictor(horizon=5).fit(frame, key="endpoint").predict()
    with dask.config.set({"distributed.admin.large-graph-warning-threshold": "4kB"}), \
            warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fleet = _within(30, FleetPredictor(horizon=5, client=client, partition_size=1).fit, frame, key="endpoint")
    assert not [str(w.message) for w in caught if "large graph" in str(w.message)]
    pd.testing.assert_frame_equal(fleet.predict(), expected)


_RELEASE = __import__("threading").Event()


def _unresponsive() -> str:
    """A worker whose answer does not come (its event loop held): released by the test."""
    _RELEASE.wait(20)
    return __version__


def test_a_worker_that_does_not_answer_the_version_check_is_left_to_dask_not_waited_for(client, monkeypatch):
    """Dask's ``client.run`` has no timeout: a worker whose event loop is held kept the fleet's fit waiting before any
    partition was sent, past ``max_training_time``. The check waits ``WORKER_CHECK_SECONDS``; a worker that has not
    answered by then is left to Dask (as a worker whose connection timed out), and asked again at the next call."""
    monkeypatch.setattr(fleet_module, "_worker_version", _unresponsive, raising=False)
    monkeypatch.setattr(fleet_module, "WORKER_CHECK_SECONDS", 0.2, raising=False)
    _RELEASE.clear()
    try:
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            checked = pool.submit(fleet_module._check_workers, client)
            checked.result(timeout=5)  # returns after the check's wait, not when the worker answers
            assert not fleet_module._CHECKED_WORKERS.get(client)  # not found fit: asked again at the next call
    finally:
        _RELEASE.set()
