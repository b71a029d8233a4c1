"""What one GraphQL document may ask for: each limit refuses past it, with a 400 naming it,
in time linear in the document's size; documents within every limit run as before.

The limits are GraphQL's, not the store's: these tests run on SQLite only.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from graphql import get_introspection_query

from app.asgi import create_app
from app.settings import Settings
from resolvers.store import Store
from tests.api import hostile
from tests.api.conftest import TEST_SETTINGS
from tests.conftest import FakeClock

# Generous for a loaded 2-core machine; each document is answered in a few milliseconds
# alone, and the shapes below took from seconds to hours before the limits.
QUICK = 1.0
DEFAULTS = Settings()


@pytest.fixture
def backend() -> str:
    return "sqlite"


async def client_for(
    settings: Settings, store: Store, clock: FakeClock
) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings, store=store, clock=clock, start_duties=False)
    async with LifespanManager(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as client:
            yield client


@pytest.fixture
async def roomy(store: Store, clock: FakeClock) -> AsyncIterator[httpx.AsyncClient]:
    """An app taking bodies up to the default 1 MiB, as a node does out of the box."""
    settings = Settings(queue_cache_seconds=0)
    async for client in client_for(settings, store, clock):
        yield client


async def post(http: httpx.AsyncClient, query: str, **variables: Any) -> httpx.Response:
    return await http.post("/graphql", json={"query": query, "variables": variables})


async def refused_quickly(http: httpx.AsyncClient, query: str, code: str) -> str:
    """``query`` is answered 400 with ``code`` within QUICK seconds of this process's CPU
    time (the app runs in it; wall time would measure the machine's other load); its message."""
    started = time.process_time()
    reply = await post(http, query)
    elapsed = time.process_time() - started
    assert reply.status_code == 400, reply.text[:300]
    errors = reply.json()["errors"]
    assert {error["extensions"]["code"] for error in errors} == {code}, errors
    assert elapsed < QUICK, f"answered in {elapsed:.3f} s of CPU"
    return str(errors[0]["message"])


def code_of(reply: httpx.Response) -> str | None:
    errors = reply.json().get("errors")
    return errors[0]["extensions"]["code"] if errors else None


@pytest.mark.parametrize("shape", hostile.SHAPES, ids=lambda s: s.name)
async def test_hostile_small_documents_are_refused_quickly(
    http: httpx.AsyncClient, shape: hostile.Shape
) -> None:
    """Issue 12's bar: a 1.2 KB document of any shape is answered within 50 ms (here within
    QUICK, for a loaded machine; the fragment bomb alone took minutes)."""
    query = shape.document(1200)
    assert len(query) <= 1200
    await refused_quickly(http, query, shape.code)


@pytest.mark.parametrize(
    ("document", "size"),
    [
        (hostile.directives, 700_000),  # 40,000 @include
        (hostile.arguments, 600_000),  # 40,000 unknown arguments
        (hostile.duplicate_fields, 300_000),  # 20,000 duplicate fields
        (hostile.unused_variables, 250_000),  # 20,000 unused variables
        (hostile.comments, 600_000),  # 300,000 comments (3 bytes each in JSON)
    ],
    ids=lambda value: getattr(value, "__name__", str(value)),
)
async def test_large_documents_stop_at_the_token_limit(
    roomy: httpx.AsyncClient, document: Callable[[int], str], size: int
) -> None:
    """Under the 1 MB body limit these held the event loop 4-13 s; parsing now stops at the
    token limit, before anything else looks at them."""
    message = await refused_quickly(roomy, document(size), "TOO_MANY_TOKENS")
    assert str(DEFAULTS.graphql_max_tokens) in message


async def test_a_thousand_root_mutations_are_refused_not_a_recursion_error(
    store: Store, clock: FakeClock
) -> None:
    """~970 root fields in a mutation ended in a RecursionError (an internal error); the
    root-field limit refuses it, whatever the other limits are."""
    mutation = "mutation{" + " ".join(f'm{n}:deleteTasks(queue:"q")' for n in range(970)) + "}"
    lax = Settings(
        graphql_max_tokens=100_000,
        graphql_max_fields=10_000,
        graphql_max_aliases=10_000,
        graphql_max_arguments=10_000,
    )
    async for client in client_for(lax, store, clock):
        await refused_quickly(client, mutation, "TOO_MANY_ROOT_FIELDS")
    async for client in client_for(DEFAULTS, store, clock):
        await refused_quickly(client, mutation, "TOO_MANY_TOKENS")


def aliased_pages(count: int, first: str) -> str:
    pages = " ".join(f"a{n}:tasks(first:{first}){{tasks{{data}}}}" for n in range(count))
    head = "query($first: Int)" if first.startswith("$") else "query"
    return f"{head}{{{pages}}}"


async def test_cost_counts_the_page_size(store: Store, clock: FakeClock) -> None:
    """100 aliases of tasks(first:1000) took 4 s and answered 7 MB. Past the counting
    limits, the cost refuses it: a page counts `first` items (the page ceiling when `first`
    is a variable); the same document asking for 10 items a page runs."""
    lax = Settings(graphql_max_aliases=1000, graphql_max_fields=1000, graphql_max_root_fields=1000)
    async for client in client_for(lax, store, clock):
        message = await refused_quickly(client, aliased_pages(100, "1000"), "QUERY_TOO_COMPLEX")
        assert "costs more than the 50000 allowed" in message
        await refused_quickly(client, aliased_pages(100, "$first"), "QUERY_TOO_COMPLEX")
        reply = await post(client, aliased_pages(100, "10"))
        assert reply.status_code == 200 and code_of(reply) is None, reply.text[:300]
    async for client in client_for(DEFAULTS, store, clock):
        await refused_quickly(client, aliased_pages(100, "1000"), "TOO_MANY_FIELDS")


def many(count: int, item: Callable[[int], str], sep: str = " ") -> str:
    return sep.join(item(n) for n in range(count))


LIMIT_CASES = [
    # (code, setting, document with n of what the setting counts)
    ("TOO_MANY_ALIASES", "graphql_max_aliases",
     lambda n: "{" + many(n, lambda i: f"a{i}:__typename") + "}"),
    ("TOO_MANY_DIRECTIVES", "graphql_max_directives",
     lambda n: "{__typename" + many(n, lambda i: "@skip(if:false)", "") + "}"),
    ("TOO_MANY_ARGUMENTS", "graphql_max_arguments",
     lambda n: "{tasks(" + many(n, lambda i: "first:1") + "){nextCursor}}"),
    ("TOO_MANY_VARIABLES", "graphql_max_variables",
     lambda n: "query(" + many(n, lambda i: f"$v{i}:Int") + "){__typename}"),
    ("TOO_MANY_FIELDS", "graphql_max_fields",
     lambda n: "{status{" + many(n - 1, lambda i: "__typename") + "}}"),
    ("TOO_MANY_ROOT_FIELDS", "graphql_max_root_fields",
     lambda n: "query{...F} fragment F on Query{" + many(n, lambda i: "__typename") + "}"),
    ("TOO_DEEP", "graphql_max_depth",
     lambda n: "{" + "a{" * n + "b" + "}" * n + "}"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("code", "setting", "document"), LIMIT_CASES, ids=[case[0] for case in LIMIT_CASES]
)
async def test_each_limit_refuses_just_past_it(
    http: httpx.AsyncClient, code: str, setting: str, document: Callable[[int], str]
) -> None:
    """At the limit the document is not refused for it; one more and it is, naming it."""
    limit = getattr(TEST_SETTINGS, setting)
    at_limit = await post(http, document(limit))
    assert code_of(at_limit) != code, at_limit.text[:300]
    message = await refused_quickly(http, document(limit + 1), code)
    assert str(limit) in message


async def test_fragment_spreads_count_as_fields(http: httpx.AsyncClient) -> None:
    """OverlappingFieldsCanBeMerged compares a selection's spreads in pairs: 190 spreads of
    one-field fragments took 160 ms to validate."""
    spreads = many(190, lambda i: f"...F{i}")
    fragments = many(190, lambda i: f"fragment F{i} on Summary{{queues}}")
    message = await refused_quickly(http, f"{{status{{{spreads}}}}} {fragments}", "TOO_MANY_FIELDS")
    assert "381 fields and fragment spreads" in message


async def test_token_limit(http: httpx.AsyncClient) -> None:
    limit = TEST_SETTINGS.graphql_max_tokens
    # "{", "}" and one name per field: limit tokens in all, then one more.
    within = "{" + many(limit - 2, lambda i: "__typename") + "}"
    assert code_of(await post(http, within)) != "TOO_MANY_TOKENS"
    await refused_quickly(http, within + "#", "TOO_MANY_TOKENS")


async def test_depth_counts_as_before(http: httpx.AsyncClient) -> None:
    """Root fields are level 0, as Strawberry's depth limiter counted: workers.tasks.failures
    is level 2, so 10 allows it; nesting past 10 is refused."""
    reply = await post(http, "{workers{tasks{failures{reason}}}}")
    assert reply.status_code == 200 and code_of(reply) is None, reply.text
    deep = "{" + "workers{tasks{failures{" * 4 + "reason" + "}}}" * 4 + "}"
    await refused_quickly(http, deep, "TOO_DEEP")


async def test_introspection_runs(http: httpx.AsyncClient) -> None:
    """GraphiQL's introspection query is within every limit (its TypeRef nests past the
    depth limit: introspection fields are not counted for depth, but are for cost)."""
    reply = await post(http, get_introspection_query(descriptions=True))
    assert reply.status_code == 200 and code_of(reply) is None, reply.text[:300]
    assert reply.json()["data"]["__schema"]["queryType"]["name"] == "Query"


async def test_fragment_cycle_is_refused_quickly(http: httpx.AsyncClient) -> None:
    """A cycle of fragments, each spreading the next twice, is measured without looping and
    refused by graphql-core's NoFragmentCyclesRule."""
    query = (
        "query{...A} fragment A on Query{...B ...B status{queues}} "
        "fragment B on Query{...C ...C} fragment C on Query{...A ...A}"
    )
    message = await refused_quickly(http, query, "GRAPHQL_VALIDATION_FAILED")
    assert "within itself" in message


async def test_refused_documents_answer_400(http: httpx.AsyncClient) -> None:
    """GraphQL over HTTP: a document refused before it ran answers 400, not 200; one that ran
    answers 200 even with errors."""
    assert (await post(http, "{ status { queues ")).status_code == 400
    assert (await post(http, "{ nope }")).status_code == 400
    ran = await post(http, 'mutation { deleteWorker(id: "nobody") }')
    assert ran.status_code == 200, ran.text


@pytest.mark.parametrize("body", [b"null", b"1", b'"x"', b"true", b"  false"])
async def test_a_json_body_that_is_not_an_object_is_bad_input(
    http: httpx.AsyncClient, body: bytes
) -> None:
    """These answered 500 (Strawberry called .get() on them)."""
    reply = await http.post("/graphql", content=body, headers={"content-type": "application/json"})
    assert reply.status_code == 400, reply.text
    [error] = reply.json()["errors"]
    assert error["extensions"]["code"] == "BAD_REQUEST"
    assert "object" in error["message"]
