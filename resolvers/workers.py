"""Workers: registration in queue priority order, look-up, and removal."""

from __future__ import annotations

from typing import Any

from resolvers.context import Context
from resolvers.errors import InvalidInput, LimitExceeded, WorkerNotFound
from resolvers.ids import new_id
from resolvers.models import Task, TaskFilter, TaskState, Worker, worker_lane
from resolvers.observe import observe
from resolvers.tokens import check_owner
from resolvers.validation import identifier, queue_name, required, text


async def register_worker(ctx: Context, *, queues: Any, name: Any = None) -> Worker:
    """Register a worker on queues in priority order; it gets a new id. Queues need not exist
    yet: a worker may start before any interest is registered."""
    required(queues, "queues")
    if not isinstance(queues, list) or not queues:
        raise InvalidInput("queues must be a non-empty JSON array of queue names", param="queues")
    if len(queues) > ctx.limits.max_queues_per_worker:
        raise LimitExceeded(
            f"queues has {len(queues)} names; at most {ctx.limits.max_queues_per_worker} allowed",
            param="queues",
        )
    ordered: list[str] = []
    for value in queues:
        queue = queue_name(value, ctx, param="queues")
        if queue not in ordered:
            ordered.append(queue)
    label = text(name, "name", ctx.limits.max_name_length, optional=True)
    now = ctx.clock()
    owner = None if ctx.caller is None else ctx.caller.name
    worker = Worker(
        worker_id=new_id(),
        queues=ordered,
        name=label,
        registered_at=now,
        last_seen=now,
        owner=owner,
    )
    await ctx.store.add_worker(worker)
    observe(ctx, "worker_joined", None, now, worker_id=worker.worker_id)
    return worker


async def get_worker(ctx: Context, worker_id: Any, param: str = "workerId") -> Worker:
    """A worker by id; ``param`` is the name the caller's transport gave the id."""
    wid = identifier(worker_id, param)
    worker = await ctx.store.get_worker(wid)
    if worker is None:
        raise WorkerNotFound(f"no worker {wid!r}", param=param)
    return worker


async def list_workers(ctx: Context, queue: Any = None, param: str = "queue") -> list[Worker]:
    name = queue_name(queue, ctx, param) if queue is not None else None
    return await ctx.store.list_workers(name)


async def delete_worker(ctx: Context, worker_id: Any, param: str = "workerId") -> int:
    """A worker says goodbye: it gets nothing more, its started tasks go back to their queues at
    once (no attempt counted) and the copies waiting in its own queue are removed."""
    worker = await get_worker(ctx, worker_id, param)
    check_owner(ctx, worker, param)
    return await _remove(ctx, [worker.worker_id])


async def delete_workers(ctx: Context, queue: Any) -> int:
    """Remove every worker registered on a queue: none of them gets another task, even if it
    asks. Returns how many were removed."""
    name = queue_name(queue, ctx)
    workers = await ctx.store.list_workers(name)
    return await _remove(ctx, [w.worker_id for w in workers])


async def _remove(ctx: Context, worker_ids: list[str]) -> int:
    if not worker_ids:
        return 0
    # The records go first: from then on a claim by these workers fails, so nothing new can be
    # handed to them while their tasks are returned.
    removed = await ctx.store.delete_workers(worker_ids)
    now = ctx.clock()
    lanes: set[str] = set()
    for wid in worker_ids:
        # Its subscriptions on this node wake, find it gone and end (elsewhere, at their next
        # sign of life).
        ctx.notifier.worker_changed(wid)
        observe(ctx, "worker_left", None, now, worker_id=wid)
        released = await ctx.store.release_tasks(wid, now)
        lanes.update(task.lane for task in released)
        await ctx.store.delete_tasks(TaskFilter(lane=worker_lane(wid), states=(TaskState.QUEUED,)))
    if lanes:
        ctx.notifier.lanes_changed(lanes)
    return removed


async def current_tasks(ctx: Context, worker_id: str) -> list[Task]:
    """The tasks a worker holds now (started, under its lease)."""
    where = TaskFilter(worker_id=worker_id, states=(TaskState.STARTED,))
    return (await ctx.store.list_tasks(where, ctx.limits.max_page_size, None)).tasks
