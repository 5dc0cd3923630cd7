"""Every third-party module the package imports is a dependency pyproject.toml declares (core or an extra).

An import that works here only because something else installed it (joblib came with scikit-learn) fails
for a user who installs the wheel alone: ``pip check`` cannot see it, because the wheel never names it.
"""

from __future__ import annotations

import ast
import re
import sys
from importlib.metadata import packages_distributions
from pathlib import Path

import pytest

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "workload_predictor"


def imported_modules(package: Path) -> dict[str, str]:
    """Top-level name of every absolute import anywhere in ``package`` (function-level too) -> a file importing it."""
    found = {}
    for path in sorted(package.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                found.setdefault(name.split(".")[0], str(path.relative_to(package.parent)))
    return found


def normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def declared_distributions(pyproject: Path) -> set[str]:
    project = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]
    requirements = list(project["dependencies"])
    for extra in project.get("optional-dependencies", {}).values():
        requirements += extra
    return {normalise(re.match(r"[A-Za-z0-9_.\-]+", requirement).group(0)) for requirement in requirements}


@pytest.mark.skipif(not (ROOT / "pyproject.toml").is_file(), reason="needs the source tree's pyproject.toml")
def test_every_third_party_import_is_declared():
    declared = declared_distributions(ROOT / "pyproject.toml")
    providers = packages_distributions()  # import name -> the installed distributions that provide it
    undeclared = {}
    for module, where in imported_modules(PACKAGE).items():
        if module in sys.stdlib_module_names or module == PACKAGE.name:
            continue
        # An import name not installed here is taken as its own distribution name (pyarrow, dask).
        if not declared & {normalise(name) for name in providers.get(module, [module])}:
            undeclared[module] = where
    assert not undeclared, f"imported but not declared in pyproject.toml: {undeclared}"


def test_the_scan_sees_function_level_imports(tmp_path):
    """The scan must reach an import inside a function, where the optional and heavy ones live."""
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "mod.py").write_text("import os\n\ndef run():\n    from joblib import Parallel\n")
    assert imported_modules(tmp_path / "pkg") == {"os": "pkg/mod.py", "joblib": "pkg/mod.py"}
