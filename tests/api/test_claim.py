"""Claiming: own queue first, then queues in registered order, oldest first, atomically."""

from __future__ import annotations

import asyncio

from tests.api.client import Api, ApiError
from tests.conftest import FakeClock


async def test_claim_answers_null_when_nothing_is_ready(api: Api) -> None:
    worker = (await api.register_worker(["q"]))["workerId"]
    assert await api.claim(worker) is None


async def test_queues_are_taken_in_registered_priority_order(api: Api) -> None:
    for name in ("low", "high"):
        await api.set_interests(name, {"to": name})
    worker = (await api.register_worker(["high", "low"]))["workerId"]
    await api.publish("pub", {"to": "low"})
    await api.publish("pub", {"to": "high"})
    await api.publish("pub", {"to": "low"})
    got = [await api.claim(worker) for _ in range(4)]
    assert [t["queue"] if t else None for t in got] == ["high", "low", "low", None]


async def test_the_workers_own_queue_comes_first(api: Api) -> None:
    await api.set_interests("q", "*")
    worker = (await api.register_worker(["q"]))["workerId"]
    await api.publish("pub", {"n": "shared"})
    own = await api.publish("pub", {"n": "mine"}, scope="all")
    task = await api.claim(worker)
    assert task is not None and task["taskId"] == own["tasks"][0]["taskId"]


async def test_oldest_ready_task_first(api: Api, clock: FakeClock) -> None:
    await api.set_interests("q", "*")
    worker = (await api.register_worker(["q"]))["workerId"]
    ids = []
    for n in range(3):
        ids.append((await api.publish("pub", {"n": n}))["tasks"][0]["taskId"])
        clock.advance(1)
    claimed = [await api.claim(worker) for _ in range(3)]
    assert [t["taskId"] for t in claimed if t] == ids


async def test_a_claim_starts_the_task_under_a_lease(api: Api, clock: FakeClock) -> None:
    await api.set_interests("q", "*")
    worker = (await api.register_worker(["q"]))["workerId"]
    await api.publish("pub", {"n": 1})
    task = await api.claim(worker)
    assert task is not None
    assert (task["state"], task["workerId"], task["startedAt"]) == ("started", worker, clock.now)
    assert task["leaseUntil"] == clock.now + 300
    assert (await api.queue("q"))["started"] == 1


async def test_concurrent_claimers_never_share_a_task(api: Api) -> None:
    await api.set_interests("q", "*")
    workers = [(await api.register_worker(["q"]))["workerId"] for _ in range(5)]
    published = [(await api.publish("pub", {"n": n}))["tasks"][0]["taskId"] for n in range(40)]

    async def drain(worker: str) -> list[str]:
        got = []
        while (task := await api.claim(worker)) is not None:
            got.append(task["taskId"])
        return got

    batches = await asyncio.gather(*(drain(w) for w in workers))
    claimed = [t for batch in batches for t in batch]
    assert sorted(claimed) == sorted(published)


async def test_workers_deleted_by_queue_get_nothing_even_if_they_ask(api: Api) -> None:
    await api.set_interests("q", "*")
    await api.set_interests("other", "*")
    on_q = [(await api.register_worker(["q"]))["workerId"] for _ in range(2)]
    elsewhere = (await api.register_worker(["other"]))["workerId"]
    await api.publish("pub", {"n": 1})
    assert await api.delete_workers("q") == 2
    for worker in on_q:
        try:
            await api.claim(worker)
        except ApiError as error:
            assert (error.code, error.param) == ("WORKER_NOT_FOUND", "workerId")
        else:
            raise AssertionError("a deleted worker was answered")
    assert await api.claim(elsewhere) is not None
    assert [w["workerId"] for w in await api.workers()] == [elsewhere]
