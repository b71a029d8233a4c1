"""Waiting for a task's outcome between real uvicorn nodes over one SQLite file: a task finished
on one node answers GET /task/result and taskUpdates waiting on the other, within the
change-stamp interval (the batched re-read of watched tasks), not at the end of the wait."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from tests.api.outcomes import UPDATES
from tests.nodes.server import ServerNode
from tests.push.wsclient import GraphQLSocket

pytestmark = pytest.mark.slow


def _ok(reply: httpx.Response) -> Any:
    assert reply.status_code == 200, f"{reply.request.method} {reply.url}: {reply.text}"
    return reply.json()


async def test_a_task_finished_on_another_node_answers_the_waiters_on_this_one(
    node_factory: Callable[..., ServerNode],
) -> None:
    a, b = node_factory(), node_factory()
    async with httpx.AsyncClient(timeout=30) as client:
        _ok(await client.put(f"{b.url}/interest", json={"queue": "jobs", "interests": "*"}))
        worker = _ok(await client.put(f"{b.url}/worker", json={"queues": ["jobs"]}))["workerId"]
        published = _ok(await client.put(f"{b.url}/task", json={"publisher": "p", "data": {}}))
        task_id = published["tasks"][0]["taskId"]
        ws_url = a.url.replace("http://", "ws://") + "/graphql"
        async with GraphQLSocket(ws_url) as socket:
            await socket.subscribe(UPDATES, taskId=task_id)
            first = await socket.next()
            assert first["payload"]["data"]["taskUpdates"]["state"] == "queued"
            params = {"taskId": task_id, "waitSeconds": 15}
            polling = asyncio.ensure_future(client.get(f"{a.url}/task/result", params=params))
            await asyncio.sleep(0.3)
            assert not polling.done()
            _ok(await client.get(f"{b.url}/task", params={"workerId": worker}))
            started = await socket.next()
            assert started["payload"]["data"]["taskUpdates"]["state"] == "started"
            loop = asyncio.get_running_loop()
            body = {"workerId": worker, "taskId": task_id, "state": "complete"}
            _ok(await client.post(f"{b.url}/task", json=body))
            completed_at = loop.time()
            answer = _ok(await asyncio.wait_for(polling, 5))
            assert (answer["taskId"], answer["state"]) == (task_id, "completed")
            # Within the change-stamp interval (0.1 s by default), with room for a loaded CI.
            assert loop.time() - completed_at < 2
            done = await socket.next()
            assert done["payload"]["data"]["taskUpdates"]["state"] == "completed"
            assert (await socket.next())["type"] == "complete"
