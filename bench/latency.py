"""Publish-to-receipt latency on an idle push worker.

One worker subscribed over the websocket (graphql-transport-ws, prefetch 100). Publishes are
sequential: PUT /task, then wait until the pushed task arrives (the latency: from just before
the request is written to the receipt of the websocket message), complete it, pause a random
moment of up to 10 ms, repeat. The worker is idle, waiting, at every publish.

  (a) same node: publish and subscriber on one node
  (b) across nodes: publish on node A, subscriber on node B, one SQLite file; B learns of A's
      writes by watching the store's change stamp every --change-poll-interval (default 0.1 s)
      (pauses of up to that interval, so that publishes fall at random phases of it)
  (c) the floor, measured the same way: bench.floor, the bare stack doing the least a push
      needs (parse, one SQLite insert, one websocket message), so that (a) minus (c) is what
      CouchQueue adds

The pauses matter on a virtual machine: after a millisecond or two asleep a vCPU can work
markedly slower for a while (the floor here takes about 4x as long with pauses as without), so
both (a) and (c) are measured again back to back, without pauses, with the worker still idle
at each publish.

    python -m bench.latency [--quick] [--count N] [--cross-count N]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import time

import orjson

from bench import floor
from bench.support import PUBLISH_BODY, AsyncHttp, is_quick, node, table, target, temp_dir

PUSH = "subscription($w: ID!, $p: Int) { tasks(workerId: $w, prefetch: $p) { taskId } }"
BODY = orjson.dumps(PUBLISH_BODY)
PAUSE = 0.01  # the longest random pause between two publishes on one node, in seconds


async def measure(publish_url: str, subscribe_url: str, count: int, pause: float) -> list[float]:
    """Latencies in ms of ``count`` sequential publishes on ``publish_url``, pushed to a worker
    subscribed on ``subscribe_url``; a random pause of up to ``pause`` seconds between them."""
    import websockets
    from websockets.typing import Subprotocol

    publisher = AsyncHttp(publish_url)
    reporter = AsyncHttp(subscribe_url)
    await publisher.json("PUT", "/interest", {"queue": "bench", "interests": "*"})
    registered = await reporter.json("PUT", "/worker", {"queues": ["bench"], "name": "latency"})
    worker_id = registered["workerId"]
    ws_url = subscribe_url.replace("http://", "ws://") + "/graphql"
    latencies = []
    async with websockets.connect(
        ws_url, subprotocols=[Subprotocol("graphql-transport-ws")], compression=None
    ) as ws:
        await ws.send(json.dumps({"type": "connection_init"}))
        assert json.loads(await ws.recv())["type"] == "connection_ack"
        payload = {"query": PUSH, "variables": {"w": worker_id, "p": 100}}
        await ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": payload}))
        await asyncio.sleep(0.3)  # subscribed and idle

        async def receive() -> tuple[float, str]:
            while True:
                message = orjson.loads(await ws.recv())
                if message["type"] == "ping":
                    await ws.send('{"type":"pong"}')
                    continue
                if message["type"] != "next" or message["payload"].get("errors"):
                    raise RuntimeError(f"unexpected message: {message}")
                return time.perf_counter(), message["payload"]["data"]["tasks"]["taskId"]

        for _ in range(count):
            receipt = asyncio.ensure_future(asyncio.wait_for(receive(), 10))
            sent = time.perf_counter()
            status, raw = await publisher.request("PUT", "/task", BODY)
            if status != 200:
                raise RuntimeError(f"PUT /task -> {status}: {raw[:300]!r}")
            published = orjson.loads(raw)["tasks"][0]["taskId"]
            arrived, task_id = await receipt
            if task_id != published:
                raise RuntimeError(f"pushed {task_id}, expected {published}")
            latencies.append((arrived - sent) * 1000)
            report = {"workerId": worker_id, "taskId": task_id, "state": "complete"}
            await reporter.json("POST", "/task", report)
            await asyncio.sleep(random.uniform(0, pause))
    await publisher.close()
    await reporter.close()
    return latencies


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def run(count: int, cross_count: int, interval: float) -> None:
    load = os.getloadavg()[0]
    flag = ["--change-poll-interval", str(interval)]
    with temp_dir("latency") as folder:
        store = folder / "shared.db"
        with node(store, folder / "a.log", *flag) as a:
            same = asyncio.run(measure(a.url, a.url, count, pause=PAUSE))
            same_warm = asyncio.run(measure(a.url, a.url, count, pause=0))
            with node(store, folder / "b.log", *flag) as b:
                cross = asyncio.run(measure(a.url, b.url, cross_count, pause=interval))
        with floor.server(folder) as bare:
            bottom = asyncio.run(measure(bare.url, bare.url, count, pause=PAUSE))
            bottom_warm = asyncio.run(measure(bare.url, bare.url, count, pause=0))
    rows = []
    pauses = f"pauses up to {PAUSE * 1000:g} ms"
    for name, values, note in (
        ("(a) same node", same, pauses),
        ("(a) same node, back to back", same_warm, "no pauses"),
        ("(b) publish on A, push from B", cross, f"change stamp every {interval * 1000:g} ms"),
        ("(c) floor: bare stack", bottom, pauses),
        ("(c) floor, back to back", bottom_warm, "no pauses"),
    ):
        p50, p99 = statistics.median(values), percentile(values, 99)
        rows.append([name, len(values), p50, p99, max(values), note])
    print(f"sequential publishes to an idle push worker; load average before: {load:.2f}")
    print(table(["publish -> receipt", "n", "median ms", "p99 ms", "max ms", "note"], rows))
    p50, p99 = statistics.median(same), percentile(same, 99)
    print(
        f"same node: median {p50:.2f} ms ({target(p50, 2, False)} ms), "
        f"p99 {p99:.2f} ms ({target(p99, 10, False)} ms); "
        f"the floor here: median {statistics.median(bottom):.2f} ms"
    )
    print(
        f"back to back: median {statistics.median(same_warm):.2f} ms, "
        f"floor {statistics.median(bottom_warm):.2f} ms"
    )
    print(
        f"across nodes: median {statistics.median(cross):.1f} ms, p99 "
        f"{percentile(cross, 99):.1f} ms with a change-stamp interval of {interval * 1000:g} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--count", type=int)
    parser.add_argument("--cross-count", type=int)
    parser.add_argument("--change-poll-interval", type=float, default=0.1)
    args = parser.parse_args()
    quick = is_quick()
    count = args.count or (200 if quick else 500)
    cross_count = args.cross_count or (100 if quick else 300)
    run(count, cross_count, args.change_poll_interval)


if __name__ == "__main__":
    main()
