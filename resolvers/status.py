"""What GET /status and the status query report.

A queue named in a status option that does not exist (deleted, or never created) answers its
view, not an error, as Resque's and Sidekiq's size of an unknown queue is 0: no interests, not
paused, and the tasks that still carry its name (a deleted queue's started tasks finish, or
fail, after it is gone), with ``exists`` false. The failed queue, interests and workers options
filter by queue the same way.

Counts come from the store's counters (count_tasks by queue), never from a scan, and a queue's
latency from one index probe: answers stay as quick at a million waiting tasks as at ten."""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import dataclass
from typing import Any

from resolvers.context import Context
from resolvers.flow_limits import LimitStatus, limit_status
from resolvers.models import Queue, TaskCounts, TaskFilter, TaskState, worker_lane
from resolvers.queues import list_queues
from resolvers.validation import queue_name
from resolvers.workers import get_worker

# Queues whose counts all_queue_status asks for at once.
STATUS_CONCURRENCY = 16


@dataclass(slots=True)
class QueueStatus:
    queue: Queue
    counts: TaskCounts
    workers: int
    # False for a queue deleted or never created (see the module's docstring).
    exists: bool = True
    # Seconds the oldest ready task of the queue's own lane has been ready (Sidekiq's
    # latency); 0 when none is ready. Copies waiting in workers' own lanes are not in it.
    latency: float = 0.0
    # The queue's flow limits and what they hold back now; None when it has none.
    limits: LimitStatus | None = None

    @property
    def length(self) -> int:
        """Tasks waiting to be done: queued and scheduled, in the queue and in its workers' own
        queues."""
        return self.counts.waiting


@dataclass(slots=True)
class WorkerQueueStatus:
    worker_id: str
    length: int


@dataclass(slots=True)
class Summary:
    queues: int
    workers: int
    counts: TaskCounts


async def queue_status(ctx: Context, name: Any, param: str = "queue") -> QueueStatus:
    """The queue's status; for a queue that does not exist, its view (``exists`` false)."""
    queue = queue_name(name, ctx, param)
    workers = len(await ctx.store.list_workers(queue))
    record = (await ctx.queue_cache.current(ctx.store)).queues.get(queue)
    if record is None:
        view = await _status_of(ctx, Queue(queue, settings=ctx.queue_defaults()), workers)
        view.exists = False
        return view
    return await _status_of(ctx, record, workers)


async def all_queue_status(ctx: Context) -> list[QueueStatus]:
    """Every queue's status. The workers are listed once for all queues, and the queues'
    counts asked together, a few at a time: a store answers them back to back (or at once)
    instead of one per turn of the event loop."""
    queues = await list_queues(ctx)
    per_queue: Counter[str] = Counter()
    for worker in await ctx.store.list_workers():
        per_queue.update(set(worker.queues))
    at_once = asyncio.Semaphore(STATUS_CONCURRENCY)

    async def one(queue: Queue) -> QueueStatus:
        async with at_once:
            return await _status_of(ctx, queue, per_queue[queue.name])

    return list(await asyncio.gather(*(one(queue) for queue in queues)))


async def _status_of(ctx: Context, queue: Queue, workers: int) -> QueueStatus:
    now = ctx.clock()
    counts = await ctx.store.count_tasks(TaskFilter(queue=queue.name), now)
    limits = queue.settings.limits()
    limited = None
    if limits is not None:
        used = 0
        if limits.rate_limit is not None:
            used = await ctx.store.claims_in_window(queue.name, limits, now)
        limited = limit_status(limits, counts, used)
    return QueueStatus(
        queue=queue,
        counts=counts,
        workers=workers,
        latency=await latency(ctx, queue.name, now),
        limits=limited,
    )


async def latency(ctx: Context, queue: str, now: float) -> float:
    """How long the oldest ready task of the queue's lane has waited since it became due: the
    earliest run_at among its waiting tasks, when that is not in the future (an index probe)."""
    earliest = await ctx.store.earliest_run_at([queue])
    return 0.0 if earliest is None or earliest > now else now - earliest


async def worker_queue_status(
    ctx: Context, worker_id: Any, param: str = "workerId"
) -> WorkerQueueStatus:
    worker = await get_worker(ctx, worker_id, param)
    counts = await ctx.store.count_tasks(
        TaskFilter(lane=worker_lane(worker.worker_id), states=(TaskState.QUEUED,)), ctx.clock()
    )
    return WorkerQueueStatus(worker_id=worker.worker_id, length=counts.waiting)


async def summary(ctx: Context) -> Summary:
    return Summary(
        queues=len(await list_queues(ctx)),
        workers=len(await ctx.store.list_workers()),
        counts=await ctx.store.count_tasks(TaskFilter(), ctx.clock()),
    )
