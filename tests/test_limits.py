"""max_training_time and memory_limit_mb: stop gracefully, raise before allocating, change nothing."""

from __future__ import annotations

import copy
import inspect

import numpy as np
import pandas as pd
import pytest

from conftest import periodic_series
from workload_predictor import WorkloadDataError, WorkloadPredictor, _memory
from workload_predictor.errors import MemoryLimitError


def test_production_defaults():
    defaults = {name: p.default for name, p in inspect.signature(WorkloadPredictor.__init__).parameters.items()}
    assert defaults["model"] == "dlinear"
    assert defaults["max_training_time"] == 300.0
    assert defaults["memory_limit_mb"] == 2048


def test_memory_limit_error_is_typed():
    assert issubclass(MemoryLimitError, WorkloadDataError)
    assert issubclass(MemoryLimitError, ValueError) and issubclass(MemoryLimitError, MemoryError)


# -- time --------------------------------------------------------------------------------------
def test_tiny_time_limit_stops_the_lstm_early_and_says_so():
    frame = periodic_series(500, noise=5.0)
    cut = WorkloadPredictor(model="lstm", horizon=5, random_state=0, max_epochs=50, patience=50,
                            max_training_time=1e-3).fit(frame)
    model = cut.model_
    assert model.stopped_by_ == "time_limit" and cut.training_cut_short_
    assert model.n_epochs_ == 1 < 50  # stopped after the first epoch, not at max_epochs
    forecast = cut.predict()
    assert np.isfinite(forecast.yhat).all() and (forecast.lower <= forecast.upper).all()


def test_time_limit_is_recorded_for_an_ensemble_member():
    frame = periodic_series(500, noise=5.0)
    cut = WorkloadPredictor(model="ensemble", horizon=5, random_state=0, max_epochs=50, patience=50,
                            max_training_time=1e-3).fit(frame)
    assert cut.model_.members_["lstm"].stopped_by_ == "time_limit" and cut.training_cut_short_


def test_default_time_limit_does_not_cut_a_normal_fit():
    fitted = WorkloadPredictor(model="lstm", horizon=5, random_state=0, max_epochs=3).fit(periodic_series(400))
    assert fitted.model_.stopped_by_ != "time_limit" and not fitted.training_cut_short_


# -- memory ------------------------------------------------------------------------------------
@pytest.fixture
def fitted() -> WorkloadPredictor:
    return WorkloadPredictor(horizon=5).fit(periodic_series(400, noise=3.0))


def snapshot(predictor: WorkloadPredictor) -> dict:
    return {k: (v.copy() if isinstance(v, np.ndarray) else v) for k, v in vars(predictor).items()}


def assert_unchanged(predictor: WorkloadPredictor, before: dict, forecast: np.ndarray) -> None:
    after = vars(predictor)
    assert after.keys() == before.keys()
    for name, value in before.items():
        if isinstance(value, np.ndarray):
            np.testing.assert_array_equal(after[name], value)
        else:
            assert after[name] is value or after[name] == value, name
    np.testing.assert_array_equal(predictor.predict().yhat, forecast)


def test_limit_below_current_rss_raises_and_leaves_the_predictor_as_it_was(fitted):
    before, forecast = snapshot(fitted), fitted.predict().yhat
    fitted.set_params(memory_limit_mb=max(1.0, _memory.rss_mb() / 2))
    with pytest.raises(MemoryLimitError, match="memory_limit_mb"):
        fitted.fit(periodic_series(600, noise=9.0))
    fitted.memory_limit_mb = 2048  # restore the parameter the test changed, then compare the fitted state
    before["memory_limit_mb"] = 2048
    assert_unchanged(fitted, before, forecast)


def test_unfitted_predictor_stays_unfitted_after_a_memory_error():
    predictor = WorkloadPredictor(horizon=5, memory_limit_mb=1.0)
    with pytest.raises(MemoryLimitError):
        predictor.fit(periodic_series(400))
    assert not hasattr(predictor, "model_")


def test_limit_crossed_between_lstm_epochs(fitted, monkeypatch):
    """RSS that grows by 10 MiB per check crosses the limit during training: raised there, nothing kept."""
    predictor = WorkloadPredictor(model="lstm", horizon=5, random_state=0, max_epochs=50, patience=50)
    predictor.fit(periodic_series(400, noise=3.0))
    before, forecast = snapshot(predictor), predictor.predict().yhat
    steps = []
    start = _memory.rss_mb()

    def growing_rss() -> float:
        steps.append(None)
        return start + 10.0 * len(steps)

    monkeypatch.setattr(_memory, "rss_mb", growing_rss)
    predictor.memory_limit_mb = start + 95.0  # crossed at the 10th check
    with pytest.raises(MemoryLimitError, match="LSTM epoch"):
        predictor.fit(periodic_series(400, noise=3.0))
    assert len(steps) == 10
    monkeypatch.undo()
    predictor.memory_limit_mb = before["memory_limit_mb"]
    assert_unchanged(predictor, before, forecast)


def test_large_window_allocation_is_refused_before_it_happens():
    """A long series whose window matrix would need ~0.8 GB: refused up front, RSS does not grow by it."""
    n = 300_000
    frame = pd.DataFrame({"timestamp": pd.date_range("2024-01-01", periods=n, freq="1s"),
                          "requests": np.random.default_rng(0).poisson(20.0, n).astype(float)})
    predictor = WorkloadPredictor(horizon=10, window=336, memory_limit_mb=_memory.rss_mb() + 200)
    rss_before = _memory.rss_mb()
    with pytest.raises(MemoryLimitError, match="DLinear windows") as error:
        predictor.fit(frame)
    assert "about to allocate" in str(error.value)
    assert _memory.rss_mb() - rss_before < 150  # the 0.8 GB were never allocated
    assert not hasattr(predictor, "model_")


def test_memory_error_during_update_changes_nothing(fitted, monkeypatch):
    before, forecast = snapshot(fitted), fitted.predict().yhat
    model_before = copy.deepcopy(fitted.model_)
    new = periodic_series(430, noise=3.0).iloc[400:]
    monkeypatch.setattr(_memory, "rss_mb", lambda: 1e9)
    with pytest.raises(MemoryLimitError):
        fitted.update(new)
    monkeypatch.undo()
    assert_unchanged(fitted, before, forecast)
    np.testing.assert_array_equal(fitted.model_.stats_[0].xx, model_before.stats_[0].xx)


def test_update_refuses_a_gap_too_large_for_the_memory_limit(fitted):
    # 200 years of 1-minute buckets: 1.7 GB of zeros, over a limit 500 MiB above the RSS now.
    far = pd.DataFrame({"timestamp": [fitted.last_timestamp_ + pd.Timedelta(days=365 * 200)], "requests": [1.0]})
    fitted.memory_limit_mb = _memory.rss_mb() + 500
    with pytest.raises(MemoryLimitError, match="zero-filling"):
        fitted.update(far)


def test_peak_rss_is_recorded_without_a_limit():
    predictor = WorkloadPredictor(horizon=5, memory_limit_mb=None).fit(periodic_series(400))
    assert predictor.fit_peak_rss_mb_ > 0


@pytest.mark.parametrize("limit", [0, -5, "2GB", True])
def test_bad_memory_limit_is_a_typed_error(limit):
    with pytest.raises(WorkloadDataError, match="memory_limit_mb"):
        WorkloadPredictor(horizon=5, memory_limit_mb=limit).fit(periodic_series(400))
