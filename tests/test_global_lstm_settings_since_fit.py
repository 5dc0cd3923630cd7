"""A fitted ``GlobalLSTM`` whose ``horizon`` was set since its fit (``set_params``) says so, as a per-key model does
(``BaseForecaster._fitted_horizon``): its base and network forecast the fitted horizon's steps.

Before: ``predict()``, ``predict_at()`` and ``update()`` after ``set_params(horizon=3)`` on a model fitted at 5 raised
numpy's ``ValueError: cannot reshape array of size 20 into shape (3,1)`` (8: the same; ``update`` at 8: "all the
input array dimensions except for the concatenation axis must match exactly"), which names neither the problem nor
the fix.
"""

from __future__ import annotations

import copy

import numpy as np
import pytest

from workload_predictor.errors import WorkloadDataError
from workload_predictor.models.global_lstm import GlobalLSTM

pytest.importorskip("torch")

TINY = {"horizon": 5, "window": 24, "hidden_size": 8, "max_epochs": 2, "batch_size": 64, "random_state": 0}


@pytest.fixture(scope="module")
def fitted() -> tuple[GlobalLSTM, list[np.ndarray]]:
    rng = np.random.default_rng(0)
    t = np.arange(240)
    series = [(level * (1 + 0.5 * np.sin(2 * np.pi * t / 24)) + rng.normal(0, 1, 240)).clip(0)[:, None]
              for level in (10.0, 100.0, 700.0)]
    return GlobalLSTM(**TINY).fit(series), series


CALLS = {
    "predict": lambda model, series: model.predict(),
    "predict_at": lambda model, series: model.predict_at(series, [[240]] * len(series)),
    "update": lambda model, series: model.update([y[-10:] for y in series]),
}


@pytest.mark.parametrize("horizon", [3, 8])
@pytest.mark.parametrize("call", CALLS)
def test_a_horizon_set_since_fit_is_named_with_the_fix(fitted, call, horizon):
    model, series = fitted
    changed = copy.deepcopy(model).set_params(horizon=horizon)
    with pytest.raises(WorkloadDataError, match=rf"horizon changed from 5 to {horizon} since fit: fit again, or set it "
                                                r"back with set_params\(horizon=5\)"):
        CALLS[call](changed, series)
    changed.set_params(horizon=5)  # set back: as fitted
    expected = CALLS[call](copy.deepcopy(model), series)
    got = CALLS[call](changed, series)
    if call == "update":
        expected, got = expected.predict(), got.predict()
    for a, b in zip(got, expected):
        np.testing.assert_array_equal(a, b)
