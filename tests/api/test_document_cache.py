"""The parse and validation cache is bounded by bytes, and keeps no large document.

Strawberry's caches counted entries: a hundred distinct 750 KB documents grew the process
from 56 MB to 5 GB and kept it. SQLite only: the cache is GraphQL's, not the store's.
"""

from __future__ import annotations

import gc
import tracemalloc

import httpx
import pytest
from graphql import parse

from schema.document_cache import BYTES_PER_TOKEN, DocumentCache, weight_of


@pytest.fixture
def backend() -> str:
    return "sqlite"


def document(n: int, fields: int = 10) -> str:
    return "{" + " ".join(f"a{n}_{i}: __typename" for i in range(fields)) + "}"


def test_weight_counts_the_tokens() -> None:
    query = document(0)
    parsed = parse(query)
    assert weight_of(query, parsed) == len(query) + BYTES_PER_TOKEN * parsed.token_count


def test_least_recently_used_goes_first_and_the_total_stays_bounded() -> None:
    one = weight_of(document(0), parse(document(0)))
    cache = DocumentCache(max_bytes=3 * one, max_document_bytes=10_000)
    for n in range(3):
        cache.put(document(n), parse(document(n)))
    assert cache.get(document(0)) is not None  # now the most recently used
    cache.put(document(3), parse(document(3)))
    assert len(cache) == 3 and cache.total <= cache.max_bytes
    assert cache.get(document(1)) is None
    assert all(cache.get(document(n)) is not None for n in (0, 2, 3))
    for n in range(100):
        cache.put(document(n, fields=n % 7 + 1), parse(document(n, fields=n % 7 + 1)))
        assert cache.total <= cache.max_bytes
    assert cache.total == sum(entry.weight for entry in cache._entries.values())


def test_a_document_over_the_size_is_not_kept() -> None:
    cache = DocumentCache(max_bytes=10**9, max_document_bytes=100)
    long = document(0, fields=20)
    assert len(long) > 100
    entry = cache.put(long, parse(long))
    assert entry.document is not None and len(cache) == 0 and cache.total == 0
    assert cache.get(long) is None


async def test_large_documents_are_not_kept_by_a_node(http: httpx.AsyncClient) -> None:
    """Twenty distinct 40 KB documents (few tokens: one long string) leave nothing behind."""
    http.timeout = 30

    async def send(n: int) -> None:
        query = f'{{ queue(name: "{n:04}{"x" * 40_000}") {{ name }} }}'
        reply = await http.post("/graphql", json={"query": query})
        assert reply.status_code == 200 and reply.json()["data"] == {"queue": None}

    await send(0)  # warm up whatever a first request sets up
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for n in range(1, 21):
            await send(n)
        gc.collect()
        kept = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    # Kept, each would hold its text twice (the query and the string's value): 1.6 MB.
    assert kept < 400_000, kept
