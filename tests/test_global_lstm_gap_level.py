"""A global LSTM fleet key whose zero-filled gaps are no level shift (``GlobalLSTM._level_rescaled``), replayed from
the fleet state machine (``tests/test_fleet_update_fuzz.py``), whose longer randomised runs found it (80 x 30).

k1 (Poisson around 120, a period of 45, ``window=24``) had 7 buckets zero-filled twice, 14 buckets apart, with a
trough of its period between them. Its newest window and targets then sat below its offset, and the points since the
first gap (the 14 zeros and the 15 counts among them, which average 91: 0.8 of its scales below it) averaged 2.1 of
its scales below it: past ``LEVEL_SHIFT``, so it was scaled again on them (offset 46.9 and scale 50.2 for a level of
120) and forecast [71 73 74] for counts of [162 175 180]. A fleet that saw corrupt counts in the trough read them at
their median (116 for 75 and 70) and was not scaled again, so the two fleets' k1 forecasts stood apart past the state
machine's bound (``RECOVERY_SHARE``). The rule reads the points outside runs of zero loads too (as the small-shift
rule does, ``tests/test_global_lstm_gap_rescale.py``); a key that drops to a level where zeros come in runs is still
scaled again.
"""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import pytest

from test_fleet_update_fuzz import CLEAN, FITTED, GlobalFleetUpdates, fitted_fleet, replayed, rows

SENTINEL = 2.0**32 - 1


def test_corrupt_counts_between_two_zero_filled_gaps():
    """The falsifying example (shrunk by hand from 30 steps to 6): the per-key fleets pass the same steps."""
    pytest.importorskip("torch")
    steps = [lambda state: state.gap(gap=7, key="k1"),
             lambda state: state.clean_rows(keys={"k1"}, buckets=1, shuffle=False, zone="UTC"),
             lambda state: state.corrupt_counts(buckets=2, key="k1", other=False, then=3, value=SENTINEL),
             lambda state: state.clean_rows(keys={"k1"}, buckets=4, shuffle=False, zone="UTC"),
             lambda state: state.corrupt_counts(buckets=1, key="k1", other=False, then=2, value=1e18),
             lambda state: state.gap(gap=7, key="k1")]

    def check(state):  # the case is the one found: k1's second gap, 10 clean buckets after its last corrupt one
        assert state.since["k1"] == 10

    replayed(GlobalFleetUpdates, steps, check)


def updated(fleet, key: str, values: np.ndarray, skipped: tuple[int, ...]) -> None:
    """``fleet`` updated with one row of ``key`` a bucket, its ``values`` from ``FITTED`` on, the buckets at
    ``skipped`` left out (zero-filled by the next row)."""
    for bucket in range(FITTED, FITTED + len(values)):
        if bucket - FITTED not in skipped:
            fleet.update(rows(key, [bucket], values=[values[bucket - FITTED]]))


def test_two_zero_filled_gaps_beside_a_trough_are_not_a_level_shift():
    """k1's clean counts, 7 buckets skipped twice as in the replay, then 6 rows: its scaling is the fitted one."""
    pytest.importorskip("torch")
    fleet = copy.deepcopy(fitted_fleet("global"))
    model = fleet._global.model
    i = list(model.keys_).index("k1")
    fitted = float(model.offset_[i][0]), float(model.scale_[i][0])
    gaps = (*range(0, 7), *range(21, 28))
    updated(fleet, "k1", CLEAN["k1"][FITTED : FITTED + 34], gaps)
    model = fleet._global.model
    assert (float(model.offset_[i][0]), float(model.scale_[i][0])) == fitted


def test_a_key_dropped_to_a_level_with_runs_of_zeros_is_scaled_again():
    """k1 at 1 % of its counts (Poisson around 1.2, drawn again: runs of zeros among its counts, 3.4 scales below its
    offset) is scaled again to about its new level within a window and its targets; its other keys' rows go on."""
    pytest.importorskip("torch")
    fleet = copy.deepcopy(fitted_fleet("global"))
    model = fleet._global.model
    i = list(model.keys_).index("k1")
    fitted = float(model.offset_[i][0])
    low = np.random.default_rng(0).poisson(CLEAN["k1"][FITTED : FITTED + 40] * 0.01).astype(float)
    zero = low == 0
    assert (zero[1:] & zero[:-1]).sum() >= 3  # the case: zeros in runs
    for step, bucket in enumerate(range(FITTED, FITTED + 40)):
        fleet.update(pd.concat([rows("k0", [bucket]), rows("k1", [bucket], values=[low[step]]), rows("k2", [bucket])],
                               ignore_index=True))
    offset = float(fleet._global.model.offset_[i][0])
    assert offset < 0.1 * fitted, (offset, fitted)
