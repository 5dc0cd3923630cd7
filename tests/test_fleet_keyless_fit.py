"""A fleet's fit leaves out rows without a key and reports them in ``errors_`` under the key ``None``, as its
update reports them in ``update_errors_``; ``strict=True`` refuses them."""
import numpy as np
import pandas as pd
import pytest

from workload_predictor import FleetPredictor
from workload_predictor.errors import NoKeyFittedError, WorkloadDataError


def _frame(n=200):
    stamps = pd.date_range("2024-01-01", periods=n, freq="1min", tz="UTC")
    rng = np.random.default_rng(0)
    parts = [pd.DataFrame({"key": name, "timestamp": stamps, "requests": rng.poisson(50 + 10 * i, n).astype(float)})
             for i, name in enumerate(["a", "b"])]
    return pd.concat(parts, ignore_index=True)


@pytest.mark.parametrize("missing", [None, np.nan])
def test_fit_leaves_out_rows_without_a_key_and_reports_them_under_none(tmp_path, missing):
    clean = _frame().astype({"key": object})
    keyless = clean.iloc[[0]].assign(key=missing)  # one endpoint's row that lost its key
    data = pd.concat([clean.iloc[:5], keyless, clean.iloc[5:250], keyless, clean.iloc[250:]], ignore_index=True)
    before = data.copy()
    fleet = FleetPredictor(horizon=5).fit(data)
    pd.testing.assert_frame_equal(data, before)  # the caller's frame is not written
    assert fleet.keys_ == ["a", "b"]
    assert list(fleet.errors_) == [None]
    message = str(fleet.errors_[None])
    assert "missing at 2 rows (the first: row 5 of the frame)" in message and "other keys fitted" in message
    # The keys are fitted on their own rows: as a fit on the frame without the keyless rows.
    expected = FleetPredictor(horizon=5).fit(clean).predict()
    pd.testing.assert_frame_equal(fleet.predict(), expected)
    health = fleet.health()
    assert list(health.index) == ["a", "b"]
    loaded = FleetPredictor.load(fleet.save(tmp_path / "f.wpm"))
    assert list(loaded.errors_) == [None] and str(loaded.errors_[None]) == message
    assert type(loaded.errors_[None]) is WorkloadDataError
    pd.testing.assert_frame_equal(loaded.predict(), expected)
    pd.testing.assert_frame_equal(loaded.health(), health)


def test_strict_fit_refuses_rows_without_a_key():
    data = _frame().astype({"key": object})
    data.loc[7, "key"] = None
    with pytest.raises(WorkloadDataError, match="is missing at row 7"):
        FleetPredictor(horizon=5, strict=True).fit(data)


def test_a_frame_with_no_key_at_all_fits_nothing():
    data = _frame().astype({"key": object})
    data["key"] = None
    with pytest.raises(NoKeyFittedError, match="missing at 400 rows") as info:
        FleetPredictor(horizon=5).fit(data)
    assert list(info.value.errors) == [None]
