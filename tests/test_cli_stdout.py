"""--out and --json naming this process's standard output (``/dev/stdout``): stdout holds the file alone, the
command's other lines go to stderr, so a pipe (``| jq``, ``| pandas.read_csv``) reads what it asked for."""
import io
import json
import subprocess
import sys

import pandas as pd
import pytest

from tests.test_cli import request_log

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="/dev/stdout is a POSIX path")


@pytest.fixture
def trace(tmp_path):
    path = tmp_path / "trace.csv"
    request_log().to_csv(path, index=False)
    return path


def _run(*args):
    return subprocess.run([sys.executable, "-m", "workload_predictor", *map(str, args)], capture_output=True,
                          text=True, timeout=120)


def test_evaluate_json_to_stdout_is_the_json_alone(trace):
    done = _run("evaluate", trace, "--freq", "5s", "--models", "dlinear", "--baselines", "naive",
                "--json", "/dev/stdout")
    assert done.returncode == 0, done.stderr
    records = json.loads(done.stdout)  # before: the tables, then the JSON, then "wrote /dev/stdout"
    assert {record["model"] for record in records} == {"dlinear", "naive"}
    assert "backtest" in done.stderr and "wrote   /dev/stdout" in done.stderr


def test_forecast_out_to_stdout_is_the_csv_alone(trace):
    done = _run("forecast", trace, "--freq", "5s", "--model", "dlinear", "--horizon", "4", "--out", "/dev/stdout")
    assert done.returncode == 0, done.stderr  # before: exit 2, "the suffix says which format to write"
    frame = pd.read_csv(io.StringIO(done.stdout))
    assert list(frame.columns) == ["timestamp", "yhat", "lower", "upper"] and len(frame) == 4
    assert "trace" in done.stderr and "wrote   /dev/stdout" in done.stderr

