"""Batches: many publishes or reports in one request, each item ruled as it would be alone."""

from __future__ import annotations

import pytest

from tests.api.client import Api, ApiError


async def test_publish_many_writes_each_event_and_answers_each_alone(api: Api) -> None:
    await api.set_interests("q", {"n": "."})
    answers = await api.publish_many(
        [
            {"publisher": "p", "data": {"n": 1}},
            {"publisher": "p", "data": "not an object"},
            {"publisher": "p", "data": {"other": 1}},
            {"publisher": "p", "data": {"n": 2}, "singularlyEnqueue": True},
            {"publisher": "p", "data": {"n": 2}, "singularlyEnqueue": True},
        ]
    )
    assert len(answers) == 5
    assert [t["queue"] for t in answers[0]["tasks"]] == ["q"]
    assert (answers[1]["error"]["code"], answers[1]["error"]["param"]) == (
        "INVALID_PARAMETER",
        "data",
    )
    assert answers[2]["discarded"] is True
    assert len(answers[3]["tasks"]) == 1
    assert answers[4]["skipped"] == [{"queue": "q", "workerId": None, "reason": "duplicate"}]
    assert (await api.queue("q"))["queued"] == 2


async def test_report_many(api: Api) -> None:
    await api.set_interests("q", "*")
    worker = (await api.register_worker(["q"]))["workerId"]
    for n in range(3):
        await api.publish("p", {"n": n})
    held = [await api.claim(worker) for _ in range(3)]
    ids = [t["taskId"] for t in held if t]
    answers = await api.report_many(
        worker,
        [
            {"taskId": ids[0], "state": "complete"},
            {"taskId": ids[1], "state": "fail", "failReason": "nope"},
            {"taskId": "no-such-task", "state": "complete"},
            {"taskId": ids[2], "state": "complete"},
        ],
    )
    assert [a.get("state") for a in answers] == ["completed", "failed", None, "completed"]
    assert answers[1]["failReason"] == "nope"
    assert answers[2]["error"]["code"] == "TASK_NOT_FOUND"


async def test_a_batch_must_be_a_non_empty_list(api: Api) -> None:
    with pytest.raises(ApiError) as refused:
        await api.publish_many([])
    assert refused.value.code == "INVALID_PARAMETER"
    assert (await api.summary())["tasks"]["queued"] == 0
