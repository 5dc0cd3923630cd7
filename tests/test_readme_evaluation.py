"""The README's Evaluation table against the backtests it reports (``scripts/evaluate_traces.sh``: ``evaluate`` on
the bundled traces, default options): the columns that are cheap to compute again, DLinear's MAE and the best
baseline with its MAE, each to the digits the table prints. The ensemble and LSTM columns take a fit of seconds per
refit and are left to the script.

Each row's backtest is closed-form DLinear and four baselines at three refits: about 0.1 s CPU.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from workload_predictor import bucketize
from workload_predictor.backtest import backtest
from workload_predictor.datasets import azure_llm_trace

README = Path(__file__).resolve().parents[1] / "README.md"


def _rows() -> list[dict[str, str]]:
    if not README.exists():
        return []
    section = README.read_text(encoding="utf-8").split("\n## Evaluation\n", 1)[1].split("\n## ", 1)[0]
    lines = [line for line in section.splitlines() if line.startswith("|")]
    header = [cell.strip() for cell in lines[0].strip("|").split("|")]
    return [dict(zip(header, (cell.strip() for cell in line.strip("|").split("|")))) for line in lines[2:]]


def _same_as_printed(value: float, printed: str) -> bool:
    """``value`` rounded to the decimals ``printed`` shows is ``printed``."""
    decimals = len(printed.partition(".")[2])
    return f"{value:.{decimals}f}" == printed


ROWS = _rows()


def test_the_table_is_read():
    if not README.exists():
        pytest.skip("README.md is not shipped in this tree")
    assert len(ROWS) == 8
    settings = {(trace, bucket, horizon) for trace in ("conv", "code") for bucket in ("1 s", "10 s")
                for horizon in ("10", "30")}
    assert {(row["trace"], row["bucket"], row["horizon"]) for row in ROWS} == settings


def test_the_rounding_check_tells_a_changed_figure():
    assert _same_as_printed(1.5393, "1.539") and _same_as_printed(7.3201, "7.320")
    assert _same_as_printed(16.6159, "16.62")
    assert not _same_as_printed(1.5393, "1.542") and not _same_as_printed(16.6159, "16.61")


def _row_id(row: dict[str, str]) -> str:
    return f"{row['trace']}-{row['bucket'].replace(' ', '')}-h{row['horizon']}"


@pytest.mark.parametrize("row", ROWS, ids=_row_id)
def test_dlinear_and_the_best_baseline_are_what_the_backtest_gives(row):
    series = bucketize(azure_llm_trace(row["trace"]), freq=row["bucket"].replace(" ", "")).iloc[1:-1]
    table = backtest(series, ["dlinear"], horizon=int(row["horizon"]))
    dlinear = float(table.loc[table["model"] == "dlinear", "mae"].iloc[0])
    best = table[table["kind"] == "baseline"].sort_values("mae").iloc[0]
    name, printed = re.fullmatch(r"(.+) \(([\d.]+)\)", row["best baseline (MAE)"]).groups()
    shown = {"DLinear MAE": row["DLinear MAE"], "best baseline": name, "its MAE": printed}
    computed = {"DLinear MAE": dlinear, "best baseline": best["model"].replace("_", " "),
                "its MAE": float(best["mae"])}
    wrong = {column: (shown[column], computed[column]) for column in shown
             if not (_same_as_printed(computed[column], shown[column]) if column != "best baseline"
                     else computed[column] == shown[column])}
    assert wrong == {}, f"README (shown, computed): {wrong}"
