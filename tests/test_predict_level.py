"""predict(level=...): an interval at another coverage from the same out-of-sample validation errors, as a fit at that
level calibrates it (an autoscaler provisions at 0.99 and plans at 0.9 from one predictor)."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import periodic_series

from workload_predictor import WorkloadPredictor
from workload_predictor.errors import WorkloadDataError

PARAMS = {"lstm": {"max_epochs": 2}, "ensemble": {"member_params": {"lstm": {"max_epochs": 2}}}}
MODELS = ["dlinear", "naive", "moving_median", "exponential_smoothing", "lstm", "ensemble"]


def _fitted(model, level, updates=0):
    data = periodic_series(700 + updates, noise=6.0, seed=3)
    predictor = WorkloadPredictor(model=model, horizon=8, level=level, random_state=0,
                                  model_params=PARAMS.get(model))
    predictor.fit(data.iloc[:700])
    for i in range(updates):
        predictor.update(data.iloc[700 + i : 701 + i])
    return predictor


@pytest.mark.parametrize("updates", [0, 3])
@pytest.mark.parametrize("model", MODELS)
def test_an_interval_at_another_level_is_the_one_a_fit_at_that_level_gives(model, updates):
    """The interval at 0.8 or 0.99 of a predictor fitted at 0.9 equals that of one fitted (and updated) at that level,
    point forecast and confidence unchanged; the level the predictor was calibrated at gives its own interval."""
    predictor = _fitted(model, 0.9, updates)
    own = predictor.predict()
    assert predictor.predict(level=0.9).to_frame().equals(own.to_frame())
    for level in (0.8, 0.99):
        forecast = predictor.predict(level=level)
        expected = _fitted(model, level, updates).predict()
        assert forecast.level == level == expected.level
        np.testing.assert_array_equal(forecast.yhat, own.yhat)
        np.testing.assert_allclose(forecast.lower, expected.lower, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(forecast.upper, expected.upper, rtol=1e-12, atol=1e-12)
        assert forecast.confidence == own.confidence
    assert predictor.level == 0.9 and predictor.interval_level_ == 0.9  # predicting changed nothing


def test_a_higher_level_gives_an_interval_at_least_as_wide():
    predictor = _fitted("dlinear", 0.9)
    widths = [predictor.predict(level=level) for level in (0.5, 0.8, 0.9, 0.95, 0.99)]
    spans = [f.upper - np.maximum(f.yhat - (f.upper - f.yhat), 0) for f in widths]
    halves = [f.upper - f.yhat for f in widths]
    for narrow, wide in zip(halves, halves[1:]):
        assert (wide >= narrow - 1e-12).all()
    assert (halves[-1] > halves[0]).any() and len(spans) == 5


@pytest.mark.parametrize("level", [0, 1, 1.5, -0.1, float("nan"), True, "0.9", np.timedelta64(1, "s"), [0.9]])
def test_a_level_that_is_no_coverage_is_refused_naming_it(level):
    predictor = _fitted("naive", 0.9)
    with pytest.raises(WorkloadDataError, match=r"level=.* must be a coverage in \(0, 1\)"):
        predictor.predict(level=level)
