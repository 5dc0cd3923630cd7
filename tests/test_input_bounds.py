"""Input that made parsing pathological, and messages that echoed it whole: refused early, quoted short."""

from __future__ import annotations

import gzip

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from conftest import periodic_series
from workload_predictor import WorkloadDataError, WorkloadPredictor, bucketize
from workload_predictor.cli import EXIT_DATA, EXIT_USAGE, main
from workload_predictor.data import MAX_TIMESTAMP_CHARS, to_utc_index
from workload_predictor.errors import quote
from workload_predictor.readers import read_table, read_trace

SHORT = 400  # characters: a message that quotes a value cut short fits in this


def test_quote_cuts_long_values_and_keeps_short_ones():
    assert quote("abc") == "'abc'"
    assert quote(1.5) == "1.5"
    long = quote("x" * 400_000)
    assert long.startswith("'xxx") and "400,000 characters" in long and len(long) < 120
    assert len(quote(b"\0" * 100_000)) < 200  # escapes make each NUL four characters
    assert len(quote(list(range(10**6)))) < 80


def test_a_long_garbage_timestamp_is_refused_before_parsing():
    """400,000 characters took 1.1 s in pandas' fallback parser (quadratic) and the message echoed all of them."""
    with pytest.raises(WorkloadDataError, match=r"row 1 holds a string of 400,000 characters") as error:
        to_utc_index(["2024-01-01T00:00:00Z", "x" * 400_000])
    assert len(str(error.value)) < SHORT
    to_utc_index(["2024-01-01T00:00:00.123456789+05:30".rjust(MAX_TIMESTAMP_CHARS)])  # the longest read


@pytest.mark.parametrize("call", [
    lambda big: to_utc_index(["\0" * 100_000]),  # NUL bytes: 100 KB on stderr before
    lambda big: to_utc_index(["2024-01-01", None], name="t"),  # row 1 missing: quotes None
    lambda big: to_utc_index([1.7e9, 1.7e9], unit=big),
    lambda big: to_utc_index([1.0, 2.0], origin=big, unit="s"),
    lambda big: to_utc_index(pd.to_timedelta([1, 2], unit="s"), origin=big),
    lambda big: WorkloadPredictor().fit(periodic_series(200), target=big),
    lambda big: WorkloadPredictor().fit(periodic_series(200), timestamp=big),
    lambda big: WorkloadPredictor().fit(periodic_series(200), freq=big),
    lambda big: WorkloadPredictor().fit(periodic_series(200).rename(columns={"requests": big}), target=big[:-1]),
    lambda big: bucketize(pd.DataFrame({big: ["2024-01-01"]}), timestamp="TIMESTAMP"),
    lambda big: bucketize(pd.DataFrame({"TIMESTAMP": ["2024-01-01"]}), sums={"x": big}),
])
def test_messages_quote_user_values_cut_short(call):
    big = "q" * 100_000
    with pytest.raises(WorkloadDataError) as error:
        call(big)
    assert len(str(error.value)) < SHORT, str(error.value)[:300]


def test_a_csv_line_longer_than_the_bound_is_refused_before_pandas_reads_it(tmp_path, monkeypatch):
    """A 100 MB field was still parsing after 12 minutes; here a 2 MiB one in a column nothing reads."""
    path = tmp_path / "log.csv"
    rows = "".join(f"2024-01-01T00:00:{s:02d}Z,1,short\n" for s in range(5))
    path.write_text("timestamp,requests,note\n" + rows + "2024-01-01T00:00:06Z,1," + "n" * (2 << 20) + "\n")
    monkeypatch.setattr(pd, "read_csv", lambda *a, **k: pytest.fail("pandas was handed the file"))
    with pytest.raises(WorkloadDataError, match="line 7 is longer than 1,048,576 bytes") as error:
        read_trace(path)
    assert len(str(error.value)) < SHORT
    monkeypatch.undo()
    assert len(read_table(path, max_line_bytes=3 << 20)) == 6  # a larger bound reads it


@pytest.mark.parametrize("line_bytes", [3, 4, 5, 9, 10, 11])
def test_the_line_bound_is_exact_across_blocks(tmp_path, line_bytes):
    path = tmp_path / "t.csv"
    path.write_bytes(b"a\n" + b"x" * 10 + b"\nb\n")
    if line_bytes >= 10:
        read_table(path, max_line_bytes=line_bytes)
    else:
        with pytest.raises(WorkloadDataError, match="line 2 is longer"):
            read_table(path, max_line_bytes=line_bytes)


def test_the_cli_answers_a_field_of_nul_bytes_in_one_short_line(tmp_path):
    path = tmp_path / "nul.csv"
    path.write_bytes(b"timestamp,requests\n" + b"\0" * 100_000 + b",1\n2024-01-01T00:00:00Z,2\n")
    result = CliRunner().invoke(main, ["forecast", str(path), "-q"])
    assert result.exit_code == EXIT_DATA
    assert len(result.output) < SHORT and "line 2 holds a NUL byte" in result.output, result.output[:300]


@pytest.mark.parametrize("suffix", [".csv", ".csv.gz", ".jsonl"])
def test_a_nul_byte_inside_a_field_is_refused_not_cut_off(tmp_path, suffix):
    """pandas 2's C parser ends a field at a NUL byte and drops the rest: ``...10Z\\0junk`` read as a valid
    timestamp. The reader refuses the file, naming the line, whichever pandas reads it."""
    text = b"timestamp,requests\n2024-01-01T00:00:00Z,1\n2024-01-01T00:00:10Z\0junk,5\n2024-01-01T00:00:20Z,6\n"
    if suffix == ".jsonl":
        text = b'{"timestamp": "2024-01-01T00:00:00Z"}\n{"timestamp": "2024-01-01T00:00:10Z\0junk"}\n'
    path = tmp_path / f"trace{suffix}"
    path.write_bytes(gzip.compress(text) if suffix.endswith(".gz") else text)
    with pytest.raises(WorkloadDataError, match="line 3 holds a NUL byte" if suffix != ".jsonl" else "line 2 holds"):
        read_table(path)


# -- the range of nanosecond timestamps, in our words -------------------------------------------------------
@pytest.mark.parametrize("by", [None, "key"])
def test_a_log_starting_in_1677_is_a_data_error_in_our_words(by):
    """'Cannot round 1677-09-21 00:12:43.145224193+00:00 to freq=<Hour> without overflow' leaked from pandas."""
    log = pd.DataFrame({"TIMESTAMP": ["1677-09-21T00:12:43.145224193Z", "1677-09-21T00:12:44Z"], "key": ["a", "b"]})
    with pytest.raises(WorkloadDataError, match="outside 1677-09-21 00:12:43") as error:
        bucketize(log, freq="1h", **({} if by is None else {"by": by}))
    assert "overflow" not in str(error.value) and "Cannot" not in str(error.value)


def test_a_forecast_past_2262_is_a_data_error_in_our_words():
    frame = periodic_series(220, start="2262-04-11 20:00")  # the last bucket at 23:39, the limit 23:47:16
    predictor = WorkloadPredictor(horizon=10).fit(frame)
    with pytest.raises(WorkloadDataError, match="reach past 2262-04-11 23:47:16") as error:
        predictor.predict()
    assert "Cannot generate range" not in str(error.value)
    assert len(predictor.predict(5).index) == 5  # what fits is still forecast


@pytest.mark.parametrize("option,value", [("--test-size", "nan"), ("--test-size", "inf"), ("--level", "nan")])
def test_non_finite_numbers_are_usage_errors(tmp_path, option, value):
    """`evaluate --test-size nan` answered "cannot convert float NaN to integer" (exit 3)."""
    path = tmp_path / "s.csv"
    periodic_series(300).to_csv(path, index=False)
    result = CliRunner().invoke(main, ["evaluate", str(path), "-q", "--models", "dlinear", option, value])
    assert result.exit_code == EXIT_USAGE, result.output
    assert f"{value} is not a number" in result.output and "convert" not in result.output


def test_backtest_refuses_a_non_finite_test_size():
    from workload_predictor.backtest import backtest_origins

    with pytest.raises(WorkloadDataError, match="test_size=nan"):
        backtest_origins(300, 5, float("nan"), 1)
    assert np.array_equal(backtest_origins(100, 5, 0.1, 1), np.arange(90, 96))


def test_read_trace_of_a_series_without_the_target_asked_for_does_not_crash(tmp_path):
    path = tmp_path / "series.csv"
    periodic_series(50).to_csv(path, index=False)
    trace = read_trace(path, targets=["input_tokens"])  # the caller names the missing target (the CLI does)
    assert list(trace.series.columns) == ["timestamp", "requests"]


def test_read_trace_reads_an_integer_column_wider_than_int64_as_the_number_it_is(tmp_path):
    path = tmp_path / "series.csv"
    frame = periodic_series(50)
    frame["requests"] = frame["requests"].round().astype(int).astype(object)
    frame.loc[7, "requests"] = 10**26  # the CSV column is then no int64: pandas reads it as text
    frame.to_csv(path, index=False)
    with pytest.raises(WorkloadDataError, match="'requests' holds 1e\\+26 at row 7, above 1e\\+18"):
        read_trace(path)


def test_read_trace_sums_and_checks_only_the_token_columns_its_targets_need(tmp_path):
    path = tmp_path / "log.csv"
    stamps = pd.date_range("2024-01-01", periods=100, freq="1s").strftime("%Y-%m-%dT%H:%M:%SZ")
    pd.DataFrame({"TIMESTAMP": stamps, "ContextTokens": ["abc"] + ["10"] * 99, "GeneratedTokens": 5}).to_csv(
        path, index=False)
    trace = read_trace(path, freq="10s", targets=["requests", "output_tokens"])
    assert list(trace.series.columns) == ["timestamp", "requests", "output_tokens"]
    with pytest.raises(WorkloadDataError, match="column 'ContextTokens' holds 'abc' at row 0, not a number"):
        read_trace(path, freq="10s")


@pytest.mark.parametrize("suffix", [".jsonl", ".json"])
def test_read_table_drops_a_byte_order_mark_of_a_json_file(tmp_path, suffix):
    import json

    records = [{"timestamp": "2024-01-01T00:00:00Z", "requests": 1}, {"timestamp": "2024-01-01T00:00:01Z",
                                                                    "requests": 2}]
    text = json.dumps(records) if suffix == ".json" else "".join(json.dumps(r) + "\n" for r in records)
    path = tmp_path / f"bom{suffix}"
    path.write_bytes(b"\xef\xbb\xbf" + text.encode())
    assert read_table(path)["requests"].tolist() == [1, 2]
