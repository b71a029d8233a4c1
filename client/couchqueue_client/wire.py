"""One keep-alive HTTP/1.1 connection for the client's hottest calls (a poll loop's claims, a
publisher's single publishes), lighter than httpx: its owner uses it one request at a time, so
no pool is searched, locked or expired per request, and the connection is never closed between
requests unless the server closes it. ``Connection`` for asyncio, ``SyncConnection`` blocking.

Plain http:// only (https goes through httpx, with its TLS settings). Answers are decoded as
httpx answers are (couchqueue_client.errors): the JSON of a 2xx, a CouchQueueError otherwise,
Unavailable when the server cannot be reached.
"""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import json
import time
from typing import Any
from urllib.parse import urlencode, urlsplit

from couchqueue_client.errors import CouchQueueError, Unavailable

# The server closes a keep-alive connection idle for 5 s (--idle-timeout-seconds): one idle
# longer than this is not reused, so a request never races the server's close.
IDLE_REUSE = 4.0
MAX_HEADER_LINES = 100


def supports(url: str) -> bool:
    """Whether ``url`` can be reached this way (plain http)."""
    return urlsplit(url).scheme == "http"


class Connection:
    """One keep-alive connection to the server at ``url``; one request at a time."""

    def __init__(self, url: str, headers: dict[str, str], timeout: float) -> None:
        parts = urlsplit(url)
        self._host = parts.hostname or "127.0.0.1"
        self._port = parts.port or 80
        self._prefix = parts.path.rstrip("/")
        self._timeout = timeout
        fixed = {"host": parts.netloc, **headers}
        self._head = "".join(f"{name}: {value}\r\n" for name, value in fixed.items())
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._used = 0.0

    async def get(self, path: str, params: dict[str, Any], extra_timeout: float = 0.0) -> Any:
        """GET path?params: the decoded answer (see the module's docstring)."""
        target = f"{self._prefix}{path}?{urlencode(params)}"
        request = f"GET {target} HTTP/1.1\r\n{self._head}\r\n".encode()
        return await self._send("GET", path, request, extra_timeout)

    async def send_json(self, method: str, path: str, payload: Any) -> Any:
        """A request with a JSON body: the decoded answer."""
        body = encode(payload)
        head = f"{method} {self._prefix}{path} HTTP/1.1\r\n{self._head}"
        head += f"content-type: application/json\r\ncontent-length: {len(body)}\r\n\r\n"
        return await self._send(method, path, head.encode() + body, 0.0)

    async def _send(self, method: str, path: str, request: bytes, extra_timeout: float) -> Any:
        try:
            async with asyncio.timeout(self._timeout + extra_timeout):
                status, body = await self._exchange(request, retry=method == "GET")
        except (OSError, EOFError, asyncio.IncompleteReadError, ValueError, TimeoutError) as exc:
            self._drop()
            raise Unavailable(f"{method} {path}: {type(exc).__name__}: {exc}") from exc
        except BaseException:
            # Cancelled mid-request: the connection's state is unknown; the server sees it go.
            self._drop()
            raise
        return decode(status, body)

    async def _exchange(self, request: bytes, retry: bool) -> tuple[int, bytes]:
        fresh = self._writer is None or time.monotonic() - self._used > IDLE_REUSE
        if fresh:
            self._drop()
            self._reader, self._writer = await asyncio.open_connection(self._host, self._port)
        assert self._reader is not None and self._writer is not None
        self._writer.write(request)
        status_line = await self._reader.readline()
        if not status_line and not fresh and retry:
            # The server closed the reused connection before reading the request: send again.
            self._drop()
            return await self._exchange(request, retry=False)
        status = int(status_line.split(None, 2)[1])
        length, chunked, keep = 0, False, True
        for _ in range(MAX_HEADER_LINES):
            line = await self._reader.readline()
            if line in (b"\r\n", b""):
                break
            name, _, value = line.partition(b":")
            lowered = name.strip().lower()
            if lowered == b"content-length":
                length = int(value)
            elif lowered == b"transfer-encoding":
                chunked = b"chunked" in value.lower()
            elif lowered == b"connection":
                keep = b"close" not in value.lower()
        else:
            raise ValueError("too many header lines")
        body = await (self._chunks() if chunked else self._reader.readexactly(length))
        self._used = time.monotonic()
        if not keep:
            self._drop()
        return status, body

    async def _chunks(self) -> bytes:
        assert self._reader is not None
        parts: list[bytes] = []
        while True:
            size = int((await self._reader.readline()).split(b";")[0].strip(), 16)
            if size == 0:
                while (await self._reader.readline()) not in (b"\r\n", b""):
                    pass
                return b"".join(parts)
            parts.append(await self._reader.readexactly(size))
            await self._reader.readline()

    def _drop(self) -> None:
        writer, self._writer, self._reader = self._writer, None, None
        if writer is not None:
            writer.close()

    async def close(self) -> None:
        writer = self._writer
        self._drop()
        if writer is not None:
            with contextlib.suppress(OSError):
                await writer.wait_closed()


class SyncConnection:
    """One blocking keep-alive connection (http.client) to the server at ``url``; one request
    at a time: its owner serializes its use."""

    def __init__(self, url: str, headers: dict[str, str], timeout: float) -> None:
        parts = urlsplit(url)
        self._host = parts.hostname or "127.0.0.1"
        self._port = parts.port or 80
        self._prefix = parts.path.rstrip("/")
        self._timeout = timeout
        self._headers = {**headers, "content-type": "application/json"}
        self._connection: http.client.HTTPConnection | None = None
        self._used = 0.0

    def send_json(self, method: str, path: str, payload: Any) -> Any:
        """A request with a JSON body: the decoded answer. Never sent twice: a request whose
        answer did not come raises Unavailable."""
        if self._connection is None or time.monotonic() - self._used > IDLE_REUSE:
            self.close()
            self._connection = http.client.HTTPConnection(
                self._host, self._port, timeout=self._timeout
            )
        try:
            self._connection.request(
                method, self._prefix + path, body=encode(payload), headers=self._headers
            )
            response = self._connection.getresponse()
            body = response.read()
        except (OSError, http.client.HTTPException) as exc:
            self.close()
            raise Unavailable(f"{method} {path}: {type(exc).__name__}: {exc}") from exc
        self._used = time.monotonic()
        if response.will_close:
            self.close()
        return decode(response.status, body)

    def close(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            connection.close()


def encode(payload: Any) -> bytes:
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()


def decode(status: int, body: bytes) -> Any:
    """The JSON of a 2xx answer; CouchQueueError for an error answer (as errors.decode)."""
    try:
        answer = json.loads(body)
    except ValueError:
        message = f"HTTP {status}, not JSON: {body[:200]!r}"
        raise CouchQueueError("BAD_RESPONSE", message, None, status) from None
    if status >= 400:
        raise CouchQueueError.from_body(answer, status)
    return answer
