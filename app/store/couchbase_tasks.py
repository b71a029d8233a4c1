"""Task writes on Couchbase: insert, the compare-and-set move between states, delete, release,
lease extension and the expired-lease scan.

Every move follows one order, so that a crash between two writes can leave a stale index entry
(skipped by readers, and removed by the first reader that meets it) but never a task that no
index finds:
  1. take the gate documents the new state needs (unique / running), by ``insert``;
  2. add (and count) the new state's index entries (keyed by a fresh ticket, naming the old
     ticket as base);
  3. replace the task document with CAS = the version read: the commit point;
  4. on success remove the old state's entries and gates; on CAS mismatch remove what 1-2 added.
A move, an insert and a delete run to their end even when their caller is cancelled (see
couchbase_finish), so a cancellation never stops one between its commit and its bookkeeping.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from typing import Any, Literal

from couchbase import subdocument as SD  # type: ignore[import-untyped]

from app.store.couchbase_codec import (
    LEASE_BUCKET_SECONDS,
    STARTED,
    chunk_of,
    entry_state,
    entry_value,
    hint_now,
    identity_hash,
    lease_bucket,
    log_of,
    new_ticket,
    task_doc,
    task_from_doc,
)
from app.store.couchbase_index import Index, Place, Stream
from app.store.couchbase_kv import Kv
from app.store.couchbase_leases import LEGACY
from app.store.couchbase_limits import Limits
from app.store.couchbase_numbers import Numbers
from resolvers.errors import StoreUnavailable
from resolvers.models import Replaced, Task, TaskState

Outcome = Literal["done", "conflict", "blocked", "dropped"]
# Retries of a lease extension or a release that raced another write of the same task.
RETRIES = 4
# Past lease buckets are retired this long after they end (tolerates clocks this far apart).
LEASE_BUCKET_GRACE = 10.0


@dataclasses.dataclass(slots=True)
class Stored:
    """A task document as read: the task (version = CAS) and the document itself."""

    task: Task
    doc: dict[str, Any]

    @property
    def ticket(self) -> str:
        return str(self.doc["k"])

    def place(self) -> Place:
        log = str(self.doc["x"])
        t = self.task
        return Place(Stream(t.queue, t.lane, log), chunk_of(t, log), self.ticket)


class Tasks:
    def __init__(self, kv: Kv, index: Index) -> None:
        self.kv = kv
        self.index = index
        self.numbers = Numbers(kv)
        # Document expiry (seconds) of a task moved into these states: a backstop to the
        # retention purge (see couchbase_purge.backstop), none unless the store was told.
        self.expiry: dict[TaskState, float] = {}
        # Flow limits: a started task's slot is given back when it leaves STARTED.
        self.limits: Limits | None = None

    def key(self, task_id: str) -> str:
        return self.kv.key("task", task_id)

    async def read(self, task_id: str) -> Stored | None:
        got = await self.kv.get(self.key(task_id))
        if got is None:
            return None
        doc, cas = got
        return Stored(task_from_doc(doc, cas), doc)

    async def read_many(self, task_ids: Sequence[str]) -> list[Stored | None]:
        return list(await asyncio.gather(*(self.read(t) for t in task_ids)))

    # -- gates: unique (singularlyEnqueue) and running (singularlyRun) key documents ---------

    def unique_key(self, task: Task) -> str:
        return self.kv.key("unique", identity_hash(task.lane, task.identity or ""))

    def running_key(self, task: Task) -> str:
        return self.kv.key("running", identity_hash(task.lane, task.identity or ""))

    async def _take_gate(
        self, key: str, task: Task, ticket: str, base: str | None
    ) -> Literal["taken", "own", "held"]:
        """Insert the gate document naming this task's new stay: "taken"; "own" if the task's
        current stay (``base``) holds it already (it is re-tagged after the move); "held"
        while another task's live or pending stay holds it. A gate left behind by a crash is
        recognised (its holder has moved on or is gone) and taken over."""
        mine = {"t": task.task_id, "k": ticket, "b": base}
        for _ in range(RETRIES):
            if await self.kv.insert(key, mine) is not None:
                return "taken"
            got = await self.kv.get(key)
            if got is None:
                continue
            holder, cas = got
            if holder.get("t") == task.task_id and holder.get("k") == base:
                return "own"
            if holder.get("t") == task.task_id:
                other = None  # an older stay of this very task: stale
            else:
                other = await self.kv.get(self.key(str(holder.get("t"))))
            state = "stale" if other is None else entry_state(holder, holder["k"], other[0])
            if state != "stale":
                return "held"
            await self.kv.remove(key, cas)
        return "held"

    async def _retag_gate(self, key: str, task_id: str, old: str, new: str) -> None:
        got = await self.kv.get(key)
        if got is not None and got[0].get("t") == task_id and got[0].get("k") == old:
            await self.kv.replace(key, {"t": task_id, "k": new, "b": old}, got[1])

    async def _drop_gate(self, key: str, task_id: str, ticket: str) -> None:
        got = await self.kv.get(key)
        if got is not None and got[0].get("t") == task_id and got[0].get("k") == ticket:
            await self.kv.remove(key, got[1])

    # -- insert ------------------------------------------------------------------------------

    async def insert(self, tasks: Sequence[Task]) -> list[bool]:
        if not tasks:
            return []
        return await self.index.finisher.finish(self._insert(tasks))

    async def _insert(self, tasks: Sequence[Task]) -> list[bool]:
        await asyncio.gather(self.numbers.number(tasks), self.numbers.note(tasks))
        plans = [(task, new_ticket(), log_of(task, hint_now(task))) for task in tasks]
        entries = [(self.index.place(t, log, k), entry_value(t, log, None)) for t, k, log in plans]
        await self.index.add(entries)
        versions = await asyncio.gather(
            *(self.kv.insert(self.key(t.task_id), task_doc(t, k, log)) for t, k, log in plans)
        )
        written = [v is not None for v in versions]
        gated = [
            i
            for i, (task, _, _) in enumerate(plans)
            if written[i] and task.singularly_enqueue and task.identity is not None
        ]
        taken = await asyncio.gather(
            *(self._take_gate(self.unique_key(plans[i][0]), plans[i][0], plans[i][1], None)
              for i in gated)
        )  # fmt: skip
        for i, outcome in zip(gated, taken, strict=True):
            version = versions[i]
            if (
                outcome == "held"
                and version is not None
                and await self.kv.remove(self.key(plans[i][0].task_id), version)
            ):
                written[i] = False
        for (task, _, _), ok, version in zip(plans, written, versions, strict=True):
            if ok and version is not None:
                task.version = version
            else:
                task.seq = 0
        await self.index.remove([e[0] for e, ok in zip(entries, written, strict=True) if not ok])
        return written

    async def lane_queues(self, lane: str) -> list[str]:
        return await self.numbers.lane_queues(lane)

    # -- moves -------------------------------------------------------------------------------

    async def move(
        self,
        old: Stored,
        new: Task,
        abandoned: Callable[[Outcome], Coroutine[Any, Any, Any]] | None = None,
    ) -> Outcome:
        """Write ``new`` over ``old`` if the task is still at old's version (see module doc).
        The move runs to its end if the caller is cancelled; then ``abandoned(outcome)``."""
        return await self.index.finisher.finish(self._move(old, new), abandoned)

    async def _move(self, old: Stored, new: Task) -> Outcome:
        ticket, base = new_ticket(), old.ticket
        new.seq = old.task.seq
        log = log_of(new, hint_now(new, old.task))
        gates: list[str] = []
        kept: list[str] = []  # gates the old stay held, re-tagged to the new one once moved
        if new.state is TaskState.QUEUED and new.singularly_enqueue and new.identity is not None:
            key = self.unique_key(new)
            taken = await self._take_gate(key, new, ticket, base)
            if taken == "held":
                # A copy with the same identity waits already: it stands for this work.
                if await self.kv.remove(self.key(new.task_id), old.task.version):
                    await self._leave(old)
                    return "dropped"
                return "conflict"
            (gates if taken == "taken" else kept).append(key)
        if new.state is TaskState.STARTED and new.singularly_run and new.identity is not None:
            key = self.running_key(new)
            taken = await self._take_gate(key, new, ticket, base)
            if taken == "held":
                await self._undo(new, None, gates, ticket)
                return "blocked"
            (gates if taken == "taken" else kept).append(key)
        place = None if log == STARTED else self.index.place(new, log, ticket)
        try:
            if place is None:
                await self.index.hold(new, ticket, base)
            else:
                await self.index.add([(place, entry_value(new, log, base))])
        except StoreUnavailable:
            # Nothing is committed yet: take back what went in, as far as the store lets us
            # (what stays is pending, and stale once the task moves on).
            with contextlib.suppress(StoreUnavailable):
                await self._undo(new, place, gates, ticket)
            raise
        doc = task_doc(new, ticket, log)
        expiry = self.expiry.get(new.state)
        version = await self.kv.replace(self.key(new.task_id), doc, old.task.version, expiry)
        if version is None:
            await self._undo(new, place, gates, ticket)
            return "conflict"
        new.version = version
        await asyncio.gather(*(self._retag_gate(k, new.task_id, base, ticket) for k in kept))
        await self._leave(old)
        return "done"

    async def _undo(self, new: Task, place: Place | None, gates: list[str], ticket: str) -> None:
        """Take back what a move that lost its CAS had added (a lease entry is left to the
        reaper, which finds it stale)."""
        jobs: list[Awaitable[Any]] = [self._drop_gate(g, new.task_id, ticket) for g in gates]
        if place is not None:
            jobs.append(self.index.remove([place]))
        elif new.state is TaskState.STARTED:
            jobs.append(self.index.unhold(new.worker_id, ticket, new.queue))
        await asyncio.gather(*jobs)

    async def _leave(self, old: Stored) -> None:
        """Remove (and uncount) what indexed the state the task has just left."""
        task, ticket = old.task, old.ticket
        jobs: list[Awaitable[Any]] = []
        if old.doc.get("x") == STARTED:
            jobs.append(self.index.unhold(task.worker_id, ticket, task.queue))
            if task.singularly_run and task.identity is not None:
                jobs.append(self._drop_gate(self.running_key(task), task.task_id, ticket))
        else:
            jobs.append(self.index.remove([old.place()]))
        if task.state is TaskState.QUEUED and task.singularly_enqueue and task.identity is not None:
            jobs.append(self._drop_gate(self.unique_key(task), task.task_id, ticket))
        await asyncio.gather(*jobs)
        if self.limits is not None and old.doc.get("x") == STARTED:
            # After the started set forgot the stay: a claim the free slot lets in never
            # makes the queue's started count pass its maxStarted.
            await self.limits.release(task)

    async def delete(self, old: Stored) -> bool:
        return await self.index.finisher.finish(self._delete(old))

    async def _delete(self, old: Stored) -> bool:
        if not await self.kv.remove(self.key(old.task.task_id), old.task.version):
            return False
        await self._leave(old)
        return True

    async def replace(self, task: Task, expected: int) -> Replaced:
        old = await self.read(task.task_id)
        if old is None or old.task.version != expected:
            return Replaced.CONFLICT
        new = dataclasses.replace(task)
        outcome = await self.move(old, new)
        if outcome == "done":
            task.version, task.seq = new.version, new.seq
            return Replaced.WRITTEN
        return Replaced.DROPPED if outcome == "dropped" else Replaced.CONFLICT

    # -- started tasks -----------------------------------------------------------------------

    async def held_by(self, worker_id: str) -> list[Stored]:
        """The started tasks this worker holds, by seq; stale entries of the worker's held
        document are removed (with their started-set tickets) on the way."""
        held = await self.index.held(worker_id)
        tickets = list(held)
        found = await self.read_many([held[k]["t"] for k in tickets])
        out, stale = [], []
        for ticket, stored in zip(tickets, found, strict=True):
            entry = held[ticket]
            state = entry_state(entry, ticket, None if stored is None else stored.doc)
            if state == "live" and stored is not None and stored.task.worker_id == worker_id:
                out.append(stored)
            elif state == "stale":
                queue = entry.get("q") or (stored.task.queue if stored else None)
                if queue is not None:
                    stale.append(self.index.unhold(worker_id, ticket, queue))
        if stale:
            await self.index.finisher.finish(_all(stale))
        return sorted(out, key=lambda s: s.task.seq)

    async def release(self, worker_id: str, only: set[str] | None) -> list[Task]:
        held = [s for s in await self.held_by(worker_id) if only is None or s.task.task_id in only]

        async def one(stored: Stored | None) -> Task | None:
            for _ in range(RETRIES):
                if stored is None or stored.task.state is not TaskState.STARTED:
                    return None
                if stored.task.worker_id != worker_id:
                    return None
                t = stored.task
                back = t.requeued()
                if await self.move(stored, back) in ("done", "dropped"):
                    return back
                stored = await self.read(t.task_id)
            return None

        released = await asyncio.gather(*(one(s) for s in held))
        return [t for t in released if t is not None]

    async def extend_leases(
        self,
        worker_id: str,
        now: float,
        lease_seconds: dict[str, float],
        default: float,
        only: set[str] | None,
    ) -> None:
        """Move each held task's lease to now + its queue's lease, one CAS per task (so the
        extension is atomic against claims, reports and the reaper). The lease index is not
        touched: the reaper re-files an entry whose task's lease moved on."""

        async def one(stored: Stored | None) -> None:
            for _ in range(RETRIES):
                if stored is None or stored.task.state is not TaskState.STARTED:
                    return
                if stored.task.worker_id != worker_id:
                    return
                lease = now + lease_seconds.get(stored.task.queue, default)
                specs = [SD.replace("lease_until", lease)]
                key = self.key(stored.task.task_id)
                if await self.kv.mutate(key, specs, cas=stored.task.version) is not None:
                    return
                stored = await self.read(stored.task.task_id)

        held = [s for s in await self.held_by(worker_id) if only is None or s.task.task_id in only]
        await asyncio.gather(*(one(s) for s in held))

    async def expired(self, now: float, limit: int) -> list[Task]:
        """Started tasks whose lease has run out, oldest lease first within each queue: the
        queues the lease directory names for minutes up to now (and an older store's shared
        buckets), each one's due lease buckets oldest first; each entry checked against its
        task, entries whose task's lease was extended re-filed, stale ones dropped, past empty
        buckets and minutes retired."""
        found: list[Task] = []
        queues, over = await self.index.lease_queues(now)
        for queue in [LEGACY, *queues]:
            if len(found) >= limit:
                break
            await self._expired_in(queue, now, limit, found)
        if len(found) < limit:
            await asyncio.gather(*(self.index.retire_lease_minute(m, q) for m, q in over))
        found.sort(key=lambda t: (t.lease_until or 0.0, t.seq))
        return found[:limit]

    async def _expired_in(
        self, queue: str | None, now: float, limit: int, found: list[Task]
    ) -> None:
        for bucket in await self.index.lease_buckets(queue):
            if bucket > lease_bucket(now) or len(found) >= limit:
                break
            entries = await self.index.chunk_lease(queue, bucket)
            due = {k: v for k, v in entries.items() if v["u"] <= now}
            docs = await self.read_many([v["t"] for v in due.values()])
            jobs: list[Coroutine[Any, Any, Any]] = []
            for (ticket, entry), stored in zip(due.items(), docs, strict=True):
                state = entry_state(entry, ticket, None if stored is None else stored.doc)
                if state == "stale":
                    jobs.append(self._forget_stay(queue, bucket, ticket, entry))
                elif state == "live" and stored is not None:
                    lease = stored.task.lease_until
                    if lease is not None and lease <= now:
                        found.append(stored.task)
                    elif lease is not None:
                        moved = {**entry, "u": lease}
                        jobs.append(self.index.move_lease(queue, bucket, ticket, moved))
            await self.index.finisher.finish(_all(jobs))
            if (bucket + 1) * LEASE_BUCKET_SECONDS + LEASE_BUCKET_GRACE <= now:
                await self.index.retire_lease_bucket(queue, bucket)

    async def _forget_stay(
        self, queue: str | None, bucket: int, ticket: str, entry: dict[str, Any]
    ) -> None:
        """Finish the removal of a started stay whose lease entry is stale (whoever ended the
        stay may have stopped short): its held entry and started ticket, then, last, the lease
        entry that leads here."""
        await self.index.unhold(entry.get("w"), ticket, entry["q"])
        await self.index.drop_lease_entry(queue, bucket, ticket)


async def _all(jobs: Sequence[Coroutine[Any, Any, Any]]) -> None:
    await asyncio.gather(*jobs)


__all__ = ["STARTED", "Outcome", "Stored", "Tasks"]
