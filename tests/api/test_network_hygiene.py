"""Requests a browser can be made to send against its user's will (issue 12): a Host the node
does not serve (DNS rebinding), a page of another origin, and state-changing bodies of a type
a cross-site form may send without asking (text/plain, or none)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from asgi_lifespan import LifespanManager

from app.asgi import create_app
from app.hosts import AllowedHosts
from app.settings import Settings
from app.store.sqlite import SqliteStore

TEXT = {"content-type": "text/plain"}
RESUME = 'mutation { resumeQueue(name: "q") { name paused } }'
PAUSE = 'mutation { pauseQueue(name: "q") { name } }'


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    """A node with the default settings, reached as http://localhost:8080."""
    store = await SqliteStore.open(f"sqlite:///{tmp_path / 'hygiene.db'}")
    app = create_app(Settings(queue_cache_seconds=0), store=store, start_duties=False)
    transport = httpx.ASGITransport(app=app)
    try:
        async with (
            LifespanManager(app),
            httpx.AsyncClient(transport=transport, base_url="http://localhost:8080") as client,
        ):
            ok(await client.put("/interest", json={"queue": "q", "interests": "*"}))
            ok(await client.post("/graphql", json={"query": PAUSE}))
            yield client
    finally:
        await store.close()


def ok(reply: httpx.Response) -> Any:
    assert reply.status_code == 200, reply.text
    assert "errors" not in reply.json(), reply.text
    return reply.json()


async def paused(client: httpx.AsyncClient) -> bool:
    body = ok(await client.post("/graphql", json={"query": '{ queue(name: "q") { paused } }'}))
    return bool(body["data"]["queue"]["paused"])


@pytest.mark.parametrize("host", ["evil.example", "evil.example:8080", "localhost.evil.example"])
async def test_a_host_the_node_does_not_serve_is_refused(
    client: httpx.AsyncClient, host: str
) -> None:
    origin = {"origin": f"http://{host}"}
    for method, path, body in [
        ("POST", "/graphql", {"query": RESUME}),
        ("PUT", "/interest", {"queue": "q", "interests": "*"}),
        ("GET", "/healthz", None),
    ]:
        reply = await client.request(method, path, json=body, headers={"host": host, **origin})
        assert reply.status_code == 400, reply.text
        error = reply.json()["error"]
        assert (error["code"], error["param"]) == ("BAD_HOST", "host")
        assert host in error["message"]
    assert await paused(client)


@pytest.mark.parametrize("host", ["localhost", "localhost:8080", "127.0.0.1:1", "[::1]:8080"])
async def test_localhost_names_are_served_with_or_without_port(
    client: httpx.AsyncClient, host: str
) -> None:
    assert (await client.get("/healthz", headers={"host": host})).status_code == 200


async def test_a_page_of_another_origin_is_refused(client: httpx.AsyncClient) -> None:
    for origin in ["http://evil.example", "null"]:
        reply = await client.post("/graphql", json={"query": RESUME}, headers={"origin": origin})
        assert reply.status_code == 403, reply.text
        assert reply.json()["error"]["code"] == "BAD_ORIGIN"
    assert await paused(client)
    # The dashboard, served by the node itself, is a page of an allowed host.
    ok(
        await client.post(
            "/graphql", json={"query": RESUME}, headers={"origin": "http://localhost:8080"}
        )
    )
    assert not await paused(client)


def test_allowed_hosts_wildcards_and_the_bound_address() -> None:
    allowed = AllowedHosts.parse("queue.example.com,*.internal", "10.0.0.5")
    assert [allowed.allows(h) for h in ["queue.example.com", "a.b.internal", "10.0.0.5"]] == [
        True,
        True,
        True,
    ]
    assert not any(allowed.allows(h) for h in ["internal", "localhost", "example.com"])
    assert AllowedHosts.parse("*", "127.0.0.1").allows("anything.example")
    assert AllowedHosts.parse("localhost", "::1").allows("[::1]")


@pytest.mark.parametrize("headers", [TEXT, {}, {"content-type": "text/html"}])
async def test_a_state_changing_body_must_be_json_or_a_form(
    client: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    for method, path, body in [
        ("PUT", "/task", b'{"publisher": "p", "data": {}}'),
        ("POST", "/task", b'{"workerId": "w", "taskId": "t", "state": "complete"}'),
        ("PUT", "/interest", b'{"queue": "q2", "interests": "*"}'),
        ("DELETE", "/queue", b'{"queue": "q"}'),
    ]:
        reply = await client.request(method, path, content=body, headers=headers)
        assert reply.status_code == 415, reply.text
        error = reply.json()["error"]
        assert (error["code"], error["param"]) == ("UNSUPPORTED_MEDIA_TYPE", "body")
    assert await paused(client)  # queue q is still there


async def test_parameters_in_the_query_string_need_no_content_type(
    client: httpx.AsyncClient,
) -> None:
    reply = await client.put("/interest?queue=audit&interests=*")
    assert ok(reply) == {"queue": "audit", "interests": "*"}
    assert ok(await client.put("/interest", data={"queue": "form", "interests": "*"}))
    assert ok(await client.put("/interest", json={"queue": "json", "interests": "*"}))


@pytest.mark.parametrize("headers", [TEXT, {"content-type": "application/x-www-form-urlencoded"}])
async def test_graphql_refuses_a_body_that_is_not_json(
    client: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    body = orjson.dumps({"query": RESUME})
    reply = await client.post("/graphql", content=body, headers=headers)
    assert reply.status_code in (400, 415), reply.text
    assert await paused(client)


async def test_graphql_runs_no_mutation_over_get(client: httpx.AsyncClient) -> None:
    reply = await client.get("/graphql", params={"query": RESUME})
    assert reply.status_code >= 400, reply.text
    assert await paused(client)
