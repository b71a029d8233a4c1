"""Network hygiene of a real node (issue 12): a websocket for a host the node does not serve is
refused at the handshake (DNS rebinding), and connections that never finish their request
headers, or send nothing at all, are closed (slowloris)."""

from __future__ import annotations

import base64
import os
import socket
import time
from collections.abc import Callable

import httpx
import pytest

from tests.nodes.server import ServerNode

pytestmark = pytest.mark.slow

TIMEOUTS = ("--header-timeout-seconds", "1", "--idle-timeout-seconds", "1")


def handshake(node: ServerNode, host: str, origin: str) -> bytes:
    """A websocket handshake to /graphql with the given Host and Origin; the raw answer."""
    key = base64.b64encode(os.urandom(16)).decode()
    request = (
        "GET /graphql HTTP/1.1\r\n"
        f"Host: {host}\r\nOrigin: {origin}\r\n"
        "Upgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
        "Sec-WebSocket-Protocol: graphql-transport-ws\r\n\r\n"
    )
    with socket.create_connection(("127.0.0.1", node.port), timeout=5) as sock:
        sock.sendall(request.encode())
        answer = b""
        while b"\r\n\r\n" not in answer:
            chunk = sock.recv(4096)
            if not chunk:
                break
            answer += chunk
        return answer


def test_a_websocket_for_another_host_is_refused_at_the_handshake(
    node_factory: Callable[..., ServerNode],
) -> None:
    node = node_factory()
    port = node.port
    accepted = handshake(node, f"127.0.0.1:{port}", f"http://127.0.0.1:{port}")
    assert accepted.startswith(b"HTTP/1.1 101"), accepted
    rebound = handshake(node, f"evil.example:{port}", f"http://evil.example:{port}")
    assert rebound.startswith(b"HTTP/1.1 400"), rebound
    cross_site = handshake(node, f"localhost:{port}", "http://evil.example")
    assert cross_site.startswith(b"HTTP/1.1 403"), cross_site
    refused = httpx.get(f"{node.url}/healthz", headers={"host": "evil.example"})
    assert refused.status_code == 400
    assert refused.json()["error"] == {
        "code": "BAD_HOST",
        "message": refused.json()["error"]["message"],
        "param": "host",
    }


def closed_within(sock: socket.socket, seconds: float) -> float | None:
    """Seconds until the server closed the connection, or None if it kept it open."""
    start = time.monotonic()
    sock.settimeout(seconds)
    try:
        while sock.recv(4096):
            pass
    except TimeoutError:
        return None
    except ConnectionResetError:
        pass
    return time.monotonic() - start


def dribble(sock: socket.socket, data: bytes, every: float) -> float:
    """Send ``data`` a byte at a time; seconds until the server closed the connection."""
    start = time.monotonic()
    try:
        for byte in data:
            sock.sendall(bytes([byte]))
            time.sleep(every)
    except (BrokenPipeError, ConnectionResetError):
        return time.monotonic() - start
    raise AssertionError("the server took every byte without closing the connection")


def test_connections_that_never_finish_their_headers_are_closed(
    node_factory: Callable[..., ServerNode],
) -> None:
    node = node_factory(extra_args=TIMEOUTS)
    silent = socket.create_connection(("127.0.0.1", node.port))
    partial = socket.create_connection(("127.0.0.1", node.port))
    dribbling = socket.create_connection(("127.0.0.1", node.port))
    try:
        partial.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        # One byte every 0.1 s (each well within any per-read timeout), for up to 6 s.
        slow = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: " + b"1" * 20
        assert dribble(dribbling, slow, every=0.1) < 3
        for sock in (silent, partial):
            assert closed_within(sock, 5) is not None
    finally:
        for sock in (silent, partial, dribbling):
            sock.close()
    # A request whose headers arrive in time is answered, and the connection is closed once
    # idle for --idle-timeout-seconds.
    with socket.create_connection(("127.0.0.1", node.port)) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        assert sock.recv(4096).startswith(b"HTTP/1.1 200")
        assert closed_within(sock, 5) is not None
