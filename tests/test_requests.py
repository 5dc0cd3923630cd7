"""Forecast -> synthetic requests: counts follow the forecast, lengths the history, tokens the token forecast."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from workload_predictor import Forecast, WorkloadDataError, WorkloadPredictor
from workload_predictor.synthetic_requests import round_to_totals


def make_forecast(rates, tokens=None, freq="10s", history=None) -> Forecast:
    rates = np.asarray(rates, float)
    columns = [rates] + ([np.asarray(tokens, float)] if tokens is not None else [])
    yhat = np.column_stack(columns)
    targets = ("requests", "input_tokens") if tokens is not None else ("requests",)
    index = pd.date_range("2024-05-10 12:00", periods=len(rates), freq=freq, tz="UTC").as_unit("ns")
    return Forecast(index=index, yhat=yhat, lower=yhat * 0.5, upper=yhat * 1.5, targets=targets, level=0.9,
                    model="dlinear", confidence=0.8, freq=pd.Timedelta(freq), history=history)


def lengths_log(n=500, seed=0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    prompt = rng.integers(10, 2000, n)
    return pd.DataFrame({"ContextTokens": prompt, "GeneratedTokens": prompt // 10 + 1})


@settings(max_examples=10)  # each example draws 300 request logs
@given(st.lists(st.floats(0, 30), min_size=1, max_size=6), st.integers(0, 2**32 - 1))
def test_mean_counts_per_bucket_match_the_forecast(rates, seed):
    forecast = make_forecast(rates)
    draws = 300
    rng = np.random.default_rng(seed)
    start = (forecast.index[0] - pd.Timestamp(0, tz="UTC")) // pd.Timedelta(1, "ns")
    width = forecast.freq // pd.Timedelta(1, "ns")
    counts = np.zeros((draws, len(rates)))
    for d in range(draws):
        requests = forecast.to_requests(random_state=rng)
        buckets = (requests["arrival_time_ns"].to_numpy() - start) // width
        counts[d] = np.bincount(buckets, minlength=len(rates))
    # Poisson: the mean of `draws` counts has standard deviation sqrt(rate / draws); allow 5 of them.
    tolerance = 5 * np.sqrt(np.maximum(np.asarray(rates), 1e-3) / draws) + 1e-9
    assert np.all(np.abs(counts.mean(axis=0) - np.asarray(rates)) <= tolerance)


def test_arrivals_are_int64_ns_inside_their_buckets_and_sorted():
    forecast = make_forecast([5, 0, 12])
    requests = forecast.to_requests(random_state=1, lengths=lengths_log())
    assert requests["arrival_time_ns"].dtype == np.int64
    arrivals = pd.to_datetime(requests["arrival_time_ns"], unit="ns", utc=True)
    assert arrivals.min() >= forecast.index[0] and arrivals.max() < forecast.index[-1] + forecast.freq
    assert requests["arrival_time_ns"].is_monotonic_increasing
    assert list(requests.columns) == ["arrival_time_ns", "input_tokens", "output_tokens"]
    assert (requests[["input_tokens", "output_tokens"]] >= 1).all().all()


def test_lengths_come_from_the_recent_history_and_stay_paired():
    log = lengths_log()
    requests = make_forecast([200.0]).to_requests(random_state=2, lengths=log, recent=100)
    pairs = set(zip(log["ContextTokens"].iloc[-100:], log["GeneratedTokens"].iloc[-100:]))
    assert set(zip(requests["input_tokens"], requests["output_tokens"])) <= pairs


def test_token_totals_per_bucket_match_the_token_forecast():
    forecast = make_forecast([8, 20, 3], tokens=[4000.4, 15000.0, 2500.0])
    requests = forecast.to_requests(random_state=3, lengths=lengths_log())
    start = (forecast.index[0] - pd.Timestamp(0, tz="UTC")) // pd.Timedelta(1, "ns")
    buckets = (requests["arrival_time_ns"].to_numpy() - start) // (forecast.freq // pd.Timedelta(1, "ns"))
    totals = np.bincount(buckets, weights=requests["input_tokens"], minlength=3)
    has_requests = np.bincount(buckets, minlength=3) > 0
    assert np.array_equal(totals[has_requests], np.round([4000.4, 15000.0, 2500.0])[has_requests])
    # Output tokens were not forecast: they keep the drawn lengths.
    assert set(requests["output_tokens"]) <= set(lengths_log()["GeneratedTokens"])


@given(st.lists(st.floats(0.01, 500), min_size=1, max_size=20), st.floats(1, 10_000))
def test_round_to_totals_keeps_each_group_total(values, total):
    values = np.asarray(values)
    scaled = values * total / values.sum()
    groups = np.zeros(len(values), dtype=np.int64)
    rounded = round_to_totals(scaled, groups, np.array([total]))
    assert rounded.sum() == np.round(total)
    assert np.all(np.abs(rounded - scaled) < 1.0)


def test_vidur_main_format_has_the_repository_readers_columns_in_seconds():
    forecast = make_forecast([30, 30])
    native = forecast.to_requests(random_state=4, lengths=lengths_log())
    vidur = forecast.to_requests(random_state=4, lengths=lengths_log(), format="vidur-main")
    assert list(vidur.columns) == ["arrived_at", "num_prefill_tokens", "num_decode_tokens"]
    start = (forecast.index[0] - pd.Timestamp(0, tz="UTC")) // pd.Timedelta(1, "ns")
    assert np.allclose(vidur["arrived_at"], (native["arrival_time_ns"] - start) / 1e9)
    assert vidur["arrived_at"].between(0, 20).all()
    assert np.array_equal(vidur["num_prefill_tokens"], native["input_tokens"])


def test_vidur_0_0_26_format_has_the_released_trace_replays_columns():
    # vidur 0.0.26's TraceReplayRequestGenerator: rows whose Date equals its date setting, arrived_at = Time
    # (seconds), PromptTokenCount and CompletionTokenCount (read from the package's source).
    forecast = make_forecast([30, 30])
    native = forecast.to_requests(random_state=4, lengths=lengths_log())
    released = forecast.to_requests(random_state=4, lengths=lengths_log(), format="vidur-0.0.26")
    assert list(released.columns) == ["Date", "Time", "PromptTokenCount", "CompletionTokenCount"]
    start = (forecast.index[0] - pd.Timestamp(0, tz="UTC")) // pd.Timedelta(1, "ns")
    assert np.allclose(released["Time"], (native["arrival_time_ns"] - start) / 1e9)
    assert set(released["Date"]) == {forecast.index[0].strftime("%Y-%m-%d")}
    assert np.array_equal(released["PromptTokenCount"], native["input_tokens"])
    assert np.array_equal(released["CompletionTokenCount"], native["output_tokens"])
    with pytest.raises(WorkloadDataError, match="vidur-main"):
        forecast.to_requests(random_state=4, lengths=lengths_log(), format="vidur")


def test_without_lengths_the_history_gives_tokens_per_request():
    history = pd.DataFrame({"requests": [10.0, 0.0, 5.0], "output_tokens": [1000.0, 0.0, 250.0]},
                           index=pd.date_range("2024-05-10 11:59:30", periods=3, freq="10s", tz="UTC"))
    requests = make_forecast([50.0], history=history).to_requests(random_state=5)
    assert set(requests["output_tokens"]) <= {100, 50}
    with pytest.raises(WorkloadDataError, match="token"):
        make_forecast([5.0]).to_requests(random_state=5, format="vidur-main")


def test_bad_arguments_are_typed_errors():
    forecast = make_forecast([1.0])
    with pytest.raises(WorkloadDataError):
        forecast.to_requests(format="csv")
    with pytest.raises(WorkloadDataError):
        forecast.to_requests(quantity="median")
    with pytest.raises(WorkloadDataError, match="token column"):
        forecast.to_requests(lengths=pd.DataFrame({"x": [1]}))


def test_from_a_fitted_predictor_with_token_targets(series_1000):
    data = series_1000.assign(input_tokens=series_1000["requests"] * 300, output_tokens=series_1000["requests"] * 20)
    forecast = WorkloadPredictor(horizon=5).fit(data, target=["requests", "input_tokens", "output_tokens"]).predict()
    requests = forecast.to_requests(random_state=0)
    assert len(requests) > 0 and {"input_tokens", "output_tokens"} <= set(requests.columns)
    assert requests.equals(forecast.to_requests(random_state=0))  # reproducible with a seed


def test_a_forecast_of_one_token_target_is_not_taken_as_request_counts():
    index = pd.date_range("2024-05-10 12:00", periods=3, freq="10s", tz="UTC").as_unit("ns")
    yhat = np.full((3, 1), 21_000.0)
    tokens = Forecast(index=index, yhat=yhat, lower=yhat, upper=yhat, targets=("input_tokens",), level=0.9,
                      model="naive", confidence=0.8, freq=pd.Timedelta("10s"))
    with pytest.raises(WorkloadDataError, match="no request-count target") as error:
        tokens.to_requests(random_state=0)
    assert "token target counts tokens" in str(error.value)
    # One target with another name (a Series named "qps") is still its request count.
    counts = Forecast(index=index, yhat=yhat / 1000, lower=yhat / 1000, upper=yhat / 1000, targets=("qps",),
                      level=0.9, model="naive", confidence=0.8, freq=pd.Timedelta("10s"))
    assert 30 <= len(counts.to_requests(random_state=0)) <= 100


class _NoRepeat:
    """numpy for the module under test, less ``repeat``: the call that allocates one entry per drawn request."""

    def __getattr__(self, name):
        return getattr(np, name)

    def repeat(self, *args, **kwargs):
        raise AssertionError("the requests were allocated")


def test_a_forecast_of_too_many_requests_is_refused_before_they_are_allocated(monkeypatch):
    import workload_predictor.synthetic_requests as synthetic

    monkeypatch.setattr(synthetic, "np", _NoRepeat())  # 1e10 requests would be 75 GiB of arrival times
    with pytest.raises(WorkloadDataError, match=r"10,000,000,000 synthetic requests .* more than 100,000,000"):
        make_forecast([1e9] * 10).to_requests(random_state=0)


@pytest.mark.parametrize("format", ["csv", ["native"], {"native": None}, None])
def test_an_unknown_format_is_a_typed_error_before_any_request_is_drawn(format, monkeypatch):
    # A list or a dict failed in the format lookup with "unhashable type"; every unknown format was refused only after
    # the requests were drawn (up to 100,000,000 of them).
    import workload_predictor.synthetic_requests as synthetic

    monkeypatch.setattr(synthetic, "np", _NoRepeat())
    with pytest.raises(WorkloadDataError, match=r"format=.* is unknown; choose one of 'native'"):
        make_forecast([5.0]).to_requests(random_state=0, format=format)


@pytest.mark.parametrize("recent", [0, -1, 2.5, True, "10"])
def test_recent_must_be_a_positive_number_of_rows(recent):
    with pytest.raises(WorkloadDataError, match="recent=.* must be a positive integer"):
        make_forecast([5.0]).to_requests(random_state=0, lengths=lengths_log(), recent=recent)


def test_recent_takes_the_last_rows_of_the_lengths():
    log = pd.DataFrame({"input_tokens": [1] * 1000 + [999] * 10, "output_tokens": [1] * 1010})
    drawn = make_forecast([50.0]).to_requests(random_state=0, lengths=log, recent=10)
    assert set(drawn["input_tokens"]) == {999}


@given(st.lists(st.floats(0, 30), min_size=1, max_size=6), st.lists(st.floats(0, 3000), min_size=6, max_size=6),
       st.lists(st.integers(0, 50), min_size=1, max_size=8), st.integers(0, 2**32 - 1))
@example(rates=[10.0] * 6, tokens=[300.0] * 6, outputs=[0, 0, 1, 2000], seed=0)  # 308 tokens per bucket for 300
def test_each_buckets_token_total_is_the_forecasts_and_every_request_has_a_token(rates, tokens, outputs, seed):
    """A draw scaled below 1 token was raised to 1 after the rounding to the totals, putting its bucket over the
    forecast (a log with 0-token outputs: 6,161 tokens for 6,000 forecast). Now only a total below the bucket's
    requests is exceeded, by one token per request."""
    tokens = tokens[: len(rates)]
    forecast = make_forecast(rates, tokens=tokens)
    lengths = pd.DataFrame({"input_tokens": outputs, "output_tokens": 1})
    requests = forecast.to_requests(random_state=seed, lengths=lengths)
    start = (forecast.index[0] - pd.Timestamp(0, tz="UTC")) // pd.Timedelta(1, "ns")
    buckets = (requests["arrival_time_ns"].to_numpy() - start) // (forecast.freq // pd.Timedelta(1, "ns"))
    n = np.bincount(buckets, minlength=len(rates))
    totals = np.bincount(buckets, weights=requests["input_tokens"], minlength=len(rates))
    assert (requests["input_tokens"] >= 1).all()
    busy = n > 0
    assert np.array_equal(totals[busy], np.maximum(np.round(tokens), n)[busy])


@pytest.mark.parametrize("rates, tokens, message", [
    # A NaN forecast is refused when the Forecast is built (to_requests used to hit numpy's "lam value too large"
    # or draw 1-token requests from it).
    ([np.nan, 5.0], None, r"Forecast yhat must hold finite non-negative numbers"),
    ([5.0, 5.0], [np.nan, 100.0], r"Forecast yhat must hold finite non-negative numbers"),
    ([5.0, 5.0], [100.0, 1e25], r"yhat of 'input_tokens' is 1e\+25 at step 1"),  # int64 wrapped: 1 token each
])
def test_a_forecast_value_that_is_no_count_is_refused(rates, tokens, message):
    with pytest.raises(WorkloadDataError, match=message):
        make_forecast(rates, tokens=tokens).to_requests(random_state=0, lengths=lengths_log())


@pytest.mark.parametrize("value, shown", [(1e20, r"1e\+20"), ("many", "'many'")])
def test_lengths_that_are_no_token_counts_are_refused_with_their_row(value, shown):
    # 1e20 wrapped int64 when rounded and was drawn as 1 token; "many" was called "missing or negative".
    log = pd.DataFrame({"input_tokens": [10, 20, value], "output_tokens": [1, 2, 3]})
    with pytest.raises(WorkloadDataError, match=f"lengths column 'input_tokens' holds {shown} at row 2"):
        make_forecast([5.0]).to_requests(random_state=0, lengths=log)


@pytest.mark.parametrize("format, columns", [
    ("native", ["arrival_time_ns", "input_tokens", "output_tokens"]),
    ("vidur-main", ["arrived_at", "num_prefill_tokens", "num_decode_tokens"]),
])
def test_a_token_forecast_without_lengths_to_draw_splits_each_buckets_total_evenly(format, columns):
    """Before: with no lengths, no history and no busy bucket in the history, the token forecast was dropped: the
    native requests had arrival times only, and vidur-main refused, advising the token targets the forecast had."""
    rates, inputs, outputs = [6.0, 0.0, 9.0], [600.0, 50.0, 905.0], [60.0, 0.0, 91.0]
    yhat = np.column_stack([rates, inputs, outputs])
    index = pd.date_range("2024-05-10 12:00", periods=3, freq="10s", tz="UTC")
    idle = pd.DataFrame({"requests": [0.0, 0.0], "input_tokens": [0.0, 0.0], "output_tokens": [0.0, 0.0]},
                        index=index[:2] - pd.Timedelta("20s"))
    for history in (None, idle):
        forecast = Forecast(index=index, yhat=yhat, lower=yhat, upper=yhat,
                            targets=("requests", "input_tokens", "output_tokens"), level=0.9, model="dlinear",
                            confidence=0.8, freq=pd.Timedelta("10s"), history=history)
        requests = forecast.to_requests(random_state=4, format=format)
        assert list(requests.columns) == columns
        native = forecast.to_requests(random_state=4)
        start = (index[0] - pd.Timestamp(0, tz="UTC")) // pd.Timedelta(1, "ns")
        buckets = (native["arrival_time_ns"].to_numpy() - start) // 10**10
        counts = np.bincount(buckets, minlength=3)
        for column, totals in (("input_tokens", inputs), ("output_tokens", outputs)):
            sums = np.bincount(buckets, weights=native[column], minlength=3)
            busy = counts > 0
            # Each bucket's requests carry its forecast total (at least one token each), split evenly.
            assert np.array_equal(sums[busy], np.maximum(np.round(totals), counts)[busy])
            for b in np.flatnonzero(busy):
                lengths = native[column].to_numpy()[buckets == b]
                assert lengths.max() - lengths.min() <= 1


def test_a_token_target_the_lengths_lack_is_split_evenly_beside_the_drawn_one():
    # lengths hold prompt lengths only; the forecast predicts output tokens too: before, output_tokens was dropped.
    log = lengths_log()[["ContextTokens"]]
    yhat = np.column_stack([[20.0], [4000.0], [300.0]])
    forecast = Forecast(index=pd.date_range("2024-05-10 12:00", periods=1, freq="10s", tz="UTC"), yhat=yhat,
                        lower=yhat, upper=yhat, targets=("requests", "input_tokens", "output_tokens"), level=0.9,
                        model="dlinear", confidence=0.8, freq=pd.Timedelta("10s"))
    requests = forecast.to_requests(random_state=1, lengths=log)
    assert list(requests.columns) == ["arrival_time_ns", "input_tokens", "output_tokens"]
    assert requests["output_tokens"].sum() == max(300, len(requests))
    assert requests["output_tokens"].max() - requests["output_tokens"].min() <= 1
    assert requests["input_tokens"].sum() == max(4000, len(requests)) and requests["input_tokens"].nunique() > 3


def test_the_request_count_target_can_be_named_as_the_error_advises():
    """A forecast of ("qps", "input_tokens") was refused with "pass count=<target>", which Forecast.to_requests
    did not take (TypeError: unexpected keyword argument 'count')."""
    yhat = np.column_stack([[12.0, 30.0], [2400.0, 9000.0]])
    forecast = Forecast(index=pd.date_range("2024-05-10 12:00", periods=2, freq="10s", tz="UTC"), yhat=yhat,
                        lower=yhat, upper=yhat, targets=("qps", "input_tokens"), level=0.9, model="dlinear",
                        confidence=0.8, freq=pd.Timedelta("10s"))
    with pytest.raises(WorkloadDataError, match=r"pass count=<target>"):
        forecast.to_requests(random_state=0)
    requests = forecast.to_requests(random_state=0, lengths=lengths_log(), count="qps")
    start = (forecast.index[0] - pd.Timestamp(0, tz="UTC")) // pd.Timedelta(1, "ns")
    buckets = (requests["arrival_time_ns"] - start) // 10**10
    assert np.bincount(buckets, weights=requests["input_tokens"]).tolist() == [2400.0, 9000.0]
    with pytest.raises(WorkloadDataError, match=r"count='requests' is not a target of the forecast \(targets: "
                                                 r"\['qps', 'input_tokens'\]\): pass the target that counts requests"):
        forecast.to_requests(random_state=0, count="requests")


@pytest.mark.parametrize("column, value, shown", [
    ("input_tokens", np.nan, "nan"),
    ("input_tokens", 1e30, "1e+30"),  # 2e29 tokens per request wrapped int64 (then 1 token)
    ("output_tokens", -50.0, "-50.0"),
    ("output_tokens", "x", "'x'"),  # before: numpy's "could not convert string to float: 'x'"
])
def test_a_hand_built_history_whose_tokens_are_no_counts_is_refused(column, value, shown):
    """Before: the bucket's tokens per request became 1 token per request (NaN, 1e30 and -50 alike), unsaid."""
    index = pd.date_range("2024-05-10 11:59:30", periods=3, freq="10s", tz="UTC")
    history = pd.DataFrame({"requests": [5.0, 5.0, 5.0], "input_tokens": [500.0, 600.0, 700.0],
                            "output_tokens": [50.0, 60.0, 70.0]}, index=index).astype(object)
    history.loc[index[1], column] = value
    forecast = make_forecast([20.0, 20.0], history=history)
    with pytest.raises(WorkloadDataError, match=rf"history column '{column}' holds {re.escape(shown)} in its bucket "
                                                r"of 2024-05-10T11:59:40\+00:00 \(1 such bucket with requests\)"):
        forecast.to_requests(random_state=0)
    history.loc[index[1], "requests"] = 0.0  # an idle bucket gives no lengths: its tokens are not read
    requests = make_forecast([20.0, 20.0], history=history).to_requests(random_state=0)
    assert set(requests["input_tokens"]) <= {100, 140}


@pytest.mark.parametrize("order", ["sorted", "unsorted"])
def test_vidur_dates_are_each_requests_utc_date(order):
    """vidur-0.0.26's Date column, formatted once per day, is each arrival's UTC calendar date (pandas' strftime of
    every instant): across midnight, before 1970, and for arrivals in any order."""
    from workload_predictor.synthetic_requests import _utc_dates

    rng = np.random.default_rng(7)
    day = 86_400 * 10**9
    ns = np.concatenate([rng.integers(-3 * day, 3 * day, 5000), [day - 1, day, -1, 0, -day, -day - 1]])
    ns = np.sort(ns) if order == "sorted" else ns
    expected = np.asarray(pd.to_datetime(ns, unit="ns", utc=True).strftime("%Y-%m-%d"), dtype=object)
    np.testing.assert_array_equal(_utc_dates(ns), expected)
    assert len(_utc_dates(ns[:0])) == 0
