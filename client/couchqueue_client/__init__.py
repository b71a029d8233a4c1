"""CouchQueue's Python client: publish events, and run workers that take tasks pushed over a
websocket or polled over HTTP. Depends only on httpx and websockets.

    from couchqueue_client import Publisher, Worker

    Publisher("http://127.0.0.1:8080").publish({"email": "evan@example.com"})

    def send_mail(task):                       # or `async def`
        task.report_progress({"step": 1})      # optional: seen by taskUpdates subscribers
        return {"sent": True}                  # complete, with this result; raise: fail

    Worker("http://127.0.0.1:8080", ["welcome"], send_mail, concurrency=4).run_forever()
"""

from __future__ import annotations

from couchqueue_client.api import Report, WorkerApi
from couchqueue_client.errors import CertificateError, CouchQueueError, Unavailable, WaitTimeout
from couchqueue_client.failure import TaskFailed
from couchqueue_client.models import Done, Event, PublishedTask, PublishResult, Skipped, Task
from couchqueue_client.publisher import AsyncPublisher, Publisher
from couchqueue_client.push import TaskSubscription
from couchqueue_client.worker import Worker

__all__ = [
    "AsyncPublisher",
    "CertificateError",
    "CouchQueueError",
    "Done",
    "Event",
    "PublishResult",
    "PublishedTask",
    "Publisher",
    "Report",
    "Skipped",
    "Task",
    "TaskFailed",
    "TaskSubscription",
    "Unavailable",
    "WaitTimeout",
    "Worker",
    "WorkerApi",
]
