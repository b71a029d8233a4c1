"""A worker reports the task it holds: complete, or fail (then the queue's retry policy)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from resolvers.context import Context
from resolvers.errors import CouchQueueError, InvalidInput, NotTaskHolder, TaskNotFound
from resolvers.leases import touch
from resolvers.models import (
    Failure,
    PublishInput,
    Replaced,
    RetryPolicy,
    Task,
    TaskChange,
    TaskFilter,
    TaskState,
)
from resolvers.observe import observe
from resolvers.publish import (
    derived_id,
    follow_up_copies,
    follow_up_events,
    observe_follow_ups,
)
from resolvers.retry import delay_before_retry
from resolvers.tokens import authorize, check_owner_of
from resolvers.validation import flag, identifier, json_value, required, text

# A report can race with a lease extension by the same worker (a heartbeat), which changes the
# task's version but not its holder: re-read and try again, a few times at most.
REPORT_TRIES = 5


def fresh_copy(task: Task, now: float) -> Task:
    """A new task with the same event, queue and data, as if just published. Its id is derived
    from the task's (which completes once), so a completion retried after its write was lost
    writes it once, as it does its follow-ups."""
    return dataclasses.replace(
        task.requeued(now),
        task_id=derived_id(task.task_id, "reEnqueue"),
        created_at=now,
        attempts=0,
        fail_reason=None,
        failures=[],
        result=None,
        progress=None,
        follow_ups=[],
        seq=0,
        version=0,
    )


def _outcome(
    ctx: Context, policy: RetryPolicy, task: Task, item: ReportItem, follow_ups: list[Task]
) -> tuple[Task, list[Task], str]:
    """(the task as reported, new tasks to write with it, the statistic to count)."""
    now = ctx.clock()
    if item.state == "complete":
        done = dataclasses.replace(
            task,
            state=TaskState.COMPLETED,
            finished_at=now,
            lease_until=None,
            result=item.result,
            follow_ups=[t.task_id for t in follow_ups],
        )
        again = [fresh_copy(task, now)] if item.again else []
        return done, [*again, *follow_ups], "completed"
    reason = item.reason
    failed = dataclasses.replace(
        task,
        attempts=task.attempts + 1,
        fail_reason=reason,
        failures=[*task.failures, Failure(reason, now)],
    )
    if item.again:
        return failed.requeued(now), [], "retried"
    if failed.attempts <= policy.limit:
        delay = delay_before_retry(policy, failed.attempts, ctx.random())
        return failed.requeued(now + delay), [], "retried"
    done = dataclasses.replace(failed, state=TaskState.FAILED, finished_at=now, lease_until=None)
    return done, [], "failed"


@dataclass(slots=True)
class ReportItem:
    """One checked report: the task and what happened to it."""

    task_id: str
    state: str
    reason: str | None
    again: bool
    # A completion's result (JSON; None: none) and its follow-up events.
    result: Any = None
    publish: list[PublishInput] = field(default_factory=list)


def report_item(
    ctx: Context,
    task_id: Any,
    state: Any,
    fail_reason: Any = None,
    re_enqueue: Any = None,
    reason_param: str = "failReason",
    result: Any = None,
    publish: Any = None,
) -> ReportItem:
    tid = identifier(task_id, "taskId")
    required(state, "state")
    if state not in ("complete", "fail"):
        raise InvalidInput(f"state must be 'complete' or 'fail', not {state!r}", param="state")
    reason = text(fail_reason, reason_param, ctx.limits.max_reason_length, optional=True)
    if state != "complete":
        for name, value in (("result", result), ("publish", publish)):
            if value is not None:
                raise InvalidInput(f"{name} is only taken with state=complete", param=name)
    return ReportItem(
        tid,
        state,
        reason,
        flag(re_enqueue, "reEnqueue"),
        None if result is None else json_value(result, ctx, "result"),
        follow_up_events(ctx, publish),
    )


async def report(
    ctx: Context,
    *,
    worker_id: Any,
    task_id: Any,
    state: Any,
    fail_reason: Any = None,
    re_enqueue: Any = None,
    reason_param: str = "failReason",
    result: Any = None,
    publish: Any = None,
) -> Task:
    """A worker reports the task it holds as complete or fail.

    complete: the task is done (kept as completed for the retention time); with reEnqueue a
    fresh copy is queued too. fail: attempts + 1 and the reason recorded; with reEnqueue the
    task goes back to its queue at once; otherwise the queue's retry policy schedules a retry,
    until its limit, and then the task goes to the failed queue. Only the holder may report.
    A singularlyEnqueue task going back to a queue that already holds a waiting copy of the
    same work is dropped instead (that copy stands for it), and the answer says so: the task
    with ``dropped`` set (the state "dropped").

    A completion may carry a ``result`` (kept with the completed task) and follow-up events
    (``publish``), written with it: published if and only if the completion is, each once
    however often the completion is retried. A completion repeated by the worker that made it
    (a retry after a lost answer) answers the completed task and writes nothing.
    """
    wid = identifier(worker_id, "workerId")
    item = report_item(ctx, task_id, state, fail_reason, re_enqueue, reason_param, result, publish)
    [outcome] = await report_items(ctx, wid, [item])
    if isinstance(outcome, CouchQueueError):
        raise outcome
    return outcome


async def report_items(
    ctx: Context, worker_id: str, items: list[ReportItem]
) -> list[Task | CouchQueueError]:
    """Reports of one worker (see report), read and written together; per item, the task as
    written or the error that item alone got. Follow-up events are publishes: a caller that
    sends some needs the publisher role too."""
    await check_owner_of(ctx, worker_id)
    if any(item.publish for item in items):
        authorize(ctx, "Mutation.publishTask")
    snapshot = await ctx.queue_cache.current(ctx.store)
    outcomes: list[Task | CouchQueueError | None] = [None] * len(items)
    written: list[tuple[Task, list[Task], str]] = []
    follow_ups: dict[int, list[Task]] = {}
    published: list[Task] = []
    inserted: set[str] = set()
    pending = list(range(len(items)))
    for _ in range(REPORT_TRIES):
        found = await ctx.store.get_tasks([items[i].task_id for i in pending])
        planned: list[tuple[int, Task, list[Task], str]] = []
        changes: list[TaskChange] = []
        for i in pending:
            item = items[i]
            task = found.get(item.task_id)
            if task is None:
                outcomes[i] = TaskNotFound(f"no task {item.task_id!r}", param="taskId")
            elif _already_completed(task, worker_id, item):
                outcomes[i] = task
            elif task.state is not TaskState.STARTED or task.worker_id != worker_id:
                outcomes[i] = NotTaskHolder(
                    f"worker {worker_id!r} does not hold task {item.task_id!r} "
                    f"(it is {task.state.value})",
                    param="taskId",
                )
            else:
                policy = snapshot.settings(task.queue, ctx.queue_defaults()).retry
                if i not in follow_ups:
                    follow_ups[i] = await follow_up_copies(ctx, task.task_id, item.publish)
                done, also, counted = _outcome(ctx, policy, task, item, follow_ups[i])
                planned.append((i, done, also, counted))
                changes.append(TaskChange(done, task.version, also))
        ok = await ctx.store.replace_tasks(changes) if changes else []
        # Written now (a store that writes them ahead of a compare-and-set it then loses
        # skips them on the next try, as written already).
        inserted.update(t.task_id for i, *_ in planned for t in follow_ups[i] if t.seq)
        pending = []
        for (i, done, also, counted), was_written in zip(planned, ok, strict=True):
            if was_written:
                if was_written is Replaced.DROPPED:
                    done = dataclasses.replace(done, dropped=True)
                outcomes[i] = done
                written.append((done, also, counted))
                published.extend(follow_ups[i])
            else:
                pending.append(i)
        if not pending:
            break
    for i in pending:
        outcomes[i] = NotTaskHolder(
            f"task {items[i].task_id!r} kept changing while it was reported", param="taskId"
        )
    if written:
        await _after_reports(
            ctx, worker_id, written, [t for t in published if t.task_id in inserted]
        )
    return [outcome for outcome in outcomes if outcome is not None]


def _already_completed(task: Task, worker_id: str, item: ReportItem) -> bool:
    """Whether the report repeats the completion this worker made of the task."""
    return (
        item.state == "complete"
        and task.state is TaskState.COMPLETED
        and task.worker_id == worker_id
    )


async def _after_reports(
    ctx: Context,
    worker_id: str,
    written: list[tuple[Task, list[Task], str]],
    follow_ups: list[Task],
) -> None:
    now = ctx.clock()
    lanes: set[str] = set(observe_follow_ups(ctx, follow_ups))
    for done, also, counted in written:
        observe(ctx, counted, done.queue, now, task=done, worker_id=worker_id)
        lanes.update(t.lane for t in (done, *also) if t.state is TaskState.QUEUED)
    ctx.notifier.worker_changed(worker_id)
    if ctx.policies.completed_retention_seconds <= 0:
        completed = tuple(d.task_id for d, _, _ in written if d.state is TaskState.COMPLETED)
        if completed:
            where = TaskFilter(task_ids=completed, states=(TaskState.COMPLETED,))
            await ctx.store.delete_tasks(where)
    if lanes:
        ctx.notifier.lanes_changed(lanes)
    worker = await ctx.store.get_worker(worker_id)
    if worker is not None:
        await touch(ctx, worker)
