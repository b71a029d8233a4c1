"""Long-poll claims: a claim that waits up to ``waitSeconds`` for a task and answers the moment
one can be claimed, or null when the wait is over (SQS's WaitTimeSeconds, Faktory's FETCH).

A waiter is woken the way a push subscriber is (it subscribes to the notifier for its lanes):
a publish on this node rings it at once, and may claim the task for it in the same store write
(a hand-off offer of one slot, resolvers/handoff.py); other nodes' writes reach it through the
change stamps the app watches for every subscribed lane. While it sleeps it reads nothing: it
is woken, or its wait ends (or a delayed task of its lanes comes due, or its worker's liveness
needs a touch).

A waiter whose client hung up claims nothing. The transport gives a ``hung_up`` awaitable that
returns when the client has gone; the wait is then cancelled, and whatever it holds goes back
to its queue at once, uncounted: a task handed over by a publish, a claim the store completes
after the cancellation (each claim runs shielded, so it is never half done), or a task claimed
in the same moment as the client left.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Any

from resolvers.context import Context
from resolvers.errors import LimitExceeded, StoreUnavailable, WorkerNotFound
from resolvers.flow_limits import reopens_at
from resolvers.handoff import Offer
from resolvers.leases import touch
from resolvers.models import Task, Worker, worker_lane
from resolvers.tasks import claim, give_back, registered
from resolvers.validation import identifier, number

# Returns when the client that asked has gone (the transport's view of its connection).
HangUp = Callable[[], Awaitable[object]]


def wait_seconds(value: Any, ctx: Context, param: str = "waitSeconds") -> float:
    """How long a claim may wait: 0 up to the node's max_wait_seconds."""
    kind = "a number of seconds"
    seconds = number(value, param, 0, kind=kind, bounds=f"{kind}, 0 or more")
    most = ctx.limits.max_wait_seconds
    if seconds > most:
        raise LimitExceeded(
            f"{param} may be at most {most:g} seconds on this node (--max-wait-seconds)",
            param=param,
        )
    return seconds


async def claim_waiting(
    ctx: Context,
    worker_id: Any,
    wait: Any = None,
    *,
    hung_up: HangUp | None = None,
    param: str = "workerId",
) -> Task | None:
    """The worker's next task (see tasks.claim), waiting up to ``wait`` seconds for one to
    become claimable; None if none did. Without ``wait``, exactly tasks.claim."""
    if wait is None:
        return await claim(ctx, worker_id)
    wid = identifier(worker_id, param)
    seconds = wait_seconds(wait, ctx)
    with ctx.waiters.admit(ctx.limits.max_waiting_claims):
        if hung_up is None:
            return await _wait(ctx, wid, seconds, param)
        return await _wait_unless_gone(ctx, wid, seconds, param, hung_up)


async def _wait_unless_gone(
    ctx: Context, wid: str, seconds: float, param: str, hung_up: HangUp
) -> Task | None:
    waiting = asyncio.ensure_future(_wait(ctx, wid, seconds, param))
    gone = asyncio.ensure_future(hung_up())
    try:
        await asyncio.wait({waiting, gone}, return_when=asyncio.FIRST_COMPLETED)
        left = gone.done()
    finally:
        gone.cancel()
        if not waiting.done():
            waiting.cancel()
    if left:
        gone.exception()  # a transport that failed to tell counts as gone, and is not logged
    # The cancelled wait gives back what it held before it ends.
    await asyncio.wait({waiting})
    if waiting.cancelled():
        return None
    task = waiting.result()
    if task is not None and left:
        await asyncio.shield(give_back(ctx, wid, [task.task_id]))
        return None
    return task


async def _wait(ctx: Context, wid: str, seconds: float, param: str) -> Task | None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    worker = await registered(ctx, wid, param)
    lanes = [worker_lane(wid), *worker.queues]
    offer = Offer(worker)
    keepalive = ctx.policies.worker_timeout_seconds / 3
    with ctx.notifier.subscribe(wid, lanes) as wakeup, ctx.waiters.subscribing():
        wakeup.offer = offer
        try:
            first = True
            held_back: dict[str, str] = {}
            while True:
                # A publish still writing a task for this waiter: wait for it, not claim more.
                if not offer.pending and (first or await _maybe_ready(ctx, lanes)):
                    held_back.clear()
                    task = await _claim_one(ctx, wid, held_back)
                    if task is not None:
                        return task
                    # A claim is a sign of life (tasks.claim touches the worker).
                    worker.last_seen = ctx.clock()
                first = False
                left = deadline - loop.time()
                if left <= 0:
                    return None
                await _stay_alive(ctx, worker, keepalive, param)
                offer.stand(1)
                await wakeup.wait(await _idle_time(ctx, lanes, min(left, keepalive), held_back))
                handed = offer.withdraw()
                if handed:
                    return handed[0]
        finally:
            held = offer.close()
            if held:
                await asyncio.shield(give_back(ctx, wid, [task.task_id for task in held]))


async def _claim_one(ctx: Context, wid: str, held_back: dict[str, str]) -> Task | None:
    """One claim as tasks.claim makes it, that a cancellation cannot leave half done: the
    store's claim completes, and what it took goes back."""
    job = asyncio.ensure_future(claim(ctx, wid, held_back))
    try:
        return await asyncio.shield(job)
    except asyncio.CancelledError:
        cleanup = asyncio.ensure_future(_return_claimed(ctx, wid, job))
        ctx.waiters.keep(cleanup)
        raise


async def _return_claimed(ctx: Context, wid: str, job: asyncio.Future[Task | None]) -> None:
    await asyncio.wait({job})
    if job.cancelled() or job.exception() is not None:
        return
    task = job.result()
    if task is not None:
        # If the store fails now, the task's lease brings it back.
        with contextlib.suppress(StoreUnavailable):
            await give_back(ctx, wid, [task.task_id])


async def _stay_alive(ctx: Context, worker: Worker, keepalive: float, param: str) -> None:
    """A waiting worker is alive: touched once its last sign of life is ``keepalive`` old
    (with the default 20 s wait and 60 s worker timeout, never while it waits)."""
    if ctx.clock() - worker.last_seen < keepalive:
        return
    if not await touch(ctx, worker, force=True):
        raise WorkerNotFound(f"worker {worker.worker_id!r} was removed", param=param)


async def _maybe_ready(ctx: Context, lanes: list[str]) -> bool:
    """Whether a claim could find a task: a read that spares a claim when a waiter is woken
    with nothing due."""
    due = await ctx.store.earliest_run_at(lanes)
    return due is not None and due <= ctx.clock()


async def _idle_time(
    ctx: Context, lanes: list[str], longest: float, held_back: dict[str, str]
) -> float:
    """How long to sleep unless woken: at most ``longest``, until the earliest delayed task
    of the lanes comes due, and until a rate limit that held the last claim back opens."""
    due = await ctx.store.earliest_run_at(lanes)
    now = ctx.clock()
    if held_back:
        limits = (await ctx.queue_cache.current(ctx.store)).limits
        reopen = reopens_at(limits, held_back, now)
        if reopen is not None:
            longest = min(longest, max(reopen - now, 0.0))
    if due is None or due <= now:
        return longest
    return min(longest, due - now)
