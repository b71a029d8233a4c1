"""Batch mutations: many publishes or reports in one operation, each item answered alone."""

from __future__ import annotations

from typing import Any

import strawberry

from resolvers import models
from resolvers.batch import Outcome, publish_many, report_many
from resolvers.errors import CouchQueueError
from schema.context import Info, engine
from schema.declare import mutation, object_type, scalar_input_type
from schema.inputs import PublishTaskInput
from schema.types import PublishResult, Task


@object_type
class ItemError:
    """Why one item of a batch was refused; the others are unaffected."""

    code: str
    message: str
    param: str | None

    @classmethod
    def from_error(cls, error: CouchQueueError | None) -> ItemError | None:
        if error is None:
            return None
        return cls(code=error.code, message=error.message, param=error.param)


@object_type
class PublishOutcome:
    """One event of a publishTasks batch: its result, or its error."""

    result: PublishResult | None
    error: ItemError | None


@object_type
class ReportOutcome:
    """One task of a completeTasks or failTasks batch: the task as reported, or the error."""

    task: Task | None
    error: ItemError | None


@scalar_input_type
class FailureInput:
    """One failed task of a failTasks batch."""

    task_id: strawberry.ID
    reason: str | None = None
    re_enqueue: bool | None = None


def _event(item: PublishTaskInput) -> dict[str, Any]:
    return {
        "publisher": item.publisher,
        "data": item.data,
        "runAt": item.run_at,
        "scope": item.scope,
        "singularlyEnqueue": item.singularly_enqueue,
        "singularlyRun": item.singularly_run,
        "uniqueKey": item.unique_key,
    }


def _reported(outcomes: list[Outcome[models.Task]], now: float) -> list[ReportOutcome]:
    return [
        ReportOutcome(
            task=None if o.value is None else Task.from_model(o.value, now),
            error=ItemError.from_error(o.error),
        )
        for o in outcomes
    ]


@object_type
class BatchMutation:
    @mutation
    async def publish_tasks(
        self, info: Info, inputs: list[PublishTaskInput]
    ) -> list[PublishOutcome]:
        """Publish several events in one operation, written together; each is answered as a
        publishTask alone would be."""
        ctx = engine(info)
        outcomes = await publish_many(ctx, [_event(item) for item in inputs], param="inputs")
        now = ctx.clock()
        return [
            PublishOutcome(
                result=None if o.value is None else PublishResult.from_model(o.value, now),
                error=ItemError.from_error(o.error),
            )
            for o in outcomes
        ]

    @mutation
    async def complete_tasks(
        self,
        info: Info,
        worker_id: strawberry.ID,
        task_ids: list[strawberry.ID],
        re_enqueue: bool | None = None,
    ) -> list[ReportOutcome]:
        """Report several tasks the worker holds as done."""
        ctx = engine(info)
        items = [{"taskId": t, "state": "complete", "reEnqueue": re_enqueue} for t in task_ids]
        return _reported(await report_many(ctx, worker_id, items, param="taskIds"), ctx.clock())

    @mutation
    async def fail_tasks(
        self, info: Info, worker_id: strawberry.ID, failures: list[FailureInput]
    ) -> list[ReportOutcome]:
        """Report several tasks the worker holds as failed, each with its reason."""
        ctx = engine(info)
        items = [
            {
                "taskId": f.task_id,
                "state": "fail",
                "failReason": f.reason,
                "reEnqueue": f.re_enqueue,
            }
            for f in failures
        ]
        return _reported(await report_many(ctx, worker_id, items, param="failures"), ctx.clock())
