"""The Store contract for bearer tokens and worker owners: every backend must pass these."""

from __future__ import annotations

import asyncio
from pathlib import Path

from resolvers.access import ApiToken
from resolvers.models import Worker
from resolvers.store import Store
from tests.conftest import open_backend
from tests.store.factories import NOW


def token(name: str, roles: list[str] | None = None) -> ApiToken:
    return ApiToken(name=name, secret_hash="h-" + name, roles=roles or ["worker"], created_at=NOW)


async def test_tokens_are_added_listed_by_name_and_deleted(store: Store) -> None:
    assert await store.list_tokens() == []
    assert await store.add_token(token("b", ["admin", "viewer"]))
    assert await store.add_token(token("a"))
    listed = await store.list_tokens()
    assert [t.name for t in listed] == ["a", "b"]
    assert listed[1] == token("b", ["admin", "viewer"])
    assert await store.delete_token("a")
    assert not await store.delete_token("a")
    assert [t.name for t in await store.list_tokens()] == ["b"]


async def test_a_token_name_is_taken_once_even_concurrently(store: Store) -> None:
    results = await asyncio.gather(*(store.add_token(token("same", [str(n)])) for n in range(8)))
    assert sorted(results) == [False] * 7 + [True]
    [stored] = await store.list_tokens()
    assert stored.roles == [str(results.index(True))]


async def test_token_used_moves_last_used_forward_only(store: Store) -> None:
    await store.add_token(token("t"))
    await store.token_used("t", NOW + 10)
    await store.token_used("t", NOW + 5)
    await store.token_used("gone", NOW + 10)
    [stored] = await store.list_tokens()
    assert stored.last_used_at == NOW + 10


async def test_tokens_are_seen_by_another_store_on_the_same_data(
    store: Store, backend: str, tmp_path: Path
) -> None:
    other = await open_backend(backend, tmp_path)
    try:
        await store.add_token(token("shared"))
        assert [t.name for t in await other.list_tokens()] == ["shared"]
        assert await other.delete_token("shared")
        assert await store.list_tokens() == []
    finally:
        await other.close()


async def test_a_worker_keeps_its_owner(store: Store) -> None:
    owned = Worker(worker_id="w1", queues=["q"], registered_at=NOW, last_seen=NOW, owner="tok")
    await store.add_worker(owned)
    await store.add_worker(Worker(worker_id="w2", queues=["q"], registered_at=NOW + 1))
    got = await store.get_worker("w1")
    assert got is not None and got.owner == "tok"
    assert [w.owner for w in await store.list_workers("q")] == ["tok", None]
    assert [w.owner for w in await store.list_workers()] == ["tok", None]
