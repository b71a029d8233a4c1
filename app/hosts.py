"""Answer only for the host names this node serves, and only to pages of those hosts.

A request whose Host header names another host is refused (400 BAD_HOST): a browser led to the
node by DNS rebinding (evil.example resolving to 127.0.0.1) sends Host: evil.example, and must
not reach the API with the page's own origin. A request that carries an Origin header (every
browser does on a cross-site POST and on a websocket handshake) must come from a page of an
allowed host too (403 BAD_ORIGIN): another site's page cannot drive the node through its
visitor's browser. Clients other than browsers send no Origin and are not affected. The
origins named by --cors-origin are let through too: their pages are allowed to call.

Both HTTP requests and websocket handshakes are checked. Allowed names are matched without
their port; ``*.example.com`` allows every subdomain of example.com; ``*`` allows everything.
"""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import urlsplit

import orjson
from starlette.types import ASGIApp, Receive, Scope, Send


def hostname(value: str) -> str:
    """The host part of a Host header value or an allowed-hosts entry, lower-cased, without
    port or trailing dot; IPv6 addresses in brackets."""
    value = value.strip().lower()
    if value.startswith("["):
        return value[: value.find("]") + 1] if "]" in value else value
    if value.count(":") > 1:  # a bare IPv6 address (an entry, or the bound address)
        return f"[{value}]"
    return value.partition(":")[0].rstrip(".")


class AllowedHosts:
    """The host names a node answers for."""

    def __init__(self, entries: Iterable[str]) -> None:
        names = {hostname(entry) for entry in entries if entry.strip()}
        self.anything = "*" in names
        self.suffixes = tuple(name[1:] for name in names if name.startswith("*."))
        self.names = frozenset(name for name in names if not name.startswith("*"))

    @classmethod
    def parse(cls, setting: str, bound_host: str) -> AllowedHosts:
        """From the comma-separated setting; the address the node binds is always allowed."""
        return cls([*setting.split(","), bound_host])

    def allows(self, name: str) -> bool:
        return self.anything or name in self.names or name.endswith(self.suffixes)


class HostCheckMiddleware:
    def __init__(self, app: ASGIApp, allowed: AllowedHosts, origins: Iterable[str] = ()) -> None:
        self.app = app
        self.allowed = allowed
        self.origins = frozenset(origin.lower() for origin in origins)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket") or self.allowed.anything:
            await self.app(scope, receive, send)
            return
        host = origin = None
        for name, value in scope["headers"]:
            if name == b"host":
                host = value.decode("latin-1")
            elif name == b"origin":
                origin = value.decode("latin-1")
        refusal = self._refusal(host or "", origin)
        if refusal is None:
            await self.app(scope, receive, send)
        else:
            await _refuse(scope, send, *refusal)

    def _refusal(self, host: str, origin: str | None) -> tuple[int, str, str, str] | None:
        if not self.allowed.allows(hostname(host)):
            message = f"this server does not serve the host {host!r} (see --allowed-hosts)"
            return 400, "BAD_HOST", message, "host"
        if (
            origin is not None
            and origin.strip().lower() not in self.origins
            and not self.allowed.allows(_origin_host(origin))
        ):
            message = f"requests from pages of {origin!r} are refused (see --allowed-hosts)"
            return 403, "BAD_ORIGIN", message, "origin"
        return None


def _origin_host(origin: str) -> str:
    try:
        name = urlsplit(origin.strip()).hostname or ""
    except ValueError:
        return ""
    return hostname(name) if name else ""  # "null" (a sandboxed page) has none


async def _refuse(
    scope: Scope, send: Send, status: int, code: str, message: str, param: str
) -> None:
    body = orjson.dumps({"error": {"code": code, "message": message, "param": param}})
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if scope["type"] == "http":
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})
    elif "websocket.http.response" in scope.get("extensions", {}):
        # Refuse the handshake with the same JSON answer an HTTP request gets.
        await send({"type": "websocket.http.response.start", "status": status, "headers": headers})
        await send({"type": "websocket.http.response.body", "body": body})
    else:
        await send({"type": "websocket.close", "code": 1008, "reason": code})
