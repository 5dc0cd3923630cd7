"""A counter's run among a fit's validation windows is read as the forecast reads it: from where its climb began
(:func:`workload_predictor.anomaly.with_leads`) at its reference median, in the windows' inputs and targets, by a
predictor's model (:func:`workload_predictor.models.base.evaluated_series`) and by a batched DLinear fleet's keys
(their validation and the naive error ``relative_error`` measures against), as an update's windows and a predictor's
``noise_scale_`` read it.

The series: Poisson(30) counts in 10 s buckets, 600 fitted, a counter exported for 9 buckets (its running total) from
bucket 520, among the validation windows (origins 510-590 at horizon 10). The rule flags it from its 5th bucket; its
first 4 climb into the flag unflagged (up to 4 times the level). Read raw in the validation windows' inputs, they made
the interval 14-22 % wider than a clean twin's and the confidence 0.026-0.049 lower (2 draws), for the 40-60 buckets
those windows stayed among the validation windows; read from where the climb began, within 3.4 % and 0.006. A fleet key
rated 0.76 against the predictor's 0.89 on the same series (seed 0).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from workload_predictor import FleetPredictor, WorkloadPredictor
from workload_predictor.anomaly import settled_series
from workload_predictor.predictor import _settled_inputs

LEVEL, N, AT, RUN, HORIZON = 30, 600, 520, 9, 10
FREQ, START = pd.Timedelta("10s"), pd.Timestamp("2024-01-01", tz="UTC")
ENSEMBLE = dict(model="ensemble", model_params={"members": ("dlinear", "naive", "moving_average")})


def _counter(seed: int, at: int = AT) -> np.ndarray:
    values = np.random.default_rng(seed).poisson(LEVEL, N).astype(float)
    values[at:at + RUN] = np.cumsum(values[at:at + RUN])
    return values


def _frame(values: np.ndarray) -> pd.DataFrame:
    return pd.DataFrame({"timestamp": START + np.arange(len(values)) * FREQ, "requests": values})


def _flags(predictor: WorkloadPredictor) -> dict[tuple[int, int], float]:
    """The predictor's flags as ``{(position in its series, 0): reference median}`` (it keeps every bucket here)."""
    rows = np.flatnonzero(~np.isnan(predictor.input_flags_[:, 0]))
    return {(int(row) + N - len(predictor.input_flags_), 0): float(predictor.input_flags_[row, 0]) for row in rows}


@pytest.mark.parametrize("settings", [dict(model="dlinear"), ENSEMBLE], ids=["dlinear", "ensemble"])
def test_a_fit_reads_a_counters_run_among_its_validation_windows_as_its_twin_at_the_median(settings):
    # The twin: the same series with the run, from where its climb began, at its reference median (as the forecast
    # reads it). Its fit flags nothing; the counter's fit forecasts each validation window from the same inputs and
    # scores it on the same targets, and so calibrates the interval and the confidence as the twin on the windows the
    # counter's fit keeps (those whose targets hold the run are left out).
    values = _counter(0)
    predictor = WorkloadPredictor(horizon=HORIZON, **settings).fit(_frame(values))
    flags = _flags(predictor)
    assert min(flags)[0] > AT  # the climb's first buckets are not flagged by the rule
    twin_values = settled_series(values[:, None], flags)[:, 0]
    assert (twin_values[AT:AT + RUN] < 2 * LEVEL).all()  # the climb read from its start
    twin = WorkloadPredictor(horizon=HORIZON, **settings).fit(_frame(twin_values))
    assert twin.input_flags_ is None
    model, twin_model = predictor.model_, twin.model_
    assert model.validation_origins_[0] < AT < model.validation_origins_[-1]
    np.testing.assert_array_equal(model.validation_actual_, twin_model.validation_actual_)
    np.testing.assert_array_equal(model.validation_forecast_, twin_model.validation_forecast_)
    same = twin._calibration(twin_model, left_out=predictor.interval_left_out_)
    np.testing.assert_array_equal(predictor.interval_halfwidth_, same["interval_halfwidth_"])
    assert predictor.confidence_ == same["confidence_"]


@pytest.mark.parametrize("seed", [0, 1])
def test_a_fleet_key_with_a_counters_run_rates_as_a_predictor_on_its_series(seed):
    # A batched DLinear fleet of 2 keys, key 1 holding the counter: its validation and the naive error it is measured
    # against read the run from where its climb began, as a predictor fitted on key 1's series reads them; so does a
    # block that finds the run again by scanning its keys (a file saved before the fit's series were kept).
    series = [np.random.default_rng(10 + seed).poisson(LEVEL, N).astype(float), _counter(seed)]
    fleet = FleetPredictor(horizon=HORIZON).fit(pd.concat([_frame(v).assign(key=k) for k, v in enumerate(series)]))
    predictor = WorkloadPredictor(horizon=HORIZON).fit(_frame(series[1]))
    block = fleet._blocks[0]
    row = block.keys.index(1)
    np.testing.assert_allclose(block.validation_mae[row], predictor.validation_mae_, rtol=1e-12)  # test_fleet's
    naive, _ = block.held_noise()[row]
    np.testing.assert_array_equal(naive, predictor.noise_scale_.max(axis=0))
    rated = fleet.health()["relative_error"][1]
    assert rated == pytest.approx(predictor.health()["metrics"]["relative_error"]["value"], rel=1e-12)
    vars(block).pop("_held")
    vars(block).pop("_relative")
    np.testing.assert_array_equal(block.held_noise()[row][0], naive)
    assert block.relative_error(row, ["requests"])[0] == pytest.approx(rated, rel=1e-12)


def test_a_fleet_keys_forecast_reads_a_counters_run_in_its_inputs_as_a_predictor_does():
    # The counter ends 21 buckets before the newest, within the key's 120-bucket input window: the block's settled
    # inputs read it from where its climb began, as a predictor on the key's series reads its context.
    series = [np.random.default_rng(10).poisson(LEVEL, N).astype(float), _counter(0, at=570)]
    fleet = FleetPredictor(horizon=HORIZON).fit(pd.concat([_frame(v).assign(key=k) for k, v in enumerate(series)]))
    predictor = WorkloadPredictor(horizon=HORIZON).fit(_frame(series[1]))
    block = fleet._blocks[0]
    row = block.keys.index(1)
    window = int(block.window[row])
    assert window == predictor.window_ and N - window < 570
    expected = _settled_inputs(vars(predictor))
    assert expected[-window:][570 - N, 0] < 2 * LEVEL  # the climb's first bucket, read at the run's median
    np.testing.assert_array_equal(block.settled_inputs()[row], expected[-window:])


@pytest.mark.parametrize("level, at, step", [(LEVEL, 100, 0), (0.2, 560, 1)], ids=["training-part", "sparse"])
def test_a_fleet_key_whose_only_flags_are_a_counters_fits_as_a_predictor_on_its_series(level, at, step):
    # A counter is flagged 2 floors above the buckets before its run, within the plain rule's 10: a key whose range is
    # within 10 floors may hold one. Poisson(30) with a 9-bucket counter in the training part (its range 8 floors): the
    # fleet's fit weighed none of its windows, its validation error 4.476 against the predictor's 4.187. A sparse key
    # (Poisson(0.2)) whose counter climbs by the counts + 1 to 10: the fleet scanned no key whose range is within 10,
    # its validation error 1.051 against 0.324.
    values = np.random.default_rng(0).poisson(level, N).astype(float)
    values[at:at + RUN] = np.cumsum(values[at:at + RUN] + step)
    series = [np.random.default_rng(10).poisson(level, N).astype(float), values]
    fleet = FleetPredictor(horizon=HORIZON).fit(pd.concat([_frame(v).assign(key=k) for k, v in enumerate(series)]))
    predictor = WorkloadPredictor(horizon=HORIZON).fit(_frame(values))
    assert len(predictor.input_anomalies_)  # the counter is flagged
    block = fleet._blocks[0]
    row = block.keys.index(1)
    np.testing.assert_allclose(block.validation_mae[row], predictor.validation_mae_, rtol=1e-12)  # test_fleet's
    forecast = fleet.predict()
    np.testing.assert_allclose(forecast[forecast["key"] == 1]["yhat"], predictor.predict().yhat[:, 0],
                               rtol=1e-9, atol=1e-9)  # test_fleet's
    assert fleet.health()["relative_error"][1] == pytest.approx(
        predictor.health()["metrics"]["relative_error"]["value"], rel=1e-12)


def test_a_refit_key_counts_a_counter_among_the_buckets_its_refit_skips_as_a_predictor_does():
    # An update of 800 buckets to a sparse key of 600 (Poisson(0.2)): its refit reads the newest 600, and the 200
    # before them are scanned for the flags it counts. A counter among them climbs by the counts + 1 to 10: the fleet
    # counted none of its flags (it scanned no key whose range is within 10), the predictor 4.
    rng = np.random.default_rng(2)
    series = [np.random.default_rng(20).poisson(0.2, 1400).astype(float), rng.poisson(0.2, 1400).astype(float)]
    series[1][700:708] = np.cumsum(series[1][700:708] + 1)
    assert np.ptp(series[1]) <= 10

    def frame(values: np.ndarray, start: int = 0) -> pd.DataFrame:
        return pd.DataFrame({"timestamp": START + (start + np.arange(len(values))) * FREQ, "requests": values})

    fleet = FleetPredictor(horizon=HORIZON, update_mode="refit")
    fleet.fit(pd.concat([frame(v[:N]).assign(key=k) for k, v in enumerate(series)]))
    fleet.update(pd.concat([frame(v[N:], N).assign(key=k) for k, v in enumerate(series)]))
    predictor = WorkloadPredictor(horizon=HORIZON).fit(frame(series[1][:N]))
    predictor.update(frame(series[1][N:], N))
    counted = predictor.health()["metrics"]["input_anomaly"]["value"]
    assert counted > 0
    assert fleet.health()["input_anomaly"][1] == counted
