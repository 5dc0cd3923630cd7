"""A series' flags found by scans of its updates (each reading the buckets before it, with the flags found before
them ``known``, as a predictor's updates scan) are those of one scan of the whole series, where counters and bursts
meet (:func:`workload_predictor.anomaly.scan`)."""

from __future__ import annotations

import numpy as np
from hypothesis import example, given, settings
from hypothesis import strategies as st

from workload_predictor import _deadline, anomaly


def faulty(total: int, seed: int, level: float, faults: list[tuple[str, int, int, float]]) -> np.ndarray:
    """Poisson counts around ``level`` with a 48-bucket cycle of +-30 % (one target), and ``faults``: ``(kind, at,
    length, factor)``, a counter (the running sum) or a burst (times ``factor``)."""
    rng = np.random.default_rng(seed)
    y = rng.poisson(level * (1 + 0.3 * np.sin(2 * np.pi * np.arange(total) / 48))).astype(float)[:, None]
    for kind, at, length, factor in faults:
        part = slice(at, at + length)
        y[part, 0] = np.cumsum(y[part, 0]) if kind == "counter" else y[part, 0] * factor
    return y


def scanned_by_updates(y: np.ndarray, n: int, chunks: list[int], floor: np.ndarray) -> dict:
    """``{(position, target): (median, deviation)}``: the flags of a scan of ``y[:n]``, then of each chunk's scan
    against the ``HISTORY_BUCKETS`` before it with the flags found among them ``known``."""
    flags = {(f[0], f[1]): (f[3], f[4]) for f in anomaly.series_flags(y[:n], floor)}
    seen = n
    for chunk in chunks:
        low = max(seen - anomaly.HISTORY_BUCKETS, 0)
        known = anomaly.Known({(p - low, c): m for (p, c), (m, _) in flags.items() if low <= p < seen}, low)
        for f in anomaly.scan(y[low : seen + chunk], seen - low, floor, known=known, offset=low):
            flags[(f[0] + low, f[1])] = (f[3], f[4])
        seen += chunk
    return flags


@settings(max_examples=15, deadline=None)
@given(
    n=st.integers(200, 300),
    chunks=st.lists(st.sampled_from([1, 1, 2, 3, 5, 20]), min_size=3, max_size=10),
    seed=st.integers(0, 2**16),
    level=st.sampled_from([3.0, 50.0, 1000.0]),
    counter=st.tuples(st.integers(-12, 20), st.integers(5, 40)),
    burst=st.tuples(st.integers(-12, 20), st.sampled_from([1, 2, 5, 30]), st.sampled_from([3.0, 100.0, 1000.0])),
)
# Found by a random search (1 of 6,300): a counter's first flag is a burst's first bucket too. The whole series' scan
# read that burst with the rule's reference median in the chains after it, the updates with the counter's (the flag
# both report, known to them): bucket 294 flagged against a median of 4.0 by one, 3.5 by the others.
@example(n=268, chunks=[2, 3, 1, 20, 2, 1, 5, 20, 1], seed=354, level=3.0, counter=(-3, 27), burst=(8, 30, 100.0))
# Found by the same search on this test (1 of 3,000): the whole series' first pass of the rule flagged bucket 283 (a
# counter's bucket after a burst on it), which its pass with the counter's flags in its chains no longer flags; the
# counters, judged with the first pass's flags, had left it out of the references of 288 and 289 and flagged them,
# while the updates, which know the final flags only, did not.
@example(n=267, chunks=[20, 1, 1, 1, 5], seed=11890, level=3.0, counter=(-8, 33), burst=(10, 5, 100.0))
def test_the_updates_scans_flag_as_a_scan_of_the_whole_series(n, chunks, seed, level, counter, burst):
    total = n + sum(chunks)
    y = faulty(total, seed, level, [("counter", n + counter[0], counter[1], 1.0), ("burst", n + burst[0], *burst[1:])])
    floor = anomaly.floor_of(y[:n])
    updates = scanned_by_updates(y, n, chunks, floor)
    whole = {(f[0], f[1]): (f[3], f[4]) for f in anomaly.series_flags(y, floor)}
    assert sorted(updates) == sorted(whole)
    for at, (median, deviation) in whole.items():
        assert updates[at][0] == median, at
        np.testing.assert_allclose(updates[at][1], deviation, rtol=1e-12, err_msg=str(at))


def test_counters_judged_again_where_the_rules_flags_changed_equal_a_whole_judging():
    # The second example above: the rule's pass with the counters flags other buckets than its first pass. Judged
    # again near those buckets only (counter_flags' ``again``), the counters are those judged afresh, which differ.
    n = 267
    y = faulty(n + 28, 11890, 3.0, [("counter", n - 8, 33, 1.0), ("burst", n + 10, 5, 100.0)])
    floor = anomaly.floor_of(y[:n])
    start = anomaly.REFERENCE_BUCKETS
    first = anomaly._scan_rule(y, start, floor, known={})
    counters = anomaly.counter_flags(y, start, floor, known=anomaly.flagged_of(first))
    second = anomaly._scan_rule(y, start, floor, known={}, counters=counters)
    changed = {f[:2] for f in first} ^ {f[:2] for f in second}
    afresh = anomaly.counter_flags(y, start, floor, known=anomaly.flagged_of(second))
    again = anomaly.counter_flags(y, start, floor, known=anomaly.flagged_of(second), again=(counters, changed))
    assert changed and afresh != counters
    assert again == afresh


def test_a_long_judging_again_of_the_counters_ends_at_the_deadline(monkeypatch):
    # The second example above, 12 times over: each copy's counters are judged again after the rule's pass with them
    # (the fixpoint's second round), a judging of many runs. The clock advances by one per run judged; the deadline
    # passes at the first run judged again, and the clock is read every CLOCK_EVERY (here 16) runs.
    n = 267
    piece = faulty(n + 28, 11890, 3.0, [("counter", n - 8, 33, 1.0), ("burst", n + 10, 5, 100.0)])
    y = np.concatenate([piece] * 12)
    floor = anomaly.floor_of(piece[:n])
    start = anomaly.REFERENCE_BUCKETS
    monkeypatch.setattr(anomaly, "CLOCK_EVERY", 16)
    judged, begun = [0], []
    counter_at, counter_flags = anomaly._counter_at, anomaly.counter_flags
    monkeypatch.setattr(anomaly, "_counter_at", lambda *a: judged.__setitem__(0, judged[0] + 1) or counter_at(*a))

    def marking(*args, **kwargs):  # where each judging again begins, on the run count
        if kwargs.get("again", args[5] if len(args) > 5 else None) is not None:
            begun.append(judged[0])
        return counter_flags(*args, **kwargs)

    monkeypatch.setattr(anomaly, "counter_flags", marking)
    anomaly.scan(y, start, floor)
    whole, again_at = judged[0], begun[0]
    assert whole - again_at > 4 * anomaly.CLOCK_EVERY  # a long judging again, without a limit
    # the pass before it: the first counters, the rule's flags found with them
    rule = anomaly._scan_rule(y, start, floor)
    counters = counter_flags(y, start, floor, known=anomaly.flagged_of(rule))
    rule = anomaly._scan_rule(y, start, floor, counters=counters)
    taken = set(anomaly.flagged_of(counters))
    before = sorted(counters + [flag for flag in rule if flag[:2] not in taken])
    judged[0] = 0
    with _deadline.limit(again_at + 1.0, clock=lambda: float(judged[0])) as deadline:
        cut = anomaly.scan(y, start, floor)
    assert anomaly.COUNTERS_STAGE in deadline.stages
    assert judged[0] - (again_at + 1) < anomaly.CLOCK_EVERY  # runs judged past the deadline
    assert cut == before
