"""create_app(settings): the Starlette application with GraphQL, the REST routes and health."""

from __future__ import annotations

import re
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import orjson
from cross_web import AsyncHTTPRequestAdapter
from cross_web import HTTPException as StrawberryHTTPException
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import BaseRoute, Route, WebSocketRoute
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError
from strawberry.http import GraphQLHTTPResponse, GraphQLRequestData
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL
from strawberry.types.unset import UNSET, UnsetType

from app import dashboard, graphiql, rest, session
from app.auth import CALLER_SCOPE_KEY, AuthMiddleware, Gate, client_address
from app.body_limit import BodyLimitMiddleware
from app.browser import cors_middleware
from app.graphql_ws import CheckedTransportWSHandler
from app.hangup import until_disconnected
from app.health import Readiness, healthz, readyz
from app.hosts import AllowedHosts, HostCheckMiddleware
from app.loops import DutyRunner, duties_for
from app.metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE
from app.metrics import Metrics
from app.notify import ChangeWatcher, LocalEvents, LocalNotifier
from app.settings import Settings
from app.setups import SetupGate
from app.store import open_store
from app.ws import SOCKET_SCOPE_KEY, until_accepted, watch
from resolvers.access import NOBODY
from resolvers.context import Context
from resolvers.errors import CouchQueueError
from resolvers.queue_cache import QueueCache
from resolvers.store import Store
from resolvers.token_cache import TokenCache
from resolvers.tokens import as_caller
from schema import build_schema
from schema.errors import PARSE_FAILED, VALIDATION_FAILED
from schema.limits import LIMIT_CODES, GraphQLLimits

# Codes of a document refused before it ran: GraphQL over HTTP answers those 400.
REFUSED_DOCUMENT_CODES = LIMIT_CODES | {PARSE_FAILED, VALIDATION_FAILED}
# A JSON body that is an object (or a batch, which Strawberry refuses with its own message).
_JSON_CONTAINER = re.compile(rb"[ \t\r\n]*[{\[]")

# on_ws_connect's answer for a plain connection_ack (Strawberry's UNSET is typed Any).
_ACK: UnsetType = UNSET


class CouchQueueGraphQL(GraphQL[dict[str, Any], None]):
    """Strawberry's ASGI app, handing every resolver the engine context as context["cq"].

    Over a websocket the context also carries the connection's SocketState, and the protocol
    handlers (app/ws.py) record there which subscriptions were still open when the socket went
    away: a push subscriber that vanished, rather than unsubscribed.

    JSON goes through orjson: faster, and it refuses absurd nesting with a decode error (a 400)
    where the standard library would hit Python's recursion limit (a 500). Requests Strawberry
    refuses before execution get a GraphQL-shaped JSON error rather than plain text, and so
    does a JSON body that is not an object. A document refused before it ran (syntax,
    validation, a limit) answers 400, as GraphQL over HTTP has it. Websocket messages are
    checked before Strawberry reads them (app.graphql_ws), and each websocket set-up step
    waits for a slot of ``setups`` (app.setups).
    """

    graphql_transport_ws_handler_class = CheckedTransportWSHandler

    def __init__(self, *args: Any, setups: SetupGate | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.setups = setups or SetupGate()

    async def render_graphql_ide(self, request: Request) -> HTMLResponse:
        # Strawberry's page loads React and GraphiQL from a CDN: ours serves its own copy.
        return graphiql.page()

    def decode_json(self, data: str | bytes) -> object:
        return orjson.loads(data)

    def encode_json(self, data: object) -> str:
        # Text, not bytes: Strawberry sends bytes as binary websocket frames, which standard
        # graphql-transport-ws clients refuse.
        return orjson.dumps(data).decode()

    async def parse_http_body(
        self, request: AsyncHTTPRequestAdapter
    ) -> GraphQLRequestData | list[GraphQLRequestData]:
        # Strawberry calls .get() on whatever the body decodes to: null or 1 was a 500. The
        # body is only looked at, not decoded twice (Starlette keeps it once read).
        json_post = request.method == "POST" and "application/json" in (request.content_type or "")
        if json_post and not _JSON_CONTAINER.match(await request.get_body()):
            raise StrawberryHTTPException(400, "The request body must be a JSON object")
        return await super().parse_http_body(request)

    def create_response(
        self, response_data: GraphQLHTTPResponse | list[GraphQLHTTPResponse], sub_response: Response
    ) -> Response:
        response = super().create_response(response_data, sub_response)
        if isinstance(response_data, dict) and _refused(response_data):
            response.status_code = 400
        return response

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            release = await self.setups.enter()
            try:
                await super().__call__(scope, watch(scope, receive), until_accepted(send, release))
            finally:
                release()
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
        context: dict[str, Any] = {"request": request, "response": response, "cq": ctx}
        if isinstance(request, WebSocket):
            # A socket that goes away cancels its operations: a waiting claim ends with it.
            context["socket"] = request.scope[SOCKET_SCOPE_KEY]
        else:
            context["hung_up"] = lambda: until_disconnected(request.receive)
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


def _refused(response: GraphQLHTTPResponse) -> bool:
    """The document was refused before it ran: no data, and request errors only."""
    errors = response.get("errors")
    if response.get("data") is not None or not errors:
        return False
    return all(_code(error) in REFUSED_DOCUMENT_CODES for error in errors)


def _code(error: object) -> object:
    extensions = error.get("extensions") if isinstance(error, dict) else None
    return extensions.get("code") if isinstance(extensions, dict) else None


def graphql_limits(settings: Settings) -> GraphQLLimits:
    """What one GraphQL document may ask for, from the graphql_* settings."""
    return GraphQLLimits(
        max_tokens=settings.graphql_max_tokens,
        max_depth=settings.graphql_max_depth,
        max_cost=settings.graphql_max_cost,
        max_root_fields=settings.graphql_max_root_fields,
        max_fields=settings.graphql_max_fields,
        max_aliases=settings.graphql_max_aliases,
        max_directives=settings.graphql_max_directives,
        max_arguments=settings.graphql_max_arguments,
        max_variables=settings.graphql_max_variables,
        max_page_size=settings.max_page_size,
    )


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
        opened = (
            store if store is not None else await open_store(settings.store, settings.policies())
        )
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
    schema = build_schema(
        graphql_limits(settings),
        cache_bytes=settings.graphql_cache_bytes,
        cache_document_bytes=settings.graphql_cache_document_bytes,
    )
    # graphql-transport-ws only: the legacy graphql-ws protocol's handler is not hardened
    # against malformed messages, and no client of ours speaks it.
    graphql = CouchQueueGraphQL(schema, subscription_protocols=(GRAPHQL_TRANSPORT_WS_PROTOCOL,))
    # Starlette tries routes in order: the busiest (GraphQL, then publish, claim, report) first.
    routes: list[BaseRoute] = [
        Route("/graphql", graphql, methods=["GET", "POST"]),
        WebSocketRoute("/graphql", graphql),
        *rest.routes,
        Route("/healthz", healthz),
        Route("/readyz", readyz),
        Route("/metrics", metrics),
        *session.routes,
        *dashboard.routes,
        *graphiql.routes,
    ]
    app = Starlette(
        routes=routes,
        middleware=[
            *cors_middleware(settings),
            Middleware(
                HostCheckMiddleware,
                allowed=AllowedHosts.parse(settings.allowed_hosts, settings.host),
                origins=settings.cors_origins(),
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
    app.state.setups = graphql.setups
    return app
