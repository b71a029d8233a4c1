"""Interests: which queues want an event. Validation at registration, matching at publish."""

from __future__ import annotations

from typing import Any

from resolvers.context import Context
from resolvers.errors import InvalidInput, LimitExceeded, MissingParameter
from resolvers.matching import compile_regex
from resolvers.models import MATCH_ALL, Interests, Queue
from resolvers.validation import queue_name


def validate_interests(value: Any, ctx: Context) -> Interests:
    """Check an interests value as a client sent it; compile every regex so a bad one is refused
    now, at registration, never at publish time."""
    if value is None:
        raise MissingParameter(
            "interests is required: '*' or an object of field: regex", param="interests"
        )
    if value == MATCH_ALL:
        return MATCH_ALL
    if not isinstance(value, dict) or not value:
        raise InvalidInput(
            "interests must be '*' or a non-empty object mapping field names to regexes",
            param="interests",
        )
    if len(value) > ctx.limits.max_interests_per_queue:
        raise LimitExceeded(
            f"interests has {len(value)} fields; at most "
            f"{ctx.limits.max_interests_per_queue} are allowed per queue",
            param="interests",
        )
    for field_path, pattern in value.items():
        if not field_path:
            raise InvalidInput("interests has an empty field name", param="interests")
        if not isinstance(pattern, str):
            raise InvalidInput(f"interests.{field_path} must be a regex string", param="interests")
        if len(pattern) > ctx.limits.max_regex_length:
            raise LimitExceeded(
                f"interests.{field_path} is longer than {ctx.limits.max_regex_length} characters",
                param="interests",
            )
        compile_regex(field_path, pattern)
    return dict(value)


async def set_interests(ctx: Context, queue: Any, interests: Any) -> Queue:
    """Replace a queue's interests, creating the queue if it does not exist."""
    name = queue_name(queue, ctx)
    valid = validate_interests(interests, ctx)
    record = await ctx.store.put_interests(name, valid, ctx.clock(), ctx.queue_defaults())
    await ctx.queue_cache.changed()
    return record


async def delete_interests(ctx: Context, queue: Any) -> int:
    """Remove every interest of a queue (the queue stays): it receives nothing more. Returns how
    many interest patterns were removed."""
    name = queue_name(queue, ctx)
    record = (await ctx.queue_cache.current(ctx.store)).queues.get(name)
    if record is None or record.interests is None:
        return 0
    count = 1 if record.interests == MATCH_ALL else len(record.interests)
    if not await ctx.store.clear_interests(name):
        return 0
    await ctx.queue_cache.changed()
    return count


async def list_interests(
    ctx: Context, queue: Any = None, param: str = "queue"
) -> dict[str, Interests]:
    """Interests by queue name (queues without interests are left out)."""
    name = queue_name(queue, ctx, param) if queue is not None else None
    snapshot = await ctx.queue_cache.current(ctx.store)
    return {
        q.name: q.interests
        for q in snapshot.queues.values()
        if q.interests is not None and (name is None or q.name == name)
    }
