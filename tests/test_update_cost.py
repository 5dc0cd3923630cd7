"""A one-row update's anomaly work done at once where it was done point by point, with the same results bit for bit.

An update's sweep judges every flag among the kept buckets again (:func:`anomaly._plain` of each: is it beyond the raw
range of the buckets before it), and every model's validation roll settles its kept windows' targets once per burst
(:func:`anomaly.settle_targets`). On a series with a sentinel in every third bucket both ran a numpy call or two per
flag and per burst at every update. :func:`anomaly._plain_flags` tests the flags at once and ``settle_targets`` paints
the bursts on a line of positions; each is pinned here against the rule read one at a time (as the code before did),
and a stream of updates with the batched paths against the same stream with them turned off.
"""

from __future__ import annotations

import copy
import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from workload_predictor import WorkloadPredictor, anomaly


def _settled_one_by_one(actual, origins, runs):
    """``settle_targets`` as the rule reads, cell by cell: a window's target cell at position ``p`` of target ``col``
    takes the median of the last run of ``col`` that covers ``p`` (runs are set in order, a later one wins); None
    when no run covers a cell."""
    if not runs or not len(origins):
        return None
    changed = None
    for i, origin in enumerate(np.asarray(origins).tolist()):
        for step in range(actual.shape[1]):
            for col in range(actual.shape[2]):
                covering = [median for first, last, c, median in runs if c == col and first <= origin + step <= last]
                if covering:
                    changed = actual.copy() if changed is None else changed
                    changed[i, step, col] = covering[-1]
    return changed


def _same_bits(a, b) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return a.shape == b.shape and a.dtype == b.dtype and bool(np.array_equal(a.view(np.uint64), b.view(np.uint64)))


_medians = st.one_of(st.floats(allow_nan=True, allow_infinity=True, width=64), st.sampled_from([0.0, -0.0, 50.0]))


@st.composite
def _targets_and_runs(draw):
    m, horizon, k = draw(st.integers(1, 30)), draw(st.integers(1, 6)), draw(st.integers(1, 3))
    start = draw(st.integers(-20, 40))
    gaps = draw(st.lists(st.integers(1, 3), min_size=m - 1, max_size=m - 1))  # consecutive or a little apart
    origins = start + np.concatenate([[0], np.cumsum(gaps, dtype=np.int64)]).astype(np.int64)
    actual = np.random.default_rng(draw(st.integers(0, 2**16))).poisson(50, (m, horizon, k)).astype(float)
    low, high = int(origins[0]) - 10, int(origins[-1]) + horizon + 10
    run = st.tuples(st.integers(low, high), st.integers(0, 12), st.integers(0, k - 1), _medians)
    runs = [(first, first + length, col, median) for first, length, col, median in
            draw(st.lists(run, min_size=0, max_size=60))]  # overlapping, in any order, some outside every window
    return actual, origins, runs


@given(_targets_and_runs())
def test_settle_targets_equals_the_runs_set_one_by_one(case):
    actual, origins, runs = case
    before = actual.copy()
    assert _same_bits(anomaly.settle_targets(actual, origins, runs), _settled_one_by_one(actual, origins, runs))
    assert _same_bits(actual, before)  # the targets given are not changed


def test_settle_targets_paints_where_many_runs_overlap_and_the_latest_wins():
    """The painted path (8 runs or more) on runs that overlap: each cell reads the last run covering it."""
    actual = np.arange(40.0).reshape(10, 2, 2)
    origins = np.arange(100, 110)
    runs = [(100 + i, 105 + i, i % 2, -float(i)) for i in range(12)] + [(103, 103, 0, 7.5), (90, 200, 1, 1e9)]
    expected = _settled_one_by_one(actual, origins, runs)
    assert expected[3, 0, 0] == 7.5 and (expected[..., 1] == 1e9).all()
    assert _same_bits(anomaly.settle_targets(actual, origins, runs), expected)


@st.composite
def _column_and_flags(draw):
    n = draw(st.integers(2, 200))
    values = np.random.default_rng(draw(st.integers(0, 2**16))).integers(0, 6, n).astype(float)  # ties at min and max
    specials = st.tuples(st.integers(0, n - 1), st.sampled_from([np.nan, np.inf, -np.inf, 4294967295.0, 0.0, -0.0]))
    for at, value in draw(st.lists(specials, max_size=8)):
        values[at] = value
    density = draw(st.sampled_from([0.05, 0.3, 0.9]))
    positions = np.flatnonzero(np.random.default_rng(draw(st.integers(0, 2**16))).random(n) < density).tolist()
    length = draw(st.integers(1, 70))
    offset = draw(st.integers(0, 150))
    return values, draw(st.permutations(positions)), length, offset


@given(_column_and_flags())
def test_plain_flags_equal_the_plain_rule_flag_by_flag(case):
    column, positions, length, offset = case
    expected = [anomaly._plain(column, p, length, offset) for p in positions]
    assert anomaly._plain_flags(column, positions, length, offset) == expected


def test_plain_flags_reads_a_whole_reference_and_one_cut_at_the_start():
    """Positions at and past the reference length (a whole reference), before it with an offset (the reference cut at
    the column's start), a NaN in a reference, and the first bucket: the batched path (16 flags or more)."""
    column = np.random.default_rng(0).integers(0, 6, 100).astype(float)  # ties at a reference's min and max
    column[::7] = 4294967295.0
    column[95] = np.nan
    positions = list(range(0, 100, 3))
    assert len(positions) >= anomaly._PLAIN_AT_ONCE
    for length, offset in [(60, 0), (60, 30), (10, 0), (10, 5)]:
        expected = [anomaly._plain(column, p, length, offset) for p in positions]
        assert anomaly._plain_flags(column, positions, length, offset) == expected
        assert True in expected and False in expected


def test_flags_in_reads_the_rows_as_before():
    rows = np.full((6, 2), np.nan)
    rows[1, 0], rows[4, 1], rows[5, 0] = 50.0, -0.0, 1e9
    flags = anomaly.flags_in(rows, 5, 1000)
    assert list(flags.items()) == [((996, 0), 50.0), ((999, 1), 0.0), ((1000, 0), 1e9)]  # in row order
    assert math.copysign(1.0, flags[(999, 1)]) == -1.0
    assert all(type(p) is int and type(c) is int and type(v) is float for (p, c), v in flags.items())


def _sentinel_stream(n_fit: int, n_updates: int) -> pd.DataFrame:
    """tests/test_health's series: Poisson(50) in two targets, 4294967295 in both in every third bucket from ``n_fit``
    on."""
    values = np.random.default_rng(0).poisson(50, (n_fit + n_updates, 2)).astype(float)
    values[n_fit::3] = 4294967295.0
    return pd.DataFrame({"timestamp": pd.date_range("2024-03-01", periods=len(values), freq="10s", tz="UTC"),
                         "requests": values[:, 0], "output_tokens": values[:, 1]})


def _streamed(frame: pd.DataFrame, n_fit: int) -> list:
    predictor = WorkloadPredictor(horizon=5).fit(frame.iloc[:n_fit], target=["requests", "output_tokens"])
    seen = []
    for i in range(n_fit, len(frame)):
        predictor.update(frame.iloc[i : i + 1])
        forecast = predictor.predict()
        model = predictor.model_
        seen.append((np.asarray(forecast.yhat), np.asarray(forecast.lower), np.asarray(forecast.upper),
                     model.validation_actual_.copy(), model.validation_forecast_.copy(), model.coef_.copy()
                     if hasattr(model, "coef_") else None, list(predictor.input_anomalies_),
                     None if predictor.input_flags_ is None else predictor.input_flags_.copy()))
    return seen


def test_a_stream_of_one_row_updates_is_the_same_with_the_batched_paths_and_without(monkeypatch):
    """Every forecast, interval, validation buffer and flag after each of 150 one-row updates on a series with a
    sentinel in every third bucket, bit for bit, with the batched paths (which the stream takes) and with them off."""
    frame = _sentinel_stream(600, 150)
    taken = {"painted": 0, "plain": 0}
    painted, plain_flags = anomaly._painted_targets, anomaly._plain_flags

    def counting_painted(*args):
        result = painted(*args)
        taken["painted"] += result is not False
        return result

    def counting_plain(column, positions, *args):
        taken["plain"] += len(positions) >= anomaly._PLAIN_AT_ONCE
        return plain_flags(column, positions, *args)

    monkeypatch.setattr(anomaly, "_painted_targets", counting_painted)
    monkeypatch.setattr(anomaly, "_plain_flags", counting_plain)
    batched = _streamed(frame, 600)
    assert taken["painted"] >= 100 and taken["plain"] >= 100  # the stream takes both batched paths
    monkeypatch.setattr(anomaly, "_PAINT_RUNS", 10**9)
    monkeypatch.setattr(anomaly, "_PLAIN_AT_ONCE", 10**9)
    one_by_one = _streamed(frame, 600)
    assert len(batched) == len(one_by_one) == 150
    for k, (a, b) in enumerate(zip(batched, one_by_one)):
        for x, y in zip(a, b):
            if isinstance(x, np.ndarray):
                assert _same_bits(np.ascontiguousarray(x, dtype=np.float64), np.ascontiguousarray(y, dtype=np.float64)), k
            else:
                assert x == y, k


@pytest.mark.parametrize("flags", [0, 7, 15])
def test_plain_flags_below_the_batch_size_reads_each_flag(flags):
    column = np.arange(50.0)
    positions = list(range(0, 50, 50 // max(flags, 1)))[:flags]
    assert anomaly._plain_flags(column, positions, 10, 0) == [anomaly._plain(column, p, 10, 0) for p in positions]


def test_an_lstm_update_judges_its_base_weights_once_and_leaves_out_the_same_windows(monkeypatch):
    """The LSTM's update weighed its linear base's new windows by the base's weights of the points, then judged the
    same points again (the same scan of every flag among them) to leave out the windows they weigh down. Judged once
    now: one scan of the points per update (two before), and the windows left out are those the second judgement
    left out, at every update of a series with a sentinel in every third bucket."""
    from workload_predictor.models import lstm as lstm_module
    from workload_predictor.models.dlinear import DLinear

    frame = _sentinel_stream(600, 30)
    predictor = WorkloadPredictor(model="lstm", horizon=5, random_state=0,
                                  model_params={"max_epochs": 2, "hidden_size": 8}).fit(
        frame.iloc[:600], target=["requests", "output_tokens"])
    calls, compared = [], []
    element_weights, clean_origins = DLinear._element_weights, lstm_module.LSTM._clean_origins

    def counting(self, *args, **kwargs):
        calls[-1] += 1
        return element_weights(self, *args, **kwargs)

    def both_ways(self, y, n_old, origins, known=None, element=None, judged=False):
        kept = clean_origins(self, y, n_old, origins, known, element, judged)
        again = clean_origins(self, y, n_old, origins, known)  # the base judges the points again
        compared.append(bool(np.array_equal(kept, again)) and len(kept) < len(origins))
        return kept

    first = copy.deepcopy(predictor)
    monkeypatch.setattr(DLinear, "_element_weights", counting)
    for i in range(600, len(frame)):
        calls.append(0)
        predictor.update(frame.iloc[i : i + 1])
        assert calls[-1] == 1, i  # once per update (twice before)
    monkeypatch.setattr(lstm_module.LSTM, "_clean_origins", both_ways)
    for i in range(600, len(frame)):
        calls.append(0)
        first.update(frame.iloc[i : i + 1])
    assert len(compared) == 30 and all(compared)  # the same windows left out at every update, and some were
