"""Repair pass for the Couchbase store: ``python -m app.store.couchbase_repair URL``.

A crash between two writes never hides a task (index entries are written before the document
change that makes them true), but it can leave behind index entries that are no longer true
(a stale entry, skipped by every reader) and directory counters that count them. This pass
removes stale entries and recounts every counter from the chunks. Readers remove the stale
entries they meet themselves; what only this pass fixes is what a process killed between two
writes leaves: an entry of a task never written, or a counter changed without its entry. Run it
while no server writes to the store (a maintenance window): counting under concurrent writes
can be off by the writes in flight, which the next quiet pass corrects.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import time
from dataclasses import dataclass

from couchbase import subdocument as SD  # type: ignore[import-untyped]

from app.store.couchbase import CouchbaseStore
from app.store.couchbase_codec import ORPHAN_SECONDS, STARTED, entry_state
from app.store.couchbase_index import DONE, KIND_OF_LOG, WAITING, dir_key
from app.store.couchbase_kv import path

# CAS attempts at writing a queue's recounted directory while increments land on it.
RECOUNT_TRIES = 20


@dataclass
class RepairReport:
    queues: int = 0
    entries: int = 0
    stale_removed: int = 0
    counters_fixed: int = 0


async def repair(store: CouchbaseStore, now: float) -> RepairReport:
    report = RepairReport()
    index, tasks = store.index, store.tasks
    names = await store.queue_names()
    for queue in names:
        report.queues += 1
        directory = await index.directory(queue, (WAITING, DONE), await index.other_lanes(queue))
        actual: dict[str, int] = {}
        for stream, chunks in directory.streams.items():
            if stream.log == STARTED:
                continue
            for chunk in chunks:
                entries = await index.chunk(stream, chunk)
                docs = await tasks.read_many([e["t"] for e in entries.values()])
                kept = 0
                for (ticket, entry), stored in zip(entries.items(), docs, strict=True):
                    report.entries += 1
                    state = entry_state(entry, ticket, None if stored is None else stored.doc)
                    orphan = (
                        state == "pending"
                        and stored is None
                        and entry.get("r", now) < now - ORPHAN_SECONDS
                    )
                    if state == "stale" or orphan:
                        key = index.chunk_key(stream, chunk)
                        if await store.kv.mutate(key, [SD.remove(path(ticket))]) is not None:
                            report.stale_removed += 1
                            continue
                    kept += 1
                actual[dir_key(stream.log, chunk, stream.lane)] = kept
        report.counters_fixed += await _recount(store, queue, actual)
    return report


async def _recount(store: CouchbaseStore, queue: str, actual: dict[str, int]) -> int:
    """Set each counter of the queue's directories to what was counted, by CAS (re-read and
    retried if an increment lands meanwhile): never under a lock, so claims never wait. A
    counter found in a document other than its own (a store written before lanes had
    directories of their own) is set to zero there."""
    fixed = 0
    index = store.index
    lanes = await index.other_lanes(queue)
    keys = [index.dir_doc_key(queue, k) for k in (WAITING, DONE)]
    keys += [index.dir_doc_key(queue, WAITING, lane) for lane in lanes]
    for key in dict.fromkeys(keys):
        wanted = {
            k: v
            for k, v in actual.items()
            for log, _, lane in [k.split("|", 2)]
            if index.dir_doc_key(queue, KIND_OF_LOG[log], lane) == key
        }
        for _ in range(RECOUNT_TRIES):
            got = await store.kv.get(key)
            if got is None and not any(wanted.values()):
                break
            doc, cas = got if got is not None else ({}, 0)
            counters = dict(doc.get("n") or {})
            changes = {k: wanted.get(k, 0) for k in set(counters) | set(wanted)}
            changes = {k: v for k, v in changes.items() if counters.get(k, 0) != v}
            if not changes:
                break
            counters.update(changes)
            counters = {k: v for k, v in counters.items() if v}
            new = {**doc, "n": counters}
            done = await (
                store.kv.insert(key, new) if got is None else store.kv.replace(key, new, cas)
            )
            if done is not None:
                fixed += len(changes)
                break
            await asyncio.sleep(random.uniform(0, 0.01))
    return fixed


async def _main(url: str) -> None:
    store = await CouchbaseStore.open(url)
    try:
        report = await repair(store, time.time())
    finally:
        await store.close()
    print(report)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url", help="couchbase://host[:port]/bucket?prefix=...")
    args = parser.parse_args()
    asyncio.run(_main(args.url))
    sys.exit(0)
