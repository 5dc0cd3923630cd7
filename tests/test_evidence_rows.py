"""``significantly_better``: the fleet search's switch test for many series at once is ``evidence_shrinkage``'s, row
by row, the same decision for every row (the batched search read it with one call per series)."""

from __future__ import annotations

import numpy as np
import pytest

from workload_predictor.models.combination import evidence_shrinkage, significantly_better


def _expected(differences: np.ndarray, origins: np.ndarray, horizon: int) -> np.ndarray:
    with np.errstate(invalid="ignore"):  # the infinite row's spread
        return np.array([evidence_shrinkage(row, origins, horizon)[1] >= 1.0 for row in differences],
                        dtype=bool)


@pytest.mark.parametrize("seed", range(6))
def test_each_row_decides_as_evidence_shrinkage_does(seed):
    rng = np.random.default_rng(seed)
    decided = 0
    for _ in range(150):
        v, horizon = int(rng.integers(1, 120)), int(rng.integers(1, 25))
        origins = (np.sort(rng.choice(2000, size=v, replace=False)) if rng.uniform() < 0.3
                   else np.arange(500, 500 + v))
        # rows around the significance boundary: a common shift per row against noise of any scale
        differences = rng.normal(0.0, 1.0, (4, v)) * 10.0 ** rng.uniform(-8, 2) + rng.normal(0.0, 1.0, (4, 1))
        got = significantly_better(differences, origins, horizon)
        expected = _expected(differences, origins, horizon)
        np.testing.assert_array_equal(got, expected)
        decided += int(expected.sum())
    assert 0 < decided < 150 * 4  # both decisions were taken


def test_constant_blocks_missing_values_and_too_few_blocks():
    origins = np.arange(100, 160)
    rows = np.array([np.full(60, -0.25), np.full(60, 0.25), np.zeros(60), np.r_[np.nan, np.full(59, -1.0)],
                     np.r_[-np.inf, np.zeros(59)], np.linspace(-3.0, -2.0, 60)])
    got = significantly_better(rows, origins, 10)
    np.testing.assert_array_equal(got, _expected(rows, origins, 10))
    assert got.tolist() == [True, False, False, False, False, True]
    # one block (60 origins, horizon 60): no evidence either way
    assert not significantly_better(rows, origins, 60).any()
    assert significantly_better(np.empty((0, 60)), origins, 10).shape == (0,)
