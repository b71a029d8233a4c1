"""Push delivery: tasks claimed for a subscribed worker and handed to it as they come.

At most ``prefetch`` of its pushed tasks are unfinished at once; finishing one (by a report on
any connection or node) lets the next come. While the subscription is open it is the worker's
sign of life. When it ends (the socket closed, or stopped answering), the tasks it was still
holding go back to their queues at once, without counting an attempt.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import aclosing
from typing import Any

from resolvers.context import Context
from resolvers.errors import InvalidInput, WorkerNotFound
from resolvers.handoff import Offer
from resolvers.leases import touch
from resolvers.models import Event, Task, worker_lane
from resolvers.tasks import claim_for, give_back, registered
from resolvers.validation import identifier, queue_name

# Idle subscribers look again at least this often even if nothing woke them (a safety net for
# wake-ups that cannot be seen, such as a singularlyRun task becoming claimable elsewhere).
MAX_IDLE_SECONDS = 5.0


def _prefetch(value: Any, ctx: Context) -> int:
    if value is None:
        return 1
    limit = ctx.limits.max_prefetch
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= limit:
        raise InvalidInput(f"prefetch must be an integer from 1 to {limit}", param="prefetch")
    return value


async def push_tasks(
    ctx: Context, worker_id: Any, prefetch: Any = None, param: str = "workerId"
) -> AsyncIterator[Task]:
    """Claim and yield tasks for the worker, at most ``prefetch`` unfinished at a time."""
    async with aclosing(push_batches(ctx, worker_id, prefetch, param)) as batches:
        async for batch in batches:
            for task in batch:
                yield task


async def push_batches(
    ctx: Context, worker_id: Any, prefetch: Any = None, param: str = "workerId"
) -> AsyncGenerator[list[Task], None]:
    """As push_tasks, but the tasks claimed together come as one list: one message for many
    tasks when a busy worker frees several slots at once."""
    wid = identifier(worker_id, param)
    size = _prefetch(prefetch, ctx)
    worker = await registered(ctx, wid, param)
    lanes = [worker_lane(wid), *worker.queues]
    held: set[str] = set()
    extended_at = ctx.clock()
    # While it waits, this node's publishes may claim tasks for it and hand them over.
    offer = Offer(worker)
    with ctx.notifier.subscribe(wid, lanes) as wakeup:
        wakeup.offer = offer
        try:
            while True:
                while len(held) + offer.pending < size and await _maybe_ready(ctx, lanes):
                    # One claim for every free slot: the store takes them together.
                    wanted = size - len(held) - offer.pending
                    with ctx.instruments.timed("claim"):
                        claimed = await claim_for(ctx, await registered(ctx, wid, param), wanted)
                    if claimed:
                        held.update(task.task_id for task in claimed)
                        yield claimed
                    if len(claimed) < wanted:
                        break
                # The subscription is the worker's sign of life, and keeps alive the leases of
                # the tasks it holds, and only those (after the tasks went out, not before).
                keepalive = await _keepalive(ctx, worker.queues)
                due = bool(held) and ctx.clock() - extended_at >= keepalive
                if not await touch(ctx, worker, extend=sorted(held) if due else (), force=due):
                    raise WorkerNotFound(f"worker {wid!r} was removed", param=param)
                if due:
                    extended_at = ctx.clock()
                idle = await _idle_time(ctx, lanes, keepalive, full=len(held) >= size)
                offer.stand(size - len(held))
                await wakeup.wait(idle)
                handed = offer.withdraw()
                if handed:
                    held.update(task.task_id for task in handed)
                    yield handed
                held = await ctx.store.started_task_ids(wid, sorted(held))
        finally:
            held.update(task.task_id for task in offer.close())
            if held:
                await asyncio.shield(give_back(ctx, wid, held))


async def _maybe_ready(ctx: Context, lanes: list[str]) -> bool:
    """Whether a claim could find a task: a cheap read that spares a write transaction when a
    subscriber is woken with nothing due (by a report, or a delayed publish)."""
    due = await ctx.store.earliest_run_at(lanes)
    return due is not None and due <= ctx.clock()


async def _keepalive(ctx: Context, queues: list[str]) -> float:
    """How often held leases are extended: a third of the shortest lease, at most 5 s."""
    snapshot = await ctx.queue_cache.current(ctx.store)
    leases = snapshot.lease_seconds(queues).values()
    return min([MAX_IDLE_SECONDS, *(lease / 3 for lease in leases)])


async def _idle_time(ctx: Context, lanes: list[str], longest: float, *, full: bool) -> float:
    """How long to sleep unless woken: until the earliest delayed task comes due, and never
    longer than the keep-alive period, so the subscription keeps its leases alive."""
    if full:
        return longest
    due = await ctx.store.earliest_run_at(lanes)
    if due is None or due <= ctx.clock():
        return longest
    return min(longest, due - ctx.clock())


async def follow_events(ctx: Context, queue: Any = None) -> AsyncIterator[Event]:
    """The live feed of what happens on this node (and "changed" when other nodes wrote), of
    one queue or all; events about no queue (workers) are always included."""
    name = queue_name(queue, ctx) if queue is not None else None
    with ctx.events.listen() as stream:
        while True:
            event = await stream.get()
            if name is None or event.queue in (None, name):
                yield event
