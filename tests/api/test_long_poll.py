"""Long-poll claims (GET /task?waitSeconds=, claimTask(waitSeconds)): answered the moment a task
can be claimed, null when the wait is over, nothing claimed for a client that hung up, the
seed's claim unchanged without waitSeconds. Through REST and GraphQL, on every store."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlencode

import httpx
import orjson
import pytest
from starlette.applications import Starlette
from starlette.types import Message

from app.hangup import until_disconnected
from resolvers.context import Context
from resolvers.store import Store
from tests.api.client import TASK_FIELDS, Api, ApiError, RestApi


async def _until(test: Callable[[], bool], within: float = 3.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not test():
        assert loop.time() < deadline, "timed out"
        await asyncio.sleep(0.005)


async def _worker(api: Api, queue: str = "q") -> str:
    await api.set_interests(queue, "*")
    return str((await api.register_worker([queue]))["workerId"])


async def test_a_waiting_claim_answers_the_moment_a_task_is_published(
    api: Api, engine: Context
) -> None:
    worker = await _worker(api)
    loop = asyncio.get_running_loop()
    started = loop.time()
    waiting = asyncio.ensure_future(api.claim_waiting(worker, 10))
    await _until(lambda: engine.waiters.count == 1)
    published = await api.publish("pub", {"n": 1})
    task = await asyncio.wait_for(waiting, 3)
    assert task is not None and task["taskId"] == published["tasks"][0]["taskId"]
    assert (task["state"], task["workerId"]) == ("started", worker)
    assert loop.time() - started < 5
    assert engine.waiters.count == 0


async def test_a_task_already_there_is_claimed_at_once(api: Api) -> None:
    worker = await _worker(api)
    published = await api.publish("pub", {"n": 1})
    task = await asyncio.wait_for(api.claim_waiting(worker, 10), 3)
    assert task is not None and task["taskId"] == published["tasks"][0]["taskId"]


async def test_a_waiting_claim_answers_null_when_the_wait_is_over(
    api: Api, engine: Context
) -> None:
    worker = await _worker(api)
    loop = asyncio.get_running_loop()
    started = loop.time()
    assert await api.claim_waiting(worker, 0.3) is None
    assert 0.3 <= loop.time() - started < 3
    assert engine.waiters.count == 0


async def test_a_delayed_task_is_claimed_when_it_comes_due(api: Api, engine: Context) -> None:
    worker = await _worker(api)
    # A fresh clock: a task due 0.2 s from now, the real time the wait sleeps.
    engine.clock = clock = _Clock()
    await api.publish("pub", {"n": 1}, runAt=clock() + 0.2)
    task = await asyncio.wait_for(api.claim_waiting(worker, 5), 3)
    assert task is not None and task["state"] == "started"


async def test_without_wait_seconds_the_claim_answers_at_once(api: Api, engine: Context) -> None:
    worker = await _worker(api)
    assert await asyncio.wait_for(api.claim(worker), 1) is None
    assert await asyncio.wait_for(api.claim_waiting(worker, None), 1) is None
    assert engine.waiters.count == 0


@pytest.mark.parametrize(
    ("wait", "code"),
    [(-1, "INVALID_PARAMETER"), (20.5, "LIMIT_EXCEEDED"), (1e308, "LIMIT_EXCEEDED")],
)
async def test_a_wait_out_of_bounds_is_refused_and_claims_nothing(
    api: Api, wait: float, code: str
) -> None:
    worker = await _worker(api)
    task_id = (await api.publish("pub", {"n": 1}))["tasks"][0]["taskId"]
    with pytest.raises(ApiError) as refused:
        await api.claim_waiting(worker, wait)
    assert (refused.value.code, refused.value.param) == (code, "waitSeconds")
    if api.transport == "rest":
        assert refused.value.status == 400
    assert (await api.task(task_id))["state"] == "queued"


async def test_rest_refuses_a_wait_that_is_not_a_number(http: httpx.AsyncClient) -> None:
    """(GraphQL's Float type refuses it before any resolver runs.)"""
    api = RestApi(http)
    worker = await _worker(api)
    for given in ("soon", "nan", "inf"):
        with pytest.raises(ApiError) as refused:
            await api.claim_waiting(worker, given)
        assert (refused.value.status, refused.value.code) == (400, "INVALID_PARAMETER")
    assert await api.claim_waiting(worker, "") is None  # empty: absent, the seed's claim


async def test_waiters_beyond_the_nodes_limit_are_refused(api: Api, engine: Context) -> None:
    engine.limits = dataclasses.replace(engine.limits, max_waiting_claims=1)
    worker = await _worker(api)
    first = asyncio.ensure_future(api.claim_waiting(worker, 10))
    await _until(lambda: engine.waiters.count == 1)
    with pytest.raises(ApiError) as refused:
        await api.claim_waiting(worker, 10)
    assert refused.value.code == "TOO_MANY_WAITERS"
    if api.transport == "rest":
        assert refused.value.status == 503
    await api.publish("pub", {"n": 1})
    assert await asyncio.wait_for(first, 3) is not None


async def test_an_unknown_worker_is_refused_before_waiting(api: Api, engine: Context) -> None:
    with pytest.raises(ApiError) as refused:
        await asyncio.wait_for(api.claim_waiting("no-such-worker", 10), 3)
    assert refused.value.code == "WORKER_NOT_FOUND"
    assert engine.waiters.count == 0


# -- a client that hangs up ----------------------------------------------------------------


class _Clock:
    def __init__(self) -> None:
        self.loop = asyncio.get_running_loop()
        self.offset = 1_800_000_000.0 - self.loop.time()

    def __call__(self) -> float:
        return self.loop.time() + self.offset


def _long_poll_request(transport: str, worker: str) -> tuple[str, str, bytes, bytes]:
    """Method, path, query string and body of a 10 s long poll through ``transport``."""
    if transport == "rest":
        query = urlencode({"workerId": worker, "waitSeconds": 10}).encode()
        return "GET", "/task", query, b""
    document = (
        f"mutation($w: ID!) {{ claimTask(workerId: $w, waitSeconds: 10) {{ {TASK_FIELDS} }} }}"
    )
    body = orjson.dumps({"query": document, "variables": {"w": worker}})
    return "POST", "/graphql", b"", body


async def _call_then_hang_up(
    app: Starlette, request: tuple[str, str, bytes, bytes], hang_up: asyncio.Event
) -> list[Message]:
    """Run one request through the ASGI app as a client that disconnects on ``hang_up``."""
    method, path, query, body = request
    scope: dict[str, Any] = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": query,
        "root_path": "",
        "headers": [
            (b"host", b"couchqueue"),
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
        ],
        "client": ("127.0.0.1", 50000),
        "server": ("couchqueue", 80),
    }
    sent: list[Message] = []
    body_sent = False

    async def receive() -> Message:
        nonlocal body_sent
        if not body_sent:
            body_sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        await hang_up.wait()
        return {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        sent.append(message)

    await app(scope, receive, send)
    return sent


async def _hang_up_while_waiting(
    app: Starlette, api: Api, engine: Context, worker: str, meanwhile: Callable[[], Awaitable[Any]]
) -> None:
    hang_up = asyncio.Event()
    request = _long_poll_request(api.transport, worker)
    call = asyncio.ensure_future(_call_then_hang_up(app, request, hang_up))
    await _until(lambda: engine.waiters.count == 1)
    await meanwhile()
    hang_up.set()
    await asyncio.wait_for(call, 3)
    assert engine.waiters.count == 0


async def test_a_client_that_hung_up_claims_nothing(
    app: Starlette, api: Api, engine: Context
) -> None:
    worker = await _worker(api)

    async def nothing() -> None:
        return None

    await _hang_up_while_waiting(app, api, engine, worker, nothing)
    task_id = (await api.publish("pub", {"n": 1}))["tasks"][0]["taskId"]
    assert (await api.task(task_id))["state"] == "queued"
    other = (await api.register_worker(["q"]))["workerId"]
    claimed = await api.claim(other)
    assert claimed is not None and claimed["taskId"] == task_id


async def test_a_claim_made_as_the_client_hangs_up_goes_back(
    app: Starlette, api: Api, engine: Context, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The store takes the task for the waiter while the client leaves: it goes back."""
    worker = await _worker(api)
    in_claim, go_on = asyncio.Event(), asyncio.Event()
    claim_tasks = store.claim_tasks

    async def slow_claim(*args: Any) -> Any:
        in_claim.set()
        await go_on.wait()
        return await claim_tasks(*args)

    task_id = ""

    async def publish_then_claim_slowly() -> None:
        nonlocal task_id
        monkeypatch.setattr(store, "claim_tasks", slow_claim)
        task_id = (await api.publish("pub", {"n": 1}))["tasks"][0]["taskId"]
        await asyncio.wait_for(in_claim.wait(), 3)

    hang_up = asyncio.Event()
    request = _long_poll_request(api.transport, worker)
    # Hand-offs off: the waiter claims for itself, so the store's claim is the one that races.
    monkeypatch.setattr(engine.notifier, "offers", lambda lane: [])
    call = asyncio.ensure_future(_call_then_hang_up(app, request, hang_up))
    await _until(lambda: engine.waiters.count == 1)
    await publish_then_claim_slowly()
    hang_up.set()
    await asyncio.wait_for(call, 3)
    go_on.set()
    await _until(lambda: not engine.waiters._cleanups)
    monkeypatch.setattr(store, "claim_tasks", claim_tasks)
    back = await api.task(task_id)
    assert (back["state"], back["workerId"], back["attempts"]) == ("queued", None, 0)


async def test_a_task_handed_over_as_the_client_hangs_up_goes_back(
    app: Starlette, api: Api, engine: Context, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A publish claims the task for the waiter in its own write while the client leaves."""
    worker = await _worker(api)
    in_write, go_on = asyncio.Event(), asyncio.Event()
    insert_and_claim = store.insert_and_claim

    async def slow_write(*args: Any) -> Any:
        in_write.set()
        await go_on.wait()
        return await insert_and_claim(*args)

    monkeypatch.setattr(store, "insert_and_claim", slow_write)
    hang_up = asyncio.Event()
    request = _long_poll_request(api.transport, worker)
    call = asyncio.ensure_future(_call_then_hang_up(app, request, hang_up))
    await _until(lambda: bool(engine.notifier.offers("q")))
    publishing = asyncio.ensure_future(api.publish("pub", {"n": 1}))
    await asyncio.wait_for(in_write.wait(), 3)
    hang_up.set()
    await asyncio.wait_for(call, 3)
    go_on.set()
    task_id = (await asyncio.wait_for(publishing, 3))["tasks"][0]["taskId"]
    back = await api.task(task_id)
    assert (back["state"], back["workerId"], back["attempts"]) == ("queued", None, 0)


async def test_a_server_that_never_tells_a_disconnect_is_not_asked_again_and_again() -> None:
    """After the body, an ASGI server passes on only http.disconnect; one that answers
    anything else cannot tell, and is not polled in a busy loop."""
    calls = 0

    async def receive() -> Message:
        nonlocal calls
        calls += 1
        return {"type": "http.request", "body": b"", "more_body": False}

    watching = asyncio.ensure_future(until_disconnected(receive))
    await asyncio.sleep(0.05)
    assert (watching.done(), calls) == (False, 1)
    watching.cancel()
    gone: list[Message] = [{"type": "http.disconnect"}]

    async def disconnected() -> Message:
        return gone[0]

    await asyncio.wait_for(until_disconnected(disconnected), 1)
