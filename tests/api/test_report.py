"""Reporting a task: complete, fail, reEnqueue; only its holder may report it."""

from __future__ import annotations

import pytest

from tests.api.client import Api, ApiError
from tests.conftest import FakeClock


async def started_task(api: Api, queues: tuple[str, ...] = ("q",)) -> tuple[str, dict]:
    for queue in queues:
        await api.set_interests(queue, "*")
    worker = (await api.register_worker(list(queues)))["workerId"]
    await api.publish("pub", {"job": 1})
    task = await api.claim(worker)
    assert task is not None
    return worker, task


async def test_complete_finishes_the_task(api: Api, clock: FakeClock) -> None:
    worker, task = await started_task(api)
    clock.advance(2)
    done = await api.complete(worker, task["taskId"])
    assert (done["state"], done["finishedAt"], done["attempts"]) == ("completed", clock.now, 0)
    assert (await api.task(task["taskId"]))["state"] == "completed"
    assert (await api.queue("q"))["completed"] == 1
    assert await api.claim(worker) is None


async def test_complete_with_reenqueue_queues_a_fresh_copy(api: Api) -> None:
    worker, task = await started_task(api)
    done = await api.complete(worker, task["taskId"], reEnqueue=True)
    assert done["state"] == "completed"
    again = await api.claim(worker)
    assert again is not None
    assert again["taskId"] != task["taskId"]
    assert (again["eventId"], again["data"], again["attempts"]) == (
        task["eventId"],
        task["data"],
        0,
    )


async def test_fail_goes_to_the_failed_queue_with_its_reason(api: Api) -> None:
    worker, task = await started_task(api)
    failed = await api.fail(worker, task["taskId"], reason="SMTP timeout")
    assert (failed["state"], failed["failReason"], failed["attempts"]) == (
        "failed",
        "SMTP timeout",
        1,
    )
    [listed] = await api.failed()
    assert listed["taskId"] == task["taskId"] and listed["failReason"] == "SMTP timeout"
    assert await api.failed("q") == [listed]
    assert (await api.queue("q"))["failed"] == 1
    assert await api.claim(worker) is None


async def test_fail_with_reenqueue_puts_the_task_back(api: Api, clock: FakeClock) -> None:
    worker, task = await started_task(api)
    back = await api.fail(worker, task["taskId"], reason="busy", reEnqueue=True)
    assert (back["state"], back["attempts"], back["failReason"]) == ("queued", 1, "busy")
    assert await api.failed() == []
    again = await api.claim(worker)
    assert again is not None and again["taskId"] == task["taskId"] and again["attempts"] == 1


async def test_only_the_holder_may_report(api: Api) -> None:
    worker, task = await started_task(api)
    other = (await api.register_worker(["q"]))["workerId"]
    with pytest.raises(ApiError) as refused:
        await api.complete(other, task["taskId"])
    assert (refused.value.code, refused.value.param) == ("NOT_TASK_HOLDER", "taskId")
    if api.transport == "rest":
        assert refused.value.status == 409
    still = await api.task(task["taskId"])
    assert (still["state"], still["workerId"]) == ("started", worker)
    await api.complete(worker, task["taskId"])
    with pytest.raises(ApiError) as twice:
        await api.fail(worker, task["taskId"])
    assert twice.value.code == "NOT_TASK_HOLDER"
    assert (await api.task(task["taskId"]))["state"] == "completed"


async def test_a_queued_task_cannot_be_reported(api: Api) -> None:
    await api.set_interests("q", "*")
    worker = (await api.register_worker(["q"]))["workerId"]
    task_id = (await api.publish("pub", {"n": 1}))["tasks"][0]["taskId"]
    with pytest.raises(ApiError) as refused:
        await api.complete(worker, task_id)
    assert refused.value.code == "NOT_TASK_HOLDER"
    assert (await api.task(task_id))["state"] == "queued"


@pytest.mark.parametrize("how", ["reEnqueue", "retry", "batch"])
async def test_a_task_going_back_beside_a_waiting_duplicate_is_answered_dropped(
    api: Api, how: str
) -> None:
    """A singularlyEnqueue task failed back into a queue where a copy of the same work waits
    is dropped (that copy stands for it), and the worker is told so, not "queued"."""
    await api.set_interests("q", "*")
    if how == "retry":
        await api.configure_queue("q", retryLimit=1, retryDelays=[0])
    worker = (await api.register_worker(["q"]))["workerId"]
    await api.publish("pub", {"n": 1}, singularlyEnqueue=True)
    held = await api.claim(worker)
    assert held is not None
    waiting = (await api.publish("pub", {"n": 1}, singularlyEnqueue=True))["tasks"][0]["taskId"]
    if how == "batch":
        [answer] = await api.report_many(
            worker,
            [{"taskId": held["taskId"], "state": "fail", "failReason": "x", "reEnqueue": True}],
        )
    else:
        again = {"reEnqueue": True} if how == "reEnqueue" else {}
        answer = await api.fail(worker, held["taskId"], "x", **again)
    assert (answer["taskId"], answer["state"], answer["attempts"]) == (held["taskId"], "dropped", 1)
    with pytest.raises(ApiError) as gone:
        await api.task(held["taskId"])
    assert gone.value.code == "TASK_NOT_FOUND"
    assert (await api.task(waiting))["state"] == "queued"
    assert (await api.queue("q"))["queued"] == 1
