"""A SQLite store whose file goes away, is replaced, is corrupt or is full: it refuses writes
(nothing is acknowledged that the file at the path does not hold), and ready() says why,
naming the file."""

from __future__ import annotations

import os
import shutil
import sqlite3
from collections.abc import AsyncIterator
from contextlib import closing
from pathlib import Path

import pytest

import app.store.sqlite as sqlite_module
from app.store.sqlite import SqliteStore
from resolvers.errors import StoreNotReady, StoreUnavailable
from tests.store.factories import task

SUFFIXES = ("", "-wal", "-shm")


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "health.db"


@pytest.fixture
async def store(db: Path) -> AsyncIterator[SqliteStore]:
    opened = await SqliteStore.open(f"sqlite:///{db}")
    try:
        yield opened
    finally:
        await opened.close()


def remove_files(db: Path, suffixes: tuple[str, ...] = SUFFIXES) -> None:
    for suffix in suffixes:
        Path(f"{db}{suffix}").unlink()


def present(db: Path) -> list[str]:
    return [suffix for suffix in SUFFIXES if Path(f"{db}{suffix}").exists()]


def pages(db: Path) -> int:
    return db.stat().st_size // 4096


async def test_a_fresh_store_is_ready(store: SqliteStore) -> None:
    await store.ready()
    await store.ready(thorough=True)


async def test_writes_after_the_file_is_removed_are_refused(store: SqliteStore, db: Path) -> None:
    assert await store.insert_tasks([task()]) == [True]
    remove_files(db)
    with pytest.raises(StoreNotReady) as refused:
        await store.insert_tasks([task()])
    assert refused.value.reason == "removed" and str(db) in refused.value.message
    with pytest.raises(StoreNotReady) as not_ready:
        await store.ready()
    assert (not_ready.value.reason, not_ready.value.location) == ("removed", str(db))


async def test_writes_after_the_file_is_replaced_are_refused(
    store: SqliteStore, db: Path, tmp_path: Path
) -> None:
    await store.insert_tasks([task()])
    copy = tmp_path / "copy.db"
    with sqlite3.connect(db) as source, sqlite3.connect(copy) as target:
        source.backup(target)
    remove_files(db)
    shutil.move(copy, db)
    with pytest.raises(StoreNotReady) as refused:
        await store.insert_tasks([task()])
    assert refused.value.reason in ("replaced", "removed")
    # A second store on the path (another node) makes its own -wal and -shm: now every file
    # at the path is another one.
    other = await SqliteStore.open(f"sqlite:///{db}")
    try:
        await other.ready()
        with pytest.raises(StoreNotReady) as refused:
            await store.insert_tasks([task()])
        assert refused.value.reason == "replaced"
    finally:
        await other.close()


async def test_a_database_file_missing_beside_its_log_is_not_opened(
    store: SqliteStore, db: Path
) -> None:
    await store.insert_tasks([task()])
    remove_files(db, suffixes=("",))
    with pytest.raises(StoreNotReady) as refused:
        await SqliteStore.open(f"sqlite:///{db}")
    assert refused.value.reason == "missing" and str(db) in refused.value.message
    assert present(db) == ["-wal", "-shm"]


async def test_a_corrupt_file_is_found_at_open_and_refuses_writes(db: Path) -> None:
    store = await SqliteStore.open(f"sqlite:///{db}")
    await store.insert_tasks([task(data={"pad": "x" * 2000}) for _ in range(200)])
    await store.close()
    corrupt(db)
    store = await SqliteStore.open(f"sqlite:///{db}")
    try:
        with pytest.raises(StoreNotReady) as not_ready:
            await store.ready()
        assert (not_ready.value.reason, not_ready.value.location) == ("corrupt", str(db))
        with pytest.raises(StoreUnavailable):
            await store.insert_tasks([task()])
    finally:
        await store.close()


async def test_a_full_store_is_not_ready(db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """PRAGMA max_page_count stands for a full disk: writes that need a new page fail."""
    with sqlite3.connect(db) as conn:
        conn.execute("PRAGMA journal_mode = WAL")
    store = await SqliteStore.open(f"sqlite:///{db}")
    await store.close()
    cap = pages(db) + 200
    real = sqlite_module._writer_connection

    def capped(path: str, synchronous: str) -> sqlite3.Connection:
        conn = real(path, synchronous)
        conn.execute(f"PRAGMA max_page_count = {cap}")
        return conn

    monkeypatch.setattr(sqlite_module, "_writer_connection", capped)
    store = await SqliteStore.open(f"sqlite:///{db}")
    try:
        await store.ready()
        with pytest.raises(StoreUnavailable):
            await fill(store)
        with pytest.raises(StoreNotReady) as not_ready:
            await store.ready()
        assert (not_ready.value.reason, not_ready.value.location) == ("full", str(db))
    finally:
        await store.close()


async def fill(store: SqliteStore) -> None:
    for _ in range(2000):
        await store.insert_tasks([task(data={"pad": "x" * 2000})])


def corrupt(db: Path) -> None:
    """Garbage over the second half of the file, once the log is copied back into it."""
    with closing(sqlite3.connect(db)) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    size = db.stat().st_size
    with db.open("r+b") as file:
        file.seek(size // 2)
        file.write(os.urandom(size // 2))
