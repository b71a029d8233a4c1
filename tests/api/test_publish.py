"""Publishing: scope any and all, delayed tasks, singularlyEnqueue and singularlyRun."""

from __future__ import annotations

from tests.api.client import Api
from tests.conftest import FakeClock


async def test_scope_any_gives_one_copy_per_interested_queue(api: Api) -> None:
    await api.set_interests("a", "*")
    await api.set_interests("b", {"kind": "x"})
    await api.set_interests("c", {"kind": "y"})
    published = await api.publish("pub", {"kind": "x"})
    copies = sorted((t["queue"], t["workerId"], t["state"]) for t in published["tasks"])
    assert copies == [("a", None, "queued"), ("b", None, "queued")]
    assert len({t["taskId"] for t in published["tasks"]}) == 2
    first = await api.task(published["tasks"][0]["taskId"])
    assert first["eventId"] == published["eventId"]
    assert (first["publisher"], first["data"], first["scope"]) == ("pub", {"kind": "x"}, "any")


async def test_any_copy_is_done_by_exactly_one_worker(api: Api) -> None:
    await api.set_interests("q", "*")
    w1 = (await api.register_worker(["q"]))["workerId"]
    w2 = (await api.register_worker(["q"]))["workerId"]
    await api.publish("pub", {"n": 1})
    got = [await api.claim(w1), await api.claim(w2)]
    assert sum(t is not None for t in got) == 1


async def test_scope_all_gives_each_registered_worker_its_own_copy(api: Api) -> None:
    await api.set_interests("cache", "*")
    await api.set_interests("empty", "*")
    w1 = (await api.register_worker(["cache"]))["workerId"]
    w2 = (await api.register_worker(["cache", "other"]))["workerId"]
    published = await api.publish("pub", {"flush": True}, scope="all")
    assert sorted((t["queue"], t["workerId"]) for t in published["tasks"]) == sorted(
        [("cache", w1), ("cache", w2)]
    )
    assert published["skipped"] == [{"queue": "empty", "workerId": None, "reason": "no workers"}]
    assert await api.worker_queue(w1) == 1 and await api.worker_queue(w2) == 1
    for worker in (w1, w2):
        task = await api.claim(worker)
        assert task is not None and task["workerId"] == worker and task["scope"] == "all"
        assert await api.claim(worker) is None
    # A worker registered after the publish gets no copy of it.
    late = (await api.register_worker(["cache"]))["workerId"]
    assert await api.claim(late) is None


async def test_scope_all_with_no_workers_anywhere_writes_nothing(api: Api) -> None:
    await api.set_interests("cache", "*")
    published = await api.publish("pub", {"flush": True}, scope="all")
    assert published["discarded"] is False and published["tasks"] == []
    assert published["skipped"] == [{"queue": "cache", "workerId": None, "reason": "no workers"}]


async def test_run_at_schedules_until_due(api: Api, clock: FakeClock) -> None:
    await api.set_interests("q", "*")
    worker = (await api.register_worker(["q"]))["workerId"]
    published = await api.publish("pub", {"n": 1}, runAt=clock.now + 60.5)
    [copy] = published["tasks"]
    assert copy["state"] == "scheduled"
    assert (await api.queue("q"))["scheduled"] == 1
    assert await api.claim(worker) is None
    clock.advance(60)
    assert await api.claim(worker) is None
    clock.advance(0.5)
    assert (await api.task(copy["taskId"]))["state"] == "queued"
    task = await api.claim(worker)
    assert task is not None and task["taskId"] == copy["taskId"] and task["runAt"] == clock.now


async def test_run_at_in_the_past_or_null_means_now(api: Api, clock: FakeClock) -> None:
    await api.set_interests("q", "*")
    worker = (await api.register_worker(["q"]))["workerId"]
    later = (await api.publish("pub", {"n": "now"}, runAt=None))["tasks"][0]
    earlier = (await api.publish("pub", {"n": "past"}, runAt=clock.now - 100))["tasks"][0]
    assert later["state"] == earlier["state"] == "queued"
    # Oldest ready first: by runAt, then publish order.
    first, second = await api.claim(worker), await api.claim(worker)
    assert first is not None and second is not None
    assert (first["taskId"], second["taskId"]) == (earlier["taskId"], later["taskId"])


async def test_singularly_enqueue_skips_a_duplicate_per_queue(api: Api) -> None:
    await api.set_interests("a", "*")
    await api.set_interests("b", "*")
    worker = (await api.register_worker(["a"]))["workerId"]
    first = await api.publish("pub", {"user": 1, "x": 2}, singularlyEnqueue=True)
    assert len(first["tasks"]) == 2
    # Same data with keys in another order: the same identity.
    again = await api.publish("pub", {"x": 2, "user": 1}, singularlyEnqueue=True)
    assert again["tasks"] == []
    assert sorted(s["queue"] for s in again["skipped"]) == ["a", "b"]
    assert {s["reason"] for s in again["skipped"]} == {"duplicate"}
    other = await api.publish("pub", {"user": 2, "x": 2}, singularlyEnqueue=True)
    assert len(other["tasks"]) == 2
    # Once started, the copy no longer waits: a new one may be enqueued in that queue.
    assert await api.claim(worker) is not None
    after = await api.publish("pub", {"user": 1, "x": 2}, singularlyEnqueue=True)
    assert [t["queue"] for t in after["tasks"]] == ["a"]
    assert [s["queue"] for s in after["skipped"]] == ["b"]


async def test_unique_key_names_the_identity(api: Api) -> None:
    await api.set_interests("q", "*")
    one = await api.publish("pub", {"n": 1}, singularlyEnqueue=True, uniqueKey="user-7")
    two = await api.publish("pub", {"n": 2}, singularlyEnqueue=True, uniqueKey="user-7")
    plain = await api.publish("pub", {"n": 1})
    assert len(one["tasks"]) == 1 and two["tasks"] == [] and len(plain["tasks"]) == 1


async def test_singularly_run_runs_one_copy_at_a_time(api: Api) -> None:
    await api.set_interests("q", "*")
    w1 = (await api.register_worker(["q"]))["workerId"]
    w2 = (await api.register_worker(["q"]))["workerId"]
    for _ in range(2):
        await api.publish("pub", {"report": "daily"}, singularlyRun=True)
    await api.publish("pub", {"report": "weekly"}, singularlyRun=True)
    first = await api.claim(w1)
    second = await api.claim(w2)
    assert first is not None and second is not None
    assert (first["data"], second["data"]) == ({"report": "daily"}, {"report": "weekly"})
    assert await api.claim(w2) is None
    await api.complete(w1, first["taskId"])
    third = await api.claim(w2)
    assert third is not None and third["data"] == {"report": "daily"}
