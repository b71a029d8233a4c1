"""The per-node copy of the queue records: trusted for at most max_age, and a queue change is
acknowledged only after max_age, so that every publish starting after the acknowledgement
sees it on every node. Two nodes here are two store objects (two sets of connections) over one
SQLite file, each with its own cache, as two server processes would have."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from app.store.sqlite import SqliteStore
from resolvers import interests, publish, queues
from resolvers.context import Context
from resolvers.models import QueueSettings
from resolvers.queue_cache import QueueCache


class Ticks:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def stores(tmp_path: Path) -> AsyncIterator[tuple[SqliteStore, SqliteStore]]:
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    a = await SqliteStore.open(url)
    b = await SqliteStore.open(url)
    yield a, b
    await a.close()
    await b.close()


async def test_a_copy_is_trusted_for_max_age_then_revalidated(
    stores: tuple[SqliteStore, SqliteStore],
) -> None:
    a, b = stores
    ticks = Ticks()
    cache = QueueCache(max_age=1.0, monotonic=ticks)
    assert (await cache.current(b)).queues == {}
    await a.put_interests("q", "*", 0.0, QueueSettings())
    ticks.now += 0.5
    assert "q" not in (await cache.current(b)).queues  # trusted: no read
    ticks.now += 0.6
    assert "q" in (await cache.current(b)).queues  # older than max_age: revalidated


async def test_without_max_age_every_use_reads_the_stamp(
    stores: tuple[SqliteStore, SqliteStore],
) -> None:
    a, b = stores
    cache = QueueCache(max_age=0.0)
    assert (await cache.current(b)).queues == {}
    await a.put_interests("q", "*", 0.0, QueueSettings())
    assert "q" in (await cache.current(b)).queues


async def test_an_acknowledged_change_is_seen_by_the_next_publish_on_another_node(
    stores: tuple[SqliteStore, SqliteStore],
) -> None:
    a, b = stores
    node_a = Context(store=a, queue_cache=QueueCache(max_age=0.2))
    node_b = Context(store=b, queue_cache=QueueCache(max_age=0.2))
    await interests.set_interests(node_a, "old", "*")
    first = await publish.publish(node_b, publisher="p", data={"n": 1})
    assert [t.queue for t in first.tasks] == ["old"]  # node B's copy is now fresh

    started = time.monotonic()
    await interests.set_interests(node_a, "new", "*")
    await queues.pause_queue(node_a, "old")
    # Each change was acknowledged only after B's copy could no longer be trusted...
    assert time.monotonic() - started >= 0.4
    # ...so B's very next publish sees both, though B was never told.
    second = await publish.publish(node_b, publisher="p", data={"n": 2})
    assert sorted(t.queue for t in second.tasks) == ["new", "old"]
    assert (await node_b.queue_cache.current(b)).paused == frozenset({"old"})


async def test_a_change_is_seen_on_its_own_node_before_it_is_acknowledged(
    stores: tuple[SqliteStore, SqliteStore],
) -> None:
    a, _ = stores
    node = Context(store=a, queue_cache=QueueCache(max_age=0.5))
    assert (await node.queue_cache.current(a)).queues == {}
    change = asyncio.ensure_future(interests.set_interests(node, "q", "*"))
    started = time.monotonic()
    while "q" not in (await node.queue_cache.current(a)).queues:
        assert time.monotonic() - started < 0.3, "the local copy was not dropped"
        await asyncio.sleep(0.01)
    assert not change.done()  # still waiting out the other nodes' copies
    await change
