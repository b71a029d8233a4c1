"""REST parameters arrive in the query string, a form body or a JSON body, as the seed allows."""

from __future__ import annotations

import httpx
import orjson

from tests.conftest import FakeClock


async def register(http: httpx.AsyncClient) -> str:
    await http.put("/interest", params={"queue": "q", "interests": "*"})
    reply = await http.put("/worker", data={"queues": '["q"]'})
    assert reply.status_code == 200, reply.text
    return str(reply.json()["workerId"])


async def test_query_string_parameters_with_json_text(http: httpx.AsyncClient) -> None:
    reply = await http.put(
        "/interest", params={"queue": "emails", "interests": '{"email": "^.*evan"}'}
    )
    assert reply.json() == {"queue": "emails", "interests": {"email": "^.*evan"}}
    reply = await http.put(
        "/task",
        params={"publisher": "p", "data": '{"email": "evan@x"}', "singularlyEnqueue": "true"},
    )
    assert [t["queue"] for t in reply.json()["tasks"]] == ["emails"]
    again = await http.put(
        "/task", params={"publisher": "p", "data": '{"email": "evan@x"}', "singularlyEnqueue": "1"}
    )
    assert again.json()["skipped"][0]["reason"] == "duplicate"


async def test_form_body_parameters(http: httpx.AsyncClient, clock: FakeClock) -> None:
    worker = await register(http)
    reply = await http.put(
        "/task",
        data={"publisher": "p", "data": '{"n": 1}', "runAt": str(clock.now + 10), "scope": "any"},
    )
    assert reply.json()["tasks"][0]["state"] == "scheduled"
    clock.advance(10)
    task = (await http.get("/task", params={"workerId": worker})).json()
    done = await http.post(
        "/task",
        data={"workerId": worker, "taskId": task["taskId"], "state": "fail", "failReason": "x"},
    )
    assert (done.json()["state"], done.json()["failReason"]) == ("failed", "x")


async def test_multipart_form_body(http: httpx.AsyncClient) -> None:
    await register(http)
    reply = await http.put("/task", files={"data": (None, '{"n": 2}'), "publisher": (None, "p")})
    assert reply.status_code == 200, reply.text
    assert reply.json()["discarded"] is False


async def test_json_body_with_native_and_text_values(http: httpx.AsyncClient) -> None:
    worker = await register(http)
    native = await http.put("/task", json={"publisher": "p", "data": {"n": 3}, "runAt": None})
    as_text = await http.put("/task", json={"publisher": "p", "data": '{"n": 4}'})
    assert native.status_code == as_text.status_code == 200
    first = (await http.get("/task", params={"workerId": worker})).json()
    second = (await http.get("/task", params={"workerId": worker})).json()
    assert (first["data"], second["data"]) == ({"n": 3}, {"n": 4})
    reply = await http.post(
        "/task",
        json={
            "workerId": worker,
            "taskId": first["taskId"],
            "state": "complete",
            "reEnqueue": "yes",
        },
    )
    assert reply.json()["state"] == "completed"
    assert (await http.get("/task", params={"workerId": worker})).json()["data"] == {"n": 3}


async def test_body_wins_over_query(http: httpx.AsyncClient) -> None:
    await register(http)
    reply = await http.put(
        "/task?publisher=query",
        content=orjson.dumps({"publisher": "body", "data": {}}),
        headers={"content-type": "application/json"},
    )
    task_id = reply.json()["tasks"][0]["taskId"]
    found = (await http.get("/status", params={"task": task_id})).json()["task"]
    assert found["publisher"] == "body"


async def test_get_task_answers_json_null_when_empty(http: httpx.AsyncClient) -> None:
    worker = await register(http)
    reply = await http.get("/task", params={"workerId": worker})
    assert reply.status_code == 200
    assert reply.headers["content-type"] == "application/json"
    assert reply.content == b"null"


async def test_bare_star_interest_in_a_form(http: httpx.AsyncClient) -> None:
    reply = await http.put("/interest", data={"queue": "all", "interests": "*"})
    assert reply.json() == {"queue": "all", "interests": "*"}
    quoted = await http.put("/interest", data={"queue": "all2", "interests": '"*"'})
    assert quoted.json() == {"queue": "all2", "interests": "*"}
