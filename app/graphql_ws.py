"""graphql-transport-ws with every client message checked before Strawberry reads it.

Strawberry's handler indexes messages as it finds them: a JSON array, a ``payload`` of null or
a ``query`` of 5 raised TypeError, dropping the socket with no close code or failing inside the
operation. The protocol's answer to a malformed message is close 4400 with a reason.
"""

from __future__ import annotations

from typing import cast

from strawberry.subscriptions.protocols.graphql_transport_ws.types import Message

from app.ws import TransportWSHandler

_OPTIONAL_OBJECTS = ("variables", "extensions")


def malformed(message: object) -> str | None:
    """Why ``message`` is not a graphql-transport-ws message we can act on, or None.

    Only what Strawberry would trip over is checked: an unknown ``type`` is its to refuse.
    """
    if not isinstance(message, dict):
        return "a message must be a JSON object"
    kind = message.get("type")
    if not isinstance(kind, str):
        return "a message must have a string `type`"
    if kind in ("subscribe", "complete") and not (
        isinstance(message.get("id"), str) and message["id"]
    ):
        return f"a {kind} message must have a non-empty string `id`"
    if kind != "subscribe":
        return None
    payload = message.get("payload")
    if not isinstance(payload, dict):
        return "a subscribe message must have an object `payload`"
    query = payload.get("query")
    if not isinstance(query, str) or not query:
        return "payload.query must be a non-empty string"
    for name in _OPTIONAL_OBJECTS:
        if not isinstance(payload.get(name), dict | None):
            return f"payload.{name} must be an object or null"
    if not isinstance(payload.get("operationName"), str | None):
        return "payload.operationName must be a string or null"
    return None


class CheckedTransportWSHandler(TransportWSHandler):
    """The graphql-transport-ws handler (app.ws: how subscriptions ended), refusing malformed
    messages with 4400."""

    async def handle_message(self, message: Message) -> None:
        reason = malformed(cast(object, message))
        if reason is not None:
            await self.handle_invalid_message(reason)
            return
        await super().handle_message(message)
