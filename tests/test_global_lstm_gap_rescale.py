"""A global LSTM fleet key whose zero-filled gap is no small level shift (``GlobalLSTM._shift_rescaled``), replayed
from the fleet state machine (``tests/test_fleet_update_fuzz.py``), whose randomised profile found it (review h170).

k2 (Poisson around 8, a period of 20, ``window=24``) had 6-8 buckets zero-filled; its counts are too few for the
zeros to be lost buckets (``docs/bad-samples.md``), so they are loads of 0. With a trough of its period before them,
every window since the least-squares step of its kept points sits past its level-shift limit (6 ``level_spread_``,
0.98 of its scales) though the series came back after the gap: read with its zeros, it was scaled again on the
trough, the zeros and the 8 buckets after them (offset 4.56 for a level of 8.5) and stayed on that scale, its 3-bucket
forecasts' summed absolute error over the next 120 buckets 20 % above that of the same fleet without that rule. A
fleet that saw corrupt counts beside the gap read them at their median for the step and left them out of the new
scale, so it was scaled again a bucket earlier and lower (offset 3.00 against the clean fleet's 4.32), and the two
fleets' k2 forecasts stayed apart past the state machine's bound (``RECOVERY_SHARE``). The rule reads each window's
points outside runs of zero loads too; a single zero is one of a key's counts, and a key halved with a few of them
is still scaled again.
"""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import pytest

from test_fleet_update_fuzz import CLEAN, FITTED, KEYS, GlobalFleetUpdates, fitted_fleet, replayed, rows, stamp

def test_corrupt_counts_around_a_zero_filled_gap():
    """The falsifying example (shrunk by hand): the per-key fleets pass the same steps."""
    pytest.importorskip("torch")
    steps = [lambda state: state.corrupt_counts(buckets=3, key="k2", other=True, then=0, value=4294967295.0),
             lambda state: state.gap(gap=8, key="k2"),
             # checks recovered_from_corrupt_counts after each of its 3 clean buckets
             lambda state: state.corrupt_counts(buckets=3, key="k2", other=False, then=3, value=4294967295.0)]

    def check(state):  # the case is the one found: 3 clean buckets after k2's corrupt ones
        assert state.since["k2"] == 3

    replayed(GlobalFleetUpdates, steps, check)


def test_a_zero_filled_gap_is_not_a_level_shift():
    """k2's offset 30 buckets after 7 zero-filled ones (a row after them, then one row a bucket) is within its
    level-shift limit (``LEVEL_SPREADS`` of its ``level_spread_``) of its fitted offset: the series came back."""
    pytest.importorskip("torch")
    from workload_predictor.models.global_lstm import LEVEL_SPREADS

    fleet = copy.deepcopy(fitted_fleet("global"))
    model = fleet._global.model
    i = list(model.keys_).index("k2")
    fitted_offset, spread = float(model.offset_[i][0]), float(model.level_spread_[i][0])
    position = FITTED + 3 + 7  # 3 clean buckets of every key, then 7 of k2 skipped
    fleet.update(pd.concat([rows(key, range(FITTED, FITTED + 3)) for key in KEYS], ignore_index=True))
    fleet.update(rows("k2", [0], values=[CLEAN["k2"][position]], timestamps=[stamp(position)]))
    for step in range(1, 31):
        fleet.update(rows("k2", [position + step]))
    offset = float(fleet._global.model.offset_[i][0])
    assert np.abs(offset - fitted_offset) <= LEVEL_SPREADS * spread, (offset, fitted_offset, spread)


def test_a_key_halved_with_single_zeros_among_its_counts_is_scaled_again():
    """k2 at half its counts (Poisson drawn again: zeros at its 1st and 8th new buckets, none in a row), every key one
    row a bucket: its single zeros are counts of its new level, and it is scaled again to about half its offset
    within 20 buckets. Read without any zero, its windows after the step sat within its limit and it was not."""
    pytest.importorskip("torch")
    fleet = copy.deepcopy(fitted_fleet("global"))
    model = fleet._global.model
    i = list(model.keys_).index("k2")
    fitted_offset = float(model.offset_[i][0])
    halved = np.random.default_rng(0).poisson(CLEAN["k2"] * 0.5).astype(float)
    assert list(np.flatnonzero(halved[FITTED : FITTED + 20] == 0)) == [0, 7]  # the case: single zeros
    for bucket in range(FITTED, FITTED + 20):
        fleet.update(pd.concat([rows("k0", [bucket]), rows("k1", [bucket]), rows("k2", [bucket], values=[halved[bucket]])],
                               ignore_index=True))
    offset = float(fleet._global.model.offset_[i][0])
    assert 0.4 < offset / fitted_offset < 0.6, (offset, fitted_offset)
