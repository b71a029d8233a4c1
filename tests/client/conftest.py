"""A real server process for the client tests: `python -m app serve` on a free port over a temp
SQLite store, with short intervals so leases, reaping and push wake-ups happen quickly."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from tests.client.helpers import ServerApi
from tests.nodes.server import ServerNode

FAST = ("--lease-reap-interval", "0.2", "--change-poll-interval", "0.05")


def start_node(directory: Path, port: int | None = None) -> ServerNode:
    store = f"sqlite:///{directory / 'client.db'}"
    return ServerNode(store, directory / "server.log", port=port, extra_args=FAST).start()


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerNode]:
    node = start_node(tmp_path_factory.mktemp("server"))
    try:
        yield node
    finally:
        node.stop()


@pytest.fixture
async def api(server: ServerNode) -> AsyncIterator[ServerApi]:
    async with httpx.AsyncClient(base_url=server.url, timeout=10) as client:
        yield ServerApi(client)


@pytest.fixture
async def queue(api: ServerApi) -> str:
    """A queue of this test's own: it takes the events published with ``api.publish(queue)``."""
    name = f"q-{uuid.uuid4().hex[:10]}"
    await api.interest(name)
    return name
