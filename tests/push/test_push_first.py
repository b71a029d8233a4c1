"""A publish lets the subscribers it wakes on its node push the task before it answers."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from asgi_lifespan import LifespanManager

from app.asgi import create_app
from app.settings import Settings
from app.store.sqlite import SqliteStore
from resolvers.context import Context
from resolvers.interests import set_interests
from resolvers.publish import publish
from resolvers.push import push_tasks
from resolvers.workers import register_worker


@pytest.fixture
async def ctx(tmp_path: Path) -> AsyncIterator[Context]:
    # SQLite: its claim runs on the event loop, so the whole push fits in the turn the
    # publish gives its subscribers (over Couchbase the claim waits on the network instead).
    store = await SqliteStore.open(f"sqlite:///{tmp_path / 'q.db'}")
    app = create_app(Settings(queue_cache_seconds=0), store=store, start_duties=False)
    async with LifespanManager(app):
        yield app.state.ctx
    await store.close()


async def test_the_woken_subscriber_has_the_task_when_the_publish_returns(ctx: Context) -> None:
    await set_interests(ctx, "q", "*")
    worker = await register_worker(ctx, queues=["q"])
    received: list[str] = []

    async def subscriber() -> None:
        async for task in push_tasks(ctx, worker.worker_id, 5):
            received.append(task.task_id)

    running = asyncio.create_task(subscriber())
    try:
        await asyncio.sleep(0.05)  # subscribed, nothing to claim: waiting
        for n in range(3):
            result = await publish(ctx, publisher="t", data={"n": n})
            assert received[-1:] == [result.tasks[0].task_id]
    finally:
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)


async def test_a_publish_nobody_waits_for_is_answered_without_yielding(ctx: Context) -> None:
    await set_interests(ctx, "q", "*")
    assert ctx.notifier.lanes_changed(["q"]) == 0
    worker = await register_worker(ctx, queues=["q"])
    with ctx.notifier.subscribe(worker.worker_id, ["q"]) as alarm:
        waiting = asyncio.ensure_future(alarm.wait(5))
        await asyncio.sleep(0)
        # Two lanes of one subscriber wake it once.
        assert ctx.notifier.lanes_changed(["q", "q"]) == 1
        await asyncio.wait_for(waiting, 1)
