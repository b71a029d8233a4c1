"""Strawberry's websocket protocol handler, telling subscriptions how they ended.

A subscription ends cleanly when its client ends it (graphql-transport-ws ``complete``; the
older graphql-ws protocol is not offered): Strawberry then forgets the operation and cancels
it. When the socket goes away instead (closed, dropped, or no longer answering pings; or found
gone by a send), the operations still open are the ones whose client vanished: the handler
records them in the connection's SocketState before Strawberry ends them, so a push
subscription can tell the two apart (resolvers/push.py).

Unless the server closed the socket itself: a node shutting down (uvicorn tells the app of
that with close code 1012) is no fault of its workers.
"""

from __future__ import annotations

from typing import Any

from starlette.types import Message, Receive, Scope
from strawberry.http.exceptions import WebSocketDisconnected
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
)

from schema.context import SocketState

# The close code uvicorn (every websocket implementation) gives the app for the connections it
# closes as it shuts down; RFC 6455's "service restart".
SERVER_GOING_AWAY = 1012
# Where the connection's SocketState waits in the ASGI scope for the GraphQL context.
SOCKET_SCOPE_KEY = "couchqueue.socket"


def watch(scope: Scope, receive: Receive) -> Receive:
    """Give the websocket connection of ``scope`` its SocketState (at SOCKET_SCOPE_KEY), and
    the ``receive`` that marks it when the server is the one closing the socket."""
    state = SocketState()
    scope[SOCKET_SCOPE_KEY] = state

    async def watched() -> Message:
        message = await receive()
        if message["type"] == "websocket.disconnect" and message.get("code") == SERVER_GOING_AWAY:
            state.server_leaving = True
        return message

    return watched


def _state(context: Any) -> SocketState | None:
    state = context.get("socket") if isinstance(context, dict) else None
    return state if isinstance(state, SocketState) else None


class TransportWSHandler(BaseGraphQLTransportWSHandler[dict[str, Any], None]):
    """graphql-transport-ws (the protocol the clients here speak)."""

    async def shutdown(self) -> None:
        # Called once the socket is gone; operations the client completed were removed first.
        self._drop_open()
        await super().shutdown()

    async def send_message(self, message: Any) -> None:
        try:
            await super().send_message(message)
        except WebSocketDisconnected:
            # A push found the socket gone: the operation ends now, before shutdown would see it.
            self._drop_open()
            raise

    def _drop_open(self) -> None:
        state = _state(self.context)
        if state is not None:
            state.dropped(op.task for op in self.operations.values() if op.task is not None)
