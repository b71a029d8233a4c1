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
    task as read, unless the waiter has seen the task since that read began)."""

    __slots__ = ("_fresh", "_fresh_generation", "_rung", "_waiter", "generation", "seen", "task_id")

    def __init__(self, task_id: str) -> None:
        self.task_id = task_id
        self.seen: Seen = None
        # How many times the waiter has seen the task: a re-read handed for an older count
        # may be older than what it saw, and is read again instead.
        self.generation = 0
        self._rung = False
        self._fresh: Task | Unread | None = UNREAD
        self._fresh_generation = 0
        self._waiter: asyncio.Future[None] | None = None

    def saw(self, task: Task) -> None:
        """The waiter has seen the task as it is now."""
        self.seen = seen(task)
        self.generation += 1

    def ring(self, fresh: Task | Unread | None = UNREAD, generation: int = 0) -> None:
        """Wake the waiter: read the task again, or take ``fresh``, re-read when the waiter
        had seen the task ``generation`` times."""
        # A change on this node may be newer than a re-read handed before or after it (that
        # read may have started earlier): once one is pending, the waiter reads again.
        if not (self._rung and self._fresh is UNREAD):
            self._fresh, self._fresh_generation = fresh, generation
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
        if self._fresh_generation != self.generation:
            return UNREAD
        return fresh


class TaskWatches:
    """The waits for task outcomes open on this node (GET /task/result, taskUpdates), by
    task id, bounded by a setting."""

    def __init__(self) -> None:
        self._by_task: dict[str, set[TaskWatch]] = {}
        self.count = 0
        # The event loop's time before which no batched re-read runs (task_updates).
        self.next_reread = 0.0

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

    def marks(self) -> list[tuple[TaskWatch, int]]:
        """Every open watch with how many times its waiter has seen its task, taken before a
        batched re-read (see ``reread``)."""
        return [
            (watch, watch.generation) for watches in self._by_task.values() for watch in watches
        ]

    def reread(self, marks: list[tuple[TaskWatch, int]], tasks: dict[str, Task]) -> int:
        """After a batched read of the marked watches' tasks (absent: gone), hand the task to
        each watch whose waiter saw something else and has seen nothing since the marks were
        taken. How many watches were rung."""
        rung = 0
        for watch, generation in marks:
            task = tasks.get(watch.task_id)
            if watch.generation == generation and watch.seen != seen(task):
                watch.ring(task, generation)
                rung += 1
        return rung
