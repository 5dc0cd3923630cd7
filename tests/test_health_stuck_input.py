"""health's ``stuck_input``: the newest buckets in a row in which a target repeats the bucket before's non-zero count
exactly, the longest of the targets' runs (a stuck sensor, or a stuck exporter of some targets, resending its last
counts), for a predictor, its updates, its model files, and every fleet mode."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest

from workload_predictor import FleetPredictor, WorkloadPredictor
from workload_predictor.health import DEFAULT_THRESHOLDS, health_report, stuck_rows, stuck_runs

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
    """Exact repeats are common at low counts (Poisson(1): a non-zero count repeats the one before in a sixth of the
    buckets), never 30 non-zero ones in a row (the longest in 2 million Poisson(1) draws: 12-14 over 8 seeds)."""
    values = np.random.default_rng(3).poisson(rate, 5000).astype(float)
    predictor = _predictor(model).fit(_frame(values[:4000]))
    predictor.update(_frame(values[4000:], 4000))
    metric = predictor.health()["metrics"]["stuck_input"]
    assert metric["level"] == "ok" and metric["value"] < 15


@pytest.mark.parametrize("model", ["dlinear", "dlinear_log", "lstm", "ensemble", "naive", "seasonal_naive",
                                   "moving_average", "moving_median", "exponential_smoothing", "seasonal_median"])
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
        assert max(predictor.stuck_run_) < 5  # per target: 3 at most (requests at 1 s)
        assert predictor.health()["metrics"]["stuck_input"]["level"] == "ok"


def test_each_target_has_its_own_run():
    values = np.arange(200, dtype=float)[:, None] + np.array([10.0, 500.0])
    values[150:, 0] = values[149, 0]  # requests repeat, tokens move
    assert stuck_runs(values) == (50, 0)
    values[170:, 1] = values[169, 1]
    assert stuck_runs(values) == (50, 30)
    values[150:, 0] = 0.0  # a target at 0 does not repeat a count; the other still does
    values[149, 0] = 0.0
    assert stuck_runs(values) == (0, 30)
    values[150:] = 0.0  # every target 0: idle (idle_fit's), not stuck
    values[149] = 0.0
    assert stuck_runs(values) == (0, 0)


def test_the_run_an_update_continues_is_the_run_of_all_its_buckets():
    rng = np.random.default_rng(4)
    for _ in range(40):
        values = rng.poisson(0.6, (300, 2)).astype(float)
        for _ in range(int(rng.integers(0, 4))):
            lo, length = int(rng.integers(1, 300)), int(rng.integers(1, 120))
            values[lo:lo + length] = values[lo - 1]
        cuts = np.sort(rng.choice(np.arange(1, 300), size=int(rng.integers(1, 8)), replace=False))
        runs = stuck_runs(values[:cuts[0]])
        for lo, hi in zip(cuts, [*cuts[1:], 300]):
            runs = stuck_runs(values[lo:hi], runs, values[lo - 1])
        assert runs == stuck_runs(values)


def test_the_rows_of_a_block_are_found_as_each_alone():
    rng = np.random.default_rng(5)
    values = rng.poisson(0.8, (30, 200, 2)).astype(float)
    for i in range(30):
        lo, target = int(rng.integers(1, 200)), int(rng.integers(0, 3))
        values[i, lo:, :target] = values[i, lo - 1, :target]  # the first `target` targets stick (none for 0)
    values[3] = 7.0  # every bucket repeats
    runs = stuck_rows(values)
    assert runs.shape == (30, 2)
    assert [tuple(row) for row in runs.tolist()] == [stuck_runs(values[i]) for i in range(30)]
    assert runs[3].tolist() == [199, 199]


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


TARGETS = ["requests", "input_tokens", "output_tokens"]


def _tokens_stuck(n_before: int = 400, n_stuck: int = CONTEXT, stuck: tuple = (1, 2), seed: int = 0) -> pd.DataFrame:
    """Three busy targets, then the targets at ``stuck`` (a token exporter's) repeating their last good counts for
    ``n_stuck`` buckets while the others move."""
    n = n_before + n_stuck
    values = np.stack([_busy(n, seed), _busy(n, seed + 1, 4000.0), _busy(n, seed + 2, 900.0)], axis=1)
    for j in range(3):
        if j in stuck:
            values[n_before - 2, j] = values[n_before - 1, j] + 2  # the last good count differs from the one before
            values[n_before:, j] = values[n_before - 1, j]
        else:
            values[-1, j] = values[-2, j] + 1  # it moves in the newest bucket
    return _frame(values[:, 0], input_tokens=values[:, 1], output_tokens=values[:, 2])


def test_a_token_exporter_stuck_while_requests_move_warns_naming_its_targets():
    frame = _tokens_stuck()
    predictor = _predictor().fit(frame[:400], target=TARGETS)
    assert predictor.health()["metrics"]["stuck_input"]["level"] == "ok"
    predictor.update(frame[400:])
    assert predictor.stuck_run_ == (0, CONTEXT, CONTEXT)
    metric = predictor.health()["metrics"]["stuck_input"]
    assert (metric["value"], metric["level"]) == (CONTEXT, "warning")
    tokens = frame.loc[399, ["input_tokens", "output_tokens"]].tolist()
    assert metric["detail"] == (
        f"2 of 3 targets repeated their counts 'input_tokens'={tokens[0]:g}, 'output_tokens'={tokens[1]:g} of bucket "
        f"{(START + 399 * FREQ).isoformat()} exactly in each of the newest {CONTEXT} buckets, since "
        f"{(START + 400 * FREQ).isoformat()}: a stuck sensor (an exporter of these targets resending its last "
        "counts)? Their forecasts follow the repeated counts; it clears when each of them moves")
    alerts = [a for a in predictor.check_alerts() if a["metric"] == "stuck_input"]
    assert alerts[0]["message"].startswith(f"stuck_input is {CONTEXT} (>= 30): warning; 2 of 3 targets repeated")


def test_a_stuck_target_clears_when_it_moves_and_one_row_updates_count_on():
    frame = _tokens_stuck(n_stuck=40)
    predictor = _predictor().fit(frame, target=TARGETS)
    assert predictor.stuck_run_ == (0, 40, 40)
    last = frame.iloc[-1]
    row = pd.DataFrame({"timestamp": [last["timestamp"] + FREQ], "requests": [last["requests"] + 3],
                        "input_tokens": [last["input_tokens"] + 1], "output_tokens": [last["output_tokens"]]})
    predictor.update(row)  # input_tokens moves; output_tokens still repeats
    assert predictor.stuck_run_ == (0, 0, 41)
    metric = predictor.health()["metrics"]["stuck_input"]
    assert metric["value"] == 41 and metric["detail"].startswith(
        f"1 of 3 targets repeated their counts 'output_tokens'={last['output_tokens']:g} of bucket ")
    assert "input_tokens" not in metric["detail"]
    row = row.assign(timestamp=row["timestamp"] + FREQ, requests=row["requests"] + 1)
    predictor.update(row)  # input_tokens repeats its new count once: named after the longest, with its own run
    assert predictor.stuck_run_ == (0, 1, 42)
    detail = predictor.health()["metrics"]["stuck_input"]["detail"]
    newest = row["timestamp"].iloc[0]
    assert f"since {(newest - 41 * FREQ).isoformat()}; 'input_tokens'={row['input_tokens'].iloc[0]:g} in the newest " \
           f"1, since {newest.isoformat()}: a stuck sensor" in detail
    row = row.assign(timestamp=row["timestamp"] + FREQ, requests=row["requests"] + 1,
                     input_tokens=row["input_tokens"] + 5, output_tokens=row["output_tokens"] + 7)
    predictor.update(row)  # every target moves
    metric = predictor.health()["metrics"]["stuck_input"]
    assert (metric["value"], metric["level"], metric.get("detail")) == (0.0, "ok", None)


def test_every_target_stuck_is_reported_as_one_stuck_sensor():
    frame = _tokens_stuck(stuck=(0, 1, 2))
    predictor = _predictor().fit(frame, target=TARGETS)
    assert predictor.stuck_run_ == (CONTEXT,) * 3
    metric = predictor.health()["metrics"]["stuck_input"]
    counts = ", ".join(f"{quote}={frame.loc[399, name]:g}" for quote, name in zip(
        ["'requests'", "'input_tokens'", "'output_tokens'"], TARGETS))
    assert metric["value"] == CONTEXT
    assert metric["detail"].startswith(f"every target repeated the counts {counts} of bucket "
                                       f"{(START + 399 * FREQ).isoformat()} exactly in each of the newest {CONTEXT} ")


def test_a_file_without_stuck_run_counts_the_buckets_it_keeps(tmp_path):
    frame = _tokens_stuck(n_stuck=300)
    predictor = _predictor().fit(frame[:400], target=TARGETS)
    predictor.update(frame[400:])
    assert predictor.stuck_run_ == (0, 300, 300)
    predictor.stuck_run_ = None  # as in a file saved before it was kept
    predictor.save(tmp_path / "old.wpm")
    loaded = WorkloadPredictor.load(tmp_path / "old.wpm")
    kept = len(loaded.series_.values)
    assert loaded.health()["metrics"]["stuck_input"]["value"] == kept - 1 < 300  # what series_ shows of it
    loaded.update(frame[-1:].assign(timestamp=START + 700 * FREQ))  # every target repeats
    assert loaded.stuck_run_ == (1, kept, kept)


def test_a_file_with_one_run_of_every_target_reads_it_per_target(tmp_path):
    """A file saved before the runs were kept per target holds an int, the run of every target together: each target
    whose newest count is not 0 repeated it at least that long (longer than the buckets series_ keeps, here)."""
    frame = _tokens_stuck(n_stuck=300, stuck=(0, 1, 2))
    predictor = _predictor().fit(frame[:400], target=TARGETS)
    predictor.update(frame[400:])
    assert predictor.stuck_run_ == (300, 300, 300)
    predictor.stuck_run_ = 300  # what a predictor kept before the runs were per target
    predictor.save(tmp_path / "int.wpm")
    loaded = WorkloadPredictor.load(tmp_path / "int.wpm")
    assert len(loaded.series_.values) - 1 < 300
    assert loaded.health()["metrics"]["stuck_input"]["value"] == 300
    row = frame[-1:].assign(timestamp=START + 700 * FREQ)
    loaded.update(row)  # every target repeats
    assert loaded.stuck_run_ == (301, 301, 301)
    loaded.update(row.assign(timestamp=START + 701 * FREQ, requests=row["requests"] + 1))  # requests move
    assert loaded.stuck_run_ == (0, 302, 302)
    # A target at 0 in the newest bucket repeats no count: the int gives it none.
    frame.loc[698:, "requests"] = 0.0
    predictor = _predictor().fit(frame, target=TARGETS)
    assert predictor.stuck_run_ == (0, 300, 300)
    predictor.stuck_run_ = 1  # every target equal to the bucket before's in the newest bucket alone
    predictor.save(tmp_path / "zero.wpm")
    loaded = WorkloadPredictor.load(tmp_path / "zero.wpm")
    assert loaded.health()["metrics"]["stuck_input"]["detail"].startswith(
        f"2 of 3 targets repeated their counts 'input_tokens'={frame.loc[699, 'input_tokens']:g}")


@pytest.fixture(scope="module")
def tokens_predictor():
    return _predictor().fit(_tokens_stuck(), target=TARGETS)


@pytest.mark.parametrize("run", [(0, CONTEXT), (0, CONTEXT, CONTEXT, 0), (-1, CONTEXT, CONTEXT),
                                 (0, CONTEXT, 2**60), (0, CONTEXT, 10**400), ("x", CONTEXT, CONTEXT),
                                 (0, 1.5, CONTEXT), (True, CONTEXT, CONTEXT), [0, CONTEXT, CONTEXT],
                                 (1, CONTEXT, CONTEXT), (0, CONTEXT - 1, CONTEXT), (0, CONTEXT, CONTEXT + 1), "x", 1.5,
                                 True, -1, 0, 1, 2**60],
                         ids=lambda run: repr(run)[:20])
def test_a_file_whose_stuck_runs_its_series_contradicts_is_refused_at_load(tmp_path, tokens_predictor, run):
    """Per target, a count its newest buckets agree with, one per target; or, in a file saved before they were kept
    per target, the one run of every target together (0 here: requests move)."""
    from workload_predictor.errors import ModelFileError

    predictor = tokens_predictor
    assert predictor.stuck_run_ == (0, CONTEXT, CONTEXT)
    predictor.save(tmp_path / "good.wpm")
    assert WorkloadPredictor.load(tmp_path / "good.wpm").stuck_run_ == (0, CONTEXT, CONTEXT)
    try:
        predictor.stuck_run_ = run
        predictor.save(tmp_path / "m.wpm")
    finally:
        predictor.stuck_run_ = (0, CONTEXT, CONTEXT)
    if run == 0 and not isinstance(run, bool):  # the old int it would have held: loads, read per target
        assert WorkloadPredictor.load(tmp_path / "m.wpm").health()["metrics"]["stuck_input"]["value"] == CONTEXT
        return
    with pytest.raises(ModelFileError, match=r"has stuck_run_=.*not the repeated buckets its series ends with"):
        WorkloadPredictor.load(tmp_path / "m.wpm")


def _two_keys(a: pd.DataFrame, b: pd.DataFrame, lo: int, hi: int | None = None) -> pd.DataFrame:
    return pd.concat([a[lo:hi].assign(endpoint="a"), b[lo:hi].assign(endpoint="b")])


@pytest.mark.parametrize("params", [dict(model="dlinear", window=48), dict(model="dlinear", update_mode="incremental"),
                                    dict(model="moving_average")], ids=["refit", "incremental", "per-key model"])
def test_a_fleet_key_whose_token_exporter_is_stuck_warns(params):
    a, b = _tokens_stuck(n_stuck=100), _tokens_stuck(n_stuck=100, stuck=(), seed=3)
    fleet = FleetPredictor(horizon=10, **params)
    fleet.fit(_two_keys(a, b, 0, 400), key="endpoint", target=TARGETS)
    fleet.update(_two_keys(a, b, 400))
    health = fleet.health()
    assert health.loc["a", ["stuck_input", "stuck_input_level"]].tolist() == [100.0, "warning"]
    assert health.loc["b", ["stuck_input", "stuck_input_level"]].tolist() == [0.0, "ok"]
    alerts = [x for x in fleet.check_alerts() if x["metric"] == "stuck_input"]
    assert [x["key"] for x in alerts] == ["a"]
    assert "2 of 3 targets repeated their counts 'input_tokens'=" in alerts[0]["message"]


def test_a_global_fleet_key_whose_token_exporter_is_stuck_warns():
    pytest.importorskip("torch")
    a, b = _tokens_stuck(n_before=300, n_stuck=100), _tokens_stuck(n_before=300, n_stuck=100, stuck=(), seed=3)
    fleet = FleetPredictor(model="global_lstm", horizon=5, random_state=0,
                           model_params={"max_epochs": 1, "hidden_size": 4, "window": 24})
    fleet.fit(_two_keys(a, b, 0), key="endpoint", target=TARGETS)
    health = fleet.health()
    assert health.loc["a", "stuck_input_level"] == "warning" and health.loc["a", "stuck_input"] >= 30
    assert health.loc["b", ["stuck_input", "stuck_input_level"]].tolist() == [0.0, "ok"]
