"""What GET /status and the status query report."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from resolvers.context import Context
from resolvers.models import Queue, TaskCounts, TaskFilter, TaskState, worker_lane
from resolvers.queues import get_queue, list_queues
from resolvers.workers import get_worker


@dataclass(slots=True)
class QueueStatus:
    queue: Queue
    counts: TaskCounts
    workers: int

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
    queue = await get_queue(ctx, name, param)
    return await _status_of(ctx, queue)


async def all_queue_status(ctx: Context) -> list[QueueStatus]:
    return [await _status_of(ctx, queue) for queue in await list_queues(ctx)]


async def _status_of(ctx: Context, queue: Queue) -> QueueStatus:
    counts = await ctx.store.count_tasks(TaskFilter(queue=queue.name), ctx.clock())
    workers = len(await ctx.store.list_workers(queue.name))
    return QueueStatus(queue=queue, counts=counts, workers=workers)


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
