"""Input types. Values pass through unchanged: the resolvers check them."""

from __future__ import annotations

from typing import Any

import strawberry
from strawberry.scalars import JSON

from schema.declare import scalar_input_type


@scalar_input_type
class PublishTaskInput:
    """An event to publish to every interested queue."""

    publisher: str = strawberry.field(
        description="Who publishes, e.g. hostname+pid of the publishing application."
    )
    data: JSON = strawberry.field(
        description="A JSON object; queues' interests are matched against it."
    )
    run_at: float | None = strawberry.field(
        default=None, description="Unix seconds before which the task is not run; null: now."
    )
    scope: str | None = strawberry.field(
        default=None,
        description="'any' (default): one copy per interested queue. 'all': one copy per "
        "worker registered on each interested queue.",
    )
    singularly_enqueue: bool | None = strawberry.field(
        default=None,
        description="Skip a queue that already holds a waiting copy with the same identity.",
    )
    singularly_run: bool | None = strawberry.field(
        default=None,
        description="Run at most one copy with the same identity per queue at a time.",
    )
    unique_key: str | None = strawberry.field(
        default=None,
        description="The identity for singularlyEnqueue/singularlyRun; default: the data's "
        "canonical JSON.",
    )


@scalar_input_type
class ScheduleInput:
    """A recurring publish. Creating a schedule whose name exists replaces it, so a deploy can
    declare its schedules every time it starts."""

    name: str
    cron: str = strawberry.field(
        description="Five fields (minute hour day month weekday), and an optional sixth for "
        "seconds, read in the time zone's wall-clock time. On a daylight-saving change, a time "
        "that does not occur fires once, right after the gap; a time that occurs twice fires "
        "once, unless the minute or hour is a wildcard ('*/5', '*'): then it follows the clock "
        "(as Vixie cron does). A cron with no tick in the next 50 years is refused."
    )
    timezone: str | None = strawberry.field(
        default=None, description="An IANA time zone, e.g. 'Europe/Paris'; null: UTC."
    )
    enabled: bool | None = strawberry.field(default=None, description="Null: true.")
    publisher: str = strawberry.field(description="The publisher of each published event.")
    data: JSON = strawberry.field(description="The JSON object each tick publishes.")
    scope: str | None = strawberry.field(
        default=None, description="'any' (default) or 'all', as in publishTask."
    )
    singularly_enqueue: bool | None = strawberry.field(
        default=None, description="As in publishTask: skip a tick whose copy still waits."
    )
    singularly_run: bool | None = strawberry.field(default=None, description="As in publishTask.")
    unique_key: str | None = strawberry.field(default=None, description="As in publishTask.")


def event_fields(item: PublishTaskInput) -> dict[str, Any]:
    """The event as an object of publish's parameters (a batch item, a follow-up)."""
    return {
        "publisher": item.publisher,
        "data": item.data,
        "runAt": item.run_at,
        "scope": item.scope,
        "singularlyEnqueue": item.singularly_enqueue,
        "singularlyRun": item.singularly_run,
        "uniqueKey": item.unique_key,
    }
