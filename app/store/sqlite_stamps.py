"""The SQLite store's per-lane change stamps (table lane_stamps, kept by triggers: see
sqlite.sql), so that a node's change watcher wakes only the subscribers of the lanes that
gained a claimable task, and never for a claim, a report or a worker's sign of life."""

from __future__ import annotations

import sqlite3

from app.store.sql import SQLITE as SQL
from resolvers.models import WORKER_LANE_PREFIX

STAMPS_OBJECTS = (
    "stamps_table",
    "stamps_on_insert",
    "stamps_on_update",
    "stamps_on_worker_delete",
)
assert WORKER_LANE_PREFIX == "@", "stamps_on_worker_delete spells the worker lane's prefix"


def add_stamps(conn: sqlite3.Connection) -> None:
    """Create the stamps table and its triggers where they are missing (a new file, or one
    made before they existed), in one transaction. A lane without a row has stamp 0: the
    first change gives it 1, so no backfill is needed."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        for name in STAMPS_OBJECTS:
            conn.execute(SQL[name])
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
