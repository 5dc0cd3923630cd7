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

from workload_predictor import WorkloadPredictor
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


def test_forecast_json_names_the_bucket_width(runner, azure_csv, tmp_path):
    """The JSON --out had no bucket width: a consumer of a one-bucket forecast could not turn requests per bucket into
    a rate. It carries freq_seconds."""
    out = tmp_path / "fc.json"
    result = runner.invoke(main, ["forecast", str(azure_csv), "--freq", "5s", "--horizon", "1", "--model", "naive",
                                  "--out", str(out), "-q"])
    assert result.exit_code == 0, result.output
    payload = json.loads(out.read_text())
    assert payload["freq_seconds"] == 5.0 and len(payload["forecast"]) == 1


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
    # The library's default baselines (every registered one): the moving median was left out of the command's list.
    assert [r["model"] for r in records] == ["dlinear", "naive", "seasonal_naive", "moving_average", "moving_median"]
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
    result = runner.invoke(main, ["forecast", str(azure_csv), "--freq", "5s", "--horizon", "400", "--debug"])
    assert result.exit_code != 0 and result.exception is not None
    assert type(result.exception).__name__ == "WorkloadDataError"


def test_installed_console_script_runs(azure_csv):
    script = shutil.which("workload-predictor")
    command = [script] if script else [sys.executable, "-m", "workload_predictor.cli"]
    done = subprocess.run(command + ["inspect", str(azure_csv)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "requests per bucket" in done.stdout
    failed = subprocess.run(command + ["forecast", str(azure_csv), "--freq", "5s", "--timestamp-col", "nope"],
                            capture_output=True, text=True, timeout=120)
    assert failed.returncode == EXIT_DATA and failed.stderr.startswith("error: ") and "Traceback" not in failed.stderr
    usage = subprocess.run(command + ["forecast", str(azure_csv), "--freq", "soon"], capture_output=True, text=True,
                           timeout=120)
    assert usage.returncode == EXIT_USAGE and "'soon' is not a duration" in usage.stderr, usage.stderr


def test_python_dash_m_runs_the_command_line(azure_csv):
    done = subprocess.run([sys.executable, "-m", "workload_predictor", "inspect", str(azure_csv)], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "requests per bucket" in done.stdout
    usage = subprocess.run([sys.executable, "-m", "workload_predictor", "--help"], capture_output=True, text=True,
                           timeout=120)
    assert usage.returncode == 0 and usage.stdout.startswith("Usage: workload-predictor ")


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


@pytest.mark.parametrize("model", ["lstm", "ensemble"])
def test_a_model_that_needs_torch_without_torch_names_its_install(runner, azure_csv, monkeypatch, model):
    """Without PyTorch, the LSTM and the ensemble (``forecast``'s default) said "register the model's class or its
    'module:Class' path" and exited 3 (bad data): the fix is PyTorch's CPU install, a missing dependency (exit 4)."""
    from workload_predictor import WorkloadPredictor

    monkeypatch.setitem(sys.modules, "torch", None)  # import torch now raises ModuleNotFoundError
    monkeypatch.delitem(sys.modules, "workload_predictor.models.lstm", raising=False)
    result = runner.invoke(main, ["forecast", str(azure_csv), "--freq", "5s", "--model", model])
    assert result.exit_code == EXIT_DEPENDENCY, result.output
    assert "download.pytorch.org/whl/cpu" in result.output and "--model dlinear" in result.output
    assert "register the model" not in result.output
    series = pd.DataFrame({"timestamp": pd.date_range("2024-01-01", periods=300, freq="10s"),
                           "requests": np.arange(300.0) % 7})
    with pytest.raises(ModuleNotFoundError, match="needs PyTorch.*pip install torch") as caught:
        WorkloadPredictor(model=model).fit(series)
    assert caught.value.name == "torch"
    assert runner.invoke(main, ["forecast", str(azure_csv), "--freq", "5s", "--model", "dlinear"]).exit_code == 0


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


# -- review of the command line (hunt_cli): wrong answers, internal errors, silent drops ----------------------
def bucketed_csv(path, start="2024-05-10T00:00:00Z", periods=200, freq="10s", **columns):
    """A bucketed series (timestamp, requests = i % 5 + 3) written to ``path``; ``columns`` adds or replaces."""
    frame = pd.DataFrame({"timestamp": pd.date_range(start, periods=periods, freq=freq),
                          "requests": np.arange(periods) % 5 + 3, **columns})
    frame.to_csv(path, index=False)
    return path


def bucketed_fleet(path, periods=60, freq="10s"):
    frame = pd.concat([pd.read_csv(bucketed_csv(path, periods=periods, freq=freq)).assign(service=key)
                       for key in ("a", "b")])
    frame.to_csv(path, index=False)
    return path


@pytest.mark.parametrize("later, extra, expected", [
    ("bucketed", [], ("fitted on 10 s buckets", "has 20 s buckets", "--freq 10s", "new --model-file")),
    ("log", ["--freq", "20s"], ("fitted on 10 s buckets", "has 20 s buckets", "pass --freq 10s", "new --model-file")),
])
def test_a_model_file_refuses_a_trace_of_another_bucket_width_and_is_not_saved(runner, tmp_path, later, extra,
                                                                                 expected):
    """The saved model's buckets are 10 s: a trace of 20 s buckets appended to it would be a wrong series (and
    zeros between), saved back over the file."""
    model_file = tmp_path / "m.wp"
    if later == "bucketed":
        first = bucketed_csv(tmp_path / "first.csv")
        trace = bucketed_csv(tmp_path / "later.csv", start="2024-05-10T00:40:00Z", periods=50, freq="20s")
        fit = ["forecast", str(first), "--model", "dlinear", "--horizon", "3", "--model-file", str(model_file)]
    else:
        trace = tmp_path / "log.csv"
        request_log(3000).to_csv(trace, index=False)
        fit = ["forecast", str(trace), "--freq", "10s", "--model", "dlinear", "--horizon", "3",
               "--model-file", str(model_file)]
    assert runner.invoke(main, fit).exit_code == 0
    saved = model_file.read_bytes()
    result = runner.invoke(main, ["forecast", str(trace), "--model-file", str(model_file), *extra])
    assert result.exit_code == EXIT_DATA, result.output
    for part in expected:
        assert part in result.output
    assert model_file.read_bytes() == saved


def test_a_model_file_update_says_how_many_missing_buckets_it_zero_filled(runner, tmp_path):
    model_file = tmp_path / "m.wp"
    first = bucketed_csv(tmp_path / "first.csv")  # 00:00:00 .. 00:33:10
    assert runner.invoke(main, ["forecast", str(first), "--model", "dlinear", "--horizon", "3",
                                "--model-file", str(model_file)]).exit_code == 0
    later = bucketed_csv(tmp_path / "later.csv", start="2024-05-10T00:40:00Z", periods=50)  # 40 buckets missing
    result = runner.invoke(main, ["forecast", str(later), "--model-file", str(model_file)])
    assert result.exit_code == 0, result.output
    assert "50 new buckets appended with update(), 40 missing buckets zero-filled; saved" in result.output
    next_ = bucketed_csv(tmp_path / "next.csv", start="2024-05-10T00:48:20Z", periods=10)  # right after
    result = runner.invoke(main, ["forecast", str(next_), "--model-file", str(model_file)])
    assert result.exit_code == 0, result.output
    assert "10 new buckets appended with update(); saved" in result.output and "zero-filled" not in result.output


def test_a_model_file_refuses_a_trace_past_the_gap_an_update_fills_with_the_command_line_fix(runner, tmp_path):
    """A trace starting more than max_gap (1000) buckets after the saved model's last bucket: the advice names what
    a command-line user can do (a new --model-file), not the library's max_gap or dropping a row, and the file is
    left as it was."""
    model_file = tmp_path / "m.wp"
    first = bucketed_csv(tmp_path / "first.csv")  # 00:00:00 .. 00:33:10
    assert runner.invoke(main, ["forecast", str(first), "--model", "dlinear", "--horizon", "3",
                                "--model-file", str(model_file)]).exit_code == 0
    saved = model_file.read_bytes()
    later = bucketed_csv(tmp_path / "later.csv", start="2024-05-13T00:00:00Z", periods=50)  # 3 days later
    result = runner.invoke(main, ["forecast", str(later), "--model-file", str(model_file)])
    assert result.exit_code == EXIT_DATA, result.output
    assert "more than max_gap=1000" in result.output and "new --model-file" in result.output
    assert "m.wp was not changed" in result.output
    assert "raise max_gap" not in result.output and "None disables" not in result.output
    assert model_file.read_bytes() == saved


@pytest.mark.parametrize("args, expected", [
    (["forecast", "{tiny}", "--by", "service", "--model", "dlinear"],
     ("no key of --by 'service' could be fitted", "2 keys skipped", "the first")),
    (["evaluate", "{tiny}", "--by", "service", "--models", "dlinear", "--baselines", "naive"],
     ("no key of --by 'service' could be backtested", "2 keys skipped")),
    (["forecast", "{fleet}", "--by", "requests", "--model", "naive"], ("--by 'requests' is a target column",)),
    (["forecast", "{fleet}", "--by", "timestamp", "--model", "naive"], ("--by 'timestamp' is the timestamp column",)),
    (["evaluate", "{fleet}", "--by", "timestamp", "--models", "dlinear", "--baselines", "naive"],
     ("--by 'timestamp' is the timestamp column",)),
    (["forecast", "{log}", "--by", "TIMESTAMP", "--freq", "10s", "--model", "naive"],
     ("--by 'TIMESTAMP' is the timestamp column",)),
    (["forecast", "{log}", "--by", "ContextTokens", "--freq", "10s", "--model", "naive"],
     ("--by 'ContextTokens' is the input-token column",)),
])
def test_by_on_keys_that_cannot_be_fitted_or_a_wrong_column_exits_3(runner, tmp_path, args, expected):
    tiny = tmp_path / "tiny.csv"
    tiny.write_text("timestamp,service,requests\n2024-01-01T00:00:00Z,a,1\n2024-01-01T00:00:10Z,a,2\n"
                    "2024-01-01T00:00:00Z,b,1\n")
    fleet = bucketed_fleet(tmp_path / "fleet.csv")
    log = tmp_path / "log.csv"
    request_log(600).assign(service="a").to_csv(log, index=False)
    result = runner.invoke(main, [a.format(tiny=tiny, fleet=fleet, log=log) for a in args])
    assert result.exit_code == EXIT_DATA, result.output
    assert "internal error" not in result.output and "Empty DataFrame" not in result.output
    for part in expected:
        assert part in result.output


@pytest.mark.parametrize("name, damage, expected", [
    ("log.csv.gz", "truncate", "truncated gzip stream"),
    ("log.jsonl.gz", "truncate", "truncated gzip stream"),
    ("log.csv.gz", "corrupt", "corrupt gzip stream"),
    ("log.csv.gz", "plain", "not gzip-compressed"),
])
def test_a_broken_gzip_file_is_bad_data_naming_the_file_and_the_fix(runner, tmp_path, name, damage, expected):
    import gzip

    log = request_log(2000)
    text = log.to_csv(index=False) if name.startswith("log.csv") else log.to_json(orient="records", lines=True)
    packed = gzip.compress(text.encode(), mtime=0)
    if damage == "truncate":
        packed = packed[:len(packed) // 2]
    elif damage == "corrupt":
        packed = packed[:40] + b"garbage" * 40 + packed[320:]
    else:
        packed = text.encode()
    path = tmp_path / name
    path.write_bytes(packed)
    result = runner.invoke(main, ["inspect", str(path)])
    assert result.exit_code == EXIT_DATA, result.output
    assert name in result.output and expected in result.output and "re-compress" in result.output
    assert "internal error" not in result.output


@pytest.mark.parametrize("line", ["[1, 2, 3]", "5", '"text"'])
def test_a_json_lines_line_that_is_no_object_is_bad_data_naming_the_line(runner, tmp_path, line):
    rows = request_log(6).rename(columns={"TIMESTAMP": "timestamp"}).to_json(orient="records", lines=True)
    rows = rows.strip().splitlines()
    path = tmp_path / "log.jsonl"
    path.write_text("\n".join(rows[:2] + [line] + rows[2:]) + "\n")
    result = runner.invoke(main, ["inspect", str(path)])
    assert result.exit_code == EXIT_DATA, result.output
    assert "log.jsonl: line 3 is" in result.output and "must be one object" in result.output
    assert "internal error" not in result.output


def test_sub_second_buckets_keep_their_fractions_in_tables_and_files(runner, tmp_path):
    log = request_log(400)
    log = log[pd.to_datetime(log["TIMESTAMP"]) < pd.Timestamp("2023-11-16 18:01:00")]
    path = tmp_path / "log.csv"
    log.assign(svc=["a", "b"] * (len(log) // 2) + ["a"] * (len(log) % 2)).to_csv(path, index=False)
    for suffix in ("csv", "json"):
        out = tmp_path / f"fleet.{suffix}"
        result = runner.invoke(main, ["forecast", str(path), "--by", "svc", "--freq", "500ms", "--model", "naive",
                                      "--horizon", "4", "--out", str(out)])
        assert result.exit_code == 0, result.output
        table = pd.read_csv(out) if suffix == "csv" else pd.DataFrame(json.loads(out.read_text()))
        assert not table.duplicated(["svc", "timestamp"]).any()
        assert table["timestamp"].str.endswith((".000Z", ".500Z")).all() and table["timestamp"].str.contains("T").all()
        assert re.search(r"^ +a 2023-11-16 18:00:\d\d\.500Z ", result.output, flags=re.M), result.output
    result = runner.invoke(main, ["forecast", str(path), "--freq", "500ms", "--model", "naive", "--horizon", "3",
                                  "--out", str(tmp_path / "fc.csv")])
    assert result.exit_code == 0, result.output
    stamps = re.findall(r"^(2023-11-16 \S+Z) ", result.output, flags=re.M)
    assert len(stamps) == 3 and len(set(stamps)) == 3 and all(re.search(r"\.\d{3}Z$", s) for s in stamps)
    assert re.search(r"^last    2023-11-16 18:00:\d\d\.\d{3}Z ", result.output, flags=re.M)
    assert re.search(r"buckets of 0\.5 s, 2023-11-16 18:00:00\.\d{3}Z \.\. 2023", result.output)
    written = pd.read_csv(tmp_path / "fc.csv")["timestamp"]
    assert [s.replace(" ", "T")[:23] for s in written] == [s.replace(" ", "T")[:23] for s in stamps]


def test_whole_second_buckets_print_no_fractions(runner, tmp_path):
    fleet = bucketed_fleet(tmp_path / "fleet.csv")
    out = tmp_path / "fc.csv"
    result = runner.invoke(main, ["forecast", str(fleet), "--by", "service", "--model", "naive", "--horizon", "2",
                                  "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert list(pd.read_csv(out)["timestamp"])[:2] == ["2024-05-10T00:10:00Z", "2024-05-10T00:10:10Z"]
    assert "   a 2024-05-10 00:10:00Z " in result.output
    result = runner.invoke(main, ["forecast", str(bucketed_csv(tmp_path / "one.csv")), "--model", "naive",
                                  "--horizon", "2"])
    assert "2024-05-10 00:00:00Z .. 2024-05-10 00:33:10Z" in result.output
    assert "last    2024-05-10 00:33:10Z  requests=" in result.output and "\n2024-05-10 00:33:20Z " in result.output


@pytest.mark.parametrize("command, extra, refused", [
    ("forecast", ["--plot", "{tmp}/p.png"], "--plot is"),
    ("forecast", ["--requests", "{tmp}/r.csv"], "--requests is"),
    ("forecast", ["--format", "native"], "--format is"),
    ("forecast", ["--model-file", "{tmp}/m.wp"], "--model-file is"),
    ("forecast", ["--plot", "{tmp}/p.png", "--model-file", "{tmp}/m.wp"], "--plot, --model-file are"),
    ("evaluate", ["--plot", "{tmp}/p.png"], "--plot is"),
])
def test_options_by_does_not_support_are_refused_not_dropped(runner, tmp_path, command, extra, refused):
    fleet = bucketed_fleet(tmp_path / "fleet.csv")
    models = ["--model", "naive"] if command == "forecast" else ["--models", "dlinear", "--baselines", "naive"]
    result = runner.invoke(main, [command, str(fleet), "--by", "service", *models, "--horizon", "2",
                                  *[a.format(tmp=tmp_path) for a in extra]])
    assert result.exit_code == EXIT_USAGE, result.output
    assert f"{refused} not supported with --by" in result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fleet.csv"]


def test_evaluate_by_passes_max_epochs_to_the_models(runner, tmp_path, monkeypatch):
    fleet = bucketed_fleet(tmp_path / "fleet.csv")
    seen = []

    def recording_backtest(series, templates, *args, **kwargs):
        seen.extend(t.model_params for t in templates)
        raise KeyboardInterrupt  # stop here: the parameters are what this test checks

    monkeypatch.setattr("workload_predictor.backtest.run_backtest", recording_backtest)
    runner.invoke(main, ["evaluate", str(fleet), "--by", "service", "--models", "lstm", "--baselines", "naive",
                         "--max-epochs", "2"])
    assert seen == [{"max_epochs": 2}]


def _run_without_fitting(runner, azure_csv, monkeypatch, command, option, path):
    """``command`` on the trace with ``option path``, where a fit or a backtest fails the test: the path must be
    refused before either runs."""
    from workload_predictor import WorkloadPredictor

    if option == "--plot":
        pytest.importorskip("matplotlib")

    def no_fit(*args, **kwargs):
        raise AssertionError("the fit ran before the output path was checked")

    monkeypatch.setattr(WorkloadPredictor, "fit", no_fit)
    monkeypatch.setattr("workload_predictor.backtest.run_backtest", no_fit)
    return runner.invoke(main, [command, str(azure_csv), "--freq", "5s", option, path])


@pytest.mark.parametrize("command, option, name", [
    ("forecast", "--out", "missing/fc.csv"),
    ("forecast", "--plot", "missing/fc.png"),
    ("forecast", "--requests", "missing/r.csv"),
    ("forecast", "--model-file", "missing/m.wp"),
    ("forecast", "--out", "trace.csv/fc.csv"),
    ("evaluate", "--json", "missing/e.json"),
    ("evaluate", "--plot", "missing/e.png"),
])
def test_an_output_path_in_a_missing_folder_is_refused_before_the_fit(runner, azure_csv, tmp_path, monkeypatch,
                                                                      command, option, name):
    path = str(tmp_path / name).replace("trace.csv", str(azure_csv.name))
    result = _run_without_fitting(runner, azure_csv, monkeypatch, command, option, path)
    assert result.exit_code == EXIT_USAGE, result.output
    assert "write somewhere else" in result.output and "the fit ran" not in result.output
    assert ".tmp-" not in result.output


@pytest.mark.parametrize("command", ["forecast", "evaluate"])
def test_a_plot_suffix_matplotlib_cannot_write_is_refused_before_the_fit(runner, azure_csv, tmp_path, monkeypatch,
                                                                        command):
    pytest.importorskip("matplotlib")
    from workload_predictor import WorkloadPredictor

    def no_fit(*args, **kwargs):
        raise AssertionError("the fit ran before --plot was checked")

    monkeypatch.setattr(WorkloadPredictor, "fit", no_fit)
    monkeypatch.setattr("workload_predictor.backtest.run_backtest", no_fit)
    result = runner.invoke(main, [command, str(azure_csv), "--freq", "5s", "--plot", str(tmp_path / "p.txt")])
    assert result.exit_code == EXIT_USAGE, result.output
    assert "matplotlib cannot write '.txt' files" in result.output and ".png" in result.output


def test_inspect_json_is_valid_json_with_null_for_non_finite_values(runner, tmp_path):
    path = bucketed_csv(tmp_path / "inf.csv", periods=40)
    frame = pd.read_csv(path).astype({"requests": float})
    frame.loc[30, "requests"] = np.inf
    frame.to_csv(path, index=False)
    result = runner.invoke(main, ["inspect", str(path), "--json"])
    assert result.exit_code == 0, result.output

    def refuse(constant):
        raise AssertionError(f"{constant} is no JSON")

    report = json.loads(result.output, parse_constant=refuse)
    assert report["requests_per_bucket"]["std"] is None and report["requests_per_bucket"]["max"] is None


def test_jobs_0_is_a_usage_error(runner, tmp_path):
    result = runner.invoke(main, ["forecast", str(bucketed_fleet(tmp_path / "fleet.csv")), "--by", "service",
                                  "--jobs", "0"])
    assert result.exit_code == EXIT_USAGE, result.output
    assert "-1 for one per CPU" in result.output and "n_jobs" not in result.output


@pytest.mark.parametrize("args, absent, present", [
    (["forecast", "{short}", "--model", "dlinear"], ("--window", "window=", "a smaller"), ("points at --horizon 1).",)),
    (["forecast", "{short}", "--model", "moving_median"], ("--window", "window=", "windows=", "a smaller"),
     ("points at --horizon 1).",)),
    (["forecast", "{twelve}", "--model", "naive", "--horizon", "30"], ("--window", "window=", "a smaller"),
     ("or --horizon 1 (the longest these points fit).",)),
    (["forecast", "{tiny}", "--by", "service", "--model", "dlinear"], ("window=",), ()),
    (["forecast", "{dup}", "--model", "dlinear"], ("bucketize(",), ("--freq",)),
])
def test_messages_advise_only_what_the_command_line_has(runner, tmp_path, args, absent, present):
    short = bucketed_csv(tmp_path / "short.csv", periods=2)
    twelve = bucketed_csv(tmp_path / "twelve.csv", periods=12)
    dup = bucketed_csv(tmp_path / "dup.csv", periods=30)
    frame = pd.read_csv(dup)
    pd.concat([frame, frame.iloc[[5]]]).to_csv(dup, index=False)
    tiny = tmp_path / "tiny.csv"
    tiny.write_text("timestamp,service,requests\n" + "".join(f"2024-01-01T00:00:{10 * i:02d}Z,{key},1\n"
                                                             for key in "ab" for i in range(3)))
    result = runner.invoke(main, [a.format(short=short, twelve=twelve, dup=dup, tiny=tiny) for a in args])
    assert result.exit_code == EXIT_DATA, result.output
    for word in absent:
        assert word not in result.output
    for word in present:
        assert word in result.output


@pytest.mark.parametrize("args, said", [
    (["forecast", "{path}", "--json", "fc.json"], "No such option '--json': forecast writes its table with --out "
                                                  "FILE.json"),
    (["evaluate", "{path}", "--out", "scores.csv"], "No such option '--out': evaluate writes its table with --json"),
    (["inspect", "{path}", "--out", "report.json"], "No such option '--out': inspect prints its report as JSON with "
                                                    "--json"),
])
def test_another_commands_output_option_names_this_ones(runner, tmp_path, args, said):
    """``forecast --json`` (which inspect and evaluate take) was answered "Did you mean '--jobs'?", an option that
    sets worker processes; ``evaluate --out`` likewise. The usage error names the command's own output option."""
    path = bucketed_csv(tmp_path / "series.csv", periods=60)
    result = runner.invoke(main, [a.format(path=path) for a in args])
    assert result.exit_code == EXIT_USAGE, result.output
    assert said in result.output and "Did you mean" not in result.output, result.output
    other = runner.invoke(main, ["forecast", str(path), "--jsn", "x"])  # any other unknown option: click's own words
    assert other.exit_code == EXIT_USAGE and "Did you mean" in other.output and "--jobs" in other.output, other.output


def test_model_target_and_format_names_are_read_in_any_case(runner, tmp_path):
    """``--model DLinear`` (as the README and papers spell it) was a usage error listing 'dlinear' among the choices;
    so were ``--target Requests``, ``--models DLinear`` and ``--format VIDUR-main``. Each is now the name it spells,
    with the same output as the lower-case one."""
    path = bucketed_csv(tmp_path / "series.csv", periods=120, input_tokens=np.arange(120) % 5 * 100 + 300,
                        output_tokens=np.arange(120) % 3 * 50 + 60)
    runs = {}
    for spelling in ("lower", "mixed"):
        model, target, fmt, models = ("dlinear", "requests", "vidur-main", "dlinear,naive")
        if spelling == "mixed":
            model, target, fmt, models = ("DLinear", "Requests", "VIDUR-Main", "DLinear,NAIVE")
        future = tmp_path / f"{spelling}.csv"
        forecast = runner.invoke(main, ["forecast", str(path), "--model", model, "--target", target, "--horizon", "3",
                                        "--requests", str(future), "--format", fmt, "-q"])
        evaluate = runner.invoke(main, ["evaluate", str(path), "--models", models, "--baselines", "moving_average",
                                        "--horizon", "3", "-q"])
        assert forecast.exit_code == 0 and evaluate.exit_code == 0, forecast.output + evaluate.output
        runs[spelling] = (re.sub(r"(fit|predict) [\d.]+ m?s", "", forecast.output.replace(future.name, "")),
                          future.read_text(), re.sub(r"\s[\d.]+\s+[\d.]+\n", "\n", evaluate.output))
    assert runs["mixed"] == runs["lower"]
    assert "model   dlinear:" in runs["mixed"][0] and "num_prefill_tokens" in runs["mixed"][1]


def test_python_m_runs_the_fleet_commands(tmp_path):
    """``python -m workload_predictor.cli`` ran ``main()`` before the --by functions below it were defined."""
    fleet = bucketed_fleet(tmp_path / "fleet.csv")
    done = subprocess.run([sys.executable, "-m", "workload_predictor.cli", "forecast", str(fleet), "--by", "service",
                           "--model", "naive", "--horizon", "2"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "2 fitted" in done.stdout


# -- review of the messages (0.9.1): advice that fits the options given, plain values, rows as the file has them -
def _error_line(result) -> str:
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.output
    return lines[0]


def test_a_log_too_short_for_the_freq_given_asks_for_a_smaller_freq_not_for_freq(runner, tmp_path):
    """With --freq given, the message said "pass --freq ..." (the series reached infer_freq with one bucket)."""
    path = tmp_path / "short.csv"
    path.write_text("timestamp\n" + "".join(f"2024-05-10T00:00:{s:02d}Z\n" for s in range(0, 40, 3)))
    result = runner.invoke(main, ["forecast", str(path), "--freq", "15s"])
    assert result.exit_code == EXIT_DATA
    line = _error_line(result)
    assert "pass --freq ..." not in line and "smaller --freq than 15s" in line and "1 bucket of 15s" in line
    all_partial = _error_line(runner.invoke(main, ["forecast", str(path), "--freq", "20s"]))
    assert "2 buckets of 20s, all partial" in all_partial and "smaller --freq than 20s, or --keep-partial" in all_partial


def test_a_log_too_short_for_a_kept_model_file_asks_for_a_longer_log(runner, azure_csv, tmp_path):
    """With an existing --model-file the bucket width is the file's, yet a log of partial buckets alone was told to
    pass a smaller --freq, which the file refuses. It is now told to pass a longer log, or --keep-partial."""
    model_file = tmp_path / "m.wp"
    assert runner.invoke(main, ["forecast", str(azure_csv), "--freq", "5s", "--model", "naive", "-q",
                                "--model-file", str(model_file)]).exit_code == 0
    saved = model_file.read_bytes()
    short = tmp_path / "short.csv"
    short.write_text("TIMESTAMP\n2023-11-16 18:10:01\n2023-11-16 18:10:07\n")
    result = runner.invoke(main, ["forecast", str(short), "--freq", "5s", "--model-file", str(model_file)])
    assert result.exit_code == EXIT_DATA
    line = _error_line(result)
    assert "all partial" in line and "smaller --freq" not in line, line
    assert "pass a longer log (the buckets of --model-file m.wp are 5s wide), or --keep-partial" in line, line
    assert model_file.read_bytes() == saved


@pytest.mark.parametrize("command", ["forecast", "evaluate"])
def test_a_bucketed_series_of_one_bucket_is_too_short_whatever_freq_says(runner, tmp_path, command):
    path = bucketed_csv(tmp_path / "one.csv", periods=1)
    for extra in ([], ["--freq", "10s"]):
        line = _error_line(runner.invoke(main, [command, str(path), *extra]))
        assert "1 bucket, too few to fit" in line and "pass --freq ..." not in line and "infer" not in line


def test_a_model_file_is_still_updated_with_a_single_new_bucket(runner, tmp_path):
    model = tmp_path / "m.wp"
    first = runner.invoke(main, ["forecast", str(bucketed_csv(tmp_path / "a.csv")), "--model", "naive",
                                 "--horizon", "2", "--model-file", str(model)])
    assert first.exit_code == 0, first.output
    one = bucketed_csv(tmp_path / "one.csv", start="2024-05-10T00:33:20Z", periods=1)
    result = runner.invoke(main, ["forecast", str(one), "--model-file", str(model)])
    assert result.exit_code == 0, result.output
    assert "1 new bucket appended" in result.output


@pytest.mark.parametrize("rows, extra, blamed, absent", [
    (["2024-01-01T00:00:00", "3000-01-01T00:00:00"], [], "pass --unit ... to read them in another", "check --unit"),
    (["1700000000000", "1700000001000"], ["--unit", "s"], "check --unit s (and --origin)", "pass --unit ..."),
    (["1700000000", "1800000000"], [], "pass --unit ...", "wrong --unit"),
])
def test_unit_is_blamed_only_when_given(runner, tmp_path, rows, extra, blamed, absent):
    """Out-of-range stamps and a span over the bucket limit said "check --unit" / "a wrong --unit" without --unit."""
    path = tmp_path / "log.csv"
    path.write_text("timestamp\n" + "\n".join(rows) + "\n")
    result = runner.invoke(main, ["forecast", str(path), "--freq", "1s", *extra])
    assert result.exit_code == EXIT_DATA
    line = _error_line(result)
    assert blamed in line and absent not in line


@pytest.mark.parametrize("bad, row", [("hello", 2), ("2024-13-45", 3)])
def test_garbage_timestamps_are_named_with_their_row_not_called_offset_mixing(runner, tmp_path, bad, row):
    path = tmp_path / "log.csv"
    stamps = ["2024-05-10T00:00:00Z", "2024-05-10T00:00:01Z", "2024-05-10T00:00:02Z"]
    stamps[row - 1] = bad
    path.write_text("timestamp,input_tokens\n" + "".join(f"{s},1\n" for s in stamps))
    result = runner.invoke(main, ["forecast", str(path), "--freq", "1s"])
    assert result.exit_code == EXIT_DATA
    line = _error_line(result)
    assert "offset" not in line and "cannot parse timestamps" in line
    assert f"data row {row} holds {bad!r}, which is no timestamp" in line and "count from 1" in line


@pytest.mark.parametrize("value, shown", [("-3.0", "-3.0"), ("", "has no value at data row 58 (an empty cell")])
def test_values_are_quoted_plainly_at_the_files_data_row(runner, tmp_path, value, shown):
    """np.float64(-3.0) at row 2 (0-based) became -3.0 at data row 3; the file's rows count even when unsorted."""
    path = bucketed_csv(tmp_path / "bad.csv", periods=60)
    frame = pd.read_csv(path).astype({"requests": object})
    frame.loc[2, "requests"] = value
    frame.iloc[::-1].to_csv(path, index=False)  # newest first: the bad value is on the file's data row 58
    result = runner.invoke(main, ["forecast", str(path), "--model", "naive", "--horizon", "2"])
    assert result.exit_code == EXIT_DATA
    line = _error_line(result)
    assert "np.float64" not in line and shown in line
    assert "data row 58" in line and "Data rows count from 1" in line


def test_a_word_among_counts_is_quoted_with_its_row(runner, tmp_path):
    path = bucketed_csv(tmp_path / "bad.csv", periods=60)
    frame = pd.read_csv(path).astype({"requests": object})
    frame.loc[[4, 7], "requests"] = "n/a?"
    frame.to_csv(path, index=False)
    line = _error_line(runner.invoke(main, ["forecast", str(path), "--model", "naive", "--horizon", "2"]))
    assert "'n/a?' at data row 5" in line and "2 such values" in line and "dtype" not in line


def test_a_column_not_forecast_is_not_checked_for_counts(runner, tmp_path):
    """Only the targets asked for must hold counts: an empty output_tokens cell does not stop a forecast of requests
    (it stops one of output_tokens, naming its row)."""
    tokens = np.arange(60, dtype=float) * 10
    tokens[20] = np.nan
    path = bucketed_csv(tmp_path / "gap.csv", periods=60, output_tokens=tokens)
    result = runner.invoke(main, ["forecast", str(path), "--model", "naive", "--horizon", "2"])
    assert result.exit_code == 0, result.output
    line = _error_line(runner.invoke(main, ["forecast", str(path), "--model", "naive", "--horizon", "2",
                                            "--target", "output_tokens"]))
    assert "'output_tokens' has no value at data row 21 (an empty cell" in line


def test_durations_in_messages_are_plain(runner, tmp_path):
    irregular = bucketed_csv(tmp_path / "irregular.csv", periods=60)
    frame = pd.read_csv(irregular)
    frame.loc[10:, "timestamp"] = (pd.to_datetime(frame.loc[10:, "timestamp"]) + pd.Timedelta("5s")).astype(str)
    frame.to_csv(irregular, index=False)
    line = _error_line(runner.invoke(main, ["forecast", str(irregular), "--model", "naive"]))
    assert "is 15s, not the bucket width 10s" in line and "days" not in line
    line = _error_line(runner.invoke(main, ["forecast", str(bucketed_csv(tmp_path / "ok.csv")), "--freq", "5s"]))
    assert "a bucketed series at 10s, not --freq 5s" in line and "days" not in line


@pytest.mark.parametrize("header_comma", [False, True])
def test_a_trailing_comma_on_every_line_reads_the_columns_where_they_are(runner, tmp_path, header_comma):
    """pandas made the first column the index and shifted the names: TIMESTAMP held the token counts."""
    log = request_log(300)
    path = tmp_path / "trailing.csv"
    path.write_text(",".join(log.columns) + ("," if header_comma else "") + "\n"
                    + "".join(",".join(map(str, row)) + ",\n" for row in log.itertuples(index=False)))
    result = runner.invoke(main, ["inspect", str(path), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["columns"] == list(log.columns) and report["rows"] == len(log)
    assert pd.Timestamp(report["first"]) == pd.Timestamp(log["TIMESTAMP"].iloc[0], tz="UTC")
    assert report["input_tokens_per_request"]["max"] == log["ContextTokens"].max()


@pytest.mark.parametrize("suffix", [".csv", ".jsonl", ".csv.gz"])
def test_a_file_that_is_not_utf8_names_the_line_and_the_fix(runner, tmp_path, suffix):
    import gzip

    if suffix == ".jsonl":
        text = '{"t": "2024-05-10T00:00:00Z", "m": "a"}\n{"t": "2024-05-10T00:00:01Z", "m": "caf\xe9"}\n'
    else:
        text = "t,m\n2024-05-10T00:00:00Z,a\n2024-05-10T00:00:01Z,caf\xe9\n"
    data = text.encode("latin-1")
    path = tmp_path / f"latin{suffix}"
    path.write_bytes(gzip.compress(data) if suffix.endswith(".gz") else data)
    result = runner.invoke(main, ["inspect", str(path), "--timestamp-col", "t"])
    assert result.exit_code == EXIT_DATA
    line = _error_line(result)
    line_number, offset = (3 if suffix != ".jsonl" else 2), data.index(b"\xe9")
    assert f"line {line_number} (byte offset {offset}" in line and "0xE9" in line
    assert "re-encode the file as UTF-8" in line and "codec" not in line


def test_inspect_reports_empty_cells_text_and_irregular_steps(runner, tmp_path):
    """inspect said nothing of them: NaN was left out of the statistics, text coerced to NaN, odd steps unseen."""
    path = tmp_path / "messy.csv"
    path.write_text("timestamp,requests,input_tokens\n2024-05-10T00:00:00Z,1,5\n2024-05-10T00:00:10Z,,5\n"
                    "2024-05-10T00:00:20Z,x,5\n2024-05-10T00:00:25Z,2,y\n2024-05-10T00:00:30Z,3,5\n"
                    "2024-05-10T00:01:00Z,3,5\n")
    report = json.loads(runner.invoke(main, ["inspect", str(path), "--json"]).output)
    assert report["missing_values"] == {"requests": {"count": 1, "first_row": 2}}
    assert report["non_numeric_values"] == {"requests": {"count": 1, "first": "x", "first_row": 3},
                                            "input_tokens": {"count": 1, "first": "y", "first_row": 4}}
    assert report["irregular_steps"] == {"count": 2, "first_after": "2024-05-10T00:00:20Z", "first_step_s": 5.0}
    text = runner.invoke(main, ["inspect", str(path)]).output
    assert re.search(r"^missing values\s+requests 1 \(first at data row 2\)$", text, flags=re.M), text
    assert "input_tokens 1 (first 'y' at data row 4)" in text
    assert re.search(r"^irregular steps\s+2 \(the first: 5 s after 2024-05-10T00:00:20Z\)$", text, flags=re.M)


@pytest.mark.parametrize("stamps, frequency, missing", [
    # Before: the zero steps of the repeated stamps halved the median step: 5 s, and 2 "missing" buckets.
    (["00:00:00", "00:00:00", "00:00:10", "00:00:10", "00:00:20"], 10.0, 0),
    (["00:00:00", "00:00:00", "00:00:00"], None, 0),  # before: "0 us"
    (["00:00:00"], None, 0),  # before: --freq's default (1 s), reported as inferred
])
def test_inspect_infers_the_frequency_from_distinct_timestamps(runner, tmp_path, stamps, frequency, missing):
    path = tmp_path / "repeated.csv"
    path.write_text("timestamp,requests\n" + "".join(f"2024-05-10T{t}Z,1\n" for t in stamps))
    report = json.loads(runner.invoke(main, ["inspect", str(path), "--json"]).output)
    assert report["inferred_frequency_s"] == frequency and report["missing_buckets"] == missing
    assert report["duplicate_timestamps"] == len(stamps) - len(set(stamps))
    text = runner.invoke(main, ["inspect", str(path)]).output
    shown = "10 s" if frequency else r"none \(fewer than 2 distinct timestamps\)"
    assert re.search(rf"^inferred frequency\s+{shown}$", text, flags=re.M), text


def test_inspect_reports_text_in_a_request_logs_token_columns(runner, tmp_path):
    log = request_log(200).astype({"GeneratedTokens": object})
    log.loc[[3, 9], "GeneratedTokens"] = "?"
    path = tmp_path / "log.csv"
    log.to_csv(path, index=False)
    report = json.loads(runner.invoke(main, ["inspect", str(path), "--json"]).output)
    assert report["non_numeric_values"] == {"GeneratedTokens": {"count": 2, "first": "?", "first_row": 4}}
    assert report["missing_values"] == {}
    clean = json.loads(runner.invoke(main, ["inspect", str(bucketed_csv(tmp_path / "ok.csv")), "--json"]).output)
    assert clean["irregular_steps"] == {"count": 0} and clean["missing_values"] == clean["non_numeric_values"] == {}


def test_inspect_reports_negative_values_in_a_request_logs_token_columns(runner, tmp_path):
    """A token count of -5 went unreported ("non numeric values none"), and fits refuse it later."""
    log = request_log(200)
    log.loc[[5, 7], "GeneratedTokens"] = [-5, -1]
    path = tmp_path / "log.csv"
    log.to_csv(path, index=False)
    report = json.loads(runner.invoke(main, ["inspect", str(path), "--json"]).output)
    assert report["negative_values"] == {"GeneratedTokens": {"count": 2, "first": "-5", "first_row": 6}}
    text = runner.invoke(main, ["inspect", str(path), "--freq", "5s"]).output
    assert re.search(r"^negative values\s+GeneratedTokens 2 \(first '-5' at data row 6\)$", text, flags=re.M), text
    clean = json.loads(runner.invoke(main, ["inspect", str(bucketed_csv(tmp_path / "ok.csv")), "--json"]).output)
    assert clean["negative_values"] == {}


@pytest.mark.parametrize("value", ["1.5", "12.5", "0", "-3"])
def test_a_test_size_neither_fraction_nor_whole_count_is_a_usage_error(runner, tmp_path, value):
    """--test-size 1.5 was cut to 1 bucket without a word."""
    result = runner.invoke(main, ["evaluate", str(bucketed_csv(tmp_path / "s.csv")), "--test-size", value])
    assert result.exit_code == EXIT_USAGE, result.output
    assert "neither a fraction in (0, 1) nor a whole number of buckets" in result.output


def test_jobs_without_by_is_refused(runner, tmp_path):
    result = runner.invoke(main, ["forecast", str(bucketed_csv(tmp_path / "s.csv")), "--jobs", "2"])
    assert result.exit_code == EXIT_USAGE, result.output
    assert "drop --jobs, or pass --by" in result.output


def test_freq_is_checked_for_a_bucketed_fleet_as_for_one_series(runner, tmp_path):
    """forecast --by ignored a --freq that is not the fleet's bucket width; one series refuses it."""
    fleet = bucketed_fleet(tmp_path / "fleet.csv")
    result = runner.invoke(main, ["forecast", str(fleet), "--by", "service", "--model", "naive", "--horizon", "2",
                                  "--freq", "5s"])
    assert result.exit_code == EXIT_DATA, result.output
    assert "a bucketed series at 10s, not --freq 5s" in _error_line(result)
    same = runner.invoke(main, ["forecast", str(fleet), "--by", "service", "--model", "naive", "--horizon", "2",
                                "--freq", "10s"])
    assert same.exit_code == 0, same.output


def test_unknown_file_type_lists_exactly_the_suffixes_read(runner, tmp_path):
    from workload_predictor.readers import SUFFIXES, read_table

    path = tmp_path / "trace.xlsx"
    path.write_text("timestamp\n2024-05-10T00:00:00Z\n")
    line = _error_line(runner.invoke(main, ["inspect", str(path)]))
    assert sorted(re.findall(r"\.[a-z.]+[a-z]", line.split("unknown file type")[1])) == sorted(SUFFIXES)
    for suffix in SUFFIXES:  # and every one listed is read
        if suffix.endswith(".gz") or suffix == ".parquet":
            continue
        known = tmp_path / f"trace{suffix}"
        known.write_text('[{"timestamp": 1}]' if suffix == ".json" else
                         '{"timestamp": 1}\n' if "json" in suffix else "timestamp\n1\n")
        assert list(read_table(known).columns) == ["timestamp"]


def test_per_key_rows_are_the_files_data_rows(runner, tmp_path):
    path = tmp_path / "fleet.csv"
    path.write_text("TIMESTAMP,model,requests\n2024-05-10T00:00:00Z,a,1\n2024-05-10T00:00:10Z,a,\n"
                    "2024-05-10T00:00:20Z,a,1\n2024-05-10T00:00:00Z,b,1\n")
    line = _error_line(runner.invoke(main, ["forecast", str(path), "--by", "model", "--model", "naive",
                                            "--horizon", "1"]))
    assert "at data row 2 (" in line and "Data rows count from 1, after any header line." in line


# -- review 2 of the command line: wrong answers, internal errors, messages ------------------------------------
def _one_error_line(result, code=EXIT_DATA) -> str:
    """The one ``error:`` line of a failed command (after checking its exit code and that it has no traceback)."""
    assert result.exit_code == code, result.output
    assert "Traceback" not in result.output and "internal error" not in result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.output
    return lines[0]


def test_a_day_first_log_is_bucketed_on_its_own_days(runner, tmp_path):
    path = tmp_path / "eu_dates.csv"
    rows = [f"{day:02d}/02/2024 00:{minute:02d}:00,100,10" for day in range(10, 15) for minute in range(60)]
    path.write_text("TIMESTAMP,ContextTokens,GeneratedTokens\n" + "\n".join(rows) + "\n")
    result = runner.invoke(main, ["forecast", str(path), "--freq", "1h", "--model", "naive", "-q"])
    assert result.exit_code == 0, result.output
    # Five days at one-hour buckets, the first and last partial dropped (month first, 10/02 would be October 2).
    assert "-> 95 buckets of 60 min, 2024-02-10 01:00:00Z .. 2024-02-13 23:00:00Z" in result.output


def test_a_model_file_of_a_token_target_refuses_requests(runner, tmp_path):
    series = tmp_path / "tokens.csv"
    bucketed_csv(series, input_tokens=(np.arange(200) % 5 + 3) * 1000)
    model_file, requests = tmp_path / "m.wp", tmp_path / "r.csv"
    fit = runner.invoke(main, ["forecast", str(series), "--target", "input_tokens", "--model", "naive", "--horizon",
                               "3", "--model-file", str(model_file), "-q"])
    assert fit.exit_code == 0, fit.output
    saved = model_file.read_bytes()
    result = runner.invoke(main, ["forecast", str(series), "--model-file", str(model_file), "--requests",
                                  str(requests), "-q"])
    line = _one_error_line(result)
    assert "--requests" in line and "forecasts input_tokens only" in line and "--target requests" in line
    assert not requests.exists() and model_file.read_bytes() == saved


def test_a_reused_model_file_prints_the_value_of_its_own_last_bucket(runner, tmp_path):
    whole = bucketed_csv(tmp_path / "whole.csv", periods=200)  # requests = i % 5 + 3: the last (199) is 7
    head = tmp_path / "head.csv"
    pd.read_csv(whole).iloc[:151].to_csv(head, index=False)  # its last (150) is 3
    model_file = tmp_path / "m.wp"
    assert runner.invoke(main, ["forecast", str(whole), "--model", "naive", "--horizon", "3", "--model-file",
                                str(model_file), "-q"]).exit_code == 0
    result = runner.invoke(main, ["forecast", str(head), "--model-file", str(model_file), "-q"])
    assert result.exit_code == 0, result.output
    last = next(line for line in result.output.splitlines() if line.startswith("last"))
    assert last == "last    2024-05-10 00:33:10Z  requests=7"


@pytest.mark.parametrize("command", ["forecast", "evaluate"])
def test_a_target_the_bucketed_series_lacks_is_named(runner, tmp_path, command):
    series = bucketed_csv(tmp_path / "series.csv")
    line = _one_error_line(runner.invoke(main, [command, str(series), "--target", "input_tokens", "-q"]))
    assert "series.csv has no input_tokens (it has requests)" in line


@pytest.mark.parametrize("args", [
    ["inspect", "{log}"],
    ["forecast", "{log}", "--freq", "1s"],
    ["forecast", "{log}", "--freq", "1s", "--by", "svc"],
    ["forecast", "{series}"],
    ["forecast", "{series}", "--by", "svc"],
    ["inspect", "{series}"],
])
def test_timestamps_centuries_apart_are_a_data_error(runner, tmp_path, args):
    log, series = tmp_path / "span.csv", tmp_path / "span_series.csv"
    log.write_text("TIMESTAMP,svc\n1700-01-01T00:00:00Z,a\n2000-01-01T00:00:00Z,a\n2200-01-01T00:00:00Z,b\n")
    series.write_text("timestamp,requests,svc\n1700-01-01T00:00:00Z,1,a\n2000-01-01T00:00:00Z,2,a\n"
                      "2200-01-01T00:00:00Z,3,b\n")
    line = _one_error_line(runner.invoke(main, [a.format(log=log, series=series) for a in args]))
    assert "span 500 years" in line and "292 years" in line


def test_a_model_file_reused_on_a_trace_without_its_token_target_is_a_data_error(runner, tmp_path):
    log = request_log(600)
    with_tokens, without = tmp_path / "log.csv", tmp_path / "log_notok.csv"
    log.to_csv(with_tokens, index=False)
    log[["TIMESTAMP"]].to_csv(without, index=False)
    model_file = tmp_path / "m.wp"
    fit = runner.invoke(main, ["forecast", str(with_tokens), "--freq", "10s", "--model", "naive", "--horizon", "3",
                               "--target", "requests", "--target", "input_tokens", "--model-file", str(model_file),
                               "-q"])
    assert fit.exit_code == 0, fit.output
    saved = model_file.read_bytes()
    line = _one_error_line(runner.invoke(main, ["forecast", str(without), "--freq", "10s", "--model-file",
                                                str(model_file), "-q"]))
    assert "forecasts requests, input_tokens" in line and "log_notok.csv has no input_tokens" in line
    assert model_file.read_bytes() == saved


def test_requests_of_a_huge_load_are_refused_before_they_are_allocated(runner, tmp_path, monkeypatch):
    import workload_predictor.synthetic_requests as synthetic

    class NoRepeat:  # numpy for synthetic_requests, less the call that allocates one entry per request
        def __getattr__(self, name):
            return getattr(np, name)

        def repeat(self, *args, **kwargs):
            raise AssertionError("the requests were allocated")

    monkeypatch.setattr(synthetic, "np", NoRepeat())  # 1e10 requests would be 75 GiB of arrival times
    series, requests = tmp_path / "huge.csv", tmp_path / "r.csv"
    bucketed_csv(series, requests=np.full(200, 10**9))
    result = runner.invoke(main, ["forecast", str(series), "--model", "naive", "--requests", str(requests), "-q"])
    assert result.exit_code == EXIT_DATA, result.output
    line = result.output.strip().splitlines()[-1]
    assert line.startswith("error: ") and "10,000,000,000 synthetic requests" in line
    assert "more than 100,000,000" in line and not requests.exists()


def test_a_bad_cell_in_a_token_column_no_target_needs_is_ignored_and_one_it_needs_is_named(runner, tmp_path):
    path = tmp_path / "bad_token.csv"
    log = request_log(600).astype({"ContextTokens": object})
    log.loc[5, "ContextTokens"] = "abc"
    log.to_csv(path, index=False)
    requests_only = runner.invoke(main, ["forecast", str(path), "--freq", "10s", "--model", "naive", "-q"])
    assert requests_only.exit_code == 0, requests_only.output
    line = _one_error_line(runner.invoke(main, ["forecast", str(path), "--freq", "10s", "--model", "naive",
                                                "--target", "input_tokens", "-q"]))
    assert "column 'ContextTokens' holds 'abc' at data row 6, not a number" in line


def test_an_integer_wider_than_int64_is_reported_as_too_large_at_its_row(runner, tmp_path):
    path = bucketed_csv(tmp_path / "series.csv")
    lines = path.read_text().splitlines()
    lines[8] = lines[8].split(",")[0] + ",99999999999999999999999999"
    path.write_text("\n".join(lines) + "\n")
    line = _one_error_line(runner.invoke(main, ["forecast", str(path), "--model", "naive", "-q"]))
    assert "holds 1e+26 at data row 8, above 1e+18" in line


def test_an_unclosed_quote_is_named_at_its_line_of_the_file(runner, tmp_path):
    path = tmp_path / "quote5.csv"
    lines = ["timestamp,input_tokens"] + [f"2024-01-01T00:00:{i:02d}Z,1" for i in range(40)]
    lines[5] = '"' + lines[5]  # the file's line 6, its data row 5
    path.write_text("\n".join(lines) + "\n")
    line = _one_error_line(runner.invoke(main, ["forecast", str(path), "--freq", "1s"]))
    assert "EOF inside string starting at line 6" in line and "row 6" not in line


@pytest.mark.parametrize("args", [
    ["forecast", "{path}", "--freq", "1s", "--input-col", "nosuch"],
    ["inspect", "{path}", "--input-col", "nosuch"],
    ["forecast", "{path}", "--freq", "1s", "--by", "nosuch"],
    ["evaluate", "{path}", "--freq", "1s", "--by", "nosuch"],
    ["forecast", "{path}", "--freq", "1s", "--requests", "{requests}", "--format", "vidur-main"],
])
def test_messages_cut_long_column_names_short(runner, tmp_path, args):
    path = tmp_path / "longcol.csv"
    path.write_text("timestamp," + "X" * 200_000 + "\n" + "".join(f"2024-01-01T00:00:{i:02d}Z,1\n" for i in range(40)))
    args = [a.format(path=path, requests=tmp_path / "r.csv") for a in args]
    line = _one_error_line(runner.invoke(main, args))
    assert len(line) < 400 and "XXXXXXXXXX" in line


def test_a_test_size_that_leaves_one_training_bucket_names_the_option(runner, tmp_path):
    series = bucketed_csv(tmp_path / "series.csv", periods=400)
    line = _one_error_line(runner.invoke(main, ["evaluate", str(series), "--models", "dlinear", "--test-size", "399",
                                                "-q"]))
    assert "leaves 1 training bucket" in line and "pass --test-size 398 or less" in line


def test_an_absurd_test_size_is_quoted_short(runner, tmp_path):
    series = bucketed_csv(tmp_path / "series.csv", periods=400)
    line = _one_error_line(runner.invoke(main, ["evaluate", str(series), "--models", "dlinear", "--test-size",
                                                "1e300", "-q"]))
    assert len(line) < 250 and "test span" in line


@pytest.mark.parametrize("suffix", [".jsonl", ".json", ".jsonl.gz"])
def test_json_files_with_a_byte_order_mark_are_read(runner, tmp_path, suffix):
    import gzip

    records = [{"timestamp": f"2024-01-01T00:00:{i:02d}Z", "input_tokens": 1} for i in range(40)]
    text = json.dumps(records) if suffix == ".json" else "".join(json.dumps(r) + "\n" for r in records)
    data = b"\xef\xbb\xbf" + text.encode()
    path = tmp_path / f"bom{suffix}"
    path.write_bytes(gzip.compress(data) if suffix.endswith(".gz") else data)
    result = runner.invoke(main, ["forecast", str(path), "--freq", "1s", "--model", "naive", "-q"])
    assert result.exit_code == 0, result.output
    assert "(request log, 40 requests) -> 38 buckets of 1 s" in result.output


# -- a new user's first hour (review h3) --------------------------------------------------------------------
def test_help_examples_name_files_the_help_says_how_to_write(runner):
    """The examples ran on AzureLLMInferenceTrace_conv.csv, a file no one has (the package bundles a .csv.gz in
    site-packages): they use conv.csv and code.csv, which the top-level help shows how to write."""
    top = runner.invoke(main, ["--help"]).output
    assert "azure_llm_trace('conv').to_csv('conv.csv', index=False)" in top
    for command in ([], ["forecast"], ["evaluate"], ["inspect"]):
        text = runner.invoke(main, [*command, "--help"]).output
        assert "AzureLLMInferenceTrace" not in text
        examples = [line for line in text.splitlines() if line.strip().startswith("workload-predictor ")]
        assert examples and all(re.search(r" (conv|code)\.csv\b| \S+\.jsonl\b", line) for line in examples), examples


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc, where no file can be created")
@pytest.mark.parametrize("command, option, name", [
    ("forecast", "--out", "wp-h3.csv"),
    ("forecast", "--plot", "wp-h3.png"),
    ("forecast", "--requests", "wp-h3-requests.csv"),
    ("forecast", "--model-file", "wp-h3.wp"),
    ("evaluate", "--json", "wp-h3.json"),
    ("evaluate", "--plot", "wp-h3.png"),
])
def test_an_output_file_that_cannot_be_created_is_refused_before_the_fit(runner, azure_csv, monkeypatch, command,
                                                                          option, name):
    """/proc passes a folder check (as root, os.access says yes to every folder), yet no file can be created in
    it: the fit ran, printed its table, and then the command ended with a bare '[Errno 2] No such file or
    directory' (exit 3) that named no option."""
    result = _run_without_fitting(runner, azure_csv, monkeypatch, command, option, f"/proc/{name}")
    assert result.exit_code == EXIT_USAGE, result.output
    assert option in result.output and "write somewhere else" in result.output
    assert "the fit ran" not in result.output and "[Errno" not in result.output


def test_an_output_write_that_fails_after_the_fit_names_the_option(runner, azure_csv, tmp_path, monkeypatch):
    """A write the checks before the fit cannot foresee (a full disk) ended in a bare '[Errno 28] ...'."""
    def full_disk(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("workload_predictor.cli._write_forecast", full_disk)
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(main, ["forecast", str(azure_csv), "--freq", "5s", "--model", "naive", "-q",
                                  "--out", "fc.csv"])
    assert result.exit_code == EXIT_DATA, result.output
    assert result.output.strip().splitlines()[-1] == ("error: cannot write --out 'fc.csv': No space left on device; "
                                                     "write somewhere else.")


@pytest.mark.parametrize("command", ["forecast", "evaluate"])
def test_a_bucketed_csv_without_a_requests_column_says_how_it_was_read(runner, tmp_path, command):
    """A bucketed CSV whose count column is `count` was called a request log with no word on why: passing the
    --freq asked for would count each bucket as one request."""
    path = tmp_path / "buckets.csv"
    pd.read_csv(bucketed_csv(path)).rename(columns={"requests": "count"}).to_csv(path, index=False)
    result = runner.invoke(main, [command, str(path)])
    assert result.exit_code == EXIT_USAGE, result.output
    assert "pass --freq" in result.output and "name its count column `requests`" in result.output


def test_a_model_file_that_holds_no_model_names_the_option_and_the_fix(runner, azure_csv, monkeypatch):
    """--model-file naming an existing file that is not a model (here the trace itself) said only 'not a
    workload-predictor model file: ... Load only files written by WorkloadPredictor.save(...)'."""
    before = azure_csv.read_bytes()
    monkeypatch.chdir(azure_csv.parent)
    line = _one_error_line(runner.invoke(main, ["forecast", "trace.csv", "--freq", "5s", "--model-file",
                                                "trace.csv"]))
    assert "--model-file 'trace.csv' exists but cannot be loaded" in line
    assert "a new file name" in line and "WorkloadPredictor.save" not in line
    assert azure_csv.read_bytes() == before


def test_settings_a_loaded_model_file_was_not_fitted_with_are_refused(runner, azure_csv, tmp_path):
    """With an existing --model-file, --model lstm --horizon 5 were ignored without a word: the run forecast
    with the file's dlinear and horizon 3."""
    model_file = tmp_path / "m.wp"
    fit = ["forecast", str(azure_csv), "--freq", "5s", "--model", "dlinear", "--horizon", "3", "-q",
           "--model-file", str(model_file)]
    assert runner.invoke(main, fit).exit_code == 0
    saved = model_file.read_bytes()
    result = runner.invoke(main, ["forecast", str(azure_csv), "--freq", "5s", "--model", "lstm", "--horizon", "5",
                                  "--model-file", str(model_file)])
    assert result.exit_code == EXIT_USAGE, result.output
    assert "--model lstm, --horizon 5: m.wp was fitted with --model dlinear, --horizon 3" in result.output
    assert "drop --model and --horizon" in result.output and model_file.read_bytes() == saved
    result = runner.invoke(main, ["forecast", str(azure_csv), "--freq", "5s", "--level", "0.8", "--target",
                                  "input_tokens", "--model-file", str(model_file)])
    assert result.exit_code == EXIT_USAGE and "m.wp was fitted with --target requests" in result.output, result.output
    assert "--level" not in result.output  # a level is applied to a loaded model (the next test)
    assert runner.invoke(main, fit).exit_code == 0  # the same settings again: loaded and updated


def test_a_level_given_with_a_loaded_model_file_is_the_forecasts_interval(runner, azure_csv, tmp_path):
    """--level with an existing --model-file was refused (a loaded model kept the level it was fitted at). It now
    forecasts the interval at that level from the file's validation errors (predict(level=...)), and the file keeps
    its own level; without --level the run forecasts at the file's level."""
    model_file, out = tmp_path / "m.wp", tmp_path / "fc.csv"
    run = ["forecast", str(azure_csv), "--freq", "5s", "--horizon", "3", "-q", "--model", "dlinear",
           "--model-file", str(model_file), "--out", str(out)]
    assert runner.invoke(main, run).exit_code == 0
    for given, level in ((["--level", "0.8"], 0.8), ([], 0.9)):
        result = runner.invoke(main, [*run, *given])
        assert result.exit_code == 0, result.output
        loaded = WorkloadPredictor.load(model_file)
        assert loaded.level == loaded.interval_level_ == 0.9
        expected = loaded.predict(level=level).to_frame()
        written = pd.read_csv(out)
        np.testing.assert_allclose(written["lower"], expected["lower"], rtol=1e-6)
        np.testing.assert_allclose(written["upper"], expected["upper"], rtol=1e-6)
        assert f"level   {level:g} interval" in result.output or level == 0.9


# -- power-user paths: usage mistakes exit 2 with one line, never silently merged or overwritten ----------------
def keyed_log(tmp_path, key: str = "model"):
    log = request_log(1500)
    log[key] = np.random.default_rng(1).choice(["a", "b"], len(log))
    path = tmp_path / "keyed.csv"
    log.to_csv(path, index=False)
    return path


def test_evaluate_unknown_model_name_is_quoted_cut_short(runner, azure_csv):
    result = runner.invoke(main, ["evaluate", str(azure_csv), "--freq", "5s", "--models", "x" * 5000])
    assert result.exit_code == EXIT_USAGE, result.output
    assert "unknown" in result.output and len(result.output) < 1200


def test_evaluate_model_listed_twice_is_a_usage_error(runner, azure_csv):
    result = runner.invoke(main, ["evaluate", str(azure_csv), "--freq", "5s", "--models", "dlinear,dlinear",
                                  "--baselines", "naive"])
    assert result.exit_code == EXIT_USAGE, result.output
    assert "listed twice" in result.output


def test_evaluate_name_in_models_and_baselines_is_a_usage_error(runner, azure_csv):
    result = runner.invoke(main, ["evaluate", str(azure_csv), "--freq", "5s", "--horizon", "3", "--models", "naive",
                                  "--baselines", "naive"])
    assert result.exit_code == EXIT_USAGE, result.output
    assert "both --models and --baselines" in result.output


def test_evaluate_by_a_column_named_as_a_model_is_refused(runner, tmp_path):
    path = keyed_log(tmp_path, key="naive")
    result = runner.invoke(main, ["evaluate", str(path), "--by", "naive", "--freq", "10s", "--horizon", "3",
                                  "--models", "dlinear", "--baselines", "naive"])
    assert result.exit_code == EXIT_USAGE, result.output
    assert "--by" in result.output and "rename" in result.output


@pytest.mark.parametrize("command, options", [
    ("forecast", ["--out", "{same}", "--requests", "{same}"]),
    ("forecast", ["--out", "{same}", "--model-file", "{same}"]),
    ("evaluate", ["--json", "{same}", "--plot", "{same}"]),
])
def test_two_outputs_in_one_file_are_refused(runner, azure_csv, tmp_path, command, options):
    same = tmp_path / ("out.png" if "--plot" in options else "out.csv")
    models = ["--model", "naive"] if command == "forecast" else ["--models", "naive", "--baselines", ""]
    result = runner.invoke(main, [command, str(azure_csv), "--freq", "5s", "--horizon", "3", *models,
                                  *[o.format(same=same) for o in options]])
    assert result.exit_code == EXIT_USAGE, result.output
    assert "same file" in result.output and not same.exists()


def test_forecast_by_a_column_named_as_the_forecast_table_is_a_usage_error(runner, tmp_path):
    path = keyed_log(tmp_path, key="yhat")
    result = runner.invoke(main, ["forecast", str(path), "--by", "yhat", "--freq", "10s", "--model", "naive"])
    assert result.exit_code == EXIT_USAGE, result.output
    assert "--by" in result.output and "key=" not in result.output and "data.rename" not in result.output


def test_requests_from_a_bucketed_series_without_tokens_name_the_columns_it_needs(runner, tmp_path):
    # --input-col/--output-col name a request log's columns: the advice for a bucketed series is its own columns.
    path = bucketed_csv(tmp_path / "series.csv", prompt=np.arange(200) % 5 * 100)
    args = ["forecast", str(path), "--horizon", "3", "--model", "naive", "--requests", str(tmp_path / "req.csv"),
            "--format", "vidur-0.0.26"]
    result = runner.invoke(main, args)
    assert result.exit_code == EXIT_DATA, result.output
    assert "input_tokens" in result.output and "--format native" in result.output, result.output
    assert "name them with --input-col" not in result.output, result.output
    assert not (tmp_path / "req.csv").exists()


def test_by_prints_float_keys_unrounded(runner, tmp_path):
    # The tables' float format must not round keys: 1.0001 and 1.0004 would both read 1.00 (or 1.000).
    path = tmp_path / "fleet.csv"
    frame = pd.concat([pd.read_csv(bucketed_csv(tmp_path / "one.csv", periods=80)).assign(k=key)
                       for key in (1.0001, 1.0004)])
    frame.to_csv(path, index=False)
    forecast = runner.invoke(main, ["forecast", str(path), "--by", "k", "--horizon", "2", "--model", "naive"])
    assert forecast.exit_code == 0, forecast.output
    evaluate = runner.invoke(main, ["evaluate", str(path), "--by", "k", "--horizon", "2", "--models", "naive",
                                    "--baselines", "moving_average"])
    assert evaluate.exit_code == 0, evaluate.output
    for result in (forecast, evaluate):
        assert "1.0001 " in result.output and "1.0004 " in result.output, result.output


def test_a_fleet_with_many_skipped_keys_names_them_in_cli_words(runner, tmp_path):
    """Past the five keys shown with their reasons, the CLI named a Python attribute (FleetPredictor.errors_) that a
    CLI user cannot read; it now lists the keys themselves, up to 25 in all, then their number."""
    good = pd.read_csv(bucketed_fleet(tmp_path / "fleet.csv"))
    short = pd.DataFrame({"timestamp": ["2024-05-10T00:00:00Z"] * 30, "service": [f"k{i:02d}" for i in range(30)],
                          "requests": 1})
    path = tmp_path / "mixed.csv"
    pd.concat([good, short]).to_csv(path, index=False)
    result = runner.invoke(main, ["forecast", str(path), "--by", "service", "--model", "naive", "--horizon", "2"])
    assert result.exit_code == 0, result.output
    assert "FleetPredictor.errors_" not in result.output
    assert "skipped 25 more keys: k05, k06, " in result.output and "k24 and 5 more" in result.output


def test_the_fleet_summary_reads_maes_equal_to_rounding_as_a_tie():
    """An idle key: the naive forecast's MAE is exactly 0, DLinear's 3.4e-17 (float rounding of zeros). Before: the
    ratio 3.4e-17 / 0 = inf made the fleet's median and worst ratio inf (null in --json) over keys whose real
    ratios were 0.83 and a tie."""
    from workload_predictor.cli import fleet_summary_table

    per_key = pd.DataFrame({"svc": ["big", "idle", "small"], "dlinear": [7.3209285352, 3.376928367e-17, 1e-9],
                            "naive": [8.7948717949, 0.0, 2e-9]})
    summary = fleet_summary_table(per_key, "svc", ["dlinear"], ["naive"])["summary"].iloc[0]
    assert summary["share_beats"] == 1 / 3  # big; idle is a tie; 1e-9 against 2e-9 is rounding too
    assert summary["median_ratio"] == 1.0 and summary["worst_ratio"] == 1.0


def test_the_verdict_on_an_idle_series_reads_a_tie_not_nan():
    """An idle series: every model and baseline forecast its zeros (MAE 0, or 1e-17 of rounding). Before: "dlinear MAE
    0.000 vs best baseline naive 0.000: +nan%", and a model above an exact baseline printed "+inf%"."""
    from workload_predictor.cli import _verdicts

    table = pd.DataFrame({"model": ["dlinear", "ensemble", "naive"], "target": "requests",
                          "kind": ["model", "model", "baseline"], "mae": [1e-17, 0.5, 0.0]})
    lines = _verdicts(table)
    assert lines[1] == "dlinear MAE 0.000 vs best baseline naive 0.000: +0.0% (a tie)"
    assert lines[2] == "ensemble MAE 0.500 vs best baseline naive 0.000: above the baseline's exact forecast"


def test_inspect_of_an_idle_series_shows_no_python_none(runner, tmp_path):
    """Before: "requests per bucket   mean 0, std 0, var/mean None, ..." (the JSON's null, printed by Python)."""
    path = tmp_path / "idle.csv"
    pd.DataFrame({"timestamp": pd.date_range("2024-01-01", periods=50, freq="10s", tz="UTC"),
                  "requests": np.zeros(50)}).to_csv(path, index=False)
    result = runner.invoke(main, ["inspect", str(path)])
    assert result.exit_code == 0, result.output
    line = next(line for line in result.output.splitlines() if line.startswith("requests per bucket"))
    assert "None" not in line and "var/mean n/a" in line


def test_inspect_reports_a_log_whose_rows_step_back_in_time(runner, tmp_path):
    """A request log in naive local wall-clock time across the US fall-back: 01:00-02:00 comes twice, so the log steps
    back an hour and that hour's buckets count twice the load. Before: inspect said nothing (every statistic is of
    the sorted timestamps), and p90/max per bucket showed the doubled hour as real load."""
    stamps = pd.date_range("2024-11-03 00:00", "2024-11-03 04:00", freq="2s", tz="America/New_York")
    path = tmp_path / "local.csv"
    pd.DataFrame({"TIMESTAMP": stamps.tz_localize(None).strftime("%Y-%m-%d %H:%M:%S"), "ContextTokens": 10,
                  "GeneratedTokens": 5}).to_csv(path, index=False)
    result = runner.invoke(main, ["inspect", str(path), "--freq", "1min"])
    assert result.exit_code == 0, result.output
    # 01:59:58 is followed by 01:00:00 (data row 3601), the repeated hour's first request
    assert re.search(r"rows out of order +1 \(the largest step back: 59 min 58 s, at data row 3601;", result.output)
    assert "UTC offset" in result.output
    report = json.loads(runner.invoke(main, ["inspect", str(path), "--freq", "1min", "--json"]).output)
    assert report["rows_out_of_order"] == {"count": 1, "largest_step_back_s": 3598.0, "largest_at_row": 3601,
                                           "without_utc_offset": True}
    in_order = tmp_path / "in_order.csv"
    pd.DataFrame({"TIMESTAMP": stamps.tz_convert("UTC").strftime("%Y-%m-%dT%H:%M:%SZ"), "ContextTokens": 10,
                  "GeneratedTokens": 5}).to_csv(in_order, index=False)
    assert "out of order" not in runner.invoke(main, ["inspect", str(in_order), "--freq", "1min"]).output


def test_inspect_says_whether_the_times_carry_a_utc_offset(runner, tmp_path):
    """A log whose stamps have no UTC offset is read as UTC: one kept in local time (New York) is forecast 5 hours
    off without a word, and inspect's first/last (marked Z) did not say that the Z was assumed. Stamps with an offset
    and numeric epochs are instants: no."""
    stamps = pd.date_range("2024-05-10 08:00", periods=600, freq="2s", tz="America/New_York")
    files = {"naive": stamps.tz_localize(None).strftime("%Y-%m-%d %H:%M:%S"),
             "offset": stamps.strftime("%Y-%m-%dT%H:%M:%S%z"),
             "epoch": (stamps - pd.Timestamp("1970-01-01", tz="UTC")) // pd.Timedelta("1ms")}
    for name, column in files.items():
        path = tmp_path / f"{name}.csv"
        pd.DataFrame({"TIMESTAMP": column, "ContextTokens": 10, "GeneratedTokens": 5}).to_csv(path, index=False)
        text = runner.invoke(main, ["inspect", str(path), "--freq", "10s"])
        report = json.loads(runner.invoke(main, ["inspect", str(path), "--freq", "10s", "--json"]).output)
        assert text.exit_code == 0, text.output
        assert report["times_without_utc_offset"] is (name == "naive"), (name, report)
        said = re.search(r"^times without utc offset +(.*)$", text.output, flags=re.M)[1]
        assert said.startswith("yes: read as UTC") if name == "naive" else said == "no", (name, said)


def test_inspect_reports_a_log_whose_rows_repeat_earlier_requests(runner, tmp_path):
    """A request log exported twice over an hour (or merged with an overlapping one) repeats rows, and bucketize
    counts each as a request: the hour's load doubles. Before: inspect said nothing (only "rows out of order", where
    the repeat did not start in order). A row that shares a timestamp but not the token counts is another request, and
    a log without token counts, whose stamps to the second repeat by nature, is not judged."""
    rng = np.random.default_rng(3)
    stamps = pd.date_range("2024-05-10T00:00:00Z", periods=400, freq="1s") + pd.to_timedelta(
        rng.integers(0, 999_999, 400), unit="us")
    log = pd.DataFrame({"TIMESTAMP": stamps.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
                        "ContextTokens": rng.integers(1, 4000, 400), "GeneratedTokens": rng.integers(1, 500, 400)})
    same_time = log.iloc[[10]].assign(ContextTokens=lambda f: f["ContextTokens"] + 1)  # another request
    twice = pd.concat([log.iloc[:200], same_time, log.iloc[150:200], log.iloc[200:]], ignore_index=True)
    path = tmp_path / "twice.csv"
    twice.to_csv(path, index=False)
    result = runner.invoke(main, ["inspect", str(path), "--freq", "10s"])
    assert result.exit_code == 0, result.output
    # data rows 202..251 repeat data rows 151..200; row 201 shares row 11's timestamp only
    assert re.search(r"repeated requests +50 \(.*a log exported twice\? The first: data row 202, as data row 151\)",
                     result.output), result.output
    report = json.loads(runner.invoke(main, ["inspect", str(path), "--freq", "10s", "--json"]).output)
    assert report["repeated_requests"] == {"count": 50, "first_at_row": 202, "repeats_row": 151}
    once = tmp_path / "once.csv"
    pd.concat([log.iloc[:200], same_time, log.iloc[200:]]).to_csv(once, index=False)
    assert re.search(r"repeated requests +0\n", runner.invoke(main, ["inspect", str(once), "--freq", "10s"]).output)
    seconds = tmp_path / "seconds.csv"
    pd.DataFrame({"TIMESTAMP": stamps.strftime("%Y-%m-%dT%H:%M:%SZ").repeat(2)}).to_csv(seconds, index=False)
    result = runner.invoke(main, ["inspect", str(seconds), "--freq", "10s", "--json"])
    assert result.exit_code == 0 and "repeated_requests" not in json.loads(result.output), result.output


def test_a_model_file_update_says_when_the_ensemble_moved_weight_to_a_member_on_the_newest_windows(runner, tmp_path):
    """After a level shift an ensemble's update moves weight to the member that follows it (``shift_share_``); the
    summary named only the combination chosen at fit, which no longer says what forecasts."""
    rng = np.random.default_rng(0)
    model_file = tmp_path / "m.wp"
    first = bucketed_csv(tmp_path / "first.csv", periods=600, requests=rng.poisson(30, 600))
    assert runner.invoke(main, ["forecast", str(first), "--horizon", "5", "--model-file", str(model_file)]).exit_code == 0
    assert "moved to" not in runner.invoke(main, ["forecast", str(first), "--horizon", "5"]).output
    later = bucketed_csv(tmp_path / "later.csv", start="2024-05-10T01:40:00Z", periods=40,
                         requests=rng.poisson(300, 40))
    result = runner.invoke(main, ["forecast", str(later), "--model-file", str(model_file)])
    assert result.exit_code == 0, result.output
    moved = re.search(r"(\d\.\d\d) of the weight moved to (\w+), far better on the newest windows", result.output)
    assert moved and float(moved.group(1)) > 0, result.output


def test_the_weight_a_shift_moved_is_named_where_it_went(runner, tmp_path):
    """A shift to DLinear's slot moves the weight to the LSTM where it shares that slot: the model line said "1.00 of
    the weight moved to dlinear" beside "dlinear 0.00, lstm 1.00". The member named must hold the weight moved."""
    from workload_predictor import WorkloadPredictor

    rng = np.random.default_rng(0)
    level = np.r_[np.full(1500, 30.0), np.full(12, 300.0)]
    frame = pd.DataFrame({"timestamp": pd.date_range("2024-01-01", periods=len(level), freq="10s", tz="UTC"),
                          "requests": rng.poisson(level).astype(float)})
    predictor = WorkloadPredictor(model="ensemble", horizon=10, random_state=0,
                                  model_params={"member_params": {"lstm": {"max_epochs": 1}}}).fit(frame[:1500])
    for i in range(1500, 1511):  # one bucket at a time: the 12th (the command's update) moves the weight
        predictor.update(frame[i : i + 1])
    model_file = predictor.save(tmp_path / "m.wp")
    trace = tmp_path / "trace.csv"
    frame.assign(timestamp=frame.timestamp.dt.strftime("%Y-%m-%dT%H:%M:%SZ")).to_csv(trace, index=False)
    result = runner.invoke(main, ["forecast", str(trace), "--model-file", str(model_file)])
    assert result.exit_code == 0, result.output
    weights = dict((name, float(value)) for name, value in re.findall(r"(\w+) (\d\.\d\d)[,;]", result.output))
    moved = re.search(r"(\d\.\d\d) of the weight moved to (\w+)(?: \(the (\w+)'s weight)?", result.output)
    assert moved, result.output
    holder = moved.group(3) or moved.group(2)
    assert weights[holder] >= float(moved.group(1)) > 0, result.output


def test_two_runs_at_once_on_one_model_file_keep_both_logs_buckets(tmp_path, monkeypatch):
    """Two runs at once (a cron job whose previous run is still going) each loaded the same file and updated it
    with their own log; the later save won: the buckets of the other log were lost, or zero-filled by the run of
    the later log. The second run now waits for the first to save, then loads what it saved."""
    import threading

    from workload_predictor import WorkloadPredictor

    model = tmp_path / "m.wp"
    fit = ["forecast", str(bucketed_csv(tmp_path / "a.csv")), "--model", "naive", "--horizon", "2", "-q",
           "--model-file", str(model)]
    assert CliRunner().invoke(main, fit).exit_code == 0
    first = bucketed_csv(tmp_path / "b.csv", start="2024-05-10T00:33:20Z", periods=5, requests=[100] * 5)
    second = bucketed_csv(tmp_path / "c.csv", start="2024-05-10T00:34:10Z", periods=5, requests=[200] * 5)
    load, update = WorkloadPredictor.load.__func__, WorkloadPredictor.update
    loads, second_loaded = [], threading.Event()

    def counted_load(cls, *args, **kwargs):
        predictor = load(cls, *args, **kwargs)
        loads.append(threading.current_thread().name)
        if len(loads) == 2:
            second_loaded.set()
        return predictor

    def slow_update(self, *args, **kwargs):
        if threading.current_thread().name == "first":
            second_loaded.wait(timeout=3)  # before: the second run loaded the file meanwhile
        return update(self, *args, **kwargs)

    monkeypatch.setattr(WorkloadPredictor, "load", classmethod(counted_load))
    monkeypatch.setattr(WorkloadPredictor, "update", slow_update)
    codes = {}

    def run(path):
        try:
            main(["forecast", str(path), "--model-file", str(model), "-q"], standalone_mode=False)
            codes[threading.current_thread().name] = 0
        except SystemExit as exc:
            codes[threading.current_thread().name] = exc.code

    threads = [threading.Thread(target=run, args=(first,), name="first"),
               threading.Thread(target=run, args=(second,), name="second")]
    threads[0].start()
    for _ in range(500):  # the second run starts once the first has loaded the file
        if loads:
            break
        threading.Event().wait(0.01)
    threads[1].start()
    for thread in threads:
        thread.join(timeout=60)
    assert codes == {"first": 0, "second": 0}
    series = load(WorkloadPredictor, model).series_
    assert series.index[-1] == pd.Timestamp("2024-05-10T00:34:50Z")
    assert series.values[-10:, 0].tolist() == [100.0] * 5 + [200.0] * 5


def test_an_existing_model_file_in_a_folder_that_takes_no_new_file_is_refused_before_the_update(
        runner, azure_csv, tmp_path, monkeypatch):
    """The save writes a new file beside the model file and renames it over it: with a folder that takes no new
    file (a read-only mount; as root os.access says yes), the run loaded and updated the model and then ended with
    exit 3 after the work, where the help says an output path that cannot be written is a usage error (exit 2)."""
    import os

    from workload_predictor import WorkloadPredictor

    model = tmp_path / "m.wp"
    half = tmp_path / "half.csv"
    request_log().iloc[:1500].to_csv(half, index=False)
    assert runner.invoke(main, ["forecast", str(half), "--freq", "5s", "--model", "naive", "-q",
                                "--model-file", str(model)]).exit_code == 0
    before = model.read_bytes()
    real_open, update = os.open, WorkloadPredictor.update
    updates = []

    def read_only_folder(path, flags, *args, **kwargs):
        if flags & os.O_CREAT and os.path.dirname(os.fspath(path)) == str(tmp_path):
            raise OSError(30, "Read-only file system", os.fspath(path))
        return real_open(path, flags, *args, **kwargs)

    def counted_update(self, *args, **kwargs):
        updates.append(1)
        return update(self, *args, **kwargs)

    monkeypatch.setattr(os, "open", read_only_folder)
    monkeypatch.setattr(WorkloadPredictor, "update", counted_update)
    result = runner.invoke(main, ["forecast", str(azure_csv), "--freq", "5s", "-q", "--model-file", str(model)])
    assert result.exit_code == EXIT_USAGE, result.output
    assert "--model-file" in result.output and "Read-only file system" in result.output
    assert not updates and model.read_bytes() == before


@pytest.mark.skipif(sys.platform == "win32", reason="the --model-file lock is flock's (POSIX)")
def test_a_run_waits_for_the_model_file_lock_until_lock_timeout_then_exits_5_changing_nothing(tmp_path):
    """A run that hangs holding --model-file's lock (a stuck fit, a stopped process) made every later cron run
    wait behind it for good, piling up processes. A run now waits --lock-timeout seconds at most, then exits 5,
    changing nothing; a lock let go within it is taken."""
    import fcntl
    import threading

    model = tmp_path / "m.wp"
    fit = ["forecast", str(bucketed_csv(tmp_path / "a.csv")), "--model", "naive", "--horizon", "2", "-q",
           "--model-file", str(model)]
    assert CliRunner().invoke(main, fit).exit_code == 0
    before = model.read_bytes()
    later = bucketed_csv(tmp_path / "b.csv", start="2024-05-10T00:33:20Z", periods=5, requests=[100] * 5)
    update = ["forecast", str(later), "-q", "--model-file", str(model)]
    results = {}

    def run(name, args):
        results[name] = CliRunner().invoke(main, args)

    with open(tmp_path / ".m.wp.lock", "a") as held:  # another run, stuck while it holds the lock
        fcntl.flock(held, fcntl.LOCK_EX)
        thread = threading.Thread(target=run, args=("timed out", [*update, "--lock-timeout", "0.3"]), daemon=True)
        thread.start()
        thread.join(timeout=30)
        assert not thread.is_alive(), "the run still waits for the lock"
        result = results["timed out"]
        assert result.exit_code == 5, result.output
        assert "--lock-timeout 0.3 s" in result.output and "changed nothing" in result.output
        assert model.read_bytes() == before

        thread = threading.Thread(target=run, args=("waited", [*update, "--lock-timeout", "30"]), daemon=True)
        thread.start()
        thread.join(timeout=0.5)
        assert thread.is_alive()  # waiting for the lock
        fcntl.flock(held, fcntl.LOCK_UN)
        thread.join(timeout=30)
    assert results["waited"].exit_code == 0, results["waited"].output
    assert model.read_bytes() != before


def test_lock_timeout_without_a_model_file_is_a_usage_error(runner, tmp_path):
    result = runner.invoke(main, ["forecast", str(bucketed_csv(tmp_path / "a.csv")), "--model", "naive", "-q",
                                  "--lock-timeout", "5"])
    assert result.exit_code == EXIT_USAGE, result.output
    assert "--lock-timeout" in result.output and "--model-file" in result.output


def test_requests_refuse_a_missing_token_length_before_the_fit(runner, tmp_path):
    """A log with a missing ContextTokens among the rows --requests draws lengths from was fitted, its
    --model-file saved and its forecast printed, and only then refused, naming "lengths column 'input_tokens'"
    (the library's parameter and name), not the file's column; the empty cell was called "nan"."""
    log = request_log()
    log["ContextTokens"] = log["ContextTokens"].astype(float)
    log.loc[2900, "ContextTokens"] = np.nan
    path = tmp_path / "log.csv"
    log.to_csv(path, index=False)
    model = tmp_path / "m.wp"
    line = _one_error_line(runner.invoke(main, ["forecast", str(path), "--freq", "5s", "--model", "naive", "-q",
                                                "--model-file", str(model), "--requests", str(tmp_path / "r.csv")]))
    assert "log.csv's column 'ContextTokens' has no value at data row 2901 (an empty cell" in line
    assert "in 1 cell of the rows drawn from): fill those cells" in line and "holds nan" not in line
    assert "latest 2,000 requests" in line and "lengths column" not in line
    assert not model.exists() and not (tmp_path / "r.csv").exists()


def test_requests_draw_lengths_from_the_latest_requests_of_a_log_out_of_time_order(runner, tmp_path):
    """A log merged from several servers is out of time order in the file: --requests drew its token lengths from
    the file's last 2,000 rows, not the latest 2,000 requests. The log's first half is long prompts, its second half
    short ones; shuffled, the synthetic requests were 2.2x longer than those of the same log in order. Now a shuffled
    log gives the very requests the ordered one does, and a bad length among the latest requests is named by its row
    in the file."""
    log = request_log()
    log.loc[:1499, "ContextTokens"] = 20_000  # the earliest half: long prompts, none of them among the latest 1,500
    shuffled = log.sample(frac=1.0, random_state=3)
    outputs = {}
    for name, frame in (("ordered", log), ("shuffled", shuffled)):
        frame.to_csv(tmp_path / f"{name}.csv", index=False)
        out = tmp_path / f"{name}.requests.csv"
        result = runner.invoke(main, ["forecast", str(tmp_path / f"{name}.csv"), "--freq", "5s", "--model", "naive",
                                      "-q", "--seed", "0", "--requests", str(out)])
        assert result.exit_code == 0, result.output
        outputs[name] = pd.read_csv(out)
    assert len(outputs["ordered"]) > 0
    # The latest 2,000 requests hold 500 long prompts (a quarter), the whole log 1,500 of 3,000 (a half).
    long_share = (outputs["ordered"]["input_tokens"] == 20_000).mean()
    assert 0.1 < long_share < 0.4, (long_share, len(outputs["ordered"]))
    pd.testing.assert_frame_equal(outputs["shuffled"], outputs["ordered"])

    bad = shuffled.astype({"GeneratedTokens": float})
    latest = int(np.flatnonzero(bad.index == 2990)[0])  # the file row of the log's 2,991st request
    bad.loc[2990, "GeneratedTokens"] = -5.0
    bad.to_csv(tmp_path / "bad.csv", index=False)
    line = _one_error_line(runner.invoke(main, ["forecast", str(tmp_path / "bad.csv"), "--freq", "5s", "--model",
                                                "naive", "-q", "--requests", str(tmp_path / "r.csv")]))
    assert f"bad.csv's column 'GeneratedTokens' holds -5.0 at data row {latest + 1} " in line, line
    assert "latest 2,000 requests" in line


def test_format_without_requests_is_refused_not_dropped(runner, azure_csv, monkeypatch):
    """--format vidur-main without --requests ran the fit, printed the forecast and wrote no requests, exit 0,
    without a word on the option it dropped."""
    from workload_predictor import WorkloadPredictor

    def no_fit(*args, **kwargs):
        raise AssertionError("the fit ran")

    monkeypatch.setattr(WorkloadPredictor, "fit", no_fit)
    result = runner.invoke(main, ["forecast", str(azure_csv), "--freq", "5s", "--format", "vidur-main"])
    assert result.exit_code == EXIT_USAGE, result.output
    assert "--format sets the columns of the --requests file" in result.output


def test_requests_from_a_bucketed_series_refuse_a_bad_token_sum_before_the_fit_naming_its_bucket(runner, tmp_path):
    """A negative input_tokens in a bucketed series was refused after the fit, at "data row 121" (its position
    among the buckets with requests; the file's data row is 152), as "lengths column 'input_tokens'"; a text
    value failed inside numpy ("could not convert string to float")."""
    for value, shown in (("-3", "-3"), ("many", "'many'")):
        path = tmp_path / "buckets.csv"
        frame = pd.read_csv(bucketed_csv(path, requests=np.arange(200) % 5))
        frame["input_tokens"] = (frame["requests"] * 100).astype(object)
        frame.loc[151, "input_tokens"] = value
        frame.to_csv(path, index=False)
        model = tmp_path / "m.wp"
        line = _one_error_line(runner.invoke(main, ["forecast", str(path), "--model", "naive", "-q", "--model-file",
                                                    str(model), "--requests", str(tmp_path / "r.csv")]))
        stamp = pd.Timestamp("2024-05-10T00:00:00Z") + 151 * pd.Timedelta("10s")
        assert f"its input_tokens column holds {shown}" in line, line
        assert f"in the bucket of {stamp:%Y-%m-%d %H:%M:%S}Z" in line and "data row" not in line
        assert not model.exists()


@pytest.mark.parametrize("start, shown", [("2024-05-10T00:33:25Z", "00:33:25Z"),
                                          ("2024-05-10T00:33:20.5Z", "00:33:20.500Z")])
def test_a_model_file_refuses_a_series_off_its_grid_in_the_command_lines_words(runner, tmp_path, start, shown):
    """A bucketed series 5 s off the model's 10 s grid was refused with update's advice ("bucketize the new
    requests with the same freq and origin as the fitted series", "every 0 days 00:00:10"), no option of the
    command line's, and without saying whether the model file was changed."""
    model = tmp_path / "m.wp"
    assert runner.invoke(main, ["forecast", str(bucketed_csv(tmp_path / "a.csv")), "--model", "naive", "-q",
                                "--model-file", str(model)]).exit_code == 0
    before = model.read_bytes()
    later = bucketed_csv(tmp_path / "b.csv", start=start, periods=5)
    line = _one_error_line(runner.invoke(main, ["forecast", str(later), "--model-file", str(model), "-q"]))
    assert f"b.csv: its bucket 2024-05-10 {shown} at data row 1 is off m.wp's grid (buckets of 10 s from 2024-05-10 " \
        "00:33:10Z)" in line
    assert "--freq 10s" in line and "(m.wp was not changed)" in line and "bucketize" not in line
    assert model.read_bytes() == before


@pytest.mark.parametrize("option, name", [("--out", "fc.csv"), ("--requests", "future.csv.gz"), ("--out", "fc.json")])
def test_a_reader_polling_an_output_never_sees_it_half_written(runner, azure_csv, tmp_path, monkeypatch, option,
                                                               name):
    """--out and --requests were written in place: an autoscaler reading fc.csv while a cron run rewrote it read
    a truncated table. A new file is now written beside it and renamed over it, keeping its mode."""
    import os
    import pathlib

    target = tmp_path / name
    target.write_bytes(b"old")
    os.chmod(target, 0o640)
    seen = []

    def watching(write):
        def wrapper(self, *args, **kwargs):
            result = write(self, *args, **kwargs)
            seen.append(target.read_bytes())  # what a reader of the output finds while the run writes it
            return result
        return wrapper

    monkeypatch.setattr(pd.DataFrame, "to_csv", watching(pd.DataFrame.to_csv))
    monkeypatch.setattr(pathlib.Path, "write_text", watching(pathlib.Path.write_text))
    result = runner.invoke(main, ["forecast", str(azure_csv), "--freq", "5s", "--model", "naive", "-q", option,
                                  str(target)])
    assert result.exit_code == 0, result.output
    assert seen == [b"old"]
    assert target.read_bytes() != b"old" and os.stat(target).st_mode & 0o777 == 0o640
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["trace.csv", name])
    if name.endswith(".gz"):
        assert list(pd.read_csv(target).columns) == ["arrival_time_ns", "input_tokens", "output_tokens"]


def test_a_gzipped_requests_file_names_itself_in_its_gzip_header(runner, azure_csv, tmp_path):
    """--requests future.csv.gz is written to a temporary file renamed over it, and its gzip header (FNAME, which
    `gunzip -N` restores) named the temporary: '.future.csv.gz.tmp-<pid>-<hex>-future.csv'. It names future.csv."""
    import gzip

    target = tmp_path / "future.csv.gz"
    result = runner.invoke(main, ["forecast", str(azure_csv), "--freq", "5s", "--model", "naive", "-q",
                                  "--requests", str(target)])
    assert result.exit_code == 0, result.output
    header = target.read_bytes()
    assert header[:2] == b"\x1f\x8b" and header[3] & 0x08  # gzip, with a file name
    assert header[10:header.index(b"\x00", 10)] == b"future.csv"
    with gzip.open(target, "rt") as text:
        assert text.readline().strip() == "arrival_time_ns,input_tokens,output_tokens"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/dev/stdout")
def test_an_output_that_is_no_file_is_written_in_place(runner, azure_csv, capfdbinary):
    """A link (--plot /dev/stdout, here to pytest's capture file) is written through as before, not replaced by a
    file written beside it. Before h152, the PNG went to a new file beside the link (/dev/stdout.png, matplotlib's
    way with a path without a suffix), and the capture got nothing."""
    import os

    pytest.importorskip("matplotlib")
    capfdbinary.readouterr()
    result = runner.invoke(main, ["forecast", str(azure_csv), "--freq", "5s", "--model", "naive", "-q",
                                  "--plot", "/dev/stdout"])
    assert result.exit_code == 0, result.output
    assert os.path.islink("/dev/stdout") and not any(".tmp-" in name for name in os.listdir("/dev"))
    assert b"\x89PNG\r\n\x1a\n" in capfdbinary.readouterr().out


def test_evaluate_counts_one_origin_and_one_refit_in_the_singular(runner, tmp_path):
    """The header read "backtest 1 origins x 5 steps, 1 refits" (h40's lead)."""
    path = bucketed_csv(tmp_path / "s.csv", periods=120)
    result = runner.invoke(main, ["evaluate", str(path), "--horizon", "5", "--test-size", "5", "--models", "dlinear",
                                  "--baselines", "naive", "-q"])
    assert result.exit_code == 0, result.output
    assert re.search(r"^backtest 1 origin x 5 steps, 1 refit, expanding window", result.output, flags=re.M), \
        result.output
