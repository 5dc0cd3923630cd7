"""distributed=n under a time limit shorter than starting the processes takes (review h43)."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
from test_global_lstm import TINY, _no_spawn, fleet

from workload_predictor import FleetPredictor
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


def test_a_fleet_records_the_processes_it_did_not_start(monkeypatch, caplog):
    _no_spawn(monkeypatch)
    start = pd.Timestamp("2024-03-01", tz="UTC")
    frame = pd.concat([pd.DataFrame({"endpoint": f"k{i}", "timestamp": start + pd.Timedelta("1min") * np.arange(len(s)),
                                     "requests": s[:, 0]}) for i, s in enumerate(fleet(3))], ignore_index=True)
    params = {"hidden_size": 4, "max_epochs": 1, "window": 24, "distributed": 2}
    with caplog.at_level(logging.WARNING, logger="workload_predictor.fleet"):
        fitted = FleetPredictor(model="global_lstm", horizon=5, random_state=0, max_training_time=2.0,
                                model_params=params).fit(frame, key="endpoint")
    assert "data-parallel processes" in fitted.time_limited_stages_
    assert any("data-parallel processes" in record.getMessage() for record in caplog.records)
