"""A push subscriber that vanishes holding tasks: each task it was sent counts a delivery, as a
lease expiry does, so a task that kills its worker on arrival ends in the failed queue after
maxDeliveries. Unsubscribing (``complete``) first gives them back uncounted."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager

from app.asgi import create_app
from app.settings import Settings
from resolvers.context import Context
from resolvers.interests import set_interests
from resolvers.models import TaskState
from resolvers.publish import publish as publish_event
from resolvers.push import push_batches
from resolvers.store import Store
from resolvers.workers import register_worker
from tests.conftest import open_backend
from tests.push.conftest import LiveServer
from tests.push.test_push import PUSH, publish, worker_on
from tests.push.test_push_batches import BATCHES, batch_ids
from tests.push.wsclient import GraphQLSocket

DISCONNECTED = "worker disconnected holding the task"


async def configure(http: httpx.AsyncClient, queue: str, **settings: Any) -> None:
    names = ", ".join(f"{key}: {value}" for key, value in settings.items())
    query = f'mutation {{ configureQueue(name: "{queue}", {names}) {{ name }} }}'
    reply = await http.post("/graphql", json={"query": query})
    assert reply.status_code == 200 and "errors" not in reply.json(), reply.text


async def task_when(
    http: httpx.AsyncClient, task_id: str, *states: str, within: float = 3.0
) -> dict[str, Any]:
    """The task once its state is one of ``states`` (the last seen if it never is)."""
    deadline = time.monotonic() + within
    while True:
        task: dict[str, Any] = (await http.get("/status", params={"task": task_id})).json()["task"]
        if task["state"] in states or time.monotonic() > deadline:
            return task
        await asyncio.sleep(0.05)


def drop(ws: GraphQLSocket) -> None:
    """The process holding the socket dies: the connection ends with no close frame."""
    ws.socket.transport.abort()


@pytest.mark.parametrize("ending", ["dropped", "closed without complete"])
async def test_a_task_that_kills_its_push_worker_ends_in_the_failed_queue(
    live_server: LiveServer, http: httpx.AsyncClient, ending: str
) -> None:
    worker = await worker_on(http)
    await configure(http, "q", maxDeliveries=3)
    task_id = ""
    for delivery in range(1, 4):
        ws = await GraphQLSocket(live_server.ws_url).__aenter__()
        await ws.subscribe(PUSH, w=worker)
        if delivery == 1:
            await asyncio.sleep(0.1)  # waiting: the publish hands the task over
            task_id = await publish(http, 1)
        pushed = (await ws.next())["payload"]["data"]["tasks"]
        assert (pushed["taskId"], pushed["attempts"]) == (task_id, delivery - 1)
        if ending == "dropped":
            drop(ws)
        else:
            await ws.socket.close()
        task = await task_when(http, task_id, "queued", "failed")
        if delivery < 3:
            assert (task["state"], task["attempts"], task["workerId"]) == ("queued", delivery, None)
            assert task["failReason"] == DISCONNECTED
    assert (task["state"], task["attempts"]) == ("failed", 3)
    assert task["failReason"] == f"{DISCONNECTED} (3 deliveries)"
    assert [f["reason"] for f in task["failures"]] == [DISCONNECTED] * 2 + [task["failReason"]]
    failed = (await http.get("/status", params={"failedQueue": "q"})).json()["failedQueue"]
    assert [t["taskId"] for t in failed["tasks"]] == [task_id]


async def test_only_the_tasks_sent_count_when_a_batch_subscriber_drops(
    live_server: LiveServer, http: httpx.AsyncClient
) -> None:
    worker = await worker_on(http)
    ids = [await publish(http, n) for n in range(3)]
    ws = await GraphQLSocket(live_server.ws_url).__aenter__()
    await ws.subscribe(BATCHES, w=worker, p=2)
    assert batch_ids(await ws.next()) == ids[:2]
    reports = [{"taskId": ids[0], "state": "complete"}]
    assert (await http.post("/tasks", json={"workerId": worker, "reports": reports})).is_success
    assert batch_ids(await ws.next()) == ids[2:]
    drop(ws)
    # The reported one stays completed; the two still held count a delivery each.
    states = [await task_when(http, t, "queued", "completed") for t in ids]
    assert [(s["state"], s["attempts"]) for s in states] == [
        ("completed", 0),
        ("queued", 1),
        ("queued", 1),
    ]


@pytest.mark.parametrize("query", [PUSH, BATCHES], ids=["tasks", "taskBatches"])
async def test_unsubscribing_gives_the_tasks_back_uncounted(
    live_server: LiveServer, http: httpx.AsyncClient, query: str
) -> None:
    worker = await worker_on(http)
    await configure(http, "q", maxDeliveries=1)
    async with GraphQLSocket(live_server.ws_url) as ws:
        op = await ws.subscribe(query, w=worker)
        await asyncio.sleep(0.1)
        task_id = await publish(http, 1)
        assert (await ws.next())["type"] == "next"
        await ws.stop(op)
        task = await task_when(http, task_id, "queued", "failed")
        assert (task["state"], task["attempts"], task["workerId"]) == ("queued", 0, None)
        # Again, and the socket closed right after the complete: still uncounted.
        again = await ws.subscribe(query, w=worker)
        assert (await ws.next())["type"] == "next"
        await ws.stop(again)
    task = await task_when(http, task_id, "queued", "failed")
    assert (task["state"], task["attempts"], task["workerId"]) == ("queued", 0, None)


@pytest.fixture
async def ctx(store: Store) -> AsyncIterator[Context]:
    app = create_app(Settings(queue_cache_seconds=0), store=store, start_duties=False)
    async with LifespanManager(app):
        await set_interests(app.state.ctx, "q", "*")
        yield app.state.ctx


async def test_a_batch_counts_as_sent_once_the_transport_asks_for_the_next(ctx: Context) -> None:
    worker = await register_worker(ctx, queues=["q"])
    first, second = [
        (await publish_event(ctx, publisher="t", data={"n": n})).tasks[0].task_id for n in (1, 2)
    ]
    # Yielded, but the transport closed the stream before asking for more: never sent.
    batches = push_batches(ctx, worker.worker_id, 1, vanished=lambda: True)
    assert [t.task_id for t in await anext(batches)] == [first]
    await batches.aclose()
    stored = await ctx.store.get_task(first)
    assert stored is not None and (stored.state, stored.attempts) == (TaskState.QUEUED, 0)
    # Asked for the next: the first was written, and counts when the subscriber vanishes.
    batches = push_batches(ctx, worker.worker_id, 1, vanished=lambda: True)
    assert [t.task_id for t in await anext(batches)] == [first]
    waiting = asyncio.ensure_future(anext(batches))
    await asyncio.sleep(0.05)
    waiting.cancel()
    await asyncio.gather(waiting, return_exceptions=True)
    await batches.aclose()
    found = await ctx.store.get_tasks([first, second])
    assert [(found[t].state, found[t].attempts) for t in (first, second)] == [
        (TaskState.QUEUED, 1),
        (TaskState.QUEUED, 0),
    ]


async def test_a_node_shutting_down_gives_its_subscribers_tasks_back_uncounted(
    backend: str, tmp_path: Path
) -> None:
    store = await open_backend(backend, tmp_path)
    server = await LiveServer(store).start()
    try:
        async with httpx.AsyncClient(base_url=server.http_url, timeout=10) as http:
            worker = await worker_on(http)
            task_id = await publish(http, 1)
        ws = await GraphQLSocket(server.ws_url).__aenter__()
        await ws.subscribe(PUSH, w=worker)
        assert (await ws.next())["type"] == "next"
        # The node closes the socket (1012): its worker did not vanish, nothing is counted.
        await server.stop()
        task = await store.get_task(task_id)
        assert task is not None and (task.state, task.attempts) == (TaskState.QUEUED, 0)
        await ws.socket.close()
    finally:
        await server.stop()
        await store.close()
