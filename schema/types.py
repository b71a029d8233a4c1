"""Task and worker types, each built from a resolvers model by ``from_model``.

Times are unix seconds.
"""

from __future__ import annotations

import strawberry
from strawberry.scalars import JSON

import resolvers.lineage
import resolvers.workers
from resolvers import models
from schema.context import Info, engine
from schema.declare import field, object_type
from schema.enums import Scope, SkipReason, TaskState


@object_type
class Failure:
    """One failed delivery of a task: a reported fail, or a lease that expired."""

    reason: str | None = strawberry.field(
        description="The worker's reason, 'lease expired', or null if none was given."
    )
    at: float = strawberry.field(description="When the delivery failed.")

    @classmethod
    def from_model(cls, failure: models.Failure) -> Failure:
        return cls(reason=failure.reason, at=failure.at)


@object_type
class Task:
    """One copy of a published event, in one queue."""

    id: strawberry.ID
    event_id: strawberry.ID = strawberry.field(
        description="The publish this copy came from, shared by every copy of the event."
    )
    queue: str
    worker_id: strawberry.ID | None = strawberry.field(
        description="The worker a scope 'all' copy is for, or the worker holding the task."
    )
    publisher: str
    data: JSON
    run_at: float = strawberry.field(description="When the task becomes ready to run.")
    scope: Scope
    singularly_enqueue: bool
    singularly_run: bool
    state: TaskState = strawberry.field(
        description="scheduled (waiting for runAt), queued, started, completed or failed; "
        "in a report's answer also dropped: the task went back to a queue already holding a "
        "waiting singularlyEnqueue copy of the same work, which stands for it, and this copy "
        "no longer exists."
    )
    attempts: int = strawberry.field(description="Failed or expired deliveries so far.")
    created_at: float
    started_at: float | None
    finished_at: float | None
    lease_until: float | None = strawberry.field(
        description="While started: when the task goes back to its queue unless reported."
    )
    fail_reason: str | None
    failures: list[Failure] = strawberry.field(
        description="Every failed delivery, oldest first; failReason is the last one's reason."
    )
    result: JSON | None = strawberry.field(
        description="What the worker's completion answered (any JSON value), or null."
    )
    progress: JSON | None = strawberry.field(
        description="The holder's last progress report (any JSON value), or null."
    )
    parent_task_id: strawberry.ID | None = strawberry.field(
        description="The task whose completion published this one as a follow-up event."
    )
    follow_up_ids: strawberry.Private[list[str]]

    @field
    async def children(self, info: Info) -> list[Task]:
        """The follow-up tasks this task's completion published that still exist, in publish
        order (at most the server's max_page_size)."""
        ctx = engine(info)
        now = ctx.clock()
        found = await resolvers.lineage.children(ctx, self.id, self.follow_up_ids)
        return [Task.from_model(t, now) for t in found]

    @field
    def task_id(self) -> strawberry.ID:
        """Same as id."""
        return self.id

    @classmethod
    def from_model(cls, task: models.Task, now: float) -> Task:
        return cls(
            id=strawberry.ID(task.task_id),
            event_id=strawberry.ID(task.event_id),
            queue=task.queue,
            worker_id=_id_or_none(task.worker_id),
            publisher=task.publisher,
            data=JSON(task.data),
            run_at=task.run_at,
            scope=Scope.of(task.scope),
            singularly_enqueue=task.singularly_enqueue,
            singularly_run=task.singularly_run,
            state=TaskState(task.shown_state(now)),
            attempts=task.attempts,
            created_at=task.created_at,
            started_at=task.started_at,
            finished_at=task.finished_at,
            lease_until=task.lease_until,
            fail_reason=task.fail_reason,
            failures=[Failure.from_model(failure) for failure in task.failures],
            result=task.result,
            progress=task.progress,
            parent_task_id=_id_or_none(task.parent_task_id),
            follow_up_ids=task.follow_ups,
        )


@object_type
class TaskPage:
    """One page of a task listing, in publish order."""

    tasks: list[Task]
    next_cursor: str | None = strawberry.field(
        description="Pass as `after` for the next page; null on the last page."
    )

    @field
    def has_next_page(self) -> bool:
        """Whether another page follows."""
        return self.next_cursor is not None

    @classmethod
    def from_model(cls, page: models.TaskPage, now: float) -> TaskPage:
        return cls(
            tasks=[Task.from_model(task, now) for task in page.tasks],
            next_cursor=page.next_cursor,
        )


@object_type
class Skipped:
    """A queue, or a worker of a queue, that got no copy of a published event."""

    queue: str
    worker_id: strawberry.ID | None
    code: SkipReason
    reason: str = strawberry.field(
        description="'no workers' or 'duplicate', as text.",
        deprecation_reason="Use `code`: its values are these with an underscore for the space.",
    )

    @classmethod
    def from_model(cls, skipped: models.Skipped) -> Skipped:
        return cls(
            queue=skipped.queue,
            worker_id=_id_or_none(skipped.worker_id),
            code=SkipReason.of(skipped.reason),
            reason=skipped.reason,
        )


@object_type
class PublishResult:
    """What a publish did."""

    event_id: strawberry.ID
    discarded: bool = strawberry.field(description="True when no queue was interested.")
    tasks: list[Task] = strawberry.field(description="The copies written.")
    skipped: list[Skipped]

    @classmethod
    def from_model(cls, result: models.PublishResult, now: float) -> PublishResult:
        return cls(
            event_id=strawberry.ID(result.event_id),
            discarded=result.discarded,
            tasks=[Task.from_model(task, now) for task in result.tasks],
            skipped=[Skipped.from_model(skipped) for skipped in result.skipped],
        )


@object_type
class Worker:
    """A registered worker."""

    id: strawberry.ID
    queues: list[str] = strawberry.field(description="In priority order.")
    name: str | None
    registered_at: float
    last_seen: float = strawberry.field(
        description="The worker's last sign of life (a request or a heartbeat)."
    )

    @field
    def worker_id(self) -> strawberry.ID:
        """Same as id."""
        return self.id

    @field
    async def tasks(self, info: Info) -> list[Task]:
        """The tasks the worker holds now: started, under its lease."""
        ctx = engine(info)
        now = ctx.clock()
        return [
            Task.from_model(task, now)
            for task in await resolvers.workers.current_tasks(ctx, self.id)
        ]

    @classmethod
    def from_model(cls, worker: models.Worker) -> Worker:
        return cls(
            id=strawberry.ID(worker.worker_id),
            queues=list(worker.queues),
            name=worker.name,
            registered_at=worker.registered_at,
            last_seen=worker.last_seen,
        )


def _id_or_none(value: str | None) -> strawberry.ID | None:
    return None if value is None else strawberry.ID(value)
