"""Every docstring documents exactly the parameters its signature has (what ``help()`` shows is true).

The numpy-style layout is parsed here (numpydoc is no dependency): a section is a title line over a line of
dashes; a ``Parameters`` entry is an unindented ``name : type`` line (``a, b : type`` documents two) over an
indented description. Checked:

* every public callable (``workload_predictor.__all__``, ``workload_predictor.datasets`` and the public methods
  of the exported classes, inherited ones included; ``backtest.backtest``/``run_backtest`` and
  ``models.registry.names``/``register``, which the README names) that takes a parameter has a ``Parameters`` section (a
  dataclass: an ``Attributes`` section documents its fields);
* every ``Parameters`` section in the package (public or not, read from the source, so no module is imported
  for it: the torch modules stay unloaded) names the signature's parameters, all of them, in order;
* a default a parameter's own entry states (``int, default 5``, ``Default 300``, ``None`` (default)) is the
  signature's;
* every class a ``Raises`` or ``Warns`` section names, and every ``workload_predictor.errors`` class a
  docstring links, exists there or in builtins; every class a ``Returns`` section names exists.

Exception classes are left out of the first check: users catch them, the library constructs them.
"""

from __future__ import annotations

import ast
import builtins
import dataclasses
import importlib
import inspect
import re
from pathlib import Path

import pytest

import workload_predictor
from workload_predictor import backtest, datasets, errors
from workload_predictor.models import registry

PACKAGE = Path(workload_predictor.__file__).resolve().parent
SECTION_TITLES = ("Parameters", "Other Parameters", "Returns", "Yields", "Raises", "Warns", "Attributes", "Notes",
                  "Examples", "See Also", "References")
ENTRY = re.compile(r"^(\*{0,2}[A-Za-z_][\w]*(?:\s*,\s*\*{0,2}[A-Za-z_][\w]*)*)\s*(?::\s*(.*))?$")
# A default as a parameter's entry states it: "int, default 5" on the type line, or in the description
# "default 300", "Default: ``None``", "``None`` (default)". The first "default" an entry writes is its own (a later
# one may be another's: "beside the default ``0.9``"); a literal is compared, "default: the fitted horizon" states
# none.
FIRST_DEFAULT = re.compile(r"\b[Dd]efault\b")
STATED_DEFAULT = [
    re.compile(r"[Dd]efault:?\s+(``[^`]+``|[-+]?\d[\d,_]*(?:\.\d+)?(?:e[-+]?\d+)?\b(?:\s*[KMG]iB)?|True|False|None)"),
    re.compile(r"(``[^`]+``)\s+\(default\)"),
]
UNIT = {"KiB": 2 ** 10, "MiB": 2 ** 20, "GiB": 2 ** 30}
NO_DEFAULT = object()
UNKNOWN = object()  # a default the source writes as an expression (a constant's name): not compared


# ---------------------------------------------------------------- the parser


def sections(doc: str | None) -> dict[str, list[str]]:
    """The docstring's sections by title, each as its lines (dedented, blank lines kept)."""
    lines = inspect.cleandoc(doc or "").splitlines()
    found: dict[str, list[str]] = {}
    title = None
    for i, line in enumerate(lines):
        underline = i + 1 < len(lines) and re.fullmatch(r"-{3,}", lines[i + 1].strip() or "x")
        if underline and line.strip() in SECTION_TITLES:
            title = line.strip()
            found[title] = []
        elif title is not None and not re.fullmatch(r"-{3,}", line.strip() or "x"):
            found[title].append(line)
    # A section's lines are indented as its title was (a class docstring's first line is not).
    for title, body in found.items():
        indent = min((len(b) - len(b.lstrip()) for b in body if b.strip()), default=0)
        found[title] = [b[indent:] for b in body]
    return found


def entries(body: list[str]) -> list[tuple[str, str, str]]:
    """A section's entries as ``(name, type, description)``; ``a, b : type`` is two entries, whose description
    (shared, so no default of either is read from it) is ``None``."""
    out: list[tuple[list[str], str, list[str]]] = []
    for line in body:
        if line.strip() and not line[0].isspace():
            match = ENTRY.match(line.strip())
            names = [n.strip() for n in match.group(1).split(",")] if match else [line.strip()]
            out.append((names, (match.group(2) or "") if match else "", []))
        elif out:
            out[-1][2].append(line.strip())
    return [(name, kind if len(names) == 1 else "", " ".join(desc) if len(names) == 1 else None)
            for names, kind, desc in out for name in names]


def stated_default(kind: str, description: str):
    """The literal default an entry states (its type line first), else ``NO_DEFAULT``."""
    for text in (kind, description):
        first = FIRST_DEFAULT.search(text)
        if first is None:
            continue
        for pattern in STATED_DEFAULT:
            # "Default 5" from the first "default"; "``5`` (default)" ending just after it.
            match = pattern.match(text, first.start()) or next(
                (m for m in pattern.finditer(text) if m.end() == first.end() + 1), None)
            if match:
                return _literal(match.group(1))
        return NO_DEFAULT
    return NO_DEFAULT


def _literal(text: str):
    text = text.strip("`").strip()
    unit = re.fullmatch(r"(\d+)\s*([KMG]iB)", text)
    if unit:
        return int(unit.group(1)) * UNIT[unit.group(2)]
    try:
        return ast.literal_eval(text.replace(",", "") if re.fullmatch(r"[-+\d,_.e]+", text) else text)
    except (ValueError, SyntaxError):
        return NO_DEFAULT


def same_default(stated, actual) -> bool:
    if isinstance(stated, (int, float)) and not isinstance(stated, bool):
        return isinstance(actual, (int, float)) and not isinstance(actual, bool) and float(stated) == float(actual)
    return type(stated) is type(actual) and stated == actual


def problems(where: str, doc: str | None, params: list[tuple[str, object]], title: str = "Parameters") -> list[str]:
    """What a docstring's ``Parameters`` section (or ``title``) gets wrong of ``params`` (name as documented,
    default)."""
    found = sections(doc)
    if title not in found:
        return []
    documented = entries(found[title] + found.get("Other Parameters", []))
    names = [name for name, _, _ in documented]
    wrong = []
    if names != [name for name, _ in params]:
        wrong.append(f"{where}: documents {names}, signature has {[name for name, _ in params]}")
    actual = dict(params)
    for name, kind, description in documented:
        if description is None:
            continue
        stated = stated_default(kind, description)
        if actual.get(name, UNKNOWN) is not UNKNOWN and stated is not NO_DEFAULT and not same_default(stated, actual[name]):
            wrong.append(f"{where}: {name} documented default {stated!r}, signature's {actual[name]!r}")
    return wrong


def named_classes(doc: str | None) -> list[str]:
    """The classes a docstring's ``Raises``/``Warns`` sections name and the ``errors`` classes it links."""
    found = sections(doc)
    names = [kind or name for title in ("Raises", "Warns") for name, kind, _ in entries(found.get(title, []))]
    names = [n.strip(":`~").split(".")[-1] for n in names]
    names += re.findall(r"workload_predictor\.errors\.(\w+)", doc or "")
    return names


def known_class(name: str) -> bool:
    return isinstance(getattr(errors, name, getattr(builtins, name, None)), type)


def returned_types(doc: str | None) -> list[str]:
    """The class names (``Forecast``, ``pandas.DataFrame``) in a docstring's ``Returns`` section's types."""
    found = sections(doc)
    kinds = [kind or name for name, kind, _ in entries(found.get("Returns", []))]
    return [t for kind in kinds for t in re.findall(r"[A-Za-z_][\w.]*", kind) if "." in t or t[0].isupper()]


def known_type(name: str, package_classes: set[str]) -> bool:
    """A class of the package (by name), a builtin, or a class a dotted path reaches (``pandas.DataFrame``)."""
    if "." not in name:
        return name in package_classes or isinstance(getattr(builtins, name, None), type) or name in ("DataFrame",
                                                                                                     "Series")
    module, *attributes = name.split(".")
    try:
        obj = importlib.import_module(module)
    except ImportError:
        return False
    for attribute in attributes:
        obj = getattr(obj, attribute, None)
    return isinstance(obj, type)


# ---------------------------------------------------------------- what is checked


def _signature_params(func) -> list[tuple[str, object]]:
    params = []
    for i, p in enumerate(inspect.signature(func).parameters.values()):
        if i == 0 and p.name in ("self", "cls"):
            continue
        star = {p.VAR_POSITIONAL: "*", p.VAR_KEYWORD: "**"}.get(p.kind, "")
        params.append((star + p.name, NO_DEFAULT if p.default is p.empty else p.default))
    return params


def public_callables() -> list[tuple[str, object, object]]:
    """``(name, callable, docstring owner)``: a class's ``__init__`` is documented by the class."""
    found = []
    for name in workload_predictor.__all__:
        obj = getattr(workload_predictor, name)
        if inspect.isclass(obj):
            if issubclass(obj, BaseException):
                continue
            found.append((name, obj.__init__, obj))
            for attr in dir(obj):
                if attr.startswith("_"):
                    continue
                member = inspect.getattr_static(obj, attr)
                if isinstance(member, (staticmethod, classmethod)):
                    member = member.__func__
                if inspect.isfunction(member):
                    found.append((f"{name}.{attr}", member, member))
        elif inspect.isfunction(obj):
            found.append((name, obj, obj))
    for name in datasets.__all__:
        obj = getattr(datasets, name)
        if inspect.isfunction(obj):
            found.append((f"datasets.{name}", obj, obj))
    # What the README names beside the exports: the backtest table and the model registry.
    for func in (backtest.backtest, backtest.run_backtest, registry.names, registry.register):
        found.append((f"{func.__module__.removeprefix('workload_predictor.')}.{func.__name__}", func, func))
    return found


PUBLIC = public_callables()


def test_the_public_set_is_what_users_call():
    names = {name for name, _, _ in PUBLIC}
    for expected in ("WorkloadPredictor.fit", "WorkloadPredictor.set_params", "FleetPredictor.update",
                     "Forecast.to_requests", "bucketize", "datasets.azure_llm_trace"):
        assert expected in names


@pytest.mark.parametrize("name, func, owner", PUBLIC, ids=[p[0] for p in PUBLIC])
def test_public_callable_documents_its_parameters(name, func, owner):
    # A dataclass's fields are its parameters; its ``Attributes`` section documents them.
    title = "Attributes" if dataclasses.is_dataclass(owner) else "Parameters"
    params = _signature_params(func)
    if params:
        assert title in sections(owner.__doc__), f"{name}{inspect.signature(func)} has no {title} section"
    assert problems(name, owner.__doc__, params, title) == []


@pytest.mark.parametrize("name, func, owner", PUBLIC, ids=[p[0] for p in PUBLIC])
def test_public_callable_names_existing_classes(name, func, owner):
    assert [n for n in named_classes(owner.__doc__) if not known_class(n)] == []


TREES = {path: ast.parse(path.read_text(), filename=str(path)) for path in sorted(PACKAGE.rglob("*.py"))}
CLASSES: set[str] = set()  # every class the package defines, by name (filled with SOURCE)


def _source_docstrings():
    """``(where, docstring, params)`` of every function and class in the package's source."""
    for path, tree in TREES.items():
        rel = path.relative_to(PACKAGE.parent)
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef):
                CLASSES.add(node.name)
                init = next((n for n in node.body if isinstance(n, ast.FunctionDef) and n.name == "__init__"), None)
                fields = [n for n in node.body if isinstance(n, ast.AnnAssign) and isinstance(n.target, ast.Name)]
                if init is not None:
                    params = _ast_params(init)
                elif any(isinstance(d, (ast.Name, ast.Call, ast.Attribute)) and "dataclass" in ast.unparse(d)
                         for d in node.decorator_list):
                    params = [(f.target.id, _ast_default(f.value)) for f in fields
                              if "ClassVar" not in ast.unparse(f.annotation)]
                else:
                    continue
                yield f"{rel}:{node.lineno} {node.name}", ast.get_docstring(node, clean=False), params
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                yield f"{rel}:{node.lineno} {node.name}", ast.get_docstring(node, clean=False), _ast_params(node)


def _ast_default(node):
    if node is None:
        return NO_DEFAULT
    try:
        return ast.literal_eval(node)
    except ValueError:
        return UNKNOWN


def _ast_params(func: ast.FunctionDef) -> list[tuple[str, object]]:
    args = func.args
    positional = args.posonlyargs + args.args
    defaults = [None] * (len(positional) - len(args.defaults)) + list(args.defaults)
    params = [(a.arg, _ast_default(d)) for a, d in zip(positional, defaults)]
    if args.vararg:
        params.append(("*" + args.vararg.arg, NO_DEFAULT))
    params += [(a.arg, _ast_default(d)) for a, d in zip(args.kwonlyargs, args.kw_defaults)]
    if args.kwarg:
        params.append(("**" + args.kwarg.arg, NO_DEFAULT))
    return params[1:] if params and params[0][0] in ("self", "cls") else params


SOURCE = list(_source_docstrings())


def test_every_parameters_section_in_the_package_matches_its_signature():
    documented = [s for s in SOURCE if "Parameters" in sections(s[1])]
    assert len(documented) >= 20  # the parser finds the sections the package has
    assert [p for where, doc, params in documented for p in problems(where, doc, params)] == []


def test_every_class_a_docstring_names_exists():
    assert [f"{where}: {n}" for where, doc, _ in SOURCE for n in named_classes(doc) if not known_class(n)] == []


def test_every_returned_type_exists():
    returned = [(where, t) for where, doc, _ in SOURCE for t in returned_types(doc)]
    assert [f"{where}: {t}" for where, t in returned if not known_type(t, CLASSES)] == []
    assert {"WorkloadPredictor", "pandas.DataFrame"} <= {t for _, t in returned}  # the parser reads the package's sections


# ---------------------------------------------------------------- the checks can fail


BROKEN = '''Do a thing.

    Parameters
    ----------
    steps : int, default 5
        Buckets.
    gone : str
        A parameter the signature lost.

    Raises
    ------
    NoSuchError
        Never.
    '''


def test_the_checks_catch_drift():
    wrong = problems("f", BROKEN, [("steps", 4), ("level", 0.9)])
    assert wrong == ["f: documents ['steps', 'gone'], signature has ['steps', 'level']",
                     "f: steps documented default 5, signature's 4"]
    assert named_classes(BROKEN) == ["NoSuchError"] and not known_class("NoSuchError")
    gone = BROKEN + "\n    Returns\n    -------\n    list of OldResult\n        Gone.\n    pandas.Frame\n        Misspelt.\n"
    assert returned_types(gone) == ["OldResult", "pandas.Frame"]
    assert not known_type("OldResult", {"Forecast"}) and not known_type("pandas.Frame", set())
    assert known_type("Forecast", {"Forecast"}) and known_type("pandas.DataFrame", set())
    assert problems("f", BROKEN.replace("gone : str", "level : float\n        Default ``0.5``."),
                    [("steps", 5), ("level", 0.9)]) == ["f: level documented default 0.5, signature's 0.9"]
    assert stated_default("", "Default 1 GiB, checked first.") == 2 ** 30
    assert stated_default("", "``None`` (default) only when ...") is None
    assert stated_default("", "default: the fitted horizon") is NO_DEFAULT
    assert stated_default("", "(default: as fitted), beside the default ``0.9``") is NO_DEFAULT
    assert stated_default("int, default 5", "Default 6.") == 5
