"""Background duties: every node runs each one periodically. Each pass is a resolver function
that is safe to run on many nodes at once (the purge does the cluster's work on one node per
interval: see resolvers.retention); this module only schedules them and stops them."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from app.notify import ChangeWatcher
from app.settings import Settings
from resolvers.context import Context
from resolvers.leases import reap_expired_leases, reap_silent_workers
from resolvers.retention import purge_finished
from resolvers.schedules import fire_due_schedules
from resolvers.stats import flush_stats, prune_stats
from resolvers.task_updates import reread_watched

log = logging.getLogger("couchqueue.duties")


@dataclass(frozen=True, slots=True)
class Duty:
    name: str
    run: Callable[[Context], Awaitable[int]]
    interval: float


def _purge(interval: float) -> Callable[[Context], Awaitable[int]]:
    async def purge(ctx: Context) -> int:
        return await purge_finished(ctx, interval) + await prune_stats(ctx)

    return purge


def duties_for(settings: Settings, watcher: ChangeWatcher) -> list[Duty]:
    return [
        Duty("change watcher", watcher, settings.change_poll_interval),
        Duty("task watcher", reread_watched, settings.change_poll_interval),
        Duty("lease reaper", reap_expired_leases, settings.lease_reap_interval),
        Duty("worker reaper", reap_silent_workers, settings.worker_reap_interval),
        Duty("scheduler", fire_due_schedules, settings.schedule_interval),
        Duty("stats flush", flush_stats, settings.stats_flush_interval),
        Duty("purge", _purge(settings.purge_interval), settings.purge_interval),
    ]


class DutyRunner:
    def __init__(self, ctx: Context, duties: list[Duty]) -> None:
        self._ctx = ctx
        self._duties = duties
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        for duty in self._duties:
            self._tasks.append(asyncio.create_task(self._loop(duty), name=duty.name))

    async def _loop(self, duty: Duty) -> None:
        # Nodes started together would otherwise sweep in lockstep and race for the same rows.
        await asyncio.sleep(random.uniform(0, duty.interval))
        while True:
            try:
                await duty.run(self._ctx)
            except Exception:
                log.exception("%s failed; retrying in %.1fs", duty.name, duty.interval)
            await asyncio.sleep(duty.interval)

    async def stop(self) -> None:
        """Cancel every loop, then flush this node's statistics one last time."""
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        try:
            await flush_stats(self._ctx)
        except Exception:
            log.exception("final statistics flush failed")
