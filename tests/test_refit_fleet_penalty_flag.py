"""A DLinear key's penalty search reads a flagged count as the fit's own validation does: settled.

The window search scores the candidate windows and penalties on the validation tail of the series it fits; a
window there holding a flagged count (a sentinel of 2**32 - 1 the series came back from) reads it at its reference
median, as the fit's validation windows read it (``models.base.evaluated_series``; a batched fleet's settled
series). Read raw, the sentinel's errors (about 1e7 scales) outweighed every other window's, no other penalty was
ever significantly better, and a refit key's penalty flipped from 0.001 to 1.0 for as long as the sentinel sat in
its search's validation tail (review h170): one bad sample changed the refit model long after it was settled.

The case is the fleet state machine's k1 (``tests/test_fleet_update_fuzz.py``): one corrupt count at its first
bucket after the fit, then the clean counts. Its clean twin, given the real count, chooses the penalty the key must
choose too.
"""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import pytest

from test_fleet_update_fuzz import CLEAN, FITTED, HORIZON, fitted_fleet, rows, stamp
from workload_predictor import WorkloadPredictor
from workload_predictor.models import dlinear_batched

SENTINEL = 4294967295.0


def k1_update(end: int, corrupt: bool) -> pd.DataFrame:
    """k1's buckets from the fit's end up to ``end``, the first one a sentinel where ``corrupt``."""
    positions = np.arange(FITTED, end)
    values = CLEAN["k1"][positions].copy()
    if corrupt:
        values[0] = SENTINEL
    return rows("k1", positions, values)


# 188 and 192: the sentinel is 28 and 32 buckets back, in the search's validation tail, and the clean twin's
# search takes the lower penalty (at 186, 187, 190 and 195 it keeps the first, which a raw sentinel kept too)
@pytest.mark.parametrize("end", [188, 192])
def test_a_refit_key_chooses_the_penalty_its_clean_twin_does(end, monkeypatch):
    fitted, chosen = fitted_fleet("refit"), []  # fitted first: the updates' searches alone are recorded
    search = dlinear_batched._search

    def recorded(*args, **kwargs):
        found = search(*args, **kwargs)
        chosen.append(found[2].tolist())
        return found

    monkeypatch.setattr(dlinear_batched, "_search", recorded)
    forecasts = []
    for corrupt in (True, False):
        fleet = copy.deepcopy(fitted)
        fleet.update(k1_update(end, corrupt))  # k1's refit alone: one series searched
        forecast = fleet.predict()
        forecasts.append(forecast.loc[forecast["endpoint"] == "k1", "yhat"].to_numpy())
    burst, clean = chosen
    assert len(burst) == 1 and burst == clean, (end, burst, clean)
    assert np.isfinite(forecasts[0]).all() and len(forecasts[0]) == HORIZON


def test_a_dlinear_fit_chooses_the_penalty_its_clean_twin_does():
    """The same series to a ``WorkloadPredictor``: its newest 160 buckets ending 32 after the sentinel."""
    end = 192
    positions = np.arange(end - FITTED, end)
    fitted = []
    for corrupt in (True, False):
        values = CLEAN["k1"][positions].copy()
        if corrupt:
            values[FITTED - positions[0]] = SENTINEL  # at position FITTED, as in the fleet's update
        fitted.append(WorkloadPredictor(model="dlinear", horizon=HORIZON).fit(
            pd.DataFrame({"timestamp": stamp(positions), "requests": values})).model_)
    burst, clean = fitted
    assert burst.alpha_ == clean.alpha_, (burst.alpha_, clean.alpha_)
    assert burst.window_ == clean.window_
