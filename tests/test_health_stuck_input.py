"""health's ``stuck_input``: the newest buckets in a row whose every target repeats the bucket before's non-zero
count exactly (a stuck sensor resending its last counts), for a predictor, its updates, and every fleet mode."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest

from workload_predictor import FleetPredictor, WorkloadPredictor
from workload_predictor.health import DEFAULT_THRESHOLDS, health_report, stuck_rows, stuck_run

START = pd.Timestamp("2024-10-27", tz="UTC")
FREQ = pd.Timedelta(seconds=10)
CONTEXT = 58  # the soak's "one context length": window 48 + horizon 10


def _busy(n: int, seed: int = 0, rate: float = 40.0) -> np.ndarray:
    """Poisson counts around ``rate`` on a 60-bucket cycle."""
    t = np.arange(n)
    return np.random.default_rng(seed).poisson(rate * (1 + 0.35 * np.sin(2 * np.pi * t / 60))).astype(float)


def _stuck(n_before: int = 400, n_stuck: int = CONTEXT, n_after: int = 0, seed: int = 0) -> np.ndarray:
    """Busy buckets, then the last good count repeated ``n_stuck`` times, then busy buckets again."""
    values = _busy(n_before + n_stuck + n_after, seed)
    values[n_before - 2] = values[n_before - 1] + 2  # the last good count differs from the one before
    values[n_before:n_before + n_stuck] = values[n_before - 1]
    if n_after:
        values[n_before + n_stuck] = values[n_before - 1] + 1  # the first bucket after it moves
    return values


def _frame(values: np.ndarray, first: int = 0, **columns) -> pd.DataFrame:
    return pd.DataFrame({"timestamp": START + FREQ * np.arange(first, first + len(values)), "requests": values,
                         **columns})


def _predictor(model: str = "dlinear") -> WorkloadPredictor:
    return WorkloadPredictor(model, horizon=10, **({"window": 48} if model == "dlinear" else {}))


def test_a_sensor_stuck_for_one_context_length_warns_naming_the_counts_and_since_when():
    values = _stuck()
    predictor = _predictor().fit(_frame(values[:400]))
    assert predictor.health()["metrics"]["stuck_input"]["level"] == "ok"
    predictor.update(_frame(values[400:], 400))  # one update, as the soak's stuck sensor
    metric = predictor.health()["metrics"]["stuck_input"]
    assert (metric["value"], metric["level"]) == (CONTEXT, "warning")
    count = f"{values[399]:g}"
    assert metric["detail"] == (
        f"every target repeated the counts 'requests'={count} of bucket {(START + 399 * FREQ).isoformat()} exactly "
        f"in each of the newest {CONTEXT} buckets, since {(START + 400 * FREQ).isoformat()}: a stuck sensor (an "
        "exporter resending its last counts)? The forecast follows the repeated counts; it clears at the first "
        "bucket that moves")
    alerts = [a for a in predictor.check_alerts() if a["metric"] == "stuck_input"]
    assert alerts[0]["message"].startswith(f"stuck_input is {CONTEXT} (>= 30): warning; every target repeated")


def test_a_fit_on_a_stuck_tail_warns_too():
    predictor = _predictor().fit(_frame(_stuck()))
    assert predictor.health()["metrics"]["stuck_input"]["value"] == CONTEXT


def test_it_clears_at_the_first_bucket_that_moves_and_counts_one_row_updates():
    values = _stuck(n_stuck=40, n_after=3)
    predictor = _predictor().fit(_frame(values[:420]))
    assert predictor.health()["metrics"]["stuck_input"]["value"] == 20
    for i in range(420, 440):  # one row an update, as a feeder sends them
        predictor.update(_frame(values[i:i + 1], i))
    assert predictor.health()["metrics"]["stuck_input"]["value"] == 40
    predictor.update(_frame(values[440:441], 440))  # a count that moves
    metric = predictor.health()["metrics"]["stuck_input"]
    assert (metric["value"], metric["level"], metric.get("detail")) == (0.0, "ok", None)
    assert [a for a in predictor.check_alerts() if a["metric"] == "stuck_input"] == []


def test_a_sensor_stuck_for_a_thousand_buckets_is_critical():
    values = _stuck(n_before=200, n_stuck=1000)
    predictor = _predictor().fit(_frame(values[:200]))
    predictor.update(_frame(values[200:1199], 200))
    assert predictor.health()["metrics"]["stuck_input"]["level"] == "warning"  # 999
    predictor.update(_frame(values[1199:], 1199))
    metric = predictor.health()["metrics"]["stuck_input"]
    assert (metric["value"], metric["level"]) == (1000, "critical")  # more than the 120 buckets series_ keeps


@pytest.mark.parametrize("rate", [1.0, 30.0], ids=["Poisson(1)", "Poisson(30)"])
@pytest.mark.parametrize("model", ["dlinear", "naive"])
def test_poisson_series_are_not_stuck(rate, model):
    """Exact repeats are common at low counts (Poisson(1): a third of the buckets repeat the one before), never 30
    non-zero ones in a row (the longest in 2 million Poisson(1) draws: 11)."""
    values = np.random.default_rng(3).poisson(rate, 5000).astype(float)
    predictor = _predictor(model).fit(_frame(values[:4000]))
    predictor.update(_frame(values[4000:], 4000))
    metric = predictor.health()["metrics"]["stuck_input"]
    assert metric["level"] == "ok" and metric["value"] < 15


@pytest.mark.parametrize("model", ["dlinear", "lstm", "ensemble", "naive", "seasonal_naive", "moving_average",
                                   "moving_median", "exponential_smoothing", "seasonal_median"])
def test_every_model_rates_a_stuck_sensor(model):
    from workload_predictor.models import registry

    assert model in registry.names()
    if model in ("lstm", "ensemble"):
        pytest.importorskip("torch")
    params = {"lstm": {"max_epochs": 1, "hidden_size": 4},
              "ensemble": {"member_params": {"lstm": {"max_epochs": 1, "hidden_size": 4}}}}.get(model)
    values = _stuck(n_before=400, n_stuck=40, n_after=2)
    predictor = WorkloadPredictor(model, horizon=10, model_params=params, random_state=0).fit(_frame(values[:420]))
    predictor.update(_frame(values[420:440], 420))
    assert predictor.health()["metrics"]["stuck_input"]["value"] == 40
    predictor.update(_frame(values[440:], 440))
    assert predictor.health()["metrics"]["stuck_input"]["value"] == 0


def test_every_registered_model_is_covered():
    from workload_predictor.models import registry

    names = test_every_model_rates_a_stuck_sensor.pytestmark[0].args[1]
    assert sorted(registry.names()) == sorted(names)


@pytest.mark.parametrize("kind", ["conv", "code"])
@pytest.mark.parametrize("freq", ["1s", "10s", "60s"])
def test_the_bundled_traces_are_not_stuck(kind, freq):
    from workload_predictor.data import bucketize
    from workload_predictor.datasets import azure_llm_trace

    frame = bucketize(azure_llm_trace(kind), freq=freq)
    repeats = np.all(frame[["requests"]].values[1:] == frame[["requests"]].values[:-1], axis=1)
    assert freq != "1s" or repeats.any()  # repeats happen (runs of at most 3), never 30 in a row
    for target in ("requests", ["requests", "input_tokens", "output_tokens"]):
        predictor = WorkloadPredictor("naive", horizon=5).fit(frame, timestamp="timestamp", target=target)
        assert predictor.stuck_run_ < 5
        assert predictor.health()["metrics"]["stuck_input"]["level"] == "ok"


def test_several_targets_are_stuck_only_when_every_target_repeats():
    values = np.arange(200, dtype=float)[:, None] + np.array([10.0, 500.0])
    values[150:, 0] = values[149, 0]  # requests repeat, tokens move
    assert stuck_run(values) == 0
    values[150:, 1] = values[149, 1]
    assert stuck_run(values) == 50
    values[150:, 0] = 0.0  # a zero count in one target while the other repeats is still a repeat
    values[149, 0] = 0.0
    assert stuck_run(values) == 50
    values[150:] = 0.0  # every target 0: idle (idle_fit's), not stuck
    values[149] = 0.0
    assert stuck_run(values) == 0
    predictor = _predictor().fit(pd.DataFrame({"timestamp": START + FREQ * np.arange(200), "requests": _busy(200),
                                               "input_tokens": np.r_[_busy(160, 1) * 10, np.full(40, 77.0)]}),
                                 target=["requests", "input_tokens"])
    assert predictor.health()["metrics"]["stuck_input"]["value"] == 0.0


def test_the_run_an_update_continues_is_the_run_of_all_its_buckets():
    rng = np.random.default_rng(4)
    for _ in range(40):
        values = rng.poisson(0.6, (300, 2)).astype(float)
        for _ in range(int(rng.integers(0, 4))):
            lo, length = int(rng.integers(1, 300)), int(rng.integers(1, 120))
            values[lo:lo + length] = values[lo - 1]
        cuts = np.sort(rng.choice(np.arange(1, 300), size=int(rng.integers(1, 8)), replace=False))
        run = stuck_run(values[:cuts[0]])
        for lo, hi in zip(cuts, [*cuts[1:], 300]):
            run = stuck_run(values[lo:hi], run, values[lo - 1])
        assert run == stuck_run(values)


def test_the_rows_of_a_block_are_found_as_each_alone():
    rng = np.random.default_rng(5)
    values = rng.poisson(0.8, (30, 200, 2)).astype(float)
    for i in range(30):
        lo = int(rng.integers(1, 200))
        values[i, lo:] = values[i, lo - 1]
    values[3] = 7.0  # every bucket repeats
    runs = stuck_rows(values)
    assert runs.tolist() == [stuck_run(values[i]) for i in range(30)]
    assert runs[3] == 199


def test_refit_fleet_keys_are_rated_apart(caplog):
    a, b = _busy(600), _busy(600, seed=2)
    a[460:] = a[459]  # a's sensor sticks at bucket 460; b keeps moving
    fleet = FleetPredictor("dlinear", horizon=10, window=48)
    fleet.fit(pd.concat([_frame(a[:400], endpoint="a"), _frame(b[:400], endpoint="b")]), key="endpoint")
    fleet.update(pd.concat([_frame(a[400:], 400, endpoint="a"), _frame(b[400:], 400, endpoint="b")]))
    health = fleet.health()
    assert (health.loc["a", "stuck_input"], health.loc["a", "stuck_input_level"]) == (140.0, "warning")
    assert (health.loc["b", "stuck_input"], health.loc["b", "stuck_input_level"]) == (0.0, "ok")
    with caplog.at_level(logging.WARNING, logger="workload_predictor.health"):
        alerts = [x for x in fleet.check_alerts() if x["metric"] == "stuck_input"]
    assert [x["key"] for x in alerts] == ["a"]
    assert alerts[0]["message"].startswith("key 'a': stuck_input is 140 (>= 30): warning; every target repeated")
    fleet.update(pd.concat([_frame(np.full(500, a[459]), 600, endpoint="a"), _frame(_busy(500, 9), 600, endpoint="b")]))
    assert fleet.health().loc["a", "stuck_input"] == 399  # all of the 400 buckets it is refitted on
    alerts = [x for x in fleet.check_alerts() if x["metric"] == "stuck_input"]
    assert "(every bucket held: it may have begun before)" in alerts[0]["message"]


@pytest.mark.parametrize("params", [dict(model="dlinear", update_mode="incremental"),
                                    dict(model="moving_average")], ids=["incremental", "per-key model"])
def test_a_fleet_key_with_its_own_predictor_rates_its_input(params):
    a, b = _stuck(n_before=400, n_stuck=100), _busy(500, seed=2)
    fleet = FleetPredictor(horizon=10, **params)
    fleet.fit(pd.concat([_frame(a[:400], endpoint="a"), _frame(b[:400], endpoint="b")]), key="endpoint")
    fleet.update(pd.concat([_frame(a[400:], 400, endpoint="a"), _frame(b[400:], 400, endpoint="b")]))
    health = fleet.health()
    assert health.loc["a", ["stuck_input", "stuck_input_level"]].tolist() == [100.0, "warning"]
    assert health.loc["b", ["stuck_input", "stuck_input_level"]].tolist() == [0.0, "ok"]


def test_a_global_fleet_rates_each_keys_input():
    pytest.importorskip("torch")
    a = _stuck(n_before=300, n_stuck=100)
    frame = pd.concat([_frame(a, endpoint="a"), _frame(_busy(400, seed=3), endpoint="b")])
    fleet = FleetPredictor(model="global_lstm", horizon=5, random_state=0,
                           model_params={"max_epochs": 1, "hidden_size": 4, "window": 24}).fit(frame, key="endpoint")
    health = fleet.health()
    assert health.loc["a", "stuck_input_level"] == "warning" and health.loc["a", "stuck_input"] >= 30
    assert health.loc["b", ["stuck_input", "stuck_input_level"]].tolist() == [0.0, "ok"]


@pytest.mark.parametrize("value, level", [(0, "ok"), (29, "ok"), (30, "warning"), (999, "warning"),
                                          (1000, "critical"), (None, "unknown")])
def test_stuck_input_levels_at_the_default_thresholds(value, level):
    assert DEFAULT_THRESHOLDS["stuck_input"] == (30.0, 1000.0)
    assert health_report({"stuck_input": value})["metrics"]["stuck_input"]["level"] == level


def test_stuck_input_thresholds_can_be_overridden():
    predictor = _predictor().fit(_frame(_stuck()))
    assert predictor.health(thresholds={"stuck_input": (60, 120)})["metrics"]["stuck_input"]["level"] == "ok"
    assert predictor.health(thresholds={"stuck_input": (10, 58)})["metrics"]["stuck_input"]["level"] == "critical"
    assert predictor.health(measurements={"stuck_input": 0})["metrics"]["stuck_input"]["level"] == "ok"


def test_a_file_without_stuck_run_counts_the_buckets_it_keeps(tmp_path):
    values = _stuck(n_before=400, n_stuck=300)
    predictor = _predictor().fit(_frame(values[:400]))
    predictor.update(_frame(values[400:], 400))
    assert predictor.stuck_run_ == 300
    predictor.stuck_run_ = None  # as in a file saved before it was kept
    predictor.save(tmp_path / "old.wpm")
    loaded = WorkloadPredictor.load(tmp_path / "old.wpm")
    kept = len(loaded.series_.values)
    assert loaded.health()["metrics"]["stuck_input"]["value"] == kept - 1 < 300  # what series_ shows of it
    loaded.update(_frame(values[-1:], 700))
    assert loaded.stuck_run_ == kept


@pytest.mark.parametrize("run", [-1, "x", 1.5, True, 5, 57, 59])
def test_a_file_whose_stuck_run_its_series_contradicts_is_refused_at_load(tmp_path, run):
    from workload_predictor.errors import ModelFileError

    predictor = _predictor().fit(_frame(_stuck()))
    assert predictor.stuck_run_ == CONTEXT
    predictor.save(tmp_path / "good.wpm")
    assert WorkloadPredictor.load(tmp_path / "good.wpm").stuck_run_ == CONTEXT
    predictor.stuck_run_ = run
    predictor.save(tmp_path / "m.wpm")
    with pytest.raises(ModelFileError, match=r"has stuck_run_=.*not the repeated buckets its series ends with"):
        WorkloadPredictor.load(tmp_path / "m.wpm")
