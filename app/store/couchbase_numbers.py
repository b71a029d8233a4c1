"""Where a new task is numbered, counted and filed on Couchbase: its ``seq``, drawn from its own
queue's counter, its entry counted in its chunk's counter, and the notes that let readers find
its queue (``names``, ``wlane::{lane}``; and ``lanes::{queue}``, see Index.count).

A queue's seq counter lives in its directory ``dir::{queue}`` (path ``seq``, with the queue's
number ``q``), so publishes to independent queues share no document, and a publish numbers its
task and counts its entry in one sub-document operation: the entry's chunk depends on the seq,
so it is foretold from the last seq this process drew in the queue (an increment of the
foretold counter rides with the seq's). When the foretelling missed (another node published
meanwhile across a chunk's end), one more operation moves the count to the right counter,
still before any entry is written: a counter only ever runs ahead of its chunk.

A seq is ``SEQ_BASE + (n << QUEUE_BITS) + q``: unique across queues (listings over several
queues page by seq), increasing within a queue, and above every seq of a store written before
per-queue counters (those came from one ``seq`` counter shared by every queue, and stay below
SEQ_BASE). Queue numbers come from the ``qnum`` counter, once per queue (the first node to
note it in the directory wins; the others read its number).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from couchbase import subdocument as SD  # type: ignore[import-untyped]

from app.store.couchbase_codec import CACHE_LIMIT, QUEUE_BITS, chunk_at, make_seq
from app.store.couchbase_index import WAITING, Index, dir_key
from app.store.couchbase_kv import MAX_SPECS, Kv, path
from resolvers.errors import StoreUnavailable
from resolvers.models import Task

Counts = dict[str, int]


class Numbers:
    def __init__(self, index: Index) -> None:
        self.kv: Kv = index.kv
        self.index = index
        self._queue_numbers: dict[str, int] = {}
        self._last: dict[str, int] = {}  # per queue, the last n this process drew
        self._noted: set[tuple[str, str]] = set()

    async def number_and_count(self, plans: Sequence[tuple[Task, str]]) -> None:
        """Give each (task, log) its queue's next seq and count its entry in its chunk's
        counter (about one operation per queue)."""
        by_queue: dict[str, list[tuple[Task, str]]] = {}
        for task, log in plans:
            by_queue.setdefault(task.queue, []).append((task, log))
        await asyncio.gather(*(self._queue(q, ps) for q, ps in by_queue.items()))

    async def _queue(self, queue: str, plans: list[tuple[Task, str]]) -> None:
        number = await self.queue_number(queue)
        key = self.index.dir_doc_key(queue, WAITING)
        last = self._last.get(queue)
        # Only the queue's own lane is counted in this document (see Index.dir_doc_key).
        foretold = {
            k: d
            for k, d in (_counts(plans, number, last) if last is not None else {}).items()
            if k.split("|", 2)[2] == queue
        }
        if len(foretold) > MAX_SPECS - 1:
            foretold = {}
        specs = [SD.counter("seq", len(plans))]
        specs += [SD.counter(path("n", k), d, create_parents=True) for k, d in foretold.items()]
        got = await self.kv.mutate(key, specs, create=True)
        if got is None:
            raise StoreUnavailable(f"the directory of queue {queue!r} refused a count; try again")
        end = int(got[1][0])
        self._remember(queue, end)
        actual = _counts(plans, number, end - len(plans))
        for n, (task, _) in enumerate(plans, start=end - len(plans) + 1):
            task.seq = make_seq(n, number)
        fix = {k: actual.get(k, 0) - foretold.get(k, 0) for k in {*actual, *foretold}}
        fix = {k: d for k, d in fix.items() if d}
        if fix:
            await self.index.count(queue, fix)

    def _remember(self, queue: str, end: int) -> None:
        if len(self._last) >= CACHE_LIMIT:
            self._last.clear()
        self._last[queue] = max(end, self._last.get(queue, 0))

    async def queue_number(self, queue: str) -> int:
        known = self._queue_numbers.get(queue)
        if known is not None:
            return known
        key = self.index.dir_doc_key(queue, WAITING)
        got = await self.kv.lookup(key, ["q"])
        if got is None or got[0][0] is None:
            fresh = await self.kv.incr(self.kv.key("qnum"), 1)
            if fresh >= 1 << QUEUE_BITS:
                raise StoreUnavailable("the store has numbered as many queues as it can")
            await self.kv.mutate(key, [SD.insert("q", fresh)], create=True)
            got = await self.kv.lookup(key, ["q"])
            if got is None or got[0][0] is None:
                raise StoreUnavailable(f"the directory of queue {queue!r} is gone; try again")
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


def _counts(plans: list[tuple[Task, str]], number: int, last: int) -> Counts:
    """The chunk counters the plans' entries go to if their seqs follow ``last``."""
    counts: Counts = {}
    for n, (task, log) in enumerate(plans, start=last + 1):
        key = dir_key(log, chunk_at(log, make_seq(n, number), task.run_at), task.lane)
        counts[key] = counts.get(key, 0) + 1
    return counts
