"""The backtest's table checked against the definitions of its metrics and a protocol recomputed by hand: which
list a row was named in, the forecast every origin reads (the refit before it, the buckets before it) and the
"MAE vs best baseline" line's arithmetic."""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from workload_predictor import WorkloadPredictor
from workload_predictor.backtest import refit_points, run_backtest
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


def refit_of(refits: np.ndarray, origin: int) -> int:
    """The newest refit point at or before ``origin``."""
    return int(refits[refits <= origin].max())


def test_the_table_recomputed_by_hand_with_strided_origins_and_refits_between_them():
    """120 buckets, horizon 3, the last 30 the test span: origins 90, 92, ..., 116 (117 = n - h is off the stride),
    refits every 7 buckets from the first origin: at 90, 97, 104 and 111, two of them between origins. Each origin's
    forecast is the baselines' formula on the buckets before it, DLinear's that of the predictor fitted on the
    buckets before the newest refit, reading the buckets up to the origin (those after the refit included); each
    interval is that predictor's half-width; every metric is its textbook definition (sMAPE the 0-2 form, MASE
    scaled by the one-step naive's MAE on the buckets before the test span)."""
    y, horizon, level, season, window = series(120, seed=8), 3, 0.8, 6, 12
    result = run_backtest(frame(y), ["dlinear"], ["naive", "seasonal_naive", "moving_average"], horizon=horizon,
                          level=level, test_size=30, stride=2, refit_every=7, moving_average_window=window,
                          timestamp=None, verbose=False)
    origins = np.arange(90, 117, 2)
    assert result.origins.tolist() == origins.tolist() and result.refits.tolist() == [90, 97, 104, 111]
    actual = np.stack([y[o : o + horizon] for o in origins])
    steps = np.arange(horizon)
    formulas = {
        "naive": lambda o: np.full(horizon, y[o - 1]),
        "seasonal_naive": lambda o: y[o - season + steps % season],
        "moving_average": lambda o: np.full(horizon, y[o - window : o].mean()),
    }
    settings = {"dlinear": {}, "naive": {}, "seasonal_naive": {"window": season}, "moving_average": {"window": window}}
    fitted = {(name, p): WorkloadPredictor(model=name, horizon=horizon, level=level, random_state=0, **extra).fit(
        frame(y[:p]), timestamp=None) for name, extra in settings.items() for p in result.refits.tolist()}
    table = result.table.set_index("model")
    for name in settings:
        chosen = [fitted[name, refit_of(result.refits, o)] for o in origins]
        if name == "dlinear":  # the fitted model on the buckets before the origin, nothing after it
            yhat = np.stack([np.clip(p._forecasts_at(y[:o, None], np.array([o]))[0, :, 0], 0, None)
                             for p, o in zip(chosen, origins)])
        else:
            yhat = np.stack([formulas[name](o) for o in origins])
        half = np.stack([p.interval_halfwidth_[:, 0] for p in chosen])
        lower, upper = np.maximum(yhat - half, 0.0), yhat + half
        for key, expected in (("yhat", yhat), ("lower", lower), ("upper", upper)):
            np.testing.assert_allclose(result.forecasts[name][key][..., 0], expected, rtol=1e-10, atol=1e-10,
                                       err_msg=f"{name} {key}")
        e = yhat - actual
        miss = np.maximum(lower - actual, 0) + np.maximum(actual - upper, 0)
        expected = {
            "mae": np.abs(e).mean(), "rmse": np.sqrt((e**2).mean()),
            "smape": np.mean(2 * np.abs(e) / (np.abs(actual) + np.abs(yhat))),
            "wape": np.abs(e).sum() / actual.sum(), "bias": e.sum() / actual.sum(),
            "mase": np.abs(e).mean() / np.abs(np.diff(y[:90])).mean(),
            "coverage": np.mean((lower <= actual) & (actual <= upper)), "interval_width": (upper - lower).mean(),
            "interval_score": np.mean(upper - lower + 2 / (1 - level) * miss),
            "confidence": np.mean([fitted[name, p].confidence_ for p in result.refits.tolist()]),
        }
        for metric, value in expected.items():
            assert table.loc[name, metric] == pytest.approx(value, rel=1e-9, abs=1e-12), (name, metric)
        assert table.loc[name, "n_origins"] == 14 and table.loc[name, "n_refits"] == 4


def test_every_origin_reads_only_the_buckets_before_it():
    """Bursts in the history and the test span (one at an origin's newest input, one the series came back from, a
    level shift): every origin's forecast is that of the predictor fitted before its refit given the series cut at
    the origin, so no forecast reads a bucket at or after its first forecast bucket."""
    y = series(160, seed=9)
    y[60], y[125], y[131:133] = 900.0, 1500.0, 1200.0
    y[145:] *= 4
    models = ["dlinear", "moving_median", "naive"]
    result = run_backtest(frame(y), models[:1], models[1:], horizon=4, test_size=40, stride=1, refit_every=13,
                          timestamp=None, verbose=False)
    assert {125, 126, 133, 134, 145, 146} <= set(result.origins.tolist()) and len(result.refits) == 3
    for name in models:
        fits = {p: WorkloadPredictor(model=name, horizon=4, random_state=0).fit(frame(y[:p]), timestamp=None)
                for p in result.refits.tolist()}
        for i, o in enumerate(result.origins.tolist()):
            cut = fits[refit_of(result.refits, o)]._forecasts_at(y[:o, None], np.array([o]))[0, :, 0]
            np.testing.assert_allclose(result.forecasts[name]["yhat"][i, :, 0], np.clip(cut, 0, None), rtol=1e-10,
                                       atol=1e-9, err_msg=f"{name} at origin {o}")


@pytest.mark.parametrize("stride", [1, 2, 5])
def test_the_default_cadence_refits_three_times_twice_only_on_four_consecutive_origins(stride):
    """refit_every=None as documented: at each origin where there are fewer than three, twice for four origins a
    bucket apart (a cadence of 1 refits four times, of 2 twice), else three times; four strided origins: three."""
    for count in range(1, 13):
        origins = 100 + stride * np.arange(count)
        expected = 2 if (count, stride) == (4, 1) else min(count, 3)
        assert len(refit_points(origins, None)) == expected, (count, stride)
