"""Websocket set-ups run a few at a time (app/setups.py): many workers connecting at once
take turns for the handshake, connection_init and each operation's first steps, and a slot
goes back as soon as its step settles (a push subscription or an event feed waiting, a first
message sent), not when the subscription ends."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path

import httpx
import pytest

from app import setups
from app.notify import LocalNotifier
from app.setups import SetupGate
from tests.conftest import open_backend
from tests.push.conftest import LiveServer
from tests.push.test_push import EVENTS, PUSH, publish, worker_on
from tests.push.wsclient import GraphQLSocket

SUBSCRIBERS = 12
QUERY = "query { status { queues workers } }"


@asynccontextmanager
async def server_with_gate(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, at_once: int
) -> AsyncIterator[LiveServer]:
    # A slot is never given back by the timer during the test: only by its step settling.
    monkeypatch.setattr(setups, "SETUPS_AT_ONCE", at_once)
    monkeypatch.setattr(setups, "HOLD_AT_MOST", 60.0)
    store = await open_backend("sqlite", tmp_path)
    server = await LiveServer(store).start()
    try:
        yield server
    finally:
        await server.stop()
        await store.close()


def gate_of(server: LiveServer) -> SetupGate:
    gate = server.app.state.setups
    assert isinstance(gate, SetupGate)
    return gate


async def all_waiting(server: LiveServer, count: int) -> None:
    notifier = server.app.state.notifier
    assert isinstance(notifier, LocalNotifier)
    for _ in range(500):
        if notifier.subscribers() == count and notifier.idle_on("q") == count:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"{notifier.subscribers()} of {count} subscribers waiting")


async def test_many_workers_connecting_take_turns(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with (
        server_with_gate(tmp_path, monkeypatch, at_once=2) as server,
        httpx.AsyncClient(base_url=server.http_url) as http,
        AsyncExitStack() as stack,
    ):
        workers = [await worker_on(http) for _ in range(SUBSCRIBERS)]

        async def subscriber(worker: str) -> GraphQLSocket:
            ws = await stack.enter_async_context(GraphQLSocket(server.ws_url))
            await ws.subscribe(PUSH, w=worker)
            return ws

        gate = gate_of(server)
        taken = [await gate.enter(), await gate.enter()]
        connecting = asyncio.gather(*(subscriber(w) for w in workers))
        await asyncio.sleep(0.3)
        # Both slots taken: no handshake is answered meanwhile.
        assert not connecting.done()
        assert gate.running == 2
        for release in taken:
            release()
        sockets = await asyncio.wait_for(connecting, 20)
        await all_waiting(server, SUBSCRIBERS)
        # Never more than two at a time, and every slot back while the subscriptions stay open.
        assert (gate.peak, gate.running) == (2, 0)
        published = {await publish(http, n) for n in range(SUBSCRIBERS)}
        received = {(await ws.next())["payload"]["data"]["tasks"]["taskId"] for ws in sockets}
        assert received == published


async def test_a_slot_goes_back_when_its_step_settles(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # One slot, never freed by the timer: each step below must give it back itself, or the
    # next one would wait a minute.
    async with (
        server_with_gate(tmp_path, monkeypatch, at_once=1) as server,
        httpx.AsyncClient(base_url=server.http_url) as http,
    ):
        worker = await worker_on(http)
        async with GraphQLSocket(server.ws_url) as feed, GraphQLSocket(server.ws_url) as ws:
            await feed.subscribe(EVENTS)  # settles listening
            await ws.subscribe(PUSH, w=worker)  # settles waiting for a task
            await all_waiting(server, 1)
            await ws.subscribe(QUERY)  # settles answering
            answer, done = await ws.next(), await ws.next()
            assert answer["type"] == "next" and "status" in answer["payload"]["data"]
            assert done["type"] == "complete"
            task_id = await publish(http, 1)
            pushed = await ws.next()
            assert pushed["payload"]["data"]["tasks"]["taskId"] == task_id
            assert gate_of(server).running == 0


async def test_a_step_that_never_settles_gives_its_slot_back_in_time() -> None:
    gate = SetupGate(at_once=1, hold_at_most=0.05)
    await gate.enter()  # never released by its holder
    release = await asyncio.wait_for(gate.enter(), 2)
    assert gate.running == 1
    release()
    release()  # idempotent
    assert gate.running == 0


async def test_a_setup_that_leaves_while_queued_takes_no_slot() -> None:
    gate = SetupGate(at_once=1, hold_at_most=60)
    release = await gate.enter()
    queued = asyncio.ensure_future(gate.enter())
    await asyncio.sleep(0.01)
    queued.cancel()
    await asyncio.gather(queued, return_exceptions=True)
    release()
    again = await asyncio.wait_for(gate.enter(), 1)
    assert gate.running == 1
    again()
