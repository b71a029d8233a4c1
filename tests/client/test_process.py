"""Workers as processes: a killed worker's tasks come back at once, a delivery counted (so a task
that kills its worker ends in the failed queue); SIGTERM finishes the running task, hands back
the rest uncounted and deregisters; `couchqueue worker --exec` completes on exit 0 and
fails with the exit status and the stderr tail otherwise."""

from __future__ import annotations

import asyncio
import json
import shlex
import signal
import sys
import time
from pathlib import Path
from typing import Any

from tests.client.helpers import ServerApi, eventually
from tests.client.processes import cli_worker, worker_process
from tests.nodes.server import ServerNode


async def test_killing_a_push_worker_returns_its_tasks_at_once(
    server: ServerNode, api: ServerApi, queue: str, tmp_path: Path
) -> None:
    ids = [await api.publish(queue, {"n": n}) for n in range(3)]
    script = ["-m", "tests.client.worker_script", server.url, queue, "push", "2", "hang"]
    with worker_process(script, tmp_path / "worker.log") as process:
        await eventually(lambda: _counts_are(api, queue, started=2, queued=1), within=15)
        process.send_signal(signal.SIGKILL)
        await asyncio.to_thread(process.wait, 10)
        killed = time.monotonic()
        await eventually(lambda: _counts_are(api, queue, queued=3, started=0))
        # The dropped socket gave them back: no lease (300 s) had to expire.
        assert time.monotonic() - killed < 5.0
    tasks = [await api.task(task_id) for task_id in ids]
    # The two it held count a delivery each, as an expired lease would; the third never left.
    assert [(t["state"], t["attempts"], t["workerId"]) for t in tasks] == [
        ("queued", 1, None),
        ("queued", 1, None),
        ("queued", 0, None),
    ]


async def test_a_task_that_kills_its_push_worker_ends_in_the_failed_queue(
    server: ServerNode, api: ServerApi, queue: str, tmp_path: Path
) -> None:
    await api.configure(queue, max_deliveries=3)
    task_id = await api.publish(queue, {"poison": True})
    script = ["-m", "tests.client.worker_script", server.url, queue, "push", "1", "die"]
    for delivery in range(1, 4):
        with worker_process(script, tmp_path / "worker.log") as process:
            assert await asyncio.to_thread(process.wait, 15) == -signal.SIGKILL
        task = await eventually(lambda: _back(api, task_id))
        assert task["attempts"] == delivery
    assert task["state"] == "failed"
    assert task["failReason"] == "worker disconnected holding the task (3 deliveries)"


async def test_sigterm_finishes_the_running_task_and_deregisters(
    server: ServerNode, api: ServerApi, queue: str, tmp_path: Path
) -> None:
    command = 'cat > "$TASKS/$COUCHQUEUE_TASK_ID.json"; sleep 1'
    first = await api.publish(queue, {"n": 1})
    second = await api.publish(queue, {"n": 2})
    args = cli_worker(server.url, queue, command, "--grace-period", "10")
    with worker_process(args, tmp_path / "worker.log", env={"TASKS": str(tmp_path)}) as process:
        received = tmp_path / f"{first}.json"
        await eventually(lambda: _exists(received), within=15)
        process.send_signal(signal.SIGTERM)
        assert await asyncio.to_thread(process.wait, 10) == 0
    task = json.loads(received.read_text())
    assert (task["taskId"], task["queue"], task["data"]) == (first, queue, {"to": queue, "n": 1})
    assert (await api.task(first))["state"] == "completed"
    # Pushed while the worker wound down, or never pushed: not run, back in the queue, no attempt.
    later = await api.task(second)
    assert (later["state"], later["attempts"], later["workerId"]) == ("queued", 0, None)
    assert not (tmp_path / f"{second}.json").exists()
    assert await api.workers(queue) == []


async def test_exec_worker_completes_on_exit_0_and_fails_with_the_stderr_tail(
    server: ServerNode, api: ServerApi, queue: str, tmp_path: Path
) -> None:
    program = (
        "import json, sys; task = json.load(sys.stdin); "
        "sys.stderr.write('x' * 3000 + ' the end'); sys.exit(task['data']['code'])"
    )
    command = f"{shlex.quote(sys.executable)} -c {shlex.quote(program)}"
    ok = await api.publish(queue, {"code": 0})
    bad = await api.publish(queue, {"code": 3})
    args = cli_worker(server.url, queue, command, "--mode", "poll", "--concurrency", "2")
    with worker_process(args, tmp_path / "worker.log") as process:
        await eventually(lambda: _counts_are(api, queue, completed=1, failed=1), within=15)
        process.send_signal(signal.SIGTERM)
        assert await asyncio.to_thread(process.wait, 10) == 0
    assert (await api.task(ok))["state"] == "completed"
    failed = await api.task(bad)
    reason = failed["failReason"]
    assert failed["state"] == "failed"
    assert reason.startswith("exit code 3\nxxx")
    assert reason.endswith("xxx the end")
    assert len(reason) <= len("exit code 3\n") + 2048
    assert await api.workers(queue) == []


async def _counts_are(api: ServerApi, queue: str, **expected: int) -> bool:
    counts = await api.counts(queue)
    return all(counts[key] == value for key, value in expected.items())


async def _back(api: ServerApi, task_id: str) -> dict[str, Any] | None:
    """The task once it is no longer started (back in its queue, or failed)."""
    task = await api.task(task_id)
    return task if task["state"] != "started" else None


async def _exists(path: Path) -> bool:
    return await asyncio.to_thread(lambda: path.exists() and path.stat().st_size > 0)
