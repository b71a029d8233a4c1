"""The worker's side of the REST API, async: register, claim, report, heartbeat, goodbye."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import httpx

from couchqueue_client.errors import CouchQueueError
from couchqueue_client.http import send_async
from couchqueue_client.models import Task
from couchqueue_client.wire import Connection


@dataclass(frozen=True, slots=True)
class Report:
    """How a task ended, as POST /task and POST /tasks take it."""

    task_id: str
    state: Literal["complete", "fail"]
    fail_reason: str | None = None
    re_enqueue: bool = False
    # A completion's result (None: none) and follow-up events (PUT /task bodies).
    result: Any = None
    publish: tuple[dict[str, Any], ...] = ()

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"taskId": self.task_id, "state": self.state}
        if self.fail_reason is not None:
            body["failReason"] = self.fail_reason
        if self.re_enqueue:
            body["reEnqueue"] = True
        if self.result is not None:
            body["result"] = self.result
        if self.publish:
            body["publish"] = list(self.publish)
        return body


class WorkerApi:
    """Thin async calls over an httpx.AsyncClient whose base_url is the server."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client

    async def register(self, queues: Sequence[str], name: str | None) -> str:
        body: dict[str, Any] = {"queues": list(queues)}
        if name is not None:
            body["name"] = name
        answer = await send_async(self.client, "PUT", "/worker", json=body)
        return str(answer["workerId"])

    async def claim(self, worker_id: str, wait: float | None = None) -> Task | None:
        """GET /task; with ``wait``, a long poll of up to that many seconds."""
        if wait is None:
            params: dict[str, Any] = {"workerId": worker_id}
            answer = await send_async(self.client, "GET", "/task", params=params)
        else:
            params = {"workerId": worker_id, "waitSeconds": wait}
            usual = self.client.timeout
            longer = httpx.Timeout(
                connect=usual.connect,
                read=None if usual.read is None else usual.read + wait,
                write=usual.write,
                pool=usual.pool,
            )
            answer = await send_async(self.client, "GET", "/task", params=params, timeout=longer)
        return None if answer is None else Task.from_json(answer)

    async def report(
        self, worker_id: str, reports: Sequence[Report]
    ) -> list[CouchQueueError | None]:
        """Report tasks in one POST /tasks; one item per report: None, or the error it got."""
        body = {"workerId": worker_id, "reports": [r.to_json() for r in reports]}
        answer = await send_async(self.client, "POST", "/tasks", json=body)
        if not isinstance(answer, list) or len(answer) != len(reports):
            raise CouchQueueError("BAD_RESPONSE", f"unexpected POST /tasks answer: {answer!r:.200}")
        return [
            CouchQueueError.from_body(item, None) if "error" in item else None for item in answer
        ]

    async def progress(self, worker_id: str, task_id: str, value: Any) -> None:
        """PUT /task/progress: how far the handler got; also extends the task's lease."""
        body = {"workerId": worker_id, "taskId": task_id, "progress": value}
        await send_async(self.client, "PUT", "/task/progress", json=body)

    async def heartbeat(self, worker_id: str, task_ids: list[str]) -> None:
        """A sign of life that extends the leases of exactly these tasks."""
        body = {"workerId": worker_id, "taskIds": task_ids}
        await send_async(self.client, "PUT", "/worker/heartbeat", json=body)

    async def delete(self, worker_id: str) -> None:
        await send_async(self.client, "DELETE", "/worker", params={"workerId": worker_id})


class Claims:
    """One poll loop's claims: over a keep-alive connection of its own (plain http), else
    through the worker's httpx client."""

    def __init__(self, api: WorkerApi, connection: Connection | None) -> None:
        self._api = api
        self._connection = connection

    async def claim(self, worker_id: str, wait: float) -> Task | None:
        """A long poll of up to ``wait`` seconds (0: answered at once)."""
        if self._connection is None:
            return await self._api.claim(worker_id, wait)
        params = {"workerId": worker_id, "waitSeconds": wait}
        answer = await self._connection.get("/task", params, extra_timeout=wait)
        return None if answer is None else Task.from_json(answer)

    async def close(self) -> None:
        if self._connection is not None:
            await self._connection.close()
