"""Mutation: operations that change the queues, each one resolver call.

The administrative operations (queue settings, the failed queue, schedules) are inherited from
``schema.admin_mutation``.
"""

from __future__ import annotations

import strawberry
from strawberry.scalars import JSON

import resolvers.interests
import resolvers.leases
import resolvers.long_poll
import resolvers.progress
import resolvers.publish
import resolvers.queues
import resolvers.reports
import resolvers.tasks
import resolvers.workers
from schema.admin_mutation import AdminMutation
from schema.aliases import QueueName, WorkerIdAsId, renamed
from schema.batch_mutation import BatchMutation
from schema.context import Info, engine
from schema.declare import mutation, object_type
from schema.inputs import PublishTaskInput, event_fields
from schema.queue_types import Queue
from schema.tokens import TokenMutation
from schema.types import PublishResult, Task, Worker


@object_type
class Mutation(BatchMutation, AdminMutation, TokenMutation):
    """Operations that change the queues."""

    @mutation
    async def publish_task(self, info: Info, input: PublishTaskInput) -> PublishResult:
        """Publish an event: every interested queue gets its own copy of the task."""
        ctx = engine(info)
        result = await resolvers.publish.publish(
            ctx,
            publisher=input.publisher,
            data=input.data,
            run_at=input.run_at,
            scope=input.scope,
            singularly_enqueue=input.singularly_enqueue,
            singularly_run=input.singularly_run,
            unique_key=input.unique_key,
        )
        return PublishResult.from_model(result, ctx.clock())

    @mutation
    async def register_worker(
        self, info: Info, queues: list[str], name: str | None = None
    ) -> Worker:
        """Register a worker on queues, in priority order; it gets a new id."""
        worker = await resolvers.workers.register_worker(engine(info), queues=queues, name=name)
        return Worker.from_model(worker)

    @mutation
    async def heartbeat(
        self, info: Info, worker_id: strawberry.ID, task_ids: list[strawberry.ID] | None = None
    ) -> Worker:
        """A worker says it is alive: it is not removed as silent, and the leases of the tasks
        it names (every task it holds if it names none) are extended. A worker that was removed
        must register again (WORKER_NOT_FOUND)."""
        worker = await resolvers.leases.heartbeat(engine(info), worker_id, task_ids)
        return Worker.from_model(worker)

    @mutation
    async def delete_worker(
        self, info: Info, worker_id: strawberry.ID | None = None, id: WorkerIdAsId = None
    ) -> int:
        """A worker says goodbye: its started tasks go back to their queues at once and its own
        queue is emptied. Returns how many workers were removed."""
        given, param = renamed("workerId", worker_id, "id", id)
        return await resolvers.workers.delete_worker(engine(info), given, param)

    @mutation
    async def delete_workers(self, info: Info, queue: str) -> int:
        """Remove every worker registered on a queue; returns how many were removed."""
        return await resolvers.workers.delete_workers(engine(info), queue)

    @mutation
    async def claim_task(
        self, info: Info, worker_id: strawberry.ID, wait_seconds: float | None = None
    ) -> Task | None:
        """The worker's next task, now started under a lease; null if there is none. With
        waitSeconds (up to the server's max_wait_seconds) it waits that long for a task and
        answers the moment one can be claimed; a client that hangs up meanwhile claims
        nothing."""
        ctx = engine(info)
        task = await resolvers.long_poll.claim_waiting(
            ctx, worker_id, wait_seconds, hung_up=info.context.get("hung_up")
        )
        return None if task is None else Task.from_model(task, ctx.clock())

    @mutation
    async def complete_task(
        self,
        info: Info,
        worker_id: strawberry.ID,
        task_id: strawberry.ID,
        re_enqueue: bool | None = None,
        result: JSON | None = None,
        publish: list[PublishTaskInput] | None = None,
    ) -> Task:
        """Report the task the worker holds as done; with reEnqueue a fresh copy is queued
        too. ``result`` (any JSON value) is kept with the completed task; ``publish``'s
        follow-up events are published with the completion, once, and only if it is made
        (a retried completion publishes nothing more). Repeated by the worker that made it,
        it answers the completed task."""
        ctx = engine(info)
        task = await resolvers.reports.report(
            ctx,
            worker_id=worker_id,
            task_id=task_id,
            state="complete",
            re_enqueue=re_enqueue,
            result=result,
            publish=None if publish is None else [event_fields(e) for e in publish],
        )
        return Task.from_model(task, ctx.clock())

    @mutation
    async def report_progress(
        self, info: Info, worker_id: strawberry.ID, task_id: strawberry.ID, progress: JSON
    ) -> Task:
        """The worker holding the task reports how far it has got (any JSON value, kept as
        the task's progress until the next report); the task's lease is extended as by a
        heartbeat naming it. Only the holder may report (NOT_TASK_HOLDER)."""
        ctx = engine(info)
        task = await resolvers.progress.report_progress(ctx, worker_id, task_id, progress)
        return Task.from_model(task, ctx.clock())

    @mutation
    async def fail_task(
        self,
        info: Info,
        worker_id: strawberry.ID,
        task_id: strawberry.ID,
        reason: str | None = None,
        re_enqueue: bool | None = None,
    ) -> Task:
        """Report the task the worker holds as failed: with reEnqueue it goes back to its queue
        at once; otherwise the queue's retry policy retries it later, until its limit, and
        then it goes to the failed queue."""
        ctx = engine(info)
        task = await resolvers.reports.report(
            ctx,
            worker_id=worker_id,
            task_id=task_id,
            state="fail",
            fail_reason=reason,
            re_enqueue=re_enqueue,
            reason_param="reason",
        )
        return Task.from_model(task, ctx.clock())

    @mutation
    async def delete_tasks(
        self, info: Info, queue: str | None = None, worker_id: strawberry.ID | None = None
    ) -> int:
        """Remove the waiting tasks of a queue, of a worker's own queue, or of both; returns
        how many were removed."""
        return await resolvers.tasks.delete_tasks(engine(info), queue=queue, worker_id=worker_id)

    @mutation
    async def set_interests(self, info: Info, queue: str, interests: JSON) -> Queue:
        """Replace a queue's interests ('*' or an object of field: regex), creating the queue
        if needed."""
        record = await resolvers.interests.set_interests(engine(info), queue, interests)
        return Queue.from_model(record)

    @mutation
    async def delete_interests(self, info: Info, queue: str) -> int:
        """Remove every interest of a queue (the queue stays); returns how many interest
        patterns were removed."""
        return await resolvers.interests.delete_interests(engine(info), queue)

    @mutation
    async def delete_queue(
        self, info: Info, queue: str | None = None, name: QueueName = None
    ) -> int:
        """Delete a queue with its interests and its waiting, scheduled and failed tasks;
        returns how many tasks were removed."""
        given, param = renamed("queue", queue, "name", name)
        return await resolvers.queues.delete_queue(engine(info), given, param=param)
