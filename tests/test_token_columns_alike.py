"""Two columns that are both a token count's name (``Input Tokens`` and ``INPUT-TOKENS``, names differing only in
case or spelling, with no column of the exact name) are refused, naming both and how to choose, not the first read
without a word (review h117's leftover: ``forecast --target input_tokens`` summed the first, 5 of 5 and 7)."""

import pandas as pd
import pytest
from click.testing import CliRunner

from workload_predictor import bucketize
from workload_predictor.cli import main
from workload_predictor.data import token_columns
from workload_predictor.errors import WorkloadDataError


def test_two_columns_read_as_one_token_count_are_refused():
    with pytest.raises(WorkloadDataError, match=r"'Input Tokens' and 'INPUT-TOKENS' are both read as input_tokens.*"
                                                r"input_column=.*--input-col"):
        token_columns(["timestamp", "Input Tokens", "INPUT-TOKENS", "output_tokens"])


def test_an_exact_name_or_a_given_column_still_chooses():
    columns = ["timestamp", "Input Tokens", "INPUT-TOKENS", "input_tokens"]
    assert token_columns(columns)["input_tokens"] == "input_tokens"  # the exact name wins, as before
    assert token_columns(columns[:3], input_column="INPUT-TOKENS")["input_tokens"] == "INPUT-TOKENS"
    assert token_columns(["Input Tokens", "output-tokens"]) == {"input_tokens": "Input Tokens",
                                                               "output_tokens": "output-tokens"}


def test_the_library_and_the_command_line_refuse_them(tmp_path):
    stamps = pd.date_range("2024-01-01", periods=60, freq="1s", tz="UTC")
    log = pd.DataFrame({"timestamp": stamps, "Input Tokens": 5, "INPUT-TOKENS": 7})
    with pytest.raises(WorkloadDataError, match="both read as input_tokens"):
        bucketize(log, freq="10s", timestamp="timestamp")
    path = tmp_path / "tok.csv"
    log.to_csv(path, index=False)
    result = CliRunner().invoke(main, ["inspect", str(path), "--freq", "10s"])
    assert result.exit_code == 3 and "both read as input_tokens" in result.output, result.output
