"""A worker reports the task it holds: complete, or fail (then the queue's retry policy)."""

from __future__ import annotations

import dataclasses
from typing import Any

from resolvers.context import Context
from resolvers.errors import InvalidInput, NotTaskHolder, TaskNotFound
from resolvers.ids import new_id
from resolvers.leases import touch
from resolvers.models import Failure, RetryPolicy, Task, TaskFilter, TaskState
from resolvers.observe import observe
from resolvers.retry import delay_before_retry
from resolvers.validation import flag, identifier, required, text

# A report can race with a lease extension by the same worker (a heartbeat), which changes the
# task's version but not its holder: re-read and try again, a few times at most.
REPORT_TRIES = 5


def requeued(task: Task, run_at: float) -> Task:
    """The task waiting again in its lane from ``run_at``, its history kept."""
    return dataclasses.replace(
        task,
        state=TaskState.QUEUED,
        run_at=run_at,
        worker_id=task.worker_id if task.lane != task.queue else None,
        started_at=None,
        finished_at=None,
        lease_until=None,
    )


def fresh_copy(task: Task, now: float) -> Task:
    """A new task with the same event, queue and data, as if just published."""
    return dataclasses.replace(
        requeued(task, now),
        task_id=new_id(),
        created_at=now,
        attempts=0,
        fail_reason=None,
        failures=[],
        seq=0,
        version=0,
    )


def _outcome(
    ctx: Context, policy: RetryPolicy, task: Task, state: str, reason: str | None, again: bool
) -> tuple[Task, list[Task], str]:
    """(the task as reported, new tasks to write with it, the statistic to count)."""
    now = ctx.clock()
    if state == "complete":
        done = dataclasses.replace(
            task, state=TaskState.COMPLETED, finished_at=now, lease_until=None
        )
        return done, [fresh_copy(task, now)] if again else [], "completed"
    failed = dataclasses.replace(
        task,
        attempts=task.attempts + 1,
        fail_reason=reason,
        failures=[*task.failures, Failure(reason, now)],
    )
    if again:
        return requeued(failed, now), [], "retried"
    if failed.attempts <= policy.limit:
        delay = delay_before_retry(policy, failed.attempts, ctx.random())
        return requeued(failed, now + delay), [], "retried"
    done = dataclasses.replace(failed, state=TaskState.FAILED, finished_at=now, lease_until=None)
    return done, [], "failed"


async def report(
    ctx: Context,
    *,
    worker_id: Any,
    task_id: Any,
    state: Any,
    fail_reason: Any = None,
    re_enqueue: Any = None,
    reason_param: str = "failReason",
) -> Task:
    """A worker reports the task it holds as complete or fail.

    complete: the task is done (kept as completed for the retention time); with reEnqueue a
    fresh copy is queued too. fail: attempts + 1 and the reason recorded; with reEnqueue the
    task goes back to its queue at once; otherwise the queue's retry policy schedules a retry,
    until its limit, and then the task goes to the failed queue. Only the holder may report.
    """
    wid = identifier(worker_id, "workerId")
    tid = identifier(task_id, "taskId")
    required(state, "state")
    if state not in ("complete", "fail"):
        raise InvalidInput(f"state must be 'complete' or 'fail', not {state!r}", param="state")
    reason = text(fail_reason, reason_param, ctx.limits.max_reason_length, optional=True)
    again = flag(re_enqueue, "reEnqueue")
    snapshot = await ctx.queue_cache.current(ctx.store)

    for _ in range(REPORT_TRIES):
        task = await ctx.store.get_task(tid)
        if task is None:
            raise TaskNotFound(f"no task {tid!r}", param="taskId")
        if task.state is not TaskState.STARTED or task.worker_id != wid:
            raise NotTaskHolder(
                f"worker {wid!r} does not hold task {tid!r} (it is {task.state.value})",
                param="taskId",
            )
        policy = snapshot.settings(task.queue).retry
        done, also, counted = _outcome(ctx, policy, task, state, reason, again)
        if await ctx.store.replace_task(done, task.version, also):
            break
    else:
        raise NotTaskHolder(f"task {tid!r} kept changing while it was reported", param="taskId")

    observe(ctx, counted, task.queue, ctx.clock(), task=done, worker_id=wid)
    ctx.notifier.worker_changed(wid)
    if done.state is TaskState.COMPLETED and ctx.policies.completed_retention_seconds <= 0:
        await ctx.store.delete_tasks(TaskFilter(task_ids=(tid,), states=(TaskState.COMPLETED,)))
    lanes = {t.lane for t in (done, *also) if t.state is TaskState.QUEUED}
    if lanes:
        ctx.notifier.lanes_changed(lanes)
    worker = await ctx.store.get_worker(wid)
    if worker is not None:
        await touch(ctx, worker)
    return done
