"""Recurring schedules (resque-scheduler): a cron expression in a time zone publishes an event.

Every node runs fire_due_schedules; each tick is published once across all of them. A node
takes a tick by moving the schedule to its next tick with a compare-and-set that also marks the
tick as firing; only the winner publishes, then clears the mark. If it dies in between, another
node finishes the tick once the mark is stale; the tick's event and task ids are derived from
(schedule, tick), so publishing it again writes nothing new while its tasks exist. Ticks missed
while every node was down fire once, not once per missed tick.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import croniter

from resolvers.context import Context
from resolvers.errors import InvalidInput, ScheduleNotFound
from resolvers.models import PublishInput, Schedule
from resolvers.publish import publish_event, validate_event
from resolvers.validation import flag, queue_name, text


def _zone(value: Any) -> ZoneInfo:
    name = text(value, "timezone", 100, optional=True) or "UTC"
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidInput(f"unknown time zone {name!r}", param="timezone") from None


def _cron(value: Any) -> str:
    expression = text(value, "cron", 200)
    assert expression is not None
    fields = expression.split()
    if len(fields) not in (5, 6) or not croniter.is_valid(expression):
        raise InvalidInput(
            f"cron {expression!r} is not a cron expression: five fields (minute hour day "
            "month weekday), and an optional sixth for seconds",
            param="cron",
        )
    return " ".join(fields)


# A cron with no tick this many years ahead never fires ("0 0 30 2 *"). The rarest real ones
# fire every 28 years or so ("* * * 2 1#5": a fifth Monday in February).
MAX_YEARS_BETWEEN_TICKS = 50


def _follows_the_clock(cron: str) -> bool:
    """Whether the minute or the hour field is a wildcard ("*/5 * * * *", "0 * * * *"): such a
    schedule runs by the clock through a fall-back hour, as Vixie cron runs it."""
    minute, hour = cron.split()[:2]
    return minute.startswith("*") or hour.startswith("*")


def _repeated(moment: datetime) -> bool:
    """Whether this local time is the second occurrence of a wall-clock time (fall-back)."""
    return moment.fold == 1 and moment.replace(fold=0).utcoffset() != moment.utcoffset()


def _end_of_repeat(moment: datetime) -> float:
    """The first instant after the repeated stretch of wall-clock time ``moment`` is in."""
    first = moment.replace(fold=0).timestamp()
    low, high = moment.timestamp(), 2 * moment.timestamp() - first
    zone = moment.tzinfo
    while high - low > 1:
        middle = (low + high) // 2
        if _repeated(datetime.fromtimestamp(middle, zone)):
            low = middle
        else:
            high = middle
    return high


def next_tick(cron: str, timezone: str, after: float) -> float | None:
    """The first tick of the schedule strictly after ``after`` (unix seconds); None if it has
    none within MAX_YEARS_BETWEEN_TICKS.

    Around a daylight-saving change the cron reads wall-clock time, as Vixie cron does: a time
    that does not occur (spring-forward) fires once, right after the gap; a time that occurs
    twice (fall-back) fires once, at its first occurrence, unless the schedule follows the
    clock (see _follows_the_clock), which then fires at both.
    """
    zone = ZoneInfo(timezone)
    clock_time = _follows_the_clock(cron)
    start = after
    # Each round skips one repeated stretch; a second stretch is a year away.
    for _ in range(3):
        try:
            times = croniter(
                cron,
                datetime.fromtimestamp(start, zone),
                max_years_between_matches=MAX_YEARS_BETWEEN_TICKS,
            )
            tick = float(times.get_next(float))
        except (OverflowError, ValueError):  # croniter's own errors are ValueErrors
            return None
        moment = datetime.fromtimestamp(tick, zone)
        if clock_time or not _repeated(moment):
            return tick
        # Ticks are whole seconds: the next one strictly after this is past the stretch.
        start = _end_of_repeat(moment) - 1
    return None


async def create_schedule(
    ctx: Context,
    *,
    name: Any,
    cron: Any,
    timezone: Any = None,
    enabled: Any = None,
    **event: Any,
) -> Schedule:
    """Create a schedule, or replace the one of that name (so a deploy can declare its
    schedules every time it starts). The event is checked now, as a publish would be."""
    label = queue_name(name, ctx, "name")
    expression = _cron(cron)
    zone = _zone(timezone)
    now = ctx.clock()
    upcoming = next_tick(expression, zone.key, now)
    if upcoming is None:
        raise InvalidInput(
            f"cron {expression!r} never fires: it has no tick in the next "
            f"{MAX_YEARS_BETWEEN_TICKS} years",
            param="cron",
        )
    template = validate_event(ctx, **event)
    on = True if enabled is None else flag(enabled, "enabled")
    schedule = Schedule(
        name=label,
        cron=expression,
        timezone=zone.key,
        publisher=template.publisher,
        data=template.data,
        scope=template.scope,
        singularly_enqueue=template.singularly_enqueue,
        singularly_run=template.singularly_run,
        unique_key=template.unique_key,
        enabled=on,
        next_run_at=upcoming if on else None,
        created_at=now,
    )
    return await ctx.store.put_schedule(schedule)


async def list_schedules(ctx: Context) -> list[Schedule]:
    return await ctx.store.list_schedules()


async def _get(ctx: Context, name: Any) -> Schedule:
    label = queue_name(name, ctx, "name")
    for schedule in await ctx.store.list_schedules():
        if schedule.name == label:
            return schedule
    raise ScheduleNotFound(f"no schedule {label!r}", param="name")


async def set_schedule_enabled(ctx: Context, name: Any, enabled: Any) -> Schedule:
    """Enable (from the next tick after now) or disable a schedule."""
    on = flag(enabled, "enabled")
    for _ in range(5):
        current = await _get(ctx, name)
        nxt = next_tick(current.cron, current.timezone, ctx.clock()) if on else None
        changed = dataclasses.replace(current, enabled=on, next_run_at=nxt)
        if await ctx.store.replace_schedule(changed, current.version):
            return changed
    raise InvalidInput(f"schedule {current.name!r} kept changing; try again", param="name")


async def delete_schedule(ctx: Context, name: Any) -> bool:
    label = queue_name(name, ctx, "name")
    if not await ctx.store.delete_schedule(label):
        raise ScheduleNotFound(f"no schedule {label!r}", param="name")
    return True


# A firing mark this old belongs to a node that died while publishing the tick.
STALE_FIRING_SECONDS = 30.0


def _tick_id(schedule: Schedule, tick: float, lane: str = "") -> str:
    return hashlib.sha256(f"{schedule.name}\x00{tick!r}\x00{lane}".encode()).hexdigest()[:32]


async def fire_due_schedules(ctx: Context) -> int:
    """Publish every due tick of every enabled schedule; returns how many ticks this node
    fired. Safe on any number of nodes at once."""
    fired = 0
    for schedule in await ctx.store.list_schedules():
        now = ctx.clock()
        if schedule.firing is not None:
            if now - (schedule.firing_since or now) >= STALE_FIRING_SECONDS:
                # The node that took this tick died before it was done: finish its work.
                await _publish_tick(ctx, schedule, schedule.firing)
                await _done_firing(ctx, schedule, schedule.firing)
            continue
        tick = schedule.next_run_at
        if not schedule.enabled or tick is None or tick > now:
            continue
        taken = dataclasses.replace(
            schedule,
            firing=tick,
            firing_since=now,
            last_run_at=tick,
            next_run_at=next_tick(schedule.cron, schedule.timezone, max(now, tick)),
        )
        if not await ctx.store.replace_schedule(taken, schedule.version):
            continue
        await _publish_tick(ctx, schedule, tick)
        await _done_firing(ctx, taken, tick)
        fired += 1
    return fired


async def _publish_tick(ctx: Context, schedule: Schedule, tick: float) -> None:
    event = PublishInput(
        publisher=schedule.publisher,
        data=schedule.data,
        run_at=tick,
        scope=schedule.scope,
        singularly_enqueue=schedule.singularly_enqueue,
        singularly_run=schedule.singularly_run,
        unique_key=schedule.unique_key,
    )
    await publish_event(
        ctx,
        event,
        event_id=_tick_id(schedule, tick),
        task_id_for=functools.partial(_tick_id, schedule, tick),
    )


async def _done_firing(ctx: Context, schedule: Schedule, tick: float) -> None:
    """Clear the firing mark, unless the schedule was replaced or deleted meanwhile."""
    current: Schedule | None = schedule
    for _ in range(5):
        if current is None or current.firing != tick:
            return
        done = dataclasses.replace(current, firing=None, firing_since=None)
        if await ctx.store.replace_schedule(done, current.version):
            return
        current = next(
            (s for s in await ctx.store.list_schedules() if s.name == schedule.name), None
        )
