"""The events feed: a feed of one queue gets that queue's events (and the workers'), never
another queue's, nor an internal "changed" whose queue is unknown."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx

from tests.conftest import open_backend
from tests.push.conftest import LiveServer
from tests.push.wsclient import GraphQLSocket

EVENTS = "subscription($q: String) { events(queue: $q) { kind queue taskId workerId } }"


async def two_queues(http: httpx.AsyncClient) -> None:
    for queue in ("quiet", "busy"):
        await http.put("/interest", json={"queue": queue, "interests": {"to": f"^{queue}$"}})


async def send(http: httpx.AsyncClient, to: str) -> str:
    reply = await http.put("/task", json={"publisher": "t", "data": {"to": to}})
    return str(reply.json()["tasks"][0]["taskId"])


def event_of(message: dict[str, Any]) -> dict[str, Any]:
    return message["payload"]["data"]["events"]  # type: ignore[no-any-return]


async def next_but_changed(ws: GraphQLSocket, queue: str) -> dict[str, Any]:
    """The next event other than "changed". A store whose stamps tell queues apart may also
    tell "changed" of ``queue`` (this node's own write, seen through its stamp): of that
    queue, never of another."""
    while True:
        event = event_of(await ws.next())
        if event["kind"] != "changed":
            return event
        assert event["queue"] == queue


async def test_a_queue_feed_gets_only_that_queues_events(
    live_server: LiveServer, http: httpx.AsyncClient
) -> None:
    await two_queues(http)
    async with GraphQLSocket(live_server.ws_url) as ws:
        await ws.subscribe(EVENTS, q="quiet")
        # Several change-watcher polls: subscribing is no change.
        assert await ws.nothing_for(0.3)
        await send(http, "busy")
        assert await ws.nothing_for(0.4)
        task_id = await send(http, "quiet")
        event = await next_but_changed(ws, "quiet")
        assert (event["kind"], event["queue"], event["taskId"]) == ("published", "quiet", task_id)
        worker = (await http.put("/worker", json={"queues": ["busy"]})).json()["workerId"]
        event = await next_but_changed(ws, "quiet")
        assert (event["kind"], event["queue"], event["workerId"]) == ("worker_joined", None, worker)


async def test_another_nodes_writes_reach_only_the_feeds_of_their_queue(
    backend: str, tmp_path: Path
) -> None:
    stores = [await open_backend(backend, tmp_path) for _ in range(2)]
    a, b = [await LiveServer(s).start() for s in stores]
    try:
        async with httpx.AsyncClient(base_url=a.http_url, timeout=10) as http:
            await two_queues(http)
            async with GraphQLSocket(b.ws_url) as quiet, GraphQLSocket(b.ws_url) as every:
                await quiet.subscribe(EVENTS, q="quiet")
                await every.subscribe(EVENTS)
                await asyncio.sleep(0.3)
                await send(http, "busy")
                # An unfiltered feed hears that something changed...
                assert event_of(await every.next(within=2))["kind"] == "changed"
                # ... a feed of another queue does not.
                assert await quiet.nothing_for(0.4)
                await send(http, "quiet")
                if stores[0].change_stamps_per_lane:
                    event = event_of(await quiet.next(within=2))
                    assert (event["kind"], event["queue"]) == ("changed", "quiet")
                else:
                    # One stamp for every queue: which changed is not known, so only
                    # unfiltered feeds are told.
                    assert await quiet.nothing_for(0.4)
    finally:
        for server in (a, b):
            await server.stop()
        for store in stores:
            await store.close()
