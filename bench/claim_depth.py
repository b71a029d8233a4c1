"""Claim cost against queue depth: is a claim as cheap with 1,000,000 tasks waiting as with
10,000? Prints claims per second at each depth and the ratio (deep / shallow; 1.0 = flat)."""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

from app.store.sqlite import SqliteStore
from resolvers import interests, tasks, workers
from resolvers.context import Context
from resolvers.models import Task

BATCH = 20_000


async def fill(ctx: Context, depth: int) -> None:
    now = ctx.clock()
    for start in range(0, depth, BATCH):
        batch = [
            Task(
                task_id=f"bench-{i}",
                event_id=f"bench-{i}",
                queue="q",
                lane="q",
                publisher="bench",
                data={"i": i},
                run_at=now,
                created_at=now,
            )
            for i in range(start, min(start + BATCH, depth))
        ]
        await ctx.store.insert_tasks(batch)


async def prepare(url: str, depth: int) -> None:
    """A store at ``url`` holding ``depth`` queued tasks in queue "q" (interest '*')."""
    store = await SqliteStore.open(url)
    try:
        ctx = Context(store=store)
        await interests.set_interests(ctx, "q", "*")
        await fill(ctx, depth)
    finally:
        await store.close()


async def claim_rate(url: str, claims: int) -> float:
    """Claims per second of a new worker on queue "q" of the store at ``url``, one at a time."""
    store = await SqliteStore.open(url)
    try:
        ctx = Context(store=store)
        worker = await workers.register_worker(ctx, queues=["q"])
        started = time.perf_counter()
        for _ in range(claims):
            assert await tasks.claim(ctx, worker.worker_id) is not None
        return claims / (time.perf_counter() - started)
    finally:
        await store.close()


async def claims_per_second(depth: int, claims: int, folder: Path) -> float:
    url = f"sqlite:///{folder / f'depth-{depth}.db'}"
    await prepare(url, depth)
    return await claim_rate(url, claims)


async def main(depths: list[int], claims: int) -> None:
    with tempfile.TemporaryDirectory() as folder:
        rates = {d: await claims_per_second(d, claims, Path(folder)) for d in depths}
    shallow = rates[depths[0]]
    print(f"{'queued tasks':>14} {'claims/s':>10} {'ratio':>6}")
    for depth, rate in rates.items():
        print(f"{depth:>14,} {rate:>10,.0f} {rate / shallow:>6.2f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--depths", default="10000,1000000")
    parser.add_argument("--claims", type=int, default=3000)
    parser.add_argument("--quick", action="store_true", help="depths 10000,200000")
    args = parser.parse_args()
    if args.quick:
        args.depths = "10000,200000"
    asyncio.run(main([int(d) for d in args.depths.split(",")], args.claims))
