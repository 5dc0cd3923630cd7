"""A known limit of the global LSTM fleet, kept as a strict xfail (review h200): a Poisson key whose level moves by
less than 2 of its scales moves the other keys' forecasts by several times what a new draw of its points does.

Four keys of Poisson counts around 20 +- 10 (a 31-bucket period; a scale of 8.8 requests) read in 24-bucket
windows: key 0 at half its level for an update of 60 buckets is 1.1 of its scales below its offset, within
``LEVEL_SHIFT`` (2), so it is not scaled again; and its windows' means swing with the period by 0.33 of its
scale, so 6 of those spreads (``LEVEL_SPREADS``) reach 2.003 scales and the small-shift rule does not read it either.
Its 60 windows join the shared base as ordinary ones, 1.1 scales off, and move keys 1-3's forecasts by 9.3 times
what a new draw of its points moves them (over seeds 0-3 and shifts of 0.3 to 2 times its level: 3 to 26 times;
0 and 3 times, which are scaled again, stay within 2). tests/test_global_level_shift.py's keys (lognormal noise of
0.1) sit 2.1 scales out at half their level, past ``LEVEL_SHIFT``."""

from __future__ import annotations

import copy

import numpy as np
import pytest

from workload_predictor.models.global_lstm import GlobalLSTM

pytest.importorskip("torch")

FITTED, NEW = 200, 60


def _moved(model: GlobalLSTM, a: GlobalLSTM, b: GlobalLSTM) -> float:
    """The largest change between two updates' forecasts of keys 1-3, in each key's fitted scales."""
    return max(float(np.abs(p - q).max() / model.scale_[i, 0])
               for i, (p, q) in enumerate(zip(a.predict(), b.predict())) if i)


@pytest.mark.xfail(strict=True, raises=AssertionError, reason=(
    "known limit: a Poisson key's level shift within 2 scales joins the shared base as ordinary windows "
    "(see the module)"))
def test_a_poisson_keys_shift_within_two_scales_moves_the_others_no_more_than_a_new_draw():
    t = np.arange(FITTED + NEW)
    rng = np.random.default_rng(0)
    series = [rng.poisson(20 + 10 * np.sin(t / 5)).astype(float) for _ in range(4)]
    fitted = GlobalLSTM(horizon=3, window=24, max_epochs=1, random_state=0).fit([y[:FITTED] for y in series])

    def updated(first: np.ndarray) -> GlobalLSTM:
        return copy.deepcopy(fitted).update([first] + [y[FITTED:] for y in series[1:]])

    unshifted = updated(series[0][FITTED:])
    redrawn = updated(np.random.default_rng(100).poisson(20 + 10 * np.sin(t / 5)).astype(float)[FITTED:])
    shifted = updated(np.round(series[0][FITTED:] * 0.5))
    assert 1.0 < 10 / fitted.scale_[0, 0] < 2.0  # 10 requests down: 1.13 of its scales, within LEVEL_SHIFT
    assert _moved(fitted, shifted, unshifted) <= 2 * _moved(fitted, redrawn, unshifted)
