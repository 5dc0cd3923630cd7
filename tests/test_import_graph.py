"""The package's modules import each other one way: no cycles, function-level imports included."""

from __future__ import annotations

import ast
import functools
from pathlib import Path

import workload_predictor

PACKAGE = Path(workload_predictor.__file__).parent


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


@functools.cache
def import_graph() -> dict[str, frozenset[str]]:
    """module -> the package's modules it imports anywhere in its source (top level or inside functions).

    ``from . import x`` counts as an import of module ``x`` where ``x`` is one, else of the package;
    a module's own parent packages are not counted (Python imports them first in any case, and a package
    ``__init__`` that imported one of its modules would show that edge itself).
    """
    paths = {module_name(path): path for path in PACKAGE.rglob("*.py")}
    graph = {}
    for name, path in paths.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        edges = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                edges.update(alias.name for alias in node.names if alias.name in paths)
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")[: len(package.split(".")) - node.level + 1]
                    source = ".".join(base + ([node.module] if node.module else []))
                else:
                    source = node.module or ""
                if source not in paths:
                    continue
                submodules = {f"{source}.{alias.name}" for alias in node.names} & set(paths)
                edges.update(submodules)
                if len(submodules) < len(node.names):  # a name defined in the module itself
                    edges.add(source)
        graph[name] = frozenset(edges - {name})
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of ``graph`` as a list of modules (first == last), or ``None``."""
    state: dict[str, str] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == "open":
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        stack.pop()
        state[node] = "done"
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_the_package_import_graph_has_no_cycles():
    graph = import_graph()
    assert "workload_predictor.predictor" in graph and len(graph) > 20  # the scan sees the package
    assert find_cycle(graph) is None, " -> ".join(find_cycle(graph))


def test_the_estimator_imports_neither_the_backtest_nor_the_plotting_layer():
    graph = import_graph()

    def reachable(start: str) -> set[str]:
        seen, todo = set(), [start]
        while todo:
            for nxt in graph[todo.pop()] - seen:
                seen.add(nxt)
                todo.append(nxt)
        return seen

    assert not {"workload_predictor.backtest", "workload_predictor.cli"} & reachable("workload_predictor.predictor")
    assert "workload_predictor.plotting" not in graph["workload_predictor.predictor"]
    assert "workload_predictor.backtest" not in reachable("workload_predictor.plotting")


def test_the_cycle_finder_finds_a_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None
