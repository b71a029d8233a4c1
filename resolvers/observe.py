"""One place where the engine says what happened: per-minute statistics and the live feed."""

from __future__ import annotations

from resolvers.context import Context
from resolvers.models import STAT_FIELDS, Event, Task


def observe(
    ctx: Context,
    kind: str,
    queue: str | None,
    now: float,
    *,
    task: Task | None = None,
    worker_id: str | None = None,
) -> None:
    if queue is not None and kind in STAT_FIELDS:
        ctx.stats.record(queue, kind, now)
    if task is not None:
        ctx.task_watches.changed(task.task_id)
    ctx.events.emit(
        Event(
            kind=kind,
            queue=queue,
            at=now,
            task_id=None if task is None else task.task_id,
            worker_id=worker_id if worker_id is not None or task is None else task.worker_id,
        )
    )
