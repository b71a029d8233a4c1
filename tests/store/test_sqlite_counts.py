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
from app.store.sqlite_counts import add_counts, repair_counts
from app.store.sqlite_counts import main as repair_main
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
        minute = int((NOW + 60) // 60)
        conn = raw(path)
        conn.execute("UPDATE task_counts SET n = 40 WHERE queue = 'q' AND state = 'started'")
        conn.execute("INSERT INTO task_counts VALUES ('ghost', 'ghost', 'queued', 3)")
        conn.execute("UPDATE task_due SET n = 5")
        wrong = await store.count_tasks(TaskFilter(queue="q"), NOW)
        assert (wrong.started, wrong.scheduled) == (40, 5)
        assert repair_counts(conn) == {
            ("task_counts", "q", "q", "started"): (40, 1),
            ("task_counts", "ghost", "ghost", "queued"): (3, 0),
            ("task_due", "q", "q", minute): (5, 1),
        }
        assert await store.count_tasks(TaskFilter(queue="q"), NOW) == FILLED
        assert repair_counts(conn) == {}
        conn.execute("UPDATE task_counts SET n = 7 WHERE queue = 'r'")
        conn.close()
        assert repair_main([f"sqlite:///{path}"]) == 0
        assert "fixed task_counts 'r' lane 'r' queued: 7 -> 1" in capsys.readouterr().out
        assert (await store.count_tasks(TaskFilter(queue="r"), NOW)).queued == 1
    finally:
        await store.close()


async def test_scheduled_tasks_become_ready_with_the_clock(tmp_path: Path) -> None:
    """Delayed tasks are counted by minute of run_at: at every moment, those after it are
    scheduled and the others queued, within the minute too."""
    store = await SqliteStore.open(f"sqlite:///{tmp_path / 's.db'}")
    try:
        delays = [1.0, 30.0, 59.5, 60.0, 61.0, 150.0, 3600.0]
        await store.insert_tasks([task("q", run_at=NOW + d) for d in delays])
        await store.insert_tasks([task("q", lane=worker_lane("w1"), run_at=NOW + 30.0)])
        await store.insert_tasks([task("r", lane=worker_lane("w1"), run_at=NOW + 90.0)])
        for moment in [0.0, 0.5, 1.0, 29.9, 30.0, 59.5, 60.0, 60.5, 61.0, 149.0, 3600.0]:
            now = NOW + moment
            later = sum(d > moment for d in delays)
            counts = await store.count_tasks(TaskFilter(queue="q"), now)
            assert (counts.scheduled, counts.queued) == (
                later + (moment < 30.0),
                len(delays) - later + (moment >= 30.0),
            ), moment
            lane = await store.count_tasks(
                TaskFilter(lane=worker_lane("w1"), states=(TaskState.QUEUED,)), now
            )
            assert lane.scheduled == (moment < 30.0) + (moment < 90.0), moment
            everything = await store.count_tasks(TaskFilter(), now)
            assert everything.scheduled == later + (moment < 30.0) + (moment < 90.0), moment
    finally:
        await store.close()


@pytest.mark.parametrize(
    ("name", "index"),
    [
        ("counts_of_queue", "PRIMARY KEY (queue=?)"),
        ("due_later_of_queue", "PRIMARY KEY (queue=?)"),
        ("scheduled_in_lane", "tasks_ready (lane=? AND run_at>? AND run_at<?)"),
        ("scheduled_in_lane_of_queue", "tasks_ready (lane=? AND run_at>? AND run_at<?)"),
    ],
)
def test_count_reads_are_index_probes(tmp_path: Path, name: str, index: str) -> None:
    """A count reads counters and at most a minute of tasks_ready, never a queue's tasks."""
    conn = raw(tmp_path / "plan.db")
    conn.executescript(SQL["schema"])
    add_counts(conn)
    params = {"queue": "q", "lane": "q", "now": NOW}
    plan = " ".join(row[3] for row in conn.execute(f"EXPLAIN QUERY PLAN {SQL[name]}", params))
    conn.close()
    assert "SCAN" not in plan and index in plan, plan
