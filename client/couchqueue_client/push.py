"""Push delivery: the ``tasks(workerId, prefetch)`` GraphQL subscription over websockets
(graphql-transport-ws). Every task it yields is already claimed for the worker; at most
``prefetch`` are unfinished at once.

``close`` unsubscribes (the protocol's ``complete``) before closing the socket: the server then
returns the unfinished tasks at once, no attempt counted. A socket that just drops (the process
died) makes the server count a delivery for each task it had pushed, as a lease expiry would."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import ssl
from collections import deque
from types import TracebackType
from typing import Any

import websockets
from websockets.asyncio.client import ClientConnection, connect
from websockets.typing import Subprotocol

from couchqueue_client.errors import CertificateError, CouchQueueError, Unavailable
from couchqueue_client.models import TASK_FIELDS, Task
from couchqueue_client.tls import verify_context

# taskBatches rather than tasks: the tasks the server claims together come in one message.
SUBSCRIPTION = (
    "subscription TaskBatches($workerId: ID!, $prefetch: Int) "
    "{ taskBatches(workerId: $workerId, prefetch: $prefetch) { " + " ".join(TASK_FIELDS) + " } }"
)
PROTOCOL = Subprotocol("graphql-transport-ws")
SUBSCRIPTION_ID = "tasks"


SECURE_SCHEMES = {"http": False, "ws": False, "https": True, "wss": True}


def ws_url(url: str) -> str:
    """ws(s)://host:port/prefix/graphql for http(s):// or ws(s)://host:port/prefix (TLS
    stays TLS); ValueError for anything else."""
    scheme, separator, rest = url.rstrip("/").partition("://")
    secure = SECURE_SCHEMES.get(scheme.lower()) if separator and rest else None
    if secure is None:
        raise ValueError(f"not an http://, https://, ws:// or wss:// URL: {url!r}")
    return ("wss://" if secure else "ws://") + rest + "/graphql"


class _NoDebug(logging.LoggerAdapter[logging.Logger]):
    """websockets logs every handshake header and frame at DEBUG, the bearer token with them:
    never let it, whatever level the application sets."""

    def isEnabledFor(self, level: int) -> bool:
        return level > logging.DEBUG and self.logger.isEnabledFor(level)


WEBSOCKET_LOGGER = _NoDebug(logging.getLogger("websockets.client"), {})


def graphql_error(errors: Any) -> CouchQueueError:
    first = errors[0] if isinstance(errors, list) and errors else {}
    first = first if isinstance(first, dict) else {}
    extensions = first.get("extensions") or {}
    param = extensions.get("param")
    return CouchQueueError(
        str(extensions.get("code") or "GRAPHQL_ERROR"),
        str(first.get("message") or errors),
        param if isinstance(param, str) else None,
    )


class TaskSubscription:
    """``async with TaskSubscription(url, worker_id, prefetch) as sub: task = await sub.next()``.

    An https:// url subscribes over wss://, verified with the CAs of ``ca_file`` (PEM; without
    it, the system's); a certificate that does not verify raises CertificateError.

    ``next`` raises Unavailable when the connection is lost or the server ends the stream, and
    the server's CouchQueueError (e.g. WORKER_NOT_FOUND) when it refuses the subscription."""

    def __init__(
        self,
        url: str,
        worker_id: str,
        prefetch: int,
        *,
        token: str | None = None,
        open_timeout: float = 10.0,
        ping_interval: float = 20.0,
        ca_file: str | os.PathLike[str] | None = None,
    ) -> None:
        self.url = ws_url(url)
        self._verify = verify_context(ca_file)
        self.worker_id = worker_id
        self.prefetch = prefetch
        self._headers = {"authorization": f"Bearer {token}"} if token else None
        # The server also reads the token from connection_init (proxies may drop the header).
        self._init_payload = dict(self._headers) if self._headers else {}
        self._open_timeout = open_timeout
        self._ping_interval = ping_interval
        self._socket: ClientConnection | None = None
        self._received: deque[Task] = deque()
        self._subscribed = False

    async def __aenter__(self) -> TaskSubscription:
        # wss:// with no CA file: websockets' default context (it refuses an explicit None).
        tls: dict[str, Any] = {"ssl": self._verify} if self._verify else {}
        try:
            self._socket = await connect(
                self.url,
                subprotocols=[PROTOCOL],
                additional_headers=self._headers,
                compression=None,  # small messages: deflate would cost more than it saves
                open_timeout=self._open_timeout,
                ping_interval=self._ping_interval,
                ping_timeout=self._ping_interval,  # a silent server is given up after 2 intervals
                close_timeout=2,
                logger=WEBSOCKET_LOGGER,
                **tls,
            )
        except ssl.SSLCertVerificationError as exc:
            raise CertificateError(f"websocket {self.url}", exc) from exc
        except (OSError, TimeoutError, websockets.WebSocketException) as exc:
            raise Unavailable(f"websocket {self.url}: {type(exc).__name__}: {exc}") from exc
        try:
            await self._send({"type": "connection_init", "payload": self._init_payload})
            ack = await asyncio.wait_for(self._receive(), self._open_timeout)
            if ack.get("type") != "connection_ack":
                raise Unavailable(f"websocket {self.url}: expected connection_ack, got {ack!r}")
            variables = {"workerId": self.worker_id, "prefetch": self.prefetch}
            payload = {"query": SUBSCRIPTION, "variables": variables}
            await self._send({"id": SUBSCRIPTION_ID, "type": "subscribe", "payload": payload})
            self._subscribed = True
        except BaseException:
            await self.close()
            raise
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def close(self) -> None:
        """Unsubscribe, then close the socket: the server returns the tasks still unfinished
        at once, without counting an attempt. Report the tasks that ran before closing."""
        if self._socket is None:
            return
        if self._subscribed:
            # Best effort: if the socket is already gone, the server counts it as dropped.
            with contextlib.suppress(Unavailable):
                await self._send({"id": SUBSCRIPTION_ID, "type": "complete"})
            self._subscribed = False
        await self._socket.close()

    async def next(self) -> Task:
        """The next pushed task (pings answered on the way)."""
        while not self._received:
            self._received.extend(await self._next_batch())
        return self._received.popleft()

    async def _next_batch(self) -> list[Task]:
        while True:
            message = await self._receive()
            kind = message.get("type")
            if kind == "ping":
                await self._send({"type": "pong"})
            elif kind == "next":
                payload = message.get("payload") or {}
                if payload.get("errors"):
                    raise graphql_error(payload["errors"])
                return [Task.from_json(task) for task in payload["data"]["taskBatches"]]
            elif kind == "error":
                raise graphql_error(message.get("payload"))
            elif kind == "complete":
                raise Unavailable("the server ended the subscription")

    async def _send(self, message: dict[str, Any]) -> None:
        assert self._socket is not None
        try:
            await self._socket.send(json.dumps(message))
        except websockets.ConnectionClosed as exc:
            raise Unavailable(f"websocket closed: {exc}") from exc

    async def _receive(self) -> dict[str, Any]:
        assert self._socket is not None
        try:
            raw = await self._socket.recv()
        except websockets.ConnectionClosed as exc:
            raise Unavailable(f"websocket closed: {exc}") from exc
        message = json.loads(raw)
        if not isinstance(message, dict):
            raise Unavailable(f"unexpected websocket message: {raw!r:.200}")
        return message
