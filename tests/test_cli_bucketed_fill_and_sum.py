"""A bucketed file as exporters write it: without its empty buckets (an SQL GROUP BY leaves them out), at a width
finer than the one to forecast at, and with --keep-partial, which a bucketed file read whole has no use for.

- ``--fill-missing`` adds the missing buckets as zeros, as a request log's empty buckets are, and the ``trace`` line
  counts them; a gap that would make more than ``MAX_FILLED_BUCKETS`` buckets is refused before any is made.
- ``--freq`` a whole multiple of the file's width sums its buckets (exact), the partial ones at its ends dropped
  unless ``--keep-partial``; another ``--freq`` is refused as before.
- ``--keep-partial`` on a bucketed file read at its own width is a usage error (exit 2), as ``--fill-missing`` on a
  request log is.
"""

from __future__ import annotations

import re
import tracemalloc

import pandas as pd
import pytest
from click.testing import CliRunner

from workload_predictor import bucketize
from workload_predictor.cli import main
from workload_predictor.datasets import azure_llm_trace
from workload_predictor.errors import WorkloadDataError
from workload_predictor.readers import MAX_FILLED_BUCKETS, read_trace

EXIT_USAGE, EXIT_DATA = 2, 3
_TIMINGS = re.compile(r"fit [\d.]+ s, predict [\d.]+ ms")


def _run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, [*map(str, args)])
    return result.exit_code, result.output


_EVALUATE_TIMINGS = re.compile(r"( +[\d.]+){2}$")


def _forecast_part(output: str) -> list[str]:
    """The lines after the ``trace`` line without their timings: forecast's last bucket, model line and table;
    evaluate's table without its last two columns (fit_s, predict_ms)."""
    lines = output.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("trace"))
    timed = _EVALUATE_TIMINGS if "fit_s  predict_ms" in output else _TIMINGS
    return [timed.sub("", line) for line in lines[start + 1:]]


def _trace_line(output: str) -> str:
    return next(line for line in output.splitlines() if line.startswith("trace"))


@pytest.fixture(scope="module")
def seconds() -> pd.DataFrame:
    """The bundled conv trace in 1 s buckets (many empty), its first 1,200."""
    return bucketize(azure_llm_trace("conv"), freq="1s").iloc[:1200].reset_index(drop=True)


def test_fill_missing_forecasts_a_file_without_its_empty_buckets_as_the_file_with_them(tmp_path, seconds):
    whole = tmp_path / "whole.csv"
    seconds.to_csv(whole, index=False)
    empty = seconds["requests"].to_numpy() == 0
    assert empty.sum() >= 5 and not empty[0] and not empty[-1]
    export = tmp_path / "export.csv"
    seconds[~empty].to_csv(export, index=False)  # one row per busy second, as a GROUP BY writes it

    code, output = _run("forecast", export, "--model", "dlinear", "-q")
    assert code == EXIT_DATA, output
    assert "add them to it as rows of 0 (of one series, without --by, --fill-missing adds them)." in output, output

    for command in (["forecast", "--model", "dlinear"], ["evaluate", "--models", "dlinear", "--baselines", "naive",
                                                         "--horizon", "3"]):
        runs = {}
        for name, path, flags in (("whole", whole, []), ("filled", export, ["--fill-missing"])):
            code, output = _run(command[0], path, *command[1:], "-q", *flags)
            assert code == 0, output
            runs[name] = output
        assert _trace_line(runs["filled"]).startswith(
            f"trace   export.csv (bucketed series, {(~empty).sum():,} rows) -> {len(seconds):,} buckets of 1 s "
            f"({int(empty.sum())} missing buckets zero-filled), "), runs["filled"]
        assert "zero-filled" not in runs["whole"]
        assert _forecast_part(runs["filled"]) == _forecast_part(runs["whole"])


def test_fill_missing_refuses_a_gap_past_its_bound_before_making_a_bucket(tmp_path):
    """Two stretches of 1 s buckets 3 years apart would be 94.7 million rows: refused, naming the bound; the bound is
    exact (a span of ``max_buckets`` buckets is filled, one more is refused)."""
    stamps = [*pd.date_range("2020-01-01", periods=50, freq="1s", tz="UTC"),
              *pd.date_range("2023-01-01", periods=50, freq="1s", tz="UTC")]
    path = tmp_path / "years.csv"
    pd.DataFrame({"timestamp": [s.isoformat() for s in stamps], "requests": 1}).to_csv(path, index=False)
    count = (stamps[-1] - stamps[0]) // pd.Timedelta("1s") + 1
    assert count > MAX_FILLED_BUCKETS
    code, output = _run("forecast", path, "--fill-missing", "--model", "naive", "-q")
    assert code == EXIT_DATA, output
    assert (f"filling its missing buckets would make {count:,} buckets of 1s" in output
            and f"over the limit of {MAX_FILLED_BUCKETS:,} buckets" in output), output
    tracemalloc.start()
    try:
        with pytest.raises(WorkloadDataError, match="over the limit"):
            read_trace(path, fill_missing=True)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 8 * count / 10, f"{peak:,} bytes traced: the buckets were made before the bound was checked"

    short = tmp_path / "short.csv"
    pd.DataFrame({"timestamp": ["2024-01-01T00:00:00Z", "2024-01-01T00:00:01Z", "2024-01-01T00:00:20Z"],
                  "requests": [3, 4, 5]}).to_csv(short, index=False)
    filled = read_trace(short, fill_missing=True, max_buckets=21)
    assert filled.series["requests"].tolist() == [3, 4, *[0] * 18, 5] and filled.filled == 18
    with pytest.raises(WorkloadDataError, match=r"would make 21 buckets of 1s \(it spans 20s .* over the limit of 20 "):
        read_trace(short, fill_missing=True, max_buckets=20)


def test_fill_missing_refuses_a_step_that_is_no_whole_number_of_buckets(tmp_path):
    """Buckets of 10 s, one row 5 s late: no filling makes that grid; the message names the step and what was given
    (the fit's would advise --fill-missing, given already)."""
    stamps = pd.date_range("2024-01-01", periods=60, freq="10s", tz="UTC").tolist()
    stamps[30:] = [s + pd.Timedelta("5s") for s in stamps[30:]]
    path = tmp_path / "late.csv"
    pd.DataFrame({"timestamp": [s.isoformat() for s in stamps], "requests": 4}).drop(index=[10, 11]).to_csv(
        path, index=False)
    code, output = _run("forecast", path, "--fill-missing", "--model", "naive", "-q")
    assert code == EXIT_DATA, output
    assert ("--fill-missing adds whole buckets of 10s (its width), and 2024-01-01 00:04:50Z -> 2024-01-01 00:05:05Z "
            "is 15s (1 such step), no whole number of them" in output), output


def test_fill_missing_on_a_request_log_or_with_by_is_a_usage_error(tmp_path, seconds):
    log = tmp_path / "log.csv"
    azure_llm_trace("conv").iloc[:3000].to_csv(log, index=False)
    code, output = _run("forecast", log, "--freq", "10s", "--fill-missing", "--model", "naive", "-q")
    assert code == EXIT_USAGE and "is a request log, whose empty buckets are zeros already" in output, output
    fleet = tmp_path / "fleet.csv"
    seconds.assign(svc="a").to_csv(fleet, index=False)
    code, output = _run("forecast", fleet, "--by", "svc", "--fill-missing", "--model", "naive", "-q")
    assert code == EXIT_USAGE and "--fill-missing is not supported with --by" in output, output


def _summed_by_hand(seconds: pd.DataFrame, width: str, keep_partial: bool) -> pd.DataFrame:
    """``seconds`` summed per ``width`` by pandas' resample (buckets from the epoch), the ends dropped where the
    seconds do not cover them whole."""
    frame = seconds.set_index("timestamp")
    summed = frame.resample(width, origin="epoch").sum()
    counts = frame["requests"].resample(width, origin="epoch").count()
    if not keep_partial:
        whole = pd.Timedelta(width) // pd.Timedelta("1s")
        summed = summed[(counts == whole) | ((counts.index > counts.index[0]) & (counts.index < counts.index[-1]))]
    return summed.reset_index()


@pytest.mark.parametrize("width", ["10s", "7s", "30s"])
@pytest.mark.parametrize("keep_partial", [False, True])
def test_a_freq_that_is_a_whole_multiple_of_the_files_width_sums_its_buckets(tmp_path, seconds, width, keep_partial):
    part = seconds.iloc[3:-4].reset_index(drop=True)  # starting and ending inside a wider bucket
    path = tmp_path / "seconds.csv"
    part.to_csv(path, index=False)
    expected = _summed_by_hand(part, width, keep_partial)
    trace = read_trace(path, freq=width, keep_partial=keep_partial)
    pd.testing.assert_frame_equal(trace.series, expected, check_dtype=False)
    assert trace.partial_dropped == (0 if keep_partial else 2)

    by_hand = tmp_path / "by_hand.csv"
    expected.to_csv(by_hand, index=False)
    flags = ["--keep-partial"] if keep_partial else []
    code, summed = _run("forecast", path, "--freq", width, "--model", "dlinear", "--horizon", "3", "-q", *flags)
    assert code == 0, summed
    dropped = "" if keep_partial else ", 2 partial buckets at its ends dropped"
    assert f"buckets of {width[:-1]} s (summed from its 1 s buckets{dropped})" \
        in _trace_line(summed), summed
    code, direct = _run("forecast", by_hand, "--model", "dlinear", "--horizon", "3", "-q")
    assert code == 0, direct
    assert _forecast_part(summed) == _forecast_part(direct)


def test_a_freq_that_is_no_whole_multiple_or_over_missing_buckets_is_refused(tmp_path, seconds):
    tens = bucketize(azure_llm_trace("conv"), freq="10s").iloc[:200]
    path = tmp_path / "tens.csv"
    tens.to_csv(path, index=False)
    code, output = _run("forecast", path, "--freq", "15s", "--model", "naive", "-q")
    assert code == EXIT_DATA and "a bucketed series at 10s, not --freq 15s; drop --freq, pass a whole multiple of " \
        "10s" in output, output
    gappy = tmp_path / "gappy.csv"
    seconds[seconds["requests"] > 0].to_csv(gappy, index=False)
    code, output = _run("forecast", gappy, "--freq", "10s", "--model", "naive", "-q")
    assert code == EXIT_DATA and "needs every bucket" in output and "pass --fill-missing" in output, output
    code, output = _run("forecast", gappy, "--freq", "10s", "--fill-missing", "--model", "naive", "-q")
    assert code == 0, output
    full = tmp_path / "full.csv"
    seconds.to_csv(full, index=False)
    code, whole = _run("forecast", full, "--freq", "10s", "--model", "naive", "-q")
    assert code == 0, whole
    assert _forecast_part(output) == _forecast_part(whole)


@pytest.mark.parametrize("command", [["forecast", "--model", "naive"],
                                     ["evaluate", "--models", "naive", "--baselines", "moving_average"],
                                     ["inspect"],
                                     ["forecast", "--by", "svc", "--model", "naive"]])
def test_keep_partial_on_a_bucketed_file_read_whole_is_a_usage_error(tmp_path, seconds, command):
    path = tmp_path / "seconds.csv"
    seconds.assign(svc="a").to_csv(path, index=False)
    code, output = _run(command[0], path, *command[1:], "--keep-partial")
    assert code == EXIT_USAGE, output
    assert "seconds.csv is a bucketed series, read whole" in output and "drop --keep-partial" in output, output
    code, output = _run(command[0], path, *command[1:])
    assert code == 0, output
