"""``BatchCentred.of(in_place=True)`` (the window search's, over its own X^T X) gives the same numbers as the copy."""

from __future__ import annotations

import numpy as np
import pytest

from workload_predictor.models import dlinear_batched
from workload_predictor.models.dlinear_batched import BatchCentred, batched_window_stats


@pytest.mark.parametrize("block_elements", [2**20, 3 * 24 * 24])  # one block; blocks of 3 series and a partial one
def test_in_place_centring_gives_the_same_moments_and_leaves_no_copy(monkeypatch, block_elements):
    monkeypatch.setattr(dlinear_batched, "SOLVE_BLOCK_ELEMENTS", block_elements)
    z = np.random.default_rng(0).gamma(2.0, 50.0, (10, 300))
    copied = BatchCentred.of(batched_window_stats(z, np.arange(24, 291), 24, 10))
    stats = batched_window_stats(z, np.arange(24, 291), 24, 10)
    centred = BatchCentred.of(stats, in_place=True)
    assert centred.gram is stats.xx  # written over X^T X
    for name in ("mean_x", "mean_y", "gram", "cross", "count"):
        np.testing.assert_array_equal(getattr(centred, name), getattr(copied, name))
    assert np.array_equal(centred.gram, centred.gram.transpose(0, 2, 1))  # still exactly symmetric


@pytest.mark.parametrize("shape", [(8, 120, 2, 1), (9, 300, 12, 10), (13, 700, 96, 7), (8, 260, 7, 60)])
def test_the_batched_moments_equal_window_moments_bit_for_bit(shape):
    """``_moments`` (no lag table) gives ``window_moments``' numbers to the last bit, X^T X exactly symmetric, for
    series of every scale, a first origin past the window, and a horizon longer than the window."""
    from workload_predictor.windows import window_moments

    n_series, n, window, horizon = shape
    rng = np.random.default_rng(n)
    z = rng.standard_normal((n_series, n)) * 10.0 ** rng.uniform(-3, 3, (n_series, 1)) + rng.uniform(-5, 5)
    for first in (window, window + 5):
        origins = np.arange(first, n - horizon - 2)
        expected, got = window_moments(z, origins, window, horizon), dlinear_batched._moments(z, origins, window,
                                                                                             horizon)
        for want, have in zip(expected, got):
            assert have.shape == want.shape and np.array_equal(have.view(np.uint64), want.view(np.uint64))
        assert np.array_equal(got[2], got[2].transpose(0, 2, 1))


@pytest.mark.parametrize("first_origin, start, m, unjudged", [(700, 100, 230, False), (30, 0, 90, True),
                                                               (3, 5, 40, True), (16, 60, 61, False)])
def test_the_rows_deviations_equal_residual_deviations_row_by_row(first_origin, start, m, unjudged):
    """``_row_deviations`` of stacked rows gives each row's ``residual_deviations`` bit for bit: whole references,
    references shorter than ``RESIDUAL_REFERENCE`` and blocks with too few rows before them (not judged)."""
    from workload_predictor.models import dlinear

    rng = np.random.default_rng(first_origin)
    residuals = rng.standard_t(2.0, (5, m, 7)) * rng.uniform(0.1, 10.0, (5, 1, 1))
    residuals[1, m - 1] = 1e6  # a window far out
    noise = rng.gamma(2.0, 1.0, (5, m))
    got = dlinear_batched._row_deviations(residuals, start, first_origin, noise)
    for row in range(5):
        want = dlinear.residual_deviations(residuals[row], start, first_origin, noise=noise[row])[0]
        assert got[row].shape == want.shape and np.array_equal(got[row].view(np.uint64), want.view(np.uint64))
    assert (got > dlinear.RESIDUAL_K).any() and bool((got[:, 0] == 0.0).all()) == unjudged


def test_the_validation_products_read_each_series_windows_as_a_blas_matrix(monkeypatch):
    """``fit_batched``'s products of validation windows and maps (the search's scores, the training part's forecasts)
    take each series' ``(origins, window)`` windows with a unit stride along one of the two axes, the layout BLAS
    reads in place; ``z[:, index]`` gathered them with the series axis innermost, which ``matmul`` copies series by
    series before each product (about 3x the product's time at window 168)."""
    from workload_predictor.models.dlinear_batched import fit_batched

    real, layouts = np.matmul, []

    def matmul(a, b, *args, **kwargs):
        for operand in (a, b):
            if operand.ndim == 3:
                layouts.append(((operand.strides, operand.shape), operand.itemsize in operand.strides[-2:]))
        return real(a, b, *args, **kwargs)

    monkeypatch.setattr(np, "matmul", matmul)
    y = np.random.default_rng(3).gamma(2.0, 50.0, (9, 400, 1))
    fit = fit_batched(y, horizon=10, candidate_windows=[12, 24, 48])
    assert np.isfinite(fit.validation_forecast).all() and len(layouts) >= 4
    assert [layout for layout, blas in layouts if not blas] == []


@pytest.mark.parametrize("block_elements", [2**17, 3 * 24 * 24])  # one block; blocks of 3 series and a partial one
def test_the_ridge_map_of_some_rows_of_a_view_equals_the_map_of_their_copy_bit_for_bit(monkeypatch, block_elements):
    """``_ridge_map(gram, ..., rows=r)`` (each block of rows gathered as it is solved, the traces read on the view)
    gives ``_ridge_map(gram[r], ...)``'s map to the last bit: rows out of order and repeated, a window narrower than
    the Gram matrices (a view), one penalty per row, and a row whose penalty is at its floor (its map zero)."""
    from workload_predictor.models.dlinear_batched import _ridge_map

    monkeypatch.setattr(dlinear_batched, "SOLVE_BLOCK_ELEMENTS", block_elements)
    z = np.random.default_rng(1).gamma(2.0, 50.0, (10, 300))
    z[4] = 7.0  # constant: its Gram matrix zero, its penalty at the floor
    centred = BatchCentred.of(batched_window_stats(z, np.arange(36, 291), 36, 10))
    rows = np.array([7, 1, 4, 9, 1, 0, 5, 3])
    alpha = np.linspace(0.5, 2.0, len(rows))
    view = centred.gram[:, -24:, -24:]
    args = (centred.cross[rows, -24:], 25, alpha, None, centred.count[rows], centred.second[rows, -24:])
    expected = _ridge_map(view[rows], *args, alike_zero=True)
    got = _ridge_map(view, *args, alike_zero=True, rows=rows)
    assert np.array_equal(got.view(np.uint64), expected.view(np.uint64))
    assert np.all(got[2] == 0.0) and np.abs(got).max() > 0.0
