"""bucketize's bounds and arguments: row counts that wrap int64, a bucketed series given as a request log, column
names that are no names, and messages that name the log's own columns."""

from __future__ import annotations

import pandas as pd
import pytest

from workload_predictor import WorkloadDataError, bucketize
from workload_predictor.errors import MemoryLimitError


@pytest.mark.parametrize("common_grid", [True, False])
def test_by_key_rows_beyond_int64_are_refused_with_their_true_number(common_grid):
    # Two keys each spanning 280 years of 1 ns buckets: 1.77e19 rows, past int64, which wrapped negative and failed
    # in numpy ("negative dimensions are not allowed") instead of the max_buckets bound.
    stamps = pd.to_datetime(["1800-01-01", "2080-01-01"] * 2, utc=True)
    log = pd.DataFrame({"timestamp": stamps, "k": ["a", "a", "b", "b"]})
    span = (stamps[1] - stamps[0]) // pd.Timedelta(1, "ns") + 1
    with pytest.raises(WorkloadDataError, match=f"2 keys .* make {2 * span:,} rows, over max_buckets"):
        bucketize(log, timestamp="timestamp", freq="1ns", by="k", common_grid=common_grid)


def test_by_key_rows_that_wrap_int64_to_a_positive_number_are_reported_exactly():
    n = 3000  # 3,000 keys x 8.8e15 buckets of 1 us wrapped to a positive 8.06e18 in the message
    log = pd.DataFrame({"timestamp": pd.to_datetime(["1800-01-01", "2080-01-01"] * n, utc=True),
                        "k": [i // 2 for i in range(2 * n)]})
    with pytest.raises(WorkloadDataError, match="3,000 keys .* make 26,507,865,600,000,003,000 rows"):
        bucketize(log, timestamp="timestamp", freq="1us", by="k", common_grid=False)


@pytest.mark.parametrize("by", [None, "model"])
def test_a_bucketed_series_is_not_counted_as_one_request_per_row(by):
    # Re-bucketing a 10 s series to 1 min counted its rows: requests=6 per minute instead of 240 (the tokens were
    # summed right), without a word.
    series = pd.DataFrame({"timestamp": pd.date_range("2024-01-01", periods=12, freq="10s", tz="UTC"),
                           "model": "m", "requests": 40, "input_tokens": 4000})
    with pytest.raises(WorkloadDataError, match=r"a column 'requests', which bucketize would not read.*count='rows'"):
        bucketize(series, timestamp="timestamp", freq="1min", by=by)
    summed = bucketize(series, timestamp="timestamp", freq="1min", by=by, count="rows",
                       sums={"requests": "requests", "input_tokens": "input_tokens"})
    assert summed["requests"].tolist() == [240, 240] and summed["rows"].tolist() == [6, 6]
    assert summed["input_tokens"].tolist() == [24000, 24000]


@pytest.mark.parametrize("arguments, message", [
    ({"by": ["model"]}, r"by=\['model'\] must be one column name"),
    ({"timestamp": ["TIMESTAMP"]}, r"timestamp=\['TIMESTAMP'\] must be one column name"),
    ({"count": None}, "count=None must be the name"),
    ({"count": 5}, "count=5 must be the name"),
    ({"count": ""}, "count='' must be the name"),  # wrote a count column without a name
    ({"sums": {"": "TIMESTAMP"}}, r"sums=\{'': 'TIMESTAMP'\} maps an empty output name"),
    ({"by": "model", "common_grid": "False"}, "common_grid='False' must be True or False"),  # was a common grid
    ({"by": "model", "common_grid": None}, "common_grid=None must be True or False"),  # was each key's own grid
])
def test_column_arguments_that_are_no_column_names_are_typed_errors(arguments, message):
    # A list raised pandas' "unhashable type: 'list'"; count=None wrote a column named None.
    log = pd.DataFrame({"TIMESTAMP": pd.date_range("2024-01-01", periods=5, freq="3s", tz="UTC"), "model": "m"})
    with pytest.raises(WorkloadDataError, match=message):
        bucketize(log, freq="10s", **arguments)


@pytest.mark.parametrize("by", [None, "model"])
def test_a_bad_token_value_is_named_by_the_logs_column(by):
    # The message named the output column 'input_tokens', which the Azure-style log has not.
    log = pd.DataFrame({"TIMESTAMP": pd.date_range("2024-01-01", periods=5, freq="3s", tz="UTC"), "model": "m",
                        "ContextTokens": [1, 2, -3, 4, 5]})
    with pytest.raises(WorkloadDataError, match=r"column 'ContextTokens' holds a negative value \(-3.0 at row 2\)"):
        bucketize(log, freq="10s", by=by)


def test_bucketize_by_a_key_column_of_lists_is_a_typed_error():
    """Before: pandas' "unhashable type: 'list'" from factorising the keys (the fleet alone worded it)."""
    log = pd.DataFrame({"TIMESTAMP": pd.date_range("2024-01-01", periods=4, freq="1s"), "model": [["a"]] * 4})
    with pytest.raises(WorkloadDataError, match=r"key column 'model' holds \['a'\] at row 0 of the frame, a list"):
        bucketize(log, freq="1s", by="model")


def test_a_span_over_max_buckets_gives_its_number_of_buckets_readably():
    # "31622400000000001 buckets" (a year of 1 ns buckets) was printed without separators, unlike by='s "rows".
    log = pd.DataFrame({"TIMESTAMP": pd.to_datetime(["2024-01-01T00:00:00Z", "2025-01-01T00:00:00Z"])})
    with pytest.raises(WorkloadDataError, match="366d from 2024-01-01T00:00:00[+]00:00: 31,622,400,000,000,001 buckets "
                                                "of 1ns, over max_buckets=10000000"):
        bucketize(log, freq="1ns")


@pytest.mark.parametrize("by", [None, "model"])
def test_max_buckets_raised_past_the_memory_left_is_a_typed_error_before_allocating(by):
    # Without by=, 8.6e13 buckets of a day at 1 ns were attempted: numpy's bare MemoryError ("Unable to allocate
    # 629. TiB"); with by=, the check advised "Fit on less history, a smaller window or fewer targets".
    log = pd.DataFrame({"TIMESTAMP": pd.to_datetime(["2024-01-01T00:00:00Z", "2024-01-02T00:00:00Z"]), "model": "m"})
    with pytest.raises(MemoryLimitError, match="not enough memory at 'bucketize.*pass a coarser freq, or a lower "
                                               "max_buckets"):
        bucketize(log, freq="1ns", max_buckets=10**15, by=by)
