"""Store contract, continued: leases, finished-task filters, schedules and statistics."""

from __future__ import annotations

import asyncio
import dataclasses

from resolvers.models import (
    Failure,
    Schedule,
    StatsRow,
    TaskFilter,
    TaskState,
    Worker,
)
from resolvers.store import Store
from tests.store.factories import NOW, claim_request, task


async def test_touch_worker_marks_it_seen_and_extends_its_leases(store: Store) -> None:
    await store.add_worker(Worker("w1", ["q", "slow"], registered_at=NOW, last_seen=NOW))
    mine, slow, theirs = task("q"), task("slow"), task("q")
    await store.insert_tasks([mine, slow, theirs])
    await store.claim_task(claim_request("q", "slow", worker="w1"))
    await store.claim_task(claim_request("slow", worker="w1"))
    await store.claim_task(claim_request("q", worker="w2"))
    assert await store.touch_worker("w1", NOW + 100, {"slow": 900.0}, 300.0)
    worker = await store.get_worker("w1")
    assert worker is not None and worker.last_seen == NOW + 100
    got = {t: await store.get_task(t) for t in (mine.task_id, slow.task_id, theirs.task_id)}
    assert got[mine.task_id].lease_until == NOW + 400  # type: ignore[union-attr]
    assert got[slow.task_id].lease_until == NOW + 1000  # type: ignore[union-attr]
    assert got[theirs.task_id].lease_until == NOW + 300  # type: ignore[union-attr]
    assert not await store.touch_worker("nobody", NOW, {}, 300.0)


async def test_expired_tasks_lists_started_tasks_past_their_lease(store: Store) -> None:
    a, b, c = task(), task(), task()
    await store.insert_tasks([a, b, c])
    await store.claim_task(claim_request("q", lease_seconds={"q": 10.0}))
    await store.claim_task(claim_request("q", lease_seconds={"q": 5.0}))
    assert await store.expired_tasks(NOW + 4, 10) == []
    [first] = await store.expired_tasks(NOW + 5, 10)
    assert first.task_id == b.task_id
    both = await store.expired_tasks(NOW + 100, 10)
    assert [t.task_id for t in both] == [b.task_id, a.task_id]
    assert len(await store.expired_tasks(NOW + 100, 1)) == 1


async def test_failures_round_trip(store: Store) -> None:
    t = task()
    await store.insert_tasks([t])
    claimed = await store.claim_task(claim_request("q"))
    assert claimed is not None
    history = [Failure("boom", NOW), Failure(None, NOW + 1)]
    failed = dataclasses.replace(claimed, state=TaskState.FAILED, failures=history)
    assert await store.replace_task(failed, claimed.version)
    stored = await store.get_task(t.task_id)
    assert stored is not None and stored.failures == history


async def test_filters_on_finish_time_and_ids(store: Store) -> None:
    tasks = [task() for _ in range(3)]
    await store.insert_tasks(tasks)
    for n, _ in enumerate(tasks):
        claimed = await store.claim_task(claim_request("q"))
        assert claimed is not None
        done = dataclasses.replace(claimed, state=TaskState.COMPLETED, finished_at=NOW + n)
        assert await store.replace_task(done, claimed.version)
    old = TaskFilter(states=(TaskState.COMPLETED,), finished_before=NOW + 2)
    assert [t.task_id for t in (await store.list_tasks(old, 10, None)).tasks] == [
        tasks[0].task_id,
        tasks[1].task_id,
    ]
    recent = TaskFilter(finished_after=NOW + 1)
    assert len((await store.list_tasks(recent, 10, None)).tasks) == 2
    one = TaskFilter(task_ids=(tasks[2].task_id,), states=(TaskState.COMPLETED,))
    assert await store.delete_tasks(one) == 1
    assert await store.get_task(tasks[2].task_id) is None
    assert await store.delete_tasks(TaskFilter(task_ids=(), states=(TaskState.COMPLETED,))) == 0


def schedule(name: str = "nightly", **changes: object) -> Schedule:
    base = Schedule(
        name=name,
        cron="0 3 * * *",
        timezone="UTC",
        publisher="cron",
        data={"job": name},
        next_run_at=NOW + 60,
        created_at=NOW,
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


async def test_schedules_are_created_replaced_and_deleted(store: Store) -> None:
    created = await store.put_schedule(schedule())
    await store.put_schedule(schedule("a-first"))
    assert [s.name for s in await store.list_schedules()] == ["a-first", "nightly"]
    replaced = await store.put_schedule(schedule(cron="0 4 * * *"))
    assert replaced.version != created.version
    stored = next(s for s in await store.list_schedules() if s.name == "nightly")
    assert stored == replaced
    assert await store.delete_schedule("nightly")
    assert not await store.delete_schedule("nightly")


async def test_replace_schedule_is_compare_and_set(store: Store) -> None:
    stored = await store.put_schedule(schedule())
    advanced = dataclasses.replace(stored, next_run_at=NOW + 120, last_run_at=NOW + 60)
    racing = dataclasses.replace(stored, next_run_at=NOW + 120, last_run_at=NOW + 60)
    results = await asyncio.gather(
        store.replace_schedule(advanced, stored.version),
        store.replace_schedule(racing, stored.version),
    )
    assert sorted(results) == [False, True]
    [now_stored] = await store.list_schedules()
    assert (now_stored.next_run_at, now_stored.last_run_at) == (NOW + 120, NOW + 60)


async def test_stats_add_up_per_queue_and_minute(store: Store) -> None:
    await store.add_stats([StatsRow("q", NOW, published=2), StatsRow("r", NOW, failed=1)])
    await store.add_stats(
        [StatsRow("q", NOW, published=3, started=1), StatsRow("q", NOW + 60, retried=4)]
    )
    rows = await store.list_stats(None, NOW, NOW + 120)
    assert rows == [
        StatsRow("q", NOW, published=5, started=1),
        StatsRow("r", NOW, failed=1),
        StatsRow("q", NOW + 60, retried=4),
    ]
    assert await store.list_stats("r", NOW, NOW + 120) == [StatsRow("r", NOW, failed=1)]
    assert await store.list_stats(None, NOW + 60, NOW + 61) == [StatsRow("q", NOW + 60, retried=4)]
    assert await store.delete_stats_before(NOW + 60) == 2
    assert len(await store.list_stats(None, 0, NOW + 120)) == 1


async def test_touch_worker_extends_only_the_named_leases(store: Store) -> None:
    await store.add_worker(Worker("w1", ["q"], registered_at=NOW, last_seen=NOW))
    named, other = task("q"), task("q")
    await store.insert_tasks([named, other])
    await store.claim_task(claim_request("q", worker="w1"))
    await store.claim_task(claim_request("q", worker="w1"))
    assert await store.touch_worker("w1", NOW + 50, {}, 300.0, [named.task_id])
    got_named, got_other = await store.get_task(named.task_id), await store.get_task(other.task_id)
    assert got_named is not None and got_named.lease_until == NOW + 350
    assert got_other is not None and got_other.lease_until == NOW + 300
    assert await store.touch_worker("w1", NOW + 60, {}, 300.0, [])
    worker = await store.get_worker("w1")
    assert worker is not None and worker.last_seen == NOW + 60
    unchanged = await store.get_task(other.task_id)
    assert unchanged is not None and unchanged.lease_until == NOW + 300
