"""Fuzzing every REST route and every GraphQL mutation and query with hypothesis: whatever a
client sends, the answer is never a 5xx nor a GraphQL INTERNAL_ERROR, and every error has the
documented shape.

The app runs in-process over SQLite, built once for the module, with a world of queues,
workers and tasks whose names and ids the generated requests often use, so that requests get
past the first checks. Values are of the right type and of the wrong one: huge numbers,
NaN-ish and empty strings, very long ones, deeply nested JSON, lone surrogates and bytes that
are not UTF-8. Runs are derandomized (the same examples on every run) and bounded:
FUZZ_EXAMPLES examples per route or operation. GraphQL requests are always well-formed
envelopes (an object with a query and variables); GraphQL documents are built from the
schema, so they are valid ones.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote_from_bytes

import httpx
import pytest
from asgi_lifespan import LifespanManager
from graphql import (
    GraphQLEnumType,
    GraphQLField,
    GraphQLInputObjectType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLScalarType,
    GraphQLType,
    build_schema,
    get_named_type,
)
from hypothesis import HealthCheck, given, note, seed, settings
from hypothesis import strategies as st

from app.asgi import create_app
from app.store.sqlite import SqliteStore
from schema import schema
from tests.api.client import RestApi
from tests.api.conftest import TEST_SETTINGS
from tests.conftest import FakeClock

# Examples per route or operation, and the seed: CI runs the same examples every time; a longer
# hunt for bugs sets more examples and a seed of its own.
FUZZ_EXAMPLES = int(os.environ.get("COUCHQUEUE_FUZZ_EXAMPLES", "150"))
FUZZ_SEED = os.environ.get("COUCHQUEUE_FUZZ_SEED")
# Long-poll claims wait at most 50 ms here (a longer waitSeconds is refused), so that no
# example sleeps.
FUZZ_SETTINGS = dataclasses.replace(TEST_SETTINGS, max_wait_seconds=0.05)


def fuzzing(test: Callable[..., None]) -> Callable[..., None]:
    """Hypothesis' settings for every fuzz test."""
    configured = settings(
        max_examples=FUZZ_EXAMPLES,
        derandomize=FUZZ_SEED is None,
        database=None,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
        print_blob=True,
    )(test)
    return configured if FUZZ_SEED is None else seed(int(FUZZ_SEED))(configured)


# -- the app and its world -------------------------------------------------------------------


@dataclass
class World:
    queues: list[str] = field(default_factory=lambda: ["emails", "audit", "jobs"])
    workers: list[str] = field(default_factory=list)
    tasks: list[str] = field(default_factory=list)


class Harness:
    """The app on its own event loop (hypothesis runs each example synchronously)."""

    def __init__(self, directory: Path) -> None:
        self.runner = asyncio.Runner()
        self.runner.run(self._start(directory))

    async def _start(self, directory: Path) -> None:
        self.store = await SqliteStore.open(f"sqlite:///{directory / 'fuzz.db'}")
        app = create_app(FUZZ_SETTINGS, store=self.store, clock=FakeClock(), start_duties=False)
        self.app = app
        self.lifespan = LifespanManager(app)
        await self.lifespan.__aenter__()
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        self.http = httpx.AsyncClient(transport=transport, base_url="http://couchqueue")

    def world(self) -> World:
        """Queues with interests, two new workers, and tasks queued, started and failed: what
        the examples before may have deleted is there again."""
        return self.runner.run(self._world())

    async def _world(self) -> World:
        world = World()
        rest = RestApi(self.http)
        await rest.set_interests("emails", {"email": "@"})
        await rest.set_interests("audit", "*")
        await rest.set_interests("jobs", {"job": "."})
        for queue in world.queues:
            await rest.resume(queue)
        for name in ("a", "b"):
            worker = await rest.register_worker(["emails", "audit"], name=name)
            world.workers.append(worker["workerId"])
        for n in range(4):
            published = await rest.publish("p", {"email": f"u{n}@x", "job": n})
            world.tasks += [t["taskId"] for t in published["tasks"]]
        claimed = await rest.claim(world.workers[0])
        if claimed is not None:  # else an example before left the queues handing out nothing
            await rest.fail(world.workers[0], claimed["taskId"], "boom")
            await rest.claim(world.workers[0])
        return world

    def close(self) -> None:
        async def stop() -> None:
            await self.http.aclose()
            await self.lifespan.__aexit__(None, None, None)
            await self.store.close()

        self.runner.run(stop())
        self.runner.close()

    def request(self, method: str, path: str, **kw: Any) -> httpx.Response:
        return self.runner.run(self.http.request(method, path, **kw))

    def raw(self, method: str, path: str, query: bytes, body: bytes, content_type: str) -> Reply:
        """A request straight to the ASGI app, as a server passes it: bytes that no client
        library would send (in a query string too) stay as they are."""
        return self.runner.run(self._raw(method, path, query, body, content_type))

    async def _raw(
        self, method: str, path: str, query: bytes, body: bytes, content_type: str
    ) -> Reply:
        sent: list[dict[str, Any]] = []

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": body, "more_body": False}

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        headers = [(b"host", b"couchqueue"), (b"content-length", str(len(body)).encode())]
        if content_type:
            headers.append((b"content-type", content_type.encode("latin-1")))
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": method,
            "scheme": "http",
            "path": path,
            "raw_path": path.encode(),
            "root_path": "",
            "query_string": query,
            "headers": headers,
            "client": ("127.0.0.1", 1),
            "server": ("couchqueue", 80),
            "state": {},
        }
        await self.app(scope, receive, send)
        return Reply(sent[0]["status"], b"".join(m.get("body", b"") for m in sent[1:]))


@dataclass(frozen=True)
class Reply:
    status: int
    body: bytes


@pytest.fixture(scope="module")
def harness(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Harness]:
    running = Harness(tmp_path_factory.mktemp("fuzz"))
    try:
        yield running
    finally:
        running.close()


@pytest.fixture
def world(harness: Harness) -> World:
    return harness.world()


# -- values ----------------------------------------------------------------------------------

ANY_CHAR = st.characters(codec=None, categories=None)  # surrogates and controls included
NASTY_TEXT = st.sampled_from(
    [
        "", " ", "null", "None", "NaN", "nan", "-nan", "Infinity", "-Infinity", "inf", "1e308",
        "1e400", "-1", "0", "1", "1.5", "99999999999999999999", "true", "false", "yes", "*",
        "@", "a@b", "@worker:x", " emails", "emails ", "\x00", "\n", "{}", "[]", "[[[]]]",
        '{"a": 1}', '{"email": "("}', '"*"', "(", "(?=x)", "\\", "%ff", "\ud800", "\udfff",
        "💥", "é", "9" * 5000, "x" * 10_000, "complete", "fail", "any", "all",
    ]
)  # fmt: skip
TEXT = st.one_of(NASTY_TEXT, st.text(ANY_CHAR, max_size=40), st.text(max_size=300))
NUMBERS = st.one_of(
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0, -1, 1, 2**31, 2**63, 1e308, -1e308, 253402300800, 253402300799.5]),
)
SCALARS = st.one_of(st.none(), st.booleans(), NUMBERS, TEXT)


def deep(depth: int) -> Any:
    value: Any = {"email": "deep@x"}
    for n in range(depth):
        value = [value] if n % 2 else {"a": value}
    return value


JSON = st.one_of(
    st.recursive(
        SCALARS,
        lambda inner: st.one_of(
            st.lists(inner, max_size=4), st.dictionaries(TEXT, inner, max_size=4)
        ),
        max_leaves=12,
    ),
    st.sampled_from([deep(100), deep(300), {"email": "x" * 9000}]),
)


def good(world: World) -> dict[str, st.SearchStrategy[Any]]:
    """Plausible values, by parameter name, so that requests get past the first checks."""
    queue = st.sampled_from(world.queues)
    worker = st.sampled_from(world.workers)
    task = st.sampled_from(world.tasks)
    data = st.fixed_dictionaries({"email": st.just("u@x")}, optional={"job": SCALARS})
    time = st.floats(1_700_000_000, 1_900_000_000)
    return {
        "publisher": st.just("p"),
        "data": data,
        "runAt": time,
        "since": time,
        "until": time,
        "scope": st.sampled_from(["any", "all"]),
        "queue": queue,
        "name": queue,
        "queues": st.lists(queue, min_size=1, max_size=3),
        "workerId": worker,
        "id": worker,
        "workerQueue": worker,
        "taskId": task,
        "task": task,
        "taskIds": st.lists(task, max_size=3),
        "state": st.sampled_from(["complete", "fail"]),
        "interests": st.one_of(st.just("*"), st.dictionaries(TEXT, TEXT, max_size=3)),
        "cron": st.sampled_from(
            [
                "*/5 * * * *",
                "0 0 30 2 *",
                "0 0 29 2 *",
                "30 1 * * *",
                "H * * * *",
                "* * * * * *",
                "0 0 L * *",
                "0 0 * * 5#5",
                "@daily",
                "0 0 1 1 * 2020",
            ]
        ),
        "timezone": st.sampled_from(["UTC", "America/New_York", "Mars/Base", "", "../etc"]),
        "first": st.integers(-2, 2**31 - 1),
        "waitSeconds": st.sampled_from([0, 0.01, FUZZ_SETTINGS.max_wait_seconds]),
    }


def value_for(name: str, world: World) -> st.SearchStrategy[Any]:
    plausible = good(world).get(name)
    anything = st.one_of(SCALARS, JSON)
    return anything if plausible is None else st.one_of(plausible, plausible, anything)


# -- REST ------------------------------------------------------------------------------------

EVENT = ["publisher", "data", "runAt", "scope", "singularlyEnqueue", "singularlyRun", "uniqueKey"]
REPORT = ["taskId", "state", "failReason", "reEnqueue", "result", "publish"]
STATUS = [
    "queue", "queues", "workerQueue", "interests", "workers", "failedQueue", "task",
    "publisher", "reason", "since", "until", "first", "after",
]  # fmt: skip
ROUTES: list[tuple[str, str, list[str]]] = [
    ("PUT", "/task", EVENT),
    ("GET", "/task", ["workerId", "waitSeconds"]),
    ("GET", "/task/result", ["taskId", "waitSeconds"]),
    ("PUT", "/tasks", ["tasks"]),
    ("POST", "/tasks", ["workerId", "reports"]),
    ("POST", "/task", ["workerId", *REPORT]),
    ("DELETE", "/task", ["queue", "workerId"]),
    ("PUT", "/worker", ["queues", "name"]),
    ("DELETE", "/worker", ["workerId", "queue"]),
    ("PUT", "/worker/heartbeat", ["workerId", "taskIds"]),
    ("PUT", "/task/progress", ["workerId", "taskId", "progress"]),
    ("PUT", "/interest", ["queue", "interests"]),
    ("DELETE", "/interest", ["queue"]),
    ("DELETE", "/queue", ["queue"]),
    ("GET", "/status", STATUS),
]
ITEMS = {"tasks": EVENT, "reports": REPORT}
CONTENT_TYPES = [
    "text/plain", "application/xml", "application/json; charset=latin-1", "multipart/form-data",
    "application/x-www-form-urlencoded; charset=utf-8", "",
]  # fmt: skip


def params_for(names: list[str], world: World) -> st.SearchStrategy[dict[str, Any]]:
    optional: dict[str, st.SearchStrategy[Any]] = {}
    for name in names:
        if name in ITEMS:
            item = params_for(ITEMS[name], world)
            optional[name] = st.one_of(st.lists(item, max_size=4), value_for(name, world))
        else:
            optional[name] = value_for(name, world)
    return st.fixed_dictionaries({}, optional=optional)


def as_text(value: Any) -> bytes:
    """A parameter as a query string or form sends it: text as itself (lone surrogates too,
    so not UTF-8), the rest as JSON."""
    text = value if isinstance(value, str) else json.dumps(value)
    return text.encode("utf-8", "surrogatepass")


def urlencoded(params: dict[str, Any], raw: bool) -> bytes:
    pairs = [(k.encode(), as_text(v)) for k, v in params.items()]
    if raw:  # bytes as they are, not percent-escaped, where they do not break the syntax
        return b"&".join(k + b"=" + v.replace(b"&", b"%26").replace(b"=", b"%3D") for k, v in pairs)
    return b"&".join(quote_from_bytes(k) .encode() + b"=" + quote_from_bytes(v).encode()
                     for k, v in pairs)  # fmt: skip


def multipart(params: dict[str, Any]) -> bytes:
    parts = [
        b'--B\r\nContent-Disposition: form-data; name="%s"\r\n\r\n%s\r\n' % (k.encode(), as_text(v))
        for k, v in params.items()
    ]
    return b"".join(parts) + b"--B--\r\n"


@dataclass(frozen=True)
class RestRequest:
    query: bytes
    body: bytes
    content_type: str


@st.composite
def rest_requests(draw: st.DrawFn, names: list[str], world: World) -> RestRequest:
    """One request: parameters sent one of the ways REST reads them, or just bytes."""
    params = draw(params_for(names, world))
    how = draw(st.sampled_from(["json", "json", "query", "form", "raw-form", "multipart", "bytes"]))
    if how == "json":
        body = params if draw(st.integers(0, 9)) else draw(JSON)
        # NaN, Infinity and lone surrogates as Python's encoder sends them.
        return RestRequest(b"", json.dumps(body).encode(), "application/json")
    if how == "query":
        return RestRequest(urlencoded(params, raw=draw(st.booleans())), b"", "")
    if how in ("form", "raw-form"):
        form = urlencoded(params, raw=how == "raw-form")
        return RestRequest(b"", form, "application/x-www-form-urlencoded")
    if how == "multipart":
        return RestRequest(b"", multipart(params), "multipart/form-data; boundary=B")
    content_type = draw(st.sampled_from(CONTENT_TYPES))
    return RestRequest(draw(st.binary(max_size=60)), draw(st.binary(max_size=200)), content_type)


def check_rest(reply: Reply) -> None:
    assert reply.status < 500, reply.body
    body = json.loads(reply.body)
    if reply.status >= 400:
        assert set(body) == {"error"}, body
        assert set(body["error"]) == {"code", "message", "param"}, body
        assert body["error"]["code"] and body["error"]["message"], body


@pytest.mark.parametrize(
    ("method", "path", "names"), ROUTES, ids=[f"{m} {p}" for m, p, _ in ROUTES]
)
def test_rest_route(
    harness: Harness, world: World, method: str, path: str, names: list[str]
) -> None:
    @fuzzing
    @given(rest_requests(names, world))
    def fuzz(request: RestRequest) -> None:
        note(f"{method} {path}?{request.query!r} {request.content_type!r} {request.body!r}")
        check_rest(harness.raw(method, path, request.query, request.body, request.content_type))

    fuzz()


# -- GraphQL ---------------------------------------------------------------------------------

# The schema as clients see it, to enumerate operations and their arguments.
GRAPHQL = build_schema(schema.as_str())
MAX_SELECTION_DEPTH = 3
INT32 = st.integers(-(2**31), 2**31 - 1)


def selection(kind: GraphQLType, depth: int = 0) -> str:
    """Every field without required arguments, down to MAX_SELECTION_DEPTH."""
    named = get_named_type(kind)
    if not isinstance(named, GraphQLObjectType):
        return ""
    fields = []
    for name, found in named.fields.items():
        if any(isinstance(a.type, GraphQLNonNull) for a in found.args.values()):
            continue
        inner = get_named_type(found.type)
        if isinstance(inner, GraphQLObjectType):
            if depth + 1 >= MAX_SELECTION_DEPTH:
                continue
            fields.append(f"{name} {selection(found.type, depth + 1)}")
        else:
            fields.append(name)
    return "{ " + " ".join(fields or ["__typename"]) + " }"


def values_of(kind: GraphQLType, name: str, world: World) -> st.SearchStrategy[Any]:
    """Values of a GraphQL input type: mostly of that type, sometimes of any other."""
    if isinstance(kind, GraphQLNonNull):
        return right_values(kind.of_type, name, world)
    return st.one_of(st.none(), right_values(kind, name, world))


def right_values(kind: GraphQLType, name: str, world: World) -> st.SearchStrategy[Any]:
    wrong = st.one_of(SCALARS, JSON)
    if isinstance(kind, GraphQLList):
        items = values_of(kind.of_type, name, world)
        return st.one_of(st.lists(items, max_size=4), items, wrong)
    if isinstance(kind, GraphQLInputObjectType):
        fields = {k: values_of(f.type, k, world) for k, f in kind.fields.items()}
        required = {
            k: s for k, s in fields.items() if isinstance(kind.fields[k].type, GraphQLNonNull)
        }
        optional = {k: s for k, s in fields.items() if k not in required}
        return st.one_of(st.fixed_dictionaries(required, optional=optional),
                         st.fixed_dictionaries({}, optional=fields), wrong)  # fmt: skip
    if isinstance(kind, GraphQLEnumType):
        return st.one_of(st.sampled_from(list(kind.values)), wrong)
    assert isinstance(kind, GraphQLScalarType), kind
    plausible = good(world).get(name)
    by_scalar: dict[str, st.SearchStrategy[Any]] = {
        "String": TEXT,
        "ID": TEXT,
        "Int": st.one_of(INT32, INT32, NUMBERS),
        "Float": NUMBERS,
        "Boolean": st.booleans(),
        "JSON": JSON,
    }
    typed = by_scalar.get(kind.name, SCALARS)
    if plausible is not None:
        typed = st.one_of(plausible, plausible, typed)
    return st.one_of(typed, typed, typed, wrong)


OPERATIONS: list[tuple[str, str, GraphQLField]] = [
    ("mutation", n, f)
    for n, f in GRAPHQL.mutation_type.fields.items()  # type: ignore[union-attr]
] + [("query", n, f) for n, f in GRAPHQL.query_type.fields.items()]  # type: ignore[union-attr]


def document(kind: str, name: str, found: GraphQLField) -> str:
    declared = ", ".join(f"${a}: {arg.type}" for a, arg in found.args.items())
    passed = ", ".join(f"{a}: ${a}" for a in found.args)
    head = f"{kind}({declared})" if declared else kind
    call = f"{name}({passed})" if passed else name
    return f"{head} {{ {call} {selection(found.type)} }}"


def check_graphql(reply: httpx.Response) -> None:
    assert reply.status_code < 500, reply.text
    body = reply.json()
    for error in body.get("errors") or []:
        code = (error.get("extensions") or {}).get("code")
        assert code and code != "INTERNAL_ERROR", body


@pytest.mark.parametrize(
    ("kind", "name", "found"), OPERATIONS, ids=[f"{k} {n}" for k, n, _ in OPERATIONS]
)
def test_graphql_operation(
    harness: Harness, world: World, kind: str, name: str, found: GraphQLField
) -> None:
    query = document(kind, name, found)
    arguments = {a: values_of(arg.type, a, world) for a, arg in found.args.items()}

    @fuzzing
    @given(st.fixed_dictionaries(arguments))
    def fuzz(variables: dict[str, Any]) -> None:
        # Lone surrogates and NaN as a JSON encoder other than Python's might not send them.
        body = json.dumps({"query": query, "variables": variables}).encode()
        note(f"POST /graphql {body[:2000]!r}")
        reply = harness.request(
            "POST", "/graphql", content=body, headers={"content-type": "application/json"}
        )
        check_graphql(reply)

    fuzz()


def test_every_rest_route_is_fuzzed() -> None:
    """A route added to app/rest.py must be added to ROUTES."""
    from app.rest import routes

    declared = {(m, r.path) for r in routes for m in (r.methods or ()) if m != "HEAD"}
    assert declared == {(m, p) for m, p, _ in ROUTES}


def test_fuzzing_finds_a_crash() -> None:
    """The harness itself: a 500 is caught."""
    with pytest.raises(AssertionError):
        check_rest(Reply(500, b'{"error": {}}'))
    crash = {"errors": [{"message": "internal error", "extensions": {"code": "INTERNAL_ERROR"}}]}
    with pytest.raises(AssertionError):
        check_graphql(httpx.Response(200, json=crash))
