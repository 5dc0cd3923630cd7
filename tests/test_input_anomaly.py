"""Input anomalies: a bucket far above the recent range is reported by health()/check_alerts(), never altered."""

import logging

import numpy as np
import pandas as pd
import pytest

from workload_predictor import WorkloadPredictor
from workload_predictor.anomaly import KEPT


def _stream(n, seed=0, freq="10s"):
    rng = np.random.default_rng(seed)
    index = pd.date_range("2026-01-01", periods=n, freq=freq, tz="UTC")
    return pd.DataFrame({"timestamp": index, "requests": rng.poisson(50, n).astype(float)})


def _feed(predictor, values):
    for value in values:
        row = pd.DataFrame({"timestamp": [predictor.last_timestamp_ + predictor.freq_], "requests": [value]})
        predictor.update(row)


def test_one_corrupt_bucket_in_a_poisson_stream_raises_an_alert_naming_it(caplog):
    predictor = WorkloadPredictor().fit(_stream(400))
    stream = np.random.default_rng(1).poisson(50, 40).astype(float)
    stream[15] = 1e9
    _feed(predictor, stream)
    corrupt_at = predictor.last_timestamp_ - 24 * predictor.freq_
    assert list(predictor.input_anomalies_) == [(corrupt_at, "requests", 1e9, pytest.approx(50, abs=10))]
    with caplog.at_level(logging.WARNING, logger="workload_predictor.health"):
        alerts = {alert["metric"]: alert for alert in predictor.check_alerts()}
    assert alerts["input_anomaly"]["level"] == "warning"
    message = alerts["input_anomaly"]["message"]
    assert corrupt_at.isoformat() in message and "'requests'" in message and "1000000000.0" in message
    assert message in caplog.text
    # Reported, never clipped: the history the predictor keeps still holds the burst.
    assert 1e9 in predictor.series_.values


def test_a_normal_poisson_stream_raises_nothing():
    predictor = WorkloadPredictor().fit(_stream(2000, seed=2))
    _feed(predictor, np.random.default_rng(3).poisson(50, 300).astype(float))
    assert len(predictor.input_anomalies_) == 0
    assert predictor.health()["metrics"]["input_anomaly"]["level"] == "ok"
    assert "input_anomaly" not in {alert["metric"] for alert in predictor.check_alerts()}


def test_a_burst_at_fit_is_flagged_and_the_callers_data_is_unchanged():
    frame = _stream(500)
    frame.loc[300, "requests"] = 1e9
    before = frame.copy(deep=True)
    predictor = WorkloadPredictor().fit(frame)
    pd.testing.assert_frame_equal(frame, before)
    assert [(a[0], a[2]) for a in predictor.input_anomalies_] == [(frame["timestamp"][300], 1e9)]
    assert predictor.health()["metrics"]["input_anomaly"]["value"] == 1.0


def test_many_corrupt_buckets_go_critical_and_the_record_stays_bounded():
    predictor = WorkloadPredictor().fit(_stream(400))
    stream = np.full(5 * KEPT, 50.0)
    stream[::4] = 1e9 * np.arange(1, 5 * KEPT // 4 + 1)  # each above everything before it; a quarter of them
    _feed(predictor, stream)
    assert len(predictor.input_anomalies_) == KEPT
    assert predictor.health()["metrics"]["input_anomaly"]["level"] == "critical"


def test_input_anomalies_survive_save_and_load(tmp_path):
    predictor = WorkloadPredictor().fit(_stream(400))
    _feed(predictor, [50.0, 1e9, 50.0])
    loaded = WorkloadPredictor.load(predictor.save(tmp_path / "model.wp"))
    assert list(loaded.input_anomalies_) == list(predictor.input_anomalies_) and len(loaded.input_anomalies_) == 1
    np.testing.assert_array_equal(loaded.input_floor_, predictor.input_floor_)
    _feed(loaded, [1e12])
    assert len(loaded.input_anomalies_) == 2


@pytest.mark.parametrize("kind", ["conv", "code"])
def test_a_normal_hour_of_the_bundled_azure_traces_raises_nothing(kind):
    from workload_predictor import anomaly, bucketize
    from workload_predictor.datasets import azure_llm_trace

    log = azure_llm_trace(kind)
    for freq in ("1s", "10s"):
        values = bucketize(log, timestamp="TIMESTAMP", freq=freq).iloc[1:][
            ["requests", "input_tokens", "output_tokens"]].to_numpy(dtype=float, copy=True)
        assert anomaly.detect(values, anomaly.REFERENCE_BUCKETS, anomaly.floor_of(values)) == []
        values[len(values) // 2, 1] = 1e9  # one corrupt token count in the same hour fires, alone
        assert [(p, c) for p, c, _, _ in anomaly.detect(values, anomaly.REFERENCE_BUCKETS,
                                                         anomaly.floor_of(values))] == [(len(values) // 2, 1)]


@pytest.mark.parametrize("horizon", [1, 2, 5])
def test_updates_flag_what_a_fit_on_the_same_rows_flags(horizon):
    """An update judges each bucket against the same reference as a fit would: the predictor keeps at least
    ``HISTORY_BUCKETS`` buckets (a reference and the references of the buckets in it), however short its model's
    window and horizon."""
    frame = _stream(400)
    # A corrupt bucket; later 15 high buckets, then one far above the series' usual level but near theirs: against
    # a 60-bucket reference (median about 50) it is flagged, against the 15 buckets before it (500) it is not.
    ordinary = np.random.default_rng(1).poisson(50, 70).astype(float)
    ordinary[5] = 1e9
    rows = np.concatenate([ordinary, np.full(15, 500.0), [700.0, 50.0]])
    frame_after = pd.concat([frame, pd.DataFrame({
        "timestamp": frame["timestamp"].iloc[-1] + pd.Timedelta("10s") * np.arange(1, len(rows) + 1),
        "requests": rows})], ignore_index=True)
    fitted = WorkloadPredictor(model="naive", horizon=horizon).fit(frame_after)
    expected = [(a[0], a[2]) for a in fitted.input_anomalies_]
    assert (frame_after["timestamp"].iloc[-2], 700.0) in expected
    predictor = WorkloadPredictor(model="naive", horizon=horizon).fit(frame)
    _feed(predictor, rows)
    assert [(a[0], a[2]) for a in predictor.input_anomalies_] == expected
    assert predictor.health()["metrics"]["input_anomaly"]["level"] != "ok"


def test_an_update_bucket_corrupt_in_every_target_is_flagged_in_each():
    """Before: one update row flagged in two targets at once raised numpy's IndexError ("boolean index did not match
    indexed array") from ``predictor.update``: a corrupt row from a broken exporter took the update down."""
    frame = _stream(400)
    frame["input_tokens"] = np.random.default_rng(1).poisson(500, 400).astype(float)
    predictor = WorkloadPredictor().fit(frame, target=["requests", "input_tokens"])
    row = pd.DataFrame({"timestamp": [predictor.last_timestamp_ + predictor.freq_], "requests": [1e6],
                        "input_tokens": [1e7]})
    predictor.update(row)
    assert [(a[1], a[2]) for a in predictor.input_anomalies_] == [("requests", 1e6), ("input_tokens", 1e7)]
    _feed_two = pd.DataFrame({"timestamp": [predictor.last_timestamp_ + predictor.freq_], "requests": [50.0],
                              "input_tokens": [500.0]})
    predictor.update(_feed_two)
    assert np.asarray(predictor.predict().yhat)[:, 0].max() < 200.0  # settled once the series came back
