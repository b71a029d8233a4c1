"""Claims that must find work however the lane is laid out (every backend)."""

from __future__ import annotations

from resolvers.store import Store
from tests.store.factories import claim_request, task


async def test_a_blocked_singularly_run_identity_hides_no_other_work(store: Store) -> None:
    """900 waiting copies of identity X (one X running) ahead of one Y: a claim returns Y."""
    xs = [task("q", singularly_run=True, identity="x") for _ in range(901)]
    assert all(await store.insert_tasks(xs))
    running = await store.claim_task(claim_request("q"))
    assert running is not None and running.task_id == xs[0].task_id
    y = task("q", singularly_run=True, identity="y")
    assert await store.insert_tasks([y]) == [True]
    claimed = await store.claim_task(claim_request("q"))
    assert claimed is not None and claimed.task_id == y.task_id
    assert await store.claim_task(claim_request("q")) is None
