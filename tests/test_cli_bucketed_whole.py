"""A bucketed file is read whole by the command line: only a request log loses its partial first and last buckets.

So an exporter's CSV whose newest bucket is still filling is forecast from that bucket, as docs/command-line.md
shows on the bundled conv trace in one-minute buckets (its last bucket holds 7 requests after about 200 a minute);
the README and docs/command-line.md say which input loses which buckets, so that a user leaves such a bucket out.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from workload_predictor import bucketize
from workload_predictor.cli import main
from workload_predictor.datasets import azure_llm_trace

ROOT = Path(__file__).resolve().parents[1]


def _first_forecast(output: str) -> float:
    return float(re.search(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ +([\d.]+)", output, flags=re.M).group(1))


def test_a_bucketed_file_keeps_its_last_bucket_and_the_forecast_follows_it(tmp_path):
    """docs/command-line.md, Input files: "DLinear forecasts 19 requests for the next minute, 200 without it"."""
    buckets = bucketize(azure_llm_trace("conv"), freq="1min")
    assert buckets["requests"].iloc[-1] == 7 and 180 < buckets["requests"].iloc[-11:-1].median() < 260
    runs = {}
    for name, frame in {"whole": buckets, "without the last": buckets.iloc[:-1]}.items():
        path = tmp_path / f"{name.replace(' ', '_')}.csv"
        frame.to_csv(path, index=False)
        result = CliRunner().invoke(main, ["forecast", str(path), "--model", "dlinear", "-q"])
        assert result.exit_code == 0, result.output
        runs[name] = result.output
    assert f"-> {len(buckets)} buckets of 1 min, 2023-11-16 18:15:00Z .. 2023-11-16 19:14:00Z" in runs["whole"]
    assert "last    2023-11-16 19:14:00Z  requests=7" in runs["whole"]
    assert round(_first_forecast(runs["whole"])) == 19
    assert round(_first_forecast(runs["without the last"]), -1) == 200


def test_a_last_bucket_below_every_earlier_one_gets_a_note(tmp_path):
    """The whole per-minute series above was forecast from its last bucket (7 requests after 200 or more a minute)
    without a word: the summary notes a last bucket that counts fewer requests than every bucket before it, for
    forecast and evaluate. A last bucket equal to an earlier one's count (a series with empty buckets ending in one)
    or above one gets no note."""
    buckets = bucketize(azure_llm_trace("conv"), freq="1min")
    path = tmp_path / "minutes.csv"
    buckets.to_csv(path, index=False)
    note = ("note    the last bucket (2023-11-16 19:14:00Z, 7 requests) counts fewer than any before it (at least "
            f"{buckets['requests'].iloc[:-1].min()}): one still filling?")
    for command in (["forecast", str(path), "--model", "naive", "-q"],
                    ["evaluate", str(path), "--models", "naive", "--baselines", "", "--horizon", "2", "-q"]):
        result = CliRunner().invoke(main, command)
        assert result.exit_code == 0, result.output
        assert note in result.output, result.output
    earlier = buckets.iloc[:-2]  # the new last bucket: equal to their lowest count, then above it
    for last in (earlier["requests"].min(), earlier["requests"].min() + 1):
        ended = buckets.iloc[:-1].copy()
        ended.loc[ended.index[-1], "requests"] = last
        ended.to_csv(path, index=False)
        result = CliRunner().invoke(main, ["forecast", str(path), "--model", "naive", "-q"])
        assert result.exit_code == 0 and "note" not in result.output, result.output


@pytest.mark.parametrize("doc", ["README.md", "docs/command-line.md"])
def test_the_docs_say_a_bucketed_file_is_read_whole(doc):
    path = ROOT / doc
    if not path.exists():
        pytest.skip(f"{doc} is not shipped in this tree")
    [bullet] = re.findall(r"^- `--freq` is required for a request log.*?(?=^- |^\S|\Z)",
                          path.read_text(encoding="utf-8"), flags=re.M | re.S)
    bullet = " ".join(bullet.split())
    assert re.search(r"bucketed (file|series|CSV)[^.]* read whole", bullet), bullet
