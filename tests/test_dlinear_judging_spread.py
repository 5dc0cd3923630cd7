"""DLinear's judging (windows weighed by their residuals, tests/test_dlinear_burst.py) measures a residual in its
reference's spread: 1.4826 MAD, or the root mean square deviation of the reference values within K of it where that
is larger. The residuals of low counts are discrete and skewed, and their MAD understates their tail: an ordinary
count of a plain Poisson cycle lay 10 MADs out."""

import numpy as np
import pytest

from workload_predictor.models import dlinear
from workload_predictor.models.dlinear import RESIDUAL_FLOOR, RESIDUAL_K, DLinear


def _poisson_cycle(level: float, seed: int, n: int = 1000) -> np.ndarray:
    t = np.arange(n)
    rate = level * (1 + 0.5 * np.sin(2 * np.pi * t / 60) + 0.3 * np.sin(2 * np.pi * t / 288))
    return np.random.default_rng(seed).poisson(rate).astype(float)


@pytest.mark.parametrize("seed, horizon", [
    (42, 24),  # 11 at a rate of 4.1 (one bucket in 300 is at least that): 10.0-11.3 MADs out at 5 steps
    (58, 12),  # 14 at a rate of 4.9 (one in 1,700)
    (94, 24),  # 12 at a rate of 4.2 (one in 700)
])
def test_an_ordinary_count_of_a_plain_low_cycle_is_not_weighed_down(seed, horizon):
    y = _poisson_cycle(3, seed)
    model = DLinear(horizon=horizon, window=96).fit(y)
    assert model.residual_from_ is not None  # its validation tail was judged
    assert model.stats_[0].count == len(y) - model.window_ - model.horizon + 1


def test_the_spread_is_the_larger_of_the_mad_and_the_rms_within_k_of_it():
    rng = np.random.default_rng(3)
    reference = np.concatenate([rng.poisson(3.0, (4, 7, 60)) - 2.7, rng.normal(size=(4, 7, 60))])  # [8, 7, 60]
    reference[1, 2, 5] = 1e6  # a burst in the reference
    center = np.median(reference, axis=-1)
    got = dlinear.reference_spread(reference, center)
    for at in np.ndindex(center.shape):
        deviation = np.abs(reference[at] - center[at])
        mad = max(1.4826 * np.median(deviation), RESIDUAL_FLOOR)
        rms = np.sqrt(np.mean(deviation[deviation <= RESIDUAL_K * mad] ** 2))
        np.testing.assert_allclose(got[at], max(mad, rms), rtol=1e-12)
    # the counts' rows: their MAD understates them; the burst is left out (it would take a plain RMS to 1e5)
    mads = 1.4826 * np.median(np.abs(reference - center[..., None]), axis=-1)
    assert (got[:4] > mads[:4]).mean() > 0.5 and got[1, 2] < 10 * np.median(got[:4])
    # a transposed view (the kept history's layout) gives the same values bit for bit
    view = np.ascontiguousarray(reference.transpose(0, 2, 1)).transpose(0, 2, 1)
    np.testing.assert_array_equal(dlinear.reference_spread(view, center), got)


def test_the_judgings_median_is_numpys():
    """The medians the judging takes from sorted rows (references, a window's steps) are ``np.median``'s values."""
    rng = np.random.default_rng(8)
    for shape in [(7,), (8,), (3, 5, 60), (2, 95), (4, 23), (1, 10, 59)]:
        values = np.round(rng.normal(size=shape), 1)  # ties, as counts' steps hold
        view = np.ascontiguousarray(np.swapaxes(values, 0, -1)).swapaxes(0, -1)  # a strided last axis
        for array in (values, view):
            np.testing.assert_array_equal(dlinear._middle(array), np.median(array, axis=-1))
