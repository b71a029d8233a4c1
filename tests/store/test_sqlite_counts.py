"""The SQLite store's task counters: kept by triggers whoever writes, created and counted in a
file made before them, repaired on demand, read without a scan (the contract suite's state
machine, tests/store/test_contract_counts.py, checks them against the truth on both stores)."""

from __future__ import annotations

import asyncio
import dataclasses
import sqlite3
from pathlib import Path

import pytest

from app.store.sql import SQLITE as SQL
from app.store.sqlite import SqliteStore
from app.store.sqlite_counts import main as repair_main
from app.store.sqlite_counts import repair_counts
from resolvers.models import TaskCounts, TaskFilter, TaskState, worker_lane
from tests.store.factories import NOW, claim_request, task


async def fill(store: SqliteStore) -> None:
    """q: 2 ready, 1 scheduled, 1 started, 1 completed; r: 1 ready."""
    await store.insert_tasks([task("q"), task("q"), task("q"), task("q", run_at=NOW + 60)])
    await store.insert_tasks([task("q"), task("r")])
    first, _ = await store.claim_tasks(claim_request("q"), 2)
    done = dataclasses.replace(first, state=TaskState.COMPLETED, finished_at=NOW)
    assert await store.replace_task(done, first.version)


FILLED = TaskCounts(scheduled=1, queued=2, started=1, completed=1)


def raw(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(path, isolation_level=None)


async def test_a_file_made_before_counters_gains_them_counted(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    store = await SqliteStore.open(f"sqlite:///{path}")
    await fill(store)
    await store.close()
    conn = raw(path)
    for trigger in ("task_counts_insert", "task_counts_delete", "task_counts_update"):
        conn.execute(f"DROP TRIGGER {trigger}")
    conn.execute("DROP TABLE task_counts")
    conn.close()
    # Two nodes opening it at once: one creates and counts, the other finds them.
    stores = await asyncio.gather(*(SqliteStore.open(f"sqlite:///{path}") for _ in range(2)))
    try:
        for opened in stores:
            assert await opened.count_tasks(TaskFilter(queue="q"), NOW) == FILLED
        await stores[0].insert_tasks([task("q")])
        counts = await stores[1].count_tasks(TaskFilter(queue="q"), NOW)
        assert counts == dataclasses.replace(FILLED, queued=3)
    finally:
        for opened in stores:
            await opened.close()


async def test_counters_follow_every_connection_s_writes(tmp_path: Path) -> None:
    """Triggers live in the file: a write by another process (an older server, a hand-made
    fix) keeps them right too."""
    path = tmp_path / "c.db"
    store = await SqliteStore.open(f"sqlite:///{path}")
    try:
        await fill(store)
        conn = raw(path)
        conn.execute("UPDATE tasks SET state = 'failed' WHERE state = 'completed'")
        conn.execute("DELETE FROM tasks WHERE queue = 'r'")
        conn.close()
        counts = await store.count_tasks(TaskFilter(queue="q"), NOW)
        assert counts == dataclasses.replace(FILLED, completed=0, failed=1)
        assert await store.count_tasks(TaskFilter(queue="r"), NOW) == TaskCounts()
    finally:
        await store.close()


async def test_a_count_at_zero_leaves_no_row(tmp_path: Path) -> None:
    """Worker lanes come and go: their counters must not pile up at zero."""
    path = tmp_path / "z.db"
    store = await SqliteStore.open(f"sqlite:///{path}")
    try:
        lane = worker_lane("w1")
        await store.insert_tasks([task("q", lane=lane)])
        assert len(await store.claim_tasks(claim_request(lane), 1)) == 1
        await store.delete_tasks(TaskFilter(states=(TaskState.STARTED,)))
        conn = raw(path)
        assert conn.execute("SELECT * FROM task_counts").fetchall() == []
        conn.close()
    finally:
        await store.close()


async def test_repair_recounts_a_counter_broken_by_hand(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "r.db"
    store = await SqliteStore.open(f"sqlite:///{path}")
    try:
        await fill(store)
        conn = raw(path)
        conn.execute("UPDATE task_counts SET n = 40 WHERE queue = 'q' AND state = 'started'")
        conn.execute("INSERT INTO task_counts VALUES ('ghost', 'ghost', 'queued', 3)")
        assert (await store.count_tasks(TaskFilter(queue="q"), NOW)).started == 40
        assert repair_counts(conn) == {
            ("q", "q", "started"): (40, 1),
            ("ghost", "ghost", "queued"): (3, 0),
        }
        assert await store.count_tasks(TaskFilter(queue="q"), NOW) == FILLED
        assert repair_counts(conn) == {}
        conn.execute("UPDATE task_counts SET n = 7 WHERE queue = 'r'")
        conn.close()
        assert repair_main([f"sqlite:///{path}"]) == 0
        assert "fixed 'r' lane 'r' queued: 7 -> 1" in capsys.readouterr().out
        assert (await store.count_tasks(TaskFilter(queue="r"), NOW)).queued == 1
    finally:
        await store.close()


@pytest.mark.parametrize(
    "name", ["counts_of_queue", "scheduled_in_lane", "scheduled_in_lane_of_queue"]
)
def test_count_reads_are_index_probes(tmp_path: Path, name: str) -> None:
    """A count reads counters and the scheduled end of tasks_ready, never a queue's tasks."""
    conn = raw(tmp_path / "plan.db")
    conn.executescript(SQL["schema"])
    for block in ("counts_table", "counts_on_insert", "counts_on_delete", "counts_on_update"):
        conn.execute(SQL[block])
    params = {"queue": "q", "lane": "q", "now": NOW}
    plan = " ".join(row[3] for row in conn.execute(f"EXPLAIN QUERY PLAN {SQL[name]}", params))
    conn.close()
    assert "SCAN" not in plan and "SEARCH" in plan, plan
    if name != "counts_of_queue":
        assert "tasks_ready (lane=? AND run_at>?)" in plan, plan
