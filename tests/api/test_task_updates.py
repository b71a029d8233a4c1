"""Waiting for a task's outcome (GET /task/result, taskUpdates): told within 100 ms of a change
on the same node (report, lease expiry, removal), of another node's change at the change-stamp
interval through one batched re-read, bounded in count and in time, freed by a client that
hangs up. Through REST and GraphQL, on every store, on real nodes."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.settings import Settings
from resolvers.context import Context
from resolvers.interests import set_interests
from resolvers.models import Task, TaskState
from resolvers.publish import publish
from resolvers.store import Store
from resolvers.task_updates import follow_task, reread_watched
from resolvers.waiters import TaskWatches, Unread
from tests.api.client import ApiError, RestApi
from tests.api.outcomes import GraphQLOutcome, Outcome, RestOutcome, live_node
from tests.api.test_metrics import samples
from tests.conftest import open_backend
from tests.push.conftest import LiveServer

# The batched re-read (for other nodes' writes) every 5 s: a waiter told sooner was rung by
# the change on its own node.
SAME_NODE = Settings(change_poll_interval=5.0, lease_reap_interval=0.05, max_wait_seconds=20)
WITHIN = 0.1


@pytest.fixture
async def node(store: Store) -> AsyncIterator[LiveServer]:
    async with live_node(store, SAME_NODE) as started:
        yield started


@pytest.fixture
async def rest(node: LiveServer) -> AsyncIterator[RestApi]:
    async with httpx.AsyncClient(base_url=node.http_url, timeout=10) as http:
        yield RestApi(http)


@pytest.fixture(params=["rest", "graphql"])
def outcome(request: pytest.FixtureRequest, node: LiveServer) -> Outcome:
    return RestOutcome(node) if request.param == "rest" else GraphQLOutcome(node)


def engine(node: LiveServer) -> Context:
    ctx: Context = node.app.state.ctx
    return ctx


async def _until(test: Callable[[], bool], within: float = 5.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not test():
        assert loop.time() < deadline, "timed out"
        await asyncio.sleep(0.002)


async def _started(api: RestApi, lease: float | None = None) -> tuple[str, str]:
    """A worker holding a task of queue q: (worker id, task id)."""
    await api.set_interests("q", "*")
    if lease is not None:
        await api.configure_queue("q", leaseSeconds=lease)
    worker = str((await api.register_worker(["q"]))["workerId"])
    task_id = (await api.publish("pub", {"n": 1}))["tasks"][0]["taskId"]
    claimed = await api.claim(worker)
    assert claimed is not None and claimed["taskId"] == task_id
    return worker, task_id


async def _waiting(
    ctx: Context, outcome: Outcome, task_id: str, seconds: float
) -> asyncio.Task[Any]:
    waiting = asyncio.ensure_future(outcome.wait(task_id, seconds))
    await _until(lambda: ctx.task_watches.count == 1)
    await asyncio.sleep(0.05)  # the first read done: the waiter sleeps
    return waiting


async def test_a_waiter_is_told_within_100ms_of_completion(
    rest: RestApi, node: LiveServer, outcome: Outcome
) -> None:
    worker, task_id = await _started(rest)
    waiting = await _waiting(engine(node), outcome, task_id, 10)
    loop = asyncio.get_running_loop()
    await rest.complete(worker, task_id)
    completed_at = loop.time()
    task = await asyncio.wait_for(waiting, 3)
    assert loop.time() - completed_at < WITHIN
    assert (task["taskId"], task["state"]) == (task_id, "completed")
    await _until(lambda: engine(node).task_watches.count == 0)


async def test_a_progress_report_is_told_within_100ms_and_the_result_at_the_end(
    rest: RestApi, node: LiveServer
) -> None:
    worker, task_id = await _started(rest)
    updates = GraphQLOutcome(node)
    waiting = await _waiting(engine(node), updates, task_id, 10)
    loop = asyncio.get_running_loop()
    body = {"workerId": worker, "taskId": task_id, "progress": {"done": 3, "of": 4}}
    await rest.call("PUT", "/task/progress", json=body)
    reported_at = loop.time()
    await _until(lambda: len(updates.updates) == 2)
    assert loop.time() - reported_at < WITHIN
    assert updates.updates[1]["progress"] == {"done": 3, "of": 4}
    await rest.complete(worker, task_id, result=["a", 1])
    last = await asyncio.wait_for(waiting, 3)
    assert (last["state"], last["result"]) == ("completed", ["a", 1])


async def test_a_finished_task_is_answered_at_once(rest: RestApi, outcome: Outcome) -> None:
    worker, task_id = await _started(rest)
    await rest.fail(worker, task_id, "broken")
    task = await asyncio.wait_for(outcome.wait(task_id, 10), 3)
    assert (task["state"], task["failReason"]) == ("failed", "broken")


async def test_the_task_as_it_is_when_the_wait_ends(rest: RestApi, outcome: Outcome) -> None:
    _, task_id = await _started(rest)
    loop = asyncio.get_running_loop()
    started = loop.time()
    task = await outcome.wait(task_id, 0.3)
    assert 0.3 <= loop.time() - started < 3
    assert task["state"] == "started"


async def test_every_change_is_told_then_the_subscription_completes(
    rest: RestApi, node: LiveServer
) -> None:
    """A failure with a retry left is a change, not an outcome; a lease that expires (the
    reaper's requeue) too; the completion ends the stream."""
    worker, task_id = await _started(rest, lease=1)
    await rest.configure_queue("q", retryLimit=1, retryDelays=[0])
    updates = GraphQLOutcome(node)
    waiting = await _waiting(engine(node), updates, task_id, 10)
    await rest.fail(worker, task_id, "once")
    await _until(lambda: len(updates.updates) == 2)
    again = await rest.claim(worker)
    assert again is not None and again["taskId"] == task_id
    await _until(lambda: len(updates.updates) == 3)
    # The lease of 1 s runs out: the reaper (every 50 ms) puts it back.
    await _until(lambda: len(updates.updates) == 4, within=3)
    third = await rest.claim(worker)
    assert third is not None
    await rest.complete(worker, task_id)
    last = await asyncio.wait_for(waiting, 3)
    states = [u["state"] for u in updates.updates]
    assert states == ["started", "queued", "started", "queued", "started", "completed"]
    assert last["state"] == "completed"
    assert updates.updates[3]["failures"][-1]["reason"] == "lease expired"


async def test_a_lease_that_expires_into_the_failed_queue_is_an_outcome(
    rest: RestApi, node: LiveServer, outcome: Outcome
) -> None:
    _, task_id = await _started(rest, lease=1)
    await rest.configure_queue("q", maxDeliveries=1)
    task = await asyncio.wait_for(outcome.wait(task_id, 10), 3)
    assert (task["state"], task["failReason"]) == ("failed", "lease expired")


async def test_a_task_removed_while_waited_for_is_not_found(
    rest: RestApi, node: LiveServer, outcome: Outcome
) -> None:
    await rest.set_interests("q", "*")
    task_id = (await rest.publish("pub", {"n": 1}))["tasks"][0]["taskId"]
    waiting = await _waiting(engine(node), outcome, task_id, 10)
    query = "mutation($id: ID!) { deleteTask(taskId: $id) }"
    await rest.graphql(query, id=task_id)
    with pytest.raises(ApiError) as gone:
        await asyncio.wait_for(waiting, WITHIN + 1)
    assert gone.value.code == "TASK_NOT_FOUND"


async def test_an_unknown_task_is_not_found(outcome: Outcome) -> None:
    with pytest.raises(ApiError) as unknown:
        await asyncio.wait_for(outcome.wait("no-such-task", 10), 3)
    assert (unknown.value.code, unknown.value.param) == ("TASK_NOT_FOUND", "taskId")
    if outcome.transport == "rest":
        assert unknown.value.status == 404


@pytest.mark.parametrize("given", ["soon", "-1", "nan", "inf"])
async def test_rest_refuses_a_wait_that_is_not_a_duration(
    rest: RestApi, node: LiveServer, given: str
) -> None:
    _, task_id = await _started(rest)
    with pytest.raises(ApiError) as refused:
        await RestOutcome(node).wait(task_id, given)
    assert (refused.value.status, refused.value.code) == (400, "INVALID_PARAMETER")
    assert refused.value.param == "waitSeconds"
    assert (await rest.task(task_id))["state"] == "started"


async def test_rest_refuses_a_missing_task_id(rest: RestApi) -> None:
    with pytest.raises(ApiError) as refused:
        await rest.call("GET", "/task/result", params={"waitSeconds": 1})
    assert (refused.value.status, refused.value.code) == (400, "MISSING_PARAMETER")


async def test_a_long_wait_is_capped_by_the_nodes_max_wait(store: Store) -> None:
    capped = dataclasses.replace(SAME_NODE, max_wait_seconds=0.3)
    async with (
        live_node(store, capped) as node,
        httpx.AsyncClient(base_url=node.http_url, timeout=10) as http,
    ):
        _, task_id = await _started(RestApi(http))
        loop = asyncio.get_running_loop()
        started = loop.time()
        task = await RestOutcome(node).wait(task_id, 1e308)
        assert 0.3 <= loop.time() - started < 3
        assert task["state"] == "started"


async def test_waits_beyond_the_nodes_limit_are_refused(
    rest: RestApi, node: LiveServer, outcome: Outcome
) -> None:
    ctx = engine(node)
    ctx.limits = dataclasses.replace(ctx.limits, max_task_waiters=1)
    worker, task_id = await _started(rest)
    first = await _waiting(ctx, RestOutcome(node), task_id, 10)
    with pytest.raises(ApiError) as refused:
        await asyncio.wait_for(outcome.wait(task_id, 10), 3)
    assert (refused.value.code, refused.value.param) == ("TOO_MANY_WAITERS", "taskId")
    if outcome.transport == "rest":
        assert refused.value.status == 503
    await rest.complete(worker, task_id)
    assert (await asyncio.wait_for(first, 3))["state"] == "completed"


async def test_a_client_that_hangs_up_frees_its_wait(rest: RestApi, node: LiveServer) -> None:
    _, task_id = await _started(rest)
    ctx = engine(node)
    for outcome in (RestOutcome(node), GraphQLOutcome(node)):
        waiting = await _waiting(ctx, outcome, task_id, 30)
        waiting.cancel()  # closes the connection (the socket) mid-wait
        await _until(lambda: ctx.task_watches.count == 0, within=3)


async def test_metrics_count_the_open_waits(rest: RestApi, node: LiveServer) -> None:
    _, task_id = await _started(rest)
    waiting = await _waiting(engine(node), GraphQLOutcome(node), task_id, 30)
    found = samples((await rest.http.get("/metrics")).text)
    assert found[("couchqueue_task_waiters", ())] == 1
    waiting.cancel()
    await _until(lambda: engine(node).task_watches.count == 0)
    assert samples((await rest.http.get("/metrics")).text)[("couchqueue_task_waiters", ())] == 0


# -- another node's writes -----------------------------------------------------------------


class CountingStore:
    """The store, counting the reads of tasks by id."""

    def __init__(self, inner: Store) -> None:
        self._inner = inner
        self.get_task_calls = 0
        self.get_tasks_calls: list[int] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    async def get_task(self, task_id: str) -> Any:
        self.get_task_calls += 1
        return await self._inner.get_task(task_id)

    async def get_tasks(self, task_ids: Any) -> Any:
        self.get_tasks_calls.append(len(task_ids))
        return await self._inner.get_tasks(task_ids)


async def test_other_nodes_changes_are_found_by_one_batched_read(
    backend: str, tmp_path: Path
) -> None:
    """Two nodes over one store: waiters on the first for tasks the second completes are
    told by one get_tasks of every watched id per pass, no read per waiter."""
    first_store = await open_backend(backend, tmp_path)
    second_store = await open_backend(backend, tmp_path)
    quiet = dataclasses.replace(SAME_NODE, lease_reap_interval=5.0)
    try:
        async with (
            live_node(first_store, quiet) as first,
            live_node(second_store, quiet) as second,
            httpx.AsyncClient(base_url=second.http_url, timeout=10) as http,
        ):
            api = RestApi(http)
            await api.set_interests("q", "*")
            worker = str((await api.register_worker(["q"]))["workerId"])
            ids = [(await api.publish("pub", {"n": n}))["tasks"][0]["taskId"] for n in range(3)]
            for _ in ids:
                assert await api.claim(worker) is not None
            ctx = engine(first)
            # The duty's own first pass comes at a random time within its interval: hold it
            # off, so that the only pass is the one this test makes.
            ctx.task_watches.next_reread = float("inf")
            waits = [asyncio.ensure_future(RestOutcome(first).wait(t, 10)) for t in ids]
            await _until(lambda: ctx.task_watches.count == 3)
            await asyncio.sleep(0.05)
            counting = CountingStore(ctx.store)
            ctx.store = counting  # type: ignore[assignment]
            for task_id in ids:
                await api.complete(worker, task_id)
            await asyncio.sleep(0.2)
            assert not any(wait.done() for wait in waits)  # no pass yet (every 5 s)
            ctx.task_watches.next_reread = 0.0
            assert await reread_watched(ctx) == 3
            done = await asyncio.wait_for(asyncio.gather(*waits), 3)
            assert [t["state"] for t in done] == ["completed"] * 3
            assert counting.get_tasks_calls == [3]
            assert counting.get_task_calls == 0
            ctx.store = counting._inner
    finally:
        await first_store.close()
        await second_store.close()


# -- the batched re-read racing the waiters -------------------------------------------------


def _task(version: int, state: TaskState = TaskState.STARTED) -> Task:
    return Task("t1", "e1", "q", "q", "p", {}, 0.0, 0.0, state=state, version=version)


async def test_a_reread_older_than_what_the_waiter_saw_meanwhile_is_read_again() -> None:
    watches = TaskWatches()
    with watches.watch("t1", 10) as watch:
        watch.saw(_task(1))
        marks = watches.marks()  # the batched read begins, and reads version 2
        watch.saw(_task(3))  # meanwhile a change on this node: the waiter saw version 3
        assert watches.reread(marks, {"t1": _task(2)}) == 0
        watch.ring(_task(2), marks[0][1])  # a hand-off that raced the waiter's own read
        assert isinstance(await asyncio.wait_for(watch.changed(), 1), Unread)


async def test_a_watch_opened_during_a_reread_is_not_told_its_task_is_gone() -> None:
    watches = TaskWatches()
    marks = watches.marks()  # nothing watched when the batched read began
    with watches.watch("t1", 10) as watch:
        watch.saw(_task(1))
        assert watches.reread(marks, {}) == 0
        with watches.watch("t2", 10) as other:
            other.saw(_task(1))
            marks = watches.marks()
            assert watches.reread(marks, {"t1": _task(1)}) == 1  # t2 absent from the read: gone
            assert await asyncio.wait_for(other.changed(), 1) is None
        assert watch.generation == 1 and watch.seen == (1, "started")


async def test_a_reread_that_found_a_change_hands_the_task_over() -> None:
    watches = TaskWatches()
    with watches.watch("t1", 10) as watch:
        watch.saw(_task(1))
        done = _task(2, TaskState.COMPLETED)
        assert watches.reread(watches.marks(), {"t1": done}) == 1
        assert await asyncio.wait_for(watch.changed(), 1) is done


class SlowStore(CountingStore):
    async def get_tasks(self, task_ids: Any) -> Any:
        await asyncio.sleep(0.05)
        return await super().get_tasks(task_ids)


async def test_a_slow_reread_stretches_the_interval_before_the_next(store: Store) -> None:
    """Many watched tasks on a busy node: passes come at most every 4 times the last one's
    duration, so the re-read never takes most of the event loop."""
    slow = SlowStore(store)
    ctx = Context(store=slow)  # type: ignore[arg-type]
    await set_interests(ctx, "q", "*")
    task_id = (await publish(ctx, publisher="p", data={})).tasks[0].task_id
    updates = follow_task(ctx, task_id)
    await anext(updates)
    loop = asyncio.get_running_loop()
    assert await reread_watched(ctx) == 0
    assert ctx.task_watches.next_reread - loop.time() >= 0.15  # 4 x at least 50 ms
    assert await reread_watched(ctx) == 0  # within that: no read
    assert len(slow.get_tasks_calls) == 1
    await asyncio.sleep(ctx.task_watches.next_reread - loop.time() + 0.01)
    await reread_watched(ctx)
    assert len(slow.get_tasks_calls) == 2
    await updates.aclose()
