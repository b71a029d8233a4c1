"""Retention: finished tasks are kept for a while for inspection, then purged."""

from __future__ import annotations

from resolvers.context import Context
from resolvers.models import TaskFilter, TaskState


async def purge_finished(ctx: Context) -> int:
    """Delete completed tasks older than completedRetentionSeconds and failed tasks older than
    failedRetentionSeconds (by when they finished); how many."""
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
