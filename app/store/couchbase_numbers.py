"""Where a new task is numbered and filed on Couchbase: its ``seq``, and the notes that let
readers find its queue (``names``, ``wlane::{lane}``; and ``lanes::{queue}``, see Index.count).

Seqs come from the ``seq`` counter, shared by every queue, but not one increment per publish:
each process takes a block of BLOCK seqs at a time and numbers its publishes from it, in the
order they come, until the block is used up or BLOCK_SECONDS old. So the shared counter sees
one increment per BLOCK publishes of a process (or per second, when it publishes less), seqs
stay unique, and they follow publish order within a process, and across processes to within
BLOCK_SECONDS (listings over several queues are in seq order). Versions before blocks bumped
the same counter once per publish: their seqs, and theirs running beside these, never collide.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence

from couchbase import subdocument as SD  # type: ignore[import-untyped]

from app.store.couchbase_codec import CACHE_LIMIT
from app.store.couchbase_kv import Kv, path
from resolvers.models import Task

BLOCK = 64
BLOCK_SECONDS = 1.0


class Numbers:
    def __init__(self, kv: Kv) -> None:
        self.kv = kv
        self._next = 1
        self._end = 0  # the block is [_next, _end]; empty while _next > _end
        self._taken_at = 0.0
        self._refill = asyncio.Lock()
        self._noted: set[tuple[str, str]] = set()

    async def number(self, tasks: Sequence[Task]) -> None:
        """Give the tasks the next seqs of this process's block, in order (a new block when it
        runs out or is too old: one increment of ``seq``)."""
        for task in tasks:
            if not self._fresh():
                async with self._refill:
                    if not self._fresh():
                        end = await self.kv.incr(self.kv.key("seq"), BLOCK)
                        self._next, self._end = end - BLOCK + 1, end
                        self._taken_at = time.monotonic()
            task.seq = self._next
            self._next += 1

    def _fresh(self) -> bool:
        return self._next <= self._end and time.monotonic() - self._taken_at < BLOCK_SECONDS

    async def note(self, tasks: Sequence[Task]) -> None:
        """Record, once per process, the queues that ever held a task (``names``: so listings
        over all queues find them) and the queues a worker's own lane holds tasks of
        (``wlane::{lane}``: so the lane's directories are found). Written before the tasks'
        entries, so an index entry is never in a directory nobody can find."""
        new = {(t.lane if t.lane != t.queue else "", t.queue) for t in tasks} - self._noted
        if not new:
            return
        by_doc: dict[str, set[str]] = {}
        for lane, queue in new:
            by_doc.setdefault(self.kv.key("names"), set()).add(queue)
            if lane:
                by_doc.setdefault(self.kv.key("wlane", lane), set()).add(queue)
        await asyncio.gather(
            *(
                self.kv.mutate_all(
                    key, [SD.upsert(path(q), 1) for q in sorted(queues)], create=True
                )
                for key, queues in by_doc.items()
            )
        )
        if len(self._noted) >= CACHE_LIMIT:
            self._noted.clear()
        self._noted.update(new)
        self._noted.update(("", q) for _, q in new)

    async def lane_queues(self, lane: str) -> list[str]:
        got = await self.kv.get(self.kv.key("wlane", lane))
        return list(got[0]) if got else []
