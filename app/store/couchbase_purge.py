"""The retention purge on Couchbase: ``delete_tasks`` of completed or failed tasks finished
before a time, reading per queue its finish-time directory and done directory (two reads), then
only the chunks that can hold a task finished before it: the chunks its old minutes name, and
any chunk counted but named by no minute (written by an earlier version, or by a writer slower
than the grace below), whose entries it then names. So a purge's reads grow with what it
deletes, not with the retained tail.

Safe to run on many nodes at once and to stop anywhere: deletions are CAS'd (one wins), a stale
entry is uncounted by whoever wins its removal, and a minute's marks are retired only after
its chunks were read with no entry of that minute left in them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from couchbase import subdocument as SD  # type: ignore[import-untyped]

from app.store.couchbase_codec import entry_state, logs_for
from app.store.couchbase_finished import (
    FINISHED_LOGS,
    MINUTE,
    finish_minute,
    mark_name,
    parse_mark,
)
from app.store.couchbase_index import DONE, Place, Stream
from app.store.couchbase_kv import MAX_SPECS, path
from app.store.couchbase_tasks import Stored, Tasks
from resolvers.models import TaskFilter, TaskState

# A minute's marks are retired only once it ended this long before the cutoff: a writer that
# marked it and is still writing its entry is slower than this (it would be re-marked anyway).
RETIRE_GRACE = 60.0
# Queues purged at once, chunks read per queue and pass, task documents read at once,
# attempts per deletion.
QUEUES_AT_ONCE = 8
CHUNKS_PER_PASS = 256
DOCS_PER_STEP = 64
DELETE_TRIES = 3

# A finished task's document expires this long after its retention at the least (and after
# twice its retention for retentions longer than this): the purge deletes it first, unless
# no purge runs for that long.
BACKSTOP_MARGIN = 3600.0

Names = Callable[[], Awaitable[list[str]]]


def backstop(completed_retention: float, failed_retention: float) -> dict[TaskState, float]:
    """The document expiry of completed and failed tasks: their retention plus a margin."""
    return {
        state: max(retention, 0.0) + max(BACKSTOP_MARGIN, retention)
        for state, retention in (
            (TaskState.COMPLETED, completed_retention),
            (TaskState.FAILED, failed_retention),
        )
    }


Chunk = tuple[Stream, int]


def is_purge(where: TaskFilter) -> bool:
    """A filter only the finish time and finished states narrow: what retention asks."""
    states = where.states or ()
    return (
        bool(states)
        and all(s in (TaskState.COMPLETED, TaskState.FAILED) for s in states)
        and where.finished_before is not None
        and where == TaskFilter(states=where.states, finished_before=where.finished_before)
    )


class Purger:
    def __init__(self, tasks: Tasks, names: Names) -> None:
        self.tasks = tasks
        self.index = tasks.index
        self.names = names

    async def purge(self, where: TaskFilter) -> int:
        limit = asyncio.Semaphore(QUEUES_AT_ONCE)

        async def one(queue: str) -> int:
            async with limit:
                return await self._queue(queue, where)

        return sum(await asyncio.gather(*(one(q) for q in await self.names())))

    async def _queue(self, queue: str, where: TaskFilter) -> int:
        assert where.finished_before is not None
        cutoff = where.finished_before
        logs = [log for log in logs_for(where.states) if log in FINISHED_LOGS]
        got, directory = await asyncio.gather(
            self.index.kv.get(self.index.finished_key(queue)),
            self.index.directory(queue, (DONE,)),
        )
        marks: dict[str, Any] = got[0] if got else {}
        named: set[Chunk] = set()
        old: dict[str, tuple[int, Chunk]] = {}
        for name in marks:
            minute, log, chunk, lane = parse_mark(name)
            if log not in logs:
                continue
            place = (Stream(queue, lane, log), chunk)
            named.add(place)
            if minute * MINUTE < cutoff:
                old[name] = (minute, place)
        counted = {
            (stream, chunk)
            for stream, chunks in directory.streams.items()
            if stream.log in logs
            for chunk in chunks
        }
        # Oldest minutes first, then chunks no minute names; at most CHUNKS_PER_PASS (the rest
        # next time), so one pass's work is bounded however long the purge did not run.
        by_age = sorted(old.values(), key=lambda m: (m[0], _order(m[1])))
        chosen = list(dict.fromkeys([p for _, p in by_age] + sorted(counted - named, key=_order)))
        wanted = chosen[:CHUNKS_PER_PASS]
        read = set(wanted)
        old = {name: m for name, m in old.items() if m[1] in read}
        contents = await self.index.read_chunks(wanted, {queue: directory})
        entries = [
            (Place(stream, chunk, ticket), entry)
            for (stream, chunk), content in zip(wanted, contents, strict=True)
            for ticket, entry in content.items()
        ]
        candidates = [e for e in entries if e[1].get("f") is not None and e[1]["f"] < cutoff]
        gone, deleted = await self._purge_entries(candidates, where)
        left = [e for e in entries if e[0].ticket not in gone]
        present = {
            mark_name(finish_minute(e["f"]), p.stream.log, p.chunk, p.stream.lane)
            for p, e in left
            if e.get("f") is not None
        }
        retire = [
            name
            for name, (minute, _) in old.items()
            if name not in present and (minute + 1) * MINUTE + RETIRE_GRACE <= cutoff
        ]
        key = self.index.finished_key(queue)
        for i in range(0, len(retire), MAX_SPECS):
            group = retire[i : i + MAX_SPECS]
            # A group fails whole if one path is gone (another purge retired it): then singly.
            if await self.index.kv.mutate(key, [SD.remove(path(n)) for n in group]) is None:
                await asyncio.gather(
                    *(self.index.kv.mutate(key, [SD.remove(path(n))]) for n in group)
                )
        self.index.forget_marks(queue, retire)
        adopt = sorted(present - set(marks))
        if adopt:
            specs = [SD.upsert(path(n), 1) for n in adopt]
            await self.index.kv.mutate_all(key, specs, create=True)
        return deleted

    async def _purge_entries(
        self, candidates: list[tuple[Place, dict[str, Any]]], where: TaskFilter
    ) -> tuple[set[str], int]:
        """Delete the live tasks of these entries and remove the stale entries: the tickets
        of the entries now gone, and how many tasks this call deleted."""
        gone: set[str] = set()
        deleted = 0
        for i in range(0, len(candidates), DOCS_PER_STEP):
            step = candidates[i : i + DOCS_PER_STEP]
            docs = await self.tasks.read_many([e["t"] for _, e in step])
            stale: list[Place] = []
            live: list[tuple[Place, Stored]] = []
            for (place, entry), stored in zip(step, docs, strict=True):
                doc = None if stored is None else stored.doc
                state = entry_state(entry, place.ticket, doc, where.finished_before)
                if state == "stale":
                    stale.append(place)
                elif state == "live" and stored is not None and where.matches(stored.task):
                    live.append((place, stored))
            # Through the finisher, as deletions are: a cancelled purge still uncounts what
            # its removals won.
            outcomes = await asyncio.gather(
                self.index.finisher.finish(self.index.remove(stale)),
                *(self._delete(s, where) for _, s in live),
            )
            gone.update(p.ticket for p in stale)
            for (place, _), won in zip(live, outcomes[1:], strict=True):
                if won:
                    gone.add(place.ticket)
                    deleted += 1
        return gone, deleted

    async def _delete(self, current: Stored | None, where: TaskFilter) -> bool:
        for _ in range(DELETE_TRIES):
            if current is None or not where.matches(current.task):
                return False
            if await self.tasks.delete(current):
                return True
            current = await self.tasks.read(current.task.task_id)
        return False


def _order(place: Chunk) -> tuple[str, str, int]:
    return (place[0].log, place[0].lane, place[1])
