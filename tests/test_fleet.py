"""FleetPredictor: one forecast per key of a long frame, equal to WorkloadPredictor's on each key alone,
the same whether fitted here, in local processes, on an executor or on a Dask cluster."""

from __future__ import annotations

import copy
import io
import os
import pickle
import re
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd
import pytest

from workload_predictor import FleetPredictor, WorkloadPredictor, bucketize
from workload_predictor import fleet as fleet_module
from workload_predictor.errors import (MemoryLimitError, ModelFileError, NoKeyFittedError, NotFittedError,
                                      UpdateGapError, WorkloadDataError)
from workload_predictor.models.dlinear import DLinear
from workload_predictor.readers import AllPartialError
from workload_predictor.models.dlinear_batched import fit_batched

START = pd.Timestamp("2024-03-01", tz="UTC")


def make_fleet(n_keys: int = 6, n: int = 300, seed: int = 0, targets=("requests",)) -> pd.DataFrame:
    """Keys ``k0 .. k{n_keys-1}``: Poisson counts around a sine of a key-specific period and level."""
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    frames = []
    for i in range(n_keys):
        period, level = rng.integers(12, 90), rng.uniform(2, 200)
        rate = level * (1 + 0.5 * np.sin(2 * np.pi * t / period))
        frame = {"endpoint": f"k{i}", "timestamp": START + pd.Timedelta("1min") * t}
        for j, name in enumerate(targets):
            frame[name] = rng.poisson(rate * (1 + 10 * j)).astype(np.int64)
        frames.append(pd.DataFrame(frame))
    return pd.concat(frames, ignore_index=True)


def reference(frame: pd.DataFrame, key, targets, **settings):
    rows = frame[frame["endpoint"] == key]
    return WorkloadPredictor(**settings).fit(rows, target=list(targets))


def updated_reference(head: pd.DataFrame, updates: list, key, mode: str, targets=("requests",), **settings):
    """What a fleet's key forecasts after ``updates`` (frames) under ``update_mode=mode``: a WorkloadPredictor fitted
    on the newest buckets, as many as it was fitted on ("refit"), or fitted on ``head`` and updated ("incremental")."""
    if mode == "refit":
        n = int((head["endpoint"] == key).sum())
        seen = pd.concat([head, *updates])
        return reference(seen[seen["endpoint"] == key].tail(n), key, targets, **settings)
    predictor = reference(head, key, targets, **settings)
    for rows in updates:
        predictor.update(rows[rows["endpoint"] == key].drop(columns="endpoint"))
    return predictor


def assert_matches(fleet: FleetPredictor, frame: pd.DataFrame, targets=("requests",), **settings):
    forecast = fleet.predict()
    for key in fleet.keys_:
        predictor = reference(frame, key, targets, horizon=fleet.horizon, level=fleet.level, model=fleet.model,
                              **settings)
        expected = predictor.predict()
        rows = forecast[forecast["endpoint"] == key]
        for j, target in enumerate(predictor.targets_):
            part = rows[rows["target"] == target] if len(targets) > 1 else rows
            np.testing.assert_array_equal(part["timestamp"].to_numpy(), expected.index.to_numpy())
            for column in ("yhat", "lower", "upper"):
                np.testing.assert_allclose(part[column].to_numpy(), getattr(expected, column)[:, j], rtol=1e-9,
                                           atol=1e-9, err_msg=f"{key} {target} {column}")
        assert fleet.confidence_[key] == pytest.approx(predictor.confidence_, rel=1e-9, abs=1e-12)


# -- each key equals WorkloadPredictor on its series alone --------------------------------------------------
@pytest.mark.parametrize("targets", [("requests",), ("requests", "input_tokens")])
def test_dlinear_fleet_equals_workload_predictor_per_key(targets):
    frame = make_fleet(5, 300, seed=1, targets=targets)
    # A key of another length is its own batch.
    frame = frame[~((frame["endpoint"] == "k2") & (frame["timestamp"] < START + pd.Timedelta("60min")))]
    fleet = FleetPredictor(horizon=7, level=0.8).fit(frame, key="endpoint", target=list(targets))
    assert fleet.errors_ == {}
    assert fleet.keys_ == [f"k{i}" for i in range(5)]
    assert_matches(fleet, frame, targets)


@pytest.mark.parametrize("model", ["dlinear", "naive"])
def test_a_key_whose_window_holds_a_spike_it_came_back_from_equals_workload_predictor(model):
    """The fleet settles a spike in a key's input window as a WorkloadPredictor of that key does (DLinear's batched
    blocks find it themselves; per-key models read their predictor's settled inputs)."""
    n = 1500
    frames = []
    for i, back in enumerate((300, 20, None)):
        y = np.random.default_rng(i).poisson(50, n).astype(float)
        if back:
            y[n - back] = 1e6
        frames.append(pd.DataFrame({"timestamp": pd.date_range("2026-01-01", periods=n, freq="10s", tz="UTC"),
                                    "requests": y, "endpoint": f"k{i}"}))
    forecast = FleetPredictor(model=model, horizon=5).fit(pd.concat(frames), key="endpoint").predict()
    for i, frame in enumerate(frames):
        single = WorkloadPredictor(model=model, horizon=5).fit(frame.drop(columns="endpoint")).predict()
        got = forecast.loc[forecast["endpoint"] == f"k{i}", "yhat"].to_numpy()
        np.testing.assert_allclose(got, np.ravel(single.yhat), rtol=1e-9, atol=1e-9)
        assert np.abs(got - 50.0).max() < 15.0


def test_a_chain_of_repeated_sentinels_in_a_keys_window_is_settled_as_workload_predictor(tmp_path):
    """A sparse key writes the same 5e4 sentinel every few dozen buckets: its fit flags the first by the plain rule
    and each later one through the chain. The batched block scanned only its window, where the chain's start was out
    of reach, so the newest sentinel (which the series came back from) went unflagged: the fleet forecast
    1697.9-3845.2 where WorkloadPredictor forecasts 14.3-23.5. Also after a save/load (the block scans again)."""
    y = np.zeros(300)
    y[[20, 47, 80, 110, 150, 200, 240, 275, 288]] = 5e4
    sparse = pd.DataFrame({"endpoint": "sparse", "timestamp": START + pd.Timedelta("1min") * np.arange(300),
                           "requests": y})
    frame = pd.concat([sparse, make_fleet(2, 300, seed=4)], ignore_index=True)
    single = WorkloadPredictor(horizon=5, window=24).fit(sparse.drop(columns="endpoint"))
    assert len(single.input_anomalies_) == 9
    fleet = FleetPredictor(horizon=5, window=24).fit(frame, key="endpoint")
    loaded = FleetPredictor.load(fleet.save(tmp_path / "sparse.wpm"))
    fleet.predict()
    # An update of another key of its block: the sparse key's row is carried into a new block, settled as before.
    updated = FleetPredictor.load(fleet.save(tmp_path / "sparse.wpm")).update(
        pd.DataFrame({"endpoint": ["k0"], "timestamp": [START + pd.Timedelta("300min")], "requests": [40]}))
    assert updated.update_errors_ == {} and len(updated._blocks) == 2
    for fitted in (fleet, loaded, updated):
        forecast = fitted.predict()
        got = forecast.loc[forecast["endpoint"] == "sparse"]
        for column in ("yhat", "lower", "upper"):
            np.testing.assert_allclose(got[column], getattr(single.predict(), column)[:, 0], rtol=1e-9, atol=1e-9)
        assert got["yhat"].max() < 100.0


@pytest.mark.parametrize("mode", ["refit", "incremental"])
def test_a_key_with_a_corrupt_bucket_still_equals_workload_predictor(mode):
    """A key whose series DLinear weighs down is fitted in the batch, its windows weighed as DLinear weighs them;
    also after an update that brings one into a key (refitted in the batch, or updated by the key's own
    predictor)."""
    frame = make_fleet(4, 300, seed=3)
    corrupt = (frame["endpoint"] == "k1") & (frame["timestamp"] == START + pd.Timedelta("150min"))
    frame.loc[corrupt, "requests"] = 10**9
    fleet = FleetPredictor(horizon=5, update_mode=mode).fit(frame, key="endpoint")
    assert fleet.errors_ == {} and fleet._predictors == {} and fleet._blocks[0].keys == ["k0", "k1", "k2", "k3"]
    assert_matches(fleet, frame)
    assert fleet.predict().query("endpoint == 'k1'")["yhat"].max() < 1e3
    later = make_fleet(4, 310, seed=3)
    later = later[later["endpoint"].isin(["k1", "k2"]) & (later["timestamp"] >= START + pd.Timedelta("300min"))].copy()
    later.loc[(later["endpoint"] == "k2") & (later["timestamp"] == START + pd.Timedelta("303min")), "requests"] = 10**9
    fleet.update(later)
    assert fleet.update_errors_ == {} and sorted(fleet._predictors) == ([] if mode == "refit" else ["k1", "k2"])
    after = fleet.predict()
    for key in ("k1", "k2"):
        expected = updated_reference(frame, [later], key, mode, horizon=5)
        rows = after[after["endpoint"] == key]
        for column in ("yhat", "lower", "upper"):
            np.testing.assert_allclose(rows[column], getattr(expected.predict(), column)[:, 0], rtol=1e-9, atol=1e-9)
        assert fleet.confidence_[key] == pytest.approx(expected.confidence_, rel=1e-9, abs=1e-12)


def test_fixed_window_and_baseline_models_equal_workload_predictor():
    frame = make_fleet(3, 200, seed=2)
    assert_matches(FleetPredictor(horizon=5, window=24).fit(frame, key="endpoint"), frame, window=24)
    for model in ("naive", "moving_average"):
        assert_matches(FleetPredictor(model=model, horizon=5).fit(frame, key="endpoint"), frame)


def test_lstm_fleet_equals_workload_predictor():
    frame = make_fleet(1, 150, seed=3)
    settings = dict(model_params=dict(max_epochs=1, hidden_size=4), random_state=0)
    fleet = FleetPredictor(model="lstm", horizon=5, **settings).fit(frame, key="endpoint")
    assert_matches(fleet, frame, **settings)


def test_global_lstm_fleet_forecasts_every_long_enough_key(tmp_path):
    pytest.importorskip("torch")
    from workload_predictor.models.global_lstm import GlobalLSTM

    frame = bad_fleet()
    params = {"max_epochs": 1, "hidden_size": 4, "window": 24}
    fleet = FleetPredictor(model="global_lstm", horizon=5, random_state=0, model_params=params).fit(
        frame, key="endpoint")
    assert fleet.keys_ == ["k0", "k5"] and sorted(fleet.errors_) == ["k1", "k2", "k3", "k4"]
    series = [frame[frame["endpoint"] == key]["requests"].to_numpy(float)[:, None] for key in fleet.keys_]
    alone = GlobalLSTM(horizon=5, random_state=0, **params).fit(series, fleet.keys_)
    forecast = fleet.predict()
    for key, expected in zip(fleet.keys_, alone.predict()):
        np.testing.assert_allclose(forecast[forecast["endpoint"] == key]["yhat"], np.clip(expected[:, 0], 0, None),
                                   rtol=1e-6, atol=1e-6)
    loaded = FleetPredictor.load(fleet.save(tmp_path / "global.wpm"))
    pd.testing.assert_frame_equal(loaded.predict(), forecast)


def test_batched_kernel_equals_dlinear_and_its_torch_path_on_cpu_tensors():
    pytest.importorskip("torch")
    rng = np.random.default_rng(4)
    t = np.arange(400)
    y = np.stack([np.stack([rng.poisson(30 + 20 * np.sin(2 * np.pi * t / p)) for _ in range(2)], axis=1)
                  for p in (24, 50, 70)]).astype(float)
    y[1] = 0.0  # an empty series: scale 1, a zero map
    for device in (None, "cpu"):
        fit = fit_batched(y, horizon=6, device=device)
        for b in range(len(y)):
            model = DLinear(horizon=6).fit(y[b])
            assert fit.window_weights[b] == pytest.approx(model.window_weights_, rel=1e-9)
            width = fit.coef.shape[2]
            np.testing.assert_allclose(fit.coef[b][:, width - model.window_ :], model.coef_, rtol=1e-8, atol=1e-10)
            assert not fit.coef[b][:, : width - model.window_].any()
            np.testing.assert_allclose(fit.intercept[b], model.intercept_, rtol=1e-8, atol=1e-10)
            np.testing.assert_allclose(fit.validation_forecast[b], model.validation_forecast_, rtol=1e-8, atol=1e-8)


def test_batched_kernel_weighs_flagged_buckets_as_dlinear():
    """Series holding a bucket DLinear weighs down (in the training part, in the tail only, in one of two
    targets) equal DLinear's own fit in the batch: scaling, window search, blend, both fits."""
    from workload_predictor import anomaly

    rng = np.random.default_rng(7)
    t = np.arange(400)
    y = np.stack([np.stack([rng.poisson(40 + 25 * np.sin(2 * np.pi * t / p)), rng.poisson(400 + 9 * t % 50)], axis=1)
                  for p in (24, 40, 60, 30)]).astype(float)
    y[0, 150, 0] = 1e9  # training part
    y[1, 380, 1] = 5e6  # the validation tail only: the refit's windows
    y[2, 90, 0], y[2, 300, 1] = 1e7, 0.0  # both targets; a drop to zero far below the level stays unflagged
    n_train = 400 - 6 - int(np.clip(np.floor(0.15 * 400) - 6 + 1, 1, None)) + 1
    floors = {b: anomaly.floor_of(y[b, :n_train]) for b in (0, 1, 2)}
    fit = fit_batched(y, horizon=6, floors=floors)
    plain = fit_batched(y, horizon=6)
    for b in range(len(y)):
        model = DLinear(horizon=6).fit(y[b], {})  # the kernel is given no flags: none ({}; None scans y)
        assert fit.window_weights[b] == pytest.approx(model.window_weights_, rel=1e-9)
        width = fit.coef.shape[2]
        np.testing.assert_allclose(fit.coef[b][:, width - model.window_ :], model.coef_, rtol=1e-8, atol=1e-10)
        np.testing.assert_allclose(fit.intercept[b], model.intercept_, rtol=1e-8, atol=1e-10)
        np.testing.assert_allclose(fit.offset[b], model.offset_, rtol=1e-12)
        np.testing.assert_allclose(fit.scale[b], model.scale_, rtol=1e-12)
        np.testing.assert_allclose(fit.validation_forecast[b], model.validation_forecast_, rtol=1e-8, atol=1e-8)
        if b < 2:  # without the floors these two would be fitted unweighted, which differs
            assert not np.allclose(plain.intercept[b], model.intercept_, rtol=1e-6)



def test_dlinear_fleet_scans_each_weighted_key_once_and_fits_it_as_scanning_each_part(monkeypatch):
    """A key holding a bucket DLinear weighs down has its whole series scanned once per fleet fit: its training
    part's, tail's and refit's weights are read from those flags (``fit_batched``'s ``scans``), the same fit as
    ``fit_batched`` scanning the key itself, bit for bit, and the same forecast as the key's own predictor."""
    from workload_predictor import anomaly
    from workload_predictor.models import dlinear_batched

    frame = make_fleet(n_keys=5, n=400, seed=3)
    frame.loc[(frame["endpoint"] == "k1") & (frame.index % 400 == 150), "requests"] = 10**9  # training part
    frame.loc[(frame["endpoint"] == "k3") & (frame.index % 400 == 380), "requests"] = 5 * 10**6  # the tail only
    scanned, fits = [], []
    series_flags, fit_batched_ = anomaly.series_flags, dlinear_batched.fit_batched

    def counting(values, floor):
        scanned.append((values.copy(), np.array(floor, dtype=float)))
        return series_flags(values, floor)

    def recording(y, **kwargs):
        fits.append((y, kwargs))
        return fit_batched_(y, **kwargs)

    monkeypatch.setattr(anomaly, "series_flags", counting)
    monkeypatch.setattr(dlinear_batched, "fit_batched", recording)
    fleet = FleetPredictor(horizon=6).fit(frame, key="endpoint")
    (y, kwargs), = fits
    assert sorted(kwargs["floors"]) == sorted(kwargs["scans"]) == [1, 3]
    for b in (1, 3):  # its whole series scanned twice (its input flags, anomaly.fit_scan; its weights), no part
        of_key = [values for values, _ in scanned if np.array_equal(values, y[b, : len(values)])]
        assert [len(values) for values in of_key] == [len(y[b])] * 2
    monkeypatch.setattr(anomaly, "series_flags", series_flags)
    direct = fit_batched_(y, **{**kwargs, "scans": None})  # each key's parts scanned by the fit itself
    again = fit_batched_(y, **kwargs)
    for name in ("coef", "intercept", "offset", "scale", "validation_forecast"):
        np.testing.assert_array_equal(getattr(again, name), getattr(direct, name), err_msg=name)
    assert again.window_weights == direct.window_weights
    got = fleet.predict()
    for key in ("k1", "k3"):
        alone = reference(frame, key, ("requests",), horizon=6).predict()
        rows = got[got["endpoint"] == key]
        for column in ("yhat", "lower", "upper"):
            np.testing.assert_allclose(rows[column], getattr(alone, column)[:, 0], rtol=1e-9, atol=1e-9)

def test_fleet_calibration_equals_the_predictors_key_by_key():
    """The fleet calibrates its keys at once; each key's interval, confidence and MAE equal ``calibration``'s,
    also where a zero width is raised (per key and target, never from another key) and a load is all zero."""
    from workload_predictor.fleet import _calibrate
    from workload_predictor.predictor import calibration

    rng = np.random.default_rng(8)
    actual = rng.poisson(5.0, size=(5, 12, 4, 2)).astype(float)
    forecast = actual + rng.normal(0, 2, size=actual.shape)
    forecast[1] = actual[1]  # exact: width 0 stays
    forecast[2, :, :, 0] = actual[2, :, :, 0]  # exact but for one window: the zero widths are raised
    forecast[2, 3, 1, 0] += 7.0
    actual[3], forecast[3, :, :, 1] = 0.0, 0.0  # no load: confidence 0 (target 0) and 1 (target 1)
    forecast[4] = -1.0  # clipped at 0 before the errors
    for level in (0.5, 0.9, 0.99):
        batched = _calibrate(forecast, actual, level)
        for b in range(len(actual)):
            alone = calibration(forecast[b], actual[b], level)
            np.testing.assert_allclose(batched["halfwidth"][b], alone["interval_halfwidth_"], rtol=1e-12, atol=0)
            assert batched["confidence"][b] == pytest.approx(alone["confidence_"], rel=1e-12, abs=1e-15)
            np.testing.assert_allclose(batched["confidence_by_target"][b], alone["_confidence_by_index"], rtol=1e-12)
            np.testing.assert_allclose(batched["validation_mae"][b], alone["validation_mae_"], rtol=1e-12)
            assert batched["interval_exact"] == alone["interval_exact_"]
    assert (_calibrate(forecast, actual, 0.9)["halfwidth"][2, :, 0] > 0).all()


def test_the_door_gives_the_same_series_for_a_sorted_and_a_shuffled_frame():
    """A frame already in key-then-time order skips the sort; any other order is sorted: the same series."""
    from workload_predictor.data import _key_time_order, split_by_key

    frame = bad_fleet()  # sorted by key, then time; k1 holds a NaN, k2 a negative value, k3 a gap, k4 is short
    shuffled = frame.sample(frac=1.0, random_state=0)
    backwards = frame.iloc[::-1]
    assert _key_time_order(*_codes_and_instants(frame)) is None
    assert _key_time_order(*_codes_and_instants(shuffled)) is not None
    expected, expected_errors, _ = split_by_key(frame, key="endpoint")
    column = frame["requests"].to_numpy()
    assert not any(np.shares_memory(item.values, column) for item in expected)  # copies, never the caller's data
    for other in (shuffled, backwards):
        series, errors, _ = split_by_key(other, key="endpoint")
        assert [(s.key, s.start, s.freq) for s in series] == [(s.key, s.start, s.freq) for s in expected]
        for got, want in zip(series, expected):
            np.testing.assert_array_equal(got.values, want.values)
        # The same refusals, each naming the same row (by its label) as a row of the frame given.
        assert list(errors) == list(expected_errors)
        for name, error in errors.items():
            assert [other.index[row] for row in error.rows] == [frame.index[row] for row in expected_errors[name].rows]
            assert unrowed(str(error)) == unrowed(str(expected_errors[name]))
    # A repeated timestamp within a key is not "in order": the door sorts, then refuses the key as before.
    repeated = pd.concat([frame, frame[frame["endpoint"] == "k0"].iloc[[5]]]).sort_values(["endpoint", "timestamp"],
                                                                                          kind="stable")
    assert _key_time_order(*_codes_and_instants(repeated)) is not None
    assert "k0" in split_by_key(repeated, key="endpoint")[1]


def unrowed(message: str) -> str:
    """``message`` without the rows of the frame it names."""
    return re.sub(r"row \d+ of the frame( \(index label [^()]*\))?", "row", message)


def _codes_and_instants(frame: pd.DataFrame):
    from workload_predictor.data import factorize_keys, utc_instants

    return factorize_keys(frame["endpoint"], "endpoint")[0], utc_instants(frame["timestamp"], name="timestamp")


# -- bad series never sink the fleet ------------------------------------------------------------------------
def bad_fleet() -> pd.DataFrame:
    frame = make_fleet(6, 250, seed=5)
    frame["requests"] = frame["requests"].astype(float)
    frame.loc[frame.index[frame["endpoint"] == "k1"][10], "requests"] = np.nan
    frame.loc[frame.index[frame["endpoint"] == "k2"][20], "requests"] = -3.0
    frame = frame.drop(frame.index[frame["endpoint"] == "k3"][30])  # a missing bucket: irregular
    return frame[~((frame["endpoint"] == "k4") & (frame["timestamp"] > START + pd.Timedelta("15min")))]  # too short


@pytest.mark.parametrize("model", ["dlinear", "naive"])
def test_a_fleet_whose_every_key_fails_is_an_error_and_a_fitted_fleet_keeps_its_fit(model):
    """A fleet whose every key failed fitted with no key, no error and no warning (``predict()`` an empty frame), and a
    refit of a fitted fleet on such data replaced its fit with the empty one. With nothing to forecast the fit fails,
    naming the first key's error, and leaves the fleet as it was."""
    fleet = FleetPredictor(model=model, horizon=5).fit(make_fleet(3, 300), key="endpoint")
    before = fleet.predict()
    short = make_fleet(3, 12)  # 12 buckets a key: too few for any model
    with pytest.raises(NoKeyFittedError,
                       match=r"no key could be fitted \(3 keys in error\); the first, key 'k0': ") as raised:
        fleet.fit(short, key="endpoint")
    assert list(raised.value.errors) == ["k0", "k1", "k2"] and isinstance(raised.value, WorkloadDataError)
    assert str(raised.value).endswith(str(raised.value.errors["k0"]))
    pd.testing.assert_frame_equal(fleet.predict(), before)
    with pytest.raises(WorkloadDataError, match="no key could be fitted"):
        FleetPredictor(model=model, horizon=5).fit(short, key="endpoint")


def test_bad_series_are_reported_per_key_and_the_rest_fitted():
    frame = bad_fleet()
    original = frame.copy()
    fleet = FleetPredictor(horizon=5).fit(frame, key="endpoint")
    pd.testing.assert_frame_equal(frame, original)  # the caller's frame is not modified
    assert fleet.keys_ == ["k0", "k5"]
    assert sorted(fleet.errors_) == ["k1", "k2", "k3", "k4"]
    assert all(isinstance(e, WorkloadDataError) for e in fleet.errors_.values())
    assert "NaN" in str(fleet.errors_["k1"]) or "nan" in str(fleet.errors_["k1"])
    assert "negative" in str(fleet.errors_["k2"])
    assert "irregular" in str(fleet.errors_["k3"])
    assert "too few" in str(fleet.errors_["k4"])
    assert set(fleet.predict()["endpoint"]) == {"k0", "k5"}
    assert_matches(fleet, frame)
    with pytest.raises(WorkloadDataError, match="k1"):
        FleetPredictor(horizon=5, strict=True).fit(frame, key="endpoint")


def test_bad_settings_and_columns_are_typed_errors():
    frame = make_fleet(2, 120)
    with pytest.raises(NotFittedError):
        FleetPredictor().predict()
    with pytest.raises(WorkloadDataError, match="no key column"):
        FleetPredictor().fit(frame, key="model")
    with pytest.raises(WorkloadDataError, match="unknown"):
        FleetPredictor(model="prophet").fit(frame, key="endpoint")
    with pytest.raises(WorkloadDataError, match="n_jobs"):
        FleetPredictor(n_jobs=0).fit(frame, key="endpoint")
    with pytest.raises(WorkloadDataError, match="missing at row"):  # strict=False: left out (test_fleet_keyless_fit)
        FleetPredictor(strict=True).fit(frame.assign(endpoint=frame["endpoint"].where(frame.index != 3)), key="endpoint")
    fitted = FleetPredictor(horizon=5).fit(frame, key="endpoint")
    with pytest.raises(WorkloadDataError, match="exceeds"):
        fitted.predict(6)


def test_predict_frame_layout():
    frame = make_fleet(3, 200, targets=("requests", "input_tokens"))
    fleet = FleetPredictor(horizon=4).fit(frame, key="endpoint", target=["requests", "input_tokens"])
    forecast = fleet.predict(3)
    assert list(forecast.columns) == ["endpoint", "timestamp", "target", "yhat", "lower", "upper"]
    assert len(forecast) == 3 * 2 * 3
    assert (forecast["lower"] <= forecast["yhat"]).all() and (forecast["yhat"] <= forecast["upper"]).all()
    assert str(forecast["timestamp"].dt.tz) == "UTC"
    first = forecast[(forecast["endpoint"] == "k0") & (forecast["target"] == "requests")]["timestamp"]
    assert first.iloc[0] == START + pd.Timedelta("200min")


# -- update, save and load ----------------------------------------------------------------------------------
@pytest.mark.parametrize("mode", ["refit", "incremental"])
def test_update_of_dlinear_keys_equals_workload_predictor(mode):
    """``update_mode="refit"``: a batched key's update refits it on its newest buckets, as many as it was fitted on
    (a WorkloadPredictor fitted on them forecasts the same); ``"incremental"``: its update is its own
    WorkloadPredictor's, fitted on the series the fleet fitted it on, then updated with the rows. A key not in the
    update keeps its fit; an unknown key is that key's error."""
    frame = make_fleet(3, 300, seed=6)
    head = frame[frame["timestamp"] < START + pd.Timedelta("280min")]
    tail = frame[(frame["timestamp"] >= START + pd.Timedelta("280min")) & (frame["endpoint"] != "k2")]
    fleet = FleetPredictor(horizon=5, update_mode=mode).fit(head, key="endpoint")
    before = fleet.predict()
    fleet.update(pd.concat([tail, pd.DataFrame({"endpoint": ["k9"], "timestamp": [START], "requests": [1]})]))
    assert list(fleet.update_errors_) == ["k9"]
    after = fleet.predict()
    unchanged = after[after["endpoint"] == "k2"].reset_index(drop=True)
    pd.testing.assert_frame_equal(unchanged, before[before["endpoint"] == "k2"].reset_index(drop=True))
    for key in ("k0", "k1"):
        expected = updated_reference(head, [tail], key, mode, horizon=5)
        rows = after[after["endpoint"] == key]
        for column in ("yhat", "lower", "upper"):
            np.testing.assert_allclose(rows[column], getattr(expected.predict(), column)[:, 0], rtol=1e-9, atol=1e-9)
        assert fleet.confidence_[key] == pytest.approx(expected.confidence_, rel=1e-9, abs=1e-12)


@pytest.mark.parametrize("mode", ["refit", "incremental"])
def test_a_dlinear_fleets_state_stays_bounded_over_a_long_stream_of_updates(tmp_path, mode):
    """An autoscaler updates its fleet for weeks. Each batched key was refitted on its whole, growing series at every
    update: its state grew by 8 bytes per bucket and target, and an update of one bucket cost 4.7 ms per key at
    1,000 buckets, 17 ms at 4,000 and 167 ms after four weeks of 10 s buckets. Now a key is refitted on as many
    buckets as it was fitted on, or updated by its own WorkloadPredictor: either way a fleet that has seen 6,300
    buckets a key is no larger than one that has seen 3,300, and it forecasts as a WorkloadPredictor fitted (and
    updated) so, also after a save and load."""
    frame = make_fleet(2, 6300, seed=12)
    stamps = START + pd.Timedelta("1min") * np.array([300, 3300])
    head, first = frame[frame["timestamp"] < stamps[0]], frame[frame["timestamp"].between(*stamps, inclusive="left")]
    second = frame[frame["timestamp"] >= stamps[1]]
    fleet = FleetPredictor(horizon=5, update_mode=mode).fit(head, key="endpoint")
    sizes = [len(pickle.dumps(fleet.update(first))), len(pickle.dumps(fleet.update(second)))]
    assert fleet.update_errors_ == {} and sizes[1] <= 1.01 * sizes[0], sizes
    forecast = fleet.predict()
    pd.testing.assert_frame_equal(FleetPredictor.load(fleet.save(tmp_path / "fleet.wpm")).predict(), forecast)
    for key in ("k0", "k1"):
        expected = updated_reference(head, [first, second], key, mode, horizon=5).predict()
        got = forecast[forecast["endpoint"] == key]
        for column in ("yhat", "lower", "upper"):
            np.testing.assert_allclose(got[column], getattr(expected, column)[:, 0], rtol=1e-9, atol=1e-9)


def test_a_dlinear_fleet_with_half_life_forgets_at_its_updates_as_dlinear_does():
    """``model_params={"half_life": ...}`` was refused: every update refitted a key on its whole series, which
    forgets nothing. With ``update_mode="incremental"`` a key's updates are its DLinear's, which forget as
    ``half_life`` says."""
    frame = make_fleet(2, 400, seed=13)
    head, tail = frame[frame["timestamp"] < START + pd.Timedelta("300min")], \
        frame[frame["timestamp"] >= START + pd.Timedelta("300min")]
    settings = dict(horizon=5, model_params={"half_life": 20.0})
    fleet = FleetPredictor(**settings, update_mode="incremental").fit(head, key="endpoint")
    assert_matches(fleet, head, model_params={"half_life": 20.0})  # a fit weighs its windows equally, as DLinear's
    fleet.update(tail)
    forecast = fleet.predict()
    for key in ("k0", "k1"):
        expected = reference(head, key, ("requests",), **settings).update(
            tail[tail["endpoint"] == key].drop(columns="endpoint")).predict()
        forgets_nothing = reference(head, key, ("requests",), horizon=5).update(
            tail[tail["endpoint"] == key].drop(columns="endpoint")).predict()
        got = forecast[forecast["endpoint"] == key]
        np.testing.assert_allclose(got["yhat"], expected.yhat[:, 0], rtol=1e-9, atol=1e-9)
        assert not np.allclose(got["yhat"], forgets_nothing.yhat[:, 0], rtol=1e-6)


def test_a_fleet_update_leaves_the_predictors_it_held_as_they_were():
    """Each key's update is applied to a copy and the fleet commits them together (``strict`` raises changing
    nothing; a predict in another thread reads whole states): the predictor objects held before an update, through
    one-bucket updates, a burst, a gap and a many-bucket update, are the same bytes after it."""
    frame = make_fleet(2, 400, seed=14)
    fleet = FleetPredictor(horizon=5, update_mode="incremental").fit(frame[frame["timestamp"] < START + pd.Timedelta("300min")], key="endpoint")
    at = lambda m: START + pd.Timedelta("1min") * m  # noqa: E731
    updates = [frame[frame["timestamp"] == at(300)], frame[frame["timestamp"] == at(301)],
               frame[frame["timestamp"] == at(302)].assign(requests=10**7),
               frame[frame["timestamp"] == at(306)],  # buckets 303-305 skipped: zero-filled
               frame[frame["timestamp"].between(at(307), at(399))]]
    for rows in updates:
        held = dict(fleet._predictors)
        pickled = {key: pickle.dumps(predictor) for key, predictor in held.items()}
        fleet.update(rows)
        assert fleet.update_errors_ == {}
        assert {key: pickle.dumps(predictor) for key, predictor in held.items()} == pickled
        assert all(fleet._predictors[key] is not held[key] for key in held)
    assert sorted(fleet._predictors) == ["k0", "k1"]


def race_at_state(monkeypatch, read=None, before_publish=None, after_publish=None):
    """Run each callable given once: right after the next read of a fleet's published state, or right before or after
    the next publication of one (another thread's call at that moment of this thread's)."""
    hooks = {"read": read, "before_publish": before_publish, "after_publish": after_publish}
    state, publish = FleetPredictor._state, FleetPredictor._publish

    def run(moment):
        hook, hooks[moment] = hooks[moment], None
        if hook is not None:
            hook()

    def read_state(fleet):
        held = state(fleet)
        run("read")
        return held

    def put(fleet, **changes):
        run("before_publish")
        publish(fleet, **changes)
        run("after_publish")

    monkeypatch.setattr(FleetPredictor, "_state", read_state)
    monkeypatch.setattr(FleetPredictor, "_publish", put)


def _racing_fleet():
    """A DLinear fleet of 4 keys, k0 with its own predictor (updated once), and an update of every key (k1-k3 move from
    their block to their own predictors): the fleet, the update, and the forecasts before and after it."""
    frame = make_fleet(4, 320, seed=17)
    at = lambda m: START + pd.Timedelta("1min") * m  # noqa: E731
    fleet = FleetPredictor(horizon=5, update_mode="incremental").fit(frame[frame["timestamp"] < at(300)], key="endpoint")
    fleet.update(frame[(frame["timestamp"] == at(300)) & (frame["endpoint"] == "k0")])
    tail = frame[frame["timestamp"] == at(301)]
    return fleet, tail, fleet.predict(), copy.deepcopy(fleet).update(tail).predict()


@pytest.mark.parametrize("moment", ["after the state is read", "while the predictors are read"])
def test_a_predict_while_another_thread_updates_the_fleet_reads_one_state(monkeypatch, moment):
    """Many predict threads beside one update thread each read one consistent state (README). A DLinear key's first
    update moves it from its block to its own predictor, and the update committed the blocks, then added the keys'
    predictors to the mapping in place: a predict that read the blocks before the commit and the predictors after it
    forecast every moved key twice (35 rows for 4 keys' 20); one iterating the predictors as keys were added raised
    RuntimeError (dictionary changed size during iteration). Either forecast is now the state before the update or
    the one after it: an update (or fit) publishes the fleet's whole state at once, which predict reads once."""
    fleet, tail, before, after = _racing_fleet()
    if moment == "after the state is read":
        race_at_state(monkeypatch, read=lambda: fleet.update(tail))
        expected = before
    else:
        point, raced = fleet_module.forecast_each, []  # the own predictors' DLinear forecasts

        def racing_point(*args):
            if not raced:
                raced.append(fleet.update(tail))
            return point(*args)

        monkeypatch.setattr(fleet_module, "forecast_each", racing_point)
        expected = before
    forecast = fleet.predict()
    assert fleet.update_errors_ == {} and sorted(fleet._predictors) == ["k0", "k1", "k2", "k3"]
    pd.testing.assert_frame_equal(forecast, expected)
    pd.testing.assert_frame_equal(fleet.predict(), after)


@pytest.mark.parametrize("moment", ["before_publish", "after_publish"])
def test_a_save_while_another_thread_updates_the_fleet_writes_one_state(tmp_path, monkeypatch, moment):
    """A save beside an update (a checkpoint thread) wrote the state of the moment: between the update's commit of the
    blocks and of the predictors it held the moved keys nowhere, and load refused the file (keys_ lists 4 keys, the
    state holds 1). It now writes the state before the update or the one after it."""
    fleet, tail, before, after = _racing_fleet()
    race_at_state(monkeypatch, **{moment: lambda: fleet.save(tmp_path / "fleet.wpm")})
    fleet.update(tail)
    monkeypatch.undo()  # the hooks off: load forecasts once
    forecast = FleetPredictor.load(tmp_path / "fleet.wpm").predict()
    assert forecast.equals(before) or forecast.equals(after)
    pd.testing.assert_frame_equal(fleet.predict(), after)


@pytest.mark.parametrize("mode", ["refit", "incremental"])
def test_predict_update_and_save_read_the_fitted_model_and_horizon(tmp_path, mode):
    """Parameters set after fit do not relabel the fitted fleet (as WorkloadPredictor): predict forecasts up to the
    fitted horizon, save refuses a changed model or horizon naming the fix, and update refits a key (or fits its own
    predictor) with the settings it was fitted with instead of turning it alone into another model."""
    frame = make_fleet(2, 300, seed=8)
    head = frame[frame["timestamp"] < START + pd.Timedelta("290min")]
    tail = frame[(frame["timestamp"] >= START + pd.Timedelta("290min")) & (frame["endpoint"] == "k0")]
    fleet = FleetPredictor(horizon=5, update_mode=mode).fit(head, key="endpoint")
    assert fleet.fitted_params_ == {"model": "dlinear", "horizon": 5, "level": 0.9, "window": None,
                                    "model_params": None}
    forecast = fleet.predict()
    fleet.set_params(horizon=8)
    pd.testing.assert_frame_equal(fleet.predict(), forecast)
    with pytest.raises(WorkloadDataError, match="exceeds the fitted horizon 5"):
        fleet.predict(6)
    with pytest.raises(WorkloadDataError, match=r"horizon=8 set since fit.*horizon=5: fit again, or set them back"):
        fleet.save(tmp_path / "changed.wpm")
    fleet.set_params(horizon=5, model="naive")
    with pytest.raises(WorkloadDataError, match="model='naive' set since fit.*model='dlinear'"):
        fleet.save(tmp_path / "changed.wpm")
    fleet.set_params(window=3, level=0.5).update(tail)
    if mode == "refit":  # k0 is still a DLinear key of a block
        assert fleet.update_errors_ == {} and fleet._predictors == {}
        assert sorted(key for block in fleet._blocks for key in block.keys) == ["k0", "k1"]
    else:
        assert fleet.update_errors_ == {} and [key for block in fleet._blocks for key in block.keys] == ["k1"]
        own = fleet._predictors["k0"].get_params()  # k0's own predictor: a DLinear with the fitted settings
        assert (own["model"], own["window"], own["level"]) == ("dlinear", None, 0.9)
    expected = updated_reference(head, [tail], "k0", mode, horizon=5).predict()
    after = fleet.predict()
    np.testing.assert_allclose(after[after["endpoint"] == "k0"]["upper"], expected.upper[:, 0], rtol=1e-9, atol=1e-9)
    fleet.set_params(model="dlinear", window=None, level=0.9)
    pd.testing.assert_frame_equal(FleetPredictor.load(fleet.save(tmp_path / "fleet.wpm")).predict(), after)


def test_a_dlinear_fleet_keeps_to_memory_limit_mb_at_fit_and_update():
    """The batched fit checks its statistics' size against memory_limit_mb before it allocates them, at fit and at
    an update's refit (a failed update changes nothing), as WorkloadPredictor's DLinear does."""
    frame = make_fleet(4, 300, seed=9)
    head = frame[frame["timestamp"] < START + pd.Timedelta("290min")]
    with pytest.raises(MemoryLimitError, match="memory limit exceeded at 'DLinear fleet"):
        FleetPredictor(horizon=5, memory_limit_mb=1e-3).fit(head, key="endpoint")
    fleet = FleetPredictor(horizon=5).fit(head, key="endpoint")
    forecast = fleet.predict()
    tail = frame[frame["timestamp"] >= START + pd.Timedelta("290min")]
    with pytest.raises(MemoryLimitError, match="memory limit exceeded"):
        fleet.set_params(memory_limit_mb=1e-3).update(tail)
    with pytest.raises(MemoryLimitError, match="memory_limit_mb=-5 must be a positive"):
        fleet.set_params(memory_limit_mb=-5).update(tail)
    pd.testing.assert_frame_equal(fleet.predict(), forecast)
    fleet.set_params(memory_limit_mb=2048).update(tail)
    assert fleet.update_errors_ == {} and fleet.predict()["timestamp"].min() == START + pd.Timedelta("300min")


@pytest.mark.parametrize("model", ["naive", "dlinear"])
def test_a_fleets_max_gap_set_since_fit_bounds_every_keys_update(model):
    """``set_params(max_gap=...)`` after fit bounded the batched DLinear keys' updates but not the keys with their own
    predictors (a per-key model's, or a DLinear key updated before), which kept the fitted bound: a row 5 buckets
    ahead was zero-filled under max_gap=2."""
    frame = make_fleet(2, 300, seed=16)
    head = frame[frame["timestamp"] < START + pd.Timedelta("289min")]
    fleet = FleetPredictor(model=model, horizon=5, update_mode="incremental").fit(head, key="endpoint")
    fleet.update(frame[frame["timestamp"] == START + pd.Timedelta("289min")])
    assert fleet.update_errors_ == {} and sorted(fleet._predictors) == ["k0", "k1"]
    forecast = fleet.predict()
    fleet.set_params(max_gap=2).update(frame[frame["timestamp"] == START + pd.Timedelta("295min")])
    assert sorted(fleet.update_errors_) == ["k0", "k1"]
    assert all(isinstance(error, UpdateGapError) and "max_gap=2" in str(error) for error in fleet.update_errors_.values())
    pd.testing.assert_frame_equal(fleet.predict(), forecast)


@pytest.mark.parametrize("mode, updated_before, message", [
    ("refit", False, "No key of this fleet could be fitted within the limit"),
    ("incremental", False, r"the own predictors of 3 keys.*With update_mode='refit' a key keeps its series"),
    ("incremental", True, "No key's update fits within the limit"),
])
def test_an_update_no_key_of_which_fits_the_memory_limit_raises_as_fit_does(mode, updated_before, message):
    """The docstring's rule (the fit or update raises, storing nothing, only where no key fits) held for a DLinear
    fleet's batched refit; keys with their own predictors (here: DLinear keys updated before) were each reported in
    update_errors_ and the update returned."""
    frame = make_fleet(3, 300, seed=15)
    head, tail = frame[frame["timestamp"] < START + pd.Timedelta("290min")], \
        frame[frame["timestamp"] >= START + pd.Timedelta("290min")]
    last = head["timestamp"] == START + pd.Timedelta("289min")
    fleet = FleetPredictor(horizon=5, update_mode=mode).fit(head[~last] if updated_before else head, key="endpoint")
    if updated_before:
        fleet.update(head[last])
        assert fleet.update_errors_ == {} and sorted(fleet._predictors) == ["k0", "k1", "k2"]
    forecast = fleet.predict()
    with pytest.raises(MemoryLimitError, match=message):
        fleet.set_params(memory_limit_mb=1e-3).update(tail)
    pd.testing.assert_frame_equal(fleet.predict(), forecast)
    fleet.set_params(memory_limit_mb=2048).update(tail)
    assert fleet.update_errors_ == {} and fleet.predict()["timestamp"].min() == START + pd.Timedelta("300min")


def test_a_memory_limit_error_from_a_thread_beside_other_partitions_says_the_rss_counts_them():
    """The limit reads the process's RSS, which counts the partitions running on the other threads of the fleet's
    process: a key refused there may fit alone (8 MiB, 256 keys x 3000 buckets: 0 errors serially, 1-4 on 2-4
    threads). Such a key's error says so and names processes as the fix; a partition fitted in the fleet's own
    thread (serially) does not."""
    frame = make_fleet(4, 300, seed=9)
    settings = dict(horizon=5, memory_limit_mb=1e-3, partition_size=1)  # over it: each key's statistics alone

    def errors(**where):
        try:
            return list(FleetPredictor(**settings, **where).fit(frame, key="endpoint").errors_.values())
        except MemoryLimitError as exc:  # a DLinear fleet none of whose keys fits raises the first key's error
            return [exc]

    serial = errors()
    with ThreadPoolExecutor(2) as pool:
        threaded = errors(executor=pool)
    assert serial and all(isinstance(e, MemoryLimitError) and "beside other" not in str(e) for e in serial)
    assert threaded and all(isinstance(e, MemoryLimitError) for e in threaded)
    assert all("beside other partitions" in str(e) and "ProcessPoolExecutor" in str(e) for e in threaded)


@pytest.mark.parametrize("settings,message", [
    (dict(device="gpu"), "device='gpu' must be one of"),
    (dict(device="cuda:x"), "device='cuda:x' must be one of"),
    (dict(random_state="abc"), "random_state='abc' must be None or an integer seed"),
    (dict(n_threads=-3), "n_threads=-3 must be a positive integer"),
    (dict(memory_limit_mb=-5), "memory_limit_mb=-5 must be a positive"),
    (dict(model="naive", memory_limit_mb=-5), "memory_limit_mb=-5 must be a positive"),
    (dict(client="tcp://127.0.0.1:8786"), r"not a dask.distributed.Client \(connect to the scheduler with"),
    (dict(executor="x"), "executor='x' is not a concurrent.futures.Executor"),
    (dict(strict="no"), "strict='no' must be True or False"),
    (dict(model="global_lstm", model_params={"ridge": float("nan"), "max_epochs": 1}), "ridge=nan must be a positive"),
])
def test_bad_runtime_settings_are_one_typed_error_at_fit(settings, message):
    """What WorkloadPredictor refuses, the fleet refuses once, naming the fix: no crash inside torch or on a
    duck-typed client, no bad value accepted, no error copied into errors_ for every key."""
    frame = make_fleet(2, 200)
    with pytest.raises(WorkloadDataError, match=message):
        FleetPredictor(horizon=5, **settings).fit(frame, key="endpoint")


@pytest.mark.parametrize("model, params, message", [
    ("lstm", dict(hidden_size=0), "hidden_size=0 must be a positive integer"),
    ("lstm", dict(learning_rate=float("nan")), "learning_rate=nan must be a positive"),
    ("lstm", dict(window=24, patch_size=48), "patch_size=48 exceeds the window 24"),
    ("lstm", dict(hidden_size=4096, num_layers=64), "memory limit exceeded"),
    ("ensemble", dict(members=["dlinear", "nope"]), r"members=\['dlinear', 'nope'\]: name each member once"),
    ("ensemble", dict(members=["dlinear", "lstm"], member_params={"lstm": {"batch_size": -1}}),
     "batch_size=-1 must be a positive integer"),
    ("ensemble", dict(members=["dlinear", "naive"], member_params={"naive": {"foo": 1}}), "'foo'"),
], ids=lambda value: value if isinstance(value, str) else None)
def test_lstm_and_ensemble_member_settings_are_one_typed_error_at_fit(model, params, message):
    """An LSTM's or an ensemble member's bad setting was every key's error: the fit returned with no key fitted and
    the same message in errors_ once per key. It is the fit's own error, raised once before any key is fitted."""
    pytest.importorskip("torch")
    frame = make_fleet(40, 200)
    with pytest.raises(WorkloadDataError, match=message):
        FleetPredictor(model=model, horizon=5, model_params=params, memory_limit_mb=64).fit(frame, key="endpoint")


def test_a_cuda_device_torch_does_not_see_is_a_typed_error():
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        pytest.skip("this torch sees a CUDA device")
    with pytest.raises(WorkloadDataError, match="device='cuda' but torch sees no CUDA device.*use device='cpu'"):
        FleetPredictor(horizon=5, device="cuda").fit(make_fleet(2, 200), key="endpoint")


GLOBAL_PARAMS = {"max_epochs": 1, "hidden_size": 4, "window": 24}


def key_values(frame: pd.DataFrame, key, targets=("requests",)) -> np.ndarray:
    return frame[frame["endpoint"] == key][list(targets)].to_numpy(float)


@pytest.mark.parametrize("targets", [("requests",), ("requests", "input_tokens")])
def test_global_lstm_fleet_update_extends_each_history_and_keeps_the_network(targets):
    """The documented update: the same network forecasts from each key's extended history (skipped buckets zero; k1's
    is a lost bucket, older than its window), the shared base absorbs the new windows as GlobalLSTM.update told the
    skipped bucket (``filled``) does, and each key's interval and confidence come from its rolled validation windows
    (less those whose targets hold the lost bucket) as WorkloadPredictor's calibration computes them."""
    torch = pytest.importorskip("torch")
    from workload_predictor.models.global_lstm import GlobalLSTM
    from workload_predictor.predictor import calibration

    frame = make_fleet(3, 300, seed=6, targets=targets)
    cut = START + pd.Timedelta("260min")
    head = frame[frame["timestamp"] < cut]
    tail = frame[(frame["timestamp"] >= cut) & (frame["endpoint"] != "k2")]
    skipped = (tail["endpoint"] == "k1") & (tail["timestamp"] == cut + pd.Timedelta("7min"))
    tail = tail[~skipped]  # a bucket with no row is zero
    fleet = FleetPredictor(model="global_lstm", horizon=5, level=0.8, random_state=0,
                           model_params=GLOBAL_PARAMS).fit(head, key="endpoint", target=list(targets))
    weights = {name: value.clone() for name, value in fleet._global.model.network_.state_dict().items()}
    before = fleet.predict()
    confidence_before = fleet.confidence_
    assert fleet.update(tail) is fleet and fleet.update_errors_ == {}
    forecast = fleet.predict()

    model = fleet._global.model
    assert all(torch.equal(weights[name], value) for name, value in model.network_.state_dict().items())
    extended = {key: key_values(head, key, targets) for key in fleet.keys_}
    for key in ("k0", "k1"):
        new = key_values(frame[frame["timestamp"] >= cut], key, targets).copy()
        if key == "k1":
            new[7] = 0.0
        extended[key] = np.concatenate([extended[key], new])
    # The same network (with the updated base) forecasting from the extended histories.
    direct = model.predict_at([extended[key] for key in fleet.keys_], [[len(extended[key])] for key in fleet.keys_])
    # GlobalLSTM fitted alone on the same series and updated with the same new points.
    alone = GlobalLSTM(horizon=5, random_state=0, **GLOBAL_PARAMS).fit(
        [key_values(head, k, targets) for k in fleet.keys_], fleet.keys_)
    alone.update([extended[key][len(key_values(head, key, targets)):] for key in fleet.keys_],
                 filled=[np.array([7]) if key == "k1" else None for key in fleet.keys_])
    assert [lost is not None for lost in alone.lost_buckets_] == [key == "k1" for key in fleet.keys_]
    for i, (key, expected) in enumerate(zip(fleet.keys_, alone.predict())):
        reference_interval = calibration(alone.validation_forecast_[i], alone.validation_actual_[i], 0.8,
                                         left_out=alone.validation_left_out_[i])
        for j, target in enumerate(targets):
            rows = forecast[(forecast["endpoint"] == key) & (forecast["target"] == target if len(targets) > 1 else True)]
            np.testing.assert_allclose(rows["yhat"], np.clip(direct[i][0, :, j], 0, None), rtol=1e-9, atol=1e-9)
            np.testing.assert_allclose(rows["yhat"], np.clip(expected[:, j], 0, None), rtol=1e-6, atol=1e-6)
            last = cut + pd.Timedelta("39min") if key != "k2" else cut - pd.Timedelta("1min")
            assert rows["timestamp"].iloc[0] == last + pd.Timedelta("1min")
            np.testing.assert_allclose(rows["upper"] - rows["yhat"], reference_interval["interval_halfwidth_"][:, j],
                                       rtol=1e-5, atol=1e-5)
        assert fleet.confidence_[key] == pytest.approx(reference_interval["confidence_"], rel=1e-5)
    # k2 had no rows: its history and calibration stand; k0's forecast and interval follow its new data.
    assert fleet.confidence_["k2"] == confidence_before["k2"]
    assert not np.allclose(forecast[forecast["endpoint"] == "k0"]["yhat"], before[before["endpoint"] == "k0"]["yhat"])
    assert len(forecast) == 3 * 5 * len(targets)


@pytest.mark.parametrize("model", ["dlinear", "naive", "global_lstm"])
def test_every_fleet_update_checks_rows_at_the_same_door(model):
    """New keys, keys in errors_, rows at or before a key's last bucket and runs of more than max_gap missing
    buckets: the same typed errors in update_errors_ for the batched, per-key and global models; strict raises and
    changes nothing."""
    from workload_predictor.errors import UpdateGapError, UpdateOrderError
    from workload_predictor.predictor import DEFAULT_MAX_GAP

    frame = bad_fleet()
    settings = dict(model=model, horizon=5, max_gap=10, random_state=0,
                    model_params=GLOBAL_PARAMS if model == "global_lstm" else None)
    fleet = FleetPredictor(**settings).fit(frame, key="endpoint")
    end = START + pd.Timedelta("249min")  # k0 and k5 end here
    rows = pd.DataFrame({"endpoint": ["k0", "k5", "k1", "k9"],
                         "timestamp": [end, end + pd.Timedelta("12min"), end + pd.Timedelta("1min"), end],
                         "requests": [1.0, 1.0, 1.0, 1.0]})
    before = fleet.predict()
    fleet.update(rows)
    errors = fleet.update_errors_
    assert sorted(errors) == ["k0", "k1", "k5", "k9"]
    assert type(errors["k0"]) is UpdateOrderError and "not after the last fitted bucket" in str(errors["k0"])
    assert isinstance(errors["k5"], UpdateGapError) and "max_gap=10" in str(errors["k5"])
    for key in ("k1", "k9"):
        assert "was not fitted" in str(errors[key])
    pd.testing.assert_frame_equal(fleet.predict(), before)
    # The reference: WorkloadPredictor.update on each key alone raises the same error (the row it names, the key's
    # own, as the fleet names it: a row of the frame passed).
    from workload_predictor.data import in_frame

    for key in ("k0", "k5"):
        alone = WorkloadPredictor(horizon=5, max_gap=10).fit(frame[frame["endpoint"] == key])
        with pytest.raises(WorkloadDataError) as raised:
            alone.update(rows[rows["endpoint"] == key])
        named = in_frame(raised.value, rows.index, np.flatnonzero(rows["endpoint"] == key))
        assert (type(errors[key]), str(errors[key])) == (type(named), str(named))
    # With the default max_gap (WorkloadPredictor's), a row that far ahead is refused too: strict raises.
    settings.pop("max_gap")
    strict = FleetPredictor(**settings, strict=True).fit(frame[frame["endpoint"].isin(["k0", "k5"])], key="endpoint")
    before = strict.predict()
    far = pd.DataFrame({"endpoint": ["k0", "k5"], "requests": [1.0, 1.0],
                        "timestamp": [end + pd.Timedelta("1min"), end + pd.Timedelta("1min") * (DEFAULT_MAX_GAP + 2)]})
    with pytest.raises(UpdateGapError, match="k5"):
        strict.update(far)
    pd.testing.assert_frame_equal(strict.predict(), before)


def test_a_strict_fleets_error_names_its_key_once():
    """``strict=True`` raises the first key's error named by its key: once, where the message names the key already
    ("key 'zz': key 'zz' was not fitted" read it twice), and prefixed where it does not."""
    frame = make_fleet(2, 300, seed=3)
    strict = FleetPredictor(horizon=5, strict=True).fit(frame, key="endpoint")
    new = pd.DataFrame({"endpoint": ["zz"], "timestamp": [frame["timestamp"].max() + pd.Timedelta("1min")],
                        "requests": [3.0]})
    with pytest.raises(WorkloadDataError) as raised:
        strict.update(new)
    assert str(raised.value).count("'zz'") == 1 and str(raised.value).startswith("key 'zz' was not fitted"), raised.value
    bad = frame.copy()
    bad.loc[bad.index[bad["endpoint"] == "k1"][0], "requests"] = -1.0
    with pytest.raises(WorkloadDataError) as raised:
        FleetPredictor(horizon=5, strict=True).fit(bad, key="endpoint")
    assert str(raised.value).startswith("key 'k1': target column 'requests' holds a negative value"), raised.value


def test_global_lstm_fleet_update_round_trips_and_keeps_its_state_bounded(tmp_path):
    pytest.importorskip("torch")
    frame = make_fleet(3, 420, seed=7)
    stamps = START + pd.Timedelta("1min") * np.array([300, 340, 380, 420])
    pieces = [frame[(frame["timestamp"] >= a) & (frame["timestamp"] < b)] for a, b in zip(stamps[:-1], stamps[1:])]
    fleet = FleetPredictor(model="global_lstm", horizon=5, random_state=0, model_params=GLOBAL_PARAMS).fit(
        frame[frame["timestamp"] < stamps[0]], key="endpoint")
    model = fleet._global.model
    shapes = ([r.shape for r in model.recent_], [v.shape for v in model.validation_actual_], model.base_gram_.shape)
    size = fleet.save(tmp_path / "fitted.wpm").stat().st_size
    forecast = fleet.predict()
    fleet.set_params(memory_limit_mb=1e-3)  # the update's estimate is checked before it allocates
    with pytest.raises(MemoryLimitError, match="global LSTM update"):
        fleet.update(pieces[0])
    pd.testing.assert_frame_equal(fleet.predict(), forecast)
    fleet.set_params(memory_limit_mb=2048).update(pieces[0])
    loaded = FleetPredictor.load(fleet.save(tmp_path / "updated.wpm"))
    pd.testing.assert_frame_equal(loaded.predict(), fleet.predict())
    pd.testing.assert_series_equal(loaded.confidence_, fleet.confidence_)
    for piece in pieces[1:]:  # the loaded fleet updates as the one that was saved
        fleet.update(piece)
        loaded.update(piece)
    pd.testing.assert_frame_equal(loaded.predict(), fleet.predict())
    assert fleet.predict()["timestamp"].min() == stamps[-1]
    # Each update keeps the newest window + horizon - 1 points and as many validation windows per key as the fit.
    model = fleet._global.model
    assert ([r.shape for r in model.recent_], [v.shape for v in model.validation_actual_],
            model.base_gram_.shape) == shapes
    # The file does not grow either (measured: the same size; kept histories would add 120 x 3 x 8 = 2,880 bytes).
    assert fleet.save(tmp_path / "streamed.wpm").stat().st_size < size + 256


def test_one_absurd_bucket_in_a_global_update_does_not_move_the_other_keys(tmp_path):
    """The global model's linear base is shared: it weighs a flagged bucket's windows as DLinear does (robust), so
    one key's 1e9 bucket leaves every other key's forecast as a clean update leaves it. Without the weights
    (robust=False) it multiplies them. The kept weights travel with the file."""
    pytest.importorskip("torch")
    import copy

    frame = make_fleet(4, 410, seed=2)
    cut, later = START + pd.Timedelta("300min"), START + pd.Timedelta("400min")
    tail = frame[(frame["timestamp"] >= cut) & (frame["timestamp"] < later)]
    spiked = tail.copy()
    spiked.loc[(spiked["endpoint"] == "k0") & (spiked["timestamp"] == cut + pd.Timedelta("85min")), "requests"] = 1e9

    def others(forecast: pd.DataFrame) -> np.ndarray:
        return forecast[forecast["endpoint"] != "k0"]["yhat"].to_numpy()

    moved, fleets = {}, {}
    for robust in (True, False):
        fleet = FleetPredictor(model="global_lstm", horizon=5, random_state=0,
                               model_params={**GLOBAL_PARAMS, "robust": robust}).fit(frame[frame["timestamp"] < cut],
                                                                                   key="endpoint")
        clean = others(copy.deepcopy(fleet).update(tail).predict())
        fleets[robust] = fleet.update(spiked)
        moved[robust] = float(np.max(np.abs(others(fleet.predict()) / clean - 1)))
    assert moved[True] < 0.01 and moved[False] > 10, moved
    # The next windows hold the spike (15 buckets old): a loaded fleet weighs them as the one saved does.
    fleet = fleets[True]
    loaded = FleetPredictor.load(fleet.save(tmp_path / "robust.wpm"))
    assert loaded._global.model.recent_weights_[0] is not None
    rest = frame[frame["timestamp"] >= later]
    pd.testing.assert_frame_equal(loaded.update(rest).predict(), fleet.update(rest).predict())


@pytest.mark.parametrize("limit, what", [("MAX_STATE_ITEMS", "JSON items")])
def test_save_refuses_a_fleet_too_large_for_load_and_writes_nothing(tmp_path, monkeypatch, limit, what):
    """A fleet whose state holds more JSON items than load reads (about 7 per key of one length: some 138,000 keys;
    13 per key of mixed lengths: 75,000) was written, and load refused it as "altered, or too large". save now
    refuses it first, with the figures and the keys a file holds, and leaves a file already at the path as it was."""
    from workload_predictor import model_file

    fleet = FleetPredictor(horizon=5).fit(make_fleet(50, 300), key="endpoint")
    path = tmp_path / "fleet.wpm"
    fleet.save(path)
    saved = path.read_bytes()
    monkeypatch.setattr(model_file, limit, 300)  # a 50-key file holds a few hundred items and some 100 kB
    with pytest.raises(WorkloadDataError, match=rf"would hold [0-9,]+ {what}, over the 300 load reads \([0-9.,]+ per "
                                                 r"key: about [0-9]+ keys a file\); nothing was written"):
        fleet.save(path)
    assert path.read_bytes() == saved
    with pytest.raises(WorkloadDataError, match="nothing was written"):
        fleet.save(tmp_path / "other.wpm")
    assert not (tmp_path / "other.wpm").exists()


def test_a_fleet_file_over_loads_default_size_is_saved_and_loads_with_max_bytes(tmp_path, monkeypatch):
    """A file over load's default size (1 GiB: 10,000 keys of two weeks at 1 min) is a trusted file that load reads
    with a larger ``max_bytes``, as ``WorkloadPredictor.load`` does; ``FleetPredictor.load`` took no ``max_bytes``, so
    such a fleet could be saved but never loaded."""
    fleet = FleetPredictor(horizon=5).fit(make_fleet(20, 300), key="endpoint")
    monkeypatch.setattr(FleetPredictor.load.__func__, "__defaults__", (4096,))  # the 20-key file holds some 40 kB
    path = fleet.save(tmp_path / "large.wpm")
    with pytest.raises(ModelFileError, match="pass a larger max_bytes"):
        FleetPredictor.load(path)
    loaded = FleetPredictor.load(path, max_bytes=path.stat().st_size)
    pd.testing.assert_frame_equal(loaded.predict(), fleet.predict())
    with pytest.raises(ModelFileError, match="more than max_bytes=100"):
        FleetPredictor.load(path, max_bytes=100)


@pytest.mark.parametrize("max_bytes", [0, -1, 2.5, "1e9", None, np.timedelta64(5, "ns")])
def test_a_bad_max_bytes_is_a_typed_error(tmp_path, max_bytes):
    """The fleet's ``load`` read ``max_bytes=None`` as its default, where the predictor's (whose ``max_bytes`` the
    README says the fleet's is like) refuses it: both now take a positive int only."""
    path = WorkloadPredictor(horizon=5).fit(make_fleet(1, 300).drop(columns="endpoint")).save(tmp_path / "one.wp")
    with pytest.raises(WorkloadDataError, match="max_bytes=.* must be a positive number of bytes"):
        WorkloadPredictor.load(path, max_bytes=max_bytes)
    path = FleetPredictor(horizon=5).fit(make_fleet(2, 300), key="endpoint").save(tmp_path / "two.wp")
    with pytest.raises(WorkloadDataError, match="max_bytes=.* must be a positive number of bytes"):
        FleetPredictor.load(path, max_bytes=max_bytes)


def test_save_load_round_trip_and_refuses_tampering(tmp_path):
    frame = bad_fleet()
    fleet = FleetPredictor(horizon=5).fit(frame, key="endpoint")
    path = fleet.save(tmp_path / "fleet.wpm")
    loaded = FleetPredictor.load(path)
    pd.testing.assert_frame_equal(loaded.predict(), fleet.predict())
    pd.testing.assert_series_equal(loaded.confidence_, fleet.confidence_)
    assert {k: (type(e), str(e)) for k, e in loaded.errors_.items()} == {
        k: (type(e), str(e)) for k, e in fleet.errors_.items()}
    data = bytearray(path.read_bytes())
    data[-50] ^= 0xFF
    (tmp_path / "bad.wpm").write_bytes(bytes(data))
    with pytest.raises(ModelFileError):
        FleetPredictor.load(tmp_path / "bad.wpm")
    with pytest.raises(ModelFileError, match="not a FleetPredictor"):
        FleetPredictor.load(WorkloadPredictor(horizon=5).fit(frame[frame["endpoint"] == "k0"]).save(tmp_path / "one"))


# -- the same partitions anywhere -----------------------------------------------------------------------------
def test_local_processes_and_an_executor_give_the_serial_result():
    frame = bad_fleet()
    serial = FleetPredictor(horizon=5).fit(frame, key="endpoint")
    expected = serial.predict()
    processes = FleetPredictor(horizon=5, n_jobs=2, partition_size=2).fit(frame, key="endpoint")
    pd.testing.assert_frame_equal(processes.predict(), expected)
    assert processes.errors_.keys() == serial.errors_.keys()
    with ThreadPoolExecutor(2) as pool:
        threaded = FleetPredictor(horizon=5, executor=pool, partition_size=1).fit(frame, key="endpoint")
    pd.testing.assert_frame_equal(threaded.predict(), expected)


def _continuation(n_keys: int, n: int, extra: int, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A fleet's first ``n`` buckets per key and its next ``extra``."""
    frame = make_fleet(n_keys, n + extra, seed=seed)
    position = frame.groupby("endpoint").cumcount()
    return frame[position < n], frame[position >= n]


def test_a_shut_down_executor_or_a_closed_client_is_a_typed_error_that_changes_nothing():
    """A fleet fitted inside ``with ThreadPoolExecutor()`` (or ``with Client()``) and updated after the block: the
    executor's RuntimeError ("cannot schedule new futures after shutdown") and Dask's AttributeError ('NoneType'
    object has no attribute 'ncores') are a typed error naming the fix, and the fleet is left as it was."""
    frame, new = _continuation(4, 300, 3, seed=1)
    with ThreadPoolExecutor(2) as pool:
        fleet = FleetPredictor(horizon=5, executor=pool).fit(frame, key="endpoint")
    before = fleet.predict()
    with pytest.raises(WorkloadDataError, match="executor=None"):
        fleet.update(new)
    pd.testing.assert_frame_equal(fleet.predict(), before)
    with pytest.raises(WorkloadDataError, match="cannot run the fleet's partitions"):
        FleetPredictor(horizon=5, executor=pool).fit(frame, key="endpoint")
    expected = FleetPredictor(horizon=5).fit(frame, key="endpoint").update(new).predict()
    pd.testing.assert_frame_equal(fleet.set_params(executor=None).update(new).predict(), expected)

    distributed = pytest.importorskip("distributed", reason="dask[distributed] is not installed")
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False, dashboard_address=":0",
                                  silence_logs=40) as cluster, distributed.Client(cluster) as client:
        fleet = FleetPredictor(horizon=5, client=client).fit(frame, key="endpoint")
    with pytest.raises(WorkloadDataError, match="client=None"):
        fleet.update(new)
    pd.testing.assert_frame_equal(fleet.predict(), before)
    with pytest.raises(WorkloadDataError, match="is closed"):
        FleetPredictor(horizon=5, client=client).fit(frame, key="endpoint")
    pd.testing.assert_frame_equal(fleet.set_params(client=None).update(new).predict(), expected)


@pytest.mark.parametrize("gap", ["30s", pd.Timedelta("59s"), np.timedelta64(3, "ns")], ids=repr)
def test_a_max_gap_span_shorter_than_one_bucket_is_refused_at_fit(gap):
    """A span shorter than a key's bucket (1 min here) floored to 0 buckets: the fit took it and every update after
    one missing bucket was refused. It is a typed error at fit naming the bucket, for the fleet (against each key's
    bucket) and the predictor; a span of whole buckets and more ('90s': 1 bucket) is still rounded down."""
    frame, new = _continuation(2, 300, 3, seed=1)
    with pytest.raises(WorkloadDataError, match=r"max_gap=.* is shorter than one bucket \(1min\)"):
        FleetPredictor(horizon=5, max_gap=gap).fit(frame, key="endpoint")
    with pytest.raises(WorkloadDataError, match=r"max_gap=.* is shorter than one bucket \(1min\)"):
        WorkloadPredictor(horizon=5, max_gap=gap).fit(frame[frame["endpoint"] == "k0"])
    late = new[new.groupby("endpoint").cumcount() == 1]  # one missing bucket before each key's row
    fleet = FleetPredictor(horizon=5, max_gap="90s").fit(frame, key="endpoint").update(late)
    assert fleet.update_errors_ == {}
    fitted = FleetPredictor(horizon=5, max_gap="1min").fit(frame, key="endpoint")
    fitted.set_params(max_gap=gap).update(late)  # set since fit: each key's update refuses it, naming it
    assert sorted(fitted.update_errors_) == ["k0", "k1"]
    assert all("shorter than one bucket" in str(error) for error in fitted.update_errors_.values())


def _within(seconds: float, call, *args, **kwargs):
    """``call(*args, **kwargs)``'s result or error, or a failure (not a hung test run) when it takes over
    ``seconds``."""
    out = {}

    def run():
        try:
            out["result"] = call(*args, **kwargs)
        except BaseException as exc:  # noqa: BLE001 - handed to the test
            out["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f"still waiting after {seconds} s"
    if "error" in out:
        raise out["error"]
    return out["result"]


def test_a_dask_cluster_with_no_worker_is_a_typed_error_not_a_hang(monkeypatch):
    """A Client whose cluster has no worker (an autoscaler that starts none, every worker lost): Dask waits forever
    for one; the fleet waits until its deadline (NO_WORKER_WAIT without one), raises naming the fix, changes
    nothing and leaves no partition queued on the cluster."""
    distributed = pytest.importorskip("distributed", reason="dask[distributed] is not installed")
    import workload_predictor.fleet as fleet_module

    monkeypatch.setattr(fleet_module, "WORKER_POLL", 0.1, raising=False)
    monkeypatch.setattr(fleet_module, "NO_WORKER_WAIT", 1.0, raising=False)
    frame, new = _continuation(4, 300, 3, seed=1)
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False, dashboard_address=":0",
                                  silence_logs=40) as cluster, distributed.Client(cluster) as client:
        fleet = FleetPredictor(horizon=5, client=client, partition_size=1).fit(frame, key="endpoint")
        before = fleet.predict()
        cluster.scale(0)
        _wait_until(lambda: not client.nthreads(), within=20)
        for max_training_time in (0.5, None, float("inf")):
            with pytest.raises(WorkloadDataError, match="no worker.*client.wait_for_workers"):
                _within(20, FleetPredictor(horizon=5, client=client, partition_size=1,
                                           max_training_time=max_training_time).fit, frame, key="endpoint")
        with pytest.raises(WorkloadDataError, match="no worker"):  # an update's refit: NO_WORKER_WAIT
            _within(20, lambda: fleet.update(new))
        pd.testing.assert_frame_equal(fleet.predict(), before)
        _wait_until(lambda: not client.futures, within=20)  # cancelled, not queued for a later worker
        cluster.scale(1)
        client.wait_for_workers(1, timeout=20)
        expected = FleetPredictor(horizon=5).fit(frame, key="endpoint").update(new).predict()
        pd.testing.assert_frame_equal(_within(60, lambda: fleet.update(new)).predict(), expected)


def _wait_until(condition, within: float) -> None:
    """Poll ``condition`` in this thread until it holds, or fail after ``within`` seconds (a poll left running in a
    thread after its test failed went on reading the process's state for the rest of the run)."""
    deadline = time.monotonic() + within
    while not condition():
        assert time.monotonic() < deadline, f"still waiting after {within} s"
        time.sleep(0.05)


@pytest.fixture(scope="module")
def dask_client():
    distributed = pytest.importorskip("distributed", reason="dask[distributed] is not installed: "
                                      "pip install workload-predictor[dask] to run the Dask tests")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0",
                                  silence_logs=40) as cluster, distributed.Client(cluster) as client:
        yield client


def test_dask_local_cluster_gives_the_serial_result(dask_client):
    frame = bad_fleet()
    expected = FleetPredictor(horizon=5).fit(frame, key="endpoint")
    fleet = FleetPredictor(horizon=5, client=dask_client, partition_size=2).fit(frame, key="endpoint")
    pd.testing.assert_frame_equal(fleet.predict(), expected.predict())
    assert fleet.errors_.keys() == expected.errors_.keys()


def test_a_killed_dask_worker_loses_nothing(dask_client):
    """A worker dies (SIGKILL) while the fleet's partitions run on it: Dask reschedules them, and the
    fit completes with the serial forecasts."""
    frame = make_fleet(24, 600, seed=7)
    expected = FleetPredictor(horizon=5).fit(frame, key="endpoint").predict()
    fleet = FleetPredictor(horizon=5, client=dask_client, partition_size=1)
    done = threading.Thread(target=fleet.fit, args=(frame,), kwargs=dict(key="endpoint"))
    pids = dask_client.run(os.getpid)
    done.start()
    victim = None
    deadline = time.monotonic() + 30
    while victim is None and time.monotonic() < deadline and done.is_alive():
        busy = [worker for worker, tasks in dask_client.processing().items() if tasks]
        if busy:
            victim = busy[0]
        else:
            time.sleep(0.005)
    assert victim is not None, "the fit finished before a worker could be killed"
    os.kill(pids[victim], signal.SIGKILL)
    done.join(120)
    assert not done.is_alive()
    assert victim not in dask_client.scheduler_info()["workers"] or pids[victim] != dask_client.run(os.getpid).get(
        victim)
    pd.testing.assert_frame_equal(fleet.predict(), expected)
    assert fleet.errors_ == {}


def test_a_worker_partition_reuses_the_heap_under_dasks_trim_setting():
    """Dask's workers run with MALLOC_TRIM_THRESHOLD_=65536, which sends every large temporary of a DLinear
    partition to a fresh mmap (each page faulting on first touch); a worker's partition keeps them in the heap
    and gives the same fit."""
    code = """
import resource
import numpy as np
from workload_predictor import FleetPredictor
from workload_predictor.data import split_by_key
from workload_predictor.fleet import PackedSeries, _fit_packed, _fit_partition
from tests.test_fleet import make_fleet

series, _, targets = split_by_key(make_fleet(48, 1000, seed=3), key="endpoint")
config = FleetPredictor()._config(targets)
faults = {}
for name, run in (("plain", lambda: _fit_partition(config, series)),
                  ("packed", lambda: _fit_packed(config, PackedSeries.pack(series)))):
    run()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    blocks = run()[0]
    faults[name] = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
    faults[name + "_coef"] = np.concatenate([b.coef for b in blocks])
assert np.array_equal(faults["plain_coef"], faults["packed_coef"])
print(faults["plain"], faults["packed"])
"""
    env = {**os.environ, "MALLOC_TRIM_THRESHOLD_": "65536", "PYTHONPATH": os.pathsep.join(sys.path)}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120,
                          cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    assert done.returncode == 0, done.stderr[-2000:]
    plain, packed = map(int, done.stdout.split())
    # Measured 24,870-26,298 faults plain vs 10,823-12,507 in the heap scope (the scope re-faults its peak once,
    # the plain run every temporary); without the scope both runs fault alike (ratio ~1).
    assert packed < 0.75 * plain, (plain, packed)


# -- the door for request logs --------------------------------------------------------------------------------
def request_log(seed: int = 8) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    stamps = START + pd.to_timedelta(rng.uniform(0, 600, 900), unit="s")
    log = pd.DataFrame({"TIMESTAMP": stamps, "model": rng.choice(["a", "b", "c"], 900),
                        "ContextTokens": rng.integers(1, 500, 900)})
    log.loc[log["model"] == "c", "TIMESTAMP"] += pd.Timedelta("300s")  # starts later
    return log


def test_bucketize_by_gives_each_key_its_own_grid():
    log = request_log()
    original = log.copy()
    own = bucketize(log, freq="10s", by="model", common_grid=False)
    pd.testing.assert_frame_equal(log, original)
    for key in "abc":
        alone = bucketize(log[log["model"] == key], freq="10s")
        pd.testing.assert_frame_equal(own[own["model"] == key].drop(columns="model").reset_index(drop=True), alone)
    common = bucketize(log, freq="10s", by="model")
    sizes = common.groupby("model").size()
    assert sizes.nunique() == 1 and sizes.iloc[0] == len(bucketize(log, freq="10s"))
    assert common.groupby("model")["timestamp"].min().nunique() == 1
    assert common["requests"].sum() == len(log) and common["input_tokens"].sum() == log["ContextTokens"].sum()
    late = common[(common["model"] == "c") & (common["timestamp"] < START + pd.Timedelta("290s"))]
    assert len(late) > 0 and (late["requests"] == 0).all()  # zero-filled before the key's first request


def test_bucketize_by_checks_its_bound_and_keys():
    log = request_log()
    with pytest.raises(WorkloadDataError, match="max_buckets"):
        bucketize(log, freq="1s", by="model", max_buckets=1000)
    with pytest.raises(WorkloadDataError, match="no by column"):
        bucketize(log, by="tenant")
    with pytest.raises(WorkloadDataError, match="missing at row"):
        bucketize(log.assign(model=log["model"].where(log.index != 5)), by="model")


def test_import_loads_neither_torch_nor_dask():
    code = "import sys, workload_predictor; print('torch' in sys.modules, 'dask' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


# -- the command line -----------------------------------------------------------------------------------------
def test_cli_forecast_and_evaluate_by_key(tmp_path):
    from click.testing import CliRunner

    from workload_predictor.cli import main

    log = request_log()
    log["TIMESTAMP"] = log["TIMESTAMP"].dt.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    path = tmp_path / "log.csv"
    log.loc[log["model"] != "c"].to_csv(path, index=False)
    out = tmp_path / "fc.csv"
    run = CliRunner().invoke(main, ["forecast", str(path), "--by", "model", "--freq", "5s", "--model", "naive",
                                    "--horizon", "3", "--out", str(out)])
    assert run.exit_code == 0, run.output
    assert "2 keys by 'model', 2 fitted" in run.output
    written = pd.read_csv(out)
    assert list(written.columns) == ["model", "timestamp", "yhat", "lower", "upper"]
    assert written.groupby("model").size().to_dict() == {"a": 3, "b": 3}
    run = CliRunner().invoke(main, ["evaluate", str(path), "--by", "model", "--freq", "5s", "--horizon", "2",
                                    "--models", "moving_average", "--baselines", "naive", "--test-size", "0.3"])
    assert run.exit_code == 0, run.output
    assert "share_beats" in run.output and "median_ratio" in run.output


def test_fleet_summary_shares_and_ratios():
    from workload_predictor.cli import fleet_summary_table

    per_key = pd.DataFrame({"key": ["a", "b", "c", "d"], "dlinear": [1.0, 2.0, 3.0, 0.0],
                            "naive": [2.0, 1.0, 3.0, 0.0]})
    summary = fleet_summary_table(per_key, "key", ["dlinear"], ["naive"])["summary"].iloc[0]
    assert summary["share_beats"] == 0.25  # only a: a tie (c, d) does not beat
    assert summary["median_ratio"] == 1.0 and summary["worst_ratio"] == 2.0


def test_a_fleet_draws_no_progress_bar_per_key(monkeypatch):
    # On a terminal a predictor's LSTM draws a bar over its epochs; a fleet of thousands of keys would draw thousands.
    drawn = []
    from workload_predictor.models import lstm as lstm_module

    real = lstm_module.progress_bar

    def spy(total, description, verbose, **kwargs):
        drawn.append(verbose)
        return real(total, description, False, **kwargs)

    monkeypatch.setattr(lstm_module, "progress_bar", spy)
    frame = make_fleet(2, 300, seed=2)
    fleet = FleetPredictor(model="lstm", horizon=5, random_state=0,
                           model_params={"max_epochs": 1}).fit(frame, key="endpoint")
    assert fleet.errors_ == {} and len(drawn) == 2 and drawn == [False, False]


# -- review 3: one key's failure stays that key's; the batched fit keeps to max_training_time ------------------------
def _expected_error(rows: pd.DataFrame, **settings) -> Exception:
    with pytest.raises(WorkloadDataError) as raised:
        WorkloadPredictor(**settings).fit(rows)
    return raised.value


@pytest.mark.parametrize("windows", [[350], [10**8]])
def test_a_key_too_short_for_candidate_windows_is_its_own_typed_error(windows):
    """The batched length check asked room for window 12 whatever candidate_windows said: a key too short for them
    crashed the whole fleet inside numpy (or raised a fleet-wide MemoryLimitError for [10**8]). It is that key's
    "too few points" error, as WorkloadPredictor gives it, and the other keys are fitted."""
    frame = make_fleet(2, 1200, seed=4)
    frame = frame[(frame["endpoint"] == "k0") | (frame["timestamp"] < START + pd.Timedelta("400min"))]
    settings = dict(horizon=5, model_params={"candidate_windows": windows})
    if windows == [10**8]:  # every key too short: nothing to forecast, the fit fails naming the first key's error
        expected = _expected_error(frame[frame["endpoint"] == "k0"].drop(columns="endpoint"), **settings)
        assert "too few" in str(expected)
        with pytest.raises(type(expected), match="no key could be fitted") as raised:
            FleetPredictor(**settings).fit(frame, key="endpoint")
        assert str(raised.value).endswith(f"key 'k0': {expected}")
        return
    fleet = FleetPredictor(**settings).fit(frame, key="endpoint")
    short = frame[frame["endpoint"] == "k1"].drop(columns="endpoint")
    expected = _expected_error(short, **settings)
    assert type(fleet.errors_["k1"]) is type(expected) and str(fleet.errors_["k1"]) == str(expected)
    assert "too few" in str(expected)
    assert fleet.keys_ == ["k0"]
    assert_matches(fleet, frame, model_params=settings["model_params"])


def test_one_keys_zero_fill_over_the_memory_limit_is_that_keys_update_error():
    """With max_gap=None a key's stray row 200 years ahead would zero-fill 1.7 GB: that key's own memory check
    raised for the whole update, and no key was updated. It is that key's error in update_errors_."""
    frame = make_fleet(3, 300, seed=5)
    fleet = FleetPredictor(horizon=5, max_gap=None, memory_limit_mb=256).fit(frame, key="endpoint")
    before = fleet.predict()
    last = START + pd.Timedelta("299min")
    rows = pd.DataFrame({"endpoint": ["k0", "k1", "k2"],
                         "timestamp": [last + pd.Timedelta("1min")] * 2 + [last + pd.Timedelta(days=73000)],
                         "requests": [60, 70, 5]})
    fleet.update(rows)
    assert list(fleet.update_errors_) == ["k2"] and type(fleet.update_errors_["k2"]) is MemoryLimitError
    assert "zero-filling new buckets" in str(fleet.update_errors_["k2"])
    after = fleet.predict()
    pd.testing.assert_frame_equal(after[after["endpoint"] == "k2"], before[before["endpoint"] == "k2"])
    good = FleetPredictor(horizon=5, max_gap=None).fit(frame, key="endpoint").update(rows[rows["endpoint"] != "k2"])
    for key in ("k0", "k1"):
        pd.testing.assert_frame_equal(after[after["endpoint"] == key].reset_index(drop=True),
                                      good.predict().query("endpoint == @key").reset_index(drop=True))


def _over_memory(monkeypatch, over) -> None:
    """The batched fit raises MemoryLimitError where ``over(y)`` holds for its series ``y`` ``(B, n, k)``."""
    from workload_predictor.models import dlinear_batched

    original = dlinear_batched.fit_batched

    def fit(y, **settings):
        if over(y):
            raise MemoryLimitError("memory limit exceeded at 'DLinear fleet fit': (test)")
        return original(y, **settings)

    monkeypatch.setattr(dlinear_batched, "fit_batched", fit)


@pytest.mark.parametrize("partition_size", [None, 1])
def test_a_key_over_the_memory_limit_is_its_own_error_and_the_others_are_fitted(monkeypatch, partition_size):
    """One key over memory_limit_mb took the whole DLinear fleet down, even with partition_size=1. Its partition is
    fitted again key by key: that key's MemoryLimitError is in errors_, the others equal WorkloadPredictor's."""
    frame = pd.concat([make_fleet(3, 300, seed=6), make_fleet(1, 600, seed=7).assign(endpoint="big")],
                      ignore_index=True)
    _over_memory(monkeypatch, lambda y: y.shape[1] >= 600)
    fleet = FleetPredictor(horizon=5, partition_size=partition_size).fit(frame, key="endpoint")
    assert fleet.keys_ == ["k0", "k1", "k2"] and list(fleet.errors_) == ["big"]
    assert type(fleet.errors_["big"]) is MemoryLimitError
    assert_matches(fleet, frame)


def test_a_partition_over_the_memory_limit_is_fitted_key_by_key(monkeypatch):
    frame = make_fleet(4, 300, seed=8)
    _over_memory(monkeypatch, lambda y: len(y) > 1)  # the keys as one problem are over it, each alone is not
    fleet = FleetPredictor(horizon=5).fit(frame, key="endpoint")
    assert fleet.errors_ == {} and fleet.keys_ == ["k0", "k1", "k2", "k3"]
    assert_matches(fleet, frame)
    _over_memory(monkeypatch, lambda y: True)  # no key fits even alone: the fleet's error
    with pytest.raises(MemoryLimitError, match="No key of this fleet could be fitted within the limit"):
        FleetPredictor(horizon=5).fit(frame, key="endpoint")


class _FakeClock:
    """A clock that stands still until a test moves it (as tests/test_deadline.py's)."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


LIMIT = 5.0  # fake seconds


def test_a_dlinear_fleet_past_its_deadline_skips_the_window_search_as_workload_predictor(monkeypatch):
    """The batched fit read no deadline: past it, it still searched every candidate. Once the deadline has passed
    before the search, each key takes the middle candidate, as a WorkloadPredictor does, and the fleet records it."""
    from workload_predictor import _deadline, fleet as fleet_module
    from workload_predictor import predictor as predictor_module

    frame = make_fleet(2, 2000, seed=9)
    clock = _FakeClock()

    def late(function):
        def moved(*args, **kwargs):
            clock.now += 2 * LIMIT
            return function(*args, **kwargs)
        return moved

    with monkeypatch.context() as patched:
        patched.setattr(fleet_module, "split_by_key", late(fleet_module.split_by_key))
        with _deadline.limit(None, clock=clock):
            fleet = FleetPredictor(horizon=5, max_training_time=LIMIT).fit(frame, key="endpoint")
    assert fleet.time_limited_keys_ == {"k0": ("dlinear window search",), "k1": ("dlinear window search",)}
    assert fleet.time_limited_stages_ == ("dlinear window search",)
    forecast = fleet.predict()
    # An update fits k0 anew, with no deadline (by refit, or its own predictor): it leaves time_limited_keys_.
    for mode in ("refit", "incremental"):
        updated = copy.deepcopy(fleet).set_params(update_mode=mode).update(
            frame[(frame["endpoint"] == "k0")].iloc[-1:].assign(timestamp=START + pd.Timedelta("2000min")))
        assert updated.update_errors_ == {} and updated.time_limited_keys_ == {"k1": ("dlinear window search",)}
        assert updated.time_limited_stages_ == ("dlinear window search",)  # the fit's record
    for key in ("k0", "k1"):
        clock = _FakeClock()
        monkeypatch.setattr(predictor_module, "prepare_series", late(predictor_module.prepare_series))
        with _deadline.limit(None, clock=clock):
            alone = WorkloadPredictor(horizon=5, max_training_time=LIMIT).fit(
                frame[frame["endpoint"] == key].drop(columns="endpoint"))
        monkeypatch.undo()
        assert alone.time_limited_stages_ == ("dlinear window search",) and alone.model_.window_ == 96
        np.testing.assert_allclose(forecast[forecast["endpoint"] == key]["yhat"], alone.predict().yhat[:, 0],
                                   rtol=1e-9)


def test_a_dlinear_fleet_sums_a_weighted_keys_newest_windows_that_fit_and_skips_its_refit(monkeypatch):
    """A key with flagged buckets (each window holding one summed on its own) made the batched fit overrun its
    limit 20-55x. Its statistics now cover the newest origins that fit and its refit is skipped when its tail's
    pass would not fit, as WorkloadPredictor's DLinear does (the same stages, the same forecast)."""
    from workload_predictor import _deadline
    from workload_predictor.models import dlinear

    frame = make_fleet(1, 3000, seed=10)
    frame.loc[[400, 1300, 2100], "requests"] *= 50  # spikes the robust fit weighs down
    clock = _FakeClock()
    original = dlinear.WindowStats.weighted

    def paced(z, origins, window, horizon, weights, *settling):  # 1e-4 fake seconds per origin and lag
        clock.now += 1e-4 * len(origins) * (window + horizon)
        return original(z, origins, window, horizon, weights, *settling)

    monkeypatch.setattr(dlinear.WindowStats, "weighted", staticmethod(paced))
    monkeypatch.setattr(dlinear, "NEWEST_MIN_ORIGINS", 100)
    monkeypatch.setattr(dlinear, "SLOW_PACE", 1.0)  # a machine slower than any: the pace is measured
    settings = dict(horizon=5, window=24, max_training_time=LIMIT)
    with _deadline.limit(None, clock=clock):
        fleet = FleetPredictor(**settings).fit(frame, key="endpoint")
    clock.now = 0.0
    with _deadline.limit(None, clock=clock):
        alone = WorkloadPredictor(**settings).fit(frame.drop(columns="endpoint"))
    assert alone.time_limited_stages_ == ("dlinear statistics", "dlinear refit")
    assert fleet.time_limited_keys_ == {"k0": alone.time_limited_stages_}
    np.testing.assert_allclose(fleet.predict()["yhat"], alone.predict().yhat[:, 0], rtol=1e-9)


def test_a_robust_key_without_a_flag_in_its_training_part_records_the_batchs_cut_statistics(monkeypatch):
    """A key the robust fit weighs (a flagged bucket in its validation tail) but with no flag in its training part
    took the batch's newest origins when the deadline cut them, and time_limited_keys_ did not say so."""
    from workload_predictor import _deadline
    from workload_predictor.models import dlinear, dlinear_batched

    frame = make_fleet(2, 3000, seed=10)
    tail = frame.index[frame["endpoint"] == "k1"][-20]
    frame.loc[tail, "requests"] *= 1000  # flagged, in k1's validation tail only
    clock = _FakeClock()
    original = dlinear_batched.batched_window_stats

    def paced(z, origins, window, horizon):  # 1e-4 fake seconds per origin and lag
        clock.now += 1e-4 * len(origins) * (window + horizon)
        return original(z, origins, window, horizon)

    monkeypatch.setattr(dlinear_batched, "batched_window_stats", paced)
    monkeypatch.setattr(dlinear, "NEWEST_MIN_ORIGINS", 100)
    monkeypatch.setattr(dlinear, "SLOW_PACE", 1.0)  # a machine slower than any: the pace is measured
    with _deadline.limit(None, clock=clock):
        fleet = FleetPredictor(horizon=5, window=24, max_training_time=LIMIT).fit(frame, key="endpoint")
    assert "dlinear statistics" in fleet.time_limited_keys_["k0"]
    assert "dlinear statistics" in fleet.time_limited_keys_.get("k1", ())


# -- review 5: the global LSTM and the teacher within the fleet's limits and settings ------------------------------

GLOBAL_TINY = {"max_epochs": 1, "hidden_size": 4, "window": 24}


def _limits_in_force(monkeypatch) -> list:
    """The memory limit in force at each GlobalLSTM.fit (None: none)."""
    pytest.importorskip("torch")
    from workload_predictor import _memory
    from workload_predictor.models.global_lstm import GlobalLSTM

    seen, real = [], GlobalLSTM.fit

    def fit(self, *args, **kwargs):
        watch = _memory._current.get()
        seen.append(None if watch is None else watch.limit_mb)
        return real(self, *args, **kwargs)

    monkeypatch.setattr(GlobalLSTM, "fit", fit)
    return seen


def test_the_global_lstm_and_the_teacher_fit_within_the_fleets_memory_limit(monkeypatch):
    """Before: FleetPredictor(model='global_lstm') and teacher='global_lstm' fitted the GlobalLSTM with no memory
    limit at all (a 300,000-point key added 754 MiB against memory_limit_mb=200 without an error)."""
    seen = _limits_in_force(monkeypatch)
    frame = make_fleet(2, 200)
    FleetPredictor(model="global_lstm", horizon=5, random_state=0, memory_limit_mb=1234,
                   model_params=GLOBAL_TINY).fit(frame, key="endpoint")
    FleetPredictor(model="dlinear", teacher="global_lstm", horizon=5, random_state=0, memory_limit_mb=1234,
                   teacher_params=GLOBAL_TINY).fit(frame, key="endpoint")
    assert seen == [1234, 1234]


@pytest.mark.parametrize("settings", [dict(model="global_lstm", model_params={"hidden_size": 256, "max_epochs": 1}),
                                      dict(model="dlinear", teacher="global_lstm",
                                           teacher_params={"hidden_size": 256, "max_epochs": 1})])
def test_a_global_fit_over_the_memory_limit_raises_it(settings):
    """One network for every key: over the limit, no key fits, and the fit raises (before: the global fleet fitted
    every key, and the teacher's fleet distilled nothing without a word)."""
    pytest.importorskip("torch")
    with pytest.raises(MemoryLimitError, match="LSTM network"):
        FleetPredictor(horizon=5, random_state=0, memory_limit_mb=1, **settings).fit(make_fleet(2, 200),
                                                                                     key="endpoint")


def test_the_teachers_forecasts_are_checked_and_made_a_chunk_at_a_time(monkeypatch):
    """Before: the teacher forecast every origin of a student's series in one pass (its windows and features in
    float64), with no memory check."""
    pytest.importorskip("torch")
    from workload_predictor.models import distill
    from workload_predictor.models.global_lstm import GlobalLSTM

    series = [np.abs(np.sin(np.arange(600) / 7.0))[:, None] * 50 + 5 for _ in range(2)]
    model = GlobalLSTM(horizon=5, window=24, hidden_size=4, max_epochs=1, random_state=0).fit(series)
    origins = np.arange(10, 590)
    whole = distill.global_lstm_teacher(model, 0)(series[0], origins)
    asked, sizes = [], []
    real_check, real_forecast = distill.check_memory, model._forecast
    monkeypatch.setattr(distill, "check_memory", lambda step, extra_bytes=0.0: (asked.append((step, extra_bytes)),
                                                                               real_check(step, extra_bytes)))
    monkeypatch.setattr(distill, "TEACHER_CHUNK", 100)
    monkeypatch.setattr(model, "_forecast", lambda s, o, keys=None: (sizes.append(len(o[0])),
                                                                     real_forecast(s, o, keys))[1])
    chunked = distill.global_lstm_teacher(model, 0)(series[0], origins)
    np.testing.assert_allclose(chunked, whole, rtol=1e-12, equal_nan=True)
    assert max(sizes) <= 100 and sum(sizes) == np.count_nonzero(origins >= model.window_)
    assert asked[0][0] == "teacher forecasts" and asked[0][1] >= 8.0 * len(origins) * 5
    assert len(asked) == 1 + len(sizes)  # the forecasts' array, then each chunk before it is gathered


@pytest.mark.parametrize("settings, message", [
    (dict(model="global_lstm", model_params={"horizon": 7}), r"model_params\['horizon'\]=7 sets the fleet's own "
                                                             r"horizon \(FleetPredictor\(horizon=5\)\)"),
    (dict(model="global_lstm", model_params={"random_state": 3}), r"pass it as FleetPredictor\(random_state=\.\.\.\)"),
    (dict(model="global_lstm", model_params={"max_training_time": 1.0}), "fleet's own max_training_time"),
    (dict(model="global_lstm", model_params={"device": "cpu"}), "fleet's own device"),
    (dict(model="global_lstm", window=24, model_params={"window": 48}), r"model_params\['window'\]=48 sets the "
                                                                          "fleet's own window"),
    (dict(teacher="global_lstm", teacher_params={"horizon": 7}), r"teacher_params\['horizon'\]=7 sets the fleet's own "
                                                                 "horizon"),
    (dict(teacher="global_lstm", teacher_params={"n_threads": 2}), "teacher_params.* fleet's own n_threads"),
])
def test_a_fleet_setting_in_model_or_teacher_params_is_refused(monkeypatch, settings, message):
    """Before: model_params={'horizon': 7} fitted a horizon-7 network for a horizon-5 fleet (its file then failed
    to load), and teacher_params={'horizon': 7} left every key in errors_; the other fleet settings were
    overridden silently."""
    pytest.importorskip("torch")
    from workload_predictor.models.global_lstm import GlobalLSTM

    monkeypatch.setattr(GlobalLSTM, "fit", lambda *a, **k: pytest.fail("the global model was fitted"))
    settings = {**settings, "model_params" if "model_params" in settings else "teacher_params":
                {"max_epochs": 1, **settings.get("model_params", settings.get("teacher_params"))}}
    with pytest.raises(WorkloadDataError, match=message):
        FleetPredictor(horizon=5, random_state=0, **settings).fit(make_fleet(2, 200), key="endpoint")


def test_a_global_models_own_window_is_taken_when_the_fleet_gives_none():
    pytest.importorskip("torch")
    fleet = FleetPredictor(model="global_lstm", horizon=5, random_state=0, model_params=GLOBAL_TINY).fit(
        make_fleet(2, 200), key="endpoint")
    assert fleet._global.model.window_ == 24


def test_a_fleet_update_missing_a_fitted_target_names_the_column_to_add():
    frame = make_fleet(2, 200, targets=("requests", "input_tokens"))
    head = frame[frame["timestamp"] < START + pd.Timedelta("190min")]
    tail = frame[frame["timestamp"] >= START + pd.Timedelta("190min")].drop(columns="input_tokens")
    fleet = FleetPredictor(horizon=4).fit(head, key="endpoint", target=["requests", "input_tokens"])
    before = fleet.predict()
    with pytest.raises(WorkloadDataError) as refused:  # once for the frame, as fit raises it: no key's rows can do
        fleet.update(tail)
    assert "update needs every fitted target column" in str(refused.value) and "target=" not in str(refused.value)
    assert "add ['input_tokens']" in str(refused.value)
    pd.testing.assert_frame_equal(fleet.predict(), before)


@pytest.mark.parametrize("settings, message", [
    # Each update refits a key on its newest buckets, weighed equally: the forgetting asked for would never come.
    (dict(model_params={"half_life": 50.0}), r"model_params\['half_life'\]=50.0 with update_mode='refit': each "
                                              "update refits a key on its newest buckets"),
    (dict(update_mode="rolling"), r"update_mode='rolling' must be one of 'refit', 'incremental'"),
    # Before: fitted plain DLinear keys; the teacher's settings were dropped without a word.
    (dict(teacher_params={"max_epochs": 3}), r"teacher_params=\{'max_epochs': 3\} without a teacher"),
])
def test_a_fleet_refuses_settings_it_would_ignore(settings, message):
    with pytest.raises(WorkloadDataError, match=message):
        FleetPredictor(model="dlinear", horizon=5, **settings).fit(make_fleet(2, 200), key="endpoint")


def test_a_fleet_holding_an_executor_deep_copies_and_clones_sharing_it():
    """``copy.deepcopy`` of a fleet holding a ``ThreadPoolExecutor`` raised (a thread lock cannot be copied), and so
    did scikit-learn's ``clone``, which deep-copies every parameter; copies now share the running executor (a
    resource, not a setting) and copy the rest: scikit-learn calls ``__sklearn_clone__``."""
    with ThreadPoolExecutor(2) as executor:
        fleet = FleetPredictor(executor=executor, horizon=5, model_params={"alpha": 1.0}).fit(make_fleet(2, 200),
                                                                                             key="endpoint")
        copied = copy.deepcopy(fleet)
        assert copied.executor is executor and copied.model_params == {"alpha": 1.0}
        assert copied.model_params is not fleet.model_params and copied._blocks[0].values is not fleet._blocks[0].values
        pd.testing.assert_frame_equal(copied.predict(), fleet.predict())
        clone = fleet.__sklearn_clone__()
        assert clone.executor is executor and clone.get_params().keys() == fleet.get_params().keys()
        assert clone.model_params == fleet.model_params and clone.model_params is not fleet.model_params
        with pytest.raises(NotFittedError):
            clone.predict()
        pd.testing.assert_frame_equal(clone.fit(make_fleet(2, 200), key="endpoint").predict(), fleet.predict())


def test_an_incremental_update_bounds_the_state_its_keys_own_predictors_will_hold():
    """A key's own predictor holds DLinear's statistics and kept inverses (0.67 MB per target at a 168-bucket window,
    2.4 MB at 336): 10,000 keys would need 24 GB. The first incremental update checks that state, estimated from each
    key's block (within 10 % of what the predictors hold), against memory_limit_mb before fitting any."""
    from workload_predictor.fleet import own_state_bytes
    from workload_predictor.health import footprint_bytes

    frame = make_fleet(3, 1500, seed=22, targets=("requests", "input_tokens"))
    head = frame[frame["timestamp"] < START + pd.Timedelta("1499min")]
    tail = frame[frame["timestamp"] == START + pd.Timedelta("1499min")]
    fleet = FleetPredictor(horizon=10, update_mode="incremental").fit(head, key="endpoint",
                                                                      target=["requests", "input_tokens"])
    estimates = {name: own_state_bytes(block, row, 10) for block in fleet._blocks for row, name in enumerate(block.keys)}
    total_mb = sum(estimates.values()) / 2**20
    forecast = fleet.predict()
    with pytest.raises(MemoryLimitError, match=r"the own predictors of 3 keys'.*plus \d+ MiB it was about to"):
        copy.deepcopy(fleet).set_params(memory_limit_mb=total_mb / 2).update(tail)
    pd.testing.assert_frame_equal(fleet.predict(), forecast)
    fleet.update(tail)
    for name, estimate in estimates.items():
        held = footprint_bytes(fleet._predictors[name].model_)
        assert 0.9 <= held / estimate <= 1.1, (name, held, estimate)


@pytest.mark.skipif(__import__("importlib").util.find_spec("torch") is None, reason="the device check imports torch")
def test_an_incremental_update_does_not_need_the_fleets_device():
    """A DLinear fleet with device="cuda" (fitted on a GPU host, loaded on a CPU one) could not be updated: the update
    checked the device, which only the batched solve uses. A key's own predictor solves on the CPU, and so does an
    update's refit where torch sees no such device (the same forecast as a CPU fleet's); a fit still needs it."""
    import torch

    if torch.cuda.is_available():
        pytest.skip("the case is a host without CUDA")
    frame = make_fleet(2, 300, seed=23)
    head, tail = frame[frame["timestamp"] < START + pd.Timedelta("290min")], \
        frame[frame["timestamp"] >= START + pd.Timedelta("290min")]
    fleet = FleetPredictor(horizon=5, update_mode="incremental").fit(head, key="endpoint").set_params(device="cuda")
    fleet.update(tail)
    assert fleet.update_errors_ == {} and sorted(fleet._predictors) == ["k0", "k1"]
    refit = FleetPredictor(horizon=5).fit(head, key="endpoint").set_params(device="cuda")
    refit.update(tail)
    on_cpu = FleetPredictor(horizon=5).fit(head, key="endpoint")
    on_cpu.update(tail)
    assert refit.update_errors_ == {}
    pd.testing.assert_frame_equal(refit.predict(), on_cpu.predict())
    with pytest.raises(WorkloadDataError, match="device='cuda' but torch sees no CUDA device"):
        FleetPredictor(horizon=5, device="cuda").fit(head, key="endpoint")


@pytest.mark.parametrize("error", [
    pytest.param(lambda: NoKeyFittedError("no key fitted: 'a' has 3 points", {"a": WorkloadDataError("3 points")}),
                 id="NoKeyFittedError"),
    pytest.param(lambda: AllPartialError("log.csv: the log spans 2 buckets of 1 min, all partial", "1min"),
                 id="AllPartialError"),
    pytest.param(lambda: UpdateGapError("row 3 is 2,000 buckets ahead; pass max_gap=...", "row 3: 2,000 buckets"),
                 id="UpdateGapError"),
    pytest.param(lambda: MemoryLimitError("over memory_limit_mb=10"), id="MemoryLimitError"),
])
def test_every_library_error_with_its_own_fields_survives_pickling(error):
    """An error raised in a worker process (n_jobs, an executor, Dask) reaches the parent pickled. Errors whose
    __init__ takes more than the message (NoKeyFittedError's errors, AllPartialError's finding and width) were
    pickled with the message alone, and unpickling raised TypeError ("missing 1 required positional argument"):
    the caller got that instead of the library's error. The pickler's ``dispatch_table`` is empty: importing
    distributed (as the Dask tests do) makes tblib register a reducer for every exception class that exists then,
    which pickles any of them by its arguments and attributes and so passed a class whose own pickling fails."""
    original = error()
    buffer = io.BytesIO()
    pickler = pickle.Pickler(buffer)
    pickler.dispatch_table = {}  # the class's own pickling, as in a process without distributed
    pickler.dump(original)
    restored = pickle.loads(buffer.getvalue())
    assert type(restored) is type(original) and str(restored) == str(original)
    assert {k: str(v) if isinstance(v, dict) else v for k, v in vars(restored).items()} == \
        {k: str(v) if isinstance(v, dict) else v for k, v in vars(original).items()}
