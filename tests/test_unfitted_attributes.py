"""An unfitted estimator's fitted attributes, read directly or through the methods that read them (``update_bytes``,
``context_length``, ``statistics_seconds``, ``model_bytes``), raise ``NotFittedError`` naming the fix, not an
``AttributeError`` about an internal name (review h113, finding 1). ``NotFittedError`` is an ``AttributeError``, so
``hasattr`` stays False before ``fit``; a fitted estimator's missing attribute stays a plain ``AttributeError``."""

import numpy as np
import pytest

from workload_predictor import FleetPredictor, WorkloadPredictor
from workload_predictor.errors import NotFittedError
from workload_predictor.models import registry
from workload_predictor.models.dlinear import DLinear

# naive's context (one point) and update cost read no fitted state: it answers them before fit.
MODELS = sorted(name for name in registry.names() if name not in ("lstm", "naive"))


@pytest.mark.parametrize("name", MODELS)
def test_an_unfitted_models_helpers_say_it_is_unfitted(name):
    model = registry.build(name, {"horizon": 3}, None)
    for call in (lambda: model.update_bytes(5), lambda: model.context_length()):
        with pytest.raises(NotFittedError, match="not fitted yet"):
            call()


def test_the_lstm_and_dlinear_helpers_say_it_is_unfitted():
    pytest.importorskip("torch")
    lstm = registry.build("lstm", {"horizon": 3}, None)
    for call in (lambda: lstm.update_bytes(5), lambda: lstm.context_length(),
                 lambda: DLinear(horizon=3).statistics_seconds(5)):
        with pytest.raises(NotFittedError, match="not fitted yet"):
            call()


def test_the_global_lstm_helpers_say_it_is_unfitted():
    from workload_predictor.models.global_lstm import GlobalLSTM

    model = GlobalLSTM(horizon=3)
    for call in (lambda: model.model_bytes(), lambda: model.update_bytes([5])):
        with pytest.raises(NotFittedError, match="not fitted yet"):
            call()


@pytest.mark.parametrize("make", [WorkloadPredictor, FleetPredictor, lambda: DLinear(horizon=3)])
def test_a_fitted_attribute_before_fit_is_not_fitted_and_hasattr_is_false(make):
    estimator = make()
    with pytest.raises(NotFittedError, match="not fitted yet"):
        estimator.confidence_  # noqa: B018
    assert not hasattr(estimator, "confidence_")
    assert getattr(estimator, "confidence_", None) is None


def test_a_fitted_models_missing_attribute_is_a_plain_attribute_error():
    model = DLinear(horizon=3).fit(np.arange(200.0) % 7)
    with pytest.raises(AttributeError) as caught:
        model.no_such_thing_  # noqa: B018
    assert not isinstance(caught.value, NotFittedError)
    assert "no_such_thing_" in str(caught.value)
