"""Publishing: an event is validated once, then copied to every interested queue (scope any)
or to every worker registered on each interested queue (scope all)."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson

from resolvers.context import Context
from resolvers.errors import CouchQueueError, InvalidInput, LimitExceeded, StoreUnavailable
from resolvers.handoff import Offer
from resolvers.ids import new_id
from resolvers.models import (
    ClaimRequest,
    PublishInput,
    PublishResult,
    Scope,
    Skipped,
    Task,
    worker_lane,
)
from resolvers.observe import observe
from resolvers.tasks import claim_request, give_back, observe_claimed
from resolvers.validation import flag, json_object, text, timestamp


def parse_scope(value: Any) -> Scope:
    if value is None:
        return Scope.ANY
    try:
        return Scope(value)
    except ValueError:
        raise InvalidInput(f"scope must be 'any' or 'all', not {value!r}", param="scope") from None


def validate_event(
    ctx: Context,
    *,
    publisher: Any,
    data: Any,
    run_at: Any = None,
    scope: Any = None,
    singularly_enqueue: Any = None,
    singularly_run: Any = None,
    unique_key: Any = None,
) -> PublishInput:
    """Check an event as a client sent it (for a publish, or a schedule's template)."""
    source = text(publisher, "publisher", ctx.limits.max_name_length)
    assert source is not None
    return PublishInput(
        publisher=source,
        data=json_object(data, ctx),
        run_at=timestamp(run_at, "runAt"),
        scope=parse_scope(scope),
        singularly_enqueue=flag(singularly_enqueue, "singularlyEnqueue"),
        singularly_run=flag(singularly_run, "singularlyRun"),
        unique_key=text(unique_key, "uniqueKey", ctx.limits.max_name_length, optional=True),
    )


# An event as a JSON object (a batch item, a follow-up): its keys and validate_event's names.
EVENT_FIELDS = {
    "publisher": "publisher",
    "data": "data",
    "runAt": "run_at",
    "scope": "scope",
    "singularlyEnqueue": "singularly_enqueue",
    "singularlyRun": "singularly_run",
    "uniqueKey": "unique_key",
}


def event_from_item(ctx: Context, item: Any, where: str, param: str) -> PublishInput:
    """Check an event given as a JSON object (``where`` names it in messages: "tasks[3]")."""
    if not isinstance(item, dict):
        raise InvalidInput(f"{where} must be an object", param=param)
    unknown = sorted(set(item) - set(EVENT_FIELDS))
    if unknown:
        raise InvalidInput(f"{where} has unknown fields {unknown}", param=param)
    # A field left out is absent (None), as it is from a single publish.
    return validate_event(ctx, **{name: item.get(key) for key, name in EVENT_FIELDS.items()})


def follow_up_events(ctx: Context, value: Any, param: str = "publish") -> list[PublishInput]:
    """The follow-up events of a completion: a list (None: none) of at most max_follow_ups
    events, each an object of publish's parameters."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise InvalidInput(f"{param} must be a list of events", param=param)
    if len(value) > ctx.limits.max_follow_ups:
        raise LimitExceeded(
            f"{param} has {len(value)} events; at most {ctx.limits.max_follow_ups} follow a "
            "completion",
            param=param,
        )
    events = []
    for index, item in enumerate(value):
        where = f"{param}[{index}]"
        try:
            events.append(event_from_item(ctx, item, where, param))
        except CouchQueueError as error:
            if error.message.startswith(where):
                raise
            # The follow-up's own field is named in the message; the parameter is publish.
            raise type(error)(f"{where}: {error.message}", param=param) from None
    return events


def identity_of(data: dict[str, Any], unique_key: str | None) -> str:
    """The identity singularlyEnqueue and singularlyRun compare: an explicit key, or a digest of
    the data's canonical JSON (sorted keys), so large data costs the indexes nothing."""
    if unique_key is not None:
        return "key:" + unique_key
    canonical = orjson.dumps(data, option=orjson.OPT_SORT_KEYS)
    return "sha256:" + hashlib.sha256(canonical).hexdigest()


async def publish(ctx: Context, **event: Any) -> PublishResult:
    """Publish an event as a client sent it. An event no queue wants is discarded."""
    return await publish_event(ctx, validate_event(ctx, **event))


async def publish_event(
    ctx: Context,
    event: PublishInput,
    *,
    event_id: str | None = None,
    task_id_for: Callable[[str], str] | None = None,
) -> PublishResult:
    """Copy a valid event to its queues. With ``event_id`` and ``task_id_for`` (lane → id) the
    ids are the caller's: publishing the same event twice then writes it once (schedules)."""
    with ctx.instruments.timed("publish"):
        plan = await _plan(ctx, event, event_id or new_id(), task_id_for or _random_id)
        [result] = await _write(ctx, [plan])
        return result


async def publish_events(ctx: Context, events: list[PublishInput]) -> list[PublishResult]:
    """Publish several valid events with one write to the store (a batch from one client)."""
    with ctx.instruments.timed("publish"):
        plans = [await _plan(ctx, event, new_id(), _random_id) for event in events]
        return await _write(ctx, plans)


def _random_id(lane: str) -> str:
    return new_id()


def derived_id(*parts: object) -> str:
    """An id made from ``parts``, shaped as new_id's: the same parts, the same id."""
    text = "\x00".join(str(part) for part in parts)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


async def follow_up_copies(ctx: Context, parent_id: str, events: list[PublishInput]) -> list[Task]:
    """The copies the follow-up events of a completion of ``parent_id`` make, unwritten: matched
    as any publish is, each with parent_task_id, and ids derived from (parent, index, lane) so
    that writing them twice (a retried completion) writes each once."""
    copies: list[Task] = []
    for index, event in enumerate(events):

        def make_id(lane: str, index: int = index) -> str:
            return derived_id(parent_id, index, lane)

        plan = await _plan(ctx, event, derived_id(parent_id, index), make_id)
        for task in plan.copies:
            task.parent_task_id = parent_id
        copies.extend(plan.copies)
    return copies


def observe_follow_ups(ctx: Context, written: list[Task]) -> Counter[str]:
    """Count the follow-ups a completion wrote as published; per lane, how many it gained."""
    now = ctx.clock()
    lanes: Counter[str] = Counter()
    for task in written:
        lanes[task.lane] += 1
        observe(ctx, "published", task.queue, now, task=task)
    return lanes


@dataclass(slots=True)
class _Handoff:
    offer: Offer
    request: ClaimRequest
    reserved: int


async def _reserve(ctx: Context, copies: list[Task]) -> list[_Handoff]:
    """Slots of this node's waiting push subscribers for the copies due now, at most one
    per copy: the write that inserts the copies claims them for those subscribers."""
    due: Counter[str] = Counter()
    now = ctx.clock()
    for task in copies:
        if task.run_at <= now:
            due[task.lane] += 1
    if not any(ctx.notifier.offers(lane) for lane in due):
        return []
    snapshot = await ctx.queue_cache.current(ctx.store)
    handoffs: list[_Handoff] = []
    # No await from here on: the offers looked at are the offers taken.
    for lane, count in due.items():
        for offer in ctx.notifier.offers(lane):
            reserved = offer.reserve(count)
            if reserved:
                handoffs.append(
                    _Handoff(offer, claim_request(ctx, offer.worker, snapshot), reserved)
                )
                count -= reserved
            if not count:
                break
    return handoffs


@dataclass(slots=True)
class _Plan:
    result: PublishResult
    copies: list[Task]


async def _plan(
    ctx: Context, event: PublishInput, event_id: str, make_id: Callable[[str], str]
) -> _Plan:
    """Which copies the event makes, before anything is written."""
    now = ctx.clock()
    snapshot = await ctx.queue_cache.current(ctx.store)
    interested = snapshot.interested(event.data)
    result = PublishResult(event_id=event_id, discarded=not interested, tasks=[], skipped=[])
    unique = event.singularly_enqueue or event.singularly_run
    identity = identity_of(event.data, event.unique_key) if unique else None
    run_at = now if event.run_at is None else event.run_at

    def copy(queue: str, lane: str, worker_id: str | None = None) -> Task:
        return Task(
            task_id=make_id(lane),
            event_id=event_id,
            queue=queue,
            lane=lane,
            publisher=event.publisher,
            data=event.data,
            run_at=run_at,
            created_at=now,
            scope=event.scope,
            singularly_enqueue=event.singularly_enqueue,
            singularly_run=event.singularly_run,
            identity=identity,
            worker_id=worker_id,
        )

    copies: list[Task] = []
    for queue in interested:
        if event.scope is Scope.ANY:
            copies.append(copy(queue, queue))
            continue
        workers = await ctx.store.list_workers(queue)
        if not workers:
            result.skipped.append(Skipped(queue=queue, reason="no workers"))
        for worker in workers:
            copies.append(copy(queue, worker_lane(worker.worker_id), worker.worker_id))
    return _Plan(result, copies)


async def _write(ctx: Context, plans: list[_Plan]) -> list[PublishResult]:
    copies = [task for plan in plans for task in plan.copies]
    handoffs = await _reserve(ctx, copies)
    try:
        if handoffs:
            claims = [(handoff.request, handoff.reserved) for handoff in handoffs]
            inserted, claimed = await ctx.store.insert_and_claim(copies, claims)
        else:
            inserted, claimed = await ctx.store.insert_tasks(copies) if copies else [], []
    except BaseException:
        for handoff in handoffs:
            handoff.offer.settle(handoff.reserved, [])
        raise
    written = iter(inserted)
    now = ctx.clock()
    # Per lane, the tasks it gained that no waiting subscriber was handed.
    lanes: Counter[str] = Counter()
    for plan in plans:
        for task in plan.copies:
            if next(written):
                plan.result.tasks.append(task)
                lanes[task.lane] += 1
                observe(ctx, "published", task.queue, now, task=task)
            else:
                plan.result.skipped.append(
                    Skipped(queue=task.queue, reason="duplicate", worker_id=task.worker_id)
                )
    handed = False
    for handoff, tasks in zip(handoffs, claimed, strict=True):
        observe_claimed(ctx, handoff.request, tasks)
        if handoff.offer.settle(handoff.reserved, tasks):
            # settle woke the subscriber handed them: nobody else is woken for these.
            handed = handed or bool(tasks)
            lanes.subtract(task.lane for task in tasks)
        elif tasks:
            # The tasks are published either way: if the store fails now, their lease
            # brings them back, so the publisher still gets its answer.
            with contextlib.suppress(StoreUnavailable):
                await give_back(ctx, handoff.request.worker_id, [t.task_id for t in tasks])
    if ctx.notifier.lanes_changed(lanes.elements()) or handed:
        # One turn of the loop for the woken subscribers before the publisher is answered:
        # on this node they then claim and push the task first, the answer follows.
        await asyncio.sleep(0)
    return [plan.result for plan in plans]
