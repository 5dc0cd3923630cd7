"""Check the README's shown outputs against what its code prints: run every code block that has an output block after
it and compare.

    python3 .ci/readme_outputs.py README.md --python VENV/bin/python --workdir DIR [--sections NAME ...]

An output block is a ```text block that follows a ```python or ```bash block, or another output block of it, with
only blank lines between. A python block runs as a script (the Quick start's is ``examples/quickstart.py``: the
README's block must equal it, less its docstring, and the script runs); each line of a bash block is one command,
and the last commands print the output blocks in turn (the ones before them print nothing). Everything runs in
``DIR`` with ``VENV/bin`` first on ``PATH`` (so ``python3`` and ``workload-predictor`` are the environment's).
``--sections`` checks the named ``## `` sections only; without it, every section with an output block that an
earlier run in ``DIR`` did not check. The Quick start, Command line, Fleets and Production use sections must have
one.

Comparison: a shown line ``...`` stands for one or more printed lines; every other shown line must equal a printed
line (trailing spaces ignored, as pandas pads its header), except wall times, masked on both sides
(``mask_timings``): the figures of ``fit X s, predict Y ms`` ending the command line's ``model`` line, and the
``fit_s`` and ``predict_ms`` columns of the ``evaluate`` table. Exit 1, naming the section and the first
difference, when the README is not true.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

FENCE = re.compile(r"^```(\w*)[ \t]*\n(.*?)^```[ \t]*$", re.S | re.M)
HEADING = re.compile(r"^## (.+?)[ \t]*$", re.M)
CODE = ("python", "bash")
# Sections whose output blocks must be there: a block dropped from one of them fails the check, not skips it.
REQUIRED = ("Quick start", "Command line", "Fleets", "Production use")
# Sections whose code is a script in the source tree (relative to the README): the README shows the script.
SCRIPTS = {"Quick start": "examples/quickstart.py"}
CHECKED = ".readme_outputs_checked"  # in DIR: the sections checked there, one per line
RUN_TIMEOUT_S = 900

# Wall times, the only figures that differ between runs. The command line's model line ends
# "...: fit 1.64 s, predict 1.1 ms"; the evaluate table's last two columns are fit_s and predict_ms.
NUMBER = r"\d+(?:\.\d+)?"
MODEL_TIMES = re.compile(rf"^(model\s.*: fit ){NUMBER} s, predict {NUMBER} ms$")
TABLE_TIMES_HEADER = re.compile(r"\s+fit_s\s+predict_ms$")
TABLE_TIMES = re.compile(rf"\s+{NUMBER}\s+{NUMBER}$")


class CheckError(Exception):
    """The README does not show what its code prints, or its code could not run."""


@dataclass
class Example:
    """A code block of the README and the output blocks after it."""

    section: str
    language: str
    code: str
    line: int  # the README line of the code block's opening fence
    outputs: list[str] = field(default_factory=list)
    output_lines: list[int] = field(default_factory=list)  # the README line of each output block's first line


def short(text: str, limit: int = 160) -> str:
    """``text`` as repr, cut to about ``limit`` characters."""
    return repr(text) if len(text) <= limit else repr(text[:limit]) + f"... ({len(text)} characters)"


def examples(readme: str) -> list[Example]:
    """Every code block of ``readme`` that has an output block after it, in order."""
    fences = list(FENCE.finditer(readme))
    inside = [(fence.start(), fence.end()) for fence in fences]
    headings = [(m.start(), m.group(1)) for m in HEADING.finditer(readme)
                if not any(start <= m.start() < end for start, end in inside)]
    found: list[Example] = []
    previous: Example | None = None  # the code block an output block here would belong to
    previous_end = 0
    for fence in fences:
        language, body = fence.group(1), fence.group(2)
        adjacent = readme[previous_end:fence.start()].strip() == ""
        if language == "text" and adjacent and previous is not None:
            if not previous.outputs:
                found.append(previous)
            previous.outputs.append(body)
            previous.output_lines.append(readme.count("\n", 0, fence.start()) + 2)
        elif language in CODE:
            section = next((name for start, name in reversed(headings) if start < fence.start()), "")
            previous = Example(section, language, body, readme.count("\n", 0, fence.start()) + 1)
        else:
            previous = None
        previous_end = fence.end()
    return found


def script_code(script: str) -> str:
    """The script less its module docstring and the blank lines after it."""
    return re.sub(r'\A"""(.*?)"""\n+', "", script, flags=re.S)


def mask_timings(lines: list[str]) -> list[str]:
    """``lines`` with the wall times (only them) replaced by ``<s>`` and ``<ms>``: the figures of the model line's
    ``fit X s, predict Y ms``, and the last two figures of each row of a table whose header ends ``fit_s
    predict_ms`` (up to the next blank line)."""
    masked, in_table = [], False
    for line in lines:
        if not line.strip():
            in_table = False
        elif TABLE_TIMES_HEADER.search(line):
            in_table = True
            line = TABLE_TIMES_HEADER.sub(" fit_s predict_ms", line)
        elif in_table:
            line = TABLE_TIMES.sub(" <s> <ms>", line)
        else:
            line = MODEL_TIMES.sub(r"\1<s> s, predict <ms> ms", line)
        masked.append(line)
    return masked


def first_difference(shown: str, printed: str, first_line: int = 1) -> str | None:
    """None when ``printed`` matches ``shown`` (``...`` for one or more lines, timings masked), else where they
    part; ``first_line`` is the README line of ``shown``'s first line."""
    shown_lines = [line.rstrip() for line in shown.splitlines()]
    printed_lines = [line.rstrip() for line in printed.splitlines()]
    expected, actual = mask_timings(shown_lines), mask_timings(printed_lines)

    def match(i: int, j: int) -> tuple[int, str] | None:
        """None on a match, else (the README line it got to, what differs there)."""
        while i < len(expected):
            if expected[i] == "...":
                tried = [match(i + 1, k) for k in range(j + 1, len(actual) + 1)]
                if None in tried:
                    return None
                return max(tried) if tried else (
                    i, f"'...' at README line {first_line + i} stands for no printed line")
            if j >= len(actual):
                return i, f"README line {first_line + i} {short(shown_lines[i])}: the code printed nothing more"
            if expected[i] != actual[j]:
                return i, (f"README line {first_line + i} {short(shown_lines[i])} != printed line {j + 1} "
                           f"{short(printed_lines[j])}")
            i, j = i + 1, j + 1
        return None if j == len(actual) else (i, f"the code printed more: {short(printed_lines[j])}")

    found = match(0, 0)
    return None if found is None else found[1]


def commands(code: str) -> list[str]:
    """A bash block's commands: one a line (a trailing backslash continues it), less blank lines and comments."""
    joined = re.sub(r"\\\n", " ", code)
    return [line.strip() for line in joined.splitlines() if line.strip() and not line.strip().startswith("#")]


def _run(argv: list[str], workdir: Path, python: Path, what: str) -> str:
    """``argv``'s standard output, run in ``workdir`` with ``python``'s folder first on PATH."""
    env = {name: value for name, value in os.environ.items() if name != "PYTHONPATH"}
    env["PATH"] = str(python.parent) + os.pathsep + env.get("PATH", "")
    try:
        done = subprocess.run(argv, cwd=workdir, env=env, capture_output=True, text=True, timeout=RUN_TIMEOUT_S)
    except subprocess.TimeoutExpired as error:
        raise CheckError(f"{what} ran over {RUN_TIMEOUT_S} s") from error
    if done.returncode != 0:
        raise CheckError(f"{what} exited {done.returncode}:\n{done.stderr[-3000:]}")
    return done.stdout


def printed_outputs(example: Example, readme_dir: Path, workdir: Path, python: Path) -> list[str]:
    """Run ``example`` and return what it printed for each of its output blocks."""
    name = f"the {example.section} block at README line {example.line}"
    if example.language == "python":
        if len(example.outputs) != 1:
            raise CheckError(f"{name}: a python block shows one output block, not {len(example.outputs)}")
        if example.section in SCRIPTS:
            script = readme_dir / SCRIPTS[example.section]
            if example.code.strip() != script_code(script.read_text(encoding="utf-8")).strip():
                raise CheckError(f"{name} is not {SCRIPTS[example.section]} (less its docstring)")
        else:
            slug = re.sub(r"\W+", "_", example.section.lower()).strip("_")
            script = workdir / f"readme_{slug}_{example.line}.py"
            script.write_text(example.code, encoding="utf-8")
        return [_run([str(python), str(script)], workdir, python, name)]
    lines = commands(example.code)
    quiet = len(lines) - len(example.outputs)
    if quiet < 0:
        raise CheckError(f"{name}: {len(example.outputs)} output blocks after {len(lines)} commands")
    printed = []
    for number, command in enumerate(lines):
        out = _run(["bash", "-euo", "pipefail", "-c", command], workdir, python, f"{name}, command {short(command)}")
        if number < quiet and out.strip():
            raise CheckError(f"{name}: command {short(command)} printed {short(out)}, and the README shows no output "
                             "block for it")
        if number >= quiet:
            printed.append(out)
    return printed


def check(readme_path: Path, workdir: Path, python: Path, sections: list[str] | None) -> list[str]:
    """Check the chosen sections' examples (default: those not checked in ``workdir`` yet); return the sections
    checked. Raises CheckError at the first difference."""
    found = examples(readme_path.read_text(encoding="utf-8"))
    having = {example.section for example in found}
    missing = [name for name in REQUIRED if name not in having]
    if missing:
        raise CheckError(f"{readme_path}: no code block with an output block after it in section(s) {missing}")
    record = workdir / CHECKED
    done = record.read_text(encoding="utf-8").splitlines() if record.exists() else []
    if sections is None:
        sections = [name for name in dict.fromkeys(example.section for example in found) if name not in done]
    unknown = [name for name in sections if name not in having]
    if unknown:
        raise CheckError(f"{readme_path}: no code block with an output block after it in section(s) {unknown}")
    for example in found:
        if example.section not in sections:
            continue
        started = time.perf_counter()
        printed = printed_outputs(example, readme_path.parent, workdir, python)
        for number, (shown, out, first_line) in enumerate(zip(example.outputs, printed, example.output_lines), 1):
            difference = first_difference(shown, out, first_line)
            if difference is not None:
                raise CheckError(f"{readme_path}'s {example.section} output block {number} (code at line "
                                 f"{example.line}) is not what the code printed: {difference}\nprinted:\n{out}")
        print(f"README {example.section} (line {example.line}): {len(example.outputs)} output block(s) as shown, "
              f"{time.perf_counter() - started:.1f} s")
    with record.open("a", encoding="utf-8") as file:
        file.writelines(f"{name}\n" for name in sections)
    return sections


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("readme", type=Path)
    parser.add_argument("--python", type=Path, default=Path(sys.executable))
    parser.add_argument("--workdir", type=Path, default=Path.cwd())
    parser.add_argument("--sections", nargs="+")
    args = parser.parse_args(argv)
    try:
        check(args.readme.resolve(), args.workdir.resolve(), args.python.absolute(), args.sections)
    except CheckError as error:
        print(error, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
