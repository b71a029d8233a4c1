"""Schedules across daylight-saving changes, on the fake clock: a wall-clock time that occurs
twice fires once, one that does not occur fires once right after the gap (Vixie cron's rule),
and a schedule with a wildcard minute or hour keeps following the clock."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from resolvers.context import Context
from resolvers.schedules import fire_due_schedules
from tests.api.client import GraphQLApi
from tests.conftest import FakeClock

NEW_YORK = "America/New_York"


def at(zone: str, *when: int) -> float:
    return datetime(*when, tzinfo=ZoneInfo(zone)).timestamp()  # type: ignore[misc]


async def fired(
    http: httpx.AsyncClient, engine: Context, clock: FakeClock, cron: str, zone: str,
    start: float, end: float,
) -> list[str]:  # fmt: skip
    """Create the schedule at ``start``, move the clock from tick to tick until ``end``, and
    answer the local times of the tasks published."""
    api = GraphQLApi(http)
    await api.set_interests("jobs", "*")
    clock.now = start
    schedule: dict[str, Any] = {"name": "s", "cron": cron, "timezone": zone}
    created = await api.create_schedule(**schedule, publisher="cron", data={})
    tick = created["nextRunAt"]
    while tick is not None and tick <= end:
        clock.now = tick
        assert await fire_due_schedules(engine) == 1
        [listed] = await api.schedules()
        tick = listed["nextRunAt"]
    query = '{ tasks(queue: "jobs") { tasks { runAt } } }'
    runs = sorted(t["runAt"] for t in (await api.graphql(query))["tasks"]["tasks"])
    return [datetime.fromtimestamp(r, ZoneInfo(zone)).strftime("%d %H:%M %Z") for r in runs]


FALL_BACK = (at(NEW_YORK, 2025, 11, 1, 12), at(NEW_YORK, 2025, 11, 3, 12))  # 2 Nov, 2:00 EDT
SPRING_FORWARD = (at(NEW_YORK, 2025, 3, 8, 12), at(NEW_YORK, 2025, 3, 10, 12))  # 9 Mar, 2:00 EST

CASES = [
    pytest.param("30 1 * * *", FALL_BACK, ["02 01:30 EDT", "03 01:30 EST"],
                 id="repeated-time-fires-once"),
    pytest.param("0-59/20 1 * * *", FALL_BACK,
                 ["02 01:00 EDT", "02 01:20 EDT", "02 01:40 EDT",
                  "03 01:00 EST", "03 01:20 EST", "03 01:40 EST"],
                 id="repeated-hour-fires-once"),
    pytest.param("30 2 * * *", SPRING_FORWARD, ["09 03:00 EDT", "10 02:30 EDT"],
                 id="missing-time-fires-after-the-gap"),
    pytest.param("0,30 2 * * *", SPRING_FORWARD,
                 ["09 03:00 EDT", "10 02:00 EDT", "10 02:30 EDT"],
                 id="missing-times-fire-once-after-the-gap"),
    pytest.param("0 2,3 * * *", SPRING_FORWARD,
                 ["09 03:00 EDT", "10 02:00 EDT", "10 03:00 EDT"],
                 id="missing-time-and-the-time-after-the-gap-fire-once"),
    pytest.param("30 * * * *", (FALL_BACK[0] + 12 * 3600, FALL_BACK[0] + 16 * 3600),
                 ["02 00:30 EDT", "02 01:30 EDT", "02 01:30 EST", "02 02:30 EST"],
                 id="hourly-follows-the-clock"),
    pytest.param("*/30 * * * *", (SPRING_FORWARD[0] + 13 * 3600, SPRING_FORWARD[0] + 14.5 * 3600),
                 ["09 01:30 EST", "09 03:00 EDT", "09 03:30 EDT"],
                 id="every-30-minutes-across-the-gap"),
]  # fmt: skip


@pytest.mark.parametrize(("cron", "window", "want"), CASES)
async def test_daylight_saving_changes(
    http: httpx.AsyncClient, engine: Context, clock: FakeClock, cron: str,
    window: tuple[float, float], want: list[str],
) -> None:  # fmt: skip
    assert await fired(http, engine, clock, cron, NEW_YORK, *window) == want


async def test_a_repeated_time_fires_once_in_another_zone(
    http: httpx.AsyncClient, engine: Context, clock: FakeClock
) -> None:
    paris = "Europe/Paris"  # 26 Oct 2025, 3:00 CEST -> 2:00 CET
    window = (at(paris, 2025, 10, 25, 12), at(paris, 2025, 10, 27, 12))
    got = await fired(http, engine, clock, "30 2 * * *", paris, *window)
    assert got == ["26 02:30 CEST", "27 02:30 CET"]
