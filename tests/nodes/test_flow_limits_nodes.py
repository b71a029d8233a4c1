"""Flow limits across two real server processes over one store (SQLite file or Couchbase):
maxStarted holds for every worker of every node, a rate limit holds per window across nodes,
and a worker killed holding a slot gives it back with its lease."""

from __future__ import annotations

import asyncio
import json
import math
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import couchbase_env, couchbase_url
from tests.nodes.server import ServerNode

pytestmark = pytest.mark.slow

NODE_ARGS = ["--change-poll-interval", "0.05", "--lease-reap-interval", "0.2"]
CONFIGURE = (
    "mutation($q: String!, $m: Int, $r: Int, $p: Float, $l: Float) { configureQueue(name: $q, "
    "maxStarted: $m, rateLimit: $r, ratePeriodSeconds: $p, leaseSeconds: $l) { name } }"
)
GREEDY = Path(__file__).with_name("greedy_worker.py")


@pytest.fixture(scope="module", params=["sqlite", "couchbase"])
def nodes(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[ServerNode, ServerNode]]:
    """Two nodes over one store, shared by this module's tests (each uses queues of its own)."""
    folder = tmp_path_factory.mktemp(f"limits-{request.param}")
    with pytest.MonkeyPatch.context() as patch:
        if request.param == "couchbase":
            request.getfixturevalue("couchbase_target")
            for name, value in couchbase_env().items():
                patch.setenv(name, value)
            store_url = couchbase_url(folder, credentials=False)
        else:
            store_url = f"sqlite:///{folder / 'shared.db'}"
        started = [
            ServerNode(store_url, folder / f"node-{n}.log", extra_args=NODE_ARGS) for n in range(2)
        ]
        try:
            yield started[0].start(), started[1].start()
        finally:
            for node in started:
                node.stop()


def _ok(reply: httpx.Response) -> Any:
    assert reply.status_code == 200, f"{reply.request.method} {reply.url}: {reply.text}"
    return reply.json()


async def _queue(client: httpx.AsyncClient, url: str, name: str, tasks: int, **limits: Any) -> None:
    _ok(await client.put(f"{url}/interest", json={"queue": name, "interests": {"q": f"^{name}$"}}))
    body = _ok(
        await client.post(
            f"{url}/graphql", json={"query": CONFIGURE, "variables": {"q": name, **limits}}
        )
    )
    assert not body.get("errors"), body
    for n in range(tasks):
        _ok(await client.put(f"{url}/task", json={"publisher": "t", "data": {"q": name, "n": n}}))


async def _worker(client: httpx.AsyncClient, url: str, queue: str) -> str:
    return str(_ok(await client.put(f"{url}/worker", json={"queues": [queue]}))["workerId"])


async def test_max_started_2_holds_for_3_workers_on_each_of_2_nodes(
    nodes: tuple[ServerNode, ServerNode],
) -> None:
    tasks = 40
    async with httpx.AsyncClient(timeout=10) as client:
        await _queue(client, nodes[0].url, "lim", tasks, m=2)
        queue = "lim"
        holding = 0
        most = 0
        done: list[str] = []

        async def work(url: str) -> None:
            nonlocal holding, most
            wid = await _worker(client, url, queue)
            while len(done) < tasks:
                task = _ok(
                    await client.get(f"{url}/task", params={"workerId": wid, "waitSeconds": 0.5})
                )
                if task is None:
                    continue
                holding += 1
                most = max(most, holding)
                await asyncio.sleep(0.02)
                holding -= 1
                body = {"workerId": wid, "taskId": task["taskId"], "state": "complete"}
                _ok(await client.post(f"{url}/task", json=body))
                done.append(task["taskId"])

        async def sample() -> list[int]:
            seen = []
            while len(done) < tasks:
                for node in nodes:
                    status = _ok(await client.get(f"{node.url}/status", params={"queue": "lim"}))
                    seen.append(status["queue"]["started"])
                await asyncio.sleep(0.01)
            return seen

        workers = [work(node.url) for node in nodes for _ in range(3)]
        samples, *_ = await asyncio.wait_for(asyncio.gather(sample(), *workers), 30)
    assert sorted(done) == sorted(set(done)) and len(done) == tasks
    assert most == 2  # never more than 2 held at once, and the limit did let 2 run
    assert len(samples) > 20 and max(samples) <= 2


async def test_a_rate_limit_of_20_per_second_holds_across_2_nodes(
    nodes: tuple[ServerNode, ServerNode],
) -> None:
    tasks = 60
    async with httpx.AsyncClient(timeout=10) as client:
        await _queue(client, nodes[0].url, "rated", tasks, r=20, p=1.0)
        queue = "rated"
        started: list[float] = []

        async def work(url: str) -> None:
            wid = await _worker(client, url, queue)
            while len(started) < tasks:
                task = _ok(
                    await client.get(f"{url}/task", params={"workerId": wid, "waitSeconds": 0.5})
                )
                if task is None:
                    continue
                started.append(task["startedAt"])
                body = {"workerId": wid, "taskId": task["taskId"], "state": "complete"}
                _ok(await client.post(f"{url}/task", json=body))

        await asyncio.wait_for(asyncio.gather(*(work(n.url) for n in nodes for _ in range(3))), 30)
    per_window = Counter(math.floor(at) for at in started)
    windows = sorted(per_window)
    assert sum(per_window.values()) == tasks
    assert max(per_window.values()) <= 20, per_window
    # Windows wholly inside the run are used to the last claim, within 1.
    assert all(per_window[w] >= 19 for w in windows[1:-1]), per_window


async def test_a_killed_worker_gives_its_slot_back_with_its_lease(
    nodes: tuple[ServerNode, ServerNode],
) -> None:
    a, b = nodes
    async with httpx.AsyncClient(timeout=10) as client:
        await _queue(client, a.url, "dying", 2, m=1, l=1.0)
        greedy = await asyncio.create_subprocess_exec(
            sys.executable, str(GREEDY), a.url, "dying", "1", stdout=asyncio.subprocess.PIPE
        )
        try:
            assert greedy.stdout is not None
            held = json.loads(await asyncio.wait_for(greedy.stdout.readline(), 20))
            assert len(held["tasks"]) == 1
        finally:
            greedy.kill()
            await greedy.wait()
        killed = time.monotonic()
        other = await _worker(client, b.url, "dying")
        task = _ok(await client.get(f"{b.url}/task", params={"workerId": other, "waitSeconds": 5}))
        assert task is not None
        # The slot came back with the lease (1 s, reaped every 0.2 s), not sooner, not much later.
        assert 0.5 < time.monotonic() - killed < 3.0
