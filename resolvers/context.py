"""Context: what every resolver receives: the store, the clock, limits, notifier and caches."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from typing import Protocol

from resolvers.access import Caller
from resolvers.handoff import Offer
from resolvers.models import Event, QueueSettings
from resolvers.queue_cache import QueueCache
from resolvers.stats_buffer import StatsBuffer
from resolvers.store import Store
from resolvers.token_cache import TokenCache
from resolvers.waiters import TaskWatches, Waiters


@dataclass(frozen=True, slots=True)
class Limits:
    """Bounds on client input; each is a server setting."""

    max_data_bytes: int = 256 * 1024
    max_interests_per_queue: int = 100
    max_regex_length: int = 1024
    max_queues_per_worker: int = 100
    max_name_length: int = 200
    max_page_size: int = 1000
    max_reason_length: int = 10_000
    default_lease_seconds: float = 300.0
    max_prefetch: int = 100
    max_batch: int = 1000
    max_follow_ups: int = 100
    max_wait_seconds: float = 20.0
    max_waiting_claims: int = 1000
    max_task_waiters: int = 1000


@dataclass(frozen=True, slots=True)
class Policies:
    """How long things live; each is a server setting."""

    worker_timeout_seconds: float = 60.0
    # A worker's requests extend its leases, but at most once per this many seconds, so that a
    # busy worker does not turn every request into a write.
    touch_interval_seconds: float = 1.0
    completed_retention_seconds: float = 3600.0
    failed_retention_seconds: float = 180 * 86400.0
    stats_window_seconds: float = 86400.0
    reap_batch: int = 500


class Wakeup(Protocol):
    """A push subscriber's alarm: set when its lanes may have gained tasks or one of its tasks
    was finished. Carries the subscriber's hand-off offer, if it stands one."""

    offer: Offer | None

    async def wait(self, at_most: float) -> None:
        """Return when woken, or after ``at_most`` seconds, whichever comes first."""
        ...


class Notifier(Protocol):
    """Wakes push subscribers on this node. Cross-node changes reach it through the store's
    change stamps, watched by the app."""

    def lanes_changed(self, lanes: Iterable[str]) -> int:
        """These lanes may have gained tasks, one per occurrence: wake that many slots' worth
        of their waiting subscribers (not all of them); how many were waiting (and now run)."""
        ...

    def worker_changed(self, worker_id: str) -> None: ...

    def offers(self, lane: str) -> list[Offer]:
        """The open offers (free slots) of the subscribers waiting, not yet woken, on lane."""
        ...

    def subscribe(self, worker_id: str, lanes: list[str]) -> AbstractContextManager[Wakeup]: ...

    def subscribed(self, worker_id: str) -> bool:
        """Whether the worker has a subscription open on this node (it is alive)."""
        ...


class EventSink(Protocol):
    """The live feed: emit() never blocks; each listener gets its own bounded stream."""

    def emit(self, event: Event) -> None: ...

    def listen(self) -> AbstractContextManager[asyncio.Queue[Event]]: ...


class Instruments(Protocol):
    """Measures how long the engine's hot operations take (publish, claim)."""

    def timed(self, operation: str) -> AbstractContextManager[None]: ...


class NullInstruments:
    @contextmanager
    def timed(self, operation: str) -> Iterator[None]:
        yield


class _Sleep:
    offer: Offer | None = None

    async def wait(self, at_most: float) -> None:
        await asyncio.sleep(at_most)


class NullNotifier:
    """Wakes nobody: subscribers fall back to waiting out their timeout."""

    def lanes_changed(self, lanes: Iterable[str]) -> int:
        return 0

    def offers(self, lane: str) -> list[Offer]:
        return []

    def worker_changed(self, worker_id: str) -> None:
        return None

    @contextmanager
    def subscribe(self, worker_id: str, lanes: list[str]) -> Iterator[Wakeup]:
        yield _Sleep()

    def subscribed(self, worker_id: str) -> bool:
        return False


class NullEvents:
    def emit(self, event: Event) -> None:
        return None

    @contextmanager
    def listen(self) -> Iterator[asyncio.Queue[Event]]:
        yield asyncio.Queue()


@dataclass(slots=True)
class Context:
    store: Store
    clock: Callable[[], float] = time.time
    limits: Limits = field(default_factory=Limits)
    policies: Policies = field(default_factory=Policies)
    notifier: Notifier = field(default_factory=NullNotifier)
    events: EventSink = field(default_factory=NullEvents)
    instruments: Instruments = field(default_factory=NullInstruments)
    # Per-process cache of queue records, revalidated against Store.queues_version (see
    # queue_cache for how long a copy is trusted).
    queue_cache: QueueCache = field(default_factory=QueueCache)
    # Per-process counts not yet added to the store's per-minute statistics.
    stats: StatsBuffer = field(default_factory=StatsBuffer)
    # Source of jitter for retry backoff; tests pass a fixed one.
    random: Callable[[], float] = random.random
    # This process's copy of the token set (see resolvers.tokens).
    tokens: TokenCache = field(default_factory=TokenCache)
    # Who is calling: None while auth is off (no token in the store). Transports give each
    # request of a token its own copy of the context with its caller (tokens.as_caller).
    caller: Caller | None = None
    # The long-poll claims waiting on this node (see long_poll).
    waiters: Waiters = field(default_factory=Waiters)
    # The waits for task outcomes open on this node (see task_updates).
    task_watches: TaskWatches = field(default_factory=TaskWatches)

    def queue_defaults(self) -> QueueSettings:
        """The settings a queue is created with (configureQueue changes them later), also
        followed by the tasks of a queue deleted since: the server's one set of defaults."""
        return QueueSettings(lease_seconds=self.limits.default_lease_seconds)
