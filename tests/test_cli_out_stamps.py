"""The timestamps the command line writes for programs (``forecast --out`` CSV and JSON, one series or ``--by``,
and ``inspect --json``) take one form: ISO 8601 in UTC marked ``Z``, as the printed tables mark them."""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from workload_predictor.cli import main

ISO_Z = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{3}|\.\d{6}|\.\d{9})?Z")


def _written(tmp_path, args: list[str], name: str) -> list[str]:
    out = tmp_path / name
    result = CliRunner().invoke(main, ["forecast", *args, "--model", "naive", "--horizon", "3", "--out", str(out)])
    assert result.exit_code == 0, result.output
    if out.suffix == ".json":
        payload = json.loads(out.read_text())
        records = payload["forecast"] if isinstance(payload, dict) else payload
        return [record["timestamp"] for record in records]
    return pd.read_csv(out, dtype=str)["timestamp"].tolist()


@pytest.mark.parametrize("freq, first", [("10s", "2024-05-10T00:10:00Z"), ("500ms", "2024-05-10T00:00:30.000Z")])
def test_forecast_out_writes_one_timestamp_form_in_csv_and_json_one_series_or_by_key(tmp_path, freq, first):
    """Before: one series' --out wrote ``2024-05-10 00:10:00+00:00`` (CSV) and ``2024-05-10T00:10:00+00:00`` (JSON)
    where --by wrote ``2024-05-10T00:10:00Z`` in both."""
    stamps = pd.date_range("2024-05-10", periods=60, freq=freq, tz="UTC").strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    one = pd.DataFrame({"timestamp": stamps, "requests": np.arange(60) % 5 + 3})
    one.to_csv(tmp_path / "one.csv", index=False)
    pd.concat([one.assign(service=key) for key in ("a", "b")]).to_csv(tmp_path / "fleet.csv", index=False)
    single = [_written(tmp_path, [str(tmp_path / "one.csv")], f"out_one{suffix}") for suffix in (".csv", ".json")]
    by_key = [_written(tmp_path, [str(tmp_path / "fleet.csv"), "--by", "service"], f"out_by{suffix}")[:3]
              for suffix in (".csv", ".json")]
    assert single[0][0] == first, single
    assert single[0] == single[1] == by_key[0] == by_key[1], (single, by_key)
    assert all(ISO_Z.fullmatch(stamp) for stamp in single[0]), single[0]
    step = pd.Timedelta(freq)
    assert list(pd.to_datetime(single[0], utc=True)) == [pd.Timestamp(first) + i * step for i in range(3)]


def test_inspect_json_writes_its_timestamps_in_the_same_form(tmp_path):
    """Before: ``2024-05-10T00:00:20+00:00``."""
    path = tmp_path / "steps.csv"
    path.write_text("timestamp,requests\n2024-05-10T00:00:00Z,1\n2024-05-10T00:00:10Z,2\n2024-05-10T00:00:20Z,3\n"
                    "2024-05-10T00:00:25Z,2\n2024-05-10T00:00:30Z,3\n2024-05-10T00:01:00Z,3\n")
    report = json.loads(CliRunner().invoke(main, ["inspect", str(path), "--json"]).output)
    assert (report["first"], report["last"]) == ("2024-05-10T00:00:00Z", "2024-05-10T00:01:00Z")
    assert report["irregular_steps"]["first_after"] == "2024-05-10T00:00:20Z"
    log = tmp_path / "log.csv"  # a request log: its longest gap, to the millisecond its stamps need
    log.write_text("timestamp,input_tokens,output_tokens\n2024-05-10T00:00:00Z,1,1\n2024-05-10T00:00:01.5Z,1,1\n"
                   "2024-05-10T00:00:09Z,1,1\n")
    report = json.loads(CliRunner().invoke(main, ["inspect", str(log), "--freq", "1s", "--json"]).output)
    assert (report["first"], report["longest_gap_after"]) == ("2024-05-10T00:00:00.000Z", "2024-05-10T00:00:01.500Z")
