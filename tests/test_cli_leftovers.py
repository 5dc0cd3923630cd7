"""What the reviews of the command line's input side left (h96, h99, h104): --unit and --origin beside timestamps that
are no numbers, a fleet key whose timestamps cannot be read, a nested JSON column whose first value is no object,
keys that pandas would merge, and the token names of a forecast's targets."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from workload_predictor.cli import EXIT_DATA, main
from workload_predictor.data import to_utc_index, utc_instants
from workload_predictor.errors import WorkloadDataError

START = pd.Timestamp("2024-05-10", tz="UTC")


def _run(args: list) -> tuple[int, str]:
    result = CliRunner().invoke(main, [str(a) for a in args])
    assert "Traceback" not in result.output and "internal error" not in result.output, result.output
    return result.exit_code, result.output


def _log(n: int = 300, keys: tuple = ("a", "b", "c")) -> pd.DataFrame:
    """``n`` requests a second apart from START (ISO stamps), the keys in turn."""
    stamps = START + pd.to_timedelta(np.arange(n), unit="s")
    return pd.DataFrame({"timestamp": stamps.strftime("%Y-%m-%dT%H:%M:%SZ"), "input_tokens": 100,
                         "tenant": [keys[i % len(keys)] for i in range(n)]})


# -- 1. --unit and --origin say how to read numbers: beside dates they are refused, naming what the column holds -----
@pytest.mark.parametrize("options, said", [(["--unit", "s"], "--unit s says"),
                                           (["--origin", "2024-01-01T00:00:00Z"], "--origin '2024-01-01T00:00:00Z' says"),
                                           (["--unit", "ms", "--origin", "xxxx"], "--unit ms and --origin 'xxxx' say")])
@pytest.mark.parametrize("command", [["forecast", "--freq", "10s", "--model", "naive", "--horizon", "2"],
                                     ["forecast", "--freq", "10s", "--model", "naive", "--horizon", "2", "--by", "tenant"],
                                     ["inspect", "--freq", "10s"]])
def test_unit_or_origin_beside_iso_stamps_is_refused_naming_the_columns_kind(tmp_path, command, options, said):
    """Before: ``--origin xxxx --unit s`` on a log of ISO stamps forecast as if neither were given (exit 0)."""
    path = tmp_path / "log.csv"
    _log().to_csv(path, index=False)
    code, output = _run([command[0], path, *command[1:], *options])
    assert code == EXIT_DATA, output
    assert said in output and "these are date strings ('2024-05-10T00:00:00Z' at data row 1)" in output, output
    assert "drop --" in output


def test_a_bucketed_csv_of_iso_stamps_refuses_unit_too(tmp_path):
    path = tmp_path / "series.csv"
    stamps = pd.date_range(START, periods=60, freq="10s").strftime("%Y-%m-%dT%H:%M:%SZ")
    pd.DataFrame({"timestamp": stamps, "requests": 5}).to_csv(path, index=False)
    code, output = _run(["forecast", path, "--model", "naive", "--horizon", "2", "--unit", "s"])
    assert code == EXIT_DATA and "--unit s says how to read numeric timestamps" in output, output
    assert _run(["forecast", path, "--model", "naive", "--horizon", "2"])[0] == 0  # the same file without --unit


@pytest.mark.parametrize("read", [to_utc_index, utc_instants])
@pytest.mark.parametrize("values, kind", [
    (pd.Series(pd.date_range(START, periods=3, freq="s")), "datetimes"),  # datetime64 (update's fast path)
    (pd.Series([START.to_pydatetime()] * 2, dtype=object), "datetimes"),
    (pd.Series(["2024-05-10T00:00:00Z", "2024-05-10T00:00:01Z"], dtype=object), "date strings"),
    (pd.Series(pd.to_timedelta([0, 1], unit="s")), "durations"),
])
def test_the_door_refuses_unit_beside_timestamps_that_are_no_numbers(read, values, kind):
    """Before: unit= beside datetimes, date strings or durations was accepted and did nothing."""
    extra = {"origin": "2024-01-01"} if kind == "durations" else {}  # durations need their origin
    with pytest.raises(WorkloadDataError, match=rf"unit='s' says how to read numeric timestamps .* these are {kind} "):
        read(values, unit="s", **extra)
    if kind != "durations":
        with pytest.raises(WorkloadDataError, match=rf"origin='2024-01-01' says .* these are {kind} "):
            read(values, origin="2024-01-01")


def test_numbers_with_unit_and_origin_still_read_as_offsets():
    stamps = to_utc_index(pd.Series([0, 10]), unit="s", origin="2024-05-10T00:00:00Z")
    assert list(stamps) == [START, START + pd.Timedelta("10s")]
