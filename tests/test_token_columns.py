"""Token columns are recognised in one place: bucketize, read_trace and the request sampler agree."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from workload_predictor import WorkloadDataError, bucketize
from workload_predictor.data import TOKEN_COLUMNS, token_columns
from workload_predictor.readers import read_trace
from workload_predictor.synthetic_requests import length_sample


@pytest.mark.parametrize("position", range(len(TOKEN_COLUMNS["input_tokens"])))
def test_every_alias_is_summed_by_bucketize_and_read_trace_alike(tmp_path, position):
    inputs, outputs = TOKEN_COLUMNS["input_tokens"][position], TOKEN_COLUMNS["output_tokens"][position]
    stamps = pd.date_range("2024-01-01", periods=40, freq="250ms", tz="UTC")
    log = pd.DataFrame({"timestamp": stamps, inputs: np.arange(40) + 1, outputs: 2 * np.arange(40) + 1})
    buckets = bucketize(log, timestamp="timestamp", freq="1s")
    assert list(buckets.columns) == ["timestamp", "requests", "input_tokens", "output_tokens"]
    assert buckets["input_tokens"].sum() == log[inputs].sum()
    path = tmp_path / "log.csv"
    log.to_csv(path, index=False)
    trace = read_trace(path, freq="1s", keep_partial=True)
    np.testing.assert_array_equal(trace.series["input_tokens"].to_numpy(), buckets["input_tokens"].to_numpy())
    sample = length_sample(None, log, recent=None)
    np.testing.assert_array_equal(sample["output_tokens"].to_numpy(), log[outputs].to_numpy(float))


def test_the_first_alias_present_wins_and_an_explicit_name_must_exist():
    columns = ["timestamp", "ContextTokens", "input_tokens", "completion_tokens"]
    assert token_columns(columns) == {"input_tokens": "input_tokens", "output_tokens": "completion_tokens"}
    assert token_columns(columns, input_column="ContextTokens")["input_tokens"] == "ContextTokens"
    with pytest.raises(WorkloadDataError, match="'prompt'"):
        token_columns(columns, input_column="prompt")


def test_token_counts_written_as_text_in_json_lines_are_summed(tmp_path):
    # "12" (a JSON string) was refused with "convert it with pd.to_numeric(...)", advice a command-line user cannot
    # take, while a bucketed series' "12" was read as 12.
    path = tmp_path / "log.jsonl"
    path.write_text('{"timestamp": "2024-01-01T00:00:00Z", "input_tokens": "12"}\n'
                    '{"timestamp": "2024-01-01T00:00:05Z", "input_tokens": 3}\n'
                    '{"timestamp": "2024-01-01T00:00:25Z", "input_tokens": "7"}\n')
    trace = read_trace(path, freq="10s", keep_partial=True)
    assert trace.series["input_tokens"].tolist() == [15, 0, 7]
    assert trace.series["requests"].tolist() == [2, 0, 1]
    path.write_text(path.read_text().replace('"7"', '"seven"'))
    with pytest.raises(WorkloadDataError, match="column 'input_tokens' holds 'seven' at row 2, not a number"):
        read_trace(path, freq="10s", keep_partial=True)
