"""The long-poll claims waiting on this node: how many, bounded by a setting."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from resolvers.errors import TooManyWaiters


class Waiters:
    """Counts the claims waiting on this node, and keeps alive the clean-ups they leave
    behind when cancelled (a claim that completes after its waiter was cancelled)."""

    def __init__(self) -> None:
        self.count = 0
        # Of those, the ones subscribed to the notifier (which counts them among its alarms).
        self.subscribed = 0
        self._cleanups: set[asyncio.Task[Any]] = set()

    @contextmanager
    def admit(self, limit: int) -> Iterator[None]:
        """One more waiter while the block runs; TooManyWaiters if ``limit`` are waiting."""
        if self.count >= limit:
            raise TooManyWaiters(
                f"{limit} claims are waiting on this node already: try again shortly, or "
                "claim without waitSeconds",
                param="waitSeconds",
            )
        self.count += 1
        try:
            yield
        finally:
            self.count -= 1

    @contextmanager
    def subscribing(self) -> Iterator[None]:
        """A waiter subscribed to the notifier while the block runs."""
        self.subscribed += 1
        try:
            yield
        finally:
            self.subscribed -= 1

    def keep(self, cleanup: asyncio.Task[Any]) -> None:
        """Hold a reference to ``cleanup`` until it is done (the loop holds tasks weakly)."""
        self._cleanups.add(cleanup)
        cleanup.add_done_callback(self._cleanups.discard)
