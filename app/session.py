"""The dashboard's sign-in: a token typed into the page becomes a session cookie.

POST /dashboard/session ``{"token": SECRET}`` checks the token (an unknown one counts towards
the address's 429 limit, as a bad bearer token does) and sets the cookie; GET answers who the
session is (``{"auth": false}`` while auth is off); DELETE clears it. The cookie is HttpOnly
(page scripts never see it), SameSite=Strict (other sites' pages do not send it), Secure when
served over https, and ends after ``--session-seconds``. What it holds and how it is verified:
resolvers/sessions.py; the same-origin rule for what it may change: app/browser.py.
"""

from __future__ import annotations

from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from app.auth import Gate, client_address
from app.browser import COOKIE_NAME, check_same_origin, session_cookie
from resolvers.access import Caller
from resolvers.context import Context
from resolvers.errors import InvalidInput, MalformedJson, Unauthenticated
from resolvers.sessions import open_session, session_caller
from resolvers.tokens import auth_enabled

# A secret is 46 characters; anything much longer is not one.
MAX_TOKEN_CHARS = 200
SESSION_PATH = "/dashboard/session"


def _ctx(request: Request) -> Context:
    ctx: Context = request.app.state.ctx
    return ctx


def _who(caller: Caller | None, expires: int | None = None) -> dict[str, Any]:
    if caller is None:
        return {"auth": False}
    found: dict[str, Any] = {"auth": True, "name": caller.name, "roles": sorted(caller.roles)}
    if expires is not None:
        found["expires"] = expires
    return found


def cookie_options(request: Request) -> dict[str, Any]:
    """The session cookie's attributes: Secure when the request came over https."""
    return {
        "path": "/",
        "httponly": True,
        "samesite": "strict",
        "secure": request.url.scheme in ("https", "wss"),
    }


async def current_session(request: Request) -> Response:
    """Who the request's session is; 401 without a valid one while auth is on."""
    ctx = _ctx(request)
    if not await auth_enabled(ctx):
        return JSONResponse(_who(None))
    session = session_cookie(request.scope)
    if session is None:
        raise Unauthenticated("not signed in")
    return JSONResponse(_who(await session_caller(ctx, session)))


async def sign_in(request: Request) -> Response:
    check_same_origin(request.scope)
    token = _token_of(await request.body())
    gate: Gate = request.app.state.gate
    address = client_address(request.scope)
    gate.failures.check(address)
    seconds = request.app.state.settings.session_seconds
    try:
        opened = await open_session(_ctx(request), f"Bearer {token}", seconds)
    except Unauthenticated:
        gate.failures.failed(address)
        raise Unauthenticated("unknown or revoked token", param="token") from None
    if opened is None:
        return JSONResponse(_who(None))
    caller, value, expires = opened
    response = JSONResponse(_who(caller, expires))
    response.set_cookie(COOKIE_NAME, value, max_age=int(seconds), **cookie_options(request))
    return response


async def sign_out(request: Request) -> Response:
    # Signing someone out from another site does little harm, but no other site has reason to.
    if session_cookie(request.scope) is not None:
        check_same_origin(request.scope)
    response = JSONResponse({"signedOut": True})
    response.delete_cookie(COOKIE_NAME, **cookie_options(request))
    return response


def _token_of(body: bytes) -> str:
    try:
        decoded = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise MalformedJson('the body must be JSON: {"token": "..."}') from None
    token = decoded.get("token") if isinstance(decoded, dict) else None
    if not isinstance(token, str) or not token.strip():
        raise InvalidInput("a token's secret is required", param="token")
    if len(token) > MAX_TOKEN_CHARS:
        raise InvalidInput("not a token (too long)", param="token")
    return token.strip()


routes: list[BaseRoute] = [
    Route(SESSION_PATH, current_session, methods=["GET"]),
    Route(SESSION_PATH, sign_in, methods=["POST"]),
    Route(SESSION_PATH, sign_out, methods=["DELETE"]),
]
