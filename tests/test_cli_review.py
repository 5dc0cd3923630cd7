"""The command line as a demanding user and an SRE wiring it into cron meet it (review h96): fleet keys as the
file spells them, evaluate's roles as the options give them, messages that name the problem and cut what the user
typed short, and output files named as the user named them."""

from __future__ import annotations

import gzip
import json
import os
import re

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from workload_predictor.cli import EXIT_DATA, EXIT_USAGE, main


def _log(n: int = 400, seed: int = 0, span: float = 300.0) -> pd.DataFrame:
    """A request log of ``n`` requests over ``span`` seconds (ISO timestamps in UTC, token columns)."""
    rng = np.random.default_rng(seed)
    stamps = pd.Timestamp("2024-05-10", tz="UTC") + pd.to_timedelta(np.sort(rng.uniform(0, span, n)), unit="s")
    return pd.DataFrame({"timestamp": stamps.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
                         "input_tokens": rng.integers(1, 500, n), "output_tokens": rng.integers(1, 200, n)})


def _run(args: list[str]):
    return CliRunner().invoke(main, [str(a) for a in args])


def _series(n: int = 120, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    stamps = pd.date_range("2024-05-10", periods=n, freq="10s", tz="UTC").strftime("%Y-%m-%dT%H:%M:%SZ")
    return pd.DataFrame({"timestamp": stamps, "requests": rng.poisson(20, n)})


# -- fleets: keys as the file spells them ------------------------------------------------------------------------
def test_by_keeps_csv_keys_as_written_zero_padded_ids_apart(tmp_path):
    """Before: pandas read the key column of a CSV as numbers, so tenants 001, 01 and 1 were one key (1, their
    requests summed without a word) and 007 was printed and written as 7."""
    path = tmp_path / "fleet.csv"
    keys = ["001", "01", "1", "007"]
    pd.concat([_log(200, seed=i).assign(tenant=key) for i, key in enumerate(keys)]).to_csv(path, index=False)
    out = tmp_path / "fc.csv"
    result = _run(["forecast", path, "--freq", "10s", "--by", "tenant", "--model", "naive", "--horizon", "1",
                   "--out", out])
    assert result.exit_code == 0, result.output
    assert "4 keys by 'tenant'" in result.output, result.output
    written = pd.read_csv(out, dtype={"tenant": str})["tenant"]
    assert sorted(written) == sorted(keys), written.tolist()


@pytest.mark.parametrize("key", ["NA", "None", "null", "nan", "N/A"])
def test_by_reads_a_key_that_pandas_would_call_missing_as_that_key(tmp_path, key):
    """Before: a region column holding NA (North America) was read as missing: every run exited 3 with "key column
    'region' is missing at data row ..."."""
    path = tmp_path / "fleet.csv"
    pd.concat([_log(200, seed=0).assign(region="EU"), _log(200, seed=1).assign(region=key)]).to_csv(path, index=False)
    result = _run(["forecast", path, "--freq", "10s", "--by", "region", "--model", "naive", "--horizon", "1"])
    assert result.exit_code == 0, result.output
    assert "2 keys by 'region', 2 fitted" in result.output, result.output
    assert any(line.split()[:1] == [key] for line in result.output.splitlines()), result.output


def test_by_prints_a_long_key_cut_short_and_writes_it_whole(tmp_path):
    """Before: a 300-character key was printed whole on every row of the table (and of evaluate's)."""
    long_key = "k" * 300
    path = tmp_path / "fleet.csv"
    series = [_series(seed=0).assign(service=long_key), _series(seed=1).assign(service="short")]
    pd.concat(series).to_csv(path, index=False)
    out = tmp_path / "fc.csv"
    result = _run(["forecast", path, "--by", "service", "--model", "naive", "--horizon", "2", "--out", out])
    assert result.exit_code == 0, result.output
    assert long_key not in result.output and max(map(len, result.output.splitlines())) < 200, result.output
    assert long_key in pd.read_csv(out)["service"].tolist()
    result = _run(["evaluate", path, "--by", "service", "--models", "naive", "--baselines", "moving_average",
                   "--horizon", "2", "--test-size", "10"])
    assert result.exit_code == 0, result.output
    assert long_key not in result.output and max(map(len, result.output.splitlines())) < 200, result.output


def test_by_prints_a_key_with_a_line_break_on_one_line(tmp_path):
    """Before: the confidence line's "lowest 0.77 (new" and "line)" were two lines (and so were a skipped key's)."""
    path = tmp_path / "fleet.csv"
    _series().assign(service="new\nline").to_csv(path, index=False)
    result = _run(["forecast", path, "--by", "service", "--model", "naive", "--horizon", "1"])
    assert result.exit_code == 0, result.output
    level = next(line for line in result.output.splitlines() if line.startswith("level "))
    assert level.endswith("(new\\nline)"), result.output


def test_by_names_rows_without_a_key_as_data_rows_and_counts_only_keys(tmp_path):
    """Before: "4 keys by 'svc', 2 fitted, 2 skipped" for a file of 3 keys (the rows without a key counted as one),
    and those rows' first named "row 161 of that key", a data row of the file."""
    frames = [_series(100, seed=i).assign(svc=key) for i, key in enumerate("abc")]
    frame = pd.concat(frames, ignore_index=True).astype({"svc": object})
    frame.loc[160, "svc"] = None  # data row 161, of key b
    path = tmp_path / "fleet.csv"
    frame.to_csv(path, index=False)
    result = _run(["forecast", path, "--by", "svc", "--model", "naive", "--horizon", "1"])
    assert result.exit_code == 0, result.output
    assert "3 keys by 'svc'" in result.output, result.output
    line = next(line for line in result.output.splitlines() if "is missing" in line)
    assert "data row 161" in line and "of that key" not in line, line


def test_by_with_one_key_says_key_not_keys(tmp_path):
    path = tmp_path / "fleet.csv"
    _series().assign(service="only").to_csv(path, index=False)
    result = _run(["forecast", path, "--by", "service", "--model", "naive", "--horizon", "1"])
    assert result.exit_code == 0, result.output
    assert "1 key by 'service', 1 fitted" in result.output, result.output
    result = _run(["evaluate", path, "--by", "service", "--models", "naive", "--baselines", "moving_average",
                   "--horizon", "1", "--test-size", "5"])
    assert result.exit_code == 0, result.output
    assert "1 key backtested" in result.output, result.output

def _fleet_log(path, keys=("a", "b", "c")):
    frame = pd.concat([_log(300, seed=i, span=900).assign(svc=key) for i, key in enumerate(keys)], ignore_index=True)
    return frame.astype({"svc": object, "input_tokens": object, "output_tokens": object})


@pytest.mark.parametrize("command", ["forecast", "evaluate"])
def test_a_request_logs_key_with_a_broken_token_count_is_skipped_not_the_fleet(tmp_path, command):
    """Before: one tenant's negative token count (data row 303, key b's 3rd) ended the whole run with exit 3, where
    a bucketed fleet file skips that key."""
    frame = _fleet_log(tmp_path)
    frame.loc[302, "input_tokens"] = -3
    path = tmp_path / "fleet.csv"
    frame.to_csv(path, index=False)
    extra = (["--models", "naive", "--baselines", "moving_average", "--test-size", "10"] if command == "evaluate"
             else ["--model", "naive"])
    result = _run([command, path, "--freq", "10s", "--by", "svc", "--horizon", "1", "--target", "input_tokens",
                   *extra])
    assert result.exit_code == 0, result.output
    skipped = [line for line in result.output.splitlines() if line.startswith("skipped ")]
    assert len(skipped) == 1 and skipped[0].startswith("skipped b: ") and "data row 303" in skipped[0], skipped
    assert "-3" in skipped[0]
    keys = {line.split()[0] for line in result.output.splitlines()[3:] if line.split()[:1] in (["a"], ["b"], ["c"])}
    assert keys == {"a", "c"}, result.output


def test_a_request_logs_rows_without_a_key_are_left_out_as_a_bucketed_fleets_are(tmp_path):
    """Before: "key column 'svc' is missing at data row 5": exit 3 for the whole fleet."""
    frame = _fleet_log(tmp_path)
    frame.loc[[4, 650], "svc"] = None
    path = tmp_path / "fleet.csv"
    frame.to_csv(path, index=False)
    result = _run(["forecast", path, "--freq", "10s", "--by", "svc", "--model", "naive", "--horizon", "1"])
    assert result.exit_code == 0, result.output
    assert "3 keys by 'svc', 3 fitted, 0 skipped" in result.output, result.output
    line = next(line for line in result.output.splitlines() if line.startswith("skipped "))
    assert line.startswith("skipped rows without a key: ") and "2 rows (the first: data row 5)" in line, line


def test_a_request_logs_token_column_no_target_needs_is_not_checked_in_a_fleet(tmp_path):
    """As for one series (test_a_column_not_forecast_is_not_checked_for_counts): before, "ERR" in output_tokens
    ended a --by run forecasting requests with exit 3."""
    frame = _fleet_log(tmp_path)
    frame.loc[10, "output_tokens"] = "ERR"
    path = tmp_path / "fleet.csv"
    frame.to_csv(path, index=False)
    result = _run(["forecast", path, "--freq", "10s", "--by", "svc", "--model", "naive", "--horizon", "1"])
    assert result.exit_code == 0, result.output
    assert "3 keys by 'svc', 3 fitted, 0 skipped" in result.output, result.output
    result = _run(["forecast", path, "--freq", "10s", "--by", "svc", "--model", "naive", "--horizon", "1",
                   "--target", "output_tokens"])
    assert result.exit_code == 0, result.output
    assert "skipped a: " in result.output and "'ERR'" in result.output, result.output


# -- reading TRACE ---------------------------------------------------------------------------------------------
def test_a_trace_that_is_a_pipe_is_named_as_no_regular_file(tmp_path):
    """Before: ``forecast <(zcat log.csv.gz)`` (a pipe, /dev/fd/63) said "no such file."."""
    if not hasattr(os, "mkfifo"):
        pytest.skip("no named pipes on this platform")
    fifo = tmp_path / "pipe.csv"
    os.mkfifo(fifo)
    result = _run(["inspect", fifo])
    assert result.exit_code == EXIT_DATA, result.output
    assert "no such file" not in result.output and "not a regular file" in result.output, result.output


@pytest.mark.parametrize("command", ["forecast", "evaluate"])
def test_a_token_target_a_request_log_lacks_names_the_logs_columns(tmp_path, command):
    """Before: "log.csv has no input_tokens (it has requests)", the bucketed series' one column, where the file's
    columns (prompt_len) are what --input-col would name."""
    path = tmp_path / "log.csv"
    _log().rename(columns={"input_tokens": "prompt_len", "output_tokens": "gen_len"}).to_csv(path, index=False)
    extra = ["--models", "naive", "--baselines", "moving_average"] if command == "evaluate" else ["--model", "naive"]
    result = _run([command, path, "--freq", "10s", "--target", "input_tokens", *extra])
    assert result.exit_code == EXIT_DATA, result.output
    assert "it has requests" not in result.output, result.output
    assert "'prompt_len'" in result.output and "--input-col" in result.output, result.output

@pytest.mark.parametrize("command", ["forecast", "inspect", "forecast --by"])
def test_json_lines_epochs_written_as_strings_are_read_as_epochs(tmp_path, command):
    """Before: {"created": "1715299201234"} (a logger that quotes its numbers) was refused even with --unit ms, with
    advice to call pd.to_numeric; a CSV file of the same text was read."""
    log = _log(300)
    epochs = (pd.to_datetime(log["timestamp"]) - pd.Timestamp("1970-01-01", tz="UTC")) // pd.Timedelta(1, "ms")
    path = tmp_path / "log.jsonl"
    log.assign(timestamp=epochs.astype(str), svc="a").to_json(path, orient="records", lines=True)
    assert '"timestamp":"17' in path.read_text()[:40]
    args = {"forecast": ["forecast", path, "--freq", "10s", "--model", "naive", "--horizon", "1"],
            "inspect": ["inspect", path, "--json"],
            "forecast --by": ["forecast", path, "--freq", "10s", "--model", "naive", "--horizon", "1", "--by", "svc"]}
    result = _run([*args[command], "--unit", "ms"])
    assert result.exit_code == 0, result.output
    first = log["timestamp"].iloc[0][:23] + "Z"  # to the millisecond
    if command == "inspect":
        assert json.loads(result.output)["first"] == first, result.output
    else:
        assert "2024-05-10 00:04:50Z" in result.output, result.output


def test_a_column_of_epochs_and_dates_is_refused_in_the_command_lines_words(tmp_path):
    path = tmp_path / "log.csv"
    log = _log(60)
    log.loc[1, "timestamp"] = "1715299207"
    log.to_csv(path, index=False)
    result = _run(["forecast", path, "--freq", "10s", "--model", "naive"])
    assert result.exit_code == EXIT_DATA, result.output
    assert "pd.to_numeric" not in result.output and "data row 2" in result.output, result.output


def test_inspect_of_one_request_says_its_span_is_0_s(tmp_path):
    """Before: "span 0 us", as if the unit were the point."""
    path = tmp_path / "one.csv"
    _log(1).to_csv(path, index=False)
    result = _run(["inspect", path])
    assert result.exit_code == 0, result.output
    assert [line.split(None, 1)[1] for line in result.output.splitlines() if line.startswith("span ")] == ["0 s"]


# -- evaluate: the roles the options give ------------------------------------------------------------------------
def test_evaluate_compares_the_models_named_with_the_baselines_named(tmp_path):
    """Before: the roles came from the registry: --models naive --baselines dlinear printed "dlinear MAE ... vs best
    baseline naive" (the user's baseline judged against the user's model), and --json called naive a baseline."""
    path = tmp_path / "series.csv"
    _series(200).to_csv(path, index=False)
    scores = tmp_path / "scores.json"
    result = _run(["evaluate", path, "--models", "naive", "--baselines", "moving_average", "--horizon", "2",
                   "--test-size", "20", "--json", scores])
    assert result.exit_code == 0, result.output
    verdicts = [line for line in result.output.splitlines() if "vs best baseline" in line]
    assert len(verdicts) == 1 and verdicts[0].startswith("naive MAE") and "moving_average" in verdicts[0], verdicts
    kinds = {row["model"]: row["kind"] for row in json.loads(scores.read_text())}
    assert kinds == {"naive": "model", "moving_average": "baseline"}, kinds

# -- output paths and messages -----------------------------------------------------------------------------------
@pytest.mark.parametrize("option", ["--out", "--requests", "--model-file"])
def test_an_output_name_too_long_for_the_file_system_is_a_usage_error_quoted_short(tmp_path, option):
    """Before: exit 3 with the OSError's 5,000-character "[Errno 36] File name too long: 'xxx...'"."""
    trace = tmp_path / "series.csv"
    _series().to_csv(trace, index=False)
    name = tmp_path / ("x" * 5000 + ".csv")
    result = _run(["forecast", trace, "--model", "naive", "--horizon", "1", option, name])
    assert result.exit_code == EXIT_USAGE, result.output
    assert "x" * 300 not in result.output and "Traceback" not in result.output, result.output[:300]
    assert "too long" in result.output, result.output[:500]


@pytest.mark.parametrize("args", [["forecast", "{long}.csv"], ["forecast", "{trace}", "--model", "{long}"],
                                  ["forecast", "{trace}", "--horizon", "{long}"],
                                  ["evaluate", "{trace}", "--target", "{long}"]])
def test_click_s_own_usage_errors_quote_a_huge_value_cut_short(tmp_path, args):
    """Before: click's "Invalid value for 'TRACE': File 'xxx...' does not exist." quoted all 5,000 characters."""
    trace = tmp_path / "series.csv"
    _series().to_csv(trace, index=False)
    result = _run([a.format(long="y" * 5000, trace=trace) for a in args])
    assert result.exit_code == EXIT_USAGE, result.output
    assert "y" * 300 not in result.output and re.search(r"\.\.\. \(5,00\d characters\)", result.output), result.output[:400]

def test_a_requests_file_ending_in_upper_case_gz_names_itself_in_its_gzip_header(tmp_path):
    """Before: ``--requests future.csv.GZ`` was gzipped by pandas (which reads the suffix in any case), its header
    naming the temporary file the write renames (``.future.csv.GZ.tmp-123-...``)."""
    trace = tmp_path / "series.csv"
    _series().to_csv(trace, index=False)
    target = tmp_path / "future.csv.GZ"
    result = _run(["forecast", trace, "--model", "naive", "--horizon", "2", "--requests", target])
    assert result.exit_code == 0, result.output
    raw = target.read_bytes()
    assert raw[:2] == b"\x1f\x8b" and raw[3] & 0x08, raw[:16]  # gzip, with a file name (FNAME)
    name = raw[10:raw.index(b"\0", 10)].decode()
    assert name == "future.csv", name
    with gzip.open(target, "rt") as stream:
        assert stream.readline().strip() == "arrival_time_ns"


def test_an_output_name_of_140_characters_is_written(tmp_path):
    """Before: the checks before the fit passed it, then the write's temporary file, named ``.NAME.tmp-...-NAME``
    (the name twice, 300 bytes), was over the file system's 255: exit 3 after the fit with "[Errno 36] File name too
    long" (the error of the temporary's clean-up, hiding the write's own)."""
    trace = tmp_path / "series.csv"
    _series().to_csv(trace, index=False)
    out = tmp_path / ("o" * 140 + ".csv")
    result = _run(["forecast", trace, "--model", "naive", "--horizon", "2", "--out", out])
    assert result.exit_code == 0, result.output
    assert len(pd.read_csv(out)) == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([trace.name, out.name])


# -- the printed forecast ----------------------------------------------------------------------------------------
def test_the_last_line_prints_a_buckets_token_sum_with_every_digit(tmp_path):
    """Before: ``:g`` printed the last bucket's 2,344,002 input tokens as 2.344e+06 and 499,098.5 output tokens as
    499098."""
    path = tmp_path / "tokens.csv"
    frame = _series(60).assign(input_tokens=2_000_000, output_tokens=400_000.0)
    frame.loc[59, ["input_tokens", "output_tokens"]] = [2_344_002, 499_098.5]
    frame.to_csv(path, index=False)
    result = _run(["forecast", path, "--model", "naive", "--horizon", "1", "--target", "requests", "--target",
                   "input_tokens", "--target", "output_tokens"])
    assert result.exit_code == 0, result.output
    last = next(line for line in result.output.splitlines() if line.startswith("last "))
    assert last.endswith(f"requests={frame['requests'].iloc[-1]}, input_tokens=2344002, output_tokens=499098.5"), last


# -- option values: a wrong one is the command's error (exit 2), not the data's ------------------------------------
@pytest.mark.parametrize("command", ["forecast", "evaluate", "inspect"])
@pytest.mark.parametrize("freq, says", [("abc", "'abc' is not a duration"), ("60", "'60' has no unit"),
                                        ("0s", "'0s' must be a positive duration")])
def test_a_freq_that_is_no_bucket_width_is_a_usage_error(tmp_path, command, freq, says):
    """Before: exit 3 ("bad input data") for a value of an option, where every other option's bad value (--horizon
    0, --level 1.5, --unit xyz) exits 2."""
    path = tmp_path / "log.csv"
    _log().to_csv(path, index=False)
    result = _run([command, path, "--freq", freq])
    assert result.exit_code == EXIT_USAGE, result.output
    assert f"Invalid value for '--freq': {says}" in result.output, result.output


def test_evaluate_of_one_baseline_as_the_model_scores_it_against_the_other_default_baselines(tmp_path):
    """Before: --models naive alone was refused ("'naive' is in both --models and --baselines"), naive being one of
    the default baselines the user did not name."""
    path = tmp_path / "series.csv"
    _series(200).to_csv(path, index=False)
    result = _run(["evaluate", path, "--models", "naive", "--horizon", "3", "--json", tmp_path / "scores.json"])
    assert result.exit_code == 0, result.output
    rows = json.loads((tmp_path / "scores.json").read_text())
    rows = rows["scores"] if isinstance(rows, dict) else rows
    kinds = {row["model"]: row["kind"] for row in rows}
    assert kinds == {"naive": "model", "seasonal_naive": "baseline", "moving_average": "baseline",
                     "moving_median": "baseline"}, kinds
    assert re.search(r"naive MAE [\d.]+ vs best baseline \w+ [\d.]+: [+-][\d.]+%", result.output), result.output
    named = _run(["evaluate", path, "--models", "naive", "--baselines", "naive,moving_average", "--horizon", "3"])
    assert named.exit_code == EXIT_USAGE and "'naive' is in both --models and --baselines" in named.output


def test_a_skipped_keys_reason_is_printed_with_its_fix(tmp_path):
    """Before: cut at 200 characters, an irregular key's reason lost its fix ("... Pass the raw request log with
    --freq instead: it is bucketed with empty b...")."""
    path = tmp_path / "fleet.csv"
    irregular = _series(120, seed=1).drop(index=[50, 51, 90])
    pd.concat([_series(120).assign(svc="ok"), irregular.assign(svc="gappy")]).to_csv(path, index=False)
    result = _run(["forecast", path, "--by", "svc", "--model", "naive", "--horizon", "2"])
    assert result.exit_code == 0, result.output
    line = next(line for line in result.output.splitlines() if line.startswith("skipped gappy"))
    assert line.rstrip().endswith("with empty buckets as zeros; or, where the file leaves out its empty buckets, add "
                                  "them to it as rows of 0 (of one series, without --by, --fill-missing adds "
                                  "them)."), line


def test_a_log_read_in_the_wrong_unit_is_told_to_check_unit_not_only_freq(tmp_path):
    """Before: epoch seconds read with --unit ms (an hour of requests within 3.6 s of 1970) were told "pass a smaller
    --freq than 10s, or --keep-partial", which cannot help: now the span's dates and the --unit are named."""
    path = tmp_path / "epochs.csv"
    seconds = 1.7e9 + np.sort(np.random.default_rng(0).uniform(0, 3600, 500)).round(3)
    pd.DataFrame({"TIMESTAMP": seconds, "ContextTokens": 5, "GeneratedTokens": 3}).to_csv(path, index=False)
    result = _run(["forecast", path, "--freq", "10s", "--unit", "ms", "--model", "naive"])
    assert result.exit_code == EXIT_DATA, result.output
    assert "dropped), at 1970-01-20 16:13:20Z;" in result.output and "if its numbers do not count ms, the --unit they count" in (
        result.output), result.output
    inferred = _run(["forecast", path, "--freq", "1h", "--model", "naive"])  # read in s, as their magnitude says
    assert inferred.exit_code == EXIT_DATA and "--unit" not in inferred.output, inferred.output


@pytest.mark.parametrize("suffix, write", [
    (".txt.gz", lambda frame, path: frame.to_csv(path, index=False)),
    (".ndjson.gz", lambda frame, path: frame.to_json(path, orient="records", lines=True)),
    (".json.gz", lambda frame, path: frame.to_json(path, orient="records")),
])
def test_every_text_format_is_read_gzipped_too(tmp_path, suffix, write):
    """Before: .csv.gz, .tsv.gz and .jsonl.gz were read, but .txt.gz, .ndjson.gz and .json.gz were refused as an
    unknown file type (review h96, not fixed there)."""
    from workload_predictor.readers import read_table

    log = _log(50)
    plain, packed = tmp_path / ("log" + suffix.removesuffix(".gz")), tmp_path / ("log" + suffix)
    write(log, plain)
    packed.write_bytes(gzip.compress(plain.read_bytes()))
    pd.testing.assert_frame_equal(read_table(packed), read_table(plain))
    result = _run(["forecast", packed, "--freq", "10s", "--model", "naive", "--horizon", "1", "-q"])
    assert result.exit_code == 0, result.output
