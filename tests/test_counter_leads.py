"""The two readings of a counter's unflagged start (the buckets before a counter's first flag, which the input-anomaly
rule leaves unflagged): ``anomaly.with_leads`` (where a flagged run began, for the validation windows, the
forecast's inputs and the windows the interval leaves out: the whole climb into the flag) and
``dlinear.counter_starts`` (what DLinear's statistics weigh down: the ``COUNTER_RUN - 1`` before a counter's flag,
as far as an update can take its windows out again). Where both apply, a counter flagged from its
``COUNTER_RUN``-th bucket, they read the same buckets."""

from __future__ import annotations

import numpy as np

from workload_predictor import anomaly
from workload_predictor.models.dlinear import counter_starts
from workload_predictor.anomaly import with_leads

LEVEL, AT = 30, 200


def _series(seed: int, flag_after: int) -> tuple[np.ndarray, int]:
    """Poisson(LEVEL) with a counter from ``AT`` (its running total), the bucket before it above the counter's first
    (so the climb begins at ``AT``); and the position of its ``flag_after``-th bucket."""
    rng = np.random.default_rng(seed)
    values = rng.poisson(LEVEL, 260).astype(float)
    values[AT:AT + 30] = np.cumsum(values[AT:AT + 30])
    values[AT - 1] = values[AT] + 5
    return values[:, None], AT + flag_after - 1


def test_a_run_flagged_late_in_a_counters_climb_begins_at_the_climbs_first_bucket() -> None:
    # A counter flagged from its 13th bucket (the soak's series drawn with seed 3 is): its 12 buckets before read as
    # the run, not only the COUNTER_RUN - 1 before the flag (those left 42 % of the level in the point forecast one
    # horizon after, against 18 % with the whole climb, /work/notes/s36/reviews/h133.md).
    for seed in range(3):
        values, first = _series(seed, 13)
        (moved,) = with_leads(values, [(first, AT + 29, 0, float(LEVEL))])
        assert moved == (AT, AT + 29, 0, float(LEVEL))


def test_a_climb_whose_steps_are_no_counts_is_no_runs_start() -> None:
    # A sentinel after a climb of noise: steps of 1 against a median of 30.
    values = np.full((100, 1), float(LEVEL))
    values[70:80, 0] = LEVEL + np.arange(10)
    values[80, 0] = 1e9
    assert with_leads(values, [(80, 80, 0, float(LEVEL))]) == [(80, 80, 0, float(LEVEL))]


def test_where_a_counter_is_flagged_from_its_5th_bucket_both_read_its_first_4() -> None:
    for seed in range(3):
        values, _ = _series(seed, 5)
        floor = anomaly.floor_of(values[:AT])
        flagged = anomaly.flagged_of(anomaly.scan(values, 0, floor))
        runs = [run for run in anomaly.settled_runs(values, flagged) if run[0] >= AT]
        assert runs[0][0] == AT + anomaly.COUNTER_RUN - 1  # flagged from its 5th bucket
        moved = with_leads(values, runs)
        lead = set(range(moved[0][0], runs[0][0]))
        element = anomaly.element_weights(values, 0, floor)
        summed = counter_starts(values, element)
        # Before the first flag (an unflagged bucket inside the run is the run's for both: settled_runs spans it).
        marked = {int(p) for p in np.flatnonzero(summed[: runs[0][0], 0] < element[: runs[0][0], 0])}
        assert lead == marked == set(range(AT, AT + anomaly.COUNTER_RUN - 1))


def test_the_backtests_forecast_after_a_late_flagged_counter_is_the_one_predict_gives() -> None:
    # The backtest's forecasts read a flagged run as begun where a counter's climb into it began, as predict does:
    # without with_leads they read the climb's first buckets raw (here 4-10 requests apart on a level of 30; up to 81 %
    # of the level on the soak's series, /work/notes/s38/reviews/h149.md).
    import pandas as pd

    from workload_predictor import WorkloadPredictor

    for seed in range(2):
        rng = np.random.default_rng(seed)
        at, n = 340, 380
        values = rng.poisson(30 + 10 * np.sin(2 * np.pi * np.arange(n) / 60)).astype(float)
        values[at:at + 30] = np.cumsum(values[at:at + 30])
        frame = pd.DataFrame({"timestamp": pd.Timestamp("2024-01-01", tz="UTC") + pd.Timedelta(seconds=10) * np.arange(n),
                              "requests": values})
        predictor = WorkloadPredictor("dlinear", horizon=10, window=48).fit(frame.iloc[:at - 20])
        for row in range(at - 20, n):
            predictor.update(frame.iloc[row:row + 1])
        flagged = anomaly.flagged_of(anomaly.scan_series(values[:, None], 0, predictor.input_floor_))
        (run,) = [r for r in anomaly.settled_runs(values[:, None], flagged) if r[0] >= at]  # as flagged, no lead
        assert run[0] > at + anomaly.COUNTER_RUN  # flagged late: its climb began before the flag's lead
        shown = np.asarray(predictor.predict().yhat)[:, 0]
        backtest = np.clip(predictor._forecasts_at(values[:, None], np.array([n]))[0, :, 0], 0.0, None)
        np.testing.assert_allclose(backtest, shown, rtol=1e-9, atol=1e-9)
