"""The mistakes a new user makes first, and the message each gets: a typed error naming the problem and the fix."""

from __future__ import annotations

import pandas as pd
import pytest

from workload_predictor import WorkloadDataError, WorkloadPredictor


def buckets(n: int = 120) -> pd.DataFrame:
    stamps = pd.date_range("2024-05-10", periods=n, freq="10s", tz="UTC")
    return pd.DataFrame({"timestamp": stamps, "requests": [float(10 + i % 7) for i in range(n)]})


@pytest.mark.parametrize("data, timestamp", [
    (lambda frame: frame["requests"], "timestamp"),  # fit(frame["requests"]): the Series keeps a RangeIndex
    (lambda frame: frame.drop(columns="timestamp"), None),  # the timestamps dropped, the default index left
])
def test_a_default_integer_index_is_told_to_become_a_datetime_index_not_given_a_unit(data, timestamp):
    """Row numbers 0, 1, 2 ... are no epoch: the fix is a DatetimeIndex (or a timestamp column), not ``unit=``."""
    with pytest.raises(WorkloadDataError) as error:
        WorkloadPredictor().fit(data(buckets()), timestamp=timestamp)
    message = str(error.value)
    assert "row numbers (0 to 119)" in message and "DatetimeIndex" in message, message
    assert "unit=" not in message, message


def test_an_update_with_a_default_integer_index_is_told_to_become_a_datetime_index():
    frame = buckets()
    predictor = WorkloadPredictor(horizon=3).fit(frame.iloc[:100])
    with pytest.raises(WorkloadDataError, match=r"row numbers \(0 to 1\).*DatetimeIndex") as error:
        predictor.update(frame["requests"].iloc[100:102].reset_index(drop=True))
    assert "unit=" not in str(error.value)
    assert predictor.n_updates_ == 0


def test_integer_epochs_and_offsets_in_a_range_index_still_read_as_times():
    """Not every RangeIndex is row numbers: epoch seconds, and offsets with ``unit=`` and ``origin=``, are times."""
    values = buckets()["requests"].to_numpy()
    epochs = pd.Series(values, index=pd.RangeIndex(1_715_299_200, 1_715_299_200 + 10 * len(values), 10))
    assert WorkloadPredictor(horizon=3).fit(epochs).last_timestamp_ == pd.Timestamp("2024-05-10 00:19:50Z")
    offsets = pd.Series(values, index=pd.RangeIndex(0, 10 * len(values), 10))
    fitted = WorkloadPredictor(horizon=3).fit(offsets, unit="s", origin="2024-05-10")
    assert fitted.last_timestamp_ == pd.Timestamp("2024-05-10 00:19:50Z")


@pytest.fixture
def runner():
    from click.testing import CliRunner

    return CliRunner()


def test_a_bucketed_csv_whose_count_column_is_misnamed_is_flagged_not_read_silently_as_one_request_a_bucket(
        runner, tmp_path):
    """``request`` for ``requests``: the file reads as a request log whose forecast is 1.0 a bucket; the run's
    summary says what it read and how to name the column."""
    from workload_predictor.cli import main

    path = tmp_path / "buckets.csv"
    buckets().rename(columns={"requests": "request"}).to_csv(path, index=False)
    result = runner.invoke(main, ["forecast", str(path), "--freq", "10s", "--model", "naive", "--horizon", "2"])
    assert result.exit_code == 0, result.output
    assert "note    every row of buckets.csv starts a bucket of 10s" in result.output, result.output
    assert "name its count column `requests`" in result.output and "'request'" in result.output


@pytest.mark.parametrize("offsets", [
    [0.25 + 10 * i for i in range(60)],  # one request a bucket, but inside it: a sparse log
    [10 * (i // 3) for i in range(60)],  # at bucket starts, three a bucket: a log of coarse timestamps
])
def test_a_request_log_is_not_flagged_as_buckets(runner, tmp_path, offsets):
    from workload_predictor.cli import main

    stamps = pd.Timestamp("2024-05-10T00:00:00Z") + pd.to_timedelta(offsets, unit="s")
    path = tmp_path / "log.csv"
    pd.DataFrame({"timestamp": stamps.strftime("%Y-%m-%dT%H:%M:%S.%fZ"), "input_tokens": 10,
                  "output_tokens": 5}).to_csv(path, index=False)
    result = runner.invoke(main, ["forecast", str(path), "--freq", "10s", "--model", "naive", "--horizon", "2"])
    assert result.exit_code == 0, result.output
    assert "request log" in result.output and "note" not in result.output, result.output


@pytest.mark.parametrize("name", ["model.wp", "model.csv"])
@pytest.mark.parametrize("command", [["forecast", "--freq", "10s"], ["inspect"]])
def test_a_model_file_passed_as_the_trace_is_named_as_one(runner, tmp_path, name, command):
    """``forecast model.wp`` (the arguments swapped): not "unknown file type" or "a NUL byte", but what it is."""
    from workload_predictor.cli import main

    path = tmp_path / name
    WorkloadPredictor(horizon=3).fit(buckets()).save(tmp_path / "model.wp")
    if name != "model.wp":
        (tmp_path / "model.wp").rename(path)
    result = runner.invoke(main, [command[0], str(path), *command[1:]])
    assert result.exit_code == 3, result.output
    assert f"{name} is a model file" in result.output and "--model-file" in result.output, result.output
    assert "Traceback" not in result.output


def test_a_fleet_update_without_the_key_column_names_the_columns_it_has():
    from workload_predictor import FleetPredictor

    frame = buckets()
    fleet = FleetPredictor(horizon=3).fit(frame.iloc[:100].assign(service="a"), key="service")
    rows = frame.iloc[100:101]  # the key column forgotten
    with pytest.raises(WorkloadDataError, match=r"key column 'service'.*\(columns: \['timestamp', 'requests'\]\)"):
        fleet.update(rows)
    with pytest.raises(WorkloadDataError, match=r"key column 'service'.*got Series"):
        fleet.update(rows["requests"])
    assert fleet.update_errors_ == {} and fleet.predict()["timestamp"].iloc[0] == frame["timestamp"].iloc[100]


@pytest.mark.parametrize("unit", ["sec", "hours", 5])
def test_a_unit_that_is_no_unit_is_refused_beside_datetimes_too(unit):
    """``unit`` says what numeric timestamps count; one that is none (``"sec"``) was ignored while the timestamps
    were datetimes, and failed only on the day numbers came."""
    from workload_predictor import FleetPredictor, bucketize

    frame = buckets()
    with pytest.raises(WorkloadDataError, match=r"unit=.* is not one of 's', 'ms'"):
        WorkloadPredictor(horizon=3).fit(frame, unit=unit)
    with pytest.raises(WorkloadDataError, match=r"unit=.* is not one of 's', 'ms'"):
        bucketize(frame[["timestamp"]], timestamp="timestamp", freq="10s", unit=unit)
    predictor = WorkloadPredictor(horizon=3).fit(frame.iloc[:100])
    with pytest.raises(WorkloadDataError, match=r"unit=.* is not one of 's', 'ms'"):
        predictor.update(frame.iloc[100:101], unit=unit)
    fleet = FleetPredictor(horizon=3).fit(frame.iloc[:100].assign(k="a"), key="k")
    with pytest.raises(WorkloadDataError, match=r"unit=.* is not one of 's', 'ms'"):  # once, not per key
        fleet.update(frame.iloc[100:101].assign(k="a"), unit=unit)
    assert predictor.n_updates_ == 0 and fleet.update_errors_ == {}


@pytest.mark.parametrize("freq, meant", [
    ("10S", "10s"), ("5T", "5min"), ("1H", "1h"), ("250L", "250ms"), ("10sec", "10s"), ("2 hours", "2h"),
    ("1d", "1D"), ("1MIN", "1min"), ("3US", "3us")])
def test_a_freq_in_older_pandas_spelling_or_words_is_told_the_spelling_meant(freq, meant):
    """'10S', '5T', '1H' (pandas 2.2 reads them with a FutureWarning, pandas 3 not at all), '1d', '1MIN' (pandas 3
    reads them with a FutureWarning) and '10sec': refused on every pandas, with the spelling that reads."""
    from workload_predictor import bucketize
    from workload_predictor.data import parse_freq

    with pytest.raises(WorkloadDataError, match=f"Did you mean freq='{meant}'"):
        bucketize(buckets()[["timestamp"]], timestamp="timestamp", freq=freq)
    assert parse_freq(meant) > pd.Timedelta(0)


@pytest.mark.parametrize("freq", ["1M", "1MS", "1Y", "1W", "soon", "PT10S"])
def test_a_freq_without_a_likely_meaning_gets_no_guess(freq):
    from workload_predictor.data import parse_freq

    with pytest.raises(WorkloadDataError, match="is not a duration") as error:
        parse_freq(freq)
    assert "Did you mean" not in str(error.value)


def test_one_irregular_step_and_one_zero_filled_bucket_are_counted_in_the_singular(runner, tmp_path):
    from workload_predictor.cli import main

    frame = buckets()
    with pytest.raises(WorkloadDataError, match=r"\(1 irregular step\)\."):
        WorkloadPredictor().fit(frame.drop(index=50))
    first, second = tmp_path / "first.csv", tmp_path / "second.csv"
    frame.iloc[:100].to_csv(first, index=False)
    frame.iloc[[101]].to_csv(second, index=False)  # bucket 100 missing: one zero-filled
    model_file = tmp_path / "m.wp"
    for path in (first, second):
        result = runner.invoke(main, ["forecast", str(path), "--model", "dlinear", "--horizon", "3",
                                      "--model-file", str(model_file)])
        assert result.exit_code == 0, result.output
    assert "appended with update(), 1 missing bucket zero-filled; saved" in result.output, result.output
