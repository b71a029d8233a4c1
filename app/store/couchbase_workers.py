"""Worker records on Couchbase: ``worker::{id}``, and the maps that list them, ``workers`` and
``qworkers::{queue}`` (``{id: registeredAt}``). A mixin of CouchbaseStore, which provides
``kv``, ``tasks`` and the per-process cache of each worker's queues."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from couchbase import subdocument as SD  # type: ignore[import-untyped]

from app.store.couchbase_codec import CACHE_LIMIT, worker_doc, worker_from_doc
from app.store.couchbase_kv import Kv, guard, path
from app.store.couchbase_tasks import Tasks
from resolvers.errors import StoreUnavailable
from resolvers.models import Worker


class Workers:
    kv: Kv
    tasks: Tasks
    # Worker queues never change after registration: cached per process.
    _worker_queues: dict[str, list[str]]

    def _worker_key(self, worker_id: str) -> str:
        return self.kv.key("worker", worker_id)

    def _map_key(self, queue: str | None) -> str:
        return self.kv.key("workers") if queue is None else self.kv.key("qworkers", queue)

    async def add_worker(self, worker: Worker) -> None:
        async def job() -> None:
            # The record first, then the maps that list it: a map entry without a record is a
            # worker deleted (or a crash), dropped by the next listing.
            if await self.kv.insert(self._worker_key(worker.worker_id), worker_doc(worker)) is None:
                raise StoreUnavailable(f"worker {worker.worker_id!r} exists already")
            spec = [SD.upsert(path(worker.worker_id), worker.registered_at)]
            maps = [None, *dict.fromkeys(worker.queues)]
            await asyncio.gather(
                *(self.kv.mutate(self._map_key(q), spec, create=True) for q in maps)
            )
            self._remember(worker)

        await guard(job())

    async def get_worker(self, worker_id: str) -> Worker | None:
        got = await guard(self.kv.get(self._worker_key(worker_id)))
        if got is None:
            return None
        worker = worker_from_doc(got[0])
        self._remember(worker)
        return worker

    def _remember(self, worker: Worker) -> None:
        if len(self._worker_queues) >= CACHE_LIMIT:
            self._worker_queues.clear()  # a cache: refilled by the next reads
        self._worker_queues[worker.worker_id] = list(worker.queues)

    async def list_workers(self, queue: str | None = None) -> list[Worker]:
        async def job() -> list[Worker]:
            got = await self.kv.get(self._map_key(queue))
            ids = list(got[0]) if got else []
            docs = await self.kv.get_many([self._worker_key(w) for w in ids])
            gone = [w for w, d in zip(ids, docs, strict=True) if d is None]
            if gone:
                specs = [SD.remove(path(w)) for w in gone]
                await asyncio.gather(*(self.kv.mutate(self._map_key(queue), [s]) for s in specs))
            workers = [worker_from_doc(d[0]) for d in docs if d is not None]
            return sorted(workers, key=lambda w: (w.registered_at, w.worker_id))

        return await guard(job())

    async def touch_worker(
        self,
        worker_id: str,
        now: float,
        lease_seconds: dict[str, float],
        default_lease: float,
        task_ids: Sequence[str] | None = None,
    ) -> bool:
        async def job() -> bool:
            seen = [SD.replace("last_seen", now)]
            if await self.kv.mutate(self._worker_key(worker_id), seen) is None:
                return False
            if task_ids is None or task_ids:
                only = None if task_ids is None else set(task_ids)
                await self.tasks.extend_leases(worker_id, now, lease_seconds, default_lease, only)
            return True

        return await guard(job())

    async def delete_workers(self, worker_ids: Sequence[str]) -> int:
        async def one(worker_id: str) -> bool:
            key = self._worker_key(worker_id)
            got = await self.kv.get(key)
            if got is None or not await self.kv.remove(key):
                return False
            spec = [SD.remove(path(worker_id))]
            queues = [None, *dict.fromkeys(worker_from_doc(got[0]).queues)]
            await asyncio.gather(*(self.kv.mutate(self._map_key(q), spec) for q in queues))
            return True

        async def job() -> int:
            return sum(await asyncio.gather(*(one(w) for w in dict.fromkeys(worker_ids))))

        return await guard(job())
