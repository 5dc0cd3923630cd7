"""The real Azure traces from ../shared/data/traces: bucketize at 1 s and 10 s, then every model fits and predicts."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from workload_predictor import WorkloadPredictor, bucketize
from workload_predictor.datasets import azure_llm_trace
from workload_predictor.models.registry import params_for

TARGETS = ["requests", "input_tokens", "output_tokens"]


@pytest.mark.parametrize("kind", ["conv", "code"])
@pytest.mark.parametrize("freq", ["1s", "10s"])
def test_raw_trace_through_bucketize_and_every_model(traces_dir, kind, freq):
    log = pd.read_csv(traces_dir / f"AzureLLMInferenceTrace_{kind}.csv")
    buckets = bucketize(log, timestamp="TIMESTAMP", freq=freq)
    assert buckets["requests"].sum() == len(log)
    assert buckets["input_tokens"].sum() == log["ContextTokens"].sum()
    step = pd.Timedelta(freq)
    assert (buckets["timestamp"].diff().dropna() == step).all()
    series = buckets.iloc[1:-1]  # the first and last buckets are partial
    for model in ("dlinear", "lstm", "ensemble"):
        predictor = WorkloadPredictor(model=model, horizon=10, random_state=0,
                                      model_params=params_for(model, max_epochs=10))
        forecast = predictor.fit(series, target=TARGETS).predict()
        frame = forecast.to_frame()
        assert frame.shape == (10, 9)
        assert np.isfinite(frame.to_numpy()).all()
        assert forecast.index[0] == series["timestamp"].iloc[-1] + step
        assert 0.0 <= forecast.confidence <= 1.0


def test_bundled_trace_equals_the_shared_raw_file(traces_dir):
    for kind in ("conv", "code"):
        shared = pd.read_csv(traces_dir / f"AzureLLMInferenceTrace_{kind}.csv", dtype={"TIMESTAMP": str})
        pd.testing.assert_frame_equal(azure_llm_trace(kind), shared)


def test_confidence_is_lower_on_the_bursty_code_trace(traces_dir):
    scores = {}
    for kind in ("conv", "code"):
        series = bucketize(pd.read_csv(traces_dir / f"AzureLLMInferenceTrace_{kind}.csv"), freq="10s").iloc[1:-1]
        scores[kind] = WorkloadPredictor(horizon=10).fit(series).confidence_
    assert scores["code"] < scores["conv"]
