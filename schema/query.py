"""Query: read-only operations, each one resolver call."""

from __future__ import annotations

import strawberry
from strawberry.scalars import JSON

import resolvers.failed
import resolvers.interests
import resolvers.schedules
import resolvers.stats
import resolvers.status
import resolvers.task_admin
import resolvers.tasks
import resolvers.workers
from resolvers.failed import FailedFilter
from schema.aliases import QueueName, TaskIdAsId, WorkerIdAsId, renamed
from schema.context import Info, engine
from schema.declare import field, object_type
from schema.queue_types import (
    QueueInterests,
    QueueStatus,
    StatsRow,
    StatsTotals,
    Summary,
    WorkerQueueStatus,
)
from schema.schedule_types import Schedule
from schema.tokens import TokenQuery
from schema.types import Task, TaskPage, Worker


@object_type
class Query(TokenQuery):
    """Read-only operations."""

    @field
    async def task(
        self, info: Info, task_id: strawberry.ID | None = None, id: TaskIdAsId = None
    ) -> Task | None:
        """A task by id."""
        ctx = engine(info)
        given, param = renamed("taskId", task_id, "id", id)
        return Task.from_model(await resolvers.tasks.get_task(ctx, given, param), ctx.clock())

    @field
    async def tasks(
        self,
        info: Info,
        queue: str | None = None,
        state: str | None = None,
        worker_id: strawberry.ID | None = None,
        publisher: str | None = None,
        retry: bool | None = None,
        first: int | None = None,
        after: str | None = None,
    ) -> TaskPage:
        """Tasks in publish order, one page at a time, optionally filtered; state is one of
        TaskState's values: scheduled, queued, started, completed, failed. retry true keeps
        the tasks that failed before (attempts > 0), false those never failed: with state
        scheduled, the retries waiting for their backoff and the delayed publishes."""
        ctx = engine(info)
        page = await resolvers.tasks.list_tasks(
            ctx,
            queue=queue,
            state=state,
            worker_id=worker_id,
            publisher=publisher,
            retry=retry,
            first=first,
            after=after,
        )
        return TaskPage.from_model(page, ctx.clock())

    @field
    async def search_tasks(
        self,
        info: Info,
        field: str,
        value: str,
        queue: str | None = None,
        first: int | None = None,
        after: str | None = None,
    ) -> TaskPage:
        """Tasks whose data has `field` (a name or dotted path) with a value containing
        `value` (any case), in publish order. A bounded number of tasks is read per call:
        follow nextCursor to search further."""
        ctx = engine(info)
        page = await resolvers.task_admin.search_tasks(
            ctx, field=field, value=value, queue=queue, first=first, after=after
        )
        return TaskPage.from_model(page, ctx.clock())

    @field
    async def failed_tasks(
        self,
        info: Info,
        queue: str | None = None,
        publisher: str | None = None,
        reason: str | None = None,
        since: float | None = None,
        until: float | None = None,
        first: int | None = None,
        after: str | None = None,
    ) -> TaskPage:
        """The failed queue in publish order, one page at a time, optionally filtered by queue,
        publisher, text in the fail reason (any case) and when the tasks failed (since <=
        finishedAt < until)."""
        ctx = engine(info)
        given = FailedFilter(
            queue=queue, publisher=publisher, reason=reason, since=since, until=until
        )
        page = await resolvers.failed.list_failed(ctx, given, first=first, after=after)
        return TaskPage.from_model(page, ctx.clock())

    @field
    async def queues(self, info: Info) -> list[QueueStatus]:
        """Every queue with its counts."""
        found = await resolvers.status.all_queue_status(engine(info))
        return [QueueStatus.from_status(queue) for queue in found]

    @field
    async def queue(
        self, info: Info, queue: str | None = None, name: QueueName = None
    ) -> QueueStatus | None:
        """One queue with its counts. A queue deleted or never created answers its view
        (exists false), as GET /status?queue= does."""
        given, param = renamed("queue", queue, "name", name)
        return QueueStatus.from_status(
            await resolvers.status.queue_status(engine(info), given, param)
        )

    @field
    async def workers(self, info: Info, queue: str | None = None) -> list[Worker]:
        """Registered workers: all, or those of one queue."""
        found = await resolvers.workers.list_workers(engine(info), queue)
        return [Worker.from_model(worker) for worker in found]

    @field
    async def worker(
        self, info: Info, worker_id: strawberry.ID | None = None, id: WorkerIdAsId = None
    ) -> Worker | None:
        """A worker by id."""
        given, param = renamed("workerId", worker_id, "id", id)
        return Worker.from_model(await resolvers.workers.get_worker(engine(info), given, param))

    @field
    async def interests(self, info: Info, queue: str | None = None) -> list[QueueInterests]:
        """Queues' interests: all, or those of one queue; queues without any are left out."""
        found = await resolvers.interests.list_interests(engine(info), queue)
        return [QueueInterests(queue=name, interests=JSON(value)) for name, value in found.items()]

    @field
    async def schedules(self, info: Info) -> list[Schedule]:
        """Every recurring schedule."""
        found = await resolvers.schedules.list_schedules(engine(info))
        return [Schedule.from_model(schedule) for schedule in found]

    @field
    async def stats(
        self,
        info: Info,
        queue: str | None = None,
        since: float | None = None,
        until: float | None = None,
    ) -> list[StatsRow]:
        """Counts per queue and minute with since <= minute < until (default: the last hour),
        of one queue or all, oldest first. Minutes older than the statistics window (default a
        day) are forgotten."""
        rows = await resolvers.stats.query_stats(
            engine(info), queue=queue, since=since, until=until
        )
        return [StatsRow.from_model(row) for row in rows]

    @field
    async def stats_totals(self, info: Info, queue: str | None = None) -> StatsTotals:
        """Counts since totals were first kept in the store, of one queue or all: the figures
        the per-minute stats add up to, before any minute is pruned."""
        row = await resolvers.stats.lifetime_totals(engine(info), queue=queue)
        return StatsTotals.from_model(row)

    @field
    async def status(self, info: Info) -> Summary:
        """How many queues, workers and tasks there are."""
        return Summary.from_model(await resolvers.status.summary(engine(info)))

    @field
    async def worker_queue(self, info: Info, worker_id: strawberry.ID) -> WorkerQueueStatus | None:
        """How many tasks wait in a worker's own queue."""
        found = await resolvers.status.worker_queue_status(engine(info), worker_id)
        return WorkerQueueStatus.from_model(found)
