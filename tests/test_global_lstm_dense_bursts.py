"""A global LSTM key whose input window is a third corrupt counts recovers: each burst is read between its neighbours.

The fleet state machine (``tests/test_fleet_update_fuzz.py``) asks a key's forecast, ``horizon`` clean buckets after
its last corrupt count, to lie within ``RECOVERY_SHARE`` of the clean fleet's (half its mean, plus one request). A
100 x 40 run found a sequence of seven ``corrupt_counts`` rules on k2 (Poisson around 8 cycling +-40 % with a period
of 20, ``window=24``) that broke it (v0.40.0 to 0.43.0): 8 of k2's 24 window inputs are corrupt buckets from three
bursts, where the real counts were a trough ``[3 7 6]`` and a peak ``[15 16 12]`` of its period. Read at the median of
the buckets before each (a flat 7), the forecast was [8.3 7.3 7.8] against the clean fleet's [8.3 5.1 3.7], bound 3.8,
difference 4.1. Neither the key's scaling nor the shared base moves it (swapping the two fleets' bases moves either
forecast by at most 0.25): the gap was the flat reading, over a third of the window. The global LSTM reads a burst
the series came back from between the bucket before it and the bucket after it, from its median towards them as the
key's ordinary buckets correlate at lag 1 (``anomaly.bridged``, about 0.4 here: ``[4.9 6.4 7.5]`` and
``[6.5 7.8 9.6]``): the forecast [8.2 7.1 7.1], difference 3.4 (the straight line across each would give 2.8, the
real counts in their place 0.2; a line across a burst of 20 of a 24-bucket period widens the interval more than the
median, ``anomaly.bridged``'s reading does not). The per-key (refit and incremental) fleets pass the same steps.
"""

from __future__ import annotations

import pytest

from test_fleet_update_fuzz import GlobalFleetUpdates, replayed

SENTINEL, HUGE = 2.0**32 - 1, 1e12


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
