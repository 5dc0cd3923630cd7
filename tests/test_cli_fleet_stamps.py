"""``forecast --by``'s table prints its timestamps as the single-series table does: UTC, marked ``Z``."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from workload_predictor.cli import main


@pytest.mark.parametrize("freq, shown", [("10s", "2024-05-10 00:10:00Z"), ("500ms", "2024-05-10 00:00:30.000Z")])
def test_the_fleet_table_marks_its_timestamps_utc_as_the_single_series_table_does(tmp_path, freq, shown):
    """Before: the --by table printed ``a 2024-05-10 00:10:00`` (no zone) where the single-series table of the same
    series printed ``2024-05-10 00:10:00Z``."""
    stamps = pd.date_range("2024-05-10", periods=60, freq=freq, tz="UTC").strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    one = pd.DataFrame({"timestamp": stamps, "requests": np.arange(60) % 5 + 3})
    one.to_csv(tmp_path / "one.csv", index=False)
    pd.concat([one.assign(service=key) for key in ("a", "b")]).to_csv(tmp_path / "fleet.csv", index=False)
    runner = CliRunner()
    single = runner.invoke(main, ["forecast", str(tmp_path / "one.csv"), "--model", "naive", "--horizon", "2"])
    fleet = runner.invoke(main, ["forecast", str(tmp_path / "fleet.csv"), "--by", "service", "--model", "naive",
                                 "--horizon", "2"])
    assert single.exit_code == 0 and fleet.exit_code == 0, single.output + fleet.output
    single_stamps = re.findall(r"^(2024-05-10 \S+) ", single.output, flags=re.M)
    fleet_stamps = re.findall(r"^ +a (2024-05-10 \S+) ", fleet.output, flags=re.M)
    assert single_stamps[0] == shown
    assert fleet_stamps == single_stamps and len(fleet_stamps) == 2, fleet.output
