"""A TCP proxy for the client tests that counts what passes through it."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from urllib.parse import urlsplit


class CountingProxy:
    """Forwards TCP connections to the server, counting connections, claims (GET /task)
    and publishes (PUT /task)."""

    def __init__(self, target: str) -> None:
        parts = urlsplit(target)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self.connections = 0
        self.claims = 0
        self.publishes = 0
        self.url = ""
        self._open: set[asyncio.StreamWriter] = set()
        self._handlers: set[asyncio.Task[None]] = set()

    @contextlib.asynccontextmanager
    async def serving(self) -> AsyncIterator[CountingProxy]:
        server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
        try:
            yield self
        finally:
            server.close()
            for writer in self._open:
                writer.close()
            await asyncio.gather(*self._handlers, return_exceptions=True)
            await server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        handler = asyncio.current_task()
        assert handler is not None
        self._handlers.add(handler)
        self._open.add(writer)
        up_reader, up_writer = await asyncio.open_connection(self.host, self.port)
        self._open.add(up_writer)

        async def pipe(
            source: asyncio.StreamReader, sink: asyncio.StreamWriter, count: bool
        ) -> None:
            with contextlib.suppress(OSError):
                while chunk := await source.read(65536):
                    if count:
                        self.claims += chunk.count(b"GET /task?")
                        self.publishes += chunk.count(b"PUT /task ")
                    sink.write(chunk)
                    await sink.drain()
            sink.close()
            with contextlib.suppress(OSError):
                await sink.wait_closed()

        await asyncio.gather(pipe(reader, up_writer, True), pipe(up_reader, writer, False))
