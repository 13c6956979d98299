"""The library's packages form a ladder, each used only by those after it, and no import loops between them.

Read from the source (every ``import`` statement, also inside functions; imports under ``if TYPE_CHECKING:``
are annotations only and do not count), so a loop hidden by an import inside a function fails here too.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

LIB = Path(__file__).resolve().parents[2] / "autotest_lib"

LADDER: tuple[tuple[str, ...], ...] = (
    ("errors", "kinds", "config", "alerts", "cluster", "registry", "data"),
    ("env",),
    ("train",),
    ("evaluate",),
    ("curriculum", "regime"),
    ("runs",),
    ("weekly", "pbt"),
    ("report", "paper"),
    ("tasks", "trigger", "cli"),
)
"""Rungs, lowest first: a package may import its own rung and the ones below it."""

OUTSIDE_THE_LADDER = {"dag_defaults"}
"""Top-level modules DAG files import at parse time; of the library they import only :data:`PARSE_SAFE` modules."""

PARSE_SAFE = {"alerts", "cluster", "errors"}
"""Light modules a DAG file may reach at parse time; they import nothing of the library outside this set."""

RUNG = {name: i for i, rung in enumerate(LADDER) for name in rung}


def _unit(path: Path) -> str:
    """The package (or top-level module) a file belongs to."""
    rel = path.relative_to(LIB)
    return rel.parts[0].removesuffix(".py")


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _imports(tree: ast.AST) -> Iterator[tuple[int, str]]:
    """``(line, imported unit)`` of every ``autotest_lib`` import outside ``if TYPE_CHECKING:`` blocks."""
    stack = [tree]
    while stack:
        node = stack.pop()
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child):
                stack.extend(child.orelse)
                continue
            if isinstance(child, ast.ImportFrom) and child.module and child.level == 0:
                names = [child.module] if child.module != "autotest_lib" else [f"autotest_lib.{a.name}" for a in child.names]
            elif isinstance(child, ast.Import):
                names = [a.name for a in child.names]
            else:
                stack.append(child)
                continue
            for name in names:
                parts = name.split(".")
                if parts[0] == "autotest_lib" and len(parts) > 1:
                    yield child.lineno, parts[1]


def _edges() -> dict[tuple[str, str], list[str]]:
    """``(importer, imported)`` unit pairs, each with the places (``file:line``) that import."""
    edges: dict[tuple[str, str], list[str]] = {}
    for path in sorted(LIB.rglob("*.py")):
        if path.name == "__init__.py" and path.parent == LIB:
            continue
        src = _unit(path)
        for line, dst in _imports(ast.parse(path.read_text(), str(path))):
            if dst != src:
                edges.setdefault((src, dst), []).append(f"{path.relative_to(LIB.parent)}:{line}")
    return edges


def test_every_package_is_on_the_ladder() -> None:
    units = {_unit(p) for p in LIB.rglob("*.py") if p.parent != LIB or p.name != "__init__.py"}
    missing = sorted(units - set(RUNG) - OUTSIDE_THE_LADDER)
    assert not missing, f"packages not on the ladder in {__file__}: {missing}; add each to the rung it belongs on"


def test_no_import_runs_up_the_ladder() -> None:
    bad = [
        f"{src} -> {dst} ({', '.join(where)})"
        for (src, dst), where in sorted(_edges().items())
        if (dst not in PARSE_SAFE if src in OUTSIDE_THE_LADDER | PARSE_SAFE else RUNG.get(dst, -1) > RUNG.get(src, -1))
    ]
    assert not bad, "imports up the ladder (move the shared code down, or the caller up):\n" + "\n".join(bad)


def _cycles(graph: dict[str, set[str]]) -> list[str]:
    """Each simple cycle once, starting from its smallest member (depth-first from every node)."""
    cycles = []
    for start in sorted(graph):
        stack = [(start, [start])]
        while stack:
            node, path = stack.pop()
            for nxt in sorted(graph.get(node, ())):
                if nxt == start:
                    cycles.append(" -> ".join([*path, start]))
                elif nxt > start and nxt not in path:
                    stack.append((nxt, [*path, nxt]))
    return cycles


def test_no_import_cycle_between_packages() -> None:
    graph: dict[str, set[str]] = {}
    for src, dst in _edges():
        graph.setdefault(src, set()).add(dst)
    cycles = _cycles(graph)
    assert not cycles, "import cycles between packages:\n" + "\n".join(cycles)


def test_the_cycle_finder_finds_a_loop_of_three() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == ["a -> b -> c -> a"]


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("from autotest_lib.pbt import x\n", ["pbt"]),
        ("def f():\n    from autotest_lib.cli import y\n", ["cli"]),
        ("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from autotest_lib.tasks import z\n", []),
        ("import autotest_lib.report.html\n", ["report"]),
    ],
)
def test_the_checker_sees_imports_also_inside_functions(source: str, expected: list[str]) -> None:
    assert [unit for _, unit in _imports(ast.parse(source))] == expected
