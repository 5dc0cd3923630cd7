"""Properties of the pure numeric kernels: windows, decomposition, scaling, conformal quantiles, weights."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from workload_predictor.confidence import RECENT_SHARE, confidence_score, conformal_quantile, recency_weights, wape
from workload_predictor.models.combination import (
    convex_weights, evidence_share, evidence_shrinkage,
    line_absolute_minimum,
    student_t_critical,
)
from workload_predictor.models.baselines import ExponentialSmoothing, Naive, exponential_weights
from workload_predictor.models.dlinear import (
    CentredStats, WindowStats, add_rank_one, blend_weights, relative_penalty, ridge_inverse, solve_dlinear,
)
from workload_predictor.windows import (
    decompose, moving_average_matrix, sliding_windows, targets_at, validation_origins, window_moments, windows_at,
)

finite = st.floats(-1e3, 1e3, allow_nan=False, allow_infinity=False)


@st.composite
def series_and_shape(draw):
    n = draw(st.integers(3, 80))
    horizon = draw(st.integers(1, n - 2))
    window = draw(st.integers(1, n - horizon))
    y = draw(hnp.arrays(np.float64, n, elements=finite))
    return y, window, horizon


@given(series_and_shape())
def test_sliding_windows_match_slices(case):
    y, window, horizon = case
    x, target = sliding_windows(y, window, horizon)
    assert x.shape == (len(y) - window - horizon + 1, window)
    for i in range(len(x)):
        np.testing.assert_array_equal(x[i], y[i : i + window])
        np.testing.assert_array_equal(target[i], y[i + window : i + window + horizon])
    origins = np.arange(window, len(y) - horizon + 1)
    np.testing.assert_array_equal(windows_at(y, origins, window), x)
    np.testing.assert_array_equal(targets_at(y, origins, horizon), target)


@given(st.integers(1, 40), st.integers(1, 3), st.integers(-3, 45), st.integers(1, 12), st.integers(0, 2**16))
def test_one_origin_gathers_the_same_array_as_many(n, k, origin, length, seed):
    """One origin (an update's window) is read as a slice: the same values, shape, dtype and layout as the
    gather reads any number of origins with, a copy, and the same IndexError where the gather has one."""
    y = np.random.default_rng(seed).standard_normal((n, k))
    for read, offsets in ((windows_at, np.arange(-length, 0)), (targets_at, np.arange(length))):
        try:
            expected = y[np.array([[origin]]) + offsets[None, :]]
        except IndexError:
            with pytest.raises(IndexError):
                read(y, np.array([origin]), length)
            continue
        got = read(y, np.array([origin]), length)
        assert got.shape == expected.shape and got.dtype == expected.dtype and got.flags.c_contiguous
        assert got.tobytes() == expected.tobytes() and not np.shares_memory(got, y)


@given(st.integers(2, 5000), st.integers(1, 60))
def test_validation_tail_is_chronological_and_bounded(n, horizon):
    if horizon >= n:
        return
    origins = validation_origins(n, horizon)
    assert origins[-1] == n - horizon  # the last window ends at the last point
    assert np.all(np.diff(origins) >= 1)  # chronological, no window twice
    assert 1 <= len(origins) <= 100
    # Every target lies in the tail (the last 15 % of the points, or one window where that holds none), and a long
    # tail is covered evenly.
    assert len(origins) == 1 or n - origins[0] <= 0.15 * n + 1e-9
    tail_windows = int(np.floor(0.15 * n)) - horizon + 1
    if tail_windows > 100:
        assert len(origins) == 100 and origins[0] == n - horizon - tail_windows + 1


@given(st.integers(1, 60), st.integers(1, 40), hnp.arrays(np.float64, 60, elements=finite))
def test_decomposition_adds_up_and_keeps_constants(window, kernel, x):
    x = x[:window]
    trend, seasonal = decompose(x, kernel)
    np.testing.assert_allclose(trend + seasonal, x, atol=1e-9)
    np.testing.assert_allclose(moving_average_matrix(window, kernel).sum(axis=1), 1.0)  # rows average
    trend_const, seasonal_const = decompose(np.full(window, 7.0), kernel)
    np.testing.assert_allclose(trend_const, 7.0)
    np.testing.assert_allclose(seasonal_const, 0.0, atol=1e-9)


@given(st.integers(5, 50), st.floats(0.5, 0.99), st.integers(0, 10_000))
def test_conformal_quantile_interpolates_between_the_order_statistics_around_the_rank(n, level, seed):
    """Without ties: between the (k-1)-th and k-th smallest residual, k = ceil((n + 1) level), at the fraction
    (n + 1) level - (k - 1) of the way, so that the expected coverage is the level, not up to 1 / (n + 1) more."""
    residuals = np.abs(np.random.default_rng(seed).standard_normal((n, 3)))
    q = conformal_quantile(residuals, level)
    rank = math.ceil((n + 1) * level)
    ordered = np.sort(residuals, axis=0)
    if rank > n:  # too few windows: no step below the 3 steps' pooled half-width (test_short_history_intervals)
        np.testing.assert_allclose(q, np.maximum(ordered[-1], conformal_quantile(residuals.ravel(), level)))
        return
    lower = ordered[rank - 2] if rank >= 2 else np.zeros(3)
    np.testing.assert_allclose(q, lower + ((n + 1) * level - (rank - 1)) * (ordered[rank - 1] - lower))
    assert np.all((residuals <= q).mean(axis=0) >= (rank - 1) / n - 1e-12)


@settings(max_examples=40)
@given(st.integers(1, 60), st.sampled_from([(4,), (3, 2)]), st.floats(0.05, 0.95), st.integers(0, 10_000),
       st.sampled_from(["normal", "counts", "zeros"]))
def test_conformal_quantile_equals_its_definition_column_by_column(n, shape, level, seed, kind):
    """Bit for bit: per column, the rank's residual, the largest residual below it (0 when none) and the counts
    below and at or below it, combined as the docstring's formula (with the zero-width floor, which also raises a
    width below the smallest positive residual of a column with exact windows); the rank's residual itself where
    several residuals tie at it."""
    rng = np.random.default_rng(seed)
    residuals = {"normal": np.abs(rng.standard_normal((n, *shape))), "counts": rng.poisson(1.5, (n, *shape)) * 1.0,
                 "zeros": rng.binomial(1, 0.1, (n, *shape)) * 2.0}[kind]
    got = conformal_quantile(residuals, level)

    def classic(column: np.ndarray) -> float:
        target = (len(column) + 1) * level
        rank = math.ceil(target)
        ordered = np.sort(column)
        if rank > len(column):
            return ordered[-1]
        value = ordered[rank - 1]
        m, c = int((ordered < value).sum()), int((ordered <= value).sum())
        below = ordered[m - 1] if m > 0 else 0.0
        width = value if c - m > 1 else below + (value - below) * ((target - m) / (c - m))
        # a width inside the jump from the exact windows' 0 covers them alone, as 0 does: 0 (raised below)
        return 0.0 if (column == 0).any() and width < column[column > 0].min(initial=np.inf) else width

    flat = residuals.reshape(n, -1)
    expected = np.array([classic(column) for column in flat.T])
    if math.ceil((n + 1) * level) > n:  # too few windows: no step below its target's steps (axis 1) pooled
        by_target = residuals.reshape(n, shape[0], -1)
        pooled = np.array([[classic(by_target[:, :, t].ravel()) for t in range(by_target.shape[2])]] * shape[0])
        expected = np.maximum(expected, pooled.ravel())
    for j, column in enumerate(flat.T):  # a zero width takes the step's smallest positive error, else the target's
        if expected[j] == 0 and (column > 0).any():
            expected[j] = column[column > 0].min()
        elif expected[j] == 0:
            same_target = flat[:, np.arange(flat.shape[1]) % (shape[-1] if len(shape) > 1 else 1)
                                == (j % shape[-1] if len(shape) > 1 else 0)]
            expected[j] = same_target[same_target > 0].min() if (same_target > 0).any() else 0.0
    assert got.shape == shape and got.tobytes() == expected.reshape(shape).tobytes()


@settings(max_examples=40)
@given(st.integers(5, 120), st.sampled_from([0.5, 0.8, 0.9, 0.95]), st.integers(0, 10_000), st.floats(0.5, 20))
@example(n=100, level=0.9, seed=0, rate=1.0)
def test_conformal_quantile_on_tied_counts_is_the_classic_rank(n, level, seed, rate):
    """Integer residuals tie at the quantile: a new residual lands on the tied value, never inside the jump below
    it, so the half-width is the classic k-th residual (coverage >= level), not a point inside the jump."""
    residuals = np.random.default_rng(seed).poisson(rate, (n, 2)).astype(float)
    q = conformal_quantile(residuals, level)
    rank = math.ceil((n + 1) * level)
    ordered = np.sort(residuals, axis=0)
    if rank > n:
        return
    classic = ordered[rank - 1]
    for j in range(2):
        if classic[j] == 0 or (residuals[:, j] == classic[j]).sum() < 2:
            continue  # the zero-width floor applies, or the value is one window's (tested above)
        assert q[j] == classic[j]


@pytest.mark.parametrize("rate, level", [(0.7, 0.8), (0.7, 0.9), (3.0, 0.9), (3.0, 0.95)])
@pytest.mark.parametrize("n", [20, 100])
def test_conformal_interval_covers_its_level_on_exchangeable_counts(rate, level, n):
    """Counts forecast by an integer (a median, the last value): the half-width from n validation errors covers
    new errors of the same distribution at least ``level`` of the time, on average over many calibrations.
    Interpolating inside the jump at a tied value covered 0.54-0.85 of them at these levels."""
    rng = np.random.default_rng(7)
    calibration = rng.poisson(rate, (2000, n)).astype(float)
    fresh = rng.poisson(rate, (2000, 200)).astype(float)
    widths = conformal_quantile(calibration.T, level)  # one column per calibration
    coverage = (fresh <= widths[:, None]).mean()
    assert coverage >= level - 0.005, coverage
    # The ensemble's pool: the newest third of the windows weighs two thirds (interpolated before: 0.54-0.86).
    weights = recency_weights(n, n // 3, RECENT_SHARE)
    widths = np.array([conformal_quantile(column[:, None], level, weights)[0] for column in calibration[:500]])
    coverage = (fresh[:500] <= widths[:, None]).mean()
    assert coverage >= level - 0.005, coverage


@settings(max_examples=40)
@given(st.integers(1, 40), st.integers(1, 3), st.floats(0.5, 0.97), st.integers(0, 10_000))
def test_weighted_conformal_quantile_with_integer_weights_equals_repeating_the_residuals(n, steps, level, seed):
    """Weighted split conformal counts a window of weight w as w windows (the test window weighs 1) up to the rank;
    equal weights give the unweighted half-width. Tied counts: where several windows tie at the rank's value, the
    half-width is that value, as for the repeated residuals; where it is one window's, the interpolation across its
    jump lies between the largest residual below it and the value."""
    rng = np.random.default_rng(seed)
    residuals = rng.poisson(2.0, (n, steps)).astype(float)
    weights = rng.integers(1, 5, n)
    weighted = conformal_quantile(residuals, level, weights)
    repeated = conformal_quantile(np.repeat(residuals, weights, axis=0), level)  # every value tied: the classic rank
    for j in range(steps):
        column = residuals[:, j]
        if (column == repeated[j]).sum() > 1 or repeated[j] == 0:
            assert weighted[j] == pytest.approx(repeated[j], rel=1e-12, abs=1e-12)
        else:
            below = column[column < repeated[j]]
            assert (below.max() if len(below) else 0.0) <= weighted[j] <= repeated[j]
    np.testing.assert_allclose(conformal_quantile(residuals, level, np.full(n, 1.0)),
                               conformal_quantile(residuals, level), rtol=1e-12, atol=1e-12)


@settings(max_examples=25)
@given(st.integers(5, 80), st.integers(0, 10_000), st.floats(0.01, 1e6))
def test_conformal_quantile_is_monotone_in_the_level_and_scales_with_the_residuals(n, seed, scale):
    residuals = np.random.default_rng(seed).poisson(2.0, (n, 3)).astype(float) + 0.5
    widths = [conformal_quantile(residuals, level) for level in (0.5, 0.8, 0.9, 0.95)]
    assert all(np.all(a <= b + 1e-12) for a, b in zip(widths, widths[1:]))
    np.testing.assert_allclose(conformal_quantile(scale * residuals, 0.9), scale * widths[2], rtol=1e-12)


@settings(max_examples=40)
@given(st.integers(2, 80), st.integers(1, 12), st.integers(0, 10_000), st.floats(0.05, 3.0),
       st.sampled_from([None, "weights"]))
@example(n=7, steps=1, seed=-1, rate=1.0, weighted=None)  # six exact windows, one off by 1: 1 at 0.5, 0.4 at 0.8
def test_conformal_quantile_on_counts_with_exact_windows_never_narrows_as_the_level_rises(n, steps, seed, rate,
                                                                                          weighted):
    """Integer errors, many of them 0 (counts forecast by a count): a width below a step's smallest positive error
    covers its exact windows only, as 0 does, and is raised as 0 is; the width is monotone in the level."""
    if seed < 0:
        residuals = np.zeros((n, steps))
        residuals[0] = 1.0
    else:
        residuals = np.random.default_rng(seed).poisson(rate, (n, steps)).astype(float)
    weights = None if weighted is None else np.random.default_rng(seed + 1).uniform(0.5, 2.0, n)
    widths = [conformal_quantile(residuals, level, weights) for level in (0.5, 0.8, 0.9, 0.95)]
    for low, high in zip(widths, widths[1:]):
        assert np.all(low <= high + 1e-12), (low, high)
    positive = np.where(residuals > 0, residuals, np.inf).min(axis=0)
    exact = (residuals == 0).any(axis=0) & np.isfinite(positive)  # a step all exact takes its target's floor
    for width in widths:  # no width strictly between 0 and a step's smallest positive error where it has exact windows
        assert not np.any(exact & (width > 0) & (width < positive - 1e-12)), (width, positive)


@given(hnp.arrays(np.float64, st.integers(1, 50), elements=st.floats(0, 1e4)),
       hnp.arrays(np.float64, 50, elements=st.floats(0, 1e4)))
def test_confidence_is_one_minus_wape_in_unit_interval(actual, forecast):
    forecast = forecast[: len(actual)]
    c = confidence_score(actual, forecast)
    assert 0.0 <= c <= 1.0
    if actual.sum() > 0:
        with np.errstate(over="ignore"):  # a subnormal total makes the ratio inf: the score is then 0
            expected = min(1.0, max(0.0, 1 - np.abs(actual - forecast).sum() / actual.sum()))
        assert math.isclose(c, expected, abs_tol=1e-12)
    assert confidence_score(actual, actual) == 1.0
    assert wape(actual, actual) == 0.0


@given(st.integers(2, 4), st.integers(10, 200), st.integers(0, 10_000))
def test_convex_weights_are_a_distribution_favouring_the_better_member(m, n, seed):
    rng = np.random.default_rng(seed)
    actual = rng.uniform(0, 100, n)
    noise = np.array([1.0] + [20.0] * (m - 1))
    forecasts = actual + noise[:, None] * rng.standard_normal((m, n))
    w = convex_weights(forecasts, actual)
    assert np.all(w >= 0) and math.isclose(w.sum(), 1.0, rel_tol=1e-9)
    assert w[0] == w.max() and w[0] > 0.5


@given(st.integers(4, 30), st.integers(1, 5), st.floats(0.01, 1e6), st.integers(0, 1000))
def test_dlinear_solution_is_scale_equivariant(window, horizon, scale, seed):
    rng = np.random.default_rng(seed)
    y = rng.uniform(0, 10, window + horizon + 40)
    x, target = sliding_windows(y, window, horizon)
    base = solve_dlinear(WindowStats.from_windows(x, target), 5, 1e-3)
    scaled = solve_dlinear(WindowStats.from_windows(x * scale, target * scale), 5, 1e-3)
    np.testing.assert_allclose(x * scale @ scaled.coef + scaled.intercept, (x @ base.coef + base.intercept) * scale,
                               rtol=1e-6, atol=1e-6 * scale)
    # The two branches reproduce the forecast map exactly.
    trend, seasonal = decompose(x, 5)
    np.testing.assert_allclose(trend @ base.trend_coef + seasonal @ base.seasonal_coef, x @ base.coef, atol=1e-6)


def test_dlinear_closed_form_matches_explicit_two_branch_ridge():
    rng = np.random.default_rng(3)
    y = rng.uniform(0, 10, 200)
    x, target = sliding_windows(y, 16, 4)
    solution = solve_dlinear(WindowStats.from_windows(x, target), 7, 1e-2)
    # The textbook problem: ridge on [trend, seasonal] features, intercept unpenalised.
    trend, seasonal = decompose(x, 7)
    features = np.hstack([trend, seasonal])
    fc, tc = features - features.mean(0), target - target.mean(0)
    xc = x - x.mean(0)
    lam = 1e-2 * np.trace(xc.T @ xc) / 16
    theta = np.linalg.solve(fc.T @ fc + lam * np.eye(32), fc.T @ tc)
    np.testing.assert_allclose(solution.trend_coef, theta[:16], atol=1e-8)
    np.testing.assert_allclose(solution.seasonal_coef, theta[16:], atol=1e-8)


@given(st.integers(1, 30), st.integers(1, 30), st.floats(0.0, 1e3), st.integers(0, 2**16))
def test_rank_one_step_is_the_inverse_of_the_grown_system(size, rows, weight, seed):
    rng = np.random.default_rng(seed)
    a = rng.normal(size=(rows, size))
    system = a.T @ a + 0.1 * np.eye(size)  # symmetric positive definite
    u = rng.normal(size=size) * rng.choice([1e-3, 1.0, 1e3])
    inverse = np.linalg.inv(system)
    inverse = (inverse + inverse.T) / 2
    # The kernel's domain: an update that does not dominate the system (a window joining hundreds in DLinear,
    # weight * u' S^-1 u ~ W / n). A dominant one cancels most of the inverse and loses digits in proportion.
    assume(weight * float(u @ inverse @ u) <= 10.0)
    grown = add_rank_one(inverse, u, weight)
    np.testing.assert_array_equal(grown, grown.T)  # exactly symmetric, step after step
    expected = system + weight * np.outer(u, u)
    np.testing.assert_allclose(grown @ expected, np.eye(size), atol=1e-7 * np.linalg.cond(expected))


@given(st.integers(2, 24), st.integers(1, 5), st.integers(0, 2**16), st.integers(1, 8))
def test_welford_rank_one_steps_follow_the_centred_gram_of_added_windows(window, horizon, seed, added):
    """Adding rows one by one, each a rank-one step ``n / (n + 1) (x - mean)(x - mean)^T``, inverts the system
    of all the rows, with the penalty kept."""
    rng = np.random.default_rng(seed)
    x, target = sliding_windows(rng.gamma(2.0, 5.0, 60 + window + horizon + added), window, horizon)
    before = WindowStats.from_windows(x[:-added], target[:-added])
    centred = CentredStats.of(before)
    lam = relative_penalty(centred.gram, 1e-3)
    inverse, count, mean = ridge_inverse(centred.gram, 5, lam), before.count, before.sum_x / before.count
    for row in x[-added:]:
        inverse = add_rank_one(inverse, row - mean, count / (count + 1.0))
        count += 1.0
        mean = mean + (row - mean) / count
    direct = ridge_inverse(CentredStats.of(WindowStats.from_windows(x, target)).gram, 5, lam)
    np.testing.assert_allclose(inverse, direct, rtol=1e-8, atol=1e-10 * np.abs(direct).max())


@given(st.integers(1, 40), st.integers(1, 12), st.integers(0, 60), st.data())
def test_window_stats_from_the_series_equal_the_materialised_windows(window, horizon, extra, data):
    n = window + horizon + extra
    z = np.random.default_rng(data.draw(st.integers(0, 10_000))).standard_normal(n) * 10
    first = data.draw(st.integers(window, n - horizon))
    last = data.draw(st.integers(first, n - horizon))
    origins = np.arange(first, last + 1)
    direct = WindowStats.from_windows(windows_at(z, origins, window), targets_at(z, origins, horizon))
    fast = WindowStats.from_series(z, origins, window, horizon)
    assert fast.count == direct.count
    for name in ("sum_x", "sum_y", "xx", "xy"):
        np.testing.assert_allclose(getattr(fast, name), getattr(direct, name), atol=1e-9 * max(1.0, n), err_msg=name)


@given(st.integers(1, 120), st.integers(1, 12), st.integers(0, 10_000), st.integers(-150, 150))
@example(window=5, horizon=2, seed=0, exponent=0)
def test_one_window_stats_equal_the_matrix_products_bit_for_bit(window, horizon, seed, exponent):
    """An update's single window skips the matrix product for X^T X; every entry keeps the product's bits, the
    zeros' signs included (a product forms 0 + x_i x_j: +0.0 where x_i x_j is -0.0)."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((1, window)) * 10.0**exponent
    x[0, rng.integers(0, window, max(1, window // 4))] = 0.0  # zeros times negatives: -0.0 in a plain multiply
    y = rng.standard_normal((1, horizon))
    stats = WindowStats.from_windows(x, y)
    assert stats.count == 1.0 and stats.xx.shape == (window, window)
    for got, product in ((stats.sum_x, x.sum(axis=0)), (stats.sum_y, y.sum(axis=0)), (stats.xx, x.T @ x),
                         (stats.xy, x.T @ y)):
        assert got.dtype == product.dtype and got.tobytes() == product.tobytes()


@settings(max_examples=15)
@given(st.integers(1, 40), st.integers(1, 12), st.integers(8, 20), st.data())
def test_window_moments_of_many_series_equal_each_series_alone_bit_for_bit(window, horizon, n_series, data):
    """Many series' moments (the fleet's batches) are summed in the same order as one series' (a single fit)."""
    n = window + horizon + data.draw(st.integers(10, 80))
    z = np.random.default_rng(data.draw(st.integers(0, 10_000))).standard_normal((n_series, n)) * 10
    first = data.draw(st.integers(window, n - horizon - 9))
    origins = np.arange(first, data.draw(st.integers(first + 9, n - horizon)) + 1)
    together = window_moments(z, origins, window, horizon)
    for s in range(n_series):
        for got, alone in zip(together, window_moments(z[s : s + 1], origins, window, horizon)):
            np.testing.assert_array_equal(got[s], alone[0])


@given(st.dictionaries(st.integers(1, 400), st.floats(1e-6, 1e6), min_size=1, max_size=12), st.integers(1, 5))
def test_blend_weights_favour_the_lowest_validation_errors(scores, count):
    weights = blend_weights(scores, count)
    assert len(weights) == min(count, len(scores))
    assert all(w > 0 for w in weights.values()) and math.isclose(sum(weights.values()), 1.0, rel_tol=1e-9)
    # The chosen windows are the best-scoring ones, and a lower error never gets a lower weight.
    assert max(scores[w] for w in weights) <= min([scores[w] for w in scores if w not in weights], default=math.inf)
    ranked = sorted(weights, key=scores.get)
    assert all(weights[a] >= weights[b] * (1 - 1e-12) for a, b in zip(ranked, ranked[1:]))


@given(st.floats(1e-3, 1.0))
def test_exponential_weights_decay_towards_the_past_and_sum_to_one(alpha):
    weights = exponential_weights(alpha)
    assert math.isclose(weights.sum(), 1.0, rel_tol=1e-12) and (weights > 0).all()
    assert (np.diff(weights) >= 0).all()  # oldest first: the newest value weighs most
    if len(weights) > 1:
        np.testing.assert_allclose(weights[:-1] / weights[1:], 1 - alpha, rtol=1e-9)
        assert weights[0] / weights[-1] >= 1e-3 * (1 - alpha) - 1e-15  # cut near the tolerance, not before


@pytest.mark.parametrize("alpha", [0.0, -0.5, 1.5, float("nan")])
def test_exponential_weights_outside_zero_one_are_a_typed_error_with_an_example(alpha):
    from workload_predictor.errors import WorkloadDataError

    with pytest.raises(WorkloadDataError, match=r"must be in \(0, 1\], e\.g\. alpha=0\.3"):
        exponential_weights(alpha)


def test_exponential_smoothing_with_alpha_one_is_the_last_value():
    y = np.random.default_rng(0).gamma(2.0, 5.0, (300, 2))
    smoothing = ExponentialSmoothing(horizon=4, alphas=(1.0,)).fit(y)
    origins = np.arange(50, 296)
    np.testing.assert_array_equal(smoothing.predict_at(y, origins), Naive(horizon=4).fit(y).predict_at(y, origins))


@given(st.integers(0, 10_000))
def test_exponential_smoothing_chooses_its_factor_from_the_data(seed):
    """A random walk wants the last value (alpha 1); noise around a fixed mean wants a long mean (small alpha)."""
    rng = np.random.default_rng(seed)
    walk = 1000 + np.cumsum(rng.standard_normal(600))
    noise = 50 + rng.standard_normal(600)
    assert ExponentialSmoothing(horizon=5).fit(walk).alpha_ >= 0.5
    assert ExponentialSmoothing(horizon=5).fit(noise).alpha_ <= 0.1
    constant = np.full(400, 7.0)
    np.testing.assert_allclose(ExponentialSmoothing(horizon=5).fit(constant).predict(), 7.0)


@given(hnp.arrays(np.float64, st.integers(1, 40), elements=st.floats(-100, 100)),
       hnp.arrays(np.float64, 40, elements=st.floats(-10, 10)), st.floats(-5, 0), st.floats(0, 5))
def test_line_absolute_minimum_is_the_exact_minimum_on_the_interval(residual, direction, low, high):
    direction = direction[: len(residual)]
    t = line_absolute_minimum(residual, direction, low, high)
    assert low <= t <= high
    loss = lambda s: np.abs(residual - s * direction).sum()  # noqa: E731
    grid = np.linspace(low, high, 201)
    assert loss(t) <= min(loss(s) for s in grid) + 1e-9 * (1 + loss(t))


@given(hnp.arrays(np.float64, st.integers(1, 120), elements=st.floats(-10, 10)), st.integers(1, 30),
       st.floats(1e-3, 1e3))
@example(np.array([-7.76898207e-11, 0.0]), 1, 0.015625)  # the same, better on average: t -1, then the sign
def test_evidence_shrinkage_is_a_share_that_needs_a_better_mean_and_ignores_scale(difference, horizon, scale):
    origins = np.arange(len(difference)) * 2 + 7  # any increasing origins
    t, share = evidence_shrinkage(difference, origins, horizon)
    assert 0.0 <= share <= 1.0
    blocks = -(-(origins[-1] - origins[0] + 1) // horizon)
    block_means = [difference[(origins - origins[0]) // horizon == b].mean()
                   for b in range(blocks) if ((origins - origins[0]) // horizon == b).any()]
    if len(block_means) < 2 or np.mean(block_means) >= 0:
        assert share == 0.0  # no blocks to compare, or not better on average: no trust
    scaled_t, scaled_share = evidence_shrinkage(difference * scale, origins, horizon)
    if not (_spread_above_rounding(difference, origins, horizon)
            and _spread_above_rounding(difference * scale, origins, horizon)):
        assert scaled_share in (0.0, 1.0) or share in (0.0, 1.0)  # blocks equal to rounding: the sign decides
        return
    assert scaled_share == np.float64(share) or abs(scaled_share - share) < 1e-9
    if math.isfinite(t):
        assert abs(scaled_t - t) <= 1e-9 * max(1.0, abs(t))


@given(st.integers(2, 40), st.integers(1, 12), st.integers(0, 10_000))
def test_evidence_shrinkage_trusts_a_consistent_win_and_doubts_a_noisy_one(blocks, horizon, seed):
    rng = np.random.default_rng(seed)
    origins = np.arange(blocks * horizon)
    steady = -1.0 + 0.01 * rng.standard_normal(len(origins))  # better by 1 everywhere, give or take 1 %
    t, share = evidence_shrinkage(steady, origins, horizon)
    assert share == 1.0 and t < -student_t_critical(blocks - 1)
    # The same mean gain carried by one block only: the t statistic is at most 1, so the share stays below 1.
    lucky = np.zeros(len(origins))
    lucky[:horizon] = -float(blocks)
    t, share = evidence_shrinkage(lucky, origins, horizon)
    assert -1.0 - 1e-9 <= t < 0 and share < 1.0 / student_t_critical(blocks - 1) + 1e-9


@given(hnp.arrays(np.float64, st.integers(1, 120), elements=st.floats(-10, 10)), st.integers(1, 30),
       st.floats(1e-3, 1e3))
@example(np.array([7.76898207e-11, 0.0]), 1, 0.015625)  # found once: the scaled blocks fall within the rounding
def test_evidence_share_reads_the_t_statistic_both_ways(difference, horizon, scale):
    """A candidate with no prior claim: half the weight without evidence, all of it once significantly better,
    none once significantly worse; swapping candidate and reference swaps the shares; the scale does not count."""
    origins = np.arange(len(difference)) * 3 + 2
    t, share = evidence_share(difference, origins, horizon)
    assert 0.0 <= share <= 1.0
    assert evidence_shrinkage(difference, origins, horizon)[0] == t  # the same statistic
    swapped_t, swapped = evidence_share(-difference, origins, horizon)
    assert swapped == pytest.approx(1.0 - share, abs=1e-12)
    if len(np.unique((origins - origins[0]) // horizon)) < 2:
        assert (t, share) == (0.0, 0.5)
    elif t < 0:
        assert share > 0.5
    elif t > 0:
        assert share < 0.5
    else:
        assert share == 0.5
    critical = student_t_critical(max(1, len(np.unique((origins - origins[0]) // horizon)) - 1))
    if math.isfinite(t) and abs(t) >= critical:
        assert share == (1.0 if t < 0 else 0.0)
    scaled = evidence_share(difference * scale, origins, horizon)[1]
    if _spread_above_rounding(difference, origins, horizon) and _spread_above_rounding(difference * scale, origins,
                                                                                        horizon):
        assert scaled == pytest.approx(share, abs=1e-9)
    else:  # blocks equal to rounding (a spread within 1e-12 of the unit: differences of scaled errors): the sign
        assert scaled in (0.0, 0.5, 1.0) or share in (0.0, 0.5, 1.0)  # decides at one of the scales


def _spread_above_rounding(difference: np.ndarray, origins: np.ndarray, horizon: int) -> bool:
    """Whether the block means of ``difference`` differ by more than the rounding the t statistic ignores (a spread
    of ``1e-12`` of the unit or of their mean): below it, equal blocks, whose mean's sign decides."""
    labels = (origins - origins.min()) // horizon
    means = np.array([difference[labels == b].mean() for b in np.unique(labels)])
    return len(means) > 1 and float(means.std(ddof=1)) > 1e-12 * max(1.0, abs(float(means.mean())))


def test_student_t_critical_values_fall_towards_the_normal():
    values = [student_t_critical(dof) for dof in range(1, 40)]
    assert values[0] == 12.706 and values[-1] == 1.96
    assert all(a >= b for a, b in zip(values, values[1:]))


def test_dlinear_forecasts_at_many_consecutive_origins_equal_the_gathered_windows():
    """The correlation path (long runs of consecutive origins) computes the same map as the window gather."""
    from workload_predictor.models import DLinear
    from workload_predictor.models.dlinear import CORRELATE_ORIGINS
    from workload_predictor.windows import windows_at

    y = np.random.default_rng(0).poisson(50, (CORRELATE_ORIGINS + 300, 2)).astype(float)
    model = DLinear(horizon=7, window=24).fit(y)
    origins = np.arange(model.window_, len(y) - 6)
    assert len(origins) > CORRELATE_ORIGINS
    z = (y - model.offset_) / model.scale_
    x = windows_at(z, origins, model.window_)  # (m, W, k)
    expected = (np.matmul(x.transpose(2, 0, 1), model.coef_).transpose(1, 2, 0) + model.intercept_.T[None])
    np.testing.assert_allclose(model.predict_at(y, origins), expected * model.scale_ + model.offset_,
                               rtol=1e-12, atol=1e-9)


def test_smoothed_levels_at_many_consecutive_origins_equal_the_gathered_windows():
    from workload_predictor.models.baselines import smoothed_levels
    from workload_predictor.windows import windows_at

    y = np.random.default_rng(1).poisson(20, (3000, 2)).astype(float)
    weights = exponential_weights(0.05)
    origins = np.arange(len(weights), len(y))
    expected = np.einsum("mwk,w->mk", windows_at(y, origins, len(weights)), weights)
    np.testing.assert_allclose(smoothed_levels(y, origins, weights), expected, rtol=1e-12, atol=1e-9)


def test_weighted_window_stats_sum_the_flagged_windows_in_bounded_blocks(monkeypatch):
    """Every window holding a flagged point was materialised at once: on a sparse series whose bursts are all
    flagged, nearly every window (1,000,000 one-second buckets 95 % empty: 2.4-3.7 GB, a MemoryLimitError under
    the default memory_limit_mb). They are summed FLAGGED_BLOCK at a time, to the same statistics."""
    from workload_predictor.models import dlinear as dlinear_module
    from workload_predictor.models.dlinear import FLAGGED_BLOCK, WindowStats

    rng = np.random.default_rng(0)
    n, window, horizon = 3 * FLAGGED_BLOCK + 500, 24, 5
    z = rng.standard_normal(n)
    origins = np.arange(window, n - horizon + 1)
    weights = np.where(rng.random(len(origins)) < 0.9, rng.uniform(0.01, 0.5, len(origins)), 1.0)
    asked = []
    monkeypatch.setattr(dlinear_module, "check_memory", lambda what, extra_bytes=0.0: asked.append(extra_bytes))
    stats = WindowStats.weighted(z, origins, window, horizon, weights)
    assert asked and max(asked) <= 8.0 * FLAGGED_BLOCK * (2 * window + horizon)
    x = np.stack([z[o - window : o] for o in origins])
    y = np.stack([z[o : o + horizon] for o in origins])
    expected = WindowStats.from_windows(x, y, weights)
    np.testing.assert_allclose(stats.xx, expected.xx, rtol=1e-10)
    np.testing.assert_allclose(stats.xy, expected.xy, rtol=1e-10)
    np.testing.assert_allclose(stats.sum_x, expected.sum_x, rtol=1e-10)
    assert stats.count == pytest.approx(expected.count, rel=1e-12)
