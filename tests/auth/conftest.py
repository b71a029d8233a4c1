"""A live server with auth on: a token of each role, one of each revoked, a worker registered
by the worker token, and a task waiting. Requests go over real HTTP and websockets."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets

from app.settings import Settings
from resolvers import interests, publish, tokens, workers
from resolvers.access import Caller, Role
from resolvers.context import Context
from resolvers.models import TaskFilter, TaskState
from resolvers.store import Store
from tests.conftest import open_backend
from tests.push.conftest import LiveServer

# Tokens are read from the store on every request: these tests change them as they go.
SETTINGS = Settings(token_cache_seconds=0, queue_cache_seconds=0, auth_failure_limit=0)
# Who calls, in each table: no token, a revoked one, and one token per role.
CALLERS = ("none", "revoked", *(role.value for role in Role))


@dataclass
class World:
    server: LiveServer
    store: Store
    secrets: dict[str, str]
    worker_id: str
    task_id: str

    @property
    def ctx(self) -> Context:
        ctx: Context = self.server.app.state.ctx
        return ctx

    def headers(self, caller: str) -> dict[str, str]:
        secret = self.secrets.get(caller)
        return {} if secret is None else {"authorization": f"Bearer {secret}"}

    async def snapshot(self) -> dict[str, Any]:
        """Everything a refused call must leave as it was (tokens' last use aside)."""
        everything = TaskFilter(states=tuple(TaskState))
        return {
            "queues": await self.store.list_queues(),
            "workers": [
                dataclasses.replace(w, last_seen=0.0) for w in await self.store.list_workers()
            ],
            "tasks": (await self.store.list_tasks(everything, 1000, None)).tasks,
            "schedules": await self.store.list_schedules(),
            "tokens": [
                dataclasses.replace(t, last_used_at=None) for t in await self.store.list_tokens()
            ],
        }

    async def graphql(self, caller: str, query: str, **variables: Any) -> httpx.Response:
        async with httpx.AsyncClient(base_url=self.server.http_url, timeout=10) as client:
            return await client.post(
                "/graphql",
                json={"query": query, "variables": variables},
                headers=self.headers(caller),
            )

    async def socket(self, caller: str | None, via_header: bool = False) -> Any:
        """A graphql-transport-ws connection that sent its connection_init (with the caller's
        token in the payload, or in the upgrade's header)."""
        secret = self.secrets.get(caller or "")
        headers = {"authorization": f"Bearer {secret}"} if secret and via_header else None
        socket = await websockets.connect(
            self.server.ws_url, subprotocols=["graphql-transport-ws"], additional_headers=headers
        )
        payload = {"authorization": f"Bearer {secret}"} if secret and not via_header else {}
        await socket.send(json.dumps({"type": "connection_init", "payload": payload}))
        return socket


async def make_world(tmp_path: Path) -> AsyncIterator[World]:
    store = await open_backend("sqlite", tmp_path)
    server = await LiveServer(store, SETTINGS).start()
    try:
        ctx: Context = server.app.state.ctx
        secrets: dict[str, str] = {}
        for role in Role:
            _, secrets[role.value] = await tokens.create_token(ctx, role.value, [role.value])
        _, secrets["revoked"] = await tokens.create_token(ctx, "revoked", ["admin"])
        await tokens.revoke_token(ctx, "revoked")
        _, secrets["other-worker"] = await tokens.create_token(ctx, "other-worker", ["worker"])
        await interests.set_interests(ctx, "q", "*")
        as_worker = dataclasses.replace(ctx, caller=Caller("worker", frozenset({Role.WORKER})))
        worker = await workers.register_worker(as_worker, queues=["q"])
        published = await publish.publish(ctx, publisher="p", data={"n": 1})
        task_id = published.tasks[0].task_id
        yield World(server, store, secrets, worker.worker_id, task_id)
    finally:
        await server.stop()
        await store.close()


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    async for made in make_world(tmp_path):
        yield made
