"""The core's imports: resolvers imports nothing else of ours, and its modules form no cycle
(imports inside functions count; those only for type checking do not)."""

from __future__ import annotations

import ast
from pathlib import Path

RESOLVERS = Path(__file__).resolve().parents[2] / "resolvers"
OURS = ("app", "schema", "couchqueue_client")


def _type_checking_only(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(tree: ast.AST) -> set[str]:
    found: set[str] = set()
    skipped = {
        id(inner)
        for node in ast.walk(tree)
        if isinstance(node, ast.If) and _type_checking_only(node)
        for inner in ast.walk(node)
    }
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def _graph() -> dict[str, set[str]]:
    modules = {f"resolvers.{p.stem}": p for p in RESOLVERS.glob("*.py")}
    return {
        name: {m for m in _imports(ast.parse(path.read_text())) if m in modules and m != name}
        for name, path in modules.items()
    }


def test_resolvers_imports_nothing_else_of_ours() -> None:
    for path in RESOLVERS.glob("*.py"):
        outside = {m for m in _imports(ast.parse(path.read_text())) if m.split(".")[0] in OURS}
        assert not outside, f"{path.name} imports {sorted(outside)}"


def test_resolvers_modules_import_no_cycle() -> None:
    graph = _graph()
    done: set[str] = set()

    def visit(module: str, path: list[str]) -> None:
        if module in path:
            cycle = [*path[path.index(module) :], module]
            raise AssertionError("import cycle: " + " -> ".join(cycle))
        if module in done:
            return
        for imported in sorted(graph[module]):
            visit(imported, [*path, module])
        done.add(module)

    for module in sorted(graph):
        visit(module, [])
