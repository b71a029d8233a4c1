"""Publishers keep one connection and reuse it: many single publishes, one connection."""

from __future__ import annotations

import asyncio
import uuid

import httpx

from couchqueue_client import AsyncPublisher, Publisher
from tests.client.proxy import CountingProxy
from tests.nodes.server import ServerNode

PUBLISHES = 30


async def _queue(server: ServerNode) -> str:
    name = f"c-{uuid.uuid4().hex[:10]}"
    async with httpx.AsyncClient(base_url=server.url) as client:
        body = {"queue": name, "interests": {"to": f"^{name}$"}}
        assert (await client.put("/interest", json=body)).status_code == 200
    return name


async def test_a_publisher_publishes_over_one_connection(server: ServerNode) -> None:
    queue = await _queue(server)
    async with CountingProxy(server.url).serving() as proxy:

        def publish_all() -> list[str]:
            with Publisher(proxy.url) as publisher:
                return [
                    publisher.publish({"to": queue, "n": n}).tasks[0].queue
                    for n in range(PUBLISHES)
                ]

        assert await asyncio.to_thread(publish_all) == [queue] * PUBLISHES
    assert (proxy.publishes, proxy.connections) == (PUBLISHES, 1)


async def test_an_async_publisher_publishes_over_one_connection(server: ServerNode) -> None:
    queue = await _queue(server)
    async with (
        CountingProxy(server.url).serving() as proxy,
        AsyncPublisher(proxy.url) as publisher,
    ):
        for n in range(PUBLISHES):
            assert (await publisher.publish({"to": queue, "n": n})).tasks[0].queue == queue
    assert (proxy.publishes, proxy.connections) == (PUBLISHES, 1)
