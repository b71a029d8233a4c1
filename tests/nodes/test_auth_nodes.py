"""Two real nodes over one SQLite store: a token created or revoked through one is honoured by
the other within a second (each node trusts its copy of the token set for at most 0.5 s)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

import httpx

from tests.nodes.server import ServerNode

CREATE = "mutation($n: String!, $r: [String!]!) { createToken(name: $n, roles: $r) { secret } }"


async def _within(seconds: float, check: Callable[[], Awaitable[bool]]) -> float:
    """How long until ``check`` holds; fails after ``seconds``."""
    started = time.monotonic()
    while not await check():
        assert time.monotonic() - started < seconds, "not honoured in time"
        await asyncio.sleep(0.02)
    return time.monotonic() - started


async def test_tokens_made_or_revoked_on_one_node_hold_on_the_other_within_a_second(
    node_factory: Callable[..., ServerNode],
) -> None:
    a, b = node_factory(), node_factory()
    async with httpx.AsyncClient(timeout=10) as client:

        async def create(node: ServerNode, name: str, role: str, secret: str | None) -> str:
            headers = {"authorization": f"Bearer {secret}"} if secret else {}
            reply = await client.post(
                f"{node.url}/graphql",
                json={"query": CREATE, "variables": {"n": name, "r": [role]}},
                headers=headers,
            )
            return str(reply.json()["data"]["createToken"]["secret"])

        async def status(node: ServerNode, secret: str | None) -> int:
            headers = {"authorization": f"Bearer {secret}"} if secret else {}
            return (await client.get(f"{node.url}/status", headers=headers)).status_code

        assert await status(b, None) == 200  # no token anywhere: auth is off
        admin = await create(a, "admin", "admin", None)
        await _within(1.0, lambda: _is(status(b, None), 401))
        viewer = await create(a, "viewer", "viewer", admin)
        await _within(1.0, lambda: _is(status(b, viewer), 200))

        revoke = 'mutation { revokeToken(name: "viewer") }'
        headers = {"authorization": f"Bearer {admin}"}
        reply = await client.post(f"{b.url}/graphql", json={"query": revoke}, headers=headers)
        assert reply.json() == {"data": {"revokeToken": True}}
        await _within(1.0, lambda: _is(status(a, viewer), 401))
        assert await status(a, admin) == 200


async def _is(reply: Awaitable[int], expected: int) -> bool:
    return await reply == expected


async def test_a_dashboard_session_from_one_node_holds_on_the_other_until_revoked(
    node_factory: Callable[..., ServerNode],
) -> None:
    a, b = node_factory(), node_factory()
    async with httpx.AsyncClient(timeout=10) as client:

        async def create(name: str, role: str, headers: dict[str, str]) -> str:
            variables = {"n": name, "r": [role]}
            query = {"query": CREATE, "variables": variables}
            reply = await client.post(f"{a.url}/graphql", json=query, headers=headers)
            return str(reply.json()["data"]["createToken"]["secret"])

        bearer = {"authorization": f"Bearer {await create('admin', 'admin', {})}"}
        viewer = await create("ops", "viewer", bearer)

        async def signed_in() -> str | None:
            reply = await client.post(
                f"{a.url}/dashboard/session", json={"token": viewer}, headers={"origin": a.url}
            )
            return reply.cookies.get("couchqueue_session") if reply.status_code == 200 else None

        await _within(1.0, lambda: _has(signed_in()))
        session = await signed_in()
        cookie = {"cookie": f"couchqueue_session={session}"}

        async def status_on_b() -> int:
            return (await client.get(f"{b.url}/status", headers=cookie)).status_code

        await _within(1.0, lambda: _is(status_on_b(), 200))
        revoke = 'mutation { revokeToken(name: "ops") }'
        await client.post(f"{a.url}/graphql", json={"query": revoke}, headers=bearer)
        await _within(1.0, lambda: _is(status_on_b(), 401))


async def _has(value: Awaitable[str | None]) -> bool:
    return await value is not None
