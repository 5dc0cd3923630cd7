"""save's check proves an LSTM's forecast (and an ensemble's combination of it) within what a model file may hold by
a bound, without the network's forward pass (model_file._size_of, LSTM._forecast_size_bound,
Ensemble._combined_size_bound); where the bound does not prove it, the forecast is computed, so no state save refused
before is written now."""

from __future__ import annotations

import copy

import numpy as np
import pytest

from conftest import periodic_series
from workload_predictor import UnsaveableModelError, WorkloadPredictor, model_file
from workload_predictor.data import MAX_VALUE

torch = pytest.importorskip("torch")

HORIZON = 6


def lstm_params(**extra) -> dict:
    return {"window": 24, "max_epochs": 2, **extra}


@pytest.fixture(scope="module")
def fitted() -> dict[str, WorkloadPredictor]:
    frame = periodic_series(600, noise=5.0)
    lstm = WorkloadPredictor(model="lstm", horizon=HORIZON, random_state=0, model_params=lstm_params()).fit(frame)
    ensemble = WorkloadPredictor(model="ensemble", horizon=HORIZON, random_state=0,
                                 model_params={"member_params": {"lstm": lstm_params()}}).fit(frame)
    return {"lstm": lstm, "ensemble": ensemble}


def the_lstm(predictor: WorkloadPredictor):
    model = predictor.model_
    return model.members_["lstm"] if hasattr(model, "members_") else model


def forwards(network) -> list:
    """A list that grows by one at each forward pass of ``network``."""
    ran: list = []
    network.register_forward_hook(lambda *_: ran.append(1))
    return ran


@pytest.mark.parametrize("model", ["lstm", "ensemble"])
def test_save_runs_no_lstm_forward_pass(fitted, tmp_path, model):
    """The check ran the network once (0.6 ms of save's 1 ms of checking an ensemble); the bound needs none."""
    predictor = copy.deepcopy(fitted[model])
    lstm = the_lstm(predictor)
    assert lstm._correction_share() > 0  # the network's correction counts in the forecast
    ran = forwards(lstm.network_)
    predictor.save(tmp_path / "model.wpm")
    assert ran == []
    predictor.predict()
    assert ran == [1]  # the hook counts


@pytest.mark.parametrize("layers", [1, 2])
@pytest.mark.parametrize("linear_base", [True, False])
@pytest.mark.parametrize("share", [1.0, 0.3, -2.0])
def test_an_lstm_forecast_is_within_its_bound(layers, linear_base, share):
    """Random networks (weights of size ~3, the head's up to 40) on random loads, spikes to MAX_VALUE among them:
    the forecast's size never exceeds the bound, at every target and step."""
    frame = periodic_series(400, noise=5.0)
    predictor = WorkloadPredictor(model="lstm", horizon=HORIZON, random_state=0,
                                  model_params=lstm_params(num_layers=layers, linear_base=linear_base)).fit(frame)
    lstm = predictor.model_
    lstm.correction_share_ = share
    rng = np.random.default_rng(layers)
    checked = 0
    for trial in range(40):
        with torch.no_grad():
            for parameter in lstm.network_.lstm.parameters():
                parameter.copy_(torch.from_numpy(rng.normal(0.0, 3.0, parameter.shape).astype(np.float32)))
            lstm.network_.head.weight.copy_(torch.from_numpy(rng.uniform(-40, 40, lstm.network_.head.weight.shape)
                                                             .astype(np.float32)))
        y = rng.uniform(0.0, 200.0, (60, 1))
        if trial % 2:
            y[rng.integers(0, 60, 5)] = MAX_VALUE * rng.uniform(0.5, 1.0)
        bound = lstm._forecast_size_bound(y)
        forecast = lstm._predict_at(y, np.array([len(y)]))
        assert bound is not None and np.isfinite(bound)
        assert np.abs(forecast).max() <= bound, (trial, np.abs(forecast).max(), bound)
        checked += 1
    assert checked == 40


def beyond(predictor: WorkloadPredictor, how: str) -> None:
    """Change ``predictor``'s state after fit so its forecast (or a member's) goes beyond the bound or is NaN."""
    lstm = the_lstm(predictor)
    network = lstm.network_
    with torch.no_grad():
        if how == "head bias":  # in place: within float32 and the bound's limit, the forecast ~1e26
            network.head.bias.fill_(1e25)
        elif how == "head weights":  # beyond the bound's limit: the forecast's size overflows
            network.head.weight.fill_(3e38)
        elif how == "NaN weight":
            network.lstm.weight_hh_l0[0, 0] = float("nan")
        elif how == "NaN input":  # replaced, as an update replaces attributes
            context = predictor.model_.context_.copy()
            context[-1, 0] = np.nan
            predictor.model_.context_ = context
            if predictor.model_ is not lstm:
                lstm.context_ = context[-len(lstm.context_):]
        elif how == "share":
            lstm.correction_share_ = 1e30
        elif how == "scale":
            lstm.scale_ = lstm.scale_ * 1e20
        elif how == "ensemble weight":
            predictor.model_.step_weights_ = {**predictor.model_.step_weights_,
                                              "lstm": predictor.model_.step_weights_["lstm"] * 1e300}


HOWS = ["head bias", "head weights", "NaN weight", "NaN input", "share", "scale"]


@pytest.mark.parametrize("model, how", [("lstm", how) for how in HOWS]
                         + [("ensemble", how) for how in [*HOWS, "ensemble weight"]])
def test_a_state_beyond_the_bound_is_refused_after_a_save_that_passed(fitted, tmp_path, model, how):
    """Nothing is cached between saves: each save bounds or computes the state as it is now, so a state changed in
    place (or replaced) after a save that passed is refused as the forecast itself would be."""
    predictor = copy.deepcopy(fitted[model])
    predictor.save(tmp_path / "before.wpm")
    beyond(predictor, how)
    with pytest.raises(UnsaveableModelError):
        predictor.save(tmp_path / "after.wpm")
    assert not (tmp_path / "after.wpm").exists()


def test_a_bound_beyond_the_limit_computes_the_forecast(fitted, monkeypatch):
    """A bound that does not prove the forecast within (here: said to be 1e300) leaves it to the forecast, which
    is within: the genuine fit saves."""
    predictor = copy.deepcopy(fitted["ensemble"])
    lstm = the_lstm(predictor)
    monkeypatch.setattr(type(lstm), "_forecast_size_bound", lambda self, y: 1e300)
    ran = forwards(lstm.network_)
    model_file.check_saveable(predictor)
    assert len(ran) == 1  # the combination's, reused for the member's own


def test_a_flat_forecasts_bound_holds_for_loads_only():
    """``_forecast_within`` is declared for loads (>= 0): inputs of other signs (a state no fit produces, in which a
    seasonal median's shift reaches 3 times the largest) get no bound; the forecast is computed."""
    from workload_predictor.models.baselines import Naive

    loads, signed = np.array([[5.0], [1.0]]), np.array([[-5.0], [1.0]])
    assert model_file._declared_bound(Naive(), loads, {}, 1e30) == pytest.approx(5.0, rel=1e-5)
    assert model_file._declared_bound(Naive(), signed, {}, 1e30) is None
