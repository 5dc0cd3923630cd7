"""Under a time limit the input-anomaly scan judges held buckets again only until the deadline less the model's fit
after it, in passes of the plain rule: one model's ``anomaly.MODEL_PASSES``, an ensemble's ``scan_passes`` (its
members' fits, then the time it leaves smoothing and the combination), and the predictor's own work after the model
(``predictor.COMMIT_PASSES``), which the model's fit leaves it in turn."""

import numpy as np
import pandas as pd
import pytest

from workload_predictor import WorkloadPredictor, _deadline, anomaly
from workload_predictor import predictor as predictor_module
from workload_predictor.models.dlinear import DLinear
from workload_predictor.models.ensemble import AFTER_MEMBERS_PASSES
from workload_predictor.predictor import COMMIT_PASSES


def _sparse(n=20_000):
    rng = np.random.default_rng(0)
    burst = np.where(rng.random(n) < 0.6, 1.0, rng.lognormal(3.0, 1.0, n).round())
    return np.where(rng.random(n) < 0.95, 0.0, burst)[:, None]


@pytest.mark.parametrize("passes", [anomaly.MODEL_PASSES, 12.0])
def test_the_chains_end_the_models_passes_before_the_deadline(monkeypatch, passes):
    values = _sparse()
    seen = []
    chained = anomaly._chained
    monkeypatch.setattr(anomaly, "_chained", lambda *a, **k: seen.append(_deadline.current().end) or chained(*a, **k))
    with _deadline.limit(1000.0) as deadline:
        anomaly.fit_scan(values, passes)
    assert len(seen) == 1  # the sweep ran once, under its own limit
    reserve = passes * deadline.pace[_deadline.SERIES_PACE] * values.size
    assert reserve > 0
    assert deadline.end - seen[0] == pytest.approx(reserve, rel=1e-9, abs=1e-12)


@pytest.mark.parametrize("model, passes", [("dlinear", anomaly.MODEL_PASSES),
                                           ("ensemble", anomaly.MODEL_PASSES + AFTER_MEMBERS_PASSES)])
def test_the_predictor_leaves_its_model_the_passes_its_fit_needs(monkeypatch, model, passes):
    asked = []
    fit_scan = anomaly.fit_scan
    monkeypatch.setattr(anomaly, "fit_scan", lambda values, *a: asked.append(a) or fit_scan(values, *a))
    frame = pd.DataFrame({"timestamp": pd.date_range("2026-01-01", periods=600, freq="1s", tz="UTC"),
                          "requests": _sparse(600)[:, 0]})
    WorkloadPredictor(model=model, horizon=5).fit(frame)
    assert asked == [(passes + COMMIT_PASSES,)]


def test_the_models_fit_leaves_the_predictor_its_work_after_it(monkeypatch):
    """The predictor's work after the model's fit (the buckets the calibration leaves out, noise_scale_, the idle and
    stuck runs: 0.6-1.25 passes at 1,000,000 sparse buckets) has its reserve: the model's stages end COMMIT_PASSES
    passes before the fit's deadline. Without it perf's sparse 1,000,000-bucket ensemble fit under
    max_training_time=0.5 ended at 1.25x the limit in CI (budget 1.1x): its last stage ran to the deadline."""
    seen = {}
    fit_anomalies, fit = predictor_module._fit_anomalies, DLinear.fit
    monkeypatch.setattr(predictor_module, "_fit_anomalies",
                        lambda *a: seen.setdefault("fit", _deadline.current()) and fit_anomalies(*a))
    monkeypatch.setattr(DLinear, "fit", lambda self, *a, **k: seen.setdefault("model", _deadline.current().end)
                        and fit(self, *a, **k))
    frame = pd.DataFrame({"timestamp": pd.date_range("2026-01-01", periods=2000, freq="1s", tz="UTC"),
                          "requests": _sparse(2000)[:, 0]})
    WorkloadPredictor(model="dlinear", horizon=5, max_training_time=1000.0).fit(frame)
    outer = seen["fit"]
    reserve = COMMIT_PASSES * outer.pace[_deadline.SERIES_PACE] * 2000
    assert reserve > 0
    assert outer.end - seen["model"] == pytest.approx(reserve, rel=1e-9, abs=1e-12)


def test_a_sweep_that_begins_past_its_deadline_judges_nothing_and_builds_nothing(monkeypatch):
    """Where the deadline less the model's passes has passed before the held buckets are judged again (a loaded host:
    the measured pace makes the reserve the whole limit), the sweep is cut at once: the plain rule's flags, and none of
    its per-flag preparation (a list of the whole series, each flag's raw range: about 50 ms at 1,000,000 sparse
    buckets)."""
    values = _sparse()
    plain = []
    monkeypatch.setattr(anomaly, "_plain", lambda *a: plain.append(a[1]) or True)
    # each flag's raw range, read one by one or many at once (_plain_flags)
    monkeypatch.setattr(anomaly, "_plain_flags", lambda column, positions, *a: plain.extend(positions) or
                        [True] * len(positions))
    with _deadline.limit(1000.0) as deadline:
        free = anomaly.fit_scan(values, 0.0)[1]
    assert plain and deadline.stages == []
    plain.clear()
    with _deadline.limit(1000.0) as deadline:
        cut = anomaly.fit_scan(values, 1e12)[1]  # a reserve past the whole limit
    assert deadline.stages == [anomaly.CHAINS_STAGE, anomaly.COUNTERS_STAGE]  # the counters' runs reserved too
    assert plain == []
    assert set(cut) <= set(free)
