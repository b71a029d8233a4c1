"""Several real server processes over one SQLite file: claims stay exclusive, publishes durable."""

from __future__ import annotations

import asyncio
import itertools
from collections import Counter
from collections.abc import Callable

import httpx
import pytest

from tests.nodes.server import ServerNode

pytestmark = pytest.mark.slow


async def _publish_many(client: httpx.AsyncClient, urls: list[str], count: int) -> list[str]:
    urls_cycle = itertools.cycle(urls)
    limit = asyncio.Semaphore(32)

    async def one(i: int, url: str) -> list[str]:
        async with limit:
            reply = await client.put(f"{url}/task", json={"publisher": "t", "data": {"i": i}})
            reply.raise_for_status()
            return [t["taskId"] for t in reply.json()["tasks"]]

    batches = await asyncio.gather(*(one(i, next(urls_cycle)) for i in range(count)))
    return [task_id for batch in batches for task_id in batch]


async def test_two_nodes_claim_2000_tasks_each_exactly_once(
    node_factory: Callable[..., ServerNode],
) -> None:
    a, b = node_factory(), node_factory()
    async with httpx.AsyncClient(timeout=30) as client:
        (
            await client.put(f"{a.url}/interest", json={"queue": "jobs", "interests": "*"})
        ).raise_for_status()
        published = await _publish_many(client, [a.url, b.url], 2000)
        assert len(published) == 2000

        workers = []
        for node in (a, b) * 4:
            reply = await client.put(f"{node.url}/worker", json={"queues": ["jobs"]})
            workers.append((node.url, reply.json()["workerId"]))

        async def drain(url: str, worker_id: str) -> list[str]:
            got = []
            while True:
                reply = await client.get(f"{url}/task", params={"workerId": worker_id})
                reply.raise_for_status()
                task = reply.json()
                if task is None:
                    return got
                assert task["workerId"] == worker_id and task["state"] == "started"
                got.append(task["taskId"])

        claimed = [
            t for batch in await asyncio.gather(*(drain(*w) for w in workers)) for t in batch
        ]
    counts = Counter(claimed)
    assert [t for t, n in counts.items() if n > 1] == []
    assert set(claimed) == set(published)


async def test_acknowledged_publishes_survive_kill_9(
    node_factory: Callable[..., ServerNode],
) -> None:
    node = node_factory()
    acknowledged: list[str] = []
    async with httpx.AsyncClient(timeout=10) as client:
        (
            await client.put(f"{node.url}/interest", json={"queue": "jobs", "interests": "*"})
        ).raise_for_status()
        killed, enough = asyncio.Event(), asyncio.Event()

        async def publisher(start: int) -> None:
            for i in itertools.count(start, 16):
                if killed.is_set() or i >= 5000:
                    return
                try:
                    reply = await client.put(
                        f"{node.url}/task", json={"publisher": "t", "data": {"i": i}}
                    )
                except httpx.TransportError:
                    return
                if reply.status_code == 200:
                    acknowledged.extend(t["taskId"] for t in reply.json()["tasks"])
                    if len(acknowledged) >= 600:
                        enough.set()

        async def killer() -> None:
            await enough.wait()
            node.kill()
            killed.set()

        await asyncio.wait_for(asyncio.gather(killer(), *(publisher(s) for s in range(16))), 60)
        assert len(acknowledged) >= 600

        node.start()
        status = (await client.get(f"{node.url}/status")).json()
        assert status["tasks"]["queued"] >= len(acknowledged)
        missing = []
        for task_id in acknowledged:
            reply = await client.get(f"{node.url}/status", params={"task": task_id})
            if reply.status_code != 200:
                missing.append(task_id)
    assert missing == []
