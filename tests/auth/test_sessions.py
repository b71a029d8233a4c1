"""The dashboard's sign-in over HTTP: the session cookie, what ends it, the same-origin rule for
what it may change (CSRF), and CORS. The browser side is tests/dashboard/test_signin.py."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets
from starlette.requests import Request

from app.browser import COOKIE_NAME
from app.cli import build_parser
from app.session import cookie_options
from app.settings import Settings
from resolvers import tokens
from resolvers.sessions import open_session
from tests.auth.conftest import World
from tests.conftest import open_backend
from tests.push.conftest import LiveServer

PUBLISH = 'mutation { publishTask(input: {publisher: "p", data: {n: 9}}) { eventId } }'
PAUSE = 'mutation { pauseQueue(name: "q") { paused } }'


async def sign_in(world: World, caller: str, **headers: str) -> httpx.Response:
    origin = {"origin": world.server.http_url}
    async with httpx.AsyncClient(base_url=world.server.http_url, timeout=10) as client:
        return await client.post(
            "/dashboard/session",
            json={"token": world.secrets[caller]},
            headers={**origin, **headers},
        )


async def session_of(world: World, caller: str) -> str:
    reply = await sign_in(world, caller)
    assert reply.status_code == 200, reply.text
    return reply.cookies[COOKIE_NAME]


async def graphql(
    world: World, query: str, session: str | None, origin: str | None = "own", **headers: str
) -> httpx.Response:
    sent = dict(headers)
    if session is not None:
        sent["cookie"] = f"{COOKIE_NAME}={session}"
    if origin is not None:
        sent["origin"] = world.server.http_url if origin == "own" else origin
    async with httpx.AsyncClient(base_url=world.server.http_url, timeout=10) as client:
        return await client.post("/graphql", json={"query": query}, headers=sent)


def codes(reply: httpx.Response) -> list[str]:
    return [e["extensions"]["code"] for e in reply.json().get("errors") or []]


async def test_sign_in_sets_a_strict_httponly_expiring_cookie(world: World) -> None:
    reply = await sign_in(world, "viewer")
    assert reply.status_code == 200, reply.text
    assert reply.json()["name"] == "viewer" and reply.json()["roles"] == ["viewer"]
    cookie = reply.headers["set-cookie"]
    attributes = {part.strip().split("=")[0].lower() for part in cookie.split(";")}
    assert {"httponly", "samesite", "max-age", "path"} <= attributes, cookie
    assert "samesite=strict" in cookie.lower() and "max-age=43200" in cookie.lower()
    assert "secure" not in attributes  # plain http here: a Secure cookie would never come back
    assert world.secrets["viewer"] not in cookie
    session = reply.cookies[COOKIE_NAME]
    async with httpx.AsyncClient(base_url=world.server.http_url, timeout=10) as client:
        who = await client.get("/dashboard/session", headers={"cookie": f"{COOKIE_NAME}={session}"})
    assert who.json() == {"auth": True, "name": "viewer", "roles": ["viewer"]}


async def test_the_cookie_works_for_queries_and_the_roles_still_hold(world: World) -> None:
    viewer, admin = await session_of(world, "viewer"), await session_of(world, "admin")
    reply = await graphql(world, "{ status { queues } }", viewer)
    assert reply.status_code == 200 and not codes(reply), reply.text
    before = await world.snapshot()
    assert codes(await graphql(world, PAUSE, viewer)) == ["FORBIDDEN"]
    assert await world.snapshot() == before
    reply = await graphql(world, PAUSE, admin)
    assert reply.json()["data"]["pauseQueue"]["paused"] is True, reply.text


async def test_a_bad_token_on_the_form_is_refused_and_counted(tmp_path: Path) -> None:
    store = await open_backend("sqlite", tmp_path)
    server = await LiveServer(store, Settings(auth_failure_limit=3)).start()
    try:
        _, secret = await tokens.create_token(server.app.state.ctx, "admin", ["admin"])
        origin = {"origin": server.http_url}
        async with httpx.AsyncClient(base_url=server.http_url, timeout=10) as client:
            replies = [
                await client.post("/dashboard/session", json={"token": "cq_wrong"}, headers=origin)
                for _ in range(4)
            ]
            assert [r.status_code for r in replies] == [401, 401, 401, 429]
            assert replies[0].json()["error"] == {
                "code": "UNAUTHENTICATED",
                "message": "unknown or revoked token",
                "param": "token",
            }
            assert COOKIE_NAME not in replies[0].headers.get("set-cookie", "")
            good = await client.post("/dashboard/session", json={"token": secret}, headers=origin)
            assert good.status_code == 429
            for body in (b"{", b"[]", b'{"token": 5}', json.dumps({"token": "x" * 300}).encode()):
                bad = await client.post("/dashboard/session", content=body, headers=origin)
                assert bad.status_code in (400, 429), bad.text
    finally:
        await server.stop()
        await store.close()


async def test_sign_out_clears_the_cookie(world: World) -> None:
    session = await session_of(world, "admin")
    async with httpx.AsyncClient(base_url=world.server.http_url, timeout=10) as client:
        cookie = {"cookie": f"{COOKIE_NAME}={session}"}
        foreign = await client.delete(
            "/dashboard/session", headers={**cookie, "origin": "http://localhost:1"}
        )
        assert foreign.status_code == 403
        reply = await client.delete(
            "/dashboard/session", headers={**cookie, "origin": world.server.http_url}
        )
    assert reply.status_code == 200
    cleared = reply.headers["set-cookie"].lower()
    assert cleared.startswith(f"{COOKIE_NAME}=") and "max-age=0" in cleared
    assert "httponly" in cleared and "samesite=strict" in cleared


@pytest.mark.parametrize(
    "spoil", ["tampered", "other-name", "expired", "garbage", "too-long", "unicode-digits"]
)
async def test_an_altered_or_expired_session_is_refused(world: World, spoil: str) -> None:
    session = await session_of(world, "viewer")
    name, expires, signature = session.rsplit(".", 2)
    if spoil == "tampered":
        session = f"{name}.{int(expires) + 10_000}.{signature}"
    elif spoil == "other-name":
        session = f"admin.{expires}.{signature}"
    elif spoil == "expired":
        opened = await open_session(world.ctx, f"Bearer {world.secrets['viewer']}", -1)
        assert opened is not None
        session = opened[1]
    elif spoil == "garbage":
        session = "no-dots-here"
    elif spoil == "unicode-digits":
        session = f"{name}.\u00b2\u00b3.{signature}"
    else:
        session = f"{name}.{expires}.{signature}{'0' * 300}"
    async with httpx.AsyncClient(base_url=world.server.http_url, timeout=10) as client:
        cookie = f"{COOKIE_NAME}={session}".encode("latin-1")  # as a browser may send it
        reply = await client.post(
            "/graphql", json={"query": "{ status { queues } }"}, headers={"cookie": cookie}
        )
    assert reply.status_code == 401, reply.text
    assert codes(reply) == ["UNAUTHENTICATED"]


async def test_a_token_name_that_cookies_quote_signs_in(world: World) -> None:
    _, world.secrets["ops@example"] = await tokens.create_token(
        world.ctx, "ops@example", ["viewer"]
    )
    reply = await sign_in(world, "ops@example")
    assert reply.status_code == 200, reply.text
    assert f'{COOKIE_NAME}="ops@example.' in reply.headers["set-cookie"]
    session = reply.headers["set-cookie"].split(";")[0].partition("=")[2]
    answer = await graphql(world, "{ status { queues } }", session)
    assert answer.status_code == 200 and not codes(answer), answer.text


async def test_revoking_the_token_ends_its_sessions(world: World) -> None:
    session = await session_of(world, "publisher")
    assert not codes(await graphql(world, PUBLISH, session))
    await tokens.revoke_token(world.ctx, "publisher")
    reply = await graphql(world, PUBLISH, session)
    assert reply.status_code == 401 and codes(reply) == ["UNAUTHENTICATED"]
    # A new token under the old name has another secret: the old sessions stay dead.
    await tokens.create_token(world.ctx, "publisher", ["publisher"])
    assert (await graphql(world, PUBLISH, session)).status_code == 401


@pytest.mark.parametrize(
    "headers",
    [
        {"origin": "http://localhost:{port}"},  # an allowed host, but not this origin
        {"origin": "https://evil.example"},
        {"origin": "null"},
        {"referer": "http://localhost:{port}/page"},
        {},  # neither Origin nor Referer
    ],
    ids=["other-allowed-host", "other-site", "null", "foreign-referer", "no-origin"],
)
async def test_csrf_a_cookie_request_from_elsewhere_changes_nothing(
    world: World, headers: dict[str, str]
) -> None:
    session = await session_of(world, "admin")
    port = str(world.server.port)
    sent = {key: value.replace("{port}", port) for key, value in headers.items()}
    before = await world.snapshot()
    async with httpx.AsyncClient(base_url=world.server.http_url, timeout=10) as client:
        cookie = {"cookie": f"{COOKIE_NAME}={session}", **sent}
        replies = [
            await client.post("/graphql", json={"query": PAUSE}, headers=cookie),
            await client.put("/task", params={"publisher": "p", "data": "{}"}, headers=cookie),
            await client.delete("/queue", params={"queue": "q"}, headers=cookie),
            await client.get("/task", params={"workerId": world.worker_id}, headers=cookie),
        ]
    for reply in replies:
        assert reply.status_code == 403, reply.text
        assert reply.headers["content-type"] == "application/json"
        assert "FORBIDDEN" in reply.text or "BAD_ORIGIN" in reply.text, reply.text
    assert await world.snapshot() == before


async def test_csrf_same_origin_and_bearer_requests_pass(world: World) -> None:
    session = await session_of(world, "admin")
    own = world.server.http_url
    async with httpx.AsyncClient(base_url=own, timeout=10) as client:
        cookie = {"cookie": f"{COOKIE_NAME}={session}"}
        by_referer = await client.put(
            "/task",
            params={"publisher": "p", "data": "{}"},
            headers={**cookie, "referer": f"{own}/dashboard/"},
        )
        assert by_referer.status_code == 200, by_referer.text
        # Reading needs no origin: a cookie GET of a query is no change.
        status = await client.get("/status", headers=cookie)
        assert status.status_code == 200
        # Bearer requests are not browsers': another allowed host's Origin is no matter.
        bearer = await client.put(
            "/task",
            params={"publisher": "p", "data": "{}"},
            headers={
                **world.headers("admin"),
                "origin": f"http://localhost:{world.server.port}",
            },
        )
        assert bearer.status_code == 200, bearer.text
    reply = await graphql(world, PAUSE, session)
    assert reply.json()["data"]["pauseQueue"]["paused"] is True


async def test_a_cookie_websocket_must_come_from_this_server(world: World) -> None:
    """Strawberry refuses another origin's handshake itself (403); the cookie would not let it
    in past that either (4403)."""
    session = await session_of(world, "viewer")
    for origin, expected in ((world.server.http_url, "ack"), ("http://localhost:1", "refused")):
        try:
            socket = await websockets.connect(
                world.server.ws_url,
                subprotocols=["graphql-transport-ws"],
                additional_headers={"cookie": f"{COOKIE_NAME}={session}", "origin": origin},
            )
        except websockets.InvalidStatus as refusal:
            assert refusal.response.status_code == 403 and expected == "refused"
            continue
        try:
            await socket.send(json.dumps({"type": "connection_init", "payload": {}}))
            try:
                message = json.loads(await socket.recv())
                outcome = "ack" if message["type"] == "connection_ack" else str(message)
            except websockets.ConnectionClosed as closed:
                outcome = "refused" if closed.rcvd and closed.rcvd.code == 4403 else str(closed)
            assert outcome == expected, origin
        finally:
            await socket.close()


@pytest.fixture
async def cors_server(tmp_path: Path) -> AsyncIterator[tuple[LiveServer, dict[str, str]]]:
    store = await open_backend("sqlite", tmp_path)
    settings = Settings(cors_origin="https://app.example, https://ops.example/")
    server = await LiveServer(store, settings).start()
    try:
        _, secret = await tokens.create_token(server.app.state.ctx, "admin", ["admin"])
        yield server, {"authorization": f"Bearer {secret}"}
    finally:
        await server.stop()
        await store.close()


def preflight(origin: str) -> dict[str, Any]:
    return {
        "origin": origin,
        "access-control-request-method": "PUT",
        "access-control-request-headers": "authorization, content-type",
    }


async def test_no_cors_headers_by_default(world: World) -> None:
    async with httpx.AsyncClient(base_url=world.server.http_url, timeout=10) as client:
        reply = await client.options("/task", headers=preflight("https://app.example"))
        assert not [h for h in reply.headers if h.startswith("access-control-")]
        own = await client.get(
            "/status", headers={**world.headers("admin"), "origin": world.server.http_url}
        )
        assert own.status_code == 200
        assert not [h for h in own.headers if h.startswith("access-control-")]


async def test_cors_origin_allows_the_named_origins_only(
    cors_server: tuple[LiveServer, dict[str, str]],
) -> None:
    server, bearer = cors_server
    async with httpx.AsyncClient(base_url=server.http_url, timeout=10) as client:
        for origin in ("https://app.example", "https://ops.example"):
            reply = await client.options("/task", headers=preflight(origin))
            assert reply.status_code == 200, reply.text
            assert reply.headers["access-control-allow-origin"] == origin
            assert "PUT" in reply.headers["access-control-allow-methods"]
            assert "authorization" in reply.headers["access-control-allow-headers"].lower()
            assert "access-control-allow-credentials" not in reply.headers
            sent = {**bearer, "origin": origin}
            put = await client.put("/task", params={"publisher": "p", "data": "{}"}, headers=sent)
            assert put.status_code == 200, put.text
            assert put.headers["access-control-allow-origin"] == origin
        refused = await client.options("/task", headers=preflight("https://evil.example"))
        assert refused.status_code == 400
        assert refused.json()["error"]["code"] == "CORS_REFUSED"
        assert "access-control-allow-origin" not in refused.headers
        other = await client.get("/status", headers={**bearer, "origin": "https://evil.example"})
        assert other.status_code == 403 and "access-control-allow-origin" not in other.headers


def test_cors_origin_flag_repeats_and_env_splits() -> None:
    args = build_parser().parse_args(
        ["serve", "--cors-origin", "https://a.example", "--cors-origin", "https://b.example"]
    )
    settings = Settings.from_env({}, cors_origin=args.cors_origin)
    assert settings.cors_origins() == ["https://a.example", "https://b.example"]
    env = Settings.from_env({"COUCHQUEUE_CORS_ORIGIN": "https://a.example,https://c.example/"})
    assert env.cors_origins() == ["https://a.example", "https://c.example"]
    assert Settings().cors_origins() == []


@pytest.mark.parametrize("scheme", ["http", "https"])
def test_the_cookie_is_secure_when_served_over_https(scheme: str) -> None:
    scope = {
        "type": "http",
        "scheme": scheme,
        "method": "POST",
        "path": "/dashboard/session",
        "server": ("node.example", 443),
        "headers": [(b"host", b"node.example")],
        "query_string": b"",
    }
    assert cookie_options(Request(scope))["secure"] is (scheme == "https")
