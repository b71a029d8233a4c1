"""Prometheus metrics of one node, in its own registry (no global state): per-queue gauges
(tasks by state, paused, latency, flow limits and the tasks they hold back) read from the
store's counters at scrape time, counters fed by the engine's events, latency histograms of
publish and claim, connected push workers."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from resolvers.context import Context
from resolvers.models import Event
from resolvers.status import all_queue_status

COUNTED = ("published", "started", "completed", "failed", "retried", "lease_expired")
CONTENT_TYPE = CONTENT_TYPE_LATEST


class Metrics:
    def __init__(self, subscribers: Callable[[], int]) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self._subscribers = subscribers
        self.tasks = Gauge(
            "couchqueue_tasks",
            "Tasks in each queue by state",
            ["queue", "state"],
            registry=self.registry,
        )
        self.paused = Gauge(
            "couchqueue_queue_paused", "1 if the queue is paused", ["queue"], registry=self.registry
        )
        self.latency_seconds = Gauge(
            "couchqueue_queue_latency_seconds",
            "How long the oldest ready task of the queue has waited since it became due",
            ["queue"],
            registry=self.registry,
        )
        self.held_back = Gauge(
            "couchqueue_tasks_held_back",
            "Ready tasks a flow limit holds back now (limit: max_started or rate)",
            ["queue", "limit"],
            registry=self.registry,
        )
        self.limit = Gauge(
            "couchqueue_queue_limit",
            "A queue's flow limit (max_started; rate: claims per rate_period_seconds)",
            ["queue", "limit"],
            registry=self.registry,
        )
        self.events = Counter(
            "couchqueue_task_events",
            "Task events on this node",
            ["queue", "event"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "couchqueue_operation_seconds",
            "Time the engine spent in an operation",
            ["operation"],
            registry=self.registry,
            buckets=(0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
        )
        # labels() is a dict look-up behind a lock: worth skipping on every publish and claim.
        self._event_counters: dict[tuple[str, str], Any] = {}
        self._timers: dict[str, Any] = {}
        self.push_workers = Gauge(
            "couchqueue_push_subscribers",
            "Push subscriptions open on this node",
            registry=self.registry,
        )
        self.waiting_claims = Gauge(
            "couchqueue_waiting_claims",
            "Long-poll claims waiting on this node",
            registry=self.registry,
        )
        self.task_waiters = Gauge(
            "couchqueue_task_waiters",
            "Waits for task outcomes open on this node (GET /task/result, taskUpdates)",
            registry=self.registry,
        )

    def tap(self, event: Event) -> None:
        """Counts an engine event (given to the node's event sink as a tap)."""
        if event.queue is not None and event.kind in COUNTED:
            key = (event.queue, event.kind)
            counter = self._event_counters.get(key)
            if counter is None:
                counter = self._event_counters[key] = self.events.labels(*key)
            counter.inc()

    @contextmanager
    def timed(self, operation: str) -> Iterator[None]:
        timer = self._timers.get(operation)
        if timer is None:
            timer = self._timers[operation] = self.latency.labels(operation)
        started = time.perf_counter()
        try:
            yield
        finally:
            timer.observe(time.perf_counter() - started)

    async def render(self, ctx: Context) -> bytes:
        """The exposition text, with the gauges read from the store now."""
        self.tasks.clear()
        self.paused.clear()
        self.latency_seconds.clear()
        self.held_back.clear()
        self.limit.clear()
        for status in await all_queue_status(ctx):
            name = status.queue.name
            counts = status.counts
            for state in ("scheduled", "queued", "started", "completed", "failed"):
                self.tasks.labels(name, state).set(getattr(counts, state))
            self.paused.labels(name).set(1 if status.queue.paused else 0)
            self.latency_seconds.labels(name).set(status.latency)
            limits = status.limits
            if limits is not None:
                self.held_back.labels(name, "max_started").set(limits.held_by_max_started)
                self.held_back.labels(name, "rate").set(limits.held_by_rate)
                for label, value in (
                    ("max_started", limits.max_started),
                    ("rate", limits.rate_limit),
                    (
                        "rate_period_seconds",
                        limits.rate_period_seconds if limits.rate_limit else None,
                    ),
                ):
                    if value is not None:
                        self.limit.labels(name, label).set(value)
        # Long-poll claims wait as the notifier's subscribers too: not push subscriptions.
        self.push_workers.set(self._subscribers() - ctx.waiters.subscribed)
        self.waiting_claims.set(ctx.waiters.count)
        self.task_waiters.set(ctx.task_watches.count)
        return generate_latest(self.registry)
