"""What docs/fleets.md, docs/fleet-options.md and docs/health.md say a fleet does, where the code did otherwise."""

from __future__ import annotations

import pandas as pd
import pytest

from conftest import keyed_poisson_frame
from workload_predictor import FleetPredictor
from workload_predictor.errors import WorkloadDataError

START = pd.Timestamp("2024-01-01", tz="UTC")
MINUTE = pd.Timedelta("1min")


def test_a_strict_update_refusing_rows_without_a_key_says_nothing_was_updated():
    """docs/fleets.md: rows without a key are reported under the key ``None``; ``strict=True`` raises that error
    instead, changing nothing. The strict error said "those rows were left out and the other keys updated", under
    a "key 'None':" prefix, while no key was updated."""
    fleet = FleetPredictor(strict=True, max_training_time=None).fit(keyed_poisson_frame(["a", "b"], 0, 120))
    before = fleet.predict()
    rows = pd.concat([keyed_poisson_frame(["a", "b"], 120, 1), keyed_poisson_frame(["a"], 121, 1).assign(key=None)], ignore_index=True)
    with pytest.raises(WorkloadDataError, match="key column 'key' is missing at 1 row") as info:
        fleet.update(rows)
    message = str(info.value)
    assert "nothing was updated" in message and "other keys updated" not in message, message
    assert not message.startswith("key 'None'"), message
    assert fleet.predict().equals(before)
    # Not strict: the rows are left out, the other keys updated, and the error says so.
    fleet.set_params(strict=False).update(rows)
    assert "those rows were left out and the other keys updated" in str(fleet.update_errors_[None])
    assert fleet.predict()["timestamp"].min() == START + MINUTE * 121


def test_the_readme_says_a_refit_fleet_key_counts_bad_samples():
    """README, Fleets: ``fleet.health`` rates every key's ``input_anomaly``, a DLinear key's in the default
    ``update_mode="refit"`` as in ``"incremental"``: a corrupt 1e9 in its updates leaves its forecast at the level
    and is counted (docs/fleets.md, Health). A refit key's was "unknown", and the README's health bullet said so."""
    from pathlib import Path

    rows = keyed_poisson_frame(["a", "b"], 0, 200)
    new = keyed_poisson_frame(["a", "b"], 200, 10)
    new.loc[(new["key"] == "a") & (new["timestamp"] == START + MINUTE * 205), "requests"] = 1e9
    found = {}
    for mode in ("refit", "incremental"):
        fleet = FleetPredictor(horizon=5, update_mode=mode, max_training_time=None).fit(rows)
        for minute in range(200, 210):
            fleet.update(new[new["timestamp"] == START + MINUTE * minute])
        forecast = fleet.predict()
        assert forecast.loc[forecast["key"] == "a", "yhat"].max() < 100  # the 1e9 read as its recent median
        found[mode] = fleet.health().loc["a", ["input_anomaly", "input_anomaly_level"]].tolist()
    assert found["refit"] == found["incremental"] == [1.0, "warning"]
    readme = Path(__file__).resolve().parents[1] / "README.md"
    if not readme.exists():
        pytest.skip("README.md is not shipped in this tree")
    [bullet] = [" ".join(b.split()) for b in readme.read_text(encoding="utf-8").split("\n- ")
                if b.startswith("`fleet.health(")]
    assert "input_anomaly" in bullet and "unknown" not in bullet and "counts no bad sample" not in bullet, bullet
