"""Start the test node in its own process and wait until it answers a NOOP."""

from __future__ import annotations

import contextlib
import os
import selectors
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from tests.couchbase_node.__main__ import READY_PREFIX
from tests.couchbase_node.protocol import HEADER, MAGIC_REQ, MAGIC_RES, Op

REPO_ROOT = Path(__file__).resolve().parents[2]


def probe(host: str, port: int, timeout: float = 1.0) -> bool:
    """True when the node answers a NOOP with success."""
    noop = HEADER.pack(MAGIC_REQ, Op.NOOP, 0, 0, 0, 0, 0, 0xBEEF, 0)
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.sendall(noop)
            reply = sock.recv(24)
    except OSError:
        return False
    return len(reply) == 24 and reply[0] == MAGIC_RES and reply[6:8] == b"\0\0"


def stop_node(process: subprocess.Popen[str]) -> None:
    if process.poll() is None:
        process.kill()
    process.wait(timeout=10)
    if process.stdout is not None:
        process.stdout.close()


def start_node(
    bucket: str = "couchqueue",
    user: str = "Administrator",
    password: str = "password",
    *,
    port: int = 0,
    debug: bool = False,
    log: IO[str] | None = None,
    timeout: float = 15.0,
) -> tuple[subprocess.Popen[str], int]:
    """Start `python -m tests.couchbase_node`; port 0 lets the node pick a free port."""
    args = [sys.executable, "-m", "tests.couchbase_node", "--port", str(port)]
    args += ["--bucket", bucket, "--user", user, "--password", password]
    process = subprocess.Popen(
        [*args, "--debug"] if debug else args,
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=log,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert process.stdout is not None
    deadline = time.monotonic() + timeout
    try:
        # A selector, not select.select: late in a long test session descriptors pass 1024.
        with selectors.DefaultSelector() as selector:
            selector.register(process.stdout, selectors.EVENT_READ)
            ready = selector.select(timeout)
        line = process.stdout.readline() if ready else ""
        if not line.startswith(READY_PREFIX):
            raise RuntimeError(f"couchbase node did not start (exit {process.poll()}): {line!r}")
        actual = int(line.split("port=")[1].split()[0])
        while not probe("127.0.0.1", actual):
            if time.monotonic() > deadline or process.poll() is not None:
                raise RuntimeError("couchbase node does not answer NOOP")
            time.sleep(0.05)
    except BaseException:
        stop_node(process)
        raise
    return process, actual


@contextlib.contextmanager
def running_node(**kwargs: object) -> Iterator[int]:
    """`with running_node(bucket=..., user=..., password=...) as port:`"""
    process, port = start_node(**kwargs)  # type: ignore[arg-type]
    try:
        yield port
    finally:
        stop_node(process)
