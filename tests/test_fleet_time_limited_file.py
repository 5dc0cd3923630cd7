"""A DLinear fleet whose fit a time limit cut short (its input-anomaly scan among the stages) forecasts the same
after save and load (found by tests/test_save_load_property.py), and after the updates that follow, as a twin that
never went through a file.

The fit's forecast settles its inputs by the flags of the scan the deadline cut short; a block keeps those flags
(``FleetBlock.flag_at``, ``flag_median``) and its file holds them, so the loaded fleet reads the same ones instead of
scanning the key's series again without a deadline (which finds other flagged buckets). A file saved before the
blocks kept them (no such fields) still loads, and its first forecast scans the keys' series as before.
"""

from __future__ import annotations

import itertools
import warnings

import numpy as np
import pandas as pd
import pytest

from conftest import fleet_file_without
from tests.test_save_load_property import START, loads
from workload_predictor import FleetPredictor, _deadline


def sparse_bursts(n: int = 150, seed: int = 1, name: str = "k0") -> pd.DataFrame:
    """The property test's key ('sparse_bursts', 150 buckets from START) drawn with ``seed``, 1 s buckets."""
    rng = np.random.default_rng(seed)
    scale, bursts = float(rng.choice([0.3, 5.0, 200.0])), str(rng.choice(["none", "anywhere", "early"]))
    y = loads("sparse_bursts", n, rng, scale, bursts)
    return pd.DataFrame({"endpoint": name, "timestamp": START + pd.Timedelta("1s") * np.arange(n), "requests": y})


def cut_fit(data: pd.DataFrame, **params) -> FleetPredictor:
    """A fleet fitted on ``data`` under a one-tick clock: the time limit cuts the fit, its input-anomaly scan too."""
    clock = itertools.count()
    fleet = FleetPredictor(horizon=5, random_state=0, max_training_time=1.0, **params)
    with _deadline.limit(None, clock=lambda: float(next(clock))), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fleet.fit(data, key="endpoint")
    assert "input-anomaly chains" in fleet.time_limited_stages_  # the case
    return fleet


def test_a_fleet_fit_cut_by_its_time_limit_forecasts_the_same_after_save_and_load(tmp_path):
    fleet = cut_fit(sparse_bursts())
    loaded = FleetPredictor.load(fleet.save(tmp_path / "fleet.wpm"))
    pd.testing.assert_frame_equal(loaded.predict(), fleet.predict())


def test_the_cut_fit_differs_from_a_whole_scan_so_the_file_must_keep_its_flags(tmp_path):
    """The case is one where the flags matter: a whole scan of the key's series (what a loaded fleet read before
    the flags were saved) settles other inputs, and the forecast differs."""
    fleet = cut_fit(sparse_bursts())
    block = fleet._blocks[0]
    rescanned = FleetPredictor.load(fleet.save(tmp_path / "fleet.wpm"))
    rescanned._blocks[0].flag_at = rescanned._blocks[0].flag_median = None
    vars(rescanned._blocks[0]).pop("_settled", None)
    assert not np.array_equal(rescanned._blocks[0].point(5), block.point(5))


def next_rows(frame: pd.DataFrame, count: int, rng: np.random.Generator) -> pd.DataFrame:
    stamps = frame["timestamp"].iloc[-1] + pd.Timedelta("1s") * (1 + np.arange(count))
    level = max(float(np.median(frame["requests"].to_numpy()[-60:])), 1.0)
    return pd.DataFrame({"endpoint": frame["endpoint"].iloc[0], "timestamp": stamps,
                         "requests": rng.poisson(level, count).astype(float)})


@pytest.mark.parametrize("mode", ["refit", "incremental"])
def test_a_loaded_time_limited_fleet_updates_as_the_fleet_that_saved_it(tmp_path, mode):
    """Two keys cut by the limit; the updates give one key rows, then the other, then both: the loaded fleet (saved
    and loaded again after each) forecasts exactly as its twin that never went through a file."""
    frames = [sparse_bursts(seed=1, name="k0"), sparse_bursts(seed=5, name="k1")]
    twin = cut_fit(pd.concat(frames, ignore_index=True), update_mode=mode)
    loaded = FleetPredictor.load(twin.save(tmp_path / "fit.wpm"))
    pd.testing.assert_frame_equal(loaded.predict(), twin.predict())
    rng = np.random.default_rng(0)
    for i, which in enumerate([(1,), (0,), (0, 1)]):
        new = []
        for j in which:
            added = next_rows(frames[j], 3, rng)
            frames[j] = pd.concat([frames[j], added], ignore_index=True)
            new.append(added)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            twin.update(pd.concat(new, ignore_index=True))
            loaded.update(pd.concat(new, ignore_index=True))
        pd.testing.assert_frame_equal(loaded.predict(), twin.predict(), obj=f"update {i}")
        loaded = FleetPredictor.load(loaded.save(tmp_path / f"update{i}.wpm"))
        pd.testing.assert_frame_equal(loaded.predict(), twin.predict(), obj=f"update {i}, loaded")


def test_a_fleet_file_saved_before_the_flags_were_kept_loads_and_scans_its_keys_again(tmp_path):
    """Without the fields, a loaded block scans its keys' series as before: an untimed fit's flags are that scan's,
    so it forecasts as the fleet saved."""
    data = pd.concat([sparse_bursts(seed=1, name="k0"), sparse_bursts(seed=5, name="k1")], ignore_index=True)
    fleet = FleetPredictor(horizon=5, random_state=0).fit(data, key="endpoint")
    assert len(fleet._blocks[0].flag_at)  # flags the forecast reads, found again by the scan
    path = tmp_path / "old.wpm"
    path.write_bytes(fleet_file_without(fleet.save(tmp_path / "new.wpm").read_bytes(), ("flag_at", "flag_median")))
    loaded = FleetPredictor.load(path)
    assert loaded._blocks[0].flag_at is None and loaded._blocks[0].flag_median is None
    pd.testing.assert_frame_equal(loaded.predict(), fleet.predict())
    assert FleetPredictor.load(loaded.save(tmp_path / "again.wpm"))._blocks[0].flag_at is None
