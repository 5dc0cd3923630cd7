"""The memory an LSTM's update is checked for (``update_bytes``, against ``memory_limit_mb``) counts what the update
does: where the network's correction counts for nothing (``correction_share_`` 0) the update neither runs the
network on the validation roll nor trains it, so it is checked for a DLinear's update alone, and a limit that lets
that through lets the update through."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from workload_predictor import MemoryLimitError, WorkloadPredictor
from workload_predictor.models.base import BaseForecaster

MB = 1024 * 1024
FIT = 400


def _fitted(seed: int) -> tuple[WorkloadPredictor, pd.DataFrame]:
    """An LSTM on Poisson(50) buckets (seed 3: share 0, evidence against the network; seed 1: share above 0)."""
    values = np.random.default_rng(seed).poisson(50, FIT + 1).astype(float)
    frame = pd.DataFrame({"timestamp": pd.date_range("2024-03-01", periods=len(values), freq="10s", tz="UTC"),
                          "requests": values})
    predictor = WorkloadPredictor("lstm", horizon=5, random_state=0,
                                  model_params={"hidden_size": 16, "max_epochs": 2}).fit(frame.iloc[:FIT])
    return predictor, frame


def _network_estimate(model) -> float:
    """The estimate with the network's part, whatever the share: the model's own with its share set above 0."""
    share = model.correction_share_
    try:
        model.correction_share_ = 1.0
        return model.update_bytes(1)
    finally:
        model.correction_share_ = share


def test_an_update_that_trains_nothing_passes_a_limit_between_the_base_and_the_network_estimates() -> None:
    predictor, frame = _fitted(3)
    model = predictor.model_
    assert model.correction_share_ == 0.0
    alone, full = BaseForecaster.update_bytes(model, 1), _network_estimate(model)  # 0.19 and 3.9 MiB
    predictor.memory_limit_mb = (alone + full) / 2 / MB  # the update's growth is well below the gap (< 0.3 MiB)
    predictor.update(frame.iloc[FIT:])
    assert predictor.n_updates_ == 1 and model.update_bytes(1) == alone < full


def test_an_update_that_trains_the_network_is_still_refused_there() -> None:
    predictor, frame = _fitted(1)
    model = predictor.model_
    assert model.correction_share_ > 0.0
    alone, full = BaseForecaster.update_bytes(model, 1), _network_estimate(model)
    assert model.update_bytes(1) == full
    predictor.memory_limit_mb = (alone + full) / 2 / MB
    with pytest.raises(MemoryLimitError, match="update: the validation roll"):
        predictor.update(frame.iloc[FIT:])
