"""The taskBatches subscription: tasks claimed together arrive as one message."""

from __future__ import annotations

import asyncio
import time

import httpx

from tests.push.conftest import LiveServer
from tests.push.test_push import publish, worker_on
from tests.push.wsclient import GraphQLSocket

BATCHES = (
    "subscription($w: ID!, $p: Int) { taskBatches(workerId: $w, prefetch: $p) "
    "{ taskId state workerId } }"
)


def batch_ids(message: dict[str, object]) -> list[str]:
    payload = message["payload"]
    assert isinstance(payload, dict), message
    return [task["taskId"] for task in payload["data"]["taskBatches"]]


async def test_waiting_tasks_come_in_one_message_up_to_prefetch(
    live_server: LiveServer, http: httpx.AsyncClient
) -> None:
    worker = await worker_on(http)
    ids = [await publish(http, n) for n in range(5)]
    async with GraphQLSocket(live_server.ws_url) as ws:
        await ws.subscribe(BATCHES, w=worker, p=3)
        message = await ws.next()
        assert batch_ids(message) == ids[:3]
        tasks = message["payload"]["data"]["taskBatches"]
        assert {(t["state"], t["workerId"]) for t in tasks} == {("started", worker)}
        assert await ws.nothing_for(0.4)
        # Two finished in one report free two slots: the next two come together.
        reports = [{"taskId": t, "state": "complete"} for t in ids[:2]]
        done = await http.post("/tasks", json={"workerId": worker, "reports": reports})
        assert done.status_code == 200
        assert batch_ids(await ws.next()) == ids[3:5]
        assert await ws.nothing_for(0.3)


async def test_a_new_task_comes_alone_and_unsubscribing_gives_back(
    live_server: LiveServer, http: httpx.AsyncClient
) -> None:
    worker = await worker_on(http)
    async with GraphQLSocket(live_server.ws_url) as ws:
        op = await ws.subscribe(BATCHES, w=worker, p=10)
        await asyncio.sleep(0.1)
        task_id = await publish(http, 1)
        assert batch_ids(await ws.next()) == [task_id]
        await ws.stop(op)
    deadline = time.monotonic() + 2
    while time.monotonic() < deadline:
        status = (await http.get("/status", params={"task": task_id})).json()["task"]
        if status["state"] == "queued":
            break
        await asyncio.sleep(0.05)
    assert (status["state"], status["attempts"], status["workerId"]) == ("queued", 0, None)


async def test_bad_prefetch_is_refused_with_its_code(
    live_server: LiveServer, http: httpx.AsyncClient
) -> None:
    worker = await worker_on(http)
    async with GraphQLSocket(live_server.ws_url) as ws:
        await ws.subscribe(BATCHES, w=worker, p=0)
        message = await ws.next()
        assert message["type"] in ("error", "next")
        errors = message["payload"] if message["type"] == "error" else message["payload"]["errors"]
        assert errors[0]["extensions"]["code"] == "INVALID_PARAMETER"
