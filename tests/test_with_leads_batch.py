"""``anomaly.with_leads`` reads each run's climb in batches of runs (``_climbs``): the same runs, bit for bit, as the
rule read one run at a time (the reference below), on series holding counters, sentinels, idle stretches and ties.
One at a time it took 0.27-0.42 s for the 12,639 runs of perf's sparse 1,000,000-bucket series (per call; a fit
made three), which put a DLinear fit under ``max_training_time=0.5`` at 1.3 s."""

from __future__ import annotations

import numpy as np
import pytest

from workload_predictor import anomaly
from workload_predictor.anomaly import COUNTER_RUN, REFERENCE_BUCKETS


def one_at_a_time(values, runs):
    moved, end = [], {}
    for first, last, col, median in sorted(runs):
        low = max(first - REFERENCE_BUCKETS, end.get(col, -1) + 1, 0)
        if first - low >= COUNTER_RUN - 1:
            steps = np.diff(values[low : first + 1, col])
            falls = np.flatnonzero(steps < 0)
            steps = steps[int(falls[-1]) + 1 :] if len(falls) else steps
            if len(steps) >= COUNTER_RUN - 1 and median / 2 <= np.median(steps) <= 2 * median + 1:
                if steps.all():
                    lead = 0
                else:
                    score = np.cumsum(np.where(steps > 0, -1, 1))
                    best = int(np.argmax(score))
                    lead = best + 1 if score[best] > 0 else 0
                first -= len(steps) - lead
        moved.append((first, last, col, median))
        end[col] = last
    return moved


def series(seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(200, 3000))
    level = rng.choice([0.3, 3.0, 30.0])
    y = rng.poisson(level, (n, 2)).astype(float)
    for _ in range(int(rng.integers(1, 12))):  # counters: a cumulative run of the counts
        col, at, length = int(rng.integers(2)), int(rng.integers(0, n - 20)), int(rng.integers(5, 40))
        y[at : at + length, col] = np.cumsum(y[at : at + length, col]) + y[at, col]
    for _ in range(int(rng.integers(0, 20))):  # sentinels and bursts
        y[int(rng.integers(n)), int(rng.integers(2))] = rng.choice([2.0**32 - 1, 1e6, 1e18])
    for _ in range(int(rng.integers(0, 4))):  # idle stretches
        at = int(rng.integers(0, n - 30))
        y[at : at + int(rng.integers(2, 30))] = 0.0
    return y

def _newest_runs(every: int):
    """The newest 156 buckets of each random series at every ``every``-th end (a forecast's inputs and their
    reference) and the runs the rule settles in them, where it settles any."""
    for seed in range(20):
        y = series(seed)
        for end in range(156, len(y) + 1, every):
            values = y[end - 156 : end]
            _, found = anomaly.fit_scan(values)
            runs = anomaly.settled_runs(values, anomaly.flagged_of(found))
            if runs:
                yield values, runs



@pytest.mark.parametrize("seed", range(40))
def test_the_batched_climbs_are_the_runs_read_one_at_a_time(seed):
    y = series(seed)
    _, found = anomaly.fit_scan(y)
    runs = anomaly.settled_runs(y, anomaly.flagged_of(found))
    assert anomaly.with_leads(y, runs) == one_at_a_time(y, runs)


@pytest.mark.parametrize("values, runs", [
    (np.zeros((1, 1)), [(0, 0, 0, 0.0)]),  # no step at all
    (np.array([[0.0, 1], [1, 2], [2, 3]]), [(2, 2, 1, 1.0), (1, 1, 0, 1.0)]),  # no room for a climb
    (np.arange(8.0)[:, None], [(6, 7, 0, 1.0)]),  # the shortest climb there is room for
    (np.zeros((4, 1)), []),
])
def test_short_series_and_no_runs(values, runs):
    assert anomaly.with_leads(values, runs) == one_at_a_time(values, runs)


def test_a_long_sparse_series_in_chunks():
    rng = np.random.default_rng(0)
    n = 400_000
    burst = np.where(rng.random(n) < 0.6, 1.0, rng.lognormal(3.0, 1.0, n).round())
    y = np.where(rng.random(n) < 0.95, 0.0, burst)[:, None]
    _, found = anomaly.fit_scan(y)
    runs = anomaly.settled_runs(y, anomaly.flagged_of(found))
    assert len(runs) > anomaly.LEAD_CHUNK  # read in more than one chunk
    led = anomaly.with_leads(y, runs)
    assert led == one_at_a_time(y, runs)
    assert sum(a != b for a, b in zip(led, sorted(runs))) > 100  # runs begun earlier: the case holds climbs


def test_the_random_series_hold_counters_climbs():
    moved = 0
    for seed in range(40):
        y = series(seed)
        _, found = anomaly.fit_scan(y)
        runs = anomaly.settled_runs(y, anomaly.flagged_of(found))
        moved += sum(a != b for a, b in zip(anomaly.with_leads(y, runs), sorted(runs)))
    assert moved >= 20


def test_a_few_runs_checked_one_by_one_are_the_runs_read_in_numpy(monkeypatch):
    """``with_leads`` of a few runs (``_FEW_RUNS`` at most: a forecast's, an update's) first checks in Python whether
    any may climb in (``_may_climb``), and returns them as they are where none does: on the newest 156 buckets of the
    random series (a forecast's inputs and their reference) at every 50th end, the runs the rule reads one at a time,
    and those numpy reads (``_FEW_RUNS`` 0), both where none climbs and where one does."""
    skipped = taken = 0
    for values, runs in _newest_runs(every=50):
        if len(runs) > anomaly._FEW_RUNS:
            continue
        led = anomaly.with_leads(values, runs)
        assert led == one_at_a_time(values, runs)
        with monkeypatch.context() as numpy_only:
            numpy_only.setattr(anomaly, "_FEW_RUNS", 0)
            assert anomaly.with_leads(values, runs) == led
        climbs = any(anomaly._may_climb(values, first, col) for first, _, col, _ in runs)
        skipped, taken = skipped + (not climbs), taken + climbs
    assert skipped > 50 and taken > 20


def test_a_few_climbing_runs_read_one_by_one_are_the_runs_read_in_numpy(monkeypatch):
    """``with_leads`` of a few runs where one may climb reads each in Python (``_few_leads``): on the newest 156
    buckets of the random series at every 10th end, the same runs as numpy's (``_FEW_RUNS`` 0) and the rule's read
    one at a time, with runs it moves (a climb begun earlier, some after ties) among them."""
    moved = taken = 0
    for values, runs in _newest_runs(every=10):
        if not any(anomaly._may_climb(values, first, col) for first, _, col, _ in runs):
            continue
        led = anomaly.with_leads(values, runs)
        with monkeypatch.context() as numpy_only:
            numpy_only.setattr(anomaly, "_FEW_RUNS", 0)
            assert anomaly.with_leads(values, runs) == led
        assert led == one_at_a_time(values, runs)
        taken += 1
        moved += sum(a != b for a, b in zip(led, sorted(runs)))
    assert taken > 100 and moved > 50


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_a_few_runs_with_a_nan_step_or_another_dtype(monkeypatch, dtype):
    """A climb holding a NaN step (read by numpy's ``_climbs``) and float32 values (numpy's path) give the runs
    numpy's path gives: two climbs moved, one whose steps lie too far below the median kept."""
    values = np.array([[5.0], [5], [6], [6], [7], [8], [np.nan], [9], [10], [12], [15], [1e6], [20]], dtype=dtype)
    clean = values.copy()
    clean[6] = 8.5
    cases = ((values, [(11, 11, 0, 2.0)]), (clean, [(11, 11, 0, 2.0)]), (clean, [(11, 11, 0, 5.0)]))
    for series_, runs in cases:  # moved, moved, kept
        led = anomaly.with_leads(series_, runs)
        with monkeypatch.context() as numpy_only:
            numpy_only.setattr(anomaly, "_FEW_RUNS", 0)
            assert anomaly.with_leads(series_, runs) == led
        assert (led[0][0] < 11) == (runs[0][3] == 2.0)
