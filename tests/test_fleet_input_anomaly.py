"""A batched DLinear key's ``input_anomaly`` in ``fleet.health()``: the flagged buckets among its newest
``anomaly.RECENT_BUCKETS``, counted as a ``WorkloadPredictor`` fitted and updated on its series counts them, through
its refits, the blocks it moves between, and the fleet file (``FleetBlock.recent_flags``)."""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import pytest

from conftest import fleet_file_without, keyed_poisson_frame
from workload_predictor import FleetPredictor, WorkloadPredictor, persistence
from workload_predictor.errors import ModelFileError

START = pd.Timestamp("2024-01-01", tz="UTC")
MINUTE = pd.Timedelta("1min")


def _corrupt(frame: pd.DataFrame, key: str, minute: int, value: float) -> None:
    frame.loc[(frame["key"] == key) & (frame["timestamp"] == START + MINUTE * minute), "requests"] = value


def _counts(fleet: FleetPredictor) -> dict:
    health = fleet.health()
    return {key: (health.loc[key, "input_anomaly"], health.loc[key, "input_anomaly_level"]) for key in health.index}


def _own(predictor: WorkloadPredictor) -> tuple:
    metric = predictor.health()["metrics"]["input_anomaly"]
    return metric["value"], metric["level"]


@pytest.fixture(scope="module")
def sentinels() -> tuple[pd.DataFrame, list[pd.DataFrame]]:
    """1,000 buckets of 3 keys (2**32-1 twice in a's, a 1e9 in b's newest), then 2 updates of 20 buckets: a 1e9 in
    b's and c's, and the newest 40 pushing a's first sentinel out of the newest 1,000."""
    rows = keyed_poisson_frame(["a", "b", "c"], 0, 1000)
    _corrupt(rows, "a", 30, 2**32 - 1)
    _corrupt(rows, "a", 600, 2**32 - 1)
    _corrupt(rows, "b", 990, 1e9)
    updates = [keyed_poisson_frame(["a", "b", "c"], 1000, 20), keyed_poisson_frame(["a", "b", "c"], 1020, 20)]
    _corrupt(updates[0], "b", 1005, 1e9)
    _corrupt(updates[1], "c", 1030, 1e9)
    return rows, updates


def test_a_refit_key_counts_flagged_buckets_as_its_own_predictor_does(sentinels):
    """A corrupt exporter (1e9, 2**32-1) in a default (``"refit"``) fleet's key: its fit's and each update's flagged
    buckets among its newest 1000, the count and level of a predictor fitted and updated on its series (the key's
    refit scans its newest buckets only: the count is carried, the flags leaving the newest 1000 dropped)."""
    rows, updates = sentinels
    fleet = FleetPredictor(horizon=5, max_training_time=None).fit(rows)
    own = {key: WorkloadPredictor(horizon=5, max_training_time=None).fit(rows[rows["key"] == key].drop(columns="key"))
           for key in "abc"}
    assert _counts(fleet) == {key: _own(p) for key, p in own.items()} == {"a": (2.0, "warning"), "b": (1.0, "warning"),
                                                                          "c": (0.0, "ok")}
    for update in updates:
        fleet.update(update)
        for key, predictor in own.items():
            predictor.update(update[update["key"] == key].drop(columns="key"))
        assert _counts(fleet) == {key: _own(p) for key, p in own.items()}
    assert _counts(fleet) == {"a": (1.0, "warning"), "b": (2.0, "warning"), "c": (1.0, "warning")}


def test_an_update_longer_than_a_refit_keys_series_counts_the_buckets_its_refit_does_not_read():
    """A key fitted on 200 buckets, updated with 250 at once (an exporter back after an outage): its refit reads
    the newest 200; the 50 before them are scanned for the count, as its own predictor's update scans them all."""
    rows, update = keyed_poisson_frame(["a", "b"], 0, 200), keyed_poisson_frame(["a", "b"], 200, 250)
    _corrupt(update, "a", 220, 1e9)  # before the newest 200
    _corrupt(update, "a", 300, 1e9)
    fleet = FleetPredictor(horizon=5, max_training_time=None).fit(rows).update(update)
    own = WorkloadPredictor(horizon=5, max_training_time=None).fit(rows[rows["key"] == "a"].drop(columns="key"))
    own.update(update[update["key"] == "a"].drop(columns="key"))
    assert _counts(fleet)["a"] == _own(own) == (2.0, "warning")


def test_a_blocks_keys_keep_their_counts_as_another_key_leaves_it():
    """``"incremental"``: a key's first update gives it its own predictor; the keys left in its block keep theirs."""
    rows = keyed_poisson_frame(["a", "b"], 0, 200)
    _corrupt(rows, "b", 150, 2**32 - 1)
    fleet = FleetPredictor(horizon=5, update_mode="incremental", max_training_time=None).fit(rows)
    fleet.update(keyed_poisson_frame(["a"], 200, 1))
    assert "a" in fleet._predictors and fleet._blocks[0].keys == ["b"]
    assert _counts(fleet) == {"a": (0.0, "ok"), "b": (1.0, "warning")}


@pytest.fixture(scope="module")
def flagged(sentinels) -> FleetPredictor:
    rows, updates = sentinels
    return FleetPredictor(horizon=5, max_training_time=None).fit(rows).update(updates[0])


def test_a_fleet_file_keeps_its_keys_counts(flagged, tmp_path):
    loaded = FleetPredictor.load(flagged.save(tmp_path / "fleet.wpm"))
    np.testing.assert_array_equal(loaded._blocks[0].recent_flags, flagged._blocks[0].recent_flags)
    assert _counts(loaded) == _counts(flagged) == {"a": (2.0, "warning"), "b": (2.0, "warning"), "c": (0.0, "ok")}


def test_a_fleet_file_saved_before_the_counts_were_kept_rates_them_unknown_until_a_refit(flagged, sentinels,
                                                                                          tmp_path):
    """Without ``recent_flags`` a block's keys rate ``input_anomaly`` unknown, as before; a key's refit then counts
    its refit's flags, every one among its newest buckets (what came before them is not known)."""
    path = tmp_path / "old.wpm"
    path.write_bytes(fleet_file_without(flagged.save(tmp_path / "new.wpm").read_bytes(), ("recent_flags",)))
    loaded = FleetPredictor.load(path)
    assert loaded._blocks[0].recent_flags is None
    health = loaded.health()
    assert health["input_anomaly"].isna().all() and (health["input_anomaly_level"] == "unknown").all()
    assert FleetPredictor.load(loaded.save(tmp_path / "again.wpm"))._blocks[0].recent_flags is None
    loaded.update(sentinels[1][1])
    assert _counts(loaded) == {"a": (1.0, "warning"), "b": (2.0, "warning"), "c": (1.0, "warning")}


def _set(block, row, col, value):
    block.recent_flags = block.recent_flags.copy()
    block.recent_flags[row, col] = value


@pytest.mark.parametrize("forge,message", [
    (lambda b: _set(b, 0, 0, 3), "recent flagged bucket outside its 3 keys' newest 1000"),
    (lambda b: _set(b, 0, 0, -1), "recent flagged bucket outside"),
    (lambda b: _set(b, -1, 1, 1000), "recent flagged bucket outside"),  # after the newest of 1000 kept
    (lambda b: _set(b, 0, 1, -1), "recent flagged bucket outside"),  # before the newest 1000
    (lambda b: setattr(b, "recent_flags", b.recent_flags[::-1].copy()), "not in order of key row and position"),
    (lambda b: setattr(b, "recent_flags", b.recent_flags[[0, 0]]), "not in order of key row and position, each once"),
    (lambda b: setattr(b, "recent_flags", np.zeros((3001, 2), np.int64)), r"of shape \(3001, 2\), not at most 3,000"),
    (lambda b: setattr(b, "recent_flags", b.recent_flags.astype(np.float64)), "recent flagged buckets of shape"),
    (lambda b: setattr(b, "recent_flags", b.recent_flags[:, :1].copy()), "recent flagged buckets of shape"),
])
def test_a_blocks_recent_flags_no_fit_keeps_are_refused_at_load(flagged, tmp_path, forge, message):
    """Each a key's bucket among its newest 1000 (the count is bounded before anything of its size is computed),
    in order, once."""
    fleet = copy.deepcopy(flagged)
    forge(fleet._blocks[0])
    path = tmp_path / "forged.wpm"
    path.write_bytes(persistence.dumps(fleet))
    with pytest.raises(ModelFileError, match=message):
        FleetPredictor.load(path)
