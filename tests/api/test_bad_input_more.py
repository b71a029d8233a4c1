"""More bad input (issue 12): batch items without required fields, times past the year 9999,
crons that never fire, and text that is not UTF-8. Each is refused with a 4xx naming the
parameter, and the server is as it was (the snapshot of tests/api/test_bad_input.py)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx
import orjson
import pytest
from starlette.applications import Starlette

from tests.api import test_bad_input
from tests.api.client import Api, ApiError, GraphQLApi, RestApi
from tests.api.test_bad_input import (
    OK_DATA,
    Call,
    Refusal,
    World,
    bad,
    failed_page,
    publish,
    refused,
    snapshot,
)

# The fixtures of tests/api/test_bad_input.py: its world, and its check of every error's shape.
world = test_bad_input.world
error_shape = test_bad_input.error_shape

INVALID = "INVALID_PARAMETER"
FORM = {"content-type": "application/x-www-form-urlencoded"}
JSON_TYPE = {"content-type": "application/json"}
END_OF_TIME = 253_402_300_800.0  # 10000-01-01T00:00:00Z

# -- batch items without a required field ----------------------------------------------------


@pytest.mark.parametrize("missing", ["publisher", "data"])
async def test_a_batch_item_without_a_required_field_is_refused_by_name(
    api: Api, world: World, missing: str
) -> None:
    """The item's answer names the item and the parameter; nothing is published. (A batch
    answers each item alone, so through REST the request itself is a 200.)"""
    item = {k: v for k, v in {"publisher": "p", "data": OK_DATA}.items() if k != missing}
    before = await snapshot(api, world)
    if api.transport == "graphql":
        # GraphQL's type system refuses the item before the engine sees it.
        with pytest.raises(ApiError) as caught:
            await api.publish_many([item])
        assert caught.value.code == "GRAPHQL_VALIDATION_FAILED", caught.value
    else:
        [answer] = await api.publish_many([item])
        error = answer["error"]
        assert (error["code"], error["param"]) == ("MISSING_PARAMETER", missing), error
        assert f"tasks[0]: {missing} is required" in error["message"], error
    assert await snapshot(api, world) == before


async def test_the_other_items_of_the_batch_go_ahead(http: httpx.AsyncClient, world: World) -> None:
    rest = RestApi(http)
    answers = await rest.publish_many(
        [{"publisher": "p", "data": {"email": "a@b"}}, {"data": OK_DATA}]
    )
    assert sorted(t["queue"] for t in answers[0]["tasks"]) == ["audit", "emails"]
    error = answers[1]["error"]
    assert (error["code"], error["param"]) == ("MISSING_PARAMETER", "publisher"), error
    assert error["message"].startswith("tasks[1]: "), error


# -- times: unix seconds before the year 10000 -----------------------------------------------

TOO_LATE = [
    pytest.param(1e308, id="1e308"),
    pytest.param(END_OF_TIME, id="year-10000"),
]


@pytest.mark.parametrize("run_at", TOO_LATE)
async def test_run_at_past_the_year_9999_is_refused(api: Api, world: World, run_at: Any) -> None:
    sent = {"publisher": "p", "data": OK_DATA, "runAt": run_at}
    await refused(api, world, lambda a, w: publish(a, **sent), bad(INVALID, "runAt"))


async def test_run_at_just_before_the_year_10000_is_accepted(api: Api, world: World) -> None:
    answer = await api.publish("p", OK_DATA, runAt=END_OF_TIME - 1)
    [task] = [t for t in answer["tasks"] if t["queue"] == "emails"]
    assert task["state"] == "scheduled"


@pytest.mark.parametrize("run_at", ["nan", "NaN", "inf", "-inf", "Infinity", "1e400"])
async def test_run_at_not_a_finite_number_is_refused(
    http: httpx.AsyncClient, world: World, run_at: str
) -> None:
    """JSON cannot carry NaN or infinity; a query string or a form can."""
    sent = {"publisher": "p", "data": orjson.dumps(OK_DATA).decode(), "runAt": run_at}
    for kw in ({"params": sent}, {"data": sent}):
        await refused(
            RestApi(http), world, lambda a, w, kw=kw: a.call("PUT", "/task", **kw),
            bad(INVALID, "runAt"),
        )  # fmt: skip


async def test_a_batch_item_with_run_at_past_the_year_9999_is_refused(
    api: Api, world: World
) -> None:
    before = await snapshot(api, world)
    [answer] = await api.publish_many([{"publisher": "p", "data": OK_DATA, "runAt": 1e308}])
    error = answer["error"]
    assert (error["code"], error["param"]) == (INVALID, "runAt"), error
    assert await snapshot(api, world) == before


# -- crons that never fire -------------------------------------------------------------------

NEVER = ["0 0 30 2 *", "0 0 31 4 *", "0 0 31 2,4,6 *", "0 0 30 2 * 0"]


@pytest.mark.parametrize("cron", NEVER)
async def test_a_cron_that_never_fires_is_refused(
    http: httpx.AsyncClient, world: World, cron: str
) -> None:
    """There is no REST route for schedules: GraphQL only. An existing schedule of that name
    is left as it was."""
    api = GraphQLApi(http)
    kept = await api.create_schedule(name="s", cron="0 9 * * *", publisher="p", data=OK_DATA)
    want = bad(INVALID, "cron", word="never fires")
    again = {"name": "s", "cron": cron, "publisher": "p", "data": OK_DATA}
    await refused(api, world, lambda a, w: a.create_schedule(**again), want)
    assert await api.schedules() == [kept]


@pytest.mark.parametrize(
    ("cron", "year"), [("0 0 29 2 *", 2028), ("0 0 * 2 1#5", 2044)], ids=["leap-day", "5th-monday"]
)
async def test_a_rare_cron_is_accepted(http: httpx.AsyncClient, cron: str, year: int) -> None:
    """A leap day, or a fifth Monday in February (every 28 years or so): rare, not never."""
    api = GraphQLApi(http)
    created = await api.create_schedule(name="s", cron=cron, publisher="p", data={})
    assert datetime.fromtimestamp(created["nextRunAt"], UTC).year == year


# -- text that is not UTF-8 ------------------------------------------------------------------


def rest(method: str, path: str, **kw: Any) -> Call:
    return lambda api, _: api.call(method, path, **kw)


def multipart(name: str, value: bytes) -> bytes:
    parts = [(b"publisher", b"p"), (b"data", b'{"email": "@"}'), (name.encode(), value)]
    body = b"".join(
        b'--B\r\nContent-Disposition: form-data; name="%s"\r\n\r\n%s\r\n' % part for part in parts
    )
    return body + b"--B--\r\n"


MULTIPART = {"content-type": "multipart/form-data; boundary=B"}
DATA_TEXT = "data=%7B%22email%22%3A%22%40%22%7D"

NOT_UTF8_CASES = [
    pytest.param(rest("PUT", "/task", content=b"publisher=%ff%fe&" + DATA_TEXT.encode(),
                      headers=FORM), bad(INVALID, "publisher", word="UTF-8"),
                 id="form-percent-escaped"),
    pytest.param(rest("PUT", "/task", content=b"publisher=\xff\xfe&" + DATA_TEXT.encode(),
                      headers=FORM), bad(INVALID, "publisher", word="UTF-8"), id="form-raw-bytes"),
    pytest.param(rest("PUT", "/task", content=b"pub%fflisher=p&" + DATA_TEXT.encode(),
                      headers=FORM), bad(INVALID, "body", word="UTF-8"), id="form-name"),
    pytest.param(rest("PUT", "/task", content=multipart("publisher", b"\xff\xfe"),
                      headers=MULTIPART), bad(INVALID, "publisher", word="UTF-8"),
                 id="multipart-field"),
    pytest.param(rest("PUT", "/task?publisher=%ff%fe&" + DATA_TEXT),
                 bad(INVALID, "publisher", word="UTF-8"), id="query-percent-escaped"),
    pytest.param(rest("PUT", "/task", content=b'{"publisher": "\xff\xfe", "data": {}}',
                      headers=JSON_TYPE), bad(INVALID, "body", word="UTF-8"), id="json-raw-bytes"),
]  # fmt: skip


@pytest.mark.parametrize(("call", "want"), NOT_UTF8_CASES)
async def test_text_that_is_not_utf8_is_refused(
    http: httpx.AsyncClient, world: World, call: Call, want: Refusal
) -> None:
    await refused(RestApi(http), world, call, want)


async def send_raw(app: Starlette, query: bytes, body: bytes, content_type: bytes) -> Any:
    """A request through the ASGI app as a server would pass it: raw bytes that no HTTP
    client library sends are left as they are."""
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "PUT",
        "scheme": "http",
        "path": "/task",
        "raw_path": b"/task",
        "root_path": "",
        "query_string": query,
        "headers": [(b"host", b"couchqueue"), (b"content-type", content_type)],
        "client": ("127.0.0.1", 1),
        "server": ("couchqueue", 80),
        "state": {},
    }
    await app(scope, receive, send)
    status = sent[0]["status"]
    return status, orjson.loads(b"".join(m.get("body", b"") for m in sent[1:]))


async def test_raw_bytes_in_the_query_string_are_refused(
    app: Starlette, http: httpx.AsyncClient, world: World
) -> None:
    api = RestApi(http)
    before = await snapshot(api, world)
    status, body = await send_raw(app, b"publisher=\xff\xfe&" + DATA_TEXT.encode(), b"", b"")
    assert status == 400, body
    assert (body["error"]["code"], body["error"]["param"]) == (INVALID, "publisher"), body
    assert "UTF-8" in body["error"]["message"]
    assert await snapshot(api, world) == before


@pytest.mark.parametrize(
    ("query", "body", "content_type"),
    [
        pytest.param(b"publisher=%C3%A9&" + DATA_TEXT.encode(), b"", b"", id="query-escaped"),
        pytest.param(b"publisher=\xc3\xa9&" + DATA_TEXT.encode(), b"", b"", id="query-raw"),
        pytest.param(b"", b"publisher=\xc3\xa9&" + DATA_TEXT.encode(),
                     FORM["content-type"].encode(), id="form-raw"),
        pytest.param(b"", multipart("publisher", "é".encode()),
                     MULTIPART["content-type"].encode(), id="multipart"),
    ],
)  # fmt: skip
async def test_utf8_text_is_read_as_utf8(
    app: Starlette, http: httpx.AsyncClient, world: World, query: bytes, body: bytes,
    content_type: bytes,
) -> None:  # fmt: skip
    status, answer = await send_raw(app, query, body, content_type)
    assert status == 200, answer
    task = await RestApi(http).task(answer["tasks"][0]["taskId"])
    assert task["publisher"] == "é"


# -- found by the fuzzer (tests/api/test_fuzz.py) --------------------------------------------

FUZZ_CASES = [
    pytest.param(rest("PUT", "/task", json={"publisher": "p", "data": OK_DATA,
                                            "singularlyEnqueue": {"a": 1}}),
                 bad(INVALID, "singularlyEnqueue"), id="flag-an-object"),
    pytest.param(rest("POST", "/task", json={"workerId": "w", "taskId": "t", "state": "fail",
                                             "reEnqueue": [True]}),
                 bad(INVALID, "reEnqueue"), id="flag-a-list"),
]  # fmt: skip


@pytest.mark.parametrize(("call", "want"), FUZZ_CASES)
async def test_found_by_the_fuzzer(
    http: httpx.AsyncClient, world: World, call: Call, want: Refusal
) -> None:
    await refused(RestApi(http), world, call, want)


@pytest.mark.parametrize("cursor", [str(2**63), "-1", "١٢", " 12"])
async def test_a_cursor_out_of_range_is_refused(api: Api, world: World, cursor: str) -> None:
    """A cursor is a sequence number the server gave: 2**63 overflowed SQLite's INTEGER."""
    await refused(api, world, lambda a, w: failed_page(a, after=cursor), bad(INVALID, "after"))
