"""A long-poll scenario between two nodes, run over each store (test_long_poll_nodes.py,
test_couchbase_nodes.py)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx

# The nodes' change-stamp interval (the default), and what a loaded test machine adds to it.
CHANGE_POLL = 0.1
SLACK = 1.0


def _ok(reply: httpx.Response) -> Any:
    assert reply.status_code == 200, f"{reply.request.method} {reply.url}: {reply.text}"
    return reply.json()


async def cross_node_long_poll(client: httpx.AsyncClient, a: str, b: str) -> None:
    """A claim waiting on node ``b`` gets a task published on node ``a`` within the
    change-stamp interval, long before its wait is over."""
    _ok(await client.put(f"{a}/interest", json={"queue": "jobs", "interests": "*"}))
    worker = _ok(await client.put(f"{b}/worker", json={"queues": ["jobs"]}))["workerId"]
    params = {"workerId": worker, "waitSeconds": 10}
    waiting = asyncio.ensure_future(client.get(f"{b}/task", params=params))
    await asyncio.sleep(0.3)
    assert not waiting.done()
    published_at = time.monotonic()
    task_id = _ok(await client.put(f"{a}/task", json={"publisher": "p", "data": {}}))["tasks"][0][
        "taskId"
    ]
    task = _ok(await asyncio.wait_for(waiting, 5))
    took = time.monotonic() - published_at
    assert task is not None and (task["taskId"], task["workerId"]) == (task_id, worker)
    assert took < CHANGE_POLL + SLACK, took
