"""Bad input over graphql-transport-ws, against a real uvicorn server: a malformed message
closes the socket with 4400 and a reason, an oversized one with 1009, and a hostile document
is refused as over HTTP, quickly, leaving the socket usable.

SQLite only: what is tested is the transport, not the store.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import pytest
import uvicorn
import websockets

from app import cli
from app.settings import Settings
from tests.api import hostile
from tests.push.conftest import SETTINGS, LiveServer
from tests.push.wsclient import GraphQLSocket


@pytest.fixture
def backend() -> str:
    return "sqlite"


async def closed_with(ws: GraphQLSocket, message: str | bytes) -> tuple[int, str]:
    """Send ``message``; the close code and reason the server answers with."""
    await ws.socket.send(message)
    with pytest.raises(websockets.ConnectionClosed) as closed:
        while True:  # a pong or a stray message may come first
            await asyncio.wait_for(ws.socket.recv(), 5)
    received = closed.value.rcvd
    assert received is not None, "the server dropped the socket without a close frame"
    return received.code, received.reason


def subscribe(payload: Any, op: Any = "1") -> str:
    return json.dumps({"id": op, "type": "subscribe", "payload": payload})


MALFORMED = [
    pytest.param("[1,2,3]", "JSON object", id="array"),
    pytest.param("5", "JSON object", id="number"),
    pytest.param('{"type": 5}', "type", id="type-not-a-string"),
    pytest.param(subscribe(None), "payload", id="payload-null"),
    pytest.param(subscribe([1]), "payload", id="payload-array"),
    pytest.param(subscribe({"query": 5}), "query", id="query-a-number"),
    pytest.param(subscribe({}), "query", id="query-missing"),
    pytest.param(subscribe({"query": "{status{queues}}", "variables": [1]}), "variables",
                 id="variables-a-list"),
    pytest.param(subscribe({"query": "{status{queues}}", "operationName": 1}), "operationName",
                 id="operation-name-a-number"),
    pytest.param(subscribe({"query": "{status{queues}}"}, op=7), "id", id="id-a-number"),
    pytest.param('{"type": "complete"}', "id", id="complete-without-id"),
]  # fmt: skip


@pytest.mark.parametrize(("message", "word"), MALFORMED)
async def test_a_malformed_message_closes_with_4400(
    live_server: LiveServer, message: str, word: str
) -> None:
    """These dropped the socket with no close code, or failed inside the operation."""
    async with GraphQLSocket(live_server.ws_url) as ws:
        code, reason = await closed_with(ws, message)
    assert code == 4400 and word in reason, (code, reason)


async def test_a_message_over_the_body_limit_closes_with_1009(live_server: LiveServer) -> None:
    """A 5 MB message was taken. The app refuses it whatever server runs it (uvicorn here
    runs with its default 16 MiB ws_max_size, as the test server does not set it)."""
    query = '{ queue(name: "' + "x" * (SETTINGS.max_body_bytes + 1) + '") { name } }'
    async with GraphQLSocket(live_server.ws_url) as ws:
        code, reason = await closed_with(ws, subscribe({"query": query}))
    assert code == 1009 and str(SETTINGS.max_body_bytes) in reason, (code, reason)


async def test_a_fragment_bomb_is_refused_quickly_and_the_socket_lives(
    live_server: LiveServer,
) -> None:
    async with GraphQLSocket(live_server.ws_url) as ws:
        started = time.perf_counter()
        op = await ws.subscribe(hostile.fragment_bomb())
        message = await ws.next(within=5.0)
        elapsed = time.perf_counter() - started
        assert message["type"] == "error" and message["id"] == op, message
        assert message["payload"][0]["extensions"]["code"] == "QUERY_TOO_COMPLEX"
        assert elapsed < 1.0, elapsed
        op = await ws.subscribe("{ status { queues } }")
        message = await ws.next()
        assert message["type"] == "next" and "status" in message["payload"]["data"], message


async def test_the_legacy_graphql_ws_protocol_is_not_offered(live_server: LiveServer) -> None:
    """Only graphql-transport-ws: the legacy protocol's handler trips over such messages."""
    async with websockets.connect(live_server.ws_url, subprotocols=["graphql-ws"]) as socket:
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await asyncio.wait_for(socket.recv(), 5)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4406


def test_uvicorn_refuses_an_oversized_message_before_the_app(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`couchqueue serve` has uvicorn refuse a message over the body limit unread."""
    seen: dict[str, Any] = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **options: seen.update(options))
    cli.serve(Settings(max_body_bytes=12345))
    assert seen["ws_max_size"] == 12345
