"""How many websocket set-ups a node runs at once.

Thousands of push workers connecting together (a fleet starting, or coming back after a node
restart) each cost the node a handshake, a connection_init and a subscription's first steps
(parsing its document, reading its worker, a first look at its lanes), all on the event loop.
Run side by side, every turn of the loop carries a step of each, and a plain GET /healthz,
which needs a few turns, waited hundreds of milliseconds. The gate lets a few set-ups run at
once and queues the others (they wait on a semaphore, costing nothing), so a turn carries at
most a few set-up steps and everything else on the node keeps its pace; the set-ups, bound by
the CPU anyway, take about as long in all.

A slot is held from the start of a step to its end: a handshake until accepted (or refused),
a connection_init until answered, an operation until it settles (below) or ends. An operation
settles when its first message goes out, or when it waits for work (a push subscription or a
long-poll claim asleep, an event feed listening): app.notify calls ``settled`` then, finding
the operation's slot through a context variable the operation task set. Whatever happens, a
slot goes back after HOLD_AT_MOST seconds: a slow store read, a client reading slowly, or a
step that never settles makes the next set-ups wait no longer than that.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterator
from contextvars import ContextVar

# 4 rather than 8: with 3,000 workers connecting, the worst /healthz was 61 and 24 ms against
# 174 and 42 ms (two runs each), and connecting took as long (a set-up is bound by the CPU).
SETUPS_AT_ONCE = 4
HOLD_AT_MOST = 1.0

Release = Callable[[], None]

# The slot of the operation the current task runs (app.ws sets it, app.notify releases it).
_SETTLING: ContextVar[Release | None] = ContextVar("couchqueue_settling", default=None)


class SetupGate:
    """At most ``at_once`` (SETUPS_AT_ONCE) set-up steps at a time, each holding its slot at
    most ``hold_at_most`` (HOLD_AT_MOST) seconds; ``running`` and ``peak`` count them."""

    def __init__(self, at_once: int | None = None, hold_at_most: float | None = None) -> None:
        self.at_once = SETUPS_AT_ONCE if at_once is None else at_once
        self._hold_at_most = HOLD_AT_MOST if hold_at_most is None else hold_at_most
        self._slots = asyncio.Semaphore(self.at_once)
        self.running = 0
        self.peak = 0

    async def enter(self) -> Release:
        """Wait for a slot; the call that gives it back (idempotent, and made by a timer after
        HOLD_AT_MOST seconds if nothing else made it)."""
        await self._slots.acquire()
        self.running += 1
        self.peak = max(self.peak, self.running)
        held = True

        def release() -> None:
            nonlocal held
            if held:
                held = False
                timer.cancel()
                self.running -= 1
                self._slots.release()

        timer = asyncio.get_running_loop().call_later(self._hold_at_most, release)
        return release


@contextlib.contextmanager
def settling(release: Release) -> Iterator[None]:
    """While in it, ``settled`` in this task (and the coroutines it awaits) calls ``release``."""
    token = _SETTLING.set(release)
    try:
        yield
    finally:
        _SETTLING.reset(token)


def settled() -> None:
    """The operation the current task runs settled (it waits for work): its set-up slot, if
    it holds one, goes to the next set-up."""
    release = _SETTLING.get()
    if release is not None:
        release()
