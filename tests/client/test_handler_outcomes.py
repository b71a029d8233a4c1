"""What a handler's return value becomes (no server): a plain JSON value is the task's result,
Done(result, publish=[...]) adds follow-up events, None or a value that is not JSON completes
without a result (handlers written before results keep working), and a Done that cannot be
sent fails the task with the reason. Progress reports are JSON, sent in the background, and a
newer value replaces one not sent yet."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest

from couchqueue_client import Done, Event, Task
from couchqueue_client.api import Report
from couchqueue_client.handler import HandlerRunner
from couchqueue_client.progress import ProgressSender

TASK = Task("t1", "e1", "q", "pub", {"n": 1}, 0.0, worker_id="w1")


async def _report(returned: Any) -> Report:
    async def handler(task: Task) -> Any:
        return returned

    return await HandlerRunner(handler, 1, publisher="me").run(TASK)


async def test_a_returned_json_value_is_the_result() -> None:
    report = await _report({"rows": 12})
    assert report.to_json() == {"taskId": "t1", "state": "complete", "result": {"rows": 12}}


async def test_none_and_values_that_are_not_json_complete_without_a_result() -> None:
    assert (await _report(None)).to_json() == {"taskId": "t1", "state": "complete"}
    assert (await _report(object())).to_json() == {"taskId": "t1", "state": "complete"}


async def test_done_carries_the_result_and_the_follow_up_events() -> None:
    returned = Done(
        result=[1, 2],
        publish=[Event({"step": "index"}), {"data": {"step": "mail"}, "publisher": "other"}],
    )
    body = (await _report(returned)).to_json()
    assert body["result"] == [1, 2]
    assert body["publish"] == [
        {"publisher": "me", "data": {"step": "index"}},
        {"publisher": "other", "data": {"step": "mail"}},
    ]


@pytest.mark.parametrize(
    "returned",
    [
        Done(result=object()),
        Done(publish=[{"data": {"x": object()}}]),
        Done(publish=[{"data": {}, "no_such_option": 1}]),
    ],
)
async def test_a_done_that_cannot_be_sent_fails_the_task(returned: Done) -> None:
    report = await _report(returned)
    assert report.state == "fail"
    assert report.fail_reason is not None and "TypeError" in report.fail_reason


async def test_a_sync_handlers_result_is_its_return_value() -> None:
    report = await HandlerRunner(lambda task: task.data["n"] + 1, 1).run(TASK)
    assert report.result == 2


class _Api:
    def __init__(self) -> None:
        self.sent: list[tuple[str, str, Any]] = []
        self.gate = asyncio.Event()

    async def progress(self, worker_id: str, task_id: str, value: Any) -> None:
        self.sent.append((worker_id, task_id, value))
        await self.gate.wait()


async def test_progress_is_sent_in_the_background_newest_value_first() -> None:
    api = _Api()
    sender = ProgressSender(api, asyncio.get_running_loop())  # type: ignore[arg-type]
    report = sender.open("w1", "t1")
    report(1)  # sent at once (the request then hangs until the gate opens)
    await asyncio.sleep(0.01)
    for value in (2, 3, 4):
        report(value)  # while one is on its way: only the newest is kept
    thread = threading.Thread(target=report, args=({"from": "a thread"},))
    thread.start()
    thread.join()
    await asyncio.sleep(0.01)
    api.gate.set()
    await asyncio.sleep(0.05)
    assert api.sent == [("w1", "t1", 1), ("w1", "t1", {"from": "a thread"})]
    with pytest.raises(TypeError):
        report(object())
    report.close()
    report(5)  # the handler is done: nothing more is sent
    await asyncio.sleep(0.01)
    assert len(api.sent) == 2
    await sender.close()


def test_only_a_task_handed_by_a_worker_reports_progress() -> None:
    with pytest.raises(RuntimeError):
        TASK.report_progress(1)
