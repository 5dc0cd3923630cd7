"""One deadline for the whole fit (max_training_time): every stage that can end early does, deterministically.

The clock is fake (``_deadline.limit(None, clock=clock)`` around the fit): a stage moves it past the
deadline, and the test checks what each later stage did. No test here depends on real timing.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from conftest import periodic_series
from workload_predictor import WorkloadDataError, WorkloadPredictor, _deadline
from workload_predictor import predictor as predictor_module
from workload_predictor.models import DLinear, baselines, dlinear, ensemble, lstm
from workload_predictor.models.base import as_matrix
from workload_predictor.windows import targets_at

LIMIT = 5.0  # fake seconds


class FakeClock:
    """A clock that stands still until a test moves it."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def after(self, function, seconds: float = 2 * LIMIT, calls: int = 1):
        """``function``, moving the clock ``seconds`` ahead on its ``calls``-th call (before it runs)."""
        count = [0]

        def moved(*args, **kwargs):
            count[0] += 1
            if count[0] == calls:
                self.now += seconds
            return function(*args, **kwargs)

        return moved


def fit(clock: FakeClock, model: str, frame, **settings) -> WorkloadPredictor:
    with _deadline.limit(None, clock=clock):
        return WorkloadPredictor(model=model, horizon=5, random_state=0, max_training_time=LIMIT,
                                 **settings).fit(frame)


def test_the_deadline_counts_from_the_start_of_fit_door_included(monkeypatch):
    """The LSTM's own clock used to start after the door: a door slower than the limit left it the whole limit."""
    clock = FakeClock()
    monkeypatch.setattr(predictor_module, "prepare_series", clock.after(predictor_module.prepare_series))
    refits = []
    original = DLinear._fit_arrays
    monkeypatch.setattr(DLinear, "_fit_arrays", lambda self, y, refit: refits.append(refit) or original(self, y, refit))
    fitted = fit(clock, "lstm", periodic_series(500, noise=5.0), model_params={"max_epochs": 50, "patience": 50})
    assert fitted.model_.stopped_by_ == "time_limit" and fitted.model_.n_epochs_ == 0
    assert refits == [False]  # the base's fit; no refit on the training part (nothing trains) nor on all points
    # The base's refit adds the validation tail's windows, as DLinear's refit does: the same fit, not a cut.
    assert fitted.time_limited_stages_ == ("dlinear window search", "lstm training")
    assert fitted.training_cut_short_
    assert np.isfinite(fitted.predict().yhat).all()


def test_dlinear_window_search_keeps_the_candidates_scored_before_the_deadline(monkeypatch):
    clock = FakeClock()
    monkeypatch.setattr(dlinear, "solve_dlinear", clock.after(dlinear.solve_dlinear))  # the first candidate's solve
    fitted = fit(clock, "dlinear", periodic_series(2000, noise=5.0))
    assert list(fitted.model_.window_scores_) == [12]  # the shortest candidate, scored before the deadline
    # Past the deadline the chosen window's statistics come from the search's too (see the next tests).
    assert fitted.model_.window_ == 12
    assert fitted.time_limited_stages_ == ("dlinear window search", "dlinear statistics")
    unlimited = WorkloadPredictor(horizon=5).fit(periodic_series(2000, noise=5.0))
    assert len(unlimited.model_.window_scores_) > 1 and not unlimited.time_limited_stages_


def test_dlinear_adds_to_the_searchs_statistics_once_the_deadline_passed(monkeypatch):
    """Past the deadline the fit's statistics of the widest window are the search's (its first origins) plus the
    windows after them, instead of a second pass over every window: the same fit up to rounding."""
    clock = FakeClock()
    params = {"candidate_windows": (12, 24), "alpha": 1.0}  # one penalty: no second one tried after the windows
    monkeypatch.setattr(dlinear, "solve_dlinear", clock.after(dlinear.solve_dlinear, calls=2))  # both scored
    frame = periodic_series(2000, noise=5.0)
    limited = fit(clock, "dlinear", frame, model_params=params)
    monkeypatch.undo()
    free = WorkloadPredictor(horizon=5, model_params=params).fit(frame)
    assert limited.time_limited_stages_ == ("dlinear statistics",)
    assert limited.model_.window_weights_ == free.model_.window_weights_ and limited.model_.window_ == 24
    np.testing.assert_allclose(limited.model_.coef_, free.model_.coef_, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(limited.predict().yhat, free.predict().yhat, rtol=1e-9)


def test_dlinear_reads_a_narrower_windows_statistics_from_the_searchs_once_the_deadline_passed(monkeypatch):
    """Past the deadline, a window narrower than the search's widest takes the newest inputs of the search's
    windows (lacking the ``widest - window`` oldest windows) plus the windows after them: no second pass."""
    clock = FakeClock()
    monkeypatch.setattr(dlinear, "solve_dlinear", clock.after(dlinear.solve_dlinear))  # after scoring 12 only
    y = periodic_series(2000, noise=5.0)["requests"].to_numpy()
    with _deadline.limit(LIMIT, clock=clock) as deadline:
        model = DLinear(horizon=5, candidate_windows=(12, 24), blend=1).fit(y)
    assert model.window_ == 12 and deadline.stages == ["dlinear window search", "dlinear statistics"]
    z = (y - model.offset_[0]) / model.scale_[0]
    expected = dlinear.WindowStats.from_series(z, np.arange(24, len(y) - 5 + 1), 12, 5)
    stats = model.stats_[0]
    assert stats.count == expected.count == len(y) - 5 + 1 - 24
    for name in ("sum_x", "sum_y", "xx", "xy"):
        np.testing.assert_allclose(getattr(stats, name), getattr(expected, name), rtol=1e-9, atol=1e-9)


def test_dlinear_sums_every_window_when_the_deadline_leaves_time_for_it(monkeypatch):
    """Before the deadline, with more time left than a pass of the statistics takes, the fit sums every window:
    the same model as without a limit."""
    clock = FakeClock()
    y = periodic_series(2000, noise=5.0)["requests"].to_numpy()
    with _deadline.limit(LIMIT, clock=clock) as deadline:
        model = DLinear(horizon=5, candidate_windows=(12, 24), blend=1).fit(y)
    free = DLinear(horizon=5, candidate_windows=(12, 24), blend=1).fit(y)
    assert deadline.stages == [] and model.stats_[0].count == free.stats_[0].count
    np.testing.assert_array_equal(model.coef_, free.coef_)


def test_dlinear_reuses_the_searchs_statistics_when_a_full_pass_would_end_past_the_deadline(monkeypatch):
    """Before the deadline, with less time left than twice what a pass of the statistics would take (at the
    pace of the search's pass), the fit reuses the search's statistics rather than overrun."""
    clock = FakeClock()

    def slow_stats(*args, **kwargs):  # each statistics pass takes 2 fake seconds
        clock.now += 2.0
        return stats_weighted(*args, **kwargs)

    stats_weighted = dlinear.WindowStats.weighted
    monkeypatch.setattr(dlinear.WindowStats, "weighted", staticmethod(slow_stats))
    y = periodic_series(2000, noise=5.0)["requests"].to_numpy()
    with _deadline.limit(3.5, clock=clock) as deadline:  # 1.5 s left after the search's pass: less than 2
        model = DLinear(horizon=5, candidate_windows=(12, 24), blend=1).fit(y)
    # The fake pass of the windows after the search's ends past the deadline: no time for the tail's either.
    assert model.window_ == 24 and deadline.stages == ["dlinear statistics", "dlinear refit"]
    clock.now = 0.0
    with _deadline.limit(7.5, clock=clock) as roomy:  # 5.5 s left: twice the full pass's 2.4 s fits
        summed = DLinear(horizon=5, candidate_windows=(12, 24), blend=1).fit(y)
    monkeypatch.undo()
    free = DLinear(horizon=5, candidate_windows=(12, 24), blend=1).fit(y)
    assert roomy.stages == [] and summed.stats_[0].count == free.stats_[0].count
    np.testing.assert_array_equal(summed.coef_, free.coef_)


def paced_statistics(monkeypatch, clock: FakeClock, pace: float) -> None:
    """Each pass of the statistics takes ``pace`` fake seconds per origin and lag; passes of more than 100
    origins may be cut to the newest (100 in place of ``NEWEST_MIN_ORIGINS``), at any pace."""
    original = dlinear.WindowStats.weighted

    def paced(z, origins, window, horizon, weights, *settling):
        clock.now += pace * len(origins) * (window + horizon)
        return original(z, origins, window, horizon, weights, *settling)

    monkeypatch.setattr(dlinear.WindowStats, "weighted", staticmethod(paced))
    monkeypatch.setattr(dlinear, "NEWEST_MIN_ORIGINS", 100)
    monkeypatch.setattr(dlinear, "SLOW_PACE", 1.0)  # a machine slower than any: the pace is measured


def test_dlinear_window_search_sums_the_newest_origins_that_fit_in_its_share_of_the_time_left(monkeypatch):
    """The search's Gram matrix, a pass over the whole series that cannot stop, ran to its end however little
    time was left; now it covers the newest training origins that fit in SEARCH_SHARE of it, at the pace of
    a pass over the newest 100 measured first, and every candidate is fitted on those."""
    clock = FakeClock()
    paced_statistics(monkeypatch, clock, pace=1e-4)
    searched = []
    original = dlinear._search_window
    monkeypatch.setattr(dlinear, "_search_window", lambda *a, **k: searched.append(original(*a, **k)) or searched[-1])
    y = periodic_series(3000, noise=5.0)["requests"].to_numpy()
    with _deadline.limit(LIMIT, clock=clock) as deadline:
        model = DLinear(horizon=5, candidate_windows=(12, 24), blend=1).fit(y)
    kept, origins, widest = searched[0][2]
    # 0.29 s measuring 100 origins of 29 lags; then half of the 4.71 s left, for twice the estimate: 406 origins
    assert len(origins) == int(dlinear.SEARCH_SHARE * (LIMIT - 0.29) / (dlinear.PACE_MARGIN * 1e-4 * 29)) == 406
    assert widest == 24
    n_train = int(model.validation_origins_[0])  # the search runs on the fit's training part
    assert origins[-1] == dlinear.validation_origins(n_train, 5, 0.15, 100)[0] - 5  # the newest training origins
    assert set(model.window_scores_) == {12, 24} and deadline.stages[0] == "dlinear window search"
    z = (y[:n_train] - model.offset_[0]) / model.scale_[0]
    expected = dlinear.WindowStats.from_series(z, origins, 24, 5)
    np.testing.assert_allclose(kept[0].xx, expected.xx, rtol=1e-9, atol=1e-9)


def test_dlinear_sums_the_newest_windows_that_fit_and_skips_the_tail_that_does_not(monkeypatch):
    """Without a search (a given window) the fit's pass of the statistics covers the newest origins that fit in
    the time left, and the refit on the validation tail is skipped when its windows would not fit either;
    the model still forecasts and updates (it keeps the weights of the newest points)."""
    clock = FakeClock()
    paced_statistics(monkeypatch, clock, pace=1e-4)
    y = periodic_series(3000, noise=5.0)["requests"].to_numpy()
    with _deadline.limit(LIMIT, clock=clock) as deadline:
        model = DLinear(horizon=5, window=24).fit(y)
    # 0.29 s measuring the newest 100 origins (29 lags each), then the 4.71 s left for twice the estimate
    assert model.stats_[0].count == int((LIMIT - 0.29) / (dlinear.PACE_MARGIN * 1e-4 * 29)) == 812
    assert deadline.stages == ["dlinear statistics", "dlinear refit"]
    assert np.isfinite(model.predict()).all()
    model.update(y[-20:])
    assert np.isfinite(model.predict()).all()
    monkeypatch.undo()
    free = DLinear(horizon=5, window=24).fit(y)
    assert free.stats_[0].count == len(y) - 5 + 1 - 24  # every window, the tail's included


@pytest.mark.parametrize("per_window, stages, windows", [
    (1e-3, [], "all"),  # the tail's windows fit in 0.5 s and are added (a full pass, 0.8 s, would not): no cut
    (1e-2, ["lstm base refit"], "fitted"),  # not even the tail's windows fit: the base stays as fitted
])
def test_lstm_base_refit_does_what_fits_in_the_time_left(monkeypatch, per_window, stages, windows):
    clock = FakeClock()
    monkeypatch.setattr(DLinear, "statistics_seconds", lambda self, count: per_window * count)
    # Training is done with 0.5 s left.
    monkeypatch.setattr(lstm.LSTM, "_restore_base", clock.after(lstm.LSTM._restore_base, seconds=LIMIT - 0.5))
    frame = periodic_series(800, noise=5.0)
    limited = fit(clock, "lstm", frame, model_params={"max_epochs": 1})
    base = limited.model_.base_
    assert limited.time_limited_stages_ == tuple(stages)
    n_fitted = int(limited.model_.validation_origins_[0])
    expected = {"all": 800 - 5 + 1 - base.window_, "fitted": n_fitted - 5 + 1 - base.window_}[windows]
    assert base.stats_[0].count == expected
    assert np.isfinite(limited.predict().yhat).all()


def slow_chunks(monkeypatch, clock: FakeClock) -> list[np.ndarray]:
    """Chunks of 64 origins, each base forecast (a chunk of targets, or a validation forecast) 1 fake second;
    returns the list of the origins of each call."""
    monkeypatch.setattr(lstm, "CHUNK_ORIGINS", 64)
    calls = []
    original = lstm.LSTM._base_forecast

    def slow(self, y, origins):
        calls.append(np.asarray(origins))
        clock.now += 1.0
        return original(self, y, origins)

    monkeypatch.setattr(lstm.LSTM, "_base_forecast", slow)
    return calls


def test_lstm_targets_start_a_chunk_only_when_it_and_the_validation_forecast_fit(monkeypatch):
    """A chunk of the training targets started whenever the deadline had not passed, and ran past it; now it
    starts only when the time left covers it and the validation forecast after it (about one more chunk)."""
    clock = FakeClock()
    calls = slow_chunks(monkeypatch, clock)
    with _deadline.limit(None, clock=clock):
        fitted = WorkloadPredictor(model="lstm", horizon=5, random_state=0, max_training_time=3.5,
                                   model_params={"max_epochs": 1}).fit(periodic_series(800, noise=5.0))
    # The inner validation tail's two chunks (0-2 s); at 2 s, 1.5 s left: less than two chunks; then the
    # validation forecast.
    assert len(calls) == 2 + 1 and fitted.model_.n_epochs_ == 0
    assert fitted.time_limited_stages_[0] == "lstm training"


def test_lstm_trains_on_the_newest_windows_prepared_in_its_share_of_the_time_left(monkeypatch):
    """The training targets were prepared oldest first and, cut short, trained on nothing; now newest first, in
    at most TARGETS_SHARE of the time left, and the network trains on the windows prepared."""
    clock = FakeClock()
    calls = slow_chunks(monkeypatch, clock)
    trained = []
    original = lstm.train_network
    monkeypatch.setattr(lstm, "train_network", lambda network, x, r, *a, **k: trained.append(len(x))
                        or original(network, x, r, *a, **k))
    fitted = fit(clock, "lstm", periodic_series(800, noise=5.0), model_params={"max_epochs": 1})
    # 0-2 s the validation tail's targets; at 2 s half of the 3 s left allows one chunk: the newest origins
    newest = calls[2]
    model = fitted.model_
    inner = dlinear.validation_origins(int(model.validation_origins_[0]), 5, 0.15, 100)
    assert newest[-1] == inner[0] - 5 and trained == [len(newest)]
    assert model.n_epochs_ == 1 and "lstm training windows" in fitted.time_limited_stages_


def test_lstm_training_leaves_time_for_the_validation_forecast(monkeypatch):
    """Training ran to the deadline and the validation forecast after it (about one chunk of targets) ran past
    it; now training ends one chunk's time earlier."""
    clock = FakeClock()
    slow_chunks(monkeypatch, clock)
    with _deadline.limit(None, clock=clock):
        fitted = WorkloadPredictor(model="lstm", horizon=5, random_state=0, max_training_time=4.0,
                                   model_params={"max_epochs": 1}).fit(periodic_series(800, noise=5.0))
    # The validation tail's targets 0-2 s, the newest training chunk 2-3 s; 1 s left: the forecast's
    assert fitted.model_.n_epochs_ == 0 and "lstm training" in fitted.time_limited_stages_


def test_the_input_anomaly_scan_runs_before_the_models_stages(monkeypatch):
    """The scan (a pass over the series) ran after the model's stages, past the deadline they had filled."""
    clock = FakeClock()
    monkeypatch.setattr(predictor_module, "_fit_anomalies", clock.after(predictor_module._fit_anomalies))
    fitted = fit(clock, "dlinear", periodic_series(2000, noise=5.0))
    assert fitted.time_limited_stages_[0] == "dlinear window search"
    assert fitted.model_.window_scores_ == {}


def test_the_ensembles_members_before_smoothing_leave_it_and_the_combination_their_time(monkeypatch):
    """The members before exponential smoothing had the whole deadline; now they end AFTER_MEMBERS_PASSES
    passes over the series earlier, at the pace of the input-anomaly scan's plain rule (0.5 fake s here)."""
    from workload_predictor import anomaly

    clock = FakeClock()
    monkeypatch.setattr(anomaly, "_sliding", clock.after(anomaly._sliding, seconds=0.5))  # the plain rule's pass
    monkeypatch.setattr(DLinear, "_refit", clock.after(DLinear._refit, seconds=2.6))  # the DLinear member's end
    frame = periodic_series(600, noise=5.0)
    frame.loc[300, "requests"] = 1e5  # a flagged bucket: the scan's plain rule reads the series
    fitted = fit(clock, "ensemble", frame, model_params={"member_params": {"lstm": {"max_epochs": 1}}})
    assert [value for _, _, value, _ in fitted.input_anomalies_] == [1e5]
    # 0.5 + 2.6 = 3.1 s: within the 5 s limit, past the 5 - 4 x 0.5 = 3 s the members before smoothing have
    assert ensemble.AFTER_MEMBERS_PASSES * 0.5 == 2.0
    assert fitted.model_.members_["lstm"].n_epochs_ == 0 and "lstm training" in fitted.time_limited_stages_
    assert "ensemble history" not in fitted.time_limited_stages_  # the combination still had its time


def test_the_models_first_build_counts_against_the_limit(monkeypatch):
    clock = FakeClock()
    monkeypatch.setattr(WorkloadPredictor, "_build_model", clock.after(WorkloadPredictor._build_model))
    fitted = fit(clock, "dlinear", periodic_series(2000, noise=5.0))
    assert fitted.time_limited_stages_[0] == "dlinear window search"


def test_dlinear_takes_the_middle_candidate_when_the_deadline_passed_before_its_search(monkeypatch):
    clock = FakeClock()
    monkeypatch.setattr(predictor_module, "prepare_series", clock.after(predictor_module.prepare_series))
    fitted = fit(clock, "dlinear", periodic_series(2000, noise=5.0))
    assert fitted.model_.window_scores_ == {} and fitted.model_.window_ == 96
    assert fitted.time_limited_stages_ == ("dlinear window search",)


def test_exponential_smoothing_scores_its_factor_on_the_newest_origins_before_the_deadline(monkeypatch):
    clock = FakeClock()
    monkeypatch.setattr(baselines, "ALPHA_CHUNK", 50)
    monkeypatch.setattr(baselines, "smoothed_levels", clock.after(baselines.smoothed_levels))
    frame = periodic_series(600, noise=5.0)
    fitted = fit(clock, "exponential_smoothing", frame)
    model = fitted.model_
    assert fitted.time_limited_stages_ == ("exponential smoothing factor",)
    # The scores are the mean absolute errors over the newest chunk of the training part's origins alone.
    y = as_matrix(frame["requests"])[0][: model.validation_origins_[0]]
    newest = np.arange(len(y) - 5 - 49, len(y) - 5 + 1)
    size = np.maximum(np.abs(y).mean(axis=0), 1e-12)
    for alpha, score in model.alpha_scores_.items():
        levels = baselines.smoothed_levels(y, newest, baselines.exponential_weights(alpha))
        expected = float((np.abs(targets_at(y, newest, 5) - levels[:, None, :]) / size).mean())
        assert score == pytest.approx(expected, rel=1e-12)


def slow_smoothing_chunks(monkeypatch, clock: FakeClock) -> list[int]:
    """Exponential smoothing's chunks of 50 origins, each 1 fake second; returns the list of chunk sizes."""
    monkeypatch.setattr(baselines, "ALPHA_CHUNK", 50)
    chunks = []
    original = baselines.targets_at

    def slow(y, origins, horizon):
        chunks.append(len(origins))
        clock.now += 1.0
        return original(y, origins, horizon)

    monkeypatch.setattr(baselines, "targets_at", slow)
    return chunks


def test_exponential_smoothing_starts_a_chunk_only_when_the_time_left_covers_it(monkeypatch):
    """A chunk started whenever the deadline had not passed (at 4 s of 4.5, a 1 s chunk ended at 5 s)."""
    clock = FakeClock()
    chunks = slow_smoothing_chunks(monkeypatch, clock)
    y = periodic_series(600, noise=5.0)["requests"].to_numpy()
    with _deadline.limit(4.5, clock=clock) as deadline:
        baselines.ExponentialSmoothing(horizon=5).fit(y)
    assert len(chunks) == 4 and clock.now == 4.0  # at 4 s, 0.5 s left: less than a chunk
    assert deadline.stages == ["exponential smoothing factor"]


def test_the_ensembles_members_that_cannot_end_early_fit_before_dlinear(monkeypatch):
    """DLinear was the ensemble's first member: its window search and statistics read a deadline the baselines
    after it (moving and seasonal median, which cannot end early: 0.08-0.2 s at 1,000,000 points) then ran past. Now
    the baselines come first: here the seasonal median's period search takes the time left (it scores its strongest
    candidate and stops), and DLinear, after it, takes its middle candidate."""
    clock = FakeClock()
    monkeypatch.setattr(baselines.SeasonalMedian, "_fit_arrays", clock.after(baselines.SeasonalMedian._fit_arrays))
    fitted = fit(clock, "ensemble", periodic_series(1500, noise=5.0),
                 model_params={"members": ("dlinear", "seasonal_median", "exponential_smoothing")})
    assert fitted.model_.members_["dlinear"].window_scores_ == {}
    assert fitted.time_limited_stages_[:2] == ("seasonal median period search", "dlinear window search")
    assert list(fitted.model_.members_) == ["dlinear", "seasonal_median", "exponential_smoothing"]


def test_a_series_with_nothing_to_flag_measures_the_pace_of_the_plain_rule(monkeypatch):
    """Where no bucket can be flagged the scan reads the series' range alone, and recorded that as the pace of a pass
    of the plain rule: 0.6 ms at 1,000,000 Poisson buckets against 31 ms, so the ensemble's reserves (passes at that
    pace) were 50 times short and its LSTM, smoothing and combination ran past the deadline (1.03-1.10x under 0.5 s).
    The plain rule's first chunk is now timed: here its pass takes 0.5 fake s, as in the test above."""
    from workload_predictor import anomaly

    clock = FakeClock()
    monkeypatch.setattr(anomaly, "_sliding", clock.after(anomaly._sliding, seconds=0.5))  # the plain rule's pass
    monkeypatch.setattr(DLinear, "_refit", clock.after(DLinear._refit, seconds=2.6))  # the DLinear member's end
    frame = periodic_series(600, noise=5.0)
    fitted = fit(clock, "ensemble", frame, model_params={"member_params": {"lstm": {"max_epochs": 1}}})
    assert not fitted.input_anomalies_  # the range alone ruled every bucket out
    # 0.5 + 2.6 = 3.1 s: past the 5 - 4 x 0.5 = 3 s the members before smoothing have
    assert fitted.model_.members_["lstm"].n_epochs_ == 0 and "lstm training" in fitted.time_limited_stages_
    assert "ensemble history" not in fitted.time_limited_stages_


def test_the_ensembles_smoothing_leaves_the_combination_its_time(monkeypatch):
    """Smoothing, the last member, scored chunks up to the deadline and the combination ran after it; now it
    leaves the combination COMBINATION_PASSES passes at the scan's pace (1 fake s here). The predictor's own reserve
    after the model (COMMIT_PASSES, tests/test_scan_reserve.py) is set to 0 here, so the ensemble's deadline is the
    fit's."""
    from workload_predictor import anomaly

    monkeypatch.setattr(predictor_module, "COMMIT_PASSES", 0)
    clock = FakeClock()
    monkeypatch.setattr(anomaly, "_sliding", clock.after(anomaly._sliding, seconds=0.5))  # the plain rule's pass
    chunks = slow_smoothing_chunks(monkeypatch, clock)
    frame = periodic_series(600, noise=5.0)
    frame.loc[300, "requests"] = 1e5  # a flagged bucket: the scan's plain rule reads the series
    fitted = fit(clock, "ensemble", frame, model_params={"member_params": {"lstm": {"max_epochs": 1}}})
    # Smoothing starts at 0.5 s with its deadline at 5 - 2 x 0.5 = 4 s: chunks at 0.5, 1.5 and 2.5 s
    assert ensemble.COMBINATION_PASSES * 0.5 == 1.0 and len(chunks) == 3
    assert "exponential smoothing factor" in fitted.time_limited_stages_
    assert "ensemble history" not in fitted.time_limited_stages_


def test_exponential_smoothing_scored_chunk_by_chunk_matches_one_pass(monkeypatch):
    frame = periodic_series(3000, noise=5.0)
    one_pass = WorkloadPredictor(model="exponential_smoothing", horizon=5).fit(frame).model_
    monkeypatch.setattr(baselines, "ALPHA_CHUNK", 97)
    chunked = WorkloadPredictor(model="exponential_smoothing", horizon=5).fit(frame).model_
    assert chunked.alpha_ == one_pass.alpha_
    np.testing.assert_allclose(list(chunked.alpha_scores_.values()), list(one_pass.alpha_scores_.values()), rtol=1e-12)


def test_the_ensemble_weighs_on_the_validation_tail_once_the_deadline_passed(monkeypatch):
    clock = FakeClock()
    monkeypatch.setattr(ensemble.Ensemble, "_history_origins", clock.after(ensemble.Ensemble._history_origins))
    params = {"members": ("dlinear", "naive", "exponential_smoothing")}
    fitted = fit(clock, "ensemble", periodic_series(1500, noise=5.0), model_params=params)
    assert fitted.model_.n_history_origins_ == 0
    assert fitted.time_limited_stages_ == ("ensemble history",)
    weights = fitted.model_.weights_
    assert min(weights.values()) >= 0 and sum(weights.values()) == pytest.approx(1.0)
    unlimited = WorkloadPredictor(model="ensemble", horizon=5, model_params=params).fit(periodic_series(1500, noise=5.0))
    assert unlimited.model_.n_history_origins_ > 0


def test_the_ensemble_keeps_the_history_forecast_before_the_deadline(monkeypatch):
    """DLinear's rolling refits stop at the deadline: the history is the first group of origins (of 25)."""
    clock = FakeClock()
    original = ensemble.Ensemble._history

    def history(self, matrix):  # the clock moves at the first rolling refit's solve
        monkeypatch.setattr(dlinear, "solve_dlinear", clock.after(dlinear.solve_dlinear))
        return original(self, matrix)

    monkeypatch.setattr(ensemble.Ensemble, "_history", history)
    params = {"members": ("dlinear", "naive", "exponential_smoothing")}
    fitted = fit(clock, "ensemble", periodic_series(1500, noise=5.0), model_params=params)
    origins = fitted.model_._history_origins(as_matrix(periodic_series(1500, noise=5.0)["requests"])[0])
    assert fitted.model_.n_history_origins_ == len(np.array_split(origins, dlinear.ROLLING_REFITS)[0])
    assert fitted.time_limited_stages_ == ("ensemble history",)


def test_the_ensemble_deadline_bounds_its_lstm_member_and_every_later_stage(monkeypatch):
    """Each member used to get the limit minus what the members before it took, on its own clock, and the
    combination was never bounded; now one deadline: DLinear's member passing it leaves the LSTM untrained,
    exponential smoothing its newest chunk and the combination the validation tail."""
    clock = FakeClock()
    monkeypatch.setattr(DLinear, "_refit", clock.after(DLinear._refit))  # the DLinear member's last step
    fitted = fit(clock, "ensemble", periodic_series(600, noise=5.0),
                 model_params={"member_params": {"lstm": {"max_epochs": 50, "patience": 50}}})
    member = fitted.model_.members_["lstm"]
    assert member.stopped_by_ == "time_limit" and member.n_epochs_ == 0
    # 600 points: exponential smoothing's one chunk is always scored
    assert fitted.time_limited_stages_ == ("lstm training", "ensemble history")
    detail = fitted.health()["metrics"]["training_seconds"]["detail"]
    assert "lstm training" in detail and "ensemble history" in detail
    assert np.isfinite(fitted.predict().yhat).all()


def test_lstm_training_leaves_time_for_the_final_refit_of_its_base(monkeypatch):
    """The base's refit on the training part takes 3 of the 5 s: the refit on the whole series that follows
    the training needs about as long, so there is no time to train."""
    clock = FakeClock()
    original = DLinear._fit_arrays

    def slow_refit(self, y, refit):
        if refit and not getattr(self, "_timed", False):
            self._timed = True
            clock.now += 3.0
        return original(self, y, refit)

    monkeypatch.setattr(DLinear, "_fit_arrays", slow_refit)
    fitted = fit(clock, "lstm", periodic_series(500, noise=5.0), model_params={"max_epochs": 50, "patience": 50})
    assert fitted.model_.stopped_by_ == "time_limit" and fitted.model_.n_epochs_ == 0
    assert fitted.time_limited_stages_ == ("lstm training",)


def test_lstm_base_adds_the_validation_tail_once_the_deadline_passed(monkeypatch):
    """After the deadline the base's refit does not recompute every window's statistics (0.1-0.3 s at 1,000,000
    points): it adds the tail's windows, as DLinear's refit does, the same fit as without a limit up to rounding,
    and no stage is cut."""
    clock = FakeClock()
    monkeypatch.setattr(lstm.LSTM, "_restore_base", clock.after(lstm.LSTM._restore_base))  # training is done
    frame = periodic_series(800, noise=5.0)
    limited = fit(clock, "lstm", frame, model_params={"max_epochs": 2})
    monkeypatch.undo()
    free = WorkloadPredictor(model="lstm", horizon=5, random_state=0, model_params={"max_epochs": 2}).fit(frame)
    assert limited.time_limited_stages_ == () and limited.model_.n_epochs_ == 2
    np.testing.assert_allclose(limited.model_.base_.coef_, free.model_.base_.coef_, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(limited.predict().yhat, free.predict().yhat, rtol=1e-9)


def test_the_ensembles_lstm_base_takes_the_dlinear_members_first_fit(monkeypatch):
    calls = []
    original = dlinear._search_window
    monkeypatch.setattr(dlinear, "_search_window", lambda *a, **k: calls.append(1) or original(*a, **k))
    frame = periodic_series(600, noise=5.0)
    fitted = WorkloadPredictor(model="ensemble", horizon=5, random_state=0,
                               model_params={"member_params": {"lstm": {"max_epochs": 2}}}).fit(frame)
    assert len(calls) == 1  # the LSTM's base repeated the member's first fit (and its search) on the same points
    alone = WorkloadPredictor(model="lstm", horizon=5, random_state=0,  # the ensemble's settings for its members
                              model_params={"max_epochs": 2}).fit(frame)
    member = fitted.model_.members_["lstm"]
    assert member.base_.window_weights_ == alone.model_.base_.window_weights_
    np.testing.assert_array_equal(member.validation_forecast_, alone.model_.validation_forecast_)


@pytest.mark.parametrize("model", ["dlinear", "lstm", "exponential_smoothing", "ensemble"])
def test_a_limit_that_is_not_reached_changes_nothing(model):
    frame = periodic_series(800, noise=5.0)
    params = {"lstm": {"max_epochs": 2}, "ensemble": {"member_params": {"lstm": {"max_epochs": 2}}}}.get(model)
    limited, free = (WorkloadPredictor(model=model, horizon=5, random_state=0, model_params=params,
                                       max_training_time=limit).fit(frame) for limit in (300.0, None))
    np.testing.assert_array_equal(limited.predict().yhat, free.predict().yhat)
    np.testing.assert_array_equal(limited.interval_halfwidth_, free.interval_halfwidth_)
    assert limited.time_limited_stages_ == free.time_limited_stages_ == () and not limited.training_cut_short_


@pytest.mark.parametrize("bad", [float("nan"), -1.0, "10", True])
def test_a_bad_time_limit_is_a_typed_error(bad):
    with pytest.raises(WorkloadDataError, match="max_training_time"):
        WorkloadPredictor(max_training_time=bad).fit(periodic_series(300))


@pytest.mark.parametrize("seconds", [np.int64(60), np.float32(60.0), 60])
def test_a_numpy_number_is_a_valid_time_limit(seconds):
    fitted = WorkloadPredictor(max_training_time=seconds).fit(periodic_series(300))
    assert fitted.time_limited_stages_ == ()


def test_a_nested_limit_never_ends_later_and_records_in_the_outermost():
    clock = FakeClock()
    with _deadline.limit(2.0, clock=clock) as outer:
        with _deadline.limit(10.0) as inner, _deadline.limit(None, reserve=0.5) as reserved:
            assert inner.end == 2.0 and reserved.end == 1.5
            clock.now = 1.6
            assert reserved.expired() and not inner.expired()
            reserved.cut("a stage")
    assert outer.stages == ["a stage"] and not _deadline.current().expired()


def test_nested_limits_share_the_pace_of_the_passes_measured():
    with _deadline.limit(2.0) as outer:
        with _deadline.limit(None, reserve=0.5) as inner:
            inner.pace["a pass"] = 1e-9
    assert outer.pace == {"a pass": 1e-9}


def fleet_frame(n_keys: int = 3, n: int = 600) -> pd.DataFrame:
    return pd.concat([periodic_series(n, noise=5.0, seed=i).assign(endpoint=f"k{i}") for i in range(n_keys)],
                     ignore_index=True)


def test_a_fleet_fit_is_one_deadline_over_every_key(monkeypatch, tmp_path, caplog):
    """Each key's LSTM restarted its own max_training_time, so a fleet took up to the limit per key; now the
    limit is one deadline for the whole fleet: the keys reached after it are fitted by their smallest valid
    path (untrained on the linear base), none is dropped, and they are listed with their stages."""
    from workload_predictor import FleetPredictor
    from workload_predictor import fleet as fleet_module

    clock = FakeClock()
    original, fitted_keys = fleet_module._fit_key, []

    def first_key_takes_the_time(settings, item, *rest):
        original(settings, item, *rest)
        fitted_keys.append(item.key)
        if len(fitted_keys) == 1:
            clock.now += 2 * LIMIT

    monkeypatch.setattr(fleet_module, "_fit_key", first_key_takes_the_time)
    frame = fleet_frame()
    with _deadline.limit(None, clock=clock):
        fleet = FleetPredictor(model="lstm", horizon=5, random_state=0, max_training_time=LIMIT,
                               model_params={"max_epochs": 1}).fit(frame, key="endpoint")
    assert fleet.keys_ == ["k0", "k1", "k2"] and fleet.errors_ == {}
    assert sorted(fleet.time_limited_keys_) == ["k1", "k2"]
    assert fleet.time_limited_keys_["k1"] == ("dlinear window search", "lstm training")
    assert fleet.time_limited_stages_ == fleet.time_limited_keys_["k1"]
    assert fleet._predictors["k0"].model_.n_epochs_ == 1 and fleet._predictors["k2"].model_.n_epochs_ == 0
    assert sum("fleet fit reached max_training_time" in r.getMessage() for r in caplog.records) == 1
    assert not any(r.getMessage().startswith("fit reached") for r in caplog.records)  # no warning per key
    assert np.isfinite(fleet.predict()["yhat"]).all()
    loaded = FleetPredictor.load(fleet.save(tmp_path / "fleet.wpm"))
    assert loaded.time_limited_keys_ == fleet.time_limited_keys_


def test_a_fleet_partition_in_another_process_reads_the_fleets_deadline_on_the_wall_clock():
    import time

    from workload_predictor import FleetPredictor
    from workload_predictor.data import split_by_key
    from workload_predictor.fleet import _fit_partition

    fleet = FleetPredictor(model="lstm", horizon=5, random_state=0, max_training_time=LIMIT,
                           model_params={"max_epochs": 1})
    series, _, targets = split_by_key(fleet_frame(2), key="endpoint")
    config = {**fleet._config(targets), "ends_at": time.time() - 1.0}  # the deadline has passed
    _, predictors, errors = _fit_partition(config, series)
    assert errors == {} and sorted(predictors) == ["k0", "k1"]
    assert all(p.time_limited_stages_[0] == "dlinear window search" and p.model_.n_epochs_ == 0
               for p in predictors.values())


def test_a_fleet_without_a_limit_reached_records_nothing():
    from workload_predictor import FleetPredictor

    fleet = FleetPredictor(model="lstm", horizon=5, random_state=0,
                           model_params={"max_epochs": 1}).fit(fleet_frame(2), key="endpoint")
    assert fleet.time_limited_stages_ == () and fleet.time_limited_keys_ == {}


def test_past_the_deadline_the_anomaly_scan_keeps_the_plain_rule_and_leaves_held_buckets(monkeypatch):
    """On a sparse bursty series the scan's second look at held buckets (those a burst in their reference hid) took
    seconds at 1,000,000 buckets (95 % empty: a fit under 0.5 s took 7-8 s) and could not end early. Past the
    deadline the plain rule still flags the first corrupt bucket; the second, behind it, is left unjudged and the
    stage is reported."""
    from workload_predictor import anomaly

    frame = periodic_series(1500, noise=5.0)
    frame.loc[700, "requests"], frame.loc[730, "requests"] = 1e6, 5e5
    unlimited = WorkloadPredictor(model="dlinear", horizon=5).fit(frame)
    assert [value for _, _, value, _ in unlimited.input_anomalies_] == [1e6, 5e5]
    clock = FakeClock()
    monkeypatch.setattr(anomaly, "fit_scan", clock.after(anomaly.fit_scan))
    fitted = fit(clock, "dlinear", frame)
    assert [value for _, _, value, _ in fitted.input_anomalies_] == [1e6]
    assert fitted.time_limited_stages_[0] == anomaly.CHAINS_STAGE
    assert np.isfinite(fitted.predict().yhat).all()


def test_the_anomaly_scans_second_look_leaves_the_model_its_passes(monkeypatch):
    """The held buckets' second look ran until the deadline itself: on 1,000,000 one-second buckets 95 % empty, the
    scan took the whole 0.5 s limit and the ensemble ended at 1.3-1.6 s. It now stops MODEL_PASSES passes of the
    plain rule before the deadline: here the plain pass takes 0.6 fake s of the 5 s limit, so the second look has
    none left, and the model's stages find the time the scan left them."""
    from workload_predictor import anomaly

    frame = periodic_series(1500, noise=5.0)
    frame.loc[700, "requests"], frame.loc[730, "requests"] = 1e6, 5e5
    clock = FakeClock()
    monkeypatch.setattr(anomaly, "_sliding", clock.after(anomaly._sliding, seconds=0.6))
    assert anomaly.MODEL_PASSES * 0.6 > LIMIT - 0.6
    fitted = fit(clock, "dlinear", frame)
    assert [value for _, _, value, _ in fitted.input_anomalies_] == [1e6]  # the plain rule's flag alone
    assert fitted.time_limited_stages_ == (anomaly.CHAINS_STAGE,)  # the model's stages all ran whole
    assert fitted.model_.window_scores_


def test_the_ensembles_members_settle_the_flagged_series_once(monkeypatch):
    """Each member settled the bursts of the flagged series again (8 passes over every burst: on 1,000,000
    buckets 95 % empty, 0.5 s of a 1.3 s fit under a 0.5 s limit); they now share one settled series."""
    from workload_predictor import anomaly
    from workload_predictor.models import Ensemble

    frame = periodic_series(1500, noise=5.0)
    frame.loc[700, "requests"] = 1e6
    values = frame[["requests"]].to_numpy()
    flagged = anomaly.flagged_of(anomaly.fit_scan(values)[1])
    assert list(flagged) == [(700, 0)]
    calls = []
    monkeypatch.setattr(anomaly, "settled_inputs",
                        lambda *args, _f=anomaly.settled_inputs: calls.append(1) or _f(*args))
    model = Ensemble(horizon=5, random_state=0, member_params={"lstm": {"max_epochs": 1}}).fit(values, flagged)
    assert len(model.members_) >= 6 and len(calls) == 1
    # The shared settled series is the one each member would settle on its own.
    alone = DLinear(horizon=5).fit(values, dict(flagged))
    np.testing.assert_array_equal(alone.validation_actual_, model.members_["dlinear"].validation_actual_)
    np.testing.assert_allclose(alone.validation_forecast_, model.members_["dlinear"].validation_forecast_)


def test_flags_settle_again_once_they_change():
    """The settled series was kept for an equal series only: flags added since were not read (no caller changes them
    today; the cache must not depend on it)."""
    from workload_predictor import anomaly
    from workload_predictor.models.base import evaluated_series

    y = np.zeros((40, 1))
    y[10], y[25] = 1000.0, 900.0
    flags = anomaly.Flags({(10, 0): 0.0})
    assert evaluated_series(y, flags)[25, 0] == 900.0
    flags[(25, 0)] = 0.0
    assert evaluated_series(y, flags)[25, 0] == 0.0 == anomaly.settled_inputs(y, dict(flags))[25, 0]


def test_dlinear_measures_its_pace_with_the_flagged_windows_weights(monkeypatch):
    """A window holding a flagged point is summed on its own (O(window^2)); the pace was measured on unweighted
    windows (or not at all), so on a sparse series whose bursts are all flagged the window search started a pass
    tens of times longer than its estimate (1,000,000 buckets 95 % empty, 0.5 s limit: DLinear 3.7-5.8 s). Here
    each such sum takes 1 fake s: measured, the newest origins' pass cannot fit in the search's share of the
    time, and the middle candidate is taken without a search."""
    from workload_predictor.models.dlinear import NEWEST_MIN_ORIGINS, WindowStats

    frame = periodic_series(26_000, noise=5.0)  # the search's training part (0.85 x 0.85 of it) > NEWEST_MIN_ORIGINS
    assert 0.85 * 0.85 * len(frame) - 336 > NEWEST_MIN_ORIGINS
    frame.loc[int(0.85 * 0.85 * len(frame)) - 300, "requests"] = 1e6  # flagged, in the search's newest windows
    clock = FakeClock()
    original = WindowStats.from_windows.__func__

    def slow(cls, *args, **kwargs):
        if len(args[0]) > 1:  # a sum of flagged windows (an update's single window is not timed)
            clock.now += 1.0
        return original(cls, *args, **kwargs)

    monkeypatch.setattr(WindowStats, "from_windows", classmethod(slow))
    fitted = fit(clock, "dlinear", frame)
    assert fitted.model_.window_scores_ == {} and fitted.model_.window_ == 96
    assert fitted.time_limited_stages_[0] == "dlinear window search"


def test_dlinears_rolling_forecast_stops_before_a_group_whose_pass_would_end_past_the_deadline():
    """The rolling refits stopped only once the deadline had passed: a group begun just before it ran whole (its
    new windows' pass, on a sparse flagged series 0.5 s past a 0.5 s limit). At the measured pace, a pass that
    would end past the deadline is not begun."""
    model = DLinear(horizon=5, window=24).fit(periodic_series(3000, noise=5.0)["requests"].to_numpy())
    y = periodic_series(3000, noise=5.0)["requests"].to_numpy()[:, None]
    origins = np.arange(1000, 2900, 100)
    clock = FakeClock()
    with _deadline.limit(LIMIT, clock=clock) as deadline:
        assert model._rolling_forecast(y, origins, deadline=deadline)[1] == len(origins)  # no pace: every group
        deadline.pace[dlinear.STATISTICS_PACE] = LIMIT / (900 * dlinear.pass_units(1, 24, 5))  # 900 windows: LIMIT
        forecast, done = model._rolling_forecast(y, origins, deadline=deadline)
    assert done == 0 and forecast.shape == (0, 5, 1)


def test_dlinears_rolling_forecast_leaves_the_scan_of_its_weights_out_where_it_cannot_end_before_the_deadline(
        monkeypatch):
    """The rolling refits read the flagged points' weights (a scan of the whole series) before their first group's
    check: on 1,000,000 sparse buckets that scan took 0.06 s past the deadline, with no origin forecast at the end of
    it (the ensemble's fit under 0.5 s ended at 0.53-0.57 s). The first group's check now counts that scan, one pass
    at the pace the predictor's scan measured, and a group that cannot end before the deadline reads nothing."""
    from workload_predictor import anomaly

    y = periodic_series(3000, noise=5.0)["requests"].to_numpy()
    model = DLinear(horizon=5, window=24).fit(y)
    origins = np.arange(1000, 2900, 100)
    scans = []
    monkeypatch.setattr(anomaly, "element_weights", lambda *a, _f=anomaly.element_weights, **k: scans.append(1)
                        or _f(*a, **k))
    clock = FakeClock()
    with _deadline.limit(LIMIT, clock=clock) as deadline:
        deadline.pace[_deadline.SERIES_PACE] = 2 * LIMIT / len(y)  # a scan of the series: twice the time left
        forecast, done = model._rolling_forecast(y[:, None], origins, deadline=deadline)
    assert done == 0 and forecast.shape == (0, 5, 1) and scans == []
    with _deadline.limit(LIMIT, clock=clock) as deadline:
        deadline.pace[_deadline.SERIES_PACE] = LIMIT / 2 / len(y)  # half the time left: every group
        forecast, done = model._rolling_forecast(y[:, None], origins, deadline=deadline)
    assert done == len(origins) and scans == [1]
    np.testing.assert_allclose(forecast, model.rolling_forecast(y, origins))


def test_a_models_fit_reads_the_flags_of_the_predictors_scan_cut_by_the_deadline_without_scanning_again(monkeypatch):
    """Where the time limit cut the scan's chains, the scan's flags were dropped and every stage that weighs flagged
    points scanned the series again (DLinear's training part, its refit, the LSTM's base: on 1,000,000 sparse buckets
    0.15 s past a 0.5 s limit), each finding the plain rule's flags again, as the stage stays cut. They now read the
    kept flags: DLinear's refit scans only the points after its training part, and weighs what the predictor
    reports."""
    from workload_predictor import anomaly

    frame = periodic_series(1500, noise=5.0)
    frame.loc[700, "requests"], frame.loc[730, "requests"] = 1e6, 5e5
    clock = FakeClock()
    monkeypatch.setattr(anomaly, "fit_scan", clock.after(anomaly.fit_scan))
    scans, weighed = [], []
    monkeypatch.setattr(anomaly, "_leading", lambda *a, _f=anomaly._leading: scans.append(len(a[0])) or _f(*a))

    def element_weights(y, start, *args, _f=anomaly.element_weights, **kwargs):
        weights = _f(y, start, *args, **kwargs)
        weighed.append((len(y), start, [] if weights is None else (np.flatnonzero(weights[:, 0] < 1) + start).tolist()))
        return weights

    monkeypatch.setattr(anomaly, "element_weights", element_weights)
    fitted = fit(clock, "dlinear", frame)
    assert fitted.time_limited_stages_[0] == anomaly.CHAINS_STAGE
    assert [value for _, _, value, _ in fitted.input_anomalies_] == [1e6]
    training = weighed[0][0]
    assert training < len(frame)
    # The predictor's scan alone: DLinear's training part and its refit read the predictor's flags, found against the
    # whole series' floor, which is DLinear's too.
    assert scans == [len(frame)]
    assert weighed[0] == (training, 0, [700])  # the plain rule's flag alone, as the predictor reports
    # Without a limit the chains flag 730 too.
    assert fitted.model_._element_weights(frame[["requests"]].to_numpy(), 0)[730, 0] < 1


def test_the_seasonal_medians_period_search_scores_its_strongest_candidates_until_the_deadline(monkeypatch):
    """The period search could not end early: it scored every candidate season (0.06-0.15 s at 1,000,000 points, 0.4 s
    with three targets), the largest piece of an ensemble's work past a short limit (h33). Past the deadline it now
    keeps the candidates scored, strongest first and at least one; without a limit it scores them all and chooses
    as before (the shorter season on a tie)."""
    y = periodic_series(3000, noise=5.0)[["requests"]].to_numpy()
    period, scores = baselines.choose_period(y, 5, 3)
    assert len(scores) > 1 and list(scores) == sorted(scores)
    strongest = baselines.season_candidates(y[:, 0], 1500 // 4)[0]  # lags up to a 2 (seasons + 1)-th of the points
    assert strongest != period  # the search beyond the first candidate decides here
    clock = FakeClock()
    monkeypatch.setattr(baselines, "seasonal_medians", clock.after(baselines.seasonal_medians))
    with _deadline.limit(LIMIT, clock=clock) as deadline:
        limited = baselines.choose_period(y, 5, 3)
    assert limited == (strongest, {strongest: scores[strongest]})
    assert deadline.stages == ["seasonal median period search"]
