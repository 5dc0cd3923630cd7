"""health's ``idle_fit``: the share of the buckets a fit rests on that lie in idle stretches (an outage written as
zeros), for a predictor refitted after an outage, its updates, and every fleet mode."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest

from workload_predictor import FleetPredictor, WorkloadPredictor
from workload_predictor.errors import WorkloadDataError
from workload_predictor.health import IDLE_RUN, health_report, idle_span

START = pd.Timestamp("2024-10-27", tz="UTC")
FREQ = pd.Timedelta(seconds=10)


def _busy(n: int, seed: int = 0) -> np.ndarray:
    """~40 requests per bucket on a 60-bucket cycle, Poisson noise."""
    t = np.arange(n)
    return np.random.default_rng(seed).poisson(40 + 15 * np.sin(2 * np.pi * t / 60)).astype(float)


def _frame(values: np.ndarray, first: int = 0, **columns) -> pd.DataFrame:
    return pd.DataFrame({"timestamp": START + FREQ * np.arange(first, first + len(values)), "requests": values,
                         **columns})


def _outage(n_before: int = 400, n_zeros: int = 940, n_after: int = 60) -> np.ndarray:
    """Busy buckets, an outage written as zeros, then the busy buckets since."""
    values = _busy(n_before + n_zeros + n_after)
    values[n_before:n_before + n_zeros] = 0.0
    return values


def _predictor(model: str = "dlinear", **params) -> WorkloadPredictor:
    return WorkloadPredictor(model, horizon=10, **({"window": 48} if model == "dlinear" else {}), **params)


def test_a_predictor_refitted_after_an_outage_warns_that_its_fit_rests_on_the_idle_stretch():
    values = _outage()
    predictor = _predictor().fit(_frame(values[-1000:], first=len(values) - 1000))  # the newest 1000: 940 zeros
    metric = predictor.health()["metrics"]["idle_fit"]
    assert (metric["value"], metric["level"]) == (0.94, "warning")
    first, last = START + 400 * FREQ, START + 1339 * FREQ
    assert metric["detail"] == (
        f"940 of the 1000 buckets the fit rests on lie in idle stretches (every target 0 for >= 48 buckets in a row), "
        f"the newest from {first.isoformat()} to {last.isoformat()}; its forecast and interval rest on the 60 busy "
        "ones")
    alerts = [a for a in predictor.check_alerts() if a["metric"] == "idle_fit"]
    assert alerts[0]["message"].startswith("idle_fit is 0.94 (>= 0.75): warning; 940 of the 1000 buckets")


def test_the_warning_clears_once_busy_buckets_outweigh_the_stretch():
    values = _outage(n_after=460)
    predictor = _predictor().fit(_frame(values[400:1400], first=400))  # 940 zeros, then 60 busy buckets
    assert predictor.health()["metrics"]["idle_fit"]["level"] == "warning"
    predictor.update(_frame(values[1400:1650], first=1400))  # a DLinear update absorbs them as a refit on all would
    assert predictor.health()["metrics"]["idle_fit"]["value"] == pytest.approx(940 / 1250)
    assert predictor.health()["metrics"]["idle_fit"]["level"] == "warning"
    predictor.update(_frame(values[1650:1660], first=1650))
    metric = predictor.health()["metrics"]["idle_fit"]
    assert (metric["value"], metric["level"]) == (pytest.approx(940 / 1260), "ok")
    assert "940 of the 1260 buckets" in metric["detail"]  # still named: the fit still holds it
    assert [a for a in predictor.check_alerts() if a["metric"] == "idle_fit"] == []


@pytest.mark.parametrize("model", ["dlinear", "naive", "moving_average"])
def test_a_quiet_poisson_series_is_not_idle(model):
    """A Poisson(0.5) series is 0 in six buckets of ten, in runs far shorter than IDLE_RUN (a naive model's context
    is one bucket: the run an idle stretch needs is not)."""
    values = np.random.default_rng(1).poisson(0.5, 3000).astype(float)
    assert (values == 0).mean() > 0.55
    predictor = _predictor(model).fit(_frame(values))
    metric = predictor.health()["metrics"]["idle_fit"]
    assert (metric["value"], metric["level"], metric.get("detail")) == (0.0, "ok", None)


def test_a_run_shorter_than_the_window_or_idle_run_is_not_an_idle_stretch():
    values = _busy(600)
    values[100:100 + IDLE_RUN - 1] = 0.0  # one bucket short of a stretch (the window, 48, is longer still)
    values[300:348] = 0.0  # exactly the window: a stretch
    predictor = _predictor().fit(_frame(values))
    assert predictor.health()["metrics"]["idle_fit"]["value"] == pytest.approx(48 / 600)


def test_an_endpoint_idle_now_without_rows_is_stale_not_idle():
    values = _busy(600)
    fleet = FleetPredictor("dlinear", horizon=10, window=48).fit(_frame(values, endpoint="a"), key="endpoint")
    health = fleet.health(now=START + 700 * FREQ)  # no rows for 100 buckets
    assert (health.loc["a", "stale_buckets_level"], health.loc["a", "idle_fit"], health.loc["a", "idle_fit_level"]) \
        == ("critical", 0.0, "ok")


def test_a_refit_fleet_key_after_a_day_of_zeros_warns_until_the_zeros_leave_its_span(caplog):
    """The soak's "day of zeros": a refit key is refitted on its newest buckets, as many as it was fitted on."""
    values = _busy(2000)
    values[400:1400] = 0.0  # longer than the 400 buckets each key is fitted on
    other = _busy(2000, seed=2)
    fleet = FleetPredictor("dlinear", horizon=10, window=48)
    fleet.fit(pd.concat([_frame(values[:400], endpoint="a"), _frame(other[:400], endpoint="b")]), key="endpoint")

    def update(lo, hi):
        fleet.update(pd.concat([_frame(values[lo:hi], lo, endpoint="a"), _frame(other[lo:hi], lo, endpoint="b")]))

    update(400, 1400)
    health = fleet.health()
    assert (health.loc["a", "idle_fit"], health.loc["a", "idle_fit_level"]) == (1.0, "warning")  # never critical
    assert (health.loc["b", "idle_fit"], health.loc["b", "idle_fit_level"]) == (0.0, "ok")
    update(1400, 1420)
    assert fleet.health().loc["a", "idle_fit"] == pytest.approx(380 / 400)
    with caplog.at_level(logging.WARNING, logger="workload_predictor.health"):
        alerts = [a for a in fleet.check_alerts() if a["metric"] == "idle_fit"]
    assert [a["key"] for a in alerts] == ["a"]
    assert alerts[0]["message"].startswith("key 'a': idle_fit is 0.95 (>= 0.75): warning; 380 of the 400 buckets")
    update(1420, 1500)  # 100 busy buckets of 400: the stretch is 300, no longer 3/4 of the span
    assert (fleet.health().loc["a", "idle_fit"], fleet.health().loc["a", "idle_fit_level"]) == (0.75, "warning")
    update(1500, 1501)
    assert (fleet.health().loc["a", "idle_fit"], fleet.health().loc["a", "idle_fit_level"]) == (299 / 400, "ok")
    update(1501, 1800)
    assert fleet.health().loc["a", "idle_fit"] == 0.0  # the zeros left its span


@pytest.mark.parametrize("params", [dict(model="dlinear", update_mode="incremental"),
                                    dict(model="moving_average")], ids=["incremental", "per-key model"])
def test_a_fleet_key_with_its_own_predictor_rates_its_fit(params):
    values = _outage(n_before=0, n_zeros=500, n_after=100)
    fleet = FleetPredictor(horizon=10, **params).fit(_frame(values[:400], endpoint="a"), key="endpoint")
    assert fleet.health().loc["a", "idle_fit_level"] == "warning"  # its 400 fitted buckets are all zeros
    fleet.update(_frame(values[400:], 400, endpoint="a"))
    assert fleet.health().loc["a", "idle_fit"] == pytest.approx(500 / 600)


def test_a_global_fleet_does_not_rate_idle_fit():
    pytest.importorskip("torch")
    values = _outage(n_before=100, n_zeros=200, n_after=100)
    frame = pd.concat([_frame(values, endpoint="a"), _frame(_busy(400, seed=3), endpoint="b")])
    fleet = FleetPredictor(model="global_lstm", horizon=5, random_state=0,
                           model_params={"max_epochs": 1, "hidden_size": 4, "window": 24}).fit(frame, key="endpoint")
    assert (fleet.health()["idle_fit_level"] == "unknown").all()


def test_the_span_an_update_continues_is_the_span_of_all_its_buckets():
    """An update reads only its own buckets; runs that go on across updates are counted as one."""
    rng = np.random.default_rng(5)
    for _ in range(40):
        n = int(rng.integers(50, 400))
        values = _busy(n, seed=int(rng.integers(1000)))
        for _ in range(int(rng.integers(0, 4))):  # a few zero runs of any length
            lo = int(rng.integers(0, n))
            values[lo:lo + int(rng.integers(1, 120))] = 0.0
        values = values[:, None]
        cuts = sorted(rng.choice(np.arange(1, n), size=int(rng.integers(1, 6)), replace=False))
        pieces = np.split(values, cuts)
        span = idle_span(pieces[0], 30)
        for piece in pieces[1:]:
            span = idle_span(piece, 30, span)
        assert span == idle_span(values, 30)


def test_a_bucket_is_idle_only_when_every_target_is_zero():
    values = np.zeros((100, 2))
    values[:, 1] = 3.0
    assert idle_span(values, 30)[1] == 0
    values[40:, 1] = 0.0
    assert idle_span(values, 30) == (100, 60, 60, 40, 99)


@pytest.mark.parametrize("value, level", [(0.0, "ok"), (0.7499, "ok"), (0.75, "warning"), (1.0, "warning"),
                                          (None, "unknown"), (float("nan"), "unknown")])
def test_idle_fit_levels_at_the_default_thresholds(value, level):
    metric = health_report({"idle_fit": value})["metrics"]["idle_fit"]
    assert (metric["level"], metric["warning"], metric["critical"]) == (level, 0.75, 1.0)


def test_idle_fit_is_critical_only_above_its_critical_threshold():
    thresholds = {"idle_fit": (0.5, 0.9)}
    assert health_report({"idle_fit": 0.9}, thresholds)["metrics"]["idle_fit"]["level"] == "warning"
    report = health_report({"idle_fit": 0.95, "idle_fit_detail": "since 2am"}, thresholds)
    assert report["level"] == "critical"
    from workload_predictor.health import log_alerts

    assert log_alerts(report)[0]["message"] == "idle_fit is 0.95 (> 0.9): critical; since 2am"


@pytest.mark.parametrize("measurements", [{"idle_fit": 1.5}, {"idle_fit": -0.1}, {"idle_fit": float("inf")},
                                          {"idle_fit": 75}])
def test_an_idle_fit_measurement_outside_a_share_is_refused(measurements):
    with pytest.raises(WorkloadDataError, match=r"idle_fit is a share of buckets, between 0 and 1"):
        health_report(measurements)


@pytest.mark.parametrize("pair", [(75, 100), (0.75, 1.5), (-0.1, 1.0)])
def test_idle_fit_thresholds_outside_a_share_are_refused(pair):
    with pytest.raises(WorkloadDataError, match=r"idle_fit is a share of buckets, between 0 and 1"):
        health_report({"idle_fit": 0.5}, {"idle_fit": pair})


def test_a_file_without_idle_span_counts_the_buckets_it_keeps(tmp_path):
    values = _outage()
    predictor = _predictor().fit(_frame(values[-1000:], first=len(values) - 1000))
    predictor.save(tmp_path / "m.wpm")
    loaded = WorkloadPredictor.load(tmp_path / "m.wpm")
    assert loaded.health()["metrics"]["idle_fit"]["value"] == 0.94
    for bad in (None, "x", (1000, 2000, 0, 0, 10)):  # absent, or not a span (a file from elsewhere)
        loaded.idle_span_ = bad
        assert loaded.health()["metrics"]["idle_fit"]["value"] == 0.94  # counted again from series_


def _alone(values: np.ndarray, window: int) -> tuple[int, int, int]:
    """A row's idle buckets and its newest stretch's first and last position, from :func:`idle_span` of it alone."""
    _, idle, _, first, last = idle_span(values, max(int(window), IDLE_RUN))
    return idle, first, last


def test_the_rows_of_a_block_are_found_as_each_alone():
    from workload_predictor.health import idle_rows

    rng = np.random.default_rng(6)
    values = rng.poisson(0.3, (30, 500, 2)).astype(float)
    for i in range(30):
        for _ in range(int(rng.integers(0, 4))):
            lo = int(rng.integers(0, 500))
            values[i, lo:lo + int(rng.integers(1, 200))] = 0.0
    windows = rng.integers(1, 80, 30)
    idle, first, last = idle_rows(values, windows)
    assert [(int(idle[i]), int(first[i]), int(last[i])) for i in range(30)] == \
        [_alone(values[i], windows[i]) for i in range(30)]
    assert idle.any()


@pytest.mark.parametrize("bad", [None, -1, "x", (1, 2)])
def test_an_update_of_a_predictor_without_a_span_counts_from_the_buckets_it_keeps(bad):
    values = _outage(n_after=100)
    predictor = _predictor().fit(_frame(values[400:1400], first=400))
    predictor.idle_span_ = bad  # a file saved before it was kept, or one that holds something else
    predictor.update(_frame(values[1400:], first=1400))
    assert predictor.idle_span_ == (1000 + 40, 940, 0, 0, 939)  # the 1000 it kept (all it was fitted on), 40 new


@pytest.mark.parametrize("span", [(10**18, 5, 0, 0, 1), (2**62, 2**61, 0, 0, 2**62 - 1), (1000, 2000, 0, 0, 10),
                                  (1000, 5, 0, 0), "x", -1])
def test_a_file_whose_idle_span_health_cannot_name_is_refused_at_load(tmp_path, span):
    """A file's ``idle_span_`` counts buckets before its last timestamp: counts whose first bucket lies before any
    timestamp made ``health()`` fail in pandas (OutOfBoundsTimedelta: 'Overflow in int64 multiplication') on a
    loaded file; any span that is not one is refused with the other damaged fields, not read."""
    from workload_predictor.errors import ModelFileError

    predictor = _predictor().fit(_frame(_outage()[-1000:]))
    predictor.idle_span_ = span
    predictor.save(tmp_path / "m.wpm")
    with pytest.raises(ModelFileError, match=r"has idle_span_=.*not the counts of buckets its fit rests on"):
        WorkloadPredictor.load(tmp_path / "m.wpm")
    predictor.idle_span_ = None  # absent, as in a file saved before it: health counts the buckets kept
    predictor.save(tmp_path / "old.wpm")
    assert WorkloadPredictor.load(tmp_path / "old.wpm").health()["metrics"]["idle_fit"]["value"] == 0.94
