"""An LSTM fitted on an idle series (a new endpoint's history) weighs its network's correction on validation windows
where it is 0: its share is 0, and updates leave the share as fitted. Woken by load, it forecasts as its DLinear base
until a refit weighs the network on busy buckets; ``health``'s ``idle_fit`` warns of it until then."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from workload_predictor import WorkloadPredictor

IDLE, BUSY, PERIOD = 200, 300, 48
SMALL = {"hidden_size": 8, "max_epochs": 2}


def _frame(seed: int = 0) -> pd.DataFrame:
    """IDLE zeros, then BUSY buckets of Poisson(20) with a cycle of PERIOD buckets."""
    rng = np.random.default_rng(seed)
    cycle = 20 * (1 + 0.5 * np.sin(2 * np.pi * np.arange(BUSY) / PERIOD))
    values = np.concatenate([np.zeros(IDLE), rng.poisson(cycle)]).astype(float)
    index = pd.Timestamp("2026-01-01", tz="UTC") + pd.Timedelta(minutes=10) * np.arange(len(values))
    return pd.DataFrame({"timestamp": index, "requests": values})


@pytest.fixture(scope="module")
def woken() -> tuple[WorkloadPredictor, pd.DataFrame]:
    frame = _frame()
    predictor = WorkloadPredictor("lstm", horizon=10, random_state=0, model_params=SMALL).fit(frame.iloc[:IDLE])
    predictor.update(frame.iloc[IDLE:IDLE + BUSY // 2]).update(frame.iloc[IDLE + BUSY // 2:])
    return predictor, frame


def test_a_woken_lstm_whose_network_counts_for_nothing_warns_until_a_refit(woken) -> None:
    # 300 busy buckets after 200 idle: 40 % of the buckets idle, which a DLinear rates ok. The LSTM's share is still
    # the idle fit's 0 (its network counts for nothing, and updates leave it untrained); a refit on the same buckets
    # weighs it (share 0.53 here: on 600 idle buckets then a daily cycle, a refit after 300 or 600 busy buckets had a
    # MAE 1.7-11 % below the woken LSTM's over the buckets after it, docs/health.md).
    predictor, frame = woken
    assert predictor.model_.correction_share_ == 0.0
    metric = predictor.health()["metrics"]["idle_fit"]
    assert metric["level"] == "warning", metric
    assert "until a refit" in metric["detail"] and "300 busy buckets of 500" in metric["detail"]
    twin = WorkloadPredictor("dlinear", horizon=10).fit(frame.iloc[:IDLE]).update(frame.iloc[IDLE:])
    assert twin.health()["metrics"]["idle_fit"]["level"] == "ok"
    refit = WorkloadPredictor("lstm", horizon=10, random_state=0, model_params=SMALL).fit(frame)
    assert refit.model_.correction_share_ > 0.0
    assert refit.health()["metrics"]["idle_fit"]["value"] == pytest.approx(IDLE / (IDLE + BUSY))


def test_the_warning_survives_save_and_load(woken, tmp_path) -> None:
    predictor, _ = woken
    loaded = WorkloadPredictor.load(predictor.save(tmp_path / "woken.wpm"))
    assert loaded.health()["metrics"]["idle_fit"] == predictor.health()["metrics"]["idle_fit"]


def test_an_lstm_fitted_on_a_busy_series_rates_as_before(woken) -> None:
    # A busy fit's correction is weighed on evidence (t not 0), whatever its share: idle_fit counts the idle buckets.
    _, frame = woken
    busy = frame.iloc[IDLE:].reset_index(drop=True)
    predictor = WorkloadPredictor("lstm", horizon=10, random_state=0, model_params=SMALL).fit(busy)
    assert predictor.model_.correction_t_ != 0.0
    metric = predictor.health()["metrics"]["idle_fit"]
    assert (metric["value"], metric["level"]) == (0.0, "ok")


def _woken_on(model: str, frame: pd.DataFrame, **params) -> WorkloadPredictor:
    predictor = WorkloadPredictor(model, horizon=10, random_state=0, model_params=params or None)
    return predictor.fit(frame.iloc[:IDLE]).update(frame.iloc[IDLE:])


def test_an_lstm_fitted_on_a_nonzero_constant_warns_as_an_idle_one() -> None:
    # A series at 7 throughout (an exporter resending one count) weighs the correction on windows where it is 0, as
    # zeros do: share 0 and t 0, and updates leave them. Once load arrives, nothing else warns (stuck_input clears).
    frame = _frame()
    frame.loc[: IDLE - 1, "requests"] = 7.0
    predictor = _woken_on("lstm", frame, **SMALL)
    assert (predictor.model_.correction_share_, predictor.model_.correction_t_) == (0.0, 0.0)
    metrics = predictor.health()["metrics"]
    metric = metrics["idle_fit"]
    assert (metric["value"], metric["level"]) == (1.0, "warning"), metric
    assert "constant throughout" in metric["detail"] and "until a refit" in metric["detail"]
    assert metrics["stuck_input"]["level"] == "ok"
    twin = _woken_on("dlinear", frame)
    assert twin.health()["metrics"]["idle_fit"]["level"] == "ok"


def test_an_ensembles_lstm_member_fitted_idle_warns_as_the_lstm_does() -> None:
    # The member's share is the idle fit's 0 and updates leave it: it forecasts as its DLinear base (the DLinear
    # member's twin), so the ensemble forecasts without the network until a refit. On 600 idle buckets then the
    # daily cycle (4 seeds), a refit after 300 busy buckets had a MAE 0.9-7.2 % below the woken ensemble's.
    frame = _frame()
    predictor = _woken_on("ensemble", frame, member_params={"lstm": SMALL})
    member = predictor.model_.members_["lstm"]
    assert (member.correction_share_, member.correction_t_) == (0.0, 0.0)
    metric = predictor.health()["metrics"]["idle_fit"]
    assert (metric["value"], metric["level"]) == (1.0, "warning"), metric
    assert "ensemble's LSTM member" in metric["detail"] and "300 busy buckets of 500" in metric["detail"]
