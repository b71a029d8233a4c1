"""Reports sent in batches: reports that finish while one request is on its way go together in
the next POST /tasks (like a group commit), so a busy worker makes few requests and an idle
one reports at once. A server that cannot be reached is retried with backoff. A completion
whose result or follow-up events the server refuses (too large, say) is reported as a failure
with the server's reason: otherwise the task would come back at its lease's end, run again and
be refused again, until maxDeliveries."""

from __future__ import annotations

import asyncio
import dataclasses
import logging

from couchqueue_client.api import Report, WorkerApi
from couchqueue_client.backoff import Backoff
from couchqueue_client.errors import CouchQueueError

logger = logging.getLogger("couchqueue_client")

MAX_BATCH = 100


class Reporter:
    def __init__(self, api: WorkerApi, max_backoff: float = 30.0) -> None:
        self._api = api
        self._pending: list[tuple[str, Report]] = []
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._backoff = Backoff(cap=max_backoff)

    @property
    def pending(self) -> int:
        return len(self._pending)

    def put(self, worker_id: str, report: Report) -> None:
        """Queue a report; the worker that holds the task (``worker_id``) sends it."""
        self._pending.append((worker_id, report))
        self._idle.clear()
        self._wake.set()

    async def flush(self, within: float) -> bool:
        """Wait until every queued report is sent (or given up); False on timeout."""
        try:
            await asyncio.wait_for(self._idle.wait(), within)
        except TimeoutError:
            return False
        return True

    async def run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._pending:
                await self._send_one_batch()
            self._idle.set()

    async def _send_one_batch(self) -> None:
        worker_id = self._pending[0][0]
        batch = [entry for entry in self._pending if entry[0] == worker_id][:MAX_BATCH]
        try:
            outcomes = await self._api.report(worker_id, [report for _, report in batch])
        except CouchQueueError as exc:
            if exc.retryable:
                delay = self._backoff.next()
                logger.warning(
                    "reporting %d tasks failed (%s); again in %.1fs", len(batch), exc, delay
                )
                await asyncio.sleep(delay)
                return
            logger.error("reports of %d tasks refused: %s", len(batch), exc)
            outcomes = [exc] * len(batch)
        except Exception as exc:  # a bug or a strange answer: do not lose the reporter
            logger.exception("reporting %d tasks failed", len(batch))
            outcomes = [CouchQueueError("CLIENT_ERROR", repr(exc))] * len(batch)
        else:
            self._backoff.reset()
        for (worker_id, report), outcome in zip(batch, outcomes, strict=True):
            if outcome is not None and _outcome_refused(report, outcome):
                logger.warning("task %s: its outcome was refused: %s", report.task_id, outcome)
                reason = f"the server refused the handler's outcome: {outcome}"
                failure = dataclasses.replace(
                    report, state="fail", fail_reason=reason, result=None, publish=()
                )
                self.put(worker_id, failure)
            elif outcome is not None:
                # Typically NOT_TASK_HOLDER: the lease ran out or the subscription closed, and the
                # task went back to its queue; it will be delivered again.
                logger.warning(
                    "report of task %s (%s) refused: %s", report.task_id, report.state, outcome
                )
        sent = {id(entry) for entry in batch}
        self._pending = [entry for entry in self._pending if id(entry) not in sent]


def _outcome_refused(report: Report, error: CouchQueueError) -> bool:
    """A completion refused for its result or follow-up events (not for who holds it)."""
    param = error.param or ""
    return (
        report.state == "complete"
        and not error.retryable
        and (param == "result" or param.startswith("publish"))
    )
