"""What browsers send that other clients do not: the session cookie, and the Origin (or
Referer) that says which site's page made a request.

A request the cookie authenticates may change something only when it comes from a page of
this server: its Origin (or, without one, its Referer) must be the server's own origin. Other
sites' pages cannot then act through a signed-in visitor's browser (CSRF), whatever
--allowed-hosts and --cors-origin allow. Bearer requests are not browsers' and are not checked.

CORS headers are sent only for the --cors-origin origins, and never allow credentials.
"""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import orjson
from starlette.datastructures import Headers
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.responses import Response
from starlette.types import Scope

from app.settings import Settings
from resolvers.errors import Forbidden
from resolvers.sessions import MAX_SESSION_CHARS

COOKIE_NAME = "couchqueue_session"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return str(value.decode("latin-1"))
    return None


def session_cookie(scope: Scope) -> str | None:
    """The session cookie's value, if the request carries one (cut beyond what a session can
    be: resolvers.sessions refuses it)."""
    raw = header(scope, b"cookie")
    if raw is None:
        return None
    for part in raw.split(";"):
        name, _, value = part.strip().partition("=")
        # A name with '@' makes the value one that cookies quote.
        value = value[1:-1] if len(value) > 1 and value[0] == value[-1] == '"' else value
        if name == COOKIE_NAME and value:
            return value[: MAX_SESSION_CHARS + 1]
    return None


def own_origin(scope: Scope) -> str:
    """scheme://host[:port] of this server as the request reached it."""
    scheme = str(scope.get("scheme", "http"))
    scheme = {"ws": "http", "wss": "https"}.get(scheme, scheme)
    return f"{scheme}://{(header(scope, b'host') or '').strip().lower()}"


def request_origin(scope: Scope) -> str | None:
    """The Origin header, or the origin of the Referer without one; None if neither."""
    origin = header(scope, b"origin")
    if origin is not None:
        return origin.strip().lower()
    referer = header(scope, b"referer")
    if referer is None:
        return None
    try:
        parts = urlsplit(referer.strip())
    except ValueError:
        return None
    return f"{parts.scheme}://{parts.netloc}".lower() if parts.scheme and parts.netloc else None


def check_same_origin(scope: Scope) -> None:
    """Raise Forbidden unless the request comes from a page of this server."""
    if request_origin(scope) != own_origin(scope):
        raise Forbidden(
            "a request signed in by the dashboard's cookie must come from this server's own "
            "pages (its Origin or Referer is another site's, or missing)",
            param="origin",
        )


def is_page_load(scope: Scope) -> bool:
    """A browser opening GraphiQL (GET /graphql for HTML, no query to run), as Strawberry tells
    it from an API call."""
    if scope["type"] != "http" or scope["method"] != "GET" or scope["path"] != "/graphql":
        return False
    accept = header(scope, b"accept") or ""
    query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
    return ("text/html" in accept or "*/*" in accept) and "query" not in query


def changes_state(scope: Scope, operation: str | None) -> bool:
    """Whether the request may change something: any method but GET/HEAD/OPTIONS, a GET route
    that is a mutation (GET /task claims), and a websocket (it can run mutations)."""
    if scope["type"] == "websocket":
        return True
    return scope["method"] not in SAFE_METHODS or (operation or "").startswith("Mutation.")


class JsonCORSMiddleware(CORSMiddleware):
    """Starlette's CORS, with a refused preflight answered in the API's JSON error shape."""

    def preflight_response(self, request_headers: Headers) -> Response:
        response = super().preflight_response(request_headers)
        if response.status_code < 400:
            return response
        reason = bytes(response.body).decode()
        body = {"error": {"code": "CORS_REFUSED", "message": reason, "param": "origin"}}
        response.body = orjson.dumps(body)
        response.headers["content-type"] = "application/json"
        response.headers["content-length"] = str(len(response.body))
        return response


def cors_middleware(settings: Settings) -> list[Middleware]:
    """CORS for the --cors-origin origins only, and for bearer tokens only: no credentials, so
    their pages never ride on a dashboard session. Without --cors-origin, no CORS header at
    all. Outermost, so a preflight is answered before anything asks it for a token."""
    origins = settings.cors_origins()
    if not origins:
        return []
    return [
        Middleware(
            JsonCORSMiddleware,
            allow_origins=origins,
            allow_methods=["GET", "POST", "PUT", "DELETE"],
            allow_headers=["authorization", "content-type"],
            allow_credentials=False,
            max_age=600,
        )
    ]
