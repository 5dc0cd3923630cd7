"""DLinear after a burst of load the input-anomaly rule leaves alone (three buckets at 3x a dense series' level):
the windows whose targets hold it, with plain noise for inputs, are weighed down by their residuals, so a forecast
whose input holds the burst does not read weights bent toward those windows (fit, refit, updates, fleets alike)."""

import copy
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from workload_predictor import FleetPredictor, ModelFileError, WorkloadPredictor, anomaly, persistence
from workload_predictor.models import dlinear
from workload_predictor.models.dlinear import (RESIDUAL_EVERY, RESIDUAL_REFERENCE, DLinear, WindowStats, residual_deviations,
                                              residual_reference)
from workload_predictor.models.dlinear_batched import fit_batched

LEVEL = 1e4


def burst_series(n: int = 1300, ago: int = 30, seed: int = 0) -> np.ndarray:
    values = np.random.default_rng(seed).poisson(LEVEL, n).astype(float)
    values[n - ago : n - ago + 3] = 3 * LEVEL
    return values


def frame(values: np.ndarray) -> pd.DataFrame:
    return pd.DataFrame({"timestamp": pd.date_range("2024-03-01", periods=len(values), freq="1min", tz="UTC"),
                         "requests": values})


def test_a_fit_after_an_unflagged_burst_forecasts_near_the_level():
    predictor = WorkloadPredictor(horizon=60).fit(frame(burst_series()))
    assert len(predictor.input_anomalies_) == 0  # the burst is load to the input-anomaly rule
    forecast = predictor.predict()
    # Poisson(1e4) varies by 1 %; the burst 30 buckets back sits in the forecast's input
    assert forecast.yhat.min() > 0.8 * LEVEL and forecast.yhat.max() < 1.3 * LEVEL
    assert forecast.upper.min() > 0.9 * LEVEL


def test_updates_through_the_burst_forecast_near_the_level():
    values = frame(burst_series())
    predictor = WorkloadPredictor(horizon=60).fit(values.iloc[:1000])
    for start in range(1000, 1300, 10):
        predictor.update(values.iloc[start : start + 10])
    forecast = predictor.predict()
    assert forecast.yhat.min() > 0.8 * LEVEL and forecast.yhat.max() < 1.3 * LEVEL


def test_a_series_without_a_burst_is_fitted_as_before():
    """No residual beyond the rule's spreads on plain Poisson counts: no window is weighed down (the statistics'
    count is the number of windows)."""
    model = DLinear(horizon=24).fit(np.random.default_rng(3).poisson(50, 800).astype(float))
    assert model.residual_from_ is not None  # its validation tail was judged
    assert model.stats_[0].count == 800 - model.window_ - 24 + 1


def test_the_batched_fit_weighs_the_burst_windows_as_dlinear():
    y = np.stack([burst_series(600, seed=s) for s in range(2)])[:, :, None]
    y[1, -30:-27, 0] = LEVEL + np.arange(3)  # no burst in the second series
    fit = fit_batched(y, horizon=24)
    for b in range(len(y)):
        model = DLinear(horizon=24).fit(y[b])
        width = fit.coef.shape[2]
        np.testing.assert_allclose(fit.coef[b][:, width - model.window_ :], model.coef_, rtol=1e-7, atol=1e-9)
        np.testing.assert_allclose(fit.intercept[b], model.intercept_, rtol=1e-7, atol=1e-9)


def test_a_fleet_key_after_a_burst_equals_its_predictor():
    values = burst_series(600)
    stamps = pd.date_range("2024-03-01", periods=600, freq="1min", tz="UTC")
    long = pd.concat([pd.DataFrame({"timestamp": stamps, "endpoint": key, "requests": series})
                      for key, series in (("a", values), ("b", values[::-1].copy()))])
    fleet = FleetPredictor(horizon=24).fit(long, key="endpoint")
    alone = WorkloadPredictor(horizon=24).fit(frame(values)).predict()
    got = fleet.predict()
    got = got[got["endpoint"] == "a"]
    np.testing.assert_allclose(got["yhat"].to_numpy(), alone.yhat[:, 0], rtol=1e-7)


def _burst_stream(fit: int = 450, n: int = 700, horizon: int = 12):
    """A DLinear fitted on the start of Poisson(1e4) counts and the counts after it, which hold a 3x burst."""
    y = np.random.default_rng(5).poisson(LEVEL, n).astype(float)[:, None]
    y[600:603] *= 3
    return DLinear(horizon=horizon).fit(y[:fit]), y, fit


def test_updates_keep_the_judging_state_a_refit_computes():
    """One-row updates through the burst judge each window against the kept reference of its block (its median and
    spread, ``residual_center_`` and ``residual_spread_``) and take a new one where a block begins: the state and the
    weights are a refit's on the same data (the burst's windows weighed down alike)."""
    model, y, fit = _burst_stream()
    first = copy.deepcopy(model)
    assert model.residual_center_.shape == model.residual_spread_.shape == (1, model.horizon)
    for i in range(fit, len(y)):
        model.update(y[i : i + 1])
    refit = copy.deepcopy(first)
    refit._fit_arrays(y, refit=True)
    assert model.residual_next_ == refit.residual_next_ == len(y) - model.horizon + 1
    for name in ("residual_center_", "residual_spread_", "residual_history_"):
        np.testing.assert_allclose(getattr(model, name), getattr(refit, name), rtol=1e-12, atol=1e-12, err_msg=name)
    windows = len(y) - model.window_ - model.horizon + 1
    assert model.stats_[0].count < windows - model.horizon / 2  # the burst's windows are weighed down
    np.testing.assert_allclose(model.stats_[0].count, refit.stats_[0].count, rtol=1e-12)


def test_an_update_within_a_block_judges_as_the_general_path(monkeypatch):
    """The one-window path (:meth:`DLinear._judge_in_block`, most updates) gives the general path's state and
    statistics bit for bit."""
    fast, y, fit = _burst_stream()
    general = copy.deepcopy(fast)
    origins = range(fast.residual_next_, fast.residual_next_ + len(y) - fit)  # the windows the updates judge
    calls = []
    original = DLinear._judge_in_block

    def counted(self, *args):
        calls.append(self is fast)
        return original(self, *args)

    monkeypatch.setattr(DLinear, "_judge_in_block", counted)
    for i in range(fit, len(y)):
        fast.update(y[i : i + 1])
    monkeypatch.setattr(DLinear, "_judge_in_block",
                        lambda self, z, origin, state: self._judge_windows(z, np.array([origin]), None, state))
    for i in range(fit, len(y)):
        general.update(y[i : i + 1])
    # every window but the first of each block of RESIDUAL_EVERY origins (no bucket is flagged here)
    assert calls == [True] * sum(1 for origin in origins if origin % RESIDUAL_EVERY)
    for name in ("residual_center_", "residual_spread_", "residual_history_", "coef_"):
        np.testing.assert_array_equal(getattr(fast, name), getattr(general, name), err_msg=name)
    np.testing.assert_array_equal(fast.stats_[0].xx, general.stats_[0].xx)
    assert fast.stats_[0].count == general.stats_[0].count


@pytest.mark.parametrize("forge, message", [
    (lambda m: m.residual_center_.__setitem__((0, 0), np.nan), "residual_center_"),
    (lambda m: setattr(m, "residual_spread_", m.residual_spread_[:, :-1]), "residual_spread_"),
    (lambda m: setattr(m, "residual_spread_", np.zeros_like(m.residual_spread_)), "the spread at least"),
    (lambda m: setattr(m, "residual_spread_", None), "or both null"),
    (lambda m: setattr(m, "residual_history_", np.zeros((1, 77, m.horizon))), "residual_history_"),
])
def test_a_forged_judging_state_is_refused_at_load(forge, message):
    predictor = WorkloadPredictor(horizon=6).fit(frame(burst_series(500)))
    forge(predictor.model_)
    with pytest.raises(ModelFileError, match=message):
        persistence.loads(persistence.dumps(predictor))


def test_a_file_saved_before_the_judging_loads_and_updates_without_it():
    """A file of a release before the judging holds none of its state: it forecasts as that release did (see
    tests/test_file_versions.py) and its updates judge no window until it is fitted again."""
    data = Path(__file__).parent / "data"
    record = json.loads((data / "dlinear_0.2.0.json").read_text())
    predictor = WorkloadPredictor.load(data / "dlinear_0.2.0.wpm")
    assert getattr(predictor.model_, "residual_from_", None) is None
    start, stop = record["update_rows"]
    stamps = pd.date_range(record["start"], periods=stop, freq=record["freq"])[start:]
    predictor.update(pd.DataFrame({"timestamp": stamps, **{name: np.asarray(values)[start:stop]
                                                          for name, values in record["series"].items()}}))
    assert getattr(predictor.model_, "residual_from_", None) is None
    np.testing.assert_allclose(np.ravel(predictor.predict().yhat), record["updated"]["yhat"], rtol=1e-9)


def test_the_blocks_references_taken_at_once_are_each_blocks_own():
    """:func:`residual_deviations` takes the whole references of many blocks in one partition: the deviations and
    the last block's reference are, bit for bit, each row's against :func:`residual_reference` of its own block."""
    rng = np.random.default_rng(0)
    for _ in range(40):
        m, horizon = int(rng.integers(1, 300)), int(rng.integers(1, 13))
        residuals = rng.standard_t(3, size=(m, horizon))
        start, first = int(rng.integers(0, m)), int(rng.integers(0, 100))
        got, reference = residual_deviations(residuals, start, first)
        expected, last = np.zeros(m - start), None
        for row in range(start, m):
            block = (first + row) // RESIDUAL_EVERY * RESIDUAL_EVERY - first
            last = residual_reference(residuals[max(block - RESIDUAL_REFERENCE, 0) : max(block, 0)])
            if last is not None:
                expected[row - start] = (np.abs(residuals[row] - last[0]) / last[1]).max()
        np.testing.assert_array_equal(got, expected)
        assert (reference is None) == (last is None)
        if last is not None:
            np.testing.assert_array_equal(np.stack(reference), np.stack(last))


def test_an_updates_one_window_is_added_to_the_statistics_as_a_sum_would_add_it():
    """``WindowStats.with_window`` (an update's one window of weight 1) is ``stats + from_windows`` bit for bit,
    zeros' signs included."""
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(1, 30)), rng.normal(size=(1, 5))
    x[0, :4] = [0.0, -0.0, 0.0, -0.0]
    stats = WindowStats.from_windows(rng.normal(size=(7, 30)), rng.normal(size=(7, 5)))
    stats.xx[:2, :2] = -0.0
    added, expected = stats.with_window(x, y), stats + WindowStats.from_windows(x, y)
    for name in ("count", "sum_x", "sum_y", "xx", "xy"):
        got, want = np.asarray(getattr(added, name)), np.asarray(getattr(expected, name))
        assert np.array_equal(got.view(np.uint64), want.view(np.uint64)), name


def test_the_judgings_medians_are_numpys():
    """The medians of the noise, the calm inputs and the references (one partition, even counts included) are
    ``np.median``'s, ties included."""
    rng = np.random.default_rng(2)
    for count in (1, 2, 5, 60, 167, 168):
        values = rng.standard_t(2, size=(7, count))
        values[:3] = np.round(values[:3])
        np.testing.assert_array_equal(dlinear._middle(values), np.median(values, axis=-1))
        assert anomaly.median_in_place(values[5].copy()) == np.median(values[5])
