"""The management site: static HTML, CSS and ES modules under /dashboard, talking only to the
server's own GraphQL API (POST /graphql and the graphql-transport-ws feed of `events`).

Nothing is built at install time and nothing is fetched from elsewhere: the browser loads the
files in ``static/`` as they are."""

from __future__ import annotations

from pathlib import Path

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

STATIC_DIR = Path(__file__).parent / "static"

# Everything the site loads comes from this server; the feed is a same-origin websocket.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    # Other sites get no Referer; this server's requests keep their Origin, which the CSRF rule
    # needs (under no-referrer, the Fetch standard sends a POST's Origin as "null").
    "Referrer-Policy": "same-origin",
    # Revalidate on every load (cheap: ETag), so an upgraded server never runs stale modules.
    "Cache-Control": "no-cache",
}


class DashboardFiles(StaticFiles):
    """StaticFiles with the site's security and caching headers on every answer."""

    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await super().get_response(path, scope)
        response.headers.update(SECURITY_HEADERS)
        return response


async def to_dashboard(request: Request) -> Response:
    """The site lives under /dashboard/ (its relative URLs need the trailing slash). The target
    is relative, so it holds behind a proxy that mounts the server under a prefix."""
    return RedirectResponse("dashboard/", status_code=307)


routes: list[BaseRoute] = [
    Route("/", to_dashboard, methods=["GET"]),
    Route("/dashboard", to_dashboard, methods=["GET"]),
    Mount("/dashboard", app=DashboardFiles(directory=STATIC_DIR, html=True), name="dashboard"),
]
