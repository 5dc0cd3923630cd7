"""A command-line run as a cron job makes it every minute: ``forecast LOG --model-file FILE`` on a request log, which
reads the log, takes the file's lock, loads the model, appends the new buckets with ``update()``, forecasts, saves the
model and writes the forecast. In this process (``main(standalone_mode=False)``), per run, paired with the baseline's
code: the parts gated on their own (load, update, predict, save, bucketize) and the run's own reading, locking and
writing, each of which a 2x computation or a 2x wait (a lock polled too slowly, a second fsync) would slow. And an
``evaluate`` run on the same log (read, bucketize, backtest, print)."""

import contextlib
import io
import os
import tempfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.paired

REQUESTS = 5000  # the bundled conv trace's first 5,000 requests: 91 buckets of 10 s


@pytest.fixture(scope="module")
def run_dir():
    """In memory where the host has it (``/dev/shm``): the run's fsyncs of its two files are the disk's time."""
    root = "/dev/shm" if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK) else None
    with tempfile.TemporaryDirectory(prefix="wp-perf-cli-", dir=root) as directory:
        from workload_predictor.datasets import azure_llm_trace

        azure_llm_trace("conv").iloc[:REQUESTS].to_csv(Path(directory) / "log.csv", index=False)
        yield Path(directory)


def test_cli_forecast_with_a_model_file(perf, run_dir):
    """``workload-predictor forecast log.csv --freq 10s --model dlinear --model-file m.wp --out fc.csv``, the model
    file fitted by a first run: each timed run loads it, updates it (no new bucket), forecasts and saves it."""
    from workload_predictor.cli import main

    model_file = run_dir / f"model-{perf.phase}.wp"  # each code keeps its own file
    args = ["forecast", str(run_dir / "log.csv"), "--freq", "10s", "--model", "dlinear", "--model-file",
            str(model_file), "--out", str(run_dir / f"fc-{perf.phase}.csv"), "-q"]

    def run():
        with contextlib.redirect_stdout(io.StringIO()) as out:
            main.main(args=args, standalone_mode=False)
        return out.getvalue()

    run()  # the first run fits and saves the model file
    printed = perf.time("cli_forecast_model_file", "dlinear", run, rounds=12, warmup_rounds=1,
                        extra={"requests": REQUESTS})
    assert model_file.stat().st_size > 0 and "yhat" in printed, printed[-500:]


def test_cli_evaluate(perf, run_dir):
    """``workload-predictor evaluate log.csv --freq 10s --models dlinear -q``: the log read and bucketed, DLinear
    backtested against the baselines, the table printed."""
    from workload_predictor.cli import main

    args = ["evaluate", str(run_dir / "log.csv"), "--freq", "10s", "--models", "dlinear", "-q"]

    def run():
        with contextlib.redirect_stdout(io.StringIO()) as out:
            main.main(args=args, standalone_mode=False)
        return out.getvalue()

    printed = perf.time("cli_evaluate", "dlinear", run, rounds=8, warmup_rounds=1, extra={"requests": REQUESTS})
    assert "moving_median" in printed and "dlinear MAE" in printed, printed[-500:]
