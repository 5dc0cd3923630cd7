"""A model fitted on its own (``DLinear(horizon=10).fit(y)``, scikit-learn style, no ``anomalies``) reads ``y`` as the
predictor's model does: ``anomalies=None`` runs the predictor's input-anomaly scan, so a sentinel (a 2**32 - 1
counter wrap) in the window search's or the validation's tail is read at its reference median, not raw. An explicit
``{}`` means "none flagged". The predictor and the fleets pass their own flags: nothing scans the series twice.

The series: Poisson(20) counts in 1-minute buckets, one bucket 2**32 - 1, and its clean twin."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from workload_predictor import FleetPredictor, WorkloadPredictor, anomaly
from workload_predictor.models.baselines import Naive
from workload_predictor.models.dlinear import DLinear
from workload_predictor.models.ensemble import Ensemble

N, SENTINEL = 1000, 2.0**32 - 1
SEARCH_TAIL, VALIDATION_TAIL = 780, 900  # in the training part's tail (the search's), in the fit's validation tail


def series(position: int | None, seed: int = 0) -> np.ndarray:
    values = np.random.default_rng(seed).poisson(20, N).astype(float)
    if position is not None:
        values[position] = SENTINEL
    return values


def frame(values: np.ndarray) -> pd.DataFrame:
    return pd.DataFrame({"timestamp": pd.date_range("2026-01-01", periods=len(values), freq="1min"),
                         "requests": values})


def predictor_model(values: np.ndarray, model: str = "dlinear", random_state: int | None = None,
                    **model_params) -> object:
    return WorkloadPredictor(model=model, horizon=10, model_params=model_params or None,
                             random_state=random_state).fit(frame(values)).model_


def validation_mae(model) -> float:
    return float(np.abs(model.validation_forecast_ - model.validation_actual_).mean())


def test_a_sentinel_in_the_search_tail_does_not_choose_a_bare_fits_windows():
    """Read raw (the base), the sentinel at 780 chose windows {96, 120, 168} where the clean twin and the predictor's
    model choose {48, 72, 96}."""
    values = series(SEARCH_TAIL, seed=0)
    bare, ours = DLinear(horizon=10).fit(values), predictor_model(values)
    clean = DLinear(horizon=10).fit(series(None, seed=0))
    assert sorted(bare.window_weights_) == sorted(ours.window_weights_) == sorted(clean.window_weights_)
    np.testing.assert_array_equal(bare.coef_, ours.coef_)
    np.testing.assert_array_equal(bare.validation_forecast_, ours.validation_forecast_)


def test_a_sentinel_in_the_validation_tail_does_not_widen_a_bare_fits_validation_error():
    """Read raw (the base), the validation MAE was 6.4e7 against the clean twin's 3.64."""
    values = series(VALIDATION_TAIL)
    bare, ours = DLinear(horizon=10).fit(values), predictor_model(values)
    clean = DLinear(horizon=10).fit(series(None))
    np.testing.assert_array_equal(bare.validation_actual_, ours.validation_actual_)
    np.testing.assert_array_equal(bare.validation_forecast_, ours.validation_forecast_)
    assert validation_mae(bare) < 1.1 * validation_mae(clean)


def test_explicit_no_flags_read_the_series_as_it_is():
    """``{}``: nothing flagged, the sentinel is a target of the validation windows as it stands."""
    values = series(VALIDATION_TAIL)
    model = DLinear(horizon=10).fit(values, {})
    assert model.validation_actual_.max() == SENTINEL
    assert DLinear(horizon=10).fit(series(None), {}).validation_actual_.max() < 100


def test_a_bare_baseline_reads_the_sentinel_at_its_median():
    values = series(VALIDATION_TAIL)
    bare, ours = Naive(horizon=10).fit(values), predictor_model(values, "naive")
    np.testing.assert_array_equal(bare.validation_actual_, ours.validation_actual_)
    np.testing.assert_array_equal(bare.validation_forecast_, ours.validation_forecast_)
    assert bare.validation_actual_.max() < 100


def test_a_bare_ensemble_scans_once_and_agrees_with_the_predictors(monkeypatch):
    members = ("dlinear", "naive", "moving_average")
    values = series(SEARCH_TAIL)
    calls = []
    scan = anomaly.fit_scan
    monkeypatch.setattr(anomaly, "fit_scan", lambda *args, **kwargs: calls.append(1) or scan(*args, **kwargs))
    bare = Ensemble(horizon=10, members=members).fit(values)
    bare_scans = len(calls)
    ours = predictor_model(values, "ensemble", members=members)
    assert sorted(bare.members_["dlinear"].window_weights_) == sorted(ours.members_["dlinear"].window_weights_)
    for name in members:
        np.testing.assert_array_equal(bare.members_[name].validation_actual_, ours.members_[name].validation_actual_)
    assert bare.weights_ == ours.weights_
    assert (bare_scans, len(calls) - bare_scans) == (1, 1)  # one for every member; the predictor's, read by them


@pytest.mark.parametrize("model", ["dlinear", "naive", "ensemble"])
def test_the_predictor_and_the_fleet_scan_each_series_once(monkeypatch, model):
    """The predictor and the fleet (batched DLinear keys, per-key predictors) pass their scan's flags to the model's
    fit, which scans nothing again."""
    calls = []
    scan = anomaly.fit_scan
    monkeypatch.setattr(anomaly, "fit_scan", lambda values, *args, **kwargs: calls.append(len(values))
                        or scan(values, *args, **kwargs))
    params = {"members": ("dlinear", "naive")} if model == "ensemble" else None
    values = series(VALIDATION_TAIL)
    WorkloadPredictor(model=model, horizon=10, model_params=params).fit(frame(values))
    assert calls == [N]
    calls.clear()
    rows = pd.concat([frame(values).assign(key="a"), frame(series(None, seed=1)).assign(key="b")])
    FleetPredictor(model=model, horizon=10, model_params=params).fit(rows, key="key")
    assert calls == [N, N]


def test_a_bare_lstm_reads_the_sentinel_as_the_predictors_lstm_does():
    """The LSTM's validation windows (and its DLinear base's fit, through the LSTM's) read the flags of the scan."""
    from workload_predictor.models.lstm import LSTM

    params = dict(hidden_size=4, max_epochs=2)
    values = series(VALIDATION_TAIL)
    bare = LSTM(horizon=10, random_state=0, **params).fit(values)
    ours = predictor_model(values, "lstm", random_state=0, **params)
    np.testing.assert_array_equal(bare.validation_actual_, ours.validation_actual_)
    np.testing.assert_allclose(bare.validation_forecast_, ours.validation_forecast_, rtol=1e-6, atol=1e-6)
    assert bare.validation_actual_.max() < 100


def test_the_lstms_base_searches_its_windows_as_dlinear_does():
    """The LSTM's DLinear base scored its window search on the raw sentinel, in a predictor too: it blended
    {96, 120, 168} where DLinear's own fit and the clean twin's base blend {48, 72, 96}."""
    from workload_predictor.models.lstm import LSTM

    params = dict(hidden_size=4, max_epochs=1)
    values = series(SEARCH_TAIL)
    bare = LSTM(horizon=10, random_state=0, **params).fit(values)
    ours = predictor_model(values, "lstm", random_state=0, **params)
    clean = LSTM(horizon=10, random_state=0, **params).fit(series(None))
    dlinear = DLinear(horizon=10).fit(values)
    assert sorted(bare.base_.window_weights_) == sorted(ours.base_.window_weights_) == \
        sorted(dlinear.window_weights_) == sorted(clean.base_.window_weights_)
