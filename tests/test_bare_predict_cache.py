"""A model that scanned its own fit settles the inputs of its ``predict()`` once per state (``base._OWN_INPUTS``), not
at every call: with a flagged burst among them a forecast cost 75 us settling them again, 9 us without one. The
settled inputs are kept beside the model, not in it, and reused only while the arrays they were settled from are the
model's: every forecast is bit for bit the one settled afresh, after a fit, a refit, a failed refit, updates that
move a burst through the window or flag a new one, a load, a deep copy and a pickle; and the model's attributes, its
pickle and its model file are those of a model that never forecast.

The series: Poisson(20) counts with one 2**32 - 1 bucket (a counter wrap), as tests/test_bare_predict_update_flags.py
reads them."""

from __future__ import annotations

import copy
import pickle

import numpy as np
import pytest

from conftest import counted_calls
from workload_predictor import anomaly, persistence
from workload_predictor.errors import NotFittedError
from workload_predictor.models import base
from workload_predictor.models.baselines import MovingAverage
from workload_predictor.models.dlinear import DLinear
from workload_predictor.models.ensemble import Ensemble

N, SENTINEL, HORIZON = 1000, 2.0**32 - 1, 10
MODELS = {
    "dlinear": lambda: DLinear(horizon=HORIZON),
    "moving_average": lambda: MovingAverage(horizon=HORIZON),
    "ensemble": lambda: Ensemble(horizon=HORIZON, members=("dlinear", "naive", "moving_average")),
}


def stream(seed: int = 0, extra: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).poisson(20, N + extra).astype(float)


def with_sentinel(values: np.ndarray, *positions: int) -> np.ndarray:
    dirty = values.copy()
    dirty[list(positions)] = SENTINEL
    return dirty


def settled_afresh(model, steps: int | None = None) -> np.ndarray:
    """``model.predict(steps)`` with its inputs settled at this call and not kept, whatever was kept (before the
    inputs were kept: its forecast)."""
    held, hold = getattr(base, "_held_inputs", None), getattr(base, "_hold_inputs", None)
    if held is None:
        return model.predict(steps)
    base._held_inputs, base._hold_inputs = (lambda model: None), (lambda model, entry: None)
    try:
        return model.predict(steps)
    finally:
        base._held_inputs, base._hold_inputs = held, hold


def check_forecast(model) -> np.ndarray:
    """The model's forecast, twice (from what was kept before, then from what this call kept), each bit for bit the
    one settled afresh; and a forecast of fewer steps the first steps of it."""
    first, second = model.predict(), model.predict()
    fresh = settled_afresh(model)
    np.testing.assert_array_equal(first, fresh)
    np.testing.assert_array_equal(second, fresh)
    np.testing.assert_array_equal(model.predict(3), fresh[:3])
    return fresh


@pytest.fixture
def led_runs_calls(monkeypatch):
    """The calls of ``anomaly.led_runs``, counted (the settling of a model's inputs)."""
    return counted_calls(monkeypatch, anomaly, "led_runs")


@pytest.mark.parametrize("name", list(MODELS))
def test_the_inputs_are_settled_once_per_state(name, led_runs_calls):
    """On the base every predict() settled its inputs again (the 5 forecasts below: 5 settlings, then 3 more)."""
    model = MODELS[name]().fit(with_sentinel(stream(), N - 4))
    led_runs_calls.clear()
    for _ in range(5):
        model.predict()
    assert len(led_runs_calls) == 1
    model.update(np.array([21.0]))
    led_runs_calls.clear()
    for _ in range(3):
        model.predict()
    assert len(led_runs_calls) == 1


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("name", list(MODELS))
def test_forecasts_through_updates_are_those_settled_afresh(name, seed):
    """Updates of one bucket move a burst flagged at fit through the inputs and out of them, and flag a second one,
    which stays the newest point for one update (read raw) and then is settled: at each state the kept inputs give
    the forecast settled afresh."""
    values = with_sentinel(stream(seed, extra=140), N - 4, N + 30)
    model = MODELS[name]().fit(values[:N])
    forecasts = [check_forecast(model)]
    for position in range(N, len(values)):
        model.update(values[position : position + 1])
        forecasts.append(check_forecast(model))
    raw = [i for i, forecast in enumerate(forecasts) if np.abs(forecast).max() > 1e6]
    assert raw == [31]  # the second burst while it is the newest point


@pytest.mark.parametrize("sizes", [[3, 5], [8], [40, 100]])
def test_updates_of_several_buckets_drop_the_kept_inputs(sizes):
    values = with_sentinel(stream(3, extra=sum(sizes)), N - 2, N + 5)
    model = DLinear(horizon=HORIZON).fit(values[:N])
    check_forecast(model)
    start = N
    for size in sizes:
        model.update(values[start : start + size])
        start += size
        check_forecast(model)


@pytest.mark.parametrize("name", list(MODELS))
def test_a_refit_forecasts_from_its_own_inputs(name):
    """A model refitted on another series (a burst elsewhere, none, the same series again) forecasts as a new model
    fitted on it, never from the inputs its fit before settled."""
    first = with_sentinel(stream(0), N - 4)
    model = MODELS[name]().fit(first)
    before = check_forecast(model)
    for y in (with_sentinel(stream(1), N - 6), stream(2), with_sentinel(stream(1), N - 6), first):
        model.fit(y)
        np.testing.assert_array_equal(check_forecast(model), settled_afresh(MODELS[name]().fit(y)))
    np.testing.assert_array_equal(model.predict(), before)


def test_a_failed_refit_forecasts_as_the_state_it_left(monkeypatch):
    """A refit refused before it changes the model leaves its forecast; one that fails part way leaves the model
    unfitted (no forecast from the inputs kept of the fit before), and the next fit forecasts from its own."""
    y, other = with_sentinel(stream(), N - 4), with_sentinel(stream(1), N - 6)
    model = DLinear(horizon=HORIZON).fit(y)
    before = check_forecast(model)
    with pytest.raises(ValueError):
        model.fit(y[:20])  # too few points
    np.testing.assert_array_equal(check_forecast(model), before)
    with pytest.raises(ValueError):
        model.fit(y, {(N + 5, 0): 1.0})  # a flag outside y
    np.testing.assert_array_equal(check_forecast(model), before)

    def failing(*args, **kwargs):
        raise RuntimeError("refit failed")

    monkeypatch.setattr(model, "_refit", failing)
    with pytest.raises(RuntimeError, match="refit failed"):
        model.fit(other)
    with pytest.raises(NotFittedError):
        model.predict()
    monkeypatch.undo()
    model.fit(y)
    np.testing.assert_array_equal(check_forecast(model), before)
    model.fit(other)
    np.testing.assert_array_equal(check_forecast(model), settled_afresh(DLinear(horizon=HORIZON).fit(other)))


@pytest.mark.parametrize("name", list(MODELS))
def test_copies_and_loaded_models_forecast_and_update_on_their_own(name):
    """A deep copy, a pickled copy and a loaded model file of a model that forecast (its inputs kept) forecast as it
    does; each updated on its own forecasts as the model given the same update, and the others keep theirs."""
    model = MODELS[name]().fit(with_sentinel(stream(4), N - 4))
    kept = check_forecast(model)
    copies = {"deepcopy": copy.deepcopy(model), "pickle": pickle.loads(pickle.dumps(model)),
              "file": persistence.loads(persistence.dumps(model)), "copy": copy.copy(model)}
    for clone in copies.values():
        np.testing.assert_array_equal(check_forecast(clone), kept)
    new = np.array([22.0, SENTINEL, 19.0, 18.0])
    waiting = [copies["deepcopy"], copies["pickle"], copies["file"]]  # a shallow copy shares what an update changes
    while waiting:
        waiting.pop().update(new)
        for other in [model, copies["copy"], *waiting]:
            np.testing.assert_array_equal(check_forecast(other), kept)
    model.update(new)
    updated = check_forecast(model)
    assert not np.array_equal(updated, kept)
    for how in ("deepcopy", "pickle", "file"):
        np.testing.assert_array_equal(check_forecast(copies[how]), updated)


@pytest.mark.parametrize("name", list(MODELS))
def test_a_forecast_leaves_the_attributes_the_pickle_and_the_file_as_they_were(name):
    """The kept inputs are no attribute: a model that forecast pickles and saves to the bytes it did before."""
    model = MODELS[name]().fit(with_sentinel(stream(5), N - 4))
    names, pickled, saved = sorted(vars(model)), pickle.dumps(model), persistence.dumps(model)
    model.predict()
    assert base._held_inputs(model) is not None
    assert sorted(vars(model)) == names
    assert pickle.dumps(model) == pickled
    assert persistence.dumps(model) == saved


def test_a_model_gone_leaves_no_kept_inputs():
    """The kept inputs hold no model alive, and go with it."""
    import gc
    import weakref

    model = DLinear(horizon=HORIZON).fit(with_sentinel(stream(), N - 4))
    model.predict()
    gc.collect()
    count, gone = len(base._OWN_INPUTS), weakref.ref(model)
    del model
    gc.collect()
    assert gone() is None
    assert len(base._OWN_INPUTS) == count - 1
