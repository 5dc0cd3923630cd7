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


def _bridged_one_at_a_time(values, settled, runs, around):
    """:func:`anomaly.bridged`'s rule, bucket by bucket: each bucket of ``runs`` read between the nearest buckets of its
    target before and after it that lie in no run (of ``runs`` or ``around``), where both exist, as an AR(1) series
    about its median with the lag-1 correlation of the target's adjacent buckets in no run, up to the last such next
    bucket (0 for fewer than 3 pairs or a constant side, clipped to [0, 1]; the straight line at 1)."""
    changed = settled.copy()
    n = len(values)
    for col in sorted({c for _, _, c, _ in runs}):
        inside = {p for f, e, c, _ in (*runs, *around) if c == col for p in range(f, e + 1)}
        read = []
        for first, last, c, _ in runs:
            if c != col:
                continue
            for p in range(max(first, 0), min(last, n - 1) + 1):
                low = next((q for q in range(p - 1, -1, -1) if q not in inside), None)
                high = next((q for q in range(p + 1, n) if q not in inside), None)
                if low is not None and high is not None:
                    read.append((p, low, high))
        if not read:
            continue
        limit = max(high for _, _, high in read)
        pairs = [(float(values[t, col]), float(values[t + 1, col])) for t in range(limit)
                 if t not in inside and t + 1 not in inside]
        rho = 0.0
        if len(pairs) >= 3:
            x, z = np.array(pairs).T
            x, z = x - x.mean(), z - z.mean()
            scale = np.sqrt((x @ x) * (z @ z))
            rho = float(np.clip((x @ z) / scale, 0, 1)) if scale > 0 and np.isfinite(scale) else 0.0
        for p, low, high in read:
            d, e, m = p - low, high - p, settled[p, col]
            left, right = values[low, col], values[high, col]
            if rho == 0.0:
                continue
            if rho == 1.0:
                changed[p, col] = left + (right - left) * d / (d + e)
            else:
                whole = 1 - rho ** (2 * (d + e))
                changed[p, col] = (m + (left - m) * rho**d * (1 - rho ** (2 * e)) / whole
                                   + (right - m) * rho**e * (1 - rho ** (2 * d)) / whole)
    return changed


@settings(deadline=None, max_examples=200)
@given(case=_series_and_flags(), lost=st.lists(st.integers(0, 399), max_size=6))
@example(case=(np.array([[9.0], [4e9], [4e9], [9.0], [1e12], [3.0], [5.0], [1e12], [7.0], [6.0], [8.0]]),
               {(1, 0): 7.0, (4, 0): 7.0, (7, 0): 7.0}), lost=[5])  # a lost bucket beside a burst
def test_bridged_reads_each_burst_between_the_ordinary_buckets_around_it(case, lost):
    values, flags = case
    before = values.copy()
    runs = anomaly.settled_runs(values, flags)
    around = [(p, p, col, 1.0) for p in lost if p < len(values) for col in range(values.shape[1])]
    settled = anomaly.settle(values, runs + around)
    kept = settled.copy()
    result = anomaly.bridged(values, settled, runs, around)
    expected = _bridged_one_at_a_time(values, settled, runs, around)
    np.testing.assert_allclose(result, expected, rtol=1e-7, atol=1e-9 * max(1.0, float(np.abs(values).max())))
    np.testing.assert_array_equal(values, before)  # read only
    np.testing.assert_array_equal(settled, kept)
    if not runs:
        assert result is settled


def test_bridged_reads_a_burst_on_the_shape_the_series_follows_and_at_its_median_in_noise():
    """A ramp's ordinary buckets correlate fully at lag 1: a burst on it is read on the line across it (its median,
    the level of the buckets before it, would read a step). Buckets that alternate (no positive lag-1 correlation)
    are read at the median. A run at the series' first bucket, with no ordinary bucket before it, keeps its median."""
    ramp = np.arange(40, dtype=np.float64)[:, None]
    values = ramp.copy()
    values[[0, 20, 21, 22], 0] = 4e9
    runs = [(0, 0, 0, -1.0), (20, 22, 0, 10.0)]
    result = anomaly.bridged(values, anomaly.settle(values, runs), runs)
    np.testing.assert_allclose(result[1:, 0], ramp[1:, 0], rtol=1e-9)
    assert result[0, 0] == -1.0
    alternating = np.where(np.arange(40) % 2 == 0, 3.0, 9.0)[:, None]
    alternating[[20, 21, 22], 0] = 4e9
    runs = [(20, 22, 0, 6.0)]
    settled = anomaly.settle(alternating, runs)
    assert anomaly.bridged(alternating, settled, runs) is settled
