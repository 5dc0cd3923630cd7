"""The backtest's table checked against the definitions of its metrics and a protocol recomputed by hand: which
list a row was named in, the forecast every origin reads (the refit before it, the buckets before it) and the
"MAE vs best baseline" line's arithmetic."""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
from click.testing import CliRunner

from workload_predictor import WorkloadPredictor
from workload_predictor.backtest import run_backtest
from workload_predictor.cli import main


def frame(values: np.ndarray, freq: str = "10s") -> pd.DataFrame:
    index = pd.date_range("2024-01-01", periods=len(values), freq=freq, tz="UTC")
    return pd.DataFrame({"requests": np.asarray(values, float)}, index=index)


def series(n: int, seed: int = 4) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    return (30 + 10 * np.sin(2 * np.pi * t / 12) + rng.poisson(4, n)).astype(float)


def test_a_row_is_a_model_or_a_baseline_as_the_list_it_was_named_in():
    """A registered baseline named among the models (evaluate --models moving_average) was tagged a baseline: the
    verdict compared DLinear with it as the "best baseline" though --baselines named naive alone, and gave it no
    verdict of its own. A row's kind is the list it was named in."""
    y = series(200)
    table = run_backtest(frame(y), ["moving_average", "dlinear"], ["naive"], horizon=3, timestamp=None,
                         verbose=False).table
    assert table[["model", "kind"]].values.tolist() == [["moving_average", "model"], ["dlinear", "model"],
                                                         ["naive", "baseline"]]
    template = WorkloadPredictor(model="dlinear", horizon=3)  # a model named among the baselines is one
    table = run_backtest(frame(y), ["naive"], [template], horizon=3, timestamp=None, verbose=False).table
    assert table[["model", "kind"]].values.tolist() == [["naive", "model"], ["dlinear", "baseline"]]


def test_evaluates_verdict_compares_each_named_model_with_the_best_named_baseline(tmp_path):
    path, out = tmp_path / "s.csv", tmp_path / "scores.json"
    y = series(200)
    pd.DataFrame({"timestamp": pd.date_range("2024-01-01", periods=200, freq="10s", tz="UTC"),
                  "requests": y}).to_csv(path, index=False)
    run = CliRunner().invoke(main, ["evaluate", str(path), "--freq", "10s", "--horizon", "3", "--models",
                                    "moving_average,dlinear", "--baselines", "naive,seasonal_naive", "--json",
                                    str(out), "-q"])
    assert run.exit_code == 0, run.output
    rows = {row["model"]: row for row in json.loads(out.read_text())}
    best = min(("naive", "seasonal_naive"), key=lambda name: rows[name]["mae"])
    verdicts = re.findall(r"^(\S+) MAE (\S+) vs best baseline (\S+) (\S+): ([+-]\d+\.\d)%$", run.output, re.M)
    assert [v[0] for v in verdicts] == ["moving_average", "dlinear"]
    for model, mae, baseline, baseline_mae, change in verdicts:
        assert baseline == best
        assert mae == f"{rows[model]['mae']:.3f}" and baseline_mae == f"{rows[best]['mae']:.3f}"
        assert change == f"{(rows[model]['mae'] - rows[best]['mae']) / rows[best]['mae'] * 100:+.1f}"
