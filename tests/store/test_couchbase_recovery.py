"""Couchbase store: what cancellations, timeouts and dead writers leave behind is cleared by
whoever meets it, and the counters converge on the truth (issue 13, defect 1)."""

from __future__ import annotations

import asyncio
import dataclasses
import random
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import pytest

from resolvers.context import Context
from resolvers.errors import StoreUnavailable
from resolvers.models import StatsRow, Task, TaskFilter, TaskState
from resolvers.stats import flush_stats
from resolvers.stats_buffer import StatsBuffer, minute_of
from tests.conftest import couchbase_url
from tests.store.factories import NOW, claim_request, task

pytest.importorskip("acouchbase")

from couchbase import subdocument as SD

from app.store.couchbase import CouchbaseStore
from app.store.couchbase_claim import DIR_CACHE_SECONDS
from app.store.couchbase_codec import READY, entry_value
from app.store.couchbase_kv import path
from tests.couchbase_node.cancel import Canceller


@pytest.fixture
async def cb(couchbase_target: str, tmp_path: Path) -> AsyncIterator[CouchbaseStore]:
    store = await CouchbaseStore.open(couchbase_url(tmp_path))
    try:
        yield store
    finally:
        await store.close()


async def settle(store: CouchbaseStore) -> None:
    """Let steps whose callers left finish (a server does this by running on)."""
    finisher = getattr(store.index, "finisher", None)
    if finisher is not None:
        await finisher.drain()
    await asyncio.sleep(0.05)


async def truth(store: CouchbaseStore, tasks: list[Task]) -> Counter[str]:
    found = await store.get_tasks([t.task_id for t in tasks])
    return Counter(t.state.value for t in found.values())


async def counted(store: CouchbaseStore) -> Counter[str]:
    counts = await store.count_tasks(TaskFilter(queue="q"), NOW)
    return Counter({k: v for k, v in dataclasses.asdict(counts).items() if v})


async def test_cancelled_claims_leave_the_counts_true(cb: CouchbaseStore) -> None:
    """20 claim_tasks(64) cancelled part way (a push subscription closing): counts equal the
    tasks' states, and every task is still claimable or started by the claimer."""
    rng = random.Random(13)
    tasks = [task("q") for _ in range(2000)]
    assert all(await cb.insert_tasks(tasks))
    for _ in range(20):
        claim = asyncio.ensure_future(cb.claim_tasks(claim_request("q"), 64))
        await asyncio.sleep(rng.uniform(0.005, 0.15))
        claim.cancel()
        await asyncio.gather(claim, return_exceptions=True)
    await settle(cb)
    assert await counted(cb) == await truth(cb, tasks)


async def test_killed_push_workers_then_a_full_drain_counts_nothing_left(
    cb: CouchbaseStore,
) -> None:
    """15 push workers cut off mid-work (their claims and reports cancelled, their tasks
    released as the server does when one disconnects), then a full drain: nothing counted as
    queued or started, every task completed once."""
    rng = random.Random(15)
    tasks = [task("q") for _ in range(300)]
    assert all(await cb.insert_tasks(tasks))

    async def worker(name: str) -> None:
        while True:
            got = await cb.claim_tasks(claim_request("q", worker=name), 8)
            await asyncio.gather(
                *(
                    cb.replace_task(
                        dataclasses.replace(t, state=TaskState.COMPLETED, finished_at=NOW),
                        t.version,
                    )
                    for t in got
                )
            )

    for n in range(15):
        name = f"push{n}"
        running = asyncio.ensure_future(worker(name))
        await asyncio.sleep(rng.uniform(0.002, 0.03))
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)
        await settle(cb)
        await cb.release_tasks(name, NOW)
    while got := await cb.claim_tasks(claim_request("q", worker="drain"), 64):
        done = [dataclasses.replace(t, state=TaskState.COMPLETED, finished_at=NOW) for t in got]
        assert all(
            await asyncio.gather(
                *(cb.replace_task(d, t.version) for d, t in zip(done, got, strict=True))
            )
        )
    await settle(cb)
    assert await truth(cb, tasks) == Counter(completed=300)
    assert await counted(cb) == Counter(completed=300)


async def test_stale_entries_in_the_lowest_chunks_hide_no_ready_task(
    cb: CouchbaseStore, tmp_path: Path
) -> None:
    """Stale entries (their movers died before removing them) in the 14 lowest ready chunks,
    one ready task above them: a claim returns it, and the stale entries stop being counted."""
    moved = task("q")
    assert await cb.insert_tasks([moved])
    started = await cb.claim_task(claim_request("q"))
    assert started is not None and started.task_id == moved.task_id
    stored = await cb.tasks.read(moved.task_id)
    assert stored is not None
    stale = [
        (
            cb.index.place(
                dataclasses.replace(moved, seq=chunk * 64 + 1), READY, f"dead{chunk:08x}"
            ),
            {"t": moved.task_id, "s": chunk * 64 + 1, "r": NOW, "b": "gone"},
        )
        for chunk in range(14)
    ]
    await cb.index.add(stale)
    await cb.kv.incr(cb.kv.key("seq"), 14 * 64)
    # Published by another node (this one numbers from the block it took before the stale
    # entries were made), so it lands above them.
    ready = task("q")
    other = await CouchbaseStore.open(couchbase_url(tmp_path))
    try:
        assert await other.insert_tasks([ready])
    finally:
        await other.close()
    # Past the claims' memory of the directory (which, read before the stale entries were
    # made here, knows nothing of their chunks: a claim reads what it lists).
    await asyncio.sleep(DIR_CACHE_SECONDS)
    claimed = await cb.claim_task(claim_request("q"))
    assert claimed is not None and claimed.task_id == ready.task_id
    await settle(cb)
    assert await counted(cb) == Counter(started=2)


async def test_claims_never_wait_for_housekeeping(couchbase_target: str, tmp_path: Path) -> None:
    """Zero counters enough to prune in the directory every claim reads (issue 13, defect 2):
    a claim cancelled at each of its first awaits in turn, then at once a publish and claims,
    with a 0.5 s operation timeout: none fails or waits on a lock (a pruner cancelled while
    it held the directory locked made every write to it wait 2 s)."""
    store = await CouchbaseStore.open(couchbase_url(tmp_path) + "&timeout=0.5")
    try:
        for after in range(1, 7):
            queue = f"q{after}"
            zeros = [
                SD.upsert(path("n", f"w|{1000 + c}|{queue}"), 0, create_parents=True)
                for c in range(16)
            ]
            await store.kv.mutate(store.kv.key("dir", queue), zeros, create=True)
            canceller = Canceller(after=after)
            canceller.install(store.kv)
            try:
                await canceller.call(store.claim_task(claim_request(queue, worker="gone")))
            finally:
                canceller.enabled = False
            tasks = [task(queue) for _ in range(20)]
            assert all(await store.insert_tasks(tasks))
            claimed = await asyncio.gather(
                *(store.claim_task(claim_request(queue, worker=f"w{n}")) for n in range(20))
            )
            assert sorted(t.task_id for t in claimed if t) == sorted(t.task_id for t in tasks)
    finally:
        await store.close()


async def test_dead_writers_leftovers_are_cleared_by_the_readers_that_meet_them(
    cb: CouchbaseStore,
) -> None:
    """What a writer killed between two writes leaves is removed and uncounted by the next
    reader that meets it: an entry of a task never written (by a claim, once ORPHAN_SECONDS
    old), a stale entry (by a listing), and the held entry of a claim that never committed
    (by the lease reaper, once its lease bucket is due)."""
    kept = task("q")
    assert await cb.insert_tasks([kept])
    ghost = dataclasses.replace(task("q", created_at=NOW - 3600), seq=kept.seq)
    await cb.index.add(
        [(cb.index.place(ghost, READY, "dead00000001"), entry_value(ghost, READY, None))]
    )
    stored = await cb.tasks.read(kept.task_id)
    assert stored is not None
    stale = dataclasses.replace(stored.place(), ticket="dead00000002")
    await cb.index.add([(stale, {"t": kept.task_id, "s": kept.seq, "r": NOW, "b": "gone"})])
    assert (await counted(cb))["queued"] == 3
    listed = await cb.list_tasks(TaskFilter(queue="q"), 10, None)
    assert [t.task_id for t in listed.tasks] == [kept.task_id]
    await settle(cb)
    assert (await counted(cb))["queued"] == 2  # the stale one went; the orphan is pending
    # A claim whose writer died after indexing the started task, before its commit.
    started = dataclasses.replace(
        kept, state=TaskState.STARTED, worker_id="dead", started_at=NOW, lease_until=NOW + 1
    )
    await cb.index.hold(started, "dead00000003", stored.ticket)
    claimed = await cb.claim_task(claim_request("q", now=NOW + 2))
    assert claimed is not None and claimed.task_id == kept.task_id
    done = dataclasses.replace(claimed, state=TaskState.COMPLETED, finished_at=NOW + 2)
    assert await cb.replace_task(done, claimed.version)
    assert await cb.claim_task(claim_request("q", now=NOW + 2)) is None  # meets the orphan
    await settle(cb)
    assert await cb.expired_tasks(NOW + 5, 10) == []
    await settle(cb)
    assert await counted(cb) == Counter(completed=1)


async def test_a_statistics_flush_retried_after_an_ambiguous_failure_counts_once(
    cb: CouchbaseStore,
) -> None:
    """A flush whose write was applied but unanswered (a timeout) fails and hands its rows
    back; the next flush must not count them twice. Also a flush whose write was never
    applied, and one cancelled while in flight: each row is counted exactly once."""
    buffer = StatsBuffer()
    ctx = cast(Context, SimpleNamespace(stats=buffer, store=cb))
    real = cb.kv.mutate
    fault: list[str | None] = [None]  # what every statistics write of this flush meets

    async def flaky(key: str, specs: Any, **kw: Any) -> Any:
        if "::stats::" in key and fault[0] is not None:
            if fault[0] == "applied":
                await real(key, specs, **kw)
            raise StoreUnavailable("Couchbase mutate_in failed (AmbiguousTimeout)")
        return await real(key, specs, **kw)

    cb.kv.mutate = flaky  # type: ignore[method-assign]
    for fault[0] in ("applied", "lost", None):
        buffer.record("q", "published", NOW, 2)
        if fault[0] is not None:
            with pytest.raises(StoreUnavailable):
                await flush_stats(ctx)
        else:
            await flush_stats(ctx)
    buffer.record("q", "published", NOW, 2)
    flushing = asyncio.ensure_future(flush_stats(ctx))
    await asyncio.sleep(0)
    flushing.cancel()
    await asyncio.gather(flushing, return_exceptions=True)
    buffer.record("q", "published", NOW, 2)
    await flush_stats(ctx)
    assert buffer.drain() == []
    assert await cb.list_stats("q", NOW - 60, NOW + 60) == [
        StatsRow("q", minute_of(NOW), published=10)
    ]


async def test_a_failed_claim_does_not_lose_the_tasks_its_siblings_took(
    cb: CouchbaseStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """claim_tasks runs its claims concurrently: one that fails (a timeout) must not make the
    call raise and lose, started until their leases end, the tasks the others took."""
    tasks = [task("q") for _ in range(3)]
    assert all(await cb.insert_tasks(tasks))
    real = cb.claimer.claim
    calls = []

    async def claim(request: Any) -> Any:
        calls.append(1)
        if len(calls) == 1:
            raise StoreUnavailable("Couchbase get failed (UnAmbiguousTimeout)")
        return await real(request)

    monkeypatch.setattr(cb.claimer, "claim", claim)
    got = await cb.claim_tasks(claim_request("q", worker="w"), 3)
    monkeypatch.setattr(cb.claimer, "claim", real)
    started = {
        t.task_id
        for t in (await cb.get_tasks([t.task_id for t in tasks])).values()
        if t.state is TaskState.STARTED
    }
    assert len(got) == 2 and {t.task_id for t in got} == started
    calls.clear()
    monkeypatch.setattr(cb.claimer, "claim", claim)
    with pytest.raises(StoreUnavailable):  # every claim failed: that is an error
        await cb.claim_tasks(claim_request("q", worker="w"), 1)


async def test_a_counter_that_lost_an_update_is_corrected_once_across_nodes(
    cb: CouchbaseStore, tmp_path: Path
) -> None:
    """An entry removed whose decrement was lost (a timeout): the counter runs ahead of its
    chunk. Readers on two nodes see it apart, twice, settle apart and unchanged: the counter
    is corrected once, not by each node."""
    other = await CouchbaseStore.open(couchbase_url(tmp_path))
    try:
        kept, lost = task("q"), task("q")
        assert await cb.insert_tasks([kept, lost])
        stored = await cb.tasks.read(lost.task_id)
        assert stored is not None
        place = stored.place()
        assert await cb.kv.remove(cb.tasks.key(lost.task_id))
        await cb.kv.mutate(
            cb.index.chunk_key(place.stream, place.chunk), [SD.remove(path(place.ticket))]
        )
        assert (await counted(cb))["queued"] == 2
        for store in (cb, other):
            store.index.settle = 0.05
        for store in (cb, other):
            await store.list_tasks(TaskFilter(queue="q"), 10, None)
        await asyncio.sleep(0.1)
        # Both nodes see it apart again, at once: both want to correct it.
        await asyncio.gather(
            *(store.list_tasks(TaskFilter(queue="q"), 10, None) for store in (cb, other))
        )
        for store in (cb, other):
            await settle(store)
        assert (await counted(cb))["queued"] == 1
    finally:
        await other.close()
