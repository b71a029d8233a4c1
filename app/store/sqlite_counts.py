"""The SQLite store's task counters (tables task_counts, by queue, lane and state, and
task_due, delayed tasks by minute of run_at; kept by triggers: see sqlite.sql), the counts
read from them, and their repair: ``python -m app.store.sqlite_counts sqlite:///path``.

The triggers run inside the transaction of every change to ``tasks``, so the counters cannot
drift while they exist; the repair recounts them from the tasks all the same (a file edited
by hand, or one made before they existed), under the write lock: safe while servers run.
"""

from __future__ import annotations

import argparse
import sqlite3
import sys
from collections import Counter
from urllib.parse import quote

from app.store.sql import SQLITE as SQL
from resolvers.models import WORKER_LANE_PREFIX, TaskCounts, TaskFilter, TaskState

COUNTS_OBJECTS = (
    "counts_table",
    "counts_on_insert",
    "counts_on_delete",
    "counts_on_update",
    "due_table",
    "due_on_insert",
    "due_on_delete",
    "due_on_update",
)
_NAMES = {
    "task_counts",
    "task_counts_insert",
    "task_counts_delete",
    "task_counts_update",
    "task_due",
    "task_due_insert",
    "task_due_delete",
    "task_due_update",
}

# (table, queue, lane, state or minute)
Key = tuple[str, str, str, str | int]


def add_counts(conn: sqlite3.Connection) -> bool:
    """Create the counters and their triggers where they are missing (a new file, or one made
    before they existed), counting the tasks already there, in one transaction; True if it
    did. Several processes opening the file at once: the first does it, the others see it."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        found = {row[0] for row in conn.execute(SQL["counts_objects"])}
        if found != _NAMES:
            for name in COUNTS_OBJECTS:
                conn.execute(SQL[name])
            _recount(conn)
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return found != _NAMES


def repair_counts(conn: sqlite3.Connection) -> dict[Key, tuple[int, int]]:
    """Recount every counter from the tasks, under the write lock (no write lands between the
    count and the new counters); returns the counters that were wrong: (stored, true)."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        wrong = _recount(conn)
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return wrong


def _recount(conn: sqlite3.Connection) -> dict[Key, tuple[int, int]]:
    wrong: dict[Key, tuple[int, int]] = {}
    for table, prefix, column in (
        ("task_counts", "counts", "state"),
        ("task_due", "due", "minute"),
    ):
        stored = {
            (table, r[0], r[1], r[2]): int(r[3]) for r in conn.execute(SQL[f"{prefix}_stored"])
        }
        true = {(table, r[0], r[1], r[2]): int(r[3]) for r in conn.execute(SQL[f"{prefix}_true"])}
        conn.execute(SQL[f"{prefix}_clear"])
        conn.executemany(
            SQL[f"{prefix}_put"],
            [{"queue": q, "lane": lane, column: k, "n": n} for (_, q, lane, k), n in true.items()],
        )
        wrong.update(
            (key, (stored.get(key, 0), true.get(key, 0)))
            for key in stored.keys() | true.keys()
            if stored.get(key, 0) != true.get(key, 0)
        )
    return wrong


def counted(where: TaskFilter) -> bool:
    """Whether the counters answer this filter: by queue, lane and states only."""
    return where == TaskFilter(queue=where.queue, lane=where.lane, states=where.states)


def count_from_counters(conn: sqlite3.Connection, where: TaskFilter, now: float) -> TaskCounts:
    """count_tasks for a filter the counters answer (see ``counted``): the counters, less the
    queued tasks still to come (see ``_scheduled``). In one read transaction, so every read
    sees the same moment."""
    states = None if where.states is None else {TaskState(s).value for s in where.states}
    conn.execute("BEGIN")
    try:
        if where.queue is None:
            rows = conn.execute(SQL["counts_all"]).fetchall()
        else:
            rows = conn.execute(SQL["counts_of_queue"], {"queue": where.queue}).fetchall()
        totals: Counter[str] = Counter()
        queued_lanes: set[tuple[str, str]] = set()
        for queue, lane, state, n in rows:
            if (where.lane is None or lane == where.lane) and (states is None or state in states):
                totals[state] += n
                if state == TaskState.QUEUED.value:
                    queued_lanes.add((queue, lane))
        scheduled = _scheduled(conn, queued_lanes, where.queue, now) if queued_lanes else 0
    finally:
        conn.execute("COMMIT")
    return TaskCounts(
        scheduled=scheduled,
        queued=totals[TaskState.QUEUED.value] - scheduled,
        started=totals[TaskState.STARTED.value],
        completed=totals[TaskState.COMPLETED.value],
        failed=totals[TaskState.FAILED.value],
    )


def _scheduled(
    conn: sqlite3.Connection, queued_lanes: set[tuple[str, str]], queue: str | None, now: float
) -> int:
    """The queued tasks of these (queue, lane) pairs whose run_at is after ``now``: those of
    later minutes from task_due, and those of now's minute from tasks_ready."""
    if queue is None:
        later = conn.execute(SQL["due_later"], {"now": now})
    else:
        later = conn.execute(SQL["due_later_of_queue"], {"now": now, "queue": queue})
    scheduled = sum(int(n) for q, lane, n in later if (q, lane) in queued_lanes)
    if queue is None:
        # Every queue's tasks of a lane count: one index-only probe per lane.
        for lane in {lane for _, lane in queued_lanes}:
            scheduled += _one(conn, "scheduled_in_lane", {"lane": lane, "now": now})
        return scheduled
    for _, lane in queued_lanes:
        # A queue's own lane holds only its tasks; a worker's lane, those of its queues.
        if lane.startswith(WORKER_LANE_PREFIX):
            params = {"lane": lane, "now": now, "queue": queue}
            scheduled += _one(conn, "scheduled_in_lane_of_queue", params)
        else:
            scheduled += _one(conn, "scheduled_in_lane", {"lane": lane, "now": now})
    return scheduled


def _one(conn: sqlite3.Connection, name: str, params: dict[str, object]) -> int:
    return int(conn.execute(SQL[name], params).fetchone()[0])


def main(argv: list[str] | None = None) -> int:
    from app.store.sqlite import path_from_url

    parser = argparse.ArgumentParser(
        prog="python -m app.store.sqlite_counts",
        description="Recount the SQLite store's task counters from its tasks (safe while "
        "servers run: it holds the write lock while it counts).",
    )
    parser.add_argument("url", help="the store, sqlite:///path/to/file.db")
    args = parser.parse_args(argv)
    path = path_from_url(args.url)
    try:
        conn = sqlite3.connect(f"file:{quote(path)}?mode=rw", uri=True, isolation_level=None)
    except sqlite3.Error as exc:
        print(f"cannot open {path}: {exc}", file=sys.stderr)
        return 1
    try:
        conn.execute("PRAGMA busy_timeout = 30000")
        created = add_counts(conn)
        wrong = {} if created else repair_counts(conn)
    finally:
        conn.close()
    if created:
        print("counters created and counted")
    for (table, queue, lane, key), (stored, true) in sorted(wrong.items(), key=str):
        print(f"fixed {table} {queue!r} lane {lane!r} {key}: {stored} -> {true}")
    print(f"{len(wrong)} counters fixed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
