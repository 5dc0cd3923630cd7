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


@pytest.mark.parametrize("factor", [0.2, 0.5, 5.0, 20.0])
def test_one_keys_level_shift_moves_the_others_no_more_than_a_new_draw_of_its_points(fitted, factor):
    """Key 0 (50 requests, 11.9 of them a scale) at ``factor`` times its level from the update on: keys 1-3's
    forecasts against the same update with key 0 unshifted. The reference is the same update with key 0's new points
    drawn again at its fitted level (its noise alone): the shift may move the others at most twice that. Unweighted,
    the shifted key's windows (17 and 76 of its scales out) weighed about level^2 ordinary windows in the shared base
    and moved key 1's forecast by 1.23 and 0.69 of its scales (a new draw: 0.055); at half its level (2.1 scales
    out), its windows reaching across the shift, read on either scale, moved it by 0.66 and 0.39."""
    unshifted = _updated(fitted, SERIES[0][FITTED:])
    redrawn = _updated(fitted, _periodic(FITTED + NEW, 50, 12, seed=11)[FITTED:])
    shifted = _updated(fitted, SERIES[0][FITTED:] * factor)
    assert _moved(fitted, shifted, unshifted) <= 2 * _moved(fitted, redrawn, unshifted)


@pytest.mark.parametrize("factor", [0.5, 5.0])
def test_a_key_whose_level_stays_shifted_is_scaled_again_and_the_others_keep_their_scaling(fitted, factor):
    """Key 0's 60 new buckets at ``factor`` times its level (2.1 and 17 of its scales out; a window and its targets:
    29) are its new scaling, as a fit on them would give (within a fifth: their sampling noise); keys 1-3 keep theirs
    exactly, and a key at its level keeps its. At half its level, its points swing across 2 of its scales (its
    period), and a rule asking each patch to sit past 2 never scaled it again."""
    shifted = _updated(fitted, SERIES[0][FITTED:] * factor)
    assert 0.8 * factor < shifted.scale_[0, 0] / fitted.scale_[0, 0] < 1.2 * factor
    assert 0.8 * factor < shifted.offset_[0, 0] / fitted.offset_[0, 0] < 1.2 * factor
    np.testing.assert_array_equal(shifted.scale_[1:], fitted.scale_[1:])
    np.testing.assert_array_equal(shifted.offset_[1:], fitted.offset_[1:])
    unshifted = _updated(fitted, SERIES[0][FITTED:])
    np.testing.assert_array_equal(unshifted.scale_, fitted.scale_)
    forecast = shifted.predict()[0][:, 0]
    actual = SERIES[0][-12:] * factor
    assert actual.min() * 0.7 < forecast.mean() < actual.max() * 1.3


def test_a_key_just_shifted_is_forecast_at_its_new_level_before_it_is_scaled_again(fitted):
    """Key 0's first 20 buckets at 3 times its level (8.4 of its scales out): too few for a window and its targets,
    so it keeps its scaling, and its newest window reaches back across the shift. The base's fitted map, which no
    window so far from its key's offset has fitted, forecast it below its old level; its forecast sits nearer the
    level of its new points than its old one (the level-following map, with the share the base's level weights
    take from such a window)."""
    new = SERIES[0][FITTED : FITTED + 20] * 3
    shifted = copy.deepcopy(fitted).update([new] + [None] * 3)
    assert shifted.offset_[0, 0] == fitted.offset_[0, 0]
    forecast = float(shifted.predict()[0][:, 0].mean())
    assert abs(forecast - new.mean()) < abs(forecast - fitted.offset_[0, 0])
