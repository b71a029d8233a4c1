"""Per-queue, per-minute counters: counted in memory, added to the store by a background duty.

Counting in memory keeps a write off every publish and claim; each node adds its own counts
(the store's add is additive), so totals are right across nodes. A crash loses at most one
flush interval of counts: statistics, never tasks.
"""

from __future__ import annotations

from resolvers.context import Context
from resolvers.models import STAT_FIELDS, StatsRow
from resolvers.stats_buffer import MINUTE, minute_of
from resolvers.validation import queue_name, timestamp


async def flush_stats(ctx: Context) -> int:
    """Add this node's counts to the store; on failure keep them for the next flush."""
    rows = ctx.stats.drain()
    if not rows:
        return 0
    try:
        await ctx.store.add_stats(rows)
    except BaseException:
        ctx.stats.restore(rows)
        raise
    return len(rows)


async def prune_stats(ctx: Context) -> int:
    """Forget minutes older than the statistics window."""
    return await ctx.store.delete_stats_before(
        minute_of(ctx.clock() - ctx.policies.stats_window_seconds)
    )


async def query_stats(
    ctx: Context, *, queue: object = None, since: object = None, until: object = None
) -> list[StatsRow]:
    """Counts per minute in [since, until) (default: the last hour), of one queue or all.
    Counts not yet flushed by this node are included, so a reader sees its own node at once."""
    now = ctx.clock()
    name = queue_name(queue, ctx) if queue is not None else None
    start = timestamp(since, "since")
    end = timestamp(until, "until")
    start = minute_of(now - 3600 + MINUTE) if start is None else start
    end = now + MINUTE if end is None else end
    rows = await ctx.store.list_stats(name, start, end)
    merged = {(r.queue, r.minute): r for r in rows}
    for pending in ctx.stats.snapshot():
        if (name is None or pending.queue == name) and start <= pending.minute < end:
            row = merged.setdefault(
                (pending.queue, pending.minute), StatsRow(pending.queue, pending.minute)
            )
            for field in STAT_FIELDS:
                setattr(row, field, getattr(row, field) + getattr(pending, field))
    return sorted(merged.values(), key=lambda r: (r.minute, r.queue))
