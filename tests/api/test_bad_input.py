"""Bad input: a clear 4xx naming the parameter, and nothing changes.

Each table case runs through REST and GraphQL (the ``api`` fixture) with the same body and says
what each transport answers: where GraphQL's own type system refuses a value before the engine
sees it, that is GRAPHQL_VALIDATION_FAILED. Cases only one transport can express (HTTP bodies,
routes, GraphQL documents) are written once, at the end. Every refusal is checked against a
snapshot of the whole server taken before and after it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests.api.client import Api, ApiError, GraphQLApi, RestApi

OK_DATA = {"email": "evan@example.com"}  # matches the queue "emails": a slip would publish
PUBLISH = "mutation($input: PublishTaskInput!) { publishTask(input: $input) { eventId } }"
FAILED_PAGE = (
    "query($first: Int, $after: String) "
    "{ failedTasks(first: $first, after: $after) { nextCursor } }"
)


@dataclass(frozen=True)
class Refusal:
    code: str
    param: str | None
    status: int = 400  # checked for REST only; GraphQL must merely not answer 5xx
    word: str | None = None  # what the message must mention, when not the parameter itself


def gql_invalid(word: str) -> Refusal:
    """GraphQL's type system refused the value before the engine saw it."""
    return Refusal("GRAPHQL_VALIDATION_FAILED", None, word=word)


@dataclass(frozen=True)
class World:
    holder: str  # a worker on "emails" holding the task `started`
    other: str  # another worker on "emails" and "audit"
    started: str


Call = Callable[[Any, World], Awaitable[Any]]


@pytest.fixture(autouse=True)
def error_shape(http: httpx.AsyncClient) -> None:
    """Every HTTP error answer is exactly {"error": {code, message, param}}: on every route but
    /graphql, which answers GraphQL's way except for an oversized body, refused before it."""

    async def check(response: httpx.Response) -> None:
        graphql = response.request.url.path == "/graphql" and response.status_code != 413
        if response.status_code >= 400 and not graphql:
            await response.aread()
            body = response.json()
            assert set(body) == {"error"}, body
            assert set(body["error"]) == {"code", "message", "param"}, body
            assert body["error"]["code"] and body["error"]["message"], body

    http.event_hooks["response"].append(check)


@pytest.fixture
async def world(http: httpx.AsyncClient) -> World:
    """Queues with interests, two workers, and a queued, a started and a failed task."""
    rest = RestApi(http)
    await rest.set_interests("emails", {"email": "@"})
    await rest.set_interests("audit", "*")
    holder = (await rest.register_worker(["emails"], name="holder"))["workerId"]
    other = (await rest.register_worker(["emails", "audit"], name="other"))["workerId"]
    for n in range(3):
        await rest.publish("signup", {"email": f"user{n}@example.com"})
    failed = await rest.claim(holder)
    assert failed is not None
    await rest.fail(holder, failed["taskId"], "boom")
    started = await rest.claim(holder)
    assert started is not None
    return World(holder=holder, other=other, started=started["taskId"])


async def snapshot(api: Api, world: World) -> tuple[Any, ...]:
    return (
        await api.summary(),
        await api.queues(),
        await api.interests(),
        await api.workers(),
        await api.failed(),
        await api.task(world.started),
    )


async def refused(
    api: Api, world: World, call: Call, want: Refusal, graphql: Refusal | None = None
) -> None:
    """``call`` is refused as ``want`` says (or ``graphql`` says, through GraphQL, if given),
    with the parameter in the message, and the server is as it was."""
    if api.transport == "graphql" and graphql is not None:
        want = graphql
    before = await snapshot(api, world)
    with pytest.raises(ApiError) as caught:
        await call(api, world)
    error = caught.value
    assert (error.code, error.param) == (want.code, want.param), error
    if api.transport == "rest":
        assert error.status == want.status, error
    else:
        assert error.status < 500, error
    word = want.word or want.param
    assert word is not None and word.lower() in error.message.lower(), error
    assert await snapshot(api, world) == before


async def publish(api: Api, **fields: Any) -> Any:
    """Publish exactly these input fields (absent ones are left out, not sent as null)."""
    if isinstance(api, RestApi):
        return await api.call("PUT", "/task", json=fields)
    return await api.call(PUBLISH, input=fields)


async def failed_page(api: Api, **args: Any) -> Any:
    if isinstance(api, RestApi):
        return await api.status(failedQueue="", **{k: str(v) for k, v in args.items()})
    return await api.call(FAILED_PAGE, **args)


bad = Refusal
INVALID, MISSING, LIMIT = "INVALID_PARAMETER", "MISSING_PARAMETER", "LIMIT_EXCEEDED"
NO_WORKER = bad("WORKER_NOT_FOUND", "workerId", 404, "worker")
NO_QUEUE = bad("QUEUE_NOT_FOUND", "queue", 404)
NOT_HOLDER = bad("NOT_TASK_HOLDER", "taskId", 409, "task")
ABSENT = object()


def nested(depth: int) -> list[Any]:
    value: list[Any] = []
    for _ in range(depth):
        value = [value]
    return value


def fields(**changes: Any) -> dict[str, Any]:
    """A good publish with ``changes``; a change to ABSENT leaves the field out."""
    good = {"publisher": "p", "data": OK_DATA} | changes
    return {k: v for k, v in good.items() if v is not ABSENT}


# fields, REST answer, GraphQL answer (None: the same as REST)
PUBLISH_CASES = [
    pytest.param(fields(publisher=ABSENT), bad(MISSING, "publisher"), gql_invalid("publisher"),
                 id="publisher-missing"),
    pytest.param(fields(publisher=""), bad(MISSING, "publisher"), None, id="publisher-empty"),
    pytest.param(fields(publisher=5), bad(INVALID, "publisher"), gql_invalid("publisher"),
                 id="publisher-not-string"),
    pytest.param(fields(data=ABSENT), bad(MISSING, "data"), gql_invalid("data"),
                 id="data-missing"),
    pytest.param(fields(data=[OK_DATA]), bad(INVALID, "data"), None, id="data-list"),
    pytest.param(fields(data=42), bad(INVALID, "data"), None, id="data-number"),
    # REST reads a string as JSON text: a JSON string is still no object, and "evan@" no JSON
    pytest.param(fields(data='"evan@"'), bad(INVALID, "data"), None, id="data-string"),
    pytest.param(fields(data="evan@"), bad("MALFORMED_JSON", "data"), bad(INVALID, "data"),
                 id="data-string-not-json-text"),
    pytest.param(fields(data={"email": "@" + "x" * 9000}), bad(LIMIT, "data"), None,
                 id="data-too-large"),
    pytest.param(fields(scope="some"), bad(INVALID, "scope"), None, id="scope-unknown"),
    pytest.param(fields(runAt=-1), bad(INVALID, "runAt"), None, id="runAt-negative"),
    pytest.param(fields(runAt="abc"), bad(INVALID, "runAt"), gql_invalid("runAt"),
                 id="runAt-not-number"),
    pytest.param(fields(singularlyEnqueue="maybe"), bad(INVALID, "singularlyEnqueue"),
                 gql_invalid("singularlyEnqueue"), id="singularlyEnqueue-not-boolean"),
    pytest.param(fields(data={"a": nested(300)}), bad(INVALID, "data"), None, id="data-too-deep"),
    pytest.param(fields(uniqueKey="k" * 201), bad(LIMIT, "uniqueKey"), None,
                 id="uniqueKey-too-long"),
]  # fmt: skip


@pytest.mark.parametrize(("sent", "rest", "graphql"), PUBLISH_CASES)
async def test_publish_refused(
    api: Api, world: World, sent: dict[str, Any], rest: Refusal, graphql: Refusal | None
) -> None:
    await refused(api, world, lambda a, w: publish(a, **sent), rest, graphql)


SIX_FIELDS = {f"field{n}": "x" for n in range(6)}

# queue, interests, REST answer, GraphQL answer (None: the same as REST)
INTEREST_CASES = [
    pytest.param("emails", {"email": "("}, bad("INVALID_REGEX", "interests"), None,
                 id="regex-invalid"),
    pytest.param("emails", {"email": "(a)\\1"}, bad("INVALID_REGEX", "interests"), None,
                 id="regex-backreference"),
    pytest.param("emails", {"email": "(?=x)"}, bad("INVALID_REGEX", "interests"), None,
                 id="regex-lookahead"),
    pytest.param("emails", {"email": 5}, bad(INVALID, "interests"), None, id="regex-not-string"),
    pytest.param("emails", ["email"], bad(INVALID, "interests"), None, id="interests-list"),
    pytest.param("emails", 5, bad(INVALID, "interests"), None, id="interests-number"),
    pytest.param("emails", {}, bad(INVALID, "interests"), None, id="interests-empty-object"),
    pytest.param("emails", "all", bad("MALFORMED_JSON", "interests"), bad(INVALID, "interests"),
                 id="interests-string"),
    pytest.param("emails", SIX_FIELDS, bad(LIMIT, "interests"), None, id="interests-too-many"),
    pytest.param("a@b", "*", bad(INVALID, "queue"), None, id="queue-with-at"),
    pytest.param("", "*", bad(MISSING, "queue"), None, id="queue-empty"),
    pytest.param(" emails", "*", bad(INVALID, "queue"), None, id="queue-leading-space"),
    pytest.param("q" * 201, "*", bad(LIMIT, "queue"), None, id="queue-too-long"),
]  # fmt: skip


@pytest.mark.parametrize(("queue", "interests", "rest", "graphql"), INTEREST_CASES)
async def test_set_interests_refused(
    api: Api, world: World, queue: str, interests: Any, rest: Refusal, graphql: Refusal | None
) -> None:
    await refused(api, world, lambda a, w: a.set_interests(queue, interests), rest, graphql)
    # The existing queue keeps its old interests (the snapshot checked all of them too).
    assert await api.interests("emails") == {"emails": {"email": "@"}}


# queues, answer (the same through both transports)
WORKER_CASES = [
    pytest.param([], bad(INVALID, "queues"), id="empty-list"),
    pytest.param(["emails", "a@b"], bad(INVALID, "queues"), id="queue-with-at"),
    pytest.param([f"q{n}" for n in range(101)], bad(LIMIT, "queues"), id="too-many"),
]


@pytest.mark.parametrize(("queues", "want"), WORKER_CASES)
async def test_register_worker_refused(
    api: Api, world: World, queues: list[str], want: Refusal
) -> None:
    await refused(api, world, lambda a, w: a.register_worker(queues), want)


async def test_register_worker_queues_as_a_string(api: Api, world: World) -> None:
    """REST reads a string as JSON text, and "emails" is none; GraphQL coerces a single value
    to a one-item list (input coercion, as its spec says), so the worker is registered."""
    single: Any = "emails"
    if api.transport == "rest":
        want = bad("MALFORMED_JSON", "queues")
        await refused(api, world, lambda a, w: a.register_worker(single), want)
        return
    worker = await api.register_worker(single)
    assert worker["queues"] == ["emails"]
    assert worker["workerId"] in [w["workerId"] for w in await api.workers("emails")]


# call, REST answer, GraphQL answer (None: the same as REST)
LOOKUP_CASES = [
    pytest.param(lambda a, w: a.claim("nope"), NO_WORKER, None, id="claim-unknown-worker"),
    pytest.param(lambda a, w: a.delete_worker("nope"), NO_WORKER,
                 bad("WORKER_NOT_FOUND", "id", 404, "worker"), id="delete-unknown-worker"),
    pytest.param(lambda a, w: a.delete_workers("a@b"), bad(INVALID, "queue"), None,
                 id="delete-workers-bad-queue"),
    pytest.param(lambda a, w: a.complete(w.holder, "nope"),
                 bad("TASK_NOT_FOUND", "taskId", 404, "task"), None,
                 id="complete-unknown-task"),
    pytest.param(lambda a, w: a.fail(w.other, w.started, "no"), NOT_HOLDER, None,
                 id="fail-not-holder"),
    pytest.param(lambda a, w: a.delete_tasks(), bad(MISSING, "queue"), None,
                 id="delete-tasks-no-target"),
    pytest.param(lambda a, w: a.delete_tasks(queue="nope"), NO_QUEUE, None,
                 id="delete-tasks-unknown-queue"),
    pytest.param(lambda a, w: a.delete_tasks(worker_id="nope"), NO_WORKER, None,
                 id="delete-tasks-unknown-worker"),
    pytest.param(lambda a, w: a.delete_interests("a@b"), bad(INVALID, "queue"), None,
                 id="delete-interests-bad-queue"),
    pytest.param(lambda a, w: a.delete_queue("nope"), NO_QUEUE,
                 bad("QUEUE_NOT_FOUND", "name", 404, "queue"), id="delete-unknown-queue"),
    pytest.param(lambda a, w: a.task("nope"), bad("TASK_NOT_FOUND", "task", 404),
                 bad("TASK_NOT_FOUND", "id", 404, "task"), id="status-unknown-task"),
    pytest.param(lambda a, w: failed_page(a, first=0), bad(INVALID, "first"), None,
                 id="page-first-zero"),
    pytest.param(lambda a, w: failed_page(a, first=-3), bad(INVALID, "first"), None,
                 id="page-first-negative"),
    pytest.param(lambda a, w: failed_page(a, after="zzz"), bad(INVALID, "after"), None,
                 id="page-bad-cursor"),
]  # fmt: skip


@pytest.mark.parametrize(("call", "rest", "graphql"), LOOKUP_CASES)
async def test_lookup_refused(
    api: Api, world: World, call: Call, rest: Refusal, graphql: Refusal | None
) -> None:
    await refused(api, world, call, rest, graphql)


async def test_task_held_by_another_stays_with_its_holder(api: Api, world: World) -> None:
    await refused(api, world, lambda a, w: a.complete(w.other, w.started), NOT_HOLDER)
    task = await api.task(world.started)
    assert (task["state"], task["workerId"]) == ("started", world.holder)


async def test_reporting_twice_changes_nothing(api: Api, world: World) -> None:
    """A completion repeated by its worker (a retry after a lost answer) answers the completed
    task and writes nothing (issue 16: a retried completion publishes no follow-up twice); a
    fail after it, or the completion by anyone else, is refused."""
    done = await api.complete(world.holder, world.started)
    assert done["state"] == "completed"
    before = await snapshot(api, world)
    assert await api.complete(world.holder, world.started) == done
    assert await snapshot(api, world) == before
    await refused(api, world, lambda a, w: a.fail(w.holder, w.started), NOT_HOLDER)
    await refused(api, world, lambda a, w: a.complete(w.other, w.started), NOT_HOLDER)


# -- one transport only --------------------------------------------------------------------

BIG_DATA = {"email": "@" + "x" * 70_000}  # over the 64 KiB body limit (and the data limit)


async def chunks(payload: dict[str, Any]) -> AsyncIterator[bytes]:
    """A JSON body streamed without Content-Length."""
    body = httpx.Request("POST", "/", json=payload).content
    for start in range(0, len(body), 8192):
        yield body[start : start + 8192]


BIG_PUBLISH = {"publisher": "p", "data": BIG_DATA}
BIG_GRAPHQL = {"query": PUBLISH, "variables": {"input": BIG_PUBLISH}}
DEEP = b"[" * 5000 + b"]" * 5000  # under the body limit, too deep for a parser
JSON_TYPE = {"content-type": "application/json"}
XML_TYPE = {"content-type": "application/xml"}
TOO_LARGE = bad("PAYLOAD_TOO_LARGE", "body", 413)


def rest(method: str, path: str, **kw: Any) -> Call:
    def call(api: RestApi, world: World) -> Awaitable[Any]:
        values = {k: v(world) if callable(v) else v for k, v in kw.items()}
        return api.call(method, path, **values)

    return call


def report(**extra: Any) -> Call:
    return rest(
        "POST", "/task", json=lambda w: {"workerId": w.holder, "taskId": w.started, **extra}
    )


REST_CASES = [
    pytest.param(rest("PUT", "/task", content=b'{"publisher":', headers=JSON_TYPE),
                 bad("MALFORMED_JSON", "body"), id="body-malformed-json"),
    pytest.param(rest("PUT", "/task", content=b'{"publisher": "p", "data": {"a": ' + DEEP + b"}}",
                      headers=JSON_TYPE), bad("MALFORMED_JSON", "body"), id="body-too-deep"),
    pytest.param(rest("PUT", "/task", json=[{"publisher": "p", "data": OK_DATA}]),
                 bad(INVALID, "body"), id="body-json-array"),
    pytest.param(rest("PUT", "/task", content=b"<task/>", headers=XML_TYPE),
                 bad("UNSUPPORTED_MEDIA_TYPE", "body", 415, word="content type"), id="body-xml"),
    pytest.param(rest("PUT", "/task", data={"publisher": "p", "data": '{"email": '}),
                 bad("MALFORMED_JSON", "data"), id="form-data-malformed-json"),
    pytest.param(rest("PUT", "/worker", params={"queues": '["emails"'}),
                 bad("MALFORMED_JSON", "queues"), id="query-queues-malformed-json"),
    pytest.param(rest("PUT", "/worker", json={"queues": '"emails"'}), bad(INVALID, "queues"),
                 id="queues-json-text-of-a-string"),
    pytest.param(report(state="done"), bad(INVALID, "state"), id="report-unknown-state"),
    pytest.param(report(), bad(MISSING, "state"), id="report-missing-state"),
    pytest.param(rest("GET", "/status", params={"failedQueue": "", "first": "ten"}),
                 bad(INVALID, "first"), id="page-first-not-integer"),
    pytest.param(rest("PUT", "/task", json=BIG_PUBLISH), TOO_LARGE, id="task-too-large"),
    pytest.param(rest("PUT", "/task", content=lambda w: chunks(BIG_PUBLISH), headers=JSON_TYPE),
                 TOO_LARGE, id="task-too-large-streamed"),
    pytest.param(rest("POST", "/graphql", json=BIG_GRAPHQL), TOO_LARGE, id="graphql-too-large"),
    pytest.param(rest("POST", "/graphql", content=lambda w: chunks(BIG_GRAPHQL),
                      headers=JSON_TYPE), TOO_LARGE, id="graphql-too-large-streamed"),
    pytest.param(rest("GET", "/nope"), bad("ROUTE_NOT_FOUND", None, 404, "/nope"),
                 id="unknown-route"),
    pytest.param(rest("PATCH", "/task", json={"publisher": "p", "data": OK_DATA}),
                 bad("METHOD_NOT_ALLOWED", None, 405, "PATCH"), id="wrong-method"),
]  # fmt: skip


@pytest.mark.parametrize(("call", "want"), REST_CASES)
async def test_rest_only_refused(
    http: httpx.AsyncClient, world: World, call: Call, want: Refusal
) -> None:
    await refused(RestApi(http), world, call, want)


GRAPHQL_CASES = [
    pytest.param("{ status { queues ", Refusal("GRAPHQL_PARSE_FAILED", None, word="syntax"),
                 id="syntax-error"),
    pytest.param("{ nope }", gql_invalid("nope"), id="unknown-field"),
]  # fmt: skip


@pytest.mark.parametrize(("query", "want"), GRAPHQL_CASES)
async def test_graphql_only_refused(
    http: httpx.AsyncClient, world: World, query: str, want: Refusal
) -> None:
    await refused(GraphQLApi(http), world, lambda a, w: a.call(query), want)


async def test_graphql_body_too_deep(http: httpx.AsyncClient, world: World) -> None:
    """A JSON body nested too deeply for the parser is bad input (400), not a crash."""
    api = GraphQLApi(http)
    before = await snapshot(api, world)
    body = b'{"query": "{ status { queues } }", "variables": {"a": ' + DEEP + b"}}"
    reply = await http.post("/graphql", content=body, headers=JSON_TYPE)
    assert reply.status_code == 400, reply.text
    assert await snapshot(api, world) == before
