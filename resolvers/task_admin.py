"""Acting on one task from a management site: run a delayed task now, remove a task, and
search tasks by a field of their data."""

from __future__ import annotations

import dataclasses
from typing import Any

import orjson

from resolvers.context import Context
from resolvers.errors import Conflict
from resolvers.matching import MISSING, lookup
from resolvers.models import Task, TaskFilter, TaskPage, TaskState
from resolvers.tasks import get_task
from resolvers.validation import page_size, queue_name, text

# A search reads at most this many tasks per call and hands back a cursor to go on, so one
# request never scans a million-task queue.
SEARCH_SCAN_LIMIT = 5000


async def run_now(ctx: Context, task_id: Any, param: str = "taskId") -> Task:
    """Make a waiting (scheduled or queued) task ready now."""
    for _ in range(5):
        task = await get_task(ctx, task_id, param)
        if task.state is not TaskState.QUEUED:
            raise Conflict(f"task {task.task_id!r} is {task.state.value}, not waiting", param=param)
        now = ctx.clock()
        if task.run_at <= now:
            return task
        ready = dataclasses.replace(task, run_at=now)
        if await ctx.store.replace_task(ready, task.version):
            ctx.notifier.lanes_changed([task.lane])
            return ready
    raise Conflict(f"task {task.task_id!r} kept changing; try again", param=param)


async def remove_task(ctx: Context, task_id: Any, param: str = "taskId") -> int:
    """Remove a task that no worker holds (waiting, completed or failed)."""
    task = await get_task(ctx, task_id, param)
    if task.state is TaskState.STARTED:
        raise Conflict(
            f"task {task.task_id!r} is held by worker {task.worker_id!r}; it cannot be removed",
            param=param,
        )
    states = (TaskState.QUEUED, TaskState.COMPLETED, TaskState.FAILED)
    removed = await ctx.store.delete_tasks(TaskFilter(task_ids=(task.task_id,), states=states))
    ctx.task_watches.changed(task.task_id)
    return removed


async def search_tasks(
    ctx: Context,
    *,
    field: Any,
    value: Any,
    queue: Any = None,
    first: Any = None,
    after: Any = None,
) -> TaskPage:
    """Tasks whose data has ``field`` (a name or dotted path) with a value containing
    ``value`` (any case; non-string values as JSON text), in publish order.

    Whole pages of tasks are read until ``first`` matches are found (a page may add a few
    more) or a bounded number of tasks were read: follow next_cursor to search further."""
    path = text(field, "field", ctx.limits.max_name_length)
    wanted = text(value, "value", ctx.limits.max_name_length)
    assert path is not None and wanted is not None
    where = TaskFilter(queue=queue_name(queue, ctx) if queue is not None else None)
    limit = page_size(first, ctx, default=50)
    cursor = text(after, "after", 200, optional=True)
    needle = wanted.lower()
    found: list[Task] = []
    scanned = 0
    while True:
        page = await ctx.store.list_tasks(where, limit, cursor)
        scanned += len(page.tasks)
        found.extend(task for task in page.tasks if _contains(task, path, needle))
        cursor = page.next_cursor
        if cursor is None or len(found) >= limit or scanned >= SEARCH_SCAN_LIMIT:
            return TaskPage(tasks=found, next_cursor=cursor)


def _contains(task: Task, path: str, needle: str) -> bool:
    found = lookup(task.data, path)
    if found is MISSING:
        return False
    rendered = found if isinstance(found, str) else orjson.dumps(found).decode()
    return needle in rendered.lower()
