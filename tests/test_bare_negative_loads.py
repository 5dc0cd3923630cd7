"""A model class fitted or updated on its own refuses a negative value, as a ``WorkloadPredictor`` does.

Before: ``DLinear(horizon=10).fit(y)`` with a negative value in its validation tail, or ``update([-1.0])`` after a
clean fit, took it; the file ``save`` then wrote could not load ("holds its DLinear's validation_actual_ with
negative or non-finite values ...; it was damaged or altered"), since a model file holds loads only.
"""

from __future__ import annotations

import numpy as np
import pytest

from workload_predictor import WorkloadDataError, persistence
from workload_predictor.models.baselines import ExponentialSmoothing, MovingAverage, MovingMedian, Naive
from workload_predictor.models.dlinear import DLinear
from workload_predictor.models.ensemble import Ensemble

NAMES = ["dlinear", "naive", "moving_average", "moving_median", "exponential_smoothing", "ensemble", "lstm"]
FAST = {"lstm": {"max_epochs": 2, "hidden_size": 4}, "ensemble": {"members": ("dlinear", "naive", "moving_average")}}


CLASSES = {"dlinear": DLinear, "naive": Naive, "moving_average": MovingAverage, "moving_median": MovingMedian,
           "exponential_smoothing": ExponentialSmoothing, "ensemble": Ensemble}


def _model(name: str):
    if name == "lstm":
        pytest.importorskip("torch")
        from workload_predictor.models.lstm import LSTM

        return LSTM(horizon=10, **FAST["lstm"])
    return CLASSES[name](horizon=10, **FAST.get(name, {}))


def _series(n: int = 600) -> np.ndarray:
    return np.random.default_rng(0).poisson(20, n).astype(float)


@pytest.mark.parametrize("name", NAMES)
def test_a_negative_value_in_a_bare_fit_is_a_typed_error_naming_it(name):
    y = _series()
    y[-7] = -3.0
    before = y.copy()
    with pytest.raises(WorkloadDataError, match=r"y holds -3 at row 593: loads must be >= 0 \(workload counts are "
                                                r"non-negative\); fix the data, or shift the series"):
        _model(name).fit(y)
    np.testing.assert_array_equal(y, before)


@pytest.mark.parametrize("name", NAMES)
def test_a_negative_value_in_a_bare_update_is_refused_and_the_model_saves_a_file_that_loads(name):
    model = _model(name).fit(_series())
    forecast = model.predict()
    with pytest.raises(WorkloadDataError, match=r"new_y holds -1 at row 1: loads must be >= 0"):
        model.update([20.0, -1.0])
    np.testing.assert_array_equal(model.predict(), forecast)  # unchanged by the refused update
    loaded = persistence.loads(persistence.dumps(model.update([20.0, 21.0])))
    np.testing.assert_allclose(loaded.predict(), model.predict())


def test_a_negative_value_in_predict_at_inputs_is_refused():
    model = _model("dlinear").fit(_series())
    y = _series()
    y[10] = -0.5
    with pytest.raises(WorkloadDataError, match=r"y holds -0.5 at row 10: loads must be >= 0"):
        model.predict_at(y, [len(y)])
    y[10] = -0.0  # minus zero is zero
    assert model.predict_at(y, [len(y)]).shape == (1, 10, 1)
