"""Claims on Couchbase, and what push delivery polls (change stamps, earliest run_at).

A lane's waiting tasks are in two kinds of chunked logs per queue (see couchbase_index): ready
(chunks of 64 seqs) and delayed (chunks of 10 s of run_at). A claim reads the lane's directory
counters, then a window of chunks: the two lowest ready chunks and the two lowest *due* delayed
buckets (delayed tasks not yet due are never read). It sorts the window's entries by (run_at,
seq) and moves the first claimable task to STARTED with CAS; on a lost race it takes another
candidate, and after a window lost entirely to races it re-reads, a few times, with jitter.
Within the window the order is exact; beyond it (a lane with more than about a hundred waiting
tasks) the window slides on only while the candidates in view are blocked or stale. Windows with
nothing but blocked identities or stale entries are not counted against MAX_CHUNKS, and the
window doubles while that lasts (up to MAX_SCAN chunks read per claim): a blocked singularlyRun
identity does not hide the work behind it. Stale entries met on the way are removed.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import hashlib
import random
import time
from collections.abc import Callable, Collection, Sequence
from typing import Any

from app.store.couchbase_codec import CACHE_LIMIT, DELAYED, READY, bucket_of, entry_state
from app.store.couchbase_index import WAITING, Directory, Place, Stream
from app.store.couchbase_limits import Limits
from app.store.couchbase_tasks import Stored, Tasks
from resolvers.models import WORKER_LANE_PREFIX, ClaimRequest, Task, TaskState

WINDOW = 1  # chunks of each waiting log read at a time
# ... and while contended: enough candidates for every node to start at its own place, some
# ten claims apart.
CONTENDED_WINDOW = 4
MAX_CHUNKS = 12  # chunks with a live, unblocked candidate a claim looks through
MAX_SCAN = 512  # chunks a claim reads at most, passing blocked identities and stale entries
MAX_WINDOW = 64  # the window grows to this many chunks while it finds only those
ROUNDS = 4  # window re-reads after losing every race in it
SPREAD = 8  # after a lost race, the next candidate is one of this many, at random
# After a race lost to another node, claims start at this node's own place in the window (see
# node_offset) for this long: other nodes are claiming from the same window, and taking
# candidates in order would make them all collide on the first few. (Fewer losses are what the
# spreading brings, not a sign that the other nodes left.)
SPREAD_SECONDS = 5.0
# A claim first tries the directories this process read this recently (see claim).
DIR_CACHE_SECONDS = 0.05
GOLDEN = (5**0.5 - 1) / 2

CachedQueues = Callable[[str], list[str]]
Candidate = tuple[float, int, str, dict[str, Any], Place]


class Claimer:
    def __init__(self, tasks: Tasks, cached_queues: CachedQueues, limits: Limits) -> None:
        self.tasks = tasks
        self.index = tasks.index
        self.cached_queues = cached_queues
        self.limits = limits
        # Tasks this process is moving right now: its other claims pass them by, so concurrent
        # claims in one process never race each other for the same task.
        self._trying: set[str] = set()
        self._spread_until = 0.0  # claims spread over the window until then (monotonic)
        self._dir_cache: dict[tuple[str, tuple[str, ...]], tuple[float, Directory]] = {}
        # Where in a window this node starts claiming while contended, as a fraction of the
        # window (see node_offset); the store sets it at open.
        self.offset = 0.0

    async def lane_queues(self, lanes: Sequence[str]) -> dict[str, list[str]]:
        """The queues whose directories index each lane: the queue itself; for a worker's own
        lane, the queues it is registered on when this process knows the worker (a worker's
        own lane only ever holds copies for the queues it registered on, and those never
        change), else every queue it ever held a task of (its ``wlane`` document)."""
        out = {lane: [lane] for lane in lanes if not lane.startswith(WORKER_LANE_PREFIX)}
        unknown = []
        for lane in lanes:
            if lane.startswith(WORKER_LANE_PREFIX):
                known = self.cached_queues(lane[len(WORKER_LANE_PREFIX) :])
                if known:
                    out[lane] = list(known)
                else:
                    unknown.append(lane)
        noted = await asyncio.gather(*(self.tasks.lane_queues(lane) for lane in unknown))
        for lane, queues in zip(unknown, noted, strict=True):
            out[lane] = sorted(queues)
        return out

    async def claim(self, request: ClaimRequest) -> Task | None:
        """Claim with the directories this process read in the last DIR_CACHE_SECONDS; only
        if that finds nothing, again with directories read now. (A directory only tells which
        chunks to read: one a little old costs a claim nothing but the chunks created since,
        and a claim never answers "nothing" from one.)"""
        task, used_cache = await self._claim(request, cached=True)
        if task is None and used_cache:
            task, _ = await self._claim(request, cached=False)
        return task

    async def _claim(self, request: ClaimRequest, cached: bool) -> tuple[Task | None, bool]:
        skip = request.skip_queues
        wanted = _wanted({lane: self._guess(lane, request.lanes) for lane in request.lanes}, skip)
        (per_lane, (dirs, used_cache)) = await asyncio.gather(
            self.lane_queues(request.lanes), self._directories(wanted, cached)
        )
        missing = {
            q: tuple(sorted({*lanes, *wanted.get(q, ())}))
            for q, lanes in _wanted(per_lane, skip).items()
            if q not in wanted or not set(lanes) <= set(wanted[q])
        }
        if missing:
            more, more_cached = await self._directories(missing, cached)
            dirs.update(more)
            used_cache = used_cache or more_cached
        for lane in request.lanes:
            usable = [q for q in per_lane[lane] if q not in skip and q not in request.held_back]
            if usable and (task := await self._claim_lane(lane, usable, dirs, request)):
                return task, used_cache
        return None, used_cache

    async def _directories(
        self, wanted: dict[str, tuple[str, ...]], cached: bool
    ) -> tuple[dict[str, Directory], bool]:
        """The queues' directories (with those of the other lanes named for each), those read
        in the last DIR_CACHE_SECONDS from memory when ``cached``; and whether any came from
        memory."""
        now = time.monotonic()
        out: dict[str, Directory] = {}
        if cached:
            for queue, lanes in wanted.items():
                hit = self._dir_cache.get((queue, lanes))
                if hit is not None and now - hit[0] < DIR_CACHE_SECONDS:
                    out[queue] = dataclasses.replace(hit[1], cached=True)
        rest = {q: list(lanes) for q, lanes in wanted.items() if q not in out}
        fresh = await self.index.directories(rest, lanes=rest)
        if len(self._dir_cache) >= CACHE_LIMIT:
            self._dir_cache.clear()
        self._dir_cache.update(((q, wanted[q]), (now, d)) for q, d in fresh.items())
        return {**out, **fresh}, bool(out)

    def _guess(self, lane: str, given: Sequence[str]) -> list[str]:
        """The queues a lane's directories are likely in, known without a read."""
        if not lane.startswith(WORKER_LANE_PREFIX):
            return [lane]
        beside = [q for q in given if not q.startswith(WORKER_LANE_PREFIX)]
        return [*beside, *self.cached_queues(lane[len(WORKER_LANE_PREFIX) :])]

    async def _claim_lane(
        self, lane: str, queues: list[str], dirs: dict[str, Directory], request: ClaimRequest
    ) -> Task | None:
        blocked: set[str] = set()
        for round_no in range(ROUNDS):
            if all(q in request.held_back for q in queues):
                return None  # flow limits hold back every queue of the lane
            if round_no:
                await asyncio.sleep(random.uniform(0, 0.002 * round_no))
                others = {q: [lane] for q in queues if lane != q}
                dirs = {**dirs, **await self.index.directories(queues, lanes=others)}
            ready, due = _chunks(lane, queues, dirs, request.now)
            contended = False
            first = CONTENDED_WINDOW if self._spreading() else WINDOW
            start, size, charged, scanned = 0, first, 0, 0
            while charged < MAX_CHUNKS and scanned < MAX_SCAN:
                window = ready[start : start + size] + due[start : start + size]
                if not window:
                    break
                start += size
                scanned += len(window)
                contents = await self.index.read_chunks(window, dirs)
                candidates = sorted(
                    (
                        (entry["r"], entry["s"], ticket, entry, Place(stream, chunk, ticket))
                        for (stream, chunk), found in zip(window, contents, strict=True)
                        for ticket, entry in found.items()
                        if entry.get("r", 0) <= request.now
                        and entry.get("i") not in blocked
                        and stream.queue not in request.held_back
                    ),
                    key=lambda c: (c[0], c[1]),
                )
                task, lost, live = await self._try(candidates, blocked, request)
                if task is not None:
                    return task
                contended = contended or lost
                if live:
                    charged += len(window)
                    size = first
                else:
                    size = min(size * 2, MAX_WINDOW)
            if not contended:
                return None
        return None

    async def _try(
        self, candidates: list[Candidate], blocked: set[str], request: ClaimRequest
    ) -> tuple[Task | None, bool, bool]:
        """Take the first claimable candidate, in order: (the task, whether a race was lost,
        whether any candidate was live and not blocked). A candidate is reserved in this
        process before its document is read, so concurrent claims of one process spread over
        the candidates instead of all reading, then racing for, the first one. Stale entries
        met are removed (in the background)."""
        lost = live = lost_here = False
        stale: list[Place] = []
        queue = list(candidates)
        spread = False
        try:
            while queue:
                if not spread and (lost or self._spreading()):
                    # Each node starts at its own place in the window and goes round, so the
                    # nodes' claims take different candidates instead of colliding.
                    start = int(self.offset * len(queue))
                    queue, spread, lost_here = queue[start:] + queue[:start], True, False
                # In order; after a lost race, at random among the next few.
                pick = random.randrange(min(len(queue), SPREAD)) if lost_here else 0
                _, _, ticket, entry, place = queue.pop(pick)
                task_id = entry["t"]
                if task_id in self._trying or entry.get("i") in blocked:
                    continue
                if place.stream.queue in request.held_back:
                    continue
                self._trying.add(task_id)
                try:
                    stored = await self.tasks.read(task_id)
                    doc = None if stored is None else stored.doc
                    if entry_state(entry, ticket, doc, request.now) == "stale":
                        stale.append(place)
                        continue
                    if not _claimable(stored, ticket, request):
                        live = live or stored is not None
                        continue
                    assert stored is not None
                    grant = await self.limits.admit(stored.task, request)
                    if grant is None:
                        continue  # a flow limit holds its queue back
                    started = _started(stored.task, request)
                    outcome = await self.tasks.move(
                        stored, started, functools.partial(self._give_back, stored, started)
                    )
                    if outcome != "done":
                        await self.limits.refund(grant)
                finally:
                    self._trying.discard(task_id)
                if outcome == "conflict":
                    self._spread_until = time.monotonic() + SPREAD_SECONDS
                    lost_here = spread
                if outcome == "done":
                    return started, lost, True
                if outcome == "blocked":
                    blocked.add(entry["i"])
                elif outcome == "conflict":
                    lost = live = True
            return None, lost, live
        finally:
            self.index.remove_later(stale)

    def _spreading(self) -> bool:
        return time.monotonic() < self._spread_until

    async def _give_back(self, waiting: Stored, started: Task, outcome: str) -> None:
        """A claim whose caller left after its move committed: the task goes back to waiting
        as it was, rather than sit started until its lease runs out."""
        if outcome != "done":
            return
        current = await self.tasks.read(started.task_id)
        if current is not None and current.task.version == started.version:
            await self.tasks.move(current, dataclasses.replace(waiting.task))

    # -- push delivery ------------------------------------------------------------------------

    async def change_stamps(self, lanes: Sequence[str], queues_version: int) -> dict[str, int]:
        """Per lane, the CAS values of the directories counting its waiting tasks (the lane's
        own in each of its queues), with the queues' stamp."""
        per_lane = await self.lane_queues(lanes)
        keys = {
            lane: [self.index.dir_doc_key(q, WAITING, lane) for q in sorted(qs)]
            for lane, qs in per_lane.items()
        }
        wanted = sorted({k for ks in keys.values() for k in ks})
        found = await asyncio.gather(*(self.index.kv.cas_of(k) for k in wanted))
        cas = dict(zip(wanted, found, strict=True))
        # A freed slot of a limited queue makes its lanes' tasks claimable again.
        freed = await self.limits.freed_stamps(sorted({q for qs in per_lane.values() for q in qs}))
        return {
            lane: _stamp(
                queues_version,
                [cas[k] for k in keys[lane]] + [freed[q] for q in sorted(qs) if q in freed],
            )
            for lane, qs in per_lane.items()
        }

    async def earliest_run_at(self, lanes: Sequence[str]) -> float | None:
        per_lane = await self.lane_queues(lanes)
        wanted = _wanted(per_lane, frozenset())
        dirs = await self.index.directories(wanted, lanes={q: list(ls) for q, ls in wanted.items()})
        firsts: list[tuple[Stream, int]] = []
        for lane, queues in per_lane.items():
            for queue in queues:
                for stream, chunks in dirs[queue].streams.items():
                    if stream.lane == lane and stream.log in (READY, DELAYED) and chunks:
                        firsts.append((stream, min(chunks)))
        contents = await self.index.chunks(firsts)
        times = [entry["r"] for chunk in contents for entry in chunk.values() if "r" in entry]
        return min(times) if times else None


def _wanted(per_lane: dict[str, list[str]], skip: Collection[str]) -> dict[str, tuple[str, ...]]:
    """Per queue the lanes asked for are in, the lanes other than its own (whose waiting
    tasks have directories of their own)."""
    out: dict[str, set[str]] = {}
    for lane, queues in per_lane.items():
        for queue in queues:
            if queue not in skip:
                out.setdefault(queue, set()).update([lane] if lane != queue else [])
    return {q: tuple(sorted(lanes)) for q, lanes in out.items()}


def _chunks(
    lane: str, queues: list[str], dirs: dict[str, Directory], now: float
) -> tuple[list[tuple[Stream, int]], list[tuple[Stream, int]]]:
    """The lane's ready chunks and due delayed buckets, lowest first."""
    ready: list[tuple[int, Stream]] = []
    due: list[tuple[int, Stream]] = []
    last_due = bucket_of(now)
    for queue in queues:
        for stream, chunks in dirs[queue].streams.items():
            if stream.lane != lane:
                continue
            if stream.log == READY:
                ready.extend((c, stream) for c in chunks)
            elif stream.log == DELAYED:
                due.extend((c, stream) for c in chunks if c <= last_due)
    key = lambda item: (item[0], item[1].queue)  # noqa: E731
    return (
        [(s, c) for c, s in sorted(ready, key=key)],
        [(s, c) for c, s in sorted(due, key=key)],
    )


def node_offset(number: int) -> float:
    """The place in a claim window where node ``number`` starts while contended: the
    fractional part of number * the golden ratio. Any run of N consecutive node numbers (nodes
    restart, and the numbers climb) lands on the same evenly spread places, N gaps of at
    most three sizes, none below a seventh of the window for five nodes."""
    return (number * GOLDEN) % 1.0


def _claimable(stored: Stored | None, ticket: str, request: ClaimRequest) -> bool:
    if stored is None or stored.ticket != ticket:
        return False  # claimed or moved meanwhile (or the entry is stale)
    task = stored.task
    return (
        task.state is TaskState.QUEUED
        and task.run_at <= request.now
        and task.queue not in request.skip_queues
    )


def _started(task: Task, request: ClaimRequest) -> Task:
    lease = request.lease_seconds.get(task.queue, request.default_lease_seconds)
    return dataclasses.replace(
        task,
        state=TaskState.STARTED,
        worker_id=request.worker_id,
        started_at=request.now,
        lease_until=request.now + lease,
    )


def _stamp(queues_version: int, cas: list[int]) -> int:
    text = ",".join(map(str, [queues_version, *cas])).encode()
    return int.from_bytes(hashlib.blake2b(text, digest_size=8).digest(), "big") >> 1
