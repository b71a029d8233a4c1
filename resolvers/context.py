"""Context: what every resolver receives: the store, the clock, limits, notifier and caches."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Protocol

from resolvers.queue_cache import QueueCache
from resolvers.store import Store


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


class Notifier(Protocol):
    """Told which lanes gained ready tasks, so push deliveries can wake at once."""

    def lanes_changed(self, lanes: Iterable[str]) -> None: ...


class NullNotifier:
    def lanes_changed(self, lanes: Iterable[str]) -> None:
        return None


@dataclass(slots=True)
class Context:
    store: Store
    clock: Callable[[], float] = time.time
    limits: Limits = field(default_factory=Limits)
    notifier: Notifier = field(default_factory=NullNotifier)
    # Per-process cache of queue records, revalidated against Store.queues_version on each use.
    queue_cache: QueueCache = field(default_factory=QueueCache)
