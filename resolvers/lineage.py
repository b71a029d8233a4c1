"""A task's place in a pipeline: the follow-up tasks its completion published (issue 16)."""

from __future__ import annotations

from resolvers.context import Context
from resolvers.models import Task


async def children(ctx: Context, task_id: str, follow_ups: list[str]) -> list[Task]:
    """The follow-ups of the task's completion that still exist, in publish order: read by the
    ids the completion recorded (``Task.follow_ups``; a point read each, no scan), at most
    max_page_size."""
    ids = follow_ups[: ctx.limits.max_page_size]
    if not ids:
        return []
    found = await ctx.store.get_tasks(ids)
    kids = [t for t in found.values() if t.parent_task_id == task_id]
    return sorted(kids, key=lambda t: t.seq)
