"""Additions to the SQLite schema made after files existed: each applied once, in one
transaction, to a file of the same schema version (older code ignores what they add)."""

from __future__ import annotations

import sqlite3

from app.store.sql import SQLITE as SQL

# Task columns added since schema version 1 (results, progress and follow-ups: issue 16).
TASK_COLUMNS = ("result", "progress", "parent_task_id", "follow_ups")


def add_task_columns(conn: sqlite3.Connection) -> None:
    """Give the tasks table the columns it lacks, all in one transaction."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        present = {row[1] for row in conn.execute("PRAGMA table_info(tasks)")}
        for column in TASK_COLUMNS:
            if column not in present:
                conn.execute(SQL[f"add_column_{column}"])
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
