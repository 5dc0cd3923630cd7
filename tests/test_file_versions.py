"""Model files saved by earlier releases, loaded by this one: each forecasts as the release that saved it did, updates,
and reports health with the state added since filled in as this release's own fit would have it; or it is refused
with a ModelFileError that names the release that wrote it and says to refit. The files and what their release
forecast: ``tests/data/README.md`` (written by ``tests/data/make_old_model_files.py``)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from workload_predictor import ModelFileError, WorkloadPredictor
from workload_predictor.fleet import FleetPredictor

DATA = Path(__file__).parent / "data"
PREDICTORS = ["dlinear_0.2.0", "seasonal_naive_0.9.1", "dlinear3_0.33.0"]


def _record(name: str) -> dict:
    return json.loads((DATA / f"{name}.json").read_text())


def _rows(record: dict, start: int, stop: int) -> pd.DataFrame:
    """Rows ``start:stop`` of the record's series: one frame of its targets, or a long frame of its keys."""
    stamps = pd.date_range(record["start"], periods=stop, freq=record["freq"])[start:]
    series = {name: np.asarray(values)[start:stop] for name, values in record["series"].items()}
    if record["kind"] == "FleetPredictor":
        return pd.concat([pd.DataFrame({"key": key, "timestamp": stamps, "requests": values})
                          for key, values in series.items()], ignore_index=True)
    return pd.DataFrame({"timestamp": stamps, **series})


def _parts(forecast) -> dict:
    if isinstance(forecast, pd.DataFrame):
        return {part: forecast[part].to_numpy(dtype=float) for part in ("yhat", "lower", "upper")}
    return {part: np.ravel(np.asarray(getattr(forecast, part), dtype=float)) for part in ("yhat", "lower", "upper")}


def _trailing_repeats(values: np.ndarray) -> int:
    """The buckets in a row, ending at the newest, that repeat the bucket before's non-zero count."""
    run = 0
    for newer, older in zip(values[::-1], values[-2::-1]):
        if newer != older or newer == 0:
            break
        run += 1
    return run


@pytest.mark.parametrize("name", PREDICTORS)
def test_a_predictor_file_of_an_earlier_release_forecasts_updates_and_reports_health(name):
    record = _record(name)
    predictor = WorkloadPredictor.load(DATA / f"{name}.wpm")
    for part, values in _parts(predictor.predict()).items():
        np.testing.assert_allclose(values, record["saved"][part], rtol=1e-12, err_msg=part)
    start, stop = record["update_rows"]
    predictor.update(_rows(record, start, stop))
    after = _parts(predictor.predict())
    # The point forecast updates as the release's did; the interval is calibrated again by this release's rule.
    np.testing.assert_allclose(after["yhat"], record["updated"]["yhat"], rtol=1e-9)
    assert (after["lower"] <= after["yhat"]).all() and (after["yhat"] <= after["upper"]).all()

    # What health reads that the release did not keep (stuck_run_ per target, idle_span_, the input-anomaly state) is
    # filled in as this release's own fit and update on the same rows have it.
    targets = list(record["series"])
    own = WorkloadPredictor(**{k: v for k, v in predictor.get_params().items() if k in ("model", "horizon", "window")})
    own.fit(_rows(record, 0, start), target=targets if len(targets) > 1 else targets[0]).update(_rows(record, start, stop))
    loaded, fitted = predictor.health()["metrics"], own.health()["metrics"]
    for metric in ("input_anomaly", "idle_fit", "stuck_input"):
        assert (loaded[metric]["value"], loaded[metric]["level"]) == (fitted[metric]["value"], fitted[metric]["level"])
    runs = [_trailing_repeats(np.asarray(values)[:stop]) for values in record["series"].values()]
    assert loaded["stuck_input"]["value"] == max(runs) >= 30  # the run began before the save: warning
    assert loaded["stuck_input"]["level"] == "warning"


def test_a_dlinear_fleet_file_of_0_2_0_updates():
    """0.2.0's fleet files hold no time_limited_keys_ nor time_limited_stages_: they load as a fit no deadline cut,
    and an update refits each key on its newest buckets, as many as it was fitted on (this release's refit mode), as
    a fleet fitted on those buckets forecasts. The update raised AttributeError."""
    record = _record("fleet_dlinear_0.2.0")
    fleet = FleetPredictor.load(DATA / "fleet_dlinear_0.2.0.wpm")
    assert fleet.time_limited_keys_ == {} and fleet.time_limited_stages_ == ()
    for part, values in _parts(fleet.predict()).items():
        np.testing.assert_allclose(values, record["saved"][part], rtol=1e-12, err_msg=part)
    start, stop = record["update_rows"]
    fleet.update(_rows(record, start, stop))
    assert fleet.update_errors_ == {}
    newest = _rows(record, stop - record["fitted_rows"], stop)  # as many buckets as the fleet was fitted on
    refitted = FleetPredictor(model="dlinear", horizon=4, window=12).fit(newest)
    for part, values in _parts(fleet.predict()).items():
        np.testing.assert_allclose(values, _parts(refitted.predict())[part], rtol=1e-9, err_msg=part)
    health = fleet.health()
    runs = {key: _trailing_repeats(np.asarray(values)[:stop]) for key, values in record["series"].items()}
    assert health["stuck_input"].to_dict() == {key: float(run) for key, run in runs.items()}


def test_a_global_lstm_fleet_file_this_release_cannot_read_names_its_release_and_the_fix():
    """A global network saved before 0.11.0 kept fewer of each key's newest points than a forecast reads now: the file
    is refused, and the message says which release wrote it and to refit, not only that it looks damaged."""
    pytest.importorskip("torch")
    with pytest.raises(ModelFileError) as refused:
        FleetPredictor.load(DATA / "fleet_global_lstm_0.9.1.wpm")
    message = str(refused.value)
    assert "kept points" in message and "workload-predictor '0.9.1'" in message and "refit" in message.lower()


def test_a_refusal_names_the_release_that_wrote_the_file_only_where_it_is_another():
    """The release and the fix are named for a file of another release that this one refuses for its state, not for
    one of this release (damaged, then), nor for a file read the wrong way (a fleet through loads)."""
    from test_persistence import join_file, rewrite_state, split_file

    from workload_predictor import __version__, persistence

    def forge(state):  # a horizon no fit takes
        params = state["params"]["__dict__"]
        params[[key for key, _ in params].index("horizon")][1] = -1
        return state

    forged = rewrite_state((DATA / "dlinear_0.2.0.wpm").read_bytes(), forge)
    with pytest.raises(ModelFileError, match="horizon") as refused:
        persistence.loads(forged)
    assert f"written by workload-predictor '0.2.0', this is {__version__}" in str(refused.value)
    header, payload = split_file(forged)
    with pytest.raises(ModelFileError, match="horizon") as refused:
        persistence.loads(join_file({**header, "package_version": __version__}, payload))
    assert "written by" not in str(refused.value)
    with pytest.raises(ModelFileError, match="load it with FleetPredictor.load") as refused:
        persistence.loads((DATA / "fleet_dlinear_0.2.0.wpm").read_bytes())
    assert "written by" not in str(refused.value)
