"""One place that sends a request and decodes the answer, for sync and async httpx clients."""

from __future__ import annotations

import ssl
from typing import Any

import httpx

from couchqueue_client.errors import decode, transport_error

DEFAULT_TIMEOUT = 10.0


def client_options(
    url: str, timeout: float, token: str | None, verify: ssl.SSLContext | None = None
) -> dict[str, Any]:
    """httpx client arguments; ``verify`` from tls.verify_context (None: httpx's default CAs)."""
    headers = {"accept": "application/json"}
    if token:
        headers["authorization"] = f"Bearer {token}"
    options: dict[str, Any] = {"base_url": url.rstrip("/"), "timeout": timeout, "headers": headers}
    if verify is not None:
        options["verify"] = verify
    return options


def send(client: httpx.Client, method: str, path: str, **kwargs: Any) -> Any:
    try:
        response = client.request(method, path, **kwargs)
    except httpx.TransportError as exc:
        raise transport_error(exc, method, path) from exc
    return decode(response)


async def send_async(client: httpx.AsyncClient, method: str, path: str, **kwargs: Any) -> Any:
    try:
        response = await client.request(method, path, **kwargs)
    except httpx.TransportError as exc:
        raise transport_error(exc, method, path) from exc
    return decode(response)
