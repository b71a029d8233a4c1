"""Queue and status types, each built from a resolvers model by ``from_model``.

Times are unix seconds.
"""

from __future__ import annotations

import strawberry
from strawberry.scalars import JSON

from resolvers import flow_limits, models, status
from schema.declare import field, object_type


@object_type
class RetryPolicy:
    """What happens to a reported failure (resque-retry): up to `limit` retries, each after
    `delays[n]` seconds if delays are given, else after the exponential backoff
    min(max, base * factor ^ n), spread by +/- `jitter` (a fraction) against stampedes; then
    the failed queue."""

    limit: int = strawberry.field(description="Retries before the failed queue; 0: none.")
    delays: list[float] | None = strawberry.field(
        description="Seconds before each retry (the last repeats); null: exponential backoff."
    )
    base: float = strawberry.field(description="Backoff seconds before the first retry.")
    factor: float = strawberry.field(description="Backoff growth from one retry to the next.")
    max: float = strawberry.field(description="Backoff ceiling in seconds.")
    jitter: float = strawberry.field(description="Backoff spread, a fraction from 0 to 1.")

    @classmethod
    def from_model(cls, policy: models.RetryPolicy) -> RetryPolicy:
        return cls(
            limit=policy.limit,
            delays=None if policy.delays is None else list(policy.delays),
            base=policy.base,
            factor=policy.factor,
            max=policy.max,
            jitter=policy.jitter,
        )


@object_type
class QueueSettings:
    """A queue's delivery settings."""

    lease_seconds: float = strawberry.field(
        description="How long a started task is held before it goes back to the queue."
    )
    max_deliveries: int = strawberry.field(
        description="Deliveries after which a task whose lease keeps expiring is failed."
    )
    retry: RetryPolicy = strawberry.field(description="What happens to a reported failure.")
    max_started: int | None = strawberry.field(
        default=None,
        description="At most this many of the queue's tasks started at once, across every "
        "node and worker; null: no limit.",
    )
    rate_limit: int | None = strawberry.field(
        default=None,
        description="At most this many claims per ratePeriodSeconds, across every node and "
        "worker; null: no limit.",
    )
    rate_period_seconds: float = strawberry.field(
        default=1.0,
        description="The rate limit's window in seconds (windows aligned on the epoch).",
    )

    @classmethod
    def from_model(cls, settings: models.QueueSettings) -> QueueSettings:
        return cls(
            lease_seconds=settings.lease_seconds,
            max_deliveries=settings.max_deliveries,
            retry=RetryPolicy.from_model(settings.retry),
            max_started=settings.max_started,
            rate_limit=settings.rate_limit,
            rate_period_seconds=settings.rate_period_seconds,
        )


@object_type
class Queue:
    """A queue. Queues are created by setting their interests."""

    name: str
    interests: JSON | None = strawberry.field(
        description="'*' or an object of field: regex; null when the queue has none."
    )
    paused: bool = strawberry.field(description="A paused queue accepts tasks but hands none.")
    settings: QueueSettings
    created_at: float

    @classmethod
    def from_model(cls, queue: models.Queue) -> Queue:
        # Queue, not cls: QueueStatus has more fields; it is built by from_status.
        return Queue(
            name=queue.name,
            interests=None if queue.interests is None else JSON(queue.interests),
            paused=queue.paused,
            settings=QueueSettings.from_model(queue.settings),
            created_at=queue.created_at,
        )


@object_type
class TaskCounts:
    """How many tasks are in each state."""

    scheduled: int
    queued: int
    started: int
    completed: int
    failed: int

    @field
    def waiting(self) -> int:
        """scheduled + queued."""
        return self.scheduled + self.queued

    @classmethod
    def from_model(cls, counts: models.TaskCounts) -> TaskCounts:
        return cls(
            scheduled=counts.scheduled,
            queued=counts.queued,
            started=counts.started,
            completed=counts.completed,
            failed=counts.failed,
        )


@object_type
class HeldBack:
    """Ready tasks a flow limit holds back now: all of the queue's ready tasks while the limit
    binds, else 0."""

    max_started: int = strawberry.field(description="While maxStarted tasks are started.")
    rate: int = strawberry.field(description="While the rate window's claims are used up.")


@object_type
class QueueLimits:
    """A queue's flow limits, counted across every node and worker, and their use now."""

    max_started: int | None = strawberry.field(description="null: no limit.")
    started: int = strawberry.field(description="The queue's tasks started now.")
    rate_limit: int | None = strawberry.field(description="null: no limit.")
    rate_period_seconds: float
    rate_used: int = strawberry.field(description="Claims counted in the current window.")
    held_back: HeldBack

    @classmethod
    def from_model(cls, limits: flow_limits.LimitStatus) -> QueueLimits:
        return cls(
            max_started=limits.max_started,
            started=limits.started,
            rate_limit=limits.rate_limit,
            rate_period_seconds=limits.rate_period_seconds,
            rate_used=limits.rate_used,
            held_back=HeldBack(max_started=limits.held_by_max_started, rate=limits.held_by_rate),
        )


@object_type
class QueueStatus(Queue):
    """A queue with its task counts and number of workers."""

    length: int = strawberry.field(
        description="Tasks waiting (queued and scheduled), in the queue and in its workers' "
        "own queues."
    )
    counts: TaskCounts
    workers: int = strawberry.field(description="Workers registered on the queue.")
    latency_seconds: float = strawberry.field(
        default=0.0,
        description="How long the oldest ready task of the queue has waited since it became "
        "due (Sidekiq's latency); 0 when none is ready. Copies waiting in workers' own queues "
        "are not in it.",
    )
    exists: bool = strawberry.field(
        default=True,
        description="False for a queue deleted or never created: its view is answered, with "
        "the tasks that still carry its name.",
    )
    limits: QueueLimits | None = strawberry.field(
        default=None,
        description="Its flow limits (maxStarted, rateLimit) and what they hold back now; "
        "null when it has none.",
    )

    @classmethod
    def from_status(cls, queue_status: status.QueueStatus) -> QueueStatus:
        queue = Queue.from_model(queue_status.queue)
        return cls(
            name=queue.name,
            interests=queue.interests,
            paused=queue.paused,
            settings=queue.settings,
            created_at=queue.created_at,
            length=queue_status.length,
            counts=TaskCounts.from_model(queue_status.counts),
            workers=queue_status.workers,
            latency_seconds=queue_status.latency,
            exists=queue_status.exists,
            limits=None
            if queue_status.limits is None
            else QueueLimits.from_model(queue_status.limits),
        )


@object_type
class QueueInterests:
    """A queue's interests."""

    queue: str
    interests: JSON = strawberry.field(description="'*' or an object of field: regex.")


@object_type
class WorkerQueueStatus:
    """The length of a worker's own queue, where its scope 'all' copies wait."""

    worker_id: strawberry.ID
    length: int

    @classmethod
    def from_model(cls, worker_queue: status.WorkerQueueStatus) -> WorkerQueueStatus:
        return cls(worker_id=strawberry.ID(worker_queue.worker_id), length=worker_queue.length)


@object_type
class Summary:
    """The whole system at a glance."""

    queues: int
    workers: int
    counts: TaskCounts

    @classmethod
    def from_model(cls, summary: status.Summary) -> Summary:
        return cls(
            queues=summary.queues,
            workers=summary.workers,
            counts=TaskCounts.from_model(summary.counts),
        )


@object_type
class StatsRow:
    """What happened in one queue in one minute."""

    queue: str
    minute: float = strawberry.field(description="The minute's start, in unix seconds.")
    published: int = strawberry.field(description="Copies written by publishes.")
    started: int = strawberry.field(description="Tasks claimed.")
    completed: int
    failed: int = strawberry.field(description="Tasks that went to the failed queue.")
    retried: int = strawberry.field(
        description="Failed tasks put back in their queue: by reEnqueue, the retry policy or "
        "retryFailed."
    )
    lease_expired: int = strawberry.field(description="Leases that ran out.")

    @classmethod
    def from_model(cls, row: models.StatsRow) -> StatsRow:
        return cls(
            queue=row.queue,
            minute=row.minute,
            published=row.published,
            started=row.started,
            completed=row.completed,
            failed=row.failed,
            retried=row.retried,
            lease_expired=row.lease_expired,
        )


@object_type
class StatsTotals:
    """Every count since totals were first kept in the store (Sidekiq's lifetime "processed"
    and "failed"), of one queue or all; never pruned, unlike the per-minute rows."""

    queue: str | None = strawberry.field(description="The queue; null for all queues.")
    published: int
    started: int
    completed: int
    failed: int = strawberry.field(description="Tasks that went to the failed queue.")
    retried: int
    lease_expired: int
    processed: int = strawberry.field(description="completed + failed.")

    @classmethod
    def from_model(cls, row: models.StatsRow) -> StatsTotals:
        return cls(
            queue=row.queue or None,
            published=row.published,
            started=row.started,
            completed=row.completed,
            failed=row.failed,
            retried=row.retried,
            lease_expired=row.lease_expired,
            processed=row.completed + row.failed,
        )
