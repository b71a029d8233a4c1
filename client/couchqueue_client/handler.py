"""Running a user's handler on a task and turning how it ended into a report: returned ->
complete (with what it returned as the task's result: a JSON value, or ``Done(result,
publish=[...])`` with follow-up events); raised -> fail with the exception's text. Async
handlers are awaited; plain functions run in a thread (a pool sized to the worker's
concurrency), so they may block."""

from __future__ import annotations

import asyncio
import contextvars
import functools
import inspect
import json
import logging
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from couchqueue_client.api import Report
from couchqueue_client.failure import TaskFailed, fail_reason
from couchqueue_client.models import Done, Event, Task, default_name

logger = logging.getLogger("couchqueue_client")

# A handler takes the task; a sync one returns anything, an async one is awaited.
Handler = Callable[[Task], Any] | Callable[[Task], Awaitable[Any]]


def is_async(handler: Callable[..., Any]) -> bool:
    call = getattr(handler, "__call__", None)  # noqa: B004 - objects with an async __call__
    return inspect.iscoroutinefunction(handler) or inspect.iscoroutinefunction(call)


class HandlerRunner:
    def __init__(self, handler: Handler, threads: int, publisher: str | None = None) -> None:
        self._handler = handler
        # Follow-up events without a publisher of their own are published under this name.
        self._publisher = publisher or default_name()
        self._async = is_async(handler)
        self._threads = threads
        self._pool: ThreadPoolExecutor | None = None

    async def run(self, task: Task) -> Report:
        """The report for the task once the handler is done with it. Cancellation (a grace
        period that ran out) propagates: no report, the task goes back to its queue."""
        try:
            result = await self._call(task)
            if inspect.isawaitable(result):
                result = await result
            report = self.completion(task, result)
        except asyncio.CancelledError:
            raise
        except BaseException as exc:
            reason = fail_reason(exc)
            logger.warning("task %s failed: %s", task.task_id, reason.partition("\n")[0])
            again = isinstance(exc, TaskFailed) and exc.re_enqueue
            return Report(task.task_id, "fail", reason, re_enqueue=again)
        logger.debug("task %s completed", task.task_id)
        return report

    def completion(self, task: Task, returned: Any) -> Report:
        """The completion report for what the handler returned. A Done whose result or events
        cannot be sent raises (the task fails with the reason); any other value that is not
        JSON is no result (handlers written before results returned anything), with a warning."""
        if isinstance(returned, Done):
            _check_json(returned.result, "Done.result")
            events = tuple(self._follow_up(event) for event in returned.publish)
            return Report(task.task_id, "complete", result=returned.result, publish=events)
        if returned is None:
            return Report(task.task_id, "complete")
        try:
            _check_json(returned, "the handler's result")
        except TypeError as exc:
            logger.warning("task %s: %s; completed without a result", task.task_id, exc)
            return Report(task.task_id, "complete")
        return Report(task.task_id, "complete", result=returned)

    def _follow_up(self, event: Event | Any) -> dict[str, Any]:
        follow_up = event if isinstance(event, Event) else Event(**event)
        body = follow_up.to_json(self._publisher)
        _check_json(body, "a follow-up event")
        return body

    def _call(self, task: Task) -> Awaitable[Any]:
        if self._async:
            return self._handler(task)
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self._threads, thread_name_prefix="couchqueue-task")
        call = functools.partial(contextvars.copy_context().run, self._handler, task)
        return asyncio.get_running_loop().run_in_executor(self._pool, call)

    def close(self) -> None:
        """Let go of the threads; a handler still running past the grace period is abandoned
        (its thread runs on, its task goes back to its queue)."""
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None


def _check_json(value: Any, what: str) -> None:
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{what} is not JSON: {exc}") from None
