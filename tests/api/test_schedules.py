"""Recurring schedules: cron in a time zone, once per tick across nodes, missed ticks once."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from resolvers.context import Context
from resolvers.schedules import fire_due_schedules
from tests.api.client import Api, ApiError
from tests.conftest import FakeClock

EVERY_5_MINUTES = "*/5 * * * *"


def template(**changes: Any) -> dict[str, Any]:
    return {
        "name": "digest",
        "cron": EVERY_5_MINUTES,
        "publisher": "cron",
        "data": {"job": "digest"},
        **changes,
    }


async def tasks_of(api: Api, queue: str = "jobs") -> list[dict[str, Any]]:
    q = "query($q: String) { tasks(queue: $q) { tasks { taskId runAt data state } } }"
    return (await api.graphql(q, q=queue))["tasks"]["tasks"]  # type: ignore[no-any-return]


async def test_create_lists_the_next_run(api: Api, clock: FakeClock) -> None:
    created = await api.create_schedule(**template())
    assert created["nextRunAt"] > clock.now and created["nextRunAt"] % 300 == 0
    assert created["nextRunAt"] - clock.now <= 300
    assert (created["enabled"], created["timezone"], created["lastRunAt"]) == (True, "UTC", None)
    assert [s["name"] for s in await api.schedules()] == ["digest"]


async def test_cron_is_read_in_the_schedules_time_zone(api: Api, clock: FakeClock) -> None:
    created = await api.create_schedule(**template(cron="0 9 * * *", timezone="Europe/Paris"))
    local = datetime.fromtimestamp(created["nextRunAt"], ZoneInfo("Europe/Paris"))
    assert (local.hour, local.minute) == (9, 0)


async def test_a_due_tick_publishes_once(api: Api, clock: FakeClock, engine: Context) -> None:
    await api.set_interests("jobs", "*")
    created = await api.create_schedule(**template())
    tick = created["nextRunAt"]
    assert await fire_due_schedules(engine) == 0
    clock.now = tick
    assert await fire_due_schedules(engine) == 1
    assert await fire_due_schedules(engine) == 0
    [task] = await tasks_of(api)
    assert (task["runAt"], task["data"]) == (tick, {"job": "digest"})
    [listed] = await api.schedules()
    assert (listed["lastRunAt"], listed["nextRunAt"]) == (tick, tick + 300)


async def test_missed_ticks_fire_once(api: Api, clock: FakeClock, engine: Context) -> None:
    await api.set_interests("jobs", "*")
    created = await api.create_schedule(**template())
    clock.now = created["nextRunAt"] + 3 * 300 + 10
    assert await fire_due_schedules(engine) == 1
    assert await fire_due_schedules(engine) == 0
    assert len(await tasks_of(api)) == 1
    [listed] = await api.schedules()
    assert listed["nextRunAt"] == created["nextRunAt"] + 4 * 300


async def test_many_nodes_firing_together_publish_each_tick_once(
    api: Api, clock: FakeClock, engine: Context
) -> None:
    await api.set_interests("jobs", "*")
    created = await api.create_schedule(**template())
    nodes = [dataclasses.replace(engine, stats=type(engine.stats)()) for _ in range(4)]
    for n in range(3):
        clock.now = created["nextRunAt"] + n * 300
        fired = await asyncio.gather(*(fire_due_schedules(node) for node in nodes))
        assert sum(fired) == 1
    runs = sorted(t["runAt"] for t in await tasks_of(api))
    assert runs == [created["nextRunAt"] + n * 300 for n in range(3)]


async def test_disable_enable_and_delete(api: Api, clock: FakeClock, engine: Context) -> None:
    await api.set_interests("jobs", "*")
    created = await api.create_schedule(**template())
    disabled = await api.set_schedule_enabled("digest", False)
    assert (disabled["enabled"], disabled["nextRunAt"]) == (False, None)
    clock.now = created["nextRunAt"] + 600
    assert await fire_due_schedules(engine) == 0
    enabled = await api.set_schedule_enabled("digest", True)
    assert enabled["nextRunAt"] > clock.now
    assert await api.delete_schedule("digest") is True
    assert await api.schedules() == []
    with pytest.raises(ApiError) as gone:
        await api.delete_schedule("digest")
    assert (gone.value.code, gone.value.param) == ("SCHEDULE_NOT_FOUND", "name")


async def test_creating_again_replaces_the_definition(api: Api) -> None:
    await api.create_schedule(**template())
    replaced = await api.create_schedule(**template(cron="0 * * * *", data={"job": "hourly"}))
    [listed] = await api.schedules()
    assert listed == replaced and listed["data"] == {"job": "hourly"}


@pytest.mark.parametrize(
    ("changes", "param"),
    [
        ({"cron": "not a cron"}, "cron"),
        ({"cron": "61 * * * *"}, "cron"),
        ({"cron": "* * *"}, "cron"),
        ({"timezone": "Mars/Olympus_Mons"}, "timezone"),
        ({"data": [1, 2]}, "data"),
        ({"scope": "some"}, "scope"),
        ({"name": "a@b"}, "name"),
    ],
)
async def test_bad_schedules_are_refused_and_nothing_is_created(
    api: Api, changes: dict[str, Any], param: str
) -> None:
    with pytest.raises(ApiError) as refused:
        await api.create_schedule(**template(**changes))
    assert (refused.value.code, refused.value.param) == ("INVALID_PARAMETER", param)
    assert await api.schedules() == []


class StaleSchedules:
    """A store whose first list_schedules answers what an earlier read saw: a node that read
    the schedule just before another node fired it."""

    def __init__(self, store: Any, stale: list[Any]) -> None:
        self._store, self._stale = store, stale

    async def list_schedules(self) -> list[Any]:
        stale, self._stale = self._stale, None
        return stale if stale is not None else await self._store.list_schedules()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)


async def test_a_node_with_a_stale_read_does_not_fire_the_tick_again(
    api: Api, clock: FakeClock, engine: Context
) -> None:
    await api.set_interests("jobs", "*")
    engine.policies = dataclasses.replace(engine.policies, completed_retention_seconds=0)
    worker = (await api.register_worker(["jobs"]))["workerId"]
    created = await api.create_schedule(**template())
    clock.now = created["nextRunAt"]
    stale = await engine.store.list_schedules()
    assert await fire_due_schedules(engine) == 1
    task = await api.claim(worker)
    assert task is not None
    await api.complete(worker, task["taskId"])  # and, with no retention, it is gone
    late = dataclasses.replace(engine, store=StaleSchedules(engine.store, stale))  # type: ignore[arg-type]
    assert await fire_due_schedules(late) == 0
    assert await tasks_of(api) == []


async def test_a_tick_taken_by_a_node_that_died_is_finished_by_another(
    api: Api, clock: FakeClock, engine: Context
) -> None:
    await api.set_interests("jobs", "*")
    created = await api.create_schedule(**template())
    tick = created["nextRunAt"]
    clock.now = tick
    [schedule] = await engine.store.list_schedules()
    taken = dataclasses.replace(
        schedule, firing=tick, firing_since=clock.now, next_run_at=tick + 300, last_run_at=tick
    )
    assert await engine.store.replace_schedule(taken, schedule.version)
    clock.advance(10)
    assert await fire_due_schedules(engine) == 0
    assert await tasks_of(api) == []
    clock.advance(25)
    await fire_due_schedules(engine)
    [task] = await tasks_of(api)
    assert task["runAt"] == tick
    [after] = await engine.store.list_schedules()
    assert (after.firing, after.next_run_at) == (None, tick + 300)
    await fire_due_schedules(engine)
    assert len(await tasks_of(api)) == 1
