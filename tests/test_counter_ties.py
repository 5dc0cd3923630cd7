"""Where a flagged counter's run began at a low level (``anomaly.with_leads``): the climb into its first flag, not
the ordinary buckets before it that tie (a load of 2-5 requests a bucket repeats its values, so a stretch that never
decreases reaches back into it)."""

from __future__ import annotations

import numpy as np
import pytest

from perf.datasets import generate
from workload_predictor import anomaly
from workload_predictor.anomaly import with_leads

N_FIT, AT, SPAN = 1000, 3, 30  # the soak's setup (scripts/soak_imperfect.py): a counter from the fit's 4th bucket on


@pytest.mark.parametrize("seed", range(10))
def test_a_counters_run_at_a_low_level_holds_no_ordinary_buckets_that_tie(seed):
    # The soak's load times 0.1 (a median of 3): the counter was moved 3-9 buckets before its first bucket, over
    # ordinary buckets that tie (seed 7: 2, 2, 2, 2, 4, 4, 4, 4, 5 before a counter of 5, 10, 15 ...).
    values = np.round(generate(N_FIT + 420 + 40, seed=seed)["requests"].to_numpy(float) * 0.1)
    start = N_FIT + AT
    values[start : start + SPAN] = np.cumsum(values[start : start + SPAN])
    y = values[: start + SPAN + 20, None]
    floor = anomaly.floor_of(y[:N_FIT])
    runs = [run for run in anomaly.settled_runs(y, anomaly.flagged_of(anomaly.scan(y, 0, floor))) if run[1] >= start]
    (first, _, _, _), *_ = [moved for moved in with_leads(y, runs) if moved[1] >= start]
    assert first <= start  # the counter's first buckets are the run's
    # Before the counter's first bucket, a bucket in the run climbs above the one before it: ties are no counter's.
    lead = np.diff(y[first:start, 0])
    assert (lead > 0).all(), (start - first, y[first : start + 3, 0])
