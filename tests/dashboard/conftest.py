"""Browser tests of the management site: one real server (uvicorn on a free port, over a fresh
SQLite file) and Debian's headless Chromium driven by Playwright, both started once for the
package. Each test gets its own page, which fails the test on any console error."""

from __future__ import annotations

import asyncio
import dataclasses
import threading
import uuid
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest

from app.settings import Settings
from resolvers import tokens
from resolvers.context import Context
from tests.conftest import open_backend
from tests.push.conftest import LiveServer

T = TypeVar("T")

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
# Quick statistics and change polling so the live figures move within a test's patience;
# a long worker timeout so the workers a test registers outlive it.
SETTINGS = Settings(
    stats_flush_interval=0.5,
    change_poll_interval=0.05,
    lease_reap_interval=0.2,
    worker_timeout_seconds=600,
)

needs_chromium = pytest.mark.skipif(
    not CHROMIUM.exists(),
    reason="browser tests need Debian's chromium at /usr/bin/chromium (apt-get install chromium)",
)


class Couch:
    """The server as another client sees it: REST and GraphQL over httpx."""

    def __init__(self, url: str, token: str | None = None) -> None:
        self.url = url
        headers = {"authorization": f"Bearer {token}"} if token else None
        self.http = httpx.Client(base_url=url, timeout=10, headers=headers)

    def gql(self, query: str, **variables: Any) -> dict[str, Any]:
        body = self.http.post("/graphql", json={"query": query, "variables": variables}).json()
        assert not body.get("errors"), body["errors"]
        data: dict[str, Any] = body["data"]
        return data

    def queue(self, interests: Any = None, name: str | None = None) -> str:
        """A new queue (unique name) with these interests; by default it takes the events
        whose field "q" is its name, so each test's queue gets only that test's tasks."""
        name = name or f"q-{uuid.uuid4().hex[:8]}"
        interests = interests or {"q": f"^{name}$"}
        reply = self.http.put("/interest", json={"queue": name, "interests": interests})
        reply.raise_for_status()
        return name

    def worker(self, *queues: str, name: str = "test-worker") -> str:
        reply = self.http.put("/worker", json={"queues": list(queues), "name": name})
        reply.raise_for_status()
        return str(reply.json()["workerId"])

    def publish(self, data: dict[str, Any], **extra: Any) -> list[str]:
        """Publish an event; the ids of the copies written."""
        reply = self.http.put("/task", json={"publisher": "pytest", "data": data, **extra})
        reply.raise_for_status()
        return [t["taskId"] for t in reply.json()["tasks"]]

    def publish_many(self, events: list[dict[str, Any]]) -> None:
        """Publish a batch of events (each a data object) in one request."""
        batch = [{"publisher": "pytest", "data": data} for data in events]
        self.http.put("/tasks", json={"tasks": batch}).raise_for_status()

    def claim(self, worker_id: str) -> dict[str, Any] | None:
        reply = self.http.get("/task", params={"workerId": worker_id})
        reply.raise_for_status()
        task: dict[str, Any] | None = reply.json()
        return task

    def report(self, worker_id: str, task_id: str, state: str, reason: str = "") -> None:
        form = {"workerId": worker_id, "taskId": task_id, "state": state}
        if reason:
            form["failReason"] = reason
        self.http.post("/task", data=form).raise_for_status()

    def counts(self, queue: str) -> dict[str, int]:
        query = (
            "query($n: String!) { queue(name: $n) { paused counts { queued scheduled failed } } }"
        )
        found = self.gql(query, n=queue)["queue"]
        return {**found["counts"], "paused": found["paused"]}

    def close(self) -> None:
        self.http.close()


class ThreadedServer:
    """tests/push's LiveServer (uvicorn in this process, on a free 127.0.0.1 port) over a
    SQLite store, run on an event loop of its own in a thread: the sync Playwright API that
    drives the browser must not share a thread with a running loop."""

    def __init__(self, folder: Path, settings: Settings = SETTINGS) -> None:
        self.folder = folder
        self.settings = settings
        self.url = ""
        self.ctx: Context | None = None
        self._ready = threading.Event()
        self._failure: BaseException | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._run, name="dashboard-server", daemon=True)

    def start(self, timeout: float = 20.0) -> ThreadedServer:
        self._thread.start()
        if not self._ready.wait(timeout):
            raise RuntimeError(f"the server did not start in {timeout}s")
        if self._failure is not None:
            raise RuntimeError("the server did not start") from self._failure
        return self

    def run(self, work: Callable[[Context], Awaitable[T]]) -> T:
        """Run ``work(ctx)`` on the server's own loop (its engine context) and wait for it."""
        assert self._loop is not None and self.ctx is not None
        ctx = self.ctx

        async def call() -> T:
            return await work(ctx)

        return asyncio.run_coroutine_threadsafe(call(), self._loop).result(timeout=20)

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(timeout=20)

    def _run(self) -> None:
        try:
            asyncio.run(self._serve())
        except BaseException as exc:
            self._failure = exc
            self._ready.set()

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        store = await open_backend("sqlite", self.folder)
        try:
            live = await LiveServer(store, self.settings).start()
            try:
                self.url = live.http_url
                self.ctx = live.app.state.ctx
                self._ready.set()
                await self._stop.wait()
            finally:
                await live.stop()
        finally:
            await store.close()


@pytest.fixture(scope="package")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ThreadedServer]:
    started = ThreadedServer(tmp_path_factory.mktemp("dashboard")).start()
    try:
        yield started
    finally:
        started.stop()


class AuthServer(ThreadedServer):
    """A dashboard server whose store holds tokens: an admin's and a viewer's."""

    secrets: dict[str, str]


@pytest.fixture(scope="package")
def auth_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AuthServer]:
    settings = dataclasses.replace(SETTINGS, token_cache_seconds=0.1)
    started = AuthServer(tmp_path_factory.mktemp("dashboard-auth"), settings).start()
    try:
        started.secrets = {}
        for role in ("admin", "viewer"):

            async def make(ctx: Context, role: str = role) -> str:
                return (await tokens.create_token(ctx, role, [role]))[1]

            started.secrets[role] = started.run(make)
        yield started
    finally:
        started.stop()


@pytest.fixture(scope="package")
def couch(server: ThreadedServer) -> Iterator[Couch]:
    client = Couch(server.url)
    try:
        yield client
    finally:
        client.close()


@pytest.fixture(scope="package")
def browser(server: ThreadedServer) -> Iterator[Any]:
    """Chromium for the package. While it lives, Playwright's sync API holds an event loop on
    this thread: tests here are plain functions, never async ones."""
    if not CHROMIUM.exists():
        pytest.skip(needs_chromium.kwargs["reason"])
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


class Site:
    """One browser page on the dashboard, remembering every console error it saw."""

    def __init__(self, page: Any, base: str) -> None:
        self.page = page
        self.base = base
        self.errors: list[str] = []
        page.on("console", self._console)
        page.on("pageerror", lambda exc: self.errors.append(f"pageerror: {exc}"))
        page.set_default_timeout(8000)

    def _console(self, message: Any) -> None:
        if message.type == "error":
            self.errors.append(f"console: {message.text}")

    def open(self, route: str = "") -> Any:
        """Load the dashboard at #/route; wait until the page has loaded and the feed is live."""
        self.page.goto(f"{self.base}/dashboard/#/{route}")
        self.wait_ready(route)
        self.page.locator("#live.live-live").wait_for()
        return self.page

    def go(self, route: str) -> Any:
        """Navigate inside the loaded site (no reload) and wait until the page has loaded."""
        self.page.evaluate("route => { location.hash = '#/' + route; }", route)
        self.wait_ready(route)
        return self.page

    def wait_ready(self, route: str) -> None:
        """The router marks a page data-ready once its first data is shown."""
        self.page.locator(f'.page[data-route="/{route}"][data-ready]').wait_for()

    def screenshot(self, name: str, full_page: bool = True) -> Path:
        """Save the page as tests/artifacts/dashboard-NAME.png (gitignored)."""
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTIFACTS / f"dashboard-{name}.png"
        self.page.screenshot(path=str(path), full_page=full_page)
        return path


def open_site(
    browser: Any, url: str, expected: tuple[str, ...] = (), timezone: str | None = None
) -> Iterator[Site]:
    """A page in a context of its own (in the browser's time zone ``timezone``, an IANA name,
    if given); fails on a console error not naming an ``expected``."""
    context = browser.new_context(viewport={"width": 1280, "height": 900}, timezone_id=timezone)
    opened = Site(context.new_page(), url)
    try:
        yield opened
        unexpected = [e for e in opened.errors if not any(x in e for x in expected)]
        assert unexpected == [], unexpected
    finally:
        context.close()


@pytest.fixture
def site(browser: Any, server: ThreadedServer) -> Iterator[Site]:
    yield from open_site(browser, server.url)


def sign_in(site: Site, secret: str) -> Any:
    """Sign in on the dashboard's form; return once the overview and its feed are live."""
    page = site.page
    page.goto(f"{site.base}/dashboard/#/")
    page.locator("#signin-token").fill(secret)
    page.locator("#signin button[type=submit]").click()
    site.wait_ready("")
    page.locator("#live.live-live").wait_for()
    return page


@pytest.fixture
def signed(browser: Any, auth_server: AuthServer) -> Iterator[Site]:
    """A page on the server with auth on, not signed in yet. The 401s of the session check
    before sign-in and of a bad token are expected there."""
    yield from open_site(browser, auth_server.url, expected=("401", "429"))
