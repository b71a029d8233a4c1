"""Batches: many publishes or reports in one request, each item with the rules and errors it
would have alone. A bad item fails alone; the others go ahead."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from resolvers.context import Context
from resolvers.errors import CouchQueueError, InvalidInput, LimitExceeded, MissingParameter
from resolvers.models import PublishInput, PublishResult, Task
from resolvers.publish import event_from_item, publish_events
from resolvers.reports import ReportItem, report_item, report_items
from resolvers.validation import identifier

T = TypeVar("T")


@dataclass(slots=True)
class Outcome(Generic[T]):
    """One item's result, or the error that item alone got."""

    value: T | None = None
    error: CouchQueueError | None = None


def _items(value: Any, ctx: Context, param: str) -> list[Any]:
    if value is None:
        raise MissingParameter(f"{param} is required: a list", param=param)
    if not isinstance(value, list) or not value:
        raise InvalidInput(f"{param} must be a non-empty list", param=param)
    if len(value) > ctx.limits.max_batch:
        raise LimitExceeded(
            f"{param} has {len(value)} items; at most {ctx.limits.max_batch} in one batch",
            param=param,
        )
    return value


def _of_item(error: CouchQueueError, param: str, index: int) -> CouchQueueError:
    """The error with the item it is about named in its message (the parameter stays)."""
    where = f"{param}[{index}]"
    if error.message.startswith(where):
        return error
    return type(error)(f"{where}: {error.message}", param=error.param)


async def publish_many(
    ctx: Context, events: Any, param: str = "tasks"
) -> list[Outcome[PublishResult]]:
    """Publish a list of events (objects with publish's parameters), written together."""
    outcomes: list[Outcome[PublishResult]] = []
    valid: list[tuple[int, PublishInput]] = []
    for index, item in enumerate(_items(events, ctx, param)):
        try:
            valid.append((index, event_from_item(ctx, item, f"{param}[{index}]", param)))
            outcomes.append(Outcome())
        except CouchQueueError as error:
            outcomes.append(Outcome(error=_of_item(error, param, index)))
    results = await publish_events(ctx, [event for _, event in valid]) if valid else []
    for (index, _), result in zip(valid, results, strict=True):
        outcomes[index].value = result
    return outcomes


async def report_many(
    ctx: Context, worker_id: Any, reports: Any, param: str = "reports"
) -> list[Outcome[Task]]:
    """Report several tasks of one worker: each item {taskId, state, failReason, reEnqueue,
    result, publish}.
    The valid ones are read and written together; their follow-up events, all together, at most
    max_batch (else the whole batch is refused)."""
    items = _items(reports, ctx, param)
    try:
        wid = identifier(worker_id, "workerId")
    except CouchQueueError as error:
        return [Outcome(error=error) for _ in items]
    outcomes: list[Outcome[Task]] = []
    valid: list[tuple[int, ReportItem]] = []
    for index, item in enumerate(items):
        try:
            if not isinstance(item, dict):
                raise InvalidInput(f"{param}[{index}] must be an object", param=param)
            checked = report_item(
                ctx,
                item.get("taskId"),
                item.get("state"),
                item.get("failReason"),
                item.get("reEnqueue"),
                result=item.get("result"),
                publish=item.get("publish"),
            )
            valid.append((index, checked))
            outcomes.append(Outcome())
        except CouchQueueError as error:
            outcomes.append(Outcome(error=_of_item(error, param, index)))
    follow_ups = sum(len(item.publish) for _, item in valid)
    if follow_ups > ctx.limits.max_batch:
        # As many events as one PUT /tasks may publish, whichever items carry them.
        raise LimitExceeded(
            f"{param} carry {follow_ups} follow-up events; at most {ctx.limits.max_batch} in "
            "one batch",
            param=param,
        )
    results = await report_items(ctx, wid, [item for _, item in valid]) if valid else []
    for (index, _), result in zip(valid, results, strict=True):
        if isinstance(result, CouchQueueError):
            outcomes[index].error = _of_item(result, param, index)
        else:
            outcomes[index].value = result
    return outcomes
