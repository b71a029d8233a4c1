"""Waiting for a task's outcome through each transport, for tests: REST's GET /task/result and
GraphQL's taskUpdates subscription, on a real node (uvicorn in this process) whose background
duties run. Both answer in the REST reply shape; errors raise ApiError."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx

from app.settings import Settings
from resolvers.store import Store
from tests.api.client import TASK_FIELDS, ApiError
from tests.push.conftest import LiveServer
from tests.push.wsclient import GraphQLSocket

UPDATES = f"subscription($taskId: ID!) {{ taskUpdates(taskId: $taskId) {{ {TASK_FIELDS} }} }}"


class RestOutcome:
    transport = "rest"

    def __init__(self, node: LiveServer) -> None:
        self.node = node

    async def wait(self, task_id: str, seconds: Any) -> dict[str, Any]:
        params = {"taskId": task_id, "waitSeconds": seconds}
        async with httpx.AsyncClient(base_url=self.node.http_url, timeout=30) as http:
            reply = await http.get("/task/result", params=params)
        body = reply.json()
        if reply.status_code != 200:
            error = body["error"]
            raise ApiError(error["code"], error["param"], reply.status_code, error["message"])
        assert isinstance(body, dict)
        return body


class GraphQLOutcome:
    """taskUpdates until it completes (the last task), or ``seconds`` (the task as last told)."""

    transport = "graphql"

    def __init__(self, node: LiveServer) -> None:
        self.node = node
        self.updates: list[dict[str, Any]] = []

    async def wait(self, task_id: str, seconds: Any) -> dict[str, Any]:
        async with GraphQLSocket(self.node.ws_url) as socket:
            await socket.subscribe(UPDATES, taskId=task_id)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(seconds):
                    while True:
                        message = await socket.next(within=60)
                        if message["type"] == "complete":
                            break
                        if message["type"] == "error":
                            _raise(message["payload"][0])
                        if message["payload"].get("errors"):
                            _raise(message["payload"]["errors"][0])
                        self.updates.append(message["payload"]["data"]["taskUpdates"])
        assert self.updates, "no update before the wait ended"
        return self.updates[-1]


def _raise(error: dict[str, Any]) -> None:
    extensions = error.get("extensions") or {}
    raise ApiError(
        extensions.get("code", "NO_CODE"), extensions.get("param"), 200, error["message"]
    )


Outcome = RestOutcome | GraphQLOutcome


@contextlib.asynccontextmanager
async def live_node(store: Store, settings: Settings) -> AsyncIterator[LiveServer]:
    node = await LiveServer(store, settings).start()
    try:
        yield node
    finally:
        await node.stop()


async def call(http: httpx.AsyncClient, method: str, path: str, **kw: Any) -> Any:
    reply = await http.request(method, path, **kw)
    assert reply.status_code == 200, reply.text
    return json.loads(reply.content)
