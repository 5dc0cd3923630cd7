"""``FleetPredictor.predict(level=...)``: the interval at another level, as ``WorkloadPredictor.predict(level=...)``
gives it, where each key's validation errors are kept; a typed refusal where they are not (batched DLinear keys)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from workload_predictor import FleetPredictor, WorkloadPredictor
from workload_predictor.errors import WorkloadDataError

START = pd.Timestamp("2024-03-01", tz="UTC")


def make_fleet(n_keys: int = 3, n: int = 300, seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    return pd.concat([pd.DataFrame({"endpoint": f"k{i}", "timestamp": START + pd.Timedelta("1min") * t,
                                    "requests": rng.poisson(rng.uniform(5, 100) * (1 + 0.5 * np.sin(t / (5 + i))))})
                      for i in range(n_keys)], ignore_index=True)


def widths(forecast: pd.DataFrame) -> np.ndarray:
    return (forecast["upper"] - forecast["lower"]).to_numpy()


@pytest.mark.parametrize("model", ["naive", "seasonal_naive", "ensemble"])
def test_a_per_key_fleet_gives_each_key_the_interval_its_own_predictor_gives_at_that_level(model):
    """Before: predict(level=0.5) was a TypeError (no such argument), while WorkloadPredictor.predict(level=0.5)
    gives the interval at 0.5 from the same validation errors."""
    frame = make_fleet(2)
    fleet = FleetPredictor(model=model, horizon=4, level=0.9, random_state=0).fit(frame, key="endpoint")
    at_half = fleet.predict(level=0.5)
    assert (widths(at_half) < widths(fleet.predict())).any()  # another interval, not the fitted level's relabelled
    for key, rows in at_half.groupby("endpoint"):
        alone = WorkloadPredictor(model=model, horizon=4, level=0.9, random_state=0).fit(frame[frame["endpoint"] == key])
        expected = alone.predict(level=0.5)
        np.testing.assert_allclose(rows["lower"], expected.lower[:, 0])
        np.testing.assert_allclose(rows["upper"], expected.upper[:, 0])
    refitted = FleetPredictor(model=model, horizon=4, level=0.5, random_state=0).fit(frame, key="endpoint").predict()
    pd.testing.assert_frame_equal(at_half, refitted)
    pd.testing.assert_frame_equal(fleet.predict(level=0.9), fleet.predict())  # the fitted level: its own interval


def test_a_global_lstm_fleet_calibrates_another_level_from_its_kept_windows(tmp_path):
    frame = make_fleet()
    settings = dict(model="global_lstm", horizon=4, random_state=0, model_params={"max_epochs": 1, "hidden_size": 4})
    fleet = FleetPredictor(level=0.9, **settings).fit(frame, key="endpoint")
    at_half = fleet.predict(level=0.5, steps=3)
    assert (widths(at_half) < widths(fleet.predict(steps=3))).any()
    refitted = FleetPredictor(level=0.5, **settings).fit(frame, key="endpoint").predict(steps=3)
    pd.testing.assert_frame_equal(at_half, refitted)
    fleet.save(tmp_path / "fleet.wpm")
    pd.testing.assert_frame_equal(FleetPredictor.load(tmp_path / "fleet.wpm").predict(level=0.5, steps=3), at_half)


def test_a_batched_dlinear_fleet_refuses_another_level_naming_the_fix():
    """A batched key keeps its half-widths at the fitted level, not its validation errors: another level is refused
    (not the fitted level's interval under another name)."""
    fleet = FleetPredictor(model="dlinear", horizon=4, level=0.9).fit(make_fleet(), key="endpoint")
    with pytest.raises(WorkloadDataError, match=r"level=0\.5 is not the level this fleet was fitted at \(0\.9\).*"
                                                r"fleet\.set_params\(level=0\.5\)\.fit"):
        fleet.predict(level=0.5)
    pd.testing.assert_frame_equal(fleet.predict(level=0.9), fleet.predict())


def test_a_dlinear_fleets_keys_with_their_own_predictors_take_another_level():
    """update_mode='incremental': an updated key has its own predictor, which keeps its validation errors."""
    frame = make_fleet(2, 300)
    head = frame[frame["timestamp"] < START + pd.Timedelta("290min")]
    fleet = FleetPredictor(model="dlinear", horizon=4, update_mode="incremental").fit(head, key="endpoint")
    fleet.update(frame[frame["timestamp"] >= START + pd.Timedelta("290min")])
    assert fleet.update_errors_ == {} and sorted(fleet._predictors) == ["k0", "k1"]
    at_half = fleet.predict(level=0.5)
    for key, rows in at_half.groupby("endpoint"):
        expected = fleet._predictors[key].predict(level=0.5)
        np.testing.assert_allclose(rows["upper"] - rows["lower"], expected.upper[:, 0] - expected.lower[:, 0])
    assert (widths(at_half) < widths(fleet.predict())).any()


@pytest.mark.parametrize("level", [0.0, 1.0, 1.5, -0.1, float("nan"), "0.5", True, None], ids=repr)
def test_a_level_that_is_no_coverage_is_a_typed_error(level):
    fleet = FleetPredictor(model="naive", horizon=4).fit(make_fleet(2), key="endpoint")
    if level is None:  # the fitted level
        pd.testing.assert_frame_equal(fleet.predict(level=level), fleet.predict())
        return
    with pytest.raises(WorkloadDataError, match=r"must be a coverage in \(0, 1\)"):
        fleet.predict(level=level)


@pytest.mark.parametrize("settings", [{"model": "dlinear"}, {"model": "naive", "update_mode": "incremental"},
                                      {"model": "global_lstm", "window": 24, "model_params": {"max_epochs": 1}}])
def test_a_level_set_since_fit_applies_at_the_next_fit_not_at_an_update(settings):
    """docs/fleets.md and the README's ``set_params`` row: a fleet's ``level`` set since its fit waits for its next
    ``fit`` (a predictor's applies at its next ``update`` too): an update may leave keys without rows, and batched
    DLinear keys keep their half-widths, not the errors they came from, so the fleet's keys would hold two levels.
    Until then ``predict()`` gives the fitted level's interval and ``fitted_params_["level"]`` says which."""
    frame = make_fleet(3)
    at = frame.groupby("endpoint").cumcount()
    fleet = FleetPredictor(horizon=4, level=0.9, random_state=0, **settings).fit(frame[at < 280], key="endpoint")
    fleet.set_params(level=0.5)
    fleet.update(frame[(at >= 280) & (frame["endpoint"] != "k2")])  # k2 has no rows: it keeps its calibration
    assert fleet.fitted_params_["level"] == 0.9
    if settings["model"] != "dlinear":  # batched DLinear keys hold the fitted level's half-widths alone
        pd.testing.assert_frame_equal(fleet.predict(), fleet.predict(level=0.9))
        assert (widths(fleet.predict(level=0.5)) < widths(fleet.predict())).any()
    refitted = fleet.fit(frame, key="endpoint")
    assert refitted.fitted_params_["level"] == 0.5
    expected = FleetPredictor(horizon=4, level=0.5, random_state=0, **settings).fit(frame, key="endpoint").predict()
    pd.testing.assert_frame_equal(refitted.predict(), expected)
