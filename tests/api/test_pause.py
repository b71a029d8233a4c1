"""Paused queues accept publishes and hand out nothing until resumed."""

from __future__ import annotations

import pytest

from tests.api.client import Api, ApiError


async def test_a_paused_queue_accepts_but_does_not_deliver(api: Api) -> None:
    await api.set_interests("slow", "*")
    await api.set_interests("fast", "*")
    worker = (await api.register_worker(["slow", "fast"]))["workerId"]
    assert (await api.pause("slow"))["paused"] is True
    published = await api.publish("pub", {"n": 1})
    assert sorted(t["queue"] for t in published["tasks"]) == ["fast", "slow"]
    await api.publish("pub", {"n": 2}, scope="all")
    got = []
    while (task := await api.claim(worker)) is not None:
        got.append(task["queue"])
    assert got == ["fast", "fast"]
    assert (await api.queue("slow"))["paused"] is True
    assert (await api.queue("slow"))["length"] == 2
    assert (await api.resume("slow"))["paused"] is False
    resumed = [await api.claim(worker), await api.claim(worker)]
    assert [t["queue"] for t in resumed if t] == ["slow", "slow"]


async def test_pausing_an_unknown_queue_is_refused(api: Api) -> None:
    with pytest.raises(ApiError) as refused:
        await api.pause("nope")
    assert (refused.value.code, refused.value.param) == ("QUEUE_NOT_FOUND", "name")
