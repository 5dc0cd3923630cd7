"""An update's one new window with a flagged point is settled (``windows_settled_at``) and weighed
(``settled_weights``) by a path of its own: the same arrays, bit for bit, as the paths that settle and weigh many
windows at once, on windows whose flagged runs end inside them, at their edges, lie next to one another, fill them,
or are followed by points near and far from the window's median."""

import numpy as np
import pytest

from workload_predictor.models import dlinear
from workload_predictor.windows import targets_at, windows_at

WINDOW, HORIZON = 24, 6
LENGTH = WINDOW + HORIZON


def _case(seed: int, first: int) -> tuple[np.ndarray, np.ndarray, int]:
    """A scaled series, its points' weights from ``first`` on and an origin whose window holds flagged points."""
    rng = np.random.default_rng(seed)
    n = 200
    z = rng.poisson(rng.choice([3, 50]), n).astype(float) / 7.0
    if seed // 6 % 2:
        z = np.round(z)  # ties among the points
    element = np.ones(n - first)
    origin = int(rng.integers(first + WINDOW, n - HORIZON + 1))
    start = origin - WINDOW
    pattern = seed % 6
    if pattern == 0:  # runs of 1-4 flagged points anywhere in the window
        for at in rng.choice(LENGTH, size=int(rng.integers(1, 5)), replace=False):
            span = int(rng.integers(1, 5))
            element[start - first + at : start - first + min(at + span, LENGTH)] = rng.choice([1e-10, 0.3, 0.99])
    elif pattern == 1:  # the window's last two points flagged (a run to its end)
        element[start - first + LENGTH - 2 : start - first + LENGTH] = 1e-10
    elif pattern == 2:  # every point flagged
        element[start - first : start - first + LENGTH] = 1e-6
    elif pattern == 3:  # the first two points flagged, the next one far or near
        element[start - first : start - first + 2] = 1e-10
        z[start + 2] = z[start + 2] if seed % 4 else 40.0
    elif pattern == 5:  # a burst the series comes back from, then a small flagged point followed by a far one
        at, later = int(rng.integers(0, LENGTH // 2 - 2)), int(rng.integers(LENGTH // 2, LENGTH - 1))
        element[[start - first + at, start - first + later]] = 1e-10
        z[start + at], z[start + later], z[start + later + 1] = 1e9, z[start + later] + 1.0, 100.0 + 50.0 * (seed % 4)
    else:  # a burst, the point after it set at the median, near it or far from it
        at = int(rng.integers(0, LENGTH - 1))
        element[start - first + at] = 1e-10
        z[start + at] = 2.0**32 - 1
        z[start + at + 1] = [np.median(z[start : start + LENGTH]), 1e9, 3.0 * z[start + at + 1]][seed % 3]
    return z, element, origin


@pytest.mark.parametrize("first", [0, 7])
@pytest.mark.parametrize("seed", range(60))
def test_one_window_is_settled_as_the_windows_are(seed, first):
    z, element, origin = _case(seed, first)
    origins = np.array([origin])
    inputs, targets = dlinear.windows_settled_at(z, origins, WINDOW, HORIZON, element, first)
    expected = dlinear.settled_windows(windows_at(z, origins, WINDOW), targets_at(z, origins, HORIZON),
                                       windows_at(element, origins - first, WINDOW),
                                       targets_at(element, origins - first, HORIZON))
    np.testing.assert_array_equal(inputs, expected[0])
    np.testing.assert_array_equal(targets, expected[1])
    assert inputs.shape == (1, WINDOW) and targets.shape == (1, HORIZON)
    # the same row where the window is settled among others (the sliding path)
    both = np.array([origin - 1, origin]) if origin - 1 - WINDOW >= first else np.array([origin, origin + 1])
    row = 1 if both[1] == origin else 0
    many = dlinear.windows_settled_at(z, both, WINDOW, HORIZON, element, first)
    np.testing.assert_array_equal(inputs[0], many[0][row])
    np.testing.assert_array_equal(targets[0], many[1][row])
    assert not np.shares_memory(inputs, z) and not np.shares_memory(targets, z)


@pytest.mark.parametrize("first", [0, 7])
@pytest.mark.parametrize("seed", range(60))
def test_one_window_is_weighed_as_the_blocks_weigh_it(seed, first):
    z, element, origin = _case(seed, first)
    origins = np.array([origin])
    weights = dlinear.settled_weights(element, z, origins, WINDOW, HORIZON, first)
    lowest = dlinear.window_weights(element, origins, WINDOW, HORIZON, first)
    expected = dlinear._settled_blocks(lowest.copy(), np.flatnonzero(lowest < 1.0), element, z, origins, WINDOW,
                                       HORIZON, first)
    np.testing.assert_array_equal(weights, expected)


def test_the_cases_reach_every_outcome():
    """The cases above hold windows settled (a share of their points), kept at their lowest weight, and wholly
    flagged: each branch of the one window's path is compared."""
    outcomes = set()
    for first in (0, 7):
        for seed in range(60):
            z, element, origin = _case(seed, first)
            origins = np.array([origin])
            lowest = float(dlinear.window_weights(element, origins, WINDOW, HORIZON, first)[0])
            weight = float(dlinear.settled_weights(element, z, origins, WINDOW, HORIZON, first)[0])
            clean = int((element[origin - WINDOW - first : origin + HORIZON - first] >= 1.0).sum())
            outcomes.add("none clean" if not clean else "settled" if weight > lowest else "kept")
    assert outcomes == {"none clean", "settled", "kept"}


@pytest.mark.parametrize("noisy", [False, True])
@pytest.mark.parametrize("seed", range(40))
def test_one_new_residual_is_judged_as_the_rows_are(seed, noisy):
    """``residual_deviations`` of an update's one new row in the block of the row before it, against the kept
    reference (``known``), judges it on its own: the deviation and reference it returns equal those of the same
    row judged with the row before it (the general path), for rows in every position of a block."""
    rng = np.random.default_rng(seed)
    m = int(rng.integers(dlinear.RESIDUAL_REFERENCE + 2, 3 * dlinear.RESIDUAL_REFERENCE))
    residuals = rng.standard_t(3, (m, HORIZON)) * rng.choice([0.01, 1.0, 100.0])
    residuals[rng.integers(m)] = 1e6  # a far window
    noise = rng.gamma(2.0, 1.0, m) if noisy else None
    first_origin = int(rng.integers(0, 40))
    start = m - 1
    if (first_origin + start) % dlinear.RESIDUAL_EVERY == 0:
        first_origin += 1  # the new row in the block of the one before it
    _, known = dlinear.residual_deviations(residuals[:start], start - 1, first_origin, None,
                                           None if noise is None else noise[:start])
    assert known is not None
    one, reference = dlinear.residual_deviations(residuals, start, first_origin, known, noise)
    two, _ = dlinear.residual_deviations(residuals, start - 1, first_origin, known if (
        first_origin + start - 1) % dlinear.RESIDUAL_EVERY else None, noise)
    np.testing.assert_array_equal(one, two[1:])
    assert reference is known
