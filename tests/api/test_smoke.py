"""The same scenario through REST and GraphQL: the harness itself works both ways."""

from __future__ import annotations

from tests.api.client import Api


async def test_publish_claim_complete(api: Api) -> None:
    await api.set_interests("emails", {"email": "^.*evan.*"})
    worker = await api.register_worker(["emails"], name="mailer")
    published = await api.publish("signup", {"email": "evan@example.com"})
    assert not published["discarded"]
    [copy] = published["tasks"]
    task = await api.claim(worker["workerId"])
    assert task is not None and task["taskId"] == copy["taskId"] and task["state"] == "started"
    done = await api.complete(worker["workerId"], task["taskId"])
    assert done["state"] == "completed"
    assert await api.claim(worker["workerId"]) is None
