"""What the README's Python API and the docstrings promise a user, against what the code does: each setting either
works or is refused with a typed error (a ``ValueError`` subclass naming the problem and the fix), never an
``IndexError`` from deep inside; a setting that cannot apply to the rows given is refused as ``fit`` refuses it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from conftest import periodic_series

from workload_predictor import FleetPredictor, WorkloadDataError, WorkloadPredictor
from workload_predictor.models import DLinear

SERIES = periodic_series(400, noise=3.0)
#: A random walk, on which the one-bucket window forecasts best (the last value) and wins a search.
WALK = np.abs(np.cumsum(np.random.default_rng(0).normal(0.0, 5.0, 600))) + 100.0


# -- DLinear's window: one bucket has no step to read its noise from -----------------------------------------------
@pytest.mark.parametrize("model", ["dlinear", "dlinear_log", "lstm", "ensemble"])
def test_a_window_of_one_bucket_is_refused_with_a_typed_error(model):
    settings = {"lstm": {"max_epochs": 1, "hidden_size": 4}}.get(model)
    with pytest.raises(WorkloadDataError, match=r"window=1 is too short for DLinear.*pass window=2 or more"):
        WorkloadPredictor(model=model, horizon=5, window=1, model_params=settings, random_state=0).fit(SERIES)


def test_a_bare_dlinear_and_a_fleet_refuse_a_window_of_one_bucket():
    with pytest.raises(WorkloadDataError, match="window=1 is too short"):
        DLinear(horizon=5, window=1).fit(SERIES["requests"].to_numpy())
    frame = pd.concat([SERIES.assign(key=key) for key in "ab"], ignore_index=True)
    with pytest.raises(WorkloadDataError, match="window=1 is too short"):  # the fleet's error, not an IndexError
        FleetPredictor(horizon=5, window=1).fit(frame, key="key")


@pytest.mark.parametrize("settings", [
    {"candidate_windows": [1]},
    {"candidate_windows": [1, 24], "blend": 1},  # the one-bucket window scores best on a random walk
    {"candidate_windows": [1, 500]},  # 500 has no room to be scored: the one-bucket window is the only one
])
def test_candidate_windows_of_one_bucket_are_refused_at_fit(settings):
    with pytest.raises(WorkloadDataError, match=r"candidate_windows=\[1.*holds a window of one bucket.*drop it"):
        DLinear(horizon=5, **settings).fit(WALK)


def test_windows_of_two_buckets_still_fit():
    for model in (DLinear(horizon=5, window=2), DLinear(horizon=5, candidate_windows=[2, 24], blend=1)):
        forecast = model.fit(WALK).predict()
        assert model.window_ >= 2 and np.isfinite(forecast).all()
