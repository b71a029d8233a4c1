"""The SQLite store's task counters (table task_counts, kept by triggers: see sqlite.sql), the
counts read from them, and their repair: ``python -m app.store.sqlite_counts sqlite:///path``.

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

COUNTS_OBJECTS = ("counts_table", "counts_on_insert", "counts_on_delete", "counts_on_update")
_NAMES = {"task_counts", "task_counts_insert", "task_counts_delete", "task_counts_update"}

Key = tuple[str, str, str]


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
    stored = {(r[0], r[1], r[2]): int(r[3]) for r in conn.execute(SQL["counts_stored"])}
    true = {(r[0], r[1], r[2]): int(r[3]) for r in conn.execute(SQL["counts_true"])}
    conn.execute(SQL["counts_clear"])
    conn.executemany(
        SQL["counts_put"],
        [{"queue": q, "lane": lane, "state": s, "n": n} for (q, lane, s), n in true.items()],
    )
    return {
        key: (stored.get(key, 0), true.get(key, 0))
        for key in stored.keys() | true.keys()
        if stored.get(key, 0) != true.get(key, 0)
    }


def counted(where: TaskFilter) -> bool:
    """Whether the counters answer this filter: by queue, lane and states only."""
    return where == TaskFilter(queue=where.queue, lane=where.lane, states=where.states)


def count_from_counters(conn: sqlite3.Connection, where: TaskFilter, now: float) -> TaskCounts:
    """count_tasks for a filter the counters answer (see ``counted``): the counters, and one
    tasks_ready probe per lane holding queued tasks for those of them still to come. In one
    read transaction, so both see the same moment."""
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
        scheduled = _scheduled(conn, queued_lanes, by_queue=where.queue is not None, now=now)
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
    conn: sqlite3.Connection, queued_lanes: set[tuple[str, str]], *, by_queue: bool, now: float
) -> int:
    scheduled = 0
    if not by_queue:
        # Every queue's tasks of a lane count: one index-only probe per lane.
        for lane in {lane for _, lane in queued_lanes}:
            scheduled += conn.execute(
                SQL["scheduled_in_lane"], {"lane": lane, "now": now}
            ).fetchone()[0]
        return scheduled
    for queue, lane in queued_lanes:
        # A queue's own lane holds only its tasks; a worker's lane, those of its queues.
        if lane.startswith(WORKER_LANE_PREFIX):
            params = {"lane": lane, "now": now, "queue": queue}
            scheduled += conn.execute(SQL["scheduled_in_lane_of_queue"], params).fetchone()[0]
        else:
            scheduled += conn.execute(
                SQL["scheduled_in_lane"], {"lane": lane, "now": now}
            ).fetchone()[0]
    return scheduled


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
    for (queue, lane, state), (stored, true) in sorted(wrong.items()):
        print(f"fixed {queue!r} lane {lane!r} {state}: {stored} -> {true}")
    print(f"{len(wrong)} counters fixed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
