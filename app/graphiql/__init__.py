"""GraphiQL at /graphql, on this server's own copy of its scripts (static/vendor/, from the npm
registry, with their licences): it works with no internet access, where Strawberry's page loads
React and GraphiQL from a CDN. Its requests carry the dashboard's session cookie (sign in at
/dashboard/ first), or an Authorization header typed into its Headers tab."""

from __future__ import annotations

from pathlib import Path

from starlette.responses import HTMLResponse, Response
from starlette.routing import BaseRoute, Mount
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

STATIC_DIR = Path(__file__).parent / "static"
PAGE = (Path(__file__).parent / "page.html").read_text(encoding="utf-8")

# GraphiQL's React components set inline styles, and its fonts are data: URLs in its CSS.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; font-src 'self' data:; "
        "style-src 'self' 'unsafe-inline'; script-src 'self'; connect-src 'self'; "
        "frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    # Other sites get no Referer; this server's requests keep their Origin, which the CSRF rule
    # needs (under no-referrer, the Fetch standard sends a POST's Origin as "null").
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-cache",
}


def page() -> HTMLResponse:
    """The GraphiQL page, which loads its scripts from /graphiql/."""
    return HTMLResponse(PAGE, headers=SECURITY_HEADERS)


class GraphiQLFiles(StaticFiles):
    """StaticFiles with the page's security and caching headers on every answer."""

    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await super().get_response(path, scope)
        response.headers.update(SECURITY_HEADERS)
        return response


routes: list[BaseRoute] = [
    Mount("/graphiql", app=GraphiQLFiles(directory=STATIC_DIR), name="graphiql"),
]
