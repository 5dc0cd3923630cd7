"""A DLinear fleet whose fit a time limit cut short (its input-anomaly scan among the stages) forecasts the same
after save and load (found by tests/test_save_load_property.py).

Known defect, not fixed here: the loaded fleet forecasts otherwise. The fit's flags came from a scan the deadline
cut short; the loaded fleet's forecast scans the key's series again without a deadline (fleet._settled_rows), finds
other flagged buckets and settles other inputs. Strict xfail: it fails loudly once fixed, so the mark goes with the fix.
"""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest

from tests.test_save_load_property import START, loads
from workload_predictor import FleetPredictor, _deadline

def sparse_bursts(n: int = 150, seed: int = 1) -> pd.DataFrame:
    """The property test's key ('sparse_bursts', 150 buckets from START) drawn with ``seed``, 1 s buckets."""
    rng = np.random.default_rng(seed)
    scale, bursts = float(rng.choice([0.3, 5.0, 200.0])), str(rng.choice(["none", "anywhere", "early"]))
    y = loads("sparse_bursts", n, rng, scale, bursts)
    return pd.DataFrame({"endpoint": "k0", "timestamp": START + pd.Timedelta("1s") * np.arange(n), "requests": y})


@pytest.mark.xfail(strict=True, reason="a loaded fleet rescans a time-limited fit's series without the deadline")
def test_a_fleet_fit_cut_by_its_time_limit_forecasts_the_same_after_save_and_load(tmp_path):
    clock = itertools.count()
    fleet = FleetPredictor(horizon=5, random_state=0, max_training_time=1.0)
    with _deadline.limit(None, clock=lambda: float(next(clock))):  # one tick per reading: the limit cuts the fit
        fleet.fit(sparse_bursts(), key="endpoint")
    assert "input-anomaly chains" in fleet.time_limited_stages_  # the case
    loaded = FleetPredictor.load(fleet.save(tmp_path / "fleet.wpm"))
    pd.testing.assert_frame_equal(loaded.predict(), fleet.predict())
