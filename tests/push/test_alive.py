"""A live push subscription counts as its worker being alive: an idle subscriber is not
reaped by the worker timeout, however short, nor by this node's reaper when its last touch
is late (a node too busy to run the subscription on time)."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator

import pytest
from asgi_lifespan import LifespanManager

from app.asgi import create_app
from app.settings import Settings
from resolvers.context import Context
from resolvers.errors import WorkerNotFound
from resolvers.interests import set_interests
from resolvers.leases import reap_silent_workers
from resolvers.publish import publish
from resolvers.push import push_tasks
from resolvers.store import Store
from resolvers.workers import delete_worker, register_worker

TIMEOUT = 0.6


@pytest.fixture
async def ctx(store: Store) -> AsyncIterator[Context]:
    settings = Settings(queue_cache_seconds=0, worker_timeout_seconds=TIMEOUT)
    app = create_app(settings, store=store, start_duties=False)
    async with LifespanManager(app):
        await set_interests(app.state.ctx, "q", "*")
        yield app.state.ctx


async def test_an_idle_subscriber_outlives_the_worker_timeout(ctx: Context) -> None:
    worker = await register_worker(ctx, queues=["q"])
    stream = push_tasks(ctx, worker.worker_id, 1)
    waiting = asyncio.ensure_future(anext(stream))
    try:
        for _ in range(8):
            await asyncio.sleep(TIMEOUT / 2)
            assert await reap_silent_workers(ctx) == 0
        published = (await publish(ctx, publisher="t", data={})).tasks[0]
        assert (await asyncio.wait_for(waiting, 5)).task_id == published.task_id
    finally:
        waiting.cancel()
        await asyncio.gather(waiting, return_exceptions=True)
        await stream.aclose()


async def test_the_reaper_spares_a_worker_subscribed_here(ctx: Context) -> None:
    worker = await register_worker(ctx, queues=["q"])
    gone = await register_worker(ctx, queues=["q"])
    stream = push_tasks(ctx, worker.worker_id, 1)
    waiting = asyncio.ensure_future(anext(stream))
    try:
        await asyncio.sleep(0.1)
        # The reaper runs late: both look silent for longer than the timeout.
        later = ctx.clock() + 10 * TIMEOUT
        assert await reap_silent_workers(dataclasses.replace(ctx, clock=lambda: later)) == 1
        assert await ctx.store.get_worker(worker.worker_id) is not None
        assert await ctx.store.get_worker(gone.worker_id) is None
    finally:
        waiting.cancel()
        await asyncio.gather(waiting, return_exceptions=True)
        await stream.aclose()


async def test_removing_a_worker_ends_its_idle_subscription_here_at_once(store: Store) -> None:
    # The default worker timeout: an idle subscriber sleeps up to 20 s between looks.
    app = create_app(Settings(queue_cache_seconds=0), store=store, start_duties=False)
    async with LifespanManager(app):
        ctx = app.state.ctx
        worker = await register_worker(ctx, queues=["q"])
        stream = push_tasks(ctx, worker.worker_id, 1)
        waiting = asyncio.ensure_future(anext(stream))
        try:
            await asyncio.sleep(1.2)  # past the touch throttle: the next touch writes
            assert await delete_worker(ctx, worker.worker_id) == 1
            with pytest.raises(WorkerNotFound):
                await asyncio.wait_for(waiting, 2)
        finally:
            waiting.cancel()
            await asyncio.gather(waiting, return_exceptions=True)
            await stream.aclose()
