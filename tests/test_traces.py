"""The real Azure traces bundled with the package: bucketize at 1 s and 10 s, then every model fits and predicts."""

from __future__ import annotations

import gzip
import hashlib
from importlib import resources

import numpy as np
import pandas as pd
import pytest

from workload_predictor import WorkloadPredictor, bucketize
from workload_predictor.datasets import azure_llm_trace
from workload_predictor.models.registry import params_for

TARGETS = ["requests", "input_tokens", "output_tokens"]
# SHA-256 of the raw files data/AzureLLMInferenceTrace_{conv,code}.csv in the Azure/AzurePublicDataset repository.
UPSTREAM_SHA256 = {
    "conv": "2f1e5b666d4e3055fdbba98598ce2ec307767b9064e03e2fa46676dbcc7d0bf8",
    "code": "54e9a6d2a4bd06ba1e060304b900abbc74cbea53de96506e60fe5bb4f2277fb6",
}


@pytest.mark.parametrize("kind", ["conv", "code"])
@pytest.mark.parametrize("freq", ["1s", "10s"])
def test_raw_trace_through_bucketize_and_every_model(kind, freq):
    log = azure_llm_trace(kind)
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


@pytest.mark.parametrize("kind", ["conv", "code"])
def test_bundled_trace_is_the_upstream_file_verbatim(kind):
    packed = resources.files("workload_predictor.datasets").joinpath("data", f"AzureLLMInferenceTrace_{kind}.csv.gz")
    raw = gzip.decompress(packed.read_bytes())
    assert hashlib.sha256(raw).hexdigest() == UPSTREAM_SHA256[kind]
    log = azure_llm_trace(kind)
    assert list(log.columns) == ["TIMESTAMP", "ContextTokens", "GeneratedTokens"]
    assert len(log) == len(raw.splitlines()) - 1  # one row per line under the header


def test_confidence_is_lower_on_the_bursty_code_trace():
    scores = {}
    for kind in ("conv", "code"):
        series = bucketize(azure_llm_trace(kind), freq="10s").iloc[1:-1]
        scores[kind] = WorkloadPredictor(horizon=10).fit(series).confidence_
    assert scores["code"] < scores["conv"]


@pytest.mark.parametrize("header_comma", [False, True])
def test_the_raw_trace_with_a_trailing_comma_on_every_line_reads_as_the_trace(tmp_path, header_comma):
    """A spreadsheet export's trailing commas made pandas take TIMESTAMP as the index and shift every column."""
    from workload_predictor.readers import read_table

    log = azure_llm_trace("conv").iloc[:2000]
    path = tmp_path / "conv.csv"
    lines = [",".join(log.columns) + ("," if header_comma else "")]
    lines += [",".join(map(str, row)) + "," for row in log.itertuples(index=False)]
    path.write_text("\n".join(lines) + "\n")
    read = read_table(path)
    pd.testing.assert_frame_equal(read, log.reset_index(drop=True), check_dtype=False)
    assert bucketize(read, freq="10s")["requests"].tolist() == bucketize(log, freq="10s")["requests"].tolist()


def test_the_bundled_traces_licence_and_attribution_travel_with_them():
    """The wheel declared Apache-2.0 alone and carried no notice beside the CC-BY 4.0 traces it bundles, whose
    licence asks for attribution: a NOTICE is installed beside them, and the metadata names both licences."""
    from pathlib import Path

    notice = resources.files("workload_predictor.datasets").joinpath("data", "NOTICE.md").read_text(encoding="utf-8")
    for trace in ("AzureLLMInferenceTrace_conv.csv.gz", "AzureLLMInferenceTrace_code.csv.gz"):
        assert trace in notice
    assert "CC-BY 4.0" in notice and "Splitwise" in notice and "Azure/AzurePublicDataset" in notice
    pyproject = Path(__file__).resolve().parents[1] / "pyproject.toml"
    if pyproject.exists():  # the source tree (an sdist's tests run there too)
        text = pyproject.read_text(encoding="utf-8")
        assert 'license = "Apache-2.0 AND CC-BY-4.0"' in text
        assert '"workload_predictor/datasets/data/NOTICE.md"' in text and '"data/NOTICE.md"' in text
