"""count_tasks equals the truth after any sequence of Store operations, on every backend: a
hypothesis state machine publishes, claims, reports, retries, releases, reaps leases, deletes
tasks and queues, prunes and moves the clock, and after every step compares the counts the
store answers (counters on both backends) with the tasks its listing holds.

Derandomized and bounded (COUCHQUEUE_COUNTS_EXAMPLES examples of COUCHQUEUE_COUNTS_STEPS
steps): CI runs the same sequences every time in a few seconds per store; a longer hunt sets
more of both."""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test

from resolvers.models import (
    Failure,
    QueueSettings,
    Task,
    TaskCounts,
    TaskFilter,
    TaskState,
    worker_lane,
)
from resolvers.store import Store
from tests.conftest import open_backend
from tests.store.factories import NOW, claim_request

T = TypeVar("T")
EXAMPLES = int(os.environ.get("COUCHQUEUE_COUNTS_EXAMPLES", "8"))
STEPS = int(os.environ.get("COUCHQUEUE_COUNTS_STEPS", "25"))
QUEUES = ("a", "b")
WORKERS = ("w1", "w2")
LANES = (*QUEUES, *(worker_lane(w) for w in WORKERS))
LEASE = 60.0
STORED = (TaskState.QUEUED, TaskState.STARTED, TaskState.COMPLETED, TaskState.FAILED)
# The filters status asks about (a queue, a worker's own queue, everything), and a few more.
FILTERS = (
    TaskFilter(),
    *(TaskFilter(queue=q) for q in QUEUES),
    *(TaskFilter(lane=lane, states=(TaskState.QUEUED,)) for lane in LANES),
    TaskFilter(queue="a", lane=worker_lane("w1")),
    TaskFilter(states=(TaskState.STARTED, TaskState.FAILED)),
)


def truth(tasks: list[Task], where: TaskFilter, now: float) -> TaskCounts:
    counts = TaskCounts()
    for task in tasks:
        if where.matches(task):
            name = task.state_at(now).value
            setattr(counts, name, getattr(counts, name) + 1)
    return counts


class CountsMachine(RuleBasedStateMachine):
    """One store, fresh for each example, driven on the test's event loop."""

    def __init__(self, loop: asyncio.AbstractEventLoop, opener: Callable[[], Awaitable[Store]]):
        super().__init__()
        self.loop = loop
        self.store = self.run(opener())
        # Late in a minute, so that short delays cross into the next one.
        self.now = NOW + 41.0
        self.ids = itertools.count()

    def run(self, step: Awaitable[T]) -> T:
        return self.loop.run_until_complete(step)  # type: ignore[arg-type]

    def teardown(self) -> None:
        self.run(self.store.close())

    def new_task(self, queue: str, worker: str | None, delay: float, identity: str | None) -> Task:
        n = next(self.ids)
        return Task(
            task_id=f"t{n}",
            event_id=f"e{n}",
            queue=queue,
            lane=queue if worker is None else worker_lane(worker),
            publisher="pub",
            data={"n": n},
            run_at=self.now + delay,
            created_at=self.now,
            singularly_enqueue=identity is not None,
            identity=identity,
            worker_id=worker,
        )

    def all_tasks(self) -> list[Task]:
        found: list[Task] = []
        after = None
        while True:
            page = self.run(self.store.list_tasks(TaskFilter(), 500, after))
            found += page.tasks
            if page.next_cursor is None:
                return found
            after = page.next_cursor

    def pick(self, data: st.DataObject, state: TaskState) -> Task | None:
        tasks = [t for t in self.all_tasks() if t.state is state]
        return data.draw(st.sampled_from(tasks)) if tasks else None

    # -- rules -------------------------------------------------------------------------------

    @rule(
        queue=st.sampled_from(QUEUES),
        worker=st.sampled_from((None, *WORKERS)),
        delay=st.sampled_from((0.0, 0.0, -20.0, 5.0, 30.0, 90.0, 3600.0)),
        identity=st.sampled_from((None, None, "x")),
        copies=st.integers(1, 3),
    )
    def publish(
        self, queue: str, worker: str | None, delay: float, identity: str | None, copies: int
    ) -> None:
        tasks = [self.new_task(queue, worker, delay, identity) for _ in range(copies)]
        self.run(self.store.insert_tasks(tasks))

    @rule(worker=st.sampled_from(WORKERS), limit=st.integers(1, 3))
    def claim(self, worker: str, limit: int) -> None:
        request = claim_request(
            worker_lane(worker), *QUEUES, worker=worker, now=self.now, default_lease_seconds=LEASE
        )
        self.run(self.store.claim_tasks(request, limit))

    @rule(
        data=st.data(),
        outcome=st.sampled_from(("complete", "fail", "retry", "retry later", "again", "stale")),
    )
    def report(self, data: st.DataObject, outcome: str) -> None:
        task = self.pick(data, TaskState.STARTED)
        if task is None:
            return
        expected = task.version
        also: list[Task] = []
        if outcome == "complete":
            task = dataclasses.replace(task, state=TaskState.COMPLETED, finished_at=self.now)
        elif outcome == "again":
            task = dataclasses.replace(task, state=TaskState.COMPLETED, finished_at=self.now)
            also = [self.new_task(task.queue, None, 0.0, task.identity)]
        elif outcome == "stale":
            expected -= 1
            task = dataclasses.replace(task, state=TaskState.FAILED, finished_at=self.now)
        else:
            failed = dataclasses.replace(
                task, attempts=task.attempts + 1, failures=[Failure("boom", self.now)]
            )
            if outcome == "fail":
                task = dataclasses.replace(failed, state=TaskState.FAILED, finished_at=self.now)
            else:
                task = failed.requeued(self.now + (30.0 if outcome == "retry later" else 0.0))
        self.run(self.store.replace_task(task, expected, also))

    @rule(data=st.data())
    def retry_failed(self, data: st.DataObject) -> None:
        task = self.pick(data, TaskState.FAILED)
        if task is not None:
            self.run(self.store.replace_task(task.requeued(self.now), task.version))

    @rule(data=st.data())
    def run_now(self, data: st.DataObject) -> None:
        """An operator runs a scheduled task now (its run_at moves, its state stays)."""
        waiting = [t for t in self.all_tasks() if t.state_at(self.now) is TaskState.SCHEDULED]
        if waiting:
            task = data.draw(st.sampled_from(waiting))
            ready = dataclasses.replace(task, run_at=self.now)
            self.run(self.store.replace_task(ready, task.version))

    @rule(worker=st.sampled_from(WORKERS))
    def release(self, worker: str) -> None:
        self.run(self.store.release_tasks(worker, self.now))

    @rule(seconds=st.sampled_from((1.0, 7.0, 10.0, 45.0, 100.0, 3000.0)))
    def tick(self, seconds: float) -> None:
        self.now += seconds

    @rule()
    def reap_leases(self) -> None:
        for task in self.run(self.store.expired_tasks(self.now, 10)):
            back = dataclasses.replace(task.requeued(), attempts=task.attempts + 1)
            self.run(self.store.replace_task(back, task.version))

    @rule(
        queue=st.sampled_from((None, *QUEUES)),
        states=st.sampled_from(
            ((TaskState.QUEUED,), (TaskState.FAILED,), (TaskState.QUEUED, TaskState.FAILED))
        ),
    )
    def delete(self, queue: str | None, states: tuple[TaskState, ...]) -> None:
        self.run(self.store.delete_tasks(TaskFilter(queue=queue, states=states)))

    @rule()
    def prune_completed(self) -> None:
        where = TaskFilter(states=(TaskState.COMPLETED,), finished_before=self.now - 20)
        self.run(self.store.delete_tasks(where))

    @rule(queue=st.sampled_from(QUEUES))
    def create_queue(self, queue: str) -> None:
        self.run(self.store.put_interests(queue, "*", self.now, QueueSettings()))

    @rule(queue=st.sampled_from(QUEUES))
    def delete_queue(self, queue: str) -> None:
        self.run(self.store.delete_queue(queue))

    # -- the property ------------------------------------------------------------------------

    @invariant()
    def counts_are_the_truth(self) -> None:
        tasks = self.all_tasks()
        for where in FILTERS:
            counted = self.run(self.store.count_tasks(where, self.now))
            assert counted == truth(tasks, where, self.now), where


def test_counts_equal_the_truth_after_any_operations(backend: str, tmp_path: Path) -> None:
    examples = itertools.count()

    async def opener() -> Store:
        # A store of its own for each example: a file, or a key prefix, per folder.
        folder = tmp_path / str(next(examples))
        folder.mkdir()
        return await open_backend(backend, folder)

    loop = asyncio.new_event_loop()
    try:
        run_state_machine_as_test(
            lambda: CountsMachine(loop, opener),
            settings=settings(
                max_examples=EXAMPLES,
                stateful_step_count=STEPS,
                derandomize=True,
                database=None,
                deadline=None,
                suppress_health_check=[HealthCheck.too_slow],
            ),
        )
    finally:
        loop.close()
