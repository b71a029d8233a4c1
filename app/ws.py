"""Strawberry's websocket protocol handler, telling subscriptions how they ended.

A subscription ends cleanly when its client ends it (graphql-transport-ws ``complete``; the
older graphql-ws protocol is not offered): Strawberry then forgets the operation and cancels
it. When the socket goes away instead (closed, dropped, or no longer answering pings; or found
gone by a send), the operations still open are the ones whose client vanished: the handler
records them in the connection's SocketState before Strawberry ends them, so a push
subscription can tell the two apart (resolvers/push.py).

Unless the server closed the socket itself: a node shutting down (uvicorn tells the app of
that with close code 1012) is no fault of its workers.

Each set-up step (the handshake, connection_init, an operation until it settles) takes a slot
of the node's SetupGate first (app/setups.py), so that thousands of workers connecting at once
do not slow everything else on the node down.
"""

from __future__ import annotations

from typing import Any

from starlette.types import Message, Receive, Scope, Send
from strawberry.http.exceptions import WebSocketDisconnected
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
)

from app.setups import Release, SetupGate, settling
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


# What ends a handshake: the socket accepted, or refused (with a close or an HTTP answer).
_HANDSHAKE_ENDS = frozenset(
    {"websocket.accept", "websocket.close", "websocket.http.response.start"}
)


def until_accepted(send: Send, release: Release) -> Send:
    """``send``, calling ``release`` once the handshake is answered (the set-up slot of the
    handshake goes to the next one then)."""

    async def sending(message: Message) -> None:
        try:
            await send(message)
        finally:
            if message["type"] in _HANDSHAKE_ENDS:
                release()

    return sending


def _state(context: Any) -> SocketState | None:
    state = context.get("socket") if isinstance(context, dict) else None
    return state if isinstance(state, SocketState) else None


class TransportWSHandler(BaseGraphQLTransportWSHandler[dict[str, Any], None]):
    """graphql-transport-ws (the protocol the clients here speak). The view (app.asgi) holds
    the node's SetupGate as ``setups``."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # The set-up slots of this connection's operations not yet settled, by operation id.
        self._settling: dict[str, Release] = {}

    async def handle_connection_init(self, message: Any) -> None:
        release = await self._setups().enter()
        try:
            await super().handle_connection_init(message)
        finally:
            release()

    async def run_operation(self, operation: Any) -> None:
        release = await self._setups().enter()
        # Its first message settles it too (a query's answer, a push that found work at once).
        self._settling[operation.id] = release
        try:
            with settling(release):
                await super().run_operation(operation)
        finally:
            release()
            if self._settling.get(operation.id) is release:
                del self._settling[operation.id]

    def _setups(self) -> SetupGate:
        setups = getattr(self.view, "setups", None)
        if not isinstance(setups, SetupGate):
            raise TypeError("the GraphQL view must hold a SetupGate as `setups`")
        return setups

    async def shutdown(self) -> None:
        # Called once the socket is gone; operations the client completed were removed first.
        self._drop_open()
        await super().shutdown()

    async def send_message(self, message: Any) -> None:
        operation_id = message.get("id")
        if operation_id is not None:
            release = self._settling.pop(operation_id, None)
            if release is not None:
                release()
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
