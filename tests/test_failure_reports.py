"""A failing test reports itself under the project's pytest settings (warnings as errors included): the failing
hypothesis example is printed, not replaced by an INTERNALERROR from a warning in what hypothesis imports to report
it."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"


def test_a_failing_hypothesis_example_is_reported_not_an_internal_error(tmp_path):
    """Before: hypothesis imported libcst to write the failing example's patch, libcst's import warned (a
    DeprecationWarning through mypy_extensions), and the project's error::DeprecationWarning turned the report into
    an INTERNALERROR traceback."""
    (tmp_path / "test_falsified.py").write_text(
        "from hypothesis import given, settings, strategies as st\n\n\n"
        "@settings(database=None, derandomize=True)\n"
        "@given(st.integers())\n"
        "def test_below_ten(x):\n"
        "    assert x < 10\n")
    done = subprocess.run([sys.executable, "-m", "pytest", "-c", str(PYPROJECT), "--rootdir", str(tmp_path), "-q",
                           "-p", "no:cacheprovider", str(tmp_path / "test_falsified.py")],
                          capture_output=True, text=True, timeout=120, cwd=tmp_path)
    output = done.stdout + done.stderr
    assert done.returncode == 1, output[-2000:]
    # hypothesis 6.170 calls the example a "Failing test case"
    assert re.search(r"(Falsifying example|Failing test case): test_below_ten\(", output), output[-2000:]
    assert "INTERNALERROR" not in output, output[-2000:]
