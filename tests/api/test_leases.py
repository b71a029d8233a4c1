"""Leases: a claimed task is held for its queue's lease; signs of life extend it; an expired
lease puts the task back (attempts + 1) until maxDeliveries, then the failed queue."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator

import httpx
import pytest
from asgi_lifespan import LifespanManager

from app.asgi import create_app
from resolvers.context import Context
from resolvers.leases import reap_expired_leases, reap_silent_workers
from resolvers.store import Store
from tests.api.client import Api, ApiError, RestApi
from tests.api.conftest import TEST_SETTINGS
from tests.conftest import FakeClock


async def setup(api: Api, lease: float = 30.0, **settings: float) -> str:
    await api.set_interests("q", "*")
    await api.configure_queue("q", leaseSeconds=lease, **settings)
    return str((await api.register_worker(["q"]))["workerId"])


async def test_a_claim_holds_the_task_for_the_queues_lease(api: Api, clock: FakeClock) -> None:
    worker = await setup(api, lease=30)
    await api.publish("pub", {"n": 1})
    task = await api.claim(worker)
    assert task is not None and task["leaseUntil"] == clock.now + 30


async def test_an_expired_lease_puts_the_task_back_with_an_attempt(
    api: Api, clock: FakeClock, engine: Context
) -> None:
    worker = await setup(api)
    other = (await api.register_worker(["q"]))["workerId"]
    await api.publish("pub", {"n": 1})
    held = await api.claim(worker)
    assert held is not None
    clock.advance(29.9)
    assert await reap_expired_leases(engine) == 0
    clock.advance(0.1)
    assert await reap_expired_leases(engine) == 1
    back = await api.task(held["taskId"])
    assert (back["state"], back["workerId"], back["attempts"]) == ("queued", None, 1)
    assert back["failures"] == [{"reason": "lease expired", "at": clock.now}]
    again = await api.claim(other)
    assert again is not None and again["taskId"] == held["taskId"]
    with pytest.raises(ApiError) as late:
        await api.complete(worker, held["taskId"])
    assert late.value.code == "NOT_TASK_HOLDER"
    assert (await api.complete(other, held["taskId"]))["state"] == "completed"


async def test_max_deliveries_ends_in_the_failed_queue(
    api: Api, clock: FakeClock, engine: Context
) -> None:
    worker = await setup(api, lease=10, maxDeliveries=2)
    task_id = (await api.publish("pub", {"n": 1}))["tasks"][0]["taskId"]
    for _ in range(2):
        assert await api.claim(worker) is not None
        clock.advance(10)
        assert await reap_expired_leases(engine) == 1
    failed = await api.task(task_id)
    assert (failed["state"], failed["attempts"], failed["failReason"]) == (
        "failed",
        2,
        "lease expired",
    )
    assert [t["taskId"] for t in await api.failed()] == [task_id]
    assert await api.claim(worker) is None


async def test_a_heartbeat_extends_every_lease_of_the_worker(
    api: Api, clock: FakeClock, engine: Context
) -> None:
    worker = await setup(api, lease=30)
    for n in range(2):
        await api.publish("pub", {"n": n})
    held = [await api.claim(worker), await api.claim(worker)]
    clock.advance(20)
    beat = await api.heartbeat(worker)
    assert beat["lastSeen"] == clock.now
    clock.advance(20)
    assert await reap_expired_leases(engine) == 0
    for task in held:
        assert task is not None
        assert (await api.task(task["taskId"]))["leaseUntil"] == clock.now - 20 + 30


async def test_a_heartbeat_naming_tasks_extends_only_those(
    api: Api, clock: FakeClock, engine: Context
) -> None:
    worker = await setup(api, lease=30)
    for n in range(2):
        await api.publish("pub", {"n": n})
    kept, lost = await api.claim(worker), await api.claim(worker)
    assert kept is not None and lost is not None
    clock.advance(20)
    await api.heartbeat(worker, [kept["taskId"]])
    clock.advance(20)
    assert await reap_expired_leases(engine) == 1
    assert (await api.task(kept["taskId"]))["state"] == "started"
    assert (await api.task(lost["taskId"]))["state"] == "queued"


async def test_polling_keeps_the_worker_alive_but_not_a_task_whose_claim_reply_was_lost(
    api: Api, clock: FakeClock, engine: Context
) -> None:
    worker = await setup(api, lease=30)
    await api.publish("pub", {"n": 1})
    lost = await api.claim(worker)
    assert lost is not None
    for _ in range(3):
        clock.advance(10)
        assert await api.claim(worker) is None
        await reap_expired_leases(engine)
    back = await api.task(lost["taskId"])
    assert (back["state"], back["attempts"]) == ("queued", 1)
    assert (await api.worker_detail(worker))["lastSeen"] == clock.now


async def test_heartbeat_of_an_unknown_worker_is_refused(api: Api) -> None:
    with pytest.raises(ApiError) as refused:
        await api.heartbeat("no-such-worker")
    assert (refused.value.code, refused.value.param) == ("WORKER_NOT_FOUND", "workerId")


async def test_silent_workers_are_removed_and_their_tasks_come_back_by_lease(
    api: Api, clock: FakeClock, engine: Context
) -> None:
    silent = await setup(api, lease=120)
    alive = (await api.register_worker(["q"]))["workerId"]
    await api.publish("pub", {"n": "held"})
    held = await api.claim(silent)
    assert held is not None
    await api.publish("pub", {"n": "own"}, scope="all")
    clock.advance(45)
    await api.heartbeat(alive)
    clock.advance(16)
    assert await reap_silent_workers(engine) == 1
    assert [w["workerId"] for w in await api.workers()] == [alive]
    with pytest.raises(ApiError):
        await api.claim(silent)
    assert (await api.task(held["taskId"]))["state"] == "started"
    clock.advance(60)
    assert await reap_expired_leases(engine) == 1
    back = await api.task(held["taskId"])
    assert (back["state"], back["attempts"]) == ("queued", 1)
    got = [await api.claim(alive), await api.claim(alive), await api.claim(alive)]
    # The silent worker's own copy went with it; the alive worker's own copy and the
    # returned task remain.
    assert sorted(t["data"]["n"] for t in got if t) == ["held", "own"]


async def test_worker_listing_shows_last_seen_and_current_tasks(api: Api, clock: FakeClock) -> None:
    worker = await setup(api)
    await api.publish("pub", {"n": 1})
    held = await api.claim(worker)
    assert held is not None
    detail = await api.worker_detail(worker)
    assert detail["lastSeen"] == clock.now
    assert [t["taskId"] for t in detail["tasks"]] == [held["taskId"]]


async def test_an_expired_lease_returns_an_own_queue_copy_to_its_worker(
    api: Api, clock: FakeClock, engine: Context
) -> None:
    worker = await setup(api, lease=10)
    other = (await api.register_worker(["q"]))["workerId"]
    published = await api.publish("pub", {"n": 1}, scope="all")
    [mine] = [t for t in published["tasks"] if t["workerId"] == worker]
    held = await api.claim(worker)
    assert held is not None and held["taskId"] == mine["taskId"]
    clock.advance(10)
    assert await reap_expired_leases(engine) == 1
    back = await api.task(mine["taskId"])
    assert (back["state"], back["workerId"], back["attempts"]) == ("queued", worker, 1)
    theirs = await api.claim(other)
    assert theirs is not None and theirs["taskId"] != mine["taskId"]
    again = await api.claim(worker)
    assert again is not None and again["taskId"] == mine["taskId"]


async def test_a_silent_worker_takes_the_copies_waiting_in_its_own_queue_with_it(
    api: Api, clock: FakeClock, engine: Context
) -> None:
    silent = await setup(api)
    alive = (await api.register_worker(["q"]))["workerId"]
    published = await api.publish("pub", {"n": 1}, scope="all")
    [own] = [t["taskId"] for t in published["tasks"] if t["workerId"] == silent]
    clock.advance(45)
    await api.heartbeat(alive)
    clock.advance(16)
    assert await reap_silent_workers(engine) == 1
    with pytest.raises(ApiError) as gone:
        await api.task(own)
    assert gone.value.code == "TASK_NOT_FOUND"
    assert (await api.summary())["tasks"]["queued"] == 1


@pytest.fixture
async def short_leases(store: Store, clock: FakeClock) -> AsyncIterator[Api]:
    """The app started with --default-lease-seconds 2."""
    settings = dataclasses.replace(TEST_SETTINGS, default_lease_seconds=2.0)
    application = create_app(settings, store=store, clock=clock, start_duties=False)
    async with LifespanManager(application):
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://couchqueue") as http:
            yield RestApi(http)


async def test_default_lease_seconds_is_the_lease_of_a_new_queue(
    short_leases: Api, clock: FakeClock
) -> None:
    api = short_leases
    await api.set_interests("q", "*")
    assert (await api.configure_queue("q"))["settings"]["leaseSeconds"] == 2
    worker = (await api.register_worker(["q"]))["workerId"]
    await api.publish("pub", {"n": 1})
    task = await api.claim(worker)
    assert task is not None and task["leaseUntil"] == clock.now + 2
    # Configured per queue afterwards, as any other queue setting.
    await api.configure_queue("q", leaseSeconds=30)
    await api.publish("pub", {"n": 2})
    task = await api.claim(worker)
    assert task is not None and task["leaseUntil"] == clock.now + 30
