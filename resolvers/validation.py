"""Checks of client input shared by every resolver. Each error names the parameter."""

from __future__ import annotations

import math
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
    json_value(value, ctx, param)
    return value


def json_value(value: Any, ctx: Context, param: str) -> Any:
    """Any JSON value (a task's result or progress), at most max_data_bytes as JSON, as data."""
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
    return number(
        value,
        param,
        0,
        math.nextafter(END_OF_TIME, 0),
        kind="a number of unix seconds",
        bounds=f"a number of unix seconds from 0 to before the year 10000 ({END_OF_TIME:.0f})",
    )


def page_size(value: Any, ctx: Context, param: str = "first", default: int = 100) -> int:
    if value is None:
        return default
    positive = "a positive integer"
    count = int(number(value, param, 1, integer=True, kind=positive, bounds=positive))
    return min(count, ctx.limits.max_page_size)


def flag(value: Any, param: str) -> bool:
    """A boolean; None is False."""
    if value is None:
        return False
    if not isinstance(value, bool):
        raise InvalidInput(f"{param} must be true or false", param=param)
    return value


def number(
    value: Any,
    param: str,
    low: float = -math.inf,
    high: float = math.inf,
    *,
    integer: bool = False,
    kind: str | None = None,
    bounds: str | None = None,
) -> float:
    """A number (an int if ``integer``; never a boolean) with low <= value <= high.

    Refused as "{param} must be {kind}" when it is not one (default "a number", or "an
    integer"), and as "{param} must be {bounds}" when out of range (default "between {low}
    and {high}"). NaN and infinities are refused as not numbers, or as out of range when
    ``bounds`` is given.
    """
    kind = kind or ("an integer" if integer else "a number")
    wanted = int if integer else int | float
    if isinstance(value, bool) or not isinstance(value, wanted):
        raise InvalidInput(f"{param} must be {kind}", param=param)
    # An int too large for a float is finite, but no float can carry it.
    big = isinstance(value, int) and not integer and abs(value) >= 2**1023
    finite = not big and (isinstance(value, int) or math.isfinite(value))
    if not finite and bounds is None:
        raise InvalidInput(f"{param} must be {kind}", param=param)
    if not finite or not low <= value <= high:
        bounds = bounds or f"between {low:g} and {high:g}"
        raise InvalidInput(f"{param} must be {bounds}", param=param)
    return value if integer else float(value)
