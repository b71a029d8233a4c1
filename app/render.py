"""JSON renderings of the engine's models, one per model, shared by REST and the event feed."""

from __future__ import annotations

import dataclasses
from typing import Any

from resolvers import status
from resolvers.models import Failure, PublishResult, QueueSettings, Task, Worker


def render_task(task: Task, now: float) -> dict[str, Any]:
    return {
        "taskId": task.task_id,
        "eventId": task.event_id,
        "queue": task.queue,
        "workerId": task.worker_id,
        "publisher": task.publisher,
        "data": task.data,
        "runAt": task.run_at,
        "scope": task.scope.value,
        "singularlyEnqueue": task.singularly_enqueue,
        "singularlyRun": task.singularly_run,
        "state": task.shown_state(now),
        "attempts": task.attempts,
        "createdAt": task.created_at,
        "startedAt": task.started_at,
        "finishedAt": task.finished_at,
        "leaseUntil": task.lease_until,
        "failReason": task.fail_reason,
        "failures": [render_failure(failure) for failure in task.failures],
        "result": task.result,
        "progress": task.progress,
        "parentTaskId": task.parent_task_id,
    }


def render_failure(failure: Failure) -> dict[str, Any]:
    return {"reason": failure.reason, "at": failure.at}


def render_publish(result: PublishResult, now: float) -> dict[str, Any]:
    return {
        "eventId": result.event_id,
        "discarded": result.discarded,
        "tasks": [
            {
                "taskId": t.task_id,
                "queue": t.queue,
                "workerId": t.worker_id,
                "state": t.state_at(now).value,
            }
            for t in result.tasks
        ],
        "skipped": [
            {"queue": s.queue, "reason": s.reason, "workerId": s.worker_id} for s in result.skipped
        ],
    }


def render_worker(worker: Worker, tasks: list[Task] | None = None) -> dict[str, Any]:
    """The worker; with ``tasks`` (those it holds), their ids under "tasks" too."""
    rendered: dict[str, Any] = {
        "workerId": worker.worker_id,
        "name": worker.name,
        "queues": worker.queues,
        "registeredAt": worker.registered_at,
        "lastSeen": worker.last_seen,
    }
    if tasks is not None:
        rendered["tasks"] = [task.task_id for task in tasks]
    return rendered


def render_settings(settings: QueueSettings) -> dict[str, Any]:
    retry = settings.retry
    return {
        "leaseSeconds": settings.lease_seconds,
        "maxDeliveries": settings.max_deliveries,
        "retry": {
            "limit": retry.limit,
            "delays": retry.delays,
            "base": retry.base,
            "factor": retry.factor,
            "max": retry.max,
            "jitter": retry.jitter,
        },
    }


def render_queue_status(state: status.QueueStatus) -> dict[str, Any]:
    return {
        "name": state.queue.name,
        "exists": state.exists,
        "length": state.length,
        **dataclasses.asdict(state.counts),  # queued, scheduled, started, completed, failed
        "latencySeconds": state.latency,
        "paused": state.queue.paused,
        "workers": state.workers,
        "interests": state.queue.interests,
        "settings": render_settings(state.queue.settings),
    }
