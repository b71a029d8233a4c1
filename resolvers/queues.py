"""Queues: look-up, listing and deletion. Queues are created by registering interests."""

from __future__ import annotations

from typing import Any

from resolvers.context import Context
from resolvers.errors import QueueNotFound
from resolvers.models import Queue
from resolvers.validation import queue_name


async def list_queues(ctx: Context) -> list[Queue]:
    return list((await ctx.queue_cache.current(ctx.store)).queues.values())


async def get_queue(ctx: Context, name: Any, param: str = "queue") -> Queue:
    queue = queue_name(name, ctx, param=param)
    record = (await ctx.queue_cache.current(ctx.store)).queues.get(queue)
    if record is None:
        raise QueueNotFound(f"no queue {queue!r}", param=param)
    return record


async def delete_queue(ctx: Context, name: Any, param: str = "queue") -> int:
    """Delete a queue: its interests, and its waiting, scheduled and failed tasks. Returns how
    many tasks were removed."""
    queue = queue_name(name, ctx, param=param)
    removed = await ctx.store.delete_queue(queue)
    if removed is None:
        raise QueueNotFound(f"no queue {queue!r}", param=param)
    return removed
