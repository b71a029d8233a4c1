"""Fixtures shared by every test: a store of each backend (the contract suite's parameter)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from app.store.sqlite import SqliteStore
from resolvers.store import Store

# Every backend the contract and API suites run against. Later backends join this list.
STORE_BACKENDS = ["sqlite"]

StoreFactory = Callable[[], "AsyncIterator[Store]"]


async def open_backend(backend: str, tmp_path: Path) -> Store:
    if backend == "sqlite":
        return await SqliteStore.open(f"sqlite:///{tmp_path / 'couchqueue.db'}")
    raise AssertionError(f"unknown store backend {backend}")


@pytest.fixture(params=STORE_BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
async def store(backend: str, tmp_path: Path) -> AsyncIterator[Store]:
    opened = await open_backend(backend, tmp_path)
    try:
        yield opened
    finally:
        await opened.close()


class FakeClock:
    """A clock tests move by hand, so time rules are tested without sleeping."""

    def __init__(self, start: float = 1_800_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()
