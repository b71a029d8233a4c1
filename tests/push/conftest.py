"""Real servers in this process (uvicorn on free ports) for websocket tests."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from pathlib import Path

import httpx
import pytest
import uvicorn

from app.asgi import create_app
from app.settings import Settings
from resolvers.store import Store
from tests.conftest import open_backend
from tests.nodes.server import free_port

SETTINGS = Settings(change_poll_interval=0.05, lease_reap_interval=0.2)


class LiveServer:
    def __init__(self, store: Store, settings: Settings = SETTINGS) -> None:
        self.port = free_port()
        self.app = create_app(settings, store=store)
        config = uvicorn.Config(
            self.app,
            host="127.0.0.1",
            port=self.port,
            log_level="warning",
            lifespan="on",
            ws_ping_interval=settings.ws_ping_interval,
            ws_ping_timeout=settings.ws_ping_timeout,
        )
        self.server = uvicorn.Server(config)
        self.task: asyncio.Task[None] | None = None

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/graphql"

    async def start(self) -> LiveServer:
        self.task = asyncio.create_task(self.server.serve())
        while not self.server.started:
            if self.task.done():
                self.task.result()
            await asyncio.sleep(0.01)
        return self

    async def stop(self) -> None:
        self.server.should_exit = True
        if self.task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self.task


ServerFactory = Callable[[], AbstractAsyncContextManager[LiveServer]]


@pytest.fixture
async def live_server(backend: str, tmp_path: Path) -> AsyncIterator[LiveServer]:
    store = await open_backend(backend, tmp_path)
    server = await LiveServer(store).start()
    try:
        yield server
    finally:
        await server.stop()
        await store.close()


@pytest.fixture
async def http(live_server: LiveServer) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=live_server.http_url, timeout=10) as client:
        yield client
