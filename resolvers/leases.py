"""Leases and liveness: signs of life extend a worker's leases; expired leases and silent
workers are reaped by background duties that any number of nodes may run at once.

A delivery that ends without a report counts, however it ended: the lease ran out, or the push
subscriber vanished holding the task (see push.py). Both go through delivery_failed, so a task
that kills its workers reaches the failed queue after its queue's maxDeliveries either way."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from resolvers.context import Context
from resolvers.errors import InvalidInput, WorkerNotFound
from resolvers.flow_limits import freed_lanes
from resolvers.models import (
    Failure,
    Task,
    TaskChange,
    TaskFilter,
    TaskState,
    Worker,
    worker_lane,
)
from resolvers.observe import observe
from resolvers.tokens import check_owner
from resolvers.validation import identifier


@dataclass(frozen=True, slots=True)
class Loss:
    """How a delivery ended without a report: the event told, the reason recorded, and the
    reason given when it was the last one allowed (``{n}``: how many deliveries were made)."""

    event: str
    reason: str
    last: str

    def final_reason(self, deliveries: int) -> str:
        return self.last.format(n=deliveries)


LEASE_EXPIRED = Loss("lease_expired", "lease expired", "lease expired")
DISCONNECTED = Loss(
    "abandoned",
    "worker disconnected holding the task",
    "worker disconnected holding the task ({n} deliveries)",
)


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
    if worker is not None:
        check_owner(ctx, worker, param)
    if worker is None or not await touch(ctx, worker, extend=extend, force=True):
        raise WorkerNotFound(f"no worker {wid!r}: register it again", param=param)
    return worker


def delivery_failed(task: Task, now: float, max_deliveries: int, loss: Loss) -> Task:
    """The task after a delivery that ended without a report: back in its queue with
    attempts + 1, or, once max_deliveries deliveries have failed, in the failed queue, so a task
    that kills its workers cannot loop forever."""
    attempts = task.attempts + 1
    if attempts >= max_deliveries:
        reason = loss.final_reason(attempts)
        return dataclasses.replace(
            task,
            state=TaskState.FAILED,
            attempts=attempts,
            failures=[*task.failures, Failure(reason, now)],
            fail_reason=reason,
            finished_at=now,
            lease_until=None,
        )
    return dataclasses.replace(
        task.requeued(),
        attempts=attempts,
        failures=[*task.failures, Failure(loss.reason, now)],
        fail_reason=loss.reason,
    )


async def reap_expired_leases(ctx: Context) -> int:
    """Move on every task whose lease has expired; returns how many this node moved. Safe on
    many nodes at once: each move is a compare-and-set, so one node wins each task."""
    moved = 0
    while True:
        now = ctx.clock()
        expired = await ctx.store.expired_tasks(now, ctx.policies.reap_batch)
        moved += len(await _count_deliveries(ctx, expired, now, LEASE_EXPIRED))
        if len(expired) < ctx.policies.reap_batch:
            return moved


async def abandoned(ctx: Context, worker_id: str, task_ids: Iterable[str]) -> None:
    """The worker vanished holding these tasks (its push subscription dropped after they were
    sent): each it still holds counts a delivery, as a lease expiry would. A task it no longer
    holds, or whose compare-and-set is lost (reported, reaped, or its lease extended meanwhile),
    is left alone: the report or its lease decides."""
    found = await ctx.store.get_tasks(sorted(task_ids))
    held = [
        task
        for task in found.values()
        if task.state is TaskState.STARTED and task.worker_id == worker_id
    ]
    await _count_deliveries(ctx, held, ctx.clock(), DISCONNECTED)


async def _count_deliveries(
    ctx: Context, tasks: Sequence[Task], now: float, loss: Loss
) -> set[str]:
    """Move each task on by delivery_failed, each write a compare-and-set against the version
    read; the ids of those written."""
    snapshot = await ctx.queue_cache.current(ctx.store)
    afters = [
        delivery_failed(
            task, now, snapshot.settings(task.queue, ctx.queue_defaults()).max_deliveries, loss
        )
        for task in tasks
    ]
    changes = [TaskChange(after, task.version) for task, after in zip(tasks, afters, strict=True)]
    written = await ctx.store.replace_tasks(changes) if changes else []
    moved: set[str] = set()
    lanes: set[str] = set()
    for task, after, ok in zip(tasks, afters, written, strict=True):
        if not ok:
            continue
        moved.add(task.task_id)
        observe(ctx, loss.event, task.queue, now, task=task)
        if after.state is TaskState.FAILED:
            observe(ctx, "failed", task.queue, now, task=task)
        else:
            lanes.add(after.lane)
        lanes.update(freed_lanes(snapshot.limits, [task]))
    if lanes:
        ctx.notifier.lanes_changed(lanes)
    return moved


async def reap_silent_workers(ctx: Context) -> int:
    """Remove workers silent for longer than the worker timeout, with the copies waiting in
    their own queues. Their started tasks come back through lease expiry, an attempt counted,
    since a worker that vanished may have died of its task."""
    cutoff = ctx.clock() - ctx.policies.worker_timeout_seconds
    # A worker subscribed on this node is alive however late its subscription's last touch
    # (a node too busy to run it on time); other nodes see the touch (resolvers.push).
    silent = [
        w.worker_id
        for w in await ctx.store.list_workers()
        if w.last_seen < cutoff and not ctx.notifier.subscribed(w.worker_id)
    ]
    if not silent:
        return 0
    removed = await ctx.store.delete_workers(silent)
    for wid in silent:
        observe(ctx, "worker_left", None, ctx.clock(), worker_id=wid)
        await ctx.store.delete_tasks(TaskFilter(lane=worker_lane(wid), states=(TaskState.QUEUED,)))
    return removed
