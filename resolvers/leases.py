"""Leases and liveness: signs of life extend a worker's leases; expired leases and silent
workers are reaped by background duties that any number of nodes may run at once."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

from resolvers.context import Context
from resolvers.errors import InvalidInput, WorkerNotFound
from resolvers.models import Failure, Task, TaskFilter, TaskState, Worker, worker_lane
from resolvers.observe import observe
from resolvers.validation import identifier

LEASE_EXPIRED = "lease expired"


async def touch(
    ctx: Context,
    worker: Worker,
    *,
    extend: Sequence[str] | None = (),
    force: bool = False,
) -> bool:
    """Record a sign of life of the worker and extend the leases of the tasks in ``extend``
    (all it holds if None). Throttled to one write per touch interval unless forced. False if
    the worker is gone.

    Claims and reports only mark the worker as alive: a claim whose reply was lost must not
    keep its task leased for ever while the worker goes on polling. Leases are extended by
    heartbeats (the tasks named, or all) and by a push subscription (the tasks it holds)."""
    now = ctx.clock()
    if not force and now - worker.last_seen < ctx.policies.touch_interval_seconds:
        return True
    snapshot = await ctx.queue_cache.current(ctx.store)
    leases = snapshot.lease_seconds(worker.queues)
    alive = await ctx.store.touch_worker(
        worker.worker_id, now, leases, ctx.limits.default_lease_seconds, extend
    )
    if alive:
        worker.last_seen = now
    return alive


async def heartbeat(
    ctx: Context, worker_id: Any, task_ids: Any = None, param: str = "workerId"
) -> Worker:
    """A worker says it is alive: it is not reaped, and the leases of the tasks it names (all
    the tasks it holds if it names none) are extended."""
    wid = identifier(worker_id, param)
    extend: list[str] | None = None
    if task_ids is not None:
        if not isinstance(task_ids, list) or len(task_ids) > ctx.limits.max_page_size:
            raise InvalidInput("taskIds must be a list of task ids", param="taskIds")
        extend = [identifier(t, "taskIds") for t in task_ids]
    worker = await ctx.store.get_worker(wid)
    if worker is None or not await touch(ctx, worker, extend=extend, force=True):
        raise WorkerNotFound(f"no worker {wid!r}: register it again", param=param)
    return worker


def lease_expired(task: Task, now: float, max_deliveries: int) -> Task:
    """The task after its lease ran out: back in its queue with attempts + 1, or, once it has
    failed max_deliveries times, in the failed queue, so a task that kills its workers cannot
    loop forever."""
    attempts = task.attempts + 1
    failures = [*task.failures, Failure(LEASE_EXPIRED, now)]
    if attempts >= max_deliveries:
        return dataclasses.replace(
            task,
            state=TaskState.FAILED,
            attempts=attempts,
            failures=failures,
            fail_reason=LEASE_EXPIRED,
            finished_at=now,
            lease_until=None,
        )
    return dataclasses.replace(
        task,
        state=TaskState.QUEUED,
        attempts=attempts,
        failures=failures,
        fail_reason=LEASE_EXPIRED,
        worker_id=task.worker_id if task.lane != task.queue else None,
        started_at=None,
        lease_until=None,
    )


async def reap_expired_leases(ctx: Context) -> int:
    """Move on every task whose lease has expired; returns how many this node moved. Safe on
    many nodes at once: each move is a compare-and-set, so one node wins each task."""
    moved = 0
    while True:
        now = ctx.clock()
        expired = await ctx.store.expired_tasks(now, ctx.policies.reap_batch)
        snapshot = await ctx.queue_cache.current(ctx.store)
        lanes: set[str] = set()
        for task in expired:
            after = lease_expired(task, now, snapshot.settings(task.queue).max_deliveries)
            if not await ctx.store.replace_task(after, task.version):
                continue
            moved += 1
            observe(ctx, "lease_expired", task.queue, now, task=task)
            if after.state is TaskState.FAILED:
                observe(ctx, "failed", task.queue, now, task=task)
            else:
                lanes.add(after.lane)
        if lanes:
            ctx.notifier.lanes_changed(lanes)
        if len(expired) < ctx.policies.reap_batch:
            return moved


async def reap_silent_workers(ctx: Context) -> int:
    """Remove workers silent for longer than the worker timeout, with the copies waiting in
    their own queues. Their started tasks come back through lease expiry, an attempt counted,
    since a worker that vanished may have died of its task."""
    cutoff = ctx.clock() - ctx.policies.worker_timeout_seconds
    silent = [w.worker_id for w in await ctx.store.list_workers() if w.last_seen < cutoff]
    if not silent:
        return 0
    removed = await ctx.store.delete_workers(silent)
    for wid in silent:
        observe(ctx, "worker_left", None, ctx.clock(), worker_id=wid)
        await ctx.store.delete_tasks(TaskFilter(lane=worker_lane(wid), states=(TaskState.QUEUED,)))
    return removed
