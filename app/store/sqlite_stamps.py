"""The SQLite store's per-lane change stamps (table lane_stamps, kept by triggers: see
sqlite.sql), so that a node's change watcher wakes only the subscribers of the lanes that
gained a claimable task, and never for a claim, a report or a worker's sign of life.

Stamps are drawn from one clock (lane_stamps_clock.changes), so they are ordered by change:
a reader keeps a copy and, each time it looks, reads the clock (one row) and then only the
rows stamped since its last look (an index range), never every lane's row. Deleted rows (a
worker's lane, when the worker goes) bump the clock's delete count: the copy is then read
again in full."""

from __future__ import annotations

import sqlite3

from app.store.sql import SQLITE as SQL
from resolvers.models import WORKER_LANE_PREFIX

STAMPS_OBJECTS = (
    "stamps_table",
    "stamps_by_stamp",
    "stamps_clock_table",
    "stamps_clock_row",
    "stamps_drop_insert",
    "stamps_drop_update",
    "stamps_drop_worker_delete",
    "stamps_drop_slot",
    "stamps_on_insert",
    "stamps_on_update",
    "stamps_on_slot",
    "stamps_on_worker_delete",
)
assert WORKER_LANE_PREFIX == "@", "stamps_on_worker_delete spells the worker lane's prefix"


def add_stamps(conn: sqlite3.Connection) -> None:
    """Create the stamps table, its clock and its triggers (replacing those of a file made
    before the clock existed), in one transaction. A lane without a row has stamp 0; the clock
    starts at the highest stamp already given, so every lane's stamp keeps growing."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        for name in STAMPS_OBJECTS:
            conn.execute(SQL[name])
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


class StampCopy:
    """One connection's copy of every lane's stamp, brought up to date by reading only what
    changed since the last look. ``rows_read`` counts the stamp rows read, for tests."""

    def __init__(self) -> None:
        self._stamps: dict[str, int] = {}
        self._changes = -1
        self._deletes = -1
        self.rows_read = 0
        # Grows whenever the copy changed: an answer built from it can be reused until then.
        self.generation = 0

    def refresh(self, conn: sqlite3.Connection) -> dict[str, int]:
        """Every lane's stamp (lanes without a row are absent). The clock is read before the
        rows: a write landing in between is read now and again next time, never missed."""
        changes, deletes = conn.execute(SQL["stamps_clock"]).fetchone()
        if deletes != self._deletes:
            rows = conn.execute(SQL["stamps_all"]).fetchall()
            self._stamps = {lane: int(stamp) for lane, stamp in rows}
            self.rows_read += len(rows)
            self.generation += 1
        elif changes != self._changes:
            rows = conn.execute(SQL["stamps_since"], {"since": self._changes}).fetchall()
            self._stamps.update((lane, int(stamp)) for lane, stamp in rows)
            self.rows_read += len(rows)
            self.generation += 1
        self._changes, self._deletes = changes, deletes
        return self._stamps
