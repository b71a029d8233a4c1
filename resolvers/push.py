"""Push delivery: tasks claimed for a subscribed worker and handed to it as they come.

At most ``prefetch`` of its pushed tasks are unfinished at once; finishing one (by a report on
any connection or node) lets the next come. While the subscription is open it is the worker's
sign of life.

When it ends, the tasks it still holds (claimed or handed over for it, not yet reported) go
back to their queues at once. How they go back depends on how it ended:

- Ended cleanly (the client unsubscribed: graphql-transport-ws ``complete``; or the server
  ended it: the worker was removed, an error, the node shutting down): back without counting
  an attempt. A worker that stops gracefully finishes and reports what it runs, then
  unsubscribes; what it did not start costs nothing.
- The subscriber vanished (the socket dropped, or was closed, while the subscription was
  still open: the worker process died, or stopped answering pings): each task already sent to
  it counts a delivery (attempts + 1), as a lease expiry does; after the queue's maxDeliveries
  it goes to the failed queue with the reason "worker disconnected holding the task
  (N deliveries)" (leases.delivery_failed, the one rule for both). A task that kills its
  worker on arrival therefore cannot loop for ever.
- Either way, tasks claimed or handed over but never sent (the subscriber was gone before the
  push was written) go back uncounted: the worker never saw them.

A task counts as sent once the transport has written it and asked for the next (the generator
resumed past its yield). The transport tells whether the subscriber vanished through
``vanished``, asked when the subscription ends (app/ws.py for the websocket protocols). The
give-back runs shielded from cancellation, and each move is a compare-and-set on a task still
started and held by this worker: one reported or taken back meanwhile is left alone.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from contextlib import aclosing
from dataclasses import dataclass, field
from typing import Any

from resolvers.context import Context
from resolvers.errors import WorkerNotFound
from resolvers.flow_limits import reopens_at
from resolvers.handoff import Offer
from resolvers.leases import abandoned, touch
from resolvers.models import CHANGED, Event, Task, worker_lane
from resolvers.tasks import claim_for, give_back, registered
from resolvers.validation import identifier, number, queue_name

# Subscribers holding tasks look again at least this often even if nothing woke them (to keep
# their leases alive, and a safety net for wake-ups that cannot be seen). An idle one (holding
# nothing) sleeps up to a third of the worker timeout: thousands of idle subscribers on a node
# would otherwise wake, read and write a sign of life hundreds of times a second for nothing.
MAX_IDLE_SECONDS = 5.0


def _prefetch(value: Any, ctx: Context) -> int:
    if value is None:
        return 1
    wanted = f"an integer from 1 to {ctx.limits.max_prefetch}"
    return int(
        number(
            value, "prefetch", 1, ctx.limits.max_prefetch, integer=True, kind=wanted, bounds=wanted
        )
    )


def _never() -> bool:
    return False


@dataclass(eq=False, slots=True)
class _Holding:
    """What a subscription holds: every task claimed or handed over for it and not yet known
    finished, and which of those were sent."""

    held: set[str] = field(default_factory=set)
    sent: set[str] = field(default_factory=set)


async def push_tasks(
    ctx: Context,
    worker_id: Any,
    prefetch: Any = None,
    param: str = "workerId",
    vanished: Callable[[], bool] = _never,
) -> AsyncIterator[Task]:
    """Claim and yield tasks for the worker, at most ``prefetch`` unfinished at a time.
    ``vanished`` tells, once the subscription ends, whether its subscriber vanished (see the
    module's docstring)."""
    holding = _Holding()
    async with aclosing(_push(ctx, worker_id, prefetch, param, holding, vanished)) as batches:
        async for batch in batches:
            for task in batch:
                yield task
                holding.sent.add(task.task_id)


async def push_batches(
    ctx: Context,
    worker_id: Any,
    prefetch: Any = None,
    param: str = "workerId",
    vanished: Callable[[], bool] = _never,
) -> AsyncGenerator[list[Task], None]:
    """As push_tasks, but the tasks claimed together come as one list: one message for many
    tasks when a busy worker frees several slots at once."""
    holding = _Holding()
    async with aclosing(_push(ctx, worker_id, prefetch, param, holding, vanished)) as batches:
        async for batch in batches:
            yield batch
            holding.sent.update(task.task_id for task in batch)


async def _push(
    ctx: Context,
    worker_id: Any,
    prefetch: Any,
    param: str,
    holding: _Holding,
    vanished: Callable[[], bool],
) -> AsyncGenerator[list[Task], None]:
    """The batches to push; the caller marks in ``holding`` what it sent."""
    wid = identifier(worker_id, param)
    size = _prefetch(prefetch, ctx)
    worker = await registered(ctx, wid, param)
    lanes = [worker_lane(wid), *worker.queues]
    held = holding.held
    extended_at = ctx.clock()
    # While it waits, this node's publishes may claim tasks for it and hand them over.
    offer = Offer(worker)
    with ctx.notifier.subscribe(wid, lanes) as wakeup:
        wakeup.offer = offer
        try:
            while True:
                look = await _claim_ready(ctx, wid, param, lanes, size, held, offer)
                while look.batch:
                    yield look.batch
                    look = await _claim_ready(ctx, wid, param, lanes, size, held, offer)
                # The subscription is the worker's sign of life, and keeps alive the leases of
                # the tasks it holds, and only those (after the tasks went out, not before).
                keepalive = await _keepalive(ctx, worker.queues)
                extend = bool(held) and ctx.clock() - extended_at >= keepalive
                alive = ctx.clock() - worker.last_seen >= keepalive
                if not await touch(
                    ctx, worker, extend=sorted(held) if extend else (), force=extend or alive
                ):
                    raise WorkerNotFound(f"worker {wid!r} was removed", param=param)
                if extend:
                    extended_at = ctx.clock()
                longest = keepalive if held else ctx.policies.worker_timeout_seconds / 3
                idle = _idle_time(ctx, look.run_at, longest)
                offer.stand(size - len(held))
                await wakeup.wait(idle)
                handed = offer.withdraw()
                if handed:
                    held.update(task.task_id for task in handed)
                    yield handed
                held.intersection_update(await ctx.store.started_task_ids(wid, sorted(held)))
                holding.sent.intersection_update(held)
        finally:
            held.update(task.task_id for task in offer.close())
            if held:
                lost = held & holding.sent if vanished() else set()
                await asyncio.shield(_let_go(ctx, wid, held - lost, lost))


async def _let_go(ctx: Context, worker_id: str, returned: set[str], lost: set[str]) -> None:
    """The subscription's end: ``returned`` go back uncounted, ``lost`` count a delivery."""
    if returned:
        await give_back(ctx, worker_id, returned)
    if lost:
        await abandoned(ctx, worker_id, lost)


@dataclass(slots=True)
class _Look:
    """What one look at the subscriber's lanes found: the tasks it claimed, and the earliest
    run_at of those still waiting (None: none, or not read because it is full)."""

    batch: list[Task]
    run_at: float | None


async def _claim_ready(
    ctx: Context,
    wid: str,
    param: str,
    lanes: list[str],
    size: int,
    held: set[str],
    offer: Offer,
) -> _Look:
    """One claim for every free slot if a task is ready (the store takes them together).

    The read before it spares a write transaction when a subscriber is woken with nothing
    due. A subscriber left full with tasks still ready passes the ring on to the lanes' other
    waiting subscribers: a lane's change woke only as many as it had tasks for (see
    app/notify.py), and this one may have taken a task of another of its lanes."""
    wanted = size - len(held) - offer.pending
    if wanted <= 0:
        return _Look([], None)
    due = await ctx.store.earliest_run_at(lanes)
    if due is None or due > ctx.clock():
        return _Look([], due)
    held_back: dict[str, str] = {}
    with ctx.instruments.timed("claim"):
        claimed = await claim_for(ctx, await registered(ctx, wid, param), wanted, held_back)
    held.update(task.task_id for task in claimed)
    if len(claimed) < wanted:
        # Held back by a rate limit: look again when its window opens, not before.
        limits = (await ctx.queue_cache.current(ctx.store)).limits
        reopen = reopens_at(limits, held_back, ctx.clock()) if held_back else None
        return _Look(claimed, reopen if reopen is not None else None if claimed else due)
    due = await ctx.store.earliest_run_at(lanes)
    if due is not None and due <= ctx.clock():
        ctx.notifier.lanes_changed(lanes)
    return _Look(claimed, due)


async def _keepalive(ctx: Context, queues: list[str]) -> float:
    """How often held leases are extended and the worker is marked alive: a third of the
    shortest lease and of the worker timeout, at most 5 s."""
    snapshot = await ctx.queue_cache.current(ctx.store)
    leases = snapshot.lease_seconds(queues).values()
    periods = [MAX_IDLE_SECONDS, ctx.policies.worker_timeout_seconds / 3]
    return min([*periods, *(lease / 3 for lease in leases)])


def _idle_time(ctx: Context, due: float | None, longest: float) -> float:
    """How long to sleep unless woken: until the earliest delayed task comes due, and never
    longer than the keep-alive period, so the subscription keeps its leases alive."""
    if due is None or due <= ctx.clock():
        return longest
    return min(longest, due - ctx.clock())


async def follow_events(ctx: Context, queue: Any = None) -> AsyncIterator[Event]:
    """The live feed of what happens on this node (and "changed" when other nodes wrote), of
    one queue or all. A feed of one queue gets that queue's events and the workers' (which
    are about no queue), but no "changed" whose queue is unknown: that goes to unfiltered
    feeds only."""
    name = queue_name(queue, ctx) if queue is not None else None
    with ctx.events.listen() as stream:
        while True:
            event = await stream.get()
            if _concerns(event, name):
                yield event


def _concerns(event: Event, queue: str | None) -> bool:
    if queue is None or event.queue == queue:
        return True
    return event.queue is None and event.kind != CHANGED
