"""The library uses none of the numpy forms numpy 2.5 deprecates (a DeprecationWarning there, an error later).

On Python 3.12+ pip installs numpy 2.5, where setting an array's ``shape`` and a timedelta64 or NaT without a unit
(``np.timedelta64(0)``, ``np.datetime64('NaT')``) warn. The model file's loader did the first two: as an error (the
suite's warning filter, and numpy's next releases) no model file loaded, and 745 tests failed on Python 3.13 with
numpy 2.5.5. This suite's own Python (3.11) gets numpy 2.4, which warns of none, so the forms are looked for in the
source; the tests workflow runs the whole suite on numpy 2.5 too (Python 3.13).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "workload_predictor"
SOURCES = sorted(PACKAGE.rglob("*.py"))


def _deprecated_forms(tree: ast.AST) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(tree):
        targets = node.targets if isinstance(node, ast.Assign) else \
            [node.target] if isinstance(node, (ast.AugAssign, ast.AnnAssign)) else []
        for target in targets:
            if isinstance(target, ast.Attribute) and target.attr == "shape":
                found.append((node.lineno, "sets an array's shape (use reshape, a view for a contiguous array)"))
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) \
                and node.func.attr in ("timedelta64", "datetime64") and len(node.args) == 1 and not node.keywords \
                and isinstance(node.args[0], ast.Constant) and (
                    type(node.args[0].value) is int or node.args[0].value == "NaT"):
            found.append((node.lineno, f"a {node.func.attr} of {node.args[0].value!r} without a unit (pass one, "
                                       "e.g. 'ns')"))
    return found


def test_the_checker_finds_both_forms():
    tree = ast.parse("import numpy as np\nx = np.zeros(4)\nx.shape = (2, 2)\nzero = np.timedelta64(0)\n"
                     "fine = np.timedelta64(0, 'ns'); y = x.reshape(4)\nnat = np.datetime64('NaT')\n"
                     "fine = np.datetime64('NaT', 'ns'); day = np.datetime64('2024-01-01')\n")
    assert [line for line, _ in _deprecated_forms(tree)] == [3, 4, 6]


@pytest.mark.parametrize("source", SOURCES, ids=lambda path: str(path.relative_to(PACKAGE)))
def test_the_library_uses_no_form_numpy_2_5_deprecates(source):
    found = _deprecated_forms(ast.parse(source.read_text(encoding="utf-8")))
    assert not found, [f"{source.name}:{line}: {what}" for line, what in found]
