"""A DLinear's settings that its updates read (``robust``, ``half_life``, ``kernel_size``) take effect at the next
``fit`` when ``set_params`` changes them after one (scikit-learn's convention): an update reads what the fit used,
``half_life_`` and ``kernel_size_`` (recorded at fit, and at load for a file saved before the record) and, for
``robust``, the anomaly floor a robust fit keeps (``weight_floor_``). An ensemble's LSTM takes its DLinear member's
fit for its base, with the base's own settings: the base a plain LSTM fits on the same points."""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import pytest

from test_model_file_fuzz import node, pack, stored_fields, unpack
from workload_predictor import ModelFileError, UnsaveableModelError, WorkloadPredictor, persistence
from workload_predictor.models.dlinear import DLinear

START = pd.Timestamp("2024-03-01", tz="UTC")
FREQ = pd.Timedelta("1min")


def loads(n: int, seed: int = 0) -> np.ndarray:
    values = np.random.default_rng(seed).poisson(40, (n, 1)).astype(float)
    values[302] = 1e6  # a burst in the update: a robust fit's update weighs it down
    return values


def stored(obj):
    """What ``obj``'s model file stores: its attributes by name (in any order), each array as its dtype, shape and
    bytes."""
    _, state, arrays = unpack(persistence.dumps(obj))

    def resolved(tree):
        if isinstance(tree, dict) and "__array__" in tree:
            array = arrays[tree["__array__"]]
            return array.dtype.str, array.shape, array.tobytes()
        if isinstance(tree, dict) and "__dict__" in tree:
            return {**{k: resolved(v) for k, v in tree.items() if k != "__dict__"},
                    "__dict__": {repr(key): resolved(value) for key, value in tree["__dict__"]}}
        if isinstance(tree, dict):
            return {k: resolved(v) for k, v in tree.items()}
        return [resolved(v) for v in tree] if isinstance(tree, list) else tree

    return resolved(state)


def same_state(a, b) -> None:
    """``a`` and ``b`` hold the same state, as their model files store it (bit for bit)."""
    assert stored(a) == stored(b)


@pytest.fixture(scope="module")
def fitted():
    """A robust DLinear fitted on 300 points, a non-robust one, and the series whose 12 next points update them."""
    series = loads(312)
    return (DLinear(horizon=5, window=24).fit(series[:300]),
            DLinear(horizon=5, window=24, robust=False).fit(series[:300]), series)


@pytest.mark.parametrize("which, setting, fits", [
    (0, {"half_life": 50.0}, None),
    (0, {"robust": False}, True),
    (1, {"robust": True}, False),
    (0, {"kernel_size": 5}, 25),
], ids=["half_life", "robust off", "robust on", "kernel_size"])
def test_a_setting_changed_since_fit_waits_for_the_next_fit(fitted, which, setting, fits, tmp_path):
    """The update after ``set_params`` is the update without it (the same state, set back); the setting is
    refused at save until set back (load would refuse the file), and a fit then uses it."""
    model, series = fitted[which], fitted[2]
    name, value = next(iter(setting.items()))
    kept, changed = copy.deepcopy(model), copy.deepcopy(model).set_params(**setting)
    kept.update(series[300:])
    changed.update(series[300:])
    same_state(changed.set_params(**{name: fits}), kept)
    persistence.load(persistence.save(changed, tmp_path / "changed.wpm"))
    with pytest.raises(UnsaveableModelError, match=f"{name}=.* beside .*set it back"):
        persistence.save(changed.set_params(**setting), tmp_path / "refused.wpm")
    refit = copy.deepcopy(model).set_params(**setting).fit(series[:300]).update(series[300:])
    with pytest.raises(AssertionError):
        same_state(refit.set_params(**{name: fits}), kept)


def test_half_life_set_on_an_idle_fit_waits_for_the_next_fit():
    """A fit without forgetting on a constant series is idle (``idle_``): with ``half_life`` set since, the update
    that wakes it is the update of the fit as it was, not one with forgetting."""
    series = np.r_[np.full(300, 7.0), np.random.default_rng(1).poisson(40, 40).astype(float)][:, None]
    model = DLinear(horizon=5, window=24).fit(series[:300])
    kept, changed = copy.deepcopy(model), copy.deepcopy(model).set_params(half_life=20.0)
    kept.update(series[300:])
    changed.update(series[300:])
    same_state(changed.set_params(half_life=None), kept)


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """A predictor's file (DLinear, kernel 13, updated once: it keeps inverted ridge systems), as (header, state,
    arrays, {field name: path}), and the rows of its next update (16 points: they recompute the systems)."""
    series = np.random.default_rng(1).poisson(40, 321).astype(float)
    predictor = WorkloadPredictor("dlinear", horizon=5, window=24, model_params={"kernel_size": 13})
    predictor.fit(rows(series[:300], 0)).update(rows(series[300:305], 300))
    path = predictor.save(tmp_path_factory.mktemp("records") / "dlinear.wpm")
    header, state, arrays = unpack(path.read_bytes())
    fields = {name: where for where, name in reversed(list(stored_fields(state)))}
    return header, state, arrays, fields, rows(series[305:], 305)


def rows(values: np.ndarray, first: int) -> pd.DataFrame:
    return pd.DataFrame({"timestamp": START + FREQ * (first + np.arange(len(values))), "requests": values})


def without(saved, tmp_path, names: tuple[str, ...]) -> str:
    """The file of ``saved`` without the stored attributes ``names`` (a file of a version that did not keep them)."""
    header, state, arrays, fields, _ = saved
    state = copy.deepcopy(state)
    # the last first: deleting an attribute's [name, value] pair moves those after it
    for where in sorted((fields[name] for name in names if name in fields), reverse=True):
        del node(state, where[:-2])[where[-2]]
    path = tmp_path / f"without{len(names)}.wpm"
    path.write_bytes(pack(header, state, arrays))
    return str(path)


def test_a_file_saved_before_the_records_takes_its_settings_as_the_fits(saved, tmp_path):
    """A file without ``kernel_size_`` and ``half_life_`` loads with its settings as saved recorded as the fit's:
    a kernel or half-life set after the load waits for a fit, and the update is the one the file with the records
    makes."""
    more = saved[-1]
    old = WorkloadPredictor.load(without(saved, tmp_path, ("state.model_.state.kernel_size_",
                                                          "state.model_.state.half_life_")))
    new = WorkloadPredictor.load(without(saved, tmp_path, ()))
    old.model_.set_params(kernel_size=25, half_life=30.0)
    old.update(more.copy())
    new.update(more.copy())
    same_state(old.model_.set_params(kernel_size=13, half_life=None), new.model_)
    assert (old.model_.kernel_size_, old.model_.half_life_) == (13, None)


@pytest.mark.parametrize("value", [0.5, "50", True, float("inf"), float("nan"), [50.0]])
def test_a_half_life_record_that_is_no_half_life_is_refused(saved, tmp_path, value):
    header, state, arrays, fields, _ = saved
    state = copy.deepcopy(state)
    node(state, fields["state.model_.state.half_life_"][:-1])[fields["state.model_.state.half_life_"][-1]] = value
    path = tmp_path / "forged.wpm"
    path.write_bytes(pack(header, state, arrays))
    with pytest.raises(ModelFileError, match=r"half_life_=.*not None or a number of buckets >= 1"):
        WorkloadPredictor.load(path)


@pytest.mark.parametrize("field, value, message", [
    ("state.model_.params.half_life", 50.0, "half_life=50.0 beside half_life_=None, which a fit sets to its "
                                            "half_life"),
    ("state.model_.params.robust", False, "robust=False beside weight_floor_="),
], ids=["half_life", "robust"])
def test_a_file_whose_setting_is_not_its_fits_is_refused(saved, tmp_path, field, value, message):
    header, state, arrays, fields, _ = saved
    state = copy.deepcopy(state)
    node(state, fields[field][:-1])[fields[field][-1]] = value
    path = tmp_path / "forged.wpm"
    path.write_bytes(pack(header, state, arrays))
    with pytest.raises(ModelFileError, match=message):
        WorkloadPredictor.load(path)


def test_an_ensembles_lstm_base_is_a_plain_lstms_base():
    """The ensemble hands its DLinear member's first fit to its LSTM's base (the same search on the same points);
    the base keeps its own settings (the member's ``half_life`` is the member's): it is the base a plain LSTM fits
    on the same points, in its settings, its state and its updates."""
    pytest.importorskip("torch")
    from workload_predictor.models.ensemble import Ensemble
    from workload_predictor.models.lstm import LSTM

    t = np.arange(430)
    y = (100 + 20 * np.sin(2 * np.pi * t / 60) + np.random.default_rng(0).normal(0, 5, len(t)))[:, None]
    ensemble = Ensemble(horizon=5, members=["dlinear", "lstm"], random_state=0, member_params={
        "dlinear": {"half_life": 200.0}, "lstm": {"max_epochs": 1, "hidden_size": 4}}).fit(y[:400])
    lstm = ensemble.members_["lstm"]
    plain = LSTM(**lstm.get_params()).fit(y[:400])
    assert lstm.base_.get_params() == plain.base_.get_params() == lstm._new_base().get_params()
    same_state(lstm.base_, plain.base_)
    for model in (lstm, plain):
        model.network_update_every_ = 10**6  # the base alone updates
        model.update(y[400:])
    same_state(lstm.base_, plain.base_)
