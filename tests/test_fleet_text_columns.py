"""A fleet's count column read from text (a CSV where one endpoint wrote "ERR": pandas reads the whole column as
strings) or from a database driver (``decimal.Decimal``): the keys whose cells are numbers are fitted and updated,
the key with the text is reported in ``errors_`` / ``update_errors_`` naming the value and its row, through the
API and the command line; the caller's frame is never modified."""

from __future__ import annotations

import copy
import decimal

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from workload_predictor import FleetPredictor, WorkloadPredictor
from workload_predictor.cli import main
from workload_predictor.errors import WorkloadDataError

START = pd.Timestamp("2024-03-01", tz="UTC")
STEP = pd.Timedelta("5min")
N = 200
KINDS = [
    pytest.param({"model": "dlinear"}, id="dlinear-refit"),
    pytest.param({"model": "dlinear", "update_mode": "incremental"}, id="dlinear-incremental"),
    pytest.param({"model": "global_lstm", "model_params": {"max_epochs": 1}}, id="global_lstm"),
]


def history(keys=("a", "b", "c"), n: int = N, start: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    t = np.arange(start, start + n)
    return pd.concat([pd.DataFrame({"key": name, "timestamp": START + STEP * t,
                                    "requests": rng.poisson(40 + 10 * np.sin(t / 9)).astype(np.int64)})
                      for name in keys], ignore_index=True)


def as_read_from_csv(frame: pd.DataFrame, tmp_path, bad: dict | None = None) -> pd.DataFrame:
    """``frame`` written to a CSV file (``bad`` maps rows to the text written in their count cell) and read back with
    ``pd.read_csv``, as a user reads an endpoint log: the count column is text wherever one cell is."""
    written = frame.astype({"requests": object})
    for row, text in (bad or {}).items():
        written.loc[row, "requests"] = text
    path = tmp_path / "fleet.csv"
    written.to_csv(path, index=False)
    return pd.read_csv(path)


def fleet(kind: dict, data: pd.DataFrame) -> FleetPredictor:
    return FleetPredictor(horizon=6, window=24, random_state=0, **kind).fit(data)


def b_row(data: pd.DataFrame, position: int) -> int:
    return int((data["key"] == "b").to_numpy().nonzero()[0][position])


@pytest.mark.parametrize("kind", KINDS)
def test_a_fit_of_a_csv_whose_one_endpoint_wrote_text_refuses_that_key_alone(kind, tmp_path):
    data = as_read_from_csv(history(), tmp_path, {b_row(history(), 50): "ERR"})
    assert not pd.api.types.is_numeric_dtype(data["requests"].dtype)  # every cell is text, as pandas reads it
    given = data.copy(deep=True)
    got = fleet(kind, data)
    want = fleet(kind, history().query("key != 'b'"))
    assert got.keys_ == ["a", "c"] and list(got.errors_) == ["b"]
    message = str(got.errors_["b"])
    assert "it holds 'ERR' at row 250 of the frame (1 value is no number" in message and "pd.to_numeric" in message
    pd.testing.assert_frame_equal(got.predict(), want.predict())
    pd.testing.assert_frame_equal(data, given)


@pytest.mark.parametrize("kind", KINDS)
def test_an_update_read_from_a_csv_with_one_endpoints_text_updates_the_others(kind, tmp_path):
    fitted = fleet(kind, history())
    new = history(n=3, start=N)
    update = as_read_from_csv(new, tmp_path, {7: "n/a?"})  # c's second new row
    given = update.copy(deep=True)
    got, want = copy.deepcopy(fitted), copy.deepcopy(fitted)
    got.update(update)
    want.update(new.query("key != 'c'"))
    assert list(got.update_errors_) == ["c"]
    assert "it holds 'n/a?' at row 7 of the frame (1 value is no number" in str(got.update_errors_["c"])
    assert got.predict().equals(want.predict())
    pd.testing.assert_frame_equal(update, given)


@pytest.mark.parametrize("column", ["str", "object"])
def test_a_column_of_number_text_fits_as_its_numbers(column):
    data = history()
    text = data.assign(requests=data["requests"].astype(str).astype(column))
    want = fleet({"model": "dlinear"}, data)
    got = fleet({"model": "dlinear"}, text)
    assert got.errors_ == {} and got.predict().equals(want.predict())
    one = data.query("key == 'a'").drop(columns="key")
    assert (WorkloadPredictor(horizon=6, window=24).fit(one.assign(requests=one["requests"].astype(str).astype(column)))
            .predict().to_frame().equals(WorkloadPredictor(horizon=6, window=24).fit(one).predict().to_frame()))


@pytest.mark.parametrize("bad", ["ERR", "nan", "1,000", "12 requests"])
def test_a_predictor_names_the_text_that_is_no_number(bad):
    data = history(("a",)).drop(columns="key")
    data = data.assign(requests=data["requests"].astype(str))
    data.loc[7, "requests"] = bad
    with pytest.raises(WorkloadDataError, match=rf"holds '{bad}' at row 7 \(1 value is no number"):
        WorkloadPredictor(horizon=6, window=24).fit(data)


def test_forecast_by_on_a_csv_whose_one_endpoint_wrote_text_forecasts_the_others(tmp_path):
    frame = history().rename(columns={"key": "endpoint"})
    frame["timestamp"] = frame["timestamp"].dt.strftime("%Y-%m-%dT%H:%M:%SZ")
    written = frame.astype({"requests": object})
    written.loc[int((frame["endpoint"] == "b").to_numpy().nonzero()[0][50]), "requests"] = "ERR"
    path = tmp_path / "fleet.csv"
    written.to_csv(path, index=False)
    out = tmp_path / "forecast.csv"
    result = CliRunner().invoke(main, ["forecast", str(path), "--by", "endpoint", "--model", "dlinear", "--horizon", "6",
                                       "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "3 keys by 'endpoint', 2 fitted, 1 skipped" in result.output
    assert ("skipped b: target column 'requests' has dtype" in result.output
            and "it holds 'ERR' at data row 251 " in result.output  # b's 51st row, the file's 251st
            and "Data rows count from 1, after any header line." in result.output
            and "fix the file so that it holds numbers only" in result.output)
    assert "pd.to_numeric" not in result.output  # library advice a command-line user cannot take
    assert sorted(pd.read_csv(out)["endpoint"].unique()) == ["a", "c"]


@pytest.mark.parametrize("kind", KINDS[:2])
def test_decimals_are_numbers_and_a_nan_decimal_refuses_its_key_as_nan_does(kind):
    data = history()
    decimals = data.assign(requests=[decimal.Decimal(int(v)) for v in data["requests"]])
    want = fleet(kind, data)
    got = fleet(kind, decimals)
    assert got.errors_ == {} and got.predict().equals(want.predict())
    for bad, message in ((decimal.Decimal("NaN"), "nan"), (decimal.Decimal("sNaN"), "holds Decimal('sNaN') at row 250 of the frame ")):
        dirty = decimals.copy()
        dirty.loc[b_row(data, 50), "requests"] = bad
        got = fleet(kind, dirty)
        assert got.keys_ == ["a", "c"] and list(got.errors_) == ["b"] and message in str(got.errors_["b"])
    new = history(n=2, start=N)
    got = copy.deepcopy(want).update(new.assign(requests=[decimal.Decimal(int(v)) + decimal.Decimal("0.5")
                                                          for v in new["requests"]]))
    numbers = copy.deepcopy(want).update(new.assign(requests=new["requests"] + 0.5))
    assert got.update_errors_ == {} and got.predict().equals(numbers.predict())

