"""The seasonal median: its period found from the data, exact forecasts of trend plus season, typed errors."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import periodic_series
from workload_predictor import WorkloadPredictor
from workload_predictor.errors import NoSeasonError, WorkloadDataError
from workload_predictor.models.baselines import SeasonalMedian
from workload_predictor.models.ensemble import Ensemble


@settings(max_examples=20, deadline=None)
@given(period=st.integers(2, 40), seasons=st.integers(10, 14), noise=st.floats(0.0, 1.0),
       slope=st.floats(-0.05, 0.05), seed=st.integers(0, 2**16))
def test_the_period_found_is_the_true_one(period, seasons, noise, slope, seed):
    """A random pattern repeated, with trend and noise: the true period is a candidate, and the one chosen is
    it or a multiple of it (the same forecasts up to noise: a multiple is a period of the series too)."""
    rng = np.random.default_rng(seed)
    pattern = rng.uniform(0.0, 20.0, period)
    t = np.arange(max(period * seasons, 80))
    y = 50.0 + slope * t + pattern[t % period] + noise * rng.standard_normal(len(t))
    model = SeasonalMedian(horizon=5).fit(y)
    assert model.period_ % period == 0
    assert period in model.period_scores_


def test_trend_plus_season_is_forecast_exactly():
    """The median of the last seasons, moved to the last season's level, carries a linear trend over exactly."""
    t = np.arange(400)
    pattern = np.random.default_rng(1).uniform(0.0, 10.0, 24)
    y = 3.0 + 0.25 * t + pattern[t % 24]
    future = np.arange(400, 420)  # within one season (beyond it the last season repeats, level unchanged)
    model = SeasonalMedian(horizon=20).fit(y)
    assert model.period_ % 24 == 0  # 24 and its multiples forecast this series exactly
    np.testing.assert_allclose(model.predict(), 3.0 + 0.25 * future + pattern[future % 24], rtol=1e-10)
    fixed = SeasonalMedian(horizon=20, season_length=24, seasons=2).fit(y)
    np.testing.assert_allclose(fixed.predict(), model.predict(), rtol=1e-10)


@pytest.mark.parametrize("y", [np.full(300, 7.0), 2.0 + 0.5 * np.arange(300.0), np.arange(30.0)],
                         ids=["constant", "straight line", "too short to score"])
def test_a_series_without_a_season_raises_a_typed_error(y):
    with pytest.raises(NoSeasonError, match="no seasonal period.*season_length="):
        SeasonalMedian(horizon=5).fit(y)
    assert issubclass(NoSeasonError, WorkloadDataError) and issubclass(NoSeasonError, ValueError)


@pytest.mark.parametrize("params, message", [
    (dict(seasons=0), "seasons=0 must be an integer >= 1"),
    (dict(seasons=2.5), "seasons=2.5 must be an integer"),
    (dict(season_length=0), "season_length=0 must be an integer >= 1"),
    (dict(season_length="day"), "season_length='day' must be an integer"),
])
def test_bad_parameters_raise_typed_errors(params, message):
    with pytest.raises(WorkloadDataError, match=message):
        SeasonalMedian(horizon=5, **params).fit(np.sin(np.arange(300.0)))


def test_the_ensemble_leaves_the_member_out_where_the_data_have_no_season():
    line = 2.0 + 0.5 * np.arange(400.0)
    ensemble = Ensemble(horizon=5, members=("naive", "moving_average", "seasonal_median")).fit(line)
    assert list(ensemble.members_) == ["naive", "moving_average"]
    assert "no seasonal period" in ensemble.left_out_["seasonal_median"]
    with pytest.raises(NoSeasonError):  # the only member: nothing to forecast with
        Ensemble(horizon=5, members=("seasonal_median",)).fit(line)
    seasonal = Ensemble(horizon=5, members=("naive", "seasonal_median")).fit(np.tile(np.arange(12.0), 40))
    assert seasonal.members_["seasonal_median"].period_ == 12 and seasonal.left_out_ == {}
    assert seasonal.n_history_origins_ > 0  # its forecasts of the history join the evidence


def test_round_trip_and_update_keep_the_period(tmp_path):
    frame = periodic_series(600, noise=2.0)
    predictor = WorkloadPredictor(model="seasonal_median", horizon=10).fit(frame)
    loaded = WorkloadPredictor.load(predictor.save(tmp_path / "seasonal.wp"))
    assert loaded.model_.period_ == predictor.model_.period_
    np.testing.assert_array_equal(loaded.predict().yhat, predictor.predict().yhat)
    more = periodic_series(620, noise=2.0, seed=1).iloc[600:]
    predictor.update(more, timestamp="timestamp")
    loaded.update(more, timestamp="timestamp")
    np.testing.assert_array_equal(loaded.predict().yhat, predictor.predict().yhat)
    assert loaded.model_.period_ == predictor.model_.period_
