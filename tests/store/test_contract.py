"""The Store contract: every backend in STORE_BACKENDS must pass every test here."""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path

from resolvers.models import (
    QueueSettings,
    Replaced,
    TaskFilter,
    TaskState,
    Worker,
    worker_lane,
)
from resolvers.store import Store
from tests.conftest import open_backend
from tests.store.factories import NOW, claim_request, task


async def test_queues_version_changes_with_every_queue_change(store: Store) -> None:
    v0 = await store.queues_version()
    await store.put_interests("q", {"a": "x"}, NOW, QueueSettings())
    v1 = await store.queues_version()
    await store.insert_tasks([task("q")])
    assert await store.queues_version() == v1
    await store.update_queue("q", paused=True)
    v2 = await store.queues_version()
    assert await store.clear_interests("q")
    v3 = await store.queues_version()
    assert await store.delete_queue("q") == 1
    v4 = await store.queues_version()
    assert len({v0, v1, v2, v3, v4}) == 5


async def test_put_interests_creates_then_replaces(store: Store) -> None:
    defaults = QueueSettings(lease_seconds=2, max_deliveries=3)
    created = await store.put_interests("b", "*", NOW, defaults)
    assert (created.name, created.interests, created.paused, created.created_at) == (
        "b",
        "*",
        False,
        NOW,
    )
    assert created.settings == defaults
    await store.put_interests("a", {"email": "^x"}, NOW + 1, QueueSettings())
    # An existing queue keeps its settings: the defaults are for creation only.
    replaced = await store.put_interests("b", {"user.id": "1"}, NOW + 2, QueueSettings())
    assert replaced.interests == {"user.id": "1"}
    assert replaced.created_at == NOW
    assert replaced.settings == defaults
    assert {q.name: q.settings for q in await store.list_queues()} == {
        "a": QueueSettings(),
        "b": defaults,
    }
    assert [q.name for q in await store.list_queues()] == ["a", "b"]


async def test_clear_interests_keeps_the_queue(store: Store) -> None:
    assert not await store.clear_interests("missing")
    await store.put_interests("q", "*", NOW, QueueSettings())
    assert await store.clear_interests("q")
    assert not await store.clear_interests("q")
    [queue] = await store.list_queues()
    assert queue.interests is None


async def test_update_queue_changes_only_given_fields(store: Store) -> None:
    assert await store.update_queue("missing", paused=True) is None
    await store.put_interests("q", "*", NOW, QueueSettings())
    paused = await store.update_queue("q", paused=True)
    assert paused is not None and paused.paused and paused.interests == "*"
    configured = await store.update_queue(
        "q", settings=QueueSettings(lease_seconds=5, max_deliveries=2)
    )
    assert configured is not None and configured.paused
    assert configured.settings == QueueSettings(lease_seconds=5, max_deliveries=2)


async def test_delete_queue_removes_waiting_and_failed_tasks_only(store: Store) -> None:
    assert await store.delete_queue("q") is None
    await store.put_interests("q", "*", NOW, QueueSettings())
    waiting, scheduled, started, failed, other = (
        task("q"),
        task("q", run_at=NOW + 60),
        task("q"),
        task("q"),
        task("other"),
    )
    await store.insert_tasks([waiting, scheduled, started, failed, other])
    for t, state in ((started, TaskState.STARTED), (failed, TaskState.FAILED)):
        assert await store.replace_task(
            dataclasses.replace(t, state=state, worker_id="w"), t.version
        )
    assert await store.delete_queue("q") == 3
    assert await store.list_queues() == []
    assert await store.get_task(waiting.task_id) is None
    assert await store.get_task(failed.task_id) is None
    assert await store.get_task(started.task_id) is not None
    assert await store.get_task(other.task_id) is not None


async def test_workers_are_listed_by_queue_and_deleted(store: Store) -> None:
    a = Worker("wa", ["q1", "q2"], name="A", registered_at=NOW, last_seen=NOW)
    b = Worker("wb", ["q2"], registered_at=NOW + 1, last_seen=NOW + 1)
    await store.add_worker(a)
    await store.add_worker(b)
    assert await store.get_worker("wa") == a
    assert [w.worker_id for w in await store.list_workers()] == ["wa", "wb"]
    assert [w.worker_id for w in await store.list_workers("q2")] == ["wa", "wb"]
    assert [w.worker_id for w in await store.list_workers("q1")] == ["wa"]
    assert await store.delete_workers(["wa", "nobody"]) == 1
    assert await store.get_worker("wa") is None
    assert await store.list_workers("q1") == []


async def test_insert_assigns_increasing_seq_and_versions(store: Store) -> None:
    tasks = [task() for _ in range(3)]
    assert await store.insert_tasks(tasks) == [True, True, True]
    assert tasks[0].seq < tasks[1].seq < tasks[2].seq
    stored = await store.get_task(tasks[1].task_id)
    assert stored is not None
    assert stored.data == tasks[1].data and stored.state is TaskState.QUEUED
    assert stored.version == tasks[1].version


async def test_singularly_enqueue_skips_a_waiting_duplicate_per_lane(store: Store) -> None:
    first = task("q", singularly_enqueue=True, identity="k")
    dup = task("q", singularly_enqueue=True, identity="k")
    other_lane = task("q", lane=worker_lane("w"), singularly_enqueue=True, identity="k")
    plain = task("q", identity="k")
    assert await store.insert_tasks([first, dup, other_lane, plain]) == [True, False, True, True]
    claimed = await store.claim_task(claim_request("q"))
    assert claimed is not None and claimed.task_id == first.task_id
    # Once the first is started it no longer waits: a new copy may wait again.
    assert await store.insert_tasks([task("q", singularly_enqueue=True, identity="k")]) == [True]


async def test_claim_takes_oldest_ready_by_run_at_then_seq(store: Store) -> None:
    late = task(run_at=NOW - 1)
    early = task(run_at=NOW - 10)
    future = task(run_at=NOW + 10)
    same_a, same_b = task(run_at=NOW - 5), task(run_at=NOW - 5)
    await store.insert_tasks([late, early, future, same_a, same_b])
    order = []
    for _ in range(5):
        got = await store.claim_task(claim_request("q"))
        order.append(got.task_id if got else None)
    assert order == [early.task_id, same_a.task_id, same_b.task_id, late.task_id, None]
    due = await store.claim_task(claim_request("q", now=NOW + 10))
    assert due is not None and due.task_id == future.task_id


async def test_claim_marks_started_with_lease_per_queue(store: Store) -> None:
    t = task("q")
    await store.insert_tasks([t])
    got = await store.claim_task(claim_request("q", worker="w9", lease_seconds={"q": 7.5}))
    assert got is not None
    assert (got.state, got.worker_id, got.started_at, got.lease_until) == (
        TaskState.STARTED,
        "w9",
        NOW,
        NOW + 7.5,
    )
    assert got.version != t.version
    assert await store.get_task(t.task_id) == got


async def test_claim_tries_lanes_in_order_and_skips_queues(store: Store) -> None:
    own = task("b", lane=worker_lane("w1"), worker_id="w1")
    a, b = task("a"), task("b")
    await store.insert_tasks([b, a, own])
    skip = frozenset({"b"})
    first = await store.claim_task(claim_request(worker_lane("w1"), "a", "b", skip_queues=skip))
    assert first is not None and first.task_id == a.task_id
    assert await store.claim_task(claim_request(worker_lane("w1"), "b", skip_queues=skip)) is None
    got = [await store.claim_task(claim_request(worker_lane("w1"), "a", "b")) for _ in range(3)]
    assert [g.task_id if g else None for g in got] == [own.task_id, b.task_id, None]


async def test_singularly_run_waits_while_a_copy_runs(store: Store) -> None:
    one, two = (task("q", singularly_run=True, identity="k") for _ in range(2))
    other = task("q", singularly_run=True, identity="z")
    await store.insert_tasks([one, two, other])
    first = await store.claim_task(claim_request("q"))
    second = await store.claim_task(claim_request("q"))
    assert first is not None and second is not None
    assert (first.task_id, second.task_id) == (one.task_id, other.task_id)
    assert await store.claim_task(claim_request("q")) is None
    done = dataclasses.replace(first, state=TaskState.COMPLETED, finished_at=NOW)
    assert await store.replace_task(done, first.version)
    third = await store.claim_task(claim_request("q"))
    assert third is not None and third.task_id == two.task_id


async def test_concurrent_claims_never_share_a_task(store: Store, tmp_path: Path) -> None:
    tasks = [task("q") for _ in range(200)]
    await store.insert_tasks(tasks)
    # A second store object on the same storage stands for another server process.
    other = await open_backend_like(store, tmp_path)
    try:
        claims = [
            (s.claim_task(claim_request("q", worker=f"w{i}")))
            for i in range(130)
            for s in (store, other)
        ]
        results = await asyncio.gather(*claims)
    finally:
        await other.close()
    got = [r.task_id for r in results if r is not None]
    assert len(got) == 200 and set(got) == {t.task_id for t in tasks}


async def open_backend_like(store: Store, tmp_path: Path) -> Store:
    """Another store object over the same storage as ``store`` (same file, or same Couchbase
    bucket and key prefix), standing for another server process."""
    from app.store.sqlite import SqliteStore

    if isinstance(store, SqliteStore):
        return await open_backend("sqlite", tmp_path)
    if type(store).__name__ == "CouchbaseStore":
        return await open_backend("couchbase", tmp_path)
    raise AssertionError("add the new backend here")


async def test_replace_task_is_compare_and_set(store: Store) -> None:
    t = task()
    await store.insert_tasks([t])
    claimed = await store.claim_task(claim_request("q"))
    assert claimed is not None
    stale = dataclasses.replace(claimed, state=TaskState.FAILED)
    assert not await store.replace_task(stale, t.version)
    follow = task()
    done = dataclasses.replace(claimed, state=TaskState.COMPLETED, finished_at=NOW + 1)
    assert await store.replace_task(done, claimed.version, [follow])
    stored = await store.get_task(t.task_id)
    assert (
        stored is not None and stored.state is TaskState.COMPLETED and stored.finished_at == NOW + 1
    )
    assert not await store.replace_task(done, claimed.version)
    assert await store.get_task(follow.task_id) is not None
    assert not await store.replace_task(task(), 1)


async def test_a_task_returned_to_the_queue_is_claimable_again(store: Store) -> None:
    t = task()
    await store.insert_tasks([t])
    claimed = await store.claim_task(claim_request("q"))
    assert claimed is not None
    back = dataclasses.replace(
        claimed,
        state=TaskState.QUEUED,
        worker_id=None,
        started_at=None,
        lease_until=None,
        attempts=1,
        fail_reason="boom",
        run_at=NOW + 5,
    )
    assert await store.replace_task(back, claimed.version)
    assert await store.claim_task(claim_request("q")) is None
    again = await store.claim_task(claim_request("q", now=NOW + 5))
    assert again is not None and again.task_id == t.task_id and again.attempts == 1


async def test_returning_beside_a_unique_duplicate_drops_the_returned_copy(store: Store) -> None:
    first = task(singularly_enqueue=True, identity="k")
    await store.insert_tasks([first])
    claimed = await store.claim_task(claim_request("q"))
    assert claimed is not None
    waiting = task(singularly_enqueue=True, identity="k")
    assert await store.insert_tasks([waiting]) == [True]
    back = dataclasses.replace(claimed, state=TaskState.QUEUED, worker_id=None, started_at=None)
    assert await store.replace_task(back, claimed.version) is Replaced.DROPPED
    assert await store.get_task(first.task_id) is None
    assert (await store.count_tasks(TaskFilter(queue="q"), NOW)).queued == 1
    # Told apart from a write and from a lost compare-and-set.
    claimed = await store.claim_task(claim_request("q"))
    assert claimed is not None and claimed.task_id == waiting.task_id
    back = dataclasses.replace(claimed, state=TaskState.QUEUED, worker_id=None, started_at=None)
    assert await store.replace_task(back, claimed.version) is Replaced.WRITTEN
    assert await store.replace_task(back, claimed.version) is Replaced.CONFLICT


async def test_release_tasks_returns_a_workers_started_tasks(store: Store) -> None:
    mine, theirs, own_lane = task(), task(), task(lane=worker_lane("w1"), worker_id="w1")
    await store.insert_tasks([mine, own_lane])
    await store.claim_task(claim_request("q", worker="w1"))
    await store.claim_task(claim_request(worker_lane("w1"), worker="w1"))
    await store.insert_tasks([theirs])
    await store.claim_task(claim_request("q", worker="w2"))
    released = await store.release_tasks("w1", NOW)
    assert {t.task_id for t in released} == {mine.task_id, own_lane.task_id}
    back = await store.get_task(mine.task_id)
    assert back is not None and back.state is TaskState.QUEUED and back.worker_id is None
    assert back.attempts == 0
    kept = await store.get_task(own_lane.task_id)
    assert kept is not None and kept.worker_id == "w1"
    still = await store.get_task(theirs.task_id)
    assert still is not None and still.state is TaskState.STARTED


async def test_delete_tasks_by_filter_and_state(store: Store) -> None:
    q1, q2, lane = task("q"), task("q"), task("q", lane=worker_lane("w"), worker_id="w")
    await store.insert_tasks([q1, q2, lane, task("other")])
    await store.claim_task(claim_request("q"))
    waiting = (TaskState.QUEUED,)
    assert await store.delete_tasks(TaskFilter(lane=worker_lane("w"), states=waiting)) == 1
    assert await store.delete_tasks(TaskFilter(queue="q", states=waiting)) == 1
    counts = await store.count_tasks(TaskFilter(), NOW)
    assert (counts.queued, counts.started) == (1, 1)


async def test_list_tasks_pages_by_cursor_with_filters(store: Store) -> None:
    tasks = [task("q", publisher="p1" if i % 2 else "p2") for i in range(7)]
    await store.insert_tasks([*tasks, task("other")])
    seen, cursor = [], None
    while True:
        page = await store.list_tasks(TaskFilter(queue="q"), 3, cursor)
        seen.extend(t.task_id for t in page.tasks)
        cursor = page.next_cursor
        if cursor is None:
            break
    assert seen == [t.task_id for t in tasks]
    p1 = await store.list_tasks(TaskFilter(queue="q", publisher="p1"), 10, None)
    assert [t.task_id for t in p1.tasks] == [t.task_id for t in tasks if t.publisher == "p1"]
    assert p1.next_cursor is None


async def test_list_and_count_tell_scheduled_from_queued_by_run_at(store: Store) -> None:
    now_task, later = task(), task(run_at=NOW + 100)
    await store.insert_tasks([now_task, later])
    counts = await store.count_tasks(TaskFilter(queue="q"), NOW)
    assert (counts.queued, counts.scheduled, counts.waiting) == (1, 1, 2)
    scheduled = await store.list_tasks(TaskFilter(queue="q", run_after=NOW), 10, None)
    assert [t.task_id for t in scheduled.tasks] == [later.task_id]
    ready = await store.list_tasks(TaskFilter(queue="q", run_until=NOW), 10, None)
    assert [t.task_id for t in ready.tasks] == [now_task.task_id]
    assert (await store.count_tasks(TaskFilter(queue="q"), NOW + 100)).queued == 2


async def test_failed_tasks_filter_by_reason_text(store: Store) -> None:
    a, b = task(), task()
    await store.insert_tasks([a, b])
    for expected, reason in ((a, "Timeout talking to SMTP"), (b, "bad address")):
        claimed = await store.claim_task(claim_request("q"))
        assert claimed is not None and claimed.task_id == expected.task_id
        failed = dataclasses.replace(claimed, state=TaskState.FAILED, fail_reason=reason)
        assert await store.replace_task(failed, claimed.version)
    page = await store.list_tasks(
        TaskFilter(states=(TaskState.FAILED,), reason_contains="smtp"), 10, None
    )
    assert [t.task_id for t in page.tasks] == [a.task_id]


async def test_the_reason_filter_ignores_case_by_unicode_casefolding(store: Store) -> None:
    reasons = ["ÉCHEC SMTP", "Straße gesperrt", "échec", "ok"]
    tasks = [task() for _ in reasons]
    await store.insert_tasks(tasks)
    for expected, reason in zip(tasks, reasons, strict=True):
        claimed = await store.claim_task(claim_request("q"))
        assert claimed is not None and claimed.task_id == expected.task_id
        failed = dataclasses.replace(claimed, state=TaskState.FAILED, fail_reason=reason)
        assert await store.replace_task(failed, claimed.version)
    stored = list((await store.get_tasks([t.task_id for t in tasks])).values())
    for part, wanted in (("échec", [0, 2]), ("STRASSE", [1]), ("smtp", [0]), ("É", [0, 2])):
        where = TaskFilter(states=(TaskState.FAILED,), reason_contains=part)
        page = await store.list_tasks(where, 10, None)
        ids = [tasks[n].task_id for n in wanted]
        assert [t.task_id for t in page.tasks] == ids, part
        # The stores agree with the one rule, TaskFilter.matches.
        assert sorted(t.task_id for t in stored if where.matches(t)) == sorted(ids), part
        assert (await store.count_tasks(where, NOW)).failed == len(wanted), part
    where = TaskFilter(states=(TaskState.FAILED,), reason_contains="ÉCHEC")
    assert await store.delete_tasks(where) == 2
    assert (await store.count_tasks(TaskFilter(), NOW)).failed == 2


async def test_a_store_that_takes_writes_is_ready(store: Store) -> None:
    await store.ready()
    await store.ready(thorough=True)
    await store.insert_tasks([task()])
    await store.ready()
