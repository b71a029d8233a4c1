"""Client side of the fault layer: cancel the calling task at a store's awaits.

``Canceller.install(kv)`` wraps the key-value operations of one ``app.store.couchbase_kv.Kv``
(every part of a store shares it). A call started with ``Canceller.run`` is a *victim*: with the
seeded rate, each of its operations cancels it just before the operation is sent or just after
its answer came back, as a push subscription that closes, or a client that goes away, cancels
a running store call; or, with ``after=n``, it is cancelled right after its n-th operation
(to walk a call's awaits one by one). Calls not started with ``run`` are never cancelled.
"""

from __future__ import annotations

import asyncio
import contextvars
import random
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

T = TypeVar("T")
OPERATIONS = (
    "get", "cas_of", "insert", "upsert", "replace", "remove", "lock", "unlock", "incr",
    "mutate", "lookup",
)  # fmt: skip
_victim: contextvars.ContextVar[asyncio.Task[Any] | None] = contextvars.ContextVar(
    "victim", default=None
)


class Canceller:
    def __init__(self, seed: int = 0, rate: float = 0.0, after: int | None = None) -> None:
        self.rng = random.Random(seed)
        self.rate = rate
        self.after = after
        self.enabled = True
        self.cancelled = 0
        self._ops = 0

    def install(self, kv: Any) -> None:
        for name in OPERATIONS:
            if hasattr(kv, name):
                setattr(kv, name, self._wrap(getattr(kv, name)))

    def _wrap(self, op: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
        async def wrapped(*args: Any, **kwargs: Any) -> Any:
            await self._maybe_cancel()
            result = await op(*args, **kwargs)
            await self._maybe_cancel(counted=True)
            return result

        return wrapped

    async def _maybe_cancel(self, counted: bool = False) -> None:
        """Cancel the victim and give the cancellation a few turns of the loop to reach this
        task: it does when this task is the victim or one of the tasks it awaits (the answer
        is then lost, as when a cancellation arrives during the operation), and does not when
        the store runs this step in a task of its own."""
        victim = _victim.get()
        if not self.enabled or victim is None or victim.done():
            return
        if self.after is not None:
            self._ops += counted
            hit = counted and self._ops == self.after
        else:
            hit = self.rng.random() < self.rate / 2
        if hit:
            self.cancelled += 1
            victim.cancel()
            for _ in range(3):
                await asyncio.sleep(0)

    def run(self, coro: Coroutine[Any, Any, T]) -> asyncio.Task[T]:
        """Start ``coro`` as a task that the store's operations may cancel."""

        async def victim() -> T:
            _victim.set(asyncio.current_task())
            return await coro

        return asyncio.ensure_future(victim())

    async def call(self, coro: Coroutine[Any, Any, T]) -> T | None:
        """Run ``coro`` as a victim; its result, or None if it was cancelled."""
        task = self.run(coro)
        await asyncio.wait([task])
        return None if task.cancelled() else task.result()
