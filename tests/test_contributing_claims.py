"""What CONTRIBUTING.md says of CI holds of the files that run it: ``bash .ci/run`` runs the tests as CI does (its
derandomised hypothesis profile), and the tests workflow's oldest job pins the lower bounds CONTRIBUTING.md says it
pins."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FILES = [ROOT / "CONTRIBUTING.md", ROOT / ".ci" / "run", ROOT / ".github" / "workflows" / "tests.yml"]

pytestmark = pytest.mark.skipif(not all(p.exists() for p in FILES), reason="CONTRIBUTING.md and CI's files are not "
                                                                             "shipped in this tree")


def _ci_variable_before_the_tests(script: str) -> bool:
    """Whether ``script`` exports a non-empty ``CI`` (tests/conftest.py's switch to the ``ci`` profile) before it
    runs the tests."""
    lines = script.splitlines()
    tests = next(i for i, line in enumerate(lines) if re.match(r"\s*python3 -m pytest tests\b", line))
    return any(re.match(r"\s*export CI=\S", line) for line in lines[:tests])


def test_ci_run_runs_the_tests_with_cis_hypothesis_profile():
    """CONTRIBUTING.md: ``bash .ci/run`` runs all of CI; CI's tests draw hypothesis examples derandomised (the ``ci``
    profile, chosen by the CI variable, which GitHub Actions sets and a shell usually does not)."""
    contributing = (ROOT / "CONTRIBUTING.md").read_text()
    assert "`bash .ci/run` runs all of CI" in contributing and "CI's derandomised hypothesis profile" in contributing
    assert '"ci" if os.environ.get("CI")' in (ROOT / "tests" / "conftest.py").read_text()
    assert _ci_variable_before_the_tests((ROOT / ".ci" / "run").read_text())


def test_the_ci_variable_check_sees_a_script_without_it():
    assert not _ci_variable_before_the_tests("set -e\npython3 -m pytest tests -q\nexport CI=true\n")
    assert _ci_variable_before_the_tests('export CI="${CI:-true}"\npython3 -m pytest tests -q -n 2\n')


def _lower_bounds() -> dict[str, str]:
    """pyproject.toml's lower bound of each core dependency and of the parquet extra's."""
    pyproject = (ROOT / "pyproject.toml").read_text()
    core = re.search(r"^dependencies = \[(.*?)^\]", pyproject, flags=re.S | re.M).group(1)
    parquet = re.search(r"^parquet = \[(.*?)\]", pyproject, flags=re.M).group(1)
    return dict(re.findall(r'"([a-z]+)>=([\d.]+)', core + parquet))


def test_the_oldest_tests_job_pins_every_lower_bound_contributing_says_it_pins():
    """CONTRIBUTING.md: each core dependency's lower bound, and pyarrow's, is what the oldest job installs."""
    contributing = " ".join((ROOT / "CONTRIBUTING.md").read_text().split())
    assert "Each lower bound of a core dependency, and pyarrow's, is a version the whole suite passed on" in contributing
    workflow = (ROOT / ".github" / "workflows" / "tests.yml").read_text()
    oldest = workflow.split("include:")[1].split("steps:")[0]
    pinned = dict(re.findall(r'^\s+(pandas|torch|numpy): "([\d.]+)"', oldest, flags=re.M))
    pinned.update(re.findall(r"([a-z]+)==([\d.]+)", re.search(r'pins: "([^"]*)"', oldest).group(1)))
    assert pinned == _lower_bounds()
