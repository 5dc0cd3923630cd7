"""The LSTM's network reads a new endpoint's load (idle, then busy) in the load's own scale.

A training part constant at the idle value has no spread: ``fit_scale`` falls back to a scale of 1 in the load's own
units, so the network would train and validate on the load itself and a series and the same series times 1,000 (or
a 1,000th of it) would train it apart. The network's scale of such a target is taken from its points after the first
that leaves the constant (``dlinear.woken_scale``, as DLinear's), and its training windows at the constant, whose
residual is the base's rounding, teach it nothing; then the three forecast alike up to rounding.
"""

from __future__ import annotations

import numpy as np
import pytest

from workload_predictor.models.lstm import LSTM

SCALES = (1.0, 1000.0, 0.001)


def _lstm() -> LSTM:
    return LSTM(horizon=10, hidden_size=8, max_epochs=2, random_state=0)


def _woken(n_idle: int, busy: np.ndarray) -> np.ndarray:
    return np.r_[np.zeros(n_idle), busy].astype(float)


def _apart(a: np.ndarray, b: np.ndarray, level: float) -> float:
    return float(np.abs(a - b).max() / level)


rng = np.random.default_rng(0)
# 380 points at horizon 10: the network trains on the first 275 (idle) and stops early on the next 48, of which the
# last 13 are busy (too few to set an input-anomaly floor of their own); the validation tail is the last 57.
NEW_ENDPOINTS = {
    "busy": _woken(310, rng.poisson(50, 70)),
    "ramp": _woken(310, rng.poisson(np.linspace(1, 100, 70))),
}


@pytest.mark.parametrize("name", sorted(NEW_ENDPOINTS))
def test_an_idle_training_part_and_the_same_load_times_1000_or_a_1000th_forecast_alike(name):
    y = NEW_ENDPOINTS[name]
    level = float(y[-70:].mean())
    models = {s: _lstm().fit(s * y) for s in SCALES}
    first = models[1.0]
    for s in SCALES[1:]:
        model = models[s]
        assert _apart(model.validation_forecast_ / s, first.validation_forecast_, level) < 1e-9, s
        assert _apart(model.predict() / s, first.predict(), level) < 1e-9, s
        assert model.correction_share_ == pytest.approx(first.correction_share_, abs=1e-9)
        np.testing.assert_allclose(model.scale_, s * first.scale_, rtol=1e-12)
    assert first.scale_[0] > 1.0  # a scale of the busy points, not the idle part's fallback of 1


def test_a_fit_on_idle_points_woken_in_its_validation_tail_then_trained_by_updates_scales_with_the_load(monkeypatch):
    """Every point before the validation tail idle: the network's scale is taken at the refit, from the tail, so
    the updates, which train the network, read the load in its own scale. Here the network's correction is 0 on the
    tail (it trained on idle windows alone), its share 0, and updates leave it untrained
    (tests/test_lstm_zero_share_update.py); they train it as they train one whose correction counts, a fit's on
    targets of which only some were idle before the tail."""
    monkeypatch.setattr(LSTM, "_network_counts", lambda self: True)
    y = _woken(340, np.random.default_rng(1).poisson(50, 80))
    level = float(y[-80:].mean())
    models, forecasts = {}, {}
    for s in SCALES:
        model = _lstm().fit(s * y[:390])
        assert model.correction_share_ == 0.0
        out = [model.predict()]
        for start in (390, 400, 410):
            model.update(s * y[start : start + 10])
            out.append(model.predict())
        models[s], forecasts[s] = model, np.array(out) / s
    first = models[1.0]
    for s in SCALES[1:]:
        model = models[s]
        assert _apart(forecasts[s], forecasts[1.0], level) < 1e-9, s
        assert model.update_training_.best_validation_loss == pytest.approx(
            first.update_training_.best_validation_loss, rel=1e-5)
        for name, value in first.network_.state_dict().items():  # the updates trained it alike
            np.testing.assert_allclose(model.network_.state_dict()[name].numpy(), value.numpy(), rtol=0, atol=1e-6)
        np.testing.assert_allclose(model.scale_, s * first.scale_, rtol=1e-12)


def test_one_target_times_1000_leaves_the_other_targets_forecast():
    """Two targets, one idle until near the end: scaling it scales its forecast alone; the network, which both
    share, trains alike (its idle target's windows teach it nothing at any scale)."""
    t = np.arange(380)
    busy = np.random.default_rng(2).poisson(30 + 20 * np.sin(2 * np.pi * t / 24)).astype(float)
    y = np.stack([NEW_ENDPOINTS["busy"], busy], axis=1)
    first, scaled = _lstm().fit(y), _lstm().fit(y * np.array([1000.0, 1.0]))
    for j, s in enumerate((1000.0, 1.0)):
        level = float(y[-70:, j].mean())
        assert _apart(scaled.validation_forecast_[..., j] / s, first.validation_forecast_[..., j], level) < 1e-9, j
        assert _apart(scaled.predict()[:, j] / s, first.predict()[:, j], level) < 1e-9, j
