"""The Python API as a user meets it: scikit-learn's conventions (a refit keeps nothing of the fit before it, a
short ``repr``), the Forecast as a value (equality, its arrays the caller's own), ``plot`` with any history."""

from __future__ import annotations

import copy
import pickle
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from conftest import periodic_series
from workload_predictor import FleetPredictor, NotFittedError, WorkloadDataError, WorkloadPredictor
from workload_predictor.models import registry

_NOISY = periodic_series(400, noise=5.0)


def _two_targets(n: int, freq: str, seed: int, start: str) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"timestamp": pd.date_range(start, periods=n, freq=freq, tz="UTC"),
                         "requests": 50 + 10 * np.sin(np.arange(n) / 20) + rng.poisson(5, n),
                         "input_tokens": rng.poisson(500, n).astype(float)})


def _fitted_state(predictor: WorkloadPredictor) -> dict:
    """The attributes a fit sets, but the wall times it measured."""
    timed = {"fit_seconds_", "fit_peak_rss_mb_"}
    return {name: value for name, value in vars(predictor).items() if name not in timed and name not in
            predictor.get_params()}


def test_a_refit_after_updates_holds_what_a_fresh_fit_holds():
    """A refit on other data, targets and bucket width: the attributes a fresh fit on that data has, no more (the
    last update's ``update_seconds_`` of the first fit stayed after it), and the same forecast, bit for bit."""
    first = _two_targets(420, "10s", 0, "2024-01-01")
    other = _two_targets(300, "1min", 3, "2025-01-01")[["timestamp", "requests"]]
    refitted = WorkloadPredictor(horizon=5).fit(first.iloc[:400], target=["requests", "input_tokens"])
    for at in range(400, 420, 5):
        refitted.update(first.iloc[at:at + 5])
    refitted.predict()
    refitted.fit(other)
    fresh = WorkloadPredictor(horizon=5).fit(other)
    assert sorted(_fitted_state(refitted)) == sorted(_fitted_state(fresh))
    one, two = refitted.predict(), fresh.predict()
    pd.testing.assert_frame_equal(one.to_frame(), two.to_frame(), check_exact=True)
    pd.testing.assert_frame_equal(one.history, two.history, check_exact=True)
    assert refitted.n_updates_ == 0 and refitted.targets_ == ("requests",)


def test_the_repr_is_short_whatever_a_parameter_holds():
    """``repr`` (a notebook shows it after every ``fit``) names the parameters set, each cut short: a model_params
    holding 5,000 names printed 55,000 characters, a long model name all of it."""
    assert repr(WorkloadPredictor(horizon=5)) == "WorkloadPredictor(horizon=5)"
    params = {"members": ("dlinear", "naive"), "member_params": {"lstm": {"max_epochs": 20}}}
    shown = WorkloadPredictor(model_params=params, level=0.95, max_gap=pd.Timedelta("1h"))
    assert repr(shown) == f"WorkloadPredictor(level=0.95, model_params={params!r}, max_gap={pd.Timedelta('1h')!r})"
    for estimator in (WorkloadPredictor(model_params={"members": ("dlinear",) * 5000}),
                      WorkloadPredictor(model="x" * 100_000, window=10**5000),
                      FleetPredictor(model_params={"weights": list(range(100_000))}, teacher="y" * 10_000)):
        text = repr(estimator)
        assert text.startswith(f"{type(estimator).__name__}(") and text.endswith(")") and len(text) < 600, text[:300]


@pytest.fixture(scope="module")
def fitted() -> WorkloadPredictor:
    return WorkloadPredictor(horizon=5).fit(_two_targets(300, "10s", 0, "2024-01-01"),
                                            target=["requests", "input_tokens"])


def test_a_forecast_equals_its_copies_and_a_loaded_predictors_forecast(fitted, tmp_path):
    """Forecasts compare by value: a copy, a pickled one and the forecast of the predictor loaded from a file
    (which forecasts bit-identically) are equal to it; any field changed is not. They compared by identity, so
    ``predictor.predict() == predictor.predict()`` was False."""
    forecast = fitted.predict()
    loaded = WorkloadPredictor.load(fitted.save(tmp_path / "p.wpm"))
    for same in (fitted.predict(), copy.copy(forecast), copy.deepcopy(forecast), pickle.loads(pickle.dumps(forecast)),
                 loaded.predict()):
        assert same == forecast and not same != forecast and hash(same) == hash(forecast)
    yhat = forecast.yhat.copy()
    yhat[-1, -1] += 1e-9
    history = forecast.history.copy()
    history.iloc[0, 0] += 1.0
    for changed in (replace(forecast, yhat=yhat, upper=forecast.upper + 1.0), replace(forecast, level=0.8),
                    replace(forecast, history=None), replace(forecast, history=history), fitted.predict(steps=4),
                    replace(forecast, model="naive"), replace(forecast, confidence_by_target={})):
        assert changed != forecast and not changed == forecast
    assert forecast != "forecast" and forecast != None  # noqa: E711 (== with None is the point)
    assert len({forecast, copy.deepcopy(forecast)}) == 1


@pytest.mark.parametrize("model", [name for name in registry.names() if name != "lstm"])
def test_changing_a_forecast_changes_nothing_the_predictor_holds(model):
    """A forecast's arrays, history and scores are its own: a caller scaling them in place (a safety margin) sees
    the next forecast as before. (Behaves as documented on the base commit; kept as a guard. The LSTM, whose
    forecast takes the same path, is left out: importing torch costs a second.)"""
    params = {"ensemble": {"members": ("dlinear", "naive", "moving_median")}}.get(model)
    predictor = WorkloadPredictor(model=model, horizon=3, random_state=0, model_params=params).fit(_NOISY)
    before = predictor.predict()
    scribbled = predictor.predict()
    for array in (scribbled.yhat, scribbled.lower, scribbled.upper):
        array *= 3.0
    scribbled.history.iloc[:, :] = -1.0
    scribbled.history.index.name = "changed"
    scribbled.history.columns.name = "changed"
    scribbled.confidence_by_target.clear()
    scribbled.index.name = "changed"
    after = predictor.predict()
    pd.testing.assert_frame_equal(after.to_frame(), before.to_frame())
    pd.testing.assert_frame_equal(after.history, before.history)
    assert after.confidence_by_target == before.confidence_by_target and after.index.name is None


def test_plot_draws_a_forecast_with_an_empty_history_as_one_without():
    """An empty history (a Forecast built with none of the past rows) is drawn as no history; it raised
    ``IndexError: index -1 is out of bounds``."""
    pytest.importorskip("matplotlib")
    forecast = WorkloadPredictor(horizon=3).fit(_NOISY).predict()
    empty = replace(forecast, history=forecast.history.iloc[:0])
    for drawn in (empty.plot(), empty.plot(history=5), replace(forecast, history=None).plot()):
        (axis,) = drawn.axes
        assert [patch.get_label() for patch in axis.patches] == ["90% interval", "forecast"]
        assert axis.get_ylim()[1] > 0


@pytest.mark.parametrize("given", [np.array(["requests", "input_tokens"]), pd.Index(["requests", "input_tokens"]),
                                   np.str_("requests")])
def test_targets_named_by_numpy_strings_are_plain_names(given, tmp_path):
    """Targets from an array or an Index (``df.columns[1:]``) were kept as ``np.str_``: ``targets_`` read
    ``(np.str_('requests'), ...)`` in every forecast's repr, and a loaded copy ``('requests', ...)``."""
    frame = _two_targets(300, "10s", 0, "2024-01-01")
    predictor = WorkloadPredictor(horizon=3).fit(frame, target=given)
    fleet = FleetPredictor(horizon=3).fit(frame.assign(key="a"), target=given)
    for targets in (predictor.targets_, predictor.predict().targets, fleet.targets_):
        assert all(type(name) is str for name in targets), targets
    assert "np.str_" not in repr(predictor.predict())


def test_targets_named_by_a_series_are_read_as_a_list_of_names():
    """A Series of names (``pd.Series(["requests", "input_tokens"])``, a column of a config frame) was refused ("pass a
    column name (a str) or a list of them") where a list, an Index or an array of the same names were read."""
    frame = _two_targets(300, "10s", 0, "2024-01-01")
    predictor = WorkloadPredictor(horizon=3).fit(frame, target=pd.Series(["requests", "input_tokens"]))
    assert list(predictor.targets_) == ["requests", "input_tokens"]
    with pytest.raises(WorkloadDataError, match="pass a column name"):  # a data column passed as target by mistake
        WorkloadPredictor(horizon=3).fit(frame, target=frame["requests"])


@pytest.mark.parametrize("cls", [WorkloadPredictor, FleetPredictor])
def test_every_call_that_needs_a_fit_says_so_before_it(cls, tmp_path):
    """scikit-learn's conventions before ``fit``: no fitted attribute (``hasattr`` is False, the fleet's
    ``confidence_`` property too: NotFittedError is an AttributeError), and each call that reads one raises
    NotFittedError naming the fix. (Held on the base commit; a guard over every such call.)"""
    estimator = cls(horizon=3)
    assert not [name for name in vars(estimator) if name.endswith("_")]
    assert not hasattr(estimator, "confidence_") and not hasattr(estimator, "targets_")
    rows = _two_targets(3, "10s", 0, "2024-01-01").assign(key="a")
    calls = {"predict": (), "update": (rows,), "health": (), "check_alerts": (), "save": (tmp_path / "m.wpm",)}
    for name, args in calls.items():
        with pytest.raises(NotFittedError, match=r"not fitted yet: call fit\(\.\.\.\)"):
            getattr(estimator, name)(*args)
    assert not (tmp_path / "m.wpm").exists()
