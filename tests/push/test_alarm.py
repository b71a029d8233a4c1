"""A push subscriber's wake-up: a ring is never lost, and a wait never outlasts its bound."""

from __future__ import annotations

import asyncio
import time

from app.notify import LocalNotifier
from resolvers.handoff import Offer
from resolvers.models import Worker


async def test_a_ring_before_the_wait_is_kept() -> None:
    notifier = LocalNotifier()
    with notifier.subscribe("w", ["q"]) as alarm:
        notifier.lanes_changed(["q"])
        started = time.monotonic()
        await alarm.wait(5)
        assert time.monotonic() - started < 0.5
        # ...once: the next wait sleeps until its bound.
        started = time.monotonic()
        await alarm.wait(0.2)
        assert time.monotonic() - started >= 0.15


async def test_a_ring_during_the_wait_wakes_it() -> None:
    notifier = LocalNotifier()
    with notifier.subscribe("w", ["q"]) as alarm:
        waiting = asyncio.ensure_future(alarm.wait(5))
        await asyncio.sleep(0.05)
        assert not waiting.done()
        notifier.worker_changed("w")
        await asyncio.wait_for(waiting, 0.5)


async def test_other_lanes_do_not_ring_and_closing_unsubscribes() -> None:
    notifier = LocalNotifier()
    with notifier.subscribe("w", ["q"]) as alarm:
        notifier.lanes_changed(["r"])
        started = time.monotonic()
        await alarm.wait(0.1)
        assert time.monotonic() - started >= 0.08
        assert notifier.subscribers() == 1
    assert notifier.subscribers() == 0
    assert notifier.watched_lanes() == []


async def test_a_lane_change_wakes_one_idle_subscriber_per_task_longest_waiting_first() -> None:
    notifier = LocalNotifier()
    with notifier.subscribe("a", ["q"]) as a, notifier.subscribe("b", ["q"]) as b:
        first = asyncio.ensure_future(a.wait(5))
        await asyncio.sleep(0.01)
        second = asyncio.ensure_future(b.wait(5))
        await asyncio.sleep(0.01)
        assert notifier.lanes_changed(["q"]) == 1
        await asyncio.wait_for(first, 0.5)
        assert not second.done()
        assert notifier.lanes_changed(["q", "q"]) == 1  # only b was left waiting
        await asyncio.wait_for(second, 0.5)


async def test_a_full_subscriber_sleeps_through_lane_changes() -> None:
    notifier = LocalNotifier()
    with notifier.subscribe("w", ["q"]) as alarm:
        alarm.offer = Offer(Worker(worker_id="w", queues=["q"]))
        alarm.offer.stand(0)  # no free slot: a new task is of no use to it
        notifier.lanes_changed(["q"])
        started = time.monotonic()
        await alarm.wait(0.2)
        assert time.monotonic() - started >= 0.15
        # Its own task finishing wakes it.
        waiting = asyncio.ensure_future(alarm.wait(5))
        await asyncio.sleep(0.01)
        notifier.worker_changed("w")
        await asyncio.wait_for(waiting, 0.5)


async def test_a_subscriber_that_leaves_after_a_ring_passes_it_on() -> None:
    notifier = LocalNotifier()
    with notifier.subscribe("b", ["q"]) as b:
        with notifier.subscribe("a", ["q"]) as a:
            first = asyncio.ensure_future(a.wait(5))
            await asyncio.sleep(0.01)
            second = asyncio.ensure_future(b.wait(5))
            await asyncio.sleep(0.01)
            assert notifier.lanes_changed(["q"]) == 1
            await asyncio.wait_for(first, 0.5)
            assert not second.done()
        # a left without looking again: b is woken in its place.
        await asyncio.wait_for(second, 0.5)
