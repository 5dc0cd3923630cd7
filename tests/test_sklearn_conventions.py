"""scikit-learn's conventions, checked with scikit-learn's own tools: ``check_is_fitted`` (which from scikit-learn 1.6
on reads ``__sklearn_tags__``, then ``__sklearn_is_fitted__``), ``except sklearn.exceptions.NotFittedError`` around
our calls, ``clone``; and a fitted model that owns its settings, as ``clone`` gives a meta-estimator's.

scikit-learn is no dependency and CI installs none: where it is not installed, each test runs against a stand-in of
the same contract (the classes and the checks of ``sklearn/utils/validation.py`` and ``sklearn/utils/_tags.py``,
1.6 to 1.9), put in ``sys.modules`` where scikit-learn would be; where it is installed, against scikit-learn itself.
"""

from __future__ import annotations

import copy
import dataclasses
import inspect
import pickle
import sys
import threading
import types

import numpy as np
import pandas as pd
import pytest
from conftest import periodic_series

from workload_predictor import FleetPredictor, NotFittedError, WorkloadDataError, WorkloadPredictor
from workload_predictor.models import registry
from workload_predictor.models.baselines import Naive, SeasonalMedian
from workload_predictor.models.global_lstm import GlobalLSTM

TINY_LSTM = {"max_epochs": 1, "hidden_size": 4, "random_state": 0}
SERIES = periodic_series(400, noise=3.0)
Y = SERIES["requests"].to_numpy()


def _stand_in() -> dict[str, types.ModuleType]:
    """``sklearn.exceptions`` and ``sklearn.utils`` as far as these checks read them (scikit-learn 1.6+)."""
    exceptions = types.ModuleType("sklearn.exceptions")

    class SklearnNotFittedError(ValueError, AttributeError):
        pass

    exceptions.NotFittedError = SklearnNotFittedError

    @dataclasses.dataclass
    class TargetTags:
        required: bool
        one_d_labels: bool = False
        two_d_labels: bool = False
        positive_only: bool = False
        multi_output: bool = False
        single_output: bool = True

    @dataclasses.dataclass
    class Tags:
        estimator_type: str | None
        target_tags: TargetTags
        transformer_tags: object = None
        classifier_tags: object = None
        regressor_tags: object = None
        array_api_support: bool = False
        no_validation: bool = False
        non_deterministic: bool = False
        requires_fit: bool = True
        _skip_test: bool = False
        input_tags: object = None

    utils = types.ModuleType("sklearn.utils")
    utils.Tags, utils.TargetTags = Tags, TargetTags
    return {"sklearn.exceptions": exceptions, "sklearn.utils": utils}


def _stand_in_check_is_fitted(estimator) -> None:
    """``sklearn.utils.validation.check_is_fitted(estimator)`` (1.6+): the tags first (an estimator without
    ``__sklearn_tags__`` is an AttributeError), then ``__sklearn_is_fitted__``, else any attribute ending in ``_``."""
    if not hasattr(estimator, "fit"):
        raise TypeError(f"{estimator} is not an estimator instance.")
    tags = estimator.__sklearn_tags__()
    if not tags.requires_fit:
        return
    if hasattr(estimator, "__sklearn_is_fitted__"):
        fitted = estimator.__sklearn_is_fitted__()
    else:
        fitted = any(name.endswith("_") and not name.startswith("__") for name in vars(estimator))
    if not fitted:
        raise sys.modules["sklearn.exceptions"].NotFittedError(f"This {type(estimator).__name__} instance is not "
                                                               "fitted yet.")


def _stand_in_clone(estimator):
    """``sklearn.base.clone``: the estimator's own ``__sklearn_clone__``, else its class built from deep copies of its
    parameters, each stored as given."""
    if hasattr(estimator, "__sklearn_clone__") and not inspect.isclass(estimator):
        return estimator.__sklearn_clone__()
    params = {name: copy.deepcopy(value) for name, value in estimator.get_params(deep=False).items()}
    new = type(estimator)(**params)
    assert all(new.get_params(deep=False)[name] is value for name, value in params.items())
    return new


@pytest.fixture
def sklearn(monkeypatch):
    """scikit-learn's ``NotFittedError``, ``check_is_fitted`` and ``clone``: its own where installed, else the
    stand-ins, loaded where scikit-learn would be."""
    try:
        from sklearn.base import clone
        from sklearn.exceptions import NotFittedError as SklearnNotFittedError
        from sklearn.utils.validation import check_is_fitted
    except ImportError:
        for name, module in _stand_in().items():
            monkeypatch.setitem(sys.modules, name, module)
        return types.SimpleNamespace(NotFittedError=sys.modules["sklearn.exceptions"].NotFittedError,
                                     check_is_fitted=_stand_in_check_is_fitted, clone=_stand_in_clone)
    return types.SimpleNamespace(NotFittedError=SklearnNotFittedError, check_is_fitted=check_is_fitted, clone=clone)


def _fleet_frame() -> pd.DataFrame:
    return pd.concat([SERIES.assign(key=key) for key in ("a", "b")], ignore_index=True)


def _model(name: str):
    settings = {"lstm": TINY_LSTM, "ensemble": {"members": ("dlinear", "naive")}}.get(name, {})
    return registry.get(name).cls(horizon=3, **settings)


#: Every public estimator, unfitted, and how to fit it.
ESTIMATORS = {
    "WorkloadPredictor": (lambda: WorkloadPredictor(horizon=3), lambda e: e.fit(SERIES)),
    "FleetPredictor": (lambda: FleetPredictor(horizon=3), lambda e: e.fit(_fleet_frame())),
    "GlobalLSTM": (lambda: GlobalLSTM(horizon=3, window=24, max_windows_per_key=32, **TINY_LSTM),
                   lambda e: e.fit([Y, Y])),
    **{name: (lambda name=name: _model(name), lambda e: e.fit(Y)) for name in registry.names()},
}


@pytest.mark.parametrize("name", ESTIMATORS)
def test_scikit_learns_check_is_fitted_reads_every_estimator(name, sklearn):
    """scikit-learn 1.6+'s ``check_is_fitted`` asks every estimator for its tags first: ours had none, so it raised
    ``AttributeError: ... object has no attribute '__sklearn_tags__'`` before and after ``fit``. Along the way, the
    rest of the contract: ``__init__`` stores its parameters and nothing else, ``fit`` returns ``self`` and changes
    no parameter (not even in place), a pickled fitted estimator is fitted, a ``clone`` of it is not."""
    make, fit = ESTIMATORS[name]
    estimator = make()
    assert sorted(vars(estimator)) == sorted(estimator.get_params())
    with pytest.raises(sklearn.NotFittedError):
        sklearn.check_is_fitted(estimator)
    given = estimator.get_params()
    before = pickle.dumps(given)
    assert fit(estimator) is estimator
    sklearn.check_is_fitted(estimator)
    after = estimator.get_params()
    assert pickle.dumps(after) == before and all(after[key] is value for key, value in given.items())
    sklearn.check_is_fitted(pickle.loads(pickle.dumps(estimator)))
    fresh = sklearn.clone(estimator)
    assert not [attribute for attribute in vars(fresh) if attribute.endswith("_")]
    with pytest.raises(sklearn.NotFittedError):
        sklearn.check_is_fitted(fresh)


def test_a_failed_fit_leaves_an_estimator_that_check_is_fitted_calls_unfitted(sklearn):
    """A fit that fails part-way leaves no fitted attribute (tests/test_failed_refit.py); an attribute ending in ``_``
    that a completed fit did not set (a subclass's early step, set here by hand) is what scikit-learn's rule would
    read as a fit; ``predict`` refuses, and ``check_is_fitted`` answers as ``predict`` does."""
    model = SeasonalMedian(horizon=3)
    with pytest.raises(WorkloadDataError, match="no seasonal period"):
        model.fit(np.full(400, 3.0))
    model.n_targets_ = 1  # what scikit-learn's rule (any attribute ending in ``_``) reads as a fit
    with pytest.raises(NotFittedError):
        model.predict()
    with pytest.raises(sklearn.NotFittedError):
        sklearn.check_is_fitted(model)
    assert model.__sklearn_is_fitted__() is False


def test_scikit_learns_not_fitted_error_catches_ours(sklearn, monkeypatch):
    """``except sklearn.exceptions.NotFittedError`` around a call before ``fit`` let ours through (its bases are
    scikit-learn's, the class is not). Where scikit-learn is loaded, the error raised is of both classes, under our
    name and message, and pickles as such; where it is not, it is ours alone, and scikit-learn is not imported."""
    for estimator in (WorkloadPredictor(), FleetPredictor(), Naive()):
        with pytest.raises(sklearn.NotFittedError) as caught:
            estimator.predict()
        error = caught.value
        assert isinstance(error, NotFittedError) and type(error).__name__ == "NotFittedError"
        assert str(error) == f"This {type(estimator).__name__} instance is not fitted yet: call fit(...) before using it."
        copied = pickle.loads(pickle.dumps(error))
        assert type(copied) is type(error) and str(copied) == str(error)
    monkeypatch.delitem(sys.modules, "sklearn.exceptions")
    with pytest.raises(NotFittedError) as caught:
        Naive().predict()
    assert type(caught.value) is NotFittedError and "sklearn.exceptions" not in sys.modules


def test_a_fitted_model_owns_its_settings(tmp_path):
    """The fitted model held the caller's ``model_params`` objects: a list or dict in them changed in place after
    the fit changed the fitted model's settings, and an ensemble saved that way wrote a file ``load`` refused
    ("holds its DLinear with settings its fit refuses"). It now holds copies, as scikit-learn's ``clone`` gives a
    meta-estimator's fitted estimator; the predictor's own ``model_params`` stay the caller's (set as given)."""
    model_params = {"members": ["dlinear", "naive"], "member_params": {"dlinear": {"candidate_windows": [48, 24]}}}
    predictor = WorkloadPredictor(horizon=3, model="ensemble", model_params=model_params).fit(SERIES)
    expected = predictor.predict()
    assert predictor.model_params is model_params
    model_params["members"].append("moving_average")
    model_params["member_params"]["dlinear"]["candidate_windows"].append(0)
    assert predictor.model_.members == ["dlinear", "naive"]
    assert predictor.model_.members_["dlinear"].candidate_windows == [48, 24]
    predictor.set_params(model_params={"members": ["dlinear", "naive"]})
    loaded = WorkloadPredictor.load(predictor.save(tmp_path / "ensemble.wpm"))
    assert loaded.model_.members_["dlinear"].candidate_windows == [48, 24]
    assert loaded.predict() == expected


def test_model_params_that_cannot_be_copied_are_refused():
    """The model's copy of ``model_params`` (above) is a typed error for a value no setting holds (a lock)."""
    with pytest.raises(WorkloadDataError, match=r"model_params holds a value that cannot be copied \(TypeError"):
        WorkloadPredictor(model_params={"alpha": threading.Lock()}).fit(SERIES)
