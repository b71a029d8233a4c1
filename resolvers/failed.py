"""The failed queue: list with filters and paging; retry or remove one, a filtered set, or all."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from resolvers.context import Context
from resolvers.errors import InvalidInput, TaskNotFound
from resolvers.models import TaskFilter, TaskPage, TaskState
from resolvers.observe import observe
from resolvers.validation import identifier, page_size, queue_name, text, timestamp

FAILED = (TaskState.FAILED,)
BATCH = 500


@dataclass(frozen=True, slots=True)
class FailedFilter:
    """Which failed tasks an action covers, as a client gave it (None: any)."""

    task_id: Any = None
    queue: Any = None
    publisher: Any = None
    reason: Any = None
    since: Any = None
    until: Any = None
    # What the caller's transport calls the queue filter, for error messages.
    queue_param: str = "queue"


def _where(ctx: Context, given: FailedFilter) -> TaskFilter:
    since = timestamp(given.since, "since")
    until = timestamp(given.until, "until")
    if since is not None and until is not None and until < since:
        raise InvalidInput("until must not be before since", param="until")
    return TaskFilter(
        task_ids=None if given.task_id is None else (identifier(given.task_id, "taskId"),),
        queue=None if given.queue is None else queue_name(given.queue, ctx, given.queue_param),
        publisher=text(given.publisher, "publisher", ctx.limits.max_name_length, optional=True),
        reason_contains=text(given.reason, "reason", ctx.limits.max_reason_length, optional=True),
        finished_after=since,
        finished_before=until,
        states=FAILED,
    )


async def list_failed(
    ctx: Context, given: FailedFilter, first: Any = None, after: Any = None
) -> TaskPage:
    """Failed tasks matching the filter (reason: text contained, any case; since/until: when
    they failed), in publish order."""
    cursor = text(after, "after", 200, optional=True)
    return await ctx.store.list_tasks(_where(ctx, given), page_size(first, ctx), cursor)


async def retry_failed(ctx: Context, given: FailedFilter) -> int:
    """Put matching failed tasks back in their queues, ready now, their history kept. Returns
    how many went back (a singularlyEnqueue task whose queue already holds a waiting copy of
    the same work counts, though it is dropped: that copy stands for it). Each move is a
    compare-and-set: a task removed meanwhile is skipped."""
    where = _where(ctx, given)
    retried = 0
    cursor = None
    lanes: set[str] = set()
    while True:
        page = await ctx.store.list_tasks(where, BATCH, cursor)
        now = ctx.clock()
        for task in page.tasks:
            if await ctx.store.replace_task(task.requeued(now), task.version):
                retried += 1
                lanes.add(task.lane)
                observe(ctx, "retried", task.queue, now, task=task)
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    if given.task_id is not None and retried == 0:
        raise TaskNotFound(f"no failed task {given.task_id!r}", param="taskId")
    if lanes:
        ctx.notifier.lanes_changed(lanes)
    return retried


async def remove_failed(ctx: Context, given: FailedFilter) -> int:
    """Delete matching failed tasks; how many."""
    removed = await ctx.store.delete_tasks(_where(ctx, given))
    if given.task_id is not None and removed == 0:
        raise TaskNotFound(f"no failed task {given.task_id!r}", param="taskId")
    return removed
