"""End to end: publish -> receipt -> complete, with one worker process.

Tasks are published beforehand (PUT /tasks, batches of 1000) to a fresh node, except in the live
variant; then one worker process is started and timed until it has drained them all and every
completion is acknowledged by the server. Each variant gets a fresh node and store.

  client push  couchqueue_client.Worker(mode="push", concurrency=64): the taskBatches
               subscription with prefetch 64, reports batched by the client into POST /tasks
  client push live
               the same worker, started on an empty queue while the tasks are published
               (PUT /tasks, 50 per request, one connection) as it works: publish -> receipt
               -> complete with all three going on at once on this machine
  lean push    a minimal worker on `websockets` (taskBatches over graphql-transport-ws,
               prefetch 64, asks only for taskId, no compression) reporting with POST /tasks
               batches over raw keep-alive HTTP: what the server can do when the client
               costs little
  client poll  couchqueue_client.Worker(mode="poll", concurrency=64): long-poll GET /task
               loops, each over a keep-alive connection of its own, reports batched
  lean poll    32 loops of GET /task + POST /task over raw keep-alive HTTP

    python -m bench.end_to_end [--quick] [--count N] [--poll-count N]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import orjson

from bench.profiling import Profiler
from bench.support import (
    AsyncHttp,
    Http,
    fill,
    is_quick,
    node,
    table,
    target,
    temp_dir,
)

QUEUE = "bench"
PREFETCH = 64
POLL_LOOPS = 32
LIVE = "client push live"
VARIANTS = ("client push", LIVE, "lean push", "client poll", "lean poll")
# The live variant's publisher: batches this small, one connection, so that publishing goes on
# while the worker drains rather than finishing first.
LIVE_BATCH = 50


# -- the worker process ------------------------------------------------------------------------


async def client_worker(url: str, count: int, mode: str) -> dict[str, float]:
    from couchqueue_client import Worker

    handled = 0
    handled_at = 0.0
    worker: Worker

    async def handler(task: Any) -> None:
        nonlocal handled, handled_at
        handled += 1
        if handled == count:
            handled_at = time.perf_counter()
            worker.stop()

    worker = Worker(url, [QUEUE], handler, concurrency=PREFETCH, mode=mode, name=f"bench-{mode}")  # type: ignore[arg-type]
    started = time.perf_counter()
    await asyncio.wait_for(worker.run(), timeout=300)
    return {"seconds": time.perf_counter() - started, "handled": handled_at - started}


PUSH = "subscription($w: ID!, $p: Int) { taskBatches(workerId: $w, prefetch: $p) { taskId } }"


async def lean_push_worker(url: str, count: int) -> dict[str, float]:
    import websockets
    from websockets.typing import Subprotocol

    setup = AsyncHttp(url)
    worker_id = (await setup.json("PUT", "/worker", {"queues": [QUEUE], "name": "lean-push"}))[
        "workerId"
    ]
    await setup.close()
    pending: list[str] = []
    wake = asyncio.Event()
    done = asyncio.Event()
    completed = 0
    received = 0
    handled_at = 0.0

    async def reporter() -> None:
        nonlocal completed
        http = AsyncHttp(url)
        try:
            while True:
                await wake.wait()
                wake.clear()
                while pending:
                    batch = pending[:100]
                    del pending[:100]
                    reports = [{"taskId": t, "state": "complete"} for t in batch]
                    body = {"workerId": worker_id, "reports": reports}
                    outcomes = await http.json("POST", "/tasks", body)
                    bad = [o for o in outcomes if "error" in o]
                    if bad:
                        raise RuntimeError(f"reports refused: {bad[:3]}")
                    completed += len(batch)
                    if completed >= count:
                        done.set()
        finally:
            await http.close()

    started = time.perf_counter()
    async with websockets.connect(
        url.replace("http://", "ws://") + "/graphql",
        subprotocols=[Subprotocol("graphql-transport-ws")],
        compression=None,
    ) as ws:
        await ws.send(json.dumps({"type": "connection_init"}))
        assert json.loads(await ws.recv())["type"] == "connection_ack"
        payload = {"query": PUSH, "variables": {"w": worker_id, "p": PREFETCH}}
        await ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": payload}))
        # Two reporters: while one batch is on its way, the next one gathers.
        reporters = [asyncio.create_task(reporter()) for _ in range(2)]

        async def receive() -> None:
            nonlocal received, handled_at
            while received < count:
                message = orjson.loads(await ws.recv())
                kind = message["type"]
                if kind == "ping":
                    await ws.send('{"type":"pong"}')
                    continue
                if kind != "next" or message["payload"].get("errors"):
                    raise RuntimeError(f"unexpected message: {message}")
                batch = [task["taskId"] for task in message["payload"]["data"]["taskBatches"]]
                pending.extend(batch)
                received += len(batch)
                wake.set()
            handled_at = time.perf_counter()

        receiving = asyncio.create_task(receive())
        finished = asyncio.create_task(done.wait())
        jobs = [receiving, *reporters]
        deadline = time.monotonic() + 300
        while not done.is_set():
            if time.monotonic() > deadline:
                raise RuntimeError(f"timed out: {completed} of {count} completed")
            await asyncio.wait([finished, *jobs], timeout=1, return_when=asyncio.FIRST_COMPLETED)
            for job in jobs:
                if job.done() and not job.cancelled() and job.exception() is not None:
                    raise RuntimeError(f"lean push worker failed: {job.exception()!r}")
        elapsed = time.perf_counter() - started
        for job in reporters:
            job.cancel()
    return {"seconds": elapsed, "handled": handled_at - started}


async def lean_poll_worker(url: str, count: int) -> dict[str, float]:
    setup = AsyncHttp(url)
    worker_id = (await setup.json("PUT", "/worker", {"queues": [QUEUE], "name": "lean-poll"}))[
        "workerId"
    ]
    await setup.close()
    completed = 0
    claim_path = f"/task?workerId={worker_id}"

    async def loop() -> None:
        nonlocal completed
        http = AsyncHttp(url)
        try:
            while completed < count:
                task = await http.json("GET", claim_path)
                if task is None:
                    return
                report = {"workerId": worker_id, "taskId": task["taskId"], "state": "complete"}
                await http.json("POST", "/task", report)
                completed += 1
        finally:
            await http.close()

    started = time.perf_counter()
    await asyncio.wait_for(asyncio.gather(*(loop() for _ in range(POLL_LOOPS))), timeout=300)
    elapsed = time.perf_counter() - started
    return {"seconds": elapsed, "handled": elapsed}


def child(variant: str, url: str, count: int) -> None:
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    if variant in ("client push", LIVE):
        result = asyncio.run(client_worker(url, count, "push"))
    elif variant == "client poll":
        result = asyncio.run(client_worker(url, count, "poll"))
    elif variant == "lean push":
        result = asyncio.run(lean_push_worker(url, count))
    else:
        result = asyncio.run(lean_poll_worker(url, count))
    print("RESULT " + json.dumps(result), flush=True)


# -- the parent --------------------------------------------------------------------------------


def client_available() -> str | None:
    """Why couchqueue_client cannot be used, or None if it can."""
    try:
        from couchqueue_client import Worker  # noqa: F401
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"
    return None


def arq_missing() -> str:
    """Why arq is not measured beside the client poll worker (target >= 1.5x arq)."""
    if importlib.util.find_spec("arq") is None:
        return "arq is not installed (pip install arq; it needs a redis-server)"
    if shutil.which("redis-server") is None:
        return "redis-server is not on PATH"
    return "arq is installed, but this bench does not drive it yet"


def measure(variant: str, count: int, folder: Path, profile: bool = False) -> dict[str, Any]:
    slug = variant.replace(" ", "-")
    with node(folder / f"{slug}.db", folder / f"{slug}.log") as server:
        http = Http(server.url)
        http.call("PUT", "/interest", {"queue": QUEUE, "interests": "*"})
        live = variant == LIVE
        fill_seconds = 0.0 if live else fill(server.url, count)
        command = [sys.executable, "-m", "bench.end_to_end", "--child", variant]
        command += ["--url", server.url, "--count", str(count)]
        profiler = Profiler(server.pid, folder / f"profile-{slug}.txt") if profile else None
        with profiler or contextlib.nullcontext():
            worker = subprocess.Popen(
                command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
            )
            if live:
                # Published while the worker runs: the worker's clock includes the wait.
                fill_seconds = fill(server.url, count, batch=LIVE_BATCH, connections=1)
            stdout, stderr = worker.communicate(timeout=400)
        line = next((x for x in stdout.splitlines() if x.startswith("RESULT ")), None)
        if line is None:
            raise RuntimeError(f"{variant} worker failed:\n{stdout}\n{stderr[-3000:]}")
        result = json.loads(line[len("RESULT ") :])
        counts = http.call("GET", "/status")["tasks"]
        http.close()
    summary = profiler.summary if profiler else ""
    return {"fill_seconds": fill_seconds, "counts": counts, "profile": summary, **result}


def run(count: int, poll_count: int, variants: list[str], profile: bool = False) -> None:
    load = os.getloadavg()[0]
    unavailable = client_available()
    rows = []
    fills = []
    rates: dict[str, float] = {}
    profiles: list[str] = []
    with temp_dir("e2e") as folder:
        for variant in variants:
            n = poll_count if "poll" in variant else count
            if variant.startswith("client") and unavailable:
                rows.append([variant, n, "-", "-", "-", f"couchqueue_client: {unavailable}"])
                continue
            r = measure(variant, n, folder, profile)
            if r["profile"]:
                profiles.append(f"\n-- profile of the node under {variant} --\n{r['profile']}")
            if variant != LIVE:
                fills.append(n / r["fill_seconds"])
            c = r["counts"]
            left = {k: v for k, v in c.items() if k in ("queued", "started") and v}
            check = f"left: {left}" if left else f"all {c.get('completed', '?'):,} completed"
            rate = n / r["seconds"]
            rates[variant] = rate
            note = target(rate, 1500) if variant == "client push" else ""
            if variant == LIVE:
                note = f"published meanwhile at {n / r['fill_seconds']:,.0f}/s"
            rows.append([variant, n, r["seconds"], rate, check, note])
    print(
        f"one worker process, {PREFETCH} in flight (poll: lean {POLL_LOOPS} loops, "
        f"client {PREFETCH}); load average before: {load:.2f}"
    )
    print(table(["worker", "tasks", "seconds", "tasks/s", "check", "note"], rows))
    if "client poll" in rates and "lean poll" in rates:
        ratio = rates["client poll"] / rates["lean poll"]
        print(f"client poll / lean poll: {ratio:.2f} ({target(ratio, 0.8)})")
    print(f"client poll / arq: not measured: {arq_missing()}")
    if fills:
        print(
            f"pre-publish with PUT /tasks (1000 per request, 2 connections): "
            f"{min(fills):,.0f}-{max(fills):,.0f} tasks/s"
        )
    for summary in profiles:
        print(summary)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--count", type=int)
    parser.add_argument("--poll-count", type=int)
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--profile", action="store_true", help="py-spy the node (slower)")
    parser.add_argument("--child", choices=VARIANTS)
    parser.add_argument("--url")
    args = parser.parse_args()
    if args.child:
        child(args.child, args.url, args.count)
        return
    quick = is_quick()
    count = args.count or (5_000 if quick else 20_000)
    poll_count = args.poll_count or (2_000 if quick else 5_000)
    run(count, poll_count, [v.strip() for v in args.variants.split(",")], args.profile)


if __name__ == "__main__":
    main()
