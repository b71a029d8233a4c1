"""Couchbase flow limits (app/store/couchbase_limits.py): what the contract suite cannot
stage on purpose: two nodes' claims racing for one task, and slots a dead node left behind."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from resolvers.models import QueueLimits, TaskState
from tests.conftest import couchbase_url
from tests.store.factories import NOW, claim_request, task

pytest.importorskip("acouchbase")

from app.store.couchbase import CouchbaseStore
from app.store.couchbase_claim import _started
from app.store.couchbase_limits import PRUNE_AGE

ONE = {"q": QueueLimits(max_started=1, rate_limit=None, rate_period=1.0)}


@pytest.fixture
async def cb(couchbase_target: str, tmp_path: Path) -> AsyncIterator[CouchbaseStore]:
    store = await CouchbaseStore.open(couchbase_url(tmp_path))
    try:
        yield store
    finally:
        await store.close()


async def test_two_admissions_for_one_task_each_hold_a_slot(cb: CouchbaseStore) -> None:
    """Two nodes admit the same task, and one loses the move: it refunds its own slot only,
    so the winner's still counts."""
    two = {"q": QueueLimits(max_started=2, rate_limit=None, rate_period=1.0)}
    t = task("q")
    assert await cb.insert_tasks([t, task("q"), task("q")]) == [True] * 3
    stored = await cb.tasks.read(t.task_id)
    assert stored is not None
    x = claim_request("q", worker="x", limits=two)
    assert await cb.limits.admit(stored.task, x)
    grant_y = await cb.limits.admit(stored.task, claim_request("q", worker="y", limits=two))
    # x moves the task first (as Claimer._try does after its admission); y's move loses.
    assert await cb.tasks.move(stored, _started(stored.task, x)) == "done"
    await cb.limits.refund(grant_y)
    z = claim_request("q", worker="z", limits=two)
    assert await cb.claim_task(z) is not None
    w = claim_request("q", worker="w", limits=two)
    assert await cb.claim_task(w) is None and w.held_back == {"q": "started"}


async def test_a_slot_left_by_a_dead_claim_is_pruned_once_old(cb: CouchbaseStore) -> None:
    """A node died between its admission and its move: the slot names a task that is not
    started by it. The next claim that finds the queue full drops it once PRUNE_AGE old."""
    t = task("q")
    assert await cb.insert_tasks([t]) == [True]
    stored = await cb.tasks.read(t.task_id)
    assert stored is not None
    assert await cb.limits.admit(stored.task, claim_request("q", worker="dead", limits=ONE))
    assert await cb.claim_task(claim_request("q", limits=ONE)) is None
    later = claim_request("q", now=NOW + PRUNE_AGE + 0.1, limits=ONE)
    claimed = await cb.claim_task(later)
    assert claimed is not None and claimed.task_id == t.task_id


async def test_a_claim_that_loses_its_move_gives_its_slot_back(cb: CouchbaseStore) -> None:
    t = task("q")
    assert await cb.insert_tasks([t]) == [True]
    stored = await cb.tasks.read(t.task_id)
    assert stored is not None
    # Another node took the task between this claim's read and its move.
    taken = await cb.claim_task(claim_request("q"))
    assert taken is not None
    done = dataclasses.replace(taken, state=TaskState.COMPLETED, finished_at=NOW)
    assert await cb.replace_task(done, taken.version)
    assert await cb.insert_tasks([task("q")]) == [True]
    grant = await cb.limits.admit(stored.task, claim_request("q", worker="late", limits=ONE))
    await cb.limits.refund(grant)
    assert await cb.claim_task(claim_request("q", limits=ONE)) is not None
