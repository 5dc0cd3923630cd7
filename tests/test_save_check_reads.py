"""What save's forecast check (``model_file.check_saveable``) may skip or reuse, pinned per class.

A class declares of its own ``_predict_at``: ``_forecast_reads = "window"`` (it reads only the ``context_length()``
points before the origin, so its forecast from an ensemble's longer context is bit for bit the one from its own: the
check reuses the combination's) and ``_forecast_within = c`` (its forecast stays within ``c`` times the largest load
it reads, so within ``forecast_bound`` where ``c <= 1 + horizon``: the check does not compute it)."""

from __future__ import annotations

import numpy as np
import pytest

from workload_predictor import WorkloadPredictor, model_file
from workload_predictor.data import MAX_VALUE
from workload_predictor.models import registry
from workload_predictor.models.baselines import MovingAverage, Naive
from workload_predictor.models.dlinear import DLinear

from conftest import periodic_series

HORIZON = 6


def declared(name_of_attribute: str) -> dict[str, object]:
    """The registered models whose own class declares ``name_of_attribute``, with what they declare."""
    out = {}
    for name in registry.names():
        try:
            cls = registry.get(name).cls
        except ModuleNotFoundError:  # torch missing: its model is not declared here
            continue
        if vars(cls).get(name_of_attribute) is not None:
            out[name] = vars(cls)[name_of_attribute]
    return out


def has_torch() -> bool:
    try:
        import torch  # noqa: F401
    except ModuleNotFoundError:
        return False
    return True


WINDOW_CLASSES = ["dlinear", "lstm"]
WITHIN = {"naive": 1.0, "seasonal_naive": 1.0, "moving_average": 1.0, "moving_median": 1.0,
          "exponential_smoothing": 1.0, "seasonal_median": 2.0}


def test_the_declarations_are_the_ones_pinned_here():
    """A class declaring what it reads gets a test below: a new declaration must be added to them."""
    torch_models = {name for name in WINDOW_CLASSES if registry.get(name).needs_torch}
    assert declared("_forecast_reads") == {name: "window" for name in WINDOW_CLASSES
                                           if name not in torch_models or has_torch()}
    assert declared("_forecast_within") == WITHIN


def series(n: int = 600, k: int = 2) -> np.ndarray:
    y = periodic_series(n)["requests"].to_numpy()
    return np.stack([y * (j + 1) for j in range(k)], axis=1)


def fitted(name: str, y: np.ndarray):
    params = {"horizon": HORIZON}
    if name == "lstm":
        pytest.importorskip("torch")
        params.update(max_epochs=1, random_state=0)
    return registry.get(name).cls(**params).fit(y)


@pytest.mark.parametrize("name", WINDOW_CLASSES)
def test_a_window_forecast_is_bit_identical_from_any_inputs_ending_in_its_points(name):
    """The check reuses an ensemble member's forecast from the ensemble's context for the member's own: only right if
    the earlier points change no bit. Here they are other loads entirely (up to MAX_VALUE), and more of them."""
    y = series()
    model = fitted(name, y)
    if name == "lstm":  # the network's forward counts (not the base's alone) and its head reads its inputs
        import torch

        model.correction_share_ = 1.0
        with torch.no_grad():
            torch.manual_seed(0)
            for parameter in model.network_.head.parameters():
                parameter.normal_()
    own = model.context_
    assert len(own) == model.context_length()
    earlier = np.random.default_rng(0).uniform(0.0, MAX_VALUE, size=(500, own.shape[1]))
    longer = np.concatenate([earlier, own])
    alone = model._predict_at(own, np.array([len(own)]))
    within = model._predict_at(longer, np.array([len(longer)]))
    assert np.array_equal(alone, within)
    assert np.isfinite(alone).all() and alone.std() > 0  # a forecast that reads its inputs, not a constant


def loads_near_the_top(pattern: str, n: int, k: int, rng) -> np.ndarray:
    t = np.arange(n)[:, None]
    top = MAX_VALUE * np.ones((1, k))
    return {"uniform": lambda: rng.uniform(0.5, 1.0, size=(n, k)) * top,
            "spikes": lambda: np.where(rng.random((n, k)) < 0.3, top, 0.0),
            "rise": lambda: np.where(t >= n - 37, top, 0.0) * np.ones((1, k)),  # a season at the top after zeros
            "fall": lambda: np.where(t < n - 37, top, 0.0) * np.ones((1, k))}[pattern]()


@pytest.mark.parametrize("pattern", ["uniform", "spikes", "rise", "fall"])
@pytest.mark.parametrize("name", sorted(WITHIN))
def test_a_forecast_declared_within_loads_stays_within_them(name, pattern):
    """The check does not compute these forecasts where ``c * MAX_VALUE`` is within ``forecast_bound``: each stays
    within ``c`` times the largest load it reads (a seasonal median: every point given, its cumulative sums read
    them all). Loads at or near MAX_VALUE, many origins."""
    rng = np.random.default_rng(1)
    model = fitted(name, series())
    y = loads_near_the_top(pattern, 400, 2, rng)
    origins = np.arange(model.context_length(), len(y) + 1)
    forecast = model._predict_at(y, origins)  # [m, H, k]
    assert np.isfinite(forecast).all()
    largest = np.abs(forecast).max()
    assert largest <= WITHIN[name] * y.max() * (1 + 1e-9), (largest / MAX_VALUE)
    if pattern == "uniform":  # not so loose that any forecast passes: a model within 1 reaches 0.5 of the top
        assert largest >= 0.5 * MAX_VALUE


def test_a_forecast_within_twice_the_loads_is_computed_at_one_step():
    """The bound at horizon 1 is 2 MAX_VALUE: a seasonal median's (within 2, and rounding) is computed there."""
    from workload_predictor.models.baselines import SeasonalMedian

    assert not model_file._within_by_construction(SeasonalMedian(), 1)
    assert model_file._within_by_construction(SeasonalMedian(), 2)
    assert model_file._within_by_construction(Naive(), 1) and not model_file._within_by_construction(DLinear(), 50)


def test_a_subclass_does_not_inherit_a_declaration():
    """A subclass's forecast is its own (it may read more, or forecast a multiple): the check computes it."""
    class Doubling(MovingAverage):
        def _predict_at(self, y, origins):
            return 2e300 * super()._predict_at(y, origins)

    class Student(DLinear):
        pass

    assert model_file._within_by_construction(MovingAverage(), 1) and model_file._within_by_construction(Naive(), 1)
    assert model_file._declared(DLinear(), "_forecast_reads") == "window"
    assert not model_file._within_by_construction(Doubling(), 100)
    assert model_file._declared(Student(), "_forecast_reads") is None


def test_save_check_forecasts_each_member_once_and_no_flat_member_of_its_own(monkeypatch):
    """An ensemble's save check: no member forecasts more than once (the LSTM's forward ran twice: from the
    ensemble's context for the combination, from its own for the member), the LSTM's network and the flat members
    not at all (bounded without their forecast: model_file._size_of), DLinear once (its own forecast, computed)."""
    pytest.importorskip("torch")
    predictor = WorkloadPredictor(model="ensemble", horizon=HORIZON, random_state=0,
                                  model_params={"member_params": {"lstm": {"window": 24}}})
    predictor.fit(periodic_series(700, noise=5.0))
    ensemble = predictor.model_
    # the combination reads the LSTM from the ensemble's context, longer than its own
    assert ensemble.step_weights_["lstm"].any() and len(ensemble.context_) > len(ensemble.members_["lstm"].context_)
    assert ensemble.members_["lstm"]._correction_share() > 0  # the network counts: its forward is what is spared
    calls: dict[str, int] = {}
    for name, member in ensemble.members_.items():
        def counted(y, origins, _name=name, _inner=member._predict_at):
            calls[_name] = calls.get(_name, 0) + 1
            return _inner(y, origins)

        monkeypatch.setattr(member, "_predict_at", counted)
    model_file.check_saveable(predictor)
    assert calls == {"dlinear": 1}, calls
    ensemble._predict_at(ensemble.context_, np.array([len(ensemble.context_)]))  # the counting counts
    assert calls["lstm"] == 1, calls
