"""``forecast --by`` on a request log notes a key whose first request lies long after the shared grid starts: its
buckets before it are zeros the fit reads as idle time."""

from __future__ import annotations

import numpy as np
import pandas as pd
from click.testing import CliRunner

from workload_predictor.cli import main


def _log(tmp_path, late_start_s: int):
    """Three keys over one hour, two requests a second each; ``qwen`` starts ``late_start_s`` into it."""
    rng = np.random.default_rng(0)
    rows = []
    for key, begin in (("llama", 0), ("mistral", 0), ("qwen", late_start_s)):
        times = np.sort(rng.uniform(begin, 3600, size=2 * (3600 - begin)))
        rows.append(pd.DataFrame({"timestamp": pd.Timestamp("2024-05-10", tz="UTC") + pd.to_timedelta(times, "s"),
                                  "model": key}))
    log = pd.concat(rows).sort_values("timestamp")
    log["timestamp"] = log["timestamp"].dt.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    path = tmp_path / "log.csv"
    log.to_csv(path, index=False)
    return path


def _notes(path):
    result = CliRunner().invoke(main, ["forecast", str(path), "--by", "model", "--freq", "10s", "--model", "naive",
                                       "--horizon", "3"])
    assert result.exit_code == 0, result.output
    return [line for line in result.output.splitlines() if line.startswith("note")], result.output


def test_a_key_that_starts_late_on_the_shared_grid_is_noted_by_name_with_its_lead(tmp_path):
    """Before: qwen's first 56 minutes were zeros, fitted and forecast without a word."""
    notes, output = _notes(_log(tmp_path, 56 * 60))
    assert len(notes) == 1, output
    # The grid runs from 00:00:10 to 00:59:40 inclusive (the partial first and last buckets dropped): 59min 40s.
    assert notes[0].startswith("note    key qwen: first request 55min 50s after the grid starts (94% of its "
                               "59min 40s)"), output
    assert "zeros" in notes[0]


def test_keys_that_start_within_the_stated_share_are_not_noted(tmp_path):
    from workload_predictor.cli import LATE_KEY_SHARE

    # Well inside the share (a key of 2 requests a second has its first within a bucket or two of its start).
    notes, output = _notes(_log(tmp_path, int(0.5 * LATE_KEY_SHARE * 3600)))
    assert notes == [], output
    notes, output = _notes(_log(tmp_path, int(2 * LATE_KEY_SHARE * 3600)))
    assert [note.split(":")[0] for note in notes] == ["note    key qwen"], output
