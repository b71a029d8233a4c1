"""Schedules and per-minute statistics on Couchbase.

Schedules: one document, ``schedules`` = ``{seq, items: {name: schedule}}``, each schedule with
its own version (the document's ``seq`` when it was last written). A change reads the document,
checks the schedule's version, and writes the document back with CAS: a mismatch caused by
another schedule's change only retries, while a changed version of this schedule answers
False, which is what makes a tick fire once across nodes.

Statistics: one document per minute, ``stats::{minute}`` = ``{queue: {counter: n}}``, added to
with sub-document counters (created on first use), so every node's flush adds up; the minutes
that have a document are listed in ``statsdir``. Each write of a flush also inserts a marker
(``@f.{flush id}``; no queue name has an ``@``) in the same atomic operation. A write whose
outcome is unknown (a timeout: applied or not) is settled at the next flush: inserting its
marker there either fences it off for good (it was not applied and now never will be) or finds
it present (it was applied: its counts, which the caller hands back after a failure, are taken
out of the new flush). So a flush retried after an ambiguous failure never counts twice.
"""

from __future__ import annotations

import asyncio
import dataclasses
import random
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from couchbase import subdocument as SD  # type: ignore[import-untyped]

from app.store.couchbase_codec import (
    CACHE_LIMIT,
    STAT_COUNTS,
    new_ticket,
    schedule_doc,
    schedule_from_doc,
    stats_row,
)
from app.store.couchbase_kv import MAX_SPECS, Kv, path
from resolvers.errors import StoreUnavailable
from resolvers.models import Schedule, StatsRow

T = TypeVar("T")
# Compare-and-set retries on the shared document before giving up.
CAS_TRIES = 50
# The marker of each statistics write, beside the queues of a minute's document.
FLUSHES = "@f"
APPLIED, FENCED = 1, 0
# Unsettled statistics writes kept per process (each a bounded group of counters); beyond this
# the oldest are forgotten: statistics may then count a flush twice, never lose a task.
MAX_IN_DOUBT = 1000

Counts = dict[tuple[str, str], int]


@dataclasses.dataclass(slots=True)
class _Write:
    """One atomic statistics write: counters of one minute, and its marker."""

    minute: float
    marker: str
    counts: Counts


class Meta:
    def __init__(self, kv: Kv) -> None:
        self.kv = kv
        self._stat_minutes: set[float] = set()
        self._in_doubt: list[_Write] = []

    # -- schedules ---------------------------------------------------------------------------

    async def _change_schedules(
        self, change: Callable[[dict[str, Any], int], T | None]
    ) -> T | None:
        """Read-modify-write of the schedules document by CAS, retried with jitter. ``change``
        edits the items in place (``seq`` is the version a written schedule gets) and returns
        a result, or None to write nothing."""
        key = self.kv.key("schedules")
        for attempt in range(CAS_TRIES):
            got = await self.kv.get(key)
            doc: dict[str, Any] = {"seq": 0, "items": {}} if got is None else got[0]
            items = dict(doc.get("items") or {})
            seq = int(doc.get("seq") or 0) + 1
            result = change(items, seq)
            if result is None:
                return None
            new = {"seq": seq, "items": items}
            done = await (
                self.kv.insert(key, new) if got is None else self.kv.replace(key, new, got[1])
            )
            if done is not None:
                return result
            await asyncio.sleep(random.uniform(0, 0.001 * (attempt + 1)))
        raise StoreUnavailable("the schedules document kept changing; try again")

    async def put_schedule(self, schedule: Schedule) -> Schedule:
        def change(items: dict[str, Any], seq: int) -> Schedule:
            stored = dataclasses.replace(schedule, version=seq)
            items[schedule.name] = schedule_doc(stored)
            return stored

        stored = await self._change_schedules(change)
        assert stored is not None
        return stored

    async def list_schedules(self) -> list[Schedule]:
        got = await self.kv.get(self.kv.key("schedules"))
        items = (got[0].get("items") or {}) if got else {}
        return [schedule_from_doc(items[name]) for name in sorted(items)]

    async def replace_schedule(self, schedule: Schedule, expected_version: int) -> bool:
        def change(items: dict[str, Any], seq: int) -> int | None:
            current = items.get(schedule.name)
            if current is None or current.get("version") != expected_version:
                return None
            items[schedule.name] = schedule_doc(dataclasses.replace(schedule, version=seq))
            return seq

        version = await self._change_schedules(change)
        if version is None:
            return False
        schedule.version = version
        return True

    async def delete_schedule(self, name: str) -> bool:
        def change(items: dict[str, Any], seq: int) -> bool | None:
            return True if items.pop(name, None) is not None else None

        return bool(await self._change_schedules(change))

    # -- statistics --------------------------------------------------------------------------

    def _stats_key(self, minute: float) -> str:
        return self.kv.key("stats", repr(float(minute)))

    async def add_stats(self, rows: Sequence[StatsRow]) -> None:
        """Add the rows' counts; idempotent across a failed flush whose rows come back (see
        the module doc)."""
        # Rows of one (minute, queue) are summed first: one counter per path and operation.
        sums: dict[float, Counts] = {}
        for row in rows:
            counts = sums.setdefault(float(row.minute), {})
            for name in STAT_COUNTS:
                counts[(row.queue, name)] = counts.get((row.queue, name), 0) + getattr(row, name)
        await self._settle(sums)
        writes = [
            _Write(minute, f"{new_ticket()}{n}", dict(group))
            for minute, counts in sums.items()
            for n, group in enumerate(_groups(counts))
        ]
        # In doubt until answered: a cancelled flush leaves them all to settle.
        self._in_doubt = (self._in_doubt + writes)[-MAX_IN_DOUBT:]
        outcomes = await asyncio.gather(*(self._write(w) for w in writes), return_exceptions=True)
        done = {id(w) for w, out in zip(writes, outcomes, strict=True) if out is None}
        self._in_doubt = [w for w in self._in_doubt if id(w) not in done]
        for out in outcomes:
            if isinstance(out, BaseException):
                raise out

    async def _settle(self, sums: dict[float, Counts]) -> None:
        """Settle the writes of failed flushes: fence off those not applied; take the counts
        of those applied out of ``sums`` (the caller re-sends a failed flush's rows)."""
        while self._in_doubt:
            write = self._in_doubt[0]
            key, marker = self._stats_key(write.minute), path(FLUSHES, write.marker)
            fence = [SD.insert(marker, FENCED, create_parents=True)]
            if await self.kv.mutate(key, fence, create=True) is None:
                # The marker was there: the write (1), or a fence of an earlier settling (0).
                got = await self.kv.lookup(key, [marker])
                applied = got is not None and got[0][0] == APPLIED
            else:
                applied = False
            await self._note_minute(write.minute)
            if applied:
                counts = sums.setdefault(write.minute, {})
                for field, n in write.counts.items():
                    counts[field] = counts.get(field, 0) - n
            self._in_doubt.pop(0)

    async def _write(self, write: _Write) -> None:
        specs = [
            SD.counter(path(queue, name), delta, create_parents=True)
            for (queue, name), delta in write.counts.items()
            if delta
        ]
        # A row of zeros still makes its (minute, queue) exist.
        specs += [
            SD.upsert(path(queue, "published"), 0, create_parents=True)
            for queue in sorted({queue for queue, _ in write.counts})
            if not any(d for (q, _), d in write.counts.items() if q == queue)
        ]
        specs.append(SD.insert(path(FLUSHES, write.marker), APPLIED, create_parents=True))
        await self.kv.mutate(self._stats_key(write.minute), specs, create=True)
        await self._note_minute(write.minute)

    async def _note_minute(self, minute: float) -> None:
        if minute not in self._stat_minutes:
            entry = [SD.upsert(path(repr(minute)), 1)]
            await self.kv.mutate(self.kv.key("statsdir"), entry, create=True)
            if len(self._stat_minutes) >= CACHE_LIMIT:
                self._stat_minutes.clear()
            self._stat_minutes.add(minute)

    async def _stat_docs(
        self, keep: Callable[[float], bool]
    ) -> list[tuple[float, dict[str, Any], int]]:
        got = await self.kv.get(self.kv.key("statsdir"))
        minutes = sorted(float(m) for m in (got[0] if got else {}) if keep(float(m)))
        docs = await self.kv.get_many([self._stats_key(m) for m in minutes])
        return [(m, d[0], d[1]) for m, d in zip(minutes, docs, strict=True) if d is not None]

    async def list_stats(self, queue: str | None, since: float, until: float) -> list[StatsRow]:
        found = await self._stat_docs(lambda m: since <= m < until)
        return [
            stats_row(name, minute, counts)
            for minute, doc, _ in found
            for name, counts in sorted(doc.items())
            if name != FLUSHES and (queue is None or name == queue)
        ]

    async def delete_stats_before(self, minute: float) -> int:
        found = await self._stat_docs(lambda m: m < minute)
        removed = await asyncio.gather(
            *(self.kv.remove(self._stats_key(m), cas) for m, _, cas in found)
        )
        gone = [m for (m, _, _), ok in zip(found, removed, strict=True) if ok]
        statsdir = self.kv.key("statsdir")
        await asyncio.gather(*(self.kv.mutate(statsdir, [SD.remove(path(repr(m)))]) for m in gone))
        self._stat_minutes.difference_update(gone)
        return sum(
            len(set(doc) - {FLUSHES}) for (_, doc, _), ok in zip(found, removed, strict=True) if ok
        )


def _groups(counts: Counts) -> list[list[tuple[tuple[str, str], int]]]:
    """Counters in groups that fit one sub-document operation beside the marker, a queue's
    counters kept together (so a row of zeros is written with its queue)."""
    by_queue: dict[str, list[tuple[tuple[str, str], int]]] = {}
    for key, n in counts.items():
        by_queue.setdefault(key[0], []).append((key, n))
    groups: list[list[tuple[tuple[str, str], int]]] = [[]]
    for items in by_queue.values():
        if groups[-1] and len(groups[-1]) + len(items) > MAX_SPECS - 1:
            groups.append([])
        groups[-1].extend(items)
    return [g for g in groups if g]
