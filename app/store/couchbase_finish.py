"""Multi-document steps of the Couchbase store that run to their end whoever stops waiting.

A caller's cancellation (a push subscription that closes cancels its running claims; a
request whose client went away) must not stop a task move between its commit and its
bookkeeping: ``finish`` runs such a step as its own task, so the caller may stop waiting while
the step completes. ``spawn`` starts housekeeping that nobody waits for (removing a stale entry
a reader met, pruning a directory). Both are tracked, so ``drain`` can wait for them at close.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

T = TypeVar("T")
log = logging.getLogger("couchqueue.store.couchbase")
# Housekeeping tasks in flight per process beyond which new ones are not started (each is
# retried by the next reader that meets the same leftover).
MAX_SPAWNED = 256


class Finisher:
    def __init__(self) -> None:
        self._running: set[asyncio.Task[Any]] = set()

    def _track(self, coro: Coroutine[Any, Any, T]) -> asyncio.Task[T]:
        task = asyncio.ensure_future(coro)
        self._running.add(task)
        task.add_done_callback(self._done)
        return task

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._running.discard(task)
        if not task.cancelled() and (exc := task.exception()) is not None:
            log.debug("couchbase store step failed after its caller left: %r", exc)

    async def finish(
        self,
        coro: Coroutine[Any, Any, T],
        abandoned: Callable[[T], Coroutine[Any, Any, Any]] | None = None,
    ) -> T:
        """Await ``coro`` to its end even if the caller is cancelled meanwhile. Then, if the
        caller was cancelled, ``abandoned(result)`` runs (to give back what nobody will use)."""
        task = self._track(coro)
        try:
            return await asyncio.shield(task)
        except asyncio.CancelledError:
            if abandoned is not None:
                task.add_done_callback(lambda t: self._after(t, abandoned))
            raise

    def _after(
        self, task: asyncio.Task[T], abandoned: Callable[[T], Coroutine[Any, Any, Any]]
    ) -> None:
        if not task.cancelled() and task.exception() is None:
            self._track(abandoned(task.result()))

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        """Run housekeeping in the background (dropped, closed, when too many are running)."""
        if len(self._running) >= MAX_SPAWNED:
            coro.close()
            return
        self._track(coro)

    async def drain(self) -> None:
        """Wait for every step still running (at close)."""
        while self._running:
            await asyncio.gather(*list(self._running), return_exceptions=True)
