"""The embedded default store: one SQLite file in WAL mode, shareable by several processes.

Writes go through one group-commit writer thread per process (app/store/group_commit.py).
Scans (listings, counts) run on a reader thread. Point reads by primary key (a task, a worker,
the queues stamp) run on the event loop itself: they take microseconds, less than a hand-off to
a thread would, and WAL readers never wait for writers.

No connection but the first one at open may create the file: if it is removed while the store
is open, a connection made later fails instead of starting an empty store at the path; and
the writer refuses to commit once the path no longer names the file opened (sqlite_health.py).
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote

import orjson

from app.store import seq_cursor
from app.store.group_commit import Checkpointer, GroupCommitWriter
from app.store.sql import SQLITE as SQL
from app.store.sqlite_counts import add_counts, count_from_counters, counted
from app.store.sqlite_extras import SchedulesAndStats
from app.store.sqlite_health import (
    FileGuard,
    check_integrity,
    probe,
    refuse_orphaned_journal,
)
from app.store.sqlite_limits import Budgets
from app.store.sqlite_migrate import add_task_columns
from app.store.sqlite_queues import QueuesAndWorkers
from app.store.sqlite_rows import (
    filter_sql,
    task_from_row,
    task_params,
)
from app.store.sqlite_stamps import StampCopy, add_stamps
from app.store.sqlite_tokens import Tokens, add_token_schema
from resolvers.errors import StoreNotReady, StoreUnavailable
from resolvers.models import (
    ClaimRequest,
    QueueLimits,
    Replaced,
    Task,
    TaskChange,
    TaskCounts,
    TaskFilter,
    TaskPage,
    contains_text,
)

T = TypeVar("T")
BUSY_TIMEOUT_MS = 30_000
# The event loop's read connection reads through a memory map instead of read() calls: after
# every commit by another connection its page cache starts cold, and point reads (get_task,
# get_worker) then cost half. Only that connection, and bounded: the mapped pages a process
# has touched count in its RSS, and a deep queue's writes touch index pages all over the file.
LOOP_MMAP_BYTES = 64 * 1024 * 1024
# Raised whenever sqlite.sql's schema changes shape; a file of another version is refused.
SCHEMA_VERSION = 1


def path_from_url(url: str) -> str:
    """sqlite:///relative/path or sqlite:////absolute/path, as SQLAlchemy spells them."""
    prefix = "sqlite:///"
    if not url.startswith(prefix) or len(url) == len(prefix):
        raise ValueError(f"not a SQLite store URL: {url!r} (expected sqlite:///path/to/file.db)")
    return url[len(prefix) :]


def _connect(
    path: str, synchronous: str, mmap_bytes: int = 0, create: bool = False
) -> sqlite3.Connection:
    if path == ":memory:":
        conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    else:
        uri = f"file:{quote(path)}?mode={'rwc' if create else 'rw'}"
        conn = sqlite3.connect(uri, isolation_level=None, check_same_thread=False, uri=True)
    conn.row_factory = sqlite3.Row
    # TaskFilter's text rule, so that SQL filters agree with it (SQLite's lower() is ASCII).
    conn.create_function("contains_text", 2, contains_text, deterministic=True)
    conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    conn.execute(f"PRAGMA synchronous = {synchronous}")
    conn.execute(f"PRAGMA mmap_size = {mmap_bytes}")
    conn.execute("PRAGMA foreign_keys = OFF")
    return conn


def _writer_connection(path: str, synchronous: str) -> sqlite3.Connection:
    conn = _connect(path, synchronous)
    # Checkpoints (and their fsync) run on the checkpointer thread, off the commit path.
    conn.execute("PRAGMA wal_autocheckpoint = 0")
    return conn


class SqliteStore(QueuesAndWorkers, SchedulesAndStats, Tokens):
    """resolvers.store.Store on one SQLite file. Open with :meth:`open`."""

    # Stamps per lane, kept by triggers (sqlite_stamps.py).
    change_stamps_per_lane = True

    def __init__(self, path: str, synchronous: str = "NORMAL") -> None:
        self._path = path
        self._synchronous = synchronous
        self._guard = FileGuard(path)
        self._writer = GroupCommitWriter(
            lambda: _writer_connection(path, synchronous),
            commit_inline_when_idle=synchronous.upper() in ("OFF", "NORMAL"),
            verify=self._guard.verify,
        )
        self._checkpointer = Checkpointer(lambda: _connect(path, synchronous))
        self._reader_local = threading.local()
        self._readers = ThreadPoolExecutor(max_workers=1, thread_name_prefix="couchqueue-reader")
        self._inline: sqlite3.Connection | None = None
        self.stamps = StampCopy()
        self._last_stamps: tuple[tuple[int, int], list[str], dict[str, int]] | None = None

    @classmethod
    async def open(cls, url: str, synchronous: str = "NORMAL") -> SqliteStore:
        path = path_from_url(url)
        if path != ":memory:":
            refuse_orphaned_journal(path)
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        store = cls(path, synchronous)
        try:
            await asyncio.to_thread(store._create_schema)
            store._writer.start()
            store._checkpointer.start()
            store._inline = _connect(path, synchronous, LOOP_MMAP_BYTES)
            # A read opens the -wal and -shm, which stay while this process has the file open.
            store._inline.execute(SQL["queues_version"]).fetchone()
            store._guard.record()
            await asyncio.to_thread(store._check_integrity)
        except sqlite3.Error as exc:
            await store.close()
            raise StoreUnavailable(f"cannot open SQLite store {path!r}: {exc}") from None
        return store

    def _create_schema(self) -> None:
        conn = _connect(self._path, self._synchronous, create=True)
        try:
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("BEGIN IMMEDIATE")
            found = conn.execute("PRAGMA user_version").fetchone()[0]
            if found not in (0, SCHEMA_VERSION):
                conn.execute("ROLLBACK")
                raise StoreUnavailable(
                    f"{self._path} has schema version {found}; this server knows {SCHEMA_VERSION}"
                )
            conn.execute("COMMIT")
            conn.executescript(
                f"BEGIN IMMEDIATE; {SQL['schema']}; PRAGMA user_version = {SCHEMA_VERSION}; COMMIT;"
            )
            add_token_schema(conn)
            add_task_columns(conn)
            add_counts(conn)
            add_stamps(conn)
        finally:
            conn.close()

    async def close(self) -> None:
        await asyncio.to_thread(self._writer.close)
        await asyncio.to_thread(self._checkpointer.close)
        self._readers.shutdown(wait=True)
        if self._inline is not None:
            self._inline.close()
            self._inline = None

    # -- plumbing ----------------------------------------------------------------------------

    async def _write(self, job: Callable[[sqlite3.Connection], T]) -> T:
        try:
            return await self._writer.run(job)
        except sqlite3.Error as exc:
            raise self._guard.note(exc) or StoreUnavailable(f"SQLite write failed: {exc}") from None

    async def _scan(self, job: Callable[[sqlite3.Connection], T]) -> T:
        def run() -> T:
            conn = getattr(self._reader_local, "conn", None)
            if conn is None:
                conn = self._reader_local.conn = _connect(self._path, self._synchronous)
            return job(conn)

        try:
            return await asyncio.get_running_loop().run_in_executor(self._readers, run)
        except sqlite3.Error as exc:
            raise self._guard.note(exc) or StoreUnavailable(f"SQLite read failed: {exc}") from None

    def _peek(self, name: str, params: dict[str, Any]) -> sqlite3.Row | None:
        row: sqlite3.Row | None = self._peek_rows(name, params, sqlite3.Cursor.fetchone)
        return row

    def _peek_all(self, name: str, params: dict[str, Any]) -> list[sqlite3.Row]:
        rows: list[sqlite3.Row] = self._peek_rows(name, params, sqlite3.Cursor.fetchall)
        return rows

    def _peek_rows(
        self, name: str, params: dict[str, Any], fetch: Callable[[sqlite3.Cursor], Any]
    ) -> Any:
        if self._inline is None:
            raise StoreUnavailable("the SQLite store is closed")
        try:
            return fetch(self._inline.execute(SQL[name], params))
        except sqlite3.Error as exc:
            raise self._guard.note(exc) or StoreUnavailable(f"SQLite read failed: {exc}") from None

    async def ping(self) -> None:
        self._peek("queues_version", {})

    async def ready(self, thorough: bool = False) -> None:
        try:
            await self._write(lambda conn: probe(self._guard, conn))
        except StoreNotReady:
            raise
        except StoreUnavailable as exc:
            what = f"cannot take a write: {exc.message}"
            raise self._guard.not_ready("unwritable", what) from None
        if thorough:
            await asyncio.to_thread(self._check_integrity)
            self._guard.verify()

    def _check_integrity(self) -> None:
        check_integrity(self._guard, lambda: _connect(self._path, self._synchronous))

    # -- tasks -------------------------------------------------------------------------------

    async def insert_tasks(self, tasks: Sequence[Task]) -> list[bool]:
        return await self._write(lambda conn: [_insert(conn, task) for task in tasks])

    async def get_task(self, task_id: str) -> Task | None:
        row = self._peek("get_task", {"task_id": task_id})
        return None if row is None else task_from_row(row)

    async def claim_task(self, request: ClaimRequest) -> Task | None:
        claimed = await self.claim_tasks(request, 1)
        return claimed[0] if claimed else None

    async def claim_tasks(self, request: ClaimRequest, limit: int) -> list[Task]:
        return await self._write(lambda conn: _claim(conn, request, limit))

    async def insert_and_claim(
        self, tasks: Sequence[Task], claims: Sequence[tuple[ClaimRequest, int]]
    ) -> tuple[list[bool], list[list[Task]]]:
        def job(conn: sqlite3.Connection) -> tuple[list[bool], list[list[Task]]]:
            written = [_insert(conn, task) for task in tasks]
            return written, [_claim(conn, request, limit) for request, limit in claims]

        return await self._write(job)

    async def started_task_ids(self, worker_id: str, task_ids: Sequence[str]) -> set[str]:
        if not task_ids:
            return set()
        rows = self._peek_all("started_ids_by_worker", {"worker_id": worker_id})
        return {row[0] for row in rows}.intersection(task_ids)

    async def get_tasks(self, task_ids: Sequence[str]) -> dict[str, Task]:
        if not task_ids:
            return {}
        rows = self._peek_all("get_tasks", {"task_ids": orjson.dumps(list(task_ids)).decode()})
        return {task.task_id: task for task in map(task_from_row, rows)}

    async def replace_task(
        self, task: Task, expected_version: int, also_insert: Sequence[Task] = ()
    ) -> Replaced:
        [written] = await self.replace_tasks([TaskChange(task, expected_version, also_insert)])
        return written

    async def replace_tasks(self, changes: Sequence[TaskChange]) -> list[Replaced]:
        def job(conn: sqlite3.Connection) -> list[Replaced]:
            written = []
            for change in changes:
                ok = _replace(conn, change.task, change.expected_version)
                if ok:
                    for extra in change.also_insert:
                        _insert(conn, extra)
                written.append(ok)
            return written

        return await self._write(job)

    async def release_tasks(
        self, worker_id: str, now: float, task_ids: Sequence[str] | None = None
    ) -> list[Task]:
        only = None if task_ids is None else set(task_ids)

        def job(conn: sqlite3.Connection) -> list[Task]:
            released = []
            for row in conn.execute(SQL["started_by_worker"], {"worker_id": worker_id}).fetchall():
                task = task_from_row(row)
                if only is not None and task.task_id not in only:
                    continue
                task = task.requeued()
                if _replace(conn, task, task.version):
                    released.append(task)
            return released

        return await self._write(job)

    async def expired_tasks(self, now: float, limit: int) -> list[Task]:
        params = {"now": now, "limit": limit}
        return await self._scan(
            lambda conn: [task_from_row(r) for r in conn.execute(SQL["expired_tasks"], params)]
        )

    async def change_stamps(self, lanes: Sequence[str]) -> dict[str, int]:
        # The lane's own stamp plus the queues' version (a queue paused or resumed): both only
        # grow, so their sum changes whenever either does. The copy reads only the stamps
        # changed since its last look (sqlite_stamps.StampCopy).
        version = await self.queues_version()
        if self._inline is None:
            raise StoreUnavailable("the SQLite store is closed")
        try:
            stamps = self.stamps.refresh(self._inline)
        except sqlite3.Error as exc:
            raise self._guard.note(exc) or StoreUnavailable(f"SQLite read failed: {exc}") from None
        # Idle, the watcher asks again for the same lanes: the last answer still holds.
        key = (self.stamps.generation, version)
        last = self._last_stamps
        if last is not None and last[0] == key and last[1] == lanes:
            return dict(last[2])
        answer = {lane: stamps.get(lane, 0) + version for lane in lanes}
        self._last_stamps = (key, list(lanes), answer)
        return dict(answer)

    async def earliest_run_at(self, lanes: Sequence[str]) -> float | None:
        # One index probe per lane (tasks_ready): cheap enough to run on the event loop.
        row = self._peek("earliest_run_at", {"lanes": orjson.dumps(list(lanes)).decode()})
        return None if row is None or row[0] is None else float(row[0])

    async def claims_in_window(self, queue: str, limits: QueueLimits, now: float) -> int:
        row = self._peek("rate_used", {"queue": queue, "window": limits.window(now)})
        return 0 if row is None else int(row[0])

    async def take_turn(self, duty: str, seconds: float) -> bool:
        return True  # every duty's pass on SQLite is one transaction per step: safe to repeat

    async def delete_tasks(self, where: TaskFilter) -> int:
        if not where.states:
            raise ValueError("delete_tasks needs the states to delete")
        clause, params = filter_sql(where)
        return await self._write(
            lambda conn: conn.execute(f"DELETE FROM tasks WHERE {clause}", params).rowcount
        )

    async def list_tasks(self, where: TaskFilter, first: int, after: str | None) -> TaskPage:
        clause, params = filter_sql(where)
        if after is not None:
            params["after"] = seq_cursor(after)
            clause += " AND seq > :after"
        params["limit"] = first + 1
        sql = f"SELECT * FROM tasks WHERE {clause} ORDER BY seq LIMIT :limit"

        def job(conn: sqlite3.Connection) -> TaskPage:
            tasks = [task_from_row(r) for r in conn.execute(sql, params)]
            more = len(tasks) > first
            tasks = tasks[:first]
            return TaskPage(tasks=tasks, next_cursor=str(tasks[-1].seq) if more else None)

        return await self._scan(job)

    async def count_tasks(self, where: TaskFilter, now: float) -> TaskCounts:
        if counted(where):
            return await self._scan(lambda conn: count_from_counters(conn, where, now))
        clause, params = filter_sql(where)
        params["now"] = now
        sql = (
            "SELECT state, state = 'queued' AND run_at > :now AS later, count(*) "
            f"FROM tasks WHERE {clause} GROUP BY 1, 2"
        )

        def job(conn: sqlite3.Connection) -> TaskCounts:
            counts = TaskCounts()
            for state, later, n in conn.execute(sql, params):
                name = "scheduled" if later else state
                setattr(counts, name, getattr(counts, name) + n)
            return counts

        return await self._scan(job)


def _insert(conn: sqlite3.Connection, task: Task) -> bool:
    row = conn.execute(SQL["insert_task"], task_params(task)).fetchone()
    if row is None:
        return False
    task.seq, task.version = int(row[0]), int(row[1])
    return True


def _claim(conn: sqlite3.Connection, request: ClaimRequest, limit: int) -> list[Task]:
    budgets = Budgets(conn, request) if request.limits else None
    skip = set(request.skip_queues).union(budgets.closed() if budgets else ())
    lookup = {"now": request.now, "skip_queues": orjson.dumps(sorted(skip)).decode()}
    claim = {
        "worker_id": request.worker_id,
        "now": request.now,
        "leases": orjson.dumps(request.lease_seconds).decode(),
        "default_lease": request.default_lease_seconds,
    }
    claimed: list[Task] = []
    for lane in request.lanes:
        while len(claimed) < limit:
            found = conn.execute(SQL["next_in_lane"], {**lookup, "lane": lane}).fetchone()
            if found is None:
                break
            # In the same transaction, so the task found is still queued.
            row = conn.execute(SQL["claim_seq"], {**claim, "seq": found[0]}).fetchone()
            task = task_from_row(row)
            claimed.append(task)
            if budgets is not None and budgets.take(task):
                skip.add(task.queue)
                lookup["skip_queues"] = orjson.dumps(sorted(skip)).decode()
    if budgets is not None:
        budgets.record(conn)
    return claimed


def _replace(conn: sqlite3.Connection, task: Task, expected_version: int) -> Replaced:
    params = task_params(task)
    params["expected_version"] = expected_version
    try:
        row = conn.execute(SQL["replace_task"], params).fetchone()
    except sqlite3.IntegrityError:
        # The task came back to a lane that already holds a waiting singularly_enqueue copy
        # with the same identity: that copy stands for the work, so this one is dropped.
        conn.execute(SQL["delete_task"], {"task_id": task.task_id})
        return Replaced.DROPPED
    if row is None:
        return Replaced.CONFLICT
    task.version = int(row[0])
    return Replaced.WRITTEN
