"""create_app(settings): the Starlette application with GraphQL, the REST routes and health."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import orjson
from cross_web import HTTPException as StrawberryHTTPException
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route, WebSocketRoute
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError
from strawberry.types.unset import UNSET, UnsetType

from app import dashboard, rest
from app.auth import CALLER_SCOPE_KEY, AuthMiddleware, Gate, client_address
from app.body_limit import BodyLimitMiddleware
from app.health import Readiness, healthz, readyz
from app.hosts import AllowedHosts, HostCheckMiddleware
from app.loops import DutyRunner, duties_for
from app.metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE
from app.metrics import Metrics
from app.notify import ChangeWatcher, LocalEvents, LocalNotifier
from app.settings import Settings
from app.store import open_store
from app.ws import SOCKET_SCOPE_KEY, LegacyWSHandler, TransportWSHandler, watch
from resolvers.access import NOBODY
from resolvers.context import Context
from resolvers.errors import CouchQueueError
from resolvers.queue_cache import QueueCache
from resolvers.store import Store
from resolvers.token_cache import TokenCache
from resolvers.tokens import as_caller
from schema import build_schema

# on_ws_connect's answer for a plain connection_ack (Strawberry's UNSET is typed Any).
_ACK: UnsetType = UNSET


class CouchQueueGraphQL(GraphQL[dict[str, Any], None]):
    """Strawberry's ASGI app, handing every resolver the engine context as context["cq"].

    Over a websocket the context also carries the connection's SocketState, and the protocol
    handlers (app/ws.py) record there which subscriptions were still open when the socket went
    away: a push subscriber that vanished, rather than unsubscribed.

    JSON goes through orjson: faster, and it refuses absurd nesting with a decode error (a 400)
    where the standard library would hit Python's recursion limit (a 500). Requests Strawberry
    refuses before execution get a GraphQL-shaped JSON error rather than plain text.
    """

    graphql_transport_ws_handler_class = TransportWSHandler
    graphql_ws_handler_class = LegacyWSHandler

    def decode_json(self, data: str | bytes) -> object:
        return orjson.loads(data)

    def encode_json(self, data: object) -> str:
        # Text, not bytes: Strawberry sends bytes as binary websocket frames, which standard
        # graphql-transport-ws clients refuse.
        return orjson.dumps(data).decode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            await super().__call__(scope, watch(scope, receive), send)
            return
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)
            return
        try:
            response = await self.run(Request(scope=scope, receive=receive))
        except StrawberryHTTPException as exc:
            body = {"errors": [{"message": exc.reason, "extensions": {"code": "BAD_REQUEST"}}]}
            response = JSONResponse(body, status_code=exc.status_code)
        await response(scope, receive, send)

    async def get_context(
        self, request: Request | WebSocket, response: Response | WebSocket
    ) -> dict[str, Any]:
        ctx = as_caller(request.app.state.ctx, request.scope.get(CALLER_SCOPE_KEY))
        context = {"request": request, "response": response, "cq": ctx}
        if isinstance(request, WebSocket):
            context["socket"] = request.scope[SOCKET_SCOPE_KEY]
        return context

    async def on_ws_connect(self, context: dict[str, Any]) -> UnsetType | dict[str, object] | None:
        """With auth on, a websocket needs a valid token: in the connection_init payload as
        {"authorization": "Bearer SECRET"}, or in the upgrade's Authorization header. Without
        one the socket is closed with 4403 Forbidden."""
        ctx: Context = context["cq"]
        if ctx.caller is None:
            return _ACK
        params = context.get("connection_params")
        credentials = params.get("authorization") if isinstance(params, dict) else None
        if credentials is None:
            if ctx.caller is NOBODY:
                raise ConnectionRejectionError()
            return _ACK
        websocket: WebSocket = context["request"]
        gate: Gate = websocket.app.state.gate
        try:
            caller = await gate.caller(
                websocket.app.state.ctx, client_address(websocket.scope), credentials
            )
        except CouchQueueError:
            raise ConnectionRejectionError() from None
        context["cq"] = as_caller(websocket.app.state.ctx, caller)
        return _ACK


async def metrics(request: Request) -> Response:
    body = await request.app.state.metrics.render(request.app.state.ctx)
    return Response(body, media_type=METRICS_CONTENT_TYPE)


def create_app(
    settings: Settings | None = None,
    store: Store | None = None,
    clock: Callable[[], float] = time.time,
    start_duties: bool = True,
) -> Starlette:
    """The server for ``settings``. The store is opened at startup from settings.store, unless
    one is given (it is then left open at shutdown: its owner closes it). Tests pass a clock,
    and may leave the background duties off to run their passes themselves."""
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        opened = store if store is not None else await open_store(settings.store)
        notifier = LocalNotifier()
        metrics = Metrics(subscribers=notifier.subscribers)
        events = LocalEvents(taps=[metrics.tap])
        ctx = Context(
            store=opened,
            clock=clock,
            limits=settings.limits(),
            policies=settings.policies(),
            notifier=notifier,
            events=events,
            instruments=metrics,
            queue_cache=QueueCache(max_age=settings.queue_cache_seconds),
            tokens=TokenCache(max_age=settings.token_cache_seconds),
        )
        app.state.metrics = metrics
        app.state.ctx = ctx
        app.state.notifier = notifier
        app.state.events = events
        app.state.readiness = Readiness(opened, settings.store_check_interval)
        watcher = ChangeWatcher(notifier, events)
        duties = DutyRunner(ctx, duties_for(settings, watcher) if start_duties else [])
        duties.start()
        try:
            yield
        finally:
            await duties.stop()
            if store is None:
                await opened.close()

    gate = Gate(settings.auth_failure_limit)
    graphql = CouchQueueGraphQL(build_schema(max_depth=settings.graphql_max_depth))
    # Starlette tries routes in order: the busiest (GraphQL, then publish, claim, report) first.
    routes: list[BaseRoute] = [
        Route("/graphql", graphql, methods=["GET", "POST"]),
        WebSocketRoute("/graphql", graphql),
        *rest.routes,
        Route("/healthz", healthz),
        Route("/readyz", readyz),
        Route("/metrics", metrics),
        *dashboard.routes,
    ]
    app = Starlette(
        routes=routes,
        middleware=[
            Middleware(
                HostCheckMiddleware,
                allowed=AllowedHosts.parse(settings.allowed_hosts, settings.host),
            ),
            Middleware(AuthMiddleware, gate=gate),
            Middleware(BodyLimitMiddleware, max_body_bytes=settings.max_body_bytes),
        ],
        exception_handlers={
            CouchQueueError: rest.handle_couchqueue_error,
            HTTPException: rest.handle_http_error,
            Exception: rest.handle_unexpected_error,
        },
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.gate = gate
    return app
