"""The check .ci/smoke_wheel.sh runs on the README (.ci/readme_outputs.py: every code block with an output block after
it is run in the environment the README's set-up makes, and its output compared) finds the README's examples, and
tells a changed figure, a changed wall time (ignored) and a missing block apart."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
_SPEC = importlib.util.spec_from_file_location("readme_outputs", ROOT / ".ci" / "readme_outputs.py")
check = importlib.util.module_from_spec(_SPEC)
sys.modules[_SPEC.name] = check  # its dataclass looks its module up
_SPEC.loader.exec_module(check)

README = (ROOT / "README.md").read_text(encoding="utf-8")
SHOWN = "a  b\nrow 1\n...\nrow 9\nend\n"


def readme_example(section: str):
    [example] = [example for example in check.examples(README) if example.section == section]
    return example


def test_the_readme_examples_are_found():
    found = {example.section: example for example in check.examples(README)}
    # Exactly these: the smoke test runs every block found, so the Install section's pip commands must not be one.
    assert sorted(found) == sorted(check.REQUIRED)
    assert [len(found[name].outputs) for name in check.REQUIRED] == [1, 2, 1, 1]
    assert found["Quick start"].code.strip() == check.script_code(
        (ROOT / "examples" / "quickstart.py").read_text(encoding="utf-8")).strip()
    # The command line block: the trace written (no output), then forecast's and evaluate's output blocks; the
    # usage summary further down follows prose, not code, and is no output block.
    cli = found["Command line"]
    assert [command.split()[:2] for command in check.commands(cli.code)] == [
        ["python3", "-c"], ["workload-predictor", "forecast"], ["workload-predictor", "evaluate"]]
    assert cli.outputs[0].startswith("trace   conv.csv") and "wrote   forecast.png" in cli.outputs[0]
    assert "fit_s  predict_ms" in cli.outputs[1]
    assert all("workload-predictor inspect" not in shown for shown in cli.outputs)
    assert "FleetPredictor" in found["Fleets"].code and "{'code': 0.0, 'conv': 0.85} {}" in found["Fleets"].outputs[0]
    assert found["Production use"].outputs[0].startswith("Forecast(model='dlinear'")


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


def printed_like(shown: str, *replacements: tuple[str, str]) -> str:
    """The README block as the command would print it (``...`` filled in), with ``replacements`` made."""
    text = shown.replace("\n...\n", "\nelided line\n")
    for old, new in replacements:
        assert old in text, old
        text = text.replace(old, new)
    return text


def test_wall_times_are_masked_and_nothing_else():
    forecast, evaluate = readme_example("Command line").outputs
    assert check.first_difference(forecast, printed_like(forecast)) is None
    assert check.first_difference(evaluate, printed_like(evaluate)) is None
    # The model line's fit and predict times, and the evaluate table's fit_s and predict_ms columns, even when a
    # wider figure widens the column.
    slower = printed_like(forecast, ("fit 1.64 s, predict 1.1 ms", "fit 12.07 s, predict 10.4 ms"))
    assert check.first_difference(forecast, slower) is None
    header = "winkler  confidence  fit_s  predict_ms"
    slower = printed_like(evaluate, (header, "winkler  confidence   fit_s  predict_ms"),
                          ("0.790  0.007       0.808", "0.790 12.345       9.999"),
                          ("0.815  0.002       0.430", "0.815  0.004       1.430"))
    assert check.first_difference(evaluate, slower) is None
    # Every other figure counts, on those lines too.
    assert "README line 3" in check.first_difference(
        forecast, printed_like(forecast, ("moving_median 0.67", "moving_median 0.66")))
    assert "README line 3" in check.first_difference(
        forecast, printed_like(forecast, ("fit 1.64 s, predict 1.1 ms", "fit 1.64 min, predict 1.1 ms")))
    assert "README line 6" in check.first_difference(
        evaluate, printed_like(evaluate, ("0.790  0.007", "0.791  0.007")))
    assert "README line 6" in check.first_difference(
        evaluate, printed_like(evaluate, ("dlinear         9.455", "dlinear         9.456")))
    # A table without the timing columns keeps its last two columns.
    assert "README line 8" in check.first_difference(
        forecast, printed_like(forecast, ("23.20  53.61", "23.20  53.62")))


def test_the_timing_mask_is_narrow():
    lines = ["model   dlinear: fit 0.02 s, predict 0.5 ms", "level   0.9 interval; fit 0.02 s, predict 0.5 ms",
             "a b  fit_s  predict_ms", "x 1.0  0.5  0.25", "", "y 1.0  0.5  0.25"]
    assert check.mask_timings(lines) == [
        "model   dlinear: fit <s> s, predict <ms> ms", "level   0.9 interval; fit 0.02 s, predict 0.5 ms",
        "a b fit_s predict_ms", "x 1.0 <s> <ms>", "", "y 1.0  0.5  0.25"]


QUICKSTART = "print('quick')\n"


def write_readme(tmp_path: Path, fleets_output: str = "code 61.3\n", fleets_shown: str = "code 61.3\n",
                 cli: str = "```bash\necho -n\necho 'model   x: fit 9.99 s, predict 9.9 ms'\n```\n\n"
                            "```text\nmodel   x: fit 1.64 s, predict 1.1 ms\n```\n") -> list[str]:
    """A README with the four sections, its quick start script beside it; the arguments to check it."""
    (tmp_path / "examples").mkdir(exist_ok=True)
    (tmp_path / "examples" / "quickstart.py").write_text(f'"""Doc."""\n\n{QUICKSTART}')
    (tmp_path / "README.md").write_text(
        f"# x\n\n## Quick start\n\n```python\n{QUICKSTART}```\n\n```text\nquick\n```\n\n"
        f"## Command line\n\n```bash\npip install nothing\n```\n\nSome prose.\n\n{cli}\nMore prose.\n\n"
        "```text\nusage: not an output\n```\n\n"
        f"## Fleets\n\n```python\nprint({fleets_output!r}, end='')\n```\n\n```text\n{fleets_shown}```\n\n"
        "## Production use\n\n```python\nprint('p')\n```\n\n```text\np\n```\n")
    work = tmp_path / "work"
    work.mkdir(exist_ok=True)
    return [str(tmp_path / "README.md"), "--python", sys.executable, "--workdir", str(work)]


def test_the_check_passes_a_true_readme_wall_times_aside(tmp_path, capsys):
    assert check.main(write_readme(tmp_path)) == 0
    out = capsys.readouterr().out
    assert [line.split(" (")[0] for line in out.splitlines()] == [
        "README Quick start", "README Command line", "README Fleets", "README Production use"]


def test_the_check_exits_1_naming_a_changed_figure(tmp_path, capsys):
    assert check.main(write_readme(tmp_path, fleets_output="code 61.4\n")) == 1
    err = capsys.readouterr().err
    assert "Fleets output block 1 (code at line 38)" in err
    assert "README line 43 'code 61.3' != printed line 1 'code 61.4'" in err


def test_the_check_exits_1_naming_a_missing_block(tmp_path, capsys):
    args = write_readme(tmp_path)
    readme = Path(args[0])
    readme.write_text(readme.read_text().replace("```text\ncode 61.3\n```\n", ""))
    assert check.main(args) == 1
    assert "no code block with an output block after it in section(s) ['Fleets']" in capsys.readouterr().err
    # An output block the code does not print, or output the README does not show, is a difference too.
    assert check.main(write_readme(tmp_path, fleets_output="")) == 1
    assert "'code 61.3': the code printed nothing more" in capsys.readouterr().err
    assert check.main(write_readme(tmp_path, cli="```bash\necho hello\necho x\n```\n\n```text\nx\n```\n")) == 1
    assert "command 'echo hello' printed 'hello\\n', and the README shows no output block" in capsys.readouterr().err


def test_the_quick_start_must_be_the_script(tmp_path, capsys):
    args = write_readme(tmp_path)
    (tmp_path / "examples" / "quickstart.py").write_text('"""Doc."""\n\nprint("quick")\n')
    assert check.main(args) == 1
    assert "is not examples/quickstart.py (less its docstring)" in capsys.readouterr().err


def test_a_failing_block_fails_the_check(tmp_path, capsys):
    assert check.main(write_readme(tmp_path, cli="```bash\nexit 3\n```\n\n```text\nx\n```\n")) == 1
    assert "command 'exit 3' exited 3" in capsys.readouterr().err


@pytest.mark.parametrize("first", [["Fleets"], ["Quick start", "Production use"]])
def test_a_later_run_checks_the_sections_not_checked_yet(tmp_path, capsys, first):
    args = write_readme(tmp_path)
    assert check.main([*args, "--sections", *first]) == 0
    assert check.main(args) == 0
    checked = [line.split(" (")[0].removeprefix("README ") for line in capsys.readouterr().out.splitlines()]
    assert checked[:len(first)] == first and sorted(checked) == sorted(check.REQUIRED)
    assert check.main([*args, "--sections", "Evaluation"]) == 1
    assert "section(s) ['Evaluation']" in capsys.readouterr().err
