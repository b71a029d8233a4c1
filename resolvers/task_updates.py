"""Waiting for a task's outcome: the taskUpdates subscription and the GET /task/result long poll.

A waiter registers a watch of its task (resolvers/waiters.py) before it reads the task, so no
change is lost between the read and the wait. A change made on this node rings its watches at
once (resolvers/observe.py tells every task event; a removal tells too); the waiter then reads
the task again. Changes made on other nodes are found by one batched re-read of every watched
task per change-stamp interval (``reread_watched``, a background duty), which hands each watch
whose task moved on the task as read: no poll loop per waiter.

Waits only read: a waiter that is cancelled (its client hung up, its time ran out) leaves
nothing to undo.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator
from typing import Any

from resolvers.context import Context
from resolvers.errors import TaskNotFound
from resolvers.long_poll import HangUp
from resolvers.models import Task, TaskState
from resolvers.tasks import get_task
from resolvers.validation import identifier, number
from resolvers.waiters import TaskWatch, Unread, seen

FINISHED_STATES = frozenset({TaskState.COMPLETED, TaskState.FAILED})
# A batched re-read that took d seconds is not run again until PAUSE_FACTOR * d later: many
# watched tasks on a busy node stretch the interval rather than take the event loop.
PAUSE_FACTOR = 4


def finished(task: Task) -> bool:
    """Whether the task has its outcome: completed, failed (in the failed queue) or dropped."""
    return task.dropped or task.state in FINISHED_STATES


async def follow_task(
    ctx: Context, task_id: Any, param: str = "taskId"
) -> AsyncGenerator[Task, None]:
    """The task now, then as it is after each change (progress, state, result), ending after
    a finished state. TaskNotFound if it does not exist, or is removed meanwhile."""
    tid = identifier(task_id, param)
    with ctx.task_watches.watch(tid, ctx.limits.max_task_waiters, param) as watch:
        task = await get_task(ctx, tid, param)
        while True:
            watch.saw(task)
            yield task
            if finished(task):
                return
            task = await _next_change(ctx, watch, param)


async def _next_change(ctx: Context, watch: TaskWatch, param: str) -> Task:
    while True:
        fresh = await watch.changed()
        task = await ctx.store.get_task(watch.task_id) if isinstance(fresh, Unread) else fresh
        if task is None:
            raise TaskNotFound(f"task {watch.task_id!r} was removed", param=param)
        if seen(task) != watch.seen:
            return task


def result_wait_seconds(value: Any, ctx: Context, param: str = "waitSeconds") -> float:
    """How long a wait for an outcome may last: 0 or more, capped at max_wait_seconds."""
    if value is None:
        return 0.0
    kind = "a number of seconds"
    seconds = number(value, param, 0, kind=kind, bounds=f"{kind}, 0 or more")
    return min(seconds, ctx.limits.max_wait_seconds)


async def wait_for_outcome(
    ctx: Context,
    task_id: Any,
    wait: Any = None,
    *,
    hung_up: HangUp | None = None,
    param: str = "taskId",
) -> Task | None:
    """The task as soon as it is finished, or as it is when ``wait`` seconds (capped at
    max_wait_seconds) have passed. None only when the client hung up meanwhile."""
    seconds = result_wait_seconds(wait, ctx)
    if hung_up is None:
        return await _outcome(ctx, task_id, seconds, param)
    waiting = asyncio.ensure_future(_outcome(ctx, task_id, seconds, param))
    gone = asyncio.ensure_future(hung_up())
    try:
        await asyncio.wait({waiting, gone}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        gone.cancel()
        if not waiting.done():
            waiting.cancel()
    if gone.done() and not gone.cancelled():
        gone.exception()  # a transport that failed to tell counts as gone, and is not logged
    await asyncio.wait({waiting})
    return None if waiting.cancelled() else waiting.result()


async def _outcome(ctx: Context, task_id: Any, seconds: float, param: str) -> Task:
    updates = follow_task(ctx, task_id, param)
    async with contextlib.aclosing(updates):
        task = await anext(updates)
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                while not finished(task):
                    task = await anext(updates)
    return task


async def reread_watched(ctx: Context) -> int:
    """One pass of the background duty: re-read every task watched on this node in one batch,
    and ring the watches whose task changed (on another node, typically). How many rang. A
    pass comes at most every PAUSE_FACTOR times the last one's duration."""
    watches = ctx.task_watches
    loop = asyncio.get_running_loop()
    marks = watches.marks()
    if not marks or loop.time() < watches.next_reread:
        return 0
    began = loop.time()
    task_ids = list(dict.fromkeys(watch.task_id for watch, _ in marks))
    try:
        found = await ctx.store.get_tasks(task_ids)
    finally:
        ended = loop.time()
        watches.next_reread = ended + PAUSE_FACTOR * (ended - began)
    return watches.reread(marks, found)
