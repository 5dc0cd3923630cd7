"""A global LSTM's update where one key's level shifts: the other keys' forecasts stay theirs (review h106's lead)."""

from __future__ import annotations

import copy

import numpy as np
import pytest

from workload_predictor.models.global_lstm import GlobalLSTM

FITTED, NEW = 300, 60  # buckets fitted, then one update


def _periodic(n: int, level: float, period: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return level * (1 + 0.3 * np.sin(2 * np.pi * np.arange(n) / period)) * rng.lognormal(0, 0.1, n)


SERIES = [_periodic(FITTED + NEW, level, period, seed)
          for seed, (level, period) in enumerate([(50, 12), (5, 24), (800, 36), (20000, 12)])]


@pytest.fixture(scope="module")
def fitted() -> GlobalLSTM:
    return GlobalLSTM(horizon=5, window=24, hidden_size=4, max_epochs=1, random_state=0).fit(
        [y[:FITTED] for y in SERIES])


def _updated(model: GlobalLSTM, first_key_new: np.ndarray) -> GlobalLSTM:
    new = [y[FITTED:] for y in SERIES]
    return copy.deepcopy(model).update([first_key_new] + new[1:])


def _moved(model: GlobalLSTM, a: GlobalLSTM, b: GlobalLSTM) -> float:
    """The largest change between two updates' forecasts of keys 1-3, in each key's fitted scales."""
    return max(float(np.abs(p - q).max() / model.scale_[i, 0])
               for i, (p, q) in enumerate(zip(a.predict(), b.predict())) if i)


@pytest.mark.parametrize("factor", [5.0, 20.0])
def test_one_keys_level_shift_moves_the_others_no_more_than_a_new_draw_of_its_points(fitted, factor):
    """Key 0 (50 requests, 11.9 of them a scale) at ``factor`` times its level from the update on: keys 1-3's
    forecasts against the same update with key 0 unshifted. The reference is the same update with key 0's new points
    drawn again at its fitted level (its noise alone): the shift may move the others at most twice that. Before,
    the shifted key's windows (17 and 76 of its scales out) weighed about level^2 ordinary windows in the shared
    base and moved key 1's forecast by 1.23 and 0.69 of its scales (a new draw: 0.055)."""
    unshifted = _updated(fitted, SERIES[0][FITTED:])
    redrawn = _updated(fitted, _periodic(FITTED + NEW, 50, 12, seed=11)[FITTED:])
    shifted = _updated(fitted, SERIES[0][FITTED:] * factor)
    assert _moved(fitted, shifted, unshifted) <= 2 * _moved(fitted, redrawn, unshifted)


def test_a_key_whose_level_stays_shifted_is_scaled_again_and_the_others_keep_their_scaling(fitted):
    """Key 0's 60 new buckets at 5 times its level (a window and its targets: 29) are its new scaling, as a fit on
    them would give (within their sampling noise); keys 1-3 keep theirs exactly, and a key at its level keeps its."""
    shifted = _updated(fitted, SERIES[0][FITTED:] * 5)
    assert 4 < shifted.scale_[0, 0] / fitted.scale_[0, 0] < 6
    assert 4 < shifted.offset_[0, 0] / fitted.offset_[0, 0] < 6
    np.testing.assert_array_equal(shifted.scale_[1:], fitted.scale_[1:])
    np.testing.assert_array_equal(shifted.offset_[1:], fitted.offset_[1:])
    unshifted = _updated(fitted, SERIES[0][FITTED:])
    np.testing.assert_array_equal(unshifted.scale_, fitted.scale_)
    forecast = shifted.predict()[0][:, 0]
    actual = SERIES[0][-12:] * 5
    assert actual.min() * 0.7 < forecast.mean() < actual.max() * 1.3


@pytest.mark.xfail(strict=True, reason="review h111: a moderate shift (2 of its scales, factor 0.5) in one large "
                   "update still moves another key by 0.66 of its scales: the windows past LEVEL_SHIFT weigh up to "
                   "LEVEL_SHIFT^2 ordinary windows along the level, which the ordinary windows hardly determine")
def test_a_moderate_shift_in_one_update_moves_the_others_no_more_than_a_new_draw(fitted):
    unshifted = _updated(fitted, SERIES[0][FITTED:])
    redrawn = _updated(fitted, _periodic(FITTED + NEW, 50, 12, seed=11)[FITTED:])
    shifted = _updated(fitted, SERIES[0][FITTED:] * 0.5)
    assert _moved(fitted, shifted, unshifted) <= 2 * _moved(fitted, redrawn, unshifted)
