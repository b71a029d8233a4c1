"""How a Strawberry resolver reaches the engine: the app puts it in the context under "cq".

Over a websocket the app also puts there, under "socket", a SocketState: what the transport
tells subscriptions about their connection (see app/ws.py).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from typing import Any, TypeAlias

import strawberry

from resolvers.context import Context

# The app builds the GraphQL context as {"request": ..., "response": ..., "cq": Context}, with
# "socket": SocketState for websocket connections.
Info: TypeAlias = strawberry.Info[dict[str, Any], None]


def engine(info: Info) -> Context:
    """The engine context of this request."""
    ctx = info.context["cq"]
    if not isinstance(ctx, Context):
        raise TypeError(f'GraphQL context["cq"] must be a resolvers Context, not {type(ctx)!r}')
    return ctx


class SocketState:
    """One websocket connection: the operations (by the asyncio task running each) that were
    still open when the socket went away, neither finished nor ended by the client."""

    def __init__(self) -> None:
        self._dropped: set[asyncio.Task[Any]] = set()
        # Set by the transport when the server itself closes the socket (the node shuts down):
        # then no client vanished.
        self.server_leaving = False

    def dropped(self, operations: Iterable[asyncio.Task[Any]]) -> None:
        """The socket went away while these operations were open."""
        if not self.server_leaving:
            self._dropped.update(operations)

    def was_dropped(self, operation: asyncio.Task[Any]) -> bool:
        return operation in self._dropped


def vanished(info: Info) -> Callable[[], bool]:
    """For a subscription resolver, called as it starts: a test, true once its subscriber
    vanished (the socket went away with the subscription open). Always false off a websocket:
    there the end of a stream cannot tell a clean stop from a dead client."""
    state = info.context.get("socket")
    operation = asyncio.current_task()
    if not isinstance(state, SocketState) or operation is None:
        return lambda: False
    return lambda: state.was_dropped(operation)
