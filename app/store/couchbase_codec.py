"""The Couchbase store's JSON documents: models to documents and back, and a cheap pre-check of
a TaskFilter on index entries (there is no query service: candidate tasks come from index
documents, and each is then checked by TaskFilter.matches)."""

from __future__ import annotations

import dataclasses
import hashlib
import secrets
from typing import Any

from resolvers.models import (
    Failure,
    Queue,
    QueueSettings,
    RetryPolicy,
    Schedule,
    Scope,
    StatsRow,
    Task,
    TaskFilter,
    TaskState,
    Worker,
)

# Log codes: where a task's index entry lives, by state. A waiting (QUEUED) task is in "w"
# (ready when it was queued, chunked by seq) or "d" (delayed, chunked by run_at bucket). A
# STARTED task ("s") has a counter in its queue's directory but no chunked log: it is indexed
# under its worker (held) and its lease's bucket, which is where listings find it.
READY, DELAYED, STARTED, COMPLETED, FAILED = "w", "d", "s", "c", "f"
# The lease bucket of a started task without a lease (never expires, still listed).
NO_LEASE_BUCKET = 1 << 40
WAITING_LOGS = (READY, DELAYED)
LOG_OF_STATE = {
    TaskState.STARTED: STARTED,
    TaskState.COMPLETED: COMPLETED,
    TaskState.FAILED: FAILED,
}
# The constants below are part of the stored format (they name chunk documents): changing one
# needs an empty store (or a new prefix).
# Seq-ordered logs are cut into chunks of this many sequence numbers.
CHUNK = 64
# Delayed tasks are bucketed by run_at, this many seconds per bucket; leases by lease_until,
# one second per bucket (so a lease bucket document stays small however busy the queue).
BUCKET_SECONDS = 10.0
LEASE_BUCKET_SECONDS = 1.0

# The entry of a new task whose document is still missing this long after the task's creation
# is an orphan: its publisher died between writing the entry and the task.
ORPHAN_SECONDS = 600.0

# Per-process caches are emptied when they reach this size (each is refilled by reads or by
# idempotent writes), so a long-running node's memory stays flat.
CACHE_LIMIT = 10_000

_TASK_FIELDS = [f.name for f in dataclasses.fields(Task) if f.name not in ("version", "dropped")]


def new_ticket() -> str:
    """Names one stay of a task in one state: the key of its index entries for that stay."""
    return secrets.token_hex(6)


def identity_hash(lane: str, identity: str) -> str:
    return hashlib.sha256(f"{lane}\x00{identity}".encode()).hexdigest()[:32]


def bucket_of(seconds: float) -> int:
    return int(seconds // BUCKET_SECONDS)


def bucket_start(bucket: int) -> float:
    return bucket * BUCKET_SECONDS


# -- tasks ------------------------------------------------------------------------------------


def task_doc(task: Task, ticket: str, log: str) -> dict[str, Any]:
    """The task document: every Task field but version (the document's CAS is the version),
    the ticket of its current state and the log its index entry is in."""
    doc = {name: getattr(task, name) for name in _TASK_FIELDS}
    doc["scope"] = task.scope.value
    doc["state"] = task.state.value
    doc["failures"] = [[f.reason, f.at] for f in task.failures]
    doc["k"] = ticket
    doc["x"] = log
    return doc


def task_from_doc(doc: dict[str, Any], cas: int) -> Task:
    fields: dict[str, Any] = {name: doc.get(name) for name in _TASK_FIELDS}
    fields["scope"] = Scope(doc["scope"])
    fields["state"] = TaskState(doc["state"])
    fields["failures"] = [Failure(reason, at) for reason, at in doc.get("failures") or []]
    fields["data"] = doc.get("data") or {}
    fields["follow_ups"] = list(doc.get("follow_ups") or [])
    task = Task(**fields)
    task.version = cas
    return task


def log_of(task: Task, hint_now: float) -> str:
    """The log a task in this state goes to. A QUEUED task whose run_at is not after the latest
    time known from the task itself is ready; one that may be in the future is delayed (claims
    then only look at it once its bucket is due). Either is correct: this only decides which
    structure is scanned for it."""
    if task.state is TaskState.QUEUED:
        return READY if task.run_at <= hint_now else DELAYED
    return LOG_OF_STATE[task.state]


def hint_now(task: Task, before: Task | None = None) -> float:
    """The latest moment the task's own fields prove has passed (a store reads no clock)."""
    times = [task.created_at]
    times.extend(f.at for f in task.failures[-1:])
    if before is not None:
        times.extend(t for t in (before.started_at, before.finished_at) if t is not None)
    return max(times)


def chunk_of(task: Task, log: str) -> int:
    return bucket_of(task.run_at) if log == DELAYED else seq_chunk(task.seq)


def seq_chunk(seq: int) -> int:
    """The chunk of a seq-ordered log a seq falls in."""
    return seq // CHUNK


def entry_value(task: Task, log: str, base: str | None) -> dict[str, Any]:
    """What an index entry says of its task: enough to order and pre-filter candidates without
    reading the task. ``b`` is the ticket of the state the writer moves the task from (None
    for a new task, whose entry has its creation time ``c`` instead): while the task still has
    that ticket the entry is pending, not stale."""
    value: dict[str, Any] = {"t": task.task_id, "s": task.seq}
    if base is not None:
        value["b"] = base
    else:
        value["c"] = task.created_at
    if log in WAITING_LOGS:
        value["r"] = task.run_at
        if task.singularly_run and task.identity is not None:
            value["i"] = identity_hash(task.lane, task.identity)
    elif log in (COMPLETED, FAILED):
        value["f"] = task.finished_at
    return value


def lease_value(task: Task, base: str | None) -> dict[str, Any]:
    """A started task's lease entry: what the reaper and listings of started tasks need."""
    return {
        "t": task.task_id,
        "w": task.worker_id,
        "u": task.lease_until,
        "b": base,
        "s": task.seq,
        "q": task.queue,
        "l": task.lane,
    }


def lease_bucket(lease_until: float | None) -> int:
    return NO_LEASE_BUCKET if lease_until is None else int(lease_until // LEASE_BUCKET_SECONDS)


def entry_state(
    entry: dict[str, Any], ticket: str, doc: dict[str, Any] | None, now: float | None = None
) -> str:
    """'live' (the task is in the state this entry indexes), 'pending' (a writer may still
    move the task into it) or 'stale' (it never will). Given ``now``, the entry of a new task
    whose document is still missing ORPHAN_SECONDS after its creation is stale (its publisher
    died between the two writes)."""
    if doc is not None and doc.get("k") == ticket:
        return "live"
    base = entry.get("b")
    if doc is None:
        if base is None and not _orphan(entry, now):
            return "pending"
        return "stale"
    return "pending" if base is not None and doc.get("k") == base else "stale"


def _orphan(entry: dict[str, Any], now: float | None) -> bool:
    created = entry.get("c")
    return now is not None and created is not None and created < now - ORPHAN_SECONDS


# -- filters ----------------------------------------------------------------------------------


def entry_may_match(entry: dict[str, Any], log: str, where: TaskFilter) -> bool:
    """A cheap pre-check on what the entry records; the task itself is checked afterwards."""
    run_at = entry.get("r")
    if log in WAITING_LOGS and run_at is not None:
        if where.run_after is not None and not run_at > where.run_after:
            return False
        if where.run_until is not None and not run_at <= where.run_until:
            return False
    finished = entry.get("f")
    if log in (COMPLETED, FAILED) and finished is not None:
        if where.finished_after is not None and not finished >= where.finished_after:
            return False
        if where.finished_before is not None and not finished < where.finished_before:
            return False
    return True


def logs_for(states: tuple[TaskState, ...] | None) -> tuple[str, ...]:
    if states is None:
        return (READY, DELAYED, STARTED, COMPLETED, FAILED)
    logs: list[str] = []
    for state in states:
        if state in (TaskState.QUEUED, TaskState.SCHEDULED):
            logs.extend(WAITING_LOGS)
        else:
            logs.append(LOG_OF_STATE[TaskState(state)])
    return tuple(dict.fromkeys(logs))


# -- queues, workers, schedules, statistics ---------------------------------------------------


def queue_doc(queue: Queue) -> dict[str, Any]:
    return {
        "interests": queue.interests,
        "paused": queue.paused,
        "settings": dataclasses.asdict(queue.settings),
        "created_at": queue.created_at,
    }


def queue_from_doc(name: str, doc: dict[str, Any]) -> Queue:
    settings = dict(doc.get("settings") or {})
    retry = RetryPolicy(**settings.pop("retry", {}))
    return Queue(
        name=name,
        interests=doc.get("interests"),
        paused=bool(doc.get("paused")),
        settings=QueueSettings(**settings, retry=retry),
        created_at=float(doc.get("created_at") or 0.0),
    )


def worker_doc(worker: Worker) -> dict[str, Any]:
    return dataclasses.asdict(worker)


def worker_from_doc(doc: dict[str, Any]) -> Worker:
    return Worker(**doc)


def schedule_doc(schedule: Schedule) -> dict[str, Any]:
    doc = dataclasses.asdict(schedule)
    doc["scope"] = schedule.scope.value
    return doc


def schedule_from_doc(doc: dict[str, Any]) -> Schedule:
    return Schedule(**{**doc, "scope": Scope(doc["scope"])})


STAT_COUNTS = tuple(
    f.name for f in dataclasses.fields(StatsRow) if f.name not in ("queue", "minute")
)


def stats_row(queue: str, minute: float, counts: dict[str, Any]) -> StatsRow:
    return StatsRow(queue, minute, **{k: int(counts.get(k) or 0) for k in STAT_COUNTS})
