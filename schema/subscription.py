"""Subscriptions over websockets (graphql-transport-ws): pushed tasks and the live feed."""

from __future__ import annotations

from collections.abc import AsyncGenerator

import strawberry

from resolvers import models
from resolvers.push import follow_events, push_batches, push_tasks
from resolvers.task_updates import follow_task
from schema.context import Info, engine, vanished
from schema.declare import object_type, subscription
from schema.enums import EventKind
from schema.types import Task


@object_type
class Event:
    """Something that happened to a task, a queue or a worker (see EventKind)."""

    kind: EventKind
    queue: str | None
    at: float
    task_id: strawberry.ID | None
    worker_id: strawberry.ID | None

    @classmethod
    def from_model(cls, event: models.Event) -> Event:
        return cls(
            kind=EventKind(event.kind),
            queue=event.queue,
            at=event.at,
            task_id=None if event.task_id is None else strawberry.ID(event.task_id),
            worker_id=None if event.worker_id is None else strawberry.ID(event.worker_id),
        )


@object_type
class Subscription:
    """Live streams."""

    @subscription
    async def tasks(
        self, info: Info, worker_id: strawberry.ID, prefetch: int | None = None
    ) -> AsyncGenerator[Task, None]:
        """Tasks pushed to the worker, each already claimed for it under a lease. At most
        `prefetch` (default 1) are unfinished at once; reporting one, on any connection, lets
        the next come. When the subscription ends its unfinished tasks go back to their queues
        at once: uncounted if the client ended it (`complete`); if the socket went away with
        it open, each task sent counts a delivery, as a lease expiry does (maxDeliveries)."""
        ctx = engine(info)
        async for task in push_tasks(ctx, worker_id, prefetch, vanished=vanished(info)):
            yield Task.from_model(task, ctx.clock())

    @subscription
    async def task_batches(
        self, info: Info, worker_id: strawberry.ID, prefetch: int | None = None
    ) -> AsyncGenerator[list[Task], None]:
        """As `tasks`, but the tasks claimed together arrive as one list: a busy worker that
        frees several slots at once gets them in one message. The same prefetch bound and
        rules apply."""
        ctx = engine(info)
        async for batch in push_batches(ctx, worker_id, prefetch, vanished=vanished(info)):
            now = ctx.clock()
            yield [Task.from_model(task, now) for task in batch]

    @subscription
    async def task_updates(self, info: Info, task_id: strawberry.ID) -> AsyncGenerator[Task, None]:
        """The task now, then after each change (progress, state, result), on any node;
        completes after a finished state (completed, failed or dropped). A task removed
        meanwhile ends it with TASK_NOT_FOUND. Needs the role that reads tasks (viewer)."""
        ctx = engine(info)
        async for task in follow_task(ctx, task_id):
            yield Task.from_model(task, ctx.clock())

    @subscription
    async def events(self, info: Info, queue: str | None = None) -> AsyncGenerator[Event, None]:
        """What happens to tasks, queues and workers, as it happens: of one queue (with the
        workers' events), or all. "changed" tells that another node may have written: to
        that queue, or, when which queue is not known (queue null), to unfiltered feeds."""
        async for event in follow_events(engine(info), queue):
            yield Event.from_model(event)
