"""An LSTM whose network's correction counts for nothing (``correction_share_`` 0) updates its DLinear base alone.

The share is weighed at fit and stays as fitted through ``update``; a refit trains a new network from its initial
weights and weighs the share anew. So nothing reads what an update would teach such a network: the update skips its
training (about 13 ms of a one-bucket update, against DLinear's 1 ms), and every forecast, interval, health metric
and loaded file forecasts as those of an update that trains it.
"""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import pytest
import torch

from conftest import counted_calls
from workload_predictor import WorkloadPredictor
from workload_predictor.models import lstm as lstm_module

SMALL = {"hidden_size": 8, "max_epochs": 2}
FIT, UPDATES = 400, 6


def _frame(seed: int) -> pd.DataFrame:
    """Poisson(50) buckets, 10 s apart: noise the network cannot beat the base on (seed 3: share 0 on evidence
    against it, t 0.57), or can a little (seed 1: share 0.72)."""
    values = np.random.default_rng(seed).poisson(50, FIT + UPDATES).astype(float)
    return pd.DataFrame({"timestamp": pd.date_range("2024-03-01", periods=len(values), freq="10s", tz="UTC"),
                         "requests": values})


def _fitted(seed: int) -> tuple[WorkloadPredictor, pd.DataFrame]:
    frame = _frame(seed)
    return WorkloadPredictor("lstm", horizon=5, random_state=0, model_params=SMALL).fit(frame.iloc[:FIT]), frame


@pytest.fixture(scope="module")
def zero() -> tuple[WorkloadPredictor, pd.DataFrame]:
    predictor, frame = _fitted(3)
    assert predictor.model_.correction_share_ == 0.0 and predictor.model_.correction_t_ > 0.0
    return predictor, frame


@pytest.fixture
def trainings(monkeypatch) -> list[int]:
    """Counts the network's trainings (``train_network`` calls from the LSTM's module)."""
    return counted_calls(monkeypatch, lstm_module, "train_network")


def _updated(predictor: WorkloadPredictor, frame: pd.DataFrame) -> WorkloadPredictor:
    """A copy of ``predictor`` updated one bucket at a time on the buckets after the fit's."""
    predictor = copy.deepcopy(predictor)
    for i in range(FIT, len(frame)):
        predictor.update(frame.iloc[i : i + 1])
    return predictor


def _weights(predictor: WorkloadPredictor) -> dict[str, torch.Tensor]:
    return {name: value.clone() for name, value in predictor.model_.network_.state_dict().items()}


def test_an_update_trains_the_network_only_where_its_correction_counts(zero, trainings) -> None:
    predictor, frame = zero
    before = _weights(predictor)
    updated = _updated(predictor, frame)
    assert len(trainings) == 0  # one training per one-bucket update before
    assert "update_training_" not in vars(updated.model_)
    after = _weights(updated)
    assert all(torch.equal(before[name], after[name]) for name in before)
    assert updated.model_.n_seen_ == FIT + UPDATES and updated.model_.correction_share_ == 0.0

    counted, other = _fitted(1)  # a share above 0: every update trains the network, as before
    assert counted.model_.correction_share_ > 0.0
    trainings.clear()  # its fit's
    updated = _updated(counted, other)
    assert len(trainings) == UPDATES
    assert updated.model_.update_training_.epochs_run >= 1


def test_it_forecasts_rates_and_saves_as_an_update_that_trains_the_network(zero, trainings, tmp_path,
                                                                         monkeypatch) -> None:
    predictor, frame = zero
    skipped = _updated(predictor, frame)
    with monkeypatch.context() as patch:  # the update as it was: the network trains whatever its share
        patch.setattr(lstm_module.LSTM, "_network_counts", lambda self: True)
        trained = _updated(predictor, frame)
    assert len(trainings) == UPDATES
    # The trained network moved: the comparison below is between two different networks.
    assert any(not torch.equal(a, b) for a, b in zip(_weights(skipped).values(), _weights(trained).values()))
    for a, b in ((skipped, trained),
                 (WorkloadPredictor.load(skipped.save(tmp_path / "skipped.wp")),
                  WorkloadPredictor.load(trained.save(tmp_path / "trained.wp")))):
        forecast, other = a.predict(), b.predict()
        for part in ("yhat", "lower", "upper"):
            np.testing.assert_array_equal(getattr(forecast, part), getattr(other, part))
        np.testing.assert_array_equal(a.interval_halfwidth_, b.interval_halfwidth_)
        assert a.confidence_ == b.confidence_
        assert _rates(a) == _rates(b)
    loaded = WorkloadPredictor.load(tmp_path / "skipped.wp")
    loaded.update(frame.iloc[-1:].assign(timestamp=frame["timestamp"].iloc[-1] + pd.Timedelta(seconds=10)))
    assert len(trainings) == UPDATES  # the loaded file keeps its share: its updates skip the training too


def _rates(predictor: WorkloadPredictor) -> dict:
    """``health``'s metrics, its timings aside."""
    report = predictor.health()
    return {name: metric for name, metric in report["metrics"].items()
            if name not in ("training_seconds", "prediction_seconds")}


def test_an_ensembles_counter_runs_as_when_the_network_trains(zero, trainings, monkeypatch) -> None:
    """An ensemble's LSTM trains its network once per ``network_update_every_`` buckets: with a share of 0 the
    counter still restarts where it would have trained, so a saved model holds the counter it held before."""
    predictor, frame = zero
    values = frame[["requests"]].to_numpy(float)
    counters = {}
    for name, counts in (("skipped", None), ("trained", True)):
        model = copy.deepcopy(predictor.model_)
        model.network_update_every_ = 3
        with monkeypatch.context() as patch:
            if counts:
                patch.setattr(lstm_module.LSTM, "_network_counts", lambda self: True)
            counters[name] = [model.update(values[i : i + 1]).buckets_untrained_ for i in range(FIT, len(frame))]
    assert counters["skipped"] == counters["trained"] == [1, 2, 0, 1, 2, 0]
    assert len(trainings) == 2
