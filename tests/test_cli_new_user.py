"""What a new user met on the command line with logs of their own (review h152): a merged log whose rows are out of
order, a --by column spelled in another case, a bucketed export that skips its empty buckets."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from workload_predictor.cli import EXIT_DATA, main


@pytest.fixture
def runner():
    return CliRunner()


def _merged_log(path, stamps: pd.DatetimeIndex, written) -> None:
    """A request log merged from two servers: the second server's hour of rows follows the first's, so the file
    steps back about an hour where they meet."""
    order = np.r_[np.arange(0, len(stamps), 2), np.arange(1, len(stamps), 2)]
    pd.DataFrame({"timestamp": written(stamps[order]), "input_tokens": 10, "output_tokens": 5}).to_csv(path, index=False)


@pytest.mark.parametrize("written", [
    lambda s: s.tz_convert("Europe/Berlin").map(lambda t: t.isoformat()),  # +02:00
    lambda s: s.strftime("%Y-%m-%dT%H:%M:%SZ"),
    lambda s: (s - pd.Timestamp(0, tz="UTC")) // pd.Timedelta("1ms"),  # epoch milliseconds
], ids=["offset", "z", "epoch_ms"])
def test_inspect_blames_no_clock_change_for_stamps_that_are_instants(runner, tmp_path, written):
    """Before: every log stepping back over half an hour was told "in local time, a clock change repeats an hour:
    give the timestamps their UTC offset", also where every stamp has one or is an epoch (a merged log's order)."""
    stamps = pd.date_range("2024-05-10T00:00:00Z", periods=1800, freq="2s")
    path = tmp_path / "merged.csv"
    _merged_log(path, stamps, written)
    result = runner.invoke(main, ["inspect", str(path), "--freq", "1min"])
    assert result.exit_code == 0, result.output
    line = next(line for line in result.output.splitlines() if line.startswith("rows out of order"))
    assert "the largest step back: 59 min 54 s" in line and "clock change" not in line, line
    report = json.loads(runner.invoke(main, ["inspect", str(path), "--freq", "1min", "--json"]).output)
    assert report["rows_out_of_order"]["without_utc_offset"] is False


def test_inspect_still_blames_a_clock_change_for_naive_stamps_stepping_back(runner, tmp_path):
    stamps = pd.date_range("2024-05-10T00:00:00Z", periods=1800, freq="2s")
    path = tmp_path / "merged.csv"
    _merged_log(path, stamps, lambda s: s.strftime("%Y-%m-%d %H:%M:%S"))
    result = runner.invoke(main, ["inspect", str(path), "--freq", "1min"])
    assert "a clock change repeats an hour: give the timestamps their UTC offset" in result.output, result.output


@pytest.mark.parametrize("given, fix", [
    ("endpoint_name", "pass --by 'Endpoint Name', as the file spells it."),
    ("tenant", "pass --by with the name of the column that tells the series apart, as the file spells it."),
])
def test_a_by_column_the_file_lacks_is_refused_naming_the_fix(runner, tmp_path, given, fix):
    """Before: "log.csv has no column 'endpoint_name' for --by (columns: [...])." and no fix, though the timestamp
    and token columns are matched in any case and spelling and the key column is not."""
    path = tmp_path / "log.csv"
    pd.DataFrame({"Endpoint Name": ["a", "b"] * 50, "timestamp": pd.date_range("2024-05-10", periods=100, freq="1s",
                                                                              tz="UTC")}).to_csv(path, index=False)
    result = runner.invoke(main, ["forecast", str(path), "--freq", "10s", "--by", given])
    assert result.exit_code == EXIT_DATA, result.output
    assert f"has no column {given!r} for --by (columns: ['Endpoint Name', 'timestamp']): {fix}" in result.output


def test_a_bucketed_export_that_leaves_out_its_empty_buckets_is_told_a_fix_without_the_raw_log(runner, tmp_path):
    """An exporter writing one row per busy minute leaves out the empty ones. Before: the only fix named was "Pass the
    raw request log with --freq instead", which a user holding the export alone does not have."""
    stamps = pd.date_range("2024-05-10", periods=300, freq="1min", tz="UTC")
    path = tmp_path / "export.csv"
    pd.DataFrame({"timestamp": stamps, "requests": np.random.default_rng(0).poisson(50, 300)}).drop(
        index=range(100, 110)).to_csv(path, index=False)
    result = runner.invoke(main, ["forecast", str(path), "--model", "naive"])
    assert result.exit_code == EXIT_DATA, result.output
    assert "is 11min, not the bucket width 1min" in result.output
    assert ("where the file leaves out its empty buckets, add them to it as rows of 0 (of one series, without --by, "
            "--fill-missing adds them)." in result.output)
    filled = pd.read_csv(path, parse_dates=["timestamp"]).set_index("timestamp").asfreq("1min", fill_value=0)
    filled.reset_index().to_csv(path, index=False)  # the fix the message names
    assert runner.invoke(main, ["forecast", str(path), "--model", "naive"]).exit_code == 0


def test_consecutive_logs_through_a_model_file_are_told_how_to_keep_the_bucket_they_straddle(runner, tmp_path):
    """An hourly cron run feeds each hour's log to one --model-file; each run drops its log's partial edge buckets,
    so the bucket where two logs meet is zero-filled. Before: "1 missing bucket zero-filled" alone, not why nor how
    to keep it (docs/command-line.md says it)."""
    rng = np.random.default_rng(0)
    stamps = pd.Timestamp("2024-05-10T00:00:00Z") + pd.to_timedelta(np.sort(rng.uniform(0, 1200, 6000)), unit="s")
    log = pd.DataFrame({"timestamp": stamps, "input_tokens": 10, "output_tokens": 5})
    first, second, overlapping = tmp_path / "a.csv", tmp_path / "b.csv", tmp_path / "c.csv"
    log[log["timestamp"] < stamps[0] + pd.Timedelta("10min")].to_csv(first, index=False)
    log[log["timestamp"] >= stamps[0] + pd.Timedelta("10min")].to_csv(second, index=False)
    model_file = tmp_path / "m.wp"
    run = ["--freq", "10s", "--model", "naive", "--horizon", "2", "-q", "--model-file", str(model_file)]
    assert runner.invoke(main, ["forecast", str(first), *run]).exit_code == 0
    result = runner.invoke(main, ["forecast", str(second), *run])
    assert result.exit_code == 0, result.output
    assert ("1 missing bucket zero-filled before this log's buckets (consecutive logs lose the bucket they straddle: "
            "start each log a bucket before the previous one ended); saved)") in result.output
    model_file.unlink()
    assert runner.invoke(main, ["forecast", str(first), *run]).exit_code == 0
    log[log["timestamp"] >= stamps[0] + pd.Timedelta("9min 50s")].to_csv(overlapping, index=False)  # the fix
    result = runner.invoke(main, ["forecast", str(overlapping), *run])
    assert result.exit_code == 0 and "zero-filled" not in result.output, result.output


def _bucketed(path, periods: int = 120):
    stamps = pd.date_range("2024-05-10", periods=periods, freq="1min", tz="UTC")
    pd.DataFrame({"timestamp": stamps, "requests": np.random.default_rng(0).poisson(50, periods)}).to_csv(
        path, index=False)
    return path


@pytest.mark.parametrize("command", [["forecast", "--model", "naive"], ["evaluate", "--models", "naive"]])
def test_a_plot_file_without_a_suffix_is_a_usage_error_naming_the_fix(runner, tmp_path, command):
    """Before: exit 3, "error: Format 'tmp-4242-1a2b3c4d' is not supported (supported formats: ...)", after the
    fit: matplotlib read the temporary file's name as the format."""
    pytest.importorskip("matplotlib")
    trace = _bucketed(tmp_path / "b.csv")
    result = runner.invoke(main, [command[0], str(trace), *command[1:], "--plot", str(tmp_path / "fc")])
    assert result.exit_code == 2, result.output
    assert "the suffix says which image format to write; add one, e.g." in result.output
    assert "fc.png'" in result.output and "tmp-" not in result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b.csv"]


def _into_a_pipe(runner, tmp_path, args: list[str]) -> tuple[list[bytes], object]:
    """Run the command with ``args`` + [the path of a named pipe] while a reader reads the pipe, as ``cat pipe`` or
    an image viewer would: what each opening of the pipe for reading got (a second, where the first got nothing,
    so that a writer opening it after a first writer closed it does not wait for ever), and the result."""
    import os
    import threading

    if not hasattr(os, "mkfifo"):
        pytest.skip("no named pipes on this platform")
    pipe = tmp_path / "pipe"
    os.mkfifo(pipe)
    reads: list[bytes] = []

    def read() -> None:
        while len(reads) < 2 and not (reads and reads[-1]):
            reads.append(pipe.read_bytes())

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    result = runner.invoke(main, [*args, str(pipe)])
    reader.join(5)
    if reader.is_alive():  # nothing opened the pipe again: release the reader
        os.close(os.open(pipe, os.O_WRONLY | os.O_NONBLOCK))
        reader.join(5)
    return reads, result


def test_a_plot_into_a_pipe_is_a_png_in_the_pipe(runner, tmp_path):
    """--plot /dev/stdout (a pipe to an image viewer) is written in place as a PNG. Before: the check of the output
    path opened and closed the pipe (its reader saw the end of its input), and matplotlib, given a path without a
    suffix, wrote a new file beside it (/dev/stdout.png, here pipe.png)."""
    pytest.importorskip("matplotlib")
    trace = _bucketed(tmp_path / "b.csv")
    reads, result = _into_a_pipe(runner, tmp_path, ["forecast", str(trace), "--model", "naive", "-q", "--plot"])
    assert result.exit_code == 0, result.output
    assert reads[0][:8] == b"\x89PNG\r\n\x1a\n", reads
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b.csv", "pipe"]


def test_a_forecast_into_a_pipe_reaches_its_reader(runner, tmp_path):
    """docs/command-line.md: a pipe is written in place. Before: the check of the output path opened and closed the
    pipe, so its reader (cat pipe) read nothing and ended, and the forecast's own write waited for ever for another
    reader."""
    trace = _bucketed(tmp_path / "b.csv")
    reads, result = _into_a_pipe(runner, tmp_path, ["forecast", str(trace), "--model", "naive", "-q", "--out"])
    assert result.exit_code == 0, result.output
    assert reads[0].startswith(b"timestamp,yhat,lower,upper\n"), reads


def test_a_forecast_to_stdout_redirected_to_a_file_is_written_there(runner, tmp_path, capfdbinary):
    """`workload-predictor forecast ... --out /dev/stdout > fc.csv`: /dev/stdout is a link to that file (here to
    pytest's capture file). Before: refused (exit 2, "the suffix says which format to write"), though `| cat >
    fc.csv` was written in place, and the docs say a link is."""
    trace = _bucketed(tmp_path / "b.csv")
    capfdbinary.readouterr()
    result = runner.invoke(main, ["forecast", str(trace), "--model", "naive", "-q", "--out", "/dev/stdout"])
    assert result.exit_code == 0, result.output
    assert b"timestamp,yhat,lower,upper\n2024-05-10T02:00:00Z," in capfdbinary.readouterr().out


@pytest.mark.parametrize("cell", ["", "n/a", "NA"])
@pytest.mark.parametrize("by", [False, True])
def test_an_empty_count_in_a_bucketed_file_is_called_a_missing_value(runner, tmp_path, cell, by):
    """Before: "target column 'requests' holds nan at data row 51 (1 non-finite value); drop or fill them explicitly
    first.": the file holds no "nan" (its reader took the empty cell, or n/a, for one), and inspect calls it a
    missing value."""
    path = _bucketed(tmp_path / "b.csv")
    text = path.read_text().splitlines()
    text[51] = text[51].rsplit(",", 1)[0] + "," + cell  # data row 51
    if by:
        text = [text[0] + ",svc"] + [line + ",a" for line in text[1:]]
    path.write_text("\n".join(text) + "\n")
    result = runner.invoke(main, ["forecast", str(path), "--model", "naive", *(["--by", "svc"] if by else [])])
    assert result.exit_code == EXIT_DATA, result.output
    assert ("target column 'requests' has no value at data row 51 (an empty cell, or a missing-value marker such as "
            "NA, n/a or null; 1 non-finite value in all): fill those cells or drop their rows in the file.") in (
        result.output)
    assert "holds nan" not in result.output
