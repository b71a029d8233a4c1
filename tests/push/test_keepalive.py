"""An open push subscription keeps alive the leases of the tasks it holds, and only those."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from asgi_lifespan import LifespanManager

from app.asgi import create_app
from app.settings import Settings
from resolvers.context import Context
from resolvers.interests import set_interests
from resolvers.leases import reap_expired_leases
from resolvers.models import TaskState
from resolvers.publish import publish
from resolvers.push import push_tasks
from resolvers.queues import configure_queue
from resolvers.store import Store
from resolvers.tasks import claim
from resolvers.workers import register_worker


@pytest.fixture
async def ctx(store: Store) -> AsyncIterator[Context]:
    app = create_app(Settings(queue_cache_seconds=0), store=store, start_duties=False)
    async with LifespanManager(app):
        await set_interests(app.state.ctx, "q", "*")
        # The shortest lease allowed: the subscription extends it every third of a second.
        await configure_queue(app.state.ctx, "q", lease_seconds=1)
        yield app.state.ctx


async def test_an_open_subscription_extends_the_leases_it_holds(ctx: Context) -> None:
    worker = await register_worker(ctx, queues=["q"])
    pushed = (await publish(ctx, publisher="t", data={"n": 1})).tasks[0].task_id
    left = (await publish(ctx, publisher="t", data={"n": 2})).tasks[0].task_id
    stream = push_tasks(ctx, worker.worker_id, 1)
    first = await asyncio.wait_for(anext(stream), 5)
    assert first.task_id == pushed
    # Claimed by the same worker by polling: not the subscription's, so not kept alive by it.
    polled = await claim(ctx, worker.worker_id)
    assert polled is not None and polled.task_id == left
    waiting = asyncio.ensure_future(anext(stream))
    try:
        await asyncio.sleep(2.5)
        assert await reap_expired_leases(ctx) == 1
        held = await ctx.store.get_task(pushed)
        assert held is not None
        assert (held.state, held.worker_id, held.attempts) == (
            TaskState.STARTED,
            worker.worker_id,
            0,
        )
        assert held.lease_until is not None and held.lease_until > ctx.clock()
        lost = await ctx.store.get_task(left)
        assert lost is not None and (lost.state, lost.attempts) == (TaskState.QUEUED, 1)
    finally:
        waiting.cancel()
        await asyncio.gather(waiting, return_exceptions=True)
        await stream.aclose()
