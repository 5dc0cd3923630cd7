"""A request log whose first request lies within one bucket after 1677-09-21 00:12:43.145224193 UTC (the first
instant of nanosecond timestamps): its first bucket, on the epoch grid, starts before that instant. The bucket is
partial and dropped without --keep-partial, so the log is read from its second bucket on; with --keep-partial, which
would keep it, the error says so."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from workload_predictor.cli import main
from workload_predictor.errors import WorkloadDataError
from workload_predictor.readers import read_trace

FIRST = pd.Timestamp.min.tz_localize("UTC")


def _log(path, after: str):
    stamps = FIRST + pd.Timedelta(after) + pd.to_timedelta(np.arange(0, 600, 0.5), unit="s")
    pd.DataFrame({"timestamp": [s.isoformat() for s in stamps]}).to_csv(path, index=False)
    return stamps


@pytest.mark.parametrize("after", ["2s", "6.8s"])
def test_a_log_whose_partial_first_bucket_starts_before_1677_is_read_from_its_second(tmp_path, after):
    path = tmp_path / "early.csv"
    stamps = _log(path, after)
    trace = read_trace(path, freq="10s")
    # Counted here without bucketize: the 10 s buckets from 00:12:50 (the first 10 s grid start after FIRST), the
    # last (partial: the log ends inside it) left out.
    starts = pd.date_range("1677-09-21 00:12:50", periods=60, freq="10s", tz="UTC")
    counts = [int(((stamps >= s) & (stamps < s + pd.Timedelta("10s"))).sum()) for s in starts]
    assert counts[-1] < 20 and stamps[-1] < starts[-1] + pd.Timedelta("10s")
    assert trace.series["timestamp"].tolist() == starts[:-1].tolist()
    assert trace.series["requests"].tolist() == counts[:-1]

    result = CliRunner().invoke(main, ["forecast", str(path), "--freq", "10s", "--model", "naive", "-q",
                                       "--horizon", "2"])
    assert result.exit_code == 0, result.output
    assert "-> 59 buckets of 10 s, 1677-09-21 00:12:50Z .. 1677-09-21 00:22:30Z" in result.output, result.output


def test_keep_partial_on_such_a_log_names_the_bucket_it_would_keep(tmp_path):
    path = tmp_path / "early.csv"
    _log(path, "2s")
    with pytest.raises(WorkloadDataError, match="first bucket of 10s starts before 1677-09-21 00:12:43.145224193 UTC"
                                                ".* drop --keep-partial"):
        read_trace(path, freq="10s", keep_partial=True)
    later = tmp_path / "later.csv"
    _log(later, "8s")  # from 00:12:51.145: its first bucket (00:12:50) lies in the range, and is kept
    assert read_trace(later, freq="10s", keep_partial=True).series["timestamp"].iloc[0] == pd.Timestamp(
        "1677-09-21 00:12:50", tz="UTC")
