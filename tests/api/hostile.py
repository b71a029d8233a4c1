"""Hostile GraphQL documents: each shape that once held the event loop, by name, with the
code it is now refused with. ``size`` is roughly the document's length in characters."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


def _fill(head: str, item: Callable[[int], str], tail: str, size: int, sep: str = " ") -> str:
    """head + as many items as fit in ``size`` characters + tail."""
    items: list[str] = []
    length = len(head) + len(tail)
    while length + len(item(len(items))) + len(sep) <= size:
        items.append(item(len(items)))
        length += len(items[-1]) + len(sep)
    return head + sep.join(items) + tail


def fragment_bomb(levels: int = 30) -> str:
    """Each fragment spreads the next twice: 2^levels paths through a ~1 KB document."""
    fragments = " ".join(
        f"fragment F{n} on Query{{...F{n + 1} ...F{n + 1}}}" for n in range(levels)
    )
    return f"query{{...F0}} {fragments} fragment F{levels} on Query{{status{{queues}}}}"


def introspection_bomb(size: int) -> str:
    """Lists of types' fields' types' fields...: each level multiplies the answer."""
    levels = (size - 20) // len("fields{type{}}")
    return "{__schema{types{" + "fields{type{" * levels + "name" + "}}" * levels + "}}}"


def nested(size: int) -> str:
    """Braces nested past the parser's limit."""
    levels = (size - 3) // 3
    return "{" + "a{" * levels + "a" + "}" * levels + "}"


def aliased_pages(size: int) -> str:
    return _fill("{", lambda n: f"a{n}:tasks(first:1000){{tasks{{data}}}}", "}", size)


def aliases(size: int) -> str:
    return _fill("{", lambda n: f"a{n}:status{{queues}}", "}", size)


def directives(size: int) -> str:
    return _fill("{status", lambda n: "@include(if:true)", "{queues}}", size, sep="")


def arguments(size: int) -> str:
    return _fill("{status(", lambda n: f"a{n}:1", "){queues}}", size)


def duplicate_fields(size: int) -> str:
    return _fill("{", lambda n: "status{queues}", "}", size)


def unused_variables(size: int) -> str:
    return _fill("query(", lambda n: f"$v{n}:Int", "){status{queues}}", size)


def root_mutations(size: int) -> str:
    return _fill("mutation{", lambda n: f'deleteTasks(queue:"q{n}")', "}", size)


def comments(size: int) -> str:
    return "#\n" * (size // 2) + "{status{queues}}"


@dataclass(frozen=True)
class Shape:
    name: str
    document: Callable[[int], str]
    code: str  # what the server answers now, with the default limits


SHAPES = [
    Shape("fragment-bomb", lambda size: fragment_bomb(), "QUERY_TOO_COMPLEX"),
    Shape("introspection-bomb", introspection_bomb, "QUERY_TOO_COMPLEX"),
    Shape("nested", nested, "GRAPHQL_PARSE_FAILED"),
    Shape("aliased-pages", aliased_pages, "TOO_MANY_ALIASES"),
    Shape("aliases", aliases, "TOO_MANY_ALIASES"),
    Shape("directives", directives, "TOO_MANY_DIRECTIVES"),
    Shape("arguments", arguments, "TOO_MANY_ARGUMENTS"),
    Shape("duplicate-fields", duplicate_fields, "TOO_MANY_ROOT_FIELDS"),
    Shape("unused-variables", unused_variables, "TOO_MANY_VARIABLES"),
    Shape("root-mutations", root_mutations, "TOO_MANY_ROOT_FIELDS"),
]
