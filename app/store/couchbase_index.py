"""Index documents of the Couchbase store: how tasks are found without a query service.

- Per queue, two *directory* documents, ``dir::{queue}`` (waiting tasks) and ``done::{queue}``
  (completed and failed ones): ``{"n": {"{log}|{chunk}|{lane}": count}}``, how many entries
  each chunk document holds; the waiting tasks of another lane (a worker's own) are counted in
  ``dir::{queue}::{lane}``, listed in ``lanes::{queue}``. Counts by state are sums of these
  counters, and a directory's CAS changes with every task queued in its lane (a cheap change
  stamp).
- Chunk documents ``log::{queue}::{log}::{chunk}::{lane}``: ``{ticket: entry}``. Seq-ordered logs
  (ready, started, completed, failed) are cut by seq // CHUNK; the delayed log by run_at bucket.
- Started tasks have no chunked log: they are indexed per worker, per queue and by lease
  expiry (see couchbase_leases, a mixin of Index).

Every chunk entry is counted (by its chunk's counter) before it is written, ahead of the task's
commit, and uncounted by whoever wins its sub-document removal: the writer that moved the task
on, a writer taking back what its lost CAS race added, or any reader that meets it stale. One
removal wins, so each entry is uncounted once. A counter only ever runs ahead of its chunk (an
increment or decrement lost to a timeout), never behind, so no entry is in a chunk nobody
looks at; a reader that finds a chunk's counter and contents unchanged and apart for SETTLE
seconds corrects the counter (see ``observe``).
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from couchbase import subdocument as SD  # type: ignore[import-untyped]

from app.store.couchbase_codec import (
    CACHE_LIMIT,
    COMPLETED,
    DELAYED,
    FAILED,
    READY,
    STARTED,
    chunk_of,
)
from app.store.couchbase_finish import Finisher
from app.store.couchbase_finished import FinishTimes, marks_of
from app.store.couchbase_kv import MAX_SPECS, Kv, path
from app.store.couchbase_leases import LeaseIndex
from resolvers.models import Task

# A directory with this many counters at zero is compacted (by CAS, never under a lock).
PRUNE_AT = 16
# A chunk counter seen apart from its chunk's entries, both unchanged, for this many KV
# timeouts (and at least SETTLE_MIN seconds) lost an update: it is corrected.
SETTLE_TIMEOUTS, SETTLE_MIN = 4, 1.0
# Attempts at a correction while other writes change the directory.
CORRECT_TRIES = 5
# A queue's two directory documents: counters of waiting and started tasks (read by claims),
# and of finished tasks.
WAITING, DONE = "dir", "done"
KIND_OF_LOG = {READY: WAITING, DELAYED: WAITING, STARTED: WAITING, COMPLETED: DONE, FAILED: DONE}


@dataclass(frozen=True, slots=True)
class Stream:
    """One chunked log: the entries of one queue, lane and log."""

    queue: str
    lane: str
    log: str


@dataclass(frozen=True, slots=True)
class Place:
    """One counted index entry: its stream, chunk and ticket."""

    stream: Stream
    chunk: int
    ticket: str


def dir_key(log: str, chunk: int, lane: str) -> str:
    return f"{log}|{chunk}|{lane}"


@dataclass
class Directory:
    """A queue's directory as read: non-zero counters by stream and chunk, and its CAS."""

    queue: str
    streams: dict[Stream, dict[int, int]] = field(default_factory=dict)
    cas: int = 0
    cached: bool = False  # read earlier, kept in memory: its counters are not checked


class Index(LeaseIndex, FinishTimes):
    def __init__(self, kv: Kv) -> None:
        self.kv = kv
        self.finisher = Finisher()
        self._lease_buckets: set[tuple[str | None, int]] = set()
        self._lease_minutes: set[tuple[str, int]] = set()
        self._lanes_noted: set[tuple[str, str]] = set()
        self._finish_marks: set[tuple[str, str]] = set()
        self._pruning: set[str] = set()
        # (stream, chunk) -> (counter, chunk CAS, first seen): counters seen apart from chunks.
        self._apart: dict[tuple[Stream, int], tuple[int, int, float]] = {}
        self.settle = max(SETTLE_MIN, SETTLE_TIMEOUTS * kv.config.timeout)

    # -- directories and chunks --------------------------------------------------------------

    def dir_doc_key(self, queue: str, kind: str = WAITING, lane: str | None = None) -> str:
        """The directory document counting a queue's chunks of this kind in this lane: the
        queue's own (``dir::{queue}``, ``done::{queue}``), or, for the waiting tasks of
        another lane (a worker's own), that lane's (``dir::{queue}::{lane}``): so a queue's
        claims never read the counters of its workers' lanes, and a worker lane's publish does
        not move the stamp of the queue's own lane."""
        if kind == WAITING and lane is not None and lane != queue:
            return self.kv.key(kind, queue, lane)
        return self.kv.key(kind, queue)

    def lanes_key(self, queue: str) -> str:
        return self.kv.key("lanes", queue)

    async def other_lanes(self, queue: str) -> list[str]:
        """The lanes other than its own that ever held a task of the queue (``lanes::{queue}``,
        noted before their first entry)."""
        got = await self.kv.get(self.lanes_key(queue))
        return sorted(got[0]) if got else []

    def chunk_key(self, stream: Stream, chunk: int) -> str:
        return self.kv.key("log", stream.queue, stream.log, chunk, stream.lane)

    async def directory(
        self, queue: str, kinds: Sequence[str] = (WAITING,), lanes: Iterable[str] = ()
    ) -> Directory:
        """A queue's directory: its waiting counters (what claims read), and, when asked, its
        finished ones (a separate document, so claims never read the counters of the long
        tail of completed and failed tasks kept for retention); ``lanes``: the other lanes
        whose waiting counters to read too. A store written before lanes had documents of
        their own counts them in the queue's: counters of one chunk are added up."""
        keys = [self.dir_doc_key(queue, k) for k in kinds]
        if WAITING in kinds:
            keys += [self.dir_doc_key(queue, WAITING, lane) for lane in lanes]
        keys = list(dict.fromkeys(keys))
        found = await asyncio.gather(*(self.kv.get(key) for key in keys))
        directory = Directory(queue)
        sums: dict[tuple[str, int, str], int] = {}
        for key, got in zip(keys, found, strict=True):
            if got is None:
                continue
            doc, cas = got
            if key == self.dir_doc_key(queue):
                directory.cas = cas
            zeros = 0
            for name, count in (doc.get("n") or {}).items():
                log, chunk, lane = name.split("|", 2)
                if int(count) == 0:
                    zeros += 1
                place = (log, int(chunk), lane)
                sums[place] = sums.get(place, 0) + int(count)
            if zeros >= PRUNE_AT:
                self._prune_later(key, doc, cas)
        for (log, chunk, lane), count in sums.items():
            if count > 0:
                directory.streams.setdefault(Stream(queue, lane, log), {})[chunk] = count
        return directory

    async def directories(
        self,
        queues: Iterable[str],
        kinds: Sequence[str] = (WAITING,),
        lanes: dict[str, list[str]] | None = None,
    ) -> dict[str, Directory]:
        names = list(dict.fromkeys(queues))
        wanted = lanes or {}
        found = await asyncio.gather(*(self.directory(q, kinds, wanted.get(q, ())) for q in names))
        return dict(zip(names, found, strict=True))

    def _prune_later(self, key: str, doc: dict[str, Any], cas: int) -> None:
        """Drop the zero counters of a directory as read, in the background, one pruner per
        directory per process. No lock: the removal is made with the CAS read, so it fails
        (and waits for a later reader) if any counter changed since; claims and publishes
        never wait for it."""
        if key in self._pruning:
            return
        self._pruning.add(key)

        async def prune() -> None:
            try:
                zeros = [k for k, v in (doc.get("n") or {}).items() if int(v) == 0][:MAX_SPECS]
                if zeros:
                    await self.kv.mutate(key, [SD.remove(path("n", k)) for k in zeros], cas=cas)
            finally:
                self._pruning.discard(key)

        self.finisher.spawn(prune())

    async def chunk(self, stream: Stream, chunk: int) -> dict[str, dict[str, Any]]:
        got = await self.kv.get(self.chunk_key(stream, chunk))
        return {} if got is None else dict(got[0])

    async def chunks(self, wanted: Sequence[tuple[Stream, int]]) -> list[dict[str, dict[str, Any]]]:
        return list(await asyncio.gather(*(self.chunk(s, c) for s, c in wanted)))

    async def read_chunks(
        self, wanted: Sequence[tuple[Stream, int]], dirs: dict[str, Directory]
    ) -> list[dict[str, dict[str, Any]]]:
        """The chunks' entries, each checked against its counter in ``dirs`` (see observe)."""
        got = await self.kv.get_many([self.chunk_key(s, c) for s, c in wanted])
        for (stream, chunk), found in zip(wanted, got, strict=True):
            if dirs[stream.queue].cached:
                continue
            counted = dirs[stream.queue].streams.get(stream, {}).get(chunk, 0)
            content, cas = found if found is not None else ({}, 0)
            self.observe(stream, chunk, counted, len(content), cas)
        return [{} if found is None else dict(found[0]) for found in got]

    def observe(self, stream: Stream, chunk: int, counted: int, entries: int, cas: int) -> None:
        """A counter apart from its chunk is normal for an instant (an entry being added or
        removed between the two reads). Seen apart again after ``settle`` seconds with
        neither changed (the chunk's CAS and the counter the same), an update was lost to a
        timeout: the counter is moved to the entries' number, once across nodes (see
        ``_correct``)."""
        place = (stream, chunk)
        if counted == entries:
            self._apart.pop(place, None)
            return
        now = time.monotonic()
        seen = self._apart.get(place)
        if seen is None or seen[:2] != (counted, cas):
            if len(self._apart) >= CACHE_LIMIT:
                self._apart.clear()
            self._apart[place] = (counted, cas, now)
        elif now - seen[2] >= self.settle:
            del self._apart[place]
            self.finisher.spawn(self._correct(stream, chunk, counted, entries, cas))

    async def _correct(
        self, stream: Stream, chunk: int, counted: int, entries: int, chunk_cas: int
    ) -> None:
        """Move the counter from ``counted`` to ``entries``, with the directory's CAS, while
        the counter and the chunk are still as seen: once across nodes (another node's
        correction changes the counter, and this one stops). A CAS lost to another write is
        tried again, a few times."""
        key = self.dir_doc_key(stream.queue, KIND_OF_LOG[stream.log], stream.lane)
        counter = path("n", dir_key(stream.log, chunk, stream.lane))
        for _ in range(CORRECT_TRIES):
            got, now = await asyncio.gather(
                self.kv.lookup(key, [counter]), self.kv.cas_of(self.chunk_key(stream, chunk))
            )
            if got is None or got[0][0] != counted or now != chunk_cas:
                return
            spec = [SD.counter(counter, entries - counted)]
            if await self.kv.mutate(key, spec, cas=got[1]) is not None:
                if entries == 0:
                    await self._drop_if_empty(stream, chunk)
                return
            await asyncio.sleep(random.uniform(0, 0.01))

    async def add(self, entries: Sequence[tuple[Place, dict[str, Any]]]) -> None:
        """Count entries, then write them (one sub-document operation per directory, then per
        chunk). In that order, so no entry is ever in a chunk its counter does not show: an
        increment that fails (or is lost) stops the caller before the entry is written, and a
        counter can only run ahead of its chunk, which claims and listings tolerate. A finished
        task's finish-time mark comes first of all (see couchbase_finished)."""
        await self.note_finished(marks_of(entries))
        deltas: dict[str, dict[str, int]] = {}
        for place, _ in entries:
            _tally(deltas, place, +1)
        await asyncio.gather(*(self.count(q, d) for q, d in deltas.items()))
        await self.write(entries)

    async def write(self, entries: Sequence[tuple[Place, dict[str, Any]]]) -> None:
        """Write entries already counted (one sub-document operation per chunk)."""
        by_chunk: dict[tuple[Stream, int], list[Any]] = {}
        for place, value in entries:
            by_chunk.setdefault((place.stream, place.chunk), []).append(
                SD.insert(path(place.ticket), value)
            )
        await asyncio.gather(
            *(
                self.kv.mutate_all(self.chunk_key(stream, chunk), specs, create=True)
                for (stream, chunk), specs in by_chunk.items()
            )
        )

    async def remove(self, places: Sequence[Place]) -> int:
        """Remove entries and uncount those whose removal this call won (another remover, a
        reader that met the entry stale or the writer that made it so, uncounts the others); a
        chunk left empty is deleted. How many removals were won."""
        # One path per operation: a multi-path remove fails whole if one path is already gone.
        removed = await asyncio.gather(
            *(
                self.kv.mutate(self.chunk_key(p.stream, p.chunk), [SD.remove(path(p.ticket))])
                for p in places
            )
        )
        won = [p for p, r in zip(places, removed, strict=True) if r is not None]
        deltas: dict[str, dict[str, int]] = {}
        for place in won:
            _tally(deltas, place, -1)
        queues = list(deltas)
        counted = await asyncio.gather(*(self.count(q, deltas[q]) for q in queues))
        chunked = {(p.stream, p.chunk) for p in won}
        emptied = [
            (stream, chunk)
            for queue, counters in zip(queues, counted, strict=True)
            for key, value in counters.items()
            if value == 0
            for log, number, lane in [key.split("|", 2)]
            for stream, chunk in [(Stream(queue, lane, log), int(number))]
            if (stream, chunk) in chunked
        ]
        await asyncio.gather(*(self._drop_if_empty(s, c) for s, c in emptied))
        return len(won)

    def remove_later(self, places: Sequence[Place]) -> None:
        """Remove stale entries a reader met, in the background (see ``remove``)."""
        if places:
            self.finisher.spawn(self.remove(places))

    async def count(self, queue: str, deltas: dict[str, int]) -> dict[str, int | None]:
        """Apply counter deltas to the queue's directories (one sub-document operation per
        document); the new value of each counter."""
        by_doc: dict[str, list[str]] = {}
        others: set[str] = set()
        for k, d in deltas.items():
            if d:
                log, _, lane = k.split("|", 2)
                key = self.dir_doc_key(queue, KIND_OF_LOG[log], lane)
                by_doc.setdefault(key, []).append(k)
                if key != self.dir_doc_key(queue, KIND_OF_LOG[log]):
                    others.add(lane)
        await self._note_lanes(queue, others)
        outcomes = await asyncio.gather(
            *(self._count_in(key, names, deltas) for key, names in by_doc.items())
        )
        values: dict[str, int | None] = {}
        for names, outcome in zip(by_doc.values(), outcomes, strict=True):
            values.update(zip(names, outcome, strict=True))
        return values

    async def _note_lanes(self, queue: str, lanes: set[str]) -> None:
        """List the lanes in ``lanes::{queue}`` (once per process) before their directories
        are first written: counts and listings of the whole queue read the lanes it lists."""
        new = sorted(lane for lane in lanes if (queue, lane) not in self._lanes_noted)
        if not new:
            return
        specs = [SD.upsert(path(lane), 1) for lane in new]
        await self.kv.mutate_all(self.lanes_key(queue), specs, create=True)
        if len(self._lanes_noted) >= CACHE_LIMIT:
            self._lanes_noted.clear()
        self._lanes_noted.update((queue, lane) for lane in new)

    async def _count_in(
        self, key: str, names: list[str], deltas: dict[str, int]
    ) -> list[int | None]:
        specs = [SD.counter(path("n", k), deltas[k], create_parents=True) for k in names]
        outcome = await self.kv.mutate_all(key, specs, create=True)
        values: list[int | None] = []
        for group, size in zip(outcome, _sizes(len(specs)), strict=True):
            values.extend(group[1] if group is not None else [None] * size)
        return values

    async def _drop_if_empty(self, stream: Stream, chunk: int) -> None:
        key = self.chunk_key(stream, chunk)
        got = await self.kv.get(key)
        if got is not None and not got[0]:
            await self.kv.remove(key, got[1])

    def place(self, task: Task, log: str, ticket: str) -> Place:
        return Place(Stream(task.queue, task.lane, log), chunk_of(task, log), ticket)


def _tally(deltas: dict[str, dict[str, int]], place: Place, delta: int) -> None:
    counts = deltas.setdefault(place.stream.queue, {})
    key = dir_key(place.stream.log, place.chunk, place.stream.lane)
    counts[key] = counts.get(key, 0) + delta


def _sizes(total: int) -> list[int]:
    return [min(MAX_SPECS, total - i) for i in range(0, total, MAX_SPECS)]
