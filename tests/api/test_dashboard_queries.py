"""The queries the dashboard's Sidekiq-like pages read: retries apart from delayed publishes
(tasks' `retry` argument) and lifetime totals (`statsTotals`), on every store. GraphQL only:
these are the dashboard's, with no REST twin."""

from __future__ import annotations

import dataclasses
from typing import Any

import httpx
import pytest

from resolvers.context import Context
from resolvers.stats import flush_stats, prune_stats
from tests.api.client import ApiError, GraphQLApi
from tests.conftest import FakeClock

SCHEDULED = """query($retry: Boolean) {
  tasks(state: "scheduled", retry: $retry) { tasks { taskId: id attempts failReason } }
}"""
TOTALS = """query($queue: String) {
  statsTotals(queue: $queue) { queue published completed failed processed }
}"""


@pytest.fixture
def api(http: httpx.AsyncClient) -> GraphQLApi:
    return GraphQLApi(http)


async def scheduled(api: GraphQLApi, retry: bool | None) -> list[dict[str, Any]]:
    tasks: list[dict[str, Any]] = (await api.graphql(SCHEDULED, retry=retry))["tasks"]["tasks"]
    return tasks


async def test_retries_are_told_from_delayed_publishes(api: GraphQLApi, clock: FakeClock) -> None:
    await api.set_interests("q", "*")
    await api.configure_queue("q", retryLimit=2, retryDelays=[100])
    worker = (await api.register_worker(["q"]))["workerId"]
    retried = (await api.publish("pub", {"n": 1}))["tasks"][0]["taskId"]
    claimed = await api.claim(worker)
    assert claimed is not None and claimed["taskId"] == retried
    await api.fail(worker, retried, reason="Traceback (most recent call last):\n  boom")
    delayed = (await api.publish("pub", {"n": 2}, runAt=clock.now + 500))["tasks"][0]["taskId"]

    retries = await scheduled(api, True)
    assert [(t["taskId"], t["attempts"]) for t in retries] == [(retried, 1)]
    assert retries[0]["failReason"].endswith("boom")
    assert [t["taskId"] for t in await scheduled(api, False)] == [delayed]
    assert {t["taskId"] for t in await scheduled(api, None)} == {retried, delayed}


async def test_a_retry_argument_must_be_a_boolean(api: GraphQLApi) -> None:
    with pytest.raises(ApiError):
        await api.graphql('{ tasks(retry: "yes") { hasNextPage } }')


async def activity(api: GraphQLApi, queue: str, fails: int) -> None:
    await api.set_interests(queue, {"q": f"^{queue}$"})
    worker = (await api.register_worker([queue]))["workerId"]
    for n in range(fails + 1):
        await api.publish("pub", {"q": queue, "n": n})
    for n in range(fails + 1):
        task = await api.claim(worker)
        assert task is not None
        if n:
            await api.fail(worker, task["taskId"], reason="x")
        else:
            await api.complete(worker, task["taskId"])


async def totals(api: GraphQLApi, queue: str | None = None) -> dict[str, Any]:
    found: dict[str, Any] = (await api.graphql(TOTALS, queue=queue))["statsTotals"]
    return found


async def test_lifetime_totals_outlive_the_pruned_minutes(
    api: GraphQLApi, engine: Context, clock: FakeClock
) -> None:
    await activity(api, "a", fails=2)
    await activity(api, "b", fails=1)
    expected_a = {"queue": "a", "published": 3, "completed": 1, "failed": 2, "processed": 3}
    # Not yet flushed: this node's own counts are in.
    assert await totals(api, "a") == expected_a
    await flush_stats(engine)
    assert await totals(api, "a") == expected_a
    everything = {"queue": None, "published": 5, "completed": 2, "failed": 3, "processed": 5}
    assert await totals(api) == everything
    # A day on, the minutes are pruned; the totals stay.
    clock.advance(engine.policies.stats_window_seconds + 3600)
    await prune_stats(engine)
    assert await api.graphql("{ stats(since: 0) { minute } }") == {"stats": []}
    assert await totals(api) == everything
    # No per-minute listing shows the totals' row, however late its bound.
    late = await api.graphql("{ stats(since: 0, until: 253402300799) { minute } }")
    assert late == {"stats": []}


async def test_totals_add_up_across_nodes_and_survive_a_failed_flush(
    api: GraphQLApi, engine: Context, monkeypatch: pytest.MonkeyPatch
) -> None:
    await activity(api, "a", fails=1)
    other = dataclasses.replace(engine, stats=type(engine.stats)())
    other.stats.record("a", "failed", engine.clock())
    store = engine.store
    real_add = store.add_stats
    calls = 0

    async def add_once_failing(rows: Any) -> None:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise OSError("store unreachable")
        await real_add(rows)

    monkeypatch.setattr(store, "add_stats", add_once_failing)
    with pytest.raises(OSError):
        await flush_stats(engine)
    await flush_stats(engine)
    await flush_stats(other)
    assert await totals(api, "a") == {
        "queue": "a",
        "published": 2,
        "completed": 1,
        "failed": 2,
        "processed": 3,
    }
