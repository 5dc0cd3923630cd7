"""A global LSTM fleet key's lost buckets (review h187): the buckets an update zero-filled where the buckets before
them make a zero no load are found as a ``WorkloadPredictor`` updated with the same rows finds its
``lost_buckets_``, and the key's forecast reads each run of them at the median of the kept points before it, as the
predictor's forecast reads its lost buckets (not as loads of 0)."""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import pytest

from workload_predictor import FleetPredictor, WorkloadPredictor
from workload_predictor.anomaly import REFERENCE_BUCKETS
from workload_predictor.errors import ModelFileError, WorkloadDataError

pytest.importorskip("torch")

START = pd.Timestamp("2026-01-01", tz="UTC")
STEP = pd.Timedelta("10s")
FITTED, HORIZON, WINDOW = 400, 5, 24
LEVELS = (40.0, 90.0, 15.0, 60.0)
GAP = range(FITTED + 10, FITTED + 16)  # k0's buckets no row comes for
END = FITTED + 21  # k0's rows reach END - 1: the gap lies in its newest window


def _frame(key: str, values: np.ndarray, positions: np.ndarray) -> pd.DataFrame:
    return pd.DataFrame({"endpoint": key, "timestamp": START + STEP * positions, "requests": values[positions]})


@pytest.fixture(scope="module")
def fitted():
    series = [np.random.default_rng(seed).poisson(level, END + 10).astype(np.float64) for seed, level in enumerate(LEVELS)]
    frame = pd.concat([_frame(f"k{i}", y, np.arange(FITTED)) for i, y in enumerate(series)], ignore_index=True)
    fleet = FleetPredictor(model="global_lstm", horizon=HORIZON, random_state=0,
                           model_params={"hidden_size": 4, "max_epochs": 2, "window": WINDOW}).fit(frame, key="endpoint")
    return fleet, series


def _updated(fitted):
    """The fleet updated with k0's rows after its fit but those in ``GAP`` (zero-filled by the update), and the rows."""
    fleet, series = fitted
    fleet = copy.deepcopy(fleet)
    positions = np.array([p for p in range(FITTED, END) if p not in GAP])
    rows = _frame("k0", series[0], positions)
    fleet.update(rows)
    assert not fleet.update_errors_
    return fleet, rows


def test_a_global_keys_zero_filled_gap_is_read_at_its_reference_median_as_a_predictors(fitted):
    """k0 (Poisson around 40) skips 6 buckets in one update: the fleet's forecast of k0 is the network's from k0's kept
    points with the gap read as the median of the ``REFERENCE_BUCKETS`` points before it (and not from the zeros:
    those move it by more than the check's tolerance), and its lost buckets are the predictor's on the same rows."""
    fleet, rows = _updated(fitted)
    model = fleet._global.model
    recent = model.recent_[0]
    first = int(model.n_seen_[0]) - len(recent)  # recent[0] is k0's point number first
    gap = np.array(GAP) - first
    assert (recent[gap] == 0).all()
    settled = recent.copy()
    settled[gap] = np.median(recent[gap[0] - REFERENCE_BUCKETS : gap[0]], axis=0)
    others = model._settled_recent()[1:]
    origins = [np.array([len(r)]) for r in (recent, *others)]
    expected = model.predict_at([settled, *others], origins)[0][0]
    zeros = model.predict_at([recent, *others], origins)[0][0]
    assert np.abs(zeros - expected).max() > 1.0  # the zeros in k0's inputs move its forecast
    forecast = fleet.predict()
    got = forecast.loc[forecast["endpoint"] == "k0", "yhat"].to_numpy()
    np.testing.assert_allclose(got, np.maximum(expected[:, 0], 0.0), rtol=1e-6, atol=1e-6)

    _, series = fitted
    predictor = WorkloadPredictor("dlinear", horizon=HORIZON, window=WINDOW).fit(
        _frame("k0", series[0], np.arange(FITTED)).drop(columns="endpoint"))
    predictor.update(rows.drop(columns="endpoint"))
    np.testing.assert_array_equal(predictor.lost_buckets_, np.array(GAP))
    np.testing.assert_array_equal(model.lost_buckets_[0], predictor.lost_buckets_)
    assert model.lost_buckets_[1:] == [None] * 3


def test_a_global_keys_lost_buckets_are_saved_and_a_forged_one_is_refused(fitted, tmp_path):
    """The lost buckets round-trip through a fleet file (the loaded fleet forecasts the same); a file naming a bucket
    that holds a load, outside the key's kept points, or not as increasing integers, is refused at load."""
    fleet, _ = _updated(fitted)
    path = fleet.save(tmp_path / "fleet")
    loaded = FleetPredictor.load(path)
    np.testing.assert_array_equal(loaded._global.model.lost_buckets_[0], np.array(GAP))
    pd.testing.assert_frame_equal(loaded.predict(), fleet.predict())
    lost = np.array(GAP)
    for forged in (lost - 1, lost + 10**6, lost[::-1].copy(), lost.astype(np.float64), lost[:0], list(lost)):
        bad = FleetPredictor.load(path)
        bad._global.model.lost_buckets_[0] = forged
        with pytest.raises(ModelFileError, match="lost buckets"):
            FleetPredictor.load(bad.save(tmp_path / "bad"))


def test_a_global_fleet_file_saved_before_lost_buckets_were_kept_reads_them_as_zeros(fitted, tmp_path):
    """A file without ``lost_buckets_`` loads, forecasts k0 from its kept points as they are (the gap's zeros read
    as loads), and its next update records what it finds, the gap's zeros in the references as loads of 0."""
    fleet, _ = _updated(fitted)
    series = fitted[1]
    old = copy.deepcopy(fleet)
    del old._global.model.lost_buckets_
    old = FleetPredictor.load(old.save(tmp_path / "old"))
    model = old._global.model
    assert getattr(model, "lost_buckets_", None) is None
    forecast = old.predict()
    recent = model.recent_
    zeros = model.predict_at(recent, [np.array([len(r)]) for r in recent])[0][0]
    np.testing.assert_allclose(forecast.loc[forecast["endpoint"] == "k0", "yhat"].to_numpy(),
                               np.maximum(zeros[:, 0], 0.0), rtol=1e-6, atol=1e-6)
    row = _frame("k0", series[0], np.array([END + 3]))  # three buckets zero-filled before it
    fleet.update(row)
    np.testing.assert_array_equal(fleet._global.model.lost_buckets_[0], np.array([*GAP, END, END + 1, END + 2]))
    # Without the record, the gap's zeros are in the next gap's reference, which makes a zero no lost bucket (as a
    # predictor's reference with zeros it does not know lost).
    old.update(row)
    assert old._global.model.lost_buckets_ == [None] * 4


def test_a_global_fleet_file_with_unsigned_lost_buckets_is_refused_at_load(fitted, tmp_path):
    """Positions saved as uint64 (the update writes int64) are refused at load: loaded, the key's next update joined
    them with the int64 positions it reads and indexed its kept points by the float64 that made (IndexError)."""
    fleet, _ = _updated(fitted)
    bad = copy.deepcopy(fleet)
    bad._global.model.lost_buckets_[0] = np.array(GAP, dtype=np.uint64)
    with pytest.raises(ModelFileError, match="lost buckets of key 'k0' .* not increasing int64 positions"):
        FleetPredictor.load(bad.save(tmp_path / "unsigned"))


@pytest.mark.parametrize("filled", [np.array([0.5, 1.5]), np.array([[0, 1], [2, 3]]), 3, np.array(["a"]),
                                    np.array([3, 1], dtype=np.uint64)],
                         ids=["fractions", "2-d", "scalar", "text", "unsigned-decreasing"])
def test_global_update_refuses_filled_positions_that_are_not_increasing_integers(fitted, filled):
    """``update(filled=)`` names positions among a key's new points: fractions were truncated to other positions
    (0.5 and 1.5 recorded buckets 0 and 1 lost), a 2-D array was flattened, a scalar raised TypeError, text numpy's
    ValueError; decreasing uint64 (whose differences wrap) is refused too: each is a typed error naming the key, and
    nothing changes."""
    fleet, _ = fitted
    model = copy.deepcopy(fleet._global.model)
    new = [np.zeros((5, model.n_targets_)), None, None, None]
    with pytest.raises(WorkloadDataError,
                       match=r"(?s)filled\[0\] \(key 'k0'\) is .* not increasing integer positions"):
        model.update(new, filled=[filled, None, None, None])
    assert model.lost_buckets_ == [None] * 4


@pytest.mark.parametrize("filled", [5, [None] * 3], ids=["int", "too-few"])
def test_global_update_refuses_filled_that_is_not_one_entry_per_key(fitted, filled):
    """``filled`` not a sequence of one entry per key (an int raised TypeError from ``len``) is a typed error."""
    model = copy.deepcopy(fitted[0]._global.model)
    with pytest.raises(WorkloadDataError, match=r"pass filled= as one array \(or None\) per fitted key \(4\)"):
        model.update([np.zeros((5, model.n_targets_)), None, None, None], filled=filled)


def test_global_update_refuses_filled_positions_for_a_key_without_new_points(fitted):
    """A key given no new points has no position to name: ``filled=[None, [0], ...]`` was ignored silently."""
    model = copy.deepcopy(fitted[0]._global.model)
    with pytest.raises(WorkloadDataError, match=r"filled\[1\] \(key 'k1'\) .* among the key's 0 new points"):
        model.update([np.zeros((5, model.n_targets_)), None, None, None], filled=[None, np.array([0]), None, None])


def test_global_update_refuses_filled_positions_that_hold_a_load(fitted, tmp_path):
    """``filled`` names the zero-filled points: one naming a point that holds a load was recorded lost (read at the
    median before it, the load replaced), and the fleet saved after it was refused at load ("not ... of zero-filled
    buckets"). It is a typed error naming the point, and nothing changes."""
    fleet, series = fitted
    fleet = copy.deepcopy(fleet)
    model = fleet._global.model
    new = [series[0][FITTED : FITTED + 5, None], None, None, None]
    with pytest.raises(WorkloadDataError, match=r"filled\[0\] \(key 'k0'\) names new point 1, which holds the loads"):
        model.update(new, filled=[np.array([1, 2]), None, None, None])
    assert model.lost_buckets_ == [None] * 4
    FleetPredictor.load(fleet.save(tmp_path / "fleet"))


def test_a_forged_count_of_lost_buckets_is_refused_before_anything_of_its_size_is_computed(fitted):
    """More positions than the key keeps points are refused from their count: the check differenced all of them
    first (a copy the size of the forged array, 8 MB for a million, on top of the file's own)."""
    import tracemalloc

    from workload_predictor import model_file

    model = copy.deepcopy(fitted[0]._global.model)
    first = int(model.n_seen_[0]) - len(model.recent_[0])
    model.lost_buckets_ = [np.arange(first, first + 10**6, dtype=np.int64), None, None, None]

    def refuse(text):
        raise ModelFileError(text)

    tracemalloc.start()
    try:
        with pytest.raises(ModelFileError, match="lost buckets of key 'k0'"):
            model_file._check_global_lost(model, 4, model.recent_, refuse)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 10**6  # bytes: nothing of the array's 8 MB
