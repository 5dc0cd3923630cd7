"""A cumulative counter exported for a while instead of per-bucket counts: its run is flagged (at fit and in
updates alike, and not in real load), and it does not poison the forecast for hours.

The last test: the stream of ``scripts/soak_imperfect.py``'s "cumulative counter" and "counter reset" faults: a DLinear predictor
fitted on ``perf.datasets.generate`` buckets gets, one row an update, a few clean buckets, then 30 buckets whose
values are the running total of the clean counts (or two running totals, reset half-way), then clean buckets again.
Its point forecasts from two context lengths after the counter's end on are compared with those of a clean twin
(the same stream without the fault): the gap must stay within a tenth of the twin's level, what a single lost
bucket (a NaN) costs in the soak (9-10 %).
"""

from __future__ import annotations

import copy
import logging
import warnings

import numpy as np
import pandas as pd
import pytest

from perf.datasets import generate
from workload_predictor import WorkloadPredictor, anomaly, bucketize
from workload_predictor.datasets import azure_llm_trace

N_FIT, AT, SPAN, WINDOW, HORIZON = 600, 3, 30, 48, 10
CONTEXT = WINDOW + HORIZON
COMPARED = 30  # buckets compared, from two context lengths after the counter's end
FREQ = pd.Timedelta(seconds=10)
START = pd.Timestamp("2024-10-27 00:00:00", tz="UTC")


def _stream(values: np.ndarray, counter: np.ndarray | None) -> list[pd.DataFrame]:
    """One-row frames: the clean buckets, with ``counter`` in place of buckets ``AT .. AT + SPAN - 1``."""
    sent = values.copy()
    if counter is not None:
        sent[AT:AT + SPAN] = counter
    return [pd.DataFrame({"timestamp": [START + j * FREQ], "requests": [sent[j]]}) for j in range(len(sent))]


def _forecasts(base: WorkloadPredictor, frames: list[pd.DataFrame]) -> list[np.ndarray]:
    model = copy.deepcopy(base)
    out = []
    for frame in frames:
        model.update(frame)
        out.append(model.predict().yhat[:, 0])
    return out


def _counter_series(rate: float, seed: int = 0) -> tuple[np.ndarray, int]:
    """Poisson(``rate``) buckets with a 30-bucket running total of them from bucket 300 on (and the series' first
    position after it)."""
    values = np.random.default_rng(seed).poisson(rate, 600).astype(float)
    values[300:330] = np.cumsum(values[300:330])
    return values, 330


@pytest.mark.parametrize("rate", [5.0, 50.0, 5000.0])
def test_a_counters_run_is_flagged_from_where_it_leaves_its_reference_to_its_end(rate):
    """Flagged from its ``COUNTER_RUN``-th bucket on, or where later, the first more than ``COUNTER_MARGIN`` floors
    above the ordinary buckets before it (a dense series' counter leaves them at once, a sparse one's later)."""
    values, end = _counter_series(rate)
    column = values[:, None]
    floor = float(anomaly.floor_of(column)[0])
    above = np.flatnonzero(values[300:end] > values[240:300].max() + anomaly.COUNTER_MARGIN * floor) + 300
    first = max(300 + anomaly.COUNTER_RUN - 1, int(above[0]))
    found = [p for p, _, _, _ in anomaly.detect(column, anomaly.REFERENCE_BUCKETS, anomaly.floor_of(column))]
    assert set(range(first, end)) <= set(found), (first, found)
    assert first <= 300 + 10  # within ten buckets of the counter's start


def test_a_counter_reset_half_way_is_flagged_in_both_halves():
    values = np.random.default_rng(3).poisson(50, 600).astype(float)
    values[300:315], values[315:330] = np.cumsum(values[300:315]), np.cumsum(values[315:330])
    column = values[:, None]
    found = {p for p, _, _, _ in anomaly.detect(column, anomaly.REFERENCE_BUCKETS, anomaly.floor_of(column))}
    assert {314, 329} <= found and {300 + anomaly.COUNTER_RUN - 1, 315 + anomaly.COUNTER_RUN - 1} <= found


def test_updates_flag_a_counter_as_a_fit_on_the_same_rows_does():
    values, _ = _counter_series(30.0, seed=2)
    frame = pd.DataFrame({"timestamp": START + FREQ * np.arange(len(values)), "requests": values})
    fitted = WorkloadPredictor(model="naive", horizon=2).fit(frame)
    expected = [(a[0], a[2]) for a in fitted.input_anomalies_]
    assert len(expected) >= 30 - anomaly.COUNTER_RUN
    predictor = WorkloadPredictor(model="naive", horizon=2).fit(frame.iloc[:250])
    for j in range(250, len(frame)):
        predictor.update(frame.iloc[j:j + 1])
    assert [(a[0], a[2]) for a in predictor.input_anomalies_] == expected
    assert predictor.health()["metrics"]["input_anomaly"]["level"] == "critical"


@pytest.mark.parametrize("rate", [0.3, 1.0, 5.0, 50.0, 5000.0])
def test_poisson_load_and_its_ramps_raise_no_counter(rate):
    """Real load is noisy: 20,000 buckets of Poisson(rate), steady, and ramping to ten times its rate over 30
    buckets again and again, hold no counter's run (1,000,000 buckets: see the notes in anomaly.py)."""
    rng = np.random.default_rng(5)
    t = np.arange(20_000)
    for series in (rng.poisson(rate, len(t)), rng.poisson(rate * (1 + 9 * (t % 30) / 30))):
        column = series.astype(float)[:, None]
        assert anomaly.counter_flags(column, 0, anomaly.floor_of(column)) == []


@pytest.mark.parametrize("kind", ["conv", "code"])
def test_the_bundled_azure_traces_hold_no_counter(kind):
    log = azure_llm_trace(kind)
    for freq in ("1s", "10s", "1min"):
        values = bucketize(log, timestamp="TIMESTAMP", freq=freq).iloc[1:-1][
            ["requests", "input_tokens", "output_tokens"]].to_numpy(dtype=float)
        assert anomaly.counter_flags(values, 0, anomaly.floor_of(values)) == []


def test_cumulative_counter_does_not_poison_the_forecast():
    logging.disable(logging.CRITICAL)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            data = generate(N_FIT + AT + SPAN + 2 * CONTEXT + COMPARED)["requests"].to_numpy(float)
            fitted, values = data[:N_FIT], data[N_FIT:]
            series = pd.DataFrame({"timestamp": START + FREQ * np.arange(-N_FIT, 0), "requests": fitted})
            base = WorkloadPredictor("dlinear", horizon=HORIZON, window=WINDOW).fit(series)
            clean = _forecasts(base, _stream(values, None))
            level = float(np.mean(clean))
            total = np.cumsum(values[AT:AT + SPAN])
            half = SPAN // 2
            reset = np.concatenate([np.cumsum(values[AT:AT + half]), np.cumsum(values[AT + half:AT + SPAN])])
            after = AT + SPAN + 2 * CONTEXT
            for name, counter in (("cumulative counter", total), ("counter reset", reset)):
                got = _forecasts(base, _stream(values, counter))
                gap = max(float(np.abs(got[j] - clean[j]).max()) for j in range(after, len(values))) / level
                assert gap <= 0.1, f"{name}: the point forecast is {gap:.0%} of the level off the clean twin's"
    finally:
        logging.disable(logging.NOTSET)


def test_the_counter_scan_ends_at_the_deadline_and_says_so():
    """The candidates' judging is Python per run: on 1,000,000 sparse buckets it took 0.38 s, and a fit under
    max_training_time=0.5 s ran to 1.8x its limit (perf/test_time_limit.py). Past the deadline the runs left are not
    judged, and the stage is recorded."""
    import itertools

    from workload_predictor import _deadline

    rng = np.random.default_rng(0)
    y = rng.lognormal(3.0, 1.0, (200_000, 1)).round()
    floor = anomaly.floor_of(y)
    assert anomaly.counter_flags(y, 0, floor)  # a heavy-tailed series has candidates, and some end as flags
    ticks = itertools.count()
    with _deadline.limit(1.0, clock=lambda: float(next(ticks))) as deadline:  # expired at the second reading
        assert anomaly.counter_flags(y, 0, floor) == []
    assert anomaly.COUNTERS_STAGE in deadline.stages


def test_the_counter_scans_median_is_numpys():
    """The counter scan's median is the one the project's other in-place medians take (anomaly.median_in_place)."""
    rng = np.random.default_rng(1)
    for n in (1, 2, 3, 4, 59, 60, 61):
        values = rng.poisson(3.0, n).astype(float)
        assert anomaly.median_in_place(values.copy()) == float(np.median(values))
