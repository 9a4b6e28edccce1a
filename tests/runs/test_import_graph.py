"""The modules of ``art_sor.runs`` import one another without a cycle, counting every import."""

from __future__ import annotations

import ast
import pathlib

import art_sor.runs

RUNS = pathlib.Path(art_sor.runs.__file__).parent
MODULES = {path.stem for path in RUNS.glob("*.py")} - {"__init__"}


def imported_runs_modules(path: pathlib.Path) -> set[str]:
    """The ``art_sor.runs`` modules ``path`` imports anywhere: at the top, under ``TYPE_CHECKING``, in functions."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: from . import x, from .x import y
                base = ".".join(["art_sor.runs", *filter(None, [base])])
            names = [base, *(f"{base}.{alias.name}" for alias in node.names)]
        else:
            continue
        for name in names:
            parts = name.split(".")
            if parts[:2] == ["art_sor", "runs"] and len(parts) > 2 and parts[2] in MODULES:
                found.add(parts[2])
    return found - {path.stem}


def import_graph() -> dict[str, set[str]]:
    """Each module of ``art_sor.runs`` and the modules of ``art_sor.runs`` it imports."""
    return {path.stem: imported_runs_modules(path) for path in RUNS.glob("*.py") if path.stem != "__init__"}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of ``graph`` as a path that ends where it starts, or ``None``."""
    done: set[str] = set()

    def visit(node: str, path: list[str]) -> list[str] | None:
        if node in path:
            return [*path[path.index(node):], node]
        if node in done:
            return None
        for target in sorted(graph.get(node, ())):
            cycle = visit(target, [*path, node])
            if cycle is not None:
                return cycle
        done.add(node)
        return None

    for start in sorted(graph):
        cycle = visit(start, [])
        if cycle is not None:
            return cycle
    return None


def test_runs_has_no_import_cycle():
    graph = import_graph()
    assert len(graph) > 20 and graph["comparison"] >= {"summaries", "training"}, graph
    cycle = find_cycle(graph)
    assert cycle is None, " → ".join(cycle)


def test_the_graph_sees_imports_in_functions_and_under_type_checking(tmp_path):
    probe = tmp_path / "probe.py"
    probe.write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from art_sor.runs.plans import X\n"
                     "def f():\n    from art_sor.runs import reports\n    import art_sor.runs.training_setup\n"
                     "    from art_sor.core import threat\n")
    assert imported_runs_modules(probe) == {"plans", "reports", "training_setup"}
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None
