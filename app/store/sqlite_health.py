"""Whether the SQLite file is still the one this process opened, intact, and able to take a
write: what the store checks before it acknowledges a write, and what /readyz reports.

A process holds its database file (and its -wal and -shm) open. If the file is removed or
replaced under it, SQLite goes on writing into the old, now nameless file, and every write
acknowledged from then on is lost; another process opening the path starts a new store. So
the writer compares the identity (device, inode) of each path with what it was at open before
every commit, and refuses the commit when they differ.
"""

from __future__ import annotations

import logging
import os
import sqlite3
from collections.abc import Callable

from app.store.sql import SQLITE as SQL
from resolvers.errors import StoreNotReady

log = logging.getLogger(__name__)

# SQLite's primary result codes (the low byte of an extended code).
SQLITE_CORRUPT = 11
SQLITE_NOTADB = 26
_CORRUPTION = frozenset({SQLITE_CORRUPT, SQLITE_NOTADB})
# The database file, its write-ahead log and the log's shared-memory index.
_SUFFIXES = ("", "-wal", "-shm")
# Fewer free pages than this (before max_page_count, or on the freelist) is full: one group
# commit of publishes with their index entries needs this much.
MIN_ROOM_PAGES = 128
# quick_check stops after this many problems: enough to name the damage.
MAX_REPORTED_PROBLEMS = 5

Identity = tuple[tuple[int, int], ...]


def refuse_orphaned_journal(path: str) -> None:
    """Before opening: a -wal or -shm beside a missing database file means the file was
    removed (or moved without them) while in use. Opening would start a new, empty store
    beside a log of the old one's last writes; refuse instead."""
    if os.path.exists(path):
        return
    left = [path + suffix for suffix in _SUFFIXES[1:] if os.path.exists(path + suffix)]
    if left:
        raise StoreNotReady(
            f"the SQLite file {path} is missing but {' and '.join(left)} exist: the file was "
            "removed or moved while in use. Restore it, or remove those files to start an "
            "empty store",
            reason="missing",
            location=path,
        )


class FileGuard:
    """The identity of the files this process opened, and any corruption seen in them.

    ``verify`` is called by the writer before every commit (three stat calls). Corruption,
    once seen (by quick_check or by any statement), is remembered for the life of the
    process: writing into a damaged b-tree can spread the damage, so writes are refused
    until the file is repaired and the node restarted.
    """

    def __init__(self, path: str) -> None:
        self.path = path
        self.enabled = path != ":memory:"
        self._identity: Identity | None = None
        self.corruption: str | None = None

    def record(self) -> None:
        """Remember the identity of the files as they are now (once the store is open)."""
        if self.enabled:
            self._identity = self._current()

    def _current(self) -> Identity:
        identity = []
        for suffix in _SUFFIXES:
            info = os.stat(self.path + suffix)
            identity.append((info.st_dev, info.st_ino))
        return tuple(identity)

    def verify(self) -> None:
        """Raise StoreNotReady if the files at the path are not the ones opened, or corrupt."""
        if self.corruption is not None:
            raise self.not_ready("corrupt", f"is corrupt ({self.corruption}); writes refused")
        if self._identity is None:
            return
        try:
            current = self._current()
        except FileNotFoundError as exc:
            raise self.not_ready(
                "removed", f"was removed while in use ({exc.filename} is gone); writes refused"
            ) from None
        if current != self._identity:
            raise self.not_ready(
                "replaced", "was replaced by another file while in use; writes refused"
            )

    def note(self, exc: sqlite3.Error) -> StoreNotReady | None:
        """Remember corruption that a statement ran into; the error to raise for it, if so."""
        code = getattr(exc, "sqlite_errorcode", None)
        if code is None or code & 0xFF not in _CORRUPTION:
            return None
        if self.corruption is None:
            self.corruption = str(exc)
            log.error("the SQLite file %s is corrupt: %s", self.path, exc)
        return self.not_ready("corrupt", f"is corrupt ({exc})")

    def quick_check(self, conn: sqlite3.Connection) -> None:
        """Run PRAGMA quick_check (reads the whole file) and remember what it found."""
        try:
            rows = conn.execute(f"PRAGMA quick_check({MAX_REPORTED_PROBLEMS})").fetchall()
            found = [str(row[0]) for row in rows]
        except sqlite3.DatabaseError as exc:
            found = [str(exc)]
        if found != ["ok"] and self.corruption is None:
            self.corruption = "quick_check: " + "; ".join(found)
            log.error("the SQLite file %s is corrupt: %s", self.path, self.corruption)

    def not_ready(self, reason: str, what: str) -> StoreNotReady:
        message = f"the SQLite file {self.path} {what}"
        return StoreNotReady(message, reason=reason, location=self.path)


def probe(guard: FileGuard, conn: sqlite3.Connection) -> None:
    """A write job: bump the health record, and refuse (rolling it back) if the file has no
    room for more writes. Runs through the writer, so the commit is verified like any other."""
    conn.execute(SQL["health_probe"])
    (pages,) = conn.execute("PRAGMA page_count").fetchone()
    (max_pages,) = conn.execute("PRAGMA max_page_count").fetchone()
    (free_pages,) = conn.execute("PRAGMA freelist_count").fetchone()
    if max_pages - pages + free_pages < MIN_ROOM_PAGES:
        raise guard.not_ready("full", f"is full ({pages} of at most {max_pages} pages)")


def check_integrity(guard: FileGuard, connect: Callable[[], sqlite3.Connection]) -> None:
    """quick_check on a connection of its own (it reads the whole file), made without
    creating the file if it is gone."""
    if not guard.enabled:
        return
    try:
        conn = connect()
    except sqlite3.Error as exc:
        raise guard.not_ready("unreadable", f"cannot be opened: {exc}") from None
    try:
        guard.quick_check(conn)
    finally:
        conn.close()
