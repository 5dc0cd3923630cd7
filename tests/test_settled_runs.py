"""anomaly.settled_runs and anomaly.settle on many bursts: the same runs and the same settled series as the rule read
one flag at a time (a sparse series holds thousands of one-bucket bursts, judged at once)."""

import numpy as np
from hypothesis import example, given, settings
from hypothesis import strategies as st

from workload_predictor import anomaly


def _runs_one_at_a_time(values, flagged):
    """:func:`anomaly.settled_runs`' rule, each flag in position order: a burst lasts to its first bucket back (not
    flagged, within a K-th of its first deviation from its median); a flag inside a burst belongs to it; a burst that
    never comes back ends the target's runs."""
    runs = []
    for col in sorted({c for _, c in flagged}):
        positions = sorted(p for p, c in flagged if c == col)
        column, end = values[:, col], -1
        for first in positions:
            if first <= end:
                continue
            median = flagged[(first, col)]
            reach = abs(values[first, col] - median) / anomaly.K
            back = next((p for p in range(first + 1, len(column))
                         if p not in positions and abs(float(column[p]) - median) <= reach), None)
            if back is None:
                break
            end = back - 1
            runs.append((first, end, col, median))
    return runs


def _settled_one_at_a_time(values, runs):
    changed = values.copy()
    for first, last, col, median in runs:
        changed[first : last + 1, col] = median
    return changed


@st.composite
def _series_and_flags(draw):
    n = draw(st.integers(1, 400))
    k = draw(st.integers(1, 2))
    levels = st.sampled_from([0.0, 1.0, 3.0, 40.0, 1e3, 1e9])
    values = np.array(draw(st.lists(levels, min_size=n * k, max_size=n * k)), dtype=float).reshape(n, k)
    flags = draw(st.dictionaries(st.tuples(st.integers(0, n - 1), st.integers(0, k - 1)),
                                 st.sampled_from([0.0, 1.0, 2.5, 40.0]), max_size=min(n * k, 200)))
    return values, flags


@settings(deadline=None, max_examples=200)
@given(case=_series_and_flags())
@example(case=(np.array([[0.0], [1e9], [1e9], [0.0], [1e9], [0.0], [1e9], [1e9]]),
               {(1, 0): 0.0, (2, 0): 0.0, (4, 0): 0.0, (6, 0): 0.0, (7, 0): 0.0}))  # 2 long, 1 short, 1 still going
def test_settled_runs_and_settle_match_the_rule_read_one_flag_at_a_time(case):
    values, flags = case
    before = values.copy()
    runs = anomaly.settled_runs(values, flags)
    assert runs == _runs_one_at_a_time(values, flags)
    assert all(type(first) is int and type(last) is int for first, last, _, _ in runs)
    np.testing.assert_array_equal(anomaly.settle(values, runs), _settled_one_at_a_time(values, runs))
    np.testing.assert_array_equal(values, before)  # read only


def test_settle_sets_overlapping_runs_in_their_order():
    """Runs given by a caller may overlap (a later run of a target over an earlier one): the later one is set last,
    however many there are (from 64 runs on the one-bucket runs are set at once, only where none overlap)."""
    values = np.zeros((300, 2))
    runs = [(p, p, p % 2, float(p)) for p in range(0, 200, 2)] + [(0, 10, 0, -1.0), (4, 4, 0, 7.0)]
    np.testing.assert_array_equal(anomaly.settle(values, runs), _settled_one_at_a_time(values, runs))
    assert anomaly.settle(values, runs)[4, 0] == 7.0 and anomaly.settle(values, runs)[6, 0] == -1.0


def test_settled_runs_of_a_sparse_series_read_each_one_bucket_burst_as_its_median():
    """Thousands of one-bucket bursts in zeros: each is its own run, and settling leaves zeros."""
    rng = np.random.default_rng(0)
    values = np.zeros((50_000, 1))
    at = np.sort(rng.choice(np.arange(1, 50_000, 2), 5_000, replace=False))
    values[at, 0] = 1e3
    flags = {(int(p), 0): 0.0 for p in at}
    runs = anomaly.settled_runs(values, flags)
    assert runs == [(int(p), int(p), 0, 0.0) for p in at]
    assert not anomaly.settle(values, runs).any()


def test_settle_reads_runs_beyond_the_series_as_slices_do():
    """Runs past the series' end, or at negative positions, set what the slice ``first : last + 1`` sets (a run from
    -1 to -1 sets nothing), however many runs there are."""
    values = np.zeros((100, 1))
    runs = [(p, p, 0, 1.0) for p in range(0, 140, 2)] + [(-1, -1, 0, 5.0), (-3, -2, 0, 6.0)]
    np.testing.assert_array_equal(anomaly.settle(values, runs), _settled_one_at_a_time(values, runs))
    assert anomaly.settle(values, runs)[99, 0] == 0.0 and anomaly.settle(values, runs)[97, 0] == 6.0
