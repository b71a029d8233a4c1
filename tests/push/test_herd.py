"""No thundering herd: a publish wakes only the push subscribers that can take its task, and
another node's writes wake only the lanes they concern (and nobody for claims, reports and
signs of life). Wake-ups are counted by the node's notifier (LocalNotifier.woken)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path

import pytest
from asgi_lifespan import LifespanManager

from app import notify
from app.asgi import create_app
from app.notify import ChangeWatcher, LocalEvents, LocalNotifier
from app.settings import Settings
from resolvers.context import Context
from resolvers.interests import set_interests
from resolvers.leases import touch
from resolvers.models import Task
from resolvers.publish import publish, publish_events, validate_event
from resolvers.push import push_tasks
from resolvers.reports import report
from resolvers.store import Store
from resolvers.tasks import claim
from resolvers.workers import register_worker
from tests.store.test_contract import open_backend_like

SUBSCRIBERS = 30


@asynccontextmanager
async def node(store: Store) -> AsyncIterator[Context]:
    app = create_app(Settings(queue_cache_seconds=0), store=store, start_duties=False)
    async with LifespanManager(app):
        yield app.state.ctx


class Subscribers:
    """Push subscriptions of prefetch 1, each waiting for its next task."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.waiting: dict[str, asyncio.Future[Task]] = {}

    async def add(self, worker_id: str, stack: AsyncExitStack) -> None:
        stream = push_tasks(self.ctx, worker_id, 1)
        future = asyncio.ensure_future(anext(stream))

        async def end() -> None:
            future.cancel()
            await asyncio.gather(future, return_exceptions=True)
            await stream.aclose()

        stack.push_async_callback(end)
        self.waiting[worker_id] = future

    async def all_asleep(self, lanes: list[str]) -> None:
        notifier = self.ctx.notifier
        assert isinstance(notifier, LocalNotifier)
        for _ in range(500):
            if sum(notifier.idle_on(lane) for lane in lanes) >= len(self.waiting):
                return
            await asyncio.sleep(0.01)
        raise AssertionError("the subscribers never all went to sleep")

    async def delivered(self) -> dict[str, Task]:
        await asyncio.sleep(0.2)
        return {w: f.result() for w, f in self.waiting.items() if f.done()}


def woken(ctx: Context) -> int:
    assert isinstance(ctx.notifier, LocalNotifier)
    return ctx.notifier.woken


async def test_a_publish_on_a_shared_queue_wakes_one_subscriber(store: Store) -> None:
    async with node(store) as ctx, AsyncExitStack() as stack:
        await set_interests(ctx, "q", "*")
        subscribers = Subscribers(ctx)
        for _ in range(SUBSCRIBERS):
            await subscribers.add((await register_worker(ctx, queues=["q"])).worker_id, stack)
        await subscribers.all_asleep(["q"])
        before = woken(ctx)
        published = (await publish(ctx, publisher="t", data={})).tasks[0]
        got = await subscribers.delivered()
        assert [task.task_id for task in got.values()] == [published.task_id]
        assert woken(ctx) - before == 1
        # Two at once: two woken, each takes one.
        before = woken(ctx)
        await publish(ctx, publisher="t", data={"n": 1})
        await publish(ctx, publisher="t", data={"n": 2})
        assert len(await subscribers.delivered()) == 3
        assert woken(ctx) - before == 2


async def test_a_publish_to_a_workers_own_queue_wakes_that_worker(store: Store) -> None:
    async with node(store) as ctx, AsyncExitStack() as stack:
        subscribers = Subscribers(ctx)
        queues = [f"q{i}" for i in range(SUBSCRIBERS)]
        for i, queue in enumerate(queues):
            await set_interests(ctx, queue, {"to": f"^{i}$"})
            await subscribers.add((await register_worker(ctx, queues=[queue])).worker_id, stack)
        await subscribers.all_asleep(queues)
        before = woken(ctx)
        published = (await publish(ctx, publisher="t", data={"to": 7})).tasks[0]
        got = await subscribers.delivered()
        assert [(task.task_id, task.queue) for task in got.values()] == [(published.task_id, "q7")]
        assert woken(ctx) - before == 1


async def test_another_nodes_writes_wake_only_what_they_concern(
    store: Store, tmp_path: Path
) -> None:
    other_store = await open_backend_like(store, tmp_path)
    try:
        async with node(store) as ctx, node(other_store) as other, AsyncExitStack() as stack:
            for queue in ("q", "r"):
                await set_interests(other, queue, {"to": f"^{queue}$"})
            subscribers = Subscribers(ctx)
            queue_of: dict[str, str] = {}
            for queue in ("q", "r"):
                for _ in range(SUBSCRIBERS // 2):
                    worker = await register_worker(ctx, queues=[queue])
                    queue_of[worker.worker_id] = queue
                    await subscribers.add(worker.worker_id, stack)
            await subscribers.all_asleep(["q", "r"])
            watcher = ChangeWatcher(ctx.notifier, LocalEvents())  # type: ignore[arg-type]
            await watcher(ctx)  # the baseline
            before = woken(ctx)
            # Another node publishes a task and its worker there takes it, reports it and
            # lives on: nobody here is woken.
            elsewhere = await register_worker(other, queues=["q"])
            first = (await publish(other, publisher="t", data={"to": "q"})).tasks[0]
            claimed = await claim(other, elsewhere.worker_id)
            assert claimed is not None and claimed.task_id == first.task_id
            await watcher(ctx)
            await report(
                other, worker_id=elsewhere.worker_id, task_id=first.task_id, state="complete"
            )
            await touch(other, elsewhere, force=True)
            await watcher(ctx)
            assert woken(ctx) - before == 0
            # A task published there for q wakes one subscriber here, one of q's.
            second = (await publish(other, publisher="t", data={"to": "q"})).tasks[0]
            await watcher(ctx)
            assert woken(ctx) - before == 1
            got = await subscribers.delivered()
            assert [task.task_id for task in got.values()] == [second.task_id]
            assert queue_of[next(iter(got))] == "q"
    finally:
        await other_store.close()


async def test_a_batch_wakes_one_subscriber_per_task_beyond_the_offers(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A publish hands tasks to at most OFFERS_PER_LANE waiting subscribers; the rest of the
    # batch wakes as many others, who claim for themselves.
    monkeypatch.setattr(notify, "OFFERS_PER_LANE", 3)
    async with node(store) as ctx, AsyncExitStack() as stack:
        await set_interests(ctx, "q", "*")
        subscribers = Subscribers(ctx)
        for _ in range(SUBSCRIBERS):
            await subscribers.add((await register_worker(ctx, queues=["q"])).worker_id, stack)
        await subscribers.all_asleep(["q"])
        before = woken(ctx)
        events = [validate_event(ctx, publisher="t", data={"n": n}) for n in range(10)]
        results = await publish_events(ctx, events)
        published = sorted(r.tasks[0].task_id for r in results)
        got = await subscribers.delivered()
        assert sorted(task.task_id for task in got.values()) == published
        # Those that claim first may see the others' tasks still there and pass the ring on:
        # a few more than ten, never all thirty.
        assert 10 <= woken(ctx) - before < 20
