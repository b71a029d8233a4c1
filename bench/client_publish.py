"""Single publishes from one client process, one at a time, in alternating rounds on one node:

  raw      PUT /task over one raw keep-alive connection (bench.support.Http, http.client)
  client   couchqueue_client.Publisher.publish (its own keep-alive connection)
  saq      saq's Queue.enqueue of a no-op job on a local redis-server (no persistence),
           when saq is installed and redis-server is on PATH (else the bench says so)

Targets: client >= 0.8x raw; raw >= 0.8x saq.

    python -m bench.client_publish [--quick] [--count N]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.util
import os
import shutil
import socket
import statistics
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

from bench.support import (
    HOST,
    PUBLISH_BODY,
    Http,
    free_port,
    is_quick,
    node,
    setup_queue,
    table,
    target,
    temp_dir,
)

ROUNDS = 3


def raw_rate(url: str, count: int) -> float:
    http = Http(url)
    try:
        started = time.perf_counter()
        for _ in range(count):
            http.call("PUT", "/task", PUBLISH_BODY)
        return count / (time.perf_counter() - started)
    finally:
        http.close()


def client_rate(url: str, count: int) -> float:
    from couchqueue_client import Publisher

    with Publisher(url, publisher="bench") as publisher:
        started = time.perf_counter()
        for _ in range(count):
            publisher.publish(PUBLISH_BODY["data"])
        return count / (time.perf_counter() - started)


def saq_missing() -> str | None:
    """Why saq cannot be measured here, or None."""
    if importlib.util.find_spec("saq") is None:
        return "saq is not installed (pip install saq)"
    if shutil.which("redis-server") is None:
        return "redis-server is not on PATH"
    return None


@contextlib.contextmanager
def redis(folder: Path) -> Iterator[int]:
    """A redis-server on 127.0.0.1 without persistence, as the peers were measured; its port."""
    port = free_port()
    command = ["redis-server", "--port", str(port), "--bind", HOST, "--save", ""]
    command += ["--appendonly", "no", "--dir", str(folder)]
    with (folder / "redis.log").open("ab") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 20
        while not _pong(port):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("redis-server did not start: see redis.log")
            time.sleep(0.05)
        yield port
    finally:
        process.terminate()
        process.wait(timeout=10)


def _pong(port: int) -> bool:
    try:
        with socket.create_connection((HOST, port), timeout=0.5) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


async def saq_rate(port: int, count: int) -> float:
    from saq import Queue

    queue = Queue.from_url(f"redis://127.0.0.1:{port}", name="bench")
    try:
        started = time.perf_counter()
        for _ in range(count):
            await queue.enqueue("noop", **PUBLISH_BODY["data"])
        return count / (time.perf_counter() - started)
    finally:
        await queue.disconnect()


def run(count: int) -> None:
    load = os.getloadavg()[0]
    rates: dict[str, list[float]] = {"raw": [], "client": [], "saq": []}
    missing = saq_missing()
    with temp_dir("client-publish") as folder:
        with node(folder / "n.db", folder / "n.log") as server:
            setup_queue(server.url)
            raw_rate(server.url, count // 4)  # warm-up
            for _ in range(ROUNDS):
                rates["raw"].append(raw_rate(server.url, count))
                rates["client"].append(client_rate(server.url, count))
        if missing is None:
            with redis(folder) as port:
                for _ in range(ROUNDS):
                    rates["saq"].append(asyncio.run(saq_rate(port, count)))
    client_ratios = [c / r for c, r in zip(rates["client"], rates["raw"], strict=True)]
    rows = [
        ["raw keep-alive PUT /task", statistics.median(rates["raw"]), "-"],
        [
            "couchqueue_client.Publisher.publish",
            statistics.median(rates["client"]),
            f"{statistics.median(client_ratios):.2f} x raw "
            f"({target(statistics.median(client_ratios), 0.8)})",
        ],
    ]
    if rates["saq"]:
        rows.append(["saq enqueue", statistics.median(rates["saq"]), "-"])
    print(f"{count} single publishes a round, {ROUNDS} rounds, medians; load {load:.2f}")
    print(table(["one at a time", "per s", "ratio"], rows))
    if rates["saq"]:
        ratio = statistics.median(rates["raw"]) / statistics.median(rates["saq"])
        print(f"raw / saq single enqueue: {ratio:.2f} ({target(ratio, 0.8)})")
    else:
        print(f"raw / saq single enqueue: not measured: {missing}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--count", type=int)
    args = parser.parse_args()
    run(args.count or (1000 if is_quick() else 3000))


if __name__ == "__main__":
    main()
