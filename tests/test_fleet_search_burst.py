"""The window search of a DLinear fit, batched (a fleet's keys) or its own, scores its candidates on validation windows
that read a burst the series came back from at its median, as the fit's own validation reads it: one flagged bucket
does not choose a key's windows.

The series is ``scripts/accuracy_alerts.py``'s burst row: Poisson(20) 10 s buckets, one 1e6 bucket 40 before the fit's
end, then a level three times higher; the fleet's update refits each key on its newest 600 buckets, which puts the
burst in the tail of the training part, where the search scores its candidates."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from workload_predictor import FleetPredictor, WorkloadPredictor

FIT, UPDATE, BURST_AT = 600, 61, 560


def poisson(lam: float, n: int, seed: int, start: int = 0) -> pd.DataFrame:
    stamps = pd.Timestamp("2024-01-01", tz="UTC") + (start + np.arange(n)) * pd.Timedelta("10s")
    return pd.DataFrame({"timestamp": stamps, "requests": np.random.default_rng(seed).poisson(lam, n)})


def frames() -> tuple[pd.DataFrame, pd.DataFrame]:
    """The fit's rows and the update's of three keys: ``burst``, its clean ``twin`` (the same draws without the
    burst) and another clean key."""
    clean, after = poisson(20, FIT, 0), poisson(60, UPDATE, 10, start=FIT)
    burst = clean.assign(requests=clean["requests"].where(clean.index != BURST_AT, 10**6))
    other, other_after = poisson(35, FIT, 1), poisson(35, UPDATE, 11, start=FIT)
    head = pd.concat([burst.assign(key="burst"), clean.assign(key="twin"), other.assign(key="other")])
    tail = pd.concat([after.assign(key="burst"), after.assign(key="twin"), other_after.assign(key="other")])
    return head, tail


def refitted(head: pd.DataFrame, tail: pd.DataFrame, key: str) -> WorkloadPredictor:
    """The key's own predictor fitted on its newest ``FIT`` buckets: what the fleet's update refits it on."""
    rows = pd.concat([head, tail])
    return WorkloadPredictor(horizon=10).fit(rows[rows["key"] == key].drop(columns="key").tail(FIT))


@pytest.fixture(scope="module")
def fitted():
    head, tail = frames()
    fleet = FleetPredictor(horizon=10).fit(head, key="key").update(tail)
    assert fleet.update_errors_ == {} and fleet._predictors == {}
    return fleet, {key: refitted(head, tail, key) for key in ("burst", "twin")}


def block_row(fleet: FleetPredictor, key: str):
    for block in fleet._blocks:
        if key in block.keys:
            return block, block.keys.index(key)
    raise AssertionError(key)


def test_the_burst_key_chooses_the_windows_its_clean_twin_chooses(fitted):
    """Scored on the raw burst, the candidates' scores ran from 4222.6 (window 12) down to 3465.2 (window 120): the
    longer windows smooth the burst, so the key blended {120, 96, 72} where its twin blends {48, 72, 120}, and its
    validation error was 21.9 against the twin's 19.5 (fleet and predictor alike)."""
    fleet, own = fitted
    block, row = block_row(fleet, "burst")
    twin_block, twin_row = block_row(fleet, "twin")
    assert sorted(block.window_weights[row]) == sorted(twin_block.window_weights[twin_row])
    # The validation error within the standard error of the twin's (its per-origin errors averaged over
    # horizon-long blocks, which overlapping windows leave about independent).
    twin = own["twin"].model_
    per_origin = np.abs(np.maximum(twin.validation_forecast_, 0.0) - twin.validation_actual_).mean(axis=(1, 2))
    noise = per_origin.std(ddof=1) / np.sqrt(len(per_origin) / twin.horizon)
    assert abs(float(block.validation_mae[row, 0]) - float(twin_block.validation_mae[twin_row, 0])) <= noise


def test_a_predictors_search_scores_its_candidates_as_its_clean_twins(fitted):
    """DLinear's own search, in the key's WorkloadPredictor (given its flagged buckets), likewise: each candidate's
    score moves by less than the twin's scores differ among themselves, and the blend is the twin's."""
    _, own = fitted
    scores, twin_scores = own["burst"].model_.window_scores_, own["twin"].model_.window_scores_
    assert scores.keys() == twin_scores.keys()
    spread = max(twin_scores.values()) - min(twin_scores.values())
    assert max(abs(scores[w] - twin_scores[w]) for w in scores) <= spread
    assert sorted(own["burst"].model_.window_weights_) == sorted(own["twin"].model_.window_weights_)


def test_the_burst_key_equals_its_own_predictor_and_lies_within_its_twins_interval(fitted):
    """The fleet's search reads the burst as the key's WorkloadPredictor's does: the same blend, scores and forecast;
    and the forecast lies within the clean twin's interval."""
    fleet, own = fitted
    block, row = block_row(fleet, "burst")
    expected = own["burst"].model_
    assert block.window_weights[row] == pytest.approx(expected.window_weights_, rel=1e-9)
    forecast = fleet.predict()
    got = forecast[forecast["key"] == "burst"]
    single = own["burst"].predict()
    for column in ("yhat", "lower", "upper"):
        np.testing.assert_allclose(got[column], getattr(single, column)[:, 0], rtol=1e-9, atol=1e-9)
    assert fleet.confidence_["burst"] == pytest.approx(own["burst"].confidence_, rel=1e-9, abs=1e-12)
    twin = forecast[forecast["key"] == "twin"]
    assert (got["yhat"].to_numpy() >= twin["lower"].to_numpy()).all()
    assert (got["yhat"].to_numpy() <= twin["upper"].to_numpy()).all()
