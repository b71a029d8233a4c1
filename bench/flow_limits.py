"""Claim throughput of a queue with flow limits set high enough never to bind, beside the same
queue without: what enforcing maxStarted (and a rate limit) inside every claim costs.

Engine level (resolvers.tasks.claim, then the report, as a worker makes them), WORKERS workers
at once, on SQLite and on Couchbase (tests/couchbase_node, the suite's small KV node: its
figures show the store's extra round trips, not a cluster's). Each configuration runs on a
fresh queue holding the same number of ready tasks, ROUNDS times, interleaved, after a warm-up, the
best of each kept; read the ratios (target for maxStarted: >= 0.8x).

    python -m bench.flow_limits [--quick] [--claims N] [--sqlite-only]
"""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from bench.support import table, temp_dir
from resolvers import interests, queues, reports, tasks, workers
from resolvers.context import Context
from resolvers.models import Task
from resolvers.store import Store

WORKERS = 8
ROUNDS = 5
CONFIGS: dict[str, dict[str, Any]] = {
    "no limit": {},
    "maxStarted 1000": {"max_started": 1000},
    "maxStarted 1000 + rateLimit 1e6/s": {"max_started": 1000, "rate_limit": 1_000_000},
}
USER, PASSWORD, BUCKET = "bench", "bench-password", "bench"


async def _fill(ctx: Context, queue: str, count: int) -> None:
    now = ctx.clock()
    batch = [
        Task(
            task_id=f"{queue}-{i}",
            event_id=f"{queue}-{i}",
            queue=queue,
            lane=queue,
            publisher="bench",
            data={"i": i},
            run_at=now,
            created_at=now,
        )
        for i in range(count)
    ]
    for start in range(0, count, 1000):
        await ctx.store.insert_tasks(batch[start : start + 1000])


async def _rate(ctx: Context, queue: str, claims: int, limits: dict[str, Any]) -> float:
    """Claims per second: WORKERS workers claiming and completing until ``claims`` are done."""
    await interests.set_interests(ctx, queue, "*")
    await queues.configure_queue(ctx, queue, **limits)
    await _fill(ctx, queue, claims)
    ids = [(await workers.register_worker(ctx, queues=[queue])).worker_id for _ in range(WORKERS)]
    done = 0

    async def work(worker_id: str) -> None:
        nonlocal done
        while done < claims:
            task = await tasks.claim(ctx, worker_id)
            if task is None:
                return
            done += 1
            await reports.report(ctx, worker_id=worker_id, task_id=task.task_id, state="complete")

    started = time.perf_counter()
    await asyncio.gather(*(work(w) for w in ids))
    return done / (time.perf_counter() - started)


@asynccontextmanager
async def _stores(sqlite_only: bool) -> AsyncIterator[dict[str, Store]]:
    from app.store.sqlite import SqliteStore

    with temp_dir("flow-limits") as folder:
        opened: dict[str, Store] = {
            "sqlite": await SqliteStore.open(f"sqlite:///{folder / 'bench.db'}")
        }
        try:
            if sqlite_only:
                yield opened
                return
            from app.store.couchbase import CouchbaseStore
            from tests.couchbase_node.launcher import running_node

            with running_node(bucket=BUCKET, user=USER, password=PASSWORD) as port:
                prefix = f"b{uuid.uuid4().hex[:8]}"
                url = (
                    f"couchbase://127.0.0.1:{port}/{BUCKET}?prefix={prefix}"
                    f"&user={USER}&password={PASSWORD}"
                )
                opened["couchbase (test node)"] = await CouchbaseStore.open(url)
                try:
                    yield opened
                finally:
                    await opened.pop("couchbase (test node)").close()
        finally:
            for store in opened.values():
                await store.close()


async def main(claims: int, sqlite_only: bool) -> None:
    rows = []
    async with _stores(sqlite_only) as stores:
        for name, store in stores.items():
            ctx = Context(store=store)
            count = claims if name == "sqlite" else max(claims // 8, 100)
            await _rate(ctx, "warm-up", count // 4, {})
            # Each configuration ROUNDS times, interleaved, its best kept: the machine's
            # drift over the run weighs on every configuration alike.
            rates: dict[str, float] = {}
            for round_no in range(ROUNDS):
                for n, (label, limits) in enumerate(CONFIGS.items()):
                    rate = await _rate(ctx, f"q{round_no}-{n}", count, limits)
                    rates[label] = max(rates.get(label, 0.0), rate)
            base = rates["no limit"]
            rows += [
                [name, label, f"{rate:,.0f}", f"{rate / base:.2f}x"]
                for label, rate in rates.items()
            ]
    print(f"claim + complete, {WORKERS} workers at once, limits that never bind (best of {ROUNDS})")
    print(table(["store", "queue", "claims/s", "vs no limit"], rows))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--claims", type=int, default=1500)
    parser.add_argument("--quick", action="store_true", help="500 claims a round")
    parser.add_argument("--sqlite-only", action="store_true")
    args = parser.parse_args()
    asyncio.run(main(500 if args.quick else args.claims, args.sqlite_only))
