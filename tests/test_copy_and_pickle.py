"""Copies of every estimator in every state: ``copy.copy``, ``copy.deepcopy``, a ``pickle`` round trip (joblib, a
worker process, Dask shipping an estimator to a worker) and scikit-learn's ``clone``; and every library error
surviving pickling (an error raised in a worker process reaches the parent pickled)."""

from __future__ import annotations

import copy
import gc
import importlib
import inspect
import io
import logging
import pickle
import pkgutil
import sys
import threading
import types
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd
import pytest
from conftest import periodic_series
from test_fleet import _continuation

import workload_predictor
from workload_predictor import FleetPredictor, WorkloadPredictor
from workload_predictor.errors import NotFittedError, WorkloadDataError
from workload_predictor.models import registry

try:
    from sklearn.base import clone
except ImportError:  # scikit-learn is not a dependency: its clone's contract, as sklearn.base.clone implements it
    def clone(estimator):
        if hasattr(estimator, "__sklearn_clone__") and not inspect.isclass(estimator):
            return estimator.__sklearn_clone__()
        params = estimator.get_params(deep=False)
        copied = {name: copy.deepcopy(value) for name, value in params.items()}
        new = type(estimator)(**copied)
        for name, value in copied.items():  # __init__ must store each parameter as given
            assert new.get_params(deep=False)[name] is value, f"{type(estimator).__name__}.__init__ changed {name}"
        return new

TINY_LSTM = {"max_epochs": 1, "hidden_size": 4}
MODEL_PARAMS = {"lstm": TINY_LSTM, "ensemble": {"member_params": {"lstm": TINY_LSTM}}}
GLOBAL_PARAMS = {"max_epochs": 1, "hidden_size": 4, "window": 24}
FLEETS = {
    "dlinear-refit": {},
    "dlinear-incremental": {"update_mode": "incremental"},
    "lstm": {"model": "lstm", "model_params": TINY_LSTM},
    "ensemble": {"model": "ensemble", "model_params": MODEL_PARAMS["ensemble"]},
    "global_lstm": {"model": "global_lstm", "model_params": GLOBAL_PARAMS},
    "teacher": {"teacher": "global_lstm", "teacher_params": GLOBAL_PARAMS},
}
COPIES = {
    "copy": copy.copy,
    "deepcopy": copy.deepcopy,
    "pickle": lambda estimator: pickle.loads(pickle.dumps(estimator)),
}
STATES = ("fitted", "updated", "loaded")


def _forecast(estimator) -> pd.DataFrame:
    forecast = estimator.predict()
    return forecast if isinstance(forecast, pd.DataFrame) else forecast.to_frame()


def _state_bytes(estimator) -> bytes:
    """The estimator's whole state, pickled (its fitted attributes, models, networks, published state)."""
    return pickle.dumps(estimator)


# Objects a copy must not share with its original: what an update, a forecast or a caller could change in place.
_MUTABLE = (np.ndarray, list, dict, set, bytearray, pd.Index, pd.Series, pd.DataFrame, __import__("collections").deque)
_NOT_STATE = (type, types.ModuleType, types.FunctionType, types.BuiltinFunctionType, types.MethodType, str, bytes,
              int, float, complex, bool, type(None), np.dtype, pd.api.extensions.ExtensionDtype)


def _reachable(root) -> dict[int, object]:
    """Every object of ``root``'s state (classes, functions and dtypes, shared by design, left out)."""
    found, todo = {}, [root]
    while todo:
        obj = todo.pop()
        if id(obj) in found or isinstance(obj, _NOT_STATE):
            continue
        found[id(obj)] = obj
        todo.extend(gc.get_referents(obj))
    return found


def _shared_state(original, copied) -> list[str]:
    """What the copy shares with the original: mutable objects, array memory, torch tensors' storage."""
    mine, theirs = _reachable(original), _reachable(copied)
    shared = [type(obj).__name__ for key, obj in theirs.items() if key in mine and isinstance(obj, _MUTABLE)]
    arrays = [obj for obj in mine.values() if isinstance(obj, np.ndarray) and obj.size]
    shared += [f"memory of an array {obj.shape}" for obj in theirs.values() if isinstance(obj, np.ndarray)
               and obj.size and id(obj) not in mine and any(np.shares_memory(obj, other) for other in arrays)]
    try:
        import torch
    except ImportError:
        return shared
    pointers = {obj.untyped_storage().data_ptr() for obj in mine.values() if isinstance(obj, torch.Tensor)}
    shared += [f"storage of a tensor {tuple(obj.shape)}" for obj in theirs.values()
               if isinstance(obj, torch.Tensor) and obj.numel() and obj.untyped_storage().data_ptr() in pointers]
    return shared


def _check_copies(estimator, fitted: bool, new: pd.DataFrame) -> None:
    """Each copy forecasts as the original does; forecasting or updating it leaves the original's whole state as it
    was; a deep copy or a pickled one shares nothing mutable with it; each copy updated forecasts as the original
    updated."""
    expected = _forecast(estimator) if fitted else None
    before = _state_bytes(estimator)
    for how, copy_of in COPIES.items():
        copied = copy_of(estimator)
        assert type(copied) is type(estimator), how
        assert copied.get_params().keys() == estimator.get_params().keys(), how
        if how != "copy":
            assert not _shared_state(estimator, copied), (how, _shared_state(estimator, copied))
        if fitted:
            pd.testing.assert_frame_equal(_forecast(copied), expected, obj=how)
    if not fitted:
        return
    assert _state_bytes(estimator) == before, "forecasting a copy changed the original"
    updated = {how: copy_of(estimator).update(new) for how, copy_of in COPIES.items()}
    assert _state_bytes(estimator) == before, "updating a copy changed the original"
    pd.testing.assert_frame_equal(_forecast(estimator), expected)
    estimator.update(new)
    for how, copied in updated.items():
        pd.testing.assert_frame_equal(_forecast(copied), _forecast(estimator), obj=how)


@pytest.fixture(scope="module")
def series():
    frame = periodic_series(700, noise=5.0)
    return frame.iloc[:690], frame.iloc[690:695], frame.iloc[695:]


def _in_state(estimator, state: str, fit, first: pd.DataFrame, tmp_path):
    fit(estimator)
    if state == "updated":
        estimator.update(first)
    if state == "loaded":
        estimator = type(estimator).load(estimator.save(tmp_path / "estimator.wpm"))
    return estimator


@pytest.mark.parametrize("state", ("unfitted", *STATES))
@pytest.mark.parametrize("model", registry.names())
def test_a_predictor_copies_forecast_identically_and_independently(model, state, series, tmp_path):
    if model in ("lstm", "ensemble"):
        pytest.importorskip("torch")
    head, first, second = series
    predictor = WorkloadPredictor(model=model, horizon=5, random_state=0, model_params=MODEL_PARAMS.get(model))
    if state != "unfitted":
        predictor = _in_state(predictor, state, lambda p: p.fit(head), first, tmp_path)
    _check_copies(predictor, state != "unfitted", second)


@pytest.mark.parametrize("state", ("unfitted", *STATES))
@pytest.mark.parametrize("mode", FLEETS)
def test_a_fleet_copies_forecast_identically_and_independently(mode, state, tmp_path):
    if mode not in ("dlinear-refit", "dlinear-incremental"):
        pytest.importorskip("torch")
    frame, new = _continuation(4, 320, 10, seed=1)
    position = new.groupby("endpoint").cumcount()
    fleet = FleetPredictor(horizon=5, random_state=0, **FLEETS[mode])
    if state != "unfitted":
        fleet = _in_state(fleet, state, lambda f: f.fit(frame, key="endpoint"), new[position < 5], tmp_path)
    _check_copies(fleet, state != "unfitted", new[position >= 5])


def test_a_fleet_holding_a_client_or_an_executor_pickles_without_it():
    """A fleet holding a Dask client or an executor could not be pickled (TypeError: cannot pickle 'socket' object /
    '_queue.SimpleQueue' object), so neither joblib, a worker process nor Dask could ship it: not even
    ``client.submit(fleet.predict)``, the fleet's own client running its forecast. Pickled, it is the fleet without
    them (``None``, as ``save`` writes it): a running resource means nothing in another process. Copies in this
    process (``copy.copy``, ``copy.deepcopy``, ``clone``) share them."""
    distributed = pytest.importorskip("distributed", reason="dask[distributed] is not installed")
    frame, new = _continuation(4, 300, 3, seed=1)
    local = FleetPredictor(horizon=5).fit(frame, key="endpoint")
    expected, updated = local.predict(), copy.deepcopy(local).update(new).predict()
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False, dashboard_address=":0",
                                  silence_logs=logging.ERROR) as cluster, distributed.Client(cluster) as client, \
            ThreadPoolExecutor(2) as executor:
        fleets = {}
        for name, resource in (("client", client), ("executor", executor)):
            fleet = fleets[name] = FleetPredictor(horizon=5, partition_size=1, **{name: resource}).fit(frame,
                                                                                                       key="endpoint")
            restored = pickle.loads(pickle.dumps(fleet))
            assert restored.client is None and restored.executor is None
            assert getattr(fleet, name) is resource
            pd.testing.assert_frame_equal(restored.predict(), expected)
            pd.testing.assert_frame_equal(restored.update(new).predict(), updated)  # fitted in this process
            pd.testing.assert_frame_equal(fleet.predict(), expected)
            for copied in (copy.copy(fleet), copy.deepcopy(fleet), clone(fleet)):
                assert getattr(copied, name) is resource
        # Dask ships the fleet (a method of it) to a worker: the fleet's own client runs its forecast
        pd.testing.assert_frame_equal(client.submit(fleets["client"].predict).result(timeout=30), expected)


def test_clone_gives_an_unfitted_estimator_with_equal_parameters(series):
    """scikit-learn's ``clone`` of a fitted estimator: its class, the same parameters (copies, not the same
    objects), unfitted; ``set_params(**get_params())`` changes nothing, and an unknown name is refused."""
    head = series[0]
    frame, _ = _continuation(2, 300, 0, seed=1)
    estimators = [WorkloadPredictor(horizon=5, model_params={"alpha": 1.0}).fit(head),
                  FleetPredictor(horizon=5, model_params={"alpha": 1.0}).fit(frame, key="endpoint")]
    for estimator in estimators:
        params = estimator.get_params()
        fresh = clone(estimator)
        assert type(fresh) is type(estimator) and fresh.get_params() == params
        assert fresh.model_params is not estimator.model_params
        with pytest.raises(NotFittedError):
            fresh.predict()
        assert estimator.set_params(**params) is estimator and estimator.get_params() == params
        with pytest.raises(WorkloadDataError, match="has no parameter 'horizonn'"):
            estimator.set_params(horizon=3, horizonn=3)
        assert estimator.horizon == 5  # a refused call sets nothing


def _model_classes() -> list[type]:
    classes = {registry.get(name).cls for name in registry.names()}
    try:
        from workload_predictor.models.global_lstm import GlobalLSTM
    except ImportError:  # torch is not installed
        pass
    else:
        classes.add(GlobalLSTM)
    return sorted(classes, key=lambda cls: cls.__name__)


@pytest.mark.parametrize("cls", [WorkloadPredictor, FleetPredictor, *_model_classes()], ids=lambda cls: cls.__name__)
def test_every_estimator_stores_its_parameters_as_given(cls):
    """``clone`` (and ``get_params``/``set_params``) need ``__init__`` to store each parameter as given: a class
    that normalised one in ``__init__`` would clone to another estimator."""
    fresh = clone(cls())
    assert type(fresh) is cls and fresh.get_params().keys() == cls().get_params().keys()
    assert fresh.set_params(**fresh.get_params()) is fresh


def _library_errors() -> list[type]:
    """Every exception class the package defines, in every module (a new one is covered at once)."""
    found = {}
    for module in pkgutil.walk_packages(workload_predictor.__path__, "workload_predictor."):
        try:
            namespace = vars(importlib.import_module(module.name))
        except ImportError:  # an optional dependency (torch, matplotlib) that is not installed
            continue
        for value in namespace.values():
            if isinstance(value, type) and issubclass(value, BaseException) and \
                    value.__module__.startswith("workload_predictor."):
                found[f"{value.__module__}.{value.__qualname__}"] = value
    return [found[name] for name in sorted(found)]


def _example_argument(cls: type, parameter: inspect.Parameter):
    """A value of the parameter's kind (from its annotation) that names the parameter and the class."""
    annotation = str(parameter.annotation)
    if annotation.startswith("dict"):
        return {"k1": WorkloadDataError(f"{parameter.name} of {cls.__name__}")}
    if annotation.startswith("int"):
        return 7
    return f"{parameter.name} of {cls.__name__}"


def _comparable(error: BaseException) -> tuple:
    """An error's type, message, arguments and attributes (errors inside as their type and message)."""
    def plain(value):
        if isinstance(value, BaseException):
            return type(value), str(value)
        return {k: plain(v) for k, v in value.items()} if isinstance(value, dict) else value

    return type(error), str(error), plain(error.args), plain(vars(error))


@pytest.mark.parametrize("cls", _library_errors(), ids=lambda cls: f"{cls.__module__}.{cls.__qualname__}")
def test_every_library_error_survives_pickling(cls):
    """An error raised in a worker process (n_jobs, an executor, Dask, the user's own job) reaches the parent pickled.
    An error whose ``__init__`` takes more than the message was rebuilt from its message alone and unpickling
    raised ``TypeError: ... missing 1 required positional argument`` (cli.Failure, persistence._Unsaveable)."""
    parameters = [p for p in inspect.signature(cls.__init__).parameters.values() if p.name != "self"]
    args = []
    for parameter in parameters:
        if parameter.kind == parameter.VAR_POSITIONAL:
            args.append(f"message of {cls.__name__}")
        elif parameter.kind == parameter.POSITIONAL_OR_KEYWORD:
            args.append(_example_argument(cls, parameter))
    original = cls(*args)
    buffer = io.BytesIO()
    pickler = pickle.Pickler(buffer)
    # The class's own pickling: tblib (imported by distributed) registers a reducer for every exception class that
    # exists when it is imported, which a process without Dask does not have.
    pickler.dispatch_table = {}
    pickler.dump(original)
    assert _comparable(pickle.loads(buffer.getvalue())) == _comparable(original)
    assert _comparable(copy.deepcopy(original)) == _comparable(original)


def test_a_copy_taken_beside_an_update_in_another_thread_is_one_state():
    """``predict`` may run in many threads while one thread updates, and so may a copy (a snapshot pickled for a
    worker, a deep copy to try something on). An update publishes its state, then sets the attributes; a copy read
    them one by one beside it and could mix the states before and after it: its forecast of one state, its series
    and last bucket of the other, so its next update refused the row that continues its forecast ("new bucket ... is
    not after the last fitted bucket ...") or continued a state it never forecast. Each copy is now one state: it
    forecasts as the predictor did in that state, and updated with the next row, as the predictor did after it."""
    frame = periodic_series(800, noise=5.0)
    rows = [frame.iloc[i : i + 1] for i in range(700, 800)]
    reference = WorkloadPredictor(horizon=5).fit(frame.iloc[:700])
    predictor = copy.deepcopy(reference)
    forecasts = {}  # first forecast bucket -> (the rows the state has had, its forecast)
    for seen in range(len(rows) + 1):
        forecast = _forecast(reference)
        forecasts[forecast.index[0]] = (seen, forecast)
        if seen < len(rows):
            reference.update(rows[seen])
    done = threading.Event()

    def updates():
        try:
            for row in rows:
                predictor.update(row)
        finally:
            done.set()

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)  # threads switch often: the update lands inside the copies
    copies = []
    try:
        thread = threading.Thread(target=updates, daemon=True)
        thread.start()
        while not done.is_set():
            copies.extend(copy_of(predictor) for copy_of in COPIES.values())
        thread.join()
    finally:
        sys.setswitchinterval(interval)
    mixed = []
    for copied in copies:
        seen, expected = forecasts[_forecast(copied).index[0]]
        try:
            pd.testing.assert_frame_equal(_forecast(copied), expected)
            if seen < len(rows):
                pd.testing.assert_frame_equal(_forecast(copied.update(rows[seen])),
                                              forecasts[expected.index[1]][1])
        except (AssertionError, WorkloadDataError) as exc:
            mixed.append(f"{type(exc).__name__}: {str(exc).splitlines()[0][:160]}")
    assert not mixed, f"{len(mixed)} of {len(copies)} copies mixed two states; the first: {mixed[0]}"


@pytest.mark.parametrize("mode", ["refit", "incremental"])
def test_a_fleet_deep_copy_an_update_lands_in_is_one_state(monkeypatch, mode):
    """A deep copy read the fleet's attributes one by one: an update landing in another thread meanwhile (injected
    here as the copy reaches the fitted blocks) gave a copy with the blocks before it and the per-key predictors and
    errors after it. The copy is the fleet as it was when the copy began."""
    from workload_predictor.fleet import FleetBlock

    frame, new = _continuation(3, 300, 1, seed=1)
    fleet = FleetPredictor(horizon=5, update_mode=mode).fit(frame, key="endpoint")
    before = fleet.predict()
    landed = []

    def an_update_lands(block, memo):
        if not landed:
            landed.append(True)
            fleet.update(new)
        return copy._reconstruct(block, memo, *block.__reduce_ex__(4))

    monkeypatch.setattr(FleetBlock, "__deepcopy__", an_update_lands, raising=False)
    copied = copy.deepcopy(fleet)
    monkeypatch.undo()
    assert landed
    pd.testing.assert_frame_equal(copied.predict(), before)
    pd.testing.assert_frame_equal(copied.update(new).predict(), fleet.predict())


@pytest.mark.parametrize("how", COPIES)
def test_a_copys_forecasts_are_not_timed_in_the_originals_health(how, series):
    """``predict`` appends its duration to ``predict_seconds_``, which ``health`` reports (``prediction_seconds``).
    A shallow copy shared that buffer, so a copy's forecasts (a slow one on a busy thread, thousands of them in a
    test harness) showed in the original's health. Every copy times its own."""
    predictor = WorkloadPredictor(horizon=5).fit(series[0])
    predictor.predict()
    timings = list(predictor.predict_seconds_)
    reported = predictor.health()["metrics"]["prediction_seconds"]["value"]
    copied = COPIES[how](predictor)
    for _ in range(3):
        copied.predict()
    assert list(predictor.predict_seconds_) == timings
    assert predictor.health()["metrics"]["prediction_seconds"]["value"] == reported
    assert len(copied.predict_seconds_) == len(timings) + 3


def test_a_deep_copy_a_forecast_in_another_thread_lands_in_is_one_state(series):
    """``predict`` appends its timing in any thread. A deep copy iterated the live timings (``copy`` reconstructs a
    deque item by item, in Python), so a forecast in another thread landing meanwhile failed the copy with
    "RuntimeError: deque mutated during iteration". Here the forecast runs in another thread at the moment the copy
    reaches a timing (a timing whose deep copy starts it and waits for it): the copy succeeds and holds the
    timings as they were when it began."""
    predictor = WorkloadPredictor(horizon=5).fit(series[0])
    predictor.predict()
    landed = []

    class Timing(float):
        def __deepcopy__(self, memo):
            if not landed:
                thread = threading.Thread(target=lambda: landed.append(predictor.predict()))
                thread.start()
                thread.join()
            return float(self)

    predictor.predict_seconds_.append(Timing(0.001))
    timings = list(predictor.predict_seconds_)
    copied = copy.deepcopy(predictor)
    assert landed
    assert list(copied.predict_seconds_) == timings and len(predictor.predict_seconds_) == len(timings) + 1
    pd.testing.assert_frame_equal(_forecast(copied), _forecast(predictor))
