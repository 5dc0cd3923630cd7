"""The ensemble's combination: its error sums over a long update stream, a plain LSTM member, the block t statistic's
memory, fitted attributes before fit, and a refit of a model loaded from an older file."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from workload_predictor import NotFittedError, WorkloadPredictor, persistence
from workload_predictor.models import Ensemble
from workload_predictor.models.combination import evidence_share, evidence_shrinkage

BASELINES = ("dlinear", "naive", "moving_average", "moving_median", "exponential_smoothing")


def test_update_ranks_members_on_the_errors_of_the_evidence_it_keeps_not_on_rounding_residues():
    """Running error sums (new windows' errors added, leaving ones' taken away) kept residues of windows long gone:
    after a busy stretch then 1,000 idle buckets every baseline was exact on every kept window, yet their sums were
    +-5e-13 (some below zero), and the residues, not the tie rule (the earlier member), chose the best member: after
    the next burst of 40 the forecast was 21.7 (half the last value, half the 12-bucket mean) where the tie rule
    gives 40."""
    rng = np.random.default_rng(0)
    busy = rng.poisson(30, 1500).astype(float) * (rng.random(1500) < 0.3)
    model = Ensemble(horizon=5, members=BASELINES).fit(busy)
    assert model.combination_rule_ == ("best", 1, False)
    for value in np.zeros(1000):
        model.update(value[None])
    np.testing.assert_array_equal(model.evidence_error_,
                                  model._errors(model.evidence_forecast_, model.evidence_actual_))
    assert (model.evidence_error_ >= 0).all()
    slots = model._slots()
    assert all(not model.evidence_error_[slots.index(name)].any() for name in BASELINES[1:])  # all exact: a tie
    assert model.weights_["naive"] == 1.0  # the best member (the earlier of the tied) and the fallback alike
    model.update(np.array([40.0]))
    np.testing.assert_array_equal(model.predict(), np.full(5, 40.0))


def test_a_plain_lstm_is_weighed_on_its_own_forecasts_not_on_dlinears():
    """An LSTM without a linear base (``linear_base=False``) took DLinear's slot, weighed on DLinear's forecasts: on
    this series it got all the weight with a validation MAE of 12.4 where DLinear's was 5.65 (the ensemble's 12.4).
    It is a slot of its own now; a file of such an ensemble forecasts and updates as the ensemble saved."""
    rng = np.random.default_rng(0)
    n = 720
    y = rng.poisson(50 + 20 * np.sin(2 * np.pi * np.arange(n) / 60)).astype(float)
    model = Ensemble(horizon=5, members=("dlinear", "lstm", "naive"), random_state=0,
                     member_params={"lstm": {"linear_base": False, "max_epochs": 1}}).fit(y[:700])
    assert model.members_["lstm"].base_ is None
    assert model._slots() == ["dlinear", "lstm", "naive"]
    tail = len(model.validation_actual_)
    np.testing.assert_array_equal(model.evidence_forecast_[1, -tail:], model.members_["lstm"].validation_forecast_)
    actual = model.validation_actual_
    mae = {name: float(np.abs(member.validation_forecast_ - actual).mean()) for name, member in model.members_.items()}
    assert mae["lstm"] > 1.5 * mae["dlinear"]  # the network trained one epoch: far worse than DLinear
    assert model.weights_["lstm"] < 0.5
    assert np.abs(model.validation_forecast_ - actual).mean() < mae["lstm"]
    assert sum(model.weights_.values()) == pytest.approx(1.0)

    loaded = persistence.loads(persistence.dumps(model))
    np.testing.assert_array_equal(loaded.predict(), model.predict())
    np.testing.assert_array_equal(loaded.update(y[700:]).predict(), model.update(y[700:]).predict())


def test_the_block_t_statistic_allocates_by_the_origins_not_by_their_span():
    """The history's origins spread over a whole series: the block means were counted over every block in the span
    (10,000,000 buckets at horizon 1: 170 MB for 600 origins; a span of 2e13 raised MemoryError)."""
    difference = np.array([-1.0, -2.0, -1.5, -0.5])
    far = np.array([0, 10**13, 2 * 10**13, 2 * 10**13 + 1])  # blocks of 2 origins: the last two share one
    near = np.array([0, 2, 4, 5])  # the same blocks, numbered 0, 1, 2, 2
    expected = evidence_shrinkage(difference, near, 2)
    assert expected[0] == pytest.approx(np.mean([-1.0, -2.0, -1.0]) / (np.std([-1.0, -2.0, -1.0], ddof=1) / np.sqrt(3)))
    assert evidence_shrinkage(difference, far, 2) == expected
    assert evidence_share(difference, far, 2) == evidence_share(difference, near, 2)


def test_median_share_is_a_fitted_attribute():
    model = Ensemble(horizon=5, members=("naive", "moving_average"))
    with pytest.raises(NotFittedError):
        model.median_share_  # noqa: B018
    assert not hasattr(model, "median_share_") and not hasattr(model, "weights_")
    y = np.random.default_rng(0).poisson(20, 400).astype(float)
    assert model.fit(y).median_share_ == 0.0


def test_a_refit_of_an_ensemble_loaded_from_0_8_0_weighs_as_a_fresh_fit():
    """0.8.0 stored the LSTM's part of the slot it shares with DLinear (``lstm_share_``, 0.39 in this file); a refit
    of the loaded model kept it, and split that slot 0.61 / 0.39 where a fresh fit with the same parameters gives the
    LSTM all of it (forecasts apart by 0.39)."""
    predictor = WorkloadPredictor.load(Path(__file__).parent / "data" / "ensemble_0.8.0.wpm")
    model = predictor.model_
    assert 0.0 < model.lstm_share_ < 1.0
    y = np.random.default_rng(0).poisson(50 + 20 * np.sin(2 * np.pi * np.arange(600) / 60))[:, None].astype(float)
    fresh = Ensemble(**copy.deepcopy(model.get_params())).fit(y)
    model.fit(y)
    assert not hasattr(model, "lstm_share_")
    assert model.weights_ == fresh.weights_
    np.testing.assert_array_equal(model.predict(), fresh.predict())


def test_an_ensemble_predictor_file_updates_as_the_predictor_saved(tmp_path):
    """A round trip through WorkloadPredictor.save/load, then the same update stream: bit-identical forecasts."""
    rng = np.random.default_rng(1)
    n = 1300
    y = rng.poisson(20 + 10 * np.sin(2 * np.pi * np.arange(n) / 60)).astype(float)
    frame = pd.DataFrame({"timestamp": pd.date_range("2024-01-01", periods=n, freq="10s"), "requests": y})
    predictor = WorkloadPredictor(model="ensemble", horizon=5,
                                  model_params={"members": (*BASELINES, "seasonal_median")}).fit(frame.iloc[:1200])
    loaded = WorkloadPredictor.load(predictor.save(tmp_path / "ensemble.wpm"))
    for i in range(1200, n, 7):
        predictor.update(frame.iloc[i : i + 7])
        loaded.update(frame.iloc[i : i + 7])
    np.testing.assert_array_equal(loaded.predict().yhat, predictor.predict().yhat)
    np.testing.assert_array_equal(loaded.predict().upper, predictor.predict().upper)
    assert loaded.weights_ == predictor.weights_
