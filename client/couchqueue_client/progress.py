"""Progress reports from handlers (``task.report_progress(value)``): sent in the background so a
handler never waits for the server, from its thread or from the event loop. Per task, one
report is on its way at a time and a newer value replaces one not sent yet (a handler that
reports in a tight loop costs a request per round trip, not per call). A report that fails is
logged, not raised: progress is a hint; the completion is what counts."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

from couchqueue_client.api import WorkerApi
from couchqueue_client.errors import CouchQueueError

logger = logging.getLogger("couchqueue_client")


class ProgressSender:
    def __init__(self, api: WorkerApi, loop: asyncio.AbstractEventLoop) -> None:
        self._api = api
        self._loop = loop
        self._latest: dict[str, tuple[str, Any]] = {}
        self._sending: dict[str, asyncio.Task[None]] = {}

    def open(self, worker_id: str, task_id: str) -> TaskProgress:
        """What ``Task.report_progress`` calls for this task, held by this worker."""
        return TaskProgress(self, worker_id, task_id)

    async def close(self) -> None:
        jobs = list(self._sending.values())
        for job in jobs:
            job.cancel()
        await asyncio.gather(*jobs, return_exceptions=True)

    def _on_loop(self) -> bool:
        try:
            return asyncio.get_running_loop() is self._loop
        except RuntimeError:
            return False

    def _put(self, progress: TaskProgress, value: Any) -> None:
        if progress.closed:
            return
        task_id = progress.task_id
        self._latest[task_id] = (progress.worker_id, value)
        if task_id not in self._sending:
            job = asyncio.create_task(self._send(task_id), name=f"progress {task_id}")
            self._sending[task_id] = job

    async def _send(self, task_id: str) -> None:
        try:
            while task_id in self._latest:
                worker_id, value = self._latest.pop(task_id)
                try:
                    await self._api.progress(worker_id, task_id, value)
                except CouchQueueError as exc:
                    logger.warning("progress of task %s not reported: %s", task_id, exc)
        finally:
            del self._sending[task_id]


class TaskProgress:
    """One task's progress reports while its handler runs."""

    def __init__(self, sender: ProgressSender, worker_id: str, task_id: str) -> None:
        self._sender = sender
        self.worker_id = worker_id
        self.task_id = task_id
        self.closed = False

    def __call__(self, value: Any) -> None:
        try:
            json.dumps(value, allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise TypeError(f"progress must be a JSON value: {exc}") from None
        sender = self._sender
        if sender._on_loop():
            sender._put(self, value)
        else:
            sender._loop.call_soon_threadsafe(sender._put, self, value)

    def close(self) -> None:
        """The handler is done with the task: a value not sent yet is dropped (the completion
        follows; a report after it would be refused)."""
        self.closed = True
        self._sender._latest.pop(self.task_id, None)
