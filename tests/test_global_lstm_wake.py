"""A global LSTM key whose target was constant where its scale was fitted (an idle key), then varies (review h43)."""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import pytest
from test_global_lstm import TINY, fleet

from workload_predictor import FleetPredictor, WorkloadPredictor
from workload_predictor.errors import ModelFileError
from workload_predictor.models.global_lstm import GlobalLSTM

START = pd.Timestamp("2024-03-01", tz="UTC")
MINUTE = pd.Timedelta("1min")


def _periodic(n: int, level: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.poisson(level * (1 + 0.5 * np.sin(np.arange(n) / 10))).astype(float)[:, None]


def _fleet_frame() -> pd.DataFrame:
    """The fleet benchmark's first keys (one-minute requests, 600 buckets, the empty ones left out) and an idle key
    99, with output tokens at 50 per request."""
    from perf import datasets

    frame = datasets.fleet(16, 600)
    frame = frame[frame.groupby("key")["requests"].transform("sum") > 0]
    idle = pd.DataFrame({"key": 99, "timestamp": pd.date_range(datasets.START, periods=600, freq="1min"),
                         "requests": 0.0})
    frame = pd.concat([frame, idle], ignore_index=True)
    frame["output_tokens"] = frame["requests"] * 50.0
    return frame


def test_an_idle_key_that_wakes_is_forecast_at_its_new_level(tmp_path):
    """Before: an idle key (scale fitted on zeros: fit_scale's fallback 1) updated with 50 buckets of 100 requests and
    5,000 output tokens read them as 100 and 5,000 scales, and its forecast was 1,470-2,150 for both targets (the
    shared base crossing the targets; a per-key dlinear fleet forecasts 100 / 5,000). Now the target is scaled from
    its points since they left 0: constant there, at that level, and forecast at it."""
    frame = _fleet_frame()
    fleet = FleetPredictor(model="global_lstm", horizon=5, random_state=1, model_params={"max_epochs": 3})
    fleet.fit(frame, key="key", target=["requests", "output_tokens"])
    start = frame["timestamp"].max() + pd.Timedelta(minutes=1)
    fleet.update(pd.DataFrame({"key": 99, "timestamp": pd.date_range(start, periods=50, freq="1min"),
                               "requests": 100.0, "output_tokens": 5000.0}))
    assert fleet.update_errors_ == {}
    forecast = fleet.predict()
    woken = forecast[forecast["key"] == 99].groupby("target")["yhat"]
    for target, level in (("requests", 100.0), ("output_tokens", 5000.0)):
        values = woken.get_group(target).to_numpy()
        np.testing.assert_allclose(values, level, rtol=1e-12, err_msg=target)  # constant since it woke: at its level
    model = fleet._global.model
    idle = model.keys_.index(99)
    # Constant since it left 0: scaled by that level (fit_scale's fallback), and pending until it varies.
    assert model.offset_[idle].tolist() == model.scale_[idle].tolist() == [100.0, 5000.0]
    assert model.scale_pending_[idle].all() and not model.scale_pending_[:idle].any()
    loaded = FleetPredictor.load(fleet.save(tmp_path / "woken.wpm"))
    assert np.array_equal(loaded._global.model.scale_pending_, model.scale_pending_)
    pd.testing.assert_frame_equal(loaded.predict(), forecast)


def test_one_corrupt_bucket_does_not_rescale_an_idle_key_and_other_keys_keep_their_scales():
    """A flagged bucket is not the idle key's new level: it stays pending at its fitted scale; a key fitted with a
    spread is never rescaled."""
    series = [_periodic(300, 10.0, 0), np.zeros((300, 1)), _periodic(300, 50.0, 1)]
    model = GlobalLSTM(**TINY).fit(series)
    assert model.scale_pending_.ravel().tolist() == [False, True, False]
    scale, offset = model.scale_.copy(), model.offset_.copy()
    corrupt = np.zeros((20, 1))
    corrupt[10] = 1e9
    model.update([_periodic(20, 10.0, 2), corrupt, _periodic(20, 50.0, 3)])
    assert model.scale_pending_.ravel().tolist() == [False, True, False]
    assert np.array_equal(model.scale_, scale) and np.array_equal(model.offset_, offset)
    assert np.abs(model.predict()[1]).max() < 1.0
    model.update([None, _periodic(80, 30.0, 4), None])  # it wakes: rescaled from its points since the burst
    assert model.scale_pending_.ravel().tolist() == [False, False, False]
    assert 5.0 < model.scale_[1, 0] < 30.0 and np.array_equal(model.scale_[[0, 2]], scale[[0, 2]])


def test_a_key_that_woke_in_its_validation_tail_is_scaled_from_all_its_points_at_fit():
    """Its training part is all zeros: the network and the base's training windows read it at the fallback, and the
    validation forecasts too; the refit of the base and the forecast read it scaled from its points since it woke
    (Poisson(100): offset about 100, scale about 10)."""
    woke = np.zeros((300, 1))
    woke[-40:] = np.random.default_rng(5).poisson(100, (40, 1))
    model = GlobalLSTM(**TINY).fit([_periodic(300, 10.0, 0), woke, _periodic(300, 50.0, 1)])
    assert not model.scale_pending_[1, 0] and 5.0 < model.scale_[1, 0] < 20.0 and 90.0 < model.offset_[1, 0] < 110.0
    constant = GlobalLSTM(**TINY).fit([_periodic(300, 10.0, 0), np.full((300, 1), 7.0), _periodic(300, 50.0, 1)])
    assert constant.scale_pending_[1, 0] and constant.scale_[1, 0] == 7.0


def test_a_file_without_scale_pending_loads_and_never_rescales_and_a_damaged_one_is_refused(tmp_path):
    series = [_periodic(300, 10.0, 0), np.zeros((300, 1)), _periodic(300, 50.0, 1)]
    fleet = FleetPredictor(model="global_lstm", horizon=5, window=24, random_state=0,
                           model_params={k: v for k, v in TINY.items() if k not in ("horizon", "window", "random_state")})
    frame = pd.concat([pd.DataFrame({"key": i, "timestamp": pd.date_range("2026-01-01", periods=300, freq="1min"),
                                     "requests": y[:, 0]}) for i, y in enumerate(series)], ignore_index=True)
    fleet.fit(frame, key="key")
    model = fleet._global.model
    old = FleetPredictor.load(fleet.save(tmp_path / "fleet.wpm"))
    del old._global.model.scale_pending_  # as a file saved before it was kept
    old = FleetPredictor.load(old.save(tmp_path / "old.wpm"))
    assert getattr(old._global.model, "scale_pending_", None) is None
    new_rows = pd.DataFrame({"key": 1, "timestamp": pd.date_range("2026-01-01 05:00", periods=50, freq="1min"),
                             "requests": 100.0})
    old.update(new_rows)
    assert old._global.model.scale_[1, 0] == 1.0 and getattr(old._global.model, "scale_pending_", None) is None
    for damage in (model.scale_pending_.astype(np.int64), model.scale_pending_[:2], ~model.scale_pending_,
                   np.ones((3, 2), dtype=bool)):
        bad = FleetPredictor.load(tmp_path / "fleet.wpm")
        bad._global.model.scale_pending_ = damage
        with pytest.raises(ModelFileError, match="scale_pending_"):
            FleetPredictor.load(bad.save(tmp_path / "bad.wpm"))


def _frame(columns: dict) -> pd.DataFrame:
    return pd.concat([pd.DataFrame({"key": key, "timestamp": pd.date_range("2026-01-01", periods=len(values),
                                                                          freq="1min", tz="UTC"), "requests": values})
                      for key, values in columns.items()], ignore_index=True)


def test_a_constant_key_is_forecast_at_its_value_inside_its_interval():
    """Before: a key constant at 7 for 600 buckets forecast 6.90-6.98 and 7 of its 10 intervals excluded 7
    (random_state=2; [6.89, 6.91] at step 9): its validation forecasts, which calibrate the interval, were
    made before the base was refitted on all data, and the point after. A target that has shown one value has no
    spread: its model output is scaled back by it, 0, so its forecast is its value, in validation as at the end.
    The other keys' forecasts and intervals are those of a fleet without it (see test below)."""
    rng = np.random.default_rng(0)
    t = np.arange(600)
    frame = _frame({"tiny": rng.poisson(1 + 0.5 * np.sin(t / 20), 600).astype(float),
                    "huge": 1e6 * (1 + 0.3 * np.sin(t / 20)) + rng.normal(0, 1e4, 600),
                    "idle": np.zeros(600), "const": np.full(600, 7.0)})
    fleet = FleetPredictor(model="global_lstm", horizon=10, random_state=2, model_params={"max_epochs": 2})
    forecast = fleet.fit(frame, key="key").predict()
    for key, value in (("const", 7.0), ("idle", 0.0)):
        rows = forecast[forecast["key"] == key]
        assert ((rows["lower"] <= value) & (rows["upper"] >= value)).all(), rows
        np.testing.assert_array_equal(rows["yhat"].to_numpy(), value)


def test_a_pending_key_leaves_the_other_keys_as_they_were():
    """The spread rule touches the pending target's own forecast only: the other keys' forecasts and intervals are
    bit-identical whether the constant key's output is scaled back by its placeholder scale or by 0."""
    series = [_periodic(300, 10.0, 0), np.full((300, 1), 7.0), _periodic(300, 50.0, 1)]
    model = GlobalLSTM(**TINY).fit(series)
    placeholder = copy.copy(model)
    del placeholder.scale_pending_  # as a file saved before it: the placeholder scale for every target
    ours, theirs = model.predict(), placeholder.predict()
    for key in (0, 2):
        np.testing.assert_array_equal(ours[key], theirs[key])
    np.testing.assert_array_equal(ours[1], 7.0)
    assert np.abs(theirs[1] - 7.0).max() > 0.0  # the placeholder scale times the network's output at 0


def test_a_key_woken_at_a_constant_stays_at_it_until_it_varies_then_is_scaled_from_its_new_level():
    """Its held zeros are not its new level: each update reads the points since its run at its constant began."""
    series = [_periodic(300, 10.0, 0), np.zeros((300, 1)), _periodic(300, 50.0, 1)]
    model = GlobalLSTM(**TINY).fit(series)
    for _ in range(2):  # the second update holds the zeros before the run at 100: still constant at 100
        model.update([None, np.full((20, 1), 100.0), None])
        assert model.scale_pending_[1, 0] and model.offset_[1, 0] == model.scale_[1, 0] == 100.0
        np.testing.assert_array_equal(model.predict()[1], 100.0)
    model.update([None, np.random.default_rng(6).poisson(100, (30, 1)).astype(float), None])
    assert not model.scale_pending_[1, 0]
    assert 95.0 < model.offset_[1, 0] < 105.0 and 3.0 < model.scale_[1, 0] < 15.0  # its run at 100 and after


@pytest.mark.parametrize("floor", [np.full((3, 1), np.nan), -np.ones((3, 1)), np.ones((2, 1)), np.full((3, 1), 0.5)])
def test_a_damaged_weight_floor_in_a_global_fleet_file_is_refused(tmp_path, floor):
    """Before: a global network's weight_floor_ was not checked: NaN or -1 floors loaded and updated (every bucket
    judged against them); a (2, 1) floor for 3 keys was refused only by the forecast on load ("does not forecast
    (IndexError: index 2 is out of bounds ...)")."""
    frame = _frame({i: np.random.default_rng(i).poisson(10, 240).astype(float) for i in range(3)})
    fleet = FleetPredictor(model="global_lstm", horizon=5, random_state=0,
                           model_params={"hidden_size": 4, "max_epochs": 1, "window": 24}).fit(frame, key="key")
    fleet._global.model.weight_floor_ = floor
    with pytest.raises(ModelFileError, match="weight_floor_"):
        FleetPredictor.load(fleet.save(tmp_path / "floor.wpm"))


def test_a_target_woken_by_flagged_buckets_is_forecast_at_their_mean_as_a_predictor_reads_them():
    """An idle key wakes with 10 buckets of ~100 requests and ~5,000 output tokens: its tokens are flagged against the
    idle floor until anomaly.MIN_BUSY (20) are busy, so they set no scale and the target stays pending. Before: it was
    forecast at its old constant, 0 (a WorkloadPredictor's DLinear: 4,978; the wake's mean 5,016). Now at the
    mean of its points since its last at the constant, at each origin (the validation forecasts too), and back at 0
    once the series is."""
    rng = np.random.default_rng(0)
    series = [np.hstack([s, 50.0 * s]) for s in fleet(3)] + [np.zeros((240, 2))]
    model = GlobalLSTM(**TINY).fit(series)
    wake = np.hstack([rng.poisson(100, (10, 1)), rng.poisson(5000, (10, 1))]).astype(float)
    predictor = WorkloadPredictor(model="dlinear", horizon=5, random_state=0).fit(pd.DataFrame({
        "timestamp": START + MINUTE * np.arange(240), "requests": 0.0, "output_tokens": 0.0}),
        target=["requests", "output_tokens"])
    predictor.update(pd.DataFrame({"timestamp": START + MINUTE * (240 + np.arange(10)), "requests": wake[:, 0],
                                   "output_tokens": wake[:, 1]}))
    theirs = np.asarray(predictor.predict().yhat)[:, 1]
    model.update([None] * 3 + [wake])
    assert model.scale_pending_[3].tolist() == [False, True]
    ours = model.predict()[3][:, 1]
    np.testing.assert_allclose(ours, wake[:, 1].mean(), rtol=1e-12)
    assert np.abs(ours - theirs).max() < 0.15 * wake[:, 1].mean(), (ours, theirs)
    # At origins inside the wake (as the update's validation forecasts are made): the mean of the points before each.
    history = np.vstack([np.zeros((240, 2)), wake])
    origins = np.array([240, 241, 245, 250])
    at = model.predict_at([s for s in series[:3]] + [history], [np.array([240])] * 3 + [origins])[3][:, :, 1]
    expected = [0.0] + [wake[: o - 240, 1].mean() for o in origins[1:]]
    np.testing.assert_allclose(at, np.repeat(np.array(expected)[:, None], 5, axis=1), rtol=1e-12)
    np.testing.assert_allclose(model.validation_forecast_[3][-1, :, 1], wake[:5, 1].mean(), rtol=1e-12)
    model.update([None] * 3 + [np.zeros((5, 2))])
    np.testing.assert_array_equal(model.predict()[3][:, 1], 0.0)
