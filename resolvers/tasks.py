"""Tasks: publish (fan-out by interest), claim, report, remove, look up."""

from __future__ import annotations

import dataclasses
import hashlib
import uuid
from typing import Any

import orjson

from resolvers.context import Context
from resolvers.errors import (
    InvalidInput,
    MissingParameter,
    NotTaskHolder,
    QueueNotFound,
    TaskNotFound,
    WorkerNotFound,
)
from resolvers.models import (
    ClaimRequest,
    PublishResult,
    Scope,
    Skipped,
    Task,
    TaskFilter,
    TaskPage,
    TaskState,
    worker_lane,
)
from resolvers.validation import (
    identifier,
    json_object,
    page_size,
    queue_name,
    text,
    timestamp,
)

WAITING = (TaskState.QUEUED,)


def new_id() -> str:
    return uuid.uuid4().hex


def _flag(value: Any, param: str) -> bool:
    if value is None:
        return False
    if not isinstance(value, bool):
        raise InvalidInput(f"{param} must be true or false", param=param)
    return value


def _scope(value: Any) -> Scope:
    if value is None:
        return Scope.ANY
    try:
        return Scope(value)
    except ValueError:
        raise InvalidInput(f"scope must be 'any' or 'all', not {value!r}", param="scope") from None


def identity_of(data: dict[str, Any], unique_key: str | None) -> str:
    """The identity singularlyEnqueue and singularlyRun compare: an explicit key, or a digest of
    the data's canonical JSON (sorted keys), so large data costs the indexes nothing."""
    if unique_key is not None:
        return "key:" + unique_key
    canonical = orjson.dumps(data, option=orjson.OPT_SORT_KEYS)
    return "sha256:" + hashlib.sha256(canonical).hexdigest()


async def publish(
    ctx: Context,
    *,
    publisher: Any,
    data: Any,
    run_at: Any = None,
    scope: Any = None,
    singularly_enqueue: Any = None,
    singularly_run: Any = None,
    unique_key: Any = None,
) -> PublishResult:
    """Give a copy of the event to every interested queue (scope any), or to every worker
    registered on each interested queue (scope all). An event nobody wants is discarded."""
    source = text(publisher, "publisher", ctx.limits.max_name_length)
    assert source is not None
    payload = json_object(data, ctx)
    when = timestamp(run_at, "runAt")
    fan_out = _scope(scope)
    unique_enqueue = _flag(singularly_enqueue, "singularlyEnqueue")
    unique_run = _flag(singularly_run, "singularlyRun")
    key = text(unique_key, "uniqueKey", ctx.limits.max_name_length, optional=True)

    now = ctx.clock()
    event_id = new_id()
    snapshot = await ctx.queue_cache.current(ctx.store)
    interested = [name for name, matches in snapshot.matchers if matches(payload)]
    if not interested:
        return PublishResult(event_id=event_id, discarded=True, tasks=[], skipped=[])

    identity = identity_of(payload, key) if unique_enqueue or unique_run else None
    template = Task(
        task_id="",
        event_id=event_id,
        queue="",
        lane="",
        publisher=source,
        data=payload,
        run_at=now if when is None else when,
        created_at=now,
        scope=fan_out,
        singularly_enqueue=unique_enqueue,
        singularly_run=unique_run,
        identity=identity,
    )
    copies: list[Task] = []
    skipped: list[Skipped] = []
    for queue in interested:
        if fan_out is Scope.ANY:
            copies.append(dataclasses.replace(template, task_id=new_id(), queue=queue, lane=queue))
            continue
        workers = await ctx.store.list_workers(queue)
        if not workers:
            skipped.append(Skipped(queue=queue, reason="no workers"))
        for worker in workers:
            copies.append(
                dataclasses.replace(
                    template,
                    task_id=new_id(),
                    queue=queue,
                    lane=worker_lane(worker.worker_id),
                    worker_id=worker.worker_id,
                )
            )

    written = await ctx.store.insert_tasks(copies) if copies else []
    tasks = [task for task, ok in zip(copies, written, strict=True) if ok]
    skipped.extend(
        Skipped(queue=task.queue, reason="duplicate", worker_id=task.worker_id)
        for task, ok in zip(copies, written, strict=True)
        if not ok
    )
    if tasks:
        ctx.notifier.lanes_changed({task.lane for task in tasks})
    return PublishResult(event_id=event_id, discarded=False, tasks=tasks, skipped=skipped)


async def claim(ctx: Context, worker_id: Any) -> Task | None:
    """The worker's next task, now started under a lease: its own queue first, then its queues
    in the order it registered them, oldest ready task first. None if there is none."""
    wid = identifier(worker_id, "workerId")
    worker = await ctx.store.get_worker(wid)
    if worker is None:
        raise WorkerNotFound(f"no worker {wid!r}: register it first", param="workerId")
    snapshot = await ctx.queue_cache.current(ctx.store)
    lanes = [worker_lane(wid)]
    lanes.extend(q for q in worker.queues if q not in snapshot.paused)
    leases = {
        name: snapshot.queues[name].settings.lease_seconds
        for name in worker.queues
        if name in snapshot.queues
    }
    request = ClaimRequest(
        lanes=lanes,
        worker_id=wid,
        now=ctx.clock(),
        lease_seconds=leases,
        default_lease_seconds=ctx.limits.default_lease_seconds,
        skip_queues=snapshot.paused,
    )
    return await ctx.store.claim_task(request)


async def report(
    ctx: Context,
    *,
    worker_id: Any,
    task_id: Any,
    state: Any,
    fail_reason: Any = None,
    re_enqueue: Any = None,
) -> Task:
    """A worker reports the task it holds as complete or fail.

    complete: the task is done (kept as completed); with reEnqueue a fresh copy is queued too.
    fail: the task goes to the failed queue; with reEnqueue it goes back to its queue instead,
    attempts + 1 and the reason kept. Only the worker holding the task may report it.
    """
    wid = identifier(worker_id, "workerId")
    tid = identifier(task_id, "taskId")
    if state not in ("complete", "fail"):
        raise InvalidInput(f"state must be 'complete' or 'fail', not {state!r}", param="state")
    reason = text(fail_reason, "failReason", ctx.limits.max_reason_length, optional=True)
    again = _flag(re_enqueue, "reEnqueue")

    task = await ctx.store.get_task(tid)
    if task is None:
        raise TaskNotFound(f"no task {tid!r}", param="taskId")
    if task.state is not TaskState.STARTED or task.worker_id != wid:
        raise NotTaskHolder(
            f"worker {wid!r} does not hold task {tid!r} (it is {task.state.value})",
            param="taskId",
        )
    now = ctx.clock()
    also: list[Task] = []
    if state == "complete":
        done = dataclasses.replace(
            task, state=TaskState.COMPLETED, finished_at=now, lease_until=None
        )
        if again:
            also.append(_fresh_copy(task, now))
    elif again:
        done = _back_to_queue(task, now, attempts=task.attempts + 1, reason=reason)
    else:
        done = dataclasses.replace(
            task,
            state=TaskState.FAILED,
            finished_at=now,
            lease_until=None,
            attempts=task.attempts + 1,
            fail_reason=reason,
        )
    if not await ctx.store.replace_task(done, task.version, also):
        raise NotTaskHolder(
            f"task {tid!r} changed while it was being reported; it is no longer held by {wid!r}",
            param="taskId",
        )
    lanes = {t.lane for t in (done, *also) if t.state is TaskState.QUEUED}
    if lanes:
        ctx.notifier.lanes_changed(lanes)
    return done


def _fresh_copy(task: Task, now: float) -> Task:
    return dataclasses.replace(
        task,
        task_id=new_id(),
        run_at=now,
        created_at=now,
        state=TaskState.QUEUED,
        worker_id=task.worker_id if task.lane != task.queue else None,
        attempts=0,
        started_at=None,
        finished_at=None,
        lease_until=None,
        fail_reason=None,
        seq=0,
        version=0,
    )


def _back_to_queue(task: Task, run_at: float, *, attempts: int, reason: str | None) -> Task:
    return dataclasses.replace(
        task,
        state=TaskState.QUEUED,
        run_at=run_at,
        worker_id=task.worker_id if task.lane != task.queue else None,
        attempts=attempts,
        started_at=None,
        lease_until=None,
        fail_reason=reason,
    )


async def delete_tasks(ctx: Context, *, queue: Any = None, worker_id: Any = None) -> int:
    """Remove the waiting (queued and scheduled) tasks of a queue, of a worker's own queue, or
    of both together. Started tasks stay with their workers."""
    if queue is None and worker_id is None:
        raise MissingParameter("give queue or workerId (or both)", param="queue")
    name = queue_name(queue, ctx) if queue is not None else None
    lane = None
    if worker_id is not None:
        wid = identifier(worker_id, "workerId")
        if await ctx.store.get_worker(wid) is None:
            raise WorkerNotFound(f"no worker {wid!r}", param="workerId")
        lane = worker_lane(wid)
    if name is not None and name not in (await ctx.queue_cache.current(ctx.store)).queues:
        raise QueueNotFound(f"no queue {name!r}", param="queue")
    return await ctx.store.delete_tasks(TaskFilter(queue=name, lane=lane, states=WAITING))


async def get_task(ctx: Context, task_id: Any, param: str = "taskId") -> Task:
    """A task by id; ``param`` is the name the caller's transport gave the id."""
    tid = identifier(task_id, param)
    task = await ctx.store.get_task(tid)
    if task is None:
        raise TaskNotFound(f"no task {tid!r}", param=param)
    return task


def parse_state(value: Any) -> TaskState | None:
    if value is None:
        return None
    try:
        return TaskState(value)
    except ValueError:
        names = ", ".join(s.value for s in TaskState)
        raise InvalidInput(f"state must be one of {names}, not {value!r}", param="state") from None


async def list_tasks(
    ctx: Context,
    *,
    queue: Any = None,
    state: Any = None,
    worker_id: Any = None,
    publisher: Any = None,
    reason_contains: Any = None,
    first: Any = None,
    after: Any = None,
    queue_param: str = "queue",
) -> TaskPage:
    """Tasks in publish order with keyset paging. Scheduled and queued are told apart by run_at
    against the clock, the same way a claim decides readiness."""
    wanted = parse_state(state)
    now = ctx.clock()
    where = TaskFilter(
        queue=queue_name(queue, ctx, queue_param) if queue is not None else None,
        states=None if wanted is None else (_stored_state(wanted),),
        worker_id=identifier(worker_id, "workerId") if worker_id is not None else None,
        publisher=text(publisher, "publisher", ctx.limits.max_name_length, optional=True),
        reason_contains=text(
            reason_contains, "reason", ctx.limits.max_reason_length, optional=True
        ),
        run_after=now if wanted is TaskState.SCHEDULED else None,
        run_until=now if wanted is TaskState.QUEUED else None,
    )
    cursor = text(after, "after", 200, optional=True)
    return await ctx.store.list_tasks(where, page_size(first, ctx), cursor)


def _stored_state(state: TaskState) -> TaskState:
    return TaskState.QUEUED if state is TaskState.SCHEDULED else state
