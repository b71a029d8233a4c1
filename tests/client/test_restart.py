"""Workers outlive their server: it is stopped and started again on the same port and store;
a push worker and a poll worker reconnect (with backoff) and do the tasks published then."""

from __future__ import annotations

import asyncio
import uuid
from contextlib import AsyncExitStack

from couchqueue_client import Task
from couchqueue_client.worker import Mode
from tests.client.helpers import ServerApi, eventually, quick_worker, running
from tests.nodes.server import ServerNode


async def test_workers_reconnect_after_a_server_restart(server: ServerNode, api: ServerApi) -> None:
    done: list[str] = []

    async def handler(task: Task) -> None:
        done.append(task.task_id)

    modes: tuple[Mode, ...] = ("push", "poll")
    queues = {mode: f"{mode}-{uuid.uuid4().hex[:8]}" for mode in modes}
    async with AsyncExitStack() as stack:
        for mode, queue in queues.items():
            await api.interest(queue)
            await stack.enter_async_context(running(quick_worker(server.url, queue, handler, mode)))
        before = [await api.publish(queue) for queue in queues.values()]
        await eventually(lambda: _completed(api, before))
        # The shared server goes away and comes back as it was (same port, same store).
        await asyncio.to_thread(server.stop)
        await asyncio.sleep(0.5)  # the workers find it gone
        await asyncio.to_thread(server.start)
        after = [await api.publish(queue) for queue in queues.values()]
        await eventually(lambda: _completed(api, after), within=15)
    assert sorted(done) == sorted(before + after)
    for queue in queues.values():
        assert await api.workers(queue) == []


async def _completed(api: ServerApi, task_ids: list[str]) -> bool:
    return all(state == "completed" for state in await api.states(task_ids))
