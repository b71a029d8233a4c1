"""The worker's poll mode long-polls: idle, each loop asks once per wait, over one keep-alive
connection of its own; a task published meanwhile is taken at once; stopping hands nothing to
a loop that is gone. Requests are counted by a proxy between the worker and the server."""

from __future__ import annotations

import asyncio
import time

from couchqueue_client import Task, Worker
from tests.client.helpers import ServerApi, eventually, running
from tests.client.proxy import CountingProxy
from tests.nodes.server import ServerNode


def _worker(url: str, queue: str, seen: list[Task], concurrency: int, wait: float) -> Worker:
    async def handler(task: Task) -> None:
        seen.append(task)

    return Worker(
        url,
        [queue],
        handler,
        concurrency=concurrency,
        mode="poll",
        heartbeat_interval=5,
        poll_interval=0.05,
        wait_seconds=wait,
        max_backoff=0.3,
    )


async def test_an_idle_poll_worker_asks_once_per_wait_per_loop(
    server: ServerNode, api: ServerApi, queue: str
) -> None:
    seen: list[Task] = []
    wait, loops, idle = 1.0, 3, 2.0
    async with CountingProxy(server.url).serving() as proxy:
        async with running(_worker(proxy.url, queue, seen, loops, wait)):
            await eventually(lambda: _at_least(proxy.claims, loops))
            before, began = proxy.claims, time.monotonic()
            await asyncio.sleep(idle)
            asked = proxy.claims - before
            waits = (time.monotonic() - began) / wait
            # At most one request per wait per loop (+1 each: a wait that straddles the ends).
            assert asked <= loops * (waits + 1), (asked, waits)
            # A task published now is taken at once, not at the end of a wait.
            published_at = time.monotonic()
            task_id = await api.publish(queue, {"n": 1})
            await eventually(lambda: _at_least(len(seen), 1), within=5)
            assert seen[0].task_id == task_id
            assert time.monotonic() - published_at < wait
        # Register, heartbeats, reports and goodbye share the pool: no connection per request.
        assert proxy.connections <= loops + 4, proxy.connections


async def test_stopping_a_long_polling_worker_leaves_published_tasks_queued(
    server: ServerNode, api: ServerApi, queue: str
) -> None:
    seen: list[Task] = []
    async with running(_worker(server.url, queue, seen, 2, 10.0)) as worker:
        await asyncio.sleep(0.3)  # both loops are waiting
        worker.stop()
    task_id = await api.publish(queue, {"n": 1})
    await asyncio.sleep(0.2)
    assert (await api.task(task_id))["state"] == "queued"
    assert seen == []


async def _at_least(value: int, least: int) -> bool:
    return value >= least
