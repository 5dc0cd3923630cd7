"""A fleet's future timestamps past 2262-04-11 23:47:16 UTC, the last instant int64 nanoseconds hold: a typed error
naming the key, as :meth:`WorkloadPredictor.predict` refuses them, never stamps wrapped round to 1677 (review h203)."""

from __future__ import annotations

import pandas as pd
import pytest
from click.testing import CliRunner

from workload_predictor import FleetPredictor, WorkloadPredictor
from workload_predictor.cli import main
from workload_predictor.errors import WorkloadDataError

from conftest import periodic_series

LATE = "2262-04-11 20:00"  # 220 buckets of 1 min: the last at 23:39, the limit 23:47:16


def late_fleet() -> pd.DataFrame:
    """Key "late" ends 8 minutes before the limit, key "early" in 2024; 220 one-minute buckets each."""
    return pd.concat([periodic_series(220, start="2024-01-01").assign(key="early"),
                      periodic_series(220, start=LATE).assign(key="late")], ignore_index=True)


# a batched DLinear key, a key's own predictor, a global LSTM's key
@pytest.mark.parametrize("model, params", [("dlinear", None), ("naive", None), ("global_lstm", {"max_epochs": 1})])
def test_a_fleet_forecast_past_2262_names_the_key_and_refuses_what_the_predictor_refuses(model, params):
    fleet = FleetPredictor(model=model, horizon=10, random_state=0, model_params=params).fit(late_fleet())
    if model == "global_lstm":
        model = "naive"  # the one predictor compared: which buckets a forecast may hold does not hang on its model
    alone = WorkloadPredictor(model=model, horizon=10, random_state=0).fit(periodic_series(220, start=LATE))
    # 7 buckets after 23:39 end at 23:47, within the limit; an 8th would end at 23:48, past it
    for steps in (None, 8):
        with pytest.raises(WorkloadDataError, match=r"Key 'late'.*2262-04-11 23:47:16.*at most 7 steps"):
            fleet.predict(steps)
        with pytest.raises(WorkloadDataError, match="2262-04-11 23:47:16"):
            alone.predict(steps)
    forecast = fleet.predict(steps=7)  # what fits is still forecast, after each key's last bucket
    for key, start in (("early", "2024-01-01 03:40"), ("late", "2262-04-11 23:40")):
        stamps = forecast.loc[forecast["key"] == key, "timestamp"]
        expected = pd.date_range(start, periods=7, freq="1min", tz="UTC")
        assert pd.DatetimeIndex(stamps).equals(expected), (key, stamps)
    assert alone.predict(7).index.equals(expected)


def test_forecast_by_past_2262_writes_no_wrapped_stamp(tmp_path):
    path, out = tmp_path / "fleet.csv", tmp_path / "out.csv"
    late_fleet().to_csv(path, index=False)
    result = CliRunner().invoke(main, ["forecast", str(path), "--by", "key", "--model", "naive", "-q",
                                       "--out", str(out)])
    assert result.exit_code != 0, result.output
    assert "Key 'late': 10 buckets of 1min after 2262-04-11T23:39:00+00:00 would end past 2262-04-11 23:47:16" \
        in result.output, result.output
    if out.exists():  # nothing written, or nothing before 2024
        assert (pd.to_datetime(pd.read_csv(out)["timestamp"], utc=True) >= pd.Timestamp("2024", tz="UTC")).all()


def test_a_fleet_key_whose_next_bucket_ends_past_the_range_is_told_no_step_fits():
    """Key "late" ends at 23:46, its next bucket would end at 23:48: "forecast at most 0 steps for that key" asked
    for a forecast predict refuses."""
    frame = pd.concat([periodic_series(227, start="2024-01-01").assign(key="early"),
                       periodic_series(227, start=LATE).assign(key="late")], ignore_index=True)
    fleet = FleetPredictor(model="naive", horizon=3).fit(frame)
    with pytest.raises(WorkloadDataError, match=r"Key 'late': 1 bucket of 1min after 2262-04-11T23:46:00\+00:00 would "
                                                r"end past .*no bucket after it fits: fix its timestamps") as error:
        fleet.predict(1)
    assert "at most 0" not in str(error.value)
