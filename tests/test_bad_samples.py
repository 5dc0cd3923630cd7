"""One bad sample (a burst, a stray timestamp) must neither poison the model for long nor pass unreported."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from workload_predictor import WorkloadPredictor
from workload_predictor.confidence import conformal_quantile


def frame_of(values: np.ndarray, freq: str = "10s", start: str = "2024-01-01") -> pd.DataFrame:
    return pd.DataFrame({"timestamp": pd.date_range(start, periods=len(values), freq=freq), "requests": values})


# -- intervals never certain and wrong ------------------------------------------------------
def test_a_burst_in_the_validation_tail_gives_no_zero_width_interval():
    y = np.zeros(1000)
    y[950] = 1e9  # in the validation tail: every window but the burst's was forecast exactly
    forecast = WorkloadPredictor().fit(frame_of(y)).predict()
    assert (forecast.upper - forecast.yhat > 0).all()


@settings(max_examples=25, deadline=None)
@given(n=st.integers(2, 60), level=st.sampled_from([0.5, 0.8, 0.9, 0.95]), seed=st.integers(0, 2**16),
       nonzero=st.integers(1, 3))
@example(n=100, level=0.9, seed=0, nonzero=1)
def test_conformal_width_is_zero_only_for_a_target_whose_errors_all_are(n, level, seed, nonzero):
    rng = np.random.default_rng(seed)
    errors = np.zeros((n, 4, 2))  # [windows, steps, targets]
    rows = rng.choice(n, size=min(nonzero, n), replace=False)
    errors[rows, 1:, 1] = rng.uniform(0.5, 1e9, (len(rows), 3))  # target 1's step 0 is exact in every window
    width = conformal_quantile(errors, level)
    assert (width[:, 0] == 0.0).all()  # target 0 was forecast exactly every time: width 0 is honest
    assert (width[:, 1] > 0).all()
