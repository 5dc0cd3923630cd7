"""A ``update_mode="refit"`` DLinear fleet key after an update whose gap the fleet zero-fills, where a predictor
updated with it counts those buckets lost: the key's refit reads them as a ``WorkloadPredictor`` being updated
does (``docs/bad-samples.md`` "The interval after lost buckets"), each run at the median of the buckets before it,
in its forecast's inputs and its validation, not as loads of 0.

The first test is the falsifying example the fleet state machine (``tests/test_fleet_update_fuzz.py``) found
randomised (review h170), shrunk by hand: k1 (Poisson around 120) with one corrupt count and, 18 buckets later, 8
zero-filled ones. Read as loads of 0, 5 buckets after the gap the clean refit fleet forecast [180 149 101] for counts
of [174 165 161], the fleet that saw the corrupt count [174 170 177]; the state machine's bound on the two fleets'
difference is 73, the difference was 75.
"""

from __future__ import annotations

import copy
import dataclasses

import numpy as np
import pandas as pd
import pytest

from test_fleet_update_fuzz import (CLEAN, FITTED, HORIZON, KEYS, MAX_GAP, RefitFleetUpdates, fitted_fleet, replayed, rows,
                                    stamp)
from workload_predictor import FleetPredictor, ModelFileError, WorkloadPredictor
from workload_predictor import persistence
from workload_predictor.predictor import _settled_inputs


def test_corrupt_count_then_a_zero_filled_gap_in_a_refit_fleet():
    steps = [lambda state: state.corrupt_counts(buckets=1, key="k1", other=True, then=6, value=4294967295.0),
             lambda state: state.clean_stretch(buckets=6),
             lambda state: state.clean_stretch(buckets=5),
             lambda state: state.gap(gap=8, key="k1"),
             lambda state: state.clean_stretch(buckets=5)]

    def check(state):  # the case is the one found: 31 clean buckets after k1's corrupt one
        assert state.since["k1"] == 31

    replayed(RefitFleetUpdates, steps, check)


def k1_forecast(fleet: FleetPredictor) -> np.ndarray:
    forecast = fleet.predict()
    return forecast.loc[forecast["endpoint"] == "k1", "yhat"].to_numpy()


def _k1_block(fleet: FleetPredictor):
    return next(block for block in fleet._blocks if "k1" in block.keys)


@pytest.fixture(scope="module")
def after_gap() -> tuple[FleetPredictor, FleetPredictor, WorkloadPredictor, float]:
    """A refit and an incremental fleet and a ``WorkloadPredictor`` of k1, fitted alike, given 48 clean buckets of
    every key, then a row of k1's 8 buckets later (8 zero-filled, lost: k1 was busy before them); and the
    predictor's confidence before that row."""
    refit, incremental = copy.deepcopy(fitted_fleet("refit")), copy.deepcopy(fitted_fleet("incremental"))
    predictor = WorkloadPredictor(model="dlinear", horizon=HORIZON, max_gap=MAX_GAP).fit(
        pd.DataFrame({"timestamp": stamp(np.arange(FITTED)), "requests": CLEAN["k1"][:FITTED]}))
    stretch = pd.concat([rows(key, np.arange(FITTED, FITTED + 48)) for key in KEYS], ignore_index=True)
    confidence = []
    for frame in (stretch, rows("k1", [FITTED + 48 + MAX_GAP])):
        confidence.append(predictor.confidence_)
        refit.update(frame)
        incremental.update(frame)
        predictor.update(frame[frame["endpoint"] == "k1"].drop(columns="endpoint"))
    return refit, incremental, predictor, confidence[-1]


def test_a_refit_key_reads_its_lost_buckets_as_a_predictor_does(after_gap, tmp_path):
    """Right after the gap (``after_gap``) the refit fleet's k1 forecast is within two standard deviations of a
    Poisson count (the counts' own noise) of a ``WorkloadPredictor`` of k1 given the same updates, which the incremental fleet equals;
    read as loads of 0 it forecast about half of it (review h170: [36 34 61] for [93 90 89]). Its forecast's inputs
    are the predictor's, lost buckets read at their reference median; a saved fleet keeps them, and a block without
    them (a file saved before they were kept) reads the zeros as before. Its confidence is the predictor's within
    what the update moved the predictor's (its validation and interval leave the lost buckets out, as the
    predictor's do; read as loads of 0 they took it from 0.91 to 0.77, the predictor's to 0.895)."""
    refit, incremental, predictor, before = after_gap
    assert predictor.lost_buckets_ is not None and len(predictor.lost_buckets_) == MAX_GAP  # the case is a lost gap

    expected = predictor.predict().yhat[:, 0]
    np.testing.assert_allclose(k1_forecast(incremental), expected, rtol=1e-9)
    mine = k1_forecast(refit)
    assert np.abs(mine - expected).max() <= 2 * np.sqrt(expected.mean()), (mine, expected)
    assert abs(refit.confidence_["k1"] - predictor.confidence_) <= abs(predictor.confidence_ - before), (
        refit.confidence_["k1"], predictor.confidence_, before)

    block = _k1_block(refit)
    row = block.keys.index("k1")
    np.testing.assert_allclose(block.settled_inputs()[row], _settled_inputs(vars(predictor)), rtol=1e-12)
    np.testing.assert_array_equal(k1_forecast(FleetPredictor.load(refit.save(tmp_path / "fleet.wpm"))), mine)
    old = dataclasses.replace(block, lost_at=None)  # as a file saved before they were kept loads it (the default)
    assert (old.settled_inputs().get(row, block.values[row])[-MAX_GAP - 1 : -1] == 0).all()  # read as 0, as before


@pytest.mark.parametrize("forge,message", [
    (lambda at: at.astype(np.float64), r"lost buckets of shape \(8, 2\), not 1 to 160 rows"),
    (lambda at: at[:, :1].copy(), "lost buckets of shape"),
    (lambda at: at[:0], r"lost buckets of shape \(0, 2\)"),
    (lambda at: np.repeat(at, 21, axis=0), "lost buckets of shape"),  # more than the key's 160 buckets
    (lambda at: at + [[1, 0]], "lost bucket outside its 1 key's 160 buckets"),
    (lambda at: at + [[0, 2]], "lost bucket outside"),  # past the newest bucket
    (lambda at: at - [[0, 152]], "lost bucket outside"),
    (lambda at: at[::-1].copy(), "lost buckets that are not in order"),
    (lambda at: at[[0, 0, 1]], "lost buckets that are not in order"),
])
def test_a_blocks_lost_buckets_no_update_keeps_are_refused_at_load(after_gap, tmp_path, forge, message):
    """The lost buckets a refit block keeps (saved, so a loaded fleet reads them as the one saved): each a bucket of
    one of its keys, in order, once."""
    fleet = copy.deepcopy(after_gap[0])
    block = _k1_block(fleet)
    assert block.lost_at is not None and len(block.lost_at) == MAX_GAP and len(block.keys) == 1
    block.lost_at = forge(block.lost_at)
    path = tmp_path / "fleet.wpm"
    path.write_bytes(persistence.dumps(fleet))
    with pytest.raises(ModelFileError, match=message):
        FleetPredictor.load(path)
