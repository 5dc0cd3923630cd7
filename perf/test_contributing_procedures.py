"""CONTRIBUTING.md's perf procedures lead where it says: the baseline commands run as written on files named as
pytest-benchmark names them, and a model given the budget entries it lists is benchmarked, budgeted and summarised.

Nothing is timed: the commands run on made-up baseline files in a temporary folder, the model's cases on figures.
"""

import copy
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from perf import harness
from perf.harness import Row
from perf.report import print_summary

ROOT = Path(__file__).resolve().parents[1]
CONTRIBUTING = (ROOT / "CONTRIBUTING.md").read_text()
MACHINE = "Linux-CPython-3.11-64bit"


def _section(heading: str) -> str:
    match = re.search(rf"^## {re.escape(heading)}\n(.*?)(?=^## |\Z)", CONTRIBUTING, flags=re.S | re.M)
    assert match, f"CONTRIBUTING.md has no section {heading!r}"
    return match.group(1)


def _commands(text: str, program: str) -> list[str]:
    """The commands of ``text``'s bash blocks that run ``program``, continuation lines joined."""
    lines = "\n".join(re.findall(r"^```bash\n(.*?)^```", text, flags=re.S | re.M)).replace("\\\n", " ")
    return [line for line in lines.splitlines() if program in line]


def _saved(commit: str, when: str, cases: dict[str, float]) -> dict:
    """A baseline file as pytest-benchmark saves one: the commit, the machine, one entry per case."""
    return {"commit_info": {"id": commit, "dirty": False}, "datetime": when,
            "machine_info": {"node": "ci", "cpu": {"brand_raw": "x"}},
            "benchmarks": [{"fullname": name, "name": name.split("::")[-1], "extra_info": {"normalised": value}}
                           for name, value in cases.items()]}


def _write(path: Path, document: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document))


def _run(command: str, cwd: Path, **env: str) -> subprocess.CompletedProcess:
    environment = {**os.environ, **env, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT),
                                                                                      os.environ.get("PYTHONPATH")]))}
    # ``python3`` as the docs write it, this interpreter first on PATH
    environment["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), environment.get("PATH", "")])
    return subprocess.run(["bash", "-c", command], cwd=cwd, env=environment, capture_output=True, text=True,
                          timeout=60)


REFRESH = _section("Performance suite").split("**Refreshing the baselines.**")[-1]


def test_the_refresh_merges_the_two_saves_as_written(tmp_path):
    """Two saves after a stored baseline (0029): the merge command keeps per case the less disturbed run, in the
    newer file, and leaves the stored baseline alone."""
    folder = tmp_path / ".benchmarks" / MACHINE
    _write(folder / "0029_baseline.json", _saved("c0", "t0", {"perf/a.py::test_fit": 1.0}))
    _write(folder / "0030_baseline.json", _saved("c1", "t1", {"perf/a.py::test_fit": 2.0, "perf/a.py::test_b": 1.0}))
    _write(folder / "0031_baseline.json", _saved("c1", "t2", {"perf/a.py::test_fit": 1.5, "perf/a.py::test_b": 3.0}))
    [merge] = [line for line in _commands(REFRESH, "perf.merge_baselines") if "--add-to" not in line]
    done = _run(merge, tmp_path)
    assert done.returncode == 0, f"{merge}\n{done.stderr[-2000:]}"
    assert sorted(p.name for p in folder.iterdir()) == ["0029_baseline.json", "0031_baseline.json"]
    merged = json.loads((folder / "0031_baseline.json").read_text())
    assert merged["commit_info"]["id"] == "c1"
    assert {b["fullname"]: b["extra_info"]["normalised"] for b in merged["benchmarks"]} == {
        "perf/a.py::test_fit": 1.5, "perf/a.py::test_b": 1.0}
    assert json.loads((folder / "0029_baseline.json").read_text())["commit_info"]["id"] == "c0"


@pytest.mark.parametrize("saves", [2, 3])
def test_adding_figures_as_written_adds_the_case_to_the_newest_baseline(tmp_path, saves):
    """The runs of a case the newest baseline lacks, saved two or three times into a storage of their own, are added
    to the newest baseline file (the older one untouched), which keeps its commit."""
    folder = tmp_path / ".benchmarks" / MACHINE
    _write(folder / "0028_baseline.json", _saved("c9", "t9", {"perf/a.py::test_fit": 9.0}))
    _write(folder / "0029_baseline.json", _saved("c0", "t0", {"perf/a.py::test_fit": 1.0}))
    storage = tmp_path / "storage"
    for number, value in zip(range(1, saves + 1), (3.0, 2.5, 2.8)):
        _write(storage / MACHINE / f"{number:04d}_added.json", _saved("c1", f"t{number}", {"perf/a.py::test_new": value}))
    [add] = _commands(REFRESH, "--add-to")
    done = _run(add, tmp_path, storage=str(storage))
    assert done.returncode == 0, f"{add}\n{done.stderr[-2000:]}"
    baseline = json.loads((folder / "0029_baseline.json").read_text())
    assert baseline["commit_info"]["id"] == "c0"
    assert {b["fullname"]: b["extra_info"]["normalised"] for b in baseline["benchmarks"]} == {
        "perf/a.py::test_fit": 1.0, "perf/a.py::test_new": 2.5}
    assert [entry["cases"] for entry in baseline["added"]] == [["perf/a.py::test_new"]]
    assert "added" not in json.loads((folder / "0028_baseline.json").read_text())


def test_a_model_given_the_entries_contributing_lists_is_benchmarked_budgeted_and_summarised(monkeypatch):
    """"Adding a model" lists the ``perf/budgets.toml`` entries a new model needs to be benchmarked. Given those alone
    (here: a registered model the suite does not benchmark, with DLinear's values), the model is among those
    benchmarked, and what the cases parametrised by the benchmarked models read of it is there: the rounds
    (fit, under load), the reference import (import + construction), the budgets of each kind they record (fit,
    predict, their load ceilings, warm and cold memory, the import ratio, construction), and the end-of-run
    summary of its figures."""
    from workload_predictor.models import registry

    entries = re.findall(r"`((?:settings|old_report|target)\.\w+)`", _section("Adding a model"))
    assert entries, "CONTRIBUTING.md's 'Adding a model' names no perf/budgets.toml entry a benchmarked model needs"
    model = next(name for name in registry.names() if name not in harness.MODELS)
    budgets = copy.deepcopy(harness.BUDGETS)
    for entry in entries:
        table, key = entry.split(".")
        budgets[table][key][model] = budgets[table][key]["dlinear"]
    monkeypatch.setattr(harness, "BUDGETS", budgets)
    monkeypatch.setattr(harness, "SETTINGS", budgets["settings"])
    assert model in [name for name in registry.names() if name in budgets["target"]["fit_s"]]  # perf.harness.MODELS
    assert int(budgets["settings"]["fit_rounds"][model]) > 0 and int(budgets["settings"]["fit_warmup_rounds"][model]) >= 0
    assert budgets["target"]["import_reference"][model]
    for kind in ("fit", "predict", "fit_ceiling", "predict_ceiling", "memory_warm", "memory_cold", "import_ratio",
                 "init"):
        harness.budgets_for(kind, model, 2.0)
    assert harness.over_budget(f"fit[{model}-synthetic]", "fit", model, 1e3, "s")  # a 1,000 s fit is over its target
    rows = [Row(f"fit[{model}-synthetic]", model, "fit", 0.005, "s"),
            Row(f"predict[{model}-synthetic]", model, "predict", 0.0005, "s"),
            Row(f"import_and_init[{model}]", model, "import_ratio", 1.05, "x", extra={"reference": "pandas"}),
            Row(f"memory[{model}-warm]", model, "memory_fit_warm", 0.2, "MB"),
            Row(f"scaling_fit[{model}-10000]", model, "scaling_fit", 0.05, "s", extra={"points": 10_000})]
    lines: list[str] = []
    print_summary(lines.append, rows, budgets)
    assert any(line.startswith("import + construction in a fresh process: ") and model in line for line in lines)
