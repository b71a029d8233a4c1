"""Removing tasks, workers and queues."""

from __future__ import annotations

import pytest

from tests.api.client import Api, ApiError
from tests.conftest import FakeClock


async def test_delete_tasks_of_a_queue_removes_only_waiting_ones(
    api: Api, clock: FakeClock
) -> None:
    await api.set_interests("q", "*")
    await api.set_interests("keep", "*")
    worker = (await api.register_worker(["q"]))["workerId"]
    await api.publish("pub", {"n": 1})
    started = await api.claim(worker)
    assert started is not None
    await api.publish("pub", {"n": 2})
    await api.publish("pub", {"n": 3}, runAt=clock.now + 60)
    assert await api.delete_tasks(queue="q") == 2
    status = await api.queue("q")
    assert (status["queued"], status["scheduled"], status["started"]) == (0, 0, 1)
    assert (await api.queue("keep"))["length"] == 3
    await api.complete(worker, started["taskId"])


async def test_delete_tasks_of_a_worker_empties_its_own_queue(api: Api) -> None:
    await api.set_interests("q", "*")
    w1 = (await api.register_worker(["q"]))["workerId"]
    w2 = (await api.register_worker(["q"]))["workerId"]
    await api.publish("pub", {"n": 1}, scope="all")
    await api.publish("pub", {"n": 2})
    assert await api.delete_tasks(worker_id=w1) == 1
    assert await api.worker_queue(w1) == 0 and await api.worker_queue(w2) == 1
    task = await api.claim(w1)
    assert task is not None and task["scope"] == "any"


async def test_deleting_a_worker_returns_its_tasks_at_once(api: Api) -> None:
    await api.set_interests("q", "*")
    leaving = (await api.register_worker(["q"]))["workerId"]
    staying = (await api.register_worker(["q"]))["workerId"]
    await api.publish("pub", {"n": 1})
    held = await api.claim(leaving)
    assert held is not None
    await api.publish("pub", {"n": 2}, scope="all")
    assert await api.delete_worker(leaving) == 1
    back = await api.task(held["taskId"])
    assert (back["state"], back["workerId"], back["attempts"]) == ("queued", None, 0)
    got = [await api.claim(staying) for _ in range(3)]
    assert sorted(t["data"]["n"] for t in got if t) == [1, 2]
    with pytest.raises(ApiError) as gone:
        await api.delete_worker(leaving)
    assert gone.value.code == "WORKER_NOT_FOUND"


async def test_delete_queue_removes_interests_and_waiting_scheduled_failed_tasks(
    api: Api, clock: FakeClock
) -> None:
    await api.set_interests("q", "*")
    await api.set_interests("other", "*")
    worker = (await api.register_worker(["q"]))["workerId"]
    await api.publish("pub", {"n": "failed"})
    failing = await api.claim(worker)
    assert failing is not None
    await api.fail(worker, failing["taskId"], reason="x")
    await api.publish("pub", {"n": "started"})
    running = await api.claim(worker)
    assert running is not None
    await api.publish("pub", {"n": "queued"})
    await api.publish("pub", {"n": "scheduled"}, runAt=clock.now + 60)
    assert await api.delete_queue("q") == 3
    assert [q["name"] for q in await api.queues()] == ["other"]
    assert await api.interests() == {"other": "*"}
    assert await api.failed() == []
    assert (await api.task(running["taskId"]))["state"] == "started"
    published = await api.publish("pub", {"n": "after"})
    assert [t["queue"] for t in published["tasks"]] == ["other"]
    with pytest.raises(ApiError) as gone:
        await api.delete_queue("q")
    assert gone.value.code == "QUEUE_NOT_FOUND"
