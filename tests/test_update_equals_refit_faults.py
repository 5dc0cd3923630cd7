"""DLinear's updates stay a refit on the same data when the stream holds the faults of imperfect telemetry (a burst,
a counter exported instead of counts, a gap of zeros, a stuck value) near the fit's end or an update's boundary; and
a distilled student weighs its teacher's share of each window as DLinear's statistics weigh that window."""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from conftest import updated_and_refitted
from workload_predictor import anomaly
from workload_predictor.models import DLinear
from workload_predictor.models.dlinear import counter_starts, window_weights
from workload_predictor.windows import targets_at, validation_origins

FAULTS = ("burst", "counter", "zero", "stuck")


def cycle(total: int, n_targets: int, seed: int, level: float) -> np.ndarray:
    """Poisson counts around ``level`` (target ``j``: ``(j + 1)`` times it) with a 48-bucket cycle of +-30 %."""
    rng = np.random.default_rng(seed)
    rate = level * (1 + 0.3 * np.sin(2 * np.pi * np.arange(total) / 48))
    return np.column_stack([rng.poisson(rate * (j + 1)).astype(float) for j in range(n_targets)])


def with_fault(y: np.ndarray, kind: str, at: int, length: int, factor: float, target: int) -> np.ndarray:
    """``y`` with one fault in ``target`` from ``at`` on: the buckets times ``factor`` (a burst), their running sum
    (a counter), zeros (a gap) or the first one repeated (a stuck exporter)."""
    y = y.copy()
    part = slice(at, at + length)
    if kind == "burst":
        y[part, target] *= factor
    elif kind == "counter":
        y[part, target] = np.cumsum(y[part, target])
    elif kind == "zero":
        y[part, target] = 0.0
    else:
        y[part, target] = y[at, target]
    return y


@settings(max_examples=20, deadline=None)
@given(
    n=st.integers(150, 260),
    horizon=st.sampled_from([1, 3, 6, 10]),
    window=st.sampled_from([12, 24, 48]),
    chunks=st.lists(st.sampled_from([1, 1, 2, 3, 5, 20]), min_size=3, max_size=10),
    seed=st.integers(0, 2**16),
    n_targets=st.integers(1, 2),
    level=st.sampled_from([3.0, 50.0, 1000.0]),
    kind=st.sampled_from(FAULTS),
    boundary=st.integers(0, 9),
    offset=st.integers(-12, 24),
    length=st.integers(1, 40),
    factor=st.sampled_from([3.0, 10.0, 100.0, 1000.0]),
)
# Found by a random search on dd23dd2: one-bucket updates judged a counter's bucket against a reference that still
# held the counter's first flagged buckets (the scan of the new bucket alone knew no earlier flag), where a refit
# leaves them out: bucket 293 flagged by the refit, not by the update (stats 2e-4 apart).
@example(n=262, horizon=3, window=48, chunks=[2, 1, 1, 2, 20, 5, 1, 2, 1, 2], seed=140, n_targets=1, level=3.0,
         kind="counter", boundary=0, offset=13, length=19, factor=10.0)
# The same cause at H10/W48 (stats 9.7e-4 apart) ...
@example(n=316, horizon=10, window=48, chunks=[1, 2, 5, 1, 3, 1, 1, 3, 5, 1, 2, 1, 2, 1], seed=166, n_targets=1,
         level=3.0, kind="counter", boundary=0, offset=-5, length=35, factor=100.0)
# ... and where the windows' weights hide it (the counter's start weighs them down): the judging's residual history
# 3.5e7 apart, which later windows are judged against.
@example(n=224, horizon=1, window=24, chunks=[1, 20, 2, 3, 3, 1, 20, 1, 1, 1, 1], seed=44, n_targets=1, level=3.0,
         kind="counter", boundary=0, offset=-5, length=38, factor=3.0)
# Found by a random search on b64ad39 (h204): the windows of a counter's climbing buckets raised the penalty (the
# fit's rule above PENALTY_DRIFT times it) before the bucket that flags the run weighed them down, where a refit
# reading them at their final weights never raises it: penalty 265.5 vs 93.4, forecast 6611.9 vs 6679.8 ...
@example(n=150, horizon=1, window=12, chunks=[1, 3, 1], seed=0, n_targets=1, level=1000.0, kind="counter",
         boundary=0, offset=0, length=5, factor=3.0)
# ... and through a burst's windows weighed down after they raised it (target 1: 5906.8 vs the refit's 6018.0,
# forecasts 0.54 apart)
@example(n=171, horizon=6, window=12, chunks=[1, 1, 5, 20, 1, 1, 1, 1, 2, 5], seed=599, n_targets=2, level=50.0,
         kind="burst", boundary=0, offset=8, length=20, factor=10.0)
# ... found again by a search of counters among updates of 1 to 3 buckets on d6d9a2e (7 of 2,100 examples): the
# forecast 101.0 vs 147.3 (H3, W48) ...
@example(n=150, horizon=3, window=48, chunks=[1, 1, 1, 1, 1, 1, 1, 1, 1, 3, 1, 1], seed=1159, n_targets=1, level=50.0,
         kind="counter", boundary=1, offset=1, length=11, factor=100.0)
# ... and on the second of two targets at H10 (43665.7 vs 43811.6)
@example(n=150, horizon=10, window=12, chunks=[1, 1, 1, 1, 2, 1, 2, 2, 2, 2], seed=5, n_targets=2, level=1000.0,
         kind="counter", boundary=2, offset=-4, length=19, factor=100.0)
# ... and by a random search of this test on d6d9a2e (h211, seed 3): a counter on the second target, 841.9 vs 816.3
@example(n=180, horizon=1, window=12, chunks=[1, 20, 1], seed=275, n_targets=2, level=50.0, kind="counter",
         boundary=0, offset=15, length=7, factor=3.0)
def test_updates_through_a_fault_equal_a_refit_on_the_same_data(n, horizon, window, chunks, seed, n_targets, level,
                                                                kind, boundary, offset, length, factor):
    check_updates_equal_a_refit(n, horizon, window, chunks, seed, n_targets, level, kind, boundary, offset, length,
                                factor)


def test_updates_through_a_counter_completed_after_the_penalty_rose_equal_a_refit():
    """Found by a random search of the test above (h204, 12,000 examples): the 4 climbing buckets of a counter raise
    the rule above twice the kept penalty at bucket 154 (93.36 to 265.52); the 5th flags the run and its windows are
    weighed down (count 141.08 -> 138.0005), where the rule stays below twice 93.36: the update follows the penalty
    again from the one in force before those windows, as the refit does (forecast 6679.8, not 6611.9)."""
    check_updates_equal_a_refit(n=150, horizon=1, window=12, chunks=[1, 3, 1], seed=0, n_targets=1, level=1000.0,
                                kind="counter", boundary=0, offset=0, length=5, factor=3.0)


@pytest.mark.parametrize("kind, n, horizon, chunks, split, level, offset, length, seed, n_targets, factor", [
    # h202's counter: one update boundary inside its unflagged climb, or none
    ("counter", 221, 1, [1, 3, 20, 20, 1, 3, 3, 5, 5, 1], [1, 3, 20, 20, 1, 3, 3, 5, 6], 3.0, 44, 18, 0, 1, 3.0),
    ("counter", 150, 1, [1, 3, 1], [5], 1000.0, 0, 5, 0, 1, 3.0),
    ("burst", 171, 6, [1, 1, 5, 20, 1, 1, 1, 1, 2, 5], [38], 50.0, 8, 20, 599, 2, 10.0),
])
def test_an_updated_model_is_the_same_however_its_points_were_split_into_updates(kind, n, horizon, chunks, split,
                                                                                 level, offset, length, seed,
                                                                                 n_targets, factor):
    """The same points in other updates (here a boundary inside a counter's climb before the bucket that flags it,
    whose windows raised the penalty, or not) leave the same penalties, maps and forecasts: an update's state is a
    function of the data seen, as a refit's is (the faults of h204's examples)."""
    assert sum(chunks) == sum(split)
    total = n + sum(chunks)
    y = with_fault(cycle(total, n_targets, seed, level), kind, n + offset, length, factor, seed % n_targets)
    one, _, _ = updated_and_refitted(y, n, chunks, horizon=horizon, window=12)
    other, _, _ = updated_and_refitted(y, n, split, horizon=horizon, window=12)
    for ours, theirs in zip(one.ridge_, other.ridge_):
        for window in ours:
            np.testing.assert_allclose(ours[window].lam, theirs[window].lam, rtol=1e-9, err_msg="penalty")
    np.testing.assert_allclose(one.coef_, other.coef_, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(one._predict_at(y, np.array([total]))[0], other._predict_at(y, np.array([total]))[0],
                               rtol=1e-9, atol=1e-9 * np.abs(y).max())


def check_updates_equal_a_refit(n, horizon, window, chunks, seed, n_targets, level, kind, boundary, offset, length,
                                factor):
    """DLinear fitted on ``n`` buckets of a cycle with one fault, updated by ``chunks``, against a refit of the first
    fit on all of it: the same statistics, judging state and forecasts."""
    total = n + sum(chunks)
    # the fault starts near the fit's end (boundary 0) or near the start of an update
    starts = np.cumsum([0] + chunks[:-1])
    at = min(max(n + int(starts[boundary % len(starts)]) + offset, 0), total - 1)
    y = with_fault(cycle(total, n_targets, seed, level), kind, at, length, factor, seed % n_targets)
    model, first, refit = updated_and_refitted(y, n, chunks, horizon=horizon, window=window)
    for updated, full in zip(model.stats_, refit.stats_):
        np.testing.assert_allclose(updated.count, full.count, rtol=1e-12)
        np.testing.assert_allclose(updated.xx, full.xx, rtol=1e-12, atol=1e-9)
        np.testing.assert_allclose(updated.xy, full.xy, rtol=1e-12, atol=1e-9)
    # the kept points' flags and the judging's state (its residuals' reference) are the refit's too
    for name in ("recent_weights_", "newest_weights_", "residual_history_", "residual_noise_", "residual_center_",
                 "residual_spread_", "residual_unit_"):
        ours, theirs = getattr(model, name), getattr(refit, name)
        assert (ours is None) == (theirs is None), name
        if ours is not None:
            np.testing.assert_allclose(ours, theirs, rtol=1e-9, atol=1e-9, err_msg=name)
    assert model.residual_next_ == refit.residual_next_
    expected = refit._predict_at(y, np.array([total]))[0]
    np.testing.assert_allclose(model._predict_at(y, np.array([total]))[0], expected, rtol=1e-9,
                               atol=1e-9 * np.abs(y).max())
    settled = model._own_inputs()  # what its own predict() reads: a burst the series came back from at its median
    np.testing.assert_allclose(model._map_predict(), refit._predict_at(settled, np.array([len(settled)]))[0], rtol=1e-9,
                               atol=1e-9 * np.abs(y).max())


@pytest.mark.parametrize("before_split", [4, 3])
def test_a_forgetting_fit_with_a_counter_across_its_split_weighs_its_windows_equally(before_split):
    """``half_life`` forgets in updates only: a fit weighs its windows equally, so it equals a refit on the same data.
    A counter starting just before the fit's split is flagged in the tail; the refit on the tail then sums the first
    fit's newest windows again, and took them out decayed as an update does (by the windows since: the Gram
    matrix 4.4e-4 apart)."""
    total, horizon = 600, 10
    split = int(validation_origins(total, horizon, 0.15, 100)[0])
    y = cycle(total, 1, 0, 50.0)
    start = split - before_split
    y[start : start + 30, 0] = np.cumsum(y[start : start + 30, 0])
    model = DLinear(horizon=horizon, window=48, half_life=20.0).fit(y)
    refit = copy.deepcopy(model)
    refit._fit_arrays(y, refit=True)
    fitted, full = model.stats_[0], refit.stats_[0]
    np.testing.assert_allclose(fitted.count, full.count, rtol=1e-12)
    np.testing.assert_allclose(fitted.xx, full.xx, rtol=1e-12, atol=1e-9)
    np.testing.assert_allclose(fitted.xy, full.xy, rtol=1e-12, atol=1e-9)

@pytest.mark.parametrize("n, horizon, window, chunks, split, level, offset, length, seed, n_targets, half_life", [
    # h204's counter: its 4 climbing buckets raise the rule (an update's check) before the 5th flags the run
    (150, 1, 12, [1, 3, 1], [5], 1000.0, 0, 5, 0, 1, 20.0),
    (150, 1, 12, [1, 3, 1], [5], 1000.0, 0, 5, 0, 1, 200.0),
    (150, 1, 12, [1, 1, 1, 1, 1], [5], 1000.0, 0, 5, 0, 1, 20.0),
    # h202's counter: the same points, with and without an update boundary inside its unflagged climb
    (221, 1, 12, [1, 3, 20, 20, 1, 3, 3, 5, 5, 1], [1, 3, 20, 20, 1, 3, 3, 5, 6], 3.0, 44, 18, 0, 1, 20.0),
    (221, 1, 12, [1, 3, 20, 20, 1, 3, 3, 5, 5, 1], [1, 3, 20, 20, 1, 3, 3, 5, 6], 3.0, 44, 18, 0, 1, 200.0),
    # found by a search of counters among updates of 1 to 2 buckets on cd15f6c (h216, 2 of 200 examples): rate
    # 2.105 vs 0.944, forecast 117.0 vs 159.1 ...
    (241, 1, 12, [1, 2, 1, 1, 1, 1, 2], [9], 50.0, 0, 8, 1140, 1, 20.0),
    # ... and at H3, on the first of two targets (16090.2 vs 16161.5)
    (245, 3, 12, [2, 2, 1, 1, 1, 1, 2, 2], [12], 1000.0, 0, 29, 1108, 2, 50.0),
])
def test_a_forgetting_models_penalty_rate_raised_by_windows_a_counter_weighs_down_is_restored(
        n, horizon, window, chunks, split, level, offset, length, seed, n_targets, half_life):
    """With ``half_life`` an update checks the fit's rule once, on the decayed statistics, against the penalty per
    window (``penalty_rates_``). Where the new points weigh kept windows down (a counter's climb, flagged once its run
    completes), the rate follows them again from the one in force before the update that added the first of them, as
    an update of all those points at once reads them: the same rates and statistics, so the same map once the kept
    inverses are recomputed (between recomputations the kept penalty decays with the statistics, as documented, and
    the forecasts differ by that: h202's at half_life 200, 0.13 %). Kept raised, h204's rate stayed 3x the fit's (2.04
    vs 0.68 at half_life 20) and the forecast 1.1 % off (6606.9 vs 6679.8)."""
    total = n + sum(chunks)
    y = with_fault(cycle(total, n_targets, seed, level), "counter", n + offset, length, 3.0, seed % n_targets)
    models = [updated_and_refitted(y, n, updates, horizon=horizon, window=window, half_life=half_life)[0]
              for updates in (chunks, split)]
    one, other = models
    for ours, theirs in zip(one.penalty_rates_, other.penalty_rates_):
        for width in ours:
            np.testing.assert_allclose(ours[width], theirs[width], rtol=1e-9, err_msg="penalty rate")
    for ours, theirs in zip(one.stats_, other.stats_):
        np.testing.assert_allclose(ours.xx, theirs.xx, rtol=1e-12, atol=1e-9)
    forecasts = []
    for model in models:  # each map as a recomputation of its kept state solves it
        model.ridge_ = model._ridge(model.stats_, model._penalties(model.stats_))
        for name, value in model._solution(model.stats_, model.ridge_).items():
            setattr(model, name, value)
        forecasts.append(model._predict_at(y, np.array([total]))[0])
    np.testing.assert_allclose(forecasts[0], forecasts[1], rtol=1e-9, atol=1e-9 * np.abs(y).max())


# -- a predictor's updates ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("n, horizon, window, chunks, seed, counters", [
    # two counters at Poisson(3): the first flags 2 floors above the reference, where a floor of 5 and one of 6 differ
    (322, 1, 12, [1, 1, 2, 20, 2, 5, 20, 5], 97, [(326, 14), (317, 39)]),
    (318, 3, 48, [2, 1, 5, 1, 20], 366, [(315, 16)]),
])
def test_a_predictors_updates_weigh_a_counter_as_a_refit_on_the_same_data(n, horizon, window, chunks, seed, counters):
    """A predictor passes the flags its scans found (against its floor, ``input_floor_``) to its model's updates,
    which judge the new points with them against the model's floor: the two must be one floor, or a counter's flag (2
    floors above its reference) lies elsewhere for each, and so do the marks and references of the buckets after it.
    The updated model weighs its points as a scan of the whole series does, and its statistics are a refit's."""
    from workload_predictor import WorkloadPredictor

    total = n + sum(chunks)
    y = cycle(total, 1, seed, 3.0)
    for at, length in counters:
        y = with_fault(y, "counter", at, length, 1.0, 0)
    frame = pd.DataFrame({"timestamp": pd.date_range("2024-01-01", periods=total, freq="1min"), "requests": y[:, 0]})
    predictor = WorkloadPredictor(model="dlinear", horizon=horizon, window=window).fit(frame.iloc[:n])
    first = copy.deepcopy(predictor.model_)
    seen = n
    for chunk in chunks:
        predictor.update(frame.iloc[seen : seen + chunk])
        seen += chunk
    model = predictor.model_
    kept = model.recent_weights_
    whole = anomaly.element_weights(y, 0, model.weight_floor_)
    np.testing.assert_allclose(kept, whole[total - len(kept) :], rtol=1e-9, err_msg="the kept points' weights")
    refit = copy.deepcopy(first)
    refit._fit_arrays(y, refit=True)
    for updated, full in zip(model.stats_, refit.stats_):
        np.testing.assert_allclose(updated.count, full.count, rtol=1e-11)
        np.testing.assert_allclose(updated.xx, full.xx, rtol=1e-11, atol=1e-9)
        np.testing.assert_allclose(updated.xy, full.xy, rtol=1e-11, atol=1e-9)


# -- distillation ------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("where", ["fit", "split", "tail"])
def test_a_students_teacher_share_of_a_counters_start_weighs_as_the_statistics_weigh_its_windows(where):
    """A counter's first buckets lie within the input-anomaly rule's reach; DLinear's statistics weigh the windows
    that hold them as the flag that ends the run (``counter_starts``). The student's teacher share of those windows
    must weigh the same, wherever the counter lies: in the first fit (its windows summed once), across the split
    (summed at weight 1 by the first fit, then again lower by the refit on the tail) or in the tail."""
    from workload_predictor.models.distill import fit_student

    total, horizon, window, mixing, shift = 600, 5, 24, 0.5, 40.0
    params = dict(horizon=horizon, window=window)
    split = int(validation_origins(total, horizon, 0.15, 100)[0])
    start = {"fit": 300, "split": split - 2, "tail": split + 30}[where]
    y = cycle(total, 1, 3, 50.0)
    y[start : start + 30, 0] = np.cumsum(y[start : start + 30, 0])
    element = anomaly.element_weights(y, 0, DLinear(**params).fit(y).weight_floor_)  # the rule's weights
    flag = start + int(np.flatnonzero(element[start:, 0] < 1.0)[0])  # the run's first flag
    # the windows whose targets end in the COUNTER_RUN - 1 buckets before it, which the rule does not flag
    taught = np.arange(flag - anomaly.COUNTER_RUN + 1, flag) - horizon + 1

    def teacher(series, origins):  # the actuals plus ``shift`` at those windows, nothing elsewhere
        out = np.full((len(origins), horizon, series.shape[1]), np.nan)
        at = np.isin(origins, taught)
        out[at] = targets_at(series, origins[at], horizon) + shift
        return out

    student = fit_student(y, teacher, mixing=mixing, **params)
    plain = fit_student(y, teacher, mixing=0.0, **params)
    assert student.stats_[0].count == plain.stats_[0].count
    # each window's teacher share adds mixing * shift (scaled) times its weight to every step's sum of targets
    share = (student.stats_[0].sum_y - plain.stats_[0].sum_y) / (mixing * shift / student.scale_[0])
    weights = window_weights(counter_starts(y, element)[:, 0], taught, window, horizon)
    np.testing.assert_allclose(share, weights.sum(), rtol=1e-9)
    # those windows weigh as the counter's flags, not 1
    assert weights.max() <= element[flag, 0]
