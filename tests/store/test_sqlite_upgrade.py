"""A SQLite file made before tokens existed opens, gaining the tokens table and worker owners."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from app.store.sqlite import SqliteStore
from resolvers.models import Worker

OLD_WORKERS = """CREATE TABLE workers (
    worker_id TEXT PRIMARY KEY, name TEXT, queues TEXT NOT NULL,
    registered_at REAL NOT NULL, last_seen REAL NOT NULL) WITHOUT ROWID"""


async def test_an_older_file_gains_tokens_and_owners(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    conn = sqlite3.connect(path)
    conn.execute(OLD_WORKERS)
    conn.execute("INSERT INTO workers VALUES ('w0', NULL, '[\"q\"]', 1.0, 1.0)")
    conn.commit()
    conn.close()
    store = await SqliteStore.open(f"sqlite:///{path}")
    try:
        old = await store.get_worker("w0")
        assert old is not None and old.owner is None
        await store.add_worker(Worker(worker_id="w1", queues=["q"], owner="tok"))
        new = await store.get_worker("w1")
        assert new is not None and new.owner == "tok"
        assert await store.list_tokens() == []
    finally:
        await store.close()
