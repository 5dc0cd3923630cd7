"""health() / check_alerts(): every level of every metric, driven by injected measurements."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest

from conftest import periodic_series
from workload_predictor import FleetPredictor, NotFittedError, WorkloadDataError, WorkloadPredictor
from workload_predictor.health import ABSOLUTE_ACCURACY, DEFAULT_THRESHOLDS, health_report, level_of


@pytest.fixture(scope="module")
def predictor() -> WorkloadPredictor:
    return WorkloadPredictor(horizon=5).fit(periodic_series(400, noise=3.0))


# The old report's thresholds (accuracy's: the absolute rule, passed), at and around each boundary.
CASES = [
    ("training_seconds", 1.0, "ok"), ("training_seconds", 59.9, "ok"), ("training_seconds", 60.0, "warning"),
    ("training_seconds", 119.9, "warning"), ("training_seconds", 120.0, "critical"), ("training_seconds", 1e4, "critical"),
    ("prediction_seconds", 0.001, "ok"), ("prediction_seconds", 0.1, "warning"), ("prediction_seconds", 0.49, "warning"),
    ("prediction_seconds", 0.5, "critical"),
    ("memory_mb", 300.0, "ok"), ("memory_mb", 1023.0, "ok"), ("memory_mb", 1024.0, "warning"),
    ("memory_mb", 2047.0, "warning"), ("memory_mb", 2048.0, "critical"),
    ("accuracy", 0.95, "ok"), ("accuracy", 0.81, "ok"), ("accuracy", 0.8, "warning"), ("accuracy", 0.61, "warning"),
    ("accuracy", 0.6, "critical"), ("accuracy", 0.0, "critical"),
    ("input_anomaly", 0.0, "ok"), ("input_anomaly", 1.0, "warning"), ("input_anomaly", 5.0, "critical"),
    ("relative_error", 0.7, "ok"), ("relative_error", 2.99, "ok"), ("relative_error", 3.0, "warning"),
    ("relative_error", 3.99, "warning"), ("relative_error", 4.0, "critical"),
]


@pytest.mark.parametrize("metric, value, level", CASES)
def test_each_level_of_each_metric(predictor, metric, value, level):
    pair = ABSOLUTE_ACCURACY if metric == "accuracy" else DEFAULT_THRESHOLDS[metric]
    report = predictor.health(measurements={metric: value}, thresholds={metric: pair})
    assert report["metrics"][metric] == {"value": value, "level": level, "warning": pair[0], "critical": pair[1]}
    # This small fit is healthy on every other metric, so the overall level is this one's.
    assert report["level"] == level


def test_default_thresholds_are_the_old_reports_and_the_input_anomaly_count():
    assert DEFAULT_THRESHOLDS == {"training_seconds": (60.0, 120.0), "prediction_seconds": (0.1, 0.5),
                                  "memory_mb": (1024.0, 2048.0), "accuracy": None, "relative_error": (3.0, 4.0),
                                  "input_anomaly": (1.0, 5.0), "stale_buckets": (2.0, 10.0), "idle_fit": (0.75, 1.0),
                                  "stuck_input": (30.0, 1000.0)}


def test_the_worst_metric_sets_the_overall_level():
    report = health_report({"training_seconds": 70.0, "prediction_seconds": 0.7, "memory_mb": 10.0, "accuracy": 0.9})
    assert report["level"] == "critical"
    assert [m["level"] for m in report["metrics"].values()] == ["warning", "critical", "ok", "unknown", "unknown",
                                                                 "unknown", "unknown", "unknown", "unknown"]


def test_unmeasured_metrics_are_unknown_and_raise_no_alert():
    report = health_report({"training_seconds": 1.0, "accuracy": 0.9, "memory_mb": None, "prediction_seconds": np.nan})
    assert report["metrics"]["memory_mb"]["level"] == "unknown"
    assert report["metrics"]["prediction_seconds"]["level"] == "unknown"
    assert report["level"] == "ok"
    assert health_report({})["level"] == "unknown"


def test_thresholds_are_configurable(predictor):
    measurements = {"training_seconds": 5.0, "accuracy": 0.9}
    assert predictor.health(measurements=measurements)["level"] == "ok"
    strict = {"training_seconds": (1, 2), "accuracy": (0.95, 0.92)}
    report = predictor.health(thresholds=strict, measurements=measurements)
    assert report["metrics"]["training_seconds"]["level"] == "critical"
    assert report["metrics"]["accuracy"]["level"] == "critical"
    assert report["metrics"]["training_seconds"]["critical"] == 2.0


@pytest.mark.parametrize("thresholds", [{"latency": (1, 2)}, {"memory_mb": (2048, 1024)}, {"accuracy": (0.6, 0.8)},
                                        {"training_seconds": 5}])
def test_bad_thresholds_are_a_value_error(predictor, thresholds):
    with pytest.raises(ValueError):
        predictor.health(thresholds=thresholds)


@pytest.mark.parametrize("pair", ["98", "0.9", b"98", (float("nan"), float("nan")), (0.8, float("nan")),
                                  (0.8, float("-inf")), ("0.8", "0.6"), (True, False), (0.9, 0.8, 0.6), {0.8: 0.6}])
def test_thresholds_that_are_not_a_pair_of_finite_numbers_are_refused(predictor, pair):
    """A string is not read character by character, and NaN thresholds (which no value reaches) are refused."""
    with pytest.raises(WorkloadDataError, match=r"thresholds\['accuracy'\]=.* must be a pair of finite numbers"):
        predictor.health(thresholds={"accuracy": pair})
    with pytest.raises(WorkloadDataError, match="must be a pair of finite numbers"):
        health_report({"accuracy": 0.9}, {"accuracy": pair})


def test_thresholds_as_a_list_or_an_array_still_work(predictor):
    for pair in ([0.95, 0.92], np.array([0.95, 0.92])):
        entry = predictor.health(thresholds={"accuracy": pair}, measurements={"accuracy": 0.93})["metrics"]["accuracy"]
        assert entry == {"value": 0.93, "level": "warning", "warning": 0.95, "critical": 0.92}


@pytest.mark.parametrize("measurements, message", [
    ({"acuracy": 0.1}, "unknown health measurement 'acuracy'; known: training_seconds"),
    ({"latency_seconds": 9.0}, "unknown health measurement 'latency_seconds'"),
    ({"x" * 100_000: 1.0}, r"'x{60}'\.\.\. \(100,000 characters\); known"),
    ({"accuracy": "low"}, r"measurements\['accuracy'\]='low' must be a number"),
    ({"memory_mb": "12"}, r"measurements\['memory_mb'\]='12' must be a number"),
    ({"prediction_seconds": [0.1]}, r"measurements\['prediction_seconds'\]=\[0\.1\] must be a number"),
    ({"training_seconds": True}, r"measurements\['training_seconds'\]=True must be a number"),
    ([("accuracy", 0.1)], r"measurements=\[\('accuracy', 0\.1\)\] must be a dict of metric -> measured value"),
])
def test_unknown_or_non_numeric_measurements_are_refused(predictor, measurements, message):
    """A typo in a measurement injected to test an alert route would silently test nothing."""
    with pytest.raises(WorkloadDataError, match=message):
        predictor.check_alerts(measurements=measurements)
    with pytest.raises(WorkloadDataError, match=message):
        health_report(measurements)


@pytest.mark.parametrize("metric, value, level", [
    ("prediction_seconds", np.inf, "critical"), ("training_seconds", np.inf, "critical"),
    ("memory_mb", np.inf, "critical"), ("input_anomaly", np.inf, "critical"), ("relative_error", np.inf, "critical"),
    ("prediction_seconds", np.nan, "unknown"), ("prediction_seconds", None, "unknown"),
])
def test_an_infinite_measurement_is_rated_and_only_a_missing_one_is_unknown(predictor, metric, value, level):
    report = predictor.health(measurements={metric: value})
    assert report["metrics"][metric]["level"] == level
    assert report["level"] == ("critical" if level == "critical" else "ok")
    alerts = predictor.check_alerts(measurements={metric: value})
    assert [a["metric"] for a in alerts] == ([metric] if level == "critical" else [])


def test_health_reports_what_the_predictor_measured():
    predictor = WorkloadPredictor(horizon=5).fit(periodic_series(400, noise=3.0))
    report = predictor.health()
    metrics = report["metrics"]
    assert metrics["training_seconds"]["value"] == predictor.fit_seconds_
    assert metrics["accuracy"]["value"] == predictor.confidence_
    assert metrics["prediction_seconds"]["level"] == "unknown"  # no predict call yet
    own = metrics["memory_mb"]["value"]
    assert 0 < own < report["process_rss_mb"]  # the predictor's own arrays, reported beside the process's RSS
    assert own * 2**20 >= predictor.model_.coef_.nbytes + predictor.series_.values.nbytes
    for _ in range(5):
        predictor.predict()
    timings = list(predictor.predict_seconds_)
    assert len(timings) == 5
    assert predictor.health()["metrics"]["prediction_seconds"]["value"] == pytest.approx(np.percentile(timings, 95))


def test_a_noisy_series_drives_accuracy_to_critical_from_data():
    rng = np.random.default_rng(0)
    noise = pd.DataFrame({"timestamp": pd.date_range("2024-01-01", periods=400, freq="1min"),
                          "requests": rng.exponential(10.0, 400)})  # white noise: nothing to forecast
    clean = WorkloadPredictor(horizon=5).fit(periodic_series(400))
    noisy = WorkloadPredictor(horizon=5).fit(noise)
    old_rule = {"accuracy": ABSOLUTE_ACCURACY}
    assert clean.health(old_rule)["metrics"]["accuracy"]["level"] == "ok"
    assert noisy.confidence_ <= 0.6
    assert noisy.health(old_rule)["metrics"]["accuracy"]["level"] == "critical"
    # By default accuracy is reported, not rated: white noise forecast at its mean is as good as the data allows.
    assert noisy.health()["metrics"]["accuracy"]["level"] == "unknown"
    assert noisy.health()["metrics"]["relative_error"]["level"] == "ok"


def test_check_alerts_logs_warning_and_critical(predictor, caplog):
    with caplog.at_level(logging.WARNING, logger="workload_predictor.health"):
        alerts = predictor.check_alerts(measurements={"training_seconds": 90.0, "prediction_seconds": 2.0,
                                                      "memory_mb": 10.0, "accuracy": 0.99})
    assert [(a["metric"], a["level"]) for a in alerts] == [("training_seconds", "warning"),
                                                           ("prediction_seconds", "critical")]
    levels = {record.getMessage().split(": ")[1].split(" ")[0]: record.levelno for record in caplog.records}
    assert levels == {"training_seconds": logging.WARNING, "prediction_seconds": logging.ERROR}


def test_no_alert_no_log_when_healthy(predictor, caplog):
    with caplog.at_level(logging.DEBUG, logger="workload_predictor.health"):
        alerts = predictor.check_alerts(measurements={"training_seconds": 1.0, "prediction_seconds": 0.001,
                                                      "memory_mb": 10.0, "accuracy": 0.99})
    assert alerts == [] and caplog.records == []


def test_health_before_fit_raises():
    with pytest.raises(NotFittedError):
        WorkloadPredictor().health()


def test_level_of_is_monotone():
    values = np.linspace(0, 200, 401)
    order = {"ok": 0, "warning": 1, "critical": 2}
    levels = [order[level_of("training_seconds", v, 60, 120)] for v in values]
    assert levels == sorted(levels)
    accuracy = [order[level_of("accuracy", v, 0.8, 0.6)] for v in np.linspace(1, 0, 101)]
    assert accuracy == sorted(accuracy)


def test_a_host_holding_gigabytes_does_not_trip_the_predictors_memory_alert():
    """memory_mb is the predictor's own footprint; the process's RSS is reported beside it, without alert."""
    predictor = WorkloadPredictor(horizon=5).fit(periodic_series(400, noise=3.0))
    ballast = np.ones(300 * 2**17)  # 300 MiB the host holds
    report = predictor.health(thresholds={"memory_mb": (100.0, 200.0)})
    assert report["process_rss_mb"] >= 300 > report["metrics"]["memory_mb"]["value"]
    assert report["metrics"]["memory_mb"]["level"] == "ok" and ballast[-1] == 1.0


def _busy_then_idle(n_busy: int = 600, n_idle: int = 700) -> tuple[pd.DataFrame, pd.DataFrame]:
    """~50 requests per 10 s bucket on a 24-bucket cycle, then an endpoint gone idle (all zeros)."""
    t = np.arange(n_busy)
    load = 50 + 10 * np.sin(2 * np.pi * t / 24) + np.random.default_rng(4).normal(0, 2, n_busy)
    busy = pd.DataFrame({"timestamp": pd.date_range("2024-01-01", periods=n_busy, freq="10s"), "requests": load})
    idle = pd.DataFrame({"timestamp": pd.date_range(busy["timestamp"].iloc[-1] + pd.Timedelta("10s"),
                                                    periods=n_idle, freq="10s"), "requests": np.zeros(n_idle)})
    return busy, idle


def test_an_idle_endpoint_forecast_within_rounding_of_zero_keeps_its_confidence():
    """Before: validation forecasts of at most 0.007 against an all-zero tail made the WAPE infinite, so DLinear's
    confidence fell from 1 to 0 and health raised a critical accuracy alert on an idle key forecast at 0."""
    busy, idle = _busy_then_idle()
    predictor = WorkloadPredictor(horizon=5).fit(busy)
    predictor.update(idle)
    assert not predictor.model_.validation_actual_.any()  # the whole tail is idle
    assert predictor.model_.validation_forecast_.max() > 0  # and the forecasts are not exactly 0
    assert predictor.predict().confidence > 0.99
    assert [a["metric"] for a in predictor.check_alerts()] == []


def test_a_forecast_of_real_load_on_an_idle_tail_scores_zero():
    from workload_predictor.confidence import confidence_of_totals

    cells = 100
    assert confidence_of_totals(50.0 * cells, 0.0, cells) == 0.0  # 50 requests a bucket forecast, none came
    assert confidence_of_totals(0.0, 0.0, cells) == 1.0  # exact
    assert confidence_of_totals(0.3 * cells, 0.0, cells) == pytest.approx(0.7)  # 0.3 a bucket against 1 a bucket
    assert confidence_of_totals(10.0, 100.0, cells) == pytest.approx(0.9)  # a busy span: 1 - WAPE as before


def test_a_fleets_idle_key_keeps_its_confidence_as_a_predictor_does():
    """The fleet calibrates many keys at once (fleet._calibrate): an idle key scores as a predictor does."""
    from workload_predictor.fleet import _calibrate
    from workload_predictor.predictor import calibration

    forecast = np.random.default_rng(0).uniform(0.0, 0.01, size=(2, 40, 5, 1))  # [keys, windows, steps, targets]
    actual = np.zeros_like(forecast)
    actual[1] = 50.0  # a busy key beside the idle one
    fleet = _calibrate(forecast, actual, 0.9)["confidence"]
    single = [calibration(forecast[b], actual[b], 0.9)["confidence_"] for b in range(2)]
    np.testing.assert_allclose(fleet, single, rtol=0, atol=1e-12)
    assert fleet[0] > 0.99


def test_a_measurement_beyond_floats_range_is_a_typed_error():
    with pytest.raises(WorkloadDataError, match=r"measurements\['accuracy'\]=.* too large for a float"):
        health_report({"accuracy": 10**400})
    assert health_report({"training_seconds": float("inf")})["metrics"]["training_seconds"]["level"] == "critical"


def test_a_threshold_beyond_floats_range_is_a_typed_error():
    with pytest.raises(WorkloadDataError, match="must be a pair of finite numbers"):
        health_report({}, {"accuracy": (10**400, 0.1)})


def _pair_then_fail():
    """A threshold iterable of three numbers that fails if read further: an endless or huge one must not be."""
    yield from (0.8, 0.6, 0.5)
    raise AssertionError("the threshold iterable was read past its third item")


def test_a_long_threshold_iterable_is_refused_without_reading_it_all():
    """Before: the pair was list()-ed whole (range(10**7) took 381 MB to refuse, itertools.count() never ended)."""
    with pytest.raises(WorkloadDataError, match=r"thresholds\['accuracy'\]=.* must be a pair of finite numbers"):
        health_report({"accuracy": 0.9}, {"accuracy": _pair_then_fail()})


@pytest.mark.parametrize("pair", [{0.8, 0.6}, {0.6, 0.8}, frozenset((0.8, 0.6))])
def test_a_threshold_pair_given_as_a_set_is_refused(predictor, pair):
    """A set has no order: before, {0.8, 0.6} was read as (0.8, 0.6) and {60.0, 120.0} as an error, by hash order."""
    with pytest.raises(WorkloadDataError, match=r"a set has no order: pass a tuple"):
        predictor.health(thresholds={"accuracy": pair})


@pytest.mark.parametrize("detail", [np.array([1, 2]), 0, b"deploy", ["deploy"]])
def test_a_detail_that_is_not_a_text_is_refused(predictor, detail):
    """Before: an array detail raised numpy's "truth value of an array is ambiguous", a 0 was dropped silently."""
    with pytest.raises(WorkloadDataError, match=r"measurements\['accuracy_detail'\]=.* must be a text"):
        predictor.check_alerts(measurements={"accuracy": 0.1, "accuracy_detail": detail})
    report = health_report({"accuracy": 0.1, "accuracy_detail": "after the deploy"})
    assert report["metrics"]["accuracy"]["detail"] == "after the deploy"


@pytest.mark.parametrize("measurements, thresholds", [
    ({"training_seconds": np.timedelta64(90, "s")}, None),  # float() raised TypeError
    ({"training_seconds": np.timedelta64(90_000_000_000, "ns")}, None),  # read as 9e10 seconds: critical
    ({}, {"training_seconds": (np.timedelta64(60, "s"), np.timedelta64(120, "s"))}),  # TypeError
])
def test_a_numpy_duration_is_refused_naming_the_unit(predictor, measurements, thresholds):
    with pytest.raises(WorkloadDataError, match=r"a duration as seconds: value / np.timedelta64\(1, 's'\)"):
        predictor.health(thresholds=thresholds, measurements=measurements)


@pytest.mark.parametrize("thresholds, measurements, message", [
    ({"accuracy": (80, 60)}, None, r"thresholds\['accuracy'\]=\(80, 60\): accuracy is 1 - WAPE, between 0 and 1"),
    ({"accuracy": (0.8, -0.1)}, None, r"between 0 and 1"),
    ({"training_seconds": (-1, 0)}, None, r"thresholds\['training_seconds'\]=\(-1, 0\): a threshold must not be"),
    (None, {"accuracy": 55}, r"measurements\['accuracy'\]=55: accuracy is 1 - WAPE, at most 1 \(0.85 for 85 %\)"),
    (None, {"accuracy": np.inf}, r"at most 1"),
    (None, {"memory_mb": -5}, r"measurements\['memory_mb'\]=-5 is negative, which no measurement of memory_mb is"),
    (None, {"prediction_seconds": -np.inf}, r"measurements\['prediction_seconds'\]=-inf is negative"),
    (None, {"stale_buckets": -1.0}, r"is negative"),
    (None, {"process_rss_mb": -0.5}, r"measurements\['process_rss_mb'\]=-0.5 is negative"),
])
def test_thresholds_or_accuracy_outside_the_metrics_range_are_refused(predictor, thresholds, measurements, message):
    """Before: percent thresholds (80, 60) rated a 0.98 confidence critical, and an accuracy of 55 (%) was ok; a
    negative cost (memory_mb=-5, a sign slip in a subtraction) was rated ok."""
    with pytest.raises(WorkloadDataError, match=message):
        predictor.check_alerts(thresholds=thresholds, measurements=measurements)
    # The bounds themselves stand: an accuracy of exactly 1, a threshold of 0 or 1.
    report = health_report({"accuracy": 1.0, "training_seconds": 0.0}, {"accuracy": (1.0, 0.0),
                                                                         "training_seconds": (0.0, 0.0)})
    assert report["metrics"]["accuracy"]["level"] == "warning"
    assert report["metrics"]["training_seconds"]["level"] == "critical"


def test_input_anomaly_counts_buckets_not_bucket_target_pairs():
    """Two corrupt buckets of a three-target series were counted 6, past the critical threshold of 5 buckets."""
    frame = periodic_series(600, noise=3.0)
    frame["input_tokens"] = frame["requests"] * 500
    frame["output_tokens"] = frame["requests"] * 200
    targets = ["requests", "input_tokens", "output_tokens"]
    for position in (450, 500):  # a logging glitch multiplying every column by 1000, twice
        frame.loc[position, targets] *= 1000
    predictor = WorkloadPredictor(horizon=5).fit(frame, target=targets)
    assert len(predictor.input_anomalies_) == 6  # each bucket flagged in each target
    entry = predictor.health()["metrics"]["input_anomaly"]
    assert entry["value"] == 2.0 and entry["level"] == "warning"
    assert "; 2 flagged among the newest 1000 buckets" in entry["detail"]


def test_memory_mb_counts_the_fitted_series_timestamps_once():
    """Before: the DatetimeIndex of the fitted series was left out (5.48 MB reported as 3.19 for 300,000 buckets)."""
    from workload_predictor.health import footprint_bytes

    index = pd.date_range("2024-01-01", periods=10_000, freq="1s", tz="UTC")
    assert footprint_bytes([index, index[-100:], index]) == index.nbytes  # a slice is a view: counted once
    assert footprint_bytes([pd.RangeIndex(10**9)]) == 0  # a range holds no array
    predictor = WorkloadPredictor(horizon=5).fit(periodic_series(20_000))
    series = predictor.series_
    own = predictor.health()["metrics"]["memory_mb"]["value"] * 2**20
    assert own >= series.values.nbytes + series.index.nbytes + predictor.model_.coef_.nbytes


class _Unknown(dict):
    """A ``health._PLAIN`` that knows no class: every object goes through footprint_bytes' full tests."""

    def get(self, *args):
        return None

    def setdefault(self, *args):
        return None


def test_footprint_bytes_of_known_classes_counts_as_their_full_tests_do(monkeypatch):
    """footprint_bytes walks the package's plain objects by their attributes once it has met their class: the same
    bytes as each object's full tests (torch module, tensor, index, containers) give, the views counted once."""
    from workload_predictor import health
    from workload_predictor.data import Continuation

    predictor = WorkloadPredictor(horizon=5).fit(periodic_series(600))
    view = predictor.series_.values[-50:]  # a view of an array the predictor holds, in a plain object of the package
    holder = [predictor, Continuation(values=view, last=predictor.last_timestamp_)]
    with monkeypatch.context() as patch:
        patch.setattr(health, "_PLAIN", _Unknown())
        expected = health.footprint_bytes(holder)
    known = {}
    monkeypatch.setattr(health, "_PLAIN", known)
    first, again = health.footprint_bytes(holder), health.footprint_bytes(holder)
    assert known[type(predictor.model_)] is True and known[Continuation] is True  # met, and walked as plain
    assert first == again == expected > predictor.series_.values.nbytes


def test_the_input_anomaly_alert_says_what_the_models_do_with_the_flagged_bucket():
    """A corrupt bucket (1e6 among Poisson(30)) that the series came back from does not move the next forecast, as
    the README's "Bad samples" says; before, the alert said the bucket was "used as given (not clipped)", which an
    operator reads as: the forecast is built on it."""
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"timestamp": pd.date_range("2024-01-01", periods=610, freq="1min", tz="UTC"),
                          "requests": rng.poisson(30, 610).astype(float)})
    clean = WorkloadPredictor(horizon=5).fit(frame.iloc[:600]).update(frame.iloc[600:610])
    corrupt = frame.iloc[600:610].copy()
    corrupt.iloc[1, 1] = 1e6
    predictor = WorkloadPredictor(horizon=5).fit(frame.iloc[:600]).update(corrupt)
    np.testing.assert_allclose(predictor.predict().yhat, clean.predict().yhat, rtol=0.05)
    (alert,) = predictor.check_alerts()
    assert alert["metric"] == "input_anomaly" and "1000000.0" in alert["message"]
    assert "used as given" not in alert["message"]
    assert "weighed down" in alert["message"] and "recent median" in alert["message"]


def _sentinel_every_third(n_fit: int, n_updates: int) -> tuple[pd.DataFrame, int]:
    """Poisson(50) in two targets, 4294967295 in both from ``n_fit`` on in every third bucket; the flagged buckets
    among the newest 1000."""
    n = n_fit + n_updates
    values = np.random.default_rng(0).poisson(50, (n, 2)).astype(float)
    corrupt = np.zeros(n, dtype=bool)
    corrupt[n_fit::3] = True
    values[corrupt] = 4294967295.0
    frame = pd.DataFrame({"timestamp": pd.date_range("2024-03-01", periods=n, freq="10s", tz="UTC"),
                          "requests": values[:, 0], "output_tokens": values[:, 1]})
    return frame, int(corrupt[-1000:].sum())


def test_input_anomaly_counts_every_flagged_bucket_among_the_newest_1000_not_the_100_values_kept():
    """Before: health counted the buckets of the newest 100 values kept (``input_anomalies_``): hours of a sentinel
    in every third bucket of two targets read 50 flagged buckets for 333, so thresholds of (150, 300) said "ok"."""
    frame, corrupt = _sentinel_every_third(600, 1200)
    targets = ["requests", "output_tokens"]
    predictor = WorkloadPredictor(horizon=5).fit(frame.iloc[:600], target=targets)
    for i in range(600, len(frame)):
        predictor.update(frame.iloc[i : i + 1])
    assert corrupt == 333 and len(predictor.input_anomalies_) == 100
    entry = predictor.health(thresholds={"input_anomaly": (150.0, 300.0)})["metrics"]["input_anomaly"]
    assert entry["value"] == corrupt and entry["level"] == "critical"
    assert f"; {corrupt} flagged among the newest 1000 buckets" in entry["detail"]
    refit = WorkloadPredictor(horizon=5).fit(frame, target=targets)  # the flags a fit finds count the same
    assert refit.health()["metrics"]["input_anomaly"]["value"] == corrupt


def test_the_flagged_buckets_counted_survive_save_and_load_and_a_file_without_them_counts_its_kept_values():
    from workload_predictor import ModelFileError, persistence

    frame, corrupt = _sentinel_every_third(600, 400)
    predictor = WorkloadPredictor(horizon=5).fit(frame, target=["requests", "output_tokens"])
    loaded = persistence.loads(persistence.dumps(predictor))
    assert loaded.health()["metrics"]["input_anomaly"]["value"] == corrupt == 134
    del predictor.input_anomaly_buckets_  # a file saved before they were kept: the buckets of the values kept
    older = persistence.loads(persistence.dumps(predictor))
    assert older.health()["metrics"]["input_anomaly"]["value"] == 50
    older.update(frame.iloc[-1:].assign(timestamp=frame["timestamp"].iloc[-1] + pd.Timedelta("10s")))
    assert older.health()["metrics"]["input_anomaly"]["value"] == 50
    predictor.input_anomaly_buckets_ = loaded.input_anomaly_buckets_[::-1]  # forged: not increasing
    with pytest.raises(ModelFileError, match="flagged buckets as"):
        persistence.loads(persistence.dumps(predictor))


@pytest.mark.parametrize("late, level", [(0, "ok"), (1, "ok"), (2, "warning"), (4, "warning"), (5, "critical"),
                                         (50, "critical"), (-1, "ok")])
def test_stale_buckets_counts_the_buckets_missing_before_now(predictor, late, level):
    """Hours of refused updates (a schema change dropping a column) left health "ok" while the forecast covered
    buckets hours past (h32's lead): nothing compared the newest bucket with the time it is. With ``now``,
    ``stale_buckets`` counts the whole buckets that ended after the newest one and before now: one may be in flight,
    two are a gap (warning), and at the horizon (5 here) the forecast covers no bucket after now (critical)."""
    end = predictor.last_timestamp_ + predictor.freq_  # when the newest bucket ended
    for now in (end + late * predictor.freq_, end + late * predictor.freq_ + 0.5 * predictor.freq_):
        report = predictor.health(now=now)
        entry = report["metrics"]["stale_buckets"]
        assert (entry["value"], entry["level"], entry["warning"], entry["critical"]) == (max(late, 0), level, 2.0, 5.0)
        assert report["level"] == level  # healthy on every other metric
        assert [a["metric"] for a in predictor.check_alerts(now=now)] == ([] if level == "ok" else ["stale_buckets"])
    assert predictor.health()["metrics"]["stale_buckets"]["level"] == "unknown"  # a replay passes no now


@pytest.mark.parametrize("ahead, level", [(0.5, "ok"), (1, "ok"), (2, "warning"), (4, "warning"), (5, "critical"),
                                          (100, "critical")])
def test_stale_buckets_counts_the_buckets_a_newest_bucket_lies_ahead_of_now(predictor, ahead, level):
    """A row from a clock running ahead (a stray stamp within max_gap) left health "ok" with the newest bucket hours
    after now (h63's lead 1): the forecast then covers none of the buckets to come. The whole buckets between now and a
    newest bucket that starts after it count as stale ones do, one allowed for clock skew."""
    now = predictor.last_timestamp_ - ahead * predictor.freq_
    entry = predictor.health(now=now)["metrics"]["stale_buckets"]
    assert (entry["value"], entry["level"]) == (float(int(ahead)), level)
    if ahead >= 2:
        assert "after now" in entry["detail"] and "clock running ahead" in entry["detail"]


def test_stale_buckets_reads_now_as_the_door_reads_timestamps(predictor):
    """``now`` in any encoding fit reads (naive as UTC, another zone converted, an epoch in seconds), its own
    thresholds, and a typed error for what is no single timestamp."""
    ten = predictor.last_timestamp_ + 11 * predictor.freq_  # ten whole buckets after the newest ended
    utc = ten.tz_convert("UTC")
    for now in (utc, utc.tz_localize(None), utc.tz_convert("Asia/Tokyo"), utc.isoformat(),
                int((utc - pd.Timestamp(0, tz="UTC")) // pd.Timedelta(1, "s")), utc.to_pydatetime()):
        assert predictor.health(now=now)["metrics"]["stale_buckets"]["value"] == 10.0
    entry = predictor.health(thresholds={"stale_buckets": (20, 30)}, now=ten)["metrics"]["stale_buckets"]
    assert (entry["level"], entry["warning"], entry["critical"]) == ("ok", 20.0, 30.0)
    assert "10 whole buckets ended since" in predictor.health(now=ten)["metrics"]["stale_buckets"]["detail"]
    for bad in ([ten, ten], "soon", pd.NaT):
        with pytest.raises(WorkloadDataError, match="now"):
            predictor.health(now=bad)


_FIRST_MINUTE = pd.Timestamp.min.ceil("1min")  # 1677-09-21 00:13, the first whole minute pandas' timestamps hold


@pytest.mark.parametrize("start, rows, now, value, detail", [
    # 220 buckets to 03:52 in 1677, now in 2024: 346 years, past what a Timedelta holds
    (_FIRST_MINUTE, 220, "2024-01-01", 182_123_767, "182,123,767 whole buckets ended since"),
    # the newest bucket 23:39 in 2262, now in 1677: a clock running ahead by 585 years
    ("2262-04-11 20:00", 220, _FIRST_MINUTE, 307_445_726, "starts 307,445,726 whole buckets after now"),
    # the newest bucket 23:47 ends at 23:48, past the last timestamp: no bucket ended since
    ("2262-04-11 20:00", 228, pd.Timestamp.max, 0, "0 whole buckets ended since"),
])
def test_stale_buckets_at_the_ends_of_the_range_are_counted(start, rows, now, value, detail):
    """health(now=...) and check_alerts(now=...) raised pandas' OutOfBoundsDatetime ("Result is too large for
    pandas.Timedelta", "Out of bounds nanosecond timestamp") where now and the newest bucket lie more than 292 years
    apart, or the newest bucket ends past 2262-04-11 23:47:16: the whole buckets are counted, for a predictor and
    a fleet's key."""
    series = periodic_series(rows, start=start)
    predictor = WorkloadPredictor(model="naive", horizon=5).fit(series)
    entry = predictor.health(now=now)["metrics"]["stale_buckets"]
    assert (entry["value"], entry["level"]) == (float(value), "critical" if value else "ok"), entry
    assert detail in entry["detail"], entry["detail"]
    assert [alert["metric"] for alert in predictor.check_alerts(now=now)] == (["stale_buckets"] if value else [])
    fleet = FleetPredictor(model="naive", horizon=5).fit(series.assign(key="a"))
    assert fleet.health(now=now)["stale_buckets"].tolist() == [float(value)]
    assert [alert["metric"] for alert in fleet.check_alerts(now=now)] == (["stale_buckets"] if value else [])


# -- a fleet's health, per key ----------------------------------------------------------------------------------
def _fleet_frame(n_keys: int = 3, n: int = 300, seed: int = 20) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    start = pd.Timestamp("2024-03-01", tz="UTC")
    t = np.arange(n)
    return pd.concat([pd.DataFrame({"endpoint": f"k{i}", "timestamp": start + pd.Timedelta("1min") * t,
                                    "requests": rng.poisson(50 * (1 + 0.5 * np.sin(2 * np.pi * t / (20 + 7 * i))))})
                      for i in range(n_keys)], ignore_index=True)


def test_a_fleets_health_rates_each_key_as_its_own_predictor_would():
    """A fleet had no health report: an autoscaler could not tell which keys' updates stopped or were refused, or
    which read absurd buckets. Per key it now rates the metrics every key has: a key with its own predictor as that
    predictor rates them; a batched key from what its block holds (its input anomalies: its fit's scan's)."""
    from workload_predictor import FleetPredictor

    frame = _fleet_frame()
    start = frame["timestamp"].min()
    fleet = FleetPredictor(horizon=5, update_mode="incremental").fit(
        frame[frame["timestamp"] < start + pd.Timedelta("290min")], key="endpoint")
    rows = frame[(frame["timestamp"] >= start + pd.Timedelta("290min")) & (frame["endpoint"] != "k2")].copy()
    rows.loc[rows.index[3], "requests"] = 10**7  # k0's bucket 293: flagged
    refused = pd.DataFrame({"endpoint": ["k2"], "timestamp": [start], "requests": [1]})
    fleet.update(pd.concat([rows, refused]))
    now = start + pd.Timedelta("302min")  # k0, k1 end at 299 (2 whole buckets since); k2 at 289 (12)
    health = fleet.health(now=now)
    assert health.index.name == "endpoint" and health.index.tolist() == ["k0", "k1", "k2"]
    for key in ("k0", "k1"):
        own = fleet._predictors[key].health(now=now)["metrics"]
        for metric in ("accuracy", "input_anomaly", "stale_buckets"):
            assert (health.loc[key, metric], health.loc[key, f"{metric}_level"]) == (own[metric]["value"],
                                                                                   own[metric]["level"])
        assert health.loc[key, "update_error"] is None
    assert health.loc["k0", "input_anomaly"] == 1.0 and health.loc["k1", "input_anomaly"] == 0.0
    assert (health.loc["k0", "stale_buckets"], health.loc["k0", "stale_buckets_level"]) == (2.0, "warning")
    assert health.loc["k2", "accuracy"] == fleet.confidence_["k2"]
    assert (health.loc["k2", "stale_buckets"], health.loc["k2", "stale_buckets_level"]) == (12.0, "critical")
    assert (health.loc["k2", "input_anomaly"], health.loc["k2", "input_anomaly_level"]) == (0.0, "ok")
    assert "not after the last fitted bucket" in health.loc["k2", "update_error"]
    assert health["level"].tolist() == ["warning", "warning", "critical"]
    # Without now, staleness is not measured; thresholds are a predictor's, for the fleet's three metrics.
    assert (fleet.health()["stale_buckets_level"] == "unknown").all()
    relaxed = fleet.health({"stale_buckets": (20, 30), "input_anomaly": (2, 5)}, now=now)
    assert relaxed["level"].tolist() == ["ok", "ok", "ok"]
    with pytest.raises(WorkloadDataError, match=r"thresholds for \['memory_mb'\]: a fleet reports accuracy"):
        fleet.health({"memory_mb": (1, 2)})
    # A name that is no metric at all is told so, with the one meant (it read as a predictor's metric).
    with pytest.raises(WorkloadDataError, match=r"unknown health metric 'acuracy'; .* Did you mean 'accuracy'\?"):
        fleet.health({"acuracy": (0.5, 0.2)})
    with pytest.raises(WorkloadDataError):
        fleet.health({"stale_buckets": (5, 2)})
    with pytest.raises(WorkloadDataError, match="now="):
        fleet.health(now=[now])
    with pytest.raises(NotFittedError):
        FleetPredictor().health()


def test_a_fleets_alerts_name_the_key_and_are_logged(caplog):
    from workload_predictor import FleetPredictor

    frame = _fleet_frame(2)
    fleet = FleetPredictor(horizon=5).fit(frame, key="endpoint")
    now = frame["timestamp"].max() + pd.Timedelta("4min")  # 3 whole buckets since the newest: a warning
    with caplog.at_level(logging.WARNING, logger="workload_predictor.health"):
        alerts = fleet.check_alerts(now=now)
    assert [(a["key"], a["metric"], a["level"], a["value"]) for a in alerts] == [
        ("k0", "stale_buckets", "warning", 3.0), ("k1", "stale_buckets", "warning", 3.0)]
    assert alerts[0]["message"] == "key 'k0': stale_buckets is 3 (>= 2): warning"
    assert [record.levelno for record in caplog.records] == [logging.WARNING, logging.WARNING]
    assert fleet.check_alerts(now=now, thresholds={"stale_buckets": (5, 10)}) == []
    assert [a["level"] for a in fleet.check_alerts(now=now + pd.Timedelta("10min"))] == ["critical", "critical"]


def test_a_global_fleets_health_reads_each_keys_grid():
    pytest.importorskip("torch")
    from workload_predictor import FleetPredictor

    frame = _fleet_frame(2, 200)
    fleet = FleetPredictor(model="global_lstm", horizon=5, random_state=0,
                           model_params={"max_epochs": 1, "hidden_size": 4, "window": 24}).fit(frame, key="endpoint")
    health = fleet.health(now=frame["timestamp"].max() + pd.Timedelta("1min"))
    assert health["accuracy"].tolist() == fleet.confidence_.tolist()
    assert health["stale_buckets"].tolist() == [0.0, 0.0] and (health["input_anomaly_level"] == "unknown").all()
