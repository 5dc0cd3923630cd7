"""The Forecast object: its timestamps, targets and arrays describe one table, checked when it is built."""

from __future__ import annotations

import datetime

import numpy as np
import pandas as pd
import pytest

from conftest import periodic_series
from workload_predictor import Forecast, WorkloadDataError, WorkloadPredictor


def _forecast(steps: int = 3, yhat=None, targets=("requests",), **overrides) -> Forecast:
    index = pd.date_range("2024-05-10 12:00", periods=steps, freq="10s", tz="UTC")
    yhat = np.full((steps, len(targets)), 10.0) if yhat is None else yhat
    arguments = dict(index=index, yhat=yhat, lower=yhat * 0.5, upper=yhat * 1.5, targets=targets, level=0.9,
                     model="naive", confidence=0.8, freq=pd.Timedelta("10s"))
    return Forecast(**{**arguments, **overrides})


@pytest.mark.parametrize("steps, yhat, targets, message", [
    # Before: to_frame showed the first column only and to_requests drew from it, the second dropped silently.
    (3, np.full((3, 2), 10.0), ("requests",), r"Forecast yhat has shape \(3, 2\), not \(steps, targets\) = \(3, 1\)"),
    # Before: pandas' "Length of values (5) does not match length of index (3)", numpy's broadcast error.
    (3, np.full((5, 1), 10.0), ("requests",), r"yhat has shape \(5, 1\), not .* = \(3, 1\)"),
    (5, np.full((3, 1), 10.0), ("requests",), r"yhat has shape \(3, 1\), not .* = \(5, 1\)"),
    (3, np.full(3, 10.0), ("requests",), r"yhat has shape \(3,\)"),  # IndexError: too many indices
    (3, np.full((3, 1), 10.0), "requests", r"targets='requests' must be a non-empty tuple"),  # 8 targets r, e, q...
    (0, np.zeros((0, 1)), ("requests",), r"must be a non-empty pd.DatetimeIndex"),  # repr: IndexError
])
def test_a_forecast_whose_arrays_and_timestamps_disagree_is_refused(steps, yhat, targets, message):
    with pytest.raises(WorkloadDataError, match=message):
        _forecast(steps, yhat, targets)


def test_each_interval_bound_is_checked_and_a_list_of_targets_becomes_a_tuple():
    with pytest.raises(WorkloadDataError, match=r"Forecast upper has shape \(2, 1\)"):
        _forecast(upper=np.ones((2, 1)))
    with pytest.raises(WorkloadDataError, match=r"Forecast confidence=None must be a number"):
        _forecast(confidence=None)
    forecast = _forecast(yhat=np.full((3, 2), 10.0), targets=["requests", "input_tokens"])
    assert forecast.targets == ("requests", "input_tokens")
    frame = forecast.to_frame()
    assert frame.shape == (3, 6) and list(frame.columns.get_level_values(0).unique()) == ["requests", "input_tokens"]


def test_the_predictors_forecast_passes_its_own_check():
    predictor = WorkloadPredictor(horizon=5).fit(periodic_series(400, noise=3.0))
    forecast = predictor.predict(3)
    assert forecast.yhat.shape == forecast.lower.shape == forecast.upper.shape == (3, 1)
    assert forecast.to_frame().shape == (3, 3)


@pytest.mark.parametrize("overrides, message", [
    # Before: all accepted; to_frame and plot showed NaN/inf/negative loads, and to_requests failed inside numpy.
    (dict(yhat=np.array([[1.0], [np.nan], [2.0]])), r"Forecast yhat must hold finite non-negative numbers .* not nan"),
    (dict(upper=np.array([[2.0], [np.inf], [3.0]])), r"Forecast upper must .* not inf"),
    (dict(lower=np.array([[-1.0], [0.0], [0.0]])), r"Forecast lower must .* not -1.0"),
    (dict(upper=np.array([["a"], ["b"], ["c"]])), r"Forecast upper must .* not 'dtype <U1'"),
    (dict(lower=np.full((3, 1), 12.0)), r"lower <= yhat <= upper"),
    (dict(level=1.5), r"Forecast level=1.5 must be a coverage in \(0, 1\)"),
    (dict(level=float("nan")), r"Forecast level=nan must be a coverage"),
    (dict(confidence=float("nan")), r"Forecast confidence=nan must be a number in \[0, 1\]"),
    (dict(confidence=-0.1), r"Forecast confidence=-0.1 must be"),
])
def test_a_forecast_of_impossible_loads_or_settings_is_refused(overrides, message):
    with pytest.raises(WorkloadDataError, match=message):
        _forecast(**overrides)


def test_an_integer_forecast_and_a_zero_width_interval_are_accepted():
    yhat = np.array([[0], [3], [5]])
    forecast = _forecast(yhat=yhat, lower=yhat, upper=yhat, confidence=0.0)
    assert forecast.to_frame()["yhat"].tolist() == [0, 3, 5]


def test_an_undefined_error_gives_no_confidence():
    from workload_predictor.confidence import confidence_of_wape

    assert confidence_of_wape(float("nan")) == 0.0  # before: nan
    assert confidence_of_wape(0.25) == 0.75 and confidence_of_wape(float("inf")) == 0.0


def test_a_naive_or_local_index_is_read_as_utc_and_to_requests_draws_the_same_arrivals():
    """Before: a tz-naive index was kept, and to_requests failed inside pandas ("Cannot subtract tz-naive and tz-aware
    datetime-like objects"); an index in another zone was kept in it, though index is documented as UTC."""
    utc = _forecast()
    naive = _forecast(index=utc.index.tz_localize(None))
    local = _forecast(index=utc.index.tz_convert("Europe/Paris"))
    for forecast in (naive, local):
        assert str(forecast.index.tz) == "UTC" and forecast.index.equals(utc.index)
        pd.testing.assert_frame_equal(forecast.to_requests(random_state=0), utc.to_requests(random_state=0))


@pytest.mark.parametrize("overrides, message", [
    # Before: accepted; to_requests failed inside pandas (str // Timedelta: TypeError) or drew arrivals before their
    # bucket (a negative width).
    (dict(freq="10s"), r"Forecast freq='10s' must be the bucket width as a pd.Timedelta"),
    (dict(freq=pd.Timedelta("-10s")), r"Forecast freq=.* must be the bucket width as a pd.Timedelta"),
    (dict(freq=pd.Timedelta(0)), r"Forecast freq=.* must be the bucket width"),
    # Before: a plain ValueError of pandas ("Unit M is not supported") or its OutOfBoundsTimedelta.
    (dict(freq=np.timedelta64(1, "M")), r"Forecast freq=.* must be the bucket width"),
    (dict(freq=np.timedelta64(1, "Y")), r"Forecast freq=.* must be the bucket width"),
    (dict(freq=datetime.timedelta(days=999_999_999)), r"Forecast freq=.* must be the bucket width"),
    # Before: accepted (confidence was checked in [0, 1], its values per target were not).
    (dict(confidence_by_target={"requests": 7.0}), r"Forecast confidence_by_target=.* must map .* in \[0, 1\]"),
    (dict(confidence_by_target={"tokens": 0.5}), r"Forecast confidence_by_target=.* must map"),
    (dict(confidence_by_target=[0.5]), r"Forecast confidence_by_target=.* must map"),
])
def test_a_forecast_with_a_bad_bucket_width_or_confidence_by_target_is_refused(overrides, message):
    with pytest.raises(WorkloadDataError, match=message):
        _forecast(**overrides)


def test_a_naive_history_is_read_as_utc_and_plots():
    """Before: a history with a naive DatetimeIndex made plot() fail inside pandas ("Cannot convert tz-naive
    timestamps, use tz_localize to localize"), whatever the forecast's own index."""
    pytest.importorskip("matplotlib")
    history = pd.DataFrame({"requests": [4.0, 5.0, 6.0]},
                           index=pd.date_range("2024-05-10 11:59:30", periods=3, freq="10s"))
    forecast = _forecast(history=history)
    assert str(forecast.history.index.tz) == "UTC" and history.index.tz is None  # the caller's frame is not changed
    assert forecast.history.index[-1] + forecast.freq == forecast.index[0]
    forecast.plot()
    with pytest.raises(WorkloadDataError, match="Forecast history=.* must be None or a DataFrame"):
        _forecast(history=[4.0, 5.0, 6.0])


@pytest.mark.parametrize("index, freq, message", [
    # Before: all accepted; to_requests drew NaT's bucket near -9.2e18 ns (1677), overlapping buckets' arrivals
    # into one another's span, and a bucket that ends past 2262 wrapped its arrivals to negative int64 times.
    (["2024-05-10 12:00", None, "2024-05-10 12:00:20"], "10s", r"Forecast index holds NaT at position 1"),
    (["2024-05-10 12:00", "2024-05-10 12:00", "2024-05-10 12:00:10"], "10s",
     r"index steps from 2024-05-10T12:00:00\+00:00 to 2024-05-10T12:00:00\+00:00, not by freq"),
    (["2024-05-10 12:00:20", "2024-05-10 12:00", "2024-05-10 12:00:10"], "10s", r"index steps from .*12:00:20"),
    (["2024-05-10 12:00", "2024-05-10 12:00:10", "2024-05-10 12:00:20"], "1min", r"index steps .* not by freq"),
    (["2024-05-10 12:00", "2024-05-10 12:00:10", "2024-05-10 12:01"], None, r"not by its first step"),
    (["2262-04-11 23:46:50", "2262-04-11 23:47:00", "2262-04-11 23:47:10"], "10s",
     r"index spans 2262-04-11T23:46:50\+00:00 .. 2262-04-11T23:47:10\+00:00 \(buckets of 10s\), "
     r"outside 1677-09-21 00:12:43.145224193\+00:00 .. 2262-04-11 23:47:16.854775807\+00:00"),
    # Before: pandas' OutOfBoundsDatetime ("Out of bounds nanosecond timestamp") from to_requests.
    # Built from datetime64[s]: pandas 2 parses strings into nanoseconds only, and these lie outside them.
    (pd.DatetimeIndex(np.array(["3000-01-01", "3000-01-01T00:00:10"], dtype="datetime64[s]")), "10s",
     r"index spans 3000-01-01"),
    (pd.DatetimeIndex(np.array(["1500-01-01", "1500-01-01T00:00:10"], dtype="datetime64[s]")), "10s",
     r"index spans 1500-01-01"),
])
def test_a_forecast_whose_buckets_overlap_skip_or_leave_the_timeline_is_refused(index, freq, message):
    index = index.tz_localize("UTC") if isinstance(index, pd.DatetimeIndex) else pd.DatetimeIndex(index, tz="UTC")
    with pytest.raises(WorkloadDataError, match=message):
        _forecast(steps=len(index), index=index, freq=None if freq is None else pd.Timedelta(freq))


@pytest.mark.parametrize("freq, message", [
    ("10s", r"index spans 2262-04-11T23:46:50\+00:00 .. 2262-04-11T23:47:10\+00:00 \(buckets of 10s\)"),
    ("5s", r"index steps from .* not by freq 5s"),
])
def test_an_index_carrying_its_freq_is_checked_as_one_without(freq, message):
    """An index that carries its freq (predict's own, from date_range) takes a shorter check: regular by
    construction, its last bucket's end must still lie within int64 nanoseconds, and a freq other than the
    forecast's is checked step by step."""
    index = pd.date_range("2262-04-11 23:46:50", periods=3, freq="10s", tz="UTC")
    assert index.freq is not None
    with pytest.raises(WorkloadDataError, match=message):
        _forecast(steps=3, index=index, freq=pd.Timedelta(freq))
    fine = pd.date_range("2024-05-10 12:00", periods=3, freq="10s", tz="UTC")
    assert _forecast(steps=3, index=fine, freq=pd.Timedelta("10s")).index.equals(fine)


def test_a_forecast_naming_a_target_twice_is_refused():
    # Before: accepted; to_frame had two ("requests", "yhat") columns and to_requests drew from the first alone.
    with pytest.raises(WorkloadDataError, match=r"targets=\('requests', 'requests'\) name a column twice"):
        _forecast(yhat=np.full((3, 2), 10.0), targets=("requests", "requests"))


def test_the_last_representable_bucket_is_accepted_and_draws_inside_it():
    index = pd.DatetimeIndex(["2262-04-11 23:46:50", "2262-04-11 23:47:00"], tz="UTC")
    requests = _forecast(steps=2, index=index, yhat=np.full((2, 1), 50.0)).to_requests(random_state=0)
    start = (index[0] - pd.Timestamp(0, tz="UTC")) // pd.Timedelta(1, "ns")
    assert len(requests) > 50 and requests["arrival_time_ns"].between(start, start + 20 * 10**9 - 1).all()
