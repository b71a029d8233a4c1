"""The SQLite store's per-lane change stamps: a lane's stamp moves when the lane may have
gained a claimable task, by any connection, and not for claims, reports or worker touches
(each of which would otherwise wake every push subscriber of the node)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from app.store.sqlite import SqliteStore
from resolvers.models import TaskState, Worker, worker_lane
from tests.store.factories import NOW, claim_request, task


async def test_only_writes_that_make_a_task_claimable_move_a_lane_stamp(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'stamps.db'}"
    store, other = await SqliteStore.open(url), await SqliteStore.open(url)
    try:
        assert store.change_stamps_per_lane
        await store.add_worker(Worker(worker_id="w", queues=["q"], last_seen=NOW))
        lanes = ["q", "r", worker_lane("w")]
        start = await store.change_stamps(lanes)
        await other.insert_tasks([task("q"), task("q")])
        inserted = await store.change_stamps(lanes)
        assert inserted["q"] != start["q"]
        assert inserted["r"] == start["r"] and inserted[worker_lane("w")] == start[worker_lane("w")]
        # Claims, reports and signs of life leave every stamp alone.
        claimed = await other.claim_tasks(claim_request("q", worker="w"), 2)
        assert await other.touch_worker("w", NOW + 1, {}, 300.0, [])
        done = dataclasses.replace(claimed[0], state=TaskState.COMPLETED, finished_at=NOW)
        assert await other.replace_task(done, claimed[0].version)
        assert await store.change_stamps(lanes) == inserted
        # A task put back queued moves its lane's stamp; so does a worker's own copy.
        back = dataclasses.replace(claimed[1], state=TaskState.QUEUED, worker_id=None)
        assert await other.replace_task(back, claimed[1].version)
        requeued = await store.change_stamps(lanes)
        assert requeued["q"] != inserted["q"]
        await other.insert_tasks([task("q", lane=worker_lane("w"), worker_id="w")])
        own = await store.change_stamps(lanes)
        assert own[worker_lane("w")] != requeued[worker_lane("w")]
        assert own["q"] == requeued["q"]
    finally:
        await other.close()
        await store.close()


async def test_a_singularly_run_task_finishing_moves_its_lane(tmp_path: Path) -> None:
    store = await SqliteStore.open(f"sqlite:///{tmp_path / 'stamps.db'}")
    try:
        await store.insert_tasks([task("q", singularly_run=True, identity="x")])
        running = await store.claim_task(claim_request("q"))
        assert running is not None
        before = await store.change_stamps(["q"])
        done = dataclasses.replace(running, state=TaskState.COMPLETED, finished_at=NOW)
        assert await store.replace_task(done, running.version)
        assert await store.change_stamps(["q"]) != before
    finally:
        await store.close()


async def test_a_worker_lane_row_goes_with_its_worker(tmp_path: Path) -> None:
    store = await SqliteStore.open(f"sqlite:///{tmp_path / 'stamps.db'}")
    try:
        await store.add_worker(Worker(worker_id="w", queues=["q"], last_seen=NOW))
        await store.insert_tasks([task("q", lane=worker_lane("w"), worker_id="w")])
        assert (await store.change_stamps([worker_lane("w")]))[worker_lane("w")] > 0
        assert await store.delete_workers(["w"]) == 1
        assert await store.change_stamps([worker_lane("w")]) == {worker_lane("w"): 0}
    finally:
        await store.close()
