"""Listing, counting and bulk deletion of tasks on Couchbase, from the index documents.

Counts come from the directories' counters (one read per queue) and the started sets, except
for the one delayed bucket per lane that straddles ``now``, which is read to split scheduled from
queued.
Listings walk the chunked logs the filter needs, in seq order (the cursor is the last seq
returned), and read each candidate task to check it is live and matches the whole filter;
stale entries met on the way are removed (and uncounted).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from app.store.couchbase_codec import (
    COMPLETED,
    DELAYED,
    FAILED,
    READY,
    STARTED,
    bucket_start,
    entry_may_match,
    entry_state,
    logs_for,
    seq_chunk,
)
from app.store.couchbase_index import KIND_OF_LOG, WAITING, Directory, Place, Stream
from app.store.couchbase_tasks import Stored, Tasks
from resolvers.models import WORKER_LANE_PREFIX, TaskCounts, TaskFilter, TaskState

# Seq chunks read per step of a listing, and task documents read at once.
CHUNKS_PER_STEP = 4
DOCS_PER_STEP = 64
DELETE_TRIES = 3

Names = Callable[[], Awaitable[list[str]]]
# seq, log, ticket, entry, and where the entry is (None for a lease entry: not counted)
Entry = tuple[int, str, str, dict[str, Any], Place | None]


class Scanner:
    def __init__(self, tasks: Tasks, names: Names) -> None:
        self.tasks = tasks
        self.index = tasks.index
        self.names = names

    async def _queues(self, where: TaskFilter) -> list[str]:
        if where.queue is not None:
            return [where.queue]
        if where.lane is not None and where.lane.startswith(WORKER_LANE_PREFIX):
            return await self.tasks.lane_queues(where.lane)
        if where.lane is not None:
            return [where.lane]
        return await self.names()

    async def _directories(
        self, where: TaskFilter, queues: list[str], kinds: tuple[str, ...]
    ) -> dict[str, Directory]:
        """The queues' directories of these kinds, with those of the other lanes the filter
        covers (a worker's own lane asked for, or every lane of the queue)."""
        lanes: dict[str, list[str]] = {}
        if WAITING in kinds and where.lane is not None:
            lanes = {q: [where.lane] for q in queues if q != where.lane}
        elif WAITING in kinds:
            found = await asyncio.gather(*(self.index.other_lanes(q) for q in queues))
            lanes = dict(zip(queues, found, strict=True))
        return await self.index.directories(queues, kinds, lanes)

    # -- listing -----------------------------------------------------------------------------

    async def matching(
        self, where: TaskFilter, after: int | None = None, limit: int | None = None
    ) -> tuple[list[Stored], bool]:
        """Live tasks matching ``where`` with seq > after, by seq: at most ``limit`` of them,
        and whether there are more."""
        floor = -1 if after is None else after
        if where.task_ids is not None:
            read = await self.tasks.read_many(list(dict.fromkeys(where.task_ids)))
            return _page(
                [s for s in read if s and s.task.seq > floor and where.matches(s.task)], limit
            )
        if where.worker_id is not None and where.states == (TaskState.STARTED,):
            held = await self.tasks.held_by(where.worker_id)
            return _page([s for s in held if s.task.seq > floor and where.matches(s.task)], limit)
        queues = await self._queues(where)
        logs = logs_for(where.states)
        dirs = await self._directories(where, queues, kinds_for(logs))
        streams = {
            stream: chunks
            for d in dirs.values()
            for stream, chunks in d.streams.items()
            if stream.log in logs and (where.lane is None or stream.lane == where.lane)
        }
        # Entries not in seq chunks (delayed ones, started ones) are read whole, then merged.
        delayed = [(s, c) for s, chunks in streams.items() if s.log == DELAYED for c in chunks]
        pending: list[Entry] = [
            (entry["s"], DELAYED, ticket, entry, Place(s, c, ticket))
            for (s, c), chunk in zip(
                delayed, await self.index.read_chunks(delayed, dirs), strict=True
            )
            for ticket, entry in chunk.items()
            if entry["s"] > floor
        ]
        if STARTED in logs:
            pending += [
                (entry["s"], STARTED, ticket, entry, None)
                for ticket, entry in await self.index.leases_of(queues)
                if entry["s"] > floor and (where.lane is None or entry.get("l") == where.lane)
            ]
        first = seq_chunk(max(floor, 0))
        seq_logs = (READY, COMPLETED, FAILED)
        numbers = sorted(
            {c for s, chunks in streams.items() if s.log in seq_logs for c in chunks if c >= first}
            | {seq_chunk(e[0]) for e in pending}
        )
        found: list[Stored] = []
        for i in range(0, len(numbers), CHUNKS_PER_STEP):
            step = set(numbers[i : i + CHUNKS_PER_STEP])
            wanted = [
                (s, c)
                for s, chunks in streams.items()
                if s.log in seq_logs
                for c in chunks
                if c in step
            ]
            entries: list[Entry] = [
                (entry["s"], s.log, ticket, entry, Place(s, c, ticket))
                for (s, c), chunk in zip(
                    wanted, await self.index.read_chunks(wanted, dirs), strict=True
                )
                for ticket, entry in chunk.items()
                if entry["s"] > floor
            ]
            entries += [e for e in pending if seq_chunk(e[0]) in step]
            entries = [e for e in entries if entry_may_match(e[3], e[1], where)]
            entries.sort(key=lambda e: e[0])
            found += await self._live(entries, where)
            if limit is not None and len(found) > limit:
                break
        return _page(found, limit)

    async def _live(self, entries: list[Entry], where: TaskFilter) -> list[Stored]:
        out: list[Stored] = []
        stale: list[Place] = []
        for i in range(0, len(entries), DOCS_PER_STEP):
            step = entries[i : i + DOCS_PER_STEP]
            docs = await self.tasks.read_many([e[3]["t"] for e in step])
            for (_, _, ticket, entry, place), stored in zip(step, docs, strict=True):
                state = entry_state(entry, ticket, None if stored is None else stored.doc)
                if stored and state == "live" and where.matches(stored.task):
                    out.append(stored)
                elif state == "stale" and place is not None:
                    stale.append(place)
        self.index.remove_later(stale)
        return out

    # -- counting ----------------------------------------------------------------------------

    async def count(self, where: TaskFilter, now: float) -> TaskCounts:
        simple = TaskFilter(queue=where.queue, lane=where.lane, states=where.states)
        counts = TaskCounts()
        if simple != where:
            stored, _ = await self.matching(where)
            for s in stored:
                name = s.task.state_at(now).value
                setattr(counts, name, getattr(counts, name) + 1)
            return counts
        logs = logs_for(where.states)
        dirs = await self._directories(where, await self._queues(where), kinds_for(logs))
        straddling: list[tuple[Stream, int]] = []
        for directory in dirs.values():
            for stream, chunks in _streams(directory, where.lane, logs):
                total = sum(chunks.values())
                if stream.log == READY:
                    counts.queued += total
                elif stream.log == STARTED:
                    pass  # counted from the started sets below (older stores had counters)
                elif stream.log == COMPLETED:
                    counts.completed += total
                elif stream.log == FAILED:
                    counts.failed += total
                else:
                    for bucket, n in chunks.items():
                        if bucket_start(bucket) > now:
                            counts.scheduled += n
                        elif bucket_start(bucket + 1) <= now:
                            counts.queued += n
                        else:
                            straddling.append((stream, bucket))
        if STARTED in logs:
            for started in await asyncio.gather(*(self.index.started(q) for q in dirs)):
                counts.started += sum(
                    n for lane, n in started.items() if where.lane is None or lane == where.lane
                )
        for chunk in await self.index.chunks(straddling):
            for entry in chunk.values():
                if entry["r"] > now:
                    counts.scheduled += 1
                else:
                    counts.queued += 1
        return counts

    # -- deleting ----------------------------------------------------------------------------

    async def delete(self, where: TaskFilter) -> int:
        stored, _ = await self.matching(where)
        limit = asyncio.Semaphore(32)

        async def one(current: Stored | None) -> bool:
            async with limit:
                for _ in range(DELETE_TRIES):
                    if current is None or not where.matches(current.task):
                        return False
                    if await self.tasks.delete(current):
                        return True
                    current = await self.tasks.read(current.task.task_id)
                return False

        return sum(await asyncio.gather(*(one(s) for s in stored)))


def kinds_for(logs: Sequence[str]) -> tuple[str, ...]:
    """The directory documents that count these logs."""
    return tuple(dict.fromkeys(KIND_OF_LOG[log] for log in logs))


def _streams(
    directory: Directory, lane: str | None, logs: Sequence[str]
) -> list[tuple[Stream, dict[int, int]]]:
    return [
        (s, c)
        for s, c in directory.streams.items()
        if s.log in logs and (lane is None or s.lane == lane)
    ]


def _page(found: list[Stored], limit: int | None) -> tuple[list[Stored], bool]:
    found = sorted(found, key=lambda s: s.task.seq)
    if limit is None:
        return found, False
    return found[:limit], len(found) > limit
