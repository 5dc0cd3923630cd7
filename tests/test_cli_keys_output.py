"""Reading the timestamp column and writing a fleet's keys (review h112's leftovers): two columns named alike, a log
of one bucket per key, the type of the keys a fleet gives back, whole-number keys of a JSON Lines log, and keys of
odd text read back from --out."""

from __future__ import annotations

import csv
import json

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from workload_predictor import FleetPredictor
from workload_predictor.cli import EXIT_DATA, main
from workload_predictor.errors import WorkloadDataError
from workload_predictor.readers import read_trace

START = pd.Timestamp("2024-05-10", tz="UTC")
FORECAST_BY = ["--freq", "10s", "--by", "tenant", "--model", "naive", "--horizon", "2", "-q"]


def _run(args: list) -> tuple[int, str]:
    result = CliRunner().invoke(main, [str(a) for a in args])
    assert "Traceback" not in result.output and "internal error" not in result.output, result.output
    return result.exit_code, result.output


def _stamps(n: int, shift: str = "0s") -> list[str]:
    return list((START + pd.Timedelta(shift) + pd.to_timedelta(np.arange(n), unit="s")).strftime("%Y-%m-%dT%H:%M:%SZ"))


def _log(keys: list, n: int = 300) -> pd.DataFrame:
    """``n`` requests a second apart from START, the ``keys`` in turn."""
    return pd.DataFrame({"timestamp": _stamps(n), "tenant": [keys[i % len(keys)] for i in range(n)]})


def _json_lines(path, rows: pd.DataFrame) -> None:
    """``rows`` as JSON Lines, each value as Python's json writes it (``1.0`` stays ``1.0``, ``None`` is null)."""
    path.write_text("".join(json.dumps(row) + "\n" for row in rows.to_dict(orient="records")))


# -- 1. Two columns that are both the timestamp's name ----------------------------------------------------------------
@pytest.mark.parametrize("names", [("TIMESTAMP", "timestamp"), ("timestamp", "Time Stamp")])
@pytest.mark.parametrize("command", [["forecast", "--freq", "10s", "--model", "naive", "--horizon", "2"],
                                     ["forecast", *FORECAST_BY], ["inspect", "--freq", "10s"]])
def test_two_columns_named_as_the_timestamp_are_refused(tmp_path, names, command):
    """Before: the first in the file's order was read without a word (``inspect``: ``timestamp column TIMESTAMP``)."""
    path = tmp_path / "log.csv"
    frame = _log(["a", "b"])
    frame = pd.DataFrame({names[0]: frame["timestamp"], names[1]: _stamps(len(frame), "1h"), "tenant": frame["tenant"]})
    frame.to_csv(path, index=False)
    code, output = _run([command[0], path, *command[1:]])
    assert code == EXIT_DATA, output
    assert f"columns {names[0]!r} and {names[1]!r} are both read as the timestamp" in output, output
    assert "--timestamp-col" in output
    code, output = _run([command[0], path, *command[1:], "--timestamp-col", names[1]])  # the one named is read
    assert code == 0, output


def test_the_column_named_picks_the_times(tmp_path):
    path = tmp_path / "log.csv"
    pd.DataFrame({"TIMESTAMP": _stamps(300), "timestamp": _stamps(300, "1h")}).to_csv(path, index=False)
    with pytest.raises(WorkloadDataError, match="are both read as the timestamp"):
        read_trace(path, freq="10s")
    for name, first in (("TIMESTAMP", START), ("timestamp", START + pd.Timedelta("1h"))):
        series = read_trace(path, freq="10s", timestamp_column=name).series
        assert series["timestamp"].iloc[0] == first + pd.Timedelta("10s")  # the partial first bucket dropped


def test_two_known_timestamp_names_keep_their_order(tmp_path):
    """``timestamp`` and ``created`` are two names of the list, the first one the file has is read (as before)."""
    path = tmp_path / "log.csv"
    pd.DataFrame({"created": _stamps(300, "1h"), "timestamp": _stamps(300)}).to_csv(path, index=False)
    assert read_trace(path, freq="10s").timestamp_column == "timestamp"


# -- 2. A request log of one bucket per key: one bucket too few, not a width to infer ---------------------------------
@pytest.mark.parametrize("command, said", [(["forecast", "--model", "naive"], "1 point is too few"),
                                           (["evaluate", "--models", "naive", "--baselines", "moving_average"],
                                            "gives a test span of 0 buckets")])
@pytest.mark.parametrize("keys", [["a"], ["a", "b"]])
def test_a_log_of_one_bucket_per_key_says_the_series_is_too_short(tmp_path, command, said, keys):
    """Before: ``cannot infer the frequency from fewer than 2 timestamps; pass --freq ...`` though --freq was given."""
    path = tmp_path / "log.csv"
    pd.DataFrame({"timestamp": _stamps(len(keys), "3s"), "tenant": keys}).to_csv(path, index=False)
    code, output = _run([command[0], path, "--freq", "10s", "--by", "tenant", "--keep-partial", "--horizon", "2",
                         *command[1:]])
    assert code == EXIT_DATA, output
    assert "infer the frequency" not in output and said in output, output


# -- 3. What type a fleet's keys come back as -------------------------------------------------------------------------
@pytest.mark.parametrize("dtype, keys", [("int32", [7, 9]), ("uint8", [7, 9]), ("Int64", [7, 9]),
                                         ("float32", [0.1, 2.5]), ("category", ["a", "b"]), ("string", ["a", "b"]),
                                         ("bool", [True, False])])
def test_predicted_keys_join_back_to_the_fitted_frame(tmp_path, dtype, keys):
    """The key column holds the fleet's keys as pandas types them, not the fitted column's dtype (an int32 column's
    keys as int64, a category's as text): the same after save and load, and a merge with the fitted frame matches
    every key (pinned: the decision documented in FleetPredictor.predict)."""
    n = 40
    frame = pd.DataFrame({"tenant": pd.Series(np.repeat(keys, n)).astype(dtype),
                          "timestamp": np.tile(pd.date_range(START, periods=n, freq="10s"), len(keys)),
                          "requests": np.arange(n * len(keys)) % 5})
    fleet = FleetPredictor(model="naive", horizon=2).fit(frame, key="tenant")
    predicted = fleet.predict()
    fleet.save(tmp_path / "fleet.wpm")
    again = FleetPredictor.load(tmp_path / "fleet.wpm").predict()
    pd.testing.assert_frame_equal(again, predicted)
    joined = frame.drop_duplicates("tenant").merge(predicted, on="tenant", how="left")
    assert len(joined) == 2 * len(keys) and joined["yhat"].notna().all()
    assert joined.groupby("tenant", observed=True).size().to_dict() == dict.fromkeys(frame["tenant"].unique(), 2)


@pytest.mark.parametrize("dtype, keys", [("int32", [7, 9]), ("category", ["a", "b"]), ("float64", [1.5, 2.0])])
def test_out_of_a_parquet_fleet_joins_back_to_its_keys(tmp_path, dtype, keys):
    pytest.importorskip("pyarrow")
    path = tmp_path / "log.parquet"
    frame = _log(keys)
    frame["tenant"] = frame["tenant"].astype(dtype)
    frame.to_parquet(path)
    for out in ("fc.csv", "fc.json"):
        code, output = _run(["forecast", path, *FORECAST_BY, "--out", tmp_path / out])
        assert code == 0, output
        written = pd.read_csv(tmp_path / out) if out.endswith(".csv") else pd.DataFrame(
            json.loads((tmp_path / out).read_text()))
        joined = frame.drop_duplicates("tenant").merge(written, on="tenant", how="left")
        assert joined["yhat"].notna().all() and len(joined) == 2 * len(keys), (out, written["tenant"].unique())


# -- 4. Whole-number keys of a JSON Lines log: written as integers -----------------------------------------------------
@pytest.mark.parametrize("keys, spelled", [([1.0, 2], ["1", "2"]), ([1, 2, None], ["1", "2"]),
                                           ([1.5, 2], ["1.5", "2"]), ([1, 2.5, "x"], ["1", "2.5", "x"])])
def test_whole_number_keys_are_written_without_a_decimal_point(tmp_path, keys, spelled):
    """Before: pandas reads the column as float64 (a decimal or a null beside the integers), and key 2 was written
    ``2.0`` in --out CSV and JSON and in the printed table."""
    path = tmp_path / "log.jsonl"
    _json_lines(path, _log(keys))
    code, output = _run(["forecast", path, *FORECAST_BY, "--out", tmp_path / "fc.csv"])
    assert code == 0, output
    lines = output.splitlines()
    header = next(i for i, line in enumerate(lines) if line.split()[:2] == ["tenant", "timestamp"])
    shown = {line.split()[0] for line in lines[header + 1:] if line.strip() and not line.startswith("wrote")}
    assert shown == set(spelled), output  # the printed table's keys
    written = pd.read_csv(tmp_path / "fc.csv", dtype={"tenant": str})
    assert sorted(written["tenant"].unique()) == sorted(spelled)
    assert _run(["forecast", path, *FORECAST_BY, "--out", tmp_path / "fc.json"])[0] == 0
    records = json.loads((tmp_path / "fc.json").read_text())
    assert sorted({json.dumps(row["tenant"]).strip('"') for row in records}) == sorted(spelled)
    code, output = _run(["evaluate", path, "--freq", "10s", "--by", "tenant", "--models", "naive", "--baselines",
                         "moving_average", "--horizon", "2", "--test-size", "2", "--json",
                         tmp_path / "ev.json"])
    assert code == 0, output
    per_key = json.loads((tmp_path / "ev.json").read_text())["per_key"]
    assert sorted(json.dumps(row["tenant"]).strip('"') for row in per_key) == sorted(spelled)


@pytest.mark.parametrize("keys, said", [([1, "1"], "holds 1 (a number) at data row 1 and '1' (text) at data row 2"),
                                        ([2.0, "x", "2"], "holds 2.0 (a number) at data row 1 and '2' (text) at data row 3"),
                                        (["True", True], "holds 'True' (text) at data row 1 and True (a boolean)")])
def test_a_number_beside_the_text_it_prints_as_is_refused(tmp_path, keys, said):
    """Before: tenants ``1`` and ``"1"`` were two keys, each printed and written to --out CSV as 1: no one reading the
    output could tell them apart (equal numbers, ``1`` and ``1.0``, stay one key)."""
    path = tmp_path / "log.jsonl"
    _json_lines(path, _log(keys))
    code, output = _run(["forecast", path, *FORECAST_BY])
    assert code == EXIT_DATA and said in output, output
    assert "write every key of the column as text (in JSON, a string in quotes)" in output


# -- Keys of odd text read back from --out as they were read ----------------------------------------------------------
ODD_KEYS = ["a,b", 'say "hi"', "line1\nline2", "cr\rx", "x\r\ny", "tab\there", "日本語-é", "🚀", "k" * 3000,
            "  padded  ", "NA", "null", "001", "=1+1", "a;b", "", "esc\x1b[2J", "ls\u2028x"]


def test_odd_keys_read_back_from_out_as_they_were_read(tmp_path):
    """Before: a key holding a carriage return was written bare in CSV, which readers take for a line end (``cr\\rx``
    read back as ``cr`` and a row ``x,...``). Text keys from JSON Lines, written to CSV and to JSON."""
    path = tmp_path / "log.jsonl"
    _json_lines(path, _log(ODD_KEYS, n=40 * len(ODD_KEYS)))
    code, output = _run(["forecast", path, *FORECAST_BY, "--out", tmp_path / "fc.csv"])
    assert code == 0, output
    # Read as text, an empty field as the empty key (this CSV holds no missing key).
    written = pd.read_csv(tmp_path / "fc.csv", dtype={"tenant": str}, keep_default_na=False)
    assert sorted(written["tenant"].unique()) == sorted(ODD_KEYS)
    assert written.groupby("tenant").size().eq(2).all()  # every key's two steps, no row broken in two
    with open(tmp_path / "fc.csv", newline="", encoding="utf-8") as stream:  # the csv module reads it alike
        assert sorted({row["tenant"] for row in csv.DictReader(stream)}) == sorted(ODD_KEYS)
    assert _run(["forecast", path, *FORECAST_BY, "--out", tmp_path / "fc.json"])[0] == 0
    assert sorted({row["tenant"] for row in json.loads((tmp_path / "fc.json").read_text())}) == sorted(ODD_KEYS)


def test_a_csv_logs_quoted_keys_read_back_too(tmp_path):
    path = tmp_path / "log.csv"
    keys = [key for key in ODD_KEYS if key]  # a CSV file's empty cell has no key
    _log(keys, n=40 * len(keys)).to_csv(path, index=False, quoting=csv.QUOTE_ALL)
    code, output = _run(["forecast", path, *FORECAST_BY, "--out", tmp_path / "fc.csv"])
    assert code == 0, output
    written = pd.read_csv(tmp_path / "fc.csv", dtype={"tenant": str}, keep_default_na=False)
    assert sorted(written["tenant"].unique()) == sorted(keys)


def test_printed_keys_show_control_characters_as_escapes(tmp_path):
    """Before: only line feed, carriage return and tab were escaped: a key's ESC [2J reached the terminal (which
    clears the screen), its NEL or LINE SEPARATOR broke the line. --out writes the keys whole (test above)."""
    path = tmp_path / "log.jsonl"
    keys = ["esc\x1b[2J", "bell\x07", "nel\x85", "ls\u2028x", "x" * 38 + "\x1by"]
    _json_lines(path, _log(keys, n=40 * len(keys)))
    code, output = _run(["forecast", path, *FORECAST_BY])
    assert code == 0, output
    assert not any(c in output for c in "\x1b\x07\x85\u2028"), output
    for shown in ("esc\\x1b[2J", "bell\\x07", "nel\\x85", "ls\\u2028x", "x" * 38 + "\\x1by"):
        assert shown in output, output
