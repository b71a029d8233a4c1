"""The SQLite group-commit writer: idle writes commit on the caller's thread, busy ones are
grouped on the writer thread, and neither path loses or half-writes a job."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.store.group_commit import GroupCommitWriter


def connector(path: Path):  # type: ignore[no-untyped-def]
    def connect() -> sqlite3.Connection:
        conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA busy_timeout = 5000")
        conn.execute("CREATE TABLE IF NOT EXISTS t (n INTEGER, thread TEXT)")
        return conn

    return connect


@pytest.fixture
def writer(tmp_path: Path) -> Iterator[GroupCommitWriter]:
    w = GroupCommitWriter(connector(tmp_path / "w.db"), commit_inline_when_idle=True)
    w.start()
    yield w
    w.close()


def insert(n: int):  # type: ignore[no-untyped-def]
    def job(conn: sqlite3.Connection) -> str:
        conn.execute("INSERT INTO t VALUES (?, ?)", (n, threading.current_thread().name))
        return threading.current_thread().name

    return job


def rows(path: Path) -> list[int]:
    with sqlite3.connect(path) as conn:
        return [n for (n,) in conn.execute("SELECT n FROM t ORDER BY n")]


async def test_an_idle_writer_commits_on_the_callers_thread(
    writer: GroupCommitWriter, tmp_path: Path
) -> None:
    ran_on = await writer.run(insert(1))
    assert ran_on == threading.current_thread().name
    assert rows(tmp_path / "w.db") == [1]


async def test_jobs_queued_behind_a_busy_writer_commit_together(
    writer: GroupCommitWriter, tmp_path: Path
) -> None:
    other = connector(tmp_path / "w.db")()
    other.execute("BEGIN IMMEDIATE")
    jobs = [asyncio.ensure_future(writer.run(insert(n))) for n in range(200)]
    await asyncio.sleep(0.1)
    other.execute("COMMIT")
    other.close()
    threads = await asyncio.wait_for(asyncio.gather(*jobs), 10)
    assert rows(tmp_path / "w.db") == list(range(200))
    assert set(threads) == {"couchqueue-sqlite-writer"}


async def test_a_failing_inline_job_writes_nothing(
    writer: GroupCommitWriter, tmp_path: Path
) -> None:
    def half_then_fail(conn: sqlite3.Connection) -> None:
        conn.execute("INSERT INTO t VALUES (7, 'x')")
        raise ValueError("boom")

    with pytest.raises(ValueError, match="boom"):
        await writer.run(half_then_fail)
    assert rows(tmp_path / "w.db") == []
    await writer.run(insert(8))
    assert rows(tmp_path / "w.db") == [8]


async def test_a_write_lock_held_elsewhere_never_blocks_the_event_loop(
    writer: GroupCommitWriter, tmp_path: Path
) -> None:
    other = connector(tmp_path / "w.db")()
    other.execute("BEGIN IMMEDIATE")  # as another process would
    try:
        started = time.monotonic()
        pending = asyncio.ensure_future(writer.run(insert(1)))
        await asyncio.sleep(0)
        # The job could not run inline: the loop is free (this line runs) and it waits on the
        # writer thread, which waits for the lock.
        assert time.monotonic() - started < 0.5
        await asyncio.sleep(0.2)
        assert not pending.done()
    finally:
        other.execute("COMMIT")
        other.close()
    ran_on = await asyncio.wait_for(pending, 5)
    assert ran_on == "couchqueue-sqlite-writer"
    assert rows(tmp_path / "w.db") == [1]


async def test_inline_jobs_of_one_loop_turn_share_one_verified_commit(tmp_path: Path) -> None:
    verified: list[int] = []
    w = GroupCommitWriter(
        connector(tmp_path / "w.db"),
        commit_inline_when_idle=True,
        verify=lambda: verified.append(1),
    )
    w.start()
    try:
        threads = await asyncio.gather(*(w.run(insert(n)) for n in range(20)))
    finally:
        w.close()
    assert set(threads) == {threading.current_thread().name}
    assert rows(tmp_path / "w.db") == list(range(20))
    assert len(verified) == 1  # one commit (and one file check) for the twenty


async def test_a_failing_job_in_an_inline_batch_leaves_the_others_written(
    writer: GroupCommitWriter, tmp_path: Path
) -> None:
    def half_then_fail(conn: sqlite3.Connection) -> None:
        conn.execute("INSERT INTO t VALUES (7, 'x')")
        raise ValueError("boom")

    outcomes = await asyncio.gather(
        writer.run(insert(1)),
        writer.run(half_then_fail),
        writer.run(insert(2)),
        return_exceptions=True,
    )
    assert isinstance(outcomes[1], ValueError)
    assert rows(tmp_path / "w.db") == [1, 2]


async def test_a_refused_inline_commit_fails_every_job_of_its_batch(tmp_path: Path) -> None:
    refuse = False

    def verify() -> None:
        if refuse:
            raise RuntimeError("file replaced")

    w = GroupCommitWriter(connector(tmp_path / "w.db"), commit_inline_when_idle=True, verify=verify)
    w.start()
    try:
        await w.run(insert(1))
        refuse = True
        outcomes = await asyncio.gather(
            *(w.run(insert(n)) for n in range(2, 6)), return_exceptions=True
        )
    finally:
        w.close()
    assert all(isinstance(o, RuntimeError) for o in outcomes)
    assert rows(tmp_path / "w.db") == [1]


async def test_an_inline_job_cancelled_before_its_turn_ends_writes_nothing(
    writer: GroupCommitWriter, tmp_path: Path
) -> None:
    kept = asyncio.ensure_future(writer.run(insert(1)))
    dropped = asyncio.ensure_future(writer.run(insert(2)))
    await asyncio.sleep(0)  # both started and wait for the end of the turn
    dropped.cancel()
    assert await kept == threading.current_thread().name
    assert rows(tmp_path / "w.db") == [1]
