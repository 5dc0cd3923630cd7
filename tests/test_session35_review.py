"""Session 35's review (h119): a DLinear file's residual judging aligned with the points it has seen, and a global
LSTM key that drops to zeros scaled alike whatever the count of its zeros."""

from __future__ import annotations

import copy

import numpy as np
import pytest

from workload_predictor import ModelFileError, WorkloadPredictor, persistence
from workload_predictor.models.dlinear import DLinear


@pytest.fixture(scope="module")
def dlinear() -> DLinear:
    return DLinear(horizon=5).fit(np.random.default_rng(0).poisson(50, 400).astype(float))


@pytest.mark.parametrize("shift", [1, -1, 10**6])
def test_a_dlinear_file_whose_next_judged_origin_is_not_its_next_window_is_refused(dlinear, shift):
    """``residual_next_`` is the origin of the window the next point completes (``n_seen_ - horizon + 1``) in every
    fit and update; an update aligns the blocks of windows judged against one reference by it. A file holding
    another (beyond ``n_seen_``, or short of it) loaded and judged its updates' windows against references no fit
    takes."""
    assert dlinear.residual_next_ == dlinear.n_seen_ - dlinear.horizon + 1
    forged = copy.deepcopy(dlinear)
    forged.residual_next_ += shift
    with pytest.raises(ModelFileError, match="residual_next_"):
        persistence.loads(persistence.dumps(forged))
    persistence.loads(persistence.dumps(dlinear))  # the fitted one loads


def test_a_predictor_file_whose_dlinear_next_judged_origin_is_not_its_next_window_is_refused(dlinear):
    import pandas as pd

    values = np.random.default_rng(1).poisson(50, 300).astype(float)
    frame = pd.DataFrame({"timestamp": pd.date_range("2024-03-01", periods=300, freq="1min", tz="UTC"),
                          "requests": values})
    predictor = WorkloadPredictor(horizon=5).fit(frame.iloc[:280]).update(frame.iloc[280:])
    assert predictor.model_.residual_next_ == 300 - 5 + 1
    predictor.model_.residual_next_ = 400  # beyond the 300 points seen
    with pytest.raises(ModelFileError, match=r"residual_next_=400, not the origin .* \(296: n_seen_=300"):
        persistence.loads(persistence.dumps(predictor))


def _periodic(n: int, level: float, period: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return level * (1 + 0.3 * np.sin(2 * np.pi * np.arange(n) / period)) * rng.lognormal(0, 0.1, n)


@pytest.mark.parametrize("zeros", [59, 60, 61])
def test_a_global_lstm_key_whose_load_drops_to_zeros_is_scaled_as_a_constant_whatever_their_count(zeros):
    """A key whose points are all 0 after an update is constant over them: scaled as a fit scales a constant key
    (offset 0, scale 1, pending until it wakes: tests/test_global_idle_key.py), whatever the count of zeros, and the
    other keys keep their scaling. An odd count once left the first patch of the run (patches of 2, counted from the
    newest point) with one point of the old level, and the key was scaled from it and the zeros: offset 0.77, scale
    5.9 (fitted 50.4 and 11.9), a scale of neither level."""
    pytest.importorskip("torch")
    from workload_predictor.models.global_lstm import GlobalLSTM

    series = [_periodic(360, level, period, seed) for seed, (level, period) in enumerate([(50, 12), (5, 24), (800, 36)])]
    model = GlobalLSTM(horizon=5, window=24, hidden_size=4, max_epochs=1, random_state=0).fit([y[:300] for y in series])
    assert model.patch_size_ % 2 == 0  # so an odd count of zeros straddles a patch
    offset, scale = model.offset_.copy(), model.scale_.copy()
    model.update([np.zeros(zeros)] + [y[300 : 300 + zeros] for y in series[1:]])
    np.testing.assert_array_equal(model.offset_[1:], offset[1:])
    np.testing.assert_array_equal(model.scale_[1:], scale[1:])
    np.testing.assert_array_equal(model.offset_[0], 0.0)
    np.testing.assert_array_equal(model.scale_[0], 1.0)
    assert model.scale_pending_[0].all() and not model.scale_pending_[1:].any()


def test_a_students_teacher_share_is_weighed_as_the_refit_weighed_its_windows():
    """A distilled DLinear (``fit_student``) adds ``mixing * (teacher - actual)`` of each window at the weight the
    fit gave it. The refit weighs the windows whose targets hold a burst down by their residuals; their teacher share
    was added at weight 1, so a window weighed ~0 taught ``-mixing * burst``: with a teacher forecasting the level
    exactly, the forecast whose input holds the burst read 0.72..1.57x the level (plain DLinear: 1.05..1.17x; the
    bounds are test_dlinear_burst's)."""
    from workload_predictor.models.distill import fit_student

    level, horizon = 1e4, 60
    values = np.random.default_rng(0).poisson(level, 1300).astype(float)
    values[1270:1273] = 3 * level  # three buckets at 3x, 30 back: load to the input-anomaly rule
    student = fit_student(values, lambda y, origins: np.full((len(origins), horizon, y.shape[1]), level),
                          mixing=0.5, horizon=horizon)
    forecast = student.predict_at(values[:, None], [len(values)])[0, :, 0]
    assert forecast.min() > 0.8 * level and forecast.max() < 1.3 * level
