"""The command line's messages: the order of a --by run's ``skipped`` lines (TRACE's order of keys, whichever step
refused each), lone surrogates in a JSON file's column names, and the review of every error a user can reach with
bad input (one line, typed, exit code as ``--help`` lists, user values cut short, never a traceback)."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from workload_predictor.cli import EXIT_DATA, EXIT_USAGE, main

START = pd.Timestamp("2024-03-01", tz="UTC")


def _stamps(seconds) -> list[str]:
    return [(START + pd.Timedelta(seconds=int(s))).strftime("%Y-%m-%dT%H:%M:%SZ") for s in seconds]


def _skipped_keys(output: str) -> list[str]:
    return re.findall(r"^skipped (.+?): ", output, flags=re.MULTILINE)


# -- the skipped lines' order -------------------------------------------------------------------------------------
def _refused_everywhere(path):
    """Keys in the file's order z, b, c, (a row without a key), a, y: z and a fit; b has one row (refused by the
    fit or the backtest), c's buckets are 20 s wide (refused when read, with --freq 10s), y repeats a timestamp
    (refused at the fit's door)."""
    parts = [("z", _stamps(range(0, 600, 10))), ("b", _stamps([0])), ("c", _stamps(range(0, 800, 20))),
             ("", _stamps([0])), ("a", _stamps(range(0, 600, 10))), ("y", _stamps([0, 0]))]
    frame = pd.concat([pd.DataFrame({"tenant": key, "timestamp": stamps, "requests": 5 + np.arange(len(stamps)) % 3})
                       for key, stamps in parts])
    frame.to_csv(path, index=False)
    return path


@pytest.mark.parametrize("command", [
    ["forecast", "--model", "naive"],
    ["evaluate", "--models", "dlinear", "--baselines", "naive"],
])
def test_skipped_lines_follow_the_files_order_of_keys(tmp_path, command):
    """Before: the keys refused when the file was read first (c), then the fit's door (the rows without a key, y),
    then the fit's or backtest's (b): c, rows without a key, y, b."""
    path = _refused_everywhere(tmp_path / "fleet.csv")
    result = CliRunner().invoke(main, [command[0], str(path), "--by", "tenant", "--freq", "10s", "--horizon", "2",
                                       *command[1:]])
    assert result.exit_code == 0, result.output
    assert _skipped_keys(result.output) == ["b", "c", "rows without a key", "y"], result.output


def test_the_first_key_named_when_none_is_fitted_is_the_files_first(tmp_path):
    """No key fitted: the error names the first skipped key in the file's order (it was the first refused when
    read)."""
    path = tmp_path / "fleet.csv"
    frame = pd.concat([pd.DataFrame({"tenant": "b", "timestamp": _stamps([0]), "requests": 1}),
                       pd.DataFrame({"tenant": "c", "timestamp": _stamps(range(0, 800, 20)), "requests": 1}),
                       pd.DataFrame({"tenant": "a", "timestamp": _stamps(range(0, 600, 10)), "requests": 1})])
    frame.to_csv(path, index=False)
    result = CliRunner().invoke(main, ["forecast", str(path), "--by", "tenant", "--freq", "10s", "--model", "dlinear",
                                       "--horizon", "100"])
    assert result.exit_code == EXIT_DATA, result.output
    assert "no key of --by 'tenant' could be fitted (3 keys skipped; the first, 'b': " in result.output, result.output


def test_a_request_logs_skipped_keys_follow_its_order(tmp_path):
    """A request log's keys refused when read (a token count that is no count, a timestamp that does not parse)
    and by the fit (too few buckets) in the log's order of first appearance."""
    stamps = _stamps(range(0, 1200, 2))
    tenants = np.array(["a", "m"] * (len(stamps) // 2), dtype=object)
    log = pd.DataFrame({"timestamp": stamps, "tenant": tenants, "input_tokens": "5"})
    # q: two requests of 6e17 tokens in one bucket (1.2e18, past any count: the fit refuses it); k: a timestamp
    # that does not parse; d: a token count that is no number
    extra = pd.DataFrame({"timestamp": [stamps[13], stamps[14], "garbage", stamps[5], stamps[7]],
                          "tenant": ["q", "q", "k", "d", "d"], "input_tokens": ["6e17", "6e17", "5", "n/a", "5"]})
    log = pd.concat([log.iloc[:10], extra, log.iloc[10:]], ignore_index=True)
    path = tmp_path / "log.csv"
    log.to_csv(path, index=False)
    result = CliRunner().invoke(main, ["forecast", str(path), "--by", "tenant", "--freq", "10s", "--model", "naive",
                                       "--horizon", "2", "--target", "input_tokens"])
    assert result.exit_code == 0, result.output
    assert _skipped_keys(result.output) == ["q", "k", "d"], result.output


# -- lone surrogates in a JSON file's column names ----------------------------------------------------------------
def _json_log(path, name: str, records: bool = False):
    """A request log (20 requests over 200 s) whose tenant column's name is ``name`` as written in the JSON text
    (escapes kept), beside a plain ``tenant`` column."""
    rows = [f'{{"timestamp": "{stamp}", "{name}": "x", "tenant": "{"ab"[i % 2]}", "input_tokens": 5}}'
            for i, stamp in enumerate(_stamps(range(0, 200, 10)))]
    text = ("[" + ",\n".join(rows) + "]") if records else "\n".join(rows) + "\n"
    if path.name.endswith(".gz"):
        import gzip

        path.write_bytes(gzip.compress(text.encode()))
    else:
        path.write_text(text)
    return path


@pytest.mark.parametrize("name, args", [
    ("log.jsonl", ["forecast", "--by", "tenant", "--model", "naive"]),
    ("log.jsonl.gz", ["forecast", "--model", "naive"]),
    ("log.json", ["evaluate", "--by", "tenant", "--models", "dlinear", "--baselines", "naive"]),
    ("log.jsonl", ["inspect"]),
])
def test_a_json_column_name_holding_half_a_surrogate_pair_is_refused(tmp_path, name, args):
    """pandas drops the half: ``tenant\\ud800`` was read as ``tenant``, one of two columns of that name (the file's
    tenants merged into the other's, or the other's into them), without a word."""
    path = _json_log(tmp_path / name, "tenant\\ud800", records=name.endswith(".json"))
    result = CliRunner().invoke(main, [args[0], str(path), "--freq", "10s", *args[1:]])
    assert result.exit_code == EXIT_DATA, result.output
    where = "it" if name.endswith(".json") else "line 1"
    assert (f"{name}: {where} holds column name 'tenant\\ud800', whose escape \\ud800 is half of a UTF-16 surrogate "
            "pair, no character: pandas' JSON reader drops it, and the column would be read as 'tenant'") \
        in result.output, result.output
    assert "Fix the file" in result.output and len(result.output.strip().splitlines()) == 1


def test_a_json_column_name_holding_a_second_half_is_named(tmp_path):
    """A lone second half made pandas fail: ``cannot read it as JSON Lines ('utf-8' codec can't encode character
    '\\udc00' ...)``, naming neither the line nor the column."""
    path = _json_log(tmp_path / "log.jsonl", "ten\\udc00ant")
    result = CliRunner().invoke(main, ["forecast", str(path), "--freq", "10s", "--model", "naive"])
    assert result.exit_code == EXIT_DATA, result.output
    assert "line 1 holds column name 'ten\\udc00ant', whose escape \\udc00 is half of a UTF-16 surrogate pair, no " \
           "character: pandas' JSON reader fails on it." in result.output, result.output


def test_a_json_column_name_holding_a_whole_pair_is_read(tmp_path):
    path = _json_log(tmp_path / "log.jsonl", "tenant\\ud83d\\ude00")
    result = CliRunner().invoke(main, ["inspect", str(path), "--freq", "10s", "--json"])
    assert result.exit_code == 0, result.output
    assert "tenant\\ud83d\\ude00" in result.output or "tenant\U0001f600" in result.output, result.output


# -- every error a user can reach with bad input ------------------------------------------------------------------
def _bad_files(folder) -> dict:
    """Files a user may pass by mistake, each with what its error must say."""
    import gzip

    stamps = _stamps(range(0, 1000, 10))
    ok = pd.DataFrame({"timestamp": stamps, "requests": 5})
    files = {
        "empty.csv": ("", "the file is empty (no header line)"),
        "header.csv": ("timestamp,requests\n", "the file holds no rows"),
        "nots.csv": (ok.rename(columns={"timestamp": "when"}), "no timestamp column found"),
        "text.csv": (ok.assign(requests="x"), "holds 'x' at data row 1, not a number"),
        "huge.csv": (ok.assign(requests=1e300), "holds 1e+300 at data row 1, above 1e+18"),
        "negative.csv": (ok.assign(requests=-1), "holds a negative value (-1.0 at data row 1)"),
        "epoch.csv": (ok.assign(timestamp=10**30), "data row 1 holds 1000000000000...00000000000000, an integer past "
                                                   "64 bits"),
        "latin1.csv": (b"timestamp,requests\n2024-03-01T00:00:00Z,5 caf\xe9\n", "which is not UTF-8; re-encode"),
        "not.csv.gz": (b"plain text", "is not gzip-compressed"),
        "cut.csv.gz": (gzip.compress(b"timestamp,requests\n" * 50)[:40], "is a truncated gzip stream"),
        "nul.csv": (b"timestamp,requests\n2024\x00,5\n", "holds a NUL byte"),
        "scalars.json": ('{"a": 1}', "a JSON trace holds a list of row objects"),
        "broken.jsonl": ('{"timestamp": 1}\n{no json\n', "a JSON Lines trace holds one JSON object per line"),
        "broken.parquet": (b"no parquet", "write the trace again as Parquet"),
    }
    paths = {}
    for name, (content, said) in files.items():
        path = folder / name
        if isinstance(content, pd.DataFrame):
            content.to_csv(path, index=False)
        elif isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)
        paths[name] = (path, said)
    return paths


def test_every_bad_file_is_one_line_naming_the_problem_with_exit_3(tmp_path):
    """Before: a column of integers past 64 bits was said to mix "numbers with strings or datetimes", and a file
    its reader could not parse got the parser's words alone (``cannot read it as JSON (If using all scalar values,
    you must pass an index)``), no fix."""
    runner = CliRunner()
    for name, (path, said) in _bad_files(tmp_path).items():
        result = runner.invoke(main, ["forecast", str(path), "--model", "naive", "--horizon", "2"])
        lines = result.output.strip().splitlines()
        assert (result.exit_code, len(lines)) == (EXIT_DATA, 1), (name, result.output)
        assert lines[0].startswith("error: ") and said in lines[0], (name, lines[0])


@pytest.mark.parametrize("args, code, said", [
    (["forecast", "{ok}", "--freq", "99999999999999999999s"], EXIT_USAGE,
     "'99999999999999999999s' is longer than any duration pandas holds"),
    (["forecast", "{ok}", "--seed", "9" * 300], EXIT_USAGE, "999999999999...999999 (300 digits) is not in the range"),
    (["forecast", "{ok}", "--model", "naive", "--horizon", "9" * 300], EXIT_DATA,
     "horizon 999999999999...999999 (300 digits)"),
    (["forecast", "{ok}", "--by", "tenant", "--model", "naive", "--horizon", "9" * 300], EXIT_DATA,
     "the first, 'a': 50 points are too few for window 1 + horizon 999999999999...999999 (300 digits)"),
    (["forecast", "{ok}", "--model-file", "{model}", "--lock-timeout", "nan"], EXIT_USAGE,
     "nan is not a number; pass a number of seconds"),
])
def test_an_absurd_option_is_one_short_line_naming_it(tmp_path, args, code, said):
    """Before: --freq past 64 bits was a traceback (OverflowError, exit 1); a 300-digit --seed or --horizon was
    echoed whole (the horizon twice, with the 301 digits of the points it needs); --lock-timeout nan was taken."""
    ok = tmp_path / "ok.csv"
    pd.DataFrame({"timestamp": _stamps(range(0, 1000, 10)), "tenant": ["a", "b"] * 50, "requests": 5}).to_csv(
        ok, index=False)
    result = CliRunner().invoke(main, [a.format(ok=ok, model=tmp_path / "m.wp") for a in args])
    assert result.exit_code == code, result.output
    assert "Traceback" not in result.output and said in result.output, result.output
    assert max(map(len, result.output.splitlines())) < 400, result.output  # (the value: 300 digits)


def test_inspect_json_writes_a_file_name_that_is_no_utf8_as_escapes(tmp_path):
    """A file name's bytes that are no UTF-8 (read as lone surrogates) were written as ``"\\udcff.csv"``, half a
    character, which strict JSON readers (Rust's serde_json) refuse."""
    import json
    import os

    name = os.fsdecode(b"\xff.csv")
    path = tmp_path / name
    try:
        pd.DataFrame({"timestamp": _stamps(range(0, 300, 10)), "requests": 5}).to_csv(path, index=False)
    except (OSError, UnicodeEncodeError):
        pytest.skip("this file system takes no such name")
    result = CliRunner().invoke(main, ["inspect", str(path), "--json"])
    assert result.exit_code == 0, result.output
    written = json.loads(result.output)["file"]
    assert written.endswith("\\xff.csv") and written.encode("utf-8"), written
