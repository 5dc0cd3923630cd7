"""A known limit of the global LSTM fleet, kept as a strict xfail: a key whose input window is a third corrupt counts.

The fleet state machine (``tests/test_fleet_update_fuzz.py``) asks a key's forecast, ``horizon`` clean buckets after
its last corrupt count, to lie within ``RECOVERY_SHARE`` of the clean fleet's (half its mean, plus one request). A
100 x 40 run found a sequence of seven ``corrupt_counts`` rules on k2 (Poisson around 8.5, a period of 45,
``window=24``) that breaks it, on v0.40.0 as after: 8 of k2's 24 window inputs are corrupt buckets from three bursts,
each read at the median of the buckets before it (7), where the real counts were a trough ``[3 7 6]`` and a peak
``[15 16 12]`` of its period. Neither the key's scaling nor the shared base moves (swapping the two fleets' bases
moves either forecast by at most 0.25): the gap is the flat median the bursts are read at, as documented for one
burst (the invariant's tolerance), here with a third of the window read so. The forecast [8.3 7.3 7.8] against the
clean fleet's [8.3 5.1 3.7], bound 3.8, difference 4.1; the counts that came were [12 8 3]. The per-key (refit and
incremental) fleets pass the same steps. Reading a burst by its period's shape instead of a flat median would close
it; until then this test records the case and fails (XPASS, strict) once it holds.
"""

from __future__ import annotations

import pytest

from test_fleet_update_fuzz import GlobalFleetUpdates, replayed

SENTINEL, HUGE = 2.0**32 - 1, 1e12


@pytest.mark.xfail(strict=True, raises=AssertionError,
                   reason="known limit: a third of a key's window read at a flat median (see the module)")
def test_three_bursts_on_a_peak_and_a_trough_of_a_global_key():
    pytest.importorskip("torch")
    steps = [lambda s: s.corrupt_counts(buckets=3, key="k2", other=True, then=3, value=HUGE),
             lambda s: s.corrupt_counts(buckets=2, key="k2", other=False, then=1, value=SENTINEL),
             lambda s: s.corrupt_counts(buckets=2, key="k2", other=False, then=6, value=SENTINEL),
             lambda s: s.corrupt_counts(buckets=3, key="k2", other=True, then=0, value=SENTINEL),
             lambda s: s.corrupt_counts(buckets=1, key="k2", other=True, then=2, value=HUGE),
             lambda s: s.corrupt_counts(buckets=1, key="k1", other=True, then=2, value=HUGE),
             lambda s: s.corrupt_counts(buckets=3, key="k2", other=True, then=6, value=HUGE)]
    replayed(GlobalFleetUpdates, steps, lambda state: None)
