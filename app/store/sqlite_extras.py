"""The SQLite store's schedules and per-minute statistics: a mixin of SqliteStore, which
provides the connection plumbing (_write, _scan) and the named SQL blocks."""

from __future__ import annotations

import dataclasses
import sqlite3
from collections.abc import Callable, Sequence
from typing import TypeVar

from app.store.sql import SQLITE as SQL
from app.store.sqlite_rows import schedule_from_row, schedule_params, stats_from_row
from resolvers.models import Schedule, StatsRow

T = TypeVar("T")


class SchedulesAndStats:
    async def _write(self, job: Callable[[sqlite3.Connection], T]) -> T:
        raise NotImplementedError  # abstract: SqliteStore provides it

    async def _scan(self, job: Callable[[sqlite3.Connection], T]) -> T:
        raise NotImplementedError  # abstract: SqliteStore provides it

    # -- schedules ---------------------------------------------------------------------------

    async def put_schedule(self, schedule: Schedule) -> Schedule:
        params = schedule_params(schedule)

        def job(conn: sqlite3.Connection) -> Schedule:
            version = conn.execute(SQL["put_schedule"], params).fetchone()[0]
            return dataclasses.replace(schedule, version=int(version))

        return await self._write(job)

    async def list_schedules(self) -> list[Schedule]:
        return await self._scan(
            lambda conn: [schedule_from_row(r) for r in conn.execute(SQL["list_schedules"])]
        )

    async def replace_schedule(self, schedule: Schedule, expected_version: int) -> bool:
        params = {**schedule_params(schedule), "expected_version": expected_version}

        def job(conn: sqlite3.Connection) -> bool:
            row = conn.execute(SQL["replace_schedule"], params).fetchone()
            if row is None:
                return False
            schedule.version = int(row[0])
            return True

        return await self._write(job)

    async def delete_schedule(self, name: str) -> bool:
        return await self._write(
            lambda conn: conn.execute(SQL["delete_schedule"], {"name": name}).rowcount > 0
        )

    # -- statistics --------------------------------------------------------------------------

    async def add_stats(self, rows: Sequence[StatsRow]) -> None:
        params = [dataclasses.asdict(row) for row in rows]
        await self._write(lambda conn: conn.executemany(SQL["add_stats"], params))

    async def list_stats(self, queue: str | None, since: float, until: float) -> list[StatsRow]:
        params = {"queue": queue, "since": since, "until": until}
        return await self._scan(
            lambda conn: [stats_from_row(r) for r in conn.execute(SQL["list_stats"], params)]
        )

    async def delete_stats_before(self, minute: float) -> int:
        return await self._write(
            lambda conn: conn.execute(SQL["delete_stats_before"], {"minute": minute}).rowcount
        )
