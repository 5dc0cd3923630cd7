"""Imperfect data the soak's single-target stream does not send: one bad token column among good ones, numbers of
the dtypes a caller's pipeline produces (an integer past float's range, float32 epochs), and a fleet's key column
read as another type at update than at fit."""

from __future__ import annotations

import copy
import re

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from workload_predictor import FleetPredictor, WorkloadPredictor
from workload_predictor.cli import EXIT_DATA, main
from workload_predictor.data import prepare_series
from workload_predictor.errors import WorkloadDataError
from workload_predictor.readers import read_trace

START = pd.Timestamp("2024-03-01", tz="UTC")
STEP = pd.Timedelta("10s")
TARGETS = ["requests", "input_tokens", "output_tokens"]
BIG = 10**400  # a corrupt counter's 400 digits: a Python int no float holds


def token_series(n: int = 200, seed: int = 0) -> pd.DataFrame:
    """Poisson requests around a sine, with input and output tokens following them (the README's token targets)."""
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    requests = rng.poisson(30 * (1 + 0.5 * np.sin(2 * np.pi * t / 30))).astype(float)
    return pd.DataFrame({"timestamp": START + STEP * t, "requests": requests,
                         "input_tokens": requests * 300 + rng.poisson(50, n),
                         "output_tokens": requests * 120 + rng.poisson(20, n)})


@pytest.fixture(scope="module")
def fleet():
    frame = pd.concat([token_series(seed=0).assign(key=1), token_series(seed=1).assign(key=2)], ignore_index=True)
    return FleetPredictor("dlinear", horizon=5, window=24).fit(frame, key="key", target=TARGETS)


def next_rows(fleet, key, **values) -> pd.DataFrame:
    row = {"timestamp": [fleet.predict()["timestamp"].max() - 4 * STEP], "requests": [30.0],
           "input_tokens": [9050.0], "output_tokens": [3620.0], **values}
    return pd.DataFrame(row).assign(key=[key])


# -- an integer past float's range ----------------------------------------------------------------------------------

@pytest.mark.parametrize("column", [[5, BIG, 3], [5, BIG, None]], ids=["ints", "ints and None"])
def test_an_integer_past_floats_range_is_a_typed_error(column):
    frame = pd.DataFrame({"timestamp": START + STEP * np.arange(3), "requests": pd.Series(column, dtype=object)})
    # d6b9f49: OverflowError: int too large to convert to float (no ValueError: the caller's loop died)
    with pytest.raises(WorkloadDataError, match="'requests' holds inf at row"):
        prepare_series(frame)


@pytest.mark.parametrize("text, said", [("1e400", "inf"), (str(BIG), "inf"), ("-1e400", "-inf"), (" 1E999 ", "inf"),
                                        ("1" * 5000, "inf")],
                         ids=["1e400", "400 digits", "-1e400", "1E999", "5000 digits"])
@pytest.mark.parametrize("dtype", [object, "string"])
def test_a_number_past_floats_range_written_as_text_is_inf_on_every_pandas(text, said, dtype):
    """pandas 2.2's to_numeric coerces such text to NaN (pandas 3 reads it as inf): it was "holds '1e400' ..., which
    is no number", where pandas 3 says what the number is. pandas 3 coerces 5000 digits to NaN too."""
    frame = pd.DataFrame({"timestamp": START + STEP * np.arange(3),
                          "requests": pd.Series(["5", text, "3"], dtype=dtype)})
    with pytest.raises(WorkloadDataError, match=f"'requests' holds {said} at row 1"):
        prepare_series(frame)


@pytest.mark.parametrize("text", ["7\x1f", "7\xa0", "\u0667"], ids=["unit separator", "no-break space", "arabic 7"])
@pytest.mark.parametrize("dtype", [object, "string"])
def test_text_pandas_reads_as_no_number_but_float_reads_or_refuses_is_no_number(text, dtype):
    """Python's float() and re's \\s and \\d take characters pandas' to_numeric does not: a whitespace control
    character or a no-break space around a digit, a digit of another script. Such text is no number, as pandas says."""
    frame = pd.DataFrame({"timestamp": START + STEP * np.arange(3),
                          "requests": pd.Series(["5", text, "3"], dtype=dtype)})
    with pytest.raises(WorkloadDataError, match=f"it holds {re.escape(repr(text))} at row 1 \\(1 value is no number"):
        prepare_series(frame)


def test_an_update_with_such_an_integer_is_refused_and_changes_nothing():
    series = token_series()
    predictor = WorkloadPredictor("dlinear", horizon=5, window=24).fit(series.iloc[:150], target=TARGETS)
    before = predictor.predict().yhat.copy()
    row = series.iloc[[150]].astype({"output_tokens": object})
    row["output_tokens"] = pd.Series([BIG], index=row.index, dtype=object)
    with pytest.raises(WorkloadDataError, match="'output_tokens' holds inf"):
        predictor.update(row)
    np.testing.assert_array_equal(predictor.predict().yhat, before)


def test_a_csv_count_of_400_digits_is_a_typed_error(tmp_path):
    path = tmp_path / "series.csv"
    path.write_text("timestamp,requests\n2024-01-01T00:00:00Z,5\n2024-01-01T00:00:10Z," + str(BIG) +
                    "\n2024-01-01T00:00:20Z,3\n")
    # d6b9f49: OverflowError from pd.to_numeric(errors="coerce") in check_numbers
    with pytest.raises(WorkloadDataError, match="'requests' holds inf at row 1"):
        read_trace(path, freq="10s")


# -- float32 epochs -----------------------------------------------------------------------------------------------

def test_float32_epoch_seconds_are_refused_not_merged():
    seconds = np.array([1704067200, 1704067210, 1704067220], dtype=np.int64)
    frame = pd.DataFrame({"timestamp": seconds.astype(np.float32), "requests": [1.0, 2.0, 3.0]})
    # d6b9f49: the three stamps, 10 s apart, arrived as one bucket (float32 holds every 128 s at 1.7e9)
    with pytest.raises(WorkloadDataError, match=r"float32 epochs, which near 1704067200 \(s\) hold only every 2min 8s"):
        prepare_series(frame, freq="10s")
    assert len(prepare_series(frame.assign(timestamp=seconds), freq="10s").index) == 3  # int64: read as written


def test_a_float32_epoch_update_is_refused():
    series = token_series()
    predictor = WorkloadPredictor("dlinear", horizon=5, window=24).fit(series.iloc[:150], target=TARGETS)
    stamp = (series["timestamp"].iloc[150] - pd.Timestamp(0, tz="UTC")) // pd.Timedelta("1ms")
    row = series.iloc[[150]].assign(timestamp=np.array([stamp], dtype=np.float32))
    with pytest.raises(WorkloadDataError, match="float32 epochs"):
        predictor.update(row)
    assert predictor.update(row.assign(timestamp=np.array([stamp], dtype=np.int64))).last_timestamp_ == \
        series["timestamp"].iloc[150]


def test_float32_offsets_that_keep_their_step_are_read():
    offsets = np.arange(0, 3600, 10, dtype=np.float32)  # an hour from the origin: float32 keeps 0.24 ms there
    frame = pd.DataFrame({"t": offsets, "requests": np.ones(len(offsets))})
    series = prepare_series(frame, timestamp="t", unit="s", origin="2024-01-01")
    assert series.index[-1] == pd.Timestamp("2024-01-01 00:59:50", tz="UTC") and len(series.index) == 360


# -- one bad token column among good ones -------------------------------------------------------------------------

@pytest.mark.parametrize("value, message", [(np.nan, "holds nan"), (np.inf, "holds inf"), (-5.0, "negative"),
                                            (2.0**63, "above 1e"), ("n/a", "not numbers")])
def test_one_bad_token_column_is_that_keys_error_alone(fleet, value, message):
    fleet = copy.deepcopy(fleet)
    before = fleet.predict()
    # An object column, as a concat of per-key frames makes it, written after the concat: pandas 2.2 warns that it
    # will stop dropping an all-NaN object column when choosing a concat's dtype (it still makes that float64).
    rows = pd.concat([next_rows(fleet, 1), next_rows(fleet, 2)], ignore_index=True).astype({"output_tokens": object})
    rows.loc[0, "output_tokens"] = value  # key 1's row
    assert rows["output_tokens"].dtype == object and rows["key"].tolist() == [1, 2]
    fleet.update(rows)
    assert list(fleet.update_errors_) == [1]
    assert "'output_tokens'" in str(fleet.update_errors_[1]) and message in str(fleet.update_errors_[1])
    after = fleet.predict()
    pd.testing.assert_frame_equal(after[after["key"] == 1], before[before["key"] == 1])  # key 1 keeps its fit
    assert (after[after["key"] == 2]["timestamp"] > before["timestamp"].max()).any()  # key 2 moved on


def test_an_update_without_a_token_column_names_it(fleet):
    fleet = copy.deepcopy(fleet)
    with pytest.raises(WorkloadDataError, match="no target column 'input_tokens'"):  # once for the frame, as fit
        fleet.update(pd.concat([next_rows(fleet, 1), next_rows(fleet, 2)]).drop(columns="input_tokens"))


def test_extra_and_reordered_columns_update_as_the_plain_frame(fleet):
    plain, shuffled = copy.deepcopy(fleet), copy.deepcopy(fleet)
    rows = pd.concat([next_rows(fleet, 1), next_rows(fleet, 2)], ignore_index=True)
    plain.update(rows)
    shuffled.update(rows.assign(region="eu")[["output_tokens", "region", "key", "requests", "timestamp",
                                               "input_tokens"]])
    assert plain.update_errors_ == {} and shuffled.update_errors_ == {}
    pd.testing.assert_frame_equal(shuffled.predict(), plain.predict())


# -- a key column read as another type ---------------------------------------------------------------------------

def test_a_key_read_as_text_names_the_fitted_key_and_the_conversion(fleet):
    fleet = copy.deepcopy(fleet)
    fleet.update(pd.concat([next_rows(fleet, "1"), next_rows(fleet, 2)], ignore_index=True))
    message = str(fleet.update_errors_["1"])
    # d6b9f49: "key '1' was not fitted (it is new, or in errors_); fit the fleet again to add it." (a refit adds
    # "1" beside 1, and the fleet forecasts both)
    assert "key '1' (type str) was not fitted, but key 1 (type int) was" in message
    assert "data['key'] = data['key'].astype(int)" in message
    assert list(fleet.update_errors_) == ["1"]


def test_a_new_key_keeps_its_message(fleet):
    fleet = copy.deepcopy(fleet)
    fleet.update(next_rows(fleet, 3))
    assert str(fleet.update_errors_[3]) == "key '3' was not fitted (it is new, or in errors_); fit the fleet again " \
                                           "to add it."


@pytest.mark.parametrize("command, code, said", [("inspect", 0, "max inf"),
                                                  ("forecast", EXIT_DATA, "holds inf at data row 2")])
def test_the_cli_reads_a_csv_count_of_400_digits(tmp_path, command, code, said):

    path = tmp_path / "series.csv"
    path.write_text("timestamp,requests\n2024-01-01T00:00:00Z,5\n2024-01-01T00:00:10Z," + str(BIG) +
                    "\n2024-01-01T00:00:20Z,3\n")
    result = CliRunner().invoke(main, [command, str(path)] + (["--horizon", "2"] if command == "forecast" else []))
    # d6b9f49: exit 1, "internal error (OverflowError: int too large to convert to float)"
    assert result.exit_code == code and said in result.output, result.output
