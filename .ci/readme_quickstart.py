"""Check the README's quick start against what it does: its code is ``examples/quickstart.py`` and the output it
shows is what the script printed.

    python3 .ci/readme_quickstart.py README.md examples/quickstart.py PRINTED

``PRINTED`` holds the script's standard output from the environment the README's set-up command makes (the
smoke test's bare virtual environment). A line ``...`` in the README's output stands for one or more printed
lines; every other shown line must equal a printed line (trailing spaces ignored, as pandas pads its header).
Exit 1, naming the first difference, when the README is not true.
"""

from __future__ import annotations

import re
import sys

FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.S | re.M)


def quick_start_blocks(readme: str) -> tuple[str, str]:
    """The code block and the output block that follow the README's ``## Quick start`` heading."""
    start = readme.index("## Quick start")
    end = readme.find("\n## ", start + 1)
    blocks = FENCE.findall(readme[start : end if end >= 0 else len(readme)])
    code = [body for language, body in blocks if language == "python"]
    shown = [body for language, body in blocks if language == "text"]
    if not code or not shown:
        raise ValueError("the README's Quick start section has no ```python block or no ```text block after it")
    return code[0], shown[0]


def script_code(script: str) -> str:
    """The script less its module docstring and the blank lines after it."""
    return re.sub(r'\A"""(.*?)"""\n+', "", script, flags=re.S)


def first_difference(shown: str, printed: str) -> str | None:
    """None when ``printed`` matches ``shown`` (``...`` for one or more lines), else where they part."""
    expected = [line.rstrip() for line in shown.splitlines()]
    actual = [line.rstrip() for line in printed.splitlines()]

    def match(i: int, j: int) -> tuple[int, str] | None:
        """None on a match, else (the README line it got to, what differs there)."""
        while i < len(expected):
            if expected[i] == "...":
                tried = [match(i + 1, k) for k in range(j + 1, len(actual) + 1)]
                if None in tried:
                    return None
                return max(tried) if tried else (i, f"'...' at README line {i + 1} stands for no printed line")
            if j >= len(actual):
                return i, f"README line {i + 1} {expected[i]!r}: the script printed nothing more"
            if expected[i] != actual[j]:
                return i, f"README line {i + 1} {expected[i]!r} != printed line {j + 1} {actual[j]!r}"
            i, j = i + 1, j + 1
        return None if j == len(actual) else (i, f"the script printed more: {actual[j]!r}")

    found = match(0, 0)
    return None if found is None else found[1]


def main(argv: list[str]) -> int:
    readme_path, script_path, printed_path = argv
    with open(readme_path, encoding="utf-8") as file:
        code, shown = quick_start_blocks(file.read())
    with open(script_path, encoding="utf-8") as file:
        script = script_code(file.read())
    if code.strip() != script.strip():
        print(f"{readme_path}'s quick start code is not {script_path}'s", file=sys.stderr)
        return 1
    with open(printed_path, encoding="utf-8") as file:
        difference = first_difference(shown, file.read())
    if difference is not None:
        print(f"{readme_path}'s quick start output is not what {script_path} printed: {difference}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
