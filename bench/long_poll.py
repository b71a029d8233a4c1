"""Long-poll claims, measured in one run on one node:

latency   sequential publishes (PUT /task) to a claim waiting on the same node
          (GET /task?waitSeconds=5 over raw keep-alive HTTP), from just before the publish
          is written to the receipt of the claim's answer; beside it, the push latency
          (bench.latency's measure: an idle taskBatches subscriber) with the same pauses.
          Target: long poll <= 2x push.
idle      couchqueue_client.Worker(mode="poll") with nothing to do, through a proxy that
          counts its GET /task requests: requests per poll loop per wait. Target: <= 1.

  python -m bench.long_poll [--quick] [--count N]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import statistics
import time
from collections.abc import AsyncIterator
from typing import Any

import orjson

from bench.latency import PAUSE, percentile
from bench.latency import measure as push_latencies
from bench.support import PUBLISH_BODY, AsyncHttp, is_quick, node, table, target, temp_dir

BODY = orjson.dumps(PUBLISH_BODY)
IDLE_LOOPS = 4
IDLE_WAIT = 1.0


async def long_poll_latencies(url: str, count: int, pause: float) -> list[float]:
    """Latencies in ms of ``count`` sequential publishes, each answering a waiting claim."""
    publisher, claimer, reporter = AsyncHttp(url), AsyncHttp(url), AsyncHttp(url)
    await publisher.json("PUT", "/interest", {"queue": "bench", "interests": "*"})
    registered = await reporter.json("PUT", "/worker", {"queues": ["bench"], "name": "lp"})
    worker_id = registered["workerId"]
    claim_path = f"/task?workerId={worker_id}&waitSeconds=5"
    latencies = []
    try:
        for _ in range(count):
            claim = asyncio.ensure_future(claimer.json("GET", claim_path))
            # The claim reaches the node and waits, as an idle long-polling worker's does.
            await asyncio.sleep(0.002 + random.uniform(0, pause))
            sent = time.perf_counter()
            status, raw = await publisher.request("PUT", "/task", BODY)
            if status != 200:
                raise RuntimeError(f"PUT /task -> {status}: {raw[:300]!r}")
            task = await asyncio.wait_for(claim, 10)
            arrived = time.perf_counter()
            published = orjson.loads(raw)["tasks"][0]["taskId"]
            if task is None or task["taskId"] != published:
                raise RuntimeError(f"claimed {task!r:.100}, expected {published}")
            latencies.append((arrived - sent) * 1000)
            report = {"workerId": worker_id, "taskId": published, "state": "complete"}
            await reporter.json("POST", "/task", report)
    finally:
        for client in (publisher, claimer, reporter):
            await client.close()
    return latencies


class _ClaimCounter:
    """A TCP proxy to the node that counts the GET /task requests passing through it."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.claims = 0
        self._open: set[asyncio.StreamWriter] = set()
        self._handlers: set[asyncio.Task[Any]] = set()

    @contextlib.asynccontextmanager
    async def serving(self) -> AsyncIterator[str]:
        server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        try:
            yield f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
        finally:
            server.close()
            for writer in self._open:
                writer.close()
            await asyncio.gather(*self._handlers, return_exceptions=True)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        handler = asyncio.current_task()
        if handler is not None:
            self._handlers.add(handler)
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.port)
        self._open.update((writer, up_writer))

        async def pipe(
            source: asyncio.StreamReader, sink: asyncio.StreamWriter, count: bool
        ) -> None:
            with contextlib.suppress(OSError):
                while chunk := await source.read(65536):
                    if count:
                        self.claims += chunk.count(b"GET /task?")
                    sink.write(chunk)
                    await sink.drain()
            sink.close()

        await asyncio.gather(pipe(reader, up_writer, True), pipe(up_reader, writer, False))


async def idle_requests_per_wait(port: int, idle: float) -> dict[str, Any]:
    """Requests per poll loop per wait of an idle couchqueue_client poll worker."""
    from couchqueue_client import Worker

    async def handler(task: Any) -> None:
        return None

    counter = _ClaimCounter(port)
    async with counter.serving() as url:
        worker = Worker(
            url,
            ["idle"],
            handler,
            concurrency=IDLE_LOOPS,
            mode="poll",
            wait_seconds=IDLE_WAIT,
            heartbeat_interval=60,
        )
        running = asyncio.ensure_future(worker.run())
        await asyncio.sleep(0.5)  # registered, every loop waiting
        before, began = counter.claims, time.monotonic()
        await asyncio.sleep(idle)
        asked, elapsed = counter.claims - before, time.monotonic() - began
        worker.stop()
        await asyncio.wait_for(running, 10)
    return {"requests": asked, "per_wait": asked / IDLE_LOOPS / (elapsed / IDLE_WAIT)}


def run(count: int, idle: float) -> None:
    load = os.getloadavg()[0]
    with temp_dir("long-poll") as folder, node(folder / "n.db", folder / "n.log") as server:
        push = asyncio.run(push_latencies(server.url, server.url, count, pause=PAUSE))
        polled = asyncio.run(long_poll_latencies(server.url, count, pause=PAUSE))
        idle_result = asyncio.run(idle_requests_per_wait(server.port, idle))
    rows = []
    for name, values in (("push (taskBatches subscriber)", push), ("long-poll claim", polled)):
        rows.append([name, len(values), statistics.median(values), percentile(values, 99)])
    print(f"publish -> receipt on one node, pauses up to {PAUSE * 1000:g} ms; load {load:.2f}")
    print(table(["idle worker", "n", "median ms", "p99 ms"], rows))
    ratio = statistics.median(polled) / statistics.median(push)
    print(f"long poll / push latency (medians): {ratio:.2f} ({target(ratio, 2, False)})")
    per_wait = idle_result["per_wait"]
    print(
        f"idle client poll worker, {IDLE_LOOPS} loops, waits of {IDLE_WAIT:g} s, {idle:g} s: "
        f"{idle_result['requests']} GET /task = {per_wait:.2f} per loop per wait "
        f"({target(per_wait, 1, False)})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--count", type=int)
    args = parser.parse_args()
    quick = is_quick()
    run(args.count or (200 if quick else 500), 4.0 if quick else 8.0)


if __name__ == "__main__":
    main()
