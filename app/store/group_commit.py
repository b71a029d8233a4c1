"""One writer thread per process that commits concurrent writes together (group commit).

SQLite allows one writer at a time, and each commit costs a WAL append (and a sync, depending on
the synchronous setting). Rather than one transaction per request, every write job that arrives
while the previous batch commits is run in the next single transaction, each job inside its own
savepoint so that one failing job does not undo the others.

When the writer is idle and commits do not sync (synchronous NORMAL in WAL mode), jobs are run
on the event loop's thread instead: every job that arrives during one turn of the loop (under
load, the requests of many connections) is run at the end of that turn in one transaction, each
in its own savepoint. Handing jobs to the thread and back costs more than the commit itself.
That path never waits for SQLite's write lock (another process may hold it): it hands its jobs
to the thread, which does.

Before every commit the writer calls ``verify`` (if given): when it raises, the transaction is
rolled back and every job in it fails with that error, so nothing it wrote is acknowledged.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import sqlite3
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

T = TypeVar("T")
# A job's result, or the error that failed it.
_Outcome = tuple[Any, BaseException | None]
log = logging.getLogger(__name__)


@dataclass(slots=True)
class _Job:
    run: Callable[[sqlite3.Connection], Any]
    future: asyncio.Future[Any]
    loop: asyncio.AbstractEventLoop


class GroupCommitWriter:
    def __init__(
        self,
        connect: Callable[[], sqlite3.Connection],
        *,
        max_batch: int = 256,
        commit_inline_when_idle: bool = False,
        verify: Callable[[], None] = lambda: None,
    ) -> None:
        self._connect = connect
        self._verify = verify
        self._max_batch = max_batch
        self._commit_inline = commit_inline_when_idle
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._serve, name="couchqueue-sqlite-writer")
        self._started = threading.Event()
        self._start_error: BaseException | None = None
        # Held for every transaction of this writer, on either path: one at a time.
        self._transaction = threading.Lock()
        self._inline: sqlite3.Connection | None = None
        # Inline jobs waiting for this turn of the event loop to end (on the loop's thread).
        self._pending: list[_Job] = []
        self._pending_loop: asyncio.AbstractEventLoop | None = None

    def start(self) -> None:
        self._thread.start()
        self._started.wait()
        if self._start_error is not None:
            raise self._start_error
        if self._commit_inline:
            self._inline = self._connect()
            # The caller's thread is an event loop: never sleep on a lock held elsewhere.
            self._inline.execute("PRAGMA busy_timeout = 0")

    async def run(self, job: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``job`` in a transaction (the writer's next one, or the event loop's next inline
        one when the writer is idle); its result once that commits."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        if self._inline is not None and self._jobs.empty() and self._pending_loop in (None, loop):
            self._pending.append(_Job(job, future, loop))
            if self._pending_loop is None:
                self._pending_loop = loop
                loop.call_soon(self._flush_inline)
        else:
            self._jobs.put(_Job(job, future, loop))
        return await future

    def _flush_inline(self) -> None:
        """Commit, on the event loop, every job that came in during this turn of it, in one
        transaction; hand them to the thread if the writer or another process is writing.
        Jobs whose caller was cancelled meanwhile are dropped: nothing of theirs is written."""
        batch = [job for job in self._pending if not job.future.cancelled()]
        self._pending, self._pending_loop = [], None
        if not batch:
            return
        if not self._transaction.acquire(blocking=False):
            self._hand_over(batch)
            return
        try:
            conn = self._inline
            if conn is None:
                closed = sqlite3.ProgrammingError("the SQLite writer is closed")
                _settle([(job, None, closed) for job in batch])
                return
            try:
                conn.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError:
                # Locked by another process (or failing: the thread tells).
                self._hand_over(batch)
                return
            outcomes = self._commit(conn, batch)
        finally:
            self._transaction.release()
        _settle(
            [(job, result, error) for job, (result, error) in zip(batch, outcomes, strict=True)]
        )

    def _hand_over(self, batch: list[_Job]) -> None:
        for job in batch:
            self._jobs.put(job)

    def close(self) -> None:
        """Let queued jobs finish, then stop the thread and close its connections."""
        if self._thread.is_alive():
            self._jobs.put(None)
            self._thread.join()
        with self._transaction:
            if self._inline is not None:
                self._inline.close()
                self._inline = None

    def _serve(self) -> None:
        try:
            conn = self._connect()
        except BaseException as exc:
            self._start_error = exc
            self._started.set()
            return
        self._started.set()
        try:
            while True:
                first = self._jobs.get()
                if first is None:
                    return
                batch = [first]
                stop = False
                while len(batch) < self._max_batch:
                    try:
                        more = self._jobs.get_nowait()
                    except queue.Empty:
                        break
                    if more is None:
                        stop = True
                        break
                    batch.append(more)
                with self._transaction:
                    try:
                        conn.execute("BEGIN IMMEDIATE")
                    except BaseException as exc:
                        outcomes: list[_Outcome] = [(None, exc)] * len(batch)
                    else:
                        outcomes = self._commit(conn, batch)
                self._deliver(batch, outcomes)
                if stop:
                    return
        finally:
            conn.close()

    def _commit(self, conn: sqlite3.Connection, batch: list[_Job]) -> list[_Outcome]:
        """Run the batch in the transaction just begun and commit it (or roll it all back)."""
        outcomes: list[_Outcome] = []
        try:
            if len(batch) == 1:
                outcomes.append((batch[0].run(conn), None))
            else:
                for job in batch:
                    outcomes.append(self._in_savepoint(conn, job))
            self._verify()
            conn.execute("COMMIT")
        except BaseException as exc:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            outcomes = [(None, exc)] * len(batch)
        return outcomes

    @staticmethod
    def _deliver(batch: list[_Job], outcomes: list[_Outcome]) -> None:
        """From the writer thread: one wake-up per event loop for the whole batch."""
        by_loop: dict[asyncio.AbstractEventLoop, list[tuple[_Job, Any, BaseException | None]]] = {}
        for job, (result, error) in zip(batch, outcomes, strict=True):
            by_loop.setdefault(job.loop, []).append((job, result, error))
        for loop, settled in by_loop.items():
            try:
                loop.call_soon_threadsafe(_settle, settled)
            except RuntimeError:
                log.debug("event loop closed before write jobs' results were delivered")

    @staticmethod
    def _in_savepoint(conn: sqlite3.Connection, job: _Job) -> _Outcome:
        conn.execute("SAVEPOINT job")
        try:
            result = job.run(conn)
        except Exception as exc:
            conn.execute("ROLLBACK TO job")
            conn.execute("RELEASE job")
            return None, exc
        conn.execute("RELEASE job")
        return result, None


def _settle(settled: list[tuple[_Job, Any, BaseException | None]]) -> None:
    for job, result, error in settled:
        if job.future.cancelled():
            continue
        if error is not None:
            job.future.set_exception(error)
        else:
            job.future.set_result(result)


class Checkpointer:
    """Copies the WAL back into the database file every ``interval`` seconds on its own thread.

    A commit that triggers SQLite's automatic checkpoint pays for the copy and its fsync
    itself; doing it here keeps the writer's commits short. PASSIVE never blocks a writer, but
    under a steady write load it never gets to the end of the WAL either, and the WAL file would
    grow without bound: past ``max_wal_pages`` a TRUNCATE checkpoint (which briefly holds
    writers back) brings it back to nothing.
    """

    def __init__(
        self,
        connect: Callable[[], sqlite3.Connection],
        interval: float = 0.5,
        max_wal_pages: int = 16_384,
    ) -> None:
        self._connect = connect
        self._interval = interval
        self._max_wal_pages = max_wal_pages
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="couchqueue-sqlite-checkpoint")

    def start(self) -> None:
        self._thread.start()

    def close(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    def _serve(self) -> None:
        conn = self._connect()
        try:
            while not self._stop.wait(self._interval):
                try:
                    _, wal_pages, _ = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
                    if wal_pages > self._max_wal_pages:
                        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
                except sqlite3.Error as exc:
                    log.warning("WAL checkpoint failed (will retry): %s", exc)
            conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
        finally:
            conn.close()
