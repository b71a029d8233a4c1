"""Results, progress and follow-ups with real uvicorn nodes over one SQLite file (issue 16):
what one node writes, the other reads; kill -9 of a node in the middle of completions with
follow-ups leaves each completion with all its follow-ups or with none, and completing again
afterwards publishes each follow-up once."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from tests.nodes.server import ServerNode

pytestmark = pytest.mark.slow

# Each completion publishes these; "next" and "also" both want step 2: six follow-ups.
FOLLOW_UPS = [{"publisher": "pipe", "data": {"step": 2, "k": k}} for k in range(3)]
PER_COMPLETION = 6
PARENTS = 40
KILL_AFTER = 10
COMPLETERS = 8


def _ok(reply: httpx.Response) -> Any:
    assert reply.status_code == 200, f"{reply.request.method} {reply.url}: {reply.text}"
    return reply.json()


async def _setup(client: httpx.AsyncClient, url: str) -> str:
    for queue, interests in (
        ("work", {"step": "^1$"}),
        ("next", {"step": "^2$"}),
        ("also", {"step": "^[2-9]$"}),
    ):
        _ok(await client.put(f"{url}/interest", json={"queue": queue, "interests": interests}))
    return str(_ok(await client.put(f"{url}/worker", json={"queues": ["work"]}))["workerId"])


async def _children(client: httpx.AsyncClient, url: str) -> Counter[str]:
    """How many follow-up tasks each parent has, over both follow-up queues."""
    query = "query($q: String!) { tasks(queue: $q, first: 1000) { tasks { parentTaskId } } }"
    found: Counter[str] = Counter()
    for queue in ("next", "also"):
        reply = _ok(
            await client.post(f"{url}/graphql", json={"query": query, "variables": {"q": queue}})
        )
        assert not reply.get("errors"), reply
        found.update(t["parentTaskId"] for t in reply["data"]["tasks"]["tasks"])
    return found


async def test_a_result_and_progress_are_read_on_another_node(
    node_factory: Callable[..., ServerNode],
) -> None:
    a, b = node_factory(), node_factory()
    async with httpx.AsyncClient(timeout=10) as client:
        worker = await _setup(client, a.url)
        _ok(await client.put(f"{a.url}/task", json={"publisher": "p", "data": {"step": 1}}))
        task = _ok(await client.get(f"{a.url}/task", params={"workerId": worker}))
        tid = task["taskId"]
        body = {"workerId": worker, "taskId": tid, "progress": {"done": 2, "of": 5}}
        reported = _ok(await client.put(f"{a.url}/task/progress", json=body))
        seen = _ok(await client.get(f"{b.url}/status", params={"task": tid}))["task"]
        assert (seen["progress"], seen["leaseUntil"]) == (
            {"done": 2, "of": 5},
            reported["leaseUntil"],
        )
        done = {"workerId": worker, "taskId": tid, "state": "complete", "result": [1, "two"]}
        _ok(await client.post(f"{a.url}/task", json={**done, "publish": FOLLOW_UPS[:1]}))
        seen = _ok(await client.get(f"{b.url}/status", params={"task": tid}))["task"]
        assert (seen["state"], seen["result"]) == ("completed", [1, "two"])
        # Sent again to the other node (the first answer lost): the same task, nothing more.
        again = _ok(await client.post(f"{b.url}/task", json={**done, "publish": FOLLOW_UPS[:1]}))
        assert (again["state"], again["result"]) == ("completed", [1, "two"])
        assert await _children(client, b.url) == Counter({tid: 2})


async def test_kill_9_during_completions_leaves_each_with_all_its_follow_ups_or_none(
    node_factory: Callable[..., ServerNode],
) -> None:
    a, b = node_factory(), node_factory()
    acknowledged: set[str] = set()
    events: Counter[str] = Counter()
    kill_now = asyncio.Event()
    async with httpx.AsyncClient(timeout=10) as client:
        worker = await _setup(client, a.url)
        batch = [{"publisher": "p", "data": {"step": 1, "n": n}} for n in range(PARENTS)]
        _ok(await client.put(f"{a.url}/tasks", json={"tasks": batch}))
        parents = []
        for _ in range(PARENTS):
            parents.append(
                _ok(await client.get(f"{a.url}/task", params={"workerId": worker}))["taskId"]
            )
        pending = list(parents)

        async def complete(tid: str) -> None:
            body = {"workerId": worker, "taskId": tid, "state": "complete", "result": tid}
            try:
                reply = await client.post(f"{a.url}/task", json={**body, "publish": FOLLOW_UPS})
            except httpx.TransportError:
                events["no answer"] += 1
                return
            _ok(reply)
            acknowledged.add(tid)
            if len(acknowledged) >= KILL_AFTER:
                kill_now.set()

        async def completer() -> None:
            while pending and not kill_now.is_set():
                await complete(pending.pop())

        async def killer() -> None:
            await kill_now.wait()
            a.kill()

        await asyncio.wait_for(
            asyncio.gather(killer(), *(completer() for _ in range(COMPLETERS))), 60
        )
        children = await _children(client, b.url)
        states = Counter()
        for tid in parents:
            task = _ok(await client.get(f"{b.url}/status", params={"task": tid}))["task"]
            states[task["state"]] += 1
            if task["state"] == "completed":
                assert children[tid] == PER_COMPLETION, (tid, children[tid])
                assert task["result"] == tid
            else:
                assert task["state"] == "started" and children[tid] == 0, (task, children[tid])
            if tid in acknowledged:
                assert task["state"] == "completed"
        assert states["completed"] >= KILL_AFTER and states["started"] > 0, states
        # The worker completes everything again through the other node: each follow-up once.
        for tid in parents:
            body = {"workerId": worker, "taskId": tid, "state": "complete", "result": tid}
            done = _ok(await client.post(f"{b.url}/task", json={**body, "publish": FOLLOW_UPS}))
            assert (done["state"], done["result"]) == ("completed", tid)
        assert await _children(client, b.url) == Counter(dict.fromkeys(parents, PER_COMPLETION))
