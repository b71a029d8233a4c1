"""GET /status and its GraphQL twins: every option of the seed."""

from __future__ import annotations

import httpx

from tests.api.client import Api
from tests.conftest import FakeClock


async def populate(api: Api, clock: FakeClock) -> tuple[str, str]:
    await api.set_interests("emails", {"email": "."})
    await api.set_interests("audit", "*")
    worker = (await api.register_worker(["emails", "audit"], name="w"))["workerId"]
    await api.publish("pub", {"email": "a"})
    await api.publish("pub", {"email": "b"}, runAt=clock.now + 30)
    await api.publish("pub", {"n": 1}, scope="all")
    task = await api.claim(worker)
    assert task is not None
    return worker, task["taskId"]


async def test_summary_counts_queues_workers_and_tasks(api: Api, clock: FakeClock) -> None:
    await populate(api, clock)
    summary = await api.summary()
    assert (summary["queues"], summary["workers"]) == (2, 1)
    assert summary["tasks"] == {
        "scheduled": 2,
        "queued": 2,
        "started": 1,
        "completed": 0,
        "failed": 0,
    }


async def test_queue_status_has_its_length_and_counts(api: Api, clock: FakeClock) -> None:
    await populate(api, clock)
    emails = await api.queue("emails")
    # The claim took the worker's own copy (scope all, from audit) first.
    assert (emails["name"], emails["length"], emails["scheduled"], emails["queued"]) == (
        "emails",
        2,
        1,
        1,
    )
    assert (emails["started"], emails["paused"], emails["workers"]) == (0, False, 1)
    assert emails["interests"] == {"email": "."}
    audit = await api.queue("audit")
    assert (audit["length"], audit["queued"], audit["scheduled"], audit["started"]) == (2, 1, 1, 1)
    assert [q["name"] for q in await api.queues()] == ["audit", "emails"]


async def test_every_queue_s_status_counts_its_workers(api: Api, clock: FakeClock) -> None:
    """The listing counts workers once for all queues; it agrees with each queue's own."""
    await populate(api, clock)
    await api.register_worker(["audit"], name="second")
    await api.set_interests("nobody", "*")
    listed = {q["name"]: q for q in await api.queues()}
    assert {name: q["workers"] for name, q in listed.items()} == {
        "audit": 2,
        "emails": 1,
        "nobody": 0,
    }
    fields = ("workers", "length", "scheduled", "queued", "started", "latencySeconds")
    for name, status in listed.items():
        alone = await api.queue(name)
        assert [status[f] for f in fields] == [alone[f] for f in fields]


async def test_queue_latency_is_the_age_of_its_oldest_ready_task(
    api: Api, clock: FakeClock
) -> None:
    await api.set_interests("q", "*")
    assert (await api.queue("q"))["latencySeconds"] == 0
    await api.publish("pub", {"n": 1})
    await api.publish("pub", {"n": 2}, runAt=clock.now + 100)
    clock.advance(7)
    assert (await api.queue("q"))["latencySeconds"] == 7
    assert [q["latencySeconds"] for q in await api.queues()] == [7]
    worker = (await api.register_worker(["q"]))["workerId"]
    assert await api.claim(worker) is not None
    # Only the delayed task waits, and it is not due: nothing ready, no latency.
    assert (await api.queue("q"))["latencySeconds"] == 0
    clock.advance(100)
    assert (await api.queue("q"))["latencySeconds"] == 7
    assert (await api.queue("elsewhere"))["latencySeconds"] == 0


async def test_worker_queue_workers_interests_and_task(api: Api, clock: FakeClock) -> None:
    worker, task_id = await populate(api, clock)
    assert await api.worker_queue(worker) == 0
    assert await api.workers() == [{"workerId": worker, "name": "w", "queues": ["emails", "audit"]}]
    assert await api.workers("emails") == await api.workers()
    assert await api.workers("nobody-here") == []
    assert await api.interests() == {"audit": "*", "emails": {"email": "."}}
    task = await api.task(task_id)
    assert (task["taskId"], task["state"], task["workerId"]) == (task_id, "started", worker)


async def test_rest_status_answers_one_key_per_option(
    http: httpx.AsyncClient, clock: FakeClock
) -> None:
    from tests.api.client import RestApi

    worker, task_id = await populate(RestApi(http), clock)
    reply = await http.get(
        "/status",
        params={
            "queue": "emails",
            "queues": "",
            "workerQueue": worker,
            "interests": "",
            "workers": "",
            "failedQueue": "",
            "task": task_id,
        },
    )
    assert reply.status_code == 200
    body = reply.json()
    assert sorted(body) == sorted(
        ["queue", "queues", "workerQueue", "interests", "workers", "failedQueue", "task"]
    )
    assert body["workerQueue"] == {"workerId": worker, "length": 0}
    assert body["failedQueue"] == {"tasks": [], "nextCursor": None}
    only_queues = (await http.get("/status?queues")).json()
    assert list(only_queues) == ["queues"]


async def test_failed_queue_pages(api: Api) -> None:
    await api.set_interests("q", "*")
    worker = (await api.register_worker(["q"]))["workerId"]
    for n in range(5):
        await api.publish("pub", {"n": n})
        task = await api.claim(worker)
        assert task is not None
        await api.fail(worker, task["taskId"], reason=f"r{n}")
    assert [t["failReason"] for t in await api.failed()] == [f"r{n}" for n in range(5)]


async def test_an_unknown_queue_answers_its_view_in_every_status_option(
    api: Api, clock: FakeClock
) -> None:
    """One rule for every status option naming a queue: a queue deleted, or never created,
    answers its view (what still carries its name), never a 404."""
    never = await api.queue("welcome")
    assert never == {
        "name": "welcome",
        "exists": False,
        "length": 0,
        "scheduled": 0,
        "queued": 0,
        "started": 0,
        "completed": 0,
        "failed": 0,
        "paused": False,
        "workers": 0,
        "interests": None,
        "latencySeconds": 0,
        "limits": None,
    }
    assert await api.failed("welcome") == []
    assert await api.interests("welcome") == {}
    assert await api.workers("welcome") == []
    # Deleted with a task still running: the view shows it until it finishes.
    await api.set_interests("welcome", "*")
    worker = (await api.register_worker(["welcome"]))["workerId"]
    await api.publish("pub", {"n": 1})
    assert await api.claim(worker) is not None
    assert (await api.queue("welcome"))["exists"] is True
    await api.delete_queue("welcome")
    gone = await api.queue("welcome")
    assert (gone["exists"], gone["started"], gone["workers"], gone["interests"]) == (
        False,
        1,
        1,
        None,
    )


async def test_rest_status_naming_an_unknown_queue_answers_the_whole_request(
    http: httpx.AsyncClient,
) -> None:
    reply = await http.get("/status", params={"queue": "welcome", "failedQueue": "welcome"})
    assert reply.status_code == 200
    body = reply.json()
    assert (body["queue"]["name"], body["queue"]["exists"], body["queue"]["length"]) == (
        "welcome",
        False,
        0,
    )
    assert body["failedQueue"] == {"tasks": [], "nextCursor": None}
