"""claimTask(waitSeconds) over a websocket (graphql-transport-ws), on every store: answered when
a task is published; a socket that goes away, or a client that completes the operation, while
the claim waits takes nothing."""

from __future__ import annotations

import asyncio

import httpx

from tests.push.conftest import LiveServer
from tests.push.wsclient import GraphQLSocket

CLAIM = "mutation($w: ID!) { claimTask(workerId: $w, waitSeconds: 10) { taskId state workerId } }"


async def _worker(http: httpx.AsyncClient) -> str:
    reply = await http.put("/interest", json={"queue": "q", "interests": "*"})
    assert reply.status_code == 200, reply.text
    return str((await http.put("/worker", json={"queues": ["q"]})).json()["workerId"])


async def _waiting(server: LiveServer, count: int) -> None:
    for _ in range(300):
        if server.app.state.ctx.waiters.subscribed == count:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"not {count} waiting")


async def _publish(http: httpx.AsyncClient) -> str:
    reply = await http.put("/task", json={"publisher": "p", "data": {}})
    return str(reply.json()["tasks"][0]["taskId"])


async def test_a_waiting_claim_over_a_websocket_gets_a_published_task(
    live_server: LiveServer, http: httpx.AsyncClient
) -> None:
    worker = await _worker(http)
    async with GraphQLSocket(live_server.ws_url) as ws:
        await ws.subscribe(CLAIM, w=worker)
        await _waiting(live_server, 1)
        task_id = await _publish(http)
        message = await ws.next()
    claimed = message["payload"]["data"]["claimTask"]
    assert (claimed["taskId"], claimed["state"], claimed["workerId"]) == (
        task_id,
        "started",
        worker,
    )


async def test_a_socket_gone_while_its_claim_waits_takes_nothing(
    live_server: LiveServer, http: httpx.AsyncClient
) -> None:
    worker = await _worker(http)
    for leave in ("close", "complete"):
        async with GraphQLSocket(live_server.ws_url) as ws:
            op = await ws.subscribe(CLAIM, w=worker)
            await _waiting(live_server, 1)
            if leave == "complete":
                await ws.stop(op)
        await _waiting(live_server, 0)
        task_id = await _publish(http)
        task = (await http.get("/status", params={"task": task_id})).json()["task"]
        assert (task["state"], task["workerId"]) == ("queued", None), leave
        await http.delete("/task", params={"queue": "q"})
