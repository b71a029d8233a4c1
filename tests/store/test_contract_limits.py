"""Flow limits inside claims (every backend): maxStarted and rateLimit per queue."""

from __future__ import annotations

import asyncio
import dataclasses

from resolvers.models import QueueLimits, QueueSettings, TaskState
from resolvers.store import Store
from tests.store.factories import NOW, claim_request, task

TWO_STARTED = {"q": QueueLimits(max_started=2, rate_limit=None, rate_period=1.0)}


def limited(*lanes: str, worker: str = "w1", now: float = NOW, **limits: QueueLimits):  # type: ignore[no-untyped-def]
    return claim_request(*lanes, worker=worker, now=now, limits=dict(limits))


async def test_max_started_holds_claims_back_until_a_task_finishes(store: Store) -> None:
    tasks = [task("q") for _ in range(4)]
    assert all(await store.insert_tasks(tasks))
    two = QueueLimits(max_started=2, rate_limit=None, rate_period=1.0)
    first = await store.claim_task(limited("q", q=two))
    second = await store.claim_task(limited("q", worker="w2", q=two))
    assert first is not None and second is not None
    request = limited("q", worker="w3", q=two)
    assert await store.claim_task(request) is None
    assert request.held_back == {"q": "started"}
    done = dataclasses.replace(first, state=TaskState.COMPLETED, finished_at=NOW)
    assert await store.replace_task(done, first.version)
    third = await store.claim_task(limited("q", worker="w3", q=two))
    assert third is not None and third.task_id == tasks[2].task_id
    # Without the limit the queue's other task is claimable: the limit alone held it back.
    assert await store.claim_task(limited("q", q=two)) is None
    assert await store.claim_task(claim_request("q")) is not None


async def test_a_batch_claim_takes_no_more_than_the_free_slots(store: Store) -> None:
    assert all(await store.insert_tasks([task("q") for _ in range(5)]))
    three = QueueLimits(max_started=3, rate_limit=None, rate_period=1.0)
    assert len(await store.claim_tasks(limited("q", q=three), 5)) == 3
    assert await store.claim_tasks(limited("q", q=three), 5) == []


async def test_a_limited_queue_moves_the_claim_on_to_the_next_queue(store: Store) -> None:
    assert all(await store.insert_tasks([task("q"), task("q"), task("r")]))
    one = QueueLimits(max_started=1, rate_limit=None, rate_period=1.0)
    assert (await store.claim_task(limited("q", "r", q=one))) is not None
    request = limited("q", "r", q=one)
    claimed = await store.claim_task(request)
    assert claimed is not None and claimed.queue == "r"
    assert request.held_back == {"q": "started"}


async def test_released_and_expired_tasks_give_their_slots_back(store: Store) -> None:
    assert all(await store.insert_tasks([task("q") for _ in range(3)]))
    one = QueueLimits(max_started=1, rate_limit=None, rate_period=1.0)
    held = await store.claim_task(limited("q", q=one))
    assert held is not None
    assert await store.claim_task(limited("q", worker="w2", q=one)) is None
    assert [t.task_id for t in await store.release_tasks("w1", NOW)] == [held.task_id]
    again = await store.claim_task(limited("q", worker="w2", q=one))
    assert again is not None
    # The lease reaper's move back to the queue frees the slot too.
    assert await store.replace_task(again.requeued(), again.version)
    assert await store.claim_task(limited("q", worker="w3", q=one)) is not None


async def test_concurrent_claims_never_pass_max_started(store: Store) -> None:
    assert all(await store.insert_tasks([task("q") for _ in range(12)]))
    three = QueueLimits(max_started=3, rate_limit=None, rate_period=1.0)
    got = await asyncio.gather(
        *(store.claim_task(limited("q", worker=f"w{i}", q=three)) for i in range(12))
    )
    assert len([t for t in got if t is not None]) == 3


async def test_rate_limit_counts_claims_per_window(store: Store) -> None:
    assert all(await store.insert_tasks([task("q") for _ in range(8)]))
    rate = QueueLimits(max_started=None, rate_limit=3, rate_period=10.0)
    start = (NOW // 10 + 1) * 10  # a window's first instant
    got = await asyncio.gather(
        *(store.claim_task(limited("q", worker=f"w{i}", now=start, q=rate)) for i in range(5))
    )
    assert len([t for t in got if t is not None]) == 3
    request = limited("q", now=start + 9.9, q=rate)
    assert await store.claim_task(request) is None
    assert request.held_back == {"q": "rate"}
    assert await store.claims_in_window("q", rate, start + 5) == 3
    # The next window opens: 3 more, whatever is still started.
    later = await store.claim_tasks(limited("q", now=start + 10, q=rate), 5)
    assert len(later) == 3
    assert await store.claims_in_window("q", rate, start + 10) == 3
    assert await store.claims_in_window("q", rate, start + 20) == 0


async def test_a_finished_task_of_a_limited_queue_moves_its_lane_stamp(store: Store) -> None:
    """A free slot may make the queue's ready tasks claimable: other nodes' subscribers
    must hear of it through the change stamps."""
    await store.put_interests("q", "*", NOW, QueueSettings())
    await store.update_queue("q", settings=QueueSettings(max_started=1))
    await store.list_queues()  # what every node's queue cache reads
    assert all(await store.insert_tasks([task("q"), task("q")]))
    one = QueueLimits(max_started=1, rate_limit=None, rate_period=1.0)
    held = await store.claim_task(limited("q", q=one))
    assert held is not None
    before = (await store.change_stamps(["q"]))["q"]
    done = dataclasses.replace(held, state=TaskState.COMPLETED, finished_at=NOW)
    assert await store.replace_task(done, held.version)
    assert (await store.change_stamps(["q"]))["q"] != before
