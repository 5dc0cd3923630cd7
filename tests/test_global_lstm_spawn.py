"""distributed=n under a time limit shorter than starting the processes takes (review h43)."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest
from test_global_lstm import TINY, _no_spawn, fleet

from workload_predictor import FleetPredictor
from workload_predictor.errors import ModelFileError
from workload_predictor.models.global_lstm import GlobalLSTM


def test_too_little_time_for_the_processes_trains_in_this_process(monkeypatch):
    """Before: distributed=2 with max_training_time=0.5 spawned the processes anyway (about 4 s of Python starts and
    torch imports) and trained 0 epochs. Now this process trains for the time left: as many epochs as one process
    without distributed=, the same weights (the group's result on the same global batches, to 1e-5)."""
    _no_spawn(monkeypatch)
    settings = {**TINY, "max_epochs": 2, "patience": 2, "max_training_time": 2.5}  # under SPAWN_SECONDS (3 s)
    skipped = GlobalLSTM(**settings, distributed=2).fit(fleet())
    single = GlobalLSTM(**settings).fit(fleet())
    assert skipped.n_epochs_ == single.n_epochs_ == 2 and skipped.stopped_by_ == single.stopped_by_ != "time_limit"
    for a, b in zip(skipped.network_.state_dict().values(), single.network_.state_dict().values()):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


def _fleet_fitted_with_too_little_time_to_spawn() -> FleetPredictor:
    """A 3-key global LSTM fleet asked for 2 processes with 2 s of max_training_time (under SPAWN_SECONDS)."""
    start = pd.Timestamp("2024-03-01", tz="UTC")
    frame = pd.concat([pd.DataFrame({"endpoint": f"k{i}", "timestamp": start + pd.Timedelta("1min") * np.arange(len(s)),
                                     "requests": s[:, 0]}) for i, s in enumerate(fleet(3))], ignore_index=True)
    params = {"hidden_size": 4, "max_epochs": 1, "window": 24, "distributed": 2}
    return FleetPredictor(model="global_lstm", horizon=5, random_state=0, max_training_time=2.0,
                          model_params=params).fit(frame, key="endpoint")


def test_a_fleet_records_the_processes_it_did_not_start(monkeypatch, caplog):
    _no_spawn(monkeypatch)
    with caplog.at_level(logging.WARNING, logger="workload_predictor.fleet"):
        fitted = _fleet_fitted_with_too_little_time_to_spawn()
    assert "data-parallel processes" in fitted.time_limited_stages_
    assert any("data-parallel processes" in record.getMessage() for record in caplog.records)


def test_a_model_fitted_on_its_own_records_the_processes_it_did_not_start(monkeypatch, caplog):
    """Before: a standalone GlobalLSTM(distributed=2, max_training_time=2.5) trained in its own process and recorded
    it nowhere (it had no time_limited_stages_; only a fleet's deadline kept the stage). Now it lists the stage, as a
    WorkloadPredictor lists its cut stages, and warns once; under a fleet only the fleet warns."""
    _no_spawn(monkeypatch)
    settings = {**TINY, "max_epochs": 2, "patience": 2, "max_training_time": 2.5}  # under SPAWN_SECONDS (3 s)
    with caplog.at_level(logging.WARNING, logger="workload_predictor.models.global_lstm"):
        skipped = GlobalLSTM(**settings, distributed=2).fit(fleet())
    assert skipped.time_limited_stages_ == ("data-parallel processes",)
    assert [r.getMessage() for r in caplog.records if "data-parallel processes" in r.getMessage()] == [
        "global LSTM fit reached max_training_time=2.5s; ended early: data-parallel processes (time_limited_stages_)"]
    assert GlobalLSTM(**settings).fit(fleet()).time_limited_stages_ == ()
    assert GlobalLSTM(**{**settings, "max_training_time": 0.0}).fit(fleet()).time_limited_stages_ == (
        "global lstm training",)


def test_under_a_fleet_the_network_records_its_stage_and_only_the_fleet_warns(monkeypatch, caplog):
    _no_spawn(monkeypatch)
    with caplog.at_level(logging.WARNING):
        fitted = _fleet_fitted_with_too_little_time_to_spawn()
    assert fitted.time_limited_stages_.count("data-parallel processes") == 1
    assert "data-parallel processes" in fitted._global.model.time_limited_stages_
    assert [r.name for r in caplog.records if "data-parallel processes" in r.getMessage()] == ["workload_predictor.fleet"]


def test_a_damaged_stage_list_in_a_global_fleet_file_is_refused_and_an_older_file_without_it_loads(tmp_path):
    start = pd.Timestamp("2024-03-01", tz="UTC")
    frame = pd.concat([pd.DataFrame({"endpoint": f"k{i}", "timestamp": start + pd.Timedelta("1min") * np.arange(len(s)),
                                     "requests": s[:, 0]}) for i, s in enumerate(fleet(3))], ignore_index=True)
    fitted = FleetPredictor(model="global_lstm", horizon=5, random_state=0,
                            model_params={"hidden_size": 4, "max_epochs": 1, "window": 24}).fit(frame, key="endpoint")
    assert FleetPredictor.load(fitted.save(tmp_path / "f.wpm"))._global.model.time_limited_stages_ == ()
    del fitted._global.model.time_limited_stages_  # as a file saved before the network kept them
    FleetPredictor.load(fitted.save(tmp_path / "old.wpm")).predict()
    fitted._global.model.time_limited_stages_ = ("data-parallel processes", 3)
    with pytest.raises(ModelFileError, match="time_limited_stages_"):
        FleetPredictor.load(fitted.save(tmp_path / "bad.wpm"))
