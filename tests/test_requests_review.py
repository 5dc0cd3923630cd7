"""Forecast.to_requests, reviewed against its contract: which target counts requests, exact token totals at any
magnitude the forecast may hold, and token targets under the other names a token column goes by."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from workload_predictor import Forecast, WorkloadDataError
from workload_predictor.synthetic_requests import round_to_totals

INDEX = pd.date_range("2024-05-10 12:00", periods=2, freq="10s", tz="UTC")


def forecast(columns: dict[str, list[float]], history: pd.DataFrame | None = None) -> Forecast:
    yhat = np.column_stack([np.asarray(v, float) for v in columns.values()])
    return Forecast(index=INDEX, yhat=yhat, lower=yhat, upper=yhat, targets=tuple(columns), level=0.9,
                    model="dlinear", confidence=0.8, freq=pd.Timedelta("10s"), history=history)


def bucket_of(requests: pd.DataFrame) -> np.ndarray:
    start = (INDEX[0] - pd.Timestamp(0, tz="UTC")) // pd.Timedelta(1, "ns")
    return ((requests["arrival_time_ns"] - start) // 10**10).to_numpy()


@pytest.mark.parametrize("count", ["input_tokens", "prompt_tokens"])
def test_a_token_target_named_as_the_request_count_is_refused(count):
    """Before: count='input_tokens' drew Poisson(300) requests from a forecast of 300 tokens, each of 1 token."""
    fc = forecast({"requests": [5.0, 5.0], count: [300.0, 300.0]})
    with pytest.raises(WorkloadDataError, match=rf"count='{count}' names a token target, which counts tokens, not requests"):
        fc.to_requests(random_state=0, count=count)


@pytest.mark.parametrize("total", [3e16, 1e17, 1e18])
def test_token_totals_beyond_float_precision_are_split_exactly(total):
    """Totals above 2**53 (allowed up to MAX_VALUE = 1e18) summed 2 to 48 tokens over the forecast: the group sums
    were taken in float64, whose step there is 4 to 128."""
    values = np.full(7, total / 7)
    rounded = round_to_totals(values, np.zeros(7, dtype=np.int64), np.array([total]))
    assert int(rounded.sum()) == int(total) and (rounded >= 1).all()
    requests = forecast({"requests": [40.0, 0.0], "input_tokens": [total, 0.0]}).to_requests(random_state=1)
    assert len(requests) > 0
    assert int(requests["input_tokens"].sum()) == int(total)


def test_round_to_totals_keeps_groups_without_values_and_small_totals_as_before():
    # Groups 0 and 2 hold values, group 1 none; the largest fractions get the missing tokens.
    values = np.array([1.2, 2.7, 3.1, 4.4, 0.6])
    groups = np.array([0, 0, 0, 2, 2])
    rounded = round_to_totals(values, groups, np.array([7.0, 3.0, 5.0]))
    assert rounded.tolist() == [1, 3, 3, 4, 1]


def test_token_targets_under_another_token_name_set_the_totals():
    """A forecast of ('requests', 'prompt_tokens', 'completion_tokens') (the names of a bucketed series fitted as
    it was) drew requests with arrival times only, its token forecast ignored, and vidur-main refused them."""
    fc = forecast({"requests": [30.0, 20.0], "prompt_tokens": [9000.0, 4000.0], "completion_tokens": [600.0, 500.0]})
    requests = fc.to_requests(random_state=2)
    assert list(requests.columns) == ["arrival_time_ns", "input_tokens", "output_tokens"]
    buckets = bucket_of(requests)
    assert np.bincount(buckets, weights=requests["input_tokens"]).tolist() == [9000.0, 4000.0]
    assert np.bincount(buckets, weights=requests["output_tokens"]).tolist() == [600.0, 500.0]
    assert list(fc.to_requests(random_state=2, format="vidur-main").columns) == [
        "arrived_at", "num_prefill_tokens", "num_decode_tokens"]


def test_a_history_of_tokens_under_another_name_gives_the_lengths():
    history = pd.DataFrame({"requests": [10.0, 4.0], "prompt_tokens": [1000.0, 1200.0]},
                           index=INDEX - pd.Timedelta("20s"))
    requests = forecast({"requests": [50.0, 50.0]}, history=history).to_requests(random_state=3)
    assert set(requests["input_tokens"]) == {100, 300}


@pytest.mark.parametrize("seed", [True, False, np.bool_(True)])
def test_a_boolean_random_state_is_refused_not_read_as_a_seed(seed):
    """Before: numpy read random_state=True as the seed 1 (False as 0), a draw the caller did not ask for."""
    with pytest.raises(WorkloadDataError, match="random_state=.* must be None, a non-negative int or a numpy Generator"):
        forecast({"requests": [5.0, 5.0]}).to_requests(random_state=seed)
