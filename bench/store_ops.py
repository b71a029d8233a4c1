"""Storage operations per task lifecycle: KV operations on the Couchbase store (counted by the
test node, per opcode) beside SQL statements on the SQLite store (counted by a trace callback
on every connection), for one publish, one claim and one completion, one task at a time, and
the same with 2 and 5 processes' worth of claimers racing (CAS losses per claim).

`python -m bench.store_ops [--tasks N]`. Counts, not times: they do not depend on the machine.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import itertools
import sqlite3
import tempfile
from collections import Counter
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from bench.support import table
from resolvers.models import ClaimRequest, Task, TaskState
from tests.couchbase_node.faults import set_faults
from tests.couchbase_node.launcher import running_node

USER, PASSWORD, BUCKET = "bench", "bench-password", "bench"
NOW = 1_800_000_000.0
_ids = itertools.count()


def new_task() -> Task:
    n = next(_ids)
    return Task(f"b{n}", f"e{n}", "q", "q", "bench", {"n": n}, run_at=NOW, created_at=NOW)


def request(worker: str) -> ClaimRequest:
    return ClaimRequest(["q"], worker, NOW, {}, 300.0)


async def lifecycle(store: Any, count: Callable[[], int], tasks: int) -> dict[str, float]:
    """Operations per publish, claim and completion, one task at a time."""
    per: dict[str, float] = {}
    start = count()
    for _ in range(tasks):
        assert await store.insert_tasks([new_task()]) == [True]
    per["publish"] = (count() - start) / tasks
    start = count()
    claimed = [await store.claim_task(request("w")) for _ in range(tasks)]
    per["claim"] = (count() - start) / tasks
    start = count()
    for t in claimed:
        assert t is not None
        done = dataclasses.replace(t, state=TaskState.COMPLETED, finished_at=NOW)
        assert await store.replace_task(done, t.version)
    per["complete"] = (count() - start) / tasks
    per["lifecycle"] = per["publish"] + per["claim"] + per["complete"]
    return per


async def couchbase(tasks: int) -> tuple[dict[str, float], dict[str, float]]:
    from app.store.couchbase import CouchbaseStore

    with running_node(bucket=BUCKET, user=USER, password=PASSWORD) as port:
        url = f"couchbase://127.0.0.1:{port}/{BUCKET}?user={USER}&password={PASSWORD}"

        def count() -> int:
            return sum(set_faults(port, {})["ops"].values())

        store = await CouchbaseStore.open(url + "&prefix=ops")
        try:
            per = await lifecycle(store, count, tasks)
            await store.index.finisher.drain()
            losses = {f"{n} x {10 if n == 5 else 50 // n}": await races(url, n) for n in (1, 2, 5)}
        finally:
            await store.close()
    return per, losses


async def races(url: str, processes: int) -> float:
    """CAS losses per claim: ``processes`` store objects (each standing for a node), each with
    its share of 50 concurrent claimers (10 each for 5), on one queue of 500 tasks."""
    from app.store.couchbase import CouchbaseStore
    from app.store.couchbase_tasks import Tasks

    prefix = f"race{processes}"
    stores = [await CouchbaseStore.open(f"{url}&prefix={prefix}") for _ in range(processes)]
    lost = Counter[str]()
    real: Callable[..., Awaitable[str]] = Tasks.move

    async def counted(self: Tasks, old: Any, new: Any, abandoned: Any = None) -> str:
        outcome = await real(self, old, new, abandoned)
        lost[outcome] += 1
        return outcome

    try:
        assert all(await stores[0].insert_tasks([new_task() for _ in range(500)]))
        Tasks.move = counted  # type: ignore[method-assign]
        per_node = 10 if processes == 5 else 50 // processes

        async def claimer(store: Any, name: str) -> int:
            n = 0
            while await store.claim_task(request(name)) is not None:
                n += 1
            return n

        claims = sum(
            await asyncio.gather(
                *(claimer(s, f"w{i}-{j}") for i, s in enumerate(stores) for j in range(per_node))
            )
        )
    finally:
        Tasks.move = real  # type: ignore[method-assign]
        for s in stores:
            await s.close()
    return lost["conflict"] / max(claims, 1)


async def sqlite(tasks: int) -> dict[str, float]:
    from app.store import sqlite as sqlite_module
    from app.store.sqlite import SqliteStore

    statements = [0]
    connect = sqlite_module._connect

    def traced(*args: Any, **kwargs: Any) -> sqlite3.Connection:
        conn = connect(*args, **kwargs)
        conn.set_trace_callback(lambda _sql: statements.__setitem__(0, statements[0] + 1))
        return conn

    sqlite_module._connect = traced  # type: ignore[assignment]
    try:
        with tempfile.TemporaryDirectory() as folder:
            store = await SqliteStore.open(f"sqlite:///{Path(folder) / 'ops.db'}")
            try:
                return await lifecycle(store, lambda: statements[0], tasks)
            finally:
                await store.close()
    finally:
        sqlite_module._connect = connect  # type: ignore[assignment]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=200)
    args = parser.parse_args()
    per_cb, losses = asyncio.run(couchbase(args.tasks))
    per_sql = asyncio.run(sqlite(args.tasks))
    rows = [(phase, per_cb[phase], per_sql[phase]) for phase in per_cb]
    print(table(["per task", "Couchbase KV operations", "SQLite statements"], rows))
    print()
    print(table(["nodes x claimers", "CAS losses per claim"], list(losses.items())))


if __name__ == "__main__":
    main()
