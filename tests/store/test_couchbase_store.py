"""What is particular to the Couchbase store (the contract suite covers the rest): its URL, the
missing SDK, SDK errors translated at the boundary, and what a crash can leave behind."""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from app.store import open_store
from resolvers.errors import StoreUnavailable
from resolvers.models import TaskFilter, TaskState
from tests.conftest import NODE_PASSWORD, NODE_USER, couchbase_url
from tests.store.factories import NOW, claim_request, task

pytest.importorskip("acouchbase")

from app.store.couchbase import CouchbaseStore
from app.store.couchbase_codec import READY, entry_value
from app.store.couchbase_kv import CouchbaseConfig
from app.store.couchbase_repair import repair


def test_open_store_without_the_sdk_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(sys.modules):
        if name.split(".")[0] in ("couchbase", "acouchbase") or name.startswith(
            "app.store.couchbase"
        ):
            monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "acouchbase", None)
    monkeypatch.setitem(sys.modules, "couchbase", None)
    with pytest.raises(ImportError, match=r"pip install 'couchqueue\[couchbase\]'"):
        import asyncio

        asyncio.run(open_store("couchbase://127.0.0.1/bucket?user=u&password=p"))


def test_url_settings() -> None:
    env = {"COUCHQUEUE_COUCHBASE_USER": "env-user", "COUCHQUEUE_COUCHBASE_PASSWORD": "env-pw"}
    config = CouchbaseConfig.from_url(
        "couchbase://db.example:11210/jobs?prefix=cq2&durability=majority&timeout=1.5"
        "&scope=app&collection=queue",
        env,
    )
    assert config.connection == "couchbase://db.example:11210"
    assert (config.bucket, config.prefix, config.durability) == ("jobs", "cq2", "majority")
    assert (config.scope, config.collection, config.timeout) == ("app", "queue", 1.5)
    assert (config.username, config.password) == ("env-user", "env-pw")
    inline = CouchbaseConfig.from_url("couchbases://u:p%40ss@db1,db2/jobs", env)
    assert inline.connection == "couchbases://db1,db2"
    assert (inline.username, inline.password) == ("u", "p@ss")
    assert (inline.prefix, inline.durability, inline.scope) == ("cq", "none", "_default")


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("couchbase://db", "names no bucket"),
        ("couchbase://db/jobs?durability=all", "durability"),
        ("couchbase://db/jobs?timeout=soon", "timeout"),
        ("couchbase://db/jobs?prefx=a", "unknown Couchbase URL parameter"),
        ("couchbase://db/jobs?prefix=a::b", "prefix"),
    ],
)
def test_bad_urls_are_refused(url: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        CouchbaseConfig.from_url(url, {"COUCHQUEUE_COUCHBASE_USER": "u"})


def test_a_url_without_credentials_is_refused() -> None:
    with pytest.raises(ValueError, match="COUCHQUEUE_COUCHBASE_USER"):
        CouchbaseConfig.from_url("couchbase://db/jobs", {})


async def test_an_unreachable_server_is_store_unavailable() -> None:
    url = f"couchbase://127.0.0.1:1/b?user={NODE_USER}&password={NODE_PASSWORD}&connect_timeout=1"
    with pytest.raises(StoreUnavailable):
        await CouchbaseStore.open(url)


async def test_sdk_errors_become_store_unavailable(tmp_path: Path) -> None:
    """A node that goes away mid-session: every operation answers StoreUnavailable (an SDK
    timeout or a closed connection), none leaks an SDK exception."""
    from tests.couchbase_node.launcher import start_node, stop_node

    process, port = start_node("b", NODE_USER, NODE_PASSWORD)
    try:
        url = f"couchbase://127.0.0.1:{port}/b?user={NODE_USER}&password={NODE_PASSWORD}"
        store = await CouchbaseStore.open(url + "&timeout=0.5")
        await store.insert_tasks([task()])
    finally:
        stop_node(process)
    try:
        with pytest.raises(StoreUnavailable):
            await store.get_task("t")
        with pytest.raises(StoreUnavailable):
            await store.claim_task(claim_request("q"))
        with pytest.raises(StoreUnavailable):
            await store.queues_version()
    finally:
        await store.close()


@pytest.fixture
async def cb(couchbase_target: str, tmp_path: Path) -> AsyncIterator[CouchbaseStore]:
    store = await CouchbaseStore.open(couchbase_url(tmp_path))
    try:
        yield store
    finally:
        await store.close()


async def test_durability_majority_is_accepted(couchbase_target: str, tmp_path: Path) -> None:
    store = await CouchbaseStore.open(couchbase_url(tmp_path) + "&durability=majority")
    try:
        assert await store.insert_tasks([task()]) == [True]
    finally:
        await store.close()


async def test_crash_leftovers_hide_no_task_and_repair_recounts(cb: CouchbaseStore) -> None:
    """A publisher that died after writing its index entry, before its task; a mover that
    died after adding its new entry, before (or after) its CAS: readers skip those entries,
    the claim that meets the stale one removes it, the orphan waits for the repair pass, and
    no task is hidden."""
    kept, moved = task(), task()
    assert await cb.insert_tasks([kept, moved]) == [True, True]
    # The orphan entry of a task never written (a publisher killed between two writes).
    ghost = dataclasses.replace(task(), seq=kept.seq)
    place = cb.index.place(ghost, READY, "deadbeef0001")
    await cb.index.add([(place, entry_value(ghost, READY, None) | {"r": NOW - 3600})])
    # A stale entry: the task moved on, and the writer died before removing its old entry.
    stored = await cb.tasks.read(moved.task_id)
    assert stored is not None
    stale_place = stored.place()
    await cb.index.add(
        [
            (
                dataclasses.replace(stale_place, ticket="deadbeef0002"),
                {"t": moved.task_id, "s": moved.seq, "r": NOW, "b": "gone"},
            )
        ]
    )
    counts = await cb.count_tasks(TaskFilter(queue="q"), NOW)
    assert counts.queued == 4  # two real tasks, two leftovers counted
    first = await cb.claim_task(claim_request("q"))
    second = await cb.claim_task(claim_request("q"))
    assert {first.task_id if first else None, second.task_id if second else None} == {
        kept.task_id,
        moved.task_id,
    }
    assert await cb.claim_task(claim_request("q")) is None
    listed = await cb.list_tasks(TaskFilter(queue="q"), 10, None)
    assert sorted(t.task_id for t in listed.tasks) == sorted([kept.task_id, moved.task_id])
    await cb.index.finisher.drain()
    assert (await cb.count_tasks(TaskFilter(queue="q"), NOW)).queued == 1  # the orphan
    report = await repair(cb, NOW)
    assert report.stale_removed == 1
    counts = await cb.count_tasks(TaskFilter(queue="q"), NOW)
    assert (counts.queued, counts.started) == (0, 2)
    assert (await cb.count_tasks(TaskFilter(), NOW)).started == 2
    assert {t.state for t in listed.tasks} == {TaskState.STARTED}


async def test_a_waiting_unique_task_moved_in_place_keeps_its_uniqueness(
    cb: CouchbaseStore,
) -> None:
    """runTaskNow rewrites a waiting task (QUEUED to QUEUED): its unique key document moves
    with it, so a duplicate is still skipped, and it is released when the task is claimed."""
    first = task(singularly_enqueue=True, identity="k", run_at=NOW + 60)
    assert await cb.insert_tasks([first]) == [True]
    now_ready = dataclasses.replace(first, run_at=NOW)
    assert not await cb.replace_task(dataclasses.replace(now_ready), first.version + 1)
    assert await cb.replace_task(now_ready, first.version)
    assert await cb.insert_tasks([task(singularly_enqueue=True, identity="k")]) == [False]
    claimed = await cb.claim_task(claim_request("q"))
    assert claimed is not None and claimed.task_id == first.task_id
    assert await cb.insert_tasks([task(singularly_enqueue=True, identity="k")]) == [True]
