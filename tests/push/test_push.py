"""Push delivery over graphql-transport-ws, against a real uvicorn server."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx

from tests.conftest import open_backend
from tests.push.conftest import LiveServer
from tests.push.wsclient import GraphQLSocket

PUSH = (
    "subscription($w: ID!, $p: Int) { tasks(workerId: $w, prefetch: $p) "
    "{ taskId state workerId data attempts } }"
)
EVENTS = "subscription($q: String) { events(queue: $q) { kind queue taskId workerId } }"


async def worker_on(http: httpx.AsyncClient, queue: str = "q") -> str:
    await http.put("/interest", json={"queue": queue, "interests": "*"})
    return str((await http.put("/worker", json={"queues": [queue]})).json()["workerId"])


async def publish(http: httpx.AsyncClient, n: int, **options: object) -> str:
    reply = await http.put("/task", json={"publisher": "t", "data": {"n": n}, **options})
    return str(reply.json()["tasks"][0]["taskId"])


async def test_a_pushed_task_arrives_already_claimed(
    live_server: LiveServer, http: httpx.AsyncClient
) -> None:
    worker = await worker_on(http)
    async with GraphQLSocket(live_server.ws_url) as ws:
        await ws.subscribe(PUSH, w=worker)
        await asyncio.sleep(0.1)
        sent = time.perf_counter()
        task_id = await publish(http, 1)
        message = await ws.next()
        latency = time.perf_counter() - sent
        task = message["payload"]["data"]["tasks"]
        assert (task["taskId"], task["state"], task["workerId"]) == (task_id, "started", worker)
        assert latency < 1.0
        status = (await http.get("/status", params={"task": task_id})).json()["task"]
        assert (status["state"], status["workerId"]) == ("started", worker)


async def test_prefetch_bounds_unfinished_tasks(
    live_server: LiveServer, http: httpx.AsyncClient
) -> None:
    worker = await worker_on(http)
    ids = [await publish(http, n) for n in range(5)]
    async with GraphQLSocket(live_server.ws_url) as ws:
        await ws.subscribe(PUSH, w=worker, p=2)
        first = [(await ws.next())["payload"]["data"]["tasks"]["taskId"] for _ in range(2)]
        assert first == ids[:2]
        assert await ws.nothing_for(0.4)
        # Finishing one, over plain HTTP (another connection), lets the next come.
        done = await http.post(
            "/task", json={"workerId": worker, "taskId": first[0], "state": "complete"}
        )
        assert done.status_code == 200
        third = (await ws.next())["payload"]["data"]["tasks"]["taskId"]
        assert third == ids[2]
        assert await ws.nothing_for(0.3)


async def test_unsubscribing_returns_unfinished_tasks_at_once(
    live_server: LiveServer, http: httpx.AsyncClient
) -> None:
    worker = await worker_on(http)
    ids = [await publish(http, n) for n in range(3)]
    async with GraphQLSocket(live_server.ws_url) as ws:
        op = await ws.subscribe(PUSH, w=worker, p=3)
        got = [(await ws.next())["payload"]["data"]["tasks"]["taskId"] for _ in range(3)]
        await http.post("/task", json={"workerId": worker, "taskId": got[0], "state": "complete"})
        # Unsubscribed, then closed: a clean end, no attempt counted (a socket that closes with
        # the subscription open counts one: test_vanished.py).
        await ws.stop(op)
    deadline = time.monotonic() + 2
    while time.monotonic() < deadline:
        states = [(await http.get("/status", params={"task": t})).json()["task"] for t in ids[1:]]
        if all(s["state"] == "queued" for s in states):
            break
        await asyncio.sleep(0.05)
    assert [(s["state"], s["attempts"], s["workerId"]) for s in states] == [("queued", 0, None)] * 2


async def test_delayed_tasks_are_pushed_when_due(
    live_server: LiveServer, http: httpx.AsyncClient
) -> None:
    worker = await worker_on(http)
    async with GraphQLSocket(live_server.ws_url) as ws:
        await ws.subscribe(PUSH, w=worker)
        await asyncio.sleep(0.1)
        due = time.time() + 0.6
        await publish(http, 1, runAt=due)
        message = await ws.next(within=3)
        assert message["type"] == "next"
        assert time.time() >= due - 0.05


async def test_unknown_worker_gets_an_error_with_its_code(live_server: LiveServer) -> None:
    async with GraphQLSocket(live_server.ws_url) as ws:
        await ws.subscribe(PUSH, w="nobody")
        message = await ws.next()
        assert message["type"] == "next"
        assert message["payload"]["errors"][0]["extensions"]["code"] == "WORKER_NOT_FOUND"


async def test_events_feed(live_server: LiveServer, http: httpx.AsyncClient) -> None:
    worker = await worker_on(http)
    async with GraphQLSocket(live_server.ws_url) as ws:
        await ws.subscribe(EVENTS, q="q")
        await asyncio.sleep(0.1)
        task_id = await publish(http, 1)
        await http.get("/task", params={"workerId": worker})
        kinds = []
        while len(kinds) < 2:
            event = (await ws.next())["payload"]["data"]["events"]
            if event["kind"] != "changed":
                kinds.append((event["kind"], event["taskId"]))
        assert kinds == [("published", task_id), ("started", task_id)]


async def test_a_task_published_on_another_node_is_pushed(backend: str, tmp_path: Path) -> None:
    stores = [await open_backend(backend, tmp_path) for _ in range(2)]
    a, b = [await LiveServer(s).start() for s in stores]
    try:
        async with httpx.AsyncClient(timeout=10) as client:
            await client.put(f"{a.http_url}/interest", json={"queue": "q", "interests": "*"})
            worker = (await client.put(f"{b.http_url}/worker", json={"queues": ["q"]})).json()[
                "workerId"
            ]
            async with GraphQLSocket(b.ws_url) as ws:
                await ws.subscribe(PUSH, w=worker)
                await asyncio.sleep(0.2)
                sent = time.perf_counter()
                reply = await client.put(f"{a.http_url}/task", json={"publisher": "t", "data": {}})
                task_id = reply.json()["tasks"][0]["taskId"]
                message = await ws.next()
                assert message["payload"]["data"]["tasks"]["taskId"] == task_id
                assert time.perf_counter() - sent < 0.5
    finally:
        for server in (a, b):
            await server.stop()
        for store in stores:
            await store.close()
