"""When an HTTP client has gone: for requests that wait (long-poll claims)."""

from __future__ import annotations

import asyncio

from starlette.types import Receive


async def until_disconnected(receive: Receive) -> None:
    """Return when ASGI tells the client has disconnected. Call once the request's body has
    been read: the server then has nothing else to pass on until the client goes (or the
    response is complete). A server that passes on anything else cannot tell: then this waits
    until cancelled (rather than asking again and again)."""
    if (await receive())["type"] != "http.disconnect":
        await asyncio.get_running_loop().create_future()
