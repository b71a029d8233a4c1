"""Store contract, continued: what push delivery needs."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from resolvers.models import TaskState
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
