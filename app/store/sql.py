"""Load named SQL blocks ("-- name: NAME" headers) from a .sql file."""

from __future__ import annotations

from pathlib import Path


def load_queries(path: Path) -> dict[str, str]:
    queries: dict[str, str] = {}
    name: str | None = None
    lines: list[str] = []
    for line in path.read_text().splitlines():
        if line.startswith("-- name:"):
            if name is not None:
                queries[name] = "\n".join(lines).strip().rstrip(";")
            name, lines = line.removeprefix("-- name:").strip(), []
        elif name is not None:
            lines.append(line)
    if name is not None:
        queries[name] = "\n".join(lines).strip().rstrip(";")
    return queries


# The SQLite store's queries, read once.
SQLITE = load_queries(Path(__file__).with_name("sqlite.sql"))
