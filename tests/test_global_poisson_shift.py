"""A global LSTM key whose level moves by less than 2 of its scales, where neither level rule reads it, weighs no more
in the shared base than its ordinary windows once its windows' means have sat on one side of its offset longer than
they ever did at fit (``level_run_``, kept in the model and its file; review h200, h206).

Four keys of Poisson counts around 20 +- 10 (a 31-bucket period; a scale of 8.8 requests) read in 24-bucket
windows: key 0 at half its level for an update of 60 buckets is 1.1 of its scales below its offset, within
``LEVEL_SHIFT`` (2), so it is not scaled again; and its windows' means swing with the period by 0.33 of its
scale, so 6 of those spreads (``LEVEL_SPREADS``) reach 2.003 scales and the small-shift rule does not read it either.
Its 60 windows joined the shared base as ordinary ones, 1.1 scales off, and moved keys 1-3's forecasts by 9.3 times
what a new draw of its points moved them (over seeds 0-3 and shifts of 0.3 to 2 times its level: 3 to 15 times).
At fit its windows' means cross its offset every 19-24 windows; after the shift they stay on one side for 60 or more,
so each of those windows past its key's spread of windows' means (0.33 scales) weighs ``(spread / level)^4``.
tests/test_global_level_shift.py's keys (lognormal noise of 0.1) sit 2.1 scales out at half their level, past
``LEVEL_SHIFT``.

At 1.2 times its level (0.47 of its scales up) its windows' means still reach its offset within that run; the
one-step residuals of its points from the fitted base (which forecasts its period away) sum past what the fit's
residuals allow (``level_residual_``: their mean, long-run deviation and that mean's error, kept in the model and its
file; a limit set for a 1 % false-alarm rate, ``_cusum_limit``), and the same windows weigh no more (review h215)."""

from __future__ import annotations

import copy
import itertools

import numpy as np
import pandas as pd
import pytest

from workload_predictor import FleetPredictor
from workload_predictor.errors import ModelFileError
from workload_predictor.models import global_lstm
from workload_predictor.models.global_lstm import LEVEL_CUSUM, GlobalLSTM

pytest.importorskip("torch")

FITTED, NEW = 200, 60
T = np.arange(FITTED + NEW)


def _series(seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.poisson(20 + 10 * np.sin(T / 5)).astype(float) for _ in range(4)]


def _moved(model: GlobalLSTM, a: GlobalLSTM, b: GlobalLSTM) -> float:
    """The largest change between two updates' forecasts of keys 1-3, in each key's fitted scales."""
    return max(float(np.abs(p - q).max() / model.scale_[i, 0])
               for i, (p, q) in enumerate(zip(a.predict(), b.predict())) if i)


class _Fleet:
    """Seed ``seed``'s four keys fitted on their first 200 buckets, and the update of their next 60 with key 0 as
    drawn (``unshifted``) and drawn again (``redrawn``)."""

    def __init__(self, seed: int):
        self.series = _series(seed)
        self.fitted = GlobalLSTM(horizon=3, window=24, max_epochs=1, random_state=0).fit(
            [y[:FITTED] for y in self.series])
        self.unshifted = self.updated(self.series[0][FITTED:])
        self.redrawn = self.updated(np.random.default_rng(100).poisson(20 + 10 * np.sin(T / 5)).astype(float)[FITTED:])

    def updated(self, first: np.ndarray) -> GlobalLSTM:
        return copy.deepcopy(self.fitted).update([first] + [y[FITTED:] for y in self.series[1:]])

    def ratio(self, factor: float) -> float:
        """How far key 0 at ``factor`` times its level moves keys 1-3's forecasts, in new draws' moves."""
        shifted = self.updated(np.round(self.series[0][FITTED:] * factor))
        return _moved(self.fitted, shifted, self.unshifted) / _moved(self.fitted, self.redrawn, self.unshifted)


@pytest.fixture(scope="module")
def fleets() -> dict:
    return {}


def _fleet(fleets: dict, seed: int) -> _Fleet:
    if seed not in fleets:
        fleets[seed] = _Fleet(seed)
    return fleets[seed]


def test_a_poisson_keys_shift_within_two_scales_moves_the_others_no_more_than_a_new_draw(fleets):
    fleet = _fleet(fleets, 0)
    assert 1.0 < 10 / fleet.fitted.scale_[0, 0] < 2.0  # 10 requests down: 1.13 of its scales, within LEVEL_SHIFT
    assert fleet.ratio(0.5) <= 2  # 9.27 before level_run_


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("factor", [0.3, 0.5, 0.7, 0.8, 1.5, 2.0])
def test_shifts_of_point_3_to_2_times_the_level_move_the_others_no_more_than_a_new_draw(fleets, seed, factor):
    """Before ``level_run_``: 3.0 to 14.6 times a new draw (0.8 times its level: 1.6 to 7.9)."""
    assert _fleet(fleets, seed).ratio(factor) <= 2


def test_a_shift_whose_windows_still_cross_the_offset_moves_the_others(fleets):
    """At 1.2 times its level (0.47 of its scales up) the key's windows' means still dip to its offset within its
    fitted run; its one-step residuals from the base sum past their limit (3.69 long-run deviations: 4.1 to 6.1 in
    seeds 0-3). Before ``level_residual_``: 5.84 times a new draw."""
    assert _fleet(fleets, 1).ratio(1.2) <= 2


@pytest.mark.parametrize("seed", [0, 2, 3])
def test_a_shift_of_1_point_2_times_the_level_moves_the_others_no_more_than_a_new_draw(fleets, seed):
    """Before ``level_residual_``: 2.48 (seed 0), 0.95 (seed 2), 4.94 (seed 3) times a new draw."""
    assert _fleet(fleets, seed).ratio(1.2) <= 2


def test_the_level_cusums_threshold_is_the_one_percent_point_of_a_brownian_motions_largest_distance():
    """P(sup_{t <= 1} |W_t| >= c) = 1 - 4/pi sum_j (-1)^j / (2j+1) exp(-(2j+1)^2 pi^2 / (8 c^2)); 2.807 is the 1 % point
    to the third decimal (the probability moves by 3.2e-2 per unit of c there)."""
    c = LEVEL_CUSUM
    tail = 1 - 4 / np.pi * sum((-1) ** j / (2 * j + 1) * np.exp(-((2 * j + 1) ** 2) * np.pi**2 / (8 * c**2))
                               for j in range(50))
    assert abs(tail - 0.01) < 0.0005 * 0.032


def test_the_limit_holds_the_false_alarm_rate_where_the_deviation_is_estimated_from_few_batches():
    """Independent normal residuals: 176 fitted in batches of 24 (df 9.5, read as 9), then 156 new ones scanned as an
    update scans them; the rule's limit (3.69) is passed in at most ``LEVEL_FALSE_ALARM`` of 2,000 draws (0.3 %), the
    limit for a deviation known exactly (2.807) in more (2.2 %): a deviation from a few batches is often low."""
    rng = np.random.default_rng(0)
    statistics = []
    for _ in range(2000):
        noise = global_lstm._residual_noise(rng.normal(size=(176, 1)), 24)
        sums = np.cumsum(rng.normal(size=156) - noise[0, 0])
        statistics.append(np.abs(sums).max() / np.sqrt(156 * noise[1, 0] ** 2 + (156 * noise[2, 0]) ** 2))
    statistics = np.array(statistics)
    assert global_lstm._cusum_limit(176, 24) > LEVEL_CUSUM
    assert (statistics > global_lstm._cusum_limit(176, 24)).mean() <= global_lstm.LEVEL_FALSE_ALARM
    assert (statistics > LEVEL_CUSUM).mean() > global_lstm.LEVEL_FALSE_ALARM
    assert global_lstm._cusum_limit(24 + 15, 24) is None  # under one degree of freedom: no rule


def _independent_noise(values: np.ndarray, offset: float, scale: float, coef: np.ndarray, window: int) -> np.ndarray:
    """Mean, overlapping-batch-means deviation and the mean's standard error of one key's one-step residuals, loads."""
    z = (values - offset) / scale
    residuals = np.array([z[t] - z[t - window : t] @ coef[:-1, 0] - coef[-1, 0] for t in range(window, len(z))])
    n = len(residuals)
    batches = np.convolve(residuals - residuals.mean(), np.ones(window) / window, mode="valid")
    deviation = np.sqrt(window * np.mean(batches**2) * n / (n - window))
    return np.array([residuals.mean(), deviation, deviation / np.sqrt(n)]) * scale


def test_the_residual_noise_is_the_fits_one_step_residuals_and_an_update_keeps_it(fleets):
    fleet = _fleet(fleets, 0)
    model = fleet.fitted
    assert model.level_residual_.shape == (3, 4, 1) and model.level_residual_.dtype == np.float64
    for i, y in enumerate(fleet.series):  # Poisson counts: no burst the series came back from, read as drawn
        expected = _independent_noise(y[:FITTED], model.offset_[i, 0], model.scale_[i, 0], model.base_coef_,
                                      model.window_)
        np.testing.assert_allclose(model.level_residual_[:, i, 0], expected, rtol=1e-9, atol=1e-12)
    np.testing.assert_array_equal(fleet.updated(np.round(fleet.series[0][FITTED:] * 1.2)).level_residual_,
                                  model.level_residual_)


def test_unshifted_keys_set_off_the_residual_rule_no_more_often_than_its_false_alarm_rate(monkeypatch):
    """Seeds 0-9, four unshifted Poisson keys each: one update of 60 buckets and 60 updates of one bucket. Each key's
    test in each update counts once; the rule may fire in at most 1 % of them (``LEVEL_FALSE_ALARM``). Measured: none
    of 2,440 (a deviation from the residuals' own variance and 4 lags, limit 2.807: 108, 4.4 %)."""
    tests, fired = [0], [0]
    original = global_lstm._level_limits

    def counted(z, origins, window, horizon, runs, spreads, step_coef=None, residual=None, settled=None):
        if residual is not None:  # the residual rule alone
            tests[0] += int(((spreads > 0) & (spreads < global_lstm.LEVEL_SHIFT)).sum())
            fired[0] += original(z, origins, window, horizon, None, spreads, step_coef, residual, settled) is not None
        return original(z, origins, window, horizon, runs, spreads, step_coef, residual, settled)

    monkeypatch.setattr(global_lstm, "_level_limits", counted)
    for seed in range(10):
        series = _series(seed)
        fitted = GlobalLSTM(horizon=3, window=24, max_epochs=1, random_state=0).fit([y[:FITTED] for y in series])
        copy.deepcopy(fitted).update([y[FITTED:] for y in series])
        for t in range(FITTED, FITTED + NEW):
            fitted.update([y[t : t + 1] for y in series])
    assert tests[0] == 10 * 4 * (1 + NEW)
    assert fired[0] <= global_lstm.LEVEL_FALSE_ALARM * tests[0]


def _runs(values: np.ndarray, window: int) -> int:
    means = np.convolve(values, np.ones(window) / window, mode="valid")
    return max(len(list(run)) for _, run in itertools.groupby(np.sign(means)))


def test_the_run_is_the_training_windows_longest_on_one_side_and_an_update_keeps_it(fleets):
    fleet = _fleet(fleets, 0)
    model = fleet.fitted
    train_end = int(model.validation_origins_[0][0])
    assert model.level_run_.shape == (4, 1) and model.level_run_.dtype == np.int64
    for i, y in enumerate(fleet.series):
        z = (y[:train_end] - model.offset_[i, 0]) / model.scale_[i, 0]
        assert model.level_run_[i, 0] == _runs(z, model.window_)
    assert 15 <= model.level_run_.min() and model.level_run_.max() < NEW  # about half the 31-bucket period
    np.testing.assert_array_equal(fleet.updated(np.round(fleet.series[0][FITTED:] * 0.5)).level_run_, model.level_run_)


def _frame(series: list[np.ndarray], first: int, last: int, factor: float = 1.0) -> pd.DataFrame:
    stamps = pd.date_range("2026-01-01", periods=FITTED + NEW, freq="1min", tz="UTC")[first:last]
    return pd.concat([pd.DataFrame({"key": i, "timestamp": stamps,
                                    "requests": np.round(y[first:last] * (factor if i == 0 else 1.0))})
                      for i, y in enumerate(series)], ignore_index=True)


def test_the_run_is_saved_a_damaged_one_refused_and_a_file_without_it_updates(tmp_path):
    series = _series(0)
    fleet = FleetPredictor(model="global_lstm", horizon=3, random_state=0,
                           model_params={"max_epochs": 1, "window": 24}).fit(_frame(series, 0, FITTED), key="key")
    model = fleet._global.model
    loaded = FleetPredictor.load(fleet.save(tmp_path / "fleet.wpm"))
    np.testing.assert_array_equal(loaded._global.model.level_run_, model.level_run_)
    for damage in (model.level_run_.astype(float), model.level_run_ * 0, -model.level_run_, model.level_run_[:3],
                   model.level_run_.astype(np.int32)):
        bad = FleetPredictor.load(tmp_path / "fleet.wpm")
        bad._global.model.level_run_ = damage
        with pytest.raises(ModelFileError, match="level_run_"):
            FleetPredictor.load(bad.save(tmp_path / "bad.wpm"))
    old = FleetPredictor.load(tmp_path / "fleet.wpm")
    del old._global.model.level_run_  # as a file saved before either was kept: updates judge levels without them
    del old._global.model.level_residual_
    old = FleetPredictor.load(old.save(tmp_path / "old.wpm"))
    new = FleetPredictor.load(tmp_path / "fleet.wpm")
    update = _frame(series, FITTED, FITTED + NEW, factor=0.5)
    old.update(update)
    new.update(update)
    assert getattr(old._global.model, "level_run_", None) is None
    assert getattr(old._global.model, "level_residual_", None) is None
    assert not np.array_equal(old._global.model.base_coef_, new._global.model.base_coef_)  # the rule read key 0
    assert FleetPredictor.load(old.save(tmp_path / "old2.wpm")).predict().shape == new.predict().shape


def test_a_key_whose_fitted_windows_sat_at_its_offset_gets_no_limit():
    """A key at a constant for most of its fit, its other points about it (4 and 6 about 5), has a spread of fitted
    windows' means of 0 without being pending; a longer run than its fit's on one side sets no limit of 0, which the
    level weights would divide by (and weigh its windows 0)."""
    t = np.arange(400)
    rng = np.random.default_rng(0)
    key = np.full(400, 5.0)
    key[:60] = np.tile([4.0, 6.0], 30)
    model = GlobalLSTM(horizon=3, window=24, max_epochs=1, random_state=0).fit(
        [key[:200]] + [rng.poisson(20 + 10 * np.sin(t / 5)).astype(float)[:200] for _ in range(3)])
    assert model.level_spread_[0, 0] == 0 and not model.scale_pending_[0, 0]
    z = np.concatenate([np.zeros(30), np.full(200, 0.5)])[:, None]  # 177 windows on one side, past its run
    assert model.level_run_[0, 0] < 177
    from workload_predictor.models.global_lstm import _level_limits

    assert _level_limits(z, np.arange(24, len(z) - 2), 24, 3, model.level_run_[0], np.zeros(1)) is None


def test_the_residual_noise_is_saved_a_damaged_one_refused_and_a_file_without_it_updates(tmp_path):
    series = _series(0)
    fleet = FleetPredictor(model="global_lstm", horizon=3, random_state=0,
                           model_params={"max_epochs": 1, "window": 24}).fit(_frame(series, 0, FITTED), key="key")
    noise = fleet._global.model.level_residual_
    loaded = FleetPredictor.load(fleet.save(tmp_path / "fleet.wpm"))
    np.testing.assert_array_equal(loaded._global.model.level_residual_, noise)
    negative, nan, infinite = noise.copy(), noise.copy(), noise.copy()
    negative[1, 2, 0], nan[0, 1, 0], infinite[2, 0, 0] = -1.0, np.nan, np.inf
    for damage in (noise.astype(np.float32), noise[:2], noise[:, :3], negative, nan, infinite, noise.tolist()):
        bad = FleetPredictor.load(tmp_path / "fleet.wpm")
        bad._global.model.level_residual_ = damage
        with pytest.raises(ModelFileError, match="level_residual_"):
            FleetPredictor.load(bad.save(tmp_path / "bad.wpm"))
    old = FleetPredictor.load(tmp_path / "fleet.wpm")
    del old._global.model.level_residual_  # as a file saved before it was kept: the run rule alone
    old = FleetPredictor.load(old.save(tmp_path / "old.wpm"))
    new = FleetPredictor.load(tmp_path / "fleet.wpm")
    update = _frame(series, FITTED, FITTED + NEW, factor=1.2)
    old.update(update)
    new.update(update)
    assert getattr(old._global.model, "level_residual_", None) is None
    assert not np.array_equal(old._global.model.base_coef_, new._global.model.base_coef_)  # the rule read key 0
    assert FleetPredictor.load(old.save(tmp_path / "old2.wpm")).predict().shape == new.predict().shape
