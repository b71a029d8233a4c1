"""Progress reports (issue 16), through REST and GraphQL, on every store: only the holder may
report; a report is kept with the task and extends its lease."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from resolvers.context import Context
from resolvers.leases import reap_expired_leases
from tests.api.client import TASK_FIELDS, Api, ApiError, RestApi
from tests.api.conftest import TEST_SETTINGS
from tests.conftest import FakeClock

PROGRESS = (
    "mutation($w: ID!, $t: ID!, $p: JSON!) { reportProgress(workerId: $w, taskId: $t, "
    f"progress: $p) {{ {TASK_FIELDS} }} }}"
)


async def report(api: Api, worker: str, task_id: str, value: Any) -> dict[str, Any]:
    if isinstance(api, RestApi):
        body = {"workerId": worker, "taskId": task_id, "progress": value}
        return await api.call("PUT", "/task/progress", json=body)
    return (await api.call(PROGRESS, w=worker, t=task_id, p=value))["reportProgress"]


async def held(api: Api, lease: float = 30.0) -> tuple[str, dict[str, Any]]:
    await api.set_interests("q", "*")
    await api.configure_queue("q", leaseSeconds=lease)
    worker = (await api.register_worker(["q"]))["workerId"]
    await api.publish("pub", {"n": 1})
    task = await api.claim(worker)
    assert task is not None
    return worker, task


@pytest.mark.parametrize("value", [{"done": 3, "of": 10}, 0.5, "halfway", [1, 2]], ids=repr)
async def test_progress_is_kept_with_the_task(api: Api, value: Any) -> None:
    worker, task = await held(api)
    reported = await report(api, worker, task["taskId"], value)
    assert (reported["state"], reported["progress"]) == ("started", value)
    assert (await api.task(task["taskId"]))["progress"] == value
    done = await api.complete(worker, task["taskId"], result="ok")
    assert (done["progress"], done["result"]) == (value, "ok")


async def test_a_progress_report_extends_the_lease(
    api: Api, clock: FakeClock, engine: Context
) -> None:
    worker, task = await held(api, lease=30)
    clock.advance(20)
    reported = await report(api, worker, task["taskId"], 1)
    assert reported["leaseUntil"] == clock.now + 30
    clock.advance(20)
    assert await reap_expired_leases(engine) == 0
    assert (await api.task(task["taskId"]))["state"] == "started"
    clock.advance(10)
    assert await reap_expired_leases(engine) == 1


async def test_only_the_holder_may_report_progress(api: Api, clock: FakeClock) -> None:
    worker, task = await held(api)
    other = (await api.register_worker(["q"]))["workerId"]
    with pytest.raises(ApiError) as refused:
        await report(api, other, task["taskId"], 1)
    assert (refused.value.code, refused.value.param) == ("NOT_TASK_HOLDER", "taskId")
    if api.transport == "rest":
        assert refused.value.status == 409
    still = await api.task(task["taskId"])
    assert (still["progress"], still["leaseUntil"]) == (None, task["leaseUntil"])
    await api.complete(worker, task["taskId"])
    with pytest.raises(ApiError) as late:
        await report(api, worker, task["taskId"], 2)
    assert late.value.code == "NOT_TASK_HOLDER"
    with pytest.raises(ApiError) as missing:
        await report(api, worker, "no-such-task", 2)
    assert missing.value.code == "TASK_NOT_FOUND"


async def test_a_progress_report_too_large_is_refused(api: Api) -> None:
    worker, task = await held(api)
    with pytest.raises(ApiError) as refused:
        await report(api, worker, task["taskId"], "x" * TEST_SETTINGS.max_data_bytes)
    assert (refused.value.code, refused.value.param) == ("LIMIT_EXCEEDED", "progress")
    if api.transport == "rest":
        assert refused.value.status == 400
    assert (await api.task(task["taskId"]))["progress"] is None


async def test_rest_progress_needs_a_value(http: httpx.AsyncClient) -> None:
    """(GraphQL's JSON! refuses a missing progress before any resolver runs.)"""
    api = RestApi(http)
    worker, task = await held(api)
    with pytest.raises(ApiError) as refused:
        await api.call("PUT", "/task/progress", json={"workerId": worker, "taskId": task["taskId"]})
    assert (refused.value.code, refused.value.status) == ("MISSING_PARAMETER", 400)
    form = {"workerId": worker, "taskId": task["taskId"], "progress": "{bad"}
    with pytest.raises(ApiError) as malformed:
        await api.call("PUT", "/task/progress", data=form)
    assert malformed.value.code == "MALFORMED_JSON"
    form["progress"] = '{"step": 2}'
    assert (await api.call("PUT", "/task/progress", data=form))["progress"] == {"step": 2}
