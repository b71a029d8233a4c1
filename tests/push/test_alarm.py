"""A push subscriber's wake-up: a ring is never lost, and a wait never outlasts its bound."""

from __future__ import annotations

import asyncio
import time

from app.notify import LocalNotifier


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
