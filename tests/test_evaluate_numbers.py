"""The numbers `evaluate` and `backtest` report, recomputed independently on small series: the metrics, the
rolling origins and refits, no look-ahead, the JSON files, and the errors of too short a series."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from workload_predictor import WorkloadDataError, WorkloadPredictor
from workload_predictor.backtest import backtest_origins, run_backtest
from workload_predictor.cli import main


def frame(values: np.ndarray, freq: str = "1min") -> pd.DataFrame:
    values = np.asarray(values, float).reshape(len(values), -1)
    columns = ["requests", "input_tokens"][: values.shape[1]]
    index = pd.date_range("2024-01-01", periods=len(values), freq=freq, tz="UTC")
    return pd.DataFrame(values, index=index, columns=columns)


def noisy(n: int, seed: int = 3) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    return np.c_[30 + 10 * np.sin(2 * np.pi * t / 12) + rng.poisson(4, n), rng.poisson(200, n)].astype(float)


def test_every_metric_of_the_table_recomputed_by_hand_per_target():
    y, horizon, level = noisy(300), 4, 0.8
    result = run_backtest(frame(y), ["dlinear"], ["naive", "moving_average"], horizon=horizon, level=level,
                          target=["requests", "input_tokens"], timestamp=None, moving_average_window=5,
                          verbose=False)
    # The last quarter, every bucket an origin, the last origin's horizon ending with the data; three refits.
    assert list(result.origins) == list(range(225, 300 - horizon + 1))
    assert list(result.refits) == [225, 249, 273]
    table = result.table.set_index(["model", "target"])
    first = result.origins[0]
    for model, kept in result.forecasts.items():
        for j, target in enumerate(["requests", "input_tokens"]):
            actual = np.stack([y[o : o + horizon, j] for o in result.origins])
            f, lo, up = (kept[key][..., j] for key in ("yhat", "lower", "upper"))
            e = f - actual
            miss = np.where(actual < lo, lo - actual, 0.0) + np.where(actual > up, actual - up, 0.0)
            expected = {
                "mae": np.mean(np.abs(e)), "rmse": np.sqrt(np.mean(e**2)),
                "smape": np.mean(2 * np.abs(e) / (np.abs(actual) + np.abs(f))),
                "wape": np.abs(e).sum() / np.abs(actual).sum(), "bias": e.sum() / np.abs(actual).sum(),
                # MASE: the one-step naive's in-sample MAE on the buckets before the first origin
                "mase": np.mean(np.abs(e)) / np.mean(np.abs(np.diff(y[:first, j]))),
                "coverage": np.mean((lo <= actual) & (actual <= up)), "interval_width": np.mean(up - lo),
                "interval_score": np.mean(up - lo + 2 / (1 - level) * miss),
            }
            row = table.loc[(model, target)]
            for name, value in expected.items():
                assert row[name] == pytest.approx(value, rel=1e-12), (model, target, name)
            assert np.allclose(result.by_step[(model, target)], np.abs(e).mean(axis=0), rtol=1e-12)
    naive = result.forecasts["naive"]["yhat"][..., 0]
    assert np.array_equal(naive, np.repeat(y[result.origins - 1, 0][:, None], horizon, axis=1))
    average = np.array([y[o - 5 : o, 0].mean() for o in result.origins])
    assert np.allclose(result.forecasts["moving_average"]["yhat"][..., 0], average[:, None], rtol=1e-12)


def test_the_backtests_forecast_and_interval_at_a_refit_are_predicts():
    y, horizon = noisy(300), 4
    result = run_backtest(frame(y), ["dlinear"], [], horizon=horizon, level=0.8, target=["requests", "input_tokens"],
                          timestamp=None, verbose=False)
    for point in result.refits:
        fitted = WorkloadPredictor(model="dlinear", horizon=horizon, level=0.8).fit(
            frame(y[:point]), timestamp=None, target=["requests", "input_tokens"])
        forecast = fitted.predict()
        row = int(np.searchsorted(result.origins, point))
        for key in ("yhat", "lower", "upper"):
            assert np.allclose(getattr(forecast, key), result.forecasts["dlinear"][key][row], rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("future", ["spike", "level shift"])
def test_a_future_change_moves_no_forecast_made_before_it(future):
    """A forecast at origin o reads only the buckets before o: changing the data from bucket 340 on changes no
    forecast at an origin up to 340 (one refit at 300, so every such origin is forecast by the same fit), of
    DLinear, the ensemble (LSTM member included) or the baselines."""
    y = noisy(400)[:, 0]
    y[150] = 5000.0  # a burst the series came back from, in the history
    changed = y.copy()
    if future == "spike":
        changed[340] = 1e5
    else:
        changed[340:] *= 10

    from workload_predictor.models import registry

    ensemble = WorkloadPredictor(model="ensemble", horizon=5, model_params=registry.params_for("ensemble", max_epochs=2))

    def run(values):
        return run_backtest(frame(values, "10s"), ["dlinear", ensemble], ["naive", "moving_median"], horizon=5,
                            test_size=100, refit_every=1000, timestamp=None, verbose=False)

    before, after = run(y), run(changed)
    assert list(before.refits) == [300]
    known = before.origins <= 340
    for model in before.forecasts:
        for key in ("yhat", "lower", "upper"):
            assert np.array_equal(before.forecasts[model][key][known], after.forecasts[model][key][known]), model
        assert not np.array_equal(before.forecasts[model]["yhat"], after.forecasts[model]["yhat"]), model


def test_evaluate_by_json_holds_every_digit_of_each_keys_mae(tmp_path):
    """evaluate --by --json wrote the per-key MAEs through DataFrame.to_json, which keeps 10 decimals (a MAE of
    3e-11 read 0); they are now written as evaluate --json writes its table. Keys of different lengths."""
    rng = np.random.default_rng(7)
    lengths = {"a": 80, "b": 50}
    parts = [pd.DataFrame({"timestamp": pd.date_range("2024-01-01", periods=n, freq="10s", tz="UTC"), "key": key,
                           "requests": rng.poisson(20, n)}) for key, n in lengths.items()]
    path, out = tmp_path / "fleet.csv", tmp_path / "scores.json"
    pd.concat(parts).to_csv(path, index=False)
    run = CliRunner().invoke(main, ["evaluate", str(path), "--by", "key", "--freq", "10s", "--horizon", "3",
                                    "--test-size", "9", "--models", "moving_average", "--baselines", "naive",
                                    "--json", str(out), "-q"])
    assert run.exit_code == 0, run.output
    written = {row["key"]: row for row in json.loads(out.read_text())["per_key"]}
    for part in parts:
        key, values = part["key"].iloc[0], part["requests"].to_numpy(float)
        n = len(values)
        origins = np.arange(n - 9, n - 3 + 1)  # 7 origins x 3 steps: MAEs in 21sts and 252nds, no short decimal
        actual = np.stack([values[o : o + 3] for o in origins])
        naive = np.mean(np.abs(actual - values[origins - 1, None]))
        average = np.mean(np.abs(actual - np.array([values[o - 12 : o].mean() for o in origins])[:, None]))
        assert written[key]["naive"] == pytest.approx(naive, rel=1e-13, abs=0)
        assert written[key]["moving_average"] == pytest.approx(average, rel=1e-13, abs=0)


def refuse_fit(*args, **kwargs):
    raise AssertionError("a model was fitted before the backtest checked the first refit's length")


def test_an_ensemble_too_long_for_the_first_refit_is_refused_before_any_fit_with_the_test_size_that_fits(
        monkeypatch):
    """The first-refit check skipped a combining model: with models dlinear then ensemble on 40 buckets (30 before
    the test span; the ensemble's LSTM member needs 32), DLinear was fitted at all three refits before the
    ensemble's fit failed, and its error named no test_size."""
    from workload_predictor.models import registry

    y = noisy(40)[:, 0]
    with monkeypatch.context() as patch:
        patch.setattr(WorkloadPredictor, "fit", refuse_fit)
        with pytest.raises(WorkloadDataError, match=r"^backtest: ensemble cannot be fitted at the first refit, on the "
                                                    r"30 buckets before the test span \(the series has 40; "
                                                    r"test_size=0.25: test_size=8 or less gives it the 32 it needs\)"):
            run_backtest(frame(y), ["dlinear", "ensemble"], ["naive"], horizon=3, verbose=False)
    # The test span it names is one the ensemble fits on (its members' settings as evaluate's --max-epochs gives).
    short = {"model_params": registry.params_for("ensemble", max_epochs=2)}
    result = run_backtest(frame(y), [WorkloadPredictor(model="ensemble", horizon=3, **short)], [], test_size=8,
                          verbose=False)
    assert list(result.refits)[0] == 32 and result.table["model"].tolist() == ["ensemble"]


@pytest.mark.parametrize("n, horizon, test_size, fix", [
    (200, 60, 0.25, "pass test_size=60 to 198 buckets."),
    (200, 5, 0.999, "pass test_size=5 to 198 buckets."),
    (8, 6, 0.25, "pass test_size=6."),
    (8, 7, 0.25, "the series is too short for horizon 7: pass horizon=6 or less, or a longer series."),
])
def test_a_test_span_shorter_than_the_horizon_or_the_series_names_the_test_sizes_that_work(n, horizon, test_size,
                                                                                             fix):
    """The error said what the span must hold, not which test_size (or horizon) gives it."""
    with pytest.raises(WorkloadDataError) as error:
        backtest_origins(n, horizon, test_size, 1)
    assert str(error.value).endswith(f"(the series has {n} buckets): {fix}")
    lowest, highest = (horizon, n - 2) if horizon <= n - 2 else (None, None)
    if lowest is not None:  # the range it names is exactly the one accepted
        for accepted in (lowest, highest):
            assert backtest_origins(n, horizon, accepted, 1)[-1] == n - horizon
        for refused in (lowest - 1, highest + 1):
            with pytest.raises(WorkloadDataError):
                backtest_origins(n, horizon, refused, 1)
    else:
        assert backtest_origins(n, n - 2, n - 2, 1).tolist() == [2]


def test_evaluate_quotes_a_test_size_in_buckets_as_given(tmp_path):
    """--test-size 199 was read as the float 199.0, and the errors quoted "--test-size 199.0"."""
    path = tmp_path / "s.csv"
    index = pd.date_range("2024-01-01", periods=200, freq="10s", tz="UTC")
    pd.DataFrame({"timestamp": index, "requests": noisy(200)[:, 0]}).to_csv(path, index=False)
    run = CliRunner().invoke(main, ["evaluate", str(path), "--freq", "10s", "--horizon", "5", "--models", "dlinear",
                                    "--baselines", "naive", "--test-size", "199", "-q"])
    assert run.exit_code == 3, run.output
    assert "--test-size 199 gives a test span of 199 buckets" in run.output
    assert "pass --test-size 198 or less" in run.output
