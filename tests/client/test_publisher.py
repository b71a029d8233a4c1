"""Publisher and AsyncPublisher against the real server: results, options, batches, errors."""

from __future__ import annotations

import datetime as dt
import os
import socket
import uuid
from collections.abc import Iterator, Mapping
from typing import Any

import httpx
import pytest

from couchqueue_client import (
    AsyncPublisher,
    CouchQueueError,
    Event,
    Publisher,
    PublishResult,
    Unavailable,
)
from tests.nodes.server import ServerNode, free_port


@pytest.fixture
def target(server: ServerNode) -> Iterator[str]:
    """A queue of this test's own (it takes events whose data says {"to": queue})."""
    name = f"p-{uuid.uuid4().hex[:10]}"
    body = {"queue": name, "interests": {"to": f"^{name}$"}}
    assert httpx.put(server.url + "/interest", json=body).status_code == 200
    yield name


def status_of(server: ServerNode, task_id: str) -> dict[str, object]:
    return httpx.get(server.url + "/status", params={"task": task_id}).json()["task"]  # type: ignore[no-any-return]


def test_publish_answers_the_tasks_made(server: ServerNode, target: str) -> None:
    with Publisher(server.url) as publisher:
        result = publisher.publish({"to": target, "n": 1})
        later = publisher.publish(
            {"to": target},
            publisher="billing",
            run_at=dt.datetime.now(dt.UTC) + dt.timedelta(hours=1),
        )
        nobody = publisher.publish({"to": "no such queue"})
    [task] = result.tasks
    assert (task.queue, task.state, result.discarded) == (target, "queued", False)
    created = status_of(server, task.task_id)
    assert created["publisher"] == f"{socket.gethostname()}:{os.getpid()}"
    assert created["data"] == {"to": target, "n": 1}
    assert (later.tasks[0].state, status_of(server, later.tasks[0].task_id)["publisher"]) == (
        "scheduled",
        "billing",
    )
    assert (nobody.discarded, nobody.tasks) == (True, [])


def test_singularly_enqueue_skips_duplicates(server: ServerNode, target: str) -> None:
    with Publisher(server.url, publisher="dedup") as publisher:
        first = publisher.publish({"to": target}, singularly_enqueue=True, unique_key="k")
        second = publisher.publish({"to": target, "x": 2}, singularly_enqueue=True, unique_key="k")
    assert len(first.tasks) == 1
    assert (second.tasks, [s.queue for s in second.skipped]) == ([], [target])


def test_publish_many_answers_each_event_alone(server: ServerNode, target: str) -> None:
    events: list[Event | Mapping[str, Any]] = [
        Event({"to": target, "n": 1}),
        {"data": {"to": target, "n": 2}, "publisher": "batch"},
        {"data": {"to": target}, "scope": "sideways"},
    ]
    with Publisher(server.url) as publisher:
        one, two, bad = publisher.publish_many(events)
    assert isinstance(one, PublishResult) and isinstance(two, PublishResult)
    assert status_of(server, two.tasks[0].task_id)["publisher"] == "batch"
    assert isinstance(bad, CouchQueueError)
    assert (bad.code, bad.param) == ("INVALID_PARAMETER", "scope")


def test_errors_carry_the_server_code_param_and_status(server: ServerNode) -> None:
    with Publisher(server.url) as publisher, pytest.raises(CouchQueueError) as caught:
        publisher.publish({"n": 1}, scope="sideways")  # type: ignore[arg-type]
    error = caught.value
    assert (error.code, error.param, error.status) == ("INVALID_PARAMETER", "scope", 400)
    assert "scope" in error.message


def test_an_unreachable_server_is_unavailable() -> None:
    with (
        Publisher(f"http://127.0.0.1:{free_port()}") as publisher,
        pytest.raises(Unavailable) as caught,
    ):
        publisher.publish({"n": 1})
    assert (caught.value.code, caught.value.status, caught.value.retryable) == (
        "UNAVAILABLE",
        None,
        True,
    )


async def test_async_publisher(server: ServerNode) -> None:
    target = f"p-{uuid.uuid4().hex[:10]}"
    async with httpx.AsyncClient(base_url=server.url) as client:
        await client.put("/interest", json={"queue": target, "interests": {"to": f"^{target}$"}})
        async with AsyncPublisher(server.url, publisher="async") as publisher:
            result = await publisher.publish({"to": target})
            many = await publisher.publish_many([Event({"to": target})] * 3)
            with pytest.raises(CouchQueueError) as caught:
                await publisher.publish({"to": target}, run_at=-5)
        assert [r.tasks[0].queue for r in many if isinstance(r, PublishResult)] == [target] * 3
        assert caught.value.param == "runAt"
        reply = await client.get("/status", params={"task": result.tasks[0].task_id})
        assert reply.json()["task"]["publisher"] == "async"


def test_a_publisher_sets_and_deletes_a_queues_interests(server: ServerNode) -> None:
    name = f"i-{uuid.uuid4().hex[:10]}"
    with Publisher(server.url) as publisher:
        assert publisher.set_interests(name, {"to": f"^{name}$"}) == {"to": f"^{name}$"}
        [task] = publisher.publish({"to": name}).tasks
        assert task.queue == name
        with pytest.raises(CouchQueueError) as refused:
            publisher.set_interests(name, {"to": "("})
        assert refused.value.param == "interests"
        assert publisher.delete_interests(name) == 1
        assert publisher.publish({"to": name}).discarded


async def test_an_async_publisher_sets_and_deletes_a_queues_interests(server: ServerNode) -> None:
    name = f"i-{uuid.uuid4().hex[:10]}"
    async with AsyncPublisher(server.url) as publisher:
        assert await publisher.set_interests(name, "*") == "*"
        assert (await publisher.publish({"n": 1})).tasks
        assert await publisher.delete_interests(name) == 1
        assert await publisher.delete_interests(name) == 0
