"""A minimal graphql-transport-ws client for tests (the real protocol, over real sockets)."""

from __future__ import annotations

import asyncio
import itertools
import json
from typing import Any

import websockets


class GraphQLSocket:
    def __init__(self, url: str) -> None:
        self.url = url
        self._ids = itertools.count(1)
        self.socket: Any = None

    async def __aenter__(self) -> GraphQLSocket:
        self.socket = await websockets.connect(self.url, subprotocols=["graphql-transport-ws"])
        await self.socket.send(json.dumps({"type": "connection_init"}))
        ack = json.loads(await self.socket.recv())
        assert ack["type"] == "connection_ack", ack
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.socket.close()

    async def subscribe(self, query: str, **variables: Any) -> str:
        op = str(next(self._ids))
        payload = {"query": query, "variables": variables}
        await self.socket.send(json.dumps({"id": op, "type": "subscribe", "payload": payload}))
        return op

    async def next(self, within: float = 5.0) -> dict[str, Any]:
        """The next data or error message, skipping pings (answered)."""
        while True:
            message = json.loads(await asyncio.wait_for(self.socket.recv(), within))
            if message["type"] == "ping":
                await self.socket.send(json.dumps({"type": "pong"}))
                continue
            if message["type"] == "pong":
                continue
            return message  # type: ignore[no-any-return]

    async def nothing_for(self, seconds: float) -> bool:
        try:
            message = await self.next(within=seconds)
        except TimeoutError:
            return True
        raise AssertionError(f"expected nothing, got {message}")

    async def stop(self, op: str) -> None:
        await self.socket.send(json.dumps({"id": op, "type": "complete"}))
