"""Plots: the PNG is written and non-empty, panels match the targets, matplotlib stays optional."""

from __future__ import annotations

import re
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from workload_predictor import WorkloadDataError, WorkloadPredictor
from workload_predictor.backtest import run_backtest

pytest.importorskip("matplotlib")


@pytest.fixture
def forecast(series_1000):
    data = series_1000.assign(input_tokens=series_1000["requests"] * 250)
    return WorkloadPredictor(horizon=12).fit(data, target=["requests", "input_tokens"]).predict()


def test_forecast_plot_writes_a_png_with_one_panel_per_target(forecast, tmp_path):
    figure = forecast.plot()
    assert len(figure.axes) == 2
    top = figure.axes[0]
    assert "confidence" in top.get_title(loc="left") and f"{forecast.confidence_by_target['requests']:.2f}" in top.get_title(loc="left")
    labels = {t.get_text() for t in top.get_legend().get_texts()}
    assert labels == {"observed", "90% interval", "forecast"}
    path = tmp_path / "forecast.png"
    figure.savefig(path)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 5000


def test_one_target_into_an_existing_axes(forecast, tmp_path):
    from matplotlib.figure import Figure

    figure = Figure()
    axis = figure.subplots()
    assert forecast.plot(targets="input_tokens", ax=axis) is figure
    assert axis.get_title(loc="left").startswith("input_tokens")
    with pytest.raises(WorkloadDataError):
        forecast.plot(targets="output_tokens")
    with pytest.raises(WorkloadDataError):
        forecast.plot(ax=axis)  # two targets, one axes


@pytest.mark.parametrize("arguments, named", [
    (dict(history=2.5), "history=2.5"), (dict(history="5"), "history='5'"), (dict(history=-3), "history=-3"),
    (dict(history=True), "history=True"), (dict(targets=5), "targets=5"),
    (dict(targets="requests", ax="ax"), "ax='ax'"),
])
def test_bad_plot_arguments_are_typed_errors_naming_them(forecast, arguments, named):
    with pytest.raises(WorkloadDataError, match=re.escape(named)):
        forecast.plot(**arguments)


def test_history_zero_draws_no_history(forecast):
    figure = forecast.plot(targets="requests", history=0)
    labels = {t.get_text() for t in figure.axes[0].get_legend().get_texts()}
    assert labels == {"90% interval", "forecast"}


def test_error_by_step_plot(tmp_path):
    from workload_predictor.plotting import plot_error_by_step

    y = np.random.default_rng(0).poisson(20, 400).astype(float)
    data = pd.DataFrame({"timestamp": pd.date_range("2024-01-01", periods=400, freq="1min"), "requests": y})
    result = run_backtest(data, ["dlinear"], horizon=5, test_size=80, refit_every=40, verbose=False)
    figure = plot_error_by_step(result.by_step)
    lines = figure.axes[0].get_lines()
    assert [line.get_label() for line in lines] == ["dlinear", "naive", "seasonal_naive", "moving_average",
                                                         "moving_median"]
    assert np.allclose(lines[0].get_ydata(), result.by_step[("dlinear", "requests")])
    path = tmp_path / "steps.png"
    figure.savefig(path)
    assert path.stat().st_size > 0


def test_plotting_uses_no_pyplot_and_matplotlib_stays_lazy():
    code = (
        "import sys, workload_predictor, workload_predictor.plotting\n"
        "assert 'matplotlib' not in sys.modules, 'matplotlib imported at import time'\n"
        "import numpy as np, pandas as pd\n"
        "from workload_predictor import WorkloadPredictor\n"
        "y = pd.Series(np.arange(300.0) % 24, index=pd.date_range('2024-01-01', periods=300, freq='1h'))\n"
        "WorkloadPredictor(horizon=4).fit(y).predict().plot()\n"
        "assert 'matplotlib.pyplot' not in sys.modules, 'pyplot holds global state'\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr


def test_missing_matplotlib_is_a_clear_import_error(forecast, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    with pytest.raises(ImportError, match=r"workload-predictor\[plot\]"):
        forecast.plot()
