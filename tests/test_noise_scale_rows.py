"""The two rows of a predictor's ``noise_scale_`` (what ``relative_error`` measures against: the naive forecast's error
in the fitted series and in the newest buckets kept) read the buckets alike, as the model's forecast reads them: a burst
the series came back from at its reference median, a counter's run from where its climb began
(:func:`workload_predictor.anomaly.with_leads`)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from workload_predictor import WorkloadPredictor
from workload_predictor.health import kept_length

LEVEL, N, AT = 30, 120, 70


def _frame(values: np.ndarray) -> pd.DataFrame:
    index = pd.Timestamp("2024-01-01", tz="UTC") + pd.Timedelta(seconds=10) * np.arange(len(values))
    return pd.DataFrame({"timestamp": index, "requests": values})


@pytest.mark.parametrize("seed", [0, 1])
def test_a_fit_on_its_kept_buckets_with_a_counters_run_reads_both_rows_alike(seed: int) -> None:
    # 120 buckets, as many as the predictor keeps: both rows read the same buckets. A counter exported for 9 buckets
    # (its running total, climbing by the series' counts) is flagged from its 5th bucket; its first 4 climb into it.
    # Read raw in one row and at the median in the other, the rows were 6.96 and 4.65 (seed 0): the fit's row, the
    # larger, lowered every rating of the predictor by a third for as long as updates carry it.
    rng = np.random.default_rng(seed)
    values = rng.poisson(LEVEL, N).astype(float)
    values[AT:AT + 9] = np.cumsum(values[AT:AT + 9])
    predictor = WorkloadPredictor("dlinear", horizon=10, window=48).fit(_frame(values))
    assert len(predictor.series_.values) == kept_length(predictor.model_) == N
    flagged = np.flatnonzero(~np.isnan(predictor.input_flags_[:, 0]))
    assert flagged.min() > AT  # the climb's first buckets are left unflagged by the rule
    np.testing.assert_array_equal(predictor.noise_scale_[0], predictor.noise_scale_[1])


def test_a_fit_on_its_kept_buckets_with_a_sentinel_reads_both_rows_alike() -> None:
    # The same with a sentinel the series came back from (no climb into it): already alike, kept so.
    values = np.random.default_rng(2).poisson(LEVEL, N).astype(float)
    values[AT] = 1e6
    predictor = WorkloadPredictor("dlinear", horizon=10, window=48).fit(_frame(values))
    np.testing.assert_array_equal(predictor.noise_scale_[0], predictor.noise_scale_[1])
    assert predictor.noise_scale_.max() < 100  # the sentinel read at its median
