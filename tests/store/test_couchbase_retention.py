"""Retention on Couchbase (issue 13, *Retention*): one node at a time purges for the cluster,
and a purge reads only the chunks that can hold tasks past retention."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from resolvers.models import Task, TaskFilter, TaskState
from resolvers.retention import purge_finished
from tests.conftest import couchbase_url
from tests.store.factories import NOW, claim_request, task

pytest.importorskip("acouchbase")

from app.store import couchbase_purge
from app.store.couchbase import CouchbaseStore
from app.store.couchbase_purge import BACKSTOP_MARGIN, backstop
from resolvers.context import Policies

COMPLETED = (TaskState.COMPLETED,)


@pytest.fixture
async def nodes(couchbase_target: str, tmp_path: Path) -> AsyncIterator[list[CouchbaseStore]]:
    """Two store objects on one store, standing for two server nodes."""
    opened = [await CouchbaseStore.open(couchbase_url(tmp_path)) for _ in range(2)]
    try:
        yield opened
    finally:
        for store in opened:
            await store.close()


def done(finished_at: float, queue: str = "q") -> Task:
    return task(queue, state=TaskState.COMPLETED, finished_at=finished_at)


async def complete(store: CouchbaseStore, finished_at: float, n: int = 1) -> list[Task]:
    """n published tasks, claimed and completed at ``finished_at``."""
    assert all(await store.insert_tasks([task() for _ in range(n)]))
    claimed = await store.claim_tasks(claim_request("q"), n)
    assert len(claimed) == n
    for t in claimed:
        finished = dataclasses.replace(t, state=TaskState.COMPLETED, finished_at=finished_at)
        assert await store.replace_task(finished, t.version)
    return claimed


class Reads:
    """Counts the documents a store reads (``get``, one per document, as get_many does)."""

    def __init__(self, store: CouchbaseStore) -> None:
        self.n = 0
        self.kv = store.kv
        real = store.kv.get

        async def counted(key: str) -> Any:
            self.n += 1
            return await real(key)

        store.kv.get = counted  # type: ignore[method-assign]

    def stop(self) -> None:
        del self.kv.get


async def purge_reads(store: CouchbaseStore, before: float) -> tuple[int, int]:
    reads = Reads(store)
    try:
        deleted = await store.delete_tasks(TaskFilter(states=COMPLETED, finished_before=before))
    finally:
        reads.stop()
    return deleted, reads.n


async def counted(store: CouchbaseStore) -> int:
    return (await store.count_tasks(TaskFilter(states=COMPLETED), NOW)).completed


async def test_a_purge_reads_the_same_however_long_the_retained_tail(
    nodes: list[CouchbaseStore],
) -> None:
    """5 tasks past retention, then a retained tail of 64 (one chunk) or 640 (ten chunks): the
    purge reads as many documents either way. Before: it read every completed chunk."""
    store = nodes[0]
    figures = []
    for tail in (64, 640):
        await complete(store, NOW, 5)
        assert all(await store.insert_tasks([done(NOW + 3600) for _ in range(tail)]))
        deleted, reads = await purge_reads(store, NOW + 600)
        assert deleted == 5
        figures.append(reads)
        assert await counted(store) == tail
        assert await store.delete_tasks(TaskFilter(states=COMPLETED)) == tail
    assert figures[0] == figures[1] and figures[0] <= 16, figures


async def test_a_second_purge_reads_no_chunk(nodes: list[CouchbaseStore]) -> None:
    """The minute purged is retired: the next purge reads the two directories only."""
    store = nodes[0]
    await complete(store, NOW, 3)
    assert all(await store.insert_tasks([done(NOW + 3600) for _ in range(64)]))
    assert (await purge_reads(store, NOW + 600))[0] == 3
    # queues and names (the queues), finished::q and done::q: no chunk, no task
    assert await purge_reads(store, NOW + 600) == (0, 4)


async def test_two_nodes_purging_at_once_purge_each_task_once(
    nodes: list[CouchbaseStore],
) -> None:
    a, b = nodes
    await complete(a, NOW, 40)
    await complete(a, NOW + 3600, 5)
    old = TaskFilter(states=COMPLETED, finished_before=NOW + 600)
    got = await asyncio.gather(a.delete_tasks(old), b.delete_tasks(old))
    assert sum(got) == 40
    await a.index.finisher.drain()
    await b.index.finisher.drain()
    assert await counted(a) == await counted(b) == 5
    assert len((await a.list_tasks(TaskFilter(states=COMPLETED), 100, None)).tasks) == 5


async def test_one_node_at_a_time_takes_the_purge_turn(nodes: list[CouchbaseStore]) -> None:
    """Until the turn expires; a node that died in its turn leaves nothing behind."""
    a, b = nodes
    assert await a.take_turn("purge", 1.0)
    assert not await b.take_turn("purge", 1.0)
    assert not await a.take_turn("purge", 1.0)
    await asyncio.sleep(1.2)
    assert await b.take_turn("purge", 1.0)


async def test_a_task_whose_document_is_gone_is_uncounted_by_the_purge(
    nodes: list[CouchbaseStore],
) -> None:
    """A completed task whose document went away by itself (document expiry): the purge meets
    its entry, removes it, and the count equals the truth."""
    store = nodes[0]
    tasks = await complete(store, NOW, 3)
    assert await store.kv.remove(store.kv.key("task", tasks[0].task_id))
    assert await counted(store) == 3
    assert await store.delete_tasks(TaskFilter(states=COMPLETED, finished_before=NOW + 600)) == 2
    await store.index.finisher.drain()
    assert await counted(store) == 0


async def test_a_store_without_the_finish_time_directory_is_purged(
    nodes: list[CouchbaseStore],
) -> None:
    """Completed tasks written by an earlier version (no finished::{queue}): the purge reads
    their chunks, deletes the old ones and names the minutes of the others, after which it
    reads only what those name."""
    store = nodes[0]
    await complete(store, NOW, 4)
    assert all(await store.insert_tasks([done(NOW + 3600) for _ in range(3)]))
    assert await store.kv.remove(store.index.finished_key("q"))
    assert (await purge_reads(store, NOW + 600))[0] == 4
    assert await counted(store) == 3
    marks = await store.kv.get(store.index.finished_key("q"))
    assert marks is not None and len(marks[0]) == 1
    assert await store.delete_tasks(TaskFilter(states=COMPLETED, finished_before=NOW + 7200)) == 3
    assert await counted(store) == 0


def test_finished_tasks_expire_after_their_retention_and_a_margin() -> None:
    expiry = backstop(completed_retention=3600, failed_retention=30 * 86400)
    assert expiry == {TaskState.COMPLETED: 7200, TaskState.FAILED: 60 * 86400}
    assert backstop(0, 60)[TaskState.COMPLETED] == BACKSTOP_MARGIN


async def test_a_store_told_the_policies_expires_finished_tasks(
    couchbase_target: str, tmp_path: Path
) -> None:
    policies = Policies(completed_retention_seconds=60, failed_retention_seconds=7200)
    store = await CouchbaseStore.open(couchbase_url(tmp_path), policies)
    try:
        assert store.tasks.expiry == backstop(60, 7200)
    finally:
        await store.close()


async def test_expired_task_documents_leave_counts_exact_after_the_purge(
    nodes: list[CouchbaseStore],
) -> None:
    """Completed task documents expire by themselves (here after 1 s; the test node expires
    documents as Couchbase does): their entries are met stale by the next purge, which
    removes them, and the count equals the truth. A task that left COMPLETED loses its
    expiry (a replace without one clears it)."""
    store = nodes[0]
    store.tasks.expiry = {TaskState.COMPLETED: 1.0}
    gone = await complete(store, NOW, 3)
    kept = await complete(store, NOW + 3600, 1)
    back = await store.get_task(kept[0].task_id)
    assert back is not None
    queued = dataclasses.replace(back, state=TaskState.QUEUED, finished_at=None)
    assert await store.replace_task(queued, back.version)
    await asyncio.sleep(1.5)
    assert await store.get_tasks([t.task_id for t in gone]) == {}
    assert await store.get_task(kept[0].task_id) is not None
    assert await counted(store) == 3  # until a reader meets the entries
    assert await store.delete_tasks(TaskFilter(states=COMPLETED, finished_before=NOW + 600)) == 0
    await store.index.finisher.drain()
    assert await counted(store) == 0
    assert await purge_reads(store, NOW + 600) == (0, 4)  # the minute is retired


async def test_the_purge_duty_runs_on_one_node_per_interval(nodes: list[CouchbaseStore]) -> None:
    """Two nodes' purge duties in one interval: the first purges for the cluster, the second
    does nothing (not even its reads); the explicit engine call (no interval) always purges."""
    a, b = nodes
    await complete(a, NOW, 2)

    def ctx(store: CouchbaseStore) -> Any:
        return SimpleNamespace(store=store, clock=lambda: NOW + 7200, policies=Policies())

    reads = Reads(b)
    assert await purge_finished(ctx(b), 30.0) == 2
    reads.stop()
    await complete(a, NOW, 1)
    reads = Reads(a)
    assert await purge_finished(ctx(a), 30.0) == 0
    reads.stop()
    assert reads.n == 0
    assert await purge_finished(ctx(a)) == 1


async def test_one_pass_reads_a_bounded_number_of_chunks(
    nodes: list[CouchbaseStore], monkeypatch: pytest.MonkeyPatch
) -> None:
    """After a long time without a purge, each pass takes at most CHUNKS_PER_PASS chunks of a
    queue (here 2 of 64 entries), oldest minutes first; the next passes take the rest."""
    monkeypatch.setattr(couchbase_purge, "CHUNKS_PER_PASS", 2)
    store = nodes[0]
    assert all(await store.insert_tasks([done(NOW) for _ in range(192)]))
    assert all(await store.insert_tasks([done(NOW - 600) for _ in range(64)]))
    passes = []
    while len(passes) < 6 and (not passes or passes[-1]):
        deleted, reads = await purge_reads(store, NOW + 600)
        passes.append(deleted)
        assert reads <= 4 + 2 + 128 + 2  # an emptied chunk is read again to delete it
    assert passes[0] <= 128 and sum(passes) == 256, passes
    assert await counted(store) == 0
