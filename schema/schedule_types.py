"""Schedule types: a recurring publish, built from a resolvers model by ``from_model``.

Times are unix seconds.
"""

from __future__ import annotations

import strawberry
from strawberry.scalars import JSON

from resolvers import models
from schema.declare import object_type
from schema.enums import Scope


@object_type
class Schedule:
    """A recurring publish: a cron expression in a time zone and the event to publish. Each
    tick is published once across all nodes; ticks missed while every node was down fire
    once."""

    name: str
    cron: str = strawberry.field(
        description="Five fields (minute hour day month weekday), or six with seconds."
    )
    timezone: str = strawberry.field(description="The IANA time zone the cron reads in.")
    publisher: str
    data: JSON
    scope: Scope = strawberry.field(description="As in publishTask.")
    singularly_enqueue: bool
    singularly_run: bool
    unique_key: str | None
    enabled: bool
    next_run_at: float | None = strawberry.field(
        description="The next tick to publish; null while disabled."
    )
    last_run_at: float | None = strawberry.field(description="The last tick published.")
    created_at: float

    @classmethod
    def from_model(cls, schedule: models.Schedule) -> Schedule:
        return cls(
            name=schedule.name,
            cron=schedule.cron,
            timezone=schedule.timezone,
            publisher=schedule.publisher,
            data=JSON(schedule.data),
            scope=Scope.of(schedule.scope),
            singularly_enqueue=schedule.singularly_enqueue,
            singularly_run=schedule.singularly_run,
            unique_key=schedule.unique_key,
            enabled=schedule.enabled,
            next_run_at=schedule.next_run_at,
            last_run_at=schedule.last_run_at,
            created_at=schedule.created_at,
        )
