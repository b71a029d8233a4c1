"""Couchbase store across a cluster (issue 13, *Scale across a cluster*): claims of many nodes
spread over a queue's window instead of colliding on its oldest tasks."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import couchbase_url
from tests.store.factories import claim_request, task

pytest.importorskip("acouchbase")

from app.store.couchbase import CouchbaseStore
from app.store.couchbase_claim import node_offset


@pytest.fixture
async def nodes(couchbase_target: str, tmp_path: Path) -> AsyncIterator[list[CouchbaseStore]]:
    """Two store objects on one store, standing for two server nodes."""
    opened = [await CouchbaseStore.open(couchbase_url(tmp_path)) for _ in range(2)]
    try:
        yield opened
    finally:
        for store in opened:
            await store.close()


def test_node_offsets_spread_any_run_of_nodes_evenly() -> None:
    """Nodes restart and their numbers climb: any five consecutive numbers spread well."""
    assert node_offset(0) == 0.0
    for first in range(0, 1000, 37):
        places = sorted(node_offset(n) for n in range(first, first + 5))
        gaps = [b - a for a, b in zip(places, [*places[1:], places[0] + 1], strict=True)]
        assert min(gaps) > 0.14


async def test_a_node_that_lost_a_race_claims_from_its_own_place(
    nodes: list[CouchbaseStore],
) -> None:
    """Node b loses a race to node a: its claim, and its next ones, go on from its own place
    in the window (0.618 of the way for the second node opened), not from the oldest tasks a also
    takes; a, which lost nothing, keeps taking them in order."""
    a, b = nodes
    assert a.claimer.offset == 0.0 and 0.61 < b.claimer.offset < 0.62
    tasks = [task() for _ in range(64)]
    assert all(await a.insert_tasks(tasks))
    real = b.tasks.move
    raced: list[str] = []

    async def lose_first_race(old: Any, new: Any, abandoned: Any = None) -> str:
        if not raced:
            raced.append(old.task.task_id)
            assert await a.claim_task(claim_request("q", worker="wa")) is not None
        return await real(old, new, abandoned)

    b.tasks.move = lose_first_race  # type: ignore[method-assign]
    first = await b.claim_task(claim_request("q", worker="wb"))
    assert raced == [tasks[0].task_id]
    # 63 candidates left, b starts at int(0.618 * 63) = 38 of them: tasks[39]; then tasks[40].
    assert first is not None and first.task_id == tasks[39].task_id
    second = await b.claim_task(claim_request("q", worker="wb"))
    assert second is not None and second.task_id == tasks[40].task_id
    in_order = await a.claim_task(claim_request("q", worker="wa"))
    assert in_order is not None and in_order.task_id == tasks[1].task_id
