"""One bad sample (a burst, a stray timestamp) must neither poison the model for long nor pass unreported."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from workload_predictor import MemoryLimitError, UpdateGapError, WorkloadDataError, WorkloadPredictor, _memory
from workload_predictor.confidence import conformal_quantile


def frame_of(values: np.ndarray, freq: str = "10s", start: str = "2024-01-01") -> pd.DataFrame:
    return pd.DataFrame({"timestamp": pd.date_range(start, periods=len(values), freq=freq), "requests": values})


# -- intervals never certain and wrong ------------------------------------------------------
def test_a_burst_in_the_validation_tail_gives_no_zero_width_interval():
    y = np.zeros(1000)
    y[950] = 5.0  # in the validation tail, below the input-anomaly rule: every window but the burst's forecast exactly
    predictor = WorkloadPredictor().fit(frame_of(y))
    assert not predictor.input_anomalies_
    forecast = predictor.predict()
    assert (forecast.upper - forecast.yhat > 0).all()


def test_a_flagged_bucket_the_series_came_back_from_is_an_input_anomaly_not_a_forecast_error():
    """A 1e9 bucket in a series of zeros is flagged (``input_anomalies_``, health's ``input_anomaly``) and the
    validation reads it as its reference median, as predict does: the series was forecast exactly, so the interval
    is [0, 0] (the zero-width floor needs an error to raise it to), not [0, 1e9] from one corrupt bucket."""
    y = np.zeros(1000)
    y[950] = 1e9
    predictor = WorkloadPredictor().fit(frame_of(y))
    assert [a[2] for a in predictor.input_anomalies_] == [1e9]
    forecast = predictor.predict()
    np.testing.assert_allclose(forecast.upper, 0.0, atol=1e-9)
    assert predictor.confidence_ == pytest.approx(1.0)


def test_an_old_burst_in_the_ensembles_interval_pool_does_not_widen_an_exactly_forecast_quiet_series():
    y = np.zeros(1000)
    y[500] = 1e9  # in the history the pool covers, far before the validation tail, which is forecast exactly
    predictor = WorkloadPredictor(model="ensemble", random_state=0).fit(frame_of(y))
    assert predictor.n_calibration_windows_ > predictor.n_validation_windows_  # the pool holds the burst's windows
    forecast = predictor.predict()
    assert np.asarray(forecast.upper).max() < 1.0
    y[950] = 5.0  # a burst in the tail too (below the input-anomaly rule): its error is recent evidence, and the
    # width is not zero
    assert (np.asarray(WorkloadPredictor(model="ensemble", random_state=0).fit(frame_of(y)).predict().upper) > 0).all()


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


# -- a stray timestamp far ahead ----------------------------------------------------------------
def poisson_frame(n: int = 2000, freq: str = "1s", seed: int = 0) -> pd.DataFrame:
    return frame_of(np.random.default_rng(seed).poisson(65, n).astype(float), freq=freq)


def row(at: pd.Timestamp, value: float = 60.0) -> pd.DataFrame:
    return pd.DataFrame({"timestamp": [at], "requests": [value]})


@pytest.mark.parametrize("ahead", ["1D", "365D", "1002s"])
def test_a_row_further_ahead_than_max_gap_is_refused_and_the_next_correct_row_accepted(ahead):
    predictor = WorkloadPredictor().fit(poisson_frame())
    last, forecast = predictor.last_timestamp_, predictor.predict()
    with pytest.raises(UpdateGapError, match="max_gap=1000"):
        predictor.update(row(last + pd.Timedelta(ahead)))
    assert predictor.last_timestamp_ == last and predictor.n_updates_ == 0
    np.testing.assert_array_equal(predictor.predict().yhat, forecast.yhat)
    predictor.update(row(last + pd.Timedelta("1s")))  # the late, correctly timed row
    assert predictor.last_timestamp_ == last + pd.Timedelta("1s") and predictor.n_updates_ == 1


def test_max_gap_counts_runs_of_missing_buckets_not_the_rows_passed():
    predictor = WorkloadPredictor(max_gap=10).fit(poisson_frame())
    last = predictor.last_timestamp_
    caught_up = pd.DataFrame({"timestamp": last + pd.to_timedelta(np.arange(1, 51), unit="s"),
                              "requests": np.full(50, 60.0)})
    predictor.update(caught_up)  # 50 rows, no gap: accepted
    predictor.update(row(predictor.last_timestamp_ + pd.Timedelta("11s")))  # 10 missing buckets: the bound
    with pytest.raises(UpdateGapError):
        predictor.update(pd.DataFrame({"timestamp": predictor.last_timestamp_ + pd.to_timedelta([1, 13], unit="s"),
                                       "requests": [1.0, 2.0]}))  # 11 missing between the two rows


@pytest.mark.parametrize("gap, ahead, accepted", [("1h", "3600s", True), ("1h", "3602s", False),
                                                  (pd.Timedelta("10s"), "11s", True), (None, "3D", True)])
def test_max_gap_as_a_span(gap, ahead, accepted):
    predictor = WorkloadPredictor(max_gap=gap, memory_limit_mb=None).fit(poisson_frame())
    update = lambda: predictor.update(row(predictor.last_timestamp_ + pd.Timedelta(ahead)))  # noqa: E731
    if accepted:
        update()
    else:
        with pytest.raises(UpdateGapError):
            update()


@pytest.mark.parametrize("gap", [-1, "soon", 2.5, True, float("nan")])
def test_bad_max_gap_is_a_typed_error_at_fit(gap):
    with pytest.raises(WorkloadDataError, match="max_gap"):
        WorkloadPredictor(max_gap=gap).fit(poisson_frame(500))


def test_the_memory_guard_counts_the_validation_roll_before_allocating_it():
    """Zero-filling 3 days at 1 s is 4 MB; forecasting each of its 259,200 windows is hundreds."""
    predictor = WorkloadPredictor(max_gap=None, memory_limit_mb=50).fit(poisson_frame())
    last = predictor.last_timestamp_
    before = _memory.rss_mb()
    with pytest.raises(MemoryLimitError, match="validation roll") as refused:
        predictor.update(row(last + pd.Timedelta("3D")))
    # an update's advice, not a fit's (which named history and windows an update does not choose)
    assert "Pass fewer new buckets per update" in str(refused.value) and "Fit on" not in str(refused.value)
    assert _memory.rss_mb() - before < 50  # refused before the allocation, not after
    assert predictor.last_timestamp_ == last and predictor.n_updates_ == 0
