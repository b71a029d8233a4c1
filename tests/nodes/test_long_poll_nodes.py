"""Long-poll claims between real uvicorn nodes: a task published on one node answers a claim
waiting on another within the change-stamp interval; a client that hangs up (its socket
closed) claims nothing."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from tests.nodes.long_poll import cross_node_long_poll
from tests.nodes.server import ServerNode

pytestmark = pytest.mark.slow


def _ok(reply: httpx.Response) -> Any:
    assert reply.status_code == 200, f"{reply.request.method} {reply.url}: {reply.text}"
    return reply.json()


async def test_a_claim_waiting_on_one_node_gets_a_task_published_on_another(
    node_factory: Callable[..., ServerNode],
) -> None:
    a, b = node_factory(), node_factory()
    async with httpx.AsyncClient(timeout=30) as client:
        await cross_node_long_poll(client, a.url, b.url)


async def test_a_client_that_closed_its_connection_claims_nothing(
    node_factory: Callable[..., ServerNode],
) -> None:
    node = node_factory()
    async with httpx.AsyncClient(timeout=30) as client:
        _ok(await client.put(f"{node.url}/interest", json={"queue": "jobs", "interests": "*"}))
        gone = _ok(await client.put(f"{node.url}/worker", json={"queues": ["jobs"]}))["workerId"]
        other = _ok(await client.put(f"{node.url}/worker", json={"queues": ["jobs"]}))["workerId"]
        async with httpx.AsyncClient(timeout=0.3) as impatient:
            with pytest.raises(httpx.ReadTimeout):
                await impatient.get(
                    f"{node.url}/task", params={"workerId": gone, "waitSeconds": 10}
                )
        # The node notices the closed socket at once; give it a moment on a loaded machine.
        await asyncio.sleep(0.2)
        published = _ok(await client.put(f"{node.url}/task", json={"publisher": "p", "data": {}}))
        task_id = published["tasks"][0]["taskId"]
        await asyncio.sleep(0.2)
        status = _ok(await client.get(f"{node.url}/status", params={"task": task_id}))
        assert (status["task"]["state"], status["task"]["workerId"]) == ("queued", None)
        task = _ok(await client.get(f"{node.url}/task", params={"workerId": other}))
        assert task is not None and task["taskId"] == task_id
