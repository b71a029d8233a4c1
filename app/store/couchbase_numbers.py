"""Where a new task is numbered and filed on Couchbase: its ``seq``, drawn from its own queue's
counter, and the notes that let readers find its queue (``names``, ``wlane::{lane}``).

A queue's counter is ``seq::{queue}`` = ``{q: number of the queue, n: tasks numbered}``, so
publishes to independent queues share no document. A seq is ``SEQ_BASE + (n << QUEUE_BITS) +
q``: unique across queues (listings over several queues page by seq), increasing within a
queue, and above every seq of a store written before per-queue counters (those came from one
``seq`` counter shared by every queue, and stay below SEQ_BASE). Queue numbers come from the
``qnum`` counter, once per queue (the first node to create the queue's counter wins; the others
read its number).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from couchbase import subdocument as SD  # type: ignore[import-untyped]

from app.store.couchbase_codec import CACHE_LIMIT, QUEUE_BITS, make_seq
from app.store.couchbase_kv import Kv, path
from resolvers.errors import StoreUnavailable
from resolvers.models import Task


class Numbers:
    def __init__(self, kv: Kv) -> None:
        self.kv = kv
        self._queue_numbers: dict[str, int] = {}
        self._noted: set[tuple[str, str]] = set()

    async def number(self, tasks: Sequence[Task]) -> None:
        """Give each task the next seq of its queue (one counter operation per queue)."""
        by_queue: dict[str, list[Task]] = {}
        for task in tasks:
            by_queue.setdefault(task.queue, []).append(task)
        await asyncio.gather(*(self._number_queue(q, ts) for q, ts in by_queue.items()))

    async def _number_queue(self, queue: str, tasks: list[Task]) -> None:
        number = await self.queue_number(queue)
        key = self.kv.key("seq", queue)
        got = await self.kv.mutate(key, [SD.counter("n", len(tasks))])
        if got is None:
            raise StoreUnavailable(f"the counter of queue {queue!r} is gone; try again")
        last = int(got[1][0])
        for n, task in enumerate(tasks, start=last - len(tasks) + 1):
            task.seq = make_seq(n, number)

    async def queue_number(self, queue: str) -> int:
        known = self._queue_numbers.get(queue)
        if known is not None:
            return known
        key = self.kv.key("seq", queue)
        got = await self.kv.lookup(key, ["q"])
        if got is None or got[0][0] is None:
            fresh = await self.kv.incr(self.kv.key("qnum"), 1)
            if fresh >= 1 << QUEUE_BITS:
                raise StoreUnavailable("the store has numbered as many queues as it can")
            await self.kv.insert(key, {"q": fresh, "n": 0})
            got = await self.kv.lookup(key, ["q"])
            if got is None or got[0][0] is None:
                raise StoreUnavailable(f"the counter of queue {queue!r} is gone; try again")
        number = int(got[0][0])
        if len(self._queue_numbers) >= CACHE_LIMIT:
            self._queue_numbers.clear()
        self._queue_numbers[queue] = number
        return number

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
