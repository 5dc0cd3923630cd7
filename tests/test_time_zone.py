"""``tz=`` (``--tz ZONE``): naive wall-clock timestamps read in a named zone, not as UTC.

A log written in local time (America/New_York, UTC-4 in May) was read as UTC and forecast 4 hours off."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from workload_predictor import WorkloadPredictor, bucketize
from workload_predictor.cli import main
from workload_predictor.data import to_utc_index
from workload_predictor.errors import WorkloadDataError

ZONE = "America/New_York"
NAIVE = ["2024-05-10 00:00:00", "2024-05-10 00:00:10", "2024-05-10 00:00:20"]


def _utc(*stamps):
    return pd.DatetimeIndex(list(stamps)).tz_localize("UTC").as_unit("ns")


@pytest.mark.parametrize("encode", [
    lambda s: list(s),  # date strings
    lambda s: pd.Series(pd.to_datetime(list(s))),  # naive datetime64
    lambda s: [dt.datetime.fromisoformat(v) for v in s],  # naive datetime objects
])
def test_naive_stamps_are_read_in_the_zone_given(encode):
    """Before: to_utc_index had no tz= (TypeError); naive stamps could only be UTC."""
    values = encode(NAIVE)
    index = to_utc_index(values, tz=ZONE)
    # May is daylight time in New York: UTC-4, so local midnight is 04:00 UTC (the zone's own rule, not ours).
    assert index.equals(_utc("2024-05-10 04:00:00", "2024-05-10 04:00:10", "2024-05-10 04:00:20"))
    assert to_utc_index(values, tz="UTC").equals(to_utc_index(values))


def test_a_winter_stamp_takes_the_zones_standard_offset():
    assert to_utc_index(["2024-01-10 00:00:00"], tz=ZONE).equals(_utc("2024-01-10 05:00:00"))


@pytest.mark.parametrize("stamps, row, what", [
    (["2024-11-03 00:59:00", "2024-11-03 01:30:00"], 1, "is ambiguous"),  # clocks fall back: 01:30 occurs twice
    (["2024-03-10 01:59:00", "2024-03-10 02:30:00", "2024-03-10 02:40:00"], 1, "does not exist"),  # skipped hour
])
def test_dst_wall_times_are_refused_by_row(stamps, row, what):
    with pytest.raises(WorkloadDataError) as caught:
        to_utc_index(stamps, tz=ZONE)
    message = str(caught.value)
    assert f"row {row} ({stamps[row]!r})" in message and what in message and "drop tz=" in message, message
    assert caught.value.rows == (row,)


@pytest.mark.parametrize("values, said", [
    (["2024-05-10T00:00:00Z", "2024-05-10T00:00:10Z"], "carries its own offset"),
    (["2024-05-10T00:00:00+02:00"], "carries its own offset"),
    (pd.Series(pd.date_range("2024-05-10", periods=2, freq="10s", tz="UTC")), "carries its own offset"),
    ([1715299200, 1715299210], "numbers"),
])
def test_stamps_that_name_their_instant_are_refused_beside_tz(values, said):
    with pytest.raises(WorkloadDataError, match="drop tz=") as caught:
        to_utc_index(values, tz=ZONE)
    assert said in str(caught.value)


@pytest.mark.parametrize("tz", ["Mars/Olympus_Mons" * 20, "../../etc/passwd", 5, ""])
def test_an_unknown_zone_is_refused_quoted_cut_short(tz):
    with pytest.raises(WorkloadDataError, match="is no time zone; pass an IANA zone name") as caught:
        to_utc_index(NAIVE, tz=tz)
    assert len(str(caught.value)) < 300


def test_fit_update_and_bucketize_read_the_zone():
    rng = np.random.default_rng(1)
    stamps = pd.date_range("2024-05-10 00:00", periods=80, freq="10s").strftime("%Y-%m-%d %H:%M:%S")
    frame = pd.DataFrame({"timestamp": stamps, "requests": rng.poisson(20, 80)})
    kept = frame.copy()
    predictor = WorkloadPredictor(model="naive", horizon=2).fit(frame.iloc[:70], tz=ZONE)
    assert predictor.last_timestamp_ == pd.Timestamp("2024-05-10 04:11:30", tz="UTC")
    predictor.update(frame.iloc[70:], tz=ZONE)
    assert predictor.last_timestamp_ == pd.Timestamp("2024-05-10 04:13:10", tz="UTC")
    pd.testing.assert_frame_equal(frame, kept)  # the caller's data is not modified
    log = pd.DataFrame({"TIMESTAMP": ["2024-05-10 00:00:01", "2024-05-10 00:00:05", "2024-05-10 00:00:12"]})
    buckets = bucketize(log, freq="10s", tz=ZONE)
    assert list(buckets["timestamp"]) == list(_utc("2024-05-10 04:00:00", "2024-05-10 04:00:10"))
    assert list(buckets["requests"]) == [2, 1]


def _local_log(tmp_path):
    """A request log in New York wall-clock time, two requests a second for 10 minutes."""
    times = pd.Timestamp("2024-05-10 09:00") + pd.to_timedelta(np.arange(0, 600, 0.5), "s")
    path = tmp_path / "local.csv"
    pd.DataFrame({"timestamp": times.strftime("%Y-%m-%d %H:%M:%S.%f")}).to_csv(path, index=False)
    return path


def test_the_command_line_reads_the_zone_with_tz(tmp_path):
    """Before: no such option --tz (exit 2); the log was read as UTC, its forecast 4 hours early."""
    path = _local_log(tmp_path)
    runner = CliRunner()
    args = ["forecast", str(path), "--freq", "10s", "--model", "naive", "--horizon", "2"]
    plain, zoned = runner.invoke(main, args), runner.invoke(main, [*args, "--tz", ZONE])
    assert plain.exit_code == 0 and zoned.exit_code == 0, plain.output + zoned.output
    assert "2024-05-10 09:09:50Z" in plain.output and "2024-05-10 13:09:50Z" in zoned.output, zoned.output
    inspect = runner.invoke(main, ["inspect", str(path), "--freq", "10s", "--tz", ZONE])
    assert inspect.exit_code == 0, inspect.output
    assert f"yes: read in {ZONE}" in inspect.output and "13:00:00" in inspect.output, inspect.output
    evaluate = runner.invoke(main, ["evaluate", str(path), "--freq", "10s", "--horizon", "2", "--models", "naive",
                                    "--tz", ZONE])
    assert evaluate.exit_code == 0, evaluate.output


def test_the_command_line_words_a_bad_zone_and_a_dst_row_in_its_options(tmp_path):
    path = _local_log(tmp_path)
    runner = CliRunner()
    bad = runner.invoke(main, ["forecast", str(path), "--freq", "10s", "--tz", "Europe/Nowhere"])
    assert bad.exit_code == 3 and "--tz 'Europe/Nowhere' is no time zone" in bad.output, bad.output
    pd.DataFrame({"timestamp": ["2024-03-10 01:59:59", "2024-03-10 02:00:30"] * 3}).to_csv(path, index=False)
    skipped = runner.invoke(main, ["forecast", str(path), "--freq", "10s", "--tz", ZONE])
    assert skipped.exit_code == 3 and "does not exist there" in skipped.output and "drop --tz" in skipped.output, \
        skipped.output


def test_a_fleet_fit_and_update_read_the_zone():
    """Before: FleetPredictor.fit and update had no tz= (TypeError)."""
    from workload_predictor import FleetPredictor

    rng = np.random.default_rng(2)
    stamps = pd.date_range("2024-05-10 00:00", periods=80, freq="10s").strftime("%Y-%m-%d %H:%M:%S")
    frame = pd.concat([pd.DataFrame({"key": name, "timestamp": stamps, "requests": rng.poisson(20, 80)})
                       for name in ("a", "b")], ignore_index=True)
    kept = frame.copy()
    first = frame.groupby("key").head(70)
    fleet = FleetPredictor(model="naive", horizon=2).fit(first, tz=ZONE)
    assert fleet.predict()["timestamp"].min() == pd.Timestamp("2024-05-10 04:11:40", tz="UTC")
    fleet.update(frame.drop(first.index), tz=ZONE)
    assert fleet.predict()["timestamp"].min() == pd.Timestamp("2024-05-10 04:13:20", tz="UTC")
    pd.testing.assert_frame_equal(frame, kept)  # the caller's frame is not written
    with pytest.raises(WorkloadDataError, match="is no time zone"):
        fleet.update(frame.drop(first.index), tz="Nowhere/Land")
    late = pd.DataFrame({"key": ["a", "b"], "timestamp": ["2024-11-03 01:30:00"] * 2, "requests": [1, 2]},
                        index=[10, 11])
    with pytest.raises(WorkloadDataError, match=r"row 0 of the frame .*is ambiguous"):
        FleetPredictor(model="naive", horizon=2).fit(late, tz=ZONE)


def test_a_naive_datetime_column_names_its_dst_row_as_the_time_it_holds():
    stamps = pd.Series(pd.to_datetime(["2024-11-03 00:30:00", "2024-11-03 01:30:00"]))
    with pytest.raises(WorkloadDataError, match=r"row 1 \('2024-11-03 01:30:00'\) read in tz='America/New_York' is "
                                                r"ambiguous"):
        to_utc_index(stamps, tz=ZONE)


def test_unit_beside_date_strings_is_refused_with_tz_as_without():
    with pytest.raises(WorkloadDataError, match="drop unit="):
        to_utc_index(NAIVE, tz=ZONE, unit="s")
