"""GraphQL enums for the values the engine enumerates: task state, scope, event kind and why a
publish skipped a queue.

Value names are the engine's lowercase strings ("queued", "all", "lease_expired"), not the
UPPER_CASE GraphQL convention: an enum value is sent as its name, so a field that turns from
String into one of these answers the very same JSON as before.
"""

from __future__ import annotations

from enum import StrEnum

from resolvers import models
from schema.declare import enum_type


@enum_type
class TaskState(StrEnum):
    """A task's state: scheduled (waiting for its runAt), queued (ready, waiting for a worker),
    started (held by a worker under a lease), completed (reported done) or failed (in the
    failed queue); dropped only in a report's answer (it went back beside a waiting
    singularlyEnqueue copy of the same work, and no longer exists)."""

    scheduled = "scheduled"
    queued = "queued"
    started = "started"
    completed = "completed"
    failed = "failed"
    dropped = "dropped"

    @classmethod
    def of(cls, state: models.TaskState) -> TaskState:
        return cls(state.value)


@enum_type
class Scope(StrEnum):
    """Which copies a publish writes: any (one per interested queue, done by any of its
    workers) or all (one per worker registered on each interested queue)."""

    any = "any"
    all = "all"

    @classmethod
    def of(cls, scope: models.Scope) -> Scope:
        return cls(scope.value)


@enum_type
class EventKind(StrEnum):
    """What an event of the live feed tells. Tasks: published, started, completed, failed (to
    the failed queue), retried (back to wait after a failure), lease_expired, abandoned (its
    push worker vanished holding it). Queues: paused, resumed. Workers: worker_joined,
    worker_left. changed: another node wrote to the store, look again. progress: the holder
    reported progress on a task."""

    published = "published"
    started = "started"
    completed = "completed"
    failed = "failed"
    retried = "retried"
    lease_expired = "lease_expired"
    abandoned = "abandoned"
    paused = "paused"
    resumed = "resumed"
    worker_joined = "worker_joined"
    worker_left = "worker_left"
    changed = "changed"
    progress = "progress"


@enum_type
class SkipReason(StrEnum):
    """Why a publish wrote no copy for a queue or a worker: no_workers (scope all, and no
    worker is registered on the queue) or duplicate (singularlyEnqueue, and a copy with that
    identity still waits)."""

    no_workers = "no_workers"
    duplicate = "duplicate"

    @classmethod
    def of(cls, reason: str) -> SkipReason:
        """The code of the engine's reason text, "no workers" or "duplicate"."""
        return cls(reason.replace(" ", "_"))
