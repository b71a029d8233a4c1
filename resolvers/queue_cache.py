"""A per-process copy of the queue records and their compiled interests.

Compiling regexes on every publish would be wasteful, and a fixed-time cache would let a publish
miss an interest change made on another node. So the copy is revalidated on every use against the
store's queues_version stamp: one cheap read, and a change is seen by every publish that starts
after it was acknowledged, on every node.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from resolvers.matching import Matcher, compile_matcher
from resolvers.models import Queue, QueueSettings
from resolvers.store import Store


@dataclass(frozen=True, slots=True)
class QueueSnapshot:
    version: int
    queues: dict[str, Queue]
    # (queue name, matcher) for queues with interests, in name order.
    matchers: tuple[tuple[str, Matcher], ...]
    paused: frozenset[str]

    def lease_seconds(self, queues: list[str]) -> dict[str, float]:
        """Each existing queue's lease, for the store to apply per task."""
        return {q: self.queues[q].settings.lease_seconds for q in queues if q in self.queues}

    def settings(self, queue: str) -> QueueSettings:
        """The queue's settings; defaults for a queue deleted since its task was written."""
        record = self.queues.get(queue)
        return record.settings if record is not None else QueueSettings()


class QueueCache:
    def __init__(self) -> None:
        self._snapshot: QueueSnapshot | None = None
        self._reload = asyncio.Lock()

    async def current(self, store: Store) -> QueueSnapshot:
        version = await store.queues_version()
        snapshot = self._snapshot
        if snapshot is not None and snapshot.version == version:
            return snapshot
        async with self._reload:
            snapshot = self._snapshot
            if snapshot is not None and snapshot.version == version:
                return snapshot
            # The stamp is read before the records: if they change in between, the snapshot
            # holds newer records under an older stamp and is simply reloaded next time.
            queues = await store.list_queues()
            matchers = []
            for queue in queues:
                matcher = compile_matcher(queue.interests)
                if matcher is not None:
                    matchers.append((queue.name, matcher))
            snapshot = QueueSnapshot(
                version=version,
                queues={q.name: q for q in queues},
                matchers=tuple(matchers),
                paused=frozenset(q.name for q in queues if q.paused),
            )
            self._snapshot = snapshot
            return snapshot
