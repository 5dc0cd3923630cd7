"""An LSTM fitted on an idle series (a constant throughout: a new endpoint) whose load then arrives by updates.

A DLinear fitted on such a series (``idle_``) refits itself at the update that makes it fit-worthy, with the scale and
input-anomaly floor of the points since waking (``DLinear._woken``): the constant's floor and scale are in the
load's own units (0's are 1), against which every bucket of a busy load would be a burst, weighed down. The LSTM's
linear base wakes the same way, and the network's scale with it: the LSTM's base forecasts as a DLinear through the
same updates, and a load and the same load times 1,000 forecast alike.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from workload_predictor import WorkloadPredictor
from workload_predictor.errors import ModelFileError
from workload_predictor.models.dlinear import DLinear
from workload_predictor.models.lstm import LSTM

N_IDLE, HORIZON = 300, 10
BUSY = np.random.default_rng(0).poisson(20, 60).astype(float)
CHUNKS = (10, 10, 10, 10, 20)  # the updates' sizes: the load wakes the models at the first


def _lstm() -> LSTM:
    return LSTM(horizon=HORIZON, hidden_size=8, max_epochs=2, random_state=0)


def _updated(model, constant: float, scale: float = 1.0):
    model.fit(np.full(N_IDLE, scale * constant))
    start = 0
    for size in CHUNKS:
        model.update(scale * BUSY[start : start + size])
        start += size
    return model


def _base_forecast(lstm: LSTM) -> np.ndarray:
    return lstm.base_._predict_at(lstm.context_, np.array([len(lstm.context_)]))[0]


@pytest.mark.parametrize("constant", [0.0, 7.0])
def test_an_lstms_base_wakes_as_dlinear_and_the_load_times_1000_forecasts_alike(constant):
    dlinear = _updated(DLinear(horizon=HORIZON), constant)
    lstm = _updated(_lstm(), constant)
    np.testing.assert_allclose(_base_forecast(lstm)[:, 0], dlinear.predict(), rtol=1e-9)
    np.testing.assert_allclose(lstm.base_.weight_floor_, dlinear.weight_floor_)
    assert dlinear.idle_ is False and getattr(lstm.base_, "idle_", None) is False
    if constant == 0.0:  # the floor and the network's scale are the busy load's, not 0's least (1)
        assert lstm.base_.weight_floor_[0] > 1.0 and lstm.scale_[0] > 1.0
        assert lstm.base_.recent_weights_ is None  # no bucket of a Poisson(20) load read as a burst
    large = _updated(_lstm(), constant, scale=1000.0)
    np.testing.assert_allclose(large.scale_, 1000.0 * lstm.scale_, rtol=1e-12)
    level = float(BUSY.mean())
    assert np.abs(large.predict() / 1000.0 - lstm.predict()).max() < 1e-6 * level


def test_an_idle_lstm_fit_saved_and_loaded_wakes_as_the_fitted_one(tmp_path):
    """The base's ``idle_`` is part of what a model file holds: a predictor saved while idle and loaded wakes at the
    same update as the one kept in memory."""
    timeline = pd.date_range("2026-01-01", periods=N_IDLE + len(BUSY), freq="10s", tz="UTC")
    frame = pd.DataFrame({"timestamp": timeline, "requests": np.r_[np.zeros(N_IDLE), BUSY]})
    predictor = WorkloadPredictor(model="lstm", horizon=HORIZON, random_state=0, verbose=False,
                                  model_params={"hidden_size": 8, "max_epochs": 2}).fit(frame[:N_IDLE])
    path = tmp_path / "idle.wp"
    predictor.save(path)
    loaded = WorkloadPredictor.load(path)
    assert getattr(loaded.model_.base_, "idle_", None) is True
    for model in (predictor, loaded):
        model.update(frame[N_IDLE : N_IDLE + 40])
    assert loaded.model_.base_.idle_ is False and loaded.model_.base_.weight_floor_[0] > 1.0
    np.testing.assert_allclose(loaded.predict().yhat, predictor.predict().yhat, rtol=1e-9)


def test_an_ensembles_lstm_base_wakes_as_its_dlinear_member():
    """The ensemble's LSTM member, whose base takes the DLinear member's first fit (its twin), wakes with it; the
    base takes every bucket exactly while the network waits for ``LSTM_UPDATE_EVERY`` of them."""
    ensemble = WorkloadPredictor(model="ensemble", horizon=HORIZON, random_state=0, verbose=False,
                                 model_params={"members": ("dlinear", "lstm", "naive"),
                                               "member_params": {"lstm": {"hidden_size": 8, "max_epochs": 2}}})
    timeline = pd.date_range("2026-01-01", periods=N_IDLE + len(BUSY), freq="10s", tz="UTC")
    frame = pd.DataFrame({"timestamp": timeline, "requests": np.r_[np.zeros(N_IDLE), BUSY]})
    ensemble.fit(frame[:N_IDLE])
    for start in range(N_IDLE, N_IDLE + 40, 5):
        ensemble.update(frame[start : start + 5])
    members = ensemble.model_.members_
    lstm, dlinear = members["lstm"], members["dlinear"]
    np.testing.assert_allclose(_base_forecast(lstm), dlinear.predict().reshape(HORIZON, -1), rtol=1e-9)
    np.testing.assert_allclose(lstm.base_.weight_floor_, dlinear.weight_floor_)
    assert dlinear.idle_ is False and getattr(lstm.base_, "idle_", None) is False
    assert lstm.scale_[0] == pytest.approx(dlinear.scale_[0], rel=1e-12)


def test_the_lstm_leaves_the_constant_before_it_wakes():
    """Before the load holds ``anomaly.MIN_BUSY`` points off the constant, the base waits (``idle_`` the position of
    the first): the update in between is the base's plain update, as DLinear's."""
    dlinear, lstm = DLinear(horizon=HORIZON).fit(np.zeros(N_IDLE)), _lstm().fit(np.zeros(N_IDLE))
    for model in (dlinear, lstm):
        model.update(BUSY[:2])
    assert getattr(lstm.base_, "idle_", None) == dlinear.idle_ == N_IDLE
    np.testing.assert_allclose(_base_forecast(lstm)[:, 0], dlinear.predict(), rtol=1e-9, atol=1e-12)
    assert lstm.scale_[0] == lstm.base_.scale_[0] == 1.0  # the constant's scale, until the base wakes


def test_a_file_whose_lstm_base_is_idle_since_a_point_never_seen_is_refused(tmp_path):
    """The base's ``idle_`` (the position of the first point that left the constant) lies below its LSTM's
    ``n_seen_``, as a DLinear's below its own: beyond it, an update would rebuild the constant's points up to it."""
    timeline = pd.date_range("2026-01-01", periods=N_IDLE, freq="10s", tz="UTC")
    predictor = WorkloadPredictor(model="lstm", horizon=HORIZON, random_state=0, verbose=False,
                                  model_params={"hidden_size": 8, "max_epochs": 2})
    predictor.fit(pd.DataFrame({"timestamp": timeline, "requests": np.zeros(N_IDLE)}))
    predictor.model_.base_.idle_ = 10**11
    path = tmp_path / "forged.wp"
    predictor.save(path)
    with pytest.raises(ModelFileError, match=r"idle_=100000000000, not True, False or the position .* n_seen_=300"):
        WorkloadPredictor.load(path)
