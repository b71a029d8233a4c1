"""Waiting for outcomes from the client, end to end against a real server: publish(wait=) on the
async and sync publishers answers the finished task of every copy (one per interested queue),
from a poll worker and a push worker, or raises WaitTimeout naming the copies not finished."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import pytest

from couchqueue_client import (
    AsyncPublisher,
    CouchQueueError,
    Done,
    Event,
    Publisher,
    Task,
    TaskFailed,
    WaitTimeout,
)
from tests.client.helpers import ServerApi, eventually, quick_worker, running
from tests.nodes.server import ServerNode
from tests.push.wsclient import GraphQLSocket

UPDATES = "subscription($taskId: ID!) { taskUpdates(taskId: $taskId) { state progress result } }"


async def _second_queue(api: ServerApi, queue: str) -> str:
    """Another queue taking the same events as ``queue``: each publish makes two copies."""
    other = f"q-{uuid.uuid4().hex[:10]}"
    body = {"queue": other, "interests": {"to": f"^{queue}$"}}
    reply = await api.client.put("/interest", json=body)
    assert reply.status_code == 200, reply.text
    return other


def double(task: Task) -> int:
    return int(task.data["n"]) * 2


async def refuse(task: Task) -> None:
    raise TaskFailed("no thanks")


@pytest.mark.parametrize("mode", ["push", "poll"])
async def test_publish_wait_answers_the_finished_task_of_every_copy(
    server: ServerNode, api: ServerApi, queue: str, mode: Any
) -> None:
    other = await _second_queue(api, queue)
    async with (
        running(quick_worker(server.url, queue, double, mode)),
        running(quick_worker(server.url, other, refuse, mode)),
        AsyncPublisher(server.url) as publisher,
    ):
        tasks = await publisher.publish({"to": queue, "n": 21}, wait=10)
    by_queue = {task.queue: task for task in tasks}
    assert set(by_queue) == {queue, other}
    assert by_queue[queue].state == "completed" and by_queue[queue].finished
    assert by_queue[queue].result == 42
    assert by_queue[other].state == "failed"
    assert by_queue[other].fail_reason == "no thanks"
    assert all(task.finished_at is not None for task in tasks)


@pytest.mark.parametrize("mode", ["push", "poll"])
async def test_a_handlers_result_and_follow_ups_reach_the_publisher_and_the_next_queue(
    server: ServerNode, api: ServerApi, queue: str, mode: Any
) -> None:
    follow = f"q-{uuid.uuid4().hex[:10]}"
    await api.interest(follow)
    parents: list[tuple[str | None, Any]] = []

    async def split(task: Task) -> Done:
        n = int(task.data["n"])
        events = [Event({"to": follow, "part": part}) for part in (1, 2)]
        return Done(result={"doubled": n * 2}, publish=events)

    def record(task: Task) -> str:
        parents.append((task.parent_task_id, task.data["part"]))
        return f"part {task.data['part']}"

    async with (
        running(quick_worker(server.url, queue, split, mode)),
        running(quick_worker(server.url, follow, record, "poll")),
        AsyncPublisher(server.url) as publisher,
    ):
        [task] = await publisher.publish({"to": queue, "n": 21}, wait=10)
        assert (task.state, task.result) == ("completed", {"doubled": 42})
        await eventually(lambda: _length(parents, 2))
    assert sorted(parents) == [(task.task_id, 1), (task.task_id, 2)]


async def _length(items: list[Any], n: int) -> bool:
    return len(items) >= n


async def test_the_sync_publisher_waits_too(server: ServerNode, api: ServerApi, queue: str) -> None:
    async with running(quick_worker(server.url, queue, double, "poll")):
        with Publisher(server.url) as publisher:
            tasks = await asyncio.to_thread(publisher.publish, {"to": queue, "n": 1}, wait=10)
    assert [task.state for task in tasks] == ["completed"]


@pytest.mark.parametrize("sync", [False, True], ids=["async", "sync"])
async def test_a_wait_that_runs_out_names_the_unfinished_copies(
    server: ServerNode, api: ServerApi, queue: str, sync: bool
) -> None:
    other = await _second_queue(api, queue)
    # Only the first queue has a worker: its copy finishes, the other's waits.
    async with running(quick_worker(server.url, queue, double, "push")):
        started = time.monotonic()
        with pytest.raises(WaitTimeout) as late:
            if sync:
                with Publisher(server.url) as publisher:
                    await asyncio.to_thread(publisher.publish, {"to": queue, "n": 2}, wait=0.5)
            else:
                async with AsyncPublisher(server.url) as publisher:
                    await publisher.publish({"to": queue, "n": 2}, wait=0.5)
    assert 0.5 <= time.monotonic() - started < 5
    assert [(t.queue, t.state) for t in late.value.pending] == [(other, "queued")]
    assert [(t.queue, t.state) for t in late.value.finished] == [(queue, "completed")]
    assert late.value.pending[0].task_id in str(late.value)
    assert isinstance(late.value, TimeoutError)


async def test_wait_for_takes_task_ids_published_earlier(
    server: ServerNode, api: ServerApi, queue: str
) -> None:
    async with AsyncPublisher(server.url) as publisher:
        published = await publisher.publish({"to": queue, "n": 3})
        async with running(quick_worker(server.url, queue, double, "push")):
            [task] = await publisher.wait_for([t.task_id for t in published.tasks], 10)
    assert (task.task_id, task.state) == (published.tasks[0].task_id, "completed")


async def test_an_event_no_queue_takes_has_nothing_to_wait_for(server: ServerNode) -> None:
    async with AsyncPublisher(server.url) as publisher:
        assert await publisher.publish({"to": "nobody-listens"}, wait=5) == []


async def test_a_result_the_server_refuses_fails_the_task_with_the_reason(
    server: ServerNode, api: ServerApi, queue: str
) -> None:
    """Not left to come back at its lease's end, run again and be refused again."""

    def too_big(task: Task) -> str:
        return "x" * 300_000  # above the server's --max-data-bytes (256 KiB)

    async with (
        running(quick_worker(server.url, queue, too_big, "poll")),
        AsyncPublisher(server.url) as publisher,
    ):
        [task] = await publisher.publish({"to": queue}, wait=10)
    assert task.state == "failed" and task.result is None
    assert task.fail_reason is not None
    assert task.fail_reason.startswith("the server refused the handler's outcome: LIMIT_EXCEEDED")


@pytest.mark.parametrize("mode", ["push", "poll"])
async def test_progress_a_handler_reports_is_seen_by_a_task_updates_subscriber(
    server: ServerNode, api: ServerApi, queue: str, mode: Any
) -> None:
    """The handler goes on only once the subscriber has seen its progress."""
    seen = asyncio.Event()

    async def handler(task: Task) -> str:
        task.report_progress({"done": 1, "of": 2})
        await asyncio.wait_for(seen.wait(), 10)
        return "all done"

    updates: list[tuple[str, Any, Any]] = []
    ws_url = server.url.replace("http://", "ws://") + "/graphql"
    async with (
        GraphQLSocket(ws_url) as socket,
        running(quick_worker(server.url, queue, handler, mode)),
    ):
        task_id = await api.publish(queue)
        await socket.subscribe(UPDATES, taskId=task_id)
        while (message := await socket.next(within=10))["type"] != "complete":
            task = message["payload"]["data"]["taskUpdates"]
            updates.append((task["state"], task["progress"], task["result"]))
            if task["progress"] == {"done": 1, "of": 2}:
                seen.set()
    assert ("started", {"done": 1, "of": 2}, None) in updates
    assert updates[-1][0::2] == ("completed", "all done")


async def test_a_copy_removed_while_waited_for_ends_the_wait_with_its_error(
    server: ServerNode, api: ServerApi, queue: str
) -> None:
    other = await _second_queue(api, queue)
    async with AsyncPublisher(server.url) as publisher:
        published = await publisher.publish({"to": queue})
        waiting = asyncio.ensure_future(publisher.wait_for(published, 30))
        await asyncio.sleep(0.3)
        removed = next(t.task_id for t in published.tasks if t.queue == other)
        query = "mutation($id: ID!) { deleteTask(taskId: $id) }"
        reply = await api.client.post(
            "/graphql", json={"query": query, "variables": {"id": removed}}
        )
        assert reply.status_code == 200 and "errors" not in reply.json(), reply.text
        with pytest.raises(CouchQueueError) as gone:
            await asyncio.wait_for(waiting, 5)
        assert gone.value.code == "TASK_NOT_FOUND"
        # The other copy's long poll was ended with it: the server holds no wait.
        await eventually(lambda: _no_waits(api), within=3)


async def _no_waits(api: ServerApi) -> bool:
    metrics = (await api.client.get("/metrics")).text
    return "\ncouchqueue_task_waiters 0.0\n" in metrics
