"""A fleet's error names a row of the frame its caller passed ("row 57 of the frame", ``data.iloc[57]``, with the
row's index label beside it where that is not its position), not a row among its key's own rows, whatever the
kind of fault, the fleet's model and update mode, the order of the caller's rows and the rows left out before
(rows without a key). On the command line (``--by``) it is the file's data row, or a request log's bucket. (A
global_lstm fleet's update names the rows alike: test_fleet_bad_rows' strict update of each kind.)

Before, ``fit`` said "row 10" for the caller's row 21 (key b's 11th row), and ``update`` "row 3" for row 7."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from workload_predictor import FleetPredictor
from workload_predictor.cli import EXIT_DATA, main
from workload_predictor.errors import WorkloadDataError

START = pd.Timestamp("2024-03-01", tz="UTC")
STEP = pd.Timedelta("10s")
N = 40
MODEL = {"model": "naive", "horizon": 2}


def history(n: int = N, start: int = 0) -> pd.DataFrame:
    """Keys a, b and c interleaved (a0 b0 c0 a1 ...), then shuffled within each bucket's triple and given
    labels that are not the positions (a caller's filtered or concatenated frame)."""
    t = np.arange(start, start + n)
    frame = pd.concat([pd.DataFrame({"key": name, "timestamp": START + STEP * t, "requests": 10.0 + (t * (i + 3)) % 7})
                       for i, name in enumerate("abc")])
    frame = frame.sort_values("timestamp", kind="stable")
    return frame.set_axis([f"r{i}" for i in range(len(frame))]).astype({"requests": object, "timestamp": object})


def b_row(frame: pd.DataFrame, nth: int) -> int:
    return int(np.flatnonzero((frame["key"] == "b").to_numpy())[nth])


def shown(frame: pd.DataFrame, row: int) -> str:
    return f"row {row} of the frame (index label {frame.index[row]!r})"


# Each fault: what it writes into the row (column, value), and the message's words around the row it names.
FAULTS = {
    "nan": ("requests", np.nan, "holds nan at {row} (1 non-finite value)"),
    "negative": ("requests", -3.0, "holds a negative value (-3.0 at {row})"),
    "too large": ("requests", 1e20, "holds 1e+20 at {row}, above 1e+18"),
    "text": ("requests", "n/a", "it holds 'n/a' at {row} (1 value is no number"),
    "no timestamp": ("timestamp", "garbage", "({row} holds 'garbage', which is no timestamp)"),
    "missing timestamp": ("timestamp", None, "{row} has a missing timestamp"),
}


def spoiled(frame: pd.DataFrame, fault: str, row: int) -> pd.DataFrame:
    column, value, _ = FAULTS[fault]
    frame = frame.copy()
    frame.iloc[row, frame.columns.get_loc(column)] = value
    return frame


@pytest.mark.parametrize("fault", FAULTS)
def test_fit_names_the_callers_row_of_each_fault(fault):
    data = history()
    # b's rows out of time order (the fit sorts each key's rows), and a row without a key before them (left out)
    order = list(range(len(data)))
    order[b_row(data, 3)], order[b_row(data, 9)] = order[b_row(data, 9)], order[b_row(data, 3)]
    data = data.iloc[order]
    keyless = data.iloc[[0]].assign(key=None).set_axis(["lost"])
    data = pd.concat([data.iloc[:2], keyless, data.iloc[2:]])
    row = b_row(data, 9)  # b's 4th bucket, moved there
    dirty = spoiled(data, fault, row)
    fleet = FleetPredictor(**MODEL).fit(dirty)
    assert fleet.keys_ == ["a", "c"] and list(fleet.errors_) == [None, "b"]
    error = fleet.errors_["b"]
    assert FAULTS[fault][2].format(row=shown(dirty, row)) in str(error), str(error)
    assert error.rows == (row,)
    assert "the first: row 2 of the frame (index label 'lost')" in str(fleet.errors_[None])
    strict = dirty.drop(index="lost")  # strict refuses a row without a key
    with pytest.raises(WorkloadDataError, match=re.escape("key 'b': ") + ".*" + re.escape(shown(strict, row - 1))) \
            as raised:
        FleetPredictor(**MODEL, strict=True).fit(strict)
    assert raised.value.rows == (row - 1,)


def test_fit_names_both_rows_of_a_duplicate_timestamp():
    data = history()
    first, second = b_row(data, 5), b_row(data, 20)
    data.iloc[second, 1] = data.iloc[first, 1]
    error = FleetPredictor(**MODEL).fit(data).errors_["b"]
    assert f"duplicate timestamp 2024-03-01T00:00:50+00:00 at {shown(data, first)} and {shown(data, second)}" \
        in str(error), str(error)
    assert error.rows == (first, second)


def test_a_default_index_names_the_row_alone():
    data = history().reset_index(drop=True)
    row = b_row(data, 7)
    error = FleetPredictor(**MODEL).fit(spoiled(data, "nan", row)).errors_["b"]
    assert f"holds nan at row {row} of the frame (1 non-finite value)" in str(error), str(error)


KINDS = [
    pytest.param(MODEL, id="per-key"),
    pytest.param({"model": "dlinear", "horizon": 2, "window": 4}, id="dlinear-refit"),
    pytest.param({"model": "dlinear", "horizon": 2, "window": 4, "update_mode": "incremental"},
                 id="dlinear-incremental"),
]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("fault", ["nan", "text", "no timestamp", "missing timestamp"])
def test_update_names_the_callers_row_of_each_fault(kind, fault):
    fleet = FleetPredictor(**kind).fit(history())
    new = history(n=4, start=N)
    row = b_row(new, 2)
    dirty = spoiled(new, fault, row)
    fleet.update(dirty)
    assert list(fleet.update_errors_) == ["b"]
    error = fleet.update_errors_["b"]
    assert FAULTS[fault][2].format(row=shown(dirty, row)) in str(error), str(error)
    assert error.rows == (row,)


@pytest.mark.parametrize("kind", KINDS)
def test_update_names_both_rows_of_a_duplicate_timestamp(kind):
    fleet = FleetPredictor(**kind).fit(history())
    new = history(n=4, start=N)
    first, second = b_row(new, 1), b_row(new, 3)
    new.iloc[second, 1] = new.iloc[first, 1]
    fleet.update(new)
    error = fleet.update_errors_["b"]
    assert f"at {shown(new, first)} and {shown(new, second)}:" in str(error), str(error)


@pytest.mark.parametrize("kind", KINDS)
def test_an_update_row_out_of_order_is_named_by_its_bucket_and_row(kind):
    """A row at or before the key's last bucket names that bucket (its time) and the caller's row that holds it."""
    fleet = FleetPredictor(**kind).fit(history())
    new = history(n=2, start=N)
    row = b_row(new, 1)
    new.iloc[row, 1] = START + STEP * (N - 3)
    fleet.update(new)
    error = fleet.update_errors_["b"]
    assert str(error).startswith(f"new bucket {(START + STEP * (N - 3)).isoformat()} at {shown(new, row)} is not "
                                 "after"), str(error)
    assert error.rows == (row,)


def test_a_strict_update_raises_naming_the_callers_row():
    fleet = FleetPredictor(**MODEL, strict=True).fit(history())
    new = history(n=3, start=N)
    row = b_row(new, 1)
    with pytest.raises(WorkloadDataError, match=re.escape(f"key 'b': target column 'requests' holds nan at "
                                                          f"{shown(new, row)} (1 non-finite value)")):
        fleet.update(spoiled(new, "nan", row))


def test_an_error_is_named_in_the_frame_once():
    from workload_predictor.data import in_frame
    from workload_predictor.errors import naming_rows

    error = naming_rows(WorkloadDataError, "x at ", 1, " and ", 0, ".")
    assert str(error) == "x at row 1 and row 0." and error.rows == (1, 0)
    index = pd.Index(["p", "q", "r", "s"])
    in_frame(error, index, np.array([3, 2]))
    assert str(error) == "x at row 2 of the frame (index label 'r') and row 3 of the frame (index label 's')."
    assert error.rows == (2, 3)
    assert str(in_frame(error, index, np.array([0, 1]))) == str(error)  # named already: as it is
    plain = WorkloadDataError("row 1 holds nothing")  # no row recorded: left as it is
    assert str(in_frame(plain, index, np.array([0, 1]))) == "row 1 holds nothing"


# -- the command line ---------------------------------------------------------------------------------------------
def test_forecast_by_names_the_files_data_row(tmp_path):
    data = history().reset_index(drop=True)
    row = b_row(data, 11)
    path = tmp_path / "fleet.csv"
    spoiled(data, "text", row).assign(requests=lambda d: d["requests"].replace("n/a", "ERR")).to_csv(path, index=False)
    result = CliRunner().invoke(main, ["forecast", str(path), "--by", "key", "--model", "naive", "--horizon", "2"])
    assert result.exit_code == 0, result.output
    said = re.search(r"skipped b: .*holds 'ERR' at data row (\d+) \(", result.output)
    assert said, result.output
    line = path.read_text().splitlines()[int(said.group(1))]  # after the header line
    assert line.split(",")[0] == "b" and line.endswith(",ERR"), line
    assert "Data rows count from 1, after any header line." in result.output


def test_forecast_by_on_a_request_log_names_the_bucket(tmp_path):
    """A request log's key is fitted on its buckets, which no line of the file is: a bucket's total beyond any
    count is named by its time."""
    arrivals = START + pd.to_timedelta(np.arange(0, 600, 2), unit="s")
    log = pd.DataFrame({"timestamp": arrivals, "tenant": np.where(np.arange(len(arrivals)) % 2, "a", "b"),
                        "input_tokens": 100, "output_tokens": 10})
    b = np.flatnonzero(log["tenant"] == "b")[[40, 41]]  # two of b's requests in one bucket, each a count alone
    log.loc[b, "input_tokens"] = 6e17
    path = tmp_path / "log.csv"
    log.to_csv(path, index=False)
    result = CliRunner().invoke(main, ["forecast", str(path), "--by", "tenant", "--freq", "10s", "--target",
                                       "input_tokens", "--model", "naive", "--horizon", "2"])
    bucket = log.loc[b[0], "timestamp"].floor("10s").strftime("%Y-%m-%d %H:%M:%SZ")
    assert result.exit_code in (0, EXIT_DATA), result.output
    assert re.search(rf"skipped b: target column 'input_tokens' holds 1\.2e\+18 at the bucket of {bucket}, above",
                     result.output), result.output
    assert "data row" not in result.output


def test_a_strict_update_keeps_what_the_keys_error_holds():
    """The raised error is the key's, named: an ``UpdateOrderError`` keeps its ``first`` and ``last`` buckets, and
    its rows' places in the message move with the key's name put before it (before: rebuilt from its message, the
    buckets were ``None``)."""
    from workload_predictor.errors import UpdateOrderError, renamed_rows

    fleet = FleetPredictor(**MODEL, strict=True).fit(history())
    new = history(n=2, start=N)
    new.iloc[b_row(new, 1), 1] = START + STEP * (N - 3)
    with pytest.raises(UpdateOrderError) as raised:
        fleet.update(new)
    assert str(raised.value).startswith("key 'b': ")
    assert raised.value.first == START + STEP * (N - 3) and raised.value.last == START + STEP * (N - 1)
    strict = FleetPredictor(**MODEL, strict=True).fit(history())
    spoilt = spoiled(history(n=3, start=N), "nan", b_row(history(n=3, start=N), 1))
    with pytest.raises(WorkloadDataError) as named:
        strict.update(spoilt)
    assert "holds nan at data row 8 (1 non-finite" in str(renamed_rows(named.value, ["data row 8"])), str(named.value)
