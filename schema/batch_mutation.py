"""Batch mutations: many publishes or reports in one operation, each item answered alone."""

from __future__ import annotations

from typing import Any

import strawberry
from strawberry.scalars import JSON

from resolvers import models
from resolvers.batch import Outcome, publish_many, report_many
from resolvers.errors import CouchQueueError, InvalidInput
from schema.context import Info, engine
from schema.declare import input_type, mutation, object_type, scalar_input_type
from schema.inputs import PublishTaskInput, event_fields
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


@input_type
class CompletionInput:
    """One completed task of a completeTasks batch, with its result and follow-up events."""

    task_id: strawberry.ID
    result: JSON | None = None
    publish: list[PublishTaskInput] | None = None
    re_enqueue: bool | None = None


@scalar_input_type
class FailureInput:
    """One failed task of a failTasks batch."""

    task_id: strawberry.ID
    reason: str | None = None
    re_enqueue: bool | None = None


def _completion(item: CompletionInput, re_enqueue: bool | None) -> dict[str, Any]:
    return {
        "taskId": item.task_id,
        "state": "complete",
        "reEnqueue": re_enqueue if item.re_enqueue is None else item.re_enqueue,
        "result": item.result,
        "publish": None if item.publish is None else [event_fields(e) for e in item.publish],
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
        outcomes = await publish_many(ctx, [event_fields(item) for item in inputs], param="inputs")
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
        task_ids: list[strawberry.ID] | None = None,
        re_enqueue: bool | None = None,
        completions: list[CompletionInput] | None = None,
    ) -> list[ReportOutcome]:
        """Report several tasks the worker holds as done: by ``taskIds``, or by
        ``completions``, each with its result and follow-up events (as completeTask)."""
        ctx = engine(info)
        if (task_ids is None) == (completions is None):
            raise InvalidInput("give taskIds or completions (one of them)", param="taskIds")
        if completions is None:
            assert task_ids is not None
            items = [{"taskId": t, "state": "complete", "reEnqueue": re_enqueue} for t in task_ids]
            param = "taskIds"
        else:
            items = [_completion(c, re_enqueue) for c in completions]
            param = "completions"
        return _reported(await report_many(ctx, worker_id, items, param=param), ctx.clock())

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
