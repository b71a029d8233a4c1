"""Flow limits (maxStarted, rateLimit) inside a SQLite claim's transaction.

The write transaction makes them exact across processes: the started count is read from the
queue's task counters (kept by triggers in the same transaction), the rate window's use from
``queue_rates``, both before the first task is taken, and the use is written back before the
transaction commits. A rolled-back claim takes its counts with it."""

from __future__ import annotations

import math
import sqlite3
from collections import Counter

from app.store.sql import SQLITE as SQL
from resolvers.models import ClaimRequest, QueueLimits, Task


class Budgets:
    """How many more tasks of each limited queue this claim may start; a queue at 0 is held
    back (``request.held_back`` says by which limit) and the claim moves on past it."""

    def __init__(self, conn: sqlite3.Connection, request: ClaimRequest) -> None:
        self._request = request
        # queue -> (tasks it may still start, the limit that binds: "started" or "rate")
        self._left: dict[str, tuple[float, str]] = {}
        self._taken: Counter[str] = Counter()
        for queue, limits in request.limits.items():
            left, by = self._budget(conn, queue, limits)
            self._left[queue] = (left, by)
            if left <= 0:
                request.held_back[queue] = by

    def _budget(
        self, conn: sqlite3.Connection, queue: str, limits: QueueLimits
    ) -> tuple[float, str]:
        left, by = math.inf, "started"
        if limits.max_started is not None:
            started = conn.execute(SQL["started_in_queue"], {"queue": queue}).fetchone()[0]
            left = limits.max_started - started
        if limits.rate_limit is not None and left > 0:
            found = conn.execute(
                SQL["rate_used"], {"queue": queue, "window": limits.window(self._request.now)}
            ).fetchone()
            room = limits.rate_limit - (found[0] if found else 0)
            if room <= left:
                left, by = room, "rate"
        return left, by

    def closed(self) -> list[str]:
        """The limited queues this claim may take nothing more of."""
        return [queue for queue, (left, _) in self._left.items() if left <= 0]

    def take(self, task: Task) -> bool:
        """Count a task taken; True when its queue has just run out of room."""
        found = self._left.get(task.queue)
        if found is None:
            return False
        left, by = found
        self._left[task.queue] = (left - 1, by)
        self._taken[task.queue] += 1
        if left - 1 > 0:
            return False
        self._request.held_back[task.queue] = by
        return True

    def record(self, conn: sqlite3.Connection) -> None:
        """Count this claim's takes in each rate-limited queue's window (same transaction)."""
        for queue, n in self._taken.items():
            limits = self._request.limits[queue]
            if limits.rate_limit is not None:
                window = limits.window(self._request.now)
                conn.execute(SQL["rate_add"], {"queue": queue, "window": window, "n": n})
