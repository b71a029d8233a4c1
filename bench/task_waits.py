"""Waiting for outcomes (GET /task/result, taskUpdates), measured in one run:

latency   sequential tasks on one node: a GET /task/result?waitSeconds=5 waits for each
          claimed task, then its worker completes it (POST /task). From just before the
          completion is sent: when the worker's answer arrives, and when the waiter's does.
          Target: the waiter answered within 100 ms (p99), and within 2x the completion's
          own round trip (median).
reread    the node's batched re-read of every watched task (for other nodes' changes), in
          this process on a SQLite store: one pass over N watched tasks beside N single
          reads (what a poll loop per waiter would cost). Target: <= 1x. (The duty spaces
          its passes at least 4x a pass's duration apart, so a slow pass stretches the
          interval rather than take the event loop.)

  python -m bench.task_waits [--quick] [--count N]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import statistics
import time
from pathlib import Path
from typing import Any

from bench.latency import percentile
from bench.support import PUBLISH_BODY, AsyncHttp, is_quick, node, table, target, temp_dir


async def outcome_latencies(url: str, count: int) -> tuple[list[float], list[float]]:
    """Per task, in ms from just before its completion is sent: the completion's answer and
    the waiting GET /task/result's answer."""
    publisher, waiter, worker = AsyncHttp(url), AsyncHttp(url), AsyncHttp(url)
    await publisher.json("PUT", "/interest", {"queue": "bench", "interests": "*"})
    registered = await worker.json("PUT", "/worker", {"queues": ["bench"], "name": "w"})
    worker_id = registered["workerId"]
    completed, told = [], []
    try:
        for _ in range(count):
            await publisher.json("PUT", "/task", PUBLISH_BODY)
            task = await worker.json("GET", f"/task?workerId={worker_id}")
            path = f"/task/result?taskId={task['taskId']}&waitSeconds=5"
            waiting = asyncio.ensure_future(waiter.json("GET", path))
            await asyncio.sleep(0.005)  # the wait reaches the node and sleeps
            report = {"workerId": worker_id, "taskId": task["taskId"], "state": "complete"}
            sent = time.perf_counter()
            await worker.json("POST", "/task", report)
            completed.append((time.perf_counter() - sent) * 1000)
            answer = await asyncio.wait_for(waiting, 10)
            told.append((time.perf_counter() - sent) * 1000)
            if answer["state"] != "completed":
                raise RuntimeError(f"answered {answer!r:.200}")
    finally:
        for client in (publisher, waiter, worker):
            await client.close()
    return completed, told


async def reread_cost(folder: Path, watched: int, passes: int) -> tuple[float, float]:
    """ms of one batched re-read pass over ``watched`` tasks, and of as many single reads."""
    from app.store.sqlite import SqliteStore
    from resolvers.context import Context
    from resolvers.interests import set_interests
    from resolvers.publish import publish
    from resolvers.task_updates import follow_task, reread_watched

    store = await SqliteStore.open(f"sqlite:///{folder / f'reread-{watched}.db'}")
    ctx = Context(store=store)
    try:
        await set_interests(ctx, "q", "*")
        ids = [
            (await publish(ctx, publisher="p", data={"n": n})).tasks[0].task_id
            for n in range(watched)
        ]
        updates = [follow_task(ctx, task_id) for task_id in ids]
        for each in updates:
            await anext(each)
        waits = [asyncio.ensure_future(anext(each)) for each in updates]
        await asyncio.sleep(0)
        began = time.perf_counter()
        for _ in range(passes):
            ctx.task_watches.next_reread = 0.0  # every pass, not as the duty spaces them
            await reread_watched(ctx)
        batched = (time.perf_counter() - began) / passes * 1000
        began = time.perf_counter()
        for _ in range(passes):
            for task_id in ids:
                await store.get_task(task_id)
        single = (time.perf_counter() - began) / passes * 1000
        for wait in waits:
            wait.cancel()
        await asyncio.gather(*waits, return_exceptions=True)
        for each in updates:
            await each.aclose()
    finally:
        await store.close()
    return batched, single


def run(count: int, passes: int) -> None:
    with temp_dir("task-waits") as folder, node(folder / "n.db", folder / "n.log") as server:
        completed, told = asyncio.run(outcome_latencies(server.url, count))
        rows: list[list[Any]] = []
        for watched in (10, 1000):
            batched, single = asyncio.run(reread_cost(folder, watched, passes))
            rows.append([watched, f"{batched:.2f}", f"{single:.2f}", batched / single])
    late = [t - c for t, c in zip(told, completed, strict=True)]
    ratio = statistics.median(told) / statistics.median(completed)
    print(f"\nWaiting for outcomes: {count} tasks on one node (ms from the completion's send)")
    print(
        table(
            ["", "median", "p99"],
            [
                ["completion answered", statistics.median(completed), percentile(completed, 99)],
                ["waiter answered", statistics.median(told), percentile(told, 99)],
                ["waiter after completion", statistics.median(late), percentile(late, 99)],
            ],
        )
    )
    print(f"waiter / completion (median): {ratio:.2f} {target(ratio, 2, False)}")
    print(f"waiter p99: {percentile(told, 99):.1f} ms {target(percentile(told, 99), 100, False)}")
    print(f"\nBatched re-read of watched tasks ({passes} passes each, SQLite, in process)")
    print(table(["watched", "pass ms", "single reads ms", "ratio"], rows))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--count", type=int, default=None)
    args = parser.parse_args()
    quick = args.quick or is_quick()
    count = args.count or (50 if quick else 300)
    with contextlib.suppress(KeyboardInterrupt):
        run(count, 5 if quick else 20)


if __name__ == "__main__":
    main()
