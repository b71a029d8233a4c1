"""What waits on this node: the long-poll claims (how many, bounded by a setting), and the
waits for task outcomes (GET /task/result, taskUpdates) with the alarms that wake them."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from resolvers.errors import TooManyWaiters
from resolvers.models import Task


class Waiters:
    """Counts the claims waiting on this node, and keeps alive the clean-ups they leave
    behind when cancelled (a claim that completes after its waiter was cancelled)."""

    def __init__(self) -> None:
        self.count = 0
        # Of those, the ones subscribed to the notifier (which counts them among its alarms).
        self.subscribed = 0
        self._cleanups: set[asyncio.Task[Any]] = set()

    @contextmanager
    def admit(self, limit: int) -> Iterator[None]:
        """One more waiter while the block runs; TooManyWaiters if ``limit`` are waiting."""
        if self.count >= limit:
            raise TooManyWaiters(
                f"{limit} claims are waiting on this node already: try again shortly, or "
                "claim without waitSeconds",
                param="waitSeconds",
            )
        self.count += 1
        try:
            yield
        finally:
            self.count -= 1

    @contextmanager
    def subscribing(self) -> Iterator[None]:
        """A waiter subscribed to the notifier while the block runs."""
        self.subscribed += 1
        try:
            yield
        finally:
            self.subscribed -= 1

    def keep(self, cleanup: asyncio.Task[Any]) -> None:
        """Hold a reference to ``cleanup`` until it is done (the loop holds tasks weakly)."""
        self._cleanups.add(cleanup)
        cleanup.add_done_callback(self._cleanups.discard)


class Unread:
    """What a watch holds when its task must be read again (rather than handed to it)."""

    def __repr__(self) -> str:
        return "UNREAD"


UNREAD = Unread()

# What a waiter last saw of a task: its version (which changes with every write) and state,
# or None when the task is gone.
Seen = tuple[int, str] | None


def seen(task: Task | None) -> Seen:
    return None if task is None else (task.version, task.state.value)


class TaskWatch:
    """One wait for the next change of one task: rung by a change on this node (the task
    must be read again) or by the batched re-read of every watched task (which hands it the
    task as read)."""

    __slots__ = ("_fresh", "_rung", "_waiter", "seen", "task_id")

    def __init__(self, task_id: str) -> None:
        self.task_id = task_id
        self.seen: Seen = None
        self._rung = False
        self._fresh: Task | Unread | None = UNREAD
        self._waiter: asyncio.Future[None] | None = None

    def ring(self, fresh: Task | Unread | None = UNREAD) -> None:
        # A change on this node may be newer than a re-read handed before or after it (that
        # read may have started earlier): once one is pending, the waiter reads again.
        if not (self._rung and self._fresh is UNREAD):
            self._fresh = fresh
        self._rung = True
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    async def changed(self) -> Task | Unread | None:
        """Once rung (at once if rung since the last call): the task as the re-read found it
        (None: gone), or UNREAD."""
        if not self._rung:
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        self._rung = False
        fresh, self._fresh = self._fresh, UNREAD
        return fresh


class TaskWatches:
    """The waits for task outcomes open on this node (GET /task/result, taskUpdates), by
    task id, bounded by a setting."""

    def __init__(self) -> None:
        self._by_task: dict[str, set[TaskWatch]] = {}
        self.count = 0

    def changed(self, task_id: str) -> None:
        """The task changed on this node: its watches read it again."""
        watches = self._by_task.get(task_id)
        if watches:
            for watch in watches:
                watch.ring()

    @contextmanager
    def watch(self, task_id: str, limit: int, param: str = "taskId") -> Iterator[TaskWatch]:
        """A watch of the task while the block runs; TooManyWaiters if ``limit`` are open."""
        if self.count >= limit:
            raise TooManyWaiters(
                f"{limit} waits for task outcomes are open on this node already: try again "
                "shortly (--max-task-waiters)",
                param=param,
            )
        watch = TaskWatch(task_id)
        self.count += 1
        self._by_task.setdefault(task_id, set()).add(watch)
        try:
            yield watch
        finally:
            self.count -= 1
            watches = self._by_task[task_id]
            watches.discard(watch)
            if not watches:
                del self._by_task[task_id]

    def task_ids(self) -> list[str]:
        return list(self._by_task)

    def reread(self, tasks: dict[str, Task]) -> int:
        """Hand each watch whose task differs from what it last saw the task as re-read (in
        one batch for every watched id; absent: gone). How many watches were rung."""
        rung = 0
        for task_id, watches in list(self._by_task.items()):
            task = tasks.get(task_id)
            now = seen(task)
            for watch in watches:
                if watch.seen != now:
                    watch.ring(task)
                    rung += 1
        return rung
