"""Faults a stream of imperfect rows brings over weeks (scripts/soak_imperfect.py, scripts/soak_fleet.py): what they
leave behind in the predictor once they are over."""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import pytest

from workload_predictor import FleetPredictor, WorkloadPredictor

FREQ = pd.Timedelta(seconds=10)


def retained_bytes(obj) -> int:
    """The bytes of every numpy buffer reachable from ``obj`` (a view counts the whole array it reads)."""
    seen, buffers = set(), {}
    stack = [obj]
    while stack:
        item = stack.pop()
        if id(item) in seen:
            continue
        seen.add(id(item))
        if isinstance(item, np.ndarray):
            base = item
            while isinstance(base.base, np.ndarray):
                base = base.base
            buffers[id(base)] = base.nbytes
        elif isinstance(item, (pd.Index, pd.Series)):
            stack.append(item.to_numpy())
        elif isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, (list, tuple)):
            stack.extend(item)
        elif type(item).__module__.startswith(("workload_predictor", "types")):
            stack.extend(vars(item).values())
    return sum(buffers.values())


@pytest.mark.parametrize("model", ["dlinear", "ensemble"])
def test_a_backfill_of_many_rows_leaves_no_array_of_its_size_in_the_predictor(model):
    # A backfill (20,000 rows in one update): the predictor keeps its newest buckets and windows only, as after any
    # update, not views that hold every window the update rolled through until the next update replaces them.
    rng = np.random.default_rng(0)
    fitted = pd.DataFrame({"timestamp": pd.date_range("2024-01-01", periods=300, freq=FREQ, tz="UTC"),
                           "requests": rng.poisson(30, 300).astype(float)})
    predictor = WorkloadPredictor(model, horizon=5, window=24,
                                  model_params={"members": ("dlinear", "naive")} if model == "ensemble" else {})
    predictor.fit(fitted)
    n = 20_000
    last = fitted["timestamp"].iloc[-1]
    predictor.update(pd.DataFrame({"timestamp": last + FREQ * np.arange(1, n + 1),
                                   "requests": rng.poisson(30, n).astype(float)}))
    after_backfill = retained_bytes(predictor)
    predictor.update(pd.DataFrame({"timestamp": [last + FREQ * (n + 1)], "requests": [30.0]}))
    after_one_more = retained_bytes(predictor)  # every buffer replaced by one of the size it keeps
    # One more bucket adds a few bytes to what the predictor keeps; the backfill's own rows (20,000 x 8 bytes in
    # the series alone) must not be among what it held.
    assert after_backfill <= after_one_more + 8 * n // 10, (after_backfill, after_one_more)


@pytest.mark.parametrize("mode", ["refit", "incremental"])
def test_one_keys_exporter_faults_leave_the_other_keys_forecast_bit_for_bit(mode):
    # Key a's rows carry the exporter's faults (stamps inside their bucket, a renamed target, a cumulative counter,
    # rows 20 s apart, only NaN, a key renamed) in the same updates as key b's clean rows: b forecasts exactly as a
    # twin given b's rows alone.
    rng = np.random.default_rng(1)
    stamps = pd.date_range("2024-01-01", periods=200, freq=FREQ, tz="UTC")
    fitted = pd.concat([pd.DataFrame({"key": key, "timestamp": stamps, "requests": rng.poisson(20, 200).astype(float)})
                        for key in "ab"], ignore_index=True)
    fleet = FleetPredictor("dlinear", horizon=5, window=24, update_mode=mode).fit(fitted, key="key")
    twin = copy.deepcopy(fleet)
    last = stamps[-1]
    a_rows = [
        pd.DataFrame({"key": "a", "timestamp": [last + FREQ + pd.Timedelta(seconds=3.7)], "requests": [20.0]}),
        pd.DataFrame({"key": "a", "timestamp": [last + 2 * FREQ], "request_count": [20.0]}),
        pd.DataFrame({"key": "a", "timestamp": [last + 3 * FREQ], "requests": [np.nan]}),
        pd.DataFrame({"key": "a-renamed", "timestamp": [last + 4 * FREQ], "requests": [20.0]}),
        pd.DataFrame({"key": "a", "timestamp": [last + 5 * FREQ], "requests": [400.0]}),  # a counter's climb
        pd.DataFrame({"key": "a", "timestamp": [last + 7 * FREQ], "requests": [820.0]}),  # 20 s rows of it
    ]
    for step, bad in enumerate(a_rows, start=1):
        clean = pd.DataFrame({"key": "b", "timestamp": [last + step * FREQ], "requests": [float(rng.poisson(20))]})
        fleet.update(pd.concat([bad, clean], ignore_index=True))
        twin.update(clean)
        got, expected = fleet.predict(), twin.predict()
        pd.testing.assert_frame_equal(got[got["key"] == "b"].reset_index(drop=True),
                                      expected[expected["key"] == "b"].reset_index(drop=True), check_exact=True)
