"""Mutation, administrative part: queue settings, the failed queue and recurring schedules.

``schema.mutation.Mutation`` inherits these operations; each is one resolver call.
"""

from __future__ import annotations

from contextlib import suppress
from typing import Any

import strawberry

import resolvers.failed
import resolvers.queues
import resolvers.schedules
import resolvers.task_admin
from resolvers.errors import ScheduleNotFound
from resolvers.failed import FailedFilter
from schema.aliases import QueueName, TaskIdAsId, renamed
from schema.context import Info, engine
from schema.declare import deprecated_mutation, mutation, object_type
from schema.inputs import ScheduleInput
from schema.queue_types import Queue
from schema.schedule_types import Schedule
from schema.types import Task


@object_type
class AdminMutation:
    """Operations that configure queues, handle the failed queue and manage schedules."""

    @mutation
    async def run_task_now(
        self, info: Info, task_id: strawberry.ID | None = None, id: TaskIdAsId = None
    ) -> Task:
        """Make a waiting (scheduled) task ready now."""
        ctx = engine(info)
        given, param = renamed("taskId", task_id, "id", id)
        task = await resolvers.task_admin.run_now(ctx, given, param)
        return Task.from_model(task, ctx.clock())

    @mutation
    async def delete_task(
        self, info: Info, task_id: strawberry.ID | None = None, id: TaskIdAsId = None
    ) -> int:
        """Remove a task no worker holds (waiting, completed or failed); how many (0 or 1)."""
        given, param = renamed("taskId", task_id, "id", id)
        return await resolvers.task_admin.remove_task(engine(info), given, param)

    @mutation
    async def configure_queue(
        self,
        info: Info,
        queue: str | None = None,
        name: QueueName = None,
        lease_seconds: float | None = None,
        max_deliveries: int | None = None,
        retry_limit: int | None = None,
        retry_delays: list[float] | None = None,
        backoff_base: float | None = None,
        backoff_factor: float | None = None,
        backoff_max: float | None = None,
        backoff_jitter: float | None = None,
        max_started: int | None = strawberry.UNSET,
        rate_limit: int | None = strawberry.UNSET,
        rate_period_seconds: float | None = strawberry.UNSET,
    ) -> Queue:
        """Change a queue's delivery settings; what is not given stays as it is. leaseSeconds:
        1 to 86400. maxDeliveries: 1 to 1000. retryLimit: retries of a reported failure, 0 to
        1000. retryDelays: seconds before each retry (the last repeats); an empty list means
        exponential backoff again: min(backoffMax, backoffBase * backoffFactor ^ n), spread by
        +/- backoffJitter (0 to 1). Flow limits, across every node and worker (null removes
        one; not given: unchanged): maxStarted, at most that many of the queue's tasks started
        at once (1 to 10000); rateLimit, at most that many claims per ratePeriodSeconds (0.1
        to 86400, default 1; windows aligned on the epoch). A claim a limit stops moves on to
        the worker's next queue, as for a paused queue."""
        given, _ = renamed("queue", queue, "name", name)
        record = await resolvers.queues.configure_queue(
            engine(info),
            given,
            lease_seconds=lease_seconds,
            max_deliveries=max_deliveries,
            retry_limit=retry_limit,
            retry_delays=retry_delays,
            backoff_base=backoff_base,
            backoff_factor=backoff_factor,
            backoff_max=backoff_max,
            backoff_jitter=backoff_jitter,
            max_started=_given(max_started),
            rate_limit=_given(rate_limit),
            rate_period_seconds=_given(rate_period_seconds),
        )
        return Queue.from_model(record)

    @mutation
    async def pause_queue(
        self, info: Info, queue: str | None = None, name: QueueName = None
    ) -> Queue:
        """Pause a queue: it still accepts publishes but hands out nothing until resumed."""
        given, param = renamed("queue", queue, "name", name)
        return Queue.from_model(await resolvers.queues.pause_queue(engine(info), given, param))

    @mutation
    async def resume_queue(
        self, info: Info, queue: str | None = None, name: QueueName = None
    ) -> Queue:
        """Resume a paused queue: its ready tasks are handed out again."""
        given, param = renamed("queue", queue, "name", name)
        return Queue.from_model(await resolvers.queues.resume_queue(engine(info), given, param))

    @mutation
    async def retry_failed(
        self,
        info: Info,
        task_id: strawberry.ID | None = None,
        queue: str | None = None,
        publisher: str | None = None,
        reason: str | None = None,
        since: float | None = None,
        until: float | None = None,
    ) -> int:
        """Put failed tasks back in their queues, ready now, their failures kept: one (taskId),
        those matching the filters (as in failedTasks), or all. Returns how many went back."""
        given = FailedFilter(
            task_id=task_id,
            queue=queue,
            publisher=publisher,
            reason=reason,
            since=since,
            until=until,
        )
        return await resolvers.failed.retry_failed(engine(info), given)

    @mutation
    async def remove_failed(
        self,
        info: Info,
        task_id: strawberry.ID | None = None,
        queue: str | None = None,
        publisher: str | None = None,
        reason: str | None = None,
        since: float | None = None,
        until: float | None = None,
    ) -> int:
        """Delete failed tasks: one (taskId), those matching the filters (as in failedTasks),
        or all. Returns how many were removed."""
        given = FailedFilter(
            task_id=task_id,
            queue=queue,
            publisher=publisher,
            reason=reason,
            since=since,
            until=until,
        )
        return await resolvers.failed.remove_failed(engine(info), given)

    @mutation
    async def create_schedule(self, info: Info, input: ScheduleInput) -> Schedule:
        """Create a recurring schedule, or replace the one of that name. The event is checked
        now, as a publish would be; each tick publishes it with runAt = the tick."""
        schedule = await resolvers.schedules.create_schedule(
            engine(info),
            name=input.name,
            cron=input.cron,
            timezone=input.timezone,
            enabled=input.enabled,
            publisher=input.publisher,
            data=input.data,
            scope=input.scope,
            singularly_enqueue=input.singularly_enqueue,
            singularly_run=input.singularly_run,
            unique_key=input.unique_key,
        )
        return Schedule.from_model(schedule)

    @mutation
    async def set_schedule_enabled(self, info: Info, name: str, enabled: bool) -> Schedule:
        """Enable a schedule (from its next tick after now) or disable it."""
        found = await resolvers.schedules.set_schedule_enabled(engine(info), name, enabled)
        return Schedule.from_model(found)

    @mutation
    async def delete_schedules(self, info: Info, names: list[str]) -> int:
        """Delete the schedules of these names; returns how many were removed (a name no
        schedule has is not counted)."""
        ctx = engine(info)
        removed = 0
        for name in dict.fromkeys(names):
            with suppress(ScheduleNotFound):
                removed += await resolvers.schedules.delete_schedule(ctx, name)
        return removed

    @deprecated_mutation("Use `deleteSchedules`, which answers a count as every deleteX does.")
    async def delete_schedule(self, info: Info, name: str) -> bool:
        """Delete a schedule; true when done."""
        return await resolvers.schedules.delete_schedule(engine(info), name)


def _given(value: Any) -> Any:
    """An argument left out (UNSET) is KEEP for the rules: explicit null removes a limit."""
    return resolvers.queues.KEEP if value is strawberry.UNSET else value
