"""Two real server processes over one Couchbase (the KV test node, or the real server named by
COUCHQUEUE_TEST_COUCHBASE): claims stay exclusive across nodes, a push subscriber on one node
gets a task published on the other within the change-stamp interval, a schedule fires once per
tick. The nodes get their credentials from the environment, as a deployment would."""

from __future__ import annotations

import asyncio
import itertools
import os
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import COUCHBASE_ENV, couchbase_env, couchbase_url
from tests.nodes.long_poll import cross_node_long_poll
from tests.nodes.server import ServerNode
from tests.push.wsclient import GraphQLSocket

pytestmark = pytest.mark.slow

CHANGE_POLL = 0.1
PUSH = "subscription($w: ID!) { tasks(workerId: $w) { taskId state workerId } }"


@pytest.fixture
def couchbase_nodes(
    couchbase_target: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Callable[..., ServerNode]]:
    """Start `python -m app serve --store couchbase://...` nodes sharing this test's prefix."""
    for name, value in couchbase_env().items():
        monkeypatch.setenv(name, value)
    store_url = couchbase_url(tmp_path, credentials=False)
    nodes: list[ServerNode] = []

    def make(extra_args: Sequence[str] = ()) -> ServerNode:
        node = ServerNode(store_url, tmp_path / f"node-{len(nodes)}.log", extra_args=extra_args)
        nodes.append(node)
        return node.start()

    yield make
    for node in nodes:
        node.stop()


def _ok(reply: httpx.Response) -> Any:
    assert reply.status_code == 200, f"{reply.request.method} {reply.url}: {reply.text}"
    return reply.json()


async def _graphql(client: httpx.AsyncClient, url: str, query: str, **variables: Any) -> Any:
    body = _ok(await client.post(f"{url}/graphql", json={"query": query, "variables": variables}))
    assert not body.get("errors"), body["errors"]
    return body["data"]


# Enough for the nodes' claims to race on every chunk for a while (16 chunks of 64 seqs).
TASKS = 1000


async def test_two_nodes_claim_1000_tasks_each_exactly_once(
    couchbase_nodes: Callable[..., ServerNode],
) -> None:
    a, b = couchbase_nodes(), couchbase_nodes()
    async with httpx.AsyncClient(timeout=30) as client:
        _ok(await client.put(f"{a.url}/interest", json={"queue": "jobs", "interests": "*"}))
        urls = itertools.cycle([a.url, b.url])
        limit = asyncio.Semaphore(32)

        async def publish(i: int, url: str) -> list[str]:
            async with limit:
                reply = _ok(
                    await client.put(f"{url}/task", json={"publisher": "t", "data": {"i": i}})
                )
                return [t["taskId"] for t in reply["tasks"]]

        batches = await asyncio.gather(*(publish(i, next(urls)) for i in range(TASKS)))
        published = [t for batch in batches for t in batch]
        assert len(published) == TASKS

        workers = []
        for node in (a, b) * 4:
            reply = _ok(await client.put(f"{node.url}/worker", json={"queues": ["jobs"]}))
            workers.append((node.url, reply["workerId"]))

        async def drain(url: str, worker_id: str) -> list[str]:
            got = []
            while True:
                task = _ok(await client.get(f"{url}/task", params={"workerId": worker_id}))
                if task is None:
                    return got
                assert task["workerId"] == worker_id and task["state"] == "started"
                got.append(task["taskId"])

        claimed = [
            t for batch in await asyncio.gather(*(drain(*w) for w in workers)) for t in batch
        ]
        status = _ok(await client.get(f"{b.url}/status", params={"queue": "jobs"}))
    counts = Counter(claimed)
    assert [t for t, n in counts.items() if n > 1] == []
    assert set(claimed) == set(published)
    assert (status["queue"]["queued"], status["queue"]["started"]) == (0, TASKS), status


async def test_a_task_published_on_one_node_is_pushed_by_the_other(
    couchbase_nodes: Callable[..., ServerNode],
) -> None:
    args = ("--change-poll-interval", str(CHANGE_POLL))
    a, b = couchbase_nodes(args), couchbase_nodes(args)
    async with httpx.AsyncClient(timeout=10) as client:
        _ok(await client.put(f"{a.url}/interest", json={"queue": "q", "interests": "*"}))
        worker = _ok(await client.put(f"{b.url}/worker", json={"queues": ["q"]}))["workerId"]
        ws_url = b.url.replace("http://", "ws://") + "/graphql"
        async with GraphQLSocket(ws_url) as ws:
            await ws.subscribe(PUSH, w=worker)
            await asyncio.sleep(0.5)  # subscribed, idle, watching the store
            latencies = []
            for n in range(3):
                sent = time.perf_counter()
                reply = _ok(
                    await client.put(f"{a.url}/task", json={"publisher": "t", "data": {"n": n}})
                )
                message = await ws.next(within=5)
                latencies.append(time.perf_counter() - sent)
                pushed = message["payload"]["data"]["tasks"]
                assert pushed["taskId"] == reply["tasks"][0]["taskId"]
                assert (pushed["state"], pushed["workerId"]) == ("started", worker)
                done = {"workerId": worker, "taskId": pushed["taskId"], "state": "complete"}
                _ok(await client.post(f"{b.url}/task", json=done))
    # Node B learns of A's write at its next poll of the change stamps: within one interval,
    # plus the claim and the socket (generous on a loaded two-core machine).
    assert min(latencies) < CHANGE_POLL + 0.4, latencies


async def test_a_schedule_fires_once_per_tick_across_two_nodes(
    couchbase_nodes: Callable[..., ServerNode],
) -> None:
    args = ("--schedule-interval", "0.1")
    a, b = couchbase_nodes(args), couchbase_nodes(args)
    async with httpx.AsyncClient(timeout=10) as client:
        interest = {"queue": "ticks", "interests": {"kind": "^tick$"}}
        _ok(await client.put(f"{a.url}/interest", json=interest))
        created = await _graphql(
            client,
            b.url,
            "mutation($input: ScheduleInput!) { createSchedule(input: $input) { nextRunAt } }",
            input={
                "name": "every-second",
                "cron": "* * * * * *",
                "publisher": "cron",
                "data": {"kind": "tick"},
            },
        )
        first_tick = created["createSchedule"]["nextRunAt"]
        await asyncio.sleep(6.5)
        await _graphql(
            client, a.url, 'mutation { setScheduleEnabled(name: "every-second", enabled: false) '
            "{ enabled } }",
        )  # fmt: skip
        await asyncio.sleep(0.5)
        page = await _graphql(
            client, a.url, '{ tasks(queue: "ticks", first: 1000) { tasks { runAt } } }'
        )
    ticks = Counter(t["runAt"] for t in page["tasks"]["tasks"])
    assert [t for t, n in ticks.items() if n > 1] == [], f"ticks fired twice: {ticks}"
    ordered = sorted(ticks)
    assert ordered[0] == first_tick
    assert [(x, y) for x, y in itertools.pairwise(ordered) if y - x != 1] == [], ordered
    assert 5 <= len(ordered) <= 8, ordered


def test_the_suites_ran_against_a_real_couchbase_server(couchbase_target: str) -> None:
    """Only meaningful with COUCHQUEUE_TEST_COUCHBASE: says which Couchbase was used."""
    if not os.environ.get(COUCHBASE_ENV):
        pytest.skip(
            f"{COUCHBASE_ENV} is not set: the Couchbase suites ran against the KV test node "
            "(tests/couchbase_node), not a real Couchbase Server; see docker/README.md"
        )
    assert couchbase_target == os.environ[COUCHBASE_ENV]


async def test_a_claim_waiting_on_one_node_gets_a_task_published_on_another(
    couchbase_nodes: Callable[..., ServerNode],
) -> None:
    a, b = couchbase_nodes(), couchbase_nodes()
    async with httpx.AsyncClient(timeout=30) as client:
        await cross_node_long_poll(client, a.url, b.url)
