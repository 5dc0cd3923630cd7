"""save checks the very state it writes: an update in another thread landing between save's check and its encoding
(here, deterministically, from a hook on the check) is not written unchecked; the file holds the state checked."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from conftest import periodic_series
from workload_predictor import UnsaveableModelError, WorkloadPredictor, model_file


def fitted() -> tuple[WorkloadPredictor, pd.DataFrame]:
    frame = periodic_series(500, noise=5.0)
    return WorkloadPredictor(horizon=6).fit(frame.iloc[:480]), frame.iloc[480:]


def landing_after_the_check(monkeypatch, change) -> None:
    """``change()`` runs once save's check has passed, before the file's bytes are built (as an update in another
    thread may land)."""
    check = model_file.check_saveable

    def checked_then_changed(obj):
        check(obj)
        change()

    monkeypatch.setattr(model_file, "check_saveable", checked_then_changed)


def test_an_update_landing_after_the_check_is_not_saved(monkeypatch, tmp_path):
    """The file held the update's state, which save never checked (n_updates_ 1, the new last bucket)."""
    predictor, new = fitted()
    before = predictor.last_timestamp_
    expected = predictor.predict().yhat
    landing_after_the_check(monkeypatch, lambda: predictor.update(new))
    predictor.save(tmp_path / "model.wpm")
    assert predictor.n_updates_ == 1 and predictor.last_timestamp_ > before  # the update landed
    loaded = WorkloadPredictor.load(tmp_path / "model.wpm")
    assert (loaded.n_updates_, loaded.last_timestamp_) == (0, before)
    np.testing.assert_array_equal(loaded.predict().yhat, expected)


def test_a_state_beyond_the_bound_landing_after_the_check_is_not_written(monkeypatch, tmp_path):
    """An attribute replaced after the check by one beyond what a file holds: the file was written, and load
    refused it as damaged."""
    predictor, _ = fitted()
    halfwidth = predictor.interval_halfwidth_

    def replaced():
        predictor.interval_halfwidth_ = np.full_like(halfwidth, 1e300)

    landing_after_the_check(monkeypatch, replaced)
    predictor.save(tmp_path / "model.wpm")
    loaded = WorkloadPredictor.load(tmp_path / "model.wpm")
    np.testing.assert_array_equal(loaded.interval_halfwidth_, halfwidth)
    with pytest.raises(UnsaveableModelError):  # the state in memory now: refused at the next save, as it should be
        model_file.check_saveable(predictor)
