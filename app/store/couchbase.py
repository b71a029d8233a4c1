"""The Couchbase store: ``couchbase://host[:port]/bucket?prefix=cq&durability=majority&timeout=2.5``
through the official SDK's async API, with key-value operations, CAS, counters and
sub-document operations only (no query service). docs/stores.md describes the documents and how
each method keeps its promise; the modules beside this one hold the parts:

- couchbase_kv: the URL, the connection, keys, and the SDK calls (errors translated there);
- couchbase_codec: documents <-> models, filters checked in Python;
- couchbase_index: directories and chunked logs;
- couchbase_leases: started tasks per worker, per queue and by lease expiry;
- couchbase_numbers: seqs (in per-process blocks) and the notes that find a queue's lanes;
- couchbase_tasks: insert, the CAS move between states, delete, release, leases;
- couchbase_claim: claims, change stamps, earliest run_at;
- couchbase_scan: listings, counts, bulk deletes;
- couchbase_meta: schedules and statistics;
- couchbase_workers, couchbase_tokens: worker and token records;
- couchbase_finish: steps that run to their end when their caller is cancelled;
- couchbase_repair: the repair pass for what a crash can leave behind in a store nobody reads.

Every public method runs under ``couchbase_kv.guard``: any SDK exception that got past the Kv
methods (there should be none) becomes StoreUnavailable, never escaping the store.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from couchbase import subdocument as SD  # type: ignore[import-untyped]

from app.store import seq_cursor
from app.store.couchbase_claim import Claimer, node_offset
from app.store.couchbase_codec import (
    queue_doc,
    queue_from_doc,
)
from app.store.couchbase_index import Index
from app.store.couchbase_kv import CouchbaseConfig, Kv, guard, path
from app.store.couchbase_limits import Limits
from app.store.couchbase_meta import Meta
from app.store.couchbase_purge import Purger, backstop, is_purge
from app.store.couchbase_scan import Scanner
from app.store.couchbase_tasks import Tasks
from app.store.couchbase_tokens import Tokens
from app.store.couchbase_workers import Workers
from resolvers.context import Policies
from resolvers.errors import StoreNotReady, StoreUnavailable
from resolvers.models import (
    ClaimRequest,
    Interests,
    Queue,
    QueueLimits,
    QueueSettings,
    Replaced,
    Schedule,
    StatsRow,
    Task,
    TaskChange,
    TaskCounts,
    TaskFilter,
    TaskPage,
    TaskState,
)

T = TypeVar("T")
# Compare-and-set retries on the queues document before giving up.
CAS_TRIES = 50


class CouchbaseStore(Workers, Tokens):
    """resolvers.store.Store on one Couchbase collection. Open with :meth:`open`."""

    # A lane's stamp is its queues' directory CAS values with the queues' stamp.
    change_stamps_per_lane = True

    def __init__(self, kv: Kv) -> None:
        self.kv = kv
        self.index = Index(kv)
        self.tasks = Tasks(kv, self.index)
        self.limits = Limits(kv, self._read_task)
        self.tasks.limits = self.limits
        self.claimer = Claimer(
            self.tasks, lambda wid: self._worker_queues.get(wid, []), self.limits
        )
        self.scanner = Scanner(self.tasks, self.queue_names)
        self.purger = Purger(self.tasks, self.queue_names)
        # Worker queues never change after registration: cached per process.
        self._worker_queues: dict[str, list[str]] = {}
        self.meta = Meta(kv)

    @classmethod
    async def open(cls, url: str, policies: Policies | None = None) -> CouchbaseStore:
        """Given the server's policies, finished task documents expire after their retention
        and a margin (a backstop to the purge)."""
        config = CouchbaseConfig.from_url(url)
        store = cls(await Kv.connect(config))
        if policies is not None:
            store.tasks.expiry = backstop(
                policies.completed_retention_seconds, policies.failed_retention_seconds
            )
        await store._take_node_number()
        return store

    async def _take_node_number(self) -> None:
        """Number this store object among those opened on the store (a counter bumped once
        per open, never on the hot path): it sets where claims start in a contended window.
        Without an answer, a random place does nearly as well."""
        try:
            number = await self.kv.incr(self.kv.key("nodes"), 1)
        except StoreUnavailable:
            number = random.randrange(1 << 16)
        self.claimer.offset = node_offset(number - 1)

    async def close(self) -> None:
        await self.index.finisher.drain()
        await guard(self.kv.close())

    async def ping(self) -> None:
        await guard(self.kv.cas_of(self.kv.key("queues")))

    async def ready(self, thorough: bool = False) -> None:
        # A counter only this method touches: a write with the store's durability, no CAS race.
        try:
            await guard(self.kv.incr(self.kv.key("health"), 1))
        except StoreUnavailable as exc:
            where = f"{self.kv.config.connection}/{self.kv.config.bucket}"
            message = f"Couchbase cannot take a write: {exc.message}"
            raise StoreNotReady(message, reason="unwritable", location=where) from None

    # -- queues ------------------------------------------------------------------------------

    async def queues_version(self) -> int:
        got = await guard(self.kv.lookup(self.kv.key("queues"), ["version"]))
        return 0 if got is None else int(got[0][0] or 0)

    async def _queue_records(self) -> dict[str, Any]:
        got = await self.kv.get(self.kv.key("queues"))
        return {} if got is None else dict(got[0].get("queues") or {})

    async def list_queues(self) -> list[Queue]:
        records = await guard(self._queue_records())
        queues = [queue_from_doc(name, records[name]) for name in sorted(records)]
        self.limits.note_queues(queues)
        return queues

    async def _read_task(self, task_id: str) -> Task | None:
        stored = await self.tasks.read(task_id)
        return None if stored is None else stored.task

    async def _change_queues(self, change: Callable[[dict[str, Any]], T | None]) -> T | None:
        """Read-modify-write of the queues document by CAS, retried with jitter. ``change``
        edits the records in place and returns a result, or None to write nothing."""
        key = self.kv.key("queues")
        for attempt in range(CAS_TRIES):
            got = await self.kv.get(key)
            doc: dict[str, Any] = {"version": 0, "queues": {}} if got is None else got[0]
            cas = 0 if got is None else got[1]
            records = dict(doc.get("queues") or {})
            result = change(records)
            if result is None:
                return None
            new = {"version": int(doc.get("version") or 0) + 1, "queues": records}
            done = await (
                self.kv.insert(key, new) if got is None else self.kv.replace(key, new, cas)
            )
            if done is not None:
                return result
            await asyncio.sleep(random.uniform(0, 0.001 * (attempt + 1)))
        raise StoreUnavailable("the queues document kept changing; try again")

    async def put_interests(
        self, name: str, interests: Interests, now: float, settings: QueueSettings
    ) -> Queue:
        def change(records: dict[str, Any]) -> Queue:
            current = records.get(name)
            if current:
                queue = queue_from_doc(name, current)
            else:
                queue = Queue(name, settings=settings, created_at=now)
            queue.interests = interests
            records[name] = queue_doc(queue)
            return queue

        result = await guard(self._change_queues(change))
        assert result is not None
        return result

    async def clear_interests(self, name: str) -> bool:
        def change(records: dict[str, Any]) -> bool | None:
            current = records.get(name)
            if current is None or current.get("interests") is None:
                return None
            records[name] = {**current, "interests": None}
            return True

        return bool(await guard(self._change_queues(change)))

    async def update_queue(
        self, name: str, *, paused: bool | None = None, settings: QueueSettings | None = None
    ) -> Queue | None:
        def change(records: dict[str, Any]) -> Queue | None:
            current = records.get(name)
            if current is None:
                return None
            queue = queue_from_doc(name, current)
            if paused is not None:
                queue.paused = paused
            if settings is not None:
                queue.settings = settings
            records[name] = queue_doc(queue)
            return queue

        return await guard(self._change_queues(change))

    async def delete_queue(self, name: str) -> int | None:
        async def job() -> int | None:
            if not await self._change_queues(lambda records: records.pop(name, None)):
                return None
            await self._note_name(name)
            waiting = (TaskState.QUEUED, TaskState.FAILED)
            return await self.scanner.delete(TaskFilter(queue=name, states=waiting))

        return await guard(job())

    async def _note_name(self, name: str) -> None:
        specs = [SD.upsert(path(name), 1)]
        await self.kv.mutate(self.kv.key("names"), specs, create=True)

    async def queue_names(self) -> list[str]:
        records, got = await asyncio.gather(
            self._queue_records(), self.kv.get(self.kv.key("names"))
        )
        return sorted(set(records) | set(got[0] if got else {}))

    # -- tasks -------------------------------------------------------------------------------

    async def insert_tasks(self, tasks: Sequence[Task]) -> list[bool]:
        return await guard(self.tasks.insert(tasks))

    async def get_task(self, task_id: str) -> Task | None:
        stored = await guard(self.tasks.read(task_id))
        return None if stored is None else stored.task

    async def get_tasks(self, task_ids: Sequence[str]) -> dict[str, Task]:
        stored = await guard(asyncio.gather(*(self.tasks.read(tid) for tid in task_ids)))
        return {s.task.task_id: s.task for s in stored if s is not None}

    async def claim_task(self, request: ClaimRequest) -> Task | None:
        return await guard(self.claimer.claim(request))

    async def claim_tasks(self, request: ClaimRequest, limit: int) -> list[Task]:
        # Concurrent claims overlap their round trips; each takes a different task. One that
        # fails must not lose the tasks the others took: those are returned; only when every
        # claim failed is the failure raised.
        outcomes = await asyncio.gather(
            *(guard(self.claimer.claim(request)) for _ in range(limit)), return_exceptions=True
        )
        claimed = [t for t in outcomes if isinstance(t, Task)]
        failures = [e for e in outcomes if isinstance(e, BaseException)]
        if failures and not claimed:
            raise failures[0]
        return claimed

    async def insert_and_claim(
        self, tasks: Sequence[Task], claims: Sequence[tuple[ClaimRequest, int]]
    ) -> tuple[list[bool], list[list[Task]]]:
        # No multi-document transaction here: the claims follow the insert, as the
        # subscribers' own claims would have.
        written = await self.insert_tasks(tasks)
        return written, [await self.claim_tasks(request, limit) for request, limit in claims]

    async def started_task_ids(self, worker_id: str, task_ids: Sequence[str]) -> set[str]:
        found = await self.get_tasks(task_ids)
        return {
            task_id
            for task_id, task in found.items()
            if task.state is TaskState.STARTED and task.worker_id == worker_id
        }

    async def replace_task(
        self, task: Task, expected_version: int, also_insert: Sequence[Task] = ()
    ) -> Replaced:
        async def job() -> Replaced:
            if also_insert:
                await self.tasks.insert(also_insert)
            return await self.tasks.replace(task, expected_version)

        return await guard(job())

    async def replace_tasks(self, changes: Sequence[TaskChange]) -> list[Replaced]:
        return list(
            await asyncio.gather(
                *(self.replace_task(c.task, c.expected_version, c.also_insert) for c in changes)
            )
        )

    async def release_tasks(
        self, worker_id: str, now: float, task_ids: Sequence[str] | None = None
    ) -> list[Task]:
        only = None if task_ids is None else set(task_ids)
        return await guard(self.tasks.release(worker_id, only))

    async def change_stamps(self, lanes: Sequence[str]) -> dict[str, int]:
        async def job() -> dict[str, int]:
            return await self.claimer.change_stamps(lanes, await self.queues_version())

        return await guard(job())

    async def earliest_run_at(self, lanes: Sequence[str]) -> float | None:
        return await guard(self.claimer.earliest_run_at(lanes))

    async def claims_in_window(self, queue: str, limits: QueueLimits, now: float) -> int:
        return await guard(self.limits.claims_in_window(queue, limits, now))

    async def expired_tasks(self, now: float, limit: int) -> list[Task]:
        return await guard(self.tasks.expired(now, limit))

    async def take_turn(self, duty: str, seconds: float) -> bool:
        """By ``insert`` of ``turn::{duty}`` expiring in ``seconds`` (whole seconds, at least
        one: an expiry of 0 would be none): one node wins it, and a winner that dies leaves
        nothing behind once it expires."""
        expiry = max(1, int(seconds))
        taken = await guard(self.kv.insert(self.kv.key("turn", duty), {}, expiry=expiry))
        return taken is not None

    async def delete_tasks(self, where: TaskFilter) -> int:
        if not where.states:
            raise ValueError("delete_tasks needs the states to delete")
        if is_purge(where):
            return await guard(self.purger.purge(where))
        return await guard(self.scanner.delete(where))

    async def list_tasks(self, where: TaskFilter, first: int, after: str | None) -> TaskPage:
        floor = None if after is None else seq_cursor(after)
        found, more = await guard(self.scanner.matching(where, floor, first))
        tasks = [s.task for s in found]
        return TaskPage(tasks=tasks, next_cursor=str(tasks[-1].seq) if more and tasks else None)

    async def count_tasks(self, where: TaskFilter, now: float) -> TaskCounts:
        return await guard(self.scanner.count(where, now))

    # -- schedules and statistics (app/store/couchbase_meta.py) ------------------------------

    async def put_schedule(self, schedule: Schedule) -> Schedule:
        return await guard(self.meta.put_schedule(schedule))

    async def list_schedules(self) -> list[Schedule]:
        return await guard(self.meta.list_schedules())

    async def replace_schedule(self, schedule: Schedule, expected_version: int) -> bool:
        return await guard(self.meta.replace_schedule(schedule, expected_version))

    async def delete_schedule(self, name: str) -> bool:
        return await guard(self.meta.delete_schedule(name))

    async def add_stats(self, rows: Sequence[StatsRow]) -> None:
        await guard(self.meta.add_stats(rows))

    async def list_stats(self, queue: str | None, since: float, until: float) -> list[StatsRow]:
        return await guard(self.meta.list_stats(queue, since, until))

    async def delete_stats_before(self, minute: float) -> int:
        return await guard(self.meta.delete_stats_before(minute))
