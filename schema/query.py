"""Query: read-only operations, each one resolver call."""

from __future__ import annotations

import strawberry
from strawberry.scalars import JSON

import resolvers.interests
import resolvers.status
import resolvers.tasks
import resolvers.workers
from resolvers.models import TaskState
from schema.context import Info, engine
from schema.declare import field, object_type
from schema.queue_types import QueueInterests, QueueStatus, Summary, WorkerQueueStatus
from schema.types import Task, TaskPage, Worker


@object_type
class Query:
    """Read-only operations."""

    @field
    async def task(self, info: Info, id: strawberry.ID) -> Task | None:
        """A task by id."""
        ctx = engine(info)
        return Task.from_model(await resolvers.tasks.get_task(ctx, id, "id"), ctx.clock())

    @field
    async def tasks(
        self,
        info: Info,
        queue: str | None = None,
        state: str | None = None,
        worker_id: strawberry.ID | None = None,
        publisher: str | None = None,
        first: int | None = None,
        after: str | None = None,
    ) -> TaskPage:
        """Tasks in publish order, one page at a time, optionally filtered; state is one of
        scheduled, queued, started, completed, failed."""
        ctx = engine(info)
        page = await resolvers.tasks.list_tasks(
            ctx,
            queue=queue,
            state=state,
            worker_id=worker_id,
            publisher=publisher,
            first=first,
            after=after,
        )
        return TaskPage.from_model(page, ctx.clock())

    @field
    async def failed_tasks(
        self,
        info: Info,
        queue: str | None = None,
        publisher: str | None = None,
        reason: str | None = None,
        first: int | None = None,
        after: str | None = None,
    ) -> TaskPage:
        """The failed queue, one page at a time, optionally filtered by queue, publisher and
        text in the fail reason."""
        ctx = engine(info)
        page = await resolvers.tasks.list_tasks(
            ctx,
            queue=queue,
            state=TaskState.FAILED.value,
            publisher=publisher,
            reason_contains=reason,
            first=first,
            after=after,
        )
        return TaskPage.from_model(page, ctx.clock())

    @field
    async def queues(self, info: Info) -> list[QueueStatus]:
        """Every queue with its counts."""
        found = await resolvers.status.all_queue_status(engine(info))
        return [QueueStatus.from_status(queue) for queue in found]

    @field
    async def queue(self, info: Info, name: str) -> QueueStatus | None:
        """One queue with its counts."""
        return QueueStatus.from_status(
            await resolvers.status.queue_status(engine(info), name, "name")
        )

    @field
    async def workers(self, info: Info, queue: str | None = None) -> list[Worker]:
        """Registered workers: all, or those of one queue."""
        found = await resolvers.workers.list_workers(engine(info), queue)
        return [Worker.from_model(worker) for worker in found]

    @field
    async def worker(self, info: Info, id: strawberry.ID) -> Worker | None:
        """A worker by id."""
        return Worker.from_model(await resolvers.workers.get_worker(engine(info), id, "id"))

    @field
    async def interests(self, info: Info, queue: str | None = None) -> list[QueueInterests]:
        """Queues' interests: all, or those of one queue; queues without any are left out."""
        found = await resolvers.interests.list_interests(engine(info), queue)
        return [QueueInterests(queue=name, interests=JSON(value)) for name, value in found.items()]

    @field
    async def status(self, info: Info) -> Summary:
        """How many queues, workers and tasks there are."""
        return Summary.from_model(await resolvers.status.summary(engine(info)))

    @field
    async def worker_queue(self, info: Info, worker_id: strawberry.ID) -> WorkerQueueStatus | None:
        """How many tasks wait in a worker's own queue."""
        found = await resolvers.status.worker_queue_status(engine(info), worker_id)
        return WorkerQueueStatus.from_model(found)
