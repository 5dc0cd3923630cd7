"""A model fitted on its own (``DLinear(horizon=10).fit(y)``, no ``anomalies``) scans ``y`` as a predictor does
(tests/test_bare_fit_flags.py) and keeps what its own ``predict()`` and ``update()`` read of that scan: ``predict()``
reads a burst the series came back from at its reference median, as a ``WorkloadPredictor``'s forecast reads its
model's inputs (a burst that is still the newest bucket is read raw, as the predictor reads it), and ``update(new_y)``
flags the new points as the predictor's update does and reads the bursts among them at their medians in the windows
they complete. ``fit(y, {})`` keeps today's reading (nothing flagged). The state is saved and checked at load.

The series: Poisson(20) counts in 1-minute buckets with one 2**32 - 1 bucket (a counter wrap), and its clean twin."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from workload_predictor import WorkloadPredictor, persistence
from workload_predictor.errors import ModelFileError
from workload_predictor.models.base import SCAN_STATE
from workload_predictor.predictor import _point

N, SENTINEL, HORIZON = 1000, 2.0**32 - 1, 10
MODELS = {"dlinear": None, "moving_average": None, "exponential_smoothing": None,
          "ensemble": {"members": ("dlinear", "naive", "moving_average")}}


def stream(seed: int = 0, extra: int = 8) -> np.ndarray:
    return np.random.default_rng(seed).poisson(20, N + extra).astype(float)


def with_sentinel(values: np.ndarray, position: int) -> np.ndarray:
    dirty = values.copy()
    dirty[position] = SENTINEL
    return dirty


def predictor(name: str) -> WorkloadPredictor:
    return WorkloadPredictor(model=name, horizon=HORIZON, model_params=MODELS[name])


def bare(name: str):
    """The model class the predictor builds, with the same settings, on its own."""
    return predictor(name)._build_model()


def frame(values: np.ndarray, start: int = 0) -> pd.DataFrame:
    index = pd.date_range("2026-01-01", periods=start + len(values), freq="1min")[start:]
    return pd.DataFrame({"timestamp": index, "requests": values})


def point(fitted: WorkloadPredictor) -> np.ndarray:
    """The predictor's unclipped point forecast, as its model's own _map_predict() gives it (one target: 1-D)."""
    return _point(fitted._snapshot(), HORIZON)[:, 0]


def assert_forecasts(model, raw: np.ndarray) -> None:
    """``model``'s map forecasts ``raw`` exactly, and its predict() that clipped at 0 (a load, as a predictor's)."""
    np.testing.assert_array_equal(model._map_predict(), raw)
    np.testing.assert_array_equal(model.predict(), np.clip(raw, 0.0, None))


@pytest.mark.parametrize("name", list(MODELS))
def test_a_burst_the_series_came_back_from_is_read_at_its_median_by_predict(name):
    """On the base, a bare DLinear forecast 1.9e8 off its clean twin (moving_average 3.6e8, exponential smoothing
    8.1e7) from a sentinel 4 buckets before the end, where the predictor's model is within 0.2."""
    clean = stream()[:N]
    y = with_sentinel(clean, N - 4)
    model, clean_model = bare(name).fit(y), bare(name).fit(clean)
    ours = predictor(name).fit(frame(y))
    assert_forecasts(model, point(ours))
    assert np.abs(model.predict() - clean_model.predict()).max() < 0.05 * clean.mean()


@pytest.mark.parametrize("name", ["dlinear", "moving_average"])
def test_a_burst_in_the_newest_bucket_is_read_raw_as_the_predictor_reads_it(name):
    """A burst still going (the newest bucket) may be the start of a surge: the predictor reads it raw, so does the
    bare model (its forecast moves far from the clean twin's)."""
    clean = stream()[:N]
    y = with_sentinel(clean, N - 1)
    model = bare(name).fit(y)
    assert_forecasts(model, point(predictor(name).fit(frame(y))))
    assert np.abs(model.predict() - bare(name).fit(clean).predict()).max() > 1e6


def updated(name: str, values: np.ndarray, sizes: list[int]):
    """A bare model and a predictor fitted on ``values[:N]`` and updated with the rest in parts of ``sizes``."""
    model, ours = bare(name).fit(values[:N]), predictor(name).fit(frame(values[:N]))
    start = N
    for size in sizes:
        model.update(values[start : start + size])
        ours.update(frame(values[start : start + size], start))
        start += size
    return model, ours


@pytest.mark.parametrize("sizes", [[1] * 8, [3, 5], [8]])
@pytest.mark.parametrize("name", list(MODELS))
def test_update_reads_a_burst_among_the_new_points_as_the_predictors_update(name, sizes):
    """A sentinel in the 5th of 8 new points: on the base the bare model's validation windows took it raw (their
    targets up to 4.3e9, validation MAE 1.7e7 against the clean twin's 3.7) and its forecast moved by 1.8e8."""
    values = with_sentinel(stream(), N + 4)
    model, ours = updated(name, values, sizes)
    np.testing.assert_array_equal(model.validation_actual_, ours.model_.validation_actual_)
    np.testing.assert_array_equal(model.validation_forecast_, ours.model_.validation_forecast_)
    assert_forecasts(model, point(ours))
    clean, _ = updated(name, stream(), sizes)
    assert model.validation_actual_.max() < 100
    assert np.abs(model.predict() - clean.predict()).max() < 0.05 * values[:N].mean()
    np.testing.assert_array_equal(model.input_flags_, ours.input_flags_)  # the same flags, as many rows (NaN: none)


def test_a_burst_flagged_at_fit_is_read_at_its_median_by_the_windows_an_update_completes():
    """The sentinel 3 buckets before the fit's end: the windows the next updates complete hold it in their inputs and
    targets, read at its median as the predictor's update reads them."""
    values = with_sentinel(stream(), N - 3)
    model, ours = updated("dlinear", values, [1] * 8)
    np.testing.assert_array_equal(model.validation_actual_, ours.model_.validation_actual_)
    np.testing.assert_array_equal(model.validation_forecast_, ours.model_.validation_forecast_)
    assert_forecasts(model, point(ours))
    assert model.validation_actual_.max() < 100


def test_no_flags_given_keep_the_raw_reading_and_no_scan_state():
    """``fit(y, {})``: nothing flagged, no scan state; predict() and update() read the points as they are."""
    from workload_predictor.models.dlinear import DLinear

    y = with_sentinel(stream()[:N], N - 4)
    model = DLinear(horizon=HORIZON).fit(y, {})
    assert not any(name in vars(model) for name in SCAN_STATE)
    raw = model._predict_at(model.context_, np.array([len(model.context_)]))[0, :, 0]
    assert_forecasts(model, raw)
    model.update([SENTINEL, 20.0])
    assert model.validation_actual_.max() == SENTINEL
    refitted = DLinear(horizon=HORIZON).fit(y).fit(y, {})  # a refit without a scan drops the state of the one before
    assert not any(name in vars(refitted) for name in SCAN_STATE)


@pytest.mark.parametrize("name", ["dlinear", "ensemble"])
def test_a_predictors_model_and_an_ensembles_members_keep_no_scan_state(name):
    """Their owner settles their inputs and flags their updates: they hold none of it (nor scan again)."""
    y = with_sentinel(stream()[:N], N - 4)
    ours = predictor(name).fit(frame(y))
    parts = [ours.model_, *getattr(ours.model_, "members_", {}).values()]
    assert not any(name in vars(part) for part in parts for name in SCAN_STATE)
    alone = bare(name).fit(y)
    assert all(name in vars(alone) for name in SCAN_STATE)
    assert not any(name in vars(member) for member in getattr(alone, "members_", {}).values() for name in SCAN_STATE)


@pytest.mark.parametrize("name", ["dlinear", "ensemble"])
def test_the_scan_state_is_saved_and_loaded(name):
    y = with_sentinel(stream()[:N], N - 4)
    model = bare(name).fit(y)
    loaded = persistence.loads(persistence.dumps(model))
    for attribute in SCAN_STATE:
        np.testing.assert_array_equal(getattr(loaded, attribute), getattr(model, attribute))
    np.testing.assert_array_equal(loaded.predict(), model.predict())
    new = np.array([21.0, SENTINEL, 19.0])
    loaded.update(new)
    model.update(new)
    np.testing.assert_array_equal(loaded.predict(), model.predict())
    np.testing.assert_array_equal(loaded.validation_actual_, model.validation_actual_)


def test_an_older_file_without_the_scan_state_loads_and_reads_its_points_as_they_are():
    from workload_predictor.models.dlinear import DLinear

    y = with_sentinel(stream()[:N], N - 4)
    older = DLinear(horizon=HORIZON).fit(y)
    for attribute in SCAN_STATE:
        delattr(older, attribute)
    loaded = persistence.loads(persistence.dumps(older))
    raw = loaded._predict_at(loaded.context_, np.array([len(loaded.context_)]))[0, :, 0]
    assert_forecasts(loaded, raw)


def _forged(change) -> bytes:
    from workload_predictor.models.dlinear import DLinear

    model = DLinear(horizon=HORIZON).fit(with_sentinel(stream()[:N], N - 4))
    change(model)
    return persistence.dumps(model)


@pytest.mark.parametrize("change, words", [
    (lambda m: delattr(m, "input_tail_"), "without input_tail_"),
    (lambda m: setattr(m, "input_floor_", np.array([0.5])), "input anomaly floor"),
    (lambda m: setattr(m, "input_tail_", m.input_tail_[-5:]), "newest points for its input-anomaly scan"),
    (lambda m: setattr(m, "input_tail_", np.full((10**3, 1), 5.0)), "newest points for its input-anomaly scan"),
    (lambda m: setattr(m, "input_tail_", np.concatenate([m.input_tail_[:-1], [[7.0]]])), "ending in its context_"),
    (lambda m: setattr(m, "input_flags_", np.full_like(m.input_flags_, np.nan)), "flags among its newest points"),
    (lambda m: setattr(m, "input_flags_", np.full((10**4, 1), 3.0)), "flags among its newest points"),
    (lambda m: setattr(m, "input_flags_", -m.input_flags_), "flags among its newest points"),
    (lambda m: setattr(m, "input_nonzero_counts_", np.array([10**9])), "non-zero buckets"),
])
def test_a_bad_scan_state_is_refused_at_load(change, words):
    with pytest.raises(ModelFileError, match=words):
        persistence.loads(_forged(change))


def test_a_predictors_model_holding_scan_state_is_refused_at_load():
    y = with_sentinel(stream()[:N], N - 4)
    ours = predictor("dlinear").fit(frame(y))
    ours.model_.input_floor_ = np.array([3.0])
    with pytest.raises(ModelFileError, match="only a model that scanned its own fit"):
        persistence.loads(persistence.dumps(ours))


def test_a_bare_lstm_predicts_and_updates_as_the_predictors_lstm():
    """On the base its forecast took the sentinel 4 buckets before the end raw, and its updates' windows too."""
    params = dict(hidden_size=4, max_epochs=2)
    values = with_sentinel(stream(), N - 4)
    fitted = WorkloadPredictor(model="lstm", horizon=HORIZON, model_params=params, random_state=0)
    model = fitted._build_model().fit(values[:N])
    ours = fitted.fit(frame(values[:N]))
    np.testing.assert_allclose(model.predict(), point(ours), rtol=1e-6, atol=1e-6)
    assert np.abs(model.predict()).max() < 100
    new = with_sentinel(values, N + 2)[N:]
    for i in range(len(new)):
        model.update(new[i : i + 1])
        ours.update(frame(new[i : i + 1], N + i))
    np.testing.assert_array_equal(model.validation_actual_, ours.model_.validation_actual_)
    np.testing.assert_allclose(model.predict(), point(ours), rtol=1e-6, atol=1e-6)
    assert model.validation_actual_.max() < 100


@pytest.mark.parametrize("name", ["dlinear", "moving_average"])
def test_each_target_is_flagged_on_its_own_as_the_predictor_flags_it(name):
    """Two targets, a sentinel in one before the end of the fit and a 1e9 bucket in the other among the updates."""
    rng = np.random.default_rng(1)
    values = np.stack([rng.poisson(20, N + 12), rng.poisson(300, N + 12)], axis=1).astype(float)
    values[N - 5, 1], values[N + 5, 0] = SENTINEL, 1e9

    def rows(part: np.ndarray, start: int = 0) -> pd.DataFrame:
        return frame(part[:, 0], start).assign(tokens=part[:, 1])

    ours = predictor(name)
    model = ours._build_model().fit(values[:N])
    ours.fit(rows(values[:N]), target=["requests", "tokens"])
    assert_forecasts(model, _point(ours._snapshot(), HORIZON))
    for start in range(N, N + 12, 3):
        model.update(values[start : start + 3])
        ours.update(rows(values[start : start + 3], start))
    assert_forecasts(model, _point(ours._snapshot(), HORIZON))
    np.testing.assert_array_equal(model.validation_actual_, ours.model_.validation_actual_)
    assert model.validation_actual_.max() < 400


@pytest.mark.parametrize("chunk", [1, 7, 40])
def test_files_of_a_bare_model_through_counters_and_sentinels_load(chunk):
    """The load checks of the scan state (flags on points more than a floor from their medians, the kept points the
    newest of the scan's) refuse no file a fit and its updates write: a counter's run (flagged at least 2 floors above
    the buckets before it, the least a scan flags), sentinels and a burst, in two targets."""
    from workload_predictor.models.dlinear import DLinear

    rng = np.random.default_rng(3)
    y = np.column_stack([rng.poisson(50, N + 200), rng.poisson(5, N + 200)]).astype(float)
    y[N - 40 : N - 10, 0] = np.cumsum(y[N - 40 : N - 10, 0])  # a counter's running total, then back
    y[N + 30 : N + 60, 0] = np.cumsum(y[N + 30 : N + 60, 0])
    y[[N - 4, N + 90], 1] = SENTINEL
    y[N + 120 : N + 123, 1] = 400.0
    model = DLinear(horizon=HORIZON).fit(y[:N])
    flagged = 0
    for start in range(N, N + 200, chunk):
        model.update(y[start : start + chunk])
        flagged += model.input_flags_ is not None
        loaded = persistence.loads(persistence.dumps(model))
        np.testing.assert_array_equal(loaded.predict(), model.predict())
    assert flagged
