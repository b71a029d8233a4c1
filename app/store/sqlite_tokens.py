"""The SQLite store's bearer tokens, and the schema additions that came with them: a mixin of
SqliteStore, which provides the connection plumbing (_write, _peek_all) and the named SQL
blocks."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import Any, TypeVar

import orjson

from app.store.sql import SQLITE as SQL
from resolvers.access import ApiToken

T = TypeVar("T")


def add_token_schema(conn: sqlite3.Connection) -> None:
    """Create the tokens table and give the workers table its owner column, in a file made
    before they existed (same schema version: both are additions older code ignores)."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        conn.execute(SQL["tokens_schema"])
        columns = {row[1] for row in conn.execute("PRAGMA table_info(workers)")}
        if "owner" not in columns:
            conn.execute("ALTER TABLE workers ADD COLUMN owner TEXT")
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


def _token(row: sqlite3.Row) -> ApiToken:
    return ApiToken(
        name=row["name"],
        secret_hash=row["secret_hash"],
        roles=list(orjson.loads(row["roles"])),
        created_at=row["created_at"],
        last_used_at=row["last_used_at"],
    )


class Tokens:
    async def _write(self, job: Callable[[sqlite3.Connection], T]) -> T:
        raise NotImplementedError  # abstract: SqliteStore provides it

    def _peek_all(self, name: str, params: dict[str, Any]) -> list[sqlite3.Row]:
        raise NotImplementedError  # abstract: SqliteStore provides it

    async def add_token(self, token: ApiToken) -> bool:
        params = {
            "name": token.name,
            "secret_hash": token.secret_hash,
            "roles": orjson.dumps(token.roles).decode(),
            "created_at": token.created_at,
            "last_used_at": token.last_used_at,
        }
        return await self._write(lambda conn: conn.execute(SQL["add_token"], params).rowcount > 0)

    async def list_tokens(self) -> list[ApiToken]:
        # A handful of rows, read by every node twice a second: on the loop, as point reads are.
        return [_token(row) for row in self._peek_all("list_tokens", {})]

    async def delete_token(self, name: str) -> bool:
        return await self._write(
            lambda conn: conn.execute(SQL["delete_token"], {"name": name}).rowcount > 0
        )

    async def token_used(self, name: str, at: float) -> None:
        await self._write(lambda conn: conn.execute(SQL["token_used"], {"name": name, "at": at}))
