"""The code's shape that import-linter's contracts (pyproject.toml, ``make lint``) cannot state.

- No module-level import cycle inside ``packages`` or ``format_registry``, counting imports made inside
  functions too: such an import only hides a cycle (issue #17 found ``packages.sip`` <-> ``access`` /
  ``tt05`` / ``vn_profile`` and ``format_registry.validators`` <-> ``validators.jhove``), and the next
  edit that moves it to the top fails at import time.
- The DAG files import only ``preservation`` of ours: ``dags/`` is not a Python package (Airflow loads
  its files by path), so import-linter cannot graph it.
"""

from __future__ import annotations

import ast
from pathlib import Path

import grimp
import pytest

ROOT = Path(__file__).resolve().parents[2]
OURS = ("preservation", "packages", "format_registry", "storage_adapters")


@pytest.fixture(scope="module")
def graph() -> grimp.ImportGraph:
    return grimp.build_graph(*OURS, cache_dir=None)


def _cycles(graph: grimp.ImportGraph, package: str) -> list[list[str]]:
    """Every strongly connected group of more than one module under ``package`` (a package's
    ``__init__`` counts as a module of its own: ``validators`` <-> ``validators.jhove`` is a cycle)."""
    modules = sorted(graph.find_descendants(package) | {package})
    inside = set(modules)
    edges = {m: sorted(graph.find_modules_directly_imported_by(m) & inside) for m in modules}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def visit(module: str) -> None:  # Tarjan's algorithm; the graphs are a few dozen modules deep at most
        index[module] = low[module] = len(index)
        stack.append(module)
        on_stack.add(module)
        for target in edges[module]:
            if target not in index:
                visit(target)
                low[module] = min(low[module], low[target])
            elif target in on_stack:
                low[module] = min(low[module], index[target])
        if low[module] == index[module]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == module:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for module in modules:
        if module not in index:
            visit(module)
    return groups


@pytest.mark.parametrize("package", ["packages", "format_registry"])
def test_no_import_cycles(graph: grimp.ImportGraph, package: str) -> None:
    assert _cycles(graph, package) == []


def test_the_cycle_finder_finds_a_cycle() -> None:
    """Guard against a check that passes because it sees nothing."""
    graph = grimp.build_graph(*OURS, cache_dir=None)  # its own graph: the shared one stays unchanged
    graph.add_import(importer="packages.problems", imported="packages.sip")
    assert any({"packages.problems", "packages.sip"} <= set(group) for group in _cycles(graph, "packages"))


def test_dags_import_only_preservation() -> None:
    found: dict[str, set[str]] = {}
    for path in sorted((ROOT / "dags").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = ([alias.name for alias in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) and not node.level else [])
            for name in names:
                top = name.split(".")[0]
                if top in OURS:
                    found.setdefault(path.name, set()).add(top)
    assert found, "no DAG file imports preservation: the check reads nothing"
    assert {name: tops - {"preservation"} for name, tops in found.items() if tops - {"preservation"}} == {}
