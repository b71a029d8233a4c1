"""Checks of client input shared by every resolver. Each error names the parameter."""

from __future__ import annotations

from typing import Any

import orjson

from resolvers.context import Context
from resolvers.errors import InvalidInput, LimitExceeded, MissingParameter
from resolvers.models import WORKER_LANE_PREFIX, JsonObject

_NAME_FORBIDDEN = frozenset(WORKER_LANE_PREFIX + "\x00")


def required(value: Any, param: str) -> Any:
    if value is None or value == "":
        raise MissingParameter(f"{param} is required", param=param)
    return value


def queue_name(value: Any, ctx: Context, param: str = "queue") -> str:
    """A queue name: a non-empty string of printable characters without '@'."""
    required(value, param)
    if not isinstance(value, str):
        raise InvalidInput(f"{param} must be a string", param=param)
    if len(value) > ctx.limits.max_name_length:
        raise LimitExceeded(
            f"{param} is longer than {ctx.limits.max_name_length} characters", param=param
        )
    if (
        not value.isprintable()
        or any(c in _NAME_FORBIDDEN for c in value)
        or value.strip() != value
    ):
        raise InvalidInput(
            f"{param} {value!r} may not contain '@', control characters or surrounding spaces",
            param=param,
        )
    return value


def identifier(value: Any, param: str) -> str:
    """An id the server handed out (workerId, taskId): a non-empty string."""
    required(value, param)
    if not isinstance(value, str) or len(value) > 200:
        raise InvalidInput(f"{param} must be an id string", param=param)
    return value


def text(value: Any, param: str, max_length: int, *, optional: bool = False) -> str | None:
    if value is None and optional:
        return None
    if not optional:
        required(value, param)
    if not isinstance(value, str):
        raise InvalidInput(f"{param} must be a string", param=param)
    if len(value) > max_length:
        raise LimitExceeded(f"{param} is longer than {max_length} characters", param=param)
    return value


def json_object(value: Any, ctx: Context, param: str = "data") -> JsonObject:
    required(value, param)
    if not isinstance(value, dict):
        raise InvalidInput(f"{param} must be a JSON object", param=param)
    try:
        size = len(orjson.dumps(value))
    except (TypeError, orjson.JSONEncodeError) as exc:
        raise InvalidInput(f"{param} is not valid JSON: {exc}", param=param) from None
    if size > ctx.limits.max_data_bytes:
        raise LimitExceeded(
            f"{param} is {size} bytes as JSON; at most {ctx.limits.max_data_bytes} are allowed",
            param=param,
        )
    return value


# 10000-01-01T00:00:00Z: later times have no ISO 8601 date, so no client could show them.
END_OF_TIME = 253_402_300_800.0


def timestamp(value: Any, param: str) -> float | None:
    """Unix seconds, possibly fractional, before the year 10000; None stays None."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidInput(f"{param} must be a number of unix seconds", param=param)
    result = float(value)
    if not 0 <= result < END_OF_TIME:
        raise InvalidInput(
            f"{param} must be a number of unix seconds from 0 to before the year 10000 "
            f"({END_OF_TIME:.0f}), not {value!r:.40}",
            param=param,
        )
    return result


def page_size(value: Any, ctx: Context, param: str = "first", default: int = 100) -> int:
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidInput(f"{param} must be a positive integer", param=param)
    return min(value, ctx.limits.max_page_size)


def flag(value: Any, param: str) -> bool:
    """A boolean; None is False."""
    if value is None:
        return False
    if not isinstance(value, bool):
        raise InvalidInput(f"{param} must be true or false", param=param)
    return value
