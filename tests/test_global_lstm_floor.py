"""A global LSTM's input-anomaly floor follows each key's data through updates, as a predictor's does (review h45)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from test_global_lstm import TINY, fleet

from workload_predictor import FleetPredictor, WorkloadPredictor
from workload_predictor.errors import ModelFileError
from workload_predictor.models.global_lstm import GlobalLSTM

START = pd.Timestamp("2024-03-01", tz="UTC")
MINUTE = pd.Timedelta("1min")


def _wake(n: int = 40, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).poisson(5000, n).astype(float)


@pytest.mark.parametrize("per", [1, 8])
def test_a_waking_keys_points_are_judged_against_the_typical_burst_it_has_shown_as_a_predictors_are(per):
    """An idle key wakes at ~5,000 (tokens): a WorkloadPredictor flags its busy buckets until anomaly.MIN_BUSY = 20
    are busy (its floor is the idle fit's 1 until then, then their median; an update's buckets are judged with it:
    19 buckets one at a time, 16 in updates of 8), and so does the global model now, update for update. Before:
    judged against the idle floor for good, 39 and 40 of 40 buckets were flagged (weights ~1e-11 in the shared base's
    statistics)."""
    idle = np.zeros((240, 1))
    model = GlobalLSTM(**TINY).fit(fleet(3) + [idle])
    predictor = WorkloadPredictor(model="dlinear", horizon=5, random_state=0).fit(
        pd.DataFrame({"timestamp": START + MINUTE * np.arange(240), "requests": idle[:, 0]}))
    wake = _wake()
    ours, theirs = [], []
    for t in range(0, len(wake), per):
        new = wake[t : t + per, None]
        model.update([None] * 3 + [new])
        weights = model.recent_weights_[3]
        ours.extend((weights[-len(new):, 0] < 1).tolist() if weights is not None else [False] * len(new))
        known = {a[0] for a in predictor.input_anomalies_}
        predictor.update(pd.DataFrame({"timestamp": START + MINUTE * (240 + t + np.arange(len(new))),
                                       "requests": new[:, 0]}))
        flagged = {a[0] for a in predictor.input_anomalies_} - known
        theirs.extend(START + MINUTE * (240 + t + i) in flagged for i in range(len(new)))
    expected = {1: 19, 8: 16}[per]  # the rule compared against
    assert sum(theirs) == expected and theirs[:expected] == [True] * expected
    assert ours == theirs


def test_the_floor_follows_only_the_keys_own_points_and_a_busy_key_keeps_its_floor():
    """A busy key (every bucket non-zero) has no typical-burst floor (anomaly.busy_floor: the 90th percentile is no
    less): its forecast after an update is the one the training part's floor gives."""
    series = fleet(3)
    model = GlobalLSTM(**TINY).fit(series)
    np.testing.assert_array_equal(model._floor(0), model.weight_floor_[0])
    assert model.weight_nonzero_counts_.tolist() == [[240], [240], [240]]
    model.update([s[-10:] for s in series])
    assert model.weight_nonzero_counts_.tolist() == [[250], [250], [250]]
    np.testing.assert_array_equal(model._floor(1), model.weight_floor_[1])


def _fleet_frame() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    frame = pd.concat([pd.DataFrame({"endpoint": f"k{i}", "timestamp": START + MINUTE * np.arange(240),
                                     "requests": rng.poisson(10, 240).astype(float)}) for i in range(3)]
                      + [pd.DataFrame({"endpoint": "idle", "timestamp": START + MINUTE * np.arange(240),
                                       "requests": 0.0})], ignore_index=True)
    return frame


def _woken(fleet: FleetPredictor, first: int, count: int) -> FleetPredictor:
    wake = _wake(first + count)[first:]
    return fleet.update(pd.DataFrame({"endpoint": "idle", "timestamp": START + MINUTE * (240 + first + np.arange(count)),
                                      "requests": wake}))


def _global_fleet() -> FleetPredictor:
    return FleetPredictor(model="global_lstm", horizon=5, random_state=0,
                          model_params={"hidden_size": 4, "max_epochs": 1, "window": 24}).fit(_fleet_frame(), key="endpoint")


def test_the_followed_floor_is_saved_and_a_loaded_fleet_updates_as_the_one_saved(tmp_path):
    fleet = _woken(_global_fleet(), 0, 10)
    path = fleet.save(tmp_path / "fleet.wpm")
    loaded = FleetPredictor.load(path)
    held, back = fleet._global.model, loaded._global.model
    assert len(back.weight_nonzero_) == 4
    for a, b in zip(held.weight_nonzero_, back.weight_nonzero_):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(held.weight_nonzero_counts_, back.weight_nonzero_counts_)
    idle = back.keys_.index("idle")
    assert back.weight_nonzero_counts_[idle, 0] == 10
    _woken(fleet, 10, 15)
    _woken(loaded, 10, 15)
    pd.testing.assert_frame_equal(fleet.predict(), loaded.predict())
    np.testing.assert_array_equal(loaded._global.model._floor(idle), [np.median(_wake(25))])


@pytest.mark.parametrize("damage, match", [
    (lambda m: setattr(m, "weight_nonzero_counts_", m.weight_nonzero_counts_ + 10_000), "buckets its model saw"),
    (lambda m: setattr(m, "weight_nonzero_counts_", m.weight_nonzero_counts_.astype(float)), "not 1 integer from 0"),
    (lambda m: setattr(m, "weight_nonzero_", m.weight_nonzero_[:3]), "4 keys' newest non-zero points"),
    (lambda m: setattr(m, "weight_nonzero_", [tuple(-c.astype(float) for c in w) for w in m.weight_nonzero_]),
     "finite loads above 0"),
    (lambda m: setattr(m, "weight_nonzero_", [tuple(c.astype(np.int64) for c in w) for w in m.weight_nonzero_]),
     "each of uint8, uint16, uint32, float32, float64"),
    (lambda m: setattr(m, "weight_nonzero_", [w[:0] for w in m.weight_nonzero_]), "is not 1 array of"),
    (lambda m: setattr(m, "weight_nonzero_", [(np.ones(1001),) for w in m.weight_nonzero_]), "of 1,000 entries"),
    (lambda m: setattr(m, "weight_nonzero_", [(np.where(np.arange(1000) == 999, 0, w[0]),) for w in m.weight_nonzero_]),
     "as many as its counts"),
    (lambda m: setattr(m, "weight_nonzero_", [(np.where(np.arange(1000) == 995, 0, np.maximum(w[0], 1)),)
                                              for w in m.weight_nonzero_]), "NaN before a target's first"),
    (lambda m: setattr(m, "weight_nonzero_", None), "newest non-zero points"),
])
def test_a_damaged_followed_floor_in_a_global_fleet_file_is_refused(tmp_path, damage, match):
    fleet = _woken(_global_fleet(), 0, 10)
    damage(fleet._global.model)
    path = fleet.save(tmp_path / "fleet.wpm")
    with pytest.raises(ModelFileError, match=match):
        FleetPredictor.load(path)


def test_a_file_without_the_followed_floor_loads_and_keeps_its_training_floor(tmp_path):
    """A fleet file saved before the floor followed the data: the key's new points are judged against the training
    part's floor, as they were (a woken idle key flagged for good), and no state is started."""
    fleet = _global_fleet()
    del fleet._global.model.weight_nonzero_, fleet._global.model.weight_nonzero_counts_
    loaded = FleetPredictor.load(fleet.save(tmp_path / "old.wpm"))
    _woken(loaded, 0, 30)
    model = loaded._global.model
    assert getattr(model, "weight_nonzero_", None) is None
    assert (model.recent_weights_[model.keys_.index("idle")][-30:] < 1).all()


def test_a_pending_targets_inputs_do_not_take_the_keys_other_targets_with_them():
    """An idle key wakes with 10 buckets of ~100 requests and ~5,000 output tokens: its requests vary enough to be
    rescaled, its tokens (flagged against the idle floor until anomaly.MIN_BUSY are busy) stay pending, standardised
    by the placeholder scale 1. Before: those 5,000-scale inputs took the requests forecast to -10,515 ... 17,131
    (here; 14,916-20,932 on the fleet benchmark's keys, horizon 5). Now a pending target's inputs are read at its
    constant, as its forecast is (here 102-133: within a factor 2 of the level); its own forecast is the mean of its
    points since they left it until they set its scale (tests/test_global_lstm_wake.py)."""
    rng = np.random.default_rng(0)
    series = [np.hstack([s, 50.0 * s]) for s in fleet(3)] + [np.zeros((240, 2))]
    model = GlobalLSTM(**TINY).fit(series)
    wake = np.hstack([rng.poisson(100, (10, 1)), rng.poisson(5000, (10, 1))]).astype(float)
    model.update([None] * 3 + [wake])
    assert model.scale_pending_[3].tolist() == [False, True]
    forecast = model.predict()[3]
    assert ((forecast[:, 0] > 50) & (forecast[:, 0] < 200)).all(), forecast[:, 0]
    np.testing.assert_allclose(forecast[:, 1], wake[:, 1].mean(), rtol=1e-12)


def test_the_newest_non_zero_points_are_kept_in_the_narrowest_exact_dtype_and_give_the_same_floors():
    """Before: each key kept 1,000 float64 rows per target (8 kB, NaN-padded; 240 MB for 10,000 keys of 3 targets)
    whatever its values. Now each target's in the narrowest dtype that holds its points exactly (counts under 256:
    1 byte each, 0 before its first point), given back bit for bit: the floors are those of the rows."""
    from workload_predictor.anomaly import BUSY_KEPT, busy_floor, busy_values
    from workload_predictor.models.global_lstm import _packed, _unpacked

    rng = np.random.default_rng(0)
    columns = [rng.poisson(5, 3000), rng.poisson(3000, 3000), rng.poisson(1e6, 3000), rng.random(3000) * 100,
               rng.integers(1, 2**20, 3000) / 8.0]
    series = np.stack(columns, axis=1).astype(float)
    series[rng.random(series.shape) < 0.9] = 0.0  # sparse: the typical-burst floor is in force
    series[:2900, 1] = 0.0  # fewer than BUSY_KEPT points: the rows are NaN before them
    rows, counts = busy_values(series)
    packed = _packed(rows)
    assert [c.dtype.name for c in packed] == ["uint8", "uint16", "uint32", "float64", "float32"]
    assert [c.shape for c in packed] == [(BUSY_KEPT,)] * 5  # the same size whatever the count: no growth
    assert [np.count_nonzero(c) for c in packed] == np.minimum(counts, BUSY_KEPT).tolist()
    back = _unpacked(packed)  # as a fit kept them (NaN before, up to BUSY_KEPT rows)
    padded = np.vstack([np.full((BUSY_KEPT - len(rows), 5), np.nan), rows])
    assert back.dtype == np.float64 and np.array_equal(back, padded, equal_nan=True)
    assert np.array_equal(busy_floor(back, counts, len(series)), busy_floor(rows, counts, len(series)))
    model = GlobalLSTM(**TINY).fit(fleet(3) + [series[:400, :1] * 20])
    assert [c.dtype.name for c in model.weight_nonzero_[3]] == ["uint8"]
    # The three fleet() keys are fractional (float64: 8 bytes a point, as before); the counts key 1 byte.
    assert [sum(c.nbytes for c in w) for w in model.weight_nonzero_] == [8 * BUSY_KEPT] * 3 + [BUSY_KEPT]


def test_a_file_with_the_rows_as_saved_before_loads_and_updates_as_the_packed_one(tmp_path):
    """A fleet file saved before the points were packed holds each key's rows, padded with NaN to 1,000: it loads,
    its floors and forecasts are the packed fleet's, and its first update packs them."""
    from workload_predictor.anomaly import BUSY_KEPT
    from workload_predictor.models.global_lstm import _unpacked

    fleet = _woken(_global_fleet(), 0, 10)
    old = FleetPredictor.load(fleet.save(tmp_path / "new.wpm"))
    rows = [_unpacked(w) for w in old._global.model.weight_nonzero_]
    old._global.model.weight_nonzero_ = [np.vstack([np.full((BUSY_KEPT - len(r), r.shape[1]), np.nan), r]) for r in rows]
    old = FleetPredictor.load(old.save(tmp_path / "old.wpm"))
    assert all(isinstance(w, np.ndarray) and w.shape == (BUSY_KEPT, 1) for w in old._global.model.weight_nonzero_)
    pd.testing.assert_frame_equal(old.predict(), fleet.predict())
    _woken(fleet, 10, 15)
    _woken(old, 10, 15)
    pd.testing.assert_frame_equal(old.predict(), fleet.predict())
    model = old._global.model
    idle = model.keys_.index("idle")  # the key updated: packed; the others keep their rows until they are
    a, b = fleet._global.model.weight_nonzero_[idle], model.weight_nonzero_[idle]
    assert isinstance(b, tuple) and all(x.dtype == y.dtype and np.array_equal(x, y) for x, y in zip(a, b))
    assert all(isinstance(w, np.ndarray) for i, w in enumerate(model.weight_nonzero_) if i != idle)
    assert [model._floor(i).tolist() for i in range(4)] == [fleet._global.model._floor(i).tolist() for i in range(4)]
