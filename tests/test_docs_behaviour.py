"""What docs/updates-and-limits.md and docs/bad-samples.md say an SRE gets, run: each test names the page's claim.

Small series with fixed seeds (well under a second each); the figures the pages quote come from the scripts they name.
"""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import pytest

from workload_predictor import UpdateGapError, WorkloadDataError, WorkloadPredictor

FREQ = pd.Timedelta("10s")
START = pd.Timestamp("2024-03-01", tz="UTC")


def _frame(values: np.ndarray, start: pd.Timestamp = START) -> pd.DataFrame:
    return pd.DataFrame({"timestamp": pd.date_range(start, periods=len(values), freq=FREQ),
                         "requests": np.asarray(values, dtype=float)})


def _fitted(**params) -> WorkloadPredictor:
    values = np.random.default_rng(0).poisson(50, 300)
    return WorkloadPredictor(model="naive", horizon=5, **params).fit(_frame(values))


# -- bad-samples.md, "Timestamps": epochs stored as a float narrower than float64 ---------------------------------


@pytest.mark.parametrize("call", ["fit", "update"])
def test_float16_epochs_are_a_typed_error_naming_the_dtype(call):
    """"Epochs stored as float32 (or float16) are refused where the dtype's step at their magnitude is coarser than
    1 ms". Before: float16 stamps raised pandas' bare ``NotImplementedError: float16 indexes are not supported``, at fit
    and at update, whatever their magnitude: no ValueError, and nothing said what to do."""
    offsets = (np.arange(300) * 10).astype(np.float16)  # seconds after an origin: float16 holds every 2 s near 2,990
    if call == "fit":
        frame = pd.DataFrame({"timestamp": offsets, "requests": 1.0})
        with pytest.raises(WorkloadDataError, match=r"float16 epochs, which near 2990 \(s\) hold only every 2s"):
            WorkloadPredictor(model="naive", horizon=5).fit(frame, unit="s", origin=START)
    else:
        predictor = _fitted()
        # The next bucket's epoch seconds (1.7e9) overflow float16 (largest 65,504): a float16 copy holds inf.
        row = pd.DataFrame({"timestamp": np.full(1, np.inf, dtype=np.float16), "requests": [1.0]})
        with pytest.raises(WorkloadDataError, match="not a timestamp"):
            predictor.update(row)
        assert predictor.n_updates_ == 0


def test_float16_offsets_whose_step_is_fine_enough_are_read():
    """Offsets small enough for float16 to hold every millisecond (below 2 s) read as the same numbers in float64."""
    offsets = np.arange(32) / 16  # 62.5 ms buckets up to 1.94 s: exact in float16, whose step there is 0.98 ms
    got = WorkloadPredictor(model="naive", horizon=1).fit(
        pd.DataFrame({"timestamp": offsets.astype(np.float16), "requests": 1.0}), unit="s", origin=START)
    want = WorkloadPredictor(model="naive", horizon=1).fit(
        pd.DataFrame({"timestamp": offsets, "requests": 1.0}), unit="s", origin=START)
    assert got.series_.index.equals(want.series_.index)


# -- updates-and-limits.md, "update": max_gap counts the buckets a row would zero-fill -------------------------------


@pytest.mark.parametrize("max_gap, message", [
    (5, "is 7 buckets after the last fitted bucket (buckets of 10s): the 6 buckets between would be zero-filled, "
        "more than max_gap=5"),
    ("1min", "is 1min 20s after the last fitted bucket (8 buckets of 10s): the 1min 10s between (7 buckets) would "
             "be zero-filled, more than max_gap='1min' (6 buckets)"),
])
def test_max_gap_bounds_the_skipped_buckets_and_names_the_gap_in_its_own_unit(max_gap, message):
    """"A run of more than max_gap skipped buckets ... raises UpdateGapError; its message gives the gap in the unit
    max_gap was given in": a row max_gap + 1 buckets ahead (max_gap zero buckets) is accepted, one more is not, and the
    predictor is unchanged."""
    predictor = _fitted(max_gap=max_gap)
    last, limit = predictor.last_timestamp_, 6 if max_gap == "1min" else max_gap
    refused = copy.deepcopy(predictor)
    with pytest.raises(UpdateGapError) as caught:
        refused.update(pd.DataFrame({"timestamp": [last + (limit + 2) * FREQ], "requests": [1.0]}))
    assert message in str(caught.value) and message in caught.value.finding
    assert refused.last_timestamp_ == last and refused.n_updates_ == 0
    predictor.update(pd.DataFrame({"timestamp": [last + (limit + 1) * FREQ], "requests": [1.0]}))
    assert (predictor.series_.values[-(limit + 1):, 0] == [0.0] * limit + [1.0]).all()
