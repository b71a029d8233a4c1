"""Per-minute statistics and the retention of finished tasks."""

from __future__ import annotations

import dataclasses

from resolvers.context import Context
from resolvers.leases import reap_expired_leases
from resolvers.retention import purge_finished
from resolvers.stats import flush_stats, prune_stats
from tests.api.client import Api, ApiError
from tests.conftest import FakeClock


async def activity(api: Api) -> str:
    await api.set_interests("q", "*")
    await api.configure_queue("q", leaseSeconds=10)
    worker = (await api.register_worker(["q"]))["workerId"]
    for n in range(4):
        await api.publish("pub", {"n": n})
    done = await api.claim(worker)
    failed = await api.claim(worker)
    expiring = await api.claim(worker)
    assert done and failed and expiring
    await api.complete(worker, done["taskId"])
    await api.fail(worker, failed["taskId"], reason="x")
    return str(worker)


def totals(rows: list[dict]) -> dict[str, int]:
    keys = ("published", "started", "completed", "failed", "retried", "leaseExpired")
    return {k: sum(r[k] for r in rows) for k in keys}


async def test_counts_per_queue_and_minute(api: Api, clock: FakeClock, engine: Context) -> None:
    await activity(api)
    clock.advance(10)
    await reap_expired_leases(engine)
    expected = {
        "published": 4,
        "started": 3,
        "completed": 1,
        "failed": 1,
        "retried": 0,
        "leaseExpired": 1,
    }
    # Counts not yet flushed are visible on the node that made them...
    assert totals(await api.stats(queue="q")) == expected
    # ...and the same once flushed to the store.
    await flush_stats(engine)
    rows = await api.stats(queue="q")
    assert totals(rows) == expected
    assert {r["queue"] for r in rows} == {"q"}
    assert all(r["minute"] % 60 == 0 for r in rows)
    assert await api.stats(queue="q", since=clock.now + 120) == []


async def test_flushes_from_many_nodes_add_up(api: Api, engine: Context) -> None:
    await activity(api)
    other = dataclasses.replace(engine, stats=type(engine.stats)())
    other.stats.record("q", "published", engine.clock(), 10)
    await flush_stats(engine)
    await flush_stats(other)
    assert totals(await api.stats())["published"] == 14


async def test_old_statistics_are_pruned(api: Api, clock: FakeClock, engine: Context) -> None:
    await activity(api)
    await flush_stats(engine)
    clock.advance(engine.policies.stats_window_seconds + 120)
    assert await prune_stats(engine) >= 1
    assert await api.stats(since=0.0) == []


async def test_completed_tasks_are_kept_for_the_retention_time(
    api: Api, clock: FakeClock, engine: Context
) -> None:
    await activity(api)
    assert (await api.summary())["tasks"]["completed"] == 1
    clock.advance(engine.policies.completed_retention_seconds - 1)
    assert await purge_finished(engine) == 0
    clock.advance(2)
    assert await purge_finished(engine) == 1
    summary = await api.summary()
    assert (summary["tasks"]["completed"], summary["tasks"]["failed"]) == (0, 1)
    clock.advance(engine.policies.failed_retention_seconds)
    assert await purge_finished(engine) == 1
    assert (await api.summary())["tasks"]["failed"] == 0


async def test_zero_retention_deletes_a_completed_task_at_once(api: Api, engine: Context) -> None:
    engine.policies = dataclasses.replace(engine.policies, completed_retention_seconds=0)
    await api.set_interests("q", "*")
    worker = (await api.register_worker(["q"]))["workerId"]
    await api.publish("pub", {"n": 1})
    task = await api.claim(worker)
    assert task is not None
    assert (await api.complete(worker, task["taskId"]))["state"] == "completed"
    try:
        await api.task(task["taskId"])
    except ApiError as gone:
        assert gone.code == "TASK_NOT_FOUND"
    else:
        raise AssertionError("a completed task outlived a zero retention")
