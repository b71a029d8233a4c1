"""Fixtures shared by every test: a store of each backend (the contract suite's parameter).

Couchbase runs against the KV test node in tests/couchbase_node (started once per session, in
its own process), or, with ``COUCHQUEUE_TEST_COUCHBASE=couchbase://host[:port]/bucket`` set
(credentials in COUCHQUEUE_COUCHBASE_USER / COUCHQUEUE_COUCHBASE_PASSWORD, or in the URL), against
that real server instead. Each test gets its own key prefix, so tests never see each other.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest

from app.store.sqlite import SqliteStore
from resolvers.store import Store

# Every backend the contract and API suites run against.
STORE_BACKENDS = ["sqlite", "couchbase"]
COUCHBASE_ENV = "COUCHQUEUE_TEST_COUCHBASE"
USER_ENV, PASSWORD_ENV = "COUCHQUEUE_COUCHBASE_USER", "COUCHQUEUE_COUCHBASE_PASSWORD"
NODE_BUCKET, NODE_USER, NODE_PASSWORD = "couchqueue", "cq-user", "cq-secret"

StoreFactory = Callable[[], "AsyncIterator[Store]"]

# The session's Couchbase target, set by the couchbase_target fixture: "url" (no prefix, no
# credentials), and "user" / "password" when the test node's are to be passed along.
_couchbase: dict[str, str] = {}


def couchbase_prefix(tmp_path: Path) -> str:
    """One test's key prefix: the same for every store the test opens, so they share."""
    return "t" + hashlib.sha1(str(tmp_path).encode()).hexdigest()[:12]


def couchbase_url(tmp_path: Path, *, credentials: bool = True) -> str:
    """The Couchbase store URL for one test (its own prefix). Without ``credentials``, the
    user and password are left to the environment (see couchbase_env)."""
    base = _couchbase.get("url")
    if base is None:
        raise AssertionError("request the couchbase_target fixture first")
    params = [f"prefix={couchbase_prefix(tmp_path)}"]
    if credentials and "user" in _couchbase:
        params += [f"user={_couchbase['user']}", f"password={_couchbase['password']}"]
    return f"{base}{'&' if '?' in base else '?'}{'&'.join(params)}"


def couchbase_env() -> dict[str, str]:
    """Environment variables carrying the credentials, for server processes."""
    if "user" not in _couchbase:
        return {}
    return {USER_ENV: _couchbase["user"], PASSWORD_ENV: _couchbase["password"]}


async def open_backend(backend: str, tmp_path: Path) -> Store:
    if backend == "sqlite":
        return await SqliteStore.open(f"sqlite:///{tmp_path / 'couchqueue.db'}")
    if backend == "couchbase":
        from app.store.couchbase import CouchbaseStore

        return await CouchbaseStore.open(couchbase_url(tmp_path))
    raise AssertionError(f"unknown store backend {backend}")


def pytest_report_header() -> str:
    if os.environ.get(COUCHBASE_ENV):
        return f"couchbase: the real server at {os.environ[COUCHBASE_ENV].split('?')[0]}"
    return f"couchbase: the KV test node (set {COUCHBASE_ENV} to use a real server)"


@pytest.fixture(scope="session")
def couchbase_target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The base URL of the Couchbase the session's tests use (started here if it is the test
    node). Skips, saying why, when the Couchbase SDK is not installed."""
    if importlib.util.find_spec("acouchbase") is None:
        pytest.skip("the couchbase extra is not installed: pip install 'couchqueue[couchbase]'")
    real = os.environ.get(COUCHBASE_ENV)
    if real:
        _couchbase["url"] = real
        try:
            yield real
        finally:
            _couchbase.clear()
        return
    from tests.couchbase_node.launcher import start_node, stop_node

    log_path = tmp_path_factory.mktemp("couchbase-node") / "node.log"
    with log_path.open("w") as log:
        process, port = start_node(NODE_BUCKET, NODE_USER, NODE_PASSWORD, log=log)
        try:
            url = f"couchbase://127.0.0.1:{port}/{NODE_BUCKET}"
            _couchbase.update(url=url, user=NODE_USER, password=NODE_PASSWORD)
            yield url
        finally:
            _couchbase.clear()
            stop_node(process)


@pytest.fixture(params=STORE_BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    if request.param == "couchbase":
        request.getfixturevalue("couchbase_target")
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
