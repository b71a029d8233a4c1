"""Plain data: what the engine reads from and writes to a store, and hands to transports."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import IntEnum, StrEnum
from typing import Any, TypeAlias

JsonObject: TypeAlias = dict[str, Any]

# '*' (every event) or {field or dotted path: regex}.
Interests: TypeAlias = str | dict[str, str]

MATCH_ALL = "*"


class TaskState(StrEnum):
    """A task's state as clients see it.

    Stores keep waiting tasks as QUEUED with their ``run_at``; SCHEDULED is QUEUED with ``run_at``
    still in the future, so a delayed task becomes due without any write.
    """

    SCHEDULED = "scheduled"
    QUEUED = "queued"
    STARTED = "started"
    COMPLETED = "completed"
    FAILED = "failed"


# What a client is told of a task dropped as a duplicate: no TaskState, as no task is stored so.
DROPPED = "dropped"


class Replaced(IntEnum):
    """What a compare-and-set of Store.replace_task did; false only when nothing was written."""

    CONFLICT = 0
    WRITTEN = 1
    # The task went back to QUEUED in a lane already holding a waiting singularly_enqueue copy
    # with the same identity: that copy stands for the work, and this task was deleted.
    DROPPED = 2


class Scope(StrEnum):
    ANY = "any"
    ALL = "all"


@dataclass(slots=True, frozen=True)
class Failure:
    """One failed delivery of a task: a reported fail, or a lease that expired."""

    reason: str | None
    at: float


@dataclass(slots=True)
class Task:
    """One copy of a published event, in one queue (or in one worker's own queue)."""

    task_id: str
    event_id: str
    queue: str
    # Where the copy waits to be claimed: the queue itself, or worker_lane(id) for scope "all".
    lane: str
    publisher: str
    data: JsonObject
    run_at: float
    created_at: float
    scope: Scope = Scope.ANY
    singularly_enqueue: bool = False
    singularly_run: bool = False
    # Set when either singularly flag is: the key under which uniqueness is enforced per lane.
    identity: str | None = None
    state: TaskState = TaskState.QUEUED
    # The worker a scope "all" copy is for, or the worker holding a started task.
    worker_id: str | None = None
    attempts: int = 0
    started_at: float | None = None
    finished_at: float | None = None
    lease_until: float | None = None
    fail_reason: str | None = None
    # Every failed delivery, oldest first; fail_reason is the last one's reason.
    failures: list[Failure] = field(default_factory=list)
    # What the worker's completion answered, and its last progress report (JSON values).
    result: Any = None
    progress: Any = None
    # The task whose completion published this one as a follow-up event.
    parent_task_id: str | None = None
    # The ids of the follow-ups its completion published (derived, see resolvers/follow_ups.py);
    # those that still exist are its children.
    follow_ups: list[str] = field(default_factory=list)
    # Assigned by the store: publish order, and a version that changes with every write.
    seq: int = 0
    version: int = 0
    # Never stored: set on an answer about a task the store dropped instead of putting it back
    # in its lane, as a duplicate (see Replaced.DROPPED). Clients see the state "dropped".
    dropped: bool = False

    def state_at(self, now: float) -> TaskState:
        if self.state is TaskState.QUEUED and self.run_at > now:
            return TaskState.SCHEDULED
        return self.state

    def shown_state(self, now: float) -> str:
        """The state a client is told: state_at(now), or "dropped" (see ``dropped``)."""
        return DROPPED if self.dropped else self.state_at(now).value

    def requeued(self, run_at: float | None = None) -> Task:
        """The task waiting again in its lane (from ``run_at``; when it was due if None), its
        history kept. A copy in its worker's own lane (scope "all") keeps its worker: it is
        that worker's copy; one in its queue's lane is anyone's again."""
        return dataclasses.replace(
            self,
            state=TaskState.QUEUED,
            run_at=self.run_at if run_at is None else run_at,
            worker_id=self.worker_id if self.lane != self.queue else None,
            started_at=None,
            finished_at=None,
            lease_until=None,
        )


@dataclass(slots=True)
class RetryPolicy:
    """What happens to a reported failure (resque-retry): up to ``limit`` retries, each after
    ``delays[n]`` seconds if delays are given, else after exponential backoff
    min(max, base * factor ** n), spread by +/- ``jitter`` (a fraction) against stampedes."""

    limit: int = 0
    delays: list[float] | None = None
    base: float = 15.0
    factor: float = 2.0
    max: float = 3600.0
    jitter: float = 0.1


@dataclass(slots=True)
class QueueSettings:
    lease_seconds: float = 300.0
    max_deliveries: int = 10
    retry: RetryPolicy = field(default_factory=RetryPolicy)


@dataclass(slots=True)
class Queue:
    name: str
    interests: Interests | None = None
    paused: bool = False
    settings: QueueSettings = field(default_factory=QueueSettings)
    created_at: float = 0.0


@dataclass(slots=True)
class Worker:
    worker_id: str
    queues: list[str]
    name: str | None = None
    registered_at: float = 0.0
    last_seen: float = 0.0
    # The name of the token that registered it (None when auth was off): only that token (or
    # an admin's) may act as this worker.
    owner: str | None = None


@dataclass(slots=True)
class TaskCounts:
    scheduled: int = 0
    queued: int = 0
    started: int = 0
    completed: int = 0
    failed: int = 0

    @property
    def waiting(self) -> int:
        return self.scheduled + self.queued


@dataclass(slots=True, frozen=True)
class TaskFilter:
    """Which tasks a listing or a bulk removal covers; None means any."""

    queue: str | None = None
    lane: str | None = None
    states: tuple[TaskState, ...] | None = None
    worker_id: str | None = None
    publisher: str | None = None
    reason_contains: str | None = None
    # Bounds on run_at: run_at > run_after and run_at <= run_until (how scheduled and queued
    # are told apart among stored QUEUED tasks).
    run_after: float | None = None
    run_until: float | None = None
    # Bounds on finished_at: finished_after <= finished_at < finished_before.
    finished_after: float | None = None
    finished_before: float | None = None
    task_ids: tuple[str, ...] | None = None
    # True: tasks that failed before (attempts > 0; scheduled, they are retries waiting for
    # their backoff); False: tasks never failed (scheduled, they are delayed publishes).
    failed_before: bool | None = None

    def matches(self, task: Task) -> bool:
        """Whether the task is covered: the reference every store's filtering agrees with."""
        return (
            (self.queue is None or task.queue == self.queue)
            and (self.lane is None or task.lane == self.lane)
            and (self.states is None or task.state in self.states)
            and (self.worker_id is None or task.worker_id == self.worker_id)
            and (self.publisher is None or task.publisher == self.publisher)
            and (
                self.reason_contains is None
                or contains_text(task.fail_reason, self.reason_contains)
            )
            and (self.run_after is None or task.run_at > self.run_after)
            and (self.run_until is None or task.run_at <= self.run_until)
            and (
                self.finished_after is None
                or (task.finished_at is not None and task.finished_at >= self.finished_after)
            )
            and (
                self.finished_before is None
                or (task.finished_at is not None and task.finished_at < self.finished_before)
            )
            and (self.task_ids is None or task.task_id in self.task_ids)
            and (self.failed_before is None or (task.attempts > 0) == self.failed_before)
        )


def contains_text(text: str | None, part: str) -> bool:
    """The one rule of text filters: ``part`` occurs in ``text``, in any case, by Unicode
    casefolding ("échec" finds "ÉCHEC SMTP", "strasse" finds "Straße")."""
    return text is not None and part.casefold() in text.casefold()


@dataclass(slots=True)
class TaskPage:
    tasks: list[Task]
    # Opaque to the engine; pass back as ``after`` for the next page. None: this was the last.
    next_cursor: str | None


@dataclass(slots=True)
class ClaimRequest:
    """What one claim asks of the store; see Store.claim_task."""

    lanes: list[str]
    worker_id: str
    now: float
    lease_seconds: dict[str, float]
    default_lease_seconds: float
    skip_queues: frozenset[str] = frozenset()


@dataclass(slots=True)
class TaskChange:
    """One compare-and-set of Store.replace_tasks; see Store.replace_task."""

    task: Task
    expected_version: int
    also_insert: Sequence[Task] = ()


@dataclass(slots=True)
class PublishInput:
    publisher: str
    data: JsonObject
    run_at: float | None = None
    scope: Scope = Scope.ANY
    singularly_enqueue: bool = False
    singularly_run: bool = False
    unique_key: str | None = None


@dataclass(slots=True)
class Skipped:
    queue: str
    reason: str
    worker_id: str | None = None


@dataclass(slots=True)
class PublishResult:
    event_id: str
    discarded: bool
    tasks: list[Task]
    skipped: list[Skipped]


@dataclass(slots=True)
class Schedule:
    """A recurring publish: a cron expression in a time zone and the event to publish."""

    name: str
    cron: str
    timezone: str
    publisher: str
    data: JsonObject
    scope: Scope = Scope.ANY
    singularly_enqueue: bool = False
    singularly_run: bool = False
    unique_key: str | None = None
    enabled: bool = True
    # The next tick to fire (unix seconds); advanced by compare-and-set, so once per tick.
    next_run_at: float | None = None
    last_run_at: float | None = None
    # The tick a node has taken (by compare-and-set) and is publishing, and since when.
    firing: float | None = None
    firing_since: float | None = None
    created_at: float = 0.0
    version: int = 0


@dataclass(slots=True, frozen=True)
class Event:
    """Something that happened, for live feeds: a task published, started, completed, failed,
    retried, lease_expired or abandoned (its push worker vanished holding it); a queue paused
    or resumed; a worker joined or left; or "changed": another node may have written to the
    queue (None when which queue is not known)."""

    kind: str
    queue: str | None
    at: float
    task_id: str | None = None
    worker_id: str | None = None


# The event kind telling listeners that another node may have written (app/notify.py).
CHANGED = "changed"

STAT_FIELDS = ("published", "started", "completed", "failed", "retried", "lease_expired")


@dataclass(slots=True)
class StatsRow:
    """Counts for one queue in one minute (minute = unix seconds at the minute's start)."""

    queue: str
    minute: float
    published: int = 0
    started: int = 0
    completed: int = 0
    failed: int = 0
    retried: int = 0
    lease_expired: int = 0


WORKER_LANE_PREFIX = "@"


def worker_lane(worker_id: str) -> str:
    """The lane holding a worker's own copies (scope "all"). Queue names cannot contain '@'."""
    return WORKER_LANE_PREFIX + worker_id
