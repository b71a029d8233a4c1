"""Tasks: claim, look up, list and remove. Publishing is in publish.py, reports in reports.py."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from resolvers.context import Context
from resolvers.errors import (
    InvalidInput,
    MissingParameter,
    QueueNotFound,
    TaskNotFound,
    WorkerNotFound,
)
from resolvers.leases import touch
from resolvers.models import (
    ClaimRequest,
    Task,
    TaskFilter,
    TaskPage,
    TaskState,
    Worker,
    worker_lane,
)
from resolvers.observe import observe
from resolvers.queue_cache import QueueSnapshot
from resolvers.tokens import check_owner
from resolvers.validation import (
    flag,
    identifier,
    page_size,
    queue_name,
    text,
)

WAITING = (TaskState.QUEUED,)


async def claim(
    ctx: Context, worker_id: Any, held_back: dict[str, str] | None = None
) -> Task | None:
    """The worker's next task, now started under a lease: its own queue first, then its queues
    in the order it registered them, oldest ready task first. None if there is none.
    ``held_back`` receives the queues a flow limit held back (see claim_for)."""
    with ctx.instruments.timed("claim"):
        wid = identifier(worker_id, "workerId")
        worker = await registered(ctx, wid, "workerId")
        claimed = await claim_for(ctx, worker, 1, held_back)
        await touch(ctx, worker)
        return claimed[0] if claimed else None


async def registered(ctx: Context, worker_id: str, param: str) -> Worker:
    worker = await ctx.store.get_worker(worker_id)
    if worker is None:
        raise WorkerNotFound(f"no worker {worker_id!r}: register it first", param=param)
    check_owner(ctx, worker, param)
    return worker


async def claim_for(
    ctx: Context, worker: Worker, limit: int, held_back: dict[str, str] | None = None
) -> list[Task]:
    """Up to ``limit`` of the worker's next tasks (see claim), taken together. The caller
    records the worker's sign of life (see leases.touch). ``held_back`` receives the queues a
    flow limit held back, and by which (a waiting worker's cue to look again later)."""
    request = claim_request(ctx, worker, await ctx.queue_cache.current(ctx.store))
    claimed = await ctx.store.claim_tasks(request, limit)
    if held_back is not None:
        held_back.update(request.held_back)
    observe_claimed(ctx, request, claimed)
    return claimed


def claim_request(ctx: Context, worker: Worker, snapshot: QueueSnapshot) -> ClaimRequest:
    """What a claim for the worker asks of the store now: its own lane, then its queues that
    are not paused, each with its lease."""
    lanes = [worker_lane(worker.worker_id)]
    lanes.extend(q for q in worker.queues if q not in snapshot.paused)
    return ClaimRequest(
        lanes=lanes,
        worker_id=worker.worker_id,
        now=ctx.clock(),
        lease_seconds=snapshot.lease_seconds(worker.queues),
        default_lease_seconds=ctx.limits.default_lease_seconds,
        skip_queues=snapshot.paused,
        limits={q: snapshot.limits[q] for q in worker.queues if q in snapshot.limits},
    )


async def give_back(ctx: Context, worker_id: str, task_ids: Iterable[str]) -> None:
    """The worker's started tasks among ``task_ids`` go back to their queues at once, without
    counting an attempt (it never got them, or gave them back: see push.py)."""
    released = await ctx.store.release_tasks(worker_id, ctx.clock(), sorted(task_ids))
    if released:
        ctx.notifier.lanes_changed([task.lane for task in released])


def observe_claimed(ctx: Context, request: ClaimRequest, claimed: list[Task]) -> None:
    for task in claimed:
        observe(ctx, "started", task.queue, request.now, task=task)


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
    retry: Any = None,
    first: Any = None,
    after: Any = None,
    queue_param: str = "queue",
) -> TaskPage:
    """Tasks in publish order with keyset paging. Scheduled and queued are told apart by run_at
    against the clock, the same way a claim decides readiness. ``retry`` True keeps the tasks
    that failed before (attempts > 0), False those never failed: among scheduled tasks, the
    retries waiting for their backoff and the delayed publishes."""
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
        failed_before=None if retry is None else flag(retry, "retry"),
    )
    cursor = text(after, "after", 200, optional=True)
    return await ctx.store.list_tasks(where, page_size(first, ctx), cursor)


def _stored_state(state: TaskState) -> TaskState:
    return TaskState.QUEUED if state is TaskState.SCHEDULED else state
