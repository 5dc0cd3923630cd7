"""The command line through click's runner, and one real call of the installed script."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from workload_predictor.cli import EXIT_DATA, EXIT_DEPENDENCY, EXIT_USAGE, in_cli_words, main


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
    pytest.importorskip("matplotlib")
    out, png, requests = tmp_path / "fc.csv", tmp_path / "fc.png", tmp_path / "req.csv"
    result = runner.invoke(main, ["forecast", str(azure_csv), "--freq", "5s", "--horizon", "6", "--model", "dlinear",
                                  "--out", str(out), "--plot", str(png), "--requests", str(requests),
                                  "--format", "vidur-main"])
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
    pytest.importorskip("matplotlib")
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
    assert report["long_gap_threshold_s"] == 60 and report["long_gaps"] >= 1
    assert report["requests_per_bucket"]["mean"] > 0
    assert report["empty_buckets"]["count"] >= 120  # the two removed minutes at 1 s buckets


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


@pytest.mark.parametrize("command", ["forecast", "evaluate"])
def test_a_request_log_without_freq_is_a_usage_error(runner, azure_csv, command):
    result = runner.invoke(main, [command, str(azure_csv)])
    assert result.exit_code == EXIT_USAGE, result.output
    assert "pass --freq" in result.output and "Traceback" not in result.output


def test_debug_shows_the_traceback(runner, azure_csv):
    result = runner.invoke(main, ["forecast", str(azure_csv), "--freq", "soon", "--debug"])
    assert result.exit_code != 0 and result.exception is not None
    assert type(result.exception).__name__ == "WorkloadDataError"


def test_installed_console_script_runs(azure_csv):
    script = shutil.which("workload-predictor")
    command = [script] if script else [sys.executable, "-m", "workload_predictor.cli"]
    done = subprocess.run(command + ["inspect", str(azure_csv)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "requests per bucket" in done.stdout
    failed = subprocess.run(command + ["forecast", str(azure_csv), "--freq", "soon"], capture_output=True, text=True,
                            timeout=120)
    assert failed.returncode == EXIT_DATA and failed.stderr.startswith("error: ") and "Traceback" not in failed.stderr


# -- what a new user hit -----------------------------------------------------------------------
def test_requests_use_the_token_columns_named_with_input_col_and_output_col(runner, tmp_path):
    log = request_log(1500).rename(columns={"ContextTokens": "prompt_len", "GeneratedTokens": "answer_len"})
    path, requests = tmp_path / "log.csv", tmp_path / "req.csv"
    log.to_csv(path, index=False)
    result = runner.invoke(main, ["forecast", str(path), "--freq", "5s", "--horizon", "4", "--model", "naive",
                                  "--input-col", "prompt_len", "--output-col", "answer_len",
                                  "--requests", str(requests), "--format", "vidur-main"])
    assert result.exit_code == 0, result.output
    drawn = pd.read_csv(requests)
    assert len(drawn) > 0
    assert set(drawn["num_prefill_tokens"]) <= set(log["prompt_len"])  # drawn from the named columns
    assert set(drawn["num_decode_tokens"]) <= set(log["answer_len"])


def test_requests_from_a_log_of_timestamps_only(runner, tmp_path):
    path, requests = tmp_path / "times.csv", tmp_path / "req.csv"
    request_log(1500)[["TIMESTAMP"]].to_csv(path, index=False)
    args = ["forecast", str(path), "--freq", "5s", "--horizon", "4", "--model", "naive", "--requests", str(requests)]
    result = runner.invoke(main, args)
    assert result.exit_code == 0, result.output
    drawn = pd.read_csv(requests)
    assert list(drawn.columns) == ["arrival_time_ns"] and len(drawn) > 0
    # A simulator's format needs token lengths: said before fitting, in the CLI's words.
    result = runner.invoke(main, args + ["--format", "vidur-0.0.26"])
    assert result.exit_code == EXIT_DATA
    assert "--input-col" in result.output and "lengths=" not in result.output and "fit" not in result.output


def test_both_vidur_formats_name_what_reads_them(runner, azure_csv, tmp_path):
    requests = tmp_path / "req.csv"
    columns = {"vidur-main": ["arrived_at", "num_prefill_tokens", "num_decode_tokens"],
               "vidur-0.0.26": ["Date", "Time", "PromptTokenCount", "CompletionTokenCount"]}
    for format, expected in columns.items():
        result = runner.invoke(main, ["forecast", str(azure_csv), "--freq", "5s", "--horizon", "4", "--model", "naive",
                                      "--requests", str(requests), "--format", format])
        assert result.exit_code == 0, result.output
        assert list(pd.read_csv(requests).columns) == expected
    assert "vidur-main" in runner.invoke(main, ["forecast", "--help"]).output
    assert runner.invoke(main, ["forecast", str(azure_csv), "--freq", "5s", "--requests", str(requests),
                                "--format", "vidur"]).exit_code == EXIT_USAGE


def test_messages_name_the_options_the_user_typed(runner, tmp_path):
    path = tmp_path / "log.jsonl"
    pd.DataFrame({"t": [1.0, 2.0, 3.0]}).to_json(path, orient="records", lines=True)
    result = runner.invoke(main, ["forecast", str(path), "--timestamp-col", "t", "--origin", "2024-05-10",
                                  "--freq", "1s"])
    assert result.exit_code == EXIT_DATA
    assert "--unit" in result.output and "unit=" not in result.output and "unit='s'" not in result.output
    refused = in_cli_words("12 buckets of 1s, over max_buckets=10. Check for stray timestamps (or a wrong unit=), "
                           "pass a coarser freq, or raise max_buckets.")
    assert "max_buckets" not in refused and "--unit" in refused and "--freq" in refused


def test_plot_without_matplotlib_fails_before_the_fit(runner, azure_csv, tmp_path, monkeypatch):
    from workload_predictor import WorkloadPredictor

    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib now raises ImportError

    def no_fit(*args, **kwargs):
        raise AssertionError("the fit ran before --plot was checked")

    monkeypatch.setattr(WorkloadPredictor, "fit", no_fit)
    monkeypatch.setattr("workload_predictor.backtest.run_backtest", no_fit)
    for command in ("forecast", "evaluate"):
        result = runner.invoke(main, [command, str(azure_csv), "--freq", "5s", "--plot", str(tmp_path / "p.png")])
        assert result.exit_code == EXIT_DEPENDENCY, result.output
        assert "matplotlib" in result.output and "the fit ran" not in result.output


@pytest.mark.parametrize("name, code", [("fc.txt", EXIT_USAGE), ("fc.parquet", EXIT_USAGE), ("fc.JSON", 0)])
def test_out_suffix_chooses_the_format_or_is_refused(runner, azure_csv, tmp_path, name, code):
    out = tmp_path / name
    result = runner.invoke(main, ["forecast", str(azure_csv), "--freq", "5s", "--horizon", "3", "--model", "naive",
                                  "--out", str(out)])
    assert result.exit_code == code, result.output
    if code:
        assert not out.exists() and ".csv or .json" in result.output
    else:
        assert len(json.loads(out.read_text())["forecast"]) == 3


def test_a_loaded_model_file_prints_no_fit_time(runner, azure_csv, tmp_path):
    model_file = tmp_path / "model.wp"
    args = ["forecast", str(azure_csv), "--freq", "5s", "--horizon", "3", "--model", "dlinear", "--model-file",
            str(model_file)]
    first = runner.invoke(main, args)
    assert first.exit_code == 0 and "fit " in first.output and "(fitted; saved)" in first.output
    second = runner.invoke(main, args)
    assert second.exit_code == 0, second.output
    model_line = next(line for line in second.output.splitlines() if line.startswith("model"))
    assert "loaded" in model_line and "fit " not in model_line


def test_inspect_says_which_token_columns_it_did_not_recognise(runner, tmp_path):
    path = tmp_path / "log.csv"
    request_log(300).rename(columns={"ContextTokens": "prompt_len"}).to_csv(path, index=False)
    result = runner.invoke(main, ["inspect", str(path)])
    assert result.exit_code == 0, result.output
    assert "--input-col" in result.output and "--output-col" not in result.output
    assert "output tokens per request" in result.output
    named = runner.invoke(main, ["inspect", str(path), "--input-col", "prompt_len", "--json"])
    report = json.loads(named.output)
    assert "token_columns" not in report and report["input_tokens_per_request"]["max"] < 3000


def test_inspect_keep_partial_keeps_the_first_and_last_buckets(runner, azure_csv):
    reports = {flag: json.loads(runner.invoke(main, ["inspect", str(azure_csv), "--freq", "10s", "--json"]
                                              + ([flag] if flag else [])).output)
               for flag in ("", "--keep-partial")}
    assert reports["--keep-partial"]["buckets"] == reports[""]["buckets"] + 2
    assert reports[""]["partial_buckets_dropped"] and not reports["--keep-partial"]["partial_buckets_dropped"]


def test_inspect_keys_do_not_depend_on_freq_and_durations_read_as_durations(runner, azure_csv):
    reports = [json.loads(runner.invoke(main, ["inspect", str(azure_csv), "--freq", freq, "--json"]).output)
               for freq in ("1s", "10s", "2min")]
    assert list(reports[0]) == list(reports[1]) == list(reports[2])
    assert reports[1]["bucket_s"] == 10 and 590 < reports[1]["span_s"] < 600
    text = runner.invoke(main, ["inspect", str(azure_csv)]).output
    assert "days" not in text and "0 days" not in text
    assert re.search(r"^span\s+(9 min \d+ s|10 min)$", text, flags=re.M), text


SPAN_PROBE = """
import resource, sys
import psutil
from workload_predictor.cli import main
limit = psutil.Process().memory_info().vms + 400 * 2**20
resource.setrlimit(resource.RLIMIT_AS, (limit, resource.getrlimit(resource.RLIMIT_AS)[1]))
main(sys.argv[1:])
"""


@pytest.mark.parametrize("rows, freq", [
    (["1985-01-01T00:00:00", "2025-01-01T00:00:00"], "1s"),  # two rows 40 years apart: 1.3e9 buckets
    (["2024-01-01T00:00:00", "2024-06-01T00:00:00", "2025-01-01T00:00:00"], "1s"),  # a year: 3.2e7
    (["2024-01-01T00:00:00", "2024-01-01T04:00:00"], "1ms"),  # four hours at 1 ms: 1.4e7
])
def test_inspect_refuses_a_span_too_long_for_the_buckets_before_allocating_them(tmp_path, rows, freq):
    path = tmp_path / "far.csv"
    path.write_text("TIMESTAMP\n" + "\n".join(rows) + "\n")
    # 400 MB above the interpreter's own address space: the buckets alone would need more.
    done = subprocess.run([sys.executable, "-c", SPAN_PROBE, "inspect", str(path), "--freq", freq],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == EXIT_DATA, done.stderr
    assert "buckets" in done.stderr and "--freq" in done.stderr and "MemoryError" not in done.stderr


def test_forecast_by_key_writes_json_when_out_says_json(runner, tmp_path):
    log = pd.concat([request_log(800, seed=1).assign(model="a"), request_log(800, seed=2).assign(model="b")])
    path, out = tmp_path / "log.csv", tmp_path / "fc.json"
    log.to_csv(path, index=False)
    result = runner.invoke(main, ["forecast", str(path), "--by", "model", "--freq", "5s", "--model", "naive",
                                  "--horizon", "3", "--out", str(out)])
    assert result.exit_code == 0, result.output
    records = json.loads(out.read_text())
    assert len(records) == 6 and {r["model"] for r in records} == {"a", "b"}
    assert {"timestamp", "yhat", "lower", "upper"} <= set(records[0])


def test_forecast_shows_how_much_of_the_lstms_network_correction_counts(runner, azure_csv, tmp_path):
    """An LSTM adds ``correction_share_`` of its network's correction to its DLinear base: ``forecast`` prints it
    with the tail's t statistic, from the model it fitted or loaded."""
    from workload_predictor import WorkloadPredictor
    from workload_predictor.readers import read_trace

    series = read_trace(azure_csv, freq="5s").series
    lstm = WorkloadPredictor(model="lstm", horizon=3, random_state=0, verbose=False, model_params={"max_epochs": 2})
    saved = tmp_path / "lstm.wp"
    lstm.fit(series, timestamp="timestamp", target=["requests"]).save(saved)
    result = runner.invoke(main, ["forecast", str(azure_csv), "--freq", "5s", "--model-file", str(saved)])
    assert result.exit_code == 0, result.output
    model_line = next(line for line in result.output.splitlines() if line.startswith("model"))
    share, t = lstm.model_.correction_share_, lstm.model_.correction_t_
    assert f"base + {share:.2f} x the network's correction, tail t {t:.2f}" in model_line


def test_forecast_and_evaluate_show_the_ensembles_combination(runner, azure_csv, tmp_path):
    """The ensemble's combination (fitted weights or a mean of its best members) is printed next to its weights
    by ``forecast`` and per refit under ``evaluate``'s table."""
    from workload_predictor import WorkloadPredictor
    from workload_predictor.backtest import run_backtest
    from workload_predictor.cli import combination_lines
    from workload_predictor.readers import read_trace

    series = read_trace(azure_csv, freq="5s").series
    ensemble = WorkloadPredictor(model="ensemble", horizon=3, random_state=0, verbose=False,
                                 model_params={"members": ("dlinear", "naive")})
    saved = tmp_path / "ensemble.wp"
    ensemble.fit(series, timestamp="timestamp", target=["requests"]).save(saved)
    result = runner.invoke(main, ["forecast", str(azure_csv), "--freq", "5s", "--model-file", str(saved)])
    assert result.exit_code == 0, result.output
    model_line = next(line for line in result.output.splitlines() if line.startswith("model"))
    assert "weights" in model_line and f"combination {ensemble.model_.combination_}" in model_line

    backtest = run_backtest(series, [ensemble, "dlinear"], ["naive"], horizon=3, target=["requests"],
                            refit_every=10, verbose=False)
    lines = combination_lines(backtest.table)
    assert lines[1:] == [f"ensemble combination per refit: {backtest.table.loc[0, 'combination']}"]
    assert backtest.table.loc[0, "combination"].count("; ") == len(backtest.refits) - 1
