"""A key of the fleet state machine (``tests/test_fleet_update_fuzz.py``) after a zero-filled gap, one corrupt count and
clean buckets: the falsifying example its randomised profile found, replayed rule by rule (review h156).

k2 (a level of 8) had 7 buckets zero-filled, then a row, then one count of 2**32-1 (flagged), then 6 clean buckets.
Its newest windows' means then sit past its level-shift limit (``level_spread_``), so the twin fleet fed the real
count is scaled again (``GlobalLSTM._shift_rescaled``). The fleet that saw the sentinel read its levels from the raw
points, where the sentinel's windows stand 5e7 scales out: it was not scaled again, and forecast k2 60-70 % above the
twin 6 buckets after the corrupt count, where ``docs/bad-samples.md`` promises a flagged count moves the forecast for
the buckets it lasted only. A key's levels are read from its points as a forecast reads them: the sentinel at the
median of the buckets before it. The per-key fleets (DLinear, refit and incremental) replay the same steps.
"""

from __future__ import annotations

import pytest

from test_fleet_update_fuzz import GlobalFleetUpdates, IncrementalFleetUpdates, RefitFleetUpdates, replayed


@pytest.mark.parametrize("machine", [GlobalFleetUpdates, RefitFleetUpdates, IncrementalFleetUpdates],
                         ids=["global", "refit", "incremental"])
def test_zero_filled_gap_then_one_sentinel(machine):
    if machine is GlobalFleetUpdates:
        pytest.importorskip("torch")
    steps = [lambda state: state.clean_stretch(buckets=3),
             lambda state: state.gap(gap=7, key="k2"),
             # checks recovered_from_corrupt_counts after each of its 6 clean buckets
             lambda state: state.corrupt_counts(buckets=1, key="k2", other=False, then=6, value=4294967295.0)]

    def check(state):  # the case is the one found: 6 clean buckets after k2's corrupt one
        assert state.since["k2"] == 6

    replayed(machine, steps, check)
