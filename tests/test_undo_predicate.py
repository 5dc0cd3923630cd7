"""The one condition under which an update's refused rows undo the jump the update before made (shared by
``WorkloadPredictor`` and a fleet's batched keys): the series is still where the jump left it, and the rows start
strictly between the bucket before the jump and the one it jumped to."""

from __future__ import annotations

import pandas as pd
import pytest

from workload_predictor.predictor import undoes_jump

BEFORE = pd.Timestamp("2024-03-01 00:00", tz="UTC")
STRAY = pd.Timestamp("2024-03-01 05:00", tz="UTC")
MINUTE = pd.Timedelta("1min")


@pytest.mark.parametrize("first, undone", [(BEFORE - MINUTE, False), (BEFORE, False), (BEFORE + MINUTE, True),
                                           (STRAY - MINUTE, True), (STRAY, False), (STRAY + MINUTE, False)])
def test_rows_undo_the_jump_only_strictly_between_its_two_buckets(first, undone):
    assert undoes_jump(BEFORE, STRAY, STRAY, first) is undone


def test_a_series_moved_on_since_the_jump_undoes_nothing():
    # Another update after the jump (or a copy paired with an older undo): the undo no longer applies.
    assert not undoes_jump(BEFORE, STRAY, STRAY + MINUTE, STRAY - MINUTE)
    assert not undoes_jump(BEFORE, STRAY, STRAY - MINUTE, BEFORE + MINUTE)
