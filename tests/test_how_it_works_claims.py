"""What docs/how-it-works.md and the README's "How it works" and "Production use" state about the validation tail,
the confidence of an idle endpoint and ``max_gap`` is what the code does: each test runs the behaviour, or checks the
pages state that rule (and no longer the one they stated before, which the code never followed)."""

from __future__ import annotations

import copy
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from workload_predictor import WorkloadPredictor
from workload_predictor.errors import UpdateGapError
from workload_predictor.windows import validation_origins

ROOT = Path(__file__).resolve().parents[1]
README, HOW = ROOT / "README.md", ROOT / "docs" / "how-it-works.md"
pages = pytest.mark.skipif(not (README.exists() and HOW.exists()), reason="the documentation is not shipped here")


def _text(path: Path) -> str:
    """The page with its line breaks and indentation as single spaces (a phrase may wrap)."""
    return re.sub(r"\s+", " ", path.read_text())


def _held_out(n: int, horizon: int) -> tuple[int, int]:
    """The points ``fit`` holds out of ``n`` and the origins it forecasts there (the defaults: 0.15, 100 windows)."""
    origins = validation_origins(n, horizon)
    assert origins[-1] == n - horizon  # the last window ends at the last point
    return n - int(origins[0]), len(origins)


@pytest.mark.parametrize("n, horizon, held, windows", [
    (200, 10, 30, 21),     # 15 % of the points, every window in it
    (5000, 10, 750, 100),  # 15 % of the points, 100 origins spread over it
    (60, 10, 10, 1),       # 15 % is 9 points, less than one horizon: one window, 10 points (17 %)
    (150, 30, 30, 1),      # 15 % is 22 points, less than one horizon: 30 points (20 %)
])
def test_the_validation_tail_is_the_last_15_percent_at_least_one_horizon(n, horizon, held, windows):
    assert _held_out(n, horizon) == (held, windows)


def test_a_short_series_is_fitted_with_a_tail_of_one_horizon_over_15_percent():
    """The pages said "at most 15 % of the points": a fit this short holds out 10 of 60 points (17 %)."""
    index = pd.date_range("2024-01-01", periods=60, freq="10s", tz="UTC")
    series = pd.Series(np.random.default_rng(0).poisson(5.0, 60).astype(float), index=index)
    origins = WorkloadPredictor(horizon=10, window=12).fit(series).model_.validation_origins_
    assert 60 - origins[0] == 10 > 0.15 * 60


@pages
@pytest.mark.parametrize("page", [README, HOW], ids=lambda p: p.name)
def test_the_pages_state_the_tail_the_code_holds_out(page):
    text = _text(page)
    assert "the last 15 % of the points, at least one horizon" in text
    assert "at up to 100 origins" in text
    assert "at most 15 %" not in text


def test_an_idle_endpoints_error_is_measured_against_one_unit_per_forecast_value():
    """An all-zero tail forecast from busy buckets before it: 1 - error / (windows x steps), not per bucket held out."""
    rng = np.random.default_rng(0)
    values = np.r_[rng.poisson(3.0, 850), np.zeros(150)]
    index = pd.date_range("2024-01-01", periods=len(values), freq="10s", tz="UTC")
    predictor = WorkloadPredictor(model="moving_average", horizon=10).fit(pd.Series(values, index=index))
    model = predictor.model_
    errors = np.abs(model.validation_actual_ - np.maximum(model.validation_forecast_, 0.0))
    assert model.validation_actual_.sum() == 0 and errors.sum() > 0
    assert predictor.confidence_ == pytest.approx(1.0 - errors.sum() / (errors.shape[0] * errors.shape[1]))


def test_the_predictors_confidence_is_the_mean_of_its_targets():
    rng = np.random.default_rng(1)
    index = pd.date_range("2024-01-01", periods=600, freq="10s", tz="UTC")
    frame = pd.DataFrame({"timestamp": index, "requests": rng.poisson(20.0, 600).astype(float),
                          "tokens": rng.poisson(900.0, 600).astype(float)})
    forecast = WorkloadPredictor(horizon=5, window=12).fit(frame, target=["requests", "tokens"]).predict()
    by_target = forecast.confidence_by_target
    assert len(set(by_target.values())) == 2
    assert forecast.confidence == pytest.approx(np.mean(list(by_target.values())))


@pages
def test_the_page_measures_an_idle_tail_per_forecast_value():
    text = _text(HOW)
    assert "one unit per forecast value" in text and "one unit per bucket" not in text
    assert "the predictor's the targets' mean" in text


def test_max_gap_bounds_the_skipped_buckets_not_the_distance_ahead():
    """A row ``max_gap + 1`` buckets after the last one (``max_gap`` zero-filled) is taken; one bucket further is not."""
    index = pd.date_range("2024-01-01", periods=200, freq="10s", tz="UTC")
    series = pd.Series(np.random.default_rng(2).poisson(5.0, 200).astype(float), index=index)
    freq = pd.Timedelta("10s")

    def row(ahead: int) -> pd.DataFrame:
        return pd.DataFrame({"timestamp": [index[-1] + ahead * freq], "requests": [4.0]})

    taken = WorkloadPredictor(horizon=5, window=12, max_gap=5).fit(series)
    taken.update(row(6))
    assert taken.last_timestamp_ == index[-1] + 6 * freq
    assert (taken.predict().history["requests"].iloc[-6:-1] == 0).all()
    refused = WorkloadPredictor(horizon=5, window=12, max_gap=5).fit(series)
    with pytest.raises(UpdateGapError, match="7 buckets after .* the 6 buckets between"):
        refused.update(row(7))
    assert refused.last_timestamp_ == index[-1]


@pages
def test_the_readme_and_update_docstring_state_max_gap_as_skipped_buckets():
    production = _text(README).split("## Production use", 1)[1].split("## Python API", 1)[0]
    assert "a row after more than `max_gap` skipped buckets" in production
    assert "over `max_gap` buckets ahead" not in production
    raises = re.sub(r"\s+", " ", WorkloadPredictor.update.__doc__)
    assert "A row after more than ``max_gap`` missing buckets" in raises


@pytest.mark.parametrize("reader", ["health", "confidence_"])
def test_a_fleets_health_and_confidence_beside_an_update_read_one_state(monkeypatch, reader):
    """README, Threads: a fleet's ``health`` and ``confidence_`` beside its ``update`` read one consistent state (its
    ``predict`` and ``save`` are tested so in test_fleet.py, all four beside a refit in test_fleet_refit_race.py). The
    update lands right after the reader took the fleet's state: it reports the state before the update, whole."""
    from test_fleet import _racing_fleet, race_at_state

    fleet, tail, _, _ = _racing_fleet()
    timing = ("training_seconds", "prediction_seconds", "memory_mb")  # measured anew by each call

    def read(which):
        if reader == "confidence_":
            return which.confidence_
        return which.health().drop(columns=[c for c in which.health().columns if str(c).startswith(timing)])

    old, new = read(fleet), read(copy.deepcopy(fleet).update(tail))
    assert not old.equals(new)  # the update changes what the reader reports
    race_at_state(monkeypatch, read=lambda: fleet.update(tail))
    raced = read(fleet)
    monkeypatch.undo()
    assert read(fleet).equals(new)  # the update landed
    assert raced.equals(old)
