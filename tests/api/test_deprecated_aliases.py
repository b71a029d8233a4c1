"""Every deprecated alias still works and answers as its replacement does, side by side: each
operation runs in its old form and its new one on like fixtures (docs/graphql.md)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.api.client import ApiError, GraphQLApi
from tests.conftest import FakeClock

QUEUE_FIELDS = "name paused length workers counts { queued } settings { leaseSeconds }"


@pytest.fixture
def gql(http: httpx.AsyncClient) -> GraphQLApi:
    return GraphQLApi(http)


async def both(gql: GraphQLApi, old: str, new: str, **variables: Any) -> tuple[Any, Any]:
    """The answers of the old and the new form of one operation."""
    return await gql.graphql(old, **variables), await gql.graphql(new, **variables)


async def publish_to(gql: GraphQLApi, queue: str, **options: Any) -> str:
    await gql.set_interests(queue, {"q": f"^{queue}$"})
    published = await gql.publish("pub", {"q": queue}, **options)
    return str(published["tasks"][0]["taskId"])


async def test_task_worker_and_queue_queries(gql: GraphQLApi) -> None:
    task = await publish_to(gql, "q")
    worker = (await gql.register_worker(["q"], "w"))["workerId"]
    old, new = await both(
        gql,
        f"query($t: ID!, $w: ID!, $q: String!) {{ task(id: $t) {{ taskId state }} "
        f"worker(id: $w) {{ workerId name }} queue(name: $q) {{ {QUEUE_FIELDS} }} }}",
        f"query($t: ID!, $w: ID!, $q: String!) {{ task(taskId: $t) {{ taskId state }} "
        f"worker(workerId: $w) {{ workerId name }} queue(queue: $q) {{ {QUEUE_FIELDS} }} }}",
        t=task,
        w=worker,
        q="q",
    )
    assert old == new and old["task"] == {"taskId": task, "state": "queued"}


async def test_queue_settings_pause_and_resume(gql: GraphQLApi) -> None:
    await gql.set_interests("q", "*")
    for verb in ("pauseQueue", "resumeQueue"):
        old, new = await both(
            gql,
            f"mutation($q: String!) {{ {verb}(name: $q) {{ name paused }} }}",
            f"mutation($q: String!) {{ {verb}(queue: $q) {{ name paused }} }}",
            q="q",
        )
        assert old == new
    old, new = await both(
        gql,
        "mutation($q: String!) { configureQueue(name: $q, leaseSeconds: 42) { settings "
        "{ leaseSeconds } } }",
        "mutation($q: String!) { configureQueue(queue: $q, leaseSeconds: 42) { settings "
        "{ leaseSeconds } } }",
        q="q",
    )
    assert old == new == {"configureQueue": {"settings": {"leaseSeconds": 42}}}


async def test_run_now_and_delete_task(gql: GraphQLApi, clock: FakeClock) -> None:
    later = clock.now + 3600
    tasks = [await publish_to(gql, "q", runAt=later) for _ in range(2)]
    answers = [
        await gql.graphql(f"mutation($t: ID!) {{ runTaskNow({arg}: $t) {{ state runAt }} }}", t=t)
        for arg, t in zip(("id", "taskId"), tasks, strict=True)
    ]
    assert answers[0] == answers[1] == {"runTaskNow": {"state": "queued", "runAt": clock.now}}
    answers = [
        await gql.graphql(f"mutation($t: ID!) {{ deleteTask({arg}: $t) }}", t=t)
        for arg, t in zip(("id", "taskId"), tasks, strict=True)
    ]
    assert answers[0] == answers[1] == {"deleteTask": 1}


async def test_delete_worker_and_queue(gql: GraphQLApi) -> None:
    workers = [(await gql.register_worker(["q"]))["workerId"] for _ in range(2)]
    answers = [
        await gql.graphql(f"mutation($w: ID!) {{ deleteWorker({arg}: $w) }}", w=w)
        for arg, w in zip(("id", "workerId"), workers, strict=True)
    ]
    assert answers[0] == answers[1] == {"deleteWorker": 1}
    for queue in ("a", "b"):
        await publish_to(gql, queue)
    answers = [
        await gql.graphql(f"mutation($q: String!) {{ deleteQueue({arg}: $q) }}", q=q)
        for arg, q in (("name", "a"), ("queue", "b"))
    ]
    assert answers[0] == answers[1] == {"deleteQueue": 1}


async def test_delete_schedule_and_delete_schedules(gql: GraphQLApi) -> None:
    for name in ("a", "b"):
        await gql.create_schedule(name=name, cron="0 * * * *", publisher="p", data={"n": 1})
    old = await gql.graphql('mutation { deleteSchedule(name: "a") }')
    new = await gql.graphql('mutation { deleteSchedules(names: ["b", "b", "c"]) }')
    assert (old, new) == ({"deleteSchedule": True}, {"deleteSchedules": 1})
    assert await gql.schedules() == []


async def test_skipped_reason_and_its_code(gql: GraphQLApi) -> None:
    await gql.set_interests("lonely", "*")
    q = (
        "mutation($i: PublishTaskInput!) { publishTask(input: $i) "
        "{ skipped { queue code reason } } }"
    )
    answer = await gql.graphql(q, i={"publisher": "p", "data": {"n": 1}, "scope": "all"})
    assert answer["publishTask"]["skipped"] == [
        {"queue": "lonely", "code": "no_workers", "reason": "no workers"}
    ]


@pytest.mark.parametrize(
    ("operation", "code", "param"),
    [
        ('query { queue(queue: "q", name: "q") { name } }', "INVALID_PARAMETER", "name"),
        ("query { queue { name } }", "MISSING_PARAMETER", "queue"),
        ('query { worker(workerId: "w", id: "w") { name } }', "INVALID_PARAMETER", "id"),
        ("mutation { deleteWorker }", "MISSING_PARAMETER", "workerId"),
        ("query { task { id } }", "MISSING_PARAMETER", "taskId"),
    ],
)
async def test_one_name_must_be_given(
    gql: GraphQLApi, operation: str, code: str, param: str
) -> None:
    with pytest.raises(ApiError) as refused:
        await gql.graphql(operation)
    assert (refused.value.code, refused.value.param) == (code, param)


@pytest.mark.parametrize(
    ("field", "new", "old", "value", "code"),
    [
        # An unknown queue answers its view (exists false): a malformed name is an error.
        ("query { queue(%s) { name } }", "queue", "name", "no@pe", "INVALID_PARAMETER"),
        ("mutation { pauseQueue(%s) { name } }", "queue", "name", "nope", "QUEUE_NOT_FOUND"),
        ("mutation { deleteWorker(%s) }", "workerId", "id", "nope", "WORKER_NOT_FOUND"),
        ("mutation { deleteTask(%s) }", "taskId", "id", "nope", "TASK_NOT_FOUND"),
    ],
)
async def test_an_error_names_the_argument_given(
    gql: GraphQLApi, field: str, new: str, old: str, value: str, code: str
) -> None:
    for given in (old, new):
        with pytest.raises(ApiError) as refused:
            await gql.graphql(field % f'{given}: "{value}"')
        assert (refused.value.code, refused.value.param) == (code, given)
