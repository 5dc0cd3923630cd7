"""The model registry: a new model is one class plus one ``register`` call, and then every layer takes it."""

from __future__ import annotations

import inspect
import json
import re
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from conftest import periodic_series
from workload_predictor import ModelFileError, WorkloadDataError, WorkloadPredictor, persistence
from workload_predictor.backtest import run_backtest
from workload_predictor.cli import main
from workload_predictor.models import registry
from workload_predictor.models.base import BaseForecaster
from workload_predictor.models.baselines import flat_forecast
from workload_predictor.models.combination import EXACT_MEMBERS, convex_weights


class Doubler(BaseForecaster):
    """A toy forecaster: ``factor`` times the last value, over the whole horizon."""

    def __init__(self, horizon: int = 10, factor: float = 2.0, validation_fraction: float = 0.15,
                 max_validation_windows: int = 100):
        self.horizon = horizon
        self.factor = factor
        self.validation_fraction = validation_fraction
        self.max_validation_windows = max_validation_windows

    def context_length(self) -> int:
        return 1

    def _fit_arrays(self, y: np.ndarray, refit: bool) -> None:
        self.window_ = 1

    def _predict_at(self, y: np.ndarray, origins: np.ndarray) -> np.ndarray:
        return flat_forecast(self.factor * y[origins - 1], self.horizon)


@pytest.fixture
def doubler():
    registry.register("doubler", Doubler, window_param=None)  # the one line a new model adds
    yield "doubler"
    registry.unregister("doubler")


@pytest.fixture
def series():
    return periodic_series(300, noise=2.0)


def test_a_registered_model_fits_predicts_saves_and_loads(doubler, series, tmp_path):
    predictor = WorkloadPredictor(model=doubler, horizon=4, model_params={"factor": 3.0}).fit(series)
    forecast = predictor.predict()
    last = series["requests"].iloc[-1]
    np.testing.assert_array_equal(forecast.yhat, np.full((4, 1), 3.0 * last) if forecast.yhat.ndim == 2
                                  else np.full(4, 3.0 * last))
    assert forecast.model == "doubler"
    loaded = WorkloadPredictor.load(predictor.save(tmp_path / "doubler.wp"))
    assert loaded.model_params == {"factor": 3.0} and isinstance(loaded.model_, Doubler)
    np.testing.assert_array_equal(loaded.predict().yhat, forecast.yhat)
    registry.unregister(doubler)  # the registry is the allow-list: an unregistered class is never built
    with pytest.raises(ModelFileError, match="Doubler"):
        WorkloadPredictor.load(tmp_path / "doubler.wp")


def test_a_file_in_the_flat_settings_layout_is_refused_with_the_version(series):
    """Files of format 3 held the model settings as predictor parameters (kernel_size=..., members=...)."""
    data = persistence.dumps(WorkloadPredictor(horizon=3).fit(series))
    header_end = data.index(b"\n", len(persistence.MAGIC))
    header = json.loads(data[len(persistence.MAGIC) : header_end])
    old = persistence.MAGIC + json.dumps({**header, "format_version": 3}).encode() + data[header_end:]
    with pytest.raises(ModelFileError, match="format version 3.*Refit"):
        persistence.loads(old)


def test_a_registered_model_is_backtested_and_an_ensemble_member(doubler, series):
    result = run_backtest(series, [doubler], ["naive"], horizon=4, test_size=40, refit_every=20, verbose=False)
    table = result.table.set_index("model")
    actual, last = result.actual[..., 0], series["requests"].to_numpy()[result.origins - 1]
    assert table.loc[doubler, "mae"] == pytest.approx(np.abs(actual - 2.0 * last[:, None]).mean())
    assert table.loc[doubler, "kind"] == "model" and table.loc["naive", "kind"] == "baseline"
    ensemble = WorkloadPredictor(model="ensemble", horizon=4, model_params={"members": ("naive", doubler)}).fit(series)
    assert set(ensemble.weights_) == {"naive", doubler}


def test_an_ensemble_takes_at_most_as_many_members_as_its_exact_solver(series):
    """The weights are solved exactly over every support (2**m - 1 systems): more members are refused up front."""
    extra = [f"doubler_{i}" for i in range(EXACT_MEMBERS - len(registry.names(member=True)) + 1)]
    for name in extra:  # a class of its own for each name (model files name a model by its class)
        registry.register(name, type(f"Doubler{name}", (Doubler,), {}), window_param=None)
    try:
        members = registry.names(member=True)
        assert len(members) == EXACT_MEMBERS + 1
        with pytest.raises(WorkloadDataError, match=f"at most {EXACT_MEMBERS}"):
            WorkloadPredictor(model="ensemble", model_params={"members": members}).fit(series)
        with pytest.raises(ValueError, match="at most"):
            convex_weights(np.ones((EXACT_MEMBERS + 1, 3)), np.ones(3))
    finally:
        for name in extra:
            registry.unregister(name)


def test_a_registered_model_runs_from_the_command_line(doubler, series, tmp_path):
    path, out = tmp_path / "series.csv", tmp_path / "forecast.json"
    series.to_csv(path, index=False)
    runner = CliRunner()
    result = runner.invoke(main, ["forecast", str(path), "--model", doubler, "--horizon", "3", "--out", str(out)])
    assert result.exit_code == 0, result.output
    payload = json.loads(out.read_text())
    assert payload["model"] == doubler
    assert [row["yhat"] for row in payload["forecast"]] == [2.0 * series["requests"].iloc[-1]] * 3
    result = runner.invoke(main, ["evaluate", str(path), "--models", doubler, "--baselines", "naive", "--horizon", "3",
                                  "--test-size", "30", "--refit-every", "30"])
    assert result.exit_code == 0, result.output
    assert doubler in result.output
    registry.unregister(doubler)
    result = runner.invoke(main, ["forecast", str(path), "--model", doubler])
    assert result.exit_code == 2 and "doubler" in result.output


def test_unknown_model_and_parameters_are_typed_errors_listing_the_valid_ones(series):
    with pytest.raises(WorkloadDataError, match="dlinear, lstm, ensemble"):
        WorkloadPredictor(model="prophet").fit(series)
    with pytest.raises(WorkloadDataError, match="'hidden_sise'.*hidden_size"):
        WorkloadPredictor(model="lstm", model_params={"hidden_sise": 8}).fit(series)
    with pytest.raises(WorkloadDataError, match="runtime settings"):
        WorkloadPredictor(model="lstm", model_params={"random_state": 1}).fit(series)
    with pytest.raises(WorkloadDataError, match="both set"):
        WorkloadPredictor(model="dlinear", window=24, model_params={"window": 48}).fit(series)
    with pytest.raises(WorkloadDataError, match="member_params"):
        WorkloadPredictor(model="ensemble", model_params={"member_params": {"lstm": {}}, "members": ("naive",)}).fit(
            series)
    with pytest.raises(WorkloadDataError, match="already registered"):
        registry.register("dlinear", Doubler)


@pytest.mark.parametrize("model_params, message", [
    ({"member_params": {"naive": {"window": 3}}}, r"^member_params\['naive'\] has 'window', which naive does not take"),
    ({"member_params": {"dlinear": {"hidden_size": 8}}},
     r"^member_params\['dlinear'\] has 'hidden_size', which dlinear does not take"),
    ({"window": 24, "member_params": {"dlinear": {"window": 48}}},
     r"^window=24 and member_params\['dlinear'\]\['window'\] both set dlinear's window"),
])
def test_a_members_unknown_parameter_is_named_by_its_member_params_entry(series, model_params, message):
    # The message said "model_params has 'window'" for a key of member_params['naive'].
    with pytest.raises(WorkloadDataError, match=message):
        WorkloadPredictor(model="ensemble", horizon=5, model_params=model_params).fit(series)


@pytest.mark.parametrize("params, shown", [
    ({"x" * 100_000: 1}, r"model_params has 'x{30}'\.\.\. \(100,000 characters\), which dlinear does not take"),
    ({f"k{i}": 1 for i in range(10_000)}, r"model_params has 'k0', 'k1', .*'k11', \.\.\. \(10,000 unknown in all\), "),
])
def test_unknown_model_params_are_quoted_cut_short(series, params, shown):
    """A message quotes the unknown keys cut short, a dozen at most."""
    with pytest.raises(WorkloadDataError, match=shown) as raised:
        WorkloadPredictor(model="dlinear", model_params=params).fit(series)
    assert len(str(raised.value)) < 500 and "'k12'" not in str(raised.value)


def test_model_params_go_through_get_and_set_params(series):
    predictor = WorkloadPredictor(model="dlinear", horizon=5)
    assert predictor.set_params(model_params={"kernel_size": 13}) is predictor
    assert predictor.get_params()["model_params"] == {"kernel_size": 13}
    assert predictor.fit(series).model_.kernel_size == 13
    assert "model_params={'kernel_size': 13}" in repr(predictor)


def test_params_for_places_a_setting_wherever_the_model_or_its_members_take_it():
    assert registry.params_for("lstm", max_epochs=3) == {"max_epochs": 3}
    assert registry.params_for("dlinear", max_epochs=3) == {}
    assert registry.params_for("ensemble", max_epochs=3) == {"member_params": {"lstm": {"max_epochs": 3}}}
    assert registry.params_for("ensemble", kernel_size=13)["member_params"] == {"dlinear": {"kernel_size": 13},
                                                                                "lstm": {"kernel_size": 13}}


def test_every_registered_class_takes_the_settings_its_entry_promises():
    for name in registry.names():
        entry = registry.get(name)
        params = entry.params()
        assert "horizon" in params, name
        assert entry.window_param is None or entry.window_param in params, name
        assert not entry.combines or {"members", "member_params"} <= set(params), name


def test_record_init_keeps_the_constructor_arguments_in_order():
    @registry.record_init
    class Box:
        def __init__(self, width, height=2, depth=3):
            self.area = width * height

    box = Box(4, depth=5)
    assert box.init_args_ == {"width": 4, "height": 2, "depth": 5} and box.area == 8
    assert list(box.init_args_.values()) == [4, 2, 5]  # what a model file stores: Box(*values) rebuilds it


def test_the_lstm_network_is_saved_from_its_constructor_arguments(tmp_path):
    pytest.importorskip("torch")
    predictor = WorkloadPredictor(model="lstm", horizon=3, random_state=0,
                                  model_params={"max_epochs": 1, "hidden_size": 5}).fit(periodic_series(200))
    network = predictor.model_.network_
    assert network.init_args_["hidden_size"] == 5
    loaded = WorkloadPredictor.load(predictor.save(tmp_path / "lstm.wp"))
    assert loaded.model_.network_.init_args_ == network.init_args_
    np.testing.assert_array_equal(loaded.predict().yhat, predictor.predict().yhat)


def test_a_copy_of_the_package_under_another_name_builds_its_own_models(tmp_path):
    """benchmarks/update_ab.py imports a revision's copy as ``wp_old`` beside the package: its registry must build
    the copy's classes (it built the installed package's DLinear, so an A/B compared the new model with itself)."""
    import importlib
    import shutil
    import sys

    import workload_predictor

    shutil.copytree(Path(workload_predictor.__file__).parent, tmp_path / "wp_copy",
                    ignore=shutil.ignore_patterns("__pycache__", "datasets"))
    sys.path.insert(0, str(tmp_path))
    try:
        copy = importlib.import_module("wp_copy")
        model = copy.models.registry.build("dlinear", {"horizon": 5})
        assert type(model).__module__ == "wp_copy.models.dlinear"
        assert type(model) is not workload_predictor.models.DLinear
    finally:
        sys.path.remove(str(tmp_path))
        for name in [n for n in sys.modules if n == "wp_copy" or n.startswith("wp_copy.")]:
            del sys.modules[name]


@pytest.mark.parametrize("name", ["moving_average", "dlinear", "ensemble"])
def test_a_numpy_integer_horizon_and_window_reach_the_model_as_ints(name):
    """A numpy integer horizon reached the models (and an ensemble's LSTM network's constructor arguments) as it
    was, and the file a fit saved was refused at load ("not a list of plain values")."""
    model = registry.build(name, {"horizon": np.int64(5), "window": np.int32(12)})
    assert type(model.horizon) is int and model.horizon == 5
    window = getattr(model, registry.get(name).window_param)
    assert type(window) is int and window == 12
    lstm = registry.build("ensemble", {"horizon": np.int64(5)})._member("lstm")
    assert type(lstm.horizon) is int


def test_a_bad_horizon_or_window_is_passed_on_as_given_for_the_models_checks():
    assert registry.build("naive", {"horizon": np.int64(0)}).horizon == 0
    assert registry.build("naive", {"horizon": True}).horizon is True
    # as numpy writes it: np.int64(0) (numpy 2); numpy 1.26 writes 0
    with pytest.raises(WorkloadDataError, match=re.escape(f"window={np.int64(0)!r} must be")):
        registry.build("dlinear", {"window": np.int64(0)})


class _NoForecasts(BaseForecaster):
    """Fits but never says how it forecasts (no ``context_length`` or ``_predict_at``)."""

    def __init__(self, horizon: int = 10, validation_fraction: float = 0.15, max_validation_windows: int = 100):
        self.horizon, self.validation_fraction, self.max_validation_windows = horizon, validation_fraction, \
            max_validation_windows

    def _fit_arrays(self, y: np.ndarray, refit: bool) -> None:
        pass


class _NoHorizon(Doubler):
    def __init__(self, factor: float = 2.0):
        super().__init__(factor=factor)


@pytest.mark.parametrize("cls, kwargs, message", [
    (42, {}, "not a BaseForecaster subclass"),
    (dict, {}, "not a BaseForecaster subclass"),
    (Doubler(), {"window_param": None}, "not a BaseForecaster subclass"),
    (_NoForecasts, {"window_param": None}, "lacks the methods context_length, _predict_at"),
    (_NoHorizon, {"window_param": None}, "lacks __init__ parameters horizon, validation_fraction"),
    (Doubler, {}, "lacks __init__ parameters window"),  # window_param="window" by default; Doubler takes none
    ("workload_predictor", {}, "must be a class or a 'module:Class' string"),
    ("a b:C", {}, "must be a class or a 'module:Class' string"),
    (Doubler, {"window_param": None, "baseline": "yes"}, "baseline='yes' must be True or False"),
    (Doubler, {"window_param": 3}, "window_param=3 must name a parameter"),
    (Doubler, {"window_param": None, "persisted": (42,)}, "persisted holds 42"),
    (Doubler, {"window_param": None, "persisted": ("no_colon",)}, "persisted='no_colon' must be a class"),
], ids=repr)
def test_register_refuses_what_the_predictor_cannot_build(cls, kwargs, message):
    """Before: each was registered, and the first fit raised TypeError ("'int' object is not callable", "got an
    unexpected keyword argument 'window'"), AttributeError ("object has no attribute 'fit'", "module has no attribute
    ''") or NotImplementedError from inside the predictor."""
    try:
        with pytest.raises(WorkloadDataError, match=message):
            registry.register("bad_model", cls, **kwargs)
        assert "bad_model" not in registry.names()
    finally:
        registry.unregister("bad_model")


class Naive(Doubler):
    """A user's model whose class name is a built-in's."""



@pytest.mark.parametrize("cls, kwargs, owner", [
    ("workload_predictor.models.baselines:Naive", {}, "naive"),  # the built-in class under a second name
    (Naive, {}, "naive"),
    (type("WorkloadPredictor", (Doubler,), {}), {}, "model files"),  # a class model files hold
    (Doubler, {"persisted": ("workload_predictor.models.dlinear:WindowStats",)}, "dlinear"),
], ids=repr)
def test_a_class_name_another_model_has_is_refused(cls, kwargs, owner, series):
    """Model files and forecasts name a model by its class name. Before: Naive registered as 'naive2' (or a user's own
    class named Naive) fitted, its forecasts said model='naive', and save() refused it with "model='naive2' set since
    fit, but the fitted model has model='naive'" (the user's class: TypeError "cannot save a value of type")."""
    try:
        with pytest.raises(WorkloadDataError, match=f"already registered \\(by '{owner}'\\).*rename the class"):
            registry.register("second_name", cls, window_param=None, **kwargs)
    finally:
        registry.unregister("second_name")


def test_a_model_path_that_cannot_be_imported_is_a_typed_error_at_first_use(series, tmp_path):
    registry.register("missing", "no_such_module_anywhere:Missing", window_param=None)
    try:
        with pytest.raises(WorkloadDataError, match="'missing' is registered as 'no_such_module_anywhere:Missing', "
                                                    "which cannot be imported"):
            WorkloadPredictor(model="missing").fit(series)
    finally:
        registry.unregister("missing")


def test_a_file_naming_a_class_registered_under_a_path_that_cannot_be_imported_is_a_model_file_error(series,
                                                                                                     tmp_path):
    """Before: the loader raised ModuleNotFoundError from the import of the registered path."""
    registry.register("doubler", Doubler, window_param=None)
    try:
        path = WorkloadPredictor(model="doubler", horizon=3).fit(series).save(tmp_path / "doubler.wp")
    finally:
        registry.unregister("doubler")
    registry.register("doubler", "no_such_module_anywhere:Doubler", window_param=None)
    try:
        with pytest.raises(ModelFileError, match="'Doubler', registered as 'no_such_module_anywhere:Doubler', which "
                                                 "cannot be imported"):
            WorkloadPredictor.load(path)
    finally:
        registry.unregister("doubler")


@pytest.mark.parametrize("name", registry.names())
def test_every_parameter_of_a_registered_model_is_in_its_docstrings_parameters(name):
    # The README: every public object has a numpy-style docstring. The baselines had no Parameters section, and the
    # LSTM's left out validation_fraction and max_validation_windows.
    cls = registry.get(name).cls
    doc = inspect.getdoc(cls)
    assert "Parameters\n----------\n" in doc, name
    section = re.split(r"\n(?:Attributes|Notes|Returns|Raises|Examples)\n-+", doc.split("Parameters\n----------\n")[1])[0]
    documented = {part.strip() for line in section.splitlines() if line[:1].isalpha() and ":" in line
                  for part in line.split(":")[0].split(",")}
    assert [p for p in registry.get(name).params() if p not in documented] == [], name


@pytest.mark.parametrize("filters, match", [({"gpu": True}, r"'gpu' is no capability; filter by one of needs_torch, "
                                                             r"baseline, member, combines"),
                                            ({"baseline": "yes"}, r"names\(baseline='yes'\): a capability is True or "
                                                                  r"False"),
                                            ({"member": 1}, r"a capability is True or False")])
def test_names_refuses_an_unknown_capability_or_a_value_that_is_no_bool(filters, match):
    """``names(gpu=True)`` raised a bare AttributeError from the registry's entry, and ``names(baseline="yes")``
    listed nothing (no entry's flag equals the text), where a caller gets a typed error naming the filters."""
    with pytest.raises(WorkloadDataError, match=match):
        registry.names(**filters)
    assert registry.names(baseline=True) and set(registry.names(baseline=True)) < set(registry.names())
