"""A fitted ``GlobalLSTM`` whose ``horizon``, ``linear_base``, ``ridge`` or ``robust`` was set since its fit
(``set_params``) says so at ``predict``, ``predict_at`` and ``update``, as a per-key model does for its horizon
(``BaseForecaster._fitted_horizon``): its base and network forecast the fitted horizon's steps, with the base it was
fitted with, and its updates solve and weigh as its fit did.

Before: ``predict()``, ``predict_at()`` and ``update()`` after ``set_params(horizon=3)`` on a model fitted at 5 raised
numpy's ``ValueError: cannot reshape array of size 20 into shape (3,1)`` (8: the same; ``update`` at 8: "all the
input array dimensions except for the concatenation axis must match exactly"), which names neither the problem nor
the fix (with 3 keys, where 3 keys times 5 steps divide by 3, ``predict()`` returned rows of the keys' steps mixed).
``linear_base=False`` set since fit dropped the base from ``predict()`` (the network had learnt the residual of it:
another forecast, silently); ``ridge=10.0`` (or ``ridge=-1``, which the fit refuses) changed the base an update
solves; ``robust=False`` changed how an update weighs its buckets.
"""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import pytest

from workload_predictor.errors import ModelFileError, WorkloadDataError
from workload_predictor import FleetPredictor
from workload_predictor.models.global_lstm import GlobalLSTM

pytest.importorskip("torch")

TINY = {"horizon": 5, "window": 24, "hidden_size": 8, "max_epochs": 2, "batch_size": 64, "random_state": 0}


@pytest.fixture(scope="module")
def fitted() -> tuple[GlobalLSTM, list[np.ndarray]]:
    rng = np.random.default_rng(0)
    t = np.arange(240)
    series = [(level * (1 + 0.5 * np.sin(2 * np.pi * t / 24)) + rng.normal(0, 1, 240)).clip(0)[:, None]
              for level in (10.0, 100.0, 700.0)]
    return GlobalLSTM(**TINY).fit(series), series


CALLS = {
    "predict": lambda model, series: model.predict(),
    "predict_at": lambda model, series: model.predict_at(series, [[240]] * len(series)),
    "update": lambda model, series: model.update([y[-10:] for y in series]),
}


def _check_as_fitted(changed, model, series, call):
    """``changed``, its setting set back, forecasts (or updates and then forecasts) as the fitted ``model`` does."""
    expected = CALLS[call](copy.deepcopy(model), series)
    got = CALLS[call](changed, series)
    if call == "update":
        expected, got = expected.predict(), got.predict()
    for a, b in zip(got, expected):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("horizon", [3, 8])
@pytest.mark.parametrize("call", CALLS)
def test_a_horizon_set_since_fit_is_named_with_the_fix(fitted, call, horizon):
    model, series = fitted
    changed = copy.deepcopy(model).set_params(horizon=horizon)
    with pytest.raises(WorkloadDataError, match=rf"horizon changed from 5 to {horizon} since fit: fit again, or set it "
                                                r"back with set_params\(horizon=5\)"):
        CALLS[call](changed, series)
    changed.set_params(horizon=5)  # set back: as fitted
    _check_as_fitted(changed, model, series, call)



@pytest.mark.parametrize("name, value, before", [("linear_base", False, "True"), ("ridge", 10.0, "0.001"),
                                                 ("ridge", -1, "0.001"), ("robust", False, "True")])
@pytest.mark.parametrize("call", CALLS)
def test_a_setting_the_forecast_or_update_reads_set_since_fit_is_named_with_the_fix(fitted, call, name, value, before):
    model, series = fitted
    changed = copy.deepcopy(model).set_params(**{name: value})
    with pytest.raises(WorkloadDataError, match=rf"{name} changed from {before} to {value} since fit: fit again, or "
                                                rf"set it back with set_params\({name}={before}\)"):
        CALLS[call](changed, series)
    changed.set_params(**{name: getattr(model, name)})
    _check_as_fitted(changed, model, series, call)


def test_settings_that_take_effect_at_the_next_fit_change_nothing_before_it(fitted):
    """``window`` and ``patch_size`` are read by a fit alone (its forecasts read ``window_`` and ``patch_size_``)."""
    model, series = fitted
    changed = copy.deepcopy(model).set_params(window=48, patch_size=4)
    for a, b in zip(changed.predict(), model.predict()):
        np.testing.assert_array_equal(a, b)


def _fleet() -> FleetPredictor:
    rng = np.random.default_rng(1)
    start, n = pd.Timestamp("2026-01-01", tz="UTC"), 240
    frame = pd.concat([pd.DataFrame({"endpoint": name, "timestamp": start + pd.Timedelta("10s") * np.arange(n),
                                     "requests": rng.poisson(level, n).astype(float)})
                       for name, level in (("a", 20), ("b", 300))], ignore_index=True)
    return FleetPredictor(horizon=3, model="global_lstm", window=24, model_params={"max_epochs": 1, "ridge": 0.01},
                          random_state=0).fit(frame, key="endpoint")


def test_a_fleet_file_keeps_its_networks_fitted_settings_and_refuses_forged_ones(tmp_path):
    fleet = _fleet()
    assert fleet._global.model.fitted_settings_ == {"linear_base": True, "ridge": 0.01, "robust": True}
    loaded = FleetPredictor.load(fleet.save(tmp_path / "fleet.wp"))
    assert loaded._global.model.fitted_settings_ == fleet._global.model.fitted_settings_
    pd.testing.assert_frame_equal(loaded.predict(), fleet.predict())
    for forged in ({"linear_base": True, "ridge": 0.5, "robust": True}, {"ridge": 0.01}, "settings"):
        bad = copy.deepcopy(fleet)
        bad._global.model.fitted_settings_ = forged
        path = bad.save(tmp_path / "forged.wp")
        with pytest.raises(ModelFileError, match="fitted_settings_|ridge changed from 0.5 to 0.01"):
            FleetPredictor.load(path)
    old = copy.deepcopy(fleet)
    del old._global.model.fitted_settings_  # as a file saved before the fit recorded them: its settings as saved
    loaded = FleetPredictor.load(old.save(tmp_path / "old.wp"))
    pd.testing.assert_frame_equal(loaded.predict(), fleet.predict())
