"""Started tasks on Couchbase: indexed per worker (``held::{worker}``), per queue
(``started::{queue}``: what counts them) and by the second their lease ends (what the reaper
reads). A mixin of couchbase_index.Index, which provides ``kv`` and the caches.

Leases are filed per queue, so claims of independent queues share no lease document:
``lease::{queue}::{second}`` holds the started stays of the queue whose lease ends in that
second (``{ticket: {t, w, u, b, s, q, l}}``), ``leases::{queue}`` lists the queue's seconds,
and one small directory, ``leasedir`` = ``{"{minute}|{queue}": 1}``, names the queues with a
lease ending in each minute: written once per process per queue and minute (never per claim),
it lets the reaper read only the queues that have a lease due. A store written before this kept
every queue's leases together (``leases``, ``lease::{second}``): the reaper and listings read
those too, and they empty as their tasks move on.
"""

from __future__ import annotations

import asyncio
from typing import Any

from couchbase import subdocument as SD  # type: ignore[import-untyped]

from app.store.couchbase_codec import CACHE_LIMIT, LEASE_BUCKET_SECONDS, lease_bucket, lease_value
from app.store.couchbase_kv import Kv, path
from resolvers.models import Task

# The queue of the lease documents of a store written before per-queue leases.
LEGACY = None
# A minute of the lease directory is retired this long after it ends (tolerates clocks this
# far apart): no lease can still be filed in it.
LEASE_GRACE = 10.0


def minute_of_bucket(bucket: int) -> int:
    return int(bucket * LEASE_BUCKET_SECONDS // 60)


class LeaseIndex:
    kv: Kv
    _lease_buckets: set[tuple[str | None, int]]
    _lease_minutes: set[tuple[str, int]]

    def held_key(self, worker_id: str | None) -> str:
        return self.kv.key("held", worker_id or "")

    def lease_key(self, queue: str | None, bucket: int) -> str:
        if queue is LEGACY:
            return self.kv.key("lease", bucket)
        return self.kv.key("lease", queue, bucket)

    def lease_set_key(self, queue: str | None) -> str:
        return self.kv.key("leases") if queue is LEGACY else self.kv.key("leases", queue)

    def started_key(self, queue: str) -> str:
        return self.kv.key("started", queue)

    async def hold(self, task: Task, ticket: str, base: str | None) -> None:
        """Index a started task: first under its lease's bucket (the reaper's index, and the
        record from which it finishes whatever else of this stay a failure left behind), then
        under its worker and in its queue's started set ``{ticket: lane}`` (what counts started
        tasks: adding and removing a ticket are idempotent, so any retry or finisher may)."""
        await self.put_lease(ticket, lease_value(task, base))
        held = {"t": task.task_id, "b": base, "q": task.queue, "l": task.lane}
        await asyncio.gather(
            self.kv.mutate(
                self.held_key(task.worker_id), [SD.upsert(path(ticket), held)], create=True
            ),
            self.kv.mutate(
                self.started_key(task.queue), [SD.upsert(path(ticket), task.lane)], create=True
            ),
        )

    async def put_lease(self, ticket: str, value: dict[str, Any]) -> None:
        """File a lease entry under its queue and second; the first time this process files
        one there, also note the second in the queue's set and the queue in the minute's
        directory entry (together: a move commits only once all three are written)."""
        queue, bucket = str(value["q"]), lease_bucket(value["u"])
        jobs = [
            self.kv.mutate(
                self.lease_key(queue, bucket), [SD.upsert(path(ticket), value)], create=True
            )
        ]
        if (queue, bucket) not in self._lease_buckets:
            spec = [SD.upsert(path(str(bucket)), 1)]
            jobs.append(self.kv.mutate(self.lease_set_key(queue), spec, create=True))
        minute = minute_of_bucket(bucket)
        if (queue, minute) not in self._lease_minutes:
            spec = [SD.upsert(path(f"{minute}|{queue}"), 1)]
            jobs.append(self.kv.mutate(self.kv.key("leasedir"), spec, create=True))
        await asyncio.gather(*jobs)
        if len(self._lease_buckets) >= CACHE_LIMIT:
            self._lease_buckets.clear()
        if len(self._lease_minutes) >= CACHE_LIMIT:
            self._lease_minutes.clear()
        self._lease_buckets.add((queue, bucket))
        self._lease_minutes.add((queue, minute))

    async def unhold(self, worker_id: str | None, ticket: str, queue: str) -> None:
        """Forget a started stay under its worker and in its queue's started set (either may
        be gone already: whoever comes first removes it). Its lease entry stays until the
        lease reaper reaches its bucket and finds it stale: the reaper alone cleans the lease
        index, and calls this for each stale entry it removes."""
        await asyncio.gather(
            self.kv.mutate(self.held_key(worker_id), [SD.remove(path(ticket))]),
            self.kv.mutate(self.started_key(queue), [SD.remove(path(ticket))]),
        )

    async def started(self, queue: str) -> dict[str, int]:
        """How many tasks of the queue are started, by lane."""
        got = await self.kv.get(self.started_key(queue))
        counts: dict[str, int] = {}
        for lane in (got[0] if got else {}).values():
            counts[lane] = counts.get(lane, 0) + 1
        return counts

    async def held(self, worker_id: str) -> dict[str, dict[str, Any]]:
        got = await self.kv.get(self.held_key(worker_id))
        return {} if got is None else dict(got[0])

    async def lease_queues(self, now: float) -> tuple[list[str], list[tuple[int, str]]]:
        """The queues with a lease ending by ``now``, by minute, from the lease directory; and
        the directory's entries of minutes over (with the grace) that may be retired."""
        got = await self.kv.get(self.kv.key("leasedir"))
        entries = []
        for key in got[0] if got else {}:
            minute, _, queue = key.partition("|")
            entries.append((int(minute), queue))
        entries.sort()
        due = [q for m, q in entries if m * 60 <= now]
        over = [(m, q) for m, q in entries if (m + 1) * 60 + LEASE_GRACE <= now]
        return list(dict.fromkeys(due)), over

    async def retire_lease_minute(self, minute: int, queue: str) -> None:
        """Take a minute over off the directory once the queue has no second left in it."""
        if any(minute_of_bucket(b) == minute for b in await self.lease_buckets(queue)):
            return
        await self.kv.mutate(self.kv.key("leasedir"), [SD.remove(path(f"{minute}|{queue}"))])
        self._lease_minutes.discard((queue, minute))

    async def lease_buckets(self, queue: str | None) -> list[int]:
        got = await self.kv.get(self.lease_set_key(queue))
        return sorted(int(b) for b in (got[0] if got else {}))

    async def chunk_lease(self, queue: str | None, bucket: int) -> dict[str, dict[str, Any]]:
        got = await self.kv.get(self.lease_key(queue, bucket))
        return {} if got is None else dict(got[0])

    async def move_lease(
        self, queue: str | None, old_bucket: int, ticket: str, value: dict[str, Any]
    ) -> None:
        """Re-file a lease entry under its task's current lease, in its queue's own documents
        (written before the old entry goes, so a crash between leaves a duplicate, never
        nothing)."""
        await self.put_lease(ticket, value)
        if queue is LEGACY or lease_bucket(value["u"]) != old_bucket:
            await self.drop_lease_entry(queue, old_bucket, ticket)

    async def leases_of(self, queues: list[str]) -> list[tuple[str, dict[str, Any]]]:
        """Every lease entry of these queues (stale ones included: callers check each against
        its task), the older store's shared ones among them."""
        owners: list[str | None] = [LEGACY, *queues]
        buckets = await asyncio.gather(*(self.lease_buckets(q) for q in owners))
        wanted = [(q, b) for q, bs in zip(owners, buckets, strict=True) for b in bs]
        docs = await asyncio.gather(*(self.chunk_lease(q, b) for q, b in wanted))
        return [
            (ticket, entry)
            for doc in docs
            for ticket, entry in doc.items()
            if entry.get("q") in queues
        ]

    async def drop_lease_entry(self, queue: str | None, bucket: int, ticket: str) -> None:
        await self.kv.mutate(self.lease_key(queue, bucket), [SD.remove(path(ticket))])

    async def retire_lease_bucket(self, queue: str | None, bucket: int) -> None:
        """Delete a past, empty lease bucket, then take it off its set."""
        key = self.lease_key(queue, bucket)
        got = await self.kv.get(key)
        if got is not None and (got[0] or not await self.kv.remove(key, got[1])):
            return
        await self.kv.mutate(self.lease_set_key(queue), [SD.remove(path(str(bucket)))])
        self._lease_buckets.discard((queue, bucket))
