"""A predictor whose series ends near 2262-04-11 23:47:16 UTC, the last instant int64 nanoseconds hold: an update of
rows within it is taken (it refused them, for the timestamps it builds ahead of the newest bucket), and a forecast
whose last bucket would end past it is refused in predict's words, naming the steps that fit (review h203)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from workload_predictor import FleetPredictor, WorkloadPredictor
from workload_predictor.errors import WorkloadDataError

from conftest import periodic_series

LATE = "2262-04-11 20:00"  # one-minute buckets: the 220th at 23:39, the limit 23:47:16


def _runner():
    """A CliRunner whose result keeps stderr apart from stdout: click 8.2 always does; 8.1 (the oldest pin) needs
    ``mix_stderr=False``, which 8.2 no longer takes."""
    from click.testing import CliRunner

    try:
        return CliRunner(mix_stderr=False)
    except TypeError:
        return CliRunner()


@pytest.mark.parametrize("model", ["dlinear", "naive"])
def test_an_update_near_the_end_of_the_range_is_taken_and_saved(tmp_path, model):
    series = periodic_series(224, start=LATE)
    predictor = WorkloadPredictor(model=model, horizon=3, random_state=0).fit(series.iloc[:220])
    predictor.update(series.iloc[220:221])
    forecast = predictor.predict()
    assert forecast.index.equals(pd.date_range("2262-04-11 23:41", periods=3, freq="1min", tz="UTC"))
    assert forecast.history.index[-1] == pd.Timestamp("2262-04-11 23:40", tz="UTC")
    predictor.save(tmp_path / "late.wp")
    loaded = WorkloadPredictor.load(tmp_path / "late.wp")
    for each in (predictor, loaded):
        each.update(series.iloc[221:223])  # the newest bucket at 23:42
        assert each.predict().index[0] == pd.Timestamp("2262-04-11 23:43", tz="UTC")
    assert loaded.predict() == predictor.predict()


def test_a_forecast_whose_last_bucket_ends_past_the_range_names_the_steps_that_fit():
    predictor = WorkloadPredictor(model="naive", horizon=10).fit(periodic_series(220, start=LATE))
    assert predictor.predict(7).index[-1] == pd.Timestamp("2262-04-11 23:46", tz="UTC")  # ends 23:47
    with pytest.raises(WorkloadDataError, match=r"8 buckets of 1min after 2262-04-11T23:39:00\+00:00 would end past "
                                                r"2262-04-11 23:47:16.854775807\+00:00.*forecast at most 7 steps"):
        predictor.predict(8)  # its last bucket, 23:47, would end at 23:48


@pytest.mark.parametrize("steps, fit", [(10, 7), (9, 7)])
def test_a_forecast_whose_buckets_would_start_past_the_range_names_the_steps_that_fit_too(steps, fit):
    """9 or more buckets after 23:39 start past the range (not only end past it): the message named no count."""
    predictor = WorkloadPredictor(model="naive", horizon=10).fit(periodic_series(220, start=LATE))
    with pytest.raises(WorkloadDataError, match=rf"{steps} buckets of 1min after 2262-04-11T23:39:00\+00:00 would "
                                                rf"(reach|end) past 2262-04-11 23:47:16.*forecast at most {fit} steps"):
        predictor.predict(steps)
    assert len(predictor.predict(fit).index) == fit


@pytest.mark.parametrize("steps", [1, 2, 3])
def test_a_series_whose_next_bucket_ends_past_the_range_is_told_no_step_fits(steps):
    """The last bucket at 23:46 ends at 23:47, within the range; the next would end at 23:48: "forecast at most 0
    steps" asked for a forecast of none, which predict refuses, and 2 or 3 steps named no count."""
    predictor = WorkloadPredictor(model="naive", horizon=3).fit(periodic_series(227, start=LATE))
    with pytest.raises(WorkloadDataError, match=r"after 2262-04-11T23:46:00\+00:00 would (reach|end) past "
                                                r"2262-04-11 23:47:16.*no bucket of 1min after it fits") as error:
        predictor.predict(steps)
    assert "at most 0" not in str(error.value) and "unit=" in str(error.value)


@pytest.mark.parametrize("model", ["dlinear", "naive"])
def test_health_of_a_series_that_begins_at_the_start_of_the_range_is_measured(model):
    """220 one-minute buckets from 1677-09-21 00:13, 30 s after the first instant int64 nanoseconds hold: health
    counts its flags among the newest RECENT_BUCKETS buckets, whose first would lie before that instant, and raised
    pandas' OutOfBoundsDatetime from fit on (the other end's mirror: a series's every bucket is among them)."""
    series = periodic_series(223, start="1677-09-21 00:13")
    predictor = WorkloadPredictor(model=model, horizon=3, random_state=0).fit(series.iloc[:220])
    predictor.update(series.iloc[220:221])
    report = predictor.health()
    assert report["level"] in ("ok", "warning", "critical")
    assert report["metrics"]["input_anomaly"]["value"] is not None
    predictor.check_alerts()


@pytest.mark.parametrize("model", ["dlinear", "naive"])
def test_an_update_of_a_series_that_begins_at_the_start_of_the_range_is_taken(tmp_path, model):
    """60 one-minute buckets from 1677-09-21 00:13, all of them kept: the update's history timestamps were built from
    the bucket before the first, 00:12, before 1677-09-21 00:12:43, and raised pandas' OutOfBoundsDatetime (for a
    fleet's key too)."""
    series = periodic_series(63, start="1677-09-21 00:13")
    predictor = WorkloadPredictor(model=model, horizon=3, random_state=0).fit(series.iloc[:60])
    predictor.update(series.iloc[60:61])
    assert predictor.predict().index[0] == pd.Timestamp("1677-09-21 01:14", tz="UTC")
    assert predictor.predict().history.index[-1] == pd.Timestamp("1677-09-21 01:13", tz="UTC")
    predictor.save(tmp_path / "early.wp")
    loaded = WorkloadPredictor.load(tmp_path / "early.wp")
    for each in (predictor, loaded):
        each.update(series.iloc[61:63])
    assert loaded.predict() == predictor.predict()
    fleet = FleetPredictor(model=model, horizon=3, random_state=0).fit(series.iloc[:60].assign(key="a"), key="key")
    fleet.update(series.iloc[60:61].assign(key="a"))
    assert fleet.update_errors_ == {}
    assert fleet.predict()["timestamp"].iloc[0] == pd.Timestamp("1677-09-21 01:14", tz="UTC")


@pytest.mark.parametrize("model", ["dlinear", "naive", "ensemble"])
def test_a_predictor_whose_horizon_passes_the_range_loads_and_forecasts_the_steps_that_fit(tmp_path, model):
    """A series ending at 23:39 fitted at horizon 10: the library fits, updates and saves it, and predict(7)
    forecasts the steps that fit; load forecast the whole horizon to check the file and refused it as "damaged or
    altered" (review h212). Loaded, it forecasts as before saving, and refuses 8 steps in the same words."""
    predictor = WorkloadPredictor(model=model, horizon=10, random_state=0).fit(periodic_series(220, start=LATE))
    loaded = WorkloadPredictor.load(predictor.save(tmp_path / "late.wp"))
    assert loaded.predict(7) == predictor.predict(7)
    assert loaded.predict(7).index[-1] == pd.Timestamp("2262-04-11 23:46", tz="UTC")
    for each in (predictor, loaded):
        with pytest.raises(WorkloadDataError, match=r"forecast at most 7 steps"):
            each.predict()
    more = periodic_series(222, start=LATE).iloc[220:]
    for each in (predictor, loaded):
        each.update(more)
    assert loaded.predict(5) == predictor.predict(5)
    assert WorkloadPredictor.load(loaded.save(tmp_path / "later.wp")).predict(5) == predictor.predict(5)


def test_a_predictor_of_which_no_step_fits_loads_and_says_so_as_before(tmp_path):
    """The newest bucket at 23:46: no bucket after it ends within the range. The file loads, and predict tells why
    no step can be forecast, as before saving (not a load refusing the file as damaged)."""
    predictor = WorkloadPredictor(model="dlinear", horizon=3, random_state=0).fit(periodic_series(227, start=LATE))
    loaded = WorkloadPredictor.load(predictor.save(tmp_path / "last.wp"))
    for each in (predictor, loaded):
        with pytest.raises(WorkloadDataError, match=r"no bucket of 1min after it fits"):
            each.predict(1)
    assert loaded.last_timestamp_ == predictor.last_timestamp_ == pd.Timestamp("2262-04-11 23:46", tz="UTC")
    assert loaded.health()["metrics"].keys() == predictor.health()["metrics"].keys()


def test_load_still_checks_every_step_of_the_horizon_where_only_some_fit(tmp_path, monkeypatch):
    """The steps whose timestamps fit are forecast with them; the numbers of every step of the horizon are still
    checked: a NaN in the last step (past the steps that fit) is refused as damaged, as for any file."""
    from workload_predictor import ModelFileError, predictor as module

    fitted = WorkloadPredictor(model="dlinear", horizon=10, random_state=0).fit(periodic_series(220, start=LATE))
    path = fitted.save(tmp_path / "late.wp")
    point = module._point

    def damaged(state, steps):
        values = point(state, steps).copy()
        if steps == 10:
            values[-1] = np.nan
        return values

    monkeypatch.setattr(module, "_point", damaged)
    with pytest.raises(ModelFileError, match="forecasts NaN or infinite values; it was damaged or altered"):
        WorkloadPredictor.load(path)


def test_forecast_model_file_of_a_series_near_the_end_of_the_range_is_loaded_again(tmp_path):
    """forecast --model-file saves the updated model before it forecasts: a run whose update takes the series to
    23:40 saves it; the next run loaded that file and called it damaged ("cannot be loaded"). Each run forecasts the
    6 steps that fit of the file's horizon, as the run before (exit 0, a warning on stderr)."""
    from workload_predictor.cli import main

    model_file, runner = tmp_path / "m.wp", _runner()
    for name, rows in (("first", 220), ("later", 221)):
        periodic_series(rows, start=LATE).to_csv(tmp_path / f"{name}.csv", index=False)
    args = ["--model-file", str(model_file)]
    first = runner.invoke(main, ["forecast", str(tmp_path / "first.csv"), "--horizon", "7", "--model", "naive", *args])
    assert first.exit_code == 0, first.output
    told = [runner.invoke(main, ["forecast", str(tmp_path / "later.csv"), *args, "--out", str(tmp_path / f"{i}.csv")])
            for i in range(2)]
    assert [result.exit_code for result in told] == [0, 0], [result.output for result in told]
    assert "warning: forecast the first 6 steps of the horizon's 7" in told[0].stderr, told[0].stderr
    assert told[1].stderr == told[0].stderr
    for i in range(2):
        stamps = pd.to_datetime(pd.read_csv(tmp_path / f"{i}.csv")["timestamp"], utc=True)
        assert pd.DatetimeIndex(stamps).equals(pd.date_range("2262-04-11 23:41", periods=6, freq="1min", tz="UTC"))
    assert WorkloadPredictor.load(model_file).predict(6).index[0] == pd.Timestamp("2262-04-11 23:41", tz="UTC")


@pytest.mark.parametrize("model_file", [False, True])
def test_forecast_of_a_series_whose_horizon_passes_the_range_forecasts_the_steps_that_fit(tmp_path, model_file):
    """A run whose --horizon (or --model-file's horizon, which no option changes) passes 2262-04-11 23:47:16 exited
    3 on every run ("forecast at most 7 steps", which the command line cannot ask for): it forecasts the 7 that fit,
    as the library's predict(7), says so on stderr (stdout, which may be --out's file, holds the output alone) and
    exits 0.
    Where no step fits, it exits 3 and writes nothing."""
    from workload_predictor.cli import main

    trace, runner = tmp_path / "late.csv", _runner()
    periodic_series(220, start=LATE).to_csv(trace, index=False)
    args = ["forecast", str(trace), "--model", "naive", "--horizon", "10"]
    args += ["--model-file", str(tmp_path / "m.wp")] if model_file else []
    for run in range(1 + model_file):  # with a model file: the fit, then a run that loads it
        out = tmp_path / f"{run}.csv"
        result = runner.invoke(main, [*args, "--out", str(out)])
        assert result.exit_code == 0, result.output
        assert "warning" not in result.stdout and "2262-04-11 23:46:00Z" in result.stdout, result.stdout
        assert result.stderr.startswith("warning: forecast the first 7 steps of the horizon's 10: bucket 8 after "
                                        "2262-04-11 23:39:00Z would end past 2262-04-11 23:47:16 UTC"), result.stderr
        assert "pass --unit" in result.stderr
        written = pd.read_csv(out)
        expected = WorkloadPredictor(model="naive", horizon=10).fit(periodic_series(220, start=LATE)).predict(7)
        assert pd.DatetimeIndex(pd.to_datetime(written["timestamp"], utc=True)).equals(expected.index)
        np.testing.assert_allclose(written["yhat"], np.ravel(expected.yhat))
    periodic_series(227, start=LATE).to_csv(trace, index=False)  # the newest bucket 23:46: no step fits
    out = tmp_path / "none.csv"
    result = runner.invoke(main, [*args, "--out", str(out)])
    assert result.exit_code == 3 and "no bucket of 1min after it fits" in result.stderr, result.output
    assert not out.exists()


# -- health's stale_buckets at the ends of the range (review h219) --------------------------------------------------
def stale(report) -> float:
    return report["metrics"]["stale_buckets"]["value"]


def test_health_of_a_series_whose_next_bucket_would_start_past_the_range_is_measured():
    """228 one-minute buckets from 20:00: the newest at 23:47 ends at 23:48, past the last instant (23:47:16).
    health(now=...) and check_alerts(now=...) raised pandas' OutOfBoundsDatetime (the end of the newest bucket
    computed as a timestamp), for a predictor and for a fleet's key."""
    series = periodic_series(228, start=LATE)
    predictor = WorkloadPredictor(model="naive", horizon=3).fit(series)
    fleet = FleetPredictor(model="naive", horizon=3).fit(series.assign(key="late"))
    for now in ("2262-04-11 23:47:00", "2262-04-11 23:47:16.854775807"):
        assert stale(predictor.health(now=now)) == 0  # the newest bucket has not ended
        assert not [alert for alert in predictor.check_alerts(now=now) if alert["metric"] == "stale_buckets"]
        assert fleet.health(now=now).loc["late", "stale_buckets"] == 0
        assert not [alert for alert in fleet.check_alerts(now=now) if alert["metric"] == "stale_buckets"]


@pytest.mark.parametrize("start, now", [(LATE, "1677-09-21 00:13"), ("1677-09-21 00:13", "2262-04-11 23:00")])
def test_stale_buckets_of_a_now_292_years_or_more_from_the_newest_bucket_are_counted(start, now):
    """A clock or a series read in the wrong unit: the newest bucket and now further apart than a nanosecond
    Timedelta holds (their difference raised OutOfBoundsTimedelta); the count is that of Python's datetimes."""
    import datetime

    predictor = WorkloadPredictor(model="naive", horizon=3).fit(periodic_series(220, start=start))
    newest = predictor.last_timestamp_.to_pydatetime()
    instant = pd.Timestamp(now, tz="UTC").to_pydatetime()
    minute = datetime.timedelta(minutes=1)
    expected = (newest - instant) // minute if newest > instant else max((instant - newest) // minute - 1, 0)
    assert expected > 10**8
    assert stale(predictor.health(now=now)) == expected
