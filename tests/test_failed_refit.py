"""A fit that raises after it began to change the model leaves the model unfitted, never a mix of two fits
(review h113: a failed refit kept the new fit's target count beside the old fit's context)."""

import numpy as np
import pytest

from workload_predictor.errors import NotFittedError, WorkloadDataError
from workload_predictor.models.baselines import SeasonalMedian
from workload_predictor.models.dlinear import DLinear
from workload_predictor.models.ensemble import Ensemble


def _cycle(n: int = 600) -> np.ndarray:
    return 20.0 + 10.0 * np.sin(2 * np.pi * np.arange(n) / 24)


def test_a_refit_that_raises_leaves_the_model_unfitted_not_mixed():
    model = SeasonalMedian(horizon=5).fit(_cycle())
    assert model.predict().shape == (5,)
    with pytest.raises(WorkloadDataError):
        model.fit(np.full((600, 2), 3.0))  # no season to find: refused inside the fit
    assert not any(name.endswith("_") and not name.startswith("__") for name in vars(model))
    with pytest.raises(NotFittedError):
        model.predict()
    with pytest.raises(NotFittedError):
        model.update(_cycle(5))
    assert model.fit(_cycle()).predict().shape == (5,)  # and it fits again


def test_a_refit_refused_by_its_checks_keeps_the_fit_before():
    model = DLinear(horizon=5).fit(_cycle())
    before = model.predict()
    with pytest.raises(WorkloadDataError):
        model.fit(_cycle(20))  # too short: refused before the fit begins
    np.testing.assert_array_equal(model.predict(), before)


def test_an_ensemble_whose_refit_raises_is_unfitted(monkeypatch):
    model = Ensemble(horizon=5, members=("dlinear", "naive")).fit(_cycle())
    assert model.predict().shape == (5,)

    def fail(*args, **kwargs):
        raise WorkloadDataError("the combination failed")

    monkeypatch.setattr(Ensemble, "_fit_combination", fail)
    with pytest.raises(WorkloadDataError, match="combination failed"):
        model.fit(np.column_stack([_cycle(), _cycle()]))
    with pytest.raises(NotFittedError):
        model.predict()
