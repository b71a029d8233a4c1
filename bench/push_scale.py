"""Thousands of idle push subscribers on one node (issue 15).

For 1, 1,000 and 3,000 idle `tasks(prefetch: 1)` subscribers on one SQLite node, each
registered (a) on one queue they all share and (b) on a queue of its own: the node's RSS once
they are connected, how long connecting them all took, the node's CPU while they idle,
publish -> receipt p50 / p99 of 1,000 sparse publishes (300 with --quick; one at a time, a
random pause of up to 20 ms between them; each pushed task is completed before the next
publish, so the subscribers are idle at every publish; issue 15 asks for 200, but the p99 of
200 is their second worst, too noisy to compare), and the worst GET /healthz answer meanwhile
(one probe every 50 ms, from a process of its own on one keep-alive connection, so that the
bench's busy client loop is not what it measures; while they connect, and then while they
idle and the publishes run).

The p99 is compared with that of a second node, with one subscriber, measured alongside: the
publishes alternate between the two nodes, so that both see the same load from the rest of
the machine, and the ratio is one run's (the row of one subscriber shows the noise: its ratio
would be 1 on a quiet machine).

The subscribers run in this process (one asyncio loop, the `websockets` client), the nodes in
their own; all on this machine. RLIMIT_NOFILE is raised to its hard limit first (the node
inherits it): 3,000 subscribers need 3,000 sockets on each side.

Targets (issue 15): 3,000 subscribers within 300 MB RSS; p99 with 3,000 at most 2x the p99
with one; /healthz under 50 ms, while they connect too.

    python -m bench.push_scale [--quick] [--shared | --each]
      --quick: 1, 300 and 1,000 subscribers; --shared / --each: only that scenario
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import random
import resource
import statistics
import sys
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import orjson

from bench.support import AsyncHttp, Http, Process, is_quick, node, table, target, temp_dir

PUSH = "subscription($w: ID!) { tasks(workerId: $w, prefetch: 1) { taskId } }"
PUBLISHES = 1000
QUICK_PUBLISHES = 300
SETUP_CONNECTIONS = 8
PAUSE = 0.02
CONNECTING_AT_ONCE = 100
HEALTH_EVERY = 0.05


@dataclass
class Figures:
    subscribers: int
    shared: bool
    connect_s: float
    rss_mb: float
    idle_cpu: float
    p50: float
    p99: float
    p99_one: float  # the reference node's, with one subscriber, measured alongside
    healthz_connecting_ms: float
    healthz_worst_ms: float


def raise_nofile(wanted: int) -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    if soft < wanted:
        raise SystemExit(f"bench.push_scale needs {wanted} open files; the hard limit is {hard}")
    return soft


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / 100  # utime + stime, in clock ticks (100/s)


class Receipts:
    """When each task arrived on any subscriber's socket."""

    def __init__(self) -> None:
        self._arrived: dict[str, asyncio.Future[tuple[float, str]]] = {}

    def future(self, task_id: str) -> asyncio.Future[tuple[float, str]]:
        """When the task arrived, and at which worker."""
        if task_id not in self._arrived:
            self._arrived[task_id] = asyncio.get_running_loop().create_future()
        return self._arrived[task_id]

    def arrived(self, task_id: str, worker_id: str) -> None:
        future = self.future(task_id)
        if not future.done():
            future.set_result((time.perf_counter(), worker_id))


async def subscribe(url: str, worker_id: str, receipts: Receipts) -> Any:
    import websockets
    from websockets.typing import Subprotocol

    ws = await websockets.connect(
        url, subprotocols=[Subprotocol("graphql-transport-ws")], compression=None, open_timeout=120
    )
    await ws.send('{"type":"connection_init"}')
    ack = json.loads(await asyncio.wait_for(ws.recv(), 120))
    if ack["type"] != "connection_ack":
        raise RuntimeError(f"no connection_ack: {ack}")
    payload = {"query": PUSH, "variables": {"w": worker_id}}
    await ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": payload}))

    async def receive() -> None:
        async for raw in ws:
            message = orjson.loads(raw)
            if message["type"] == "ping":
                await ws.send('{"type":"pong"}')
            elif message["type"] == "next" and not message["payload"].get("errors"):
                receipts.arrived(message["payload"]["data"]["tasks"]["taskId"], worker_id)
            elif message["type"] != "pong":
                raise RuntimeError(f"unexpected message: {message}")

    return ws, asyncio.ensure_future(receive())


def probe_health(url: str, replies: Connection) -> None:
    """In a process of its own, so that the bench's busy client loop does not delay it: GET
    /healthz every HEALTH_EVERY seconds on one keep-alive connection. Each message from the
    parent is answered with the slowest answer (ms) since the last; "stop" also ends it."""
    http = Http(url)
    worst = 0.0
    while True:
        started = time.perf_counter()
        if http.call("GET", "/healthz") != {"status": "ok"}:
            raise RuntimeError("/healthz did not answer ok")
        worst = max(worst, (time.perf_counter() - started) * 1000)
        if replies.poll(HEALTH_EVERY):
            command = replies.recv()
            replies.send(worst)
            worst = 0.0
            if command == "stop":
                http.close()
                return


class HealthProbe:
    """probe_health of ``url`` in a child process."""

    def __init__(self, url: str) -> None:
        self._replies, child = multiprocessing.Pipe()
        context = multiprocessing.get_context("spawn")
        self._process = context.Process(target=probe_health, args=(url, child), daemon=True)
        self._process.start()

    async def worst(self, command: str = "take") -> float:
        """The slowest answer since the last call (ms)."""
        self._replies.send(command)
        try:
            return float(await asyncio.to_thread(self._replies.recv))
        except EOFError:
            raise RuntimeError("the /healthz probe failed (see its traceback above)") from None

    async def stop(self) -> float:
        """The slowest answer since the last call; the probe ends."""
        try:
            return await self.worst("stop")
        finally:
            await asyncio.to_thread(self._process.join, 5)
            if self._process.is_alive():
                self._process.kill()


async def set_up(url: str, subscribers: int, shared: bool) -> list[str]:
    """The queues (with their interests) and the registered workers' ids, one per subscriber;
    over a few connections at once, which is not what is measured."""
    queues = ["bench"] if shared else [f"q{i}" for i in range(subscribers)]
    workers = [""] * subscribers
    clients = [AsyncHttp(url) for _ in range(SETUP_CONNECTIONS)]

    async def interests(http: AsyncHttp, first: int) -> None:
        for i in range(first, len(queues), len(clients)):
            wanted = "*" if shared else {"to": f"^{i}$"}
            await http.json("PUT", "/interest", {"queue": queues[i], "interests": wanted})

    async def register(http: AsyncHttp, first: int) -> None:
        for i in range(first, subscribers, len(clients)):
            body = {"queues": [queues[0] if shared else queues[i]]}
            workers[i] = (await http.json("PUT", "/worker", body))["workerId"]

    try:
        await asyncio.gather(*(interests(http, k) for k, http in enumerate(clients)))
        await asyncio.gather(*(register(http, k) for k, http in enumerate(clients)))
    finally:
        for http in clients:
            await http.close()
    return workers


class Side:
    """One node of a measurement, with its subscribers connected from this process."""

    def __init__(self, server: Process, subscribers: int) -> None:
        self.server = server
        self.subscribers = subscribers
        self.http = AsyncHttp(server.url)
        self.receipts = Receipts()
        self.sockets: list[Any] = []
        self.latencies: list[float] = []

    async def connect(self, workers: list[str]) -> None:
        ws_url = self.server.url.replace("http://", "ws://") + "/graphql"
        gate = asyncio.Semaphore(CONNECTING_AT_ONCE)

        async def one(worker_id: str) -> Any:
            async with gate:
                return await subscribe(ws_url, worker_id, self.receipts)

        self.sockets = await asyncio.gather(*(one(w) for w in workers))

    async def publish_one(self, n: int) -> None:
        """Publish to a random subscriber, time its receipt, and have it complete the task."""
        to = random.randrange(self.subscribers)
        body = orjson.dumps({"publisher": "bench", "data": {"to": to, "n": n}})
        sent = time.perf_counter()
        status, raw = await self.http.request("PUT", "/task", body)
        if status != 200:
            raise RuntimeError(f"PUT /task -> {status}: {raw[:300]!r}")
        task = orjson.loads(raw)["tasks"][0]
        arrived, holder = await asyncio.wait_for(self.receipts.future(task["taskId"]), 30)
        self.latencies.append((arrived - sent) * 1000)
        # Whoever got it completes it, so that every subscriber is idle again.
        report = {"workerId": holder, "taskId": task["taskId"], "state": "complete"}
        await self.http.json("POST", "/task", report)

    async def close(self) -> None:
        for ws, reader in self.sockets:
            reader.cancel()
            await ws.close()
        await self.http.close()


async def measure(server: Process, reference: Process, subscribers: int, shared: bool) -> Figures:
    """The figures of ``server`` with ``subscribers``; the publishes alternate with publishes
    to ``reference``, a node with one subscriber, whose p99 is the ratio's denominator."""
    big, one = Side(server, subscribers), Side(reference, 1)
    workers = await set_up(server.url, subscribers, shared)
    await one.connect(await set_up(reference.url, 1, shared))
    health = HealthProbe(server.url)
    healthz_worst = None
    try:
        started = time.perf_counter()
        await big.connect(workers)
        connect_s = time.perf_counter() - started
        connecting_worst = await health.worst()
        await asyncio.sleep(2)  # every subscription asleep
        before = cpu_seconds(server.pid)
        await asyncio.sleep(3)
        idle_cpu = (cpu_seconds(server.pid) - before) / 3
        rss = server.rss_mb()
        await big.http.close()  # idle past the node's keep-alive timeout: a fresh connection
        await one.http.close()
        for n in range(QUICK_PUBLISHES if is_quick() else PUBLISHES):
            for side in (big, one) if n % 2 else (one, big):
                await side.publish_one(n)
                await asyncio.sleep(random.uniform(0, PAUSE))
        healthz_worst = await health.worst()
    finally:
        stopped = await health.stop()
        await big.close()
        await one.close()
    return Figures(
        subscribers,
        shared,
        connect_s,
        rss,
        idle_cpu,
        statistics.median(big.latencies),
        percentile(big.latencies, 99),
        percentile(one.latencies, 99),
        connecting_worst,
        stopped if healthz_worst is None else healthz_worst,
    )


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


HEADERS = [
    "subscribers",
    "connect s",
    "RSS MB",
    "idle CPU",
    "p50 / p99 ms",
    "p99 / p99 of 1 alongside",
    "healthz worst ms, connecting",
    "then",
]


def row(r: Figures) -> list[str]:
    return [
        f"{r.subscribers:,}, {'one shared queue' if r.shared else 'a queue each'}",
        f"{r.connect_s:.1f}",
        f"{r.rss_mb:.0f}",
        f"{r.idle_cpu * 100:.1f}%",
        f"{r.p50:.1f} / {r.p99:.1f}",
        f"{r.p99 / r.p99_one:.2f} ({r.p99_one:.1f})",
        f"{r.healthz_connecting_ms:.0f}",
        f"{r.healthz_worst_ms:.0f}",
    ]


def scenarios() -> tuple[bool, ...]:
    """Which scenarios to run: True for one shared queue, False for a queue each."""
    if "--shared" in sys.argv:
        return (True,)
    if "--each" in sys.argv:
        return (False,)
    return (True, False)


def main() -> None:
    sizes = [1, 300, 1000] if is_quick() else [1, 1000, 3000]
    raise_nofile(2 * max(sizes) + 200)
    results: list[Figures] = []
    with temp_dir("push-scale") as folder:
        for shared in scenarios():
            for size in sizes:
                store = folder / f"{size}-{shared}.db"
                kind = "one shared queue" if shared else "a queue each"
                alongside = folder / f"{size}-{shared}-reference.db"
                try:
                    with (
                        node(store, folder / f"{size}-{shared}.log") as server,
                        node(alongside, folder / f"{size}-{shared}-reference.log") as reference,
                    ):
                        results.append(asyncio.run(measure(server, reference, size, shared)))
                except (RuntimeError, TimeoutError, OSError) as exc:
                    print(f"  {size:,}, {kind}: FAILED: {type(exc).__name__}: {exc}", flush=True)
                    continue
                print("  " + " | ".join(row(results[-1])), flush=True)
    print(table(HEADERS, [row(r) for r in results]))
    most = max(sizes)
    for shared in scenarios():
        big = next((r for r in results if r.shared == shared and r.subscribers == most), None)
        kind = "shared queue" if shared else "a queue each"
        if big is None:
            print(f"{kind}: no figures at {most:,} (a run failed)")
            continue
        ratio = big.p99 / big.p99_one
        connecting = max(r.healthz_connecting_ms for r in results if r.shared == shared)
        worst = max(r.healthz_worst_ms for r in results if r.shared == shared)
        print(
            f"{kind}: {most:,} subscribers in {big.rss_mb:.0f} MB "
            f"({target(big.rss_mb, 300, False)} MB at 3,000); p99 {most:,} / p99 of one "
            f"alongside = {ratio:.2f} ({target(ratio, 2, False)}); worst /healthz while "
            f"connecting {connecting:.0f} ms ({target(connecting, 50, False)} ms), once "
            f"connected {worst:.0f} ms ({target(worst, 50, False)} ms)"
        )


if __name__ == "__main__":
    main()
