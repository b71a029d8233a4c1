"""Workers in this process against a real server: push and poll deliver, complete and fail
tasks, hold at most `concurrency` at once, and register again when the server forgot them."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from couchqueue_client import Task, TaskFailed, Worker
from couchqueue_client.push import TaskSubscription
from tests.client.helpers import ServerApi, eventually, quick_worker, running
from tests.nodes.server import ServerNode


class Broken(ValueError):
    pass


def sync_handler(task: Task) -> None:
    time.sleep(0.01)  # runs in a thread: blocking is fine
    if task.data.get("fail"):
        raise Broken(f"bad input {task.data['n']}")


async def async_handler(task: Task) -> None:
    await asyncio.sleep(0.01)
    if task.data.get("fail"):
        raise Broken(f"bad input {task.data['n']}")


@pytest.mark.parametrize(
    ("mode", "handler"), [("push", async_handler), ("poll", sync_handler)], ids=["push", "poll"]
)
async def test_tasks_are_completed_or_failed_with_the_exception_text(
    server: ServerNode, api: ServerApi, queue: str, mode: Any, handler: Any
) -> None:
    ok = [await api.publish(queue, {"n": n}) for n in range(3)]
    bad = await api.publish(queue, {"n": 7, "fail": True})
    async with running(quick_worker(server.url, queue, handler, mode, concurrency=2)):
        await eventually(lambda: _all_finished(api, [*ok, bad]))
    assert await api.states(ok) == ["completed"] * 3
    failed = await api.task(bad)
    assert failed["state"] == "failed"
    assert failed["failReason"].startswith("Broken: bad input 7\n")
    assert "Traceback" in failed["failReason"]
    assert "in " + handler.__name__ in failed["failReason"]  # the frame that raised
    assert len(failed["failReason"]) <= 4000
    assert await api.workers(queue) == []  # deregistered on the way out


async def test_task_failed_gives_the_exact_reason_and_can_re_enqueue(
    server: ServerNode, api: ServerApi, queue: str
) -> None:
    seen: list[int] = []

    async def handler(task: Task) -> None:
        seen.append(task.attempts)
        if len(seen) == 1:
            raise TaskFailed("try later", re_enqueue=True)
        raise TaskFailed("no such user")

    task_id = await api.publish(queue, {"user": 1})
    async with running(quick_worker(server.url, queue, handler)):
        await eventually(lambda: _counts_are(api, queue, failed=1))
    reply = await api.client.get("/status", params={"failedQueue": queue})
    [failed] = reply.json()["failedQueue"]["tasks"]
    assert failed["taskId"] == task_id
    assert failed["failReason"] == "no such user"
    assert [f["reason"] for f in failed["failures"]] == ["try later", "no such user"]
    assert seen == [0, 1]  # put back at once, one more attempt


@pytest.mark.parametrize("mode", ["push", "poll"])
async def test_at_most_concurrency_tasks_run_at_once(
    server: ServerNode, api: ServerApi, queue: str, mode: Any
) -> None:
    release = asyncio.Event()
    running_now = 0
    most = 0

    async def handler(task: Task) -> None:
        nonlocal running_now, most
        running_now += 1
        most = max(most, running_now)
        try:
            await release.wait()
        finally:
            running_now -= 1

    ids = [await api.publish(queue, {"n": n}) for n in range(5)]
    async with running(quick_worker(server.url, queue, handler, mode, concurrency=2)):
        await eventually(lambda: _counts_are(api, queue, started=2, queued=3))
        await asyncio.sleep(0.4)  # more time to take a third, which must not happen
        assert await _counts_are(api, queue, started=2, queued=3)
        assert most == 2
        release.set()
        await eventually(lambda: _counts_are(api, queue, completed=5))
    assert most == 2
    assert await api.states(ids) == ["completed"] * 5


@pytest.mark.parametrize("mode", ["push", "poll"])
async def test_tasks_still_running_after_the_grace_period_go_back(
    server: ServerNode, api: ServerApi, queue: str, mode: Any
) -> None:
    async def hang(task: Task) -> None:
        await asyncio.Event().wait()

    ids = [await api.publish(queue, {"n": n}) for n in range(2)]
    worker = quick_worker(server.url, queue, hang, mode, concurrency=2)
    worker.grace_period = 0.3
    async with running(worker):
        await eventually(lambda: _counts_are(api, queue, started=2))
    # Abandoned, not failed: back in the queue at once, no attempt counted.
    tasks = [await api.task(task_id) for task_id in ids]
    assert [(t["state"], t["attempts"], t["workerId"]) for t in tasks] == [("queued", 0, None)] * 2
    assert await api.workers(queue) == []


@pytest.mark.parametrize("mode", ["push", "poll"])
async def test_a_deleted_worker_registers_again_and_goes_on(
    server: ServerNode, api: ServerApi, queue: str, mode: Any
) -> None:
    done: list[str] = []

    async def handler(task: Task) -> None:
        done.append(task.task_id)

    worker = quick_worker(server.url, queue, handler, mode)
    async with running(worker):
        first_id = worker.worker_id
        await api.client.delete("/worker", params={"workerId": first_id})
        await eventually(lambda: _has_new_id(worker, first_id))
        task_id = await api.publish(queue, {"after": "delete"})
        await eventually(lambda: _state_is(api, task_id, "completed"))
        [registered] = await api.workers(queue)
        assert registered["workerId"] == worker.worker_id != first_id
    assert done == [task_id]


async def _all_finished(api: ServerApi, ids: list[str]) -> bool:
    return all(state in ("completed", "failed") for state in await api.states(ids))


async def _counts_are(api: ServerApi, queue: str, **expected: int) -> bool:
    counts = await api.counts(queue)
    return all(counts[key] == value for key, value in expected.items())


async def _state_is(api: ServerApi, task_id: str, state: str) -> bool:
    return bool((await api.task(task_id))["state"] == state)


async def _has_new_id(worker: Worker, old: str | None) -> bool:
    return worker.worker_id not in (None, old)


async def test_closing_a_task_subscription_gives_its_tasks_back_uncounted(
    server: ServerNode, api: ServerApi, queue: str
) -> None:
    await api.configure(queue, max_deliveries=1)
    reply = await api.client.put("/worker", json={"queues": [queue]})
    worker_id = reply.json()["workerId"]
    ids = [await api.publish(queue, {"n": n}) for n in range(2)]
    async with TaskSubscription(server.url, worker_id, 2) as subscription:
        got = [(await subscription.next()).task_id for _ in ids]
    assert sorted(got) == sorted(ids)
    # A clean close (unsubscribed first): no delivery counted, so not failed at maxDeliveries 1.
    tasks = await eventually(lambda: _all_back(api, ids))
    assert [(t["state"], t["attempts"], t["workerId"]) for t in tasks] == [("queued", 0, None)] * 2


async def _all_back(api: ServerApi, task_ids: list[str]) -> list[dict[str, Any]] | None:
    tasks = [await api.task(t) for t in task_ids]
    return tasks if all(t["state"] != "started" for t in tasks) else None
