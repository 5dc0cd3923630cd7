"""save never writes a file load refuses for its size: a fit whose forecasts reach beyond what a model file may hold
(``model_file.forecast_bound``: ``(1 + horizon) * MAX_VALUE``) is refused at save, with a typed error, nothing
written; every file save writes, load accepts."""

from __future__ import annotations

import pickle

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from workload_predictor import FleetPredictor, UnsaveableModelError, WorkloadDataError, WorkloadPredictor
from workload_predictor.data import MAX_VALUE
from workload_predictor.model_file import forecast_bound

START = pd.Timestamp("2024-03-01", tz="UTC")
HORIZON = 10


def growing(n: int = 400, rate: float = 1.5, top: float = 0.9 * MAX_VALUE, peak: int | None = None,
            after: float | None = None) -> pd.DataFrame:
    """Loads growing ``rate`` times a bucket up to ``top`` at bucket ``peak`` (default: the last), ``after`` from
    there on (default: growing on)."""
    t = np.arange(n)
    peak = n - 1 if peak is None else peak
    y = top * rate ** (t - peak).astype(float)
    if after is not None:
        y[t > peak] = after
    return pd.DataFrame({"timestamp": START + pd.Timedelta("1min") * t, "requests": y})


def refused_and_nothing_written(obj, path) -> UnsaveableModelError:
    with pytest.raises(UnsaveableModelError) as caught:
        obj.save(path)
    assert not path.exists() and not list(path.parent.iterdir())  # no file, no temporary file
    return caught.value


@pytest.mark.parametrize("model", ["dlinear", "ensemble"])
def test_a_fit_forecasting_beyond_what_a_file_holds_is_refused_at_save_not_at_load(tmp_path, model):
    """Growing 50 % a bucket up to 0.9 MAX_VALUE, DLinear forecasts 5.1e19 at horizon 10, beyond the 1.1e19 a file
    holds: save wrote the file and load refused it ("it was damaged or altered")."""
    predictor = WorkloadPredictor(model=model, horizon=HORIZON, random_state=0).fit(growing())
    error = refused_and_nothing_written(predictor, tmp_path / "model.wpm")
    assert isinstance(error, WorkloadDataError)
    assert error.bound == forecast_bound(HORIZON) and error.value > error.bound
    assert f"{error.value:g}" in str(error) and "larger units" in str(error)
    # The forecast stands in memory: predict is not refused.
    assert predictor.predict().yhat.max() > forecast_bound(HORIZON)


def test_the_same_loads_in_larger_units_save_and_load(tmp_path):
    """The fix the error names works: the loads divided by 1,000 forecast a thousandth, within the bound."""
    frame = growing()
    predictor = WorkloadPredictor(horizon=HORIZON).fit(frame.assign(requests=frame.requests / 1e3))
    loaded = WorkloadPredictor.load(predictor.save(tmp_path / "model.wpm"))
    np.testing.assert_array_equal(loaded.predict().yhat, predictor.predict().yhat)


def test_a_member_forecasting_beyond_the_bound_refuses_the_ensembles_save_naming_it(tmp_path):
    """Growing 3 times a bucket then falling to 0: the ensemble's own forecast is within the bound (it weighs
    DLinear little), its DLinear member's is not; load refuses the file for the member's."""
    predictor = WorkloadPredictor(model="ensemble", horizon=HORIZON, random_state=0).fit(
        growing(rate=3.0, peak=399 - 10, after=0.0))
    assert np.abs(predictor.model_.predict()).max() <= forecast_bound(HORIZON)
    error = refused_and_nothing_written(predictor, tmp_path / "model.wpm")
    assert "dlinear member's forecast" in str(error)


def keyed(frame: pd.DataFrame) -> pd.DataFrame:
    """Key ``a`` the growing loads, key ``b`` a flat series of 100."""
    return pd.concat([frame.assign(endpoint="a"), frame.assign(endpoint="b", requests=100.0)], ignore_index=True)


@pytest.mark.parametrize("mode", ["refit", "incremental"])
def test_a_fleet_key_forecasting_beyond_the_bound_refuses_the_fleets_save_naming_the_key(tmp_path, mode):
    """A DLinear fleet (its keys in a block; after an incremental update, each its own predictor): save wrote the
    file, load refused it."""
    frame = keyed(growing(n=420, peak=400))
    old, new = frame[frame.timestamp < START + pd.Timedelta("400min")], frame[frame.timestamp >= START + pd.Timedelta("400min")]
    fleet = FleetPredictor(horizon=HORIZON, update_mode=mode).fit(old, key="endpoint")
    if mode == "incremental":
        fleet.update(new[new.timestamp < START + pd.Timedelta("401min")])
        assert fleet._state()._predictors  # the keys are their own predictors now
    error = refused_and_nothing_written(fleet, tmp_path / "fleet.wpm")
    assert "key 'a'" in str(error) and error.value > forecast_bound(HORIZON)


def test_the_refusal_pickles_with_its_findings():
    error = UnsaveableModelError("cannot save", 5e19, 1.1e19)
    again = pickle.loads(pickle.dumps(error))
    assert (type(again), str(again), again.value, again.bound) == (UnsaveableModelError, "cannot save", 5e19, 1.1e19)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(model=st.sampled_from(["dlinear", "exponential_smoothing", "seasonal_naive"]),
       rate=st.floats(1.05, 4.0), peak_back=st.integers(0, 80), after=st.sampled_from([None, 0.0, 0.5, 1.0]),
       horizon=st.integers(1, 12), top=st.sampled_from([0.1, 0.5, 0.9, 1.0]))
def test_every_file_save_writes_loads(tmp_path_factory, model, rate, peak_back, after, horizon, top):
    """Loads growing up to near MAX_VALUE, then staying there, falling halfway or to 0 (or growing to the last
    bucket): save refuses (typed, nothing
    written) or writes a file load accepts, forecasting as the predictor did."""
    folder = tmp_path_factory.mktemp("saved")
    n = 300
    frame = growing(n=n, rate=rate, top=top * MAX_VALUE, peak=n - 1 - (0 if after is None else peak_back),
                    after=None if after is None else after * top * MAX_VALUE)
    predictor = WorkloadPredictor(model=model, horizon=horizon).fit(frame)
    path = folder / "model.wpm"
    try:
        predictor.save(path)
    except UnsaveableModelError:
        assert not list(folder.iterdir())
        return
    loaded = WorkloadPredictor.load(path)
    np.testing.assert_array_equal(loaded.predict().yhat, predictor.predict().yhat)
