"""DLinear's window search solves each ridge system once.

A series whose validation tail favours the weak penalty is scored again with it at every candidate window; its
best window was already solved with that penalty by the trial that decided the switch, and that solution is
reused (the same system, the same numbers), in the single-series search and in the fleet's batched one.
"""

from __future__ import annotations

import numpy as np
import pytest

from workload_predictor.models import dlinear, dlinear_batched
from workload_predictor.models.dlinear import DEFAULT_WINDOWS, EXACT_ALPHA, FOLLOW_ALPHA


def _clean_cycle(n: int, seed: int) -> np.ndarray:
    """A cycle with little noise: the validation tail favours the weak penalty (``EXACT_ALPHA``)."""
    t = np.arange(n)
    rng = np.random.default_rng(seed)
    return 50 + 20 * np.sin(2 * np.pi * t / 24 + seed) + 10 * np.sin(2 * np.pi * t / 60) + rng.normal(0, 0.05, n)


def _noisy(n: int, seed: int) -> np.ndarray:
    """Poisson counts: the default penalty (``FOLLOW_ALPHA``) stays."""
    return np.random.default_rng(seed).poisson(50, n).astype(float)


def _scaled(y: np.ndarray) -> np.ndarray:
    return (y - y.mean()) / y.std()


@pytest.fixture
def solved(monkeypatch):
    """Every ridge system ``np.linalg.solve`` is given, one entry per series: ``(system bytes, rhs bytes)``."""
    systems: list[tuple[bytes, bytes]] = []
    original = np.linalg.solve

    def recording(a, b):
        a, b = np.asarray(a), np.asarray(b)
        for system, rhs in zip(a.reshape(-1, *a.shape[-2:]), b.reshape(-1, *b.shape[-2:])):
            systems.append((system.tobytes(), rhs.tobytes()))
        return original(a, b)

    monkeypatch.setattr(np.linalg, "solve", recording)
    return systems


def test_the_search_solves_no_ridge_system_twice_when_the_penalty_switches(solved):
    z = _scaled(_clean_cycle(1000, 0))[:, None]
    best, scores, _, alpha = dlinear._search_window(z, 10, DEFAULT_WINDOWS, 25, (FOLLOW_ALPHA, EXACT_ALPHA), 0.15,
                                                    100, None, True)
    assert alpha == EXACT_ALPHA and len(scores) > 2  # switched: every candidate scored again with it
    repeated = len(solved) - len(set(solved))
    assert repeated == 0, f"{repeated} of {len(solved)} ridge systems were solved again"


def test_the_fleet_search_solves_no_ridge_system_twice_when_some_penalties_switch(solved):
    series = [_clean_cycle(1000, 1), _noisy(1000, 2), _clean_cycle(1000, 3), _noisy(1000, 4), _clean_cycle(1000, 5)]
    z = np.stack([_scaled(y) for y in series])  # [B*k, n], one target each
    weights, scores, penalties = dlinear_batched._search(z, 1, 10, DEFAULT_WINDOWS, 25, (FOLLOW_ALPHA, EXACT_ALPHA),
                                                         0.15, 100, 3, None)
    assert set(penalties) == {FOLLOW_ALPHA, EXACT_ALPHA}  # some switched, some did not
    repeated = len(solved) - len(set(solved))
    assert repeated == 0, f"{repeated} of {len(solved)} ridge systems (one per series) were solved again"
    # Each series' search is the single-series one: the same penalty and window scores (up to rounding).
    for row, penalty, by_window in zip(z, penalties, scores):
        _, expected, _, alpha = dlinear._search_window(row[:, None], 10, DEFAULT_WINDOWS, 25,
                                                       (FOLLOW_ALPHA, EXACT_ALPHA), 0.15, 100, None, True)
        assert penalty == alpha and by_window.keys() == expected.keys()
        np.testing.assert_allclose([by_window[w] for w in expected], list(expected.values()), rtol=1e-9)
