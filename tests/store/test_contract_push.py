"""Store contract, continued: what push delivery needs."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from resolvers.models import TaskChange, TaskState, worker_lane
from resolvers.store import Store
from tests.store.factories import NOW, claim_request, task
from tests.store.test_contract import open_backend_like


async def test_change_stamps_change_when_a_lane_gains_a_task(store: Store, tmp_path: Path) -> None:
    other = await open_backend_like(store, tmp_path)
    try:
        before = await store.change_stamps(["q", "r"])
        assert set(before) == {"q", "r"}
        # A write from another process (another store object) must show.
        await other.insert_tasks([task("q")])
        after_insert = await store.change_stamps(["q"])
        assert after_insert["q"] != before["q"]
        claimed = await other.claim_task(claim_request("q"))
        assert claimed is not None
        stamp = (await store.change_stamps(["q"]))["q"]
        back = dataclasses.replace(claimed, state=TaskState.QUEUED, worker_id=None)
        assert await other.replace_task(back, claimed.version)
        assert (await store.change_stamps(["q"]))["q"] != stamp
    finally:
        await other.close()


async def test_earliest_run_at_of_waiting_tasks(store: Store) -> None:
    assert await store.earliest_run_at(["q", "r"]) is None
    await store.insert_tasks([task("q", run_at=NOW + 50), task("r", run_at=NOW + 20)])
    await store.insert_tasks([task("s", run_at=NOW + 1)])
    assert await store.earliest_run_at(["q", "r"]) == NOW + 20
    assert await store.earliest_run_at(["q"]) == NOW + 50


async def test_release_only_the_given_tasks(store: Store) -> None:
    a, b = task(), task()
    await store.insert_tasks([a, b])
    await store.claim_task(claim_request("q", worker="w"))
    await store.claim_task(claim_request("q", worker="w"))
    released = await store.release_tasks("w", NOW, [b.task_id])
    assert [t.task_id for t in released] == [b.task_id]
    still = await store.get_task(a.task_id)
    assert still is not None and still.state is TaskState.STARTED


async def test_claim_tasks_takes_up_to_the_limit_each_once(store: Store) -> None:
    own = task("q", lane=worker_lane("w1"), worker_id="w1")
    shared = [task("q") for _ in range(4)]
    later = task("q", run_at=NOW + 60)
    await store.insert_tasks([*shared, own, later])
    first = await store.claim_tasks(claim_request(worker_lane("w1"), "q"), 3)
    assert len(first) == 3
    assert own.task_id in {t.task_id for t in first}
    assert all(t.state is TaskState.STARTED and t.worker_id == "w1" for t in first)
    rest = await store.claim_tasks(claim_request(worker_lane("w1"), "q"), 10)
    taken = [t.task_id for t in [*first, *rest]]
    # Every ready task exactly once; the delayed one stays.
    assert sorted(taken) == sorted([own.task_id, *(t.task_id for t in shared)])
    assert await store.claim_tasks(claim_request("q"), 5) == []


async def test_claim_tasks_takes_the_oldest_ready(store: Store) -> None:
    newest, middle, oldest = (task("q", run_at=NOW - n) for n in range(3))
    await store.insert_tasks([newest, middle, oldest])
    claimed = await store.claim_tasks(claim_request("q"), 2)
    assert {t.task_id for t in claimed} == {oldest.task_id, middle.task_id}


async def test_started_task_ids_names_only_tasks_the_worker_still_holds(store: Store) -> None:
    mine, done, theirs, waiting = task(), task(), task(), task()
    await store.insert_tasks([mine, done, theirs])
    got_mine = await store.claim_task(claim_request("q", worker="w"))
    got_done = await store.claim_task(claim_request("q", worker="w"))
    got_theirs = await store.claim_task(claim_request("q", worker="v"))
    assert got_mine and got_done and got_theirs
    finished = dataclasses.replace(got_done, state=TaskState.COMPLETED, finished_at=NOW)
    assert await store.replace_task(finished, got_done.version)
    asked = [got_mine.task_id, got_done.task_id, got_theirs.task_id, waiting.task_id]
    assert await store.started_task_ids("w", asked) == {got_mine.task_id}
    assert await store.started_task_ids("w", []) == set()


async def test_get_tasks_returns_those_that_exist(store: Store) -> None:
    a, b = task(), task()
    await store.insert_tasks([a, b])
    found = await store.get_tasks([a.task_id, "no-such-task", b.task_id])
    assert set(found) == {a.task_id, b.task_id}
    assert found[a.task_id].data == a.data
    assert await store.get_tasks([]) == {}


async def test_replace_tasks_is_a_compare_and_set_per_change(store: Store) -> None:
    a, b = task(), task()
    await store.insert_tasks([a, b])
    got_a = await store.claim_task(claim_request("q", worker="w"))
    got_b = await store.claim_task(claim_request("q", worker="w"))
    assert got_a and got_b
    done_a = dataclasses.replace(got_a, state=TaskState.COMPLETED, finished_at=NOW)
    done_b = dataclasses.replace(got_b, state=TaskState.COMPLETED, finished_at=NOW)
    again = task()
    changes = [
        TaskChange(done_a, got_a.version, [again]),
        TaskChange(done_b, got_b.version - 1),  # stale: must not be written
    ]
    assert await store.replace_tasks(changes) == [True, False]
    stored_a, stored_b = await store.get_task(got_a.task_id), await store.get_task(got_b.task_id)
    assert stored_a is not None and stored_a.state is TaskState.COMPLETED
    assert stored_b is not None and stored_b.state is TaskState.STARTED
    inserted = await store.get_task(again.task_id)
    assert inserted is not None and inserted.state is TaskState.QUEUED


async def test_insert_and_claim_claims_what_the_claims_would_after_the_insert(
    store: Store,
) -> None:
    older = task("q", run_at=NOW - 5)
    await store.insert_tasks([older])
    fresh = [task("q"), task("q")]
    other_lane = task("r")
    claims = [(claim_request("q", worker="w"), 2), (claim_request("r", worker="v"), 5)]
    written, claimed = await store.insert_and_claim([*fresh, other_lane], claims)
    assert written == [True, True, True]
    # Oldest ready first: the task already waiting, then the first of the new ones.
    assert [t.task_id for t in claimed[0]] == [older.task_id, fresh[0].task_id]
    assert [t.task_id for t in claimed[1]] == [other_lane.task_id]
    assert {(t.state, t.worker_id) for t in claimed[0]} == {(TaskState.STARTED, "w")}
    left = await store.get_task(fresh[1].task_id)
    assert left is not None and left.state is TaskState.QUEUED
    # Without claims it is insert_tasks.
    assert await store.insert_and_claim([task("q")], []) == ([True], [])
