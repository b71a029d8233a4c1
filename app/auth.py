"""Bearer-token authentication at the edge: who each request comes from, and whether the REST
route (or page) it asks for is allowed to them. GraphQL fields are checked one by one where
they run (schema/auth.py); which operation needs which role is decided in resolvers/access.py.

Auth is on once the store holds a token. Then every route but /healthz, /readyz and the
dashboard's files (which hold no data: the pages get everything through /graphql) needs
``Authorization: Bearer SECRET`` or the dashboard's session cookie (app/session.py): without
either, or with one the store does not hold, 401; with one whose roles do not allow the route,
403. A request the cookie authenticates that may change something must come from this server's
own pages (app/browser.py), else 403. A websocket is let in either way: its token may come in
the graphql-transport-ws connection_init payload instead, which the GraphQL view checks (4403
Forbidden when neither holds a valid one).

An address that sent ``failure_limit`` unknown tokens within ``FAILURE_WINDOW`` seconds is
answered 429 (with Retry-After) on every request needing a token, until the oldest of those
failures is a window old.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from typing import Any

import orjson
from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from app.browser import (
    changes_state,
    check_same_origin,
    header,
    is_page_load,
    session_cookie,
)
from resolvers.access import NOBODY, Caller, allowed
from resolvers.context import Context
from resolvers.errors import CouchQueueError, Forbidden, TooManyAttempts, Unauthenticated
from resolvers.sessions import session_caller
from resolvers.tokens import as_caller, auth_enabled, authenticate

# Where the request's Caller waits in the ASGI scope (absent while auth is off).
CALLER_SCOPE_KEY = "couchqueue.caller"
OPEN_PATHS = frozenset({"/healthz", "/readyz", "/", "/dashboard"})
# The dashboard's and GraphiQL's files, and the sign-in (which checks what it is given itself).
OPEN_PREFIXES = ("/dashboard/", "/graphiql/")
FAILURE_WINDOW = 60.0
MAX_TRACKED_ADDRESSES = 10_000

# Each REST route, by (method, path), and the operation of resolvers.access it is.
# DELETE /worker with ?queue= rather than ?workerId= is Mutation.deleteWorkers, which its
# handler checks once it has read the parameters. /graphql needs only a valid token: its fields
# are checked as they run.
ROUTE_OPERATIONS: dict[tuple[str, str], str | None] = {
    ("PUT", "/task"): "Mutation.publishTask",
    ("GET", "/task"): "Mutation.claimTask",
    ("GET", "/task/result"): "Query.task",
    ("POST", "/task"): "Mutation.completeTask",
    ("DELETE", "/task"): "Mutation.deleteTasks",
    ("PUT", "/tasks"): "Mutation.publishTasks",
    ("POST", "/tasks"): "Mutation.completeTasks",
    ("PUT", "/task/progress"): "Mutation.reportProgress",
    ("PUT", "/worker"): "Mutation.registerWorker",
    ("DELETE", "/worker"): "Mutation.deleteWorker",
    ("PUT", "/worker/heartbeat"): "Mutation.heartbeat",
    ("PUT", "/interest"): "Mutation.setInterests",
    ("DELETE", "/interest"): "Mutation.deleteInterests",
    ("DELETE", "/queue"): "Mutation.deleteQueue",
    ("GET", "/status"): "Query.status",
    ("GET", "/metrics"): "metrics",
    ("GET", "/graphql"): None,
    ("POST", "/graphql"): None,
}


def is_open(path: str) -> bool:
    """Whether the path is served without a token."""
    return path in OPEN_PATHS or path.startswith(OPEN_PREFIXES)


def route_operation(method: str, path: str) -> str | None:
    """The operation a request is, or None for /graphql and paths no route serves."""
    method = "GET" if method == "HEAD" else method
    return ROUTE_OPERATIONS.get((method, path))


class FailedAttempts:
    """Recent unknown tokens per client address, bounded in memory."""

    def __init__(self, limit: int, monotonic: Callable[[], float] = time.monotonic) -> None:
        self.limit = limit
        self._monotonic = monotonic
        self._by_address: dict[str, deque[float]] = {}

    def _recent(self, address: str) -> deque[float] | None:
        failures = self._by_address.get(address)
        if failures is None:
            return None
        horizon = self._monotonic() - FAILURE_WINDOW
        while failures and failures[0] <= horizon:
            failures.popleft()
        if not failures:
            del self._by_address[address]
            return None
        return failures

    def check(self, address: str) -> None:
        """Raise TooManyAttempts while the address is over the limit."""
        if self.limit <= 0:
            return
        failures = self._recent(address)
        if failures is not None and len(failures) >= self.limit:
            wait = failures[0] + FAILURE_WINDOW - self._monotonic()
            raise TooManyAttempts(
                f"too many unknown tokens from this address: try again in {max(1, round(wait))} s"
            )

    def failed(self, address: str) -> None:
        if self.limit <= 0:
            return
        if address not in self._by_address and len(self._by_address) >= MAX_TRACKED_ADDRESSES:
            for other in list(self._by_address):
                self._recent(other)
            if len(self._by_address) >= MAX_TRACKED_ADDRESSES:
                self._by_address.clear()  # a flood from many addresses: start over
        self._by_address.setdefault(address, deque(maxlen=self.limit)).append(self._monotonic())


class Gate:
    """Authenticates credentials from one address, counting the unknown ones."""

    def __init__(self, failure_limit: int) -> None:
        self.failures = FailedAttempts(failure_limit)

    async def caller(self, ctx: Context, address: str, credentials: str | None) -> Caller | None:
        """As resolvers.tokens.authenticate, but an address over its limit of unknown tokens
        gets TooManyAttempts."""
        if not await auth_enabled(ctx):
            return None
        self.failures.check(address)
        try:
            return await authenticate(ctx, credentials)
        except Unauthenticated:
            if credentials:
                self.failures.failed(address)
            raise

    async def session_caller(self, ctx: Context, session: str) -> Caller | None:
        """The caller of a dashboard session cookie (None while auth is off). A bad cookie is
        not counted as a bad token: it cannot be guessed, and an expired one is no attack."""
        if not await auth_enabled(ctx):
            return None
        return await session_caller(ctx, session)


def client_address(scope: Scope) -> str:
    client = scope.get("client")
    return str(client[0]) if client else "unknown"


def request_context(request: Request) -> Context:
    """The engine context for this request: the app's, with the request's caller if any."""
    ctx: Context = request.app.state.ctx
    return as_caller(ctx, request.scope.get(CALLER_SCOPE_KEY))


def _status(error: CouchQueueError) -> int:
    if isinstance(error, Unauthenticated):
        return 401
    if isinstance(error, TooManyAttempts):
        return 429
    return 403


def _refusal(path: str, error: CouchQueueError) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    status = _status(error)
    body: dict[str, Any]
    if path == "/graphql":
        body = {"errors": [{"message": error.message, "extensions": {"code": error.code}}]}
    else:
        body = {"error": {"code": error.code, "message": error.message, "param": error.param}}
    headers = [(b"content-type", b"application/json")]
    if status == 401:
        headers.append((b"www-authenticate", b"Bearer"))
    elif status == 429:
        headers.append((b"retry-after", str(int(FAILURE_WINDOW)).encode()))
    return status, headers, orjson.dumps(body)


class AuthMiddleware:
    """Puts the request's Caller in the scope, or answers 401, 403 or 429 itself."""

    def __init__(self, app: ASGIApp, gate: Gate) -> None:
        self.app = app
        self.gate = gate

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket") or is_open(scope["path"]):
            await self.app(scope, receive, send)
            return
        ctx: Context = scope["app"].state.ctx
        credentials = header(scope, b"authorization")
        session = session_cookie(scope) if credentials is None else None
        try:
            if session is not None:
                caller = await self.gate.session_caller(ctx, session)
            else:
                caller = await self.gate.caller(ctx, client_address(scope), credentials)
            if caller is not None:
                operation = None
                if scope["type"] == "http":
                    operation = route_operation(scope["method"], scope["path"])
                if session is not None and changes_state(scope, operation):
                    check_same_origin(scope)
                if operation is not None and not allowed(caller, operation):
                    raise Forbidden(f"token {caller.name!r} may not use {operation}")
        except CouchQueueError as error:
            if scope["type"] == "websocket":
                # The connection_init payload may still carry a valid token (app/asgi.py).
                scope[CALLER_SCOPE_KEY] = NOBODY
                await self.app(scope, receive, send)
                return
            if isinstance(error, Unauthenticated) and is_page_load(scope):
                # GraphiQL without a session: sign in on the dashboard first.
                location = (b"location", b"dashboard/")
                await send({"type": "http.response.start", "status": 303, "headers": [location]})
                await send({"type": "http.response.body", "body": b""})
                return
            status, headers, body = _refusal(scope["path"], error)
            await send({"type": "http.response.start", "status": status, "headers": headers})
            await send({"type": "http.response.body", "body": body})
            return
        if caller is not None:
            scope[CALLER_SCOPE_KEY] = caller
        await self.app(scope, receive, send)
