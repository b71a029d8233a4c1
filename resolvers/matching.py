"""Matching an event's data against queues' interests, with RE2 (linear time, no backtracking)."""

from __future__ import annotations

from typing import Any

import re2

from resolvers.errors import InvalidRegex
from resolvers.models import JsonObject

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
