"""Results on completion and follow-up events (issue 16), through REST and GraphQL, on every
store: a result is kept with the completed task; follow-ups are published with the completion,
once, and only if it is made."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from resolvers.context import Context
from resolvers.leases import reap_expired_leases
from resolvers.stats import flush_stats
from tests.api.client import Api, ApiError, GraphQLApi
from tests.api.conftest import TEST_SETTINGS
from tests.conftest import FakeClock

NEXT = [{"publisher": "pipeline", "data": {"step": 2}}]


async def held_task(api: Api, **interests: Any) -> tuple[str, dict[str, Any]]:
    """A worker of queue q holding a task; queue "next" wants step 2 events."""
    await api.set_interests("q", {"step": "^1$"})
    await api.set_interests("next", {"step": "^2$"})
    worker = (await api.register_worker(["q"]))["workerId"]
    await api.publish("pub", {"step": 1})
    task = await api.claim(worker)
    assert task is not None
    return worker, task


@pytest.mark.parametrize(
    "result", [{"rows": 3, "ok": True}, "done", 42, [1, "two"], False], ids=repr
)
async def test_a_result_is_kept_with_the_completed_task(api: Api, result: Any) -> None:
    worker, task = await held_task(api)
    assert (task["result"], task["progress"], task["parentTaskId"]) == (None, None, None)
    done = await api.complete(worker, task["taskId"], result=result)
    assert (done["state"], done["result"]) == ("completed", result)
    assert (await api.task(task["taskId"]))["result"] == result


async def test_a_result_larger_than_data_may_be_is_refused(api: Api) -> None:
    worker, task = await held_task(api)
    big = "x" * TEST_SETTINGS.max_data_bytes
    with pytest.raises(ApiError) as refused:
        await api.complete(worker, task["taskId"], result=big)
    assert (refused.value.code, refused.value.param) == ("LIMIT_EXCEEDED", "result")
    if api.transport == "rest":
        assert refused.value.status == 400
    still = await api.task(task["taskId"])
    assert (still["state"], still["result"]) == ("started", None)


async def test_rest_takes_a_result_as_json_text_in_a_form(http: httpx.AsyncClient) -> None:
    await http.put("/interest", data={"queue": "q", "interests": "*"})
    worker = (await http.put("/worker", data={"queues": '["q"]'})).json()["workerId"]
    await http.put("/task", json={"publisher": "p", "data": {"n": 1}})
    task = (await http.get("/task", params={"workerId": worker})).json()
    form = {"workerId": worker, "taskId": task["taskId"], "state": "complete"}
    bad = await http.post("/task", data={**form, "result": "{not json"})
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "MALFORMED_JSON"
    failing = await http.post("/task", data={**form, "state": "fail", "result": "1"})
    assert failing.status_code == 400
    assert (
        failing.json()["error"]
        == {
            "code": "INVALID_PARAMETER",
            "message": "result is only taken with state=complete",
            "param": "result",
        }
        or failing.json()["error"]["param"] == "result"
    )
    done = await http.post("/task", data={**form, "result": '{"a": [1, 2]}'})
    assert done.status_code == 200 and done.json()["result"] == {"a": [1, 2]}


async def test_follow_ups_are_published_with_the_completion(api: Api) -> None:
    worker, task = await held_task(api)
    other = (await api.register_worker(["next"]))["workerId"]
    events = [*NEXT, {"publisher": "pipeline", "data": {"step": 9}}]
    done = await api.complete(worker, task["taskId"], publish=events)
    assert done["state"] == "completed"
    follow = await api.claim(other)
    assert follow is not None
    assert (follow["queue"], follow["data"], follow["parentTaskId"], follow["publisher"]) == (
        "next",
        {"step": 2},
        task["taskId"],
        "pipeline",
    )
    # The step 9 event interests no queue: discarded, as a publish of it would be.
    assert await api.claim(other) is None


async def test_a_completion_retried_three_times_publishes_once(api: Api, engine: Context) -> None:
    worker, task = await held_task(api)
    first = await api.complete(worker, task["taskId"], result=1, publish=NEXT)
    for _ in range(3):
        again = await api.complete(worker, task["taskId"], result=2, publish=NEXT)
        assert (again["state"], again["result"], again["finishedAt"]) == (
            "completed",
            1,
            first["finishedAt"],
        )
    assert (await api.queue("next"))["queued"] == 1
    await flush_stats(engine)
    assert [row["published"] for row in await api.stats(queue="next")] == [1]


async def test_a_refused_completion_publishes_nothing(
    api: Api, clock: FakeClock, engine: Context
) -> None:
    worker, task = await held_task(api)
    other = (await api.register_worker(["q"]))["workerId"]
    with pytest.raises(ApiError) as refused:
        await api.complete(other, task["taskId"], publish=NEXT, result="x")
    assert refused.value.code == "NOT_TASK_HOLDER"
    clock.advance(301)
    assert await reap_expired_leases(engine) == 1
    with pytest.raises(ApiError) as lost:
        await api.complete(worker, task["taskId"], publish=NEXT)
    assert lost.value.code == "NOT_TASK_HOLDER"
    assert (await api.queue("next"))["queued"] == 0
    back = await api.task(task["taskId"])
    assert (back["state"], back["result"]) == ("queued", None)


# GraphQL's types refuse some shapes before any resolver runs.
TYPED = "GRAPHQL_VALIDATION_FAILED"


@pytest.mark.parametrize(
    ("publish", "rest_code", "graphql_code"),
    [
        ([{"data": {"step": 2}}], "MISSING_PARAMETER", TYPED),
        ([{"publisher": "p", "data": {"step": 2}, "colour": 1}], "INVALID_PARAMETER", TYPED),
        ([{"publisher": "p", "data": "step"}], "INVALID_PARAMETER", "INVALID_PARAMETER"),
        ([{"publisher": "p", "data": {"step": 2}, "runAt": -1}], *["INVALID_PARAMETER"] * 2),
        (NEXT * 101, "LIMIT_EXCEEDED", "LIMIT_EXCEEDED"),
    ],
    ids=["no-publisher", "unknown-field", "data-not-object", "bad-run-at", "too-many"],
)
async def test_bad_follow_ups_are_refused_and_nothing_changes(
    api: Api, publish: Any, rest_code: str, graphql_code: str
) -> None:
    worker, task = await held_task(api)
    with pytest.raises(ApiError) as refused:
        await api.complete(worker, task["taskId"], publish=publish)
    if api.transport == "rest":
        assert (refused.value.code, refused.value.status) == (rest_code, 400)
        assert refused.value.param == "publish"
    else:
        assert refused.value.code == graphql_code
    assert (await api.task(task["taskId"]))["state"] == "started"
    assert (await api.queue("next"))["queued"] == 0


async def test_rest_refuses_follow_ups_that_are_not_a_list(http: httpx.AsyncClient) -> None:
    await http.put("/interest", json={"queue": "q", "interests": "*"})
    worker = (await http.put("/worker", json={"queues": ["q"]})).json()["workerId"]
    await http.put("/task", json={"publisher": "p", "data": {"n": 1}})
    task = (await http.get("/task", params={"workerId": worker})).json()
    body = {"workerId": worker, "taskId": task["taskId"], "state": "complete"}
    refused = await http.post("/task", json={**body, "publish": {"publisher": "p", "data": {}}})
    assert refused.status_code == 400
    assert refused.json()["error"]["code"] == "INVALID_PARAMETER"
    assert refused.json()["error"]["param"] == "publish"
    done = await http.post("/task", json={**body, "publish": "[]"})
    assert done.json()["state"] == "completed"


async def test_a_batch_of_completions_carries_results_and_follow_ups(api: Api) -> None:
    worker, task = await held_task(api)
    await api.publish("pub", {"step": 1})
    second = await api.claim(worker)
    assert second is not None
    answers = await api.report_many(
        worker,
        [
            {"taskId": task["taskId"], "state": "complete", "result": "a", "publish": NEXT},
            {"taskId": second["taskId"], "state": "complete", "result": {"b": 1}},
        ],
    )
    assert [(a["state"], a["result"]) for a in answers] == [
        ("completed", "a"),
        ("completed", {"b": 1}),
    ]
    assert (await api.queue("next"))["queued"] == 1
    again = await api.report_many(
        worker, [{"taskId": task["taskId"], "state": "complete", "publish": NEXT}]
    )
    assert again[0]["result"] == "a"
    assert (await api.queue("next"))["queued"] == 1


async def test_a_batch_carries_at_most_max_batch_follow_ups_in_all(
    api: Api, engine: Context
) -> None:
    """Each item within max_follow_ups, together over max_batch: the whole batch is refused,
    nothing changed (a batch publishes no more events than a PUT /tasks may)."""
    worker, task = await held_task(api)
    await api.publish("pub", {"step": 1})
    second = await api.claim(worker)
    assert second is not None
    per_item = engine.limits.max_follow_ups
    items = engine.limits.max_batch // per_item + 1
    reports = [
        {"taskId": tid, "state": "complete", "publish": NEXT * per_item}
        for tid in [task["taskId"], second["taskId"], *["x"] * (items - 2)]
    ]
    with pytest.raises(ApiError) as refused:
        await api.report_many(worker, reports)
    assert refused.value.code == "LIMIT_EXCEEDED"
    if api.transport == "rest":
        assert (refused.value.status, refused.value.param) == (400, "reports")
    assert (await api.task(task["taskId"]))["state"] == "started"
    assert (await api.queue("next"))["queued"] == 0


@pytest.mark.parametrize(
    "arguments", ['taskIds: ["a"], completions: [{taskId: "a"}]', ""], ids=["both", "neither"]
)
async def test_complete_tasks_takes_task_ids_or_completions(
    http: httpx.AsyncClient, arguments: str
) -> None:
    api = GraphQLApi(http)
    worker = (await api.register_worker(["q"]))["workerId"]
    call = f'mutation {{ completeTasks(workerId: "{worker}", {arguments}) {{ error {{ code }} }} }}'
    with pytest.raises(ApiError) as refused:
        await api.graphql(call.replace(", )", ")"))
    assert (refused.value.code, refused.value.param) == ("INVALID_PARAMETER", "taskIds")


async def test_a_completion_that_loses_its_task_before_writing_publishes_no_duplicate(
    api: Api, clock: FakeClock, engine: Context, backend: str
) -> None:
    """The lease runs out (and the reaper puts the task back) between the completion's read
    and its compare-and-set: the completion is refused. On SQLite nothing is published (one
    transaction); on Couchbase the follow-ups were written first, and the task's next
    completion finds them in place: no duplicate (docs/stores.md)."""
    worker, task = await held_task(api)
    store = engine.store
    real = store.replace_tasks

    async def after_the_reaper(changes: Any) -> Any:
        store.replace_tasks = real  # type: ignore[method-assign]
        clock.advance(301)
        assert await reap_expired_leases(engine) == 1
        return await real(changes)

    store.replace_tasks = after_the_reaper  # type: ignore[method-assign]
    with pytest.raises(ApiError) as refused:
        await api.complete(worker, task["taskId"], publish=NEXT)
    assert refused.value.code == "NOT_TASK_HOLDER"
    assert (await api.task(task["taskId"]))["state"] == "queued"
    ahead = (await api.queue("next"))["queued"]
    assert ahead == (0 if backend == "sqlite" else 1)
    again = await api.claim(worker)
    assert again is not None and again["taskId"] == task["taskId"]
    await api.complete(worker, task["taskId"], publish=NEXT)
    assert (await api.queue("next"))["queued"] == 1
