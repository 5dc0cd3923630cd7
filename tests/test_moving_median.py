"""The moving median: the median of the last values, its window chosen on the training part by absolute error; a
baseline of the backtest and a member (and fallback) of the ensemble."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from workload_predictor import WorkloadPredictor
from workload_predictor.backtest import backtest
from workload_predictor.errors import WorkloadDataError
from workload_predictor.models import baselines
from workload_predictor.models.baselines import MovingAverage, MovingMedian
from workload_predictor.windows import targets_at


def bursty(n: int, seed: int = 0, empty: float = 0.7) -> np.ndarray:
    """Counts like the code trace's: most buckets empty, the rest heavy-tailed bursts."""
    rng = np.random.default_rng(seed)
    return np.where(rng.random(n) < empty, 0.0, rng.lognormal(3.0, 1.0, n)).round()


@settings(max_examples=25, deadline=None)
@given(n=st.integers(60, 400), k=st.integers(1, 3), horizon=st.integers(1, 12), seed=st.integers(0, 2**16))
def test_the_forecast_is_the_median_of_the_last_window_values(n, k, horizon, seed):
    y = np.random.default_rng(seed).poisson(5.0, (n, k)).astype(float)
    model = MovingMedian(horizon=horizon).fit(y)
    expected = np.median(y[-model.window_ :], axis=0)
    np.testing.assert_array_equal(model.predict(), np.repeat(expected[None], horizon, axis=0))
    origins = np.arange(model.window_, n + 1, 7)
    at = model.predict_at(y, origins)
    for row, origin in zip(at, origins):
        np.testing.assert_array_equal(row, np.repeat(np.median(y[origin - model.window_ : origin], axis=0)[None],
                                                      horizon, axis=0))


@pytest.mark.parametrize("n,seed", [(300, 0), (3000, 1), (9000, 2)])
def test_the_window_has_the_lowest_absolute_error_on_the_newest_training_origins(n, seed):
    """Recomputed by brute force: each usable window's MAE (targets scaled by their mean) over the newest
    MEDIAN_SCORED_ORIGINS origins of the training part, all windows on the same origins."""
    y = np.stack([bursty(n, seed), np.random.default_rng(seed).poisson(40.0, n)], axis=1).astype(float)
    model = MovingMedian(horizon=5).fit(y)
    train = y[: model.validation_origins_[0]]
    room = (len(train) - 5) // 2
    usable = [w for w in baselines.MEDIAN_WINDOWS if w <= room]
    origins = np.arange(max(usable), len(train) - 5 + 1)[-baselines.MEDIAN_SCORED_ORIGINS:]
    actual = targets_at(train, origins, 5)
    size = np.abs(train).mean(axis=0)
    scores = {w: float((np.abs(actual - np.stack([np.median(train[o - w : o], axis=0) for o in origins])[:, None])
                        / size).mean()) for w in usable}
    assert model.window_scores_ == pytest.approx(scores, rel=1e-12)
    assert model.window_ == min(scores, key=scores.get)


def test_medians_taken_in_chunks_equal_one_pass(monkeypatch):
    y = np.stack([bursty(5000, 3), bursty(5000, 4)], axis=1)
    whole = MovingMedian(horizon=4).fit(y)
    monkeypatch.setattr(baselines, "MEDIAN_CHUNK_VALUES", 997)
    chunked = MovingMedian(horizon=4).fit(y)
    assert chunked.window_ == whole.window_ and chunked.window_scores_ == whole.window_scores_
    origins = np.arange(200, 5001, 3)
    np.testing.assert_array_equal(chunked.predict_at(y, origins), whole.predict_at(y, origins))


def test_on_mostly_empty_buckets_it_forecasts_the_typical_bucket_and_beats_the_mean_on_absolute_error():
    """The median is the forecast with the lowest expected absolute error: where most buckets are empty it
    forecasts 0, where a mean is pulled up by the bursts."""
    y = bursty(4000, 5)
    median, mean = MovingMedian(horizon=10).fit(y[:3000]), MovingAverage(horizon=10).fit(y[:3000])
    assert median.predict().max() == 0.0
    origins = np.arange(3000, 3991)
    actual = targets_at(y, origins, 10)
    error = {name: np.abs(model.predict_at(y, origins)[..., 0] - actual).mean()
             for name, model in (("median", median), ("mean", mean))}
    assert error["median"] < 0.8 * error["mean"]


@pytest.mark.parametrize("windows", [(), (0,), (-3, 10), (2.5,), ("10",), (True,), "10", None, [[5, 10]]])
def test_bad_windows_are_a_typed_error_naming_them(windows):
    with pytest.raises(WorkloadDataError, match="windows=.* positive integer"):
        MovingMedian(windows=windows).fit(np.ones(300))


def test_a_short_series_scores_only_the_windows_it_has_room_for():
    """100 points: a training part of 85, room for windows of at most 40 (half of what the targets leave)."""
    model = MovingMedian(horizon=5).fit(bursty(100, 6))
    assert max(model.window_scores_) == 40 and model.window_ in (5, 10, 20, 40)


def test_an_update_forecasts_the_median_of_the_newest_points():
    y = bursty(1200, 7)
    model = MovingMedian(horizon=5).fit(y[:1000])
    window = model.window_
    for start in range(1000, 1200, 40):
        model.update(y[start : start + 40])
    assert model.window_ == window
    np.testing.assert_array_equal(model.predict(), np.full(5, np.median(y[-window:])))


def test_it_is_a_backtest_baseline_and_a_predictor_model():
    index = pd.date_range("2024-01-01", periods=600, freq="10s", tz="UTC")
    data = pd.DataFrame({"timestamp": index, "requests": bursty(600, 8)})
    table = backtest(data, ["dlinear"], horizon=5, verbose=False)
    assert "moving_median" in list(table["model"])
    predictor = WorkloadPredictor(model="moving_median", horizon=5).fit(data)
    assert predictor.predict().yhat.shape == (5, 1)


def test_the_ensemble_falls_back_on_it_where_it_beats_the_other_baselines_on_the_history():
    """On mostly empty buckets the moving median has the lowest error of the baselines on the history: it is the
    fallback's one member, and the ensemble forecasts close to it rather than to the mean the other members
    follow."""
    y = bursty(3000, 9)
    index = pd.date_range("2024-01-01", periods=len(y), freq="10s", tz="UTC")
    predictor = WorkloadPredictor(model="ensemble", horizon=10, random_state=0,
                                  model_params={"members": ("dlinear", "naive", "moving_average", "moving_median")})
    model = predictor.fit(pd.DataFrame({"timestamp": index, "requests": y})).model_
    slots = model._slots()
    assert "moving_median" in model.fallback_members_
    assert model.fallback_weights_[slots.index("moving_median")].tolist() == [1.0] * 10
    assert model.fallback_weights_.sum(axis=0).tolist() == [1.0] * 10
    assert model.weights_["moving_median"] > 0.5


def test_windows_scored_in_chunks_of_targets_equal_one_pass(monkeypatch):
    """The fit scores at most SCORED_CHUNK_VALUES target values at a time (a long horizon, fewer origins at once):
    the same scores as one pass over every origin."""
    y = np.stack([bursty(3000, 5), bursty(3000, 6)], axis=1)
    whole = MovingMedian(horizon=30).fit(y)
    monkeypatch.setattr(baselines, "SCORED_CHUNK_VALUES", 997)
    chunked = MovingMedian(horizon=30).fit(y)
    assert chunked.window_ == whole.window_
    np.testing.assert_allclose(list(chunked.window_scores_.values()), list(whole.window_scores_.values()), rtol=1e-12)
