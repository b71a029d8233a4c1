"""What the client tests share: a view of the server over plain HTTP (so that what the client
did is checked without the client), waiting for a condition, and a worker run in the test."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import httpx

from couchqueue_client import Worker
from couchqueue_client.handler import Handler
from couchqueue_client.worker import Mode

T = TypeVar("T")


class ServerApi:
    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client

    async def interest(self, queue: str) -> None:
        """The queue takes the events whose data says {"to": queue} (the server is shared)."""
        interests = {"to": f"^{queue}$"}
        reply = await self.client.put("/interest", json={"queue": queue, "interests": interests})
        assert reply.status_code == 200, reply.text

    async def publish(self, queue: str, data: dict[str, Any] | None = None) -> str:
        body = {"publisher": "test", "data": {"to": queue, **(data or {})}}
        reply = await self.client.put("/task", json=body)
        assert reply.status_code == 200, reply.text
        [task] = reply.json()["tasks"]
        return str(task["taskId"])

    async def task(self, task_id: str) -> dict[str, Any]:
        reply = await self.client.get("/status", params={"task": task_id})
        assert reply.status_code == 200, reply.text
        return reply.json()["task"]  # type: ignore[no-any-return]

    async def counts(self, queue: str) -> dict[str, Any]:
        reply = await self.client.get("/status", params={"queue": queue})
        assert reply.status_code == 200, reply.text
        return reply.json()["queue"]  # type: ignore[no-any-return]

    async def workers(self, queue: str) -> list[dict[str, Any]]:
        reply = await self.client.get("/status", params={"workers": queue})
        assert reply.status_code == 200, reply.text
        return reply.json()["workers"]  # type: ignore[no-any-return]

    async def states(self, task_ids: list[str]) -> list[str]:
        return [(await self.task(t))["state"] for t in task_ids]

    async def configure(self, queue: str, max_deliveries: int) -> None:
        """Set the queue's maxDeliveries (over GraphQL: REST has no route for it)."""
        query = (
            "mutation($q: String!, $n: Int) "
            "{ configureQueue(name: $q, maxDeliveries: $n) { name } }"
        )
        body = {"query": query, "variables": {"q": queue, "n": max_deliveries}}
        reply = await self.client.post("/graphql", json=body)
        assert reply.status_code == 200 and "errors" not in reply.json(), reply.text


async def eventually(
    check: Callable[[], Awaitable[T]], within: float = 10.0, every: float = 0.05
) -> T:
    """The first truthy value of ``check()``; AssertionError with the last one after ``within``."""
    deadline = time.monotonic() + within
    while True:
        value = await check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"not true within {within}s: last {value!r}")
        await asyncio.sleep(every)


def quick_worker(
    url: str, queue: str, handler: Handler, mode: Mode = "push", concurrency: int = 1
) -> Worker:
    """A worker that heartbeats, polls and reconnects quickly, for tests."""
    return Worker(
        url,
        [queue],
        handler,
        concurrency=concurrency,
        mode=mode,
        heartbeat_interval=0.2,
        poll_interval=0.05,
        max_backoff=0.3,
    )


@asynccontextmanager
async def running(worker: Worker, stop_within: float = 15.0) -> AsyncIterator[Worker]:
    """Run the worker in this event loop; stop it (gracefully) on the way out."""
    job = asyncio.create_task(worker.run())
    try:
        await eventually(lambda: _registered(worker, job))
        yield worker
    finally:
        worker.stop()
        await asyncio.wait_for(job, stop_within)


async def _registered(worker: Worker, job: asyncio.Task[None]) -> bool:
    if job.done():
        job.result()  # raise what stopped it
    return worker.worker_id is not None
