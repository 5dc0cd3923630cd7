"""The one condition under which an update's refused rows undo the jump the update before made (shared by
``WorkloadPredictor`` and a fleet's batched keys): the series is still where the jump left it, and the rows start
strictly between the bucket before the jump and the one it jumped to."""

from __future__ import annotations

import pandas as pd
import pytest

from workload_predictor.predictor import holds_jump, undoes_jump

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


def test_an_undo_held_through_stray_updates_pairs_with_the_newest_and_spans_the_jump_only():
    held = STRAY + 3 * MINUTE  # the stray clock's newest update
    assert undoes_jump(BEFORE, STRAY, held, BEFORE + MINUTE, held)
    assert not undoes_jump(BEFORE, STRAY, held, STRAY + MINUTE, held)  # the stray clock's own span
    assert not undoes_jump(BEFORE, STRAY, held + MINUTE, BEFORE + MINUTE, held)  # moved on since
    assert not undoes_jump(BEFORE, STRAY, STRAY, BEFORE + MINUTE, held)  # an older state paired with a newer undo


@pytest.mark.parametrize("after, kept", [(0, True), (23, True), (24, False), (200, False)])
def test_the_stray_clock_must_run_as_far_as_a_jump_is_wide_before_it_is_believed(after, kept):
    # 299 zero-filled minutes: the jump lands on STRAY; the threshold is 24 buckets past it.
    assert holds_jump(BEFORE, 299, STRAY + after * MINUTE, 24, MINUTE) is kept
