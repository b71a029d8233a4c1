"""Per-queue, per-minute counters: counted in memory, added to the store by a background duty.

Counting in memory keeps a write off every publish and claim; each node adds its own counts
(the store's add is additive), so totals are right across nodes. A crash loses at most one
flush interval of counts: statistics, never tasks.

Lifetime totals (Sidekiq's "processed" and "failed") are one more row per queue, at the minute
LIFETIME, added in the same add_stats call as the minutes (one transaction on SQLite). LIFETIME
lies past every timestamp a client may give (validation.END_OF_TIME), so no per-minute listing
returns it and no pruning of old minutes removes it: every store keeps it without a change.
"""

from __future__ import annotations

from resolvers.context import Context
from resolvers.models import STAT_FIELDS, StatsRow
from resolvers.stats_buffer import MINUTE, minute_of
from resolvers.validation import END_OF_TIME, queue_name, timestamp

LIFETIME = END_OF_TIME


def _per_queue(rows: list[StatsRow], minute: float) -> list[StatsRow]:
    """The rows summed per queue, at ``minute``."""
    sums: dict[str, StatsRow] = {}
    for row in rows:
        total = sums.setdefault(row.queue, StatsRow(row.queue, minute))
        for field in STAT_FIELDS:
            setattr(total, field, getattr(total, field) + getattr(row, field))
    return list(sums.values())


async def flush_stats(ctx: Context) -> int:
    """Add this node's counts to the store; on failure keep them for the next flush."""
    rows = ctx.stats.drain()
    if not rows:
        return 0
    try:
        await ctx.store.add_stats([*rows, *_per_queue(rows, LIFETIME)])
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


async def lifetime_totals(ctx: Context, *, queue: object = None) -> StatsRow:
    """Every count since totals were first kept in this store (a store made by an older
    version starts from zero at the upgrade), of one queue or all (then queue is ""), this
    node's unflushed counts included. Unlike the per-minute rows, never pruned."""
    name = queue_name(queue, ctx) if queue is not None else None
    rows = await ctx.store.list_stats(name, LIFETIME, LIFETIME + MINUTE)
    pending = [r for r in ctx.stats.snapshot() if name is None or r.queue == name]
    total = StatsRow(name or "", LIFETIME)
    for row in [*rows, *pending]:
        for field in STAT_FIELDS:
            setattr(total, field, getattr(total, field) + getattr(row, field))
    return total
