"""health()'s accuracy rating from the data: ``relative_error``, the validation error against the series' own noise
(docs/health.md, "Why 3 and 4 for relative_error")."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from workload_predictor import FleetPredictor, ModelFileError, WorkloadDataError, WorkloadPredictor
from workload_predictor.health import ABSOLUTE_ACCURACY, LEVEL_FALL_FLOOR, level_fall, noise_scale, relative_measure

FREQ = pd.Timedelta("10s")
START = pd.Timestamp("2024-01-01", tz="UTC")


def _poisson(lam: float, n: int, seed: int = 0, start: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"timestamp": START + (start + np.arange(n)) * FREQ, "requests": rng.poisson(lam, n)})


@pytest.mark.parametrize("lam", [3, 20])
def test_a_model_at_the_noise_floor_of_a_count_series_raises_no_accuracy_alert(lam):
    """A plain Poisson series forecast as well as its noise allows: 1 - WAPE is 0.53 (Poisson(3)) or 0.82
    (Poisson(20)), so the absolute rule (0.8 / 0.6) is critical or at its warning edge; the default rates the error
    against what repeating the last bucket errs over the series held, about 0.7x here, and raises nothing."""
    predictor = WorkloadPredictor().fit(_poisson(lam, 600))
    assert [alert["metric"] for alert in predictor.check_alerts()] == []
    report = predictor.health()
    assert report["metrics"]["relative_error"]["value"] < 1.0
    assert report["metrics"]["accuracy"] == {"value": predictor.confidence_, "level": "unknown", "warning": None,
                                             "critical": None}
    old = predictor.health(thresholds={"accuracy": ABSOLUTE_ACCURACY})["metrics"]["accuracy"]["level"]
    assert old == ("critical" if lam == 3 else "warning" if predictor.confidence_ <= 0.8 else "ok")


def test_a_level_shift_the_model_has_not_followed_yet_alerts_and_clears_once_followed():
    """Poisson(20) then Poisson(60), one bucket an update: 12 buckets on the forecast is still near 30 and the newest
    validation windows miss by about 4x what repeating the last bucket errs over the series held; 100 buckets on it
    follows."""
    predictor = WorkloadPredictor().fit(_poisson(20, 600))
    after = _poisson(60, 100, seed=1, start=600)
    levels = []
    for i in range(len(after)):
        predictor.update(after.iloc[i:i + 1])
        levels.append(predictor.health()["metrics"]["relative_error"]["level"])
    assert levels[:3] == ["ok"] * 3
    assert levels[11] in ("warning", "critical")
    assert "critical" in levels[8:20]
    assert levels[-1] == "ok"
    alerts = [a for a in predictor.check_alerts(measurements={"relative_error": 6.0}) if a["metric"] == "relative_error"]
    assert alerts[0]["message"] == "relative_error is 6 (>= 4): critical"


def test_a_level_drop_the_model_has_not_followed_yet_alerts_as_a_rise_does_and_clears_once_followed():
    """Poisson(20) then Poisson(20 / 3), one bucket an update: the forecast stays near 20 for a dozen buckets, a
    3x over-provisioning. Its newest windows miss by about 10, twice what repeating the last bucket errs at the old
    level (5), but 3-4x what it errs at the level the load fell to (2.9, Poisson's noise falls as the square root
    of the level); a rise's miss (40) is 3x a drop's against the same old noise. Before, the drop peaked at 2.1 and
    never warned."""
    predictor = WorkloadPredictor().fit(_poisson(20, 600))
    after = _poisson(20 / 3, 60, seed=1, start=600)
    metrics = []
    for i in range(len(after)):
        predictor.update(after.iloc[i:i + 1])
        metrics.append(predictor.health()["metrics"]["relative_error"])
    levels = [metric["level"] for metric in metrics]
    assert levels[:3] == ["ok"] * 3
    assert "warning" in levels[10:30]
    assert levels[-1] == "ok"
    worst = max(metrics, key=lambda metric: metric["value"])
    assert "in the newest windows, against 0." in worst["detail"] and "their level fell to 0." in worst["detail"]


def test_the_noise_a_level_fall_is_measured_against_is_bounded():
    """The newest windows (the ``2 * horizon - 1`` newest buckets) against the buckets kept before them: no fall, a
    rise or nothing before them keep the scale; a fall to a third lowers it to sqrt(1/3); a fall to idle (a bursty
    series' gap) stops at ``sqrt(LEVEL_FALL_FLOOR)``, so a forecast of a few counts in a gap is not rated against 0."""
    level = np.full((120, 3), 30.0)
    level[-19:, 1] = 10.0  # a fall to a third
    level[-19:, 2] = 0.0  # an idle gap
    assert level_fall(level, 120, 10) == pytest.approx([1.0, 3 ** -0.5, LEVEL_FALL_FLOOR ** 0.5])
    rise = np.where(np.arange(120)[:, None] >= 101, 90.0, 30.0)
    assert level_fall(rise, 120, 10) == [1.0]
    assert level_fall(np.zeros((120, 1)), 120, 10) == [1.0]  # nothing before them above 0
    assert level_fall(level[-19:], 120, 10) == [1.0] * 3  # no bucket before them
    # a fleet block's keys at once, the same figures
    both = level_fall(np.stack([level, rise.repeat(3, axis=1)]), 120, 10)
    np.testing.assert_allclose(both, [level_fall(level, 120, 10), [1.0] * 3], rtol=1e-12)
    value, detail = relative_measure([2.0], [3.0], [4.0], ["requests"], [0.5])
    assert value == 1.5 and "(3 in the newest windows, against 0.50x that error: their level fell to 0.25x" in detail
    assert relative_measure([2.0], [3.0], [4.0], ["requests"], [1.0])[0] == 0.75


def test_the_detail_names_the_worst_target_and_its_figures():
    frame = _poisson(20, 600).assign(tokens=lambda f: f["requests"] * 100)
    frame.loc[590:, "tokens"] = 5000  # the tokens exporter jumps in the validation tail
    predictor = WorkloadPredictor().fit(frame, target=["requests", "tokens"])
    metric = predictor.health()["metrics"]["relative_error"]
    assert metric["detail"].startswith("'tokens': validation error ")
    scale = predictor.noise_scale_.max(axis=0)[1]
    ratio = max(predictor.validation_mae_[1], predictor.recent_mae_[1]) / scale
    assert metric["value"] == pytest.approx(ratio)
    assert metric["detail"].endswith(f"in the newest windows), {ratio:.2f}x the {scale:.4g} of repeating the last "
                                     "bucket (the naive forecast) over the buckets held")


def test_a_stuck_exporter_is_stuck_inputs_not_an_accuracy_alert():
    """The exporter repeats the last count: the forecast follows it, its error shrinks; the scale keeps the fit's
    (a target that stopped moving is not measured against a change of 0)."""
    frame = _poisson(20, 600)
    predictor = WorkloadPredictor().fit(frame)
    stuck = pd.DataFrame({"timestamp": START + (600 + np.arange(150)) * FREQ, "requests": frame["requests"].iloc[-1]})
    predictor.update(stuck)
    assert predictor.noise_scale_[1, 0] == 0.0 < predictor.noise_scale_[0, 0]
    report = predictor.health()
    assert report["metrics"]["relative_error"]["level"] == "ok"
    assert report["metrics"]["stuck_input"]["level"] == "warning"


def test_an_update_carries_the_fits_scale_and_measures_the_buckets_kept():
    frame = _poisson(20, 700)
    predictor = WorkloadPredictor().fit(frame[:600])
    fitted = noise_scale(frame[["requests"]].to_numpy(float)[:600], 120, 10)
    np.testing.assert_array_equal(predictor.noise_scale_, fitted)
    predictor.update(frame[600:])
    kept = predictor.series_.values
    np.testing.assert_array_equal(predictor.noise_scale_[0], fitted[0])
    # The naive forecast (the bucket before, repeated) on the windows of 10 that tile the buckets kept from the newest.
    origins = range(len(kept) - 1 - 10, -1, -10)
    naive = np.mean([np.abs(kept[o + h] - kept[o]) for o in origins for h in range(1, 11)], axis=0)
    np.testing.assert_allclose(predictor.noise_scale_[1], naive)


def test_thresholds_none_reports_a_metric_unrated_and_the_old_rule_is_one_override():
    predictor = WorkloadPredictor().fit(_poisson(3, 600))
    report = predictor.health(thresholds={"relative_error": None, "accuracy": ABSOLUTE_ACCURACY})
    assert report["metrics"]["relative_error"]["level"] == "unknown"
    assert report["metrics"]["accuracy"]["level"] == "critical"
    with pytest.raises(WorkloadDataError, match=r"thresholds\['accuracy'\]=\(1, 2, 3\) must be a pair .* e.g. "
                                                r"\(0.8, 0.6\), or None"):
        predictor.health(thresholds={"accuracy": (1, 2, 3)})


@pytest.mark.parametrize("name, value, message", [
    ("noise_scale_", np.full((2, 1), np.nan), r"has noise_scale_ of shape \(2, 1\), not 1 pairs"),
    ("noise_scale_", np.ones((1, 1)), r"has noise_scale_ of shape \(1, 1\)"),
    ("noise_scale_", "edit", r"has noise_scale_ of shape"),
    ("recent_mae_", np.array([-1.0]), r"holds recent_mae_ of shape \(1,\), not 1 finite errors"),
])
def test_a_file_whose_scale_or_recent_errors_are_not_what_health_reads_is_refused(tmp_path, name, value, message):
    predictor = WorkloadPredictor().fit(_poisson(20, 300))
    setattr(predictor, name, value)
    predictor.save(tmp_path / "bad.wpm")
    with pytest.raises(ModelFileError, match=message):
        WorkloadPredictor.load(tmp_path / "bad.wpm")


def test_a_file_whose_newest_scale_disagrees_with_its_history_is_refused(tmp_path):
    predictor = WorkloadPredictor().fit(_poisson(20, 300))
    predictor.noise_scale_ = predictor.noise_scale_ * [[1.0], [2.0]]
    predictor.save(tmp_path / "bad.wpm")
    with pytest.raises(ModelFileError, match=r"the newest ones those of the buckets it holds"):
        WorkloadPredictor.load(tmp_path / "bad.wpm")


def test_a_file_saved_before_the_scale_was_kept_reads_the_buckets_it_holds(tmp_path):
    predictor = WorkloadPredictor().fit(_poisson(20, 300))
    del predictor.noise_scale_, predictor.recent_mae_
    predictor.save(tmp_path / "old.wpm")
    loaded = WorkloadPredictor.load(tmp_path / "old.wpm")
    held = loaded.series_.values.copy()
    value = loaded.health()["metrics"]["relative_error"]["value"]
    assert value == pytest.approx(max(loaded.validation_mae_ / noise_scale(loaded.series_.values, 300, 10)[0]))
    loaded.update(_poisson(20, 1, start=300))
    np.testing.assert_array_equal(loaded.noise_scale_[0], noise_scale(held, len(held), 10)[0])


def test_a_fleet_rates_each_batched_key_against_its_own_noise():
    frames = [_poisson(lam, 600, seed=i).assign(key=f"k{lam}") for i, lam in enumerate((3, 20, 500))]
    fleet = FleetPredictor(horizon=10).fit(pd.concat(frames), key="key")
    health = fleet.health()
    assert health["accuracy_level"].tolist() == ["unknown"] * 3
    assert health["relative_error_level"].tolist() == ["ok"] * 3
    assert (health["relative_error"] < 1.0).all()
    old = fleet.health(thresholds={"accuracy": ABSOLUTE_ACCURACY})
    assert old.loc["k3", "accuracy_level"] == "critical"
    alerts = fleet.check_alerts(thresholds={"relative_error": (0.1, 0.2)})
    assert sorted(a["key"] for a in alerts) == ["k20", "k3", "k500"]
    assert all(a["detail"].startswith("'requests': validation error ") for a in alerts)


def test_a_batched_fleet_key_alerts_on_a_level_shift_its_refits_have_not_followed(tmp_path):
    """A refitted key's validation windows are the tail of its newest buckets: over all of them a x3 shift is diluted
    (before: 1.43 for the rise, 1.08 for the drop 15 buckets on; over 100 one-bucket updates 2.6-3.0 and 1.7-2.1 at
    most, never a warning); its newest windows miss by the shift, as a predictor's do. The block saves their MAE
    (``recent_mae``); a file saved before it was kept rates the validation MAE alone."""
    fits = [_poisson(20, 600, seed=seed).assign(key=name) for seed, name in enumerate(("up", "down"))]
    fleet = FleetPredictor(horizon=10).fit(pd.concat(fits), key="key")
    fleet.update(pd.concat([_poisson(60, 15, seed=10, start=600).assign(key="up"),
                            _poisson(20 / 3, 15, seed=11, start=600).assign(key="down")]))
    now = fleet.health()
    assert (now["relative_error"] >= 3).all(), now["relative_error"]
    down = [alert for alert in fleet.check_alerts() if alert["key"] == "down" and alert["metric"] == "relative_error"]
    assert "in the newest windows, against 0." in down[0]["detail"]
    pd.testing.assert_frame_equal(FleetPredictor.load(fleet.save(tmp_path / "fleet.wpm")).health(), now)
    block = fleet._blocks[0]
    kept, block.recent_mae = block.recent_mae, None  # as a file saved before it was kept
    older = FleetPredictor.load(fleet.save(tmp_path / "older.wpm")).health()
    assert (older["relative_error"] < now["relative_error"]).all()
    for bad, shape in ((-kept, r"\(2, 1\)"), (kept[:1], r"\(1, 1\)")):
        block.recent_mae = bad
        fleet.save(tmp_path / "bad.wpm")
        with pytest.raises(ModelFileError, match=rf"newest windows' validation errors of shape {shape}, not \(2, 1\)"):
            FleetPredictor.load(tmp_path / "bad.wpm")


def test_an_injected_value_goes_without_the_measured_values_detail():
    """Before, ``measurements={"stale_buckets": 0}`` kept the detail of the 3 whole buckets measured beside the 0."""
    predictor = WorkloadPredictor().fit(_poisson(20, 300))
    now = predictor.last_timestamp_ + 4 * FREQ
    measured = predictor.health(now=now)["metrics"]["stale_buckets"]
    assert measured["value"] == 3.0 and "3 whole buckets ended since" in measured["detail"]
    injected = predictor.health(now=now, measurements={"stale_buckets": 0.0})["metrics"]["stale_buckets"]
    assert injected == {"value": 0.0, "level": "ok", "warning": 2.0, "critical": 10.0}
    given = predictor.health(measurements={"stale_buckets": 5.0, "stale_buckets_detail": "replayed"})
    assert given["metrics"]["stale_buckets"]["detail"] == "replayed"
