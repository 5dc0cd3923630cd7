"""A fit whose flagged input anomalies all lie before its newest RECENT_BUCKETS buckets keeps none of their starts
(an empty array) for health's count: its file loads (load refused it as "damaged or altered", asking for 1 to
1,000 timestamps)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from workload_predictor import WorkloadPredictor
from workload_predictor.health import input_anomaly
from workload_predictor.anomaly import RECENT_BUCKETS

START = pd.Timestamp("2024-01-01", tz="UTC")


def bursts_long_ago(n: int = 4000) -> pd.DataFrame:
    """Loads near 5 with three bursts of 10,000, the newest 1,500 buckets before the last."""
    y = 5.0 + np.random.default_rng(0).normal(0.0, 1.0, n).clip(-3, 3)
    y[[500, 1500, n - RECENT_BUCKETS - 500]] = 1e4
    return pd.DataFrame({"timestamp": START + pd.Timedelta("1min") * np.arange(n), "requests": y})


def test_a_fit_with_every_flag_before_the_recent_buckets_saves_a_file_load_reads(tmp_path):
    frame = bursts_long_ago()
    predictor = WorkloadPredictor(horizon=10).fit(frame)
    assert len(predictor.input_anomalies_) == 3 and len(predictor.input_anomaly_buckets_) == 0  # the case
    loaded = WorkloadPredictor.load(predictor.save(tmp_path / "model.wpm"))
    np.testing.assert_array_equal(loaded.predict().yhat, predictor.predict().yhat)
    assert input_anomaly(loaded) == input_anomaly(predictor) == (0.0, None)  # none among the newest buckets
    # It goes on: an update with a new burst counts it, and that file loads too.
    burst = pd.DataFrame({"timestamp": [frame.timestamp.iloc[-1] + pd.Timedelta("1min")], "requests": [1e4]})
    loaded.update(burst)
    assert len(loaded.input_anomaly_buckets_) == 1
    again = WorkloadPredictor.load(loaded.save(tmp_path / "updated.wpm"))
    assert len(again.input_anomaly_buckets_) == 1
