"""The failed queue: filters and paging; retry or remove one, a filtered set, or all."""

from __future__ import annotations

import httpx
import pytest

from tests.api.client import Api, ApiError, RestApi
from tests.conftest import FakeClock


async def fill(api: Api, clock: FakeClock) -> dict[str, str]:
    """Four failed tasks: (queue, publisher, reason) varied, one minute apart."""
    for queue in ("mail", "sms"):
        await api.set_interests(queue, {"to": queue})
    worker = (await api.register_worker(["mail", "sms"]))["workerId"]
    ids = {}
    for label, queue, publisher, reason in [
        ("a", "mail", "shop", "SMTP timeout"),
        ("b", "mail", "blog", "bad address"),
        ("c", "sms", "shop", "gateway TIMEOUT"),
        ("d", "sms", "blog", "quota"),
    ]:
        await api.publish(publisher, {"to": queue, "label": label})
        task = await api.claim(worker)
        assert task is not None
        await api.fail(worker, task["taskId"], reason=reason)
        ids[label] = task["taskId"]
        clock.advance(60)
    return ids


def labels(tasks: list[dict]) -> list[str]:
    return [t["data"]["label"] for t in tasks]


async def test_filters(api: Api, clock: FakeClock) -> None:
    await fill(api, clock)
    assert labels(await api.failed_where()) == ["a", "b", "c", "d"]
    assert labels(await api.failed_where(queue="mail")) == ["a", "b"]
    assert labels(await api.failed_where(publisher="shop")) == ["a", "c"]
    assert labels(await api.failed_where(reason="timeout")) == ["a", "c"]
    assert labels(await api.failed_where(queue="sms", reason="timeout")) == ["c"]
    start = clock.now - 240
    assert labels(await api.failed_where(since=start + 60, until=start + 180)) == ["b", "c"]


async def test_paging_through_the_failed_queue(api: Api, clock: FakeClock) -> None:
    await fill(api, clock)
    q = "query($a: String) { failedTasks(first: 3, after: $a) { tasks { taskId } nextCursor } }"
    first = (await api.graphql(q))["failedTasks"]
    assert len(first["tasks"]) == 3 and first["nextCursor"]
    rest = (await api.graphql(q, a=first["nextCursor"]))["failedTasks"]
    assert len(rest["tasks"]) == 1 and rest["nextCursor"] is None


async def test_retry_one_keeps_its_history(api: Api, clock: FakeClock) -> None:
    ids = await fill(api, clock)
    assert await api.retry_failed(taskId=ids["b"]) == 1
    back = await api.task(ids["b"])
    assert (back["state"], back["attempts"], back["failReason"]) == ("queued", 1, "bad address")
    assert labels(await api.failed_where()) == ["a", "c", "d"]
    with pytest.raises(ApiError) as again:
        await api.retry_failed(taskId=ids["b"])
    assert (again.value.code, again.value.param) == ("TASK_NOT_FOUND", "taskId")


async def test_retry_a_filtered_set_then_all(api: Api, clock: FakeClock) -> None:
    await fill(api, clock)
    assert await api.retry_failed(reason="timeout") == 2
    assert labels(await api.failed_where()) == ["b", "d"]
    assert await api.retry_failed() == 2
    assert await api.failed_where() == []
    summary = await api.summary()
    assert (summary["tasks"]["queued"], summary["tasks"]["failed"]) == (4, 0)


async def test_remove_one_a_filtered_set_then_all(api: Api, clock: FakeClock) -> None:
    ids = await fill(api, clock)
    assert await api.remove_failed(taskId=ids["a"]) == 1
    with pytest.raises(ApiError):
        await api.task(ids["a"])
    assert await api.remove_failed(queue="sms", publisher="blog") == 1
    assert labels(await api.failed_where()) == ["b", "c"]
    assert await api.remove_failed() == 2
    assert await api.failed_where() == []


async def test_rest_status_failed_queue_keeps_working_with_filters(
    http: httpx.AsyncClient, clock: FakeClock
) -> None:
    await fill(RestApi(http), clock)
    body = (await http.get("/status", params={"failedQueue": "mail"})).json()
    assert labels(body["failedQueue"]["tasks"]) == ["a", "b"]
    body = (await http.get("/status", params={"failedQueue": "", "reason": "TIMEOUT"})).json()
    assert labels(body["failedQueue"]["tasks"]) == ["a", "c"]


async def test_bad_time_range_is_refused(api: Api) -> None:
    with pytest.raises(ApiError) as refused:
        await api.retry_failed(since=100.0, until=50.0)
    assert (refused.value.code, refused.value.param) == ("INVALID_PARAMETER", "until")
