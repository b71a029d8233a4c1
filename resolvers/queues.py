"""Queues: look-up, listing and deletion. Queues are created by registering interests."""

from __future__ import annotations

import dataclasses
from typing import Any

from resolvers.context import Context
from resolvers.errors import QueueNotFound
from resolvers.models import Queue
from resolvers.observe import observe
from resolvers.retry import updated_policy
from resolvers.validation import number, queue_name

# Faktory's ceiling for a reservation: one day.
MAX_LEASE_SECONDS = 86_400
# Flow limits' bounds. maxStarted is bounded because a store keeps one entry per slot taken
# in one record (Couchbase: one document) that every claim of the queue reads.
MAX_STARTED = 10_000
MAX_RATE_LIMIT = 1_000_000
MIN_RATE_PERIOD = 0.1
MAX_RATE_PERIOD = 86_400.0


class _Keep:
    """Not given: the setting stays as it is (None, given, removes a limit)."""

    def __repr__(self) -> str:
        return "KEEP"


KEEP: Any = _Keep()


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
    await ctx.queue_cache.changed()
    return removed


async def pause_queue(ctx: Context, name: Any, param: str = "name") -> Queue:
    """A paused queue still accepts publishes but hands out nothing until resumed."""
    return await _set_paused(ctx, name, param, True)


async def resume_queue(ctx: Context, name: Any, param: str = "name") -> Queue:
    return await _set_paused(ctx, name, param, False)


async def _set_paused(ctx: Context, name: Any, param: str, paused: bool) -> Queue:
    queue = queue_name(name, ctx, param=param)
    updated = await ctx.store.update_queue(queue, paused=paused)
    if updated is None:
        raise QueueNotFound(f"no queue {queue!r}", param=param)
    await ctx.queue_cache.changed()
    if not paused:
        ctx.notifier.lanes_changed([queue])
    observe(ctx, "paused" if paused else "resumed", queue, ctx.clock())
    return updated


async def configure_queue(
    ctx: Context,
    name: Any,
    *,
    lease_seconds: Any = None,
    max_deliveries: Any = None,
    retry_limit: Any = None,
    retry_delays: Any = None,
    backoff_base: Any = None,
    backoff_factor: Any = None,
    backoff_max: Any = None,
    backoff_jitter: Any = None,
    max_started: Any = KEEP,
    rate_limit: Any = KEEP,
    rate_period_seconds: Any = KEEP,
    param: str = "name",
) -> Queue:
    """Change a queue's delivery settings; what is not given stays as it is. The flow limits
    (maxStarted, rateLimit, ratePeriodSeconds) take KEEP for not given, and None removes a
    limit (ratePeriodSeconds None: back to 1 s)."""
    record = await get_queue(ctx, name, param)
    settings = dataclasses.replace(
        record.settings,
        retry=updated_policy(
            record.settings.retry,
            limit=retry_limit,
            delays=retry_delays,
            base=backoff_base,
            factor=backoff_factor,
            max_delay=backoff_max,
            jitter=backoff_jitter,
        ),
    )
    if lease_seconds is not None:
        settings.lease_seconds = number(lease_seconds, "leaseSeconds", 1, MAX_LEASE_SECONDS)
    if max_deliveries is not None:
        settings.max_deliveries = int(
            number(max_deliveries, "maxDeliveries", 1, 1000, integer=True)
        )
    if max_started is not KEEP:
        settings.max_started = _limit(max_started, "maxStarted", MAX_STARTED)
    if rate_limit is not KEEP:
        settings.rate_limit = _limit(rate_limit, "rateLimit", MAX_RATE_LIMIT)
    if rate_period_seconds is not KEEP:
        settings.rate_period_seconds = (
            1.0
            if rate_period_seconds is None
            else number(rate_period_seconds, "ratePeriodSeconds", MIN_RATE_PERIOD, MAX_RATE_PERIOD)
        )
    updated = await ctx.store.update_queue(record.name, settings=settings)
    if updated is None:
        raise QueueNotFound(f"no queue {record.name!r}", param=param)
    await ctx.queue_cache.changed()
    # A limit raised or removed may let waiting workers have tasks at once.
    ctx.notifier.lanes_changed([record.name])
    return updated


def _limit(value: Any, param: str, most: int) -> int | None:
    if value is None:
        return None
    wanted = f"a positive integer up to {most}, or null for no limit"
    return int(number(value, param, 1, most, integer=True, kind=wanted, bounds=wanted))
