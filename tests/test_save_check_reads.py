"""What save's forecast check (``model_file.check_saveable``) may skip or reuse, pinned per class.

A class declares what its own ``_predict_at`` reads (``_forecast_reads``): "window" (only the ``context_length()``
points before the origin, so the forecast from an ensemble's longer context is bit for bit the one from its own:
the check reuses the combination's) or "loads" (that, and a copy, mean or median of them: within the loads by
construction, so the check does not compute it)."""

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


def declaring(kind: str) -> list[str]:
    """The registered models whose own class declares ``kind``."""
    out = []
    for name in registry.names():
        try:
            cls = registry.get(name).cls
        except ModuleNotFoundError:  # torch missing: its model is not declared here
            continue
        if vars(cls).get("_forecast_reads") == kind:
            out.append(name)
    return out


def has_torch() -> bool:
    try:
        import torch  # noqa: F401
    except ModuleNotFoundError:
        return False
    return True


WINDOW_CLASSES = ["dlinear", "lstm"]
LOADS_CLASSES = ["naive", "seasonal_naive", "moving_average", "moving_median", "exponential_smoothing"]


def test_the_declarations_are_the_ones_pinned_here():
    """A class declaring what it reads gets a test below: a new declaration must be added to them."""
    torch_models = {name for name in WINDOW_CLASSES + LOADS_CLASSES if registry.get(name).needs_torch}
    available = [name for name in WINDOW_CLASSES if name not in torch_models or has_torch()]
    assert sorted(declaring("window")) == sorted(available)
    assert sorted(declaring("loads")) == sorted(LOADS_CLASSES)
    assert "seasonal_median" not in declaring("window") + declaring("loads")  # its cumulative sums read every point


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


@pytest.mark.parametrize("name", LOADS_CLASSES)
def test_a_loads_forecast_stays_within_the_loads_it_reads(name):
    """The check does not compute these forecasts: each is a copy, mean or median of the points it reads, so within
    ``MAX_VALUE`` and well within ``forecast_bound(1) = 2 * MAX_VALUE``. Loads near MAX_VALUE, many origins."""
    rng = np.random.default_rng(1)
    y = series()
    model = fitted(name, y)
    near_top = rng.uniform(0.5, 1.0, size=(400, y.shape[1])) * MAX_VALUE
    reads = model.context_length()
    origins = np.arange(reads, len(near_top) + 1)
    forecast = model._predict_at(near_top, origins)  # [m, H, k]
    windows = np.stack([near_top[o - reads : o] for o in origins])  # [m, reads, k]
    top, bottom = windows.max(axis=1)[:, None, :], windows.min(axis=1)[:, None, :]
    assert (forecast <= top * (1 + 1e-12)).all() and (forecast >= bottom * (1 - 1e-12)).all()
    # and from the end of a longer array alike (it reads only the trailing points)
    longer = np.concatenate([rng.uniform(0.0, MAX_VALUE, size=(50, y.shape[1])), near_top])
    last = model._predict_at(near_top, np.array([len(near_top)]))
    assert np.array_equal(model._predict_at(longer, np.array([len(longer)])), last)


def test_a_subclass_does_not_inherit_a_declaration():
    """A subclass's forecast is its own (it may read more, or forecast a multiple): the check computes it."""
    class Doubling(MovingAverage):
        def _predict_at(self, y, origins):
            return 2e300 * super()._predict_at(y, origins)

    class Student(DLinear):
        pass

    assert model_file._declared_reads(MovingAverage()) == "loads" and model_file._declared_reads(Naive()) == "loads"
    assert model_file._declared_reads(DLinear()) == "window"
    assert model_file._declared_reads(Doubling()) is None and model_file._declared_reads(Student()) is None


def test_save_check_forecasts_each_member_once_and_no_flat_member_of_its_own(monkeypatch):
    """An ensemble's save check: each member forecasts at most once (the LSTM's forward ran twice: from the
    ensemble's context for the combination, from its own for the member); a flat member only where the combination
    reads it; the refusal still sees every value (the same verdict as checking each from its own context)."""
    pytest.importorskip("torch")
    predictor = WorkloadPredictor(model="ensemble", horizon=HORIZON, random_state=0,
                                  model_params={"member_params": {"lstm": {"window": 24}}})
    predictor.fit(periodic_series(700, noise=5.0))
    ensemble = predictor.model_
    # the case reused: the combination reads the LSTM from the ensemble's context, longer than its own
    assert ensemble.step_weights_["lstm"].any() and len(ensemble.context_) > len(ensemble.members_["lstm"].context_)
    calls: dict[str, int] = {}
    for name, member in ensemble.members_.items():
        def counted(y, origins, _name=name, _inner=member._predict_at):
            calls[_name] = calls.get(_name, 0) + 1
            return _inner(y, origins)

        monkeypatch.setattr(member, "_predict_at", counted)
    model_file.check_saveable(predictor)
    assert len(calls) > 2, calls
    read = {name for name, weights in ensemble.step_weights_.items() if weights.any() or ensemble.median_share_}
    for name, member in ensemble.members_.items():
        if name in LOADS_CLASSES:  # where the combination reads it, never for its own forecast
            expected = int(name in read)
        elif name == "seasonal_median":  # from its own context too, unless it is the ensemble's: not reused
            expected = int(name in read) + int(len(member.context_) != len(ensemble.context_))
        else:  # DLinear, LSTM: once, reused from the combination where it reads them
            expected = 1
        assert calls.get(name, 0) == expected, (name, calls)
