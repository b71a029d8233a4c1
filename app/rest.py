"""The seed's REST API, kept exactly, plus PUT /worker/heartbeat: parse HTTP parameters, call
resolvers, render JSON.

No queue rule lives here. Parameters come from the query string, a form body or a JSON body
(the body wins); JSON-valued parameters may arrive as JSON text. Errors are CouchQueueErrors
rendered through one table of HTTP statuses.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from app.auth import CALLER_SCOPE_KEY
from app.hangup import until_disconnected
from app.render import render_publish, render_queue_status, render_task, render_worker
from app.rest_params import Params
from resolvers import (
    batch,
    failed,
    interests,
    leases,
    long_poll,
    progress,
    publish,
    queues,
    reports,
    status,
    task_updates,
    tasks,
    tokens,
    workers,
)
from resolvers.context import Context
from resolvers.errors import (
    CouchQueueError,
    MissingParameter,
)
from resolvers.tokens import as_caller

logger = logging.getLogger("couchqueue.rest")

# Error code -> HTTP status. Codes not listed are looked up along the error class's MRO.
STATUS_BY_CODE: dict[str, int] = {
    "INVALID_PARAMETER": 400,
    "MISSING_PARAMETER": 400,
    "MALFORMED_JSON": 400,
    "INVALID_REGEX": 400,
    "LIMIT_EXCEEDED": 400,
    "PAYLOAD_TOO_LARGE": 413,
    "UNSUPPORTED_MEDIA_TYPE": 415,
    "NOT_FOUND": 404,
    "WORKER_NOT_FOUND": 404,
    "TASK_NOT_FOUND": 404,
    "QUEUE_NOT_FOUND": 404,
    "SCHEDULE_NOT_FOUND": 404,
    "CONFLICT": 409,
    "NOT_TASK_HOLDER": 409,
    "STORE_UNAVAILABLE": 503,
    "UNAUTHENTICATED": 401,
    "FORBIDDEN": 403,
    "TOO_MANY_REQUESTS": 429,
    "TOO_MANY_WAITERS": 503,
}

_STATUS_OPTIONS = ("queue", "queues", "workerQueue", "interests", "workers", "failedQueue", "task")


class ORJSONResponse(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


# -- errors ---------------------------------------------------------------------------------


def status_for(exc: CouchQueueError) -> int:
    for cls in type(exc).__mro__:
        code = getattr(cls, "code", None)
        if not isinstance(code, str):
            continue
        if code in STATUS_BY_CODE:
            return STATUS_BY_CODE[code]
        if code.endswith("_NOT_FOUND"):
            return 404
    return 400


def error_body(exc: CouchQueueError | None) -> dict[str, Any]:
    assert exc is not None
    return {"error": {"code": exc.code, "message": exc.message, "param": exc.param}}


def error_response(exc: CouchQueueError) -> Response:
    code = status_for(exc)
    body = error_body(exc)
    headers = {"Retry-After": "1"} if code == 503 else None
    return ORJSONResponse(body, status_code=code, headers=headers)


async def handle_couchqueue_error(request: Request, exc: Exception) -> Response:
    if isinstance(exc, CouchQueueError):
        return error_response(exc)
    return await handle_unexpected_error(request, exc)


async def handle_http_error(request: Request, exc: Exception) -> Response:
    """Starlette's own 404 and 405 answers, in the same JSON shape as every other error."""
    status_code = getattr(exc, "status_code", 400)
    code = {404: "ROUTE_NOT_FOUND", 405: "METHOD_NOT_ALLOWED"}.get(status_code, "BAD_REQUEST")
    message = f"{request.method} {request.url.path}: {getattr(exc, 'detail', '')}".rstrip(": ")
    body = {"error": {"code": code, "message": message, "param": None}}
    return ORJSONResponse(body, status_code=status_code, headers=getattr(exc, "headers", None))


async def handle_unexpected_error(request: Request, exc: Exception) -> Response:
    logger.error("unexpected error in %s %s", request.method, request.url.path, exc_info=exc)
    body = {"error": {"code": "INTERNAL_ERROR", "message": "internal error", "param": None}}
    return ORJSONResponse(body, status_code=500)


# -- endpoints ------------------------------------------------------------------------------

Handler = Callable[[Context, Params], Awaitable[Any]]
_JSON_HEADERS = [(b"content-type", b"application/json")]


class ClientGone(Exception):
    """The client disconnected before its request's body was complete: nobody to answer."""


class Endpoint:
    """A REST route as a bare ASGI app: read the parameters, call the handler, answer its
    result as JSON. Starlette's Request and Response objects (and the exception wrapping of
    its function endpoints) were a good part of the hottest routes' time; errors keep their
    shape through the one table above. Batch routes name the parameter a JSON array body
    stands for (``list_as``)."""

    def __init__(self, handler: Handler, list_as: str | None = None) -> None:
        self.handler = handler
        self.list_as = list_as
        self.__name__ = handler.__name__

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            body = await _read_body(receive)
            params = Params.parse(scope, _content_type(scope), body, self.list_as)
            params.hung_up = lambda: until_disconnected(receive)
            ctx = as_caller(scope["app"].state.ctx, scope.get(CALLER_SCOPE_KEY))
            result = await self.handler(ctx, params)
        except ClientGone:
            return
        except CouchQueueError as exc:
            code = status_for(exc)
            headers = [*_JSON_HEADERS, (b"retry-after", b"1")] if code == 503 else _JSON_HEADERS
            await _answer(send, code, headers, orjson.dumps(error_body(exc)))
            return
        await _answer(send, 200, _JSON_HEADERS, orjson.dumps(result))


async def _read_body(receive: Receive) -> bytes:
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientGone()
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def _content_type(scope: Scope) -> str:
    for name, value in scope["headers"]:
        if name == b"content-type":
            return str(value.decode("latin-1"))
    return ""


async def _answer(send: Send, status: int, headers: list[tuple[bytes, bytes]], body: bytes) -> None:
    headers = [*headers, (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def publish_task(ctx: Context, p: Params) -> Any:
    result = await publish.publish(
        ctx,
        publisher=p.text("publisher"),
        data=p.json("data"),
        run_at=p.number("runAt", "a number of unix seconds"),
        scope=p.text("scope"),
        singularly_enqueue=p.flag("singularlyEnqueue"),
        singularly_run=p.flag("singularlyRun"),
        unique_key=p.text("uniqueKey"),
    )
    return render_publish(result, ctx.clock())


async def publish_tasks(ctx: Context, p: Params) -> Any:
    outcomes = await batch.publish_many(ctx, p.json("tasks"))
    now = ctx.clock()
    return [
        render_publish(o.value, now) if o.value is not None else error_body(o.error)
        for o in outcomes
    ]


async def report_tasks(ctx: Context, p: Params) -> Any:
    outcomes = await batch.report_many(ctx, p.text("workerId"), p.json("reports"))
    now = ctx.clock()
    return [
        render_task(o.value, now) if o.value is not None else error_body(o.error) for o in outcomes
    ]


async def claim_task(ctx: Context, p: Params) -> Any:
    """GET /task: the seed's claim; with waitSeconds, a long poll that claims nothing for a
    client that hung up (see resolvers/long_poll.py)."""
    wait = p.number("waitSeconds", "a number of seconds")
    task = await long_poll.claim_waiting(ctx, p.text("workerId"), wait, hung_up=p.hung_up)
    return None if task is None else render_task(task, ctx.clock())


async def task_result(ctx: Context, p: Params) -> Any:
    """GET /task/result: the task once finished, or as it is when waitSeconds (capped at
    --max-wait-seconds) have passed (see resolvers/task_updates.py)."""
    wait = p.number("waitSeconds", "a number of seconds")
    task = await task_updates.wait_for_outcome(ctx, p.text("taskId"), wait, hung_up=p.hung_up)
    return None if task is None else render_task(task, ctx.clock())


async def report_task(ctx: Context, p: Params) -> Any:
    task = await reports.report(
        ctx,
        worker_id=p.text("workerId"),
        task_id=p.text("taskId"),
        state=p.text("state"),
        fail_reason=p.text("failReason"),
        re_enqueue=p.flag("reEnqueue"),
        result=p.any_json("result"),
        publish=p.json("publish"),
    )
    return render_task(task, ctx.clock())


async def report_task_progress(ctx: Context, p: Params) -> Any:
    """PUT /task/progress: the holder's progress report, which extends the task's lease."""
    task = await progress.report_progress(
        ctx, p.text("workerId"), p.text("taskId"), p.any_json("progress")
    )
    return render_task(task, ctx.clock())


async def delete_tasks(ctx: Context, p: Params) -> Any:
    deleted = await tasks.delete_tasks(ctx, queue=p.text("queue"), worker_id=p.text("workerId"))
    return {"deleted": deleted}


async def register_worker(ctx: Context, p: Params) -> Any:
    worker = await workers.register_worker(ctx, queues=p.json("queues"), name=p.text("name"))
    return render_worker(worker)


async def heartbeat(ctx: Context, p: Params) -> Any:
    return render_worker(await leases.heartbeat(ctx, p.text("workerId"), p.json("taskIds")))


async def delete_worker(ctx: Context, p: Params) -> Any:
    worker_id, queue = p.text("workerId"), p.text("queue")
    if worker_id is not None:
        return {"deleted": await workers.delete_worker(ctx, worker_id)}
    if queue is not None:
        tokens.authorize(ctx, "Mutation.deleteWorkers")
        return {"deleted": await workers.delete_workers(ctx, queue)}
    raise MissingParameter("workerId (or queue) is required", param="workerId")


async def set_interests(ctx: Context, p: Params) -> Any:
    value = p.json("interests", literals=frozenset({"*"}))
    queue = await interests.set_interests(ctx, p.text("queue"), value)
    return {"queue": queue.name, "interests": queue.interests}


async def delete_interests(ctx: Context, p: Params) -> Any:
    return {"deleted": await interests.delete_interests(ctx, p.text("queue"))}


async def delete_queue(ctx: Context, p: Params) -> Any:
    removed = await queues.delete_queue(ctx, p.text("queue"))
    return {"deleted": 1, "tasks": removed}


async def get_status(ctx: Context, p: Params) -> Any:
    now = ctx.clock()
    if not any(p.has(option) for option in _STATUS_OPTIONS):
        summary = await status.summary(ctx)
        counts = dataclasses.asdict(summary.counts)
        return {"queues": summary.queues, "workers": summary.workers, "tasks": counts}
    out: dict[str, Any] = {}
    if p.has("queue"):
        out["queue"] = render_queue_status(await status.queue_status(ctx, p.text("queue")))
    if p.has("queues"):
        out["queues"] = [render_queue_status(s) for s in await status.all_queue_status(ctx)]
    if p.has("workerQueue"):
        own = await status.worker_queue_status(ctx, p.text("workerQueue"), "workerQueue")
        out["workerQueue"] = {"workerId": own.worker_id, "length": own.length}
    if p.has("interests"):
        found_interests = await interests.list_interests(ctx, p.option("interests"), "interests")
        out["interests"] = found_interests
    if p.has("workers"):
        found = await workers.list_workers(ctx, p.option("workers"), "workers")
        out["workers"] = [
            render_worker(w, await workers.current_tasks(ctx, w.worker_id)) for w in found
        ]
    if p.has("failedQueue"):
        out["failedQueue"] = await failed_queue(ctx, p)
    if p.has("task"):
        found_task = await tasks.get_task(ctx, p.text("task"), "task")
        out["task"] = render_task(found_task, now)
    return out


async def failed_queue(ctx: Context, p: Params) -> Any:
    """GET /status?failedQueue[=queue]: one page, filtered by publisher, reason, since, until."""
    given = failed.FailedFilter(
        queue=p.option("failedQueue"),
        queue_param="failedQueue",
        publisher=p.text("publisher"),
        reason=p.text("reason"),
        since=p.number("since", "a number of unix seconds"),
        until=p.number("until", "a number of unix seconds"),
    )
    first = p.number("first", "an integer", kind=int)
    page = await failed.list_failed(ctx, given, first=first, after=p.text("after"))
    now = ctx.clock()
    return {"tasks": [render_task(t, now) for t in page.tasks], "nextCursor": page.next_cursor}


routes: list[Route] = [
    Route("/task", Endpoint(publish_task), methods=["PUT"]),
    Route("/task", Endpoint(claim_task), methods=["GET"]),
    Route("/task/result", Endpoint(task_result), methods=["GET"]),
    Route("/tasks", Endpoint(publish_tasks, list_as="tasks"), methods=["PUT"]),
    Route("/tasks", Endpoint(report_tasks, list_as="reports"), methods=["POST"]),
    Route("/task", Endpoint(report_task), methods=["POST"]),
    Route("/task", Endpoint(delete_tasks), methods=["DELETE"]),
    Route("/task/progress", Endpoint(report_task_progress), methods=["PUT"]),
    Route("/worker", Endpoint(register_worker), methods=["PUT"]),
    Route("/worker", Endpoint(delete_worker), methods=["DELETE"]),
    Route("/worker/heartbeat", Endpoint(heartbeat), methods=["PUT"]),
    Route("/interest", Endpoint(set_interests), methods=["PUT"]),
    Route("/interest", Endpoint(delete_interests), methods=["DELETE"]),
    Route("/queue", Endpoint(delete_queue), methods=["DELETE"]),
    Route("/status", Endpoint(get_status), methods=["GET"]),
]
