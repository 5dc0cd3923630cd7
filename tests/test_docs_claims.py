"""What the README, CONTRIBUTING.md and docs/*.md state that can be checked mechanically is true of the code.

Checked: the command-line synopsis against the parser (every option of every command named, none that does not
exist, the defaults it shows); the Python API table's signatures against ``inspect.signature`` (every parameter
named where a call is written out in full, each default it shows); the ``Forecast`` fields; the default health
thresholds; the requirements the Install section states; and that every link, heading anchor, repository path,
error class and fitted attribute (``name_``) the docs name exists.
"""

from __future__ import annotations

import ast
import builtins
import dataclasses
import inspect
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
DOCS = [README, ROOT / "CONTRIBUTING.md", *sorted((ROOT / "docs").glob("*.md"))]

# The docs name files only the repository holds (scripts/, the perf suite): an sdist ships neither.
pytestmark = pytest.mark.skipif(not all(p.exists() for p in DOCS) or not (ROOT / "scripts").is_dir()
                                or not (ROOT / "perf" / "conftest.py").exists(),
                                reason="the documentation, scripts/ or the perf suite is not shipped in this tree")

LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
OPTION = re.compile(r"(?<![\w-])(--?[a-z][a-z0-9-]*)")


def _section(text: str, heading: str) -> str:
    """The text under ``## heading`` up to the next ``## ``."""
    match = re.search(rf"^## {re.escape(heading)}\n(.*?)(?=^## |\Z)", text, flags=re.S | re.M)
    assert match, f"no section {heading!r}"
    return match.group(1)


def _slug(heading: str) -> str:
    """A heading's anchor as GitHub writes it."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def _anchors(path: Path) -> set[str]:
    text = re.sub(r"^```.*?^```", "", path.read_text(), flags=re.S | re.M)
    return {_slug(m) for m in re.findall(r"^#{1,6} (.+)$", text, flags=re.M)}


# ---------------------------------------------------------------- links, paths, names


def _broken_links(doc: Path) -> list[str]:
    broken = []
    for target in LINK.findall(doc.read_text()):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target):
            continue
        file, _, anchor = target.partition("#")
        path = (doc.parent / file).resolve() if file else doc
        if not path.exists():
            broken.append(target)
        elif anchor and path.suffix == ".md" and anchor not in _anchors(path):
            broken.append(target)
    return broken


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_every_link_names_a_file_and_a_heading_it_has(doc):
    assert _broken_links(doc) == []


def test_the_link_check_sees_a_missing_file_and_a_missing_heading(tmp_path):
    (tmp_path / "a.md").write_text("## One `--two`: three\n\n## max_gap\n")
    doc = tmp_path / "b.md"
    doc.write_text("[x](a.md#one---two-three) [y](a.md#max_gap) [z](a.md#four) [w](c.md) [u](https://e.org/#q)")
    assert _broken_links(doc) == ["a.md#four", "c.md"]


def test_the_readme_links_every_page_of_docs():
    linked = {target.split("#")[0] for target in LINK.findall(README.read_text())}
    assert sorted(f"docs/{p.name}" for p in (ROOT / "docs").glob("*.md") if f"docs/{p.name}" not in linked) == []


PATH = re.compile(r"(?<![\w.])((?:tests|scripts|perf|examples|docs|workload_predictor|benchmarks|\.ci)/[\w./-]*\w)"
                  r"(?:::(\w+))?")


def _missing_paths(text: str) -> list[str]:
    missing = []
    for path, test in PATH.findall(text):
        if not (ROOT / path).exists():
            missing.append(path)
        elif test and not re.search(rf"^\s*def {test}\(", (ROOT / path).read_text(), flags=re.M):
            missing.append(f"{path}::{test}")
    return missing


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_every_repository_path_the_docs_name_exists(doc):
    assert _missing_paths(doc.read_text()) == []


def test_the_path_check_sees_a_missing_file_and_test():
    assert _missing_paths("`tests/test_docs_claims.py::test_nothing_here`, scripts/nothing.py, "
                          "`.benchmarks/x/0001.json`") == ["tests/test_docs_claims.py::test_nothing_here",
                                                          "scripts/nothing.py"]


def _package_source() -> str:
    return "".join(p.read_text() for p in sorted((ROOT / "workload_predictor").rglob("*.py")))


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_every_error_class_and_fitted_attribute_the_docs_name_exists(doc):
    import workload_predictor.errors as errors

    text = doc.read_text()
    classes = set(re.findall(r"\b([A-Z]\w*(?:Error|Warning))\b", text))
    assert sorted(c for c in classes if not hasattr(errors, c) and not hasattr(builtins, c)) == []
    source = _package_source()
    attributes = set(re.findall(r"`(?:\w+\.)?([a-z][a-z0-9_]*[a-z0-9]_)`", text))
    assert sorted(a for a in attributes if not re.search(rf"\b{a}(?!\w)", source)) == []


# ---------------------------------------------------------------- the command line


def _synopsis(readme: str) -> dict[str, dict[str, str | None]]:
    """The README's command-line synopsis: per command, each option it names and the value shown after it."""
    from workload_predictor.cli import main

    commands = sorted(main.commands)
    block = next(b for b in re.findall(r"```text\n(.*?)```", _section(readme, "Command line"), re.S)
                 if b.startswith("workload-predictor "))
    named: dict[str, dict[str, str | None]] = {name: {} for name in commands}
    current: list[str] = []
    for line in block.splitlines():
        label = re.match(r"^(workload-predictor (\w+)|([a-z ]+):)", line)
        if label and label.group(2):
            current, rest = [label.group(2)], line[label.end():]
        elif label and label.group(3) in ("fleets", "every command"):
            current, rest = commands, line[label.end():]
        elif label:
            break
        else:
            rest = line
        parts = re.split(r",\s+(?=[a-z/]+ --)", rest) if current is commands else [rest]
        for part in parts:
            scope = current
            lead = re.match(r"^\s*([a-z]+(?:/[a-z]+)*) --", part)
            if current is commands and lead:
                scope = lead.group(1).split("/")
            for option, value in re.findall(r"(?<![\w-])(--?[a-z][a-z0-9-]*)(?:[ =](?!-)([^\s\]\[]+))?", part):
                for command in scope:
                    named[command][option] = value or None
    return named


def _synopsis_mismatches(readme: str) -> list[str]:
    import click

    from workload_predictor.cli import main

    wrong = []
    for name, options in _synopsis(readme).items():
        params = {opt: p for p in main.commands[name].params if isinstance(p, click.Option)
                  for opt in p.opts + p.secondary_opts if p.name != "help"}
        wrong += [f"{name} {opt}: no such option" for opt in options if opt not in params]
        shown = {params[opt].name for opt in options if opt in params}
        wrong += [f"{name} {p.opts[-1]}: not in the synopsis" for p in {id(p): p for p in params.values()}.values()
                  if p.name not in shown]
        for opt, value in options.items():
            param = params.get(opt)
            if (param is None or value in (None, "...") or value.rstrip(".").isupper()
                    or not isinstance(param.default, (str, int, float))):  # no default shown, or none (click's UNSET)
                continue
            if isinstance(param.type, click.Choice) and "|" in value:
                if value.split("|") != list(param.type.choices):
                    wrong.append(f"{name} {opt}: choices {value} != {list(param.type.choices)}")
            elif isinstance(param.default, (int, float)) and not isinstance(param.default, bool):
                if float(value) != float(param.default):
                    wrong.append(f"{name} {opt}: default {value} != {param.default}")
            elif str(value) != str(param.default):
                wrong.append(f"{name} {opt}: default {value} != {param.default}")
    return wrong


def test_the_readme_synopsis_names_every_option_and_its_default():
    assert _synopsis_mismatches(README.read_text()) == []


def test_the_synopsis_check_sees_a_missing_option_and_a_wrong_default():
    broken = README.read_text().replace("[--horizon 10] [--model ensemble]",
                                        "[--horizon 12] [--model ensemble] [--nope]", 1)
    broken = broken.replace(" [--stride 1]", "", 1)
    assert broken.count("--nope") == 1
    wrong = _synopsis_mismatches(broken)
    assert "forecast --horizon: default 12 != 10" in wrong
    assert "forecast --nope: no such option" in wrong
    assert "evaluate --stride: not in the synopsis" in wrong


def test_every_option_the_command_line_page_names_exists():
    import click

    from workload_predictor.cli import main

    options = {"--help"} | {opt for command in main.commands.values() for p in command.params if isinstance(p, click.Option)
               for opt in p.opts + p.secondary_opts}
    text = (ROOT / "docs" / "command-line.md").read_text() + _section(README.read_text(), "Command line")
    assert sorted({o for o in OPTION.findall(text) if o.startswith("--")} - options) == []


# ---------------------------------------------------------------- the Python API table


def _api_rows(readme: str) -> list[list[str]]:
    table = _section(readme, "Python API")
    rows = [[cell.strip() for cell in line.strip().strip("|").split(" | ")] for line in table.splitlines()
            if line.startswith("| `")]
    assert len(rows) >= 10
    return rows


def _calls(cell: str) -> list[tuple[str, ast.Call, bool]]:
    """Each call written in backticks in a table cell: its name, the parsed call, and whether it is written out in
    full (no ``...``)."""
    calls = []
    for code in re.findall(r"`([\w.]+\(.*?\))`", cell):
        name, args = code.split("(", 1)
        call = ast.parse("f(" + re.sub(r"(,\s*)?\.\.\.", "", args), mode="eval").body
        calls.append((name, call, "..." not in args))
    return calls


def _literal(node: ast.expr):
    return eval(compile(ast.Expression(node), "<readme>", "eval"), {"__builtins__": {}})  # numbers, strings, 2**30


def _signature_mismatches(where: str, func, call: ast.Call, full: bool) -> list[str]:
    params = {n: p for n, p in inspect.signature(func).parameters.items() if n != "self"}
    wrong = []
    for keyword in call.keywords:
        if keyword.arg is None:
            if not any(p.kind is p.VAR_KEYWORD for p in params.values()):
                wrong.append(f"{where}: takes no **kwargs")
        elif keyword.arg not in params:
            wrong.append(f"{where}: no parameter {keyword.arg}")
        elif params[keyword.arg].default != _literal(keyword.value):
            wrong.append(f"{where}: {keyword.arg}={ast.unparse(keyword.value)} but the default is "
                         f"{params[keyword.arg].default!r}")
    if full:  # the positional arguments stand for the first parameters, by a name of their own (data, path)
        named = {k.arg for k in call.keywords if k.arg is not None}
        plain = [n for n, p in params.items() if p.kind is not p.VAR_KEYWORD]
        wrong += [f"{where}: {n} not shown" for n in plain[len(call.args):] if n not in named]
    return wrong


def _owner(row: str):
    import workload_predictor as wp

    return {"`Forecast`": wp.Forecast, "`FleetPredictor(...)`": wp.FleetPredictor}.get(row, wp.WorkloadPredictor)


def _api_mismatches(readme: str) -> list[str]:
    import workload_predictor as wp

    wrong = []
    for row in _api_rows(readme):
        owner = _owner(row[0])
        for cell in row[:3]:
            for name, call, full in _calls(cell):
                if name in ("WorkloadPredictor", "FleetPredictor", "Forecast"):
                    continue  # the constructors: checked below from their parameter lists
                target = getattr(wp, name.split(".")[0]) if not name.startswith(".") else owner
                func = getattr(target, name.split(".")[-1]) if "." in name else target
                wrong += _signature_mismatches(f"{row[0]} {name}", func, call, full)
    return wrong


def test_the_api_table_shows_every_parameter_of_a_call_written_in_full_and_its_default():
    assert _api_mismatches(README.read_text()) == []


def test_the_api_check_sees_a_wrong_default_and_a_missing_parameter():
    broken = README.read_text().replace("`.predict(steps=None, level=None)` |", "`.predict(steps=None, level=0.9)` |", 1)
    broken = broken.replace('freq=None, unit=None, origin=None, tz=None)` | a bucketed',
                            'freq=None, unit=None, tz=None)` | a bucketed')
    assert broken.count("level=0.9)` |") == 1 and "unit=None, tz=None)` | a bucketed" in broken
    wrong = _api_mismatches(broken)
    assert "`.predict(steps=None, level=0.9)` .predict: level=0.9 but the default is None" in wrong
    assert any(w.endswith(".fit: origin not shown") for w in wrong)


def _settings(cell: str) -> dict[str, object]:
    """``name=default`` and bare ``name`` settings written in backticks in a table cell."""
    found: dict[str, object] = {}
    for code in re.findall(r"`([^`]+)`", cell):
        match = re.fullmatch(r"([a-z_]+)(?:=(.+))?", code)
        if match:
            found[match.group(1)] = inspect.Parameter.empty if match.group(2) is None else \
                _literal(ast.parse(match.group(2), mode="eval").body)
    return found


def _constructor_mismatches(readme: str) -> list[str]:
    import workload_predictor as wp

    rows = {row[0]: row for row in _api_rows(readme)}
    wrong = []
    per_key = inspect.signature(wp.WorkloadPredictor).parameters
    shown = _settings(rows["`WorkloadPredictor(...)`"][1])
    wrong += [f"WorkloadPredictor: {n} not shown" for n in per_key if n not in shown]
    fleet_cell = rows["`FleetPredictor(...)`"][1]
    but, _, plus = fleet_cell.partition(" plus ")
    left_out = set(_settings(but.split("(", 1)[0]))
    fleet_shown = {**{n: v for n, v in shown.items() if n not in left_out}, **_settings(plus)}
    fleet = inspect.signature(wp.FleetPredictor).parameters
    for cls, params, settings in (("WorkloadPredictor", per_key, shown), ("FleetPredictor", fleet, fleet_shown)):
        for name, default in settings.items():
            if name not in params:
                wrong.append(f"{cls}: no parameter {name}")
            elif default is not inspect.Parameter.empty and params[name].default != default:
                wrong.append(f"{cls}: {name}={default!r} but the default is {params[name].default!r}")
        wrong += [f"{cls}: {n} not shown" for n in params if n not in settings]
    fields = {f.name for f in dataclasses.fields(wp.Forecast)}
    named = set(re.findall(r"`(\w+)`", rows["`Forecast`"][1]))
    wrong += [f"Forecast: field {n} not shown" for n in sorted(fields - named)]
    wrong += [f"Forecast: no attribute {n}" for n in sorted(named) if not hasattr(wp.Forecast, n) and n not in fields]
    return wrong


def test_the_api_table_shows_every_constructor_setting_and_its_default():
    assert _constructor_mismatches(README.read_text()) == []


def test_the_constructor_check_sees_a_wrong_default_and_a_missing_setting():
    broken = README.read_text().replace("`n_threads=1`, ", "`n_threads=2`, ", 1).replace(", `partition_size`", "", 1)
    wrong = _constructor_mismatches(broken)
    assert "WorkloadPredictor: n_threads=2 but the default is 1" in wrong
    assert "FleetPredictor: partition_size not shown" in wrong


# ---------------------------------------------------------------- health thresholds and requirements


def test_the_health_page_states_the_default_thresholds():
    from workload_predictor.health import DEFAULT_THRESHOLDS

    table = {}
    for line in (ROOT / "docs" / "health.md").read_text().splitlines():
        cells = [c.strip() for c in line.strip("|").split("|")]
        if len(cells) == 5 and cells[0].startswith("`") and cells[0] != "`stale_buckets`":
            table[cells[0].strip("`")] = None if cells[1] == "not rated" else \
                tuple(float(re.sub(r"[^\d.]", "", c.replace(",", ""))) for c in cells[1:3])
    expected = {m: v for m, v in DEFAULT_THRESHOLDS.items() if m != "stale_buckets"}
    assert table == expected


def test_the_install_section_states_the_declared_requirements():
    pyproject = (ROOT / "pyproject.toml").read_text()
    install = _section(README.read_text(), "Install")
    torch = re.search(r'"torch>=([\d.]+),<=([\d.]+)"', pyproject).groups()
    assert f"torch {torch[0]}-{torch[1]}" in install
    assert f"numpy >= {re.search(r'numpy>=([0-9.]+)', pyproject).group(1)}" in install
    assert f"pandas {re.search(r'pandas>=([0-9.]+)', pyproject).group(1)} or" in install
    python = re.search(r'requires-python = ">=([0-9.]+)"', pyproject).group(1)
    assert f"Python {python} or later" in install
    extras = re.findall(r"^(\w+) = \[", pyproject.split("[project.optional-dependencies]")[1].split("\n[")[0],
                        flags=re.M)
    assert sorted(re.findall(r"`(\w+)`\s+\(", install.split("Extras:")[1].split("\n- ")[0])) == sorted(extras)


def _attributes_maybe_none_not_said(readme: str, docstring: str) -> list[str]:
    """The fitted attributes the README's list names whose docstring type is ``... or None`` and whose README
    description (up to the next attribute it names) does not say ``None``."""
    listed = readme.split("A fitted `WorkloadPredictor` also holds", 1)[1].split("\n\n", 1)[0]
    maybe_none = re.findall(r"^    (\w+_) : .* or None$", docstring, flags=re.M)
    names = [(m.start(), m.group(1)) for m in re.finditer(r"`(\w+_)`", listed)]
    said = {}
    for (start, name), (end, _) in zip(names, [*names[1:], (len(listed), "")]):
        said[name] = said.get(name, "") + listed[start:end]
    return [name for name in maybe_none if name in said and "None" not in said[name]]


def test_the_readme_says_none_where_a_fitted_attribute_it_lists_may_be_none():
    """A predictor with no flagged bucket holds ``None`` in ``input_anomaly_buckets_`` and ``input_flags_``: the
    README's list says so, as the docstring does, so that ``len(...)`` on them surprises no one."""
    from workload_predictor import WorkloadPredictor

    assert _attributes_maybe_none_not_said(README.read_text(), WorkloadPredictor.__doc__) == []


def test_the_none_check_sees_an_attribute_whose_none_is_not_said():
    docstring = "    a_ : int\n    b_ : numpy.ndarray or None\n    c_ : dict or None\n"
    readme = "A fitted `WorkloadPredictor` also holds:\n- `a_`: x (`None` never). `b_`: y.\n- `c_`: z or `None`.\n\n"
    assert _attributes_maybe_none_not_said(readme, docstring) == ["b_"]


def test_contributing_lists_every_maintained_script():
    table = _section((ROOT / "CONTRIBUTING.md").read_text(), "Scripts and benchmarks")
    listed = set(re.findall(r"^\| `([\w.]+)` \|", table, flags=re.M))
    scripts = {p.name for p in (ROOT / "scripts").iterdir() if p.suffix in (".py", ".sh")}
    assert sorted(scripts - listed) == [] and sorted(listed - scripts) == []


def _unknown_settings(text: str) -> list[str]:
    """Model names, update modes and ``model_params`` keys written as code in ``text`` that the code does not have."""
    from workload_predictor.fleet import GLOBAL_MODELS, UPDATE_MODES
    from workload_predictor.models import registry

    models = {*registry.names(), *GLOBAL_MODELS}
    wrong = [f"model {m}" for m in re.findall(r'\b(?:model|teacher)="(\w+)"', text) if m not in models]
    wrong += [f"update_mode {m}" for m in re.findall(r'\bupdate_mode="(\w+)"', text) if m not in UPDATE_MODES]
    inits = "".join(p.read_text() for p in sorted((ROOT / "workload_predictor" / "models").glob("*.py")))
    keys = re.findall(r'model_params=\{"(\w+)"', text) + re.findall(r'`\{"(\w+)": [^`]*\}` for the', text)
    wrong += [f"model_params key {k}" for k in keys if not re.search(rf"^\s+{k}: [^=]+=", inits, flags=re.M)]
    return wrong


@pytest.mark.parametrize("doc", [d for d in DOCS if d.name != "CONTRIBUTING.md"], ids=lambda p: p.name)
def test_every_model_update_mode_and_model_setting_the_docs_name_exists(doc):
    assert _unknown_settings(doc.read_text()) == []


def test_the_settings_check_sees_an_unknown_model_mode_and_setting():
    text = 'model="dlinears", update_mode="refitted", model_params={"half_lives": 3}, model_params={"half_life": 3}'
    assert _unknown_settings(text) == ["model dlinears", "update_mode refitted", "model_params key half_lives"]
