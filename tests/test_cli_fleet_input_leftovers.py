"""What the reviews of the command line's fleet input left (h112, h117): a --freq given with a bucketed --by file is
the width every key is fitted at, and a JSON key holding half a UTF-16 surrogate pair is refused rather than merged
with another key."""

from __future__ import annotations

import gzip
import json

import pandas as pd
import pytest
from click.testing import CliRunner

from workload_predictor.cli import EXIT_DATA, main

START = pd.Timestamp("2024-05-10", tz="UTC")


def _run(args: list) -> tuple[int, str]:
    result = CliRunner().invoke(main, [str(a) for a in args])
    assert "Traceback" not in result.output and "internal error" not in result.output, result.output
    return result.exit_code, result.output


def _rows(key: str, count: int, seconds: int) -> list[dict]:
    stamps = pd.date_range(START, periods=count, freq=f"{seconds}s").strftime("%Y-%m-%dT%H:%M:%SZ")
    return [{"tenant": key, "timestamp": stamp, "requests": i % 5 + 1} for i, stamp in enumerate(stamps)]


def _skipped(output: str, key: str) -> str:
    lines = [line for line in output.splitlines() if line.startswith(f"skipped {key}:")]
    assert len(lines) == 1, output
    return lines[0]


COMMANDS = {"forecast": ["--model", "naive", "--horizon", "2"],
            "evaluate": ["--models", "naive", "--baselines", "seasonal_naive", "--horizon", "2"]}


# -- 1. --freq with a bucketed --by file: every key is read at that width -------------------------------------------
@pytest.mark.parametrize("command", list(COMMANDS))
def test_a_one_row_key_of_a_bucketed_fleet_is_read_at_the_freq_given(tmp_path, command):
    """Before: ``skipped b: cannot infer the frequency from fewer than 2 timestamps; pass --freq`` though --freq was
    passed (the fleet was fitted at each key's own width, and one row has none)."""
    path = tmp_path / "fleet.csv"
    pd.DataFrame(_rows("a", 40, 10) + _rows("b", 1, 10)).to_csv(path, index=False)
    code, output = _run([command, path, "--by", "tenant", "--freq", "10s", *COMMANDS[command]])
    assert code == 0, output
    line = _skipped(output, "b")
    assert "infer the frequency" not in line and "--freq" not in line, line
    assert "too few" in line or "too short" in line, line
    # Without --freq the key's width is unknown, and the advice to pass one stands.
    code, output = _run([command, path, "--by", "tenant", *COMMANDS[command]])
    assert code == 0 and "pass --freq" in _skipped(output, "b"), output


@pytest.mark.parametrize("command", list(COMMANDS))
def test_a_key_of_another_width_than_freq_is_skipped_naming_both(tmp_path, command):
    """A key whose buckets are 20 s wide beside one of 10 s: with --freq 10s it is skipped, the message naming both
    widths (before, the pooled median step, 15s, refused the whole file); without --freq it keeps its own width."""
    path = tmp_path / "fleet.csv"
    pd.DataFrame(_rows("a", 40, 10) + _rows("c", 40, 20)).to_csv(path, index=False)
    code, output = _run([command, path, "--by", "tenant", "--freq", "10s", *COMMANDS[command]])
    assert code == 0, output
    line = _skipped(output, "c")
    assert "buckets are 20s wide" in line and "not --freq 10s" in line and "drop --freq" in line, line
    assert "skipped a" not in output
    code, output = _run([command, path, "--by", "tenant", *COMMANDS[command]])
    assert code == 0 and "skipped c" not in output and "2 keys" in output, output


def test_a_fleet_none_of_whose_keys_is_freq_wide_is_refused_naming_their_widths(tmp_path):
    path = tmp_path / "fleet.csv"
    pd.DataFrame(_rows("a", 40, 10) + _rows("c", 40, 20)).to_csv(path, index=False)
    code, output = _run(["forecast", path, "--by", "tenant", "--freq", "5s", *COMMANDS["forecast"]])
    assert code == EXIT_DATA, output
    assert "keys' buckets are 10s or 20s wide, not --freq 5s" in output and "15s" not in output, output


# -- 2. half a UTF-16 surrogate pair in a JSON key ------------------------------------------------------------------
def _json_lines(keys: tuple[str, ...]) -> list[str]:
    """300 requests a second apart, the JSON text of each key (escapes as written) in turn."""
    stamps = pd.date_range(START, periods=300, freq="1s").strftime("%Y-%m-%dT%H:%M:%SZ")
    return ['{"timestamp": "%s", "tenant": "%s", "input_tokens": 5}' % (stamp, keys[i % len(keys)])
            for i, stamp in enumerate(stamps)]


def _write(path, lines: list[str]) -> None:
    if path.name.endswith(".json"):
        path.write_text("[" + ",\n".join(lines) + "]")
    elif path.name.endswith(".gz"):
        with gzip.open(path, "wt") as stream:
            stream.write("\n".join(lines) + "\n")
    else:
        path.write_text("\n".join(lines) + "\n")


@pytest.mark.parametrize("name, where", [("log.jsonl", "line 2 holds"), ("log.jsonl.gz", "line 2 holds"),
                                         ("log.json", "it holds")])
def test_a_json_key_holding_half_a_surrogate_pair_is_refused(tmp_path, name, where):
    """Before: pandas' JSON reader dropped the lone ``\\ud800`` and the key ``"\\ud800x"`` was fitted as ``x``,
    merged with the real ``x`` (one key, twice its requests)."""
    path = tmp_path / name
    _write(path, _json_lines(("x", "\\ud800x")))
    code, output = _run(["forecast", path, "--by", "tenant", "--freq", "10s", *COMMANDS["forecast"]])
    assert code == EXIT_DATA, output
    assert f"{where} key '\\ud800x' in column 'tenant', whose escape \\ud800 is half of a UTF-16" in output, output
    assert "the key would merge with another" in output and "write the character whole" in output, output


@pytest.mark.parametrize("key, keys", [("\\\\ud800x", 2), ("\\ud83d\\ude00x", 2)])
def test_an_escaped_backslash_and_a_whole_pair_are_keys_as_written(tmp_path, key, keys):
    """``\\\\ud800`` is a backslash and text; ``\\ud83d\\ude00`` one character: each is a key of its own."""
    path = tmp_path / "log.jsonl"
    _write(path, _json_lines(("x", key)))
    code, output = _run(["forecast", path, "--by", "tenant", "--freq", "10s", *COMMANDS["forecast"]])
    assert code == 0 and f"{keys} keys by 'tenant', {keys} fitted" in output, output
    assert json.loads(f'"{key}"') in output or "\\ud800x" in output


def test_a_lone_second_half_in_any_column_is_named_with_its_fix(tmp_path):
    """Before: ``cannot read it as JSON Lines ('utf-8' codec can't encode character '\\udc00' ...)``, naming neither
    the line nor the column.

    pandas 3's JSON reader fails on the escape (its text columns cannot hold it), wherever it is; pandas 2.2's keeps
    it in the string, whole, so a column the forecast does not read (here ``tenant``, without --by) is no fault."""
    path = tmp_path / "log.jsonl"
    _write(path, _json_lines(("x", "x\\udc00")))
    code, output = _run(["forecast", path, "--freq", "10s", *COMMANDS["forecast"]])
    if int(pd.__version__.split(".")[0]) < 3:
        assert code == 0 and "300 requests" in output, output
        return
    assert code == EXIT_DATA, output
    assert "line 2 holds value 'x\\udc00' in column 'tenant', whose escape \\udc00" in output, output
    assert "reader fails on it" in output and "write the character whole" in output, output


@pytest.mark.parametrize("command", list(COMMANDS))
def test_rows_without_a_key_are_left_out_and_counted_in_the_file(tmp_path, command):
    """A bucketed --by file's rows without a key are left out, the others fitted or backtested, their row the file's
    also after a key of another width than --freq (whose rows stay for the fit to refuse). Before, evaluate --by
    refused the whole file (``key column 'tenant' is missing at data row 51``, exit 3) where forecast --by left them
    out, as docs/command-line.md says of --by."""
    path = tmp_path / "fleet.csv"
    rows = _rows("a", 40, 10) + _rows("c", 10, 20) + [{**row, "tenant": None} for row in _rows("x", 3, 10)]
    pd.DataFrame(rows).to_csv(path, index=False)
    code, output = _run([command, path, "--by", "tenant", "--freq", "10s", *COMMANDS[command]])
    assert code == 0, output
    line = _skipped(output, "rows without a key")
    assert "missing at 3 rows (the first: data row 51)" in line, line
    assert f"the other keys {'fitted' if command == 'forecast' else 'backtested'}" in line, line
    assert "not --freq 10s" in _skipped(output, "c")


# -- 3. exit codes: Ctrl-C is no bug --------------------------------------------------------------------------------
def test_an_interrupted_run_exits_130_not_as_an_internal_error(tmp_path, monkeypatch):
    """Before: Ctrl-C exited 1 with ``Aborted!``, the code --help gives an internal error (a bug to report)."""
    import workload_predictor.readers as readers

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(readers, "read_trace", interrupted)
    path = tmp_path / "log.csv"
    pd.DataFrame(_rows("a", 3, 10)).to_csv(path, index=False)
    code, output = _run(["forecast", path, "--model", "naive"])
    assert code == 130 and "error: interrupted (Ctrl-C)." in output, output
    assert "130  interrupted (Ctrl-C)" in CliRunner().invoke(main, ["forecast", "--help"]).output


def test_a_bucketed_series_width_is_a_step_it_has(tmp_path):
    """Steps half 10 s, half 20 s, and --freq 30s: the message names 10 s, a width the series has (before: the mean
    of the two middle steps, 15 s, a width no bucket has)."""
    from workload_predictor.errors import WorkloadDataError
    from workload_predictor.readers import check_bucket_width

    stamps = pd.Series(pd.to_datetime([0, 10, 20, 40, 60], unit="s", utc=True))
    with pytest.raises(WorkloadDataError, match="a bucketed series at 10s, not --freq 30s"):
        check_bucket_width(stamps.diff(), "30s", "f.csv")
