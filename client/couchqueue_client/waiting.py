"""Waiting for tasks' outcomes (``publish(wait=)``, ``wait_for``): what both publishers share.
Each wait is a series of long polls, ``GET /task/result?taskId=…&waitSeconds=…``, until the
task is finished or the time is up."""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

import httpx

from couchqueue_client.errors import WaitTimeout
from couchqueue_client.models import PublishResult, Task

# The longest one GET /task/result asks to wait; a server allowing less (--max-wait-seconds)
# answers sooner, and the wait goes on with another request.
WAIT_STEP = 20.0

Waited = PublishResult | Iterable[str]


def task_ids(tasks: Waited) -> list[str]:
    """The ids of a publish's copies, or the ids given."""
    if isinstance(tasks, PublishResult):
        return [task.task_id for task in tasks.tasks]
    return [tasks] if isinstance(tasks, str) else list(tasks)


def result_request(task_id: str, left: float, usual: httpx.Timeout) -> dict[str, Any]:
    """GET /task/result's arguments: a wait of up to ``left`` seconds (one step at most)."""
    wait = max(0.0, min(left, WAIT_STEP))
    timeout = httpx.Timeout(
        connect=usual.connect,
        read=None if usual.read is None else usual.read + wait,
        write=usual.write,
        pool=usual.pool,
    )
    return {"params": {"taskId": task_id, "waitSeconds": wait}, "timeout": timeout}


def pause(asked: float) -> float:
    """Before asking again about an unfinished task: nothing after a long poll that waited,
    a moment after one answered at once (a server that allows no wait)."""
    return 0.0 if time.monotonic() - asked >= 0.5 else 0.2


def outcome(ids: list[str], last: dict[str, Task]) -> list[Task]:
    """The tasks in order if every one is finished; else WaitTimeout naming those not."""
    pending = [last[tid] for tid in ids if not last[tid].finished]
    if pending:
        raise WaitTimeout(pending, [last[tid] for tid in ids if last[tid].finished])
    return [last[tid] for tid in ids]
