"""The client's small parts, without a server."""

from __future__ import annotations

import shlex
import sys
import time

import pytest

from couchqueue_client import Task, TaskFailed, Worker
from couchqueue_client.backoff import Backoff
from couchqueue_client.command import CommandHandler
from couchqueue_client.failure import MAX_REASON, fail_reason
from couchqueue_client.push import ws_url


def test_backoff_grows_is_capped_and_jittered() -> None:
    backoff = Backoff(base=0.1, cap=2.0)
    delays = [backoff.next() for _ in range(12)]
    assert 0.05 <= delays[0] <= 0.1
    assert 0.1 <= delays[1] <= 0.2
    assert all(1.0 <= d <= 2.0 for d in delays[6:])
    assert len(set(delays[6:])) > 1  # jittered, not in lockstep
    backoff.reset()
    assert backoff.next() <= 0.1


def test_fail_reason_is_the_exception_then_the_traceback_bounded() -> None:
    def handler() -> None:
        raise KeyError("user 7")

    with pytest.raises(KeyError) as caught:
        handler()
    reason = fail_reason(caught.value)
    assert reason.startswith("KeyError: 'user 7'\nTraceback")
    assert "in handler" in reason
    huge = fail_reason(ValueError("x" * 100_000))
    assert len(huge) <= MAX_REASON
    assert fail_reason(TaskFailed("exactly this")) == "exactly this"


def test_ws_url() -> None:
    assert ws_url("http://127.0.0.1:8080") == "ws://127.0.0.1:8080/graphql"
    assert ws_url("https://queue.example/cq/") == "wss://queue.example/cq/graphql"
    # A websocket URL names the same server: kept as it is, secure or not.
    assert ws_url("wss://queue.example:8443") == "wss://queue.example:8443/graphql"
    assert ws_url("WS://127.0.0.1:8080/") == "ws://127.0.0.1:8080/graphql"
    for wrong in ("127.0.0.1:8080", "ftp://queue.example", ""):
        with pytest.raises(ValueError, match="not an http"):
            ws_url(wrong)


def test_a_worker_needs_an_http_or_https_url() -> None:
    """Without a scheme every request failed as unreachable and the worker retried forever."""
    for wrong in ("127.0.0.1:8080", "wss://queue.example"):
        with pytest.raises(ValueError, match="http:// or https://"):
            Worker(wrong, ["q"], lambda task: None)
    assert Worker("HTTPS://queue.example/", ["q"], lambda task: None).url == "HTTPS://queue.example"


def test_task_round_trips_through_json() -> None:
    raw = {
        "taskId": "t", "eventId": "e", "queue": "q", "workerId": "w", "publisher": "p",
        "data": {"a": 1}, "runAt": 1.5, "scope": "any", "singularlyEnqueue": False,
        "singularlyRun": True, "attempts": 2, "createdAt": 1.0, "startedAt": 2.0,
        "leaseUntil": 302.0,
    }  # fmt: skip
    task = Task.from_json({**raw, "state": "started", "failures": []})
    assert task.to_json() == raw
    assert (task.task_id, task.attempts, task.singularly_run) == ("t", 2, True)


async def test_a_command_running_too_long_is_killed_and_fails() -> None:
    handler = CommandHandler("echo started >&2; sleep 30", timeout=0.3)
    task = Task("t", "e", "q", "p", {}, 0.0)
    started = time.monotonic()
    with pytest.raises(TaskFailed) as caught:
        await handler(task)
    assert time.monotonic() - started < 5
    assert caught.value.reason == "timed out after 0.3s\nstarted"


async def test_a_command_gets_the_task_on_stdin_and_in_its_environment() -> None:
    check = "import json, sys; task = json.load(sys.stdin); sys.exit(task['data']['x'])"
    command = f'{shlex.quote(sys.executable)} -c "{check}" || exit $((COUCHQUEUE_ATTEMPTS + $?))'
    with pytest.raises(TaskFailed) as caught:
        await CommandHandler(command)(Task("t", "e", "q", "p", {"x": 1}, 0.0, attempts=5))
    assert caught.value.reason == "exit code 6"
