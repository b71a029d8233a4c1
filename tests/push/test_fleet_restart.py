"""A fleet of push workers outlives a restart of its node: a fleet of workers (the real client,
in push mode) on one shared queue; the node is stopped and started again on the same port and
store; every worker comes back (jittered exponential backoff, so not in lockstep), the tasks
published while they reconnect are all done, and none was delivered twice.

200 workers by default (about 13 s on two shared cores); the issue's 500 with
COUCHQUEUE_TEST_FLEET=500 (about 30 s: the workers' own CPU in this process dominates)."""

from __future__ import annotations

import asyncio
import os
import re
import resource
from collections import Counter
from collections.abc import Iterator
from contextlib import AsyncExitStack
from pathlib import Path

import httpx
import pytest

from couchqueue_client import Task, Worker
from tests.client.helpers import ServerApi, eventually
from tests.nodes.server import ServerNode

pytestmark = pytest.mark.slow

FLEET = int(os.environ.get("COUCHQUEUE_TEST_FLEET", "200"))
QUEUE = "fleet"


@pytest.fixture
def node(tmp_path: Path) -> Iterator[ServerNode]:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    # Each worker holds a websocket and an HTTP connection here, and the node one of each.
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 4 * FLEET + 256)), hard))
    server = ServerNode(f"sqlite:///{tmp_path / 'fleet.db'}", tmp_path / "node.log")
    try:
        yield server.start()
    finally:
        server.stop()
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


async def subscribers(url: str) -> int:
    async with httpx.AsyncClient(timeout=5) as client:
        text = (await client.get(url + "/metrics")).text
    found = re.search(r"^couchqueue_push_subscribers (\d+)", text, re.MULTILINE)
    return int(found.group(1)) if found else -1


async def test_every_worker_comes_back_and_nothing_runs_twice(node: ServerNode) -> None:
    ran: Counter[str] = Counter()

    async def handler(task: Task) -> None:
        ran[task.task_id] += 1

    async with httpx.AsyncClient(base_url=node.url, timeout=30) as http, AsyncExitStack() as stack:
        api = ServerApi(http)
        await api.interest(QUEUE)
        workers = [
            Worker(node.url, [QUEUE], handler, max_backoff=2.0, heartbeat_interval=5.0)
            for _ in range(FLEET)
        ]
        jobs = [asyncio.create_task(worker.run()) for worker in workers]

        async def stop_all() -> None:
            for worker in workers:
                worker.stop()
            await asyncio.wait_for(asyncio.gather(*jobs, return_exceptions=True), 30)

        stack.push_async_callback(stop_all)
        await eventually(lambda: _all_subscribed(node.url), within=60, every=0.2)
        before = [await api.publish(QUEUE, {"n": n}) for n in range(50)]
        await eventually(lambda: _done(api, before), within=20, every=0.2)

        await asyncio.to_thread(node.stop)
        await asyncio.sleep(0.5)  # the workers find it gone, and back off
        await asyncio.to_thread(node.start)
        # Published while the fleet reconnects: taken by whoever is back.
        after = [await api.publish(QUEUE, {"n": n}) for n in range(100)]
        await eventually(lambda: _done(api, after), within=30, every=0.2)
        await eventually(lambda: _all_subscribed(node.url), within=30, every=0.2)
        for job in jobs:
            assert not job.done(), job
    assert sorted(ran) == sorted(before + after)
    assert [task for task, times in ran.items() if times > 1] == []


async def _all_subscribed(url: str) -> bool:
    return await subscribers(url) == FLEET


async def _done(api: ServerApi, task_ids: list[str]) -> bool:
    states = await asyncio.gather(*(api.task(t) for t in task_ids))
    return all(state["state"] == "completed" for state in states)
