"""Push subscribers and long polls held back by a flow limit get their task as soon as the
limit allows: a finished task's slot wakes them (on its node at once, on other nodes through
the change stamps), and a rate window opening wakes them by a timer."""

from __future__ import annotations

import asyncio
import dataclasses
import math
import time
from pathlib import Path

import httpx

from tests.conftest import open_backend
from tests.push.conftest import SETTINGS, LiveServer
from tests.push.wsclient import GraphQLSocket

PUSH = "subscription($w: ID!, $p: Int) { tasks(workerId: $w, prefetch: $p) { taskId queue } }"
CONFIGURE = (
    "mutation($q: String!, $m: Int, $r: Int, $p: Float) { configureQueue(name: $q, "
    "maxStarted: $m, rateLimit: $r, ratePeriodSeconds: $p) { name } }"
)


async def _limited_queue(client: httpx.AsyncClient, base: str, tasks: int, **limits: float) -> None:
    await client.put(f"{base}/interest", json={"queue": "lim", "interests": "*"})
    reply = await client.post(f"{base}/graphql", json={"query": CONFIGURE, "variables": limits})
    assert "errors" not in reply.json(), reply.json()
    for n in range(tasks):
        await client.put(f"{base}/task", json={"publisher": "t", "data": {"n": n}})


async def _worker(client: httpx.AsyncClient, base: str) -> str:
    return str((await client.put(f"{base}/worker", json={"queues": ["lim"]})).json()["workerId"])


async def _complete(client: httpx.AsyncClient, base: str, worker: str, task_id: str) -> None:
    reply = await client.post(
        f"{base}/task", json={"workerId": worker, "taskId": task_id, "state": "complete"}
    )
    assert reply.status_code == 200, reply.text


async def test_a_finished_task_wakes_a_subscriber_held_back_by_max_started(
    backend: str, tmp_path: Path
) -> None:
    """On the node that finished it, and on another node sharing the store."""
    stores = [await open_backend(backend, tmp_path) for _ in range(2)]
    # Node a looks at the stamps too seldom to matter: its subscriber is woken by the report.
    a = await LiveServer(stores[0], dataclasses.replace(SETTINGS, change_poll_interval=30)).start()
    b = await LiveServer(stores[1]).start()
    try:
        async with httpx.AsyncClient(timeout=10) as client:
            await _limited_queue(client, a.http_url, 2, q="lim", m=1)
            holder = await _worker(client, a.http_url)
            here, there = await _worker(client, a.http_url), await _worker(client, b.http_url)
            task = (await client.get(f"{a.http_url}/task", params={"workerId": holder})).json()
            async with GraphQLSocket(a.ws_url) as ws:
                await ws.subscribe(PUSH, w=here)
                assert await ws.nothing_for(0.3)
                sent = time.perf_counter()
                await _complete(client, a.http_url, holder, task["taskId"])
                pushed = (await ws.next(within=2))["payload"]["data"]["tasks"]
                assert time.perf_counter() - sent < 0.5
                await _complete(client, a.http_url, here, pushed["taskId"])
            # Node b hears of a slot freed on node a only through the change stamps.
            for n in range(2):
                await client.put(f"{a.http_url}/task", json={"publisher": "t", "data": {"n": n}})
            task = (await client.get(f"{a.http_url}/task", params={"workerId": holder})).json()
            async with GraphQLSocket(b.ws_url) as ws:
                await ws.subscribe(PUSH, w=there)
                assert await ws.nothing_for(0.3)
                sent = time.perf_counter()
                await _complete(client, a.http_url, holder, task["taskId"])
                (await ws.next(within=2))["payload"]["data"]["tasks"]
                assert time.perf_counter() - sent < 0.5
    finally:
        for server in (a, b):
            await server.stop()
        for store in stores:
            await store.close()


async def test_a_rate_window_opening_wakes_a_long_poll(
    live_server: LiveServer, http: httpx.AsyncClient
) -> None:
    period = 0.5
    await _limited_queue(http, live_server.http_url, 3, q="lim", r=1, p=period)
    worker = await _worker(http, live_server.http_url)
    # Start just after a window opens, so the first claim and the wait fall in one window.
    await asyncio.sleep(period - time.time() % period + 0.02)
    assert (await http.get("/task", params={"workerId": worker})).json() is not None
    asked = time.time()
    reply = await http.get("/task", params={"workerId": worker, "waitSeconds": 5})
    answered = time.time()
    assert reply.json() is not None
    opened = math.floor(asked / period) * period + period
    assert opened <= answered < opened + 0.25
