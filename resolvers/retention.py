"""Retention: finished tasks are kept for a while for inspection, then purged."""

from __future__ import annotations

from resolvers.context import Context
from resolvers.models import TaskFilter, TaskState

# A turn lasts this share of the interval, so the next interval's first caller gets the next.
TURN_SHARE = 0.9


async def purge_finished(ctx: Context, interval: float | None = None) -> int:
    """Delete completed tasks older than completedRetentionSeconds and failed tasks older than
    failedRetentionSeconds (by when they finished); how many. Given the duty's ``interval``,
    only the node whose turn it is purges (one pass for the cluster per interval, which
    deletes everything past retention whoever's turn it was before)."""
    if interval is not None and not await ctx.store.take_turn("purge", interval * TURN_SHARE):
        return 0
    now = ctx.clock()
    policies = ctx.policies
    completed = TaskFilter(
        states=(TaskState.COMPLETED,),
        finished_before=now - max(policies.completed_retention_seconds, 0.0),
    )
    failed = TaskFilter(
        states=(TaskState.FAILED,), finished_before=now - policies.failed_retention_seconds
    )
    return await ctx.store.delete_tasks(completed) + await ctx.store.delete_tasks(failed)
