"""DLinear's judging (windows weighed by their residuals, tests/test_dlinear_burst.py) compares a window's residual
with its reference's in units no smaller than the reference's: a window whose own noise estimate is below the
median of its reference windows' (a median step of 1 among counts whose steps are mostly 2) is judged in that
median, so an ordinary window of a plain cycle is not weighed down."""

import copy

import numpy as np
import pandas as pd
import pytest
from conftest import periodic_series

from workload_predictor import ModelFileError, WorkloadPredictor, persistence
from workload_predictor.models import dlinear
from workload_predictor.models.dlinear import RESIDUAL_EVERY, RESIDUAL_REFERENCE, DLinear, residual_deviations


def _poisson_cycle(level: float, seed: int, n: int = 1000) -> np.ndarray:
    t = np.arange(n)
    rate = level * (1 + 0.5 * np.sin(2 * np.pi * t / 60) + 0.3 * np.sin(2 * np.pi * t / 288))
    return np.random.default_rng(seed).poisson(rate).astype(float)


@pytest.mark.parametrize("make, settings", [
    # the plain noisy cycle a blend's single-window fit weighed one window of 0.944 in (residual 15.7 own units)
    (lambda: periodic_series(700, noise=6.0, seed=10)["requests"].to_numpy()[72:], dict(horizon=12, window=24,
                                                                                         alpha=1e-3)),
    # Poisson counts at 1.5-5.4 a bucket: windows whose median step is 1 among windows whose median step is 2
    (lambda: _poisson_cycle(3, seed=12), dict(horizon=24, window=24)),
    (lambda: _poisson_cycle(3, seed=19), dict(horizon=12, window=96)),
    (lambda: _poisson_cycle(3, seed=2), dict(horizon=24, window=96)),
])
def test_a_plain_cycle_has_no_window_weighed_down(make, settings):
    y = make()
    model = DLinear(**settings).fit(y)
    assert model.residual_from_ is not None  # its validation tail was judged
    assert model.stats_[0].count == len(y) - model.window_ - model.horizon + 1


def test_a_row_below_its_references_unit_is_judged_in_it():
    """:func:`residual_deviations` with the rows' noises: each row's deviation is ``|r * min(1, noise / unit) -
    median| / spread`` against its block's reference, the unit the median of the reference rows' noises; bit for
    bit, the blocks taken at once as one at a time."""
    rng = np.random.default_rng(4)
    for _ in range(12):
        m, horizon = int(rng.integers(1, 160)), int(rng.integers(1, 9))
        residuals = rng.standard_t(3, size=(m, horizon))
        noise = rng.choice([0.5, 1.0, 1.5], size=m)
        start, first = int(rng.integers(0, m)), int(rng.integers(0, 100))
        got, reference = residual_deviations(residuals, start, first, noise=noise)
        expected, last = np.zeros(m - start), None
        for row in range(start, m):
            block = (first + row) // RESIDUAL_EVERY * RESIDUAL_EVERY - first
            below = slice(max(block - RESIDUAL_REFERENCE, 0), max(block, 0))
            last = dlinear.residual_reference(residuals[below], noise[below])
            if last is not None:
                center, spread, unit = last
                assert unit == np.median(noise[below])
                scaled = residuals[row] * min(noise[row] / unit, 1.0)
                expected[row - start] = (np.abs(scaled - center) / spread).max()
        np.testing.assert_array_equal(got, expected)
        assert (reference is None) == (last is None)
        if last is not None:
            np.testing.assert_array_equal(np.hstack(reference), np.hstack(last))
        # a row at or above its unit is judged as in its own unit
        plain = residual_deviations(residuals, start, first)[0]
        above = np.array([noise[row] >= np.max(noise) for row in range(start, m)])
        np.testing.assert_array_equal(got[above], plain[above])


def _stream():
    y = np.random.default_rng(5).poisson(1e4, (600, 1)).astype(float)
    y[540:543] *= 3
    return DLinear(horizon=12).fit(y[:450]), y, 450


def test_updates_keep_the_noises_and_unit_a_refit_computes():
    model, y, fit = _stream()
    first = copy.deepcopy(model)
    assert model.residual_noise_.shape == model.residual_history_.shape[:2]
    assert model.residual_unit_.shape == (1,)
    for i in range(fit, len(y)):
        model.update(y[i : i + 1])
    refit = copy.deepcopy(first)
    refit._fit_arrays(y, refit=True)
    for name in ("residual_noise_", "residual_unit_", "residual_center_", "residual_history_"):
        np.testing.assert_allclose(getattr(model, name), getattr(refit, name), rtol=1e-12, atol=1e-12, err_msg=name)
    np.testing.assert_allclose(model.stats_[0].count, refit.stats_[0].count, rtol=1e-12)
    assert model.stats_[0].count < len(y) - model.window_ - 1.5 * model.horizon  # the burst's windows weighed down


def _frame(values: np.ndarray) -> pd.DataFrame:
    return pd.DataFrame({"timestamp": pd.date_range("2024-03-01", periods=len(values), freq="1min", tz="UTC"),
                         "requests": values})


@pytest.fixture(scope="module")
def fitted():
    return WorkloadPredictor(horizon=6).fit(_frame(np.random.default_rng(0).poisson(1e4, 500).astype(float)))


@pytest.mark.parametrize("forge", [
    lambda m: setattr(m, "residual_noise_", m.residual_noise_[:, 1:]),  # not the history's rows
    lambda m: m.residual_noise_.__setitem__((0, 0), 0.0),
    lambda m: m.residual_noise_.__setitem__((0, 0), np.inf),
    lambda m: setattr(m, "residual_unit_", None),  # a reference without its unit
    lambda m: setattr(m, "residual_noise_", None),  # a unit without the noises
    lambda m: setattr(m, "residual_unit_", np.zeros(1)),
])
def test_a_forged_noise_state_is_refused_at_load(fitted, forge):
    predictor = copy.deepcopy(fitted)
    forge(predictor.model_)
    with pytest.raises(ModelFileError, match="residual_noise_"):
        persistence.loads(persistence.dumps(predictor))


def test_a_file_saved_before_the_noises_judges_each_window_in_its_own_unit():
    """A model saved without ``residual_noise_`` and ``residual_unit_`` (0.36.0's files) loads, and its updates
    (one row and many, through blocks' starts) judge each window in its own unit, as it did: the burst's windows are
    weighed down, and no unit appears until it is fitted again."""
    values = np.random.default_rng(5).poisson(1e4, 600).astype(float)
    values[540:543] *= 3
    predictor = WorkloadPredictor(horizon=12).fit(_frame(values[:450]))
    del predictor.model_.residual_noise_, predictor.model_.residual_unit_
    loaded = persistence.loads(persistence.dumps(predictor))
    frame = _frame(values)
    for start in range(450, 600, 50):
        loaded.update(frame.iloc[start : start + 30])
        for i in range(start + 30, start + 50):
            loaded.update(frame.iloc[i : i + 1])
    model = loaded.model_
    assert getattr(model, "residual_noise_", None) is None and getattr(model, "residual_unit_", None) is None
    assert model.residual_next_ == 600 - 12 + 1
    assert model.stats_[0].count < 600 - model.window_ - 12 + 1 - 6  # the burst's windows weighed down
    refitted = WorkloadPredictor(horizon=12).fit(frame).model_
    assert refitted.residual_noise_.shape == refitted.residual_history_.shape[:2]
