"""The command line through click's runner, and one real call of the installed script."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from workload_predictor.cli import EXIT_DATA, EXIT_USAGE, main

pytest.importorskip("matplotlib")


def request_log(n: int = 3000, seed: int = 0) -> pd.DataFrame:
    """A request log in the raw Azure format: ~5 requests/s for 10 minutes."""
    rng = np.random.default_rng(seed)
    offsets = np.sort(rng.uniform(0, 600, n))
    stamps = pd.Timestamp("2023-11-16 18:00:00") + pd.to_timedelta(offsets, unit="s")
    return pd.DataFrame({
        "TIMESTAMP": stamps.strftime("%Y-%m-%d %H:%M:%S.%f"),
        "ContextTokens": rng.integers(10, 3000, n),
        "GeneratedTokens": rng.integers(1, 500, n),
    })


@pytest.fixture
def azure_csv(tmp_path):
    path = tmp_path / "trace.csv"
    request_log().to_csv(path, index=False)
    return path


@pytest.fixture
def runner():
    return CliRunner()


def test_every_command_has_complete_help_with_an_example(runner):
    top = runner.invoke(main, ["--help"])
    assert top.exit_code == 0 and "Exit codes" in top.output
    for command in ("forecast", "evaluate", "inspect"):
        result = runner.invoke(main, [command, "--help"])
        assert result.exit_code == 0, result.output
        assert "Examples:" in result.output and f"workload-predictor {command}" in result.output
        assert "--debug" in result.output and "Exit codes" in result.output
        assert "--timestamp-col" in result.output and "--unit" in result.output and "--origin" in result.output


def test_forecast_writes_table_plot_and_requests(runner, azure_csv, tmp_path):
    out, png, requests = tmp_path / "fc.csv", tmp_path / "fc.png", tmp_path / "req.csv"
    result = runner.invoke(main, ["forecast", str(azure_csv), "--freq", "5s", "--horizon", "6", "--model", "dlinear",
                                  "--out", str(out), "--plot", str(png), "--requests", str(requests),
                                  "--format", "vidur"])
    assert result.exit_code == 0, result.output
    for word in ("last", "confidence", "fit", "predict", "0.9 interval"):
        assert word in result.output
    table = pd.read_csv(out)
    assert list(table.columns) == ["timestamp", "yhat", "lower", "upper"] and len(table) == 6
    assert (table["lower"] <= table["yhat"]).all() and (table["yhat"] <= table["upper"]).all()
    assert png.stat().st_size > 0 and png.read_bytes()[:4] == b"\x89PNG"
    vidur = pd.read_csv(requests)
    assert list(vidur.columns) == ["arrived_at", "num_prefill_tokens", "num_decode_tokens"]
    assert vidur["arrived_at"].between(0, 30).all() and len(vidur) > 0


def test_forecast_json_with_token_targets(runner, azure_csv, tmp_path):
    out = tmp_path / "fc.json"
    result = runner.invoke(main, ["forecast", str(azure_csv), "--freq", "5s", "--horizon", "3", "--model", "dlinear",
                                  "--target", "requests", "--target", "input_tokens", "--out", str(out)])
    assert result.exit_code == 0, result.output
    payload = json.loads(out.read_text())
    assert payload["targets"] == ["requests", "input_tokens"] and len(payload["forecast"]) == 3
    assert {"requests_yhat", "input_tokens_upper"} <= set(payload["forecast"][0])
    assert 0.0 <= payload["confidence"] <= 1.0


def test_evaluate_prints_the_table_and_writes_records(runner, azure_csv, tmp_path):
    out, png = tmp_path / "scores.json", tmp_path / "steps.png"
    result = runner.invoke(main, ["evaluate", str(azure_csv), "--freq", "5s", "--horizon", "4", "--models", "dlinear",
                                  "--refit-every", "20", "--json", str(out), "--plot", str(png), "--quiet"])
    assert result.exit_code == 0, result.output
    for header in ("MAE", "RMSE", "sMAPE", "WAPE", "MASE", "coverage", "width", "confidence", "fit_s",
                   "predict_ms", "vs best baseline"):
        assert header in result.output
    records = json.loads(out.read_text())
    assert [r["model"] for r in records] == ["dlinear", "naive", "seasonal_naive", "moving_average"]
    assert {"mae", "rmse", "smape", "wape", "mase", "coverage", "interval_width", "confidence"} <= set(records[0])
    assert png.stat().st_size > 0


def test_inspect_reports_what_to_check_first(runner, tmp_path):
    log = request_log(500)
    log = log[~pd.to_datetime(log["TIMESTAMP"]).between("2023-11-16 18:03:00", "2023-11-16 18:05:00")]
    path = tmp_path / "gappy.csv"
    log.to_csv(path, index=False)
    result = runner.invoke(main, ["inspect", str(path), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["rows"] == len(log) and report["kind"] == "request log"
    assert report["gaps > 0 days 00:01:00"] >= 1
    assert report["requests per bucket"]["mean"] > 0
    assert int(report["empty buckets"].split()[0]) >= 120  # the two removed minutes at 1 s buckets


def test_json_lines_with_relative_millisecond_timestamps(runner, tmp_path):
    rng = np.random.default_rng(3)
    offsets_ms = np.sort(rng.uniform(0, 400_000, 2000)).round()
    path = tmp_path / "log.jsonl"
    pd.DataFrame({"t": offsets_ms, "input_tokens": rng.integers(1, 900, 2000),
                  "output_tokens": rng.integers(1, 90, 2000)}).to_json(path, orient="records", lines=True)
    result = runner.invoke(main, ["forecast", str(path), "--timestamp-col", "t", "--unit", "ms", "--origin",
                                  "2024-05-10T00:00:00Z", "--freq", "2s", "--horizon", "3", "--model", "naive"])
    assert result.exit_code == 0, result.output
    assert "2024-05-10 00:06:" in result.output  # buckets anchored at the origin


def test_bucketed_csv_is_read_as_a_series(runner, tmp_path):
    path = tmp_path / "series.csv"
    pd.DataFrame({"timestamp": pd.date_range("2024-01-01", periods=400, freq="1min"),
                  "requests": np.random.default_rng(4).poisson(30, 400)}).to_csv(path, index=False)
    result = runner.invoke(main, ["forecast", str(path), "--horizon", "5", "--model", "dlinear"])
    assert result.exit_code == 0, result.output
    assert "bucketed series" in result.output and "buckets of 1 min" in result.output


@pytest.mark.parametrize("args, message", [
    (["forecast", "{log}"], "pass --freq"),
    (["forecast", "{log}", "--freq", "5s", "--timestamp-col", "nope"], "no timestamp column 'nope'"),
    (["forecast", "{log}", "--freq", "soon"], "is not a duration"),
    (["forecast", "{log}", "--freq", "5s", "--horizon", "400"], "too few"),
    (["forecast", "{garbage}", "--freq", "5s"], "cannot parse timestamps"),
])
def test_bad_input_exits_3_with_one_clear_line(runner, azure_csv, tmp_path, args, message):
    garbage = tmp_path / "garbage.csv"
    garbage.write_text("TIMESTAMP,ContextTokens\nyesterday,1\nnot a time,2\n")
    args = [a.format(log=azure_csv, garbage=garbage) for a in args]
    result = runner.invoke(main, args)
    assert result.exit_code == EXIT_DATA, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0]
    assert "Traceback" not in result.output


def test_usage_errors_exit_2(runner, azure_csv, tmp_path):
    assert runner.invoke(main, ["forecast", str(tmp_path / "missing.csv")]).exit_code == EXIT_USAGE
    assert runner.invoke(main, ["evaluate", str(azure_csv), "--models", "prophet"]).exit_code == EXIT_USAGE


def test_debug_shows_the_traceback(runner, azure_csv):
    result = runner.invoke(main, ["forecast", str(azure_csv), "--debug"])
    assert result.exit_code != 0 and result.exception is not None
    assert type(result.exception).__name__ == "WorkloadDataError"


def test_installed_console_script_runs(azure_csv):
    script = shutil.which("workload-predictor")
    command = [script] if script else [sys.executable, "-m", "workload_predictor.cli"]
    done = subprocess.run(command + ["inspect", str(azure_csv)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "requests per bucket" in done.stdout
    failed = subprocess.run(command + ["forecast", str(azure_csv)], capture_output=True, text=True, timeout=120)
    assert failed.returncode == EXIT_DATA and failed.stderr.startswith("error: ") and "Traceback" not in failed.stderr
