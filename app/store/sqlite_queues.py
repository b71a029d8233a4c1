"""The SQLite store's queue records and worker registrations: a mixin of SqliteStore, which
provides the connection plumbing (_write, _scan, _peek) and the named SQL blocks."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import orjson

from app.store.sql import SQLITE as SQL
from app.store.sqlite_rows import queue_from_row, worker_from_row
from resolvers.models import Interests, Queue, QueueSettings, Worker

T = TypeVar("T")


class QueuesAndWorkers:
    async def _write(self, job: Callable[[sqlite3.Connection], T]) -> T:
        raise NotImplementedError  # abstract: SqliteStore provides it

    async def _scan(self, job: Callable[[sqlite3.Connection], T]) -> T:
        raise NotImplementedError  # abstract: SqliteStore provides it

    def _peek(self, name: str, params: dict[str, Any]) -> sqlite3.Row | None:
        raise NotImplementedError  # abstract: SqliteStore provides it

    # -- queues ------------------------------------------------------------------------------

    async def queues_version(self) -> int:
        row = self._peek("queues_version", {})
        return int(row[0]) if row is not None else 0

    async def list_queues(self) -> list[Queue]:
        return await self._scan(
            lambda conn: [queue_from_row(r) for r in conn.execute(SQL["list_queues"])]
        )

    async def put_interests(
        self, name: str, interests: Interests, now: float, settings: QueueSettings
    ) -> Queue:
        params = {
            "name": name,
            "interests": orjson.dumps(interests).decode(),
            "settings": orjson.dumps(settings).decode(),
            "now": now,
        }

        def job(conn: sqlite3.Connection) -> Queue:
            conn.execute(SQL["put_interests"], params)
            conn.execute(SQL["bump_queues_version"])
            return queue_from_row(conn.execute(SQL["get_queue"], {"name": name}).fetchone())

        return await self._write(job)

    async def clear_interests(self, name: str) -> bool:
        def job(conn: sqlite3.Connection) -> bool:
            changed = conn.execute(SQL["clear_interests"], {"name": name}).rowcount > 0
            if changed:
                conn.execute(SQL["bump_queues_version"])
            return changed

        return await self._write(job)

    async def update_queue(
        self, name: str, *, paused: bool | None = None, settings: QueueSettings | None = None
    ) -> Queue | None:
        encoded = None if settings is None else orjson.dumps(settings).decode()

        def job(conn: sqlite3.Connection) -> Queue | None:
            params = {"name": name, "paused": paused, "settings": encoded}
            if conn.execute(SQL["update_queue"], params).rowcount == 0:
                return None
            conn.execute(SQL["bump_queues_version"])
            return queue_from_row(conn.execute(SQL["get_queue"], {"name": name}).fetchone())

        return await self._write(job)

    async def delete_queue(self, name: str) -> int | None:
        def job(conn: sqlite3.Connection) -> int | None:
            if conn.execute(SQL["delete_queue_record"], {"name": name}).rowcount == 0:
                return None
            conn.execute(SQL["bump_queues_version"])
            return conn.execute(SQL["delete_queue_tasks"], {"name": name}).rowcount

        return await self._write(job)

    # -- workers -----------------------------------------------------------------------------

    async def add_worker(self, worker: Worker) -> None:
        def job(conn: sqlite3.Connection) -> None:
            conn.execute(
                SQL["add_worker"],
                {
                    "worker_id": worker.worker_id,
                    "name": worker.name,
                    "queues": orjson.dumps(worker.queues).decode(),
                    "registered_at": worker.registered_at,
                    "last_seen": worker.last_seen,
                    "owner": worker.owner,
                },
            )
            conn.executemany(
                SQL["add_worker_queue"],
                [{"queue": q, "worker_id": worker.worker_id} for q in worker.queues],
            )

        await self._write(job)

    async def get_worker(self, worker_id: str) -> Worker | None:
        row = self._peek("get_worker", {"worker_id": worker_id})
        return None if row is None else worker_from_row(row)

    async def list_workers(self, queue: str | None = None) -> list[Worker]:
        def job(conn: sqlite3.Connection) -> list[Worker]:
            if queue is None:
                rows = conn.execute(SQL["list_workers"])
            else:
                rows = conn.execute(SQL["list_workers_of_queue"], {"queue": queue})
            return [worker_from_row(r) for r in rows]

        return await self._scan(job)

    async def touch_worker(
        self,
        worker_id: str,
        now: float,
        lease_seconds: dict[str, float],
        default_lease: float,
        task_ids: Sequence[str] | None = None,
    ) -> bool:
        params = {
            "worker_id": worker_id,
            "now": now,
            "leases": orjson.dumps(lease_seconds).decode(),
            "default_lease": default_lease,
            "task_ids": None if task_ids is None else orjson.dumps(list(task_ids)).decode(),
        }

        def job(conn: sqlite3.Connection) -> bool:
            if conn.execute(SQL["touch_worker"], params).rowcount == 0:
                return False
            if task_ids is None or task_ids:
                conn.execute(SQL["extend_leases"], params)
            return True

        return await self._write(job)

    async def delete_workers(self, worker_ids: Sequence[str]) -> int:
        def job(conn: sqlite3.Connection) -> int:
            removed = 0
            for wid in worker_ids:
                removed += conn.execute(SQL["delete_worker"], {"worker_id": wid}).rowcount
                conn.execute(SQL["delete_worker_queues"], {"worker_id": wid})
            return removed

        return await self._write(job)
