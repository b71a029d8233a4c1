"""Refuse request bodies over the configured size, for every route, before anything parses them.

The refusal is raised as PayloadTooLarge from the body stream itself, so the app's one error
handler renders it (413) whichever endpoint was reading. A websocket message over the size is
refused the websocket way: the socket is closed with 1009 (message too big) and a reason, and
the app reads a disconnect. uvicorn's ``ws_max_size`` (app.cli) refuses it sooner, unread, but
only when uvicorn runs the app.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from resolvers.errors import PayloadTooLarge

MESSAGE_TOO_BIG = 1009  # RFC 6455


class BodyLimitMiddleware:
    def __init__(self, app: ASGIApp, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            await self._websocket(scope, receive, send)
            return
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length", b"")
        too_large = declared.isdigit() and int(declared) > self.max_body_bytes
        if declared.isdigit() and not too_large:
            # The server never passes on more body than the declared length.
            await self.app(scope, receive, send)
            return
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            if too_large:
                raise self._error()
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body_bytes:
                    raise self._error()
            return message

        await self.app(scope, limited_receive, send)

    def _error(self) -> PayloadTooLarge:
        return PayloadTooLarge(
            f"request body is larger than {self.max_body_bytes} bytes", param="body"
        )

    async def _websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        closed = False

        async def limited_receive() -> Message:
            nonlocal closed
            message = await receive()
            if message["type"] == "websocket.receive" and self._too_big(message):
                closed = True
                reason = f"message is larger than {self.max_body_bytes} bytes"
                await send({"type": "websocket.close", "code": MESSAGE_TOO_BIG, "reason": reason})
                return {"type": "websocket.disconnect", "code": MESSAGE_TOO_BIG}
            return message

        async def guarded_send(message: Message) -> None:
            # Once closed here, the app still believes the socket open; what it sends is moot.
            if not closed:
                await send(message)

        await self.app(scope, limited_receive, guarded_send)

    def _too_big(self, message: Message) -> bool:
        text = message.get("text")
        if text is not None:
            # A character is at most 4 bytes in UTF-8: only a long text needs encoding.
            return len(text) * 4 > self.max_body_bytes and (
                len(text) > self.max_body_bytes or len(text.encode()) > self.max_body_bytes
            )
        return len(message.get("bytes") or b"") > self.max_body_bytes
