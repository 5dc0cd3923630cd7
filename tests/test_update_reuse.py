"""What a one-row ensemble update computed afresh each time, kept or shared, with the same results bit for bit.

* The bursts an update's models read (``runs``) come as one :class:`anomaly.Runs`: the ensemble's members and the
  ensemble itself shift them and settle equal windows' targets once (:func:`anomaly.shifted_runs`,
  :func:`anomaly.settle_targets`), where each did it again.
* The across-slot median of the ensemble's evidence (:meth:`Ensemble._newest_shift`) is read from a sorting network
  (:func:`combination.median_of_members`), where ``np.median`` partitioned every cell's few values.

Each is pinned against the plain computation (as the code before did it), and streams of updates with them against
the same streams with them turned off.
"""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from workload_predictor import WorkloadPredictor, anomaly, bucketize
from workload_predictor.datasets import azure_llm_trace
from workload_predictor.models import combination


def _same_bits(a, b) -> bool:
    if a is None or b is None:
        return a is None and b is None
    a, b = np.asarray(a), np.asarray(b)
    return a.shape == b.shape and a.dtype == b.dtype and a.tobytes() == b.tobytes()


# --- the median across slots -------------------------------------------------------------------------------------

_cell = st.one_of(st.sampled_from([0.0, -0.0, 1.0, 2.0, -1.0, np.inf, -np.inf, 0.5]),
                  st.floats(allow_nan=False, allow_infinity=True, width=64))


@st.composite
def _slot_forecasts(draw):
    rows, cells = draw(st.integers(1, 10)), draw(st.integers(1, 12))
    values = draw(st.lists(_cell, min_size=rows * cells, max_size=rows * cells))
    forecasts = np.array(values, dtype=np.float64).reshape(rows, cells, 1)
    if draw(st.booleans()) and forecasts.size:  # sometimes a NaN: np.median's own path
        forecasts.flat[draw(st.integers(0, forecasts.size - 1))] = np.nan
    return forecasts


@given(_slot_forecasts())
def test_median_of_members_is_np_median_bit_for_bit(forecasts):
    before = forecasts.copy()
    with np.errstate(invalid="ignore"):
        expected = np.median(forecasts, axis=0)
        got = combination.median_of_members(forecasts)
    assert _same_bits(got, expected)
    assert _same_bits(forecasts, before)


@pytest.mark.parametrize("rows", [2, 3, 4, 5, 6, 7, 8])
def test_median_of_members_ties_of_signed_zeros_and_infinities(rows):
    """Every sign pattern of zeros and infinities in a cell, so the network's ties of 0.0 and -0.0 (and its -inf + inf)
    are met; each cell is np.median's, sign of zero included."""
    rng = np.random.default_rng(rows)
    forecasts = rng.choice(np.array([0.0, -0.0, np.inf, -np.inf, 1.0]), size=(rows, 400, 3))
    with np.errstate(invalid="ignore"):
        assert _same_bits(combination.median_of_members(forecasts), np.median(forecasts, axis=0))
    # the network reads these (no NaN, 2 to EXACT_MEMBERS rows): a zero's sign is np.median's, not the network's
    zeros = rng.choice(np.array([0.0, -0.0]), size=(rows, 300))
    assert _same_bits(combination.median_of_members(zeros), np.median(zeros, axis=0))


# --- the runs of one update ----------------------------------------------------------------------------------------

_positions = st.integers(-50, 80)


@st.composite
def _runs(draw):
    runs = draw(st.lists(st.tuples(_positions, st.integers(0, 10), st.integers(0, 2),
                                   st.sampled_from([1.0, -0.0, 50.0, np.inf])), max_size=40))
    return [(first, first + length, col, median) for first, length, col, median in runs]


def _typed(runs):
    return [tuple((type(part), part) for part in run) for run in runs]


@given(_runs(), st.integers(-60, 60), st.integers(1, 90), st.booleans())
def test_runs_shift_as_the_plain_list_does(runs, shift, length, numpy_ints):
    given_runs = [(np.int64(a), np.int64(b), c, m) for a, b, c, m in runs] if numpy_ints else runs
    shared = anomaly.Runs(given_runs)
    expected = anomaly.shifted_runs(list(given_runs), shift, length)
    for _ in range(2):  # computed, then kept
        got = anomaly.shifted_runs(shared, shift, length)
        assert _typed(got) == _typed(expected)
        got.append(None)  # a reader's list is its own
    assert _typed(anomaly.shifted_runs(shared, np.int64(shift), length)) == \
        _typed(anomaly.shifted_runs(list(given_runs), np.int64(shift), length))


@given(_runs(), st.integers(0, 2**16), st.integers(1, 30), st.integers(1, 6))
def test_runs_settle_equal_windows_once_and_as_the_plain_list_does(runs, seed, m, horizon):
    rng = np.random.default_rng(seed)
    actual = rng.poisson(5, (m, horizon, 3)).astype(float)
    actual[0, 0, 0] = 0.0
    origins = np.arange(m, dtype=np.int64) * rng.integers(1, 3) + int(rng.integers(-20, 40))
    shared = anomaly.Runs(runs)
    expected = anomaly.settle_targets(actual, origins, list(runs))
    first = anomaly.settle_targets(actual, origins, shared)
    again = anomaly.settle_targets(actual.copy(), origins.copy(), shared)  # equal windows: kept
    assert _same_bits(first, expected) and _same_bits(again, expected)
    if first is not None:
        assert first is not again
        first[...] = -1.0  # a reader's array is its own
        assert _same_bits(anomaly.settle_targets(actual, origins, shared), expected)
    other = actual.copy()
    other[0, 0, 0] = -0.0  # equal to the kept windows' as numbers, not in its bits: settled afresh
    assert _same_bits(anomaly.settle_targets(other, origins, shared), anomaly.settle_targets(other, origins, list(runs)))


# --- streams of updates --------------------------------------------------------------------------------------------

def _state(predictor):
    """Everything an update leaves that a reader sees: the forecast and interval, the calibration, the anomalies and
    flags, and every array and number of the model and its members (timings left out)."""
    forecast = predictor.predict()
    seen = [np.asarray(forecast.yhat), np.asarray(forecast.lower), np.asarray(forecast.upper),
            predictor.interval_halfwidth_, predictor.confidence_, list(predictor.input_anomalies_),
            None if predictor.input_flags_ is None else repr(predictor.input_flags_)]  # NaN medians read alike
    model = predictor.model_
    for obj in [model, *getattr(model, "members_", {}).values()]:
        for name, value in sorted(vars(obj).items()):
            if "second" in name or name.startswith("_"):
                continue
            if isinstance(value, np.ndarray):
                seen.append((name, value.dtype.str, value.shape, value.tobytes()))
            elif isinstance(value, (int, float, str, bool, type(None))):
                seen.append((name, repr(value)))
            elif isinstance(value, dict):
                seen.append((name, repr({k: (v.tobytes() if isinstance(v, np.ndarray) else v)
                                         for k, v in value.items()})))
    return [x.tobytes() if isinstance(x, np.ndarray) else x for x in seen]


def _two_streams(monkeypatch, frame, n_fit, targets, horizon):
    """One fitted ensemble updated bucket by bucket twice: as it is, and with the shared runs and the network median
    turned off (a plain list of runs, np.median). The states after each update and how often the shared paths were
    taken."""
    fitted = WorkloadPredictor(model="ensemble", horizon=horizon, random_state=0).fit(
        frame.iloc[:n_fit], timestamp="timestamp", target=targets)
    plain = {"on": False}
    taken = {"settled": 0, "settle_calls": 0, "network": 0}
    settle_targets = anomaly._settle_targets
    median_of_members, bursts_before = combination.median_of_members, WorkloadPredictor._bursts_before

    def counting_settle(*args):
        taken["settled"] += not plain["on"]
        return settle_targets(*args)

    def counting_median(forecasts):
        if plain["on"]:
            return np.median(forecasts, axis=0)
        taken["network"] += 1
        return median_of_members(forecasts)

    def plain_runs(self, found, new):
        runs = bursts_before(self, found, new)
        if not plain["on"]:
            taken["settle_calls"] += bool(runs)
            return runs
        return list(runs)

    monkeypatch.setattr(anomaly, "_settle_targets", counting_settle)
    monkeypatch.setattr(combination, "median_of_members", counting_median)
    monkeypatch.setattr(WorkloadPredictor, "_bursts_before", plain_runs)
    kept, fresh = copy.deepcopy(fitted), copy.deepcopy(fitted)
    states = []
    for i in range(n_fit, len(frame)):
        row = frame.iloc[i : i + 1]
        plain["on"] = False
        kept.update(row)
        plain["on"] = True
        fresh.update(row)
        plain["on"] = False
        states.append((_state(kept), _state(fresh)))
    return states, taken


def test_an_ensemble_stream_on_a_clean_trace_is_the_same_with_the_network_median(monkeypatch):
    """The bundled code trace (the combination reads the members' median there): 120 one-row updates."""
    frame = bucketize(azure_llm_trace("code"), freq="1s").iloc[:1020]
    states, taken = _two_streams(monkeypatch, frame, 900, "requests", 5)
    assert taken["network"] == 120  # every update's shift test read the network median
    for k, (a, b) in enumerate(states):
        assert a == b, k


def test_an_ensemble_stream_on_a_sentinel_series_is_the_same_with_the_runs_shared(monkeypatch):
    """tests/test_health's series (a sentinel in every third bucket of two targets): 90 one-row updates, the bursts
    shared by the members settled once per update."""
    values = np.random.default_rng(0).poisson(50, (690, 2)).astype(float)
    values[600::3] = 4294967295.0
    frame = pd.DataFrame({"timestamp": pd.date_range("2024-03-01", periods=len(values), freq="10s", tz="UTC"),
                          "requests": values[:, 0], "output_tokens": values[:, 1]})
    states, taken = _two_streams(monkeypatch, frame, 600, ["requests", "output_tokens"], 5)
    # the members' validation windows, the evidence's newest and the pool's newest are the same windows: settled once
    # per update, where each of the six members and the ensemble's two settled them
    assert taken["settle_calls"] >= 80 and taken["settled"] <= len(states)
    for k, (a, b) in enumerate(states):
        assert a == b, k
