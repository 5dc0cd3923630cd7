"""A refit fleet key's ``input_anomaly`` after an update counts its update's buckets as a predictor fitted on its
series and updated with them counts them: against the floor of its fit, which its refits keep.

``docs/fleets.md`` (Health) says a batched DLinear key counts its flagged buckets among its newest 1000 "as a
predictor fitted and updated on its series counts them". A refit key refits on its newest buckets, whose floor moves
with the buckets it drops; a predictor's update judges its new buckets against its fit's floor. The case (found by a
randomised run of a fleet key against such a predictor, counters at random places): Poisson(3), 600 buckets fitted,
one 20-bucket update holding a 4-bucket counter (each count + 1, summed: 6 12 13 19 at 606-609). The predictor judges
the update's buckets against its fit's floor (5.0) and flags 609 (2 floors above the buckets before it); the refit's
newest 600 buckets (20-619) have the floor 6.0, against which nothing is flagged. The key counts 1, as the predictor.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from conftest import fleet_file_without

from workload_predictor import FleetPredictor, WorkloadPredictor
from workload_predictor.errors import ModelFileError

FREQ, START, N, UPDATE = pd.Timedelta("10s"), pd.Timestamp("2024-01-01", tz="UTC"), 600, 20


def _counter_case():
    total = N + UPDATE
    values = np.random.default_rng(99).poisson(3.0, total).astype(float)
    values[606:610] = np.cumsum(values[606:610] + 1)
    other = np.random.default_rng(100).poisson(3.0, total).astype(float)
    stamps = START + np.arange(total) * FREQ
    frame = pd.concat([pd.DataFrame({"key": key, "timestamp": stamps, "requests": series})
                       for key, series in enumerate([other, values])], ignore_index=True)
    return values, stamps, frame


def test_a_refit_key_counts_a_counter_in_its_update_as_a_predictor_updated_on_its_series():
    values, stamps, frame = _counter_case()
    fit = frame["timestamp"] < stamps[N]
    fleet = FleetPredictor(horizon=3).fit(frame[fit])
    predictor = WorkloadPredictor(horizon=3).fit(pd.DataFrame({"timestamp": stamps[:N], "requests": values[:N]}))
    fleet.update(frame[~fit])
    predictor.update(pd.DataFrame({"timestamp": stamps[N:], "requests": values[N:]}))
    assert predictor.health()["metrics"]["input_anomaly"]["value"] == 1.0  # the counter's flag at 609
    assert fleet.health().loc[1, "input_anomaly"] == 1.0


def test_a_refit_key_keeps_its_fits_floor_through_its_refits_and_its_file(tmp_path):
    """The same counter, the update split in two (600-604, then 605-619) with the fleet saved and loaded between:
    the second refit's newest buckets (20-619) have the floor 6.0 again, but the key judges the second update's
    buckets against its fit's floor (5.0), which the first refit kept and the file holds, as the predictor's
    updates judge them."""
    values, stamps, frame = _counter_case()
    fleet = FleetPredictor(horizon=3).fit(frame[frame["timestamp"] < stamps[N]])
    predictor = WorkloadPredictor(horizon=3).fit(pd.DataFrame({"timestamp": stamps[:N], "requests": values[:N]}))
    for low, high in ((N, 605), (605, N + UPDATE)):
        fleet.update(frame[(frame["timestamp"] >= stamps[low]) & (frame["timestamp"] <= stamps[high - 1])])
        predictor.update(pd.DataFrame({"timestamp": stamps[low:high], "requests": values[low:high]}))
        if low == N:
            fleet = FleetPredictor.load(fleet.save(tmp_path / "fleet.wpm"))
    assert predictor.health()["metrics"]["input_anomaly"]["value"] == 1.0
    assert fleet.health().loc[1, "input_anomaly"] == 1.0


@pytest.mark.parametrize("floor,shape", [(lambda f: f[:1], r"\(1, 1\)"), (lambda f: f * 0, r"\(2, 1\)"),
                                         (lambda f: f * np.nan, r"\(2, 1\)"), (lambda f: f[:, 0], r"\(2,\)")])
def test_a_blocks_input_floor_no_fit_keeps_is_refused_at_load(tmp_path, floor, shape):
    """Each key's floor, per target, at least 1 (``anomaly.floor_of``'s least) and finite."""
    values, stamps, frame = _counter_case()
    fleet = FleetPredictor(horizon=3).fit(frame[frame["timestamp"] < stamps[N]])
    fleet.update(frame[frame["timestamp"] >= stamps[N]])
    block = fleet._blocks[0]
    assert block.input_floor.shape == (2, 1) and (block.input_floor >= 1).all()
    block.input_floor = floor(block.input_floor)
    fleet.save(tmp_path / "bad.wpm")
    with pytest.raises(ModelFileError, match=rf"input-anomaly floors of shape {shape}, not \(2, 1\) finite floors"):
        FleetPredictor.load(tmp_path / "bad.wpm")


def test_a_fleet_file_saved_before_the_floors_were_kept_judges_by_the_floor_of_the_buckets_each_key_holds(tmp_path):
    """Without ``input_floor`` a refitted block's keys judge their next update against the floor of the buckets they
    hold (here 5-604's, 5.0, the fit's again), and their refit keeps it from then on."""
    values, stamps, frame = _counter_case()
    fleet = FleetPredictor(horizon=3).fit(frame[frame["timestamp"] < stamps[N]])
    fleet.update(frame[(frame["timestamp"] >= stamps[N]) & (frame["timestamp"] < stamps[605])])
    kept = fleet._blocks[0].input_floor
    path = tmp_path / "old.wpm"
    path.write_bytes(fleet_file_without(fleet.save(tmp_path / "new.wpm").read_bytes(), ("input_floor",)))
    loaded = FleetPredictor.load(path)
    assert loaded._blocks[0].input_floor is None
    loaded.update(frame[frame["timestamp"] >= stamps[605]])
    assert loaded.health().loc[1, "input_anomaly"] == 1.0
    np.testing.assert_array_equal(loaded._blocks[0].input_floor, kept)


def test_refit_keys_count_as_predictors_updated_on_their_series():
    """Sparse keys (their floor a typical burst), the counter's key, a sentinel in an update longer than the series
    and busy keys, through updates of 20, 1 and 700 buckets: each key's count is its predictor's after each."""
    rng = np.random.default_rng(7)
    keys, total = 8, N + 20 + 1 + 700
    values = rng.poisson(rng.uniform(1, 40, keys)[:, None], (keys, total)).astype(float)
    values[:3] *= rng.random((3, total)) < 0.1
    values[3, : N + UPDATE] = _counter_case()[0]
    values[4, 650] = 4e4
    stamps = START + np.arange(total) * FREQ
    frame = pd.DataFrame({"key": np.repeat(np.arange(keys), total), "timestamp": np.tile(stamps, keys),
                          "requests": values.ravel()})
    fleet = FleetPredictor(horizon=6).fit(frame[frame["timestamp"] < stamps[N]])
    predictors = [WorkloadPredictor(horizon=6).fit(pd.DataFrame({"timestamp": stamps[:N], "requests": series[:N]}))
                  for series in values]
    for low, high in ((N, N + 20), (N + 20, N + 21), (N + 21, total)):
        fleet.update(frame[(frame["timestamp"] >= stamps[low]) & (frame["timestamp"] <= stamps[high - 1])])
        for predictor, series in zip(predictors, values):
            predictor.update(pd.DataFrame({"timestamp": stamps[low:high], "requests": series[low:high]}))
        expected = [predictor.health()["metrics"]["input_anomaly"]["value"] for predictor in predictors]
        assert fleet.health()["input_anomaly"].tolist() == expected, (low, high)
    assert expected[3] == 1.0 and expected[4] >= 1.0


def _random_case(seed):
    """A key of 600 buckets (Poisson, sparse in 3 of 10), one or two counters' runs from 10 buckets before its end
    on, a 4e4 sentinel in 3 of 10, three updates of 1 to 40 buckets; and a Poisson(5) key beside it."""
    rng = np.random.default_rng(seed)
    lengths = rng.choice([1, 5, 10, 20, 40], 3)
    total = N + int(lengths.sum())
    values = rng.poisson(rng.uniform(1, 20), total).astype(float)
    if rng.random() < 0.3:
        values *= rng.random(total) < rng.uniform(0.05, 0.18)
    for _ in range(rng.integers(1, 3)):
        at, run = int(rng.integers(N - 10, total - 3)), int(rng.integers(3, 7))
        values[at:at + run] = np.cumsum(values[at:at + run] + 1)
    if rng.random() < 0.3:
        values[int(rng.integers(N, total))] = 4e4
    return values, rng.poisson(5, total).astype(float), lengths


@pytest.mark.parametrize("seed", [11, 36, 397, 517, 520, 599])
def test_a_refit_key_counts_as_its_predictor_through_updates_of_random_cases(seed):
    """Cases of a randomised run (600 of them, counted alike after every update on this code): 11, 397, 517, 520
    and 599 differed before (a predictor 3 vs the key 2; 0 vs 1; 1 vs 0; 2 vs 1; 1 vs 0). In 36 a sentinel (at 601)
    lies just before a counter's run (603-608) among the 120 buckets before the last update: the predictor reads the
    sentinel as the flag its scan recorded, and flags 607 and 608; the key reads it as its scan of the buckets it keeps
    flags it, and so does too (found again in those 120 buckets alone, the run went unflagged)."""
    values, other, lengths = _random_case(seed)
    stamps = START + np.arange(len(values)) * FREQ
    frame = pd.concat([pd.DataFrame({"key": key, "timestamp": stamps, "requests": series})
                       for key, series in enumerate([other, values])], ignore_index=True)
    fleet = FleetPredictor(horizon=3).fit(frame[frame["timestamp"] < stamps[N]])
    predictor = WorkloadPredictor(horizon=3).fit(pd.DataFrame({"timestamp": stamps[:N], "requests": values[:N]}))
    low = N
    for length in lengths.tolist():
        high = low + length
        fleet.update(frame[(frame["timestamp"] >= stamps[low]) & (frame["timestamp"] <= stamps[high - 1])])
        predictor.update(pd.DataFrame({"timestamp": stamps[low:high], "requests": values[low:high]}))
        assert fleet.health().loc[1, "input_anomaly"] == predictor.health()["metrics"]["input_anomaly"]["value"], high
        low = high
