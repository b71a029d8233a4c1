"""Couchbase store across a cluster (issue 13, *Scale across a cluster*): claims of many nodes
spread over a queue's window instead of colliding on its oldest tasks."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from resolvers.models import Task, TaskFilter, TaskState
from tests.conftest import couchbase_url
from tests.store.factories import NOW, claim_request, task

pytest.importorskip("acouchbase")

from couchbase import subdocument as SD

from app.store.couchbase import CouchbaseStore
from app.store.couchbase_claim import node_offset
from app.store.couchbase_codec import lease_bucket
from app.store.couchbase_index import KIND_OF_LOG
from app.store.couchbase_kv import path
from app.store.couchbase_numbers import BLOCK


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


@pytest.fixture
async def cb(couchbase_target: str, tmp_path: Path) -> AsyncIterator[CouchbaseStore]:
    store = await CouchbaseStore.open(couchbase_url(tmp_path))
    try:
        yield store
    finally:
        await store.close()


class KeyLog:
    """The document keys a store's KV operations touch."""

    NAMES = ("get", "insert", "upsert", "replace", "remove", "incr", "mutate", "lookup", "cas_of")

    def __init__(self, store: CouchbaseStore) -> None:
        self.keys: set[str] = set()
        self.ops = 0
        self.kv = store.kv
        for name in self.NAMES:
            self._wrap(self.kv, name)

    def stop(self) -> None:
        for name in self.NAMES:
            delattr(self.kv, name)

    def _wrap(self, kv: Any, name: str) -> None:
        real = getattr(kv, name)

        async def logged(key: str, *args: Any, **kwargs: Any) -> Any:
            self.keys.add(key)
            self.ops += 1
            return await real(key, *args, **kwargs)

        setattr(kv, name, logged)


async def lifecycle(store: CouchbaseStore, queue: str) -> None:
    t = task(queue)
    assert await store.insert_tasks([t]) == [True]
    claimed = await store.claim_task(claim_request(queue, worker=f"w-{queue}"))
    assert claimed is not None and claimed.task_id == t.task_id
    done = dataclasses.replace(claimed, state=TaskState.COMPLETED, finished_at=NOW)
    assert await store.replace_task(done, claimed.version)
    await store.index.finisher.drain()


async def test_independent_queues_share_no_document_on_the_hot_path(cb: CouchbaseStore) -> None:
    """A publish, a claim and a completion in queue a and the same in queue b touch disjoint
    documents (once each process has noted the queues: a queue's first publish and lease of a
    minute write the shared lists of queues). Before: the seq counter of every publish and the
    lease bucket of every claim in the same second were shared."""
    for queue in ("a", "b"):
        await lifecycle(cb, queue)
    touched = {}
    for queue in ("a", "b"):
        log = KeyLog(cb)
        await lifecycle(cb, queue)
        log.stop()
        touched[queue] = log.keys
    assert touched["a"] and touched["b"]
    assert touched["a"] & touched["b"] == set()


def write_as_before(store: CouchbaseStore, monkeypatch: pytest.MonkeyPatch) -> None:
    """Make the store write what the version before this one wrote: one increment of the
    shared ``seq`` counter per publish, every queue's leases in shared ``leases`` /
    ``lease::{second}`` documents, every lane's waiting counters in the queue's directory
    (nothing else of the layout changed)."""
    kv, index = store.kv, store.index

    async def number(tasks: list[Task]) -> None:
        last = await kv.incr(kv.key("seq"), len(tasks))
        for seq, t in enumerate(tasks, start=last - len(tasks) + 1):
            t.seq = seq

    async def count(queue: str, deltas: dict[str, int]) -> dict[str, int | None]:
        names = [k for k, d in deltas.items() if d]
        by_kind: dict[str, list[str]] = {}
        for name in names:
            by_kind.setdefault(KIND_OF_LOG[name.split("|", 1)[0]], []).append(name)
        values: dict[str, int | None] = {}
        for kind, group in by_kind.items():
            found = await index._count_in(index.dir_doc_key(queue, kind), group, deltas)
            values.update(zip(group, found, strict=True))
        return values

    async def put_lease(ticket: str, value: dict[str, Any]) -> None:
        bucket = lease_bucket(value["u"])
        await kv.mutate(kv.key("lease", bucket), [SD.upsert(path(ticket), value)], create=True)
        await kv.mutate(kv.key("leases"), [SD.upsert(path(str(bucket)), 1)], create=True)

    monkeypatch.setattr(store.tasks.numbers, "number", number)
    monkeypatch.setattr(index, "count", count)
    monkeypatch.setattr(index, "put_lease", put_lease)


async def test_a_store_written_before_per_queue_counters_and_leases_keeps_working(
    cb: CouchbaseStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Tasks numbered by the shared counter come first, in listings and claims; a lease filed
    in the shared buckets is reaped, and its buckets emptied; counts stay right."""
    with monkeypatch.context() as before:
        write_as_before(cb, before)
        old = [task() for _ in range(3)] + [task("other")]
        assert all(await cb.insert_tasks(old))
        assert await cb.insert_tasks([in_lane := task(lane="@w1")])
        lease = claim_request("q", worker="w-old", default_lease_seconds=10.0)
        assert (await cb.claim_task(lease)).task_id == old[0].task_id  # type: ignore[union-attr]
    assert [t.seq for t in [*old, in_lane]] == [1, 2, 3, 4, 5]
    assert await cb.kv.get(cb.kv.key("lease", lease_bucket(NOW + 10))) is not None
    new = [task() for _ in range(2)]
    assert all(await cb.insert_tasks(new))
    assert new[0].seq > in_lane.seq
    both = TaskFilter(queue="q")
    counts = await cb.count_tasks(both, NOW)
    assert (counts.queued, counts.started) == (5, 1)
    page = await cb.list_tasks(TaskFilter(), 3, None)
    rest = await cb.list_tasks(TaskFilter(), 10, page.next_cursor)
    listed = [t.task_id for t in page.tasks + rest.tasks]
    assert listed == [t.task_id for t in [*old, in_lane, *new]]
    lane_claim = await cb.claim_task(claim_request("@w1", worker="w1"))
    assert lane_claim is not None and lane_claim.task_id == in_lane.task_id
    await cb.index.finisher.drain()
    counts = await cb.count_tasks(both, NOW)
    assert (counts.queued, counts.started) == (4, 2)
    expired = await cb.expired_tasks(NOW + 11, 10)
    assert [t.task_id for t in expired] == [old[0].task_id]
    assert await cb.replace_task(expired[0].requeued(), expired[0].version)
    claims = [await cb.claim_task(claim_request("q", now=NOW + 12)) for _ in range(5)]
    # Old tasks first (the reaped one went back at its place: its seq is its place).
    assert [c.task_id for c in claims if c] == [t.task_id for t in old[:3] + new]
    await cb.index.finisher.drain()
    assert await cb.expired_tasks(NOW + 40, 10) == []
    shared = await cb.kv.get(cb.kv.key("leases"))
    assert shared is None or shared[0] == {}


async def test_kv_operations_per_task_lifecycle(cb: CouchbaseStore) -> None:
    """Once a process knows the queue: a publish costs 3 KV operations (its seq from the
    process's block), a claim 8 (its directory remembered from the claim before), a completion
    6. Before: 4, 10, 6."""
    await lifecycle(cb, "q")
    costs = []
    for step in ("publish", "claim", "complete"):
        log = KeyLog(cb)
        if step == "publish":
            t = task()
            assert await cb.insert_tasks([t, task()]) == [True, True]
        elif step == "claim":
            claimed = await cb.claim_task(claim_request("q"))
            assert claimed is not None and claimed.task_id == t.task_id
        else:
            done = dataclasses.replace(claimed, state=TaskState.COMPLETED, finished_at=NOW)
            assert await cb.replace_task(done, claimed.version)
        await cb.index.finisher.drain()
        log.stop()
        costs.append(log.ops)
    assert costs == [4, 8, 6]  # two tasks published: one count for both


async def test_seqs_come_in_blocks_in_publish_order(nodes: list[CouchbaseStore]) -> None:
    """Each node numbers its publishes from a block of the shared counter (one increment per
    block): seqs are unique, and follow each node's publish order across its queues."""
    a = nodes[0]
    published: dict[int, list[Task]] = {0: [], 1: []}
    for n in range(10):
        for i, node in enumerate(nodes):
            t = task("q" if n % 2 else "r")
            assert await node.insert_tasks([t]) == [True]
            published[i].append(t)
    seqs = [t.seq for ts in published.values() for t in ts]
    assert len(set(seqs)) == 20
    for ts in published.values():
        assert [t.seq for t in ts] == sorted(t.seq for t in ts)
    counter = await a.kv.get(a.kv.key("seq"))
    assert counter is not None and counter[0] == 2 * BLOCK
    listed = await a.list_tasks(TaskFilter(), 20, None)
    mine = {t.task_id for t in published[0]}
    assert [t.task_id for t in listed.tasks if t.task_id in mine] == [
        t.task_id for t in published[0]
    ]


async def test_the_reaper_reads_only_queues_with_a_lease_due(cb: CouchbaseStore) -> None:
    """Twenty queues with started tasks whose leases end in an hour, one whose lease has ended:
    a reaper pass reads the lease directory, the older store's shared set, and that one queue's
    lease documents and task; not the other queues' (before: every second's bucket of every
    queue was in one shared list, read whole)."""
    for n in range(20):
        assert await cb.insert_tasks([task(f"later{n}")])
        later = claim_request(f"later{n}", default_lease_seconds=3600.0)
        assert await cb.claim_task(later) is not None
    due = task("due")
    assert await cb.insert_tasks([due])
    assert await cb.claim_task(claim_request("due", default_lease_seconds=10.0)) is not None
    log = KeyLog(cb)
    expired = await cb.expired_tasks(NOW + 11, 10)
    log.stop()
    assert [t.task_id for t in expired] == [due.task_id]
    assert not [k for k in log.keys if "later" in k]
    assert len(log.keys) == 5  # leasedir, leases, leases::due, lease::due::{second}, the task


async def test_a_workers_lane_has_directories_of_its_own(cb: CouchbaseStore) -> None:
    """A task queued in a worker's own lane is counted in ``dir::{queue}::{lane}``, not in the
    queue's directory, which every claim of the queue reads (before: one counter per worker
    lane in it); so it moves the lane's stamp and not the queue's. Claims, counts and listings
    of the lane and of the queue still find it."""
    lane = "@w1"
    assert await cb.insert_tasks([task("q")])
    stamps = await cb.change_stamps(["q", lane])
    own = task("q", lane=lane)
    assert await cb.insert_tasks([own])
    queue_dir = await cb.kv.get(cb.index.dir_doc_key("q"))
    assert queue_dir is not None and not [k for k in queue_dir[0]["n"] if k.endswith(lane)]
    after = await cb.change_stamps(["q", lane])
    assert after["q"] == stamps["q"] and after[lane] != stamps[lane]
    assert (await cb.count_tasks(TaskFilter(queue="q"), NOW)).queued == 2
    assert (await cb.count_tasks(TaskFilter(queue="q", lane=lane), NOW)).queued == 1
    listed = await cb.list_tasks(TaskFilter(lane=lane), 10, None)
    assert [t.task_id for t in listed.tasks] == [own.task_id]
    claimed = await cb.claim_task(claim_request(lane, worker="w1"))
    assert claimed is not None and claimed.task_id == own.task_id
    assert (await cb.count_tasks(TaskFilter(queue="q"), NOW)).started == 1
