"""Flow limits on Couchbase (maxStarted, rateLimit), by CAS on one document per queue.

``limits::{queue}`` = ``{"w": window, "n": claims in that window, "s": {stay: [task_id,
worker, started_at]}}``: the rate window's use, and the queue's *slots*, one per started task of
the queue that a claim admitted, keyed by the stay it admitted (task, worker and start time:
two nodes' claims racing for one task each hold their own slot until one loses its move).
A claim of a limited queue's task first takes its admission: read
the document, check both limits, write it back with the slot added and the window's count
raised, with CAS (a lost race reads again). Only then does it move the task (its own CAS); a
move that fails gives the admission back (refund). So no two claims, on any nodes, ever share
the last slot or the last rate token.

A slot is given back when its task leaves STARTED (complete, fail, release, lease expiry,
deletion): the move's bookkeeping removes the entry, only if it still names that stay (the
same worker and started_at: a task put back and claimed again meanwhile has a new one), and
raises ``freed::{queue}``, a counter whose CAS is part of the queue's lanes' change stamps, so
waiting subscribers on every node look again.

A node that dies between an admission and its move, or between a task's move out of STARTED
and the removal of its slot, leaves an entry naming a stay that is not (or no longer) started:
a claim that finds the queue full reads the tasks of entries older than PRUNE_AGE and drops
those whose task is not started by that worker at that time. A slot therefore comes back with
its task: at once when its stay ends normally, and within the lease when the worker dies (the
lease reaper moves the task on, and the slot with it). A rate token taken by a claim that died
before its move is lost for its window only: the limit errs on the side of fewer claims.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any

from couchbase import subdocument as SD  # type: ignore[import-untyped]

from app.store.couchbase_kv import Kv, path
from resolvers.models import ClaimRequest, Queue, QueueLimits, Task, TaskState

# Read-modify-write attempts of an admission or a refund racing other claims of the queue.
TRIES = 32
# An entry younger than this may be a claim between its admission and its move: never pruned.
PRUNE_AGE = 2.0
# Entries a full queue's claim checks at most (oldest first), to bound its reads.
PRUNE_BATCH = 32

ReadTask = Callable[[str], Awaitable[Task | None]]


@dataclass(frozen=True, slots=True)
class Grant:
    """An admission taken for one task: what a failed move gives back."""

    queue: str
    slot: str | None
    window: int | None


class Limits:
    def __init__(self, kv: Kv, read_task: ReadTask) -> None:
        self.kv = kv
        self._read_task = read_task
        # Queues known (from queue records and claims) to have a maxStarted: only their
        # started tasks' moves look for a slot to give back.
        self._slotted: set[str] = set()

    def key(self, queue: str) -> str:
        return self.kv.key("limits", queue)

    def freed_key(self, queue: str) -> str:
        return self.kv.key("freed", queue)

    def note_queues(self, queues: Iterable[Queue]) -> None:
        """Queue records as read: which queues have slots to give back."""
        self._slotted = {q.name for q in queues if q.settings.max_started is not None}

    # -- admission -----------------------------------------------------------------------------

    async def admit(self, task: Task, request: ClaimRequest) -> Grant | bool | None:
        """Take the admission for claiming ``task``: a Grant; True when its queue has no limit
        (nothing taken); None when a limit holds the queue back (named in
        request.held_back)."""
        limits = request.limits.get(task.queue)
        if limits is None:
            return True
        if limits.max_started is not None:
            self._slotted.add(task.queue)
        key = self.key(task.queue)
        window = limits.window(request.now)
        for attempt in range(TRIES):
            got = await self.kv.get(key)
            doc: dict[str, Any] = {} if got is None else got[0]
            used = int(doc.get("n", 0)) if doc.get("w") == window else 0
            slots: dict[str, Any] = dict(doc.get("s") or {})
            if limits.rate_limit is not None and used >= limits.rate_limit:
                request.held_back[task.queue] = "rate"
                return None
            if limits.max_started is not None and len(slots) >= limits.max_started:
                slots = await self._prune(slots, request.now)
                if len(slots) >= limits.max_started:
                    request.held_back[task.queue] = "started"
                    return None
            slot = None
            if limits.max_started is not None:
                slot = _stay(task.task_id, request.worker_id, request.now)
                slots[slot] = [task.task_id, request.worker_id, request.now]
            counted = limits.rate_limit is not None
            new = {"w": window, "n": used + int(counted), "s": slots}
            if got is None:
                written = await self.kv.insert(key, new)
            else:
                written = await self.kv.replace(key, new, got[1])
            if written is not None:
                return Grant(task.queue, slot, window if counted else None)
            await asyncio.sleep(random.uniform(0, 0.001 * min(attempt, 8)))
        # Contended beyond reason: this claim passes the queue by, as if held back.
        request.held_back.setdefault(task.queue, "started")
        return None

    async def _prune(self, slots: dict[str, Any], now: float) -> dict[str, Any]:
        """The slots without those whose stay is over (see the module's docstring)."""
        old = sorted(
            (entry[2], stay) for stay, entry in slots.items() if entry[2] <= now - PRUNE_AGE
        )[:PRUNE_BATCH]
        if not old:
            return slots
        found = await asyncio.gather(*(self._read_task(slots[stay][0]) for _, stay in old))
        kept = dict(slots)
        for (_, stay), current in zip(old, found, strict=True):
            if not _holds(current, slots[stay]):
                del kept[stay]
        return kept

    async def refund(self, grant: Grant | bool | None) -> None:
        """Give back an admission whose move did not happen."""
        if not isinstance(grant, Grant):
            return
        key = self.key(grant.queue)
        for _ in range(TRIES):
            got = await self.kv.get(key)
            if got is None:
                return
            doc, cas = got
            slots = dict(doc.get("s") or {})
            if grant.slot is not None:
                slots.pop(grant.slot, None)
            n = int(doc.get("n", 0))
            if grant.window is not None and doc.get("w") == grant.window and n > 0:
                n -= 1
            if await self.kv.replace(key, {**doc, "n": n, "s": slots}, cas) is not None:
                return

    # -- slots given back ---------------------------------------------------------------------

    async def release(self, task: Task) -> None:
        """``task`` (as it was while started) has left STARTED: its slot, if it holds one, is
        free, and the queue's waiting subscribers are told (freed::{queue})."""
        if task.queue not in self._slotted:
            return
        stay = _stay(task.task_id, task.worker_id, task.started_at)
        # One sub-document removal: it fails (None) when the slot is gone already.
        if await self.kv.mutate(self.key(task.queue), [SD.remove(path("s", stay))]) is not None:
            await self.kv.incr(self.freed_key(task.queue), 1)

    async def freed_stamps(self, queues: Iterable[str]) -> dict[str, int]:
        """Per queue with slots, the CAS of its freed counter: part of its lanes' stamps."""
        slotted = sorted(q for q in queues if q in self._slotted)
        cas = await asyncio.gather(*(self.kv.cas_of(self.freed_key(q)) for q in slotted))
        return dict(zip(slotted, cas, strict=True))

    async def claims_in_window(self, queue: str, limits: QueueLimits, now: float) -> int:
        got = await self.kv.get(self.key(queue))
        if got is None or got[0].get("w") != limits.window(now):
            return 0
        return int(got[0].get("n", 0))


def _stay(task_id: str, worker_id: str | None, started_at: float | None) -> str:
    return f"{task_id} {worker_id} {started_at!r}"


def _holds(task: Task | None, slot: list[Any]) -> bool:
    return (
        task is not None
        and task.state is TaskState.STARTED
        and [task.task_id, task.worker_id, task.started_at] == slot
    )
