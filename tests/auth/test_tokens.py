"""Tokens end to end: worker ownership, websockets, the 429 after bad tokens, what the store
keeps, the CLI and protected mode."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
import websockets

from app.cli import protected_mode_refusal
from app.settings import Settings
from resolvers.tokens import secret_hash
from tests.auth.conftest import World, make_world
from tests.conftest import open_backend
from tests.push.conftest import LiveServer

ENV = {**os.environ}


async def test_a_worker_belongs_to_the_token_that_registered_it(world: World) -> None:
    async with httpx.AsyncClient(base_url=world.server.http_url, timeout=10) as client:
        other = world.headers("other-worker")
        wid = world.worker_id
        report = {"workerId": wid, "taskId": world.task_id, "state": "complete"}
        calls = [
            ("GET", "/task", {"workerId": wid}),
            ("POST", "/task", report),
            ("POST", "/tasks", {"workerId": wid, "reports": '[{"taskId": "x", "state": "fail"}]'}),
            ("PUT", "/worker/heartbeat", {"workerId": wid}),
            ("DELETE", "/worker", {"workerId": wid}),
        ]
        before = await world.snapshot()
        for method, path, params in calls:
            reply = await client.request(method, path, params=params, headers=other)
            assert reply.status_code == 403, (path, reply.text)
            assert reply.json()["error"]["code"] == "FORBIDDEN"
        reply = await client.delete(
            "/worker", params={"queue": "q"}, headers=world.headers("worker")
        )
        assert reply.status_code == 403
        assert await world.snapshot() == before
        # Its own token, and an admin, may.
        mine = await client.get("/task", params={"workerId": wid}, headers=world.headers("worker"))
        assert mine.json()["taskId"] == world.task_id
        beat = await client.put(
            "/worker/heartbeat", params={"workerId": wid}, headers=world.headers("admin")
        )
        assert beat.status_code == 200
        # A worker the other token registers is its own.
        made = await client.put("/worker", params={"queues": '["q"]'}, headers=other)
        stored = await world.store.get_worker(made.json()["workerId"])
        assert stored is not None and stored.owner == "other-worker"
    claim = f'mutation {{ claimTask(workerId: "{wid}") {{ taskId }} }}'
    errors = (await world.graphql("other-worker", claim)).json()["errors"]
    assert [e["extensions"]["code"] for e in errors] == ["FORBIDDEN"]
    socket = await world.socket("other-worker")
    try:
        assert json.loads(await socket.recv())["type"] == "connection_ack"
        query = f'subscription {{ tasks(workerId: "{wid}") {{ taskId }} }}'
        await socket.send(json.dumps({"id": "1", "type": "subscribe", "payload": {"query": query}}))
        message = json.loads(await socket.recv())
        assert "FORBIDDEN" in json.dumps(message), message
    finally:
        await socket.close()


async def test_websockets_take_the_token_from_init_or_header_else_close_4403(
    world: World,
) -> None:
    for caller, via_header in (("viewer", False), ("viewer", True)):
        socket = await world.socket(caller, via_header=via_header)
        assert json.loads(await socket.recv())["type"] == "connection_ack"
        await socket.close()
    for caller in (None, "revoked"):
        socket = await world.socket(caller)
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await socket.recv()
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4403
        assert closed.value.rcvd.reason == "Forbidden"


async def test_graphql_tokens_show_the_secret_once_and_revoke_at_once(world: World) -> None:
    made = await world.graphql(
        "admin",
        'mutation { createToken(name: "ci", roles: ["publisher"]) '
        "{ secret token { name roles } } }",
    )
    created = made.json()["data"]["createToken"]
    assert created["token"] == {"name": "ci", "roles": ["publisher"]}
    secret = created["secret"]
    listed = await world.graphql("admin", "{ tokens { name roles createdAt lastUsedAt } }")
    assert secret not in listed.text and "ci" in listed.text
    publish = 'mutation { publishTask(input: {publisher: "p", data: {}}) { eventId } }'
    world.secrets["ci"] = secret
    assert (await world.graphql("ci", publish)).status_code == 200
    again = await world.graphql(
        "admin", 'mutation { createToken(name: "ci", roles: ["viewer"]) { secret } }'
    )
    assert again.json()["errors"][0]["extensions"]["code"] == "TOKEN_EXISTS"
    bad = await world.graphql(
        "admin", 'mutation { createToken(name: "x", roles: ["boss"]) { secret } }'
    )
    assert bad.json()["errors"][0]["extensions"]["code"] == "INVALID_PARAMETER"
    await world.graphql("admin", 'mutation { revokeToken(name: "ci") }')
    assert (await world.graphql("ci", publish)).status_code == 401


async def test_the_store_keeps_no_secret(world: World, tmp_path: Path) -> None:
    files = sorted(tmp_path.glob("couchqueue.db*"))  # noqa: ASYNC240
    raw = b"".join(p.read_bytes() for p in files)
    with sqlite3.connect(tmp_path / "couchqueue.db") as conn:
        rows = conn.execute("SELECT * FROM tokens").fetchall()
    assert {row[0] for row in rows} >= {"admin", "viewer", "worker", "publisher"}
    for secret in world.secrets.values():
        assert secret.encode() not in raw
        assert all(secret not in str(row) for row in rows)
        assert any(secret_hash(secret) in row for row in rows) or secret == world.secrets["revoked"]


async def test_repeated_bad_tokens_from_one_address_get_429(tmp_path: Path) -> None:
    store = await open_backend("sqlite", tmp_path)
    server = await LiveServer(store, Settings(auth_failure_limit=3)).start()
    try:
        ctx = server.app.state.ctx
        from resolvers.tokens import create_token

        _, secret = await create_token(ctx, "admin", ["admin"])
        async with httpx.AsyncClient(base_url=server.http_url, timeout=10) as client:
            bad = {"authorization": "Bearer cq_wrong"}
            codes = [(await client.get("/status", headers=bad)).status_code for _ in range(4)]
            assert codes == [401, 401, 401, 429]
            good = await client.get("/status", headers={"authorization": f"Bearer {secret}"})
            assert good.status_code == 429 and int(good.headers["retry-after"]) > 0
            assert good.json()["error"]["code"] == "TOO_MANY_REQUESTS"
            assert (await client.get("/healthz")).status_code == 200
    finally:
        await server.stop()
        await store.close()


async def test_the_first_token_turns_auth_on(tmp_path: Path) -> None:
    store = await open_backend("sqlite", tmp_path)
    server = await LiveServer(store, Settings(token_cache_seconds=0)).start()
    try:
        async with httpx.AsyncClient(base_url=server.http_url, timeout=10) as client:
            assert (await client.get("/status")).status_code == 200
            query = 'mutation { createToken(name: "root", roles: ["admin"]) { secret } }'
            reply = await client.post("/graphql", json={"query": query})
            secret = reply.json()["data"]["createToken"]["secret"]
            refused = await client.get("/status")
            assert refused.status_code == 401 and refused.headers["www-authenticate"] == "Bearer"
            assert refused.json()["error"]["code"] == "UNAUTHENTICATED"
            assert secret not in refused.text
            ok = await client.get("/status", headers={"authorization": f"Bearer {secret}"})
            assert ok.status_code == 200
    finally:
        await server.stop()
        await store.close()


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "app", *args],
        capture_output=True,
        text=True,
        env={**ENV, **(env or {})},
        timeout=60,
    )


def test_cli_creates_lists_and_revokes_tokens(tmp_path: Path) -> None:
    store = f"sqlite:///{tmp_path / 'cli.db'}"
    made = _cli(
        "token", "create", "--store", store, "--name", "ops", "--role", "admin", "--role", "viewer"
    )
    assert made.returncode == 0, made.stderr
    [secret] = made.stdout.splitlines()
    assert secret.startswith("cq_") and len(secret) > 40
    taken = _cli("token", "create", "--store", store, "--name", "ops", "--role", "viewer")
    assert taken.returncode == 2 and "exists already" in taken.stderr and not taken.stdout
    unknown = _cli("token", "create", "--store", store, "--name", "x", "--role", "boss")
    assert unknown.returncode == 2 and "invalid choice: 'boss'" in unknown.stderr
    listed = _cli("token", "list", env={"COUCHQUEUE_STORE": store})
    assert listed.returncode == 0
    assert "ops" in listed.stdout and "admin,viewer" in listed.stdout and "never" in listed.stdout
    assert secret not in listed.stdout
    assert _cli("token", "revoke", "--store", store, "ops").returncode == 0
    gone = _cli("token", "revoke", "--store", store, "ops")
    assert gone.returncode == 1 and "no token named 'ops'" in gone.stderr
    assert "ops" not in _cli("token", "list", "--store", store).stdout


def test_protected_mode_refuses_a_public_address_without_tokens(tmp_path: Path) -> None:
    store = f"sqlite:///{tmp_path / 'p.db'}"
    refused = _cli("serve", "--store", store, "--host", "0.0.0.0", "--port", "1")
    assert refused.returncode != 0
    assert "couchqueue token create" in refused.stderr
    assert protected_mode_refusal(Settings(store=store, host="0.0.0.0")) is not None
    assert protected_mode_refusal(Settings(store=store, host="127.0.0.1")) is None
    assert protected_mode_refusal(Settings(store=store, host="::1")) is None
    overridden = Settings.from_env(
        {"COUCHQUEUE_INSECURE_NO_AUTH": "1"}, store=store, host="0.0.0.0"
    )
    assert overridden.insecure_no_auth and protected_mode_refusal(overridden) is None
    assert not Settings.from_env({"COUCHQUEUE_INSECURE_NO_AUTH": "0"}).insecure_no_auth
    assert (
        _cli("token", "create", "--store", store, "--name", "a", "--role", "admin").returncode == 0
    )
    assert protected_mode_refusal(Settings(store=store, host="0.0.0.0")) is None


def test_insecure_no_auth_flag_is_parsed() -> None:
    from app.cli import build_parser

    args = build_parser().parse_args(["serve", "--insecure-no-auth"])
    assert args.insecure_no_auth is True
    assert build_parser().parse_args(["serve"]).insecure_no_auth is None


__all__ = ["make_world"]


async def test_follow_ups_need_the_publisher_role(world: World) -> None:
    """A completion's follow-up events are publishes: a worker-only token may complete, but
    not publish with it (issue 16)."""
    wid, tid = world.worker_id, world.task_id
    async with httpx.AsyncClient(base_url=world.server.http_url, timeout=10) as client:
        worker = world.headers("worker")
        claimed = await client.get("/task", params={"workerId": wid}, headers=worker)
        assert claimed.json()["taskId"] == tid
        before = await world.snapshot()
        follow = {"workerId": wid, "taskId": tid, "state": "complete"}
        follow["publish"] = [{"publisher": "p", "data": {"n": 2}}]
        refused = await client.post("/task", json=follow, headers=worker)
        assert refused.status_code == 403 and refused.json()["error"]["code"] == "FORBIDDEN"
        assert await world.snapshot() == before
        done = await client.post("/task", json={**follow, "publish": []}, headers=worker)
        assert done.json()["state"] == "completed"
