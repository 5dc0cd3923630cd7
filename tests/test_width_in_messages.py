"""Update errors as a user reads them: a bucket width as the user wrote it (``10s``, as ``UpdateGapError`` and the
command line print it), not as pandas prints a Timedelta (``0 days 00:00:10``), for the off-grid row of an update,
a predictor's or a fleet key's; and one zero-filled bucket in the singular."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from workload_predictor import FleetPredictor, WorkloadDataError, WorkloadPredictor

START = pd.Timestamp("2024-01-01", tz="UTC")
STEP = pd.Timedelta("10s")


def _frame(n: int = 120) -> pd.DataFrame:
    return pd.DataFrame({"timestamp": START + STEP * np.arange(n),
                         "requests": np.random.default_rng(0).poisson(20, n).astype(float)})


def _off_grid(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.tail(1).assign(timestamp=frame["timestamp"].iloc[-1] + pd.Timedelta("13s"))


def test_a_predictors_update_off_its_grid_names_the_width_as_written():
    frame = _frame()
    predictor = WorkloadPredictor(model="naive", horizon=5).fit(frame)
    with pytest.raises(WorkloadDataError, match="off the fitted grid") as error:
        predictor.update(_off_grid(frame))
    assert "(every 10s from 2024-01-01T00:19:50+00:00)" in str(error.value) and "days" not in str(error.value)


def test_a_fleet_keys_update_off_its_grid_names_the_width_as_written():
    frame = _frame().assign(key="a")
    fleet = FleetPredictor(horizon=5, max_training_time=None).fit(frame)
    fleet.update(_off_grid(frame))
    message = str(fleet.update_errors_["a"])
    assert "(every 10s from 2024-01-01T00:19:50+00:00)" in message and "days" not in message


def test_a_late_row_for_one_zero_filled_bucket_names_it_in_the_singular():
    """A bucket skipped, the next one's row applied, then the skipped bucket's row late: "a run of 1 zero buckets"
    read as a slip; one bucket is a bucket."""
    from workload_predictor import UpdateOrderError

    frame = _frame(125)
    predictor = WorkloadPredictor(model="naive", horizon=5).fit(frame.iloc[:120])
    predictor.update(frame.iloc[121:122])  # bucket 120 skipped: zero-filled
    with pytest.raises(UpdateOrderError) as error:
        predictor.update(frame.iloc[120:121])
    assert "it lies in a run of 1 zero bucket before 2024-01-01T00:20:10+00:00" in str(error.value), error.value
