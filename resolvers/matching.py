"""Matching an event's data against queues' interests, with RE2 (linear time, no backtracking)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson
import re2

from resolvers.errors import InvalidRegex
from resolvers.models import MATCH_ALL, Interests, JsonObject

Matcher = Callable[[JsonObject], bool]

_RE2_OPTIONS = re2.Options()
_RE2_OPTIONS.log_errors = False
MISSING = object()


def compile_regex(field_path: str, pattern: str) -> Any:
    """Compile with RE2; InvalidRegex names the field and RE2's reason."""
    try:
        return re2.compile(pattern, options=_RE2_OPTIONS)
    except re2.error as exc:
        detail = exc.args[0].decode() if exc.args and isinstance(exc.args[0], bytes) else str(exc)
        raise InvalidRegex(
            f"interests.{field_path}: invalid regex {pattern!r}: {detail}", param="interests"
        ) from None


def compile_matcher(interests: Interests | None) -> Matcher | None:
    """A function telling whether an event's data interests the queue; None if nothing can."""
    if interests is None:
        return None
    if interests == MATCH_ALL:
        return lambda data: True
    assert isinstance(interests, dict)
    compiled = [(path, compile_regex(path, pattern)) for path, pattern in interests.items()]

    def matches(data: JsonObject) -> bool:
        for path, regex in compiled:
            value = lookup(data, path)
            if value is MISSING:
                continue
            text = value if isinstance(value, str) else orjson.dumps(value).decode()
            if regex.search(text) is not None:
                return True
        return False

    return matches


def lookup(data: JsonObject, path: str) -> Any:
    """The value at a field name, or else at a dotted path into nested objects; MISSING if
    neither is present."""
    if path in data:
        return data[path]
    if "." not in path:
        return MISSING
    node: Any = data
    for part in path.split("."):
        if not isinstance(node, dict) or part not in node:
            return MISSING
        node = node[part]
    return node
