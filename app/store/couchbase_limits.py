"""Flow limits on Couchbase (maxStarted, rateLimit): atomic sub-document counters and CAS, one
document per queue and limit.

``slots::{queue}`` = ``{"c": count, "s": {stay: [task_id, worker, started_at]}}``: the queue's
*slots*, one per started stay a claim admitted, keyed by that stay (task, worker and start
time: two nodes' claims racing for one task each hold their own slot until one loses its
move), and their count. Every change is one atomic sub-document mutation that moves both
together, so ``c`` is always the number of slots. A claim of a limited queue's task takes its
slot first: one mutation adds the entry and raises ``c``, whose new value it reads; above
maxStarted, a second one takes both back and the queue is held back. A transient overshoot
(a refusal not yet taken back) can only refuse a claim, never admit one too many; a claim
refused while a slot was in fact free looks again. Only then does it move the task (its own
CAS); a move that fails gives the admission back.

``rate::{queue}`` = ``{"w": window, "n": claims counted in it}``, read and written back with
CAS (the window's count restarts when the window changed); a failed move takes its claim back
if the window is the same.

A slot is given back when its stay ends (complete, fail, release, lease expiry, deletion): the
move's bookkeeping removes the entry and lowers ``c`` in one mutation, which fails (changing
nothing) when the entry is gone already, so a slot is given back once. When that leaves the
queue one below its limit (it was full: claims may be held back), ``freed::{queue}`` is raised:
a counter whose CAS is part of the queue's lanes' change stamps, so waiting subscribers on
every node look again.

A node that dies between an admission and its move, or between a task's move out of STARTED
and the removal of its slot, leaves a slot naming a stay that is not (or no longer) started: a
claim that finds the queue full reads the tasks of slots older than PRUNE_AGE and removes those
whose task is not started by that worker at that time. A slot therefore comes back with its
task: at once when its stay ends normally, and within the lease when the worker dies (the
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

# Attempts of an admission racing other claims of the queue.
TRIES = 32
# A slot younger than this may be a claim between its admission and its move: never pruned.
PRUNE_AGE = 2.0
# Slots a full queue's claim checks at most (oldest first), to bound its reads.
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
        # maxStarted of the queues known (from queue records and claims) to have one: only
        # their started tasks' moves look for a slot to give back.
        self._slotted: dict[str, int] = {}

    def slots_key(self, queue: str) -> str:
        return self.kv.key("slots", queue)

    def rate_key(self, queue: str) -> str:
        return self.kv.key("rate", queue)

    def freed_key(self, queue: str) -> str:
        return self.kv.key("freed", queue)

    def note_queues(self, queues: Iterable[Queue]) -> None:
        """Queue records as read: which queues have slots to give back."""
        self._slotted = {
            q.name: q.settings.max_started for q in queues if q.settings.max_started is not None
        }

    # -- admission -----------------------------------------------------------------------------

    async def admit(self, task: Task, request: ClaimRequest) -> Grant | bool | None:
        """Take the admission for claiming ``task``: a Grant; True when its queue has no limit
        (nothing taken); None when a limit holds the queue back (named in
        request.held_back)."""
        limits = request.limits.get(task.queue)
        if limits is None:
            return True
        window = None
        if limits.rate_limit is not None:
            window = limits.window(request.now)
            if not await self._count_claim(task.queue, limits.rate_limit, window):
                request.held_back[task.queue] = "rate"
                return None
        slot = None
        if limits.max_started is not None:
            self._slotted[task.queue] = limits.max_started
            slot = _stay(task.task_id, request.worker_id, request.now)
            value = [task.task_id, request.worker_id, request.now]
            if not await self._take_slot(task.queue, limits.max_started, slot, value, request.now):
                request.held_back[task.queue] = "started"
                if window is not None:
                    await self._uncount_claim(task.queue, window)
                return None
        return Grant(task.queue, slot, window)

    async def _count_claim(self, queue: str, rate_limit: int, window: int) -> bool:
        key = self.rate_key(queue)
        for attempt in range(TRIES):
            got = await self.kv.get(key)
            doc: dict[str, Any] = {} if got is None else got[0]
            used = int(doc.get("n", 0)) if doc.get("w") == window else 0
            if used >= rate_limit:
                return False
            new = {"w": window, "n": used + 1}
            if got is None:
                written = await self.kv.insert(key, new)
            else:
                written = await self.kv.replace(key, new, got[1])
            if written is not None:
                return True
            await asyncio.sleep(random.uniform(0, 0.001 * min(attempt, 8)))
        return False  # contended beyond reason: this claim passes the queue by

    async def _uncount_claim(self, queue: str, window: int) -> None:
        key = self.rate_key(queue)
        for _ in range(TRIES):
            got = await self.kv.get(key)
            if got is None or got[0].get("w") != window or int(got[0].get("n", 0)) <= 0:
                return
            doc, cas = got
            if await self.kv.replace(key, {**doc, "n": int(doc["n"]) - 1}, cas) is not None:
                return

    async def _take_slot(
        self, queue: str, max_started: int, slot: str, value: list[Any], now: float
    ) -> bool:
        key = self.slots_key(queue)
        take = [SD.counter("c", 1), SD.upsert(path("s", slot), value, create_parents=True)]
        for _ in range(TRIES):
            got = await self.kv.mutate(key, take, create=True)
            if got is None:
                return False  # the slot is there already: never for a fresh stay
            if got[1][0] <= max_started:
                return True
            left = await self._drop_slot(queue, slot)
            if left is not None and left < max_started:
                continue  # another claim's refusal made it look full: look again
            if not await self._prune(queue, now):
                return False
        return False

    async def _drop_slot(self, queue: str, slot: str) -> int | None:
        """Remove the slot and lower the count, in one mutation; the count left, or None if
        the slot was gone already (nothing changed)."""
        drop = [SD.remove(path("s", slot)), SD.counter("c", -1)]
        got = await self.kv.mutate(self.slots_key(queue), drop)
        return None if got is None else int(got[1][1])

    async def _prune(self, queue: str, now: float) -> bool:
        """Remove the slots whose stay is over (see the module's docstring); whether any was."""
        got = await self.kv.get(self.slots_key(queue))
        slots: dict[str, Any] = {} if got is None else dict(got[0].get("s") or {})
        old = sorted(
            (entry[2], stay) for stay, entry in slots.items() if entry[2] <= now - PRUNE_AGE
        )[:PRUNE_BATCH]
        found = await asyncio.gather(*(self._read_task(slots[stay][0]) for _, stay in old))
        stale = [
            stay
            for (_, stay), task in zip(old, found, strict=True)
            if not _holds(task, slots[stay])
        ]
        dropped = await asyncio.gather(*(self._drop_slot(queue, stay) for stay in stale))
        return any(left is not None for left in dropped)

    async def refund(self, grant: Grant | bool | None) -> None:
        """Give back an admission whose move did not happen."""
        if not isinstance(grant, Grant):
            return
        if grant.slot is not None:
            await self._give_back(grant.queue, grant.slot)
        if grant.window is not None:
            await self._uncount_claim(grant.queue, grant.window)

    # -- slots given back ---------------------------------------------------------------------

    async def release(self, task: Task) -> None:
        """``task`` (as it was while started) has left STARTED: its slot, if it holds one, is
        free."""
        if task.queue in self._slotted:
            await self._give_back(task.queue, _stay(task.task_id, task.worker_id, task.started_at))

    async def _give_back(self, queue: str, slot: str) -> None:
        left = await self._drop_slot(queue, slot)
        most = self._slotted.get(queue)
        if left is not None and most is not None and left + 1 >= most:
            # It was full: claims may be held back, on any node. Tell them.
            await self.kv.incr(self.freed_key(queue), 1)

    async def freed_stamps(self, queues: Iterable[str]) -> dict[str, int]:
        """Per queue with slots, the CAS of its freed counter: part of its lanes' stamps."""
        slotted = sorted(q for q in queues if q in self._slotted)
        cas = await asyncio.gather(*(self.kv.cas_of(self.freed_key(q)) for q in slotted))
        return dict(zip(slotted, cas, strict=True))

    async def claims_in_window(self, queue: str, limits: QueueLimits, now: float) -> int:
        got = await self.kv.get(self.rate_key(queue))
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
