"""An update refused for its gap speaks the unit ``max_gap`` was given in: a span given, the gap found is a span."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from workload_predictor import FleetPredictor, WorkloadPredictor
from workload_predictor.errors import UpdateGapError

START = pd.Timestamp("2024-05-10", tz="UTC")


def series(n: int = 300, key: str | None = None) -> pd.DataFrame:
    frame = pd.DataFrame({"timestamp": START + pd.Timedelta("10s") * np.arange(n),
                          "requests": (np.arange(n) % 7 + 5.0)})
    return frame if key is None else frame.assign(endpoint=key)


def late_row(last: pd.Timestamp, key: str | None = None) -> pd.DataFrame:
    frame = pd.DataFrame({"timestamp": [last + pd.Timedelta("10min")], "requests": [3.0]})  # 59 missing buckets
    return frame if key is None else frame.assign(endpoint=key)


@pytest.mark.parametrize("gap, shown", [("5min", "max_gap='5min' (30 buckets)"),
                                        (pd.Timedelta("5min"), "max_gap=5min (30 buckets)"),
                                        (np.timedelta64(300, "s"), "max_gap=5min (30 buckets)")], ids=repr)
def test_a_span_max_gap_is_quoted_as_a_span_with_the_gap_found_as_one(gap, shown):
    """Before: max_gap='5min' at 10 s buckets said "the 59 buckets between would be zero-filled, more than
    max_gap=30": a number the user never wrote, in a unit they did not choose."""
    predictor = WorkloadPredictor(model="naive", horizon=3, max_gap=gap).fit(series())
    with pytest.raises(UpdateGapError) as refused:
        predictor.update(late_row(predictor.last_timestamp_))
    for text in (str(refused.value), refused.value.finding):
        assert shown in text, text
        assert "is 10min after the last fitted bucket (60 buckets of 10s)" in text, text
        assert "the 9min 50s between (59 buckets) would be zero-filled" in text, text
        assert "max_gap=30." not in text


def test_a_max_gap_in_buckets_is_still_quoted_in_buckets():
    predictor = WorkloadPredictor(model="naive", horizon=3, max_gap=30).fit(series())
    with pytest.raises(UpdateGapError, match=r"is 60 buckets after .* the 59 buckets between would be zero-filled, "
                                             r"more than max_gap=30\."):
        predictor.update(late_row(predictor.last_timestamp_))


@pytest.mark.parametrize("model", ["dlinear", "naive"])
def test_a_fleets_span_max_gap_is_quoted_as_a_span(model):
    """A batched DLinear key (checked by the fleet) and a per-key model's key (by its own predictor) alike."""
    frame = pd.concat([series(key="a"), series(key="b")], ignore_index=True)
    fleet = FleetPredictor(model=model, horizon=3, max_gap="5min").fit(frame, key="endpoint")
    last = frame["timestamp"].iloc[-1]
    fleet.update(pd.concat([late_row(last, "a"), late_row(last, "b")], ignore_index=True))
    assert sorted(fleet.update_errors_) == ["a", "b"]
    for error in fleet.update_errors_.values():
        assert isinstance(error, UpdateGapError)
        assert "the 9min 50s between (59 buckets) would be zero-filled, more than max_gap='5min' (30 buckets)" in \
            str(error), str(error)
