"""What the reviews of the command line's input side left (h96, h99, h104): --unit and --origin beside timestamps that
are no numbers, a fleet key whose timestamps cannot be read, a nested JSON column whose first value is no object,
keys that pandas would merge, and the token names of a forecast's targets."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from workload_predictor import FleetPredictor, bucketize
from workload_predictor.cli import EXIT_DATA, main
from workload_predictor.data import factorize_keys, to_utc_index, token_columns, utc_instants
from workload_predictor.errors import WorkloadDataError
from workload_predictor.readers import read_table

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


# -- 2. a request-log fleet: a key whose timestamps cannot be read is skipped, the others forecast --------------
def test_a_key_with_an_unreadable_timestamp_is_skipped_with_its_reason(tmp_path):
    """Before: ``error: TIMESTAMP: cannot parse timestamps (data row 6 holds 'garbage' ...)``, exit 3, no key
    forecast."""
    log = _log()
    log.loc[4, "timestamp"] = "garbage"  # key b's (data row 5)
    log.loc[9, "tenant"] = None  # a row without a key, its stamp unreadable too: left out with the keyless rows
    log.loc[9, "timestamp"] = "zzz"
    path = tmp_path / "log.csv"
    log.to_csv(path, index=False)
    out = tmp_path / "fc.csv"
    code, output = _run(["forecast", path, "--by", "tenant", "--freq", "10s", "--model", "naive", "--horizon", "2",
                         "--out", out])
    assert code == 0, output
    assert "3 keys by 'tenant', 2 fitted, 1 skipped" in output
    assert "skipped b: timestamp: cannot parse timestamps (data row 5 holds 'garbage'" in output, output
    assert "skipped rows without a key" in output
    assert sorted(set(pd.read_csv(out)["tenant"])) == ["a", "c"]
    alone = tmp_path / "alone.csv"  # keys a and c forecast as a log of theirs alone would
    log[log["tenant"].isin(["a", "c"])].to_csv(alone, index=False)
    _run(["forecast", alone, "--by", "tenant", "--freq", "10s", "--model", "naive", "--horizon", "2", "--out",
          tmp_path / "alone_fc.csv"])
    pd.testing.assert_frame_equal(pd.read_csv(out), pd.read_csv(tmp_path / "alone_fc.csv"))


def test_evaluate_by_skips_the_key_too(tmp_path):
    log = _log(600)
    log.loc[3, "timestamp"] = "2024-13-45T00:00:00Z"  # key a's
    path = tmp_path / "log.csv"
    log.to_csv(path, index=False)
    code, output = _run(["evaluate", path, "--by", "tenant", "--freq", "10s", "--models", "naive",
                         "--baselines", "seasonal_naive", "--horizon", "2"])
    assert code == 0, output
    assert "skipped a: timestamp:" in output and "data row 4" in output, output


def test_no_key_with_readable_timestamps_is_a_data_error_naming_the_first(tmp_path):
    log = _log()
    log["timestamp"] = "soon"
    path = tmp_path / "log.csv"
    log.to_csv(path, index=False)
    code, output = _run(["forecast", path, "--by", "tenant", "--freq", "10s", "--model", "naive"])
    assert code == EXIT_DATA
    assert "no key of --by 'tenant' could be fitted (3 keys skipped; the first, 'a': timestamp: cannot parse" in output


def test_stamps_that_only_fail_together_still_end_the_run(tmp_path):
    """Naive stamps in one key and stamps with offsets in another: each key reads alone, the column does not."""
    log = _log()
    naive = log["tenant"] == "a"
    log.loc[naive, "timestamp"] = log.loc[naive, "timestamp"].str.rstrip("Z")
    path = tmp_path / "log.csv"
    log.to_csv(path, index=False)
    code, output = _run(["forecast", path, "--by", "tenant", "--freq", "10s", "--model", "naive"])
    assert code == EXIT_DATA and "some timestamps carry a UTC offset and some do not" in output, output


# -- 3. a nested JSON column is flattened whatever its first value -------------------------------------------------
@pytest.mark.parametrize("odd_row", [0, 1])
@pytest.mark.parametrize("odd", ["n/a", None])
def test_a_nested_column_whose_first_value_is_no_object_is_still_flattened(tmp_path, odd_row, odd):
    """Before, with ``"n/a"`` in row 0: ``has no column recognised as input_tokens (its columns: ['created',
    'usage'])``; the same value in row 1 was refused at its row."""
    rows = [{"created": 1715299200 + i, "usage": {"prompt_tokens": 10, "completion_tokens": 2}} for i in range(300)]
    rows[odd_row]["usage"] = odd
    path = tmp_path / "log.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    code, output = _run(["forecast", path, "--freq", "10s", "--model", "naive", "--target", "input_tokens"])
    assert code == EXIT_DATA
    assert f"'usage.prompt_tokens' has no value at data row {odd_row + 1}" in output, output
    assert _run(["forecast", path, "--freq", "10s", "--model", "naive", "--horizon", "2"])[0] == 0  # tokens unread


def test_a_column_without_objects_is_not_flattened(tmp_path):
    path = tmp_path / "log.jsonl"
    path.write_text("".join(json.dumps({"created": 1715299200 + i, "note": ("x", 3, None)[i % 3]}) + "\n"
                            for i in range(30)))
    assert list(read_table(path).columns) == ["created", "note"]


# -- 4. keys: a boolean beside the number it equals is refused; equal numbers are one key --------------------------
def test_a_boolean_key_beside_its_number_is_refused(tmp_path):
    """Before: tenants ``true`` and ``1`` of a JSON Lines log were counted as one tenant (20 requests a bucket)."""
    path = tmp_path / "log.jsonl"
    path.write_text("".join(json.dumps({"created": 1715299200 + i // 2, "tenant": (1, True)[i % 2]}) + "\n"
                            for i in range(400)))
    code, output = _run(["forecast", path, "--by", "tenant", "--freq", "10s", "--model", "naive"])
    assert code == EXIT_DATA
    assert "holds True (a boolean) at data row 2 and 1 (a number) at data row 1, which would be one key" in output
    assert "write every key of the column as text" in output, output


@pytest.mark.parametrize("keys", [[1, True], [np.int64(0), np.False_], [1.0, "x", True]])
def test_the_library_refuses_a_boolean_key_beside_its_number(keys):
    stamps = pd.date_range(START, periods=len(keys), freq="10s")
    frame = pd.DataFrame({"timestamp": stamps, "tenant": pd.Series(keys, dtype=object), "requests": 1})
    with pytest.raises(WorkloadDataError, match=r"\(a boolean\) at row \d of the frame and .* \(a number\) at row \d of the frame,"):
        factorize_keys(frame["tenant"], "tenant")
    with pytest.raises(WorkloadDataError, match="which would be one key"):
        FleetPredictor(model="naive", horizon=2).fit(frame, key="tenant")
    with pytest.raises(WorkloadDataError, match="which would be one key"):
        bucketize(frame.drop(columns="requests"), timestamp="timestamp", freq="10s", by="tenant")


def test_booleans_alone_and_equal_numbers_stay_keys_as_before():
    codes, keys = factorize_keys(pd.Series([True, np.True_, False], dtype=object), "k")
    assert list(keys) == [False, True] and list(codes) == [1, 1, 0]
    codes, keys = factorize_keys(pd.Series([1, 1.0, 2], dtype=object), "k")
    assert list(keys) == [1, 2] and list(codes) == [0, 0, 1]


# -- 5. a forecast's token targets: token_columns, names matched exactly -----------------------------------------
@pytest.mark.parametrize("targets, found", [
    (("requests", "input_tokens"), {"input_tokens": "input_tokens"}),
    (("requests", "prompt_tokens", "completion_tokens"),
     {"input_tokens": "prompt_tokens", "output_tokens": "completion_tokens"}),
    (("input_tokens", "prompt_tokens"), {"input_tokens": "input_tokens"}),  # the first in TOKEN_COLUMNS' order
    (("prompt_tokens", "input_tokens"), {"input_tokens": "input_tokens"}),
    (("requests", "Input Tokens", "usage.prompt_tokens"), {}),  # a target is named as fit was told: no loose match
])
def test_token_columns_exact_matches_a_forecasts_targets_by_name(targets, found):
    assert token_columns(targets, exact=True) == found
    assert token_columns(("Input Tokens",)) == {"input_tokens": "Input Tokens"}  # a log's columns: loosely


# -- odd but valid files ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("header, row, args, name", [
    ("timestamp,input_tokens,input_tokens", "{t},5,7", ["--target", "input_tokens"], "input_tokens"),
    ("timestamp,tenant,tenant", "{t},a,b", ["--by", "tenant"], "tenant"),
    ("timestamp,timestamp,input_tokens", "{t},{t},5", [], "timestamp"),
])
def test_a_header_that_names_a_column_twice_is_refused(tmp_path, header, row, args, name):
    """Before: pandas read the second as ``NAME.1`` and the first alone was used, without a word (the input_tokens
    forecast summed 5s, the 7s ignored; one tenant 'a' where each row also named 'b')."""
    path = tmp_path / "log.csv"
    stamps = pd.date_range(START, periods=300, freq="s").strftime("%Y-%m-%dT%H:%M:%SZ")
    path.write_text(header + "\n" + "".join(row.format(t=t) + "\n" for t in stamps))
    code, output = _run(["forecast", path, "--freq", "10s", "--model", "naive", "--horizon", "2", *args])
    assert code == EXIT_DATA, output
    assert f"the header line names column '{name}' twice (fields " in output and "rename or drop one" in output


@pytest.mark.parametrize("rows, width", [(1, "10s"), (20, "10s")])
def test_a_fleet_log_of_partial_buckets_only_says_so_as_one_series_does(tmp_path, rows, width):
    """Before: ``error: the input is empty; pass at least one row per key.`` (the library's words for no rows)."""
    path = tmp_path / "log.csv"
    _log(rows, keys=("a", "b")).to_csv(path, index=False)
    code, output = _run(["forecast", path, "--freq", width, "--by", "tenant", "--model", "naive"])
    assert code == EXIT_DATA
    assert "all partial (the first and the last are dropped)" in output and "or --keep-partial" in output, output
    one = _run(["forecast", path, "--freq", width, "--model", "naive"])[1]  # the same log as one series
    assert one.split("all partial")[0].split("spans")[1] == output.split("all partial")[0].split("spans")[1]
