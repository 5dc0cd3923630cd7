"""A fleet fitted on a long frame whose timestamps are its DatetimeIndex (``timestamp=None``), as a predictor's fit
and a fleet's update read them: the same fleet as from a timestamp column (review h210: fit refused it with "no
timestamp column None" while update took it)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from workload_predictor import FleetPredictor, WorkloadDataError

STAMPS = pd.date_range("2024-01-01", periods=300, freq="min")


def _long(tz: str | None = None) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    frames = [pd.DataFrame({"timestamp": STAMPS.tz_localize(tz) if tz else STAMPS,
                            "requests": rng.poisson(20 + 10 * i, len(STAMPS)), "key": key})
              for i, key in enumerate("ab")]
    return pd.concat(frames, ignore_index=True)


@pytest.mark.parametrize("tz", [None, "Europe/Paris"])
def test_a_fleet_fitted_on_a_datetime_index_equals_one_fitted_on_the_column(tz):
    frame = _long(tz)
    indexed = frame.set_index("timestamp")
    before = indexed.copy()
    from_index = FleetPredictor(horizon=3, random_state=0).fit(indexed, key="key", timestamp=None)
    from_column = FleetPredictor(horizon=3, random_state=0).fit(frame, key="key")
    pd.testing.assert_frame_equal(from_index.predict(), from_column.predict())
    pd.testing.assert_frame_equal(indexed, before)  # the caller's frame is never written
    # and its update reads the index too
    new = _long(tz).assign(timestamp=lambda f: f["timestamp"] + 300 * pd.Timedelta("1min"))
    from_index.update(new.groupby("key").head(2).set_index("timestamp"), key="key", timestamp=None)
    from_column.update(new.groupby("key").head(2), key="key")
    pd.testing.assert_frame_equal(from_index.predict(), from_column.predict())


def test_timestamp_none_without_a_datetime_index_is_still_refused():
    with pytest.raises(WorkloadDataError, match="no timestamp column None"):
        FleetPredictor(horizon=3).fit(_long(), key="key", timestamp=None)
