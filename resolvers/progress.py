"""Progress reports: the worker holding a task says how far it has got (issue 16)."""

from __future__ import annotations

import dataclasses
from typing import Any

from resolvers.context import Context
from resolvers.errors import NotTaskHolder, TaskNotFound
from resolvers.leases import touch
from resolvers.models import Task, TaskState
from resolvers.observe import observe
from resolvers.tokens import check_owner_of
from resolvers.validation import identifier, json_value, required

# A report races with the holder's own lease extensions (heartbeats), which change the task's
# version but not its holder: re-read and try again, a few times at most.
PROGRESS_TRIES = 5
# The live feed's event for a progress report (no statistic counts it).
PROGRESS = "progress"


async def report_progress(ctx: Context, worker_id: Any, task_id: Any, progress: Any) -> Task:
    """Record ``progress`` (any JSON value, at most max_data_bytes) on the task the worker
    holds, and extend the task's lease by its queue's lease, as a heartbeat naming it would.
    Only the holder may report (else NOT_TASK_HOLDER, as for a completion); nothing is
    written when the report is refused."""
    wid = identifier(worker_id, "workerId")
    tid = identifier(task_id, "taskId")
    required(progress, "progress")
    value = json_value(progress, ctx, "progress")
    await check_owner_of(ctx, wid)
    snapshot = await ctx.queue_cache.current(ctx.store)
    for _ in range(PROGRESS_TRIES):
        task = await ctx.store.get_task(tid)
        if task is None:
            raise TaskNotFound(f"no task {tid!r}", param="taskId")
        if task.state is not TaskState.STARTED or task.worker_id != wid:
            raise NotTaskHolder(
                f"worker {wid!r} does not hold task {tid!r} (it is {task.state.value})",
                param="taskId",
            )
        now = ctx.clock()
        lease = snapshot.settings(task.queue, ctx.queue_defaults()).lease_seconds
        reported = dataclasses.replace(task, progress=value, lease_until=now + lease)
        if await ctx.store.replace_task(reported, task.version):
            observe(ctx, PROGRESS, task.queue, now, task=reported, worker_id=wid)
            worker = await ctx.store.get_worker(wid)
            if worker is not None:
                await touch(ctx, worker)
            return reported
    raise NotTaskHolder(
        f"task {tid!r} kept changing while its progress was reported", param="taskId"
    )
