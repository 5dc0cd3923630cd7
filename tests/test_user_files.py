"""Trace files as serving systems and spreadsheets write them: other separators, blanks and case in the header.

Each is read as the plain comma-separated file with this package's column names, or refused with a typed error;
never read as something else (a bucketed series' ``Requests`` column as a request log, one request per row).
"""

from __future__ import annotations

import gzip

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from workload_predictor import WorkloadDataError, bucketize
from workload_predictor.cli import main
from workload_predictor.data import token_columns
from workload_predictor.readers import read_table, read_trace


def request_log(n: int = 400, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    stamps = pd.Timestamp("2024-05-10T10:00:00Z") + pd.to_timedelta(np.sort(rng.uniform(0, 300, n)), unit="s")
    return pd.DataFrame({"timestamp": stamps.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
                         "input_tokens": rng.integers(1, 2000, n), "output_tokens": rng.integers(1, 500, n)})


TARGETS = ("requests", "input_tokens", "output_tokens")


def expected(tmp_path, log: pd.DataFrame) -> pd.DataFrame:
    path = tmp_path / "plain.csv"
    log.to_csv(path, index=False)
    return read_trace(path, freq="10s", targets=TARGETS).series


@pytest.mark.parametrize("sep", ["\t", ";", "|"])
@pytest.mark.parametrize("suffix", [".csv", ".txt", ".csv.gz"])
def test_a_file_separated_by_tabs_semicolons_or_bars_reads_as_the_comma_separated_one(tmp_path, sep, suffix):
    # A semicolon file was one column named 'timestamp;input_tokens;output_tokens': "no timestamp column found
    # ...; name it with --timestamp-col", a fix that cannot work.
    log = request_log()
    path = tmp_path / f"log{suffix}"
    text = log.to_csv(index=False, sep=sep)
    if suffix.endswith(".gz"):
        with gzip.open(path, "wt") as stream:
            stream.write(text)
    else:
        path.write_text(text)
    trace = read_trace(path, freq="10s", targets=TARGETS)
    pd.testing.assert_frame_equal(trace.series, expected(tmp_path, log))


@pytest.mark.parametrize("suffix", [".tsv", ".tsv.gz"])
def test_a_tsv_file_is_read_as_tab_separated(tmp_path, suffix):
    """Tab-separated files are read by their content; a ``.tsv`` name was an unknown file type."""
    log = request_log()
    path = tmp_path / f"log{suffix}"
    text = log.to_csv(sep="\t", index=False)
    path.write_bytes(gzip.compress(text.encode()) if suffix.endswith(".gz") else text.encode())
    pd.testing.assert_frame_equal(read_trace(path, freq="10s", targets=TARGETS).series, expected(tmp_path, log))


def test_a_comma_in_the_header_keeps_the_comma_separator(tmp_path):
    path = tmp_path / "log.csv"
    path.write_text("timestamp,note\n2024-05-10T10:00:00Z,a;b;c\n2024-05-10T10:00:01Z,d|e\n")
    assert read_table(path).to_dict("list") == {"timestamp": ["2024-05-10T10:00:00Z", "2024-05-10T10:00:01Z"],
                                               "note": ["a;b;c", "d|e"]}


def test_blanks_around_header_names_are_dropped(tmp_path):
    # ' timestamp ' was no timestamp column, and ' input_tokens ' no token column.
    log = request_log()
    path = tmp_path / "log.csv"
    lines = [" timestamp , input_tokens , output_tokens "]
    lines += [f"{t}, {i}, {o}" for t, i, o in log.itertuples(index=False)]
    path.write_text("\n".join(lines) + "\n")
    pd.testing.assert_frame_equal(read_trace(path, freq="10s", targets=TARGETS).series, expected(tmp_path, log))


@pytest.mark.parametrize("names", [("Time Stamp", "Input Tokens", "Output Tokens"),
                                   ("TIMESTAMP", "INPUT_TOKENS", "OUTPUT-TOKENS"),
                                   ("Timestamp", "contexttokens", "Generated Tokens")])
def test_known_columns_are_found_in_any_case_and_spelling(tmp_path, names):
    # 'Input Tokens' was not summed: --target input_tokens said the log has no input_tokens.
    log = request_log()
    path = tmp_path / "log.csv"
    log.set_axis(list(names), axis=1).to_csv(path, index=False)
    trace = read_trace(path, freq="10s", targets=TARGETS)
    assert trace.timestamp_column == names[0]
    pd.testing.assert_frame_equal(trace.series, expected(tmp_path, log))


@pytest.mark.parametrize("suffix", [".csv", ".jsonl"])
def test_a_bucketed_series_with_a_requests_column_in_another_case_is_a_bucketed_series(tmp_path, suffix):
    # 'Requests' (a spreadsheet's header) made the file a request log: one request per row, so every bucket
    # held 1 and the forecast was 1.0 for a load of about 20 per bucket, without a word.
    counts = np.random.default_rng(1).poisson(20, 120)
    series = pd.DataFrame({"timestamp": pd.date_range("2024-05-10", periods=120, freq="10s", tz="UTC")
                           .strftime("%Y-%m-%dT%H:%M:%SZ"), "Requests": counts, "Input Tokens": 50 * counts})
    path = tmp_path / f"series{suffix}"
    if suffix == ".csv":
        series.to_csv(path, index=False)
    else:
        series.to_json(path, orient="records", lines=True)
    trace = read_trace(path, freq="10s")
    assert trace.kind == "bucketed series"
    np.testing.assert_array_equal(trace.series["requests"].to_numpy(), counts)
    np.testing.assert_array_equal(trace.series["input_tokens"].to_numpy(), 50 * counts)
    result = CliRunner().invoke(main, ["inspect", str(path)])
    assert result.exit_code == 0, result.output
    assert "bucketed series" in result.output


def test_names_that_would_collide_stay_as_they_are(tmp_path):
    path = tmp_path / "log.csv"
    path.write_text("timestamp,Requests,REQUESTS\n2024-05-10T10:00:00Z,1,2\n")
    assert list(read_table(path).columns) == ["timestamp", "Requests", "REQUESTS"]
    path.write_text("timestamp,requests,requests \n2024-05-10T10:00:00Z,1,2\n")
    assert list(read_table(path).columns) == ["timestamp", "requests", "requests "]


def test_a_frame_whose_requests_column_is_named_in_another_case_is_told_the_target_to_pass():
    """A bucketed frame with ``Requests`` and ``Input Tokens`` columns was told it "looks like a request log" and
    to bucketize it, which would count one request per row: the fix is ``target='Requests'``."""
    from workload_predictor import WorkloadPredictor

    frame = pd.DataFrame({"timestamp": pd.date_range("2024-01-01", periods=300, freq="10s", tz="UTC"),
                          "Requests": np.arange(300.0) % 7, "Input Tokens": np.arange(300.0)})
    with pytest.raises(WorkloadDataError, match="Column 'Requests' differs only in case.*target='Requests'") as caught:
        WorkloadPredictor().fit(frame)
    assert "request log" not in str(caught.value)
    fitted = WorkloadPredictor().fit(frame, target="Requests")
    assert fitted.predict().yhat.shape == (10, 1)


def test_a_timestamp_column_named_in_another_case_is_told_the_timestamp_to_pass():
    """The raw Azure log's ``TIMESTAMP`` given to ``fit`` (whose default is ``timestamp``), and a log whose
    ``timestamp`` column is given to ``bucketize`` (whose default is ``TIMESTAMP``), were told only that no such
    column exists while the list beside it held one: the message names it as the ``timestamp=`` to pass, for
    ``fit``, ``update``, a fleet's ``update`` and ``bucketize``."""
    from workload_predictor import FleetPredictor, WorkloadPredictor

    stamps = pd.date_range("2024-01-01", periods=300, freq="10s", tz="UTC")
    frame = pd.DataFrame({"Time Stamp": stamps, "requests": np.arange(300.0) % 7})
    fix = "Column 'Time Stamp' differs only in case or spelling: pass timestamp='Time Stamp'"
    with pytest.raises(WorkloadDataError, match=fix):
        WorkloadPredictor().fit(frame)
    predictor = WorkloadPredictor().fit(frame, timestamp="Time Stamp")
    with pytest.raises(WorkloadDataError, match=fix):
        predictor.update(frame.iloc[:0])
    fleet = FleetPredictor().fit(frame.assign(key="a"), timestamp="Time Stamp")
    with pytest.raises(WorkloadDataError, match=fix):
        fleet.update(frame.assign(key="a").iloc[:0])
    log = request_log()
    with pytest.raises(WorkloadDataError, match="Column 'timestamp' differs only in case.*timestamp='timestamp'"):
        bucketize(log, freq="10s")
    with pytest.raises(WorkloadDataError, match=r"no timestamp column 'when' \(columns: .*\); pass timestamp=<col"
                                                r"umn name>, or use a DatetimeIndex and timestamp=None\.$"):
        WorkloadPredictor().fit(frame, timestamp="when")  # no column alike: no such sentence


def test_token_columns_prefer_an_exact_name_and_keep_an_explicit_one():
    columns = ["ts", "Input Tokens", "prompt_tokens", "COMPLETION_TOKENS"]
    assert token_columns(columns) == {"input_tokens": "prompt_tokens", "output_tokens": "COMPLETION_TOKENS"}
    assert token_columns(columns, input_column="Input Tokens")["input_tokens"] == "Input Tokens"
    assert token_columns(["ts", "Context Tokens", "x"]) == {"input_tokens": "Context Tokens"}
    assert token_columns(["ts", "inputs", "tokens"]) == {}


def test_bucketize_sums_token_columns_named_in_another_case():
    log = request_log().rename(columns={"timestamp": "ts", "input_tokens": "Input Tokens"})
    buckets = bucketize(log, timestamp="ts", freq="10s")
    assert list(buckets.columns) == ["timestamp", "requests", "input_tokens", "output_tokens"]
    assert buckets["input_tokens"].sum() == log["Input Tokens"].sum()


def test_an_explicit_input_column_with_blanks_in_its_name_still_reads(tmp_path):
    log = request_log().set_axis(["Time Stamp", "Input Tokens", "Output Tokens"], axis=1)
    path = tmp_path / "log.csv"
    log.to_csv(path, index=False)
    trace = read_trace(path, freq="10s", input_column="Input Tokens", targets=TARGETS)
    assert trace.series["input_tokens"].sum() == log["Input Tokens"].iloc[
        (pd.to_datetime(log["Time Stamp"]) >= trace.series["timestamp"].iloc[0]).to_numpy()
        & (pd.to_datetime(log["Time Stamp"]) < trace.series["timestamp"].iloc[-1] + pd.Timedelta("10s")).to_numpy()
    ].sum()


def test_the_command_line_forecasts_a_semicolon_file(tmp_path):
    path = tmp_path / "log.csv"
    request_log().to_csv(path, index=False, sep=";")
    result = CliRunner().invoke(main, ["forecast", str(path), "--freq", "10s", "--model", "dlinear", "--horizon",
                                       "3", "--target", "input_tokens", "-q"])
    assert result.exit_code == 0, result.output
    assert "input_tokens=" in result.output


@pytest.mark.parametrize("where", ["first", "every"])
def test_values_past_the_header_are_refused_not_dropped(tmp_path, where):
    # A first data row longer than the header made pandas drop the last field of every row with a ParserWarning
    # only: '2024-...,1,234,50' (a thousands separator) read as 1 and 234 tokens, 50 lost; the command line
    # printed the warning and forecast the wrong counts.
    log = request_log(n=50)
    lines = log.to_csv(index=False).splitlines()
    rows = range(1, len(lines)) if where == "every" else [1]
    for row in rows:
        lines[row] += ",99"
    path = tmp_path / "log.csv"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(WorkloadDataError, match=r"line 2 holds 4 fields .*more than the 3 the header line names"):
        read_table(path)


def test_reading_a_csv_leaves_the_warning_filters_of_other_threads_alone(tmp_path, monkeypatch):
    """The longer-first-row check turned pandas' ParserWarning into an error inside ``warnings.catch_warnings``,
    which (before Python 3.14) swaps the filters of every thread: two threads reading at once could leave the
    error filter installed for the whole process. The check reads the rows itself."""
    import warnings

    seen = []
    read_csv = pd.read_csv

    def spy(*args, **kwargs):  # the process's filters while pandas reads
        seen.append([f for f in warnings.filters if f[0] == "error" and f[2] is pd.errors.ParserWarning])
        return read_csv(*args, **kwargs)

    path = tmp_path / "log.csv"
    request_log().to_csv(path, index=False)
    monkeypatch.setattr(pd, "read_csv", spy)
    assert len(read_table(path)) == 400
    assert seen == [[]]
    path.write_text("timestamp,requests\n2024-05-10T10:00:00Z,1,234\n")
    with pytest.raises(WorkloadDataError, match="line 2 holds 3 fields"):
        read_table(path)


def test_a_comment_line_above_the_header_is_named(tmp_path):
    path = tmp_path / "log.csv"
    path.write_text("# exported by the gateway\n" + request_log(n=20).to_csv(index=False))
    result = CliRunner().invoke(main, ["inspect", str(path)])
    assert result.exit_code == 3, result.output
    assert "comment line above the header" in result.output and "Warning" not in result.output


def test_empty_fields_past_the_header_still_read(tmp_path):
    # A trailing separator on every data line (no value past the header) reads as before.
    path = tmp_path / "log.csv"
    path.write_text("timestamp,input_tokens\n2024-05-10T10:00:00Z,5,\n2024-05-10T10:00:01Z,6,\n")
    assert read_table(path).to_dict("list") == {"timestamp": ["2024-05-10T10:00:00Z", "2024-05-10T10:00:01Z"],
                                               "input_tokens": [5, 6]}


def test_utf16_text_is_named_with_the_fix(tmp_path):
    # Excel's 'Unicode Text' (UTF-16, tab-separated) was "line 1 holds a NUL byte ... (a binary or truncated file?)".
    path = tmp_path / "log.txt"
    path.write_text(request_log(n=20).to_csv(index=False, sep="\t"), encoding="utf-16")
    with pytest.raises(WorkloadDataError, match=r"is UTF-16 text .*iconv -f UTF-16 -t UTF-8 log.txt"):
        read_table(path)


@pytest.mark.parametrize("indexed", [["timestamp"], ["timestamp", "service"]])
def test_a_parquet_file_saved_with_its_timestamps_as_the_index_reads_them(tmp_path, indexed):
    # df.set_index("timestamp").to_parquet(...) read back with the timestamps as the index: "no timestamp column
    # found (columns: ['input_tokens', 'output_tokens'])".
    pytest.importorskip("pyarrow")
    log = request_log().assign(timestamp=lambda f: pd.to_datetime(f["timestamp"]), service="chat")
    path = tmp_path / "log.parquet"
    log.set_index(indexed).to_parquet(path)
    trace = read_trace(path, freq="10s", targets=TARGETS)
    pd.testing.assert_frame_equal(trace.series, expected(tmp_path, log.drop(columns="service")))
    log.to_parquet(path)  # a plain frame's RangeIndex is no column
    assert list(read_table(path).columns) == list(log.columns)


@pytest.mark.parametrize("name, content", [("log.csv", b""), ("log.csv", b"\n \n\n"),
                                           ("log.csv.gz", gzip.compress(b"", mtime=0)), ("log.txt", b"\r\n")],
                         ids=["empty", "blank-lines", "empty-gzip", "crlf"])
def test_an_empty_file_is_named_empty(tmp_path, name, content):
    # It was "cannot read it as csv (No columns to parse from file)", and "as gz" for log.csv.gz.
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(WorkloadDataError, match=r"the file is empty \(no header line\)"):
        read_table(path)


def test_a_parse_error_names_the_format_of_a_gzipped_file(tmp_path):
    path = tmp_path / "log.jsonl.gz"
    path.write_bytes(gzip.compress(b'{"timestamp": 1\n'))
    with pytest.raises(WorkloadDataError, match=r"cannot read it as JSON Lines \("):
        read_table(path)


@pytest.mark.parametrize("suffix", [".jsonl", ".json"])
def test_openai_responses_with_nested_usage_are_read(tmp_path, suffix):
    # OpenAI's responses time a request by 'created' (epoch seconds) and nest its tokens under 'usage': "no
    # timestamp column found (columns: ['id', 'created', 'usage'])", and with --timestamp-col created, no tokens.
    log = request_log()
    created = (pd.to_datetime(log["timestamp"]) - pd.Timestamp("1970-01-01", tz="UTC")) // pd.Timedelta("1s")
    responses = pd.DataFrame({"id": [f"chatcmpl-{i}" for i in range(len(log))], "created": created,
                              "usage": [{"prompt_tokens": int(i), "completion_tokens": int(o), "total_tokens": int(i + o)}
                                        for i, o in zip(log["input_tokens"], log["output_tokens"])]})
    path = tmp_path / f"responses{suffix}"
    responses.to_json(path, orient="records", lines=suffix == ".jsonl")
    trace = read_trace(path, freq="10s", targets=TARGETS)
    assert trace.timestamp_column == "created"
    whole_seconds = log.assign(timestamp=pd.to_datetime(log["timestamp"]).dt.floor("1s"))
    pd.testing.assert_frame_equal(trace.series, expected(tmp_path, whole_seconds))
