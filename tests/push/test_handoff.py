"""Hand-off: a publish claims its task for a push subscriber waiting on its node, in the write
that inserts it, and the subscriber pushes it before the publisher is answered."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from asgi_lifespan import LifespanManager

from app.asgi import create_app
from app.settings import Settings
from app.store.sqlite import SqliteStore
from resolvers.batch import publish_many
from resolvers.context import Context
from resolvers.errors import StoreUnavailable
from resolvers.handoff import Offer
from resolvers.interests import set_interests
from resolvers.leases import DISCONNECTED
from resolvers.models import ClaimRequest, Task, TaskState, Worker
from resolvers.publish import publish
from resolvers.push import push_tasks
from resolvers.queues import configure_queue
from resolvers.workers import register_worker


class GatedStore(SqliteStore):
    """Holds every insert_and_claim at a gate, to let a test act while a publish writes."""

    gate: asyncio.Event
    arrived: asyncio.Event
    release_fails = False

    async def insert_and_claim(
        self, tasks: Sequence[Task], claims: Sequence[tuple[ClaimRequest, int]]
    ) -> tuple[list[bool], list[list[Task]]]:
        self.arrived.set()
        await self.gate.wait()
        return await super().insert_and_claim(tasks, claims)

    async def release_tasks(
        self, worker_id: str, now: float, task_ids: Sequence[str] | None = None
    ) -> list[Task]:
        if self.release_fails:
            raise StoreUnavailable("the store went away")
        return await super().release_tasks(worker_id, now, task_ids)


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[GatedStore]:
    # SQLite: its claim runs on the event loop, so the whole push fits in the turn the
    # publish gives its subscribers (over Couchbase the claim waits on the network instead).
    opened = await GatedStore.open(f"sqlite:///{tmp_path / 'q.db'}")
    assert isinstance(opened, GatedStore)
    opened.gate, opened.arrived = asyncio.Event(), asyncio.Event()
    opened.gate.set()
    yield opened
    await opened.close()


@pytest.fixture
async def ctx(store: GatedStore) -> AsyncIterator[Context]:
    app = create_app(Settings(queue_cache_seconds=0), store=store, start_duties=False)
    async with LifespanManager(app):
        await set_interests(app.state.ctx, "q", "*")
        yield app.state.ctx


class Subscriber:
    """push_tasks consumed in the background, as the websocket transport does. ``vanish``
    ends it as a dropped socket does (rather than as an unsubscribe)."""

    def __init__(self, ctx: Context, worker_id: str, prefetch: int) -> None:
        self.received: list[str] = []
        self._vanished = False
        self._task = asyncio.create_task(self._run(ctx, worker_id, prefetch))

    async def _run(self, ctx: Context, worker_id: str, prefetch: int) -> None:
        async for task in push_tasks(ctx, worker_id, prefetch, vanished=lambda: self._vanished):
            self.received.append(task.task_id)

    async def close(self) -> None:
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)

    async def vanish(self) -> None:
        self._vanished = True
        await self.close()


async def state_of(ctx: Context, task_id: str) -> tuple[Any, ...]:
    task = await ctx.store.get_task(task_id)
    assert task is not None
    return task.state, task.worker_id, task.attempts


async def test_the_subscriber_has_the_task_when_the_publish_returns(ctx: Context) -> None:
    worker = await register_worker(ctx, queues=["q"])
    subscriber = Subscriber(ctx, worker.worker_id, 5)
    try:
        await asyncio.sleep(0.05)  # subscribed, nothing to claim: waiting
        for n in range(3):
            result = await publish(ctx, publisher="t", data={"n": n})
            task_id = result.tasks[0].task_id
            assert subscriber.received[-1:] == [task_id]
            assert await state_of(ctx, task_id) == (TaskState.STARTED, worker.worker_id, 0)
    finally:
        await subscriber.close()


async def test_a_batch_hands_over_no_more_than_the_free_slots(ctx: Context) -> None:
    worker = await register_worker(ctx, queues=["q"])
    subscriber = Subscriber(ctx, worker.worker_id, 2)
    try:
        await asyncio.sleep(0.05)
        outcomes = await publish_many(ctx, [{"publisher": "t", "data": {"n": n}} for n in range(5)])
        ids = [outcome.value.tasks[0].task_id for outcome in outcomes if outcome.value]
        assert subscriber.received == ids[:2]
        states = [(await state_of(ctx, task_id))[0] for task_id in ids]
        assert states == [TaskState.STARTED] * 2 + [TaskState.QUEUED] * 3
    finally:
        await subscriber.close()


async def test_two_publishes_at_once_stay_within_the_prefetch(
    ctx: Context, store: GatedStore
) -> None:
    worker = await register_worker(ctx, queues=["q"])
    subscriber = Subscriber(ctx, worker.worker_id, 1)
    try:
        await asyncio.sleep(0.05)
        store.gate.clear()
        first = asyncio.create_task(publish(ctx, publisher="t", data={"n": 1}))
        await store.arrived.wait()  # the first holds the only slot, and writes
        second = await publish(ctx, publisher="t", data={"n": 2})
        store.gate.set()
        handed = (await first).tasks[0].task_id
        await asyncio.sleep(0.05)
        assert subscriber.received == [handed]
        assert (await state_of(ctx, second.tasks[0].task_id))[0] is TaskState.QUEUED
    finally:
        await subscriber.close()


async def publish_as_subscriber_leaves(ctx: Context, store: GatedStore) -> tuple[str, str]:
    """(worker id, task id) of a publish whose subscriber closed while the publish wrote the
    task claimed for it."""
    worker = await register_worker(ctx, queues=["q"])
    subscriber = Subscriber(ctx, worker.worker_id, 3)
    await asyncio.sleep(0.05)
    store.gate.clear()
    publishing = asyncio.create_task(publish(ctx, publisher="t", data={"n": 1}))
    await store.arrived.wait()
    await subscriber.vanish()
    assert subscriber.received == []
    store.gate.set()
    return worker.worker_id, (await publishing).tasks[0].task_id


async def test_a_subscriber_gone_while_the_publish_writes_gets_nothing(
    ctx: Context, store: GatedStore
) -> None:
    _, task_id = await publish_as_subscriber_leaves(ctx, store)
    # Claimed for it in the write, then given back at once: never sent, no attempt counted,
    # though its subscriber vanished.
    assert await state_of(ctx, task_id) == (TaskState.QUEUED, None, 0)


async def test_a_handed_task_counts_a_delivery_when_its_subscriber_vanishes(ctx: Context) -> None:
    await configure_queue(ctx, "q", max_deliveries=2)
    worker = await register_worker(ctx, queues=["q"])
    task_id = ""
    for delivery in (1, 2):
        subscriber = Subscriber(ctx, worker.worker_id, 1)
        # The first time it waits, and the publish hands its task over; the second time the
        # task is back in the queue, and it claims it itself.
        await asyncio.sleep(0.05)
        if delivery == 1:
            task_id = (await publish(ctx, publisher="t", data={})).tasks[0].task_id
        assert subscriber.received == [task_id]
        await subscriber.vanish()
    task = await ctx.store.get_task(task_id)
    assert task is not None
    assert (task.state, task.attempts) == (TaskState.FAILED, 2)
    assert task.fail_reason == f"{DISCONNECTED.reason} (2 deliveries)"
    assert [f.reason for f in task.failures] == [DISCONNECTED.reason, task.fail_reason]


async def test_a_subscriber_that_ends_cleanly_gives_its_handed_task_back_uncounted(
    ctx: Context,
) -> None:
    worker = await register_worker(ctx, queues=["q"])
    subscriber = Subscriber(ctx, worker.worker_id, 1)
    await asyncio.sleep(0.05)
    task_id = (await publish(ctx, publisher="t", data={})).tasks[0].task_id
    assert subscriber.received == [task_id]
    await subscriber.close()
    assert await state_of(ctx, task_id) == (TaskState.QUEUED, None, 0)


def test_an_offer_counts_reserved_and_handed_slots_as_taken() -> None:
    worker = Worker(worker_id="w", queues=["q"])
    offer = Offer(worker)
    offer.stand(3)
    assert offer.reserve(2) == 2 and offer.reserve(5) == 1 and offer.reserve(1) == 0
    one = Task(
        task_id="t",
        event_id="e",
        queue="q",
        lane="q",
        publisher="p",
        data={},
        run_at=0.0,
        created_at=0.0,
    )
    assert offer.settle(2, [one])  # one of two reserved slots used
    assert offer.pending == 1 + 1  # still reserved by the other publish, and handed
    offer.stand(3)
    assert offer.free == 1
    assert offer.withdraw() == [one] and offer.free == 0 and offer.pending == 1
    offer.settle(1, [])
    assert offer.close() == [] and offer.settle(0, [one]) is False


async def test_the_feed_tells_published_before_started(ctx: Context) -> None:
    worker = await register_worker(ctx, queues=["q"])
    subscriber = Subscriber(ctx, worker.worker_id, 1)
    try:
        await asyncio.sleep(0.05)
        with ctx.events.listen() as feed:
            task_id = (await publish(ctx, publisher="t", data={})).tasks[0].task_id
            kinds = [feed.get_nowait() for _ in range(feed.qsize())]
        assert [(e.kind, e.task_id) for e in kinds if e.task_id] == [
            ("published", task_id),
            ("started", task_id),
        ]
    finally:
        await subscriber.close()


async def test_a_failed_give_back_still_answers_the_publisher(
    ctx: Context, store: GatedStore
) -> None:
    store.release_fails = True
    worker_id, task_id = await publish_as_subscriber_leaves(ctx, store)
    # Still held under its lease, which the reaper ends like any other.
    assert (await state_of(ctx, task_id))[:2] == (TaskState.STARTED, worker_id)
