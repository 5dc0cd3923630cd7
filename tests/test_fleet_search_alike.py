"""The batched fleet search reads a window whose inputs are all alike (its map zero) as the single-series search
does: the penalty's floor read at alpha 1 (``windows_alike``), not ``(alpha t) / alpha``, which rounds above ``t``
for about 0.6 % of Gram traces ``t`` at the weak penalty (``EXACT_ALPHA``, 0.001). Read so, the batched search
scored such a window as the zero forecast (0.996 against the single search's 0.0034 on a clean 785-point cycle)
and a fleet key could choose other windows than the same series fitted alone."""

from __future__ import annotations

import numpy as np
import pytest

from workload_predictor.models import dlinear, dlinear_batched
from workload_predictor.models.dlinear import DEFAULT_WINDOWS, EXACT_ALPHA, FOLLOW_ALPHA

HORIZON = 10


@pytest.mark.parametrize("n, seed", [(785, 4), (822, 5), (1000, 5)])
def test_the_batched_search_zeroes_only_the_maps_of_windows_alike_as_the_single_one(n, seed):
    t = np.arange(n)
    y = 50 + 20 * np.sin(2 * np.pi * t / 24 + seed) + 10 * np.sin(2 * np.pi * t / 60)
    y = y + np.random.default_rng(seed).normal(0, 0.05, n)
    z = (y - y.mean()) / y.std()
    _, scores, penalties = dlinear_batched._search(z[None, :], 1, HORIZON, DEFAULT_WINDOWS, 25,
                                                   (FOLLOW_ALPHA, EXACT_ALPHA), 0.15, 100, 3, None)
    _, expected, _, alpha = dlinear._search_window(z[:, None], HORIZON, DEFAULT_WINDOWS, 25, (FOLLOW_ALPHA, EXACT_ALPHA),
                                                   0.15, 100, None, True)
    assert penalties[0] == alpha and scores[0].keys() == expected.keys()
    np.testing.assert_allclose([scores[0][w] for w in expected], list(expected.values()), rtol=1e-9)
