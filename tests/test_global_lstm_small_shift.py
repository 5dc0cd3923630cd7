"""A global LSTM key whose level moves by less than ``LEVEL_SHIFT`` of its scales, judged against where its windows'
means sat at fit (``level_spread_``, kept in the model and its file): scaled again whatever the updates' sizes, and the
other keys' forecasts stay theirs (review h137)."""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import pytest
from test_global_level_shift import FITTED, SERIES, _moved, _periodic, _updated, fitted  # noqa: F401 (a fixture)

from workload_predictor import FleetPredictor
from workload_predictor.errors import ModelFileError
from workload_predictor.models.global_lstm import LEVEL_SHIFT, GlobalLSTM


def test_a_shift_within_the_kept_points_limit_but_past_the_fitted_one_is_scaled_again(fitted):  # noqa: F811
    """Key 0 at 1.2 times its level for 60 buckets: 0.84 of its scales out. Its kept points' windows (120 before the
    update) gave a limit of about 0.9, so it was read on its old scale and moved keys 1-3's forecasts by 0.23 of
    their scales (a new draw: 0.055); the limit from its 232 fitted windows' means is 0.47."""
    unshifted = _updated(fitted, SERIES[0][FITTED:])
    redrawn = _updated(fitted, _periodic(FITTED + 60, 50, 12, seed=11)[FITTED:])
    shifted = _updated(fitted, SERIES[0][FITTED:] * 1.2)
    assert _moved(fitted, shifted, unshifted) <= 2 * _moved(fitted, redrawn, unshifted)
    assert 0.8 * 1.2 < shifted.offset_[0, 0] / fitted.offset_[0, 0] < 1.2 * 1.2
    np.testing.assert_array_equal(shifted.offset_[1:], fitted.offset_[1:])


WINDOW, STEP, STEPS = 96, 20, 8
LONG = [_periodic(300 + STEP * STEPS, level, period, seed)
        for seed, (level, period) in enumerate([(50, 12), (5, 24), (800, 12), (20000, 12)])]


@pytest.fixture(scope="module")
def wide() -> GlobalLSTM:
    return GlobalLSTM(horizon=5, window=WINDOW, hidden_size=4, max_epochs=1, random_state=0).fit(
        [y[:300] for y in LONG])


def _streamed(model: GlobalLSTM, first: np.ndarray) -> GlobalLSTM:
    model = copy.deepcopy(model)
    for step in range(STEPS):
        part = slice(300 + step * STEP, 300 + (step + 1) * STEP)
        model.update([first[part]] + [y[part] for y in LONG[1:]])
    return model


def test_a_small_shift_seen_in_short_updates_under_the_default_window_is_scaled_again(wide):
    """The default 96-bucket window, key 0 at 1.3 times its level from its 301st bucket, updates of 20 buckets. A key
    keeps its newest 160 points, fewer than the window before the shift plus a window and its targets after it that
    the rule read from them: only an update of 37 buckets or more was ever judged, and after 8 updates key 0 was still
    read on its old scale (its offset unchanged)."""
    shifted = _streamed(wide, LONG[0] * np.where(np.arange(len(LONG[0])) >= 300, 1.3, 1.0))
    assert 0.8 * 1.3 < shifted.offset_[0, 0] / wide.offset_[0, 0] < 1.2 * 1.3
    np.testing.assert_array_equal(shifted.offset_[1:], wide.offset_[1:])
    unshifted = _streamed(wide, LONG[0])
    np.testing.assert_array_equal(unshifted.offset_, wide.offset_)  # a key at its level keeps its scaling


def test_the_spread_is_the_training_windows_means_and_a_rescale_keeps_it(fitted):  # noqa: F811
    """``level_spread_`` is the robust spread of each key's training windows' means about its offset, in its loads,
    so scaling a key again changes its limit (``LEVEL_SPREADS`` spreads on its scale) and nothing kept."""
    from workload_predictor.models.global_lstm import LEVEL_SPREADS

    train_end = int(fitted.validation_origins_[0][0])
    z = (SERIES[0][:train_end, None] - fitted.offset_[0]) / fitted.scale_[0]
    means = np.convolve(z[:, 0], np.ones(fitted.window_) / fitted.window_, mode="valid")
    assert fitted.level_spread_.shape == (4, 1)
    np.testing.assert_allclose(fitted.level_spread_[0, 0], 1.4826 * np.median(np.abs(means)) * fitted.scale_[0, 0])
    assert LEVEL_SPREADS * fitted.level_spread_[0, 0] < LEVEL_SHIFT * fitted.scale_[0, 0]
    shifted = _updated(fitted, SERIES[0][FITTED:] * 1.3)
    assert shifted.scale_[0, 0] != fitted.scale_[0, 0]
    np.testing.assert_array_equal(shifted.level_spread_, fitted.level_spread_)


def _fleet(tmp_path) -> FleetPredictor:
    frame = pd.concat([pd.DataFrame({"key": i, "timestamp": pd.date_range("2026-01-01", periods=FITTED, freq="1min",
                                                                          tz="UTC"), "requests": y[:FITTED]})
                       for i, y in enumerate(SERIES)], ignore_index=True)
    return FleetPredictor(model="global_lstm", horizon=5, random_state=0,
                          model_params={"hidden_size": 4, "max_epochs": 1, "window": 24}).fit(frame, key="key")


def test_the_spread_is_saved_a_damaged_one_refused_and_a_file_without_it_updates(tmp_path):
    fleet = _fleet(tmp_path)
    model = fleet._global.model
    loaded = FleetPredictor.load(fleet.save(tmp_path / "fleet.wpm"))
    np.testing.assert_array_equal(loaded._global.model.level_spread_, model.level_spread_)
    for damage in (np.full((4, 1), np.nan), -model.level_spread_, model.level_spread_[:3],
                   model.level_spread_.astype(np.float32)):
        bad = FleetPredictor.load(tmp_path / "fleet.wpm")
        bad._global.model.level_spread_ = damage
        with pytest.raises(ModelFileError, match="level_spread_"):
            FleetPredictor.load(bad.save(tmp_path / "bad.wpm"))
    old = FleetPredictor.load(tmp_path / "fleet.wpm")
    del old._global.model.level_spread_  # as a file saved before it was kept
    old = FleetPredictor.load(old.save(tmp_path / "old.wpm"))
    stamps = pd.date_range("2026-01-01", periods=FITTED + 60, freq="1min", tz="UTC")[FITTED:]
    old.update(pd.concat([pd.DataFrame({"key": i, "timestamp": stamps, "requests": y[FITTED:] * (1.3 if i == 0 else 1)})
                          for i, y in enumerate(SERIES)], ignore_index=True))
    spreads = old._global.model.level_spread_  # from the kept points, then kept
    assert spreads.shape == (4, 1) and (spreads > 0).all() and np.isfinite(spreads).all()

