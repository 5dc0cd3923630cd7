"""DLinear on log(1 + load) (``transform="log1p"``, registered as ``"dlinear_log"``): what lives in which space.

The flags read the loads (as the predictor's scan), the fit and its judging the transformed units; forecasts,
validation windows and rolling forecasts are loads. An update stays a refit on the same data.
"""

from __future__ import annotations

import copy

import numpy as np
import pytest

from conftest import periodic_series, updated_and_refitted
from test_persistence import _nodes, rewrite_state
from workload_predictor import FleetPredictor, ModelFileError, WorkloadDataError, WorkloadPredictor, persistence
from workload_predictor.data import MAX_VALUE
from workload_predictor.models import DLinear, Ensemble
from workload_predictor.models.dlinear import LogDLinear, forecast_each


def _series(n: int, seed: int = 0, targets: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.column_stack([periodic_series(n, noise=5.0, seed=seed + j)["requests"].to_numpy() * (j + 1)
                            + rng.gamma(2, 2, n) for j in range(targets)])


def _with_burst(n: int, at: int, seed: int = 0) -> np.ndarray:
    y = np.random.default_rng(seed).poisson(50, n).astype(float)
    y[at] = 1e6
    return y[:, None]


# -- update = refit ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("y, n, chunks, params", [
    (_series(420, 1), 300, [1, 7, 40, 1], dict(horizon=6)),
    (_series(360, 2, targets=2), 250, [30, 1, 12], dict(horizon=3, window=24)),
    # a burst the rule flags among the new points (read from the loads) and one among the first fit's
    (_with_burst(420, 330), 300, [20, 1, 40], dict(horizon=5)),
    (_with_burst(420, 150), 300, [60], dict(horizon=5, window=30)),
], ids=["one-target", "two-targets", "burst-in-update", "burst-in-fit"])
def test_a_log1p_update_equals_a_refit_on_all_data(y, n, chunks, params):
    model, first, refit = updated_and_refitted(y, n, chunks, transform="log1p", **params)
    assert model.transform_ == "log1p" and model.window_ == first.window_
    for updated, full in zip(model.stats_, refit.stats_):
        np.testing.assert_allclose(updated.count, full.count, rtol=1e-12)
        np.testing.assert_allclose(updated.xx, full.xx, rtol=1e-12, atol=1e-9)
        np.testing.assert_allclose(updated.xy, full.xy, rtol=1e-12, atol=1e-9)
    np.testing.assert_allclose(model.coef_, refit.coef_, rtol=1e-7, atol=1e-9)
    seen = n + sum(chunks)
    expected = refit._predict_at(y[:seen], np.array([seen]))[0]
    np.testing.assert_allclose(model._predict_at(y[:seen], np.array([seen]))[0], expected, rtol=1e-9)
    settled = model._own_inputs()  # what its own predict() reads: a burst the series came back from at its median
    np.testing.assert_allclose(model.predict(), refit._predict_at(settled, np.array([len(settled)]))[0], rtol=1e-9)


def test_an_idle_target_that_wakes_is_scaled_in_log_units_and_updates_as_a_refit():
    """A target constant at fit (an idle endpoint's zeros) and busy after: the scale the update sets is the spread of
    log(1 + load) since waking, and the update after it is a refit on the same data."""
    busy = np.random.default_rng(4).poisson(40, 200).astype(float)
    y = np.concatenate([np.zeros(300), busy])[:, None]
    model = LogDLinear(horizon=4, window=24).fit(y[:300])
    assert model.idle_ is True
    model.update(y[300:450])
    assert model.idle_ is False
    woken = np.log1p(busy[:150])
    np.testing.assert_allclose(model.scale_[0], woken.std(), rtol=1e-12)  # in log units (loads': ~6, not ~0.16)
    refit = copy.deepcopy(model)
    model.update(y[450:])
    refit._fit_arrays(y, refit=True)
    np.testing.assert_allclose(model.coef_, refit.coef_, rtol=1e-7, atol=1e-9)
    # constant over the training part, busy in the validation tail: the fit's refit scales it so
    short = np.concatenate([np.zeros(310), busy[:50]])[:, None]
    np.testing.assert_allclose(LogDLinear(horizon=4, window=24).fit(short).scale_[0], np.log1p(busy[:50]).std(),
                               rtol=1e-12)


# -- what lives in which space ----------------------------------------------------------------------------------------
def test_the_fit_is_dlinears_on_log1p_and_its_forecasts_are_mapped_back():
    """On a series the rule flags nothing in, the model is DLinear fitted on log1p(y) (same window, same map); its
    forecasts, validation forecasts and rolling forecasts are that model's, through expm1; its validation targets
    are the loads."""
    y = _series(600, 3)
    log_model = LogDLinear(horizon=8).fit(y)
    plain = DLinear(horizon=8).fit(np.log1p(y))
    assert log_model.window_ == plain.window_ and log_model.window_weights_ == plain.window_weights_
    np.testing.assert_array_equal(log_model.coef_, plain.coef_)
    np.testing.assert_array_equal(log_model.predict(), np.expm1(plain.predict()))
    np.testing.assert_array_equal(log_model.validation_forecast_, np.expm1(plain.validation_forecast_))
    origins = log_model.validation_origins_
    np.testing.assert_array_equal(log_model.validation_actual_[:, :, 0],
                                  y[origins[:, None] + np.arange(8), 0])  # loads, not log1p(loads)
    rolling = np.arange(log_model.rolling_start(), 500, 37)
    np.testing.assert_array_equal(log_model.rolling_forecast(y, rolling), np.expm1(plain.rolling_forecast(
        np.log1p(y), rolling)))


def test_the_flags_read_the_loads():
    """The input-anomaly rule runs on the loads, as the predictor's scan (and a plain DLinear's): the same floor and
    the same weights of the kept points, whose burst a scan of log1p(load) (its floor near log(50)) never flags."""
    y = _with_burst(500, 470)
    log_model, plain = LogDLinear(horizon=5).fit(y), DLinear(horizon=5).fit(y)
    np.testing.assert_array_equal(log_model.weight_floor_, plain.weight_floor_)
    assert plain.recent_weights_ is not None and plain.recent_weights_.min() < 1e-10
    np.testing.assert_array_equal(log_model.recent_weights_, plain.recent_weights_)
    assert DLinear(horizon=5).fit(np.log1p(y)).recent_weights_ is None


def test_forecasts_are_clipped_to_loads():
    """A forecast below log1p(0) is 0, one past log1p(MAX_VALUE) is MAX_VALUE: never negative, never inf."""
    model = LogDLinear(horizon=4, window=24).fit(_series(300, 5))
    low, high = copy.deepcopy(model), copy.deepcopy(model)
    low.intercept_ = model.intercept_ - 1e3
    high.intercept_ = model.intercept_ + 1e3
    assert (low.predict() == 0.0).all()
    np.testing.assert_allclose(high.predict(), MAX_VALUE, rtol=1e-12)


# -- bad input --------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("transform", ["log", "LOG1P", 1, True])
def test_an_unknown_transform_is_a_typed_error(transform):
    with pytest.raises(WorkloadDataError, match=r"transform=.* must be None .* or 'log1p'"):
        DLinear(horizon=4, transform=transform).fit(_series(300))


def test_negative_loads_are_refused_and_an_update_changes_nothing():
    y = _series(300)
    bad = y.copy()
    bad[123, 0] = -2.5
    with pytest.raises(WorkloadDataError, match=r"holds -2.5 at row 123: loads must be >= 0"):
        LogDLinear(horizon=4).fit(bad)
    model = LogDLinear(horizon=4, window=24).fit(y)
    forecast, seen, recent = model.predict(), model.n_seen_, model.recent_.copy()
    with pytest.raises(WorkloadDataError, match=r"holds -1 at row \d+: loads must be >= 0"):
        model.update(np.array([3.0, -1.0]))
    assert model.n_seen_ == seen
    np.testing.assert_array_equal(model.recent_, recent)
    np.testing.assert_array_equal(model.predict(), forecast)
    with pytest.raises(WorkloadDataError, match="loads must be >= 0"):
        model.predict_at(-y, [100])


# -- registry, predictor, model files ---------------------------------------------------------------------------------
def test_dlinear_log_is_a_registered_model_that_saves_and_loads():
    frame = periodic_series(400, noise=5.0)
    predictor = WorkloadPredictor(model="dlinear_log", horizon=5).fit(frame)
    assert type(predictor.model_) is LogDLinear and predictor.model_.transform_ == "log1p"
    data = persistence.dumps(predictor)
    loaded = persistence.loads(data)
    np.testing.assert_array_equal(loaded.predict().yhat, predictor.predict().yhat)
    # the interval is the predictor's, from the validation windows' errors in loads
    assert np.all(predictor.interval_halfwidth_ < frame["requests"].std())


def _forged(data: bytes, owner: str, where: str, name: str, value) -> bytes:
    def change(state):
        node = next(node for _, node in _nodes(state) if isinstance(node, dict) and node.get("__object__") == owner)
        pairs = node[where]["__dict__"]
        pair = next((pair for pair in pairs if pair[0] == name), None)
        if pair is None:
            pairs.append(pair := [name, None])
        pair[1] = value
        return state
    return rewrite_state(data, change)


@pytest.mark.parametrize("where, name, message", [
    ("params", "transform", r"transform='log2' must be None"),
    ("state", "transform_", r"transform_='log2', not None or 'log1p'"),
])
def test_a_file_with_an_unknown_transform_is_refused(where, name, message):
    predictor = WorkloadPredictor(model="dlinear_log", horizon=5).fit(periodic_series(400, noise=5.0))
    with pytest.raises(ModelFileError, match=message):
        persistence.loads(_forged(persistence.dumps(predictor), "LogDLinear", where, name, "log2"))


def test_a_file_whose_loads_state_claims_log1p_is_refused():
    """A plain DLinear's scaling (the mean of loads near 100) read as log1p's: no mean of log(1 + load) is that
    large (at most log1p(MAX_VALUE), 41.4)."""
    plain = persistence.dumps(WorkloadPredictor(model="dlinear", horizon=5).fit(periodic_series(400, noise=5.0)))
    with pytest.raises(ModelFileError, match=r"not the mean of log\(1 \+ load\) in \[0, 41.4"):
        persistence.loads(_forged(plain, "DLinear", "state", "transform_", "log1p"))


# -- ensemble and fleet -----------------------------------------------------------------------------------------------
def test_dlinear_log_as_an_ensemble_member_forecasts_the_history_by_its_rolling_refits():
    y = _series(700, 6)
    ensemble = Ensemble(horizon=6, members=("dlinear", "dlinear_log", "naive", "moving_median")).fit(y)
    member = ensemble.members_["dlinear_log"]
    assert ensemble.n_history_origins_ > 0
    origins = ensemble._history_origins(y)
    assert origins[0] >= member.rolling_start()
    slot = list(ensemble._slots()).index("dlinear_log")
    np.testing.assert_array_equal(ensemble.evidence_forecast_[slot, : len(origins)],
                                  member.rolling_forecast(y, origins))


def test_a_batched_dlinear_fleet_refuses_a_transform_and_names_the_model_that_takes_it():
    frame = periodic_series(300, noise=5.0).assign(service="a")
    with pytest.raises(WorkloadDataError, match=r"model_params\['transform'\]='log1p' with model='dlinear'.*"
                                                r"pass model='dlinear_log'"):
        FleetPredictor(model="dlinear", horizon=4, model_params={"transform": "log1p"}).fit(frame, key="service")


def test_forecast_each_maps_each_models_forecast_back():
    y = _series(300, 7)
    models = [DLinear(horizon=4, window=24).fit(y), LogDLinear(horizon=4, window=24).fit(y),
              LogDLinear(horizon=4, window=24).fit(2 * y)]
    inputs = [y, y, 2 * y]
    expected = np.stack([m._predict_at(x, np.array([len(x)]))[0] for m, x in zip(models, inputs)])
    np.testing.assert_allclose(forecast_each(models, inputs), expected, rtol=1e-12)
