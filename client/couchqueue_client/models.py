"""What the client hands to its users: tasks, events to publish and publish results, as plain
dataclasses built from the server's JSON (camelCase keys, unix-second times)."""

from __future__ import annotations

import datetime as dt
import os
import socket
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

Scope = Literal["any", "all"]

# Task fields as the server names them; the push subscription asks for exactly these.
TASK_FIELDS = (
    "taskId",
    "eventId",
    "queue",
    "workerId",
    "publisher",
    "data",
    "runAt",
    "scope",
    "singularlyEnqueue",
    "singularlyRun",
    "attempts",
    "createdAt",
    "startedAt",
    "leaseUntil",
)

# The states in which a task has its outcome (publish(wait=) and wait_for return then).
FINISHED_STATES = frozenset({"completed", "failed", "dropped"})


@dataclass(frozen=True, slots=True)
class Task:
    """A task: one handed to a worker (claimed for it, under a lease), or, from
    ``publish(wait=)`` and ``wait_for``, one as it finished (``state``, ``result``,
    ``fail_reason``). A handler may call ``report_progress`` on the task it was handed."""

    task_id: str
    event_id: str
    queue: str
    publisher: str
    data: dict[str, Any]
    run_at: float
    attempts: int = 0
    worker_id: str | None = None
    scope: str = "any"
    singularly_enqueue: bool = False
    singularly_run: bool = False
    created_at: float | None = None
    started_at: float | None = None
    lease_until: float | None = None
    state: str | None = None
    result: Any = None
    progress: Any = None
    parent_task_id: str | None = None
    fail_reason: str | None = None
    finished_at: float | None = None
    # Set by the Worker on a task it hands to a handler: sends a progress report.
    _progress: Callable[[Any], None] | None = field(
        default=None, init=False, repr=False, compare=False
    )

    @property
    def finished(self) -> bool:
        """Whether the task has its outcome: completed, failed or dropped."""
        return self.state in FINISHED_STATES

    def report_progress(self, value: Any) -> None:
        """Tell the server how far the handler got (any JSON value: 42, {"done": 3, "of":
        10}); subscribers of taskUpdates see it, and it extends the task's lease. Returns at
        once, from a sync or an async handler: the report is sent in the background, and a
        newer value replaces one not sent yet. TypeError if the value is not JSON."""
        if self._progress is None:
            raise RuntimeError("only a task handed to a handler by a Worker can report progress")
        self._progress(value)

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> Task:
        return cls(
            task_id=str(raw["taskId"]),
            event_id=str(raw["eventId"]),
            queue=str(raw["queue"]),
            publisher=str(raw["publisher"]),
            data=dict(raw.get("data") or {}),
            run_at=float(raw["runAt"]),
            attempts=int(raw.get("attempts") or 0),
            worker_id=_optional_str(raw.get("workerId")),
            scope=str(raw.get("scope") or "any"),
            singularly_enqueue=bool(raw.get("singularlyEnqueue")),
            singularly_run=bool(raw.get("singularlyRun")),
            created_at=_optional_float(raw.get("createdAt")),
            started_at=_optional_float(raw.get("startedAt")),
            lease_until=_optional_float(raw.get("leaseUntil")),
            state=_optional_str(raw.get("state")),
            result=raw.get("result"),
            progress=raw.get("progress"),
            parent_task_id=_optional_str(raw.get("parentTaskId")),
            fail_reason=_optional_str(raw.get("failReason")),
            finished_at=_optional_float(raw.get("finishedAt")),
        )

    def to_json(self) -> dict[str, Any]:
        """The task in the server's shape (camelCase keys), e.g. for a command's stdin."""
        return {
            "taskId": self.task_id,
            "eventId": self.event_id,
            "queue": self.queue,
            "workerId": self.worker_id,
            "publisher": self.publisher,
            "data": self.data,
            "runAt": self.run_at,
            "scope": self.scope,
            "singularlyEnqueue": self.singularly_enqueue,
            "singularlyRun": self.singularly_run,
            "attempts": self.attempts,
            "createdAt": self.created_at,
            "startedAt": self.started_at,
            "leaseUntil": self.lease_until,
        }


@dataclass(frozen=True, slots=True)
class Event:
    """An event to publish; the arguments of ``Publisher.publish``, for ``publish_many``."""

    data: Mapping[str, Any]
    publisher: str | None = None
    run_at: float | dt.datetime | None = None
    scope: Scope = "any"
    singularly_enqueue: bool = False
    singularly_run: bool = False
    unique_key: str | None = None

    def to_json(self, default_publisher: str) -> dict[str, Any]:
        body: dict[str, Any] = {"publisher": self.publisher or default_publisher}
        # Anything else than a mapping is sent as is, for the server to refuse with its reason.
        body["data"] = dict(self.data) if isinstance(self.data, Mapping) else self.data
        if self.run_at is not None:
            run_at = self.run_at
            body["runAt"] = run_at.timestamp() if isinstance(run_at, dt.datetime) else run_at
        if self.scope != "any":
            body["scope"] = self.scope
        if self.singularly_enqueue:
            body["singularlyEnqueue"] = True
        if self.singularly_run:
            body["singularlyRun"] = True
        if self.unique_key is not None:
            body["uniqueKey"] = self.unique_key
        return body


@dataclass(frozen=True, slots=True)
class Done:
    """What a handler may return to complete its task with a result and follow-up events:
    ``Done(result={"rows": 12}, publish=[Event({"step": "index"})])``. The events are
    published by the server as part of the completion, once, each with the task as its
    parent. Returning a plain value is ``Done(result=value)``."""

    result: Any = None
    publish: Sequence[Event | Mapping[str, Any]] = ()


@dataclass(frozen=True, slots=True)
class PublishedTask:
    task_id: str
    queue: str
    worker_id: str | None
    state: str


@dataclass(frozen=True, slots=True)
class Skipped:
    """A queue that got no copy: a duplicate under singularlyEnqueue, or (scope all) no
    worker registered."""

    queue: str
    reason: str
    worker_id: str | None = None


@dataclass(frozen=True, slots=True)
class PublishResult:
    event_id: str
    discarded: bool
    tasks: list[PublishedTask] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> PublishResult:
        return cls(
            event_id=str(raw["eventId"]),
            discarded=bool(raw.get("discarded")),
            tasks=[
                PublishedTask(
                    task_id=str(t["taskId"]),
                    queue=str(t["queue"]),
                    worker_id=_optional_str(t.get("workerId")),
                    state=str(t.get("state")),
                )
                for t in raw.get("tasks") or []
            ],
            skipped=[
                Skipped(
                    queue=str(s["queue"]),
                    reason=str(s.get("reason")),
                    worker_id=_optional_str(s.get("workerId")),
                )
                for s in raw.get("skipped") or []
            ],
        )


def default_name() -> str:
    """hostname:pid, the default publisher and worker name."""
    return f"{socket.gethostname()}:{os.getpid()}"


def _optional_str(value: Any) -> str | None:
    return None if value is None else str(value)


def _optional_float(value: Any) -> float | None:
    return None if value is None else float(value)
