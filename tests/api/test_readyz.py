"""/readyz: 503 with the reason and the store when the store cannot take a write (here: a full
SQLite file), and the store's thorough check at most once per store_check_interval."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from asgi_lifespan import LifespanManager

import app.store.sqlite as sqlite_module
from app.asgi import create_app
from app.health import Readiness
from app.settings import Settings
from app.store.sqlite import SqliteStore
from resolvers.errors import StoreNotReady
from tests.conftest import FakeClock

SETTINGS = Settings(queue_cache_seconds=0, allowed_hosts="couchqueue")


@pytest.fixture
async def capped_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[SqliteStore]:
    """A store whose writers may not grow the file past 200 more pages: a disk about to fill."""
    url = f"sqlite:///{tmp_path / 'full.db'}"
    await (await SqliteStore.open(url)).close()
    cap = (tmp_path / "full.db").stat().st_size // 4096 + 200
    real = sqlite_module._writer_connection

    def capped(path: str, synchronous: str) -> sqlite3.Connection:
        conn = real(path, synchronous)
        conn.execute(f"PRAGMA max_page_count = {cap}")
        return conn

    monkeypatch.setattr(sqlite_module, "_writer_connection", capped)
    store = await SqliteStore.open(url)
    yield store
    await store.close()


async def test_readyz_fails_when_the_store_is_full(
    capped_store: SqliteStore, tmp_path: Path
) -> None:
    app = create_app(SETTINGS, store=capped_store, start_duties=False)
    transport = httpx.ASGITransport(app=app)
    async with (
        LifespanManager(app),
        httpx.AsyncClient(transport=transport, base_url="http://couchqueue") as client,
    ):
        assert (await client.get("/readyz")).status_code == 200
        await client.put("/interest", json={"queue": "q", "interests": "*"})
        for _ in range(2000):
            reply = await client.put("/task", json={"publisher": "p", "data": {"pad": "x" * 2000}})
            if reply.status_code != 200:
                break
        assert reply.status_code == 503, reply.text
        ready = await client.get("/readyz")
        assert ready.status_code == 503
        body = ready.json()
        assert (body["status"], body["reason"]) == ("unavailable", "full")
        assert body["store"] == str(tmp_path / "full.db")


class CountingStore:
    def __init__(self) -> None:
        self.thorough = 0
        self.broken = False

    async def ready(self, thorough: bool = False) -> None:
        self.thorough += thorough
        if self.broken:
            raise StoreNotReady("the file is gone", reason="removed", location="/x.db")


async def test_the_thorough_check_runs_at_most_once_per_interval(clock: FakeClock) -> None:
    store = CountingStore()
    readiness = Readiness(store, check_interval=60, clock=clock)  # type: ignore[arg-type]
    for _ in range(5):
        assert await readiness.check() is None
    assert store.thorough == 0  # the store checked itself when it opened
    clock.advance(60)
    for _ in range(5):
        assert await readiness.check() is None
    assert store.thorough == 1
    store.broken = True
    problem = await readiness.check()
    assert problem == {"error": "the file is gone", "reason": "removed", "store": "/x.db"}
