"""The README's quick start is examples/quickstart.py, and the check that its output block is what the script prints
(run by .ci/smoke_wheel.sh in the environment the README's set-up makes) can tell the two apart."""

from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
_SPEC = importlib.util.spec_from_file_location("readme_quickstart", ROOT / ".ci" / "readme_quickstart.py")
check = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(check)

SHOWN = "a  b\nrow 1\n...\nrow 9\nend\n"


def test_the_readme_quick_start_is_the_example_script():
    code, shown = check.quick_start_blocks((ROOT / "README.md").read_text(encoding="utf-8"))
    assert code.strip() == check.script_code((ROOT / "examples" / "quickstart.py").read_text(encoding="utf-8")).strip()
    assert "..." in shown.splitlines() and "confidence" in shown


def test_an_elision_stands_for_one_or_more_printed_lines():
    assert check.first_difference(SHOWN, "a  b   \nrow 1\nrow 2\nrow 9\nend\n") is None
    assert check.first_difference(SHOWN, "a  b\nrow 1\nrow 2\nrow 3\nrow 4\nrow 9\nend") is None
    assert "stands for no printed line" in check.first_difference("x\n...\n", "x\n")
    assert "printed nothing more" in check.first_difference("x\ny\n", "x\n")


def test_a_changed_figure_or_an_extra_line_is_a_difference():
    changed = check.first_difference(SHOWN, "a  b\nrow 1\nrow 2\nrow 9\nEND\n")
    assert "README line 5 'end' != printed line 5 'END'" in changed
    assert "README line 2" in check.first_difference(SHOWN, "a  b\nrow 7\nrow 2\nrow 9\nend\n")
    assert "printed more: 'extra'" in check.first_difference(SHOWN, "a  b\nrow 1\nrow 2\nrow 9\nend\nextra\n")


def test_the_check_exits_1_naming_the_difference(tmp_path, capsys):
    readme = tmp_path / "README.md"
    readme.write_text("# x\n\n## Quick start\n\n```python\nprint('a')\nprint('b')\n```\n\n```text\na\nb\n```\n\n## Next\n")
    script = tmp_path / "quickstart.py"
    script.write_text('"""Doc."""\n\nprint(\'a\')\nprint(\'b\')\n')
    printed = tmp_path / "printed.txt"
    printed.write_text("a\nb\n")
    assert check.main([str(readme), str(script), str(printed)]) == 0
    printed.write_text("a\nc\n")
    assert check.main([str(readme), str(script), str(printed)]) == 1
    assert "README line 2 'b' != printed line 2 'c'" in capsys.readouterr().err
    script.write_text('"""Doc."""\n\nprint(\'a\')\n')
    assert check.main([str(readme), str(script), str(printed)]) == 1
    assert "quick start code is not" in capsys.readouterr().err
