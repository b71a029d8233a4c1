"""Flow limits (maxStarted, rateLimit) as the engine sees them around claims: the stores
enforce them inside the claim (Store.claim_task); these rules say when a worker held back by
one should look again, and what status shows.

- A task of a queue with maxStarted leaving STARTED frees a slot: the queue's lane is
  "changed" on this node (its waiting subscribers wake), and the store moves the lane's
  change stamp for the other nodes.
- A queue out of rate opens again when its window ends (windows are fixed and aligned on the
  epoch, the same on every node): a subscriber held back only by that sleeps until then,
  not polling."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from resolvers.models import QueueLimits, Task, TaskCounts

STARTED, RATE = "started", "rate"


def freed_lanes(limits: Mapping[str, QueueLimits], left_started: Iterable[Task]) -> set[str]:
    """The lanes to wake for tasks that have just left STARTED: their queues' own lanes, for
    the queues with maxStarted."""
    return {
        task.queue
        for task in left_started
        if (found := limits.get(task.queue)) is not None and found.max_started is not None
    }


def reopens_at(
    limits: Mapping[str, QueueLimits], held_back: Mapping[str, str], now: float
) -> float | None:
    """When the earliest queue a rate limit held back opens again (its window's end); None if
    no rate limit held any back."""
    ends = [
        limits[queue].window_end(now)
        for queue, by in held_back.items()
        if by == RATE and queue in limits
    ]
    return min(ends) if ends else None


@dataclass(slots=True, frozen=True)
class LimitStatus:
    """A limited queue's limits and use now, and the ready tasks each limit holds back (all
    of them while it binds, else 0)."""

    max_started: int | None
    started: int
    rate_limit: int | None
    rate_period_seconds: float
    rate_used: int
    held_by_max_started: int
    held_by_rate: int


def limit_status(limits: QueueLimits, counts: TaskCounts, rate_used: int) -> LimitStatus:
    full = limits.max_started is not None and counts.started >= limits.max_started
    out = limits.rate_limit is not None and rate_used >= limits.rate_limit
    return LimitStatus(
        max_started=limits.max_started,
        started=counts.started,
        rate_limit=limits.rate_limit,
        rate_period_seconds=limits.rate_period,
        rate_used=rate_used,
        held_by_max_started=counts.queued if full else 0,
        held_by_rate=counts.queued if out else 0,
    )
