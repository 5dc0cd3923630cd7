"""An update's refusal of a row by its bucket's time (a row at or before the last bucket, a row off the grid, a gap
over ``max_gap``) names the caller's row too, as every other refusal of a row does: ``row N`` (a position from 0,
``data.iloc[N]``) for ``WorkloadPredictor.update``, ``row N of the frame (index label ...)`` for a fleet's, kept in
``WorkloadDataError.rows``; an ``UpdateGapError``'s ``finding`` names it alike. On the command line, the update of a
``--model-file`` names the file's data row, and a bucketed file out of time order is read with its rows' places kept.

Before, these errors named the bucket's time alone: in an update of rows in any order, the caller searched the
frame for it (h127 left 1)."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from workload_predictor import FleetPredictor, WorkloadPredictor
from workload_predictor.cli import EXIT_DATA, main
from workload_predictor.errors import UpdateGapError, UpdateOrderError, WorkloadDataError

START = pd.Timestamp("2024-03-01", tz="UTC")
STEP = pd.Timedelta("10s")
N = 40


def series(n: int = N, start: int = 0) -> pd.DataFrame:
    t = np.arange(start, start + n)
    return pd.DataFrame({"timestamp": START + STEP * t, "requests": 10.0 + t % 7})


def rows_with(fault: str) -> tuple[pd.DataFrame, int]:
    """Five rows after the fit's last bucket (N - 1), in reverse time order with labels that are not positions,
    one of them (returned: its position) made faulty."""
    new = series(5, start=N).iloc[::-1].set_axis([f"r{i}" for i in range(5)])
    row = 3
    at = {"late": START + STEP * (N - 3), "off the grid": START + STEP * (N + 2) + pd.Timedelta("5s"),
          "gap": START + STEP * (N + 40)}[fault]
    new.iloc[row, 0] = at
    return new, row


FAULTS = {"late": (UpdateOrderError, "is not after the last fitted bucket"),
          "off the grid": (WorkloadDataError, "is off the fitted grid (every 10s from"),
          "gap": (UpdateGapError, "is 36 buckets after the previous row")}


@pytest.mark.parametrize("fault", FAULTS)
def test_a_predictors_update_names_the_row(fault):
    predictor = WorkloadPredictor(model="naive", horizon=2, max_gap=5).fit(series())
    new, row = rows_with(fault)
    with pytest.raises(FAULTS[fault][0]) as raised:
        predictor.update(new)
    stamp = pd.Timestamp(new.iloc[row, 0]).isoformat()
    assert f"new bucket {stamp} at row {row} {FAULTS[fault][1]}" in str(raised.value), str(raised.value)
    assert raised.value.rows == (row,)
    if fault == "gap":
        assert raised.value.finding.startswith(f"new bucket {stamp} at row {row} is 36 buckets after")
        assert "Drop it" not in raised.value.finding


@pytest.mark.parametrize("kind", [
    pytest.param({"model": "naive"}, id="per-key"),
    pytest.param({"model": "dlinear", "window": 4}, id="dlinear-refit"),
    pytest.param({"model": "dlinear", "window": 4, "update_mode": "incremental"}, id="dlinear-incremental"),
])
@pytest.mark.parametrize("fault", FAULTS)
def test_a_fleets_update_names_the_callers_row(kind, fault):
    """Key b's rows among a's, in reverse time order: the row named is the frame's, its label beside it; a gap's
    ``finding`` (what the command line words its own fix with) names it as the message does."""
    history = pd.concat([series().assign(key=key) for key in "ab"])
    fleet = FleetPredictor(horizon=2, max_gap=5, **kind).fit(history)
    b, row = rows_with(fault)
    new = pd.concat([series(5, start=N).assign(key="a").set_axis([f"a{i}" for i in range(5)]), b.assign(key="b")])
    new = new.iloc[[0, 5, 1, 6, 2, 7, 3, 8, 4, 9]]  # a and b interleaved
    place = int(np.flatnonzero(new.index == f"r{row}")[0])
    fleet.update(new)
    assert list(fleet.update_errors_) == ["b"]
    error = fleet.update_errors_["b"]
    named = f"at row {place} of the frame (index label 'r{row}')"
    assert f"new bucket {pd.Timestamp(new.iloc[place, 0]).isoformat()} {named} {FAULTS[fault][1]}" in str(error), \
        str(error)
    assert error.rows == (place,)
    if fault == "gap":
        assert named in error.finding and "Drop it" not in error.finding


def test_a_late_row_in_a_run_of_zero_buckets_is_named_by_its_row():
    """The refusal that names the run of zero buckets a late row falls in names the row too."""
    history = series().assign(requests=lambda d: np.where(np.arange(N) >= N - 6, 0.0, d["requests"]))
    history.iloc[-1, 1] = 7.0
    predictor = WorkloadPredictor(model="naive", horizon=2).fit(history)
    new = series(3, start=N).set_axis(["x", "y", "z"])
    new.iloc[2, 0] = START + STEP * (N - 3)
    with pytest.raises(UpdateOrderError, match=re.escape(f"new bucket {(START + STEP * (N - 3)).isoformat()} at row "
                                                         "2 is not after the last fitted bucket")) as raised:
        predictor.update(new)
    assert "lies in a run of 5 zero buckets" in str(raised.value) and raised.value.rows == (2,)
    assert raised.value.first == START + STEP * (N - 3)


# -- the command line ---------------------------------------------------------------------------------------------
def _csv(path, frame: pd.DataFrame):
    frame.assign(timestamp=frame["timestamp"].map(lambda t: t.strftime("%Y-%m-%dT%H:%M:%SZ"))).to_csv(path,
                                                                                                     index=False)
    return path


def _file_line(path, said: str) -> str:
    """The line of ``path`` that "data row N" in ``said`` names (after the header line)."""
    found = re.search(r"data row (\d+)\b", said)
    assert found, said
    return path.read_text().splitlines()[int(found.group(1))]


@pytest.mark.parametrize("fault", ["off the grid", "gap"])
def test_a_model_file_update_names_the_files_data_row(tmp_path, fault):
    """The trace's rows out of time order: the data row named is the file's line of that bucket."""
    runner = CliRunner()
    model = tmp_path / "m.wp"
    assert runner.invoke(main, ["forecast", str(_csv(tmp_path / "a.csv", series())), "--model", "naive",
                                "--horizon", "2", "--model-file", str(model)]).exit_code == 0
    new, row = series(20, start=N).iloc[::-1].reset_index(drop=True), 7
    new.iloc[row, 0] += pd.Timedelta("5s") if fault == "off the grid" else STEP * 3000  # past max_gap (1000)
    path = _csv(tmp_path / "b.csv", new)
    result = runner.invoke(main, ["forecast", str(path), "--model-file", str(model)])
    assert result.exit_code == EXIT_DATA, result.output
    assert "Traceback" not in result.output and "Data rows count from 1" in result.output
    stamp = pd.Timestamp(new.iloc[row, 0])
    assert _file_line(path, result.output).startswith(stamp.strftime("%Y-%m-%dT%H:%M:%SZ")), result.output


def test_a_model_file_update_of_a_request_log_names_the_bucket_alone(tmp_path):
    """A request log's buckets are no rows of the file: the gap names the bucket's time, no row."""
    runner = CliRunner()
    model = tmp_path / "m.wp"

    def log(path, start):
        stamps = start + pd.to_timedelta(np.arange(0, 600, 2), unit="s")
        pd.DataFrame({"timestamp": stamps.strftime("%Y-%m-%dT%H:%M:%SZ"), "input_tokens": 5}).to_csv(path,
                                                                                                    index=False)
        return path

    assert runner.invoke(main, ["forecast", str(log(tmp_path / "a.csv", START)), "--freq", "10s", "--model", "naive",
                                "--horizon", "2", "--model-file", str(model)]).exit_code == 0
    result = runner.invoke(main, ["forecast", str(log(tmp_path / "b.csv", START + pd.Timedelta("1D"))), "--freq",
                                  "10s", "--model-file", str(model)])
    assert result.exit_code == EXIT_DATA, result.output
    assert re.search(r"b\.csv: new bucket 2024-03-02T00:00:10\+00:00 is [\d,]+ buckets after the last fitted bucket",
                     result.output), result.output
    assert "row" not in result.output.replace("previous row", "")


def test_a_bucketed_file_out_of_time_order_names_its_own_rows_of_a_repeated_timestamp(tmp_path):
    """The series is sorted by time when read: a repeated timestamp was named by its rows in that order ("data row
    40 and data row 41" for the file's 11 and 21)."""
    frame = series(60).iloc[::-1].reset_index(drop=True)
    frame.loc[20, "timestamp"] = frame.loc[10, "timestamp"]
    path = _csv(tmp_path / "dup.csv", frame)
    result = CliRunner().invoke(main, ["forecast", str(path), "--model", "naive", "--horizon", "2"])
    assert result.exit_code == EXIT_DATA, result.output
    assert "at data row 11 and data row 21:" in result.output, result.output
