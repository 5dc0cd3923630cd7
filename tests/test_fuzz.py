"""Hostile and broken input, extreme series, and threads.

The contract under fuzzing: ``fit`` and ``bucketize`` either succeed (and then the
forecast is finite, non-negative and ordered ``lower <= yhat <= upper``) or raise
:class:`WorkloadDataError`, our typed ``ValueError`` that names the problem; never
another exception (a pandas/numpy/torch error from deep inside included), never a
hang, never a NaN forecast.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
import signal
import threading
from contextlib import contextmanager

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

from conftest import periodic_series
from workload_predictor import WorkloadDataError, WorkloadPredictor, bucketize
from workload_predictor.models.registry import params_for

SECONDS_PER_EXAMPLE = 60  # a hang, not a slow machine: examples take well under a second


@contextmanager
def no_hang(seconds: int = SECONDS_PER_EXAMPLE):
    """Fail (TimeoutError) instead of hanging; SIGALRM works in pytest's main thread."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def alarm(signum, frame):
        raise TimeoutError(f"no result after {seconds} s: a hang")

    previous = signal.signal(signal.SIGALRM, alarm)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def outcome(error: Exception | None) -> str:
    """A label for hypothesis' statistics: which error (numbers and quoted values masked), or success."""
    if error is None:
        return "fitted"
    message = re.sub(r"'[^']*'|\"[^\"]*\"|\([^)]*\)|[-+]?\d[\w.:+-]*", "#", str(error))
    return f"{type(error).__name__}: {message[:70]}"


def check_forecast(predictor: WorkloadPredictor) -> None:
    forecast = predictor.predict()
    for field in ("yhat", "lower", "upper"):
        values = getattr(forecast, field)
        assert np.isfinite(values).all(), f"{field} is not finite: {values}"
    assert (forecast.lower >= 0).all()
    assert (forecast.lower <= forecast.yhat).all() and (forecast.yhat <= forecast.upper).all()
    assert 0.0 <= forecast.confidence <= 1.0


# -- strategies: timestamps ------------------------------------------------------------------
TZS = [None, "UTC", "US/Eastern", "Asia/Kolkata", dt.timezone(dt.timedelta(hours=-3))]
FREQS = ["1ns", "1ms", "1s", "10s", "1min", "1h", "1D"]


# The strategies below are built once per length: a strategy built afresh at each draw is validated afresh too
# (hypothesis' checks of each nested strategy), which took as long as many of the bucketizations it feeds.
@functools.lru_cache(maxsize=None)
@st.composite
def regular_stamps(draw, n):
    start = draw(st.datetimes(min_value=dt.datetime(1970, 1, 2), max_value=dt.datetime(2200, 1, 1)))
    index = pd.date_range(start, periods=n, freq=draw(st.sampled_from(FREQS)))
    tz = draw(st.sampled_from(TZS))
    if tz is not None:
        index = index.tz_localize(tz, ambiguous="NaT", nonexistent="NaT")
    unit = draw(st.sampled_from(["s", "ms", "us", "ns"]))
    try:
        index = index.as_unit(unit)
    except (ValueError, OverflowError):
        pass
    encoding = draw(st.sampled_from(["datetime64", "iso", "object", "epoch_s", "epoch_ms", "epoch_float"]))
    if encoding == "iso":
        return [t.isoformat() if t is not pd.NaT else "NaT" for t in index]
    if encoding == "object":
        return list(index.to_pydatetime()) if not index.hasnans else list(index)
    if encoding.startswith("epoch"):
        naive = index.tz_convert("UTC").tz_localize(None) if index.tz is not None else index
        span = naive - pd.Timestamp(0)
        if index.hasnans:  # NaT (a DST gap): only a float column can carry it, as NaN
            encoding = "epoch_float"
        if encoding == "epoch_s":
            return np.asarray(span // pd.Timedelta("1s"), dtype=np.int64)
        if encoding == "epoch_ms":
            return np.asarray(span // pd.Timedelta("1ms"), dtype=np.int64)
        return np.asarray(span / pd.Timedelta("1s"), dtype=np.float64)
    return index


@functools.lru_cache(maxsize=None)
def broken_stamps(n):
    """Timestamps that are anything but a clean regular series."""
    any_scalar = st.one_of(
        st.none(), st.booleans(), st.integers(-(2**63), 2**63 - 1), st.floats(allow_nan=True, allow_infinity=True),
        st.text(max_size=30), st.datetimes(timezones=st.sampled_from([None, dt.timezone.utc, dt.timezone(dt.timedelta(hours=5))])),
        st.timedeltas(), st.just("2024-01-01T00:00:00+00:00"), st.just("2024-01-01 00:00:01"),
        st.just("2024-01-01T00:00:00.001163+00:00"), st.just("not a date"), st.just(""),
        st.sampled_from([pd.NaT, pd.Timestamp("2024-01-01", tz="UTC"), pd.Timestamp("2024-01-01"), np.datetime64("NaT", "ns")]),
    )
    return st.one_of(
        st.lists(any_scalar, min_size=n, max_size=n),
        st.lists(st.integers(-(2**63), 2**63 - 1), min_size=n, max_size=n).map(lambda v: np.array(v, dtype=np.int64)),
        st.lists(st.floats(allow_nan=True, allow_infinity=True), min_size=n, max_size=n).map(np.array),
        st.lists(st.booleans(), min_size=n, max_size=n).map(np.array),
        st.lists(st.timedeltas(), min_size=n, max_size=n),
        st.lists(st.text(max_size=20), min_size=n, max_size=n).map(lambda v: pd.Categorical(v)),
    )


@functools.lru_cache(maxsize=None)
def any_stamps(n):
    return st.one_of(regular_stamps(n), broken_stamps(n))


# -- strategies: targets ---------------------------------------------------------------------
@functools.lru_cache(maxsize=None)
def target_column(n):
    finite = st.floats(min_value=0, max_value=1e6, allow_nan=False)
    return st.one_of(
        st.lists(finite, min_size=n, max_size=n).map(np.array),  # clean
        st.lists(st.floats(allow_nan=True, allow_infinity=True), min_size=n, max_size=n).map(np.array),
        st.lists(st.floats(min_value=0, max_value=1.7e308), min_size=n, max_size=n).map(np.array),  # huge
        st.lists(st.floats(min_value=0, max_value=1e-300), min_size=n, max_size=n).map(np.array),  # tiny
        st.lists(st.integers(0, 2**63 - 1), min_size=n, max_size=n).map(lambda v: np.array(v, dtype=np.int64)),
        st.lists(st.integers(0, 2**64 - 1), min_size=n, max_size=n).map(lambda v: np.array(v, dtype=np.uint64)),
        st.lists(st.one_of(st.none(), st.integers(0, 100)), min_size=n, max_size=n).map(lambda v: pd.array(v, dtype="Int64")),
        st.lists(st.one_of(st.none(), finite), min_size=n, max_size=n).map(lambda v: pd.array(v, dtype="Float64")),
        st.lists(st.one_of(st.text(max_size=5), finite, st.none()), min_size=n, max_size=n),  # object mix
        st.lists(st.text(max_size=5), min_size=n, max_size=n),  # strings
        st.lists(st.booleans(), min_size=n, max_size=n),
        st.lists(st.complex_numbers(max_magnitude=10), min_size=n, max_size=n).map(np.array),
        st.lists(st.integers(0, 5), min_size=n, max_size=n).map(lambda v: pd.Categorical(v)),
        st.just(pd.date_range("2024", periods=n, freq="1s")),
        st.just(np.zeros(n)), st.just(np.full(n, 7.5)),
    )


@functools.lru_cache(maxsize=None)
def valid_target(n):
    """Columns a fit must accept: finite, non-negative numbers of any dtype and size, extremes included."""
    return st.one_of(
        st.lists(st.floats(min_value=0, max_value=1e6), min_size=n, max_size=n).map(np.array),
        st.lists(st.floats(min_value=0, max_value=1e15), min_size=n, max_size=n).map(np.array),  # huge
        st.lists(st.floats(min_value=0, max_value=1e-300), min_size=n, max_size=n).map(np.array),  # tiny
        st.lists(st.integers(0, 10**15), min_size=n, max_size=n).map(lambda v: np.array(v, dtype=np.int64)),
        st.lists(st.integers(0, 1000), min_size=n, max_size=n).map(lambda v: np.array(v, dtype=np.uint64)),
        st.lists(st.integers(0, 100), min_size=n, max_size=n).map(lambda v: pd.array(v, dtype="Int64")),
        st.lists(st.integers(0, 100), min_size=n, max_size=n).map(lambda v: np.array(v, dtype=np.float32)),
        st.integers(0, n - 1).map(lambda i: np.where(np.arange(n) == i, 1e12, 0.0)),  # one burst
        st.just(np.zeros(n)), st.just(np.full(n, 7.5)), st.just(np.full(n, 1e12)),
    )


@st.composite
def frames(draw):
    """Either a valid series (maybe shuffled, reversed, indexed, extreme) or anything at all."""
    valid = draw(st.sampled_from([True, True, True, False, False]))
    n = draw(st.integers(40, 160)) if valid else draw(st.one_of(st.integers(0, 3), st.integers(4, 150)))
    stamps = draw(regular_stamps(n)) if valid else draw(any_stamps(n))
    column = valid_target if valid else target_column
    data = {"timestamp": stamps, "requests": draw(column(n))}
    if draw(st.booleans()):
        data["tokens"] = draw(column(n))
    frame = pd.DataFrame(data)
    mutations = ["none", "shuffle", "reverse", "extra_object", "index", "series"]
    if not valid:
        mutations += ["duplicate", "drop_row", "dup_column", "no_target"]
    mutation = draw(st.sampled_from(mutations))
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    if mutation == "shuffle" and n:
        frame = frame.iloc[rng.permutation(n)]
    elif mutation == "duplicate" and n:
        frame = pd.concat([frame, frame.iloc[[int(rng.integers(n))]]])
    elif mutation == "drop_row" and n > 2:
        frame = frame.drop(frame.index[int(rng.integers(1, n - 1))])
    elif mutation == "reverse":
        frame = frame.iloc[::-1]
    elif mutation == "extra_object":
        frame["note"] = [object() for _ in range(len(frame))]
    elif mutation == "dup_column":
        frame = pd.concat([frame, frame[["requests"]]], axis=1)
    elif mutation == "index":
        try:
            frame = frame.set_index("timestamp")
        except (ValueError, TypeError):
            pass
    elif mutation == "series":
        series = frame.set_index("timestamp")["requests"] if valid else frame["requests"]
        return series, valid
    elif mutation == "no_target":
        frame = frame.drop(columns="requests")
    return frame, valid


FIT_OPTIONS = st.fixed_dictionaries({
    "model": st.sampled_from(["dlinear", "naive", "moving_average", "seasonal_naive"]),
    "horizon": st.integers(1, 8),
    "window": st.sampled_from([None, 12, 24]),
    "level": st.sampled_from([0.5, 0.9, 0.99]),
})
HOSTILE_CALLS = st.fixed_dictionaries({
    "target": st.sampled_from(["requests", ["requests", "tokens"], ["tokens"], "missing"]),
    "timestamp": st.sampled_from(["timestamp", None]),
    "freq": st.sampled_from([None, None, "1s", "10s", "1min", "0s", "-1s", "banana", 5]),
    "unit": st.sampled_from([None, None, "s", "ms", "ns", "parsec"]),
})


# An object column holding a number and NaT (found once by the random search): a TypeError escaped from pandas.
NUMBER_AND_NAT = pd.Series([1, pd.NaT], dtype=object)


@settings(max_examples=400, deadline=None, suppress_health_check=list(HealthCheck))
@given(drawn=frames(), options=FIT_OPTIONS, hostile=HOSTILE_CALLS)
@example(drawn=(pd.DataFrame({"timestamp": NUMBER_AND_NAT, "requests": [1.0, 2.0]}), False),
         options={"model": "dlinear", "horizon": 1, "window": None, "level": 0.9},
         hostile={"target": "requests", "timestamp": "timestamp", "freq": None, "unit": None})
# A target column of text with a unit separator after a digit (found by a random search): float() refused what the
# overflow check took for a number, and its ValueError escaped.
@example(drawn=(pd.DataFrame({"timestamp": pd.Series([pd.Timestamp("2000-01-01")] * 4),
                              "requests": ["", "", "", "0\x1f"]}), False),
         options={"model": "dlinear", "horizon": 1, "window": None, "level": 0.5},
         hostile={"target": "requests", "timestamp": "timestamp", "freq": None, "unit": None})
def test_fit_on_arbitrary_frames_fits_or_raises_workload_data_error(drawn, options, hostile):
    frame, valid = drawn
    # A valid frame is fitted with the arguments that describe it (epochs may still be ambiguous
    # without unit=, and a short series too short for the model): then most fits succeed.
    call = {"target": "requests", "timestamp": "timestamp"} if valid else hostile
    if valid and isinstance(frame, pd.DataFrame) and "timestamp" not in frame.columns:
        call["timestamp"] = None
    snapshot = frame.copy(deep=True)
    predictor = WorkloadPredictor(**options)
    with no_hang():
        try:
            predictor.fit(frame, **call)
        except WorkloadDataError as error:
            event(outcome(error))
            assert not hasattr(predictor, "model_")
        else:
            event(outcome(None))
            check_forecast(predictor)
    if isinstance(frame, pd.DataFrame):
        assert frame.columns.equals(snapshot.columns) and frame.index.equals(snapshot.index)
        for position in range(frame.shape[1]):
            left, right = frame.iloc[:, position], snapshot.iloc[:, position]
            assert left.dtype == right.dtype and (left.astype(object).equals(right.astype(object)))


@settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
@given(n=st.integers(60, 160), data=st.data(), model=st.sampled_from(["lstm", "ensemble"]),
       horizon=st.integers(1, 6))
def test_torch_models_on_arbitrary_valid_series_give_finite_forecasts(n, data, model, horizon):
    """The LSTM computes in float32 on standardised inputs: huge, tiny, constant or bursty columns alike."""
    values = np.asarray(data.draw(valid_target(n), label="requests"), dtype=float)
    frame = pd.DataFrame({"timestamp": pd.date_range("2024-01-01", periods=n, freq="10s"), "requests": values})
    predictor = WorkloadPredictor(model=model, horizon=horizon, random_state=0,
                                  model_params=params_for(model, max_epochs=2))
    with no_hang():
        try:
            predictor.fit(frame)
        except WorkloadDataError as error:  # too short for the window and horizon drawn
            event(outcome(error))
            return
    event(outcome(None))
    check_forecast(predictor)


@pytest.mark.parametrize("model", ["lstm", "ensemble"])
def test_zeros_then_one_huge_bucket_fit_and_forecast_finite_numbers(model):
    """Found by the test above (n=60, horizon 1): buckets of 0 but one of 1e12 after the training part. The LSTM's
    DLinear base kept the penalty its fit set on the zeros (alpha * 1e-12) when refitted on the whole series, whose
    shifted Gram matrix has a zero last row: numpy's LinAlgError "Singular matrix" ended the fit."""
    values = np.where(np.arange(60) == 50, 1e12, 0.0)
    frame = pd.DataFrame({"timestamp": pd.date_range("2024-01-01", periods=60, freq="10s"), "requests": values})
    predictor = WorkloadPredictor(model=model, horizon=1, random_state=0, model_params=params_for(model, max_epochs=2))
    predictor.fit(frame)
    check_forecast(predictor)


@st.composite
def request_logs(draw):
    """A valid request log (arrivals in any encoding, unsorted, repeated instants) or anything at all."""
    valid = draw(st.sampled_from([True, True, True, False, False]))
    n = draw(st.integers(1, 200)) if valid else draw(st.one_of(st.integers(0, 2), st.integers(3, 200)))
    stamps = draw(regular_stamps(n)) if valid else draw(any_stamps(n))
    column = valid_target if valid else target_column
    log = pd.DataFrame({"TIMESTAMP": stamps, "ContextTokens": draw(column(n)), "GeneratedTokens": draw(column(n))})
    rng = np.random.default_rng(draw(st.integers(0, 99)))
    if n and draw(st.booleans()):
        log = log.iloc[rng.permutation(n)]
    if n and draw(st.booleans()):
        log = pd.concat([log, log.iloc[rng.integers(0, n, size=5)]])  # several requests at one instant
    return log


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(log=request_logs(), freq=st.sampled_from(["1s", "10s", "1min", "1ns", "0s", "x", pd.Timedelta("250ms")]),
       unit=st.sampled_from([None, "s", "ms"]), sums=st.sampled_from([None, {}, {"input_tokens": "ContextTokens"},
                                                                       {"x": "Missing"}]))
@example(log=pd.DataFrame({"TIMESTAMP": NUMBER_AND_NAT, "ContextTokens": [1, 2], "GeneratedTokens": [3, 4]}),
         freq="1s", unit=None, sums=None)
def test_bucketize_on_arbitrary_logs_buckets_or_raises_workload_data_error(log, freq, unit, sums):
    snapshot = log.copy(deep=True)
    with no_hang():
        try:
            buckets = bucketize(log, freq=freq, unit=unit, sums=sums)
        except WorkloadDataError as error:
            event(outcome(error))
        else:
            event("bucketized")
            assert buckets["requests"].sum() == len(log)
            assert (buckets["timestamp"].diff().dropna() == buckets["timestamp"].diff().dropna().iloc[0]).all() \
                if len(buckets) > 2 else True
            for column in buckets.columns.drop("timestamp"):
                assert np.isfinite(buckets[column].to_numpy(dtype=float)).all()
    assert log.columns.equals(snapshot.columns)


# -- extreme but valid series ----------------------------------------------------------------
def series_of(values: np.ndarray) -> pd.DataFrame:
    return pd.DataFrame({"timestamp": pd.date_range("2024-01-01", periods=len(values), freq="10s"), "requests": values})


BASE = periodic_series(400, noise=3.0)["requests"].to_numpy()
BURST = np.zeros(400)
BURST[250] = 5000.0
EXTREME = {
    "1e12 per bucket": 1e12 * BASE / BASE.mean(),
    "constant": np.full(400, 7.0),
    "all zero": np.zeros(400),
    "zero except one burst": BURST,
    "tiny": 1e-200 * BASE,
    "1e15 per bucket": 1e15 * BASE / BASE.mean(),
}


def torch_settings(model):
    """A seed and a few epochs for a model that trains a network (the LSTM, or an ensemble with one)."""
    return dict(random_state=0, model_params=params_for(model, max_epochs=3))


@pytest.mark.parametrize("model", ["dlinear", "lstm", "ensemble", "naive", "seasonal_naive"])
@pytest.mark.parametrize("name", list(EXTREME))
def test_extreme_series_give_finite_sensible_forecasts(model, name):
    values = EXTREME[name]
    extra = torch_settings(model) if model in ("lstm", "ensemble") else {}
    predictor = WorkloadPredictor(model=model, horizon=8, window=None if model == "dlinear" else 24, **extra)
    with no_hang():
        predictor.fit(series_of(values))
    check_forecast(predictor)
    forecast = predictor.predict()
    if name == "all zero":
        assert (forecast.yhat == 0).all() and (forecast.upper == 0).all() and forecast.confidence == 1.0
    if name == "constant":
        np.testing.assert_allclose(forecast.yhat, 7.0, rtol=1e-6)
        assert (forecast.upper - forecast.lower).max() <= 1e-6 * 7.0
    if name.endswith("per bucket"):
        assert forecast.upper.max() < 100 * values.max()  # the scale of the data, no overflow


@pytest.mark.parametrize("model", ["dlinear", "lstm"])
def test_forecasts_scale_with_the_data(model):
    """1e12 times the load gives 1e12 times the forecast: no absolute epsilon anywhere."""
    extra = torch_settings(model) if model == "lstm" else {}
    unit = WorkloadPredictor(model=model, horizon=8, **extra).fit(series_of(BASE))
    huge = WorkloadPredictor(model=model, horizon=8, **extra).fit(series_of(1e12 * BASE))
    rtol = 1e-6 if model == "dlinear" else 1e-4  # the LSTM computes in float32
    np.testing.assert_allclose(huge.predict().yhat, 1e12 * unit.predict().yhat, rtol=rtol)
    np.testing.assert_allclose(huge.interval_halfwidth_, 1e12 * unit.interval_halfwidth_, rtol=rtol)
    assert huge.confidence_ == pytest.approx(unit.confidence_, abs=1e-6)


def test_values_beyond_any_workload_are_a_clear_error():
    with pytest.raises(WorkloadDataError, match="requests"):
        WorkloadPredictor().fit(series_of(1e300 * BASE))


# -- threads ---------------------------------------------------------------------------------
def run_in_threads(n_threads: int, work) -> list:
    results, errors = [None] * n_threads, []
    barrier = threading.Barrier(n_threads)

    def target(i):
        try:
            barrier.wait()
            results[i] = work(i)
        except BaseException as exc:  # reported below, with the thread's result
            errors.append(exc)

    threads = [threading.Thread(target=target, args=(i,)) for i in range(n_threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert not any(t.is_alive() for t in threads), "a thread hung"
    assert not errors, errors
    return results


@pytest.mark.parametrize("model", ["dlinear", "lstm", "ensemble"])
def test_one_predictor_predicting_from_ten_threads_equals_serial_calls(model):
    extra = torch_settings(model) if model != "dlinear" else {}
    predictor = WorkloadPredictor(model=model, horizon=8, **extra).fit(periodic_series(400, noise=3.0))
    serial = {steps: predictor.predict(steps) for steps in range(1, 9)}

    def work(i):
        mismatches = 0
        for call in range(100):  # 10 threads x 100 = 1000 predicts
            steps = 1 + (i + call) % 8
            got, want = predictor.predict(steps), serial[steps]
            same = all(np.array_equal(getattr(got, f), getattr(want, f)) for f in ("yhat", "lower", "upper"))
            mismatches += not (same and got.index.equals(want.index))
        return mismatches

    assert run_in_threads(10, work) == [0] * 10
    assert len(predictor.predict_seconds_) == predictor.predict_seconds_.maxlen


def test_fit_on_one_instance_while_others_predict_and_fit_is_safe():
    """Thread 0 fits an LSTM, thread 1 fits another with another seed, the rest predict a fitted predictor.

    Every fit equals the same fit done alone (the seeded initialisation is not disturbed by
    the other fit), and every predict equals the serial one.
    """
    frame = periodic_series(400, noise=3.0)
    fitted = WorkloadPredictor(model="lstm", horizon=8, **torch_settings("lstm")).fit(frame)
    serial_predict = fitted.predict().yhat
    alone = {seed: WorkloadPredictor(model="lstm", horizon=8, random_state=seed, model_params={"max_epochs": 3}).fit(frame).predict().yhat
             for seed in (0, 1)}

    def work(i):
        if i < 2:
            return WorkloadPredictor(model="lstm", horizon=8, random_state=i, model_params={"max_epochs": 3}).fit(frame).predict().yhat
        return all(np.array_equal(fitted.predict().yhat, serial_predict) for _ in range(50))

    results = run_in_threads(6, work)
    np.testing.assert_array_equal(results[0], alone[0])
    np.testing.assert_array_equal(results[1], alone[1])
    assert results[2:] == [True] * 4


def test_concurrent_fits_leave_the_blas_thread_setting_as_it_was():
    from threadpoolctl import threadpool_info

    def blas_threads():
        return [pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"]

    before = blas_threads()
    frame = periodic_series(400, noise=3.0)
    run_in_threads(4, lambda i: [WorkloadPredictor(horizon=5).fit(frame) for _ in range(5)])
    assert blas_threads() == before


# -- regressions: each bug the fuzzing found, named ------------------------------------------
def test_epochs_out_of_the_nanosecond_range_are_a_typed_error():
    """Found by fuzzing: int64 epochs read as seconds beyond 2262 raised pandas' OutOfBoundsTimedelta."""
    frame = pd.DataFrame({"timestamp": np.array([0, 9_223_372_037], dtype=np.int64), "requests": [1.0, 2.0]})
    with pytest.raises(WorkloadDataError, match="2262"):
        WorkloadPredictor().fit(frame, unit="s")
    log = pd.DataFrame({"TIMESTAMP": pd.array(["2500-01-01", "2500-01-02"]).astype("datetime64[s]")})
    with pytest.raises(WorkloadDataError, match="2262"):
        bucketize(log)


def test_complex_targets_are_refused_not_silently_truncated():
    """Found by fuzzing: a complex column passed is_numeric_dtype and lost its imaginary part with a warning."""
    frame = series_of(np.ones(50)).astype({"requests": complex})
    frame["requests"] += 1j
    with pytest.raises(WorkloadDataError, match="complex"):
        WorkloadPredictor().fit(frame)


def test_huge_integral_token_sums_do_not_wrap_around():
    """Sums above 2**53 stay floats: casting 1.8e19 to int64 wrapped to a negative count."""
    log = pd.DataFrame({"TIMESTAMP": pd.to_datetime(["2024-01-01T00:00:00Z"] * 20),
                        "ContextTokens": np.full(20, 9e17), "GeneratedTokens": np.ones(20, dtype=np.int64)})
    buckets = bucketize(log, freq="1s")
    assert buckets["input_tokens"].iloc[0] == pytest.approx(1.8e19)
    assert buckets["output_tokens"].dtype == np.int64 and buckets["output_tokens"].iloc[0] == 20


def test_one_stray_timestamp_does_not_allocate_billions_of_buckets():
    """Found by fuzzing: a request decades away made bucketize allocate one counter per empty second."""
    log = pd.DataFrame({"TIMESTAMP": pd.to_datetime(["2024-01-01T00:00:00Z", "2024-01-01T00:00:01Z",
                                                     "2200-01-01T00:00:00Z"])})
    with pytest.raises(WorkloadDataError, match="max_buckets"):
        bucketize(log, freq="1s")
    few = pd.DataFrame({"TIMESTAMP": pd.to_datetime(["2024-01-01T00:00:00Z", "2024-01-01T01:00:00Z"])})
    with pytest.raises(WorkloadDataError, match="max_buckets=100"):
        bucketize(few, freq="1s", max_buckets=100)
    assert len(bucketize(few, freq="1s", max_buckets=3601)) == 3601  # the limit is a parameter
    assert bucketize(log.iloc[:2], freq="1s")["requests"].tolist() == [1, 1]


def test_epochs_in_an_object_column_honour_unit():
    """Found by fuzzing (a pandas deprecation warning): object-dtype epochs were parsed as nanoseconds
    whatever ``unit`` said, so 1.7e9 s became 1970-01-01 00:00:01.7."""
    stamps = np.arange(1_700_000_000, 1_700_000_000 + 600, 10)
    numeric = series_of(np.ones(60)).assign(timestamp=stamps)
    as_objects = numeric.astype({"timestamp": object})
    a = WorkloadPredictor(model="naive", horizon=3).fit(numeric, unit="s")
    b = WorkloadPredictor(model="naive", horizon=3).fit(as_objects, unit="s")
    assert a.series_.index.equals(b.series_.index)
    assert b.last_timestamp_ == pd.Timestamp(1_700_000_590, unit="s", tz="UTC")
    mixed = as_objects.assign(timestamp=[*stamps[:-1], "2023-11-14T22:23:10Z"])
    with pytest.raises(WorkloadDataError, match="mixes numbers"):
        WorkloadPredictor(model="naive", horizon=3).fit(mixed, unit="s")


@pytest.mark.parametrize("window, horizon", [(10**7, 10), (30, 10**7), (10**12, 10**9)])
def test_absurd_window_or_horizon_is_refused_at_once(window, horizon):
    """Found while fuzzing parameters: the 'how many points are needed' search stepped one point at a
    time (10 s for window=10**6, minutes beyond); it now doubles and bisects."""
    with no_hang(10), pytest.raises(WorkloadDataError, match="at least"):
        WorkloadPredictor(window=window, horizon=horizon).fit(series_of(BASE))


def test_a_huge_kernel_costs_no_more_than_a_small_one():
    """Found while fuzzing parameters: the moving-average matrix built a padded index array of
    kernel_size entries (8 GB for 10**9) and looped over it per row."""
    with no_hang(20):
        fitted = WorkloadPredictor(model_params={"kernel_size": 10**9}).fit(series_of(BASE))
    check_forecast(fitted)
    from workload_predictor.windows import moving_average_matrix

    np.testing.assert_allclose(moving_average_matrix(48, 10**9).sum(axis=1), 1.0)
    np.testing.assert_allclose(moving_average_matrix(5, 3)[2], [0, 1 / 3, 1 / 3, 1 / 3, 0])
    np.testing.assert_allclose(moving_average_matrix(5, 5)[0], [3 / 5, 1 / 5, 1 / 5, 0, 0])  # edge padding


@pytest.mark.parametrize("options", [{"sums": {"timestamp": "ContextTokens"}}, {"sums": {"requests": "ContextTokens"}},
                                     {"count": "timestamp"}, {"count": "n", "sums": {"n": "ContextTokens"}}])
def test_bucketize_refuses_output_names_that_overwrite_each_other(options):
    """Found while fuzzing bucketize's arguments: sums={'timestamp': ...} silently replaced the bucket
    timestamps with token sums (1970-01-01 00:00:00.000000005), and a sum named like the count replaced it."""
    log = pd.DataFrame({"TIMESTAMP": pd.to_datetime(["2024-01-01T00:00:00Z", "2024-01-01T00:00:01Z"]),
                        "ContextTokens": [5, 7]})
    with pytest.raises(WorkloadDataError, match="two columns named"):
        bucketize(log, **options)


# -- fit/update through the door: index shapes and Series ---------------------------------------
def _door_fitted(targets: tuple[str, ...]) -> WorkloadPredictor:
    index = pd.date_range("2024-03-10 05:00", periods=30, freq="1h")
    frame = pd.DataFrame({"timestamp": index, **{name: np.arange(30) % 5 + 1.0 for name in targets}})
    return WorkloadPredictor(model="naive", horizon=3, window=4).fit(frame, target=list(targets))


@st.composite
def continuation_inputs(draw):
    """Rows after the fitted end (offsets in buckets, some before it or repeated), as a frame, a frame indexed by
    time (plain or MultiIndex) or a Series (named, unnamed or misnamed)."""
    targets = draw(st.sampled_from([("requests",), ("a", "b")]))
    offsets = draw(st.lists(st.integers(-1, 4), min_size=1, max_size=4))
    stamps = pd.Timestamp("2024-03-11 10:00") + pd.to_timedelta(offsets, unit="h")
    values = {name: draw(st.sampled_from([1.0, 0.0, np.nan, -1.0])) * np.ones(len(offsets)) for name in targets}
    frame = pd.DataFrame({"timestamp": stamps, **values})
    shape = draw(st.sampled_from(["frame", "indexed", "multiindex", "series", "unnamed", "misnamed"]))
    if shape == "frame":
        return targets, frame, "timestamp"
    indexed = frame.set_index("timestamp")
    if shape == "multiindex":
        indexed.index = pd.MultiIndex.from_arrays([indexed.index, range(len(indexed))])
    if shape in ("indexed", "multiindex"):
        return targets, indexed, None
    series = indexed[targets[0]]
    return targets, series.rename({"series": series.name, "unnamed": None, "misnamed": "other"}[shape]), None


@given(drawn=continuation_inputs())
@example(drawn=(("requests",), pd.DataFrame({"requests": [1.0]}, index=pd.MultiIndex.from_arrays(
    [[pd.Timestamp("2024-03-11 11:00")], [0]])), None))  # was NotImplementedError from pandas
@example(drawn=(("a", "b"), pd.Series([1.0], index=[pd.Timestamp("2024-03-11 11:00")], name="a"), None))
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_update_on_arbitrary_continuations_updates_or_raises_and_changes_nothing(drawn):
    targets, data, timestamp = drawn
    predictor = _door_fitted(targets)
    before, saved = predictor.predict(), data.copy(deep=True)
    try:
        with no_hang():
            predictor.update(data, timestamp=timestamp)
    except WorkloadDataError as error:  # UpdateGapError and MemoryLimitError included
        event(outcome(error))
        assert "new_y" not in str(error), f"a model's internals, not the caller's problem: {error}"
        after = predictor.predict()
        assert after.index.equals(before.index) and np.array_equal(after.yhat, before.yhat)
    else:
        event(outcome(None))
        forecast = predictor.predict()
        assert str(forecast.index.tz) == "UTC" and forecast.index[0] > before.index[0]
        assert np.isfinite(forecast.yhat).all()
    (pd.testing.assert_series_equal if isinstance(data, pd.Series) else pd.testing.assert_frame_equal)(data, saved)


def test_fit_on_a_multiindex_is_a_typed_error():
    index = pd.MultiIndex.from_arrays([pd.date_range("2024-01-01", periods=30, freq="1h"), range(30)])
    frame = pd.DataFrame({"requests": np.arange(30) % 5 + 1.0}, index=index)
    for data in (frame, frame["requests"]):
        with pytest.raises(WorkloadDataError, match="MultiIndex.*droplevel"):
            WorkloadPredictor(model="naive", horizon=3).fit(data, timestamp=None)


def test_a_series_is_not_silently_fitted_as_several_targets():
    series = pd.Series(np.arange(30) % 5 + 1.0, index=pd.date_range("2024-01-01", periods=30, freq="1h"), name="a")
    for data in (series, series.rename(None)):
        with pytest.raises(WorkloadDataError, match="Series holds one target.*DataFrame"):
            WorkloadPredictor(model="naive", horizon=3).fit(data, target=["a", "b"])
    assert WorkloadPredictor(model="naive", horizon=3).fit(series, target=["a"]).targets_ == ("a",)
