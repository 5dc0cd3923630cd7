"""A DLinear's ``kernel_size`` against the kernel its fit used (``kernel_size_``): an update solves and inverts its
ridge systems with the fit's kernel, whatever ``set_params`` changed since (the setting takes effect at the next
fit, as ``window`` and ``follow_level`` do); a model file whose ``kernel_size`` disagrees with its ``kernel_size_``
is refused at load, and ``save`` refuses to write one."""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import pytest

from test_model_file_fuzz import fitted as fuzz_fitted
from test_model_file_fuzz import node, pack, stored_fields, unpack
from workload_predictor import ModelFileError, UnsaveableModelError, WorkloadPredictor, persistence
from workload_predictor.models.dlinear import DLinear

START = pd.Timestamp("2024-03-01", tz="UTC")
FREQ = pd.Timedelta("1min")


def loads(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).poisson(40, (n, 1)).astype(float)


def rows(values: np.ndarray, first: int) -> pd.DataFrame:
    return pd.DataFrame({"timestamp": START + FREQ * (first + np.arange(len(values))), "requests": values})


@pytest.fixture(scope="module")
def fitted():
    """A DLinear fitted with the default kernel (25) on 300 points, and the 3 points of its next update."""
    series = loads(303)
    return DLinear(horizon=5, window=24).fit(series[:300]), series


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """A predictor's file (DLinear, kernel 13, updated once: it keeps inverted ridge systems), as (header, state,
    arrays, {field name: path}), and the rows of its next update."""
    series = loads(310, seed=1)[:, 0]
    predictor = WorkloadPredictor("dlinear", horizon=5, window=24, model_params={"kernel_size": 13})
    predictor.fit(rows(series[:300], 0)).update(rows(series[300:305], 300))
    path = predictor.save(tmp_path_factory.mktemp("kernel") / "dlinear.wpm")
    header, state, arrays = unpack(path.read_bytes())
    fields = {name: where for where, name in reversed(list(stored_fields(state)))}
    return header, state, arrays, fields, rows(series[305:], 305)


def forged(saved, tmp_path, changes: dict) -> str:
    header, state, arrays, fields, _ = saved
    state = copy.deepcopy(state)
    for name, value in changes.items():
        where = fields[name]
        if value is DROP:  # an attribute's [name, value] pair: the file of a version that did not keep it
            del node(state, where[:-2])[where[-2]]
        else:
            node(state, where[:-1])[where[-1]] = value
    path = tmp_path / "forged.wpm"
    path.write_bytes(pack(header, state, arrays))
    return str(path)


DROP = object()


def test_an_update_after_kernel_size_set_since_fit_is_the_fits_update(fitted):
    """The first update inverts the fit's systems: with the setting read there, a model whose ``kernel_size`` was
    set since fit updated to another kernel's map (its later rank-one steps on one kernel's inverse, its
    recomputations with the other's)."""
    model, series = fitted
    kept, changed = copy.deepcopy(model), copy.deepcopy(model).set_params(kernel_size=5)
    kept.update(series[300:])
    changed.update(series[300:])
    np.testing.assert_array_equal(changed.coef_, kept.coef_)
    np.testing.assert_array_equal(changed.trend_coef_, kept.trend_coef_)  # the fit's decomposition
    assert changed.kernel_size_ == 25 and changed.kernel_size == 5
    refit = DLinear(horizon=5, window=24, kernel_size=5).fit(series[:300])  # the setting: at the next fit
    assert refit.kernel_size_ == 5 and not np.allclose(refit.coef_, kept.coef_)


def test_a_file_whose_kernel_size_is_not_its_fits_is_refused(saved, tmp_path):
    """An update of the loaded file stepped on the inverses of the fit's kernel (13) and recomputed them with the
    file's (25)."""
    with pytest.raises(ModelFileError, match=r"kernel_size=25 beside kernel_size_=13, which a fit sets to its "
                                             r"kernel_size.*refit and save again"):
        WorkloadPredictor.load(forged(saved, tmp_path, {"state.model_.params.kernel_size": 25}))


@pytest.mark.parametrize("value", [0, 25.0, True, "13", None, 2**41])
def test_a_kernel_size_record_that_is_no_kernel_is_refused(saved, tmp_path, value):
    with pytest.raises(ModelFileError, match=r"kernel_size_=.*not a positive number of buckets"):
        WorkloadPredictor.load(forged(saved, tmp_path, {"state.model_.state.kernel_size_": value}))


def test_a_file_saved_before_the_record_reads_its_setting_as_the_fits(saved, tmp_path):
    """Without ``kernel_size_`` (a file of 0.39 or older) the setting is the fit's kernel, recorded at load: it
    loads, and updates as the file saved with the record does."""
    *_, more = saved
    old = WorkloadPredictor.load(forged(saved, tmp_path, {"state.model_.state.kernel_size_": DROP}))
    assert old.model_.kernel_size_ == 13
    new = WorkloadPredictor.load(forged(saved, tmp_path, {}))
    old.update(more.copy())
    new.update(more.copy())
    np.testing.assert_array_equal(old.model_.coef_, new.model_.coef_)
    WorkloadPredictor.load(old.save(tmp_path / "again.wpm"))


def test_a_kernel_size_changed_since_fit_is_not_saved(fitted, tmp_path):
    model = copy.deepcopy(fitted[0]).set_params(kernel_size=13)
    with pytest.raises(UnsaveableModelError, match="kernel_size=13 beside kernel_size_=25.*set it back"):
        persistence.save(model, tmp_path / "model.wpm")
    assert not (tmp_path / "model.wpm").exists()
    persistence.load(persistence.save(model.set_params(kernel_size=25), tmp_path / "model.wpm"))


# -- an LSTM's base and a fleet key's own predictor: each a DLinear of its own ---------------------------------------
def forged_fitted(kind: str, tmp_path, changes: dict) -> str:
    """``test_model_file_fuzz.fitted(kind)``'s object (fitted and updated once; its fit shared with that module's
    tests) saved with each stored field of ``changes`` set to its value."""
    obj = fuzz_fitted(kind)[0]
    header, state, arrays = unpack(obj.save(tmp_path / "fitted.wpm").read_bytes())
    fields = {name: where for where, name in reversed(list(stored_fields(state)))}
    for name, value in changes.items():
        node(state, fields[name][:-1])[fields[name][-1]] = value
    path = tmp_path / "forged.wpm"
    path.write_bytes(pack(header, state, arrays))
    return str(path)


@pytest.mark.parametrize("kind, field", [("lstm", "state.model_.state.base_.params.kernel_size"),
                                         ("fleet-incremental", "state._predictors.k0.state.model_.params.kernel_size")],
                         ids=["lstm base", "fleet key"])
def test_an_lstm_base_or_a_fleet_keys_model_with_another_kernel_is_refused(kind, field, tmp_path):
    if kind == "lstm":
        pytest.importorskip("torch")
    cls = type(fuzz_fitted(kind)[0])
    with pytest.raises(ModelFileError, match="kernel_size=5 beside kernel_size_=25"):
        cls.load(forged_fitted(kind, tmp_path, {field: 5}))


def test_an_lstms_own_settings_changed_since_fit_are_read_at_its_next_fit(tmp_path):
    """The LSTM builds its base from its ``window``, ``kernel_size`` and ``follow_level`` at fit; an update reads the
    base's own (its ``kernel_size_``) and the network as fitted: a file whose LSTM settings differ from its base's
    (what ``set_params`` on the LSTM leaves) loads and updates as the file saved after the fit."""
    pytest.importorskip("torch")
    predictor, more = fuzz_fitted("lstm")
    changed = WorkloadPredictor.load(forged_fitted("lstm", tmp_path, {"state.model_.params.kernel_size": 5,
                                                                      "state.model_.params.window": 48}))
    assert (changed.model_.kernel_size, changed.model_.base_.kernel_size_) == (5, 25)
    kept = WorkloadPredictor.load(forged_fitted("lstm", tmp_path, {}))
    kept.update(more.copy())
    changed.update(more.copy())
    pd.testing.assert_frame_equal(changed.predict().to_frame(), kept.predict().to_frame())
