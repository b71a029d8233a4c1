"""Flow limits per queue (maxStarted, rateLimit per ratePeriodSeconds), through REST and
GraphQL claims on every store; configured by configureQueue, shown by status."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from resolvers.context import Context
from resolvers.leases import reap_expired_leases
from tests.api.client import Api, ApiError, RestApi
from tests.api.test_metrics import samples
from tests.conftest import FakeClock


async def _queue_with_tasks(api: Api, name: str, tasks: int) -> None:
    await api.set_interests(name, {"q": f"^{name}$"})
    for n in range(tasks):
        await api.publish("pub", {"q": name, "n": n})


async def test_max_started_holds_back_until_a_task_is_done(api: Api) -> None:
    await _queue_with_tasks(api, "lim", 4)
    await _queue_with_tasks(api, "free", 1)
    configured = await api.configure_queue("lim", maxStarted=2)
    assert configured["settings"]["maxStarted"] == 2
    first = (await api.register_worker(["lim"]))["workerId"]
    second = (await api.register_worker(["lim", "free"]))["workerId"]
    a = await api.claim(first)
    b = await api.claim(first)
    assert a is not None and b is not None and {a["queue"], b["queue"]} == {"lim"}
    # At the limit: the claim moves on to the worker's next queue, as past a paused one.
    moved = await api.claim(second)
    assert moved is not None and moved["queue"] == "free"
    assert await api.claim(second) is None
    limits = (await api.queue("lim"))["limits"]
    assert limits == {
        "maxStarted": 2,
        "started": 2,
        "rateLimit": None,
        "ratePeriodSeconds": 1.0,
        "rateUsed": 0,
        "heldBack": {"maxStarted": 2, "rate": 0},
    }
    await api.complete(first, a["taskId"])
    third = await api.claim(second)
    assert third is not None and third["queue"] == "lim"
    assert await api.claim(second) is None
    await api.fail(first, b["taskId"], "boom")
    assert await api.claim(second) is not None


async def test_rate_limit_opens_again_with_the_next_window(api: Api, clock: FakeClock) -> None:
    await _queue_with_tasks(api, "rated", 5)
    await api.configure_queue("rated", rateLimit=2, ratePeriodSeconds=10)
    worker = (await api.register_worker(["rated"]))["workerId"]
    clock.advance(10 - clock.now % 10)  # a window's first instant
    got = [await api.claim(worker) for _ in range(3)]
    assert [t is not None for t in got] == [True, True, False]
    for task in got[:2]:
        assert task is not None
        await api.complete(worker, task["taskId"])
    limits = (await api.queue("rated"))["limits"]
    assert (limits["rateUsed"], limits["heldBack"]) == (2, {"maxStarted": 0, "rate": 3})
    clock.advance(9.9)
    assert await api.claim(worker) is None
    clock.advance(0.1)
    assert await api.claim(worker) is not None
    assert (await api.queue("rated"))["limits"]["rateUsed"] == 1


async def test_null_removes_a_limit_and_absent_keeps_it(api: Api) -> None:
    await _queue_with_tasks(api, "lim", 3)
    await api.configure_queue("lim", maxStarted=1, rateLimit=100)
    kept = await api.configure_queue("lim", leaseSeconds=30)
    assert (kept["settings"]["maxStarted"], kept["settings"]["rateLimit"]) == (1, 100)
    worker = (await api.register_worker(["lim"]))["workerId"]
    assert await api.claim(worker) is not None
    assert await api.claim(worker) is None
    removed = await api.configure_queue("lim", maxStarted=None)
    assert (removed["settings"]["maxStarted"], removed["settings"]["rateLimit"]) == (None, 100)
    assert await api.claim(worker) is not None
    cleared = await api.configure_queue("lim", rateLimit=None, ratePeriodSeconds=None)
    assert cleared["settings"]["rateLimit"] is None
    assert cleared["settings"]["ratePeriodSeconds"] == 1.0
    assert (await api.queue("lim"))["limits"] is None


@pytest.mark.parametrize(
    ("setting", "value"),
    [
        ("maxStarted", 0),
        ("maxStarted", -1),
        ("maxStarted", 10_001),
        ("rateLimit", 0),
        ("rateLimit", 1_000_001),
        ("ratePeriodSeconds", 0.01),
        ("ratePeriodSeconds", 86_401.0),
        ("ratePeriodSeconds", -1.0),
    ],
)
async def test_bad_limits_are_refused_and_change_nothing(
    api: Api, setting: str, value: Any
) -> None:
    await api.set_interests("lim", "*")
    before = await api.configure_queue("lim", maxStarted=5)
    with pytest.raises(ApiError) as refused:
        await api.configure_queue("lim", **{setting: value})
    assert (refused.value.code, refused.value.param) == ("INVALID_PARAMETER", setting)
    assert (await api.configure_queue("lim"))["settings"] == before["settings"]


async def test_a_limit_on_an_unknown_queue_is_refused(api: Api) -> None:
    with pytest.raises(ApiError) as refused:
        await api.configure_queue("nope", maxStarted=1)
    assert refused.value.code == "QUEUE_NOT_FOUND"


async def test_an_expired_lease_gives_its_slot_back(
    api: Api, clock: FakeClock, engine: Context
) -> None:
    await _queue_with_tasks(api, "lim", 2)
    await api.configure_queue("lim", maxStarted=1, leaseSeconds=5)
    dead = (await api.register_worker(["lim"]))["workerId"]
    alive = (await api.register_worker(["lim"]))["workerId"]
    assert await api.claim(dead) is not None
    assert await api.claim(alive) is None
    clock.advance(6)
    assert await reap_expired_leases(engine) == 1
    assert await api.claim(alive) is not None


async def test_metrics_tell_what_each_limit_holds_back(
    http: httpx.AsyncClient, clock: FakeClock
) -> None:
    api = RestApi(http)
    await _queue_with_tasks(api, "lim", 3)
    await _queue_with_tasks(api, "rated", 3)
    await _queue_with_tasks(api, "free", 1)
    await api.configure_queue("lim", maxStarted=1)
    await api.configure_queue("rated", rateLimit=1, ratePeriodSeconds=60)
    worker = (await api.register_worker(["lim", "rated", "free"]))["workerId"]
    assert [(await api.claim(worker) or {}).get("queue") for _ in range(4)] == [
        "lim",
        "rated",
        "free",
        None,
    ]
    found = samples((await http.get("/metrics")).text)

    def held(queue: str, limit: str) -> float:
        return found[("couchqueue_tasks_held_back", (("limit", limit), ("queue", queue)))]

    assert (held("lim", "max_started"), held("lim", "rate")) == (2, 0)
    assert (held("rated", "max_started"), held("rated", "rate")) == (0, 2)
    assert not [k for k in found if k[0] == "couchqueue_tasks_held_back" and "free" in str(k)]
    limit = {k[1]: v for k, v in found.items() if k[0] == "couchqueue_queue_limit"}
    assert limit == {
        (("limit", "max_started"), ("queue", "lim")): 1,
        (("limit", "rate"), ("queue", "rated")): 1,
        (("limit", "rate_period_seconds"), ("queue", "rated")): 60,
    }


async def test_a_finished_task_answers_a_long_poll_held_back_by_max_started(
    api: Api, engine: Context
) -> None:
    """No change watcher runs here: only the report's own wake-up can answer the wait."""
    await _queue_with_tasks(api, "lim", 2)
    await api.configure_queue("lim", maxStarted=1)
    holder = (await api.register_worker(["lim"]))["workerId"]
    waiter = (await api.register_worker(["lim"]))["workerId"]
    held = await api.claim(holder)
    assert held is not None
    waiting = asyncio.ensure_future(api.claim_waiting(waiter, 10))
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 3
    while engine.waiters.count < 1:
        assert loop.time() < deadline
        await asyncio.sleep(0.005)
    await asyncio.sleep(0.05)
    assert not waiting.done()
    # A publish meanwhile is not handed to the waiter either: the limit binds hand-offs too.
    await api.publish("pub", {"q": "lim", "n": 9})
    await asyncio.sleep(0.05)
    assert not waiting.done()
    await api.complete(holder, held["taskId"])
    task = await asyncio.wait_for(waiting, 2)
    assert task is not None and task["queue"] == "lim"
