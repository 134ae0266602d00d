"""The package graph of src/defibots has no cycle: walked from the source, so a lazy import counts too."""

from __future__ import annotations

import ast
from pathlib import Path

import defibots

ROOT = Path(defibots.__file__).parent


def package_of(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


def package_graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for path in ROOT.rglob("*.py"):
        rel = path.relative_to(ROOT.parent).with_suffix("").parts
        source = rel[1] if len(rel) > 1 else rel[0]
        targets = graph.setdefault(source, set())
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            targets |= {package_of(n) for n in names if n.startswith("defibots.")} - {source}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    found: list[list[str]] = []

    def walk(node: str, path: list[str]) -> None:
        for nxt in sorted(graph.get(node, ())):
            if nxt == path[0]:
                found.append([*path, nxt])
            elif nxt not in path and nxt > path[0]:  # each cycle once, from its smallest member
                walk(nxt, [*path, nxt])

    for start in sorted(graph):
        walk(start, [start])
    return found


def test_the_walk_sees_the_layering() -> None:
    graph = package_graph()
    assert {"cli", "jobs", "strategies", "execution", "chain", "protocols"} <= graph.keys()
    assert "jobs" in graph["cli"] and "chain" in graph["execution"]


def test_no_package_level_cycle() -> None:
    assert cycles(package_graph()) == []


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == [["a", "b", "c", "a"]]
