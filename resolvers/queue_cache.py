"""A per-process copy of the queue records and their compiled interests.

Compiling regexes on every publish would be wasteful, and a copy trusted for a while could let
a publish miss an interest change made on another node. So the copy is trusted for at most
``max_age`` seconds before it is revalidated against the store's queues_version stamp, and a
change to the queue records is acknowledged only ``max_age`` after it was written: by then
every node's copy is either newer than the change or due for revalidation, so every publish
that starts after the acknowledgement sees the change, on every node. (Commit-wait: queue
changes are rare admin operations; publishes and claims are the hot path.) With max_age 0 the
stamp is read on every use.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from resolvers.interest_index import InterestIndex
from resolvers.models import JsonObject, Queue, QueueLimits, QueueSettings
from resolvers.store import Store


@dataclass(frozen=True, slots=True)
class QueueSnapshot:
    version: int
    queues: dict[str, Queue]
    interests: InterestIndex
    paused: frozenset[str]
    # The queues with flow limits (maxStarted, rateLimit), by name.
    limits: dict[str, QueueLimits] = field(default_factory=dict)

    def interested(self, data: JsonObject) -> list[str]:
        """The queues whose interests match an event's data, in name order."""
        return self.interests.interested(data)

    def lease_seconds(self, queues: list[str]) -> dict[str, float]:
        """Each existing queue's lease, for the store to apply per task."""
        return {q: self.queues[q].settings.lease_seconds for q in queues if q in self.queues}

    def settings(self, queue: str, defaults: QueueSettings) -> QueueSettings:
        """The queue's settings; ``defaults`` (the server's) for a queue deleted since its
        task was written."""
        record = self.queues.get(queue)
        return record.settings if record is not None else defaults


class QueueCache:
    def __init__(
        self, max_age: float = 0.0, monotonic: Callable[[], float] = time.monotonic
    ) -> None:
        self._snapshot: QueueSnapshot | None = None
        # The last index built: its compiled regexes outlive a dropped snapshot, so a queue
        # created among thousands does not compile all their patterns again.
        self._compiled: InterestIndex | None = None
        self._reload = asyncio.Lock()
        self._max_age = max_age
        self._monotonic = monotonic
        # When the snapshot was last known current: taken before the stamp was read.
        self._checked_at = -math.inf

    async def current(self, store: Store) -> QueueSnapshot:
        snapshot = self._snapshot
        if snapshot is not None and self._monotonic() - self._checked_at < self._max_age:
            return snapshot
        checked_at = self._monotonic()
        version = await store.queues_version()
        snapshot = self._snapshot
        if snapshot is not None and snapshot.version == version:
            self._checked_at = max(self._checked_at, checked_at)
            return snapshot
        async with self._reload:
            snapshot = self._snapshot
            if snapshot is not None and snapshot.version == version:
                return snapshot
            # The stamp is read before the records: if they change in between, the snapshot
            # holds newer records under an older stamp and is simply reloaded next time.
            queues = await store.list_queues()
            compiled = self._compiled.compiled if self._compiled is not None else None
            index = InterestIndex(
                ((q.name, q.interests) for q in queues if q.interests is not None), compiled
            )
            self._compiled = index
            snapshot = QueueSnapshot(
                version=version,
                queues={q.name: q for q in queues},
                interests=index,
                paused=frozenset(q.name for q in queues if q.paused),
                limits={
                    q.name: limits for q in queues if (limits := q.settings.limits()) is not None
                },
            )
            self._snapshot = snapshot
            self._checked_at = checked_at
            return snapshot

    async def changed(self) -> None:
        """Call after this process wrote a queue record, before acknowledging the change: this
        copy is dropped at once, and the wait lets every other node's copy expire."""
        self._snapshot = None
        self._checked_at = -math.inf
        if self._max_age > 0:
            await asyncio.sleep(self._max_age)
