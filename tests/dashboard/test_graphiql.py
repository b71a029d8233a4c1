"""GraphiQL at /graphql with no internet: its scripts come from this server, in Chromium with
every request to anything but 127.0.0.1 refused; it runs a query over the dashboard's session."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote, urlsplit

import httpx
import pytest
from playwright.sync_api import expect

from tests.dashboard.conftest import AuthServer, Site, needs_chromium, sign_in

VENDOR = ("react.production.min.js", "react-dom.production.min.js", "graphiql.min.js")


def offline(site: Site) -> list[str]:
    """Refuse every request that leaves 127.0.0.1; the list of those refused."""
    refused: list[str] = []

    def handle(route: Any) -> None:
        if urlsplit(route.request.url).hostname == "127.0.0.1":
            route.continue_()
        else:
            refused.append(route.request.url)
            route.abort()

    site.page.context.route("**/*", handle)
    return refused


def test_graphiql_page_and_its_scripts_are_served_from_here(auth_server: AuthServer) -> None:
    admin = {"authorization": f"Bearer {auth_server.secrets['admin']}"}
    with httpx.Client(base_url=auth_server.url, timeout=10) as client:
        page = client.get("/graphql", headers={**admin, "accept": "text/html"})
        assert page.status_code == 200 and "text/html" in page.headers["content-type"]
        assert "//" not in page.text.replace("<!doctype", "")  # no absolute or CDN address
        assert "script-src 'self'" in page.headers["content-security-policy"]
        assert page.headers["referrer-policy"] == "same-origin"  # see test_routes.py
        for name in VENDOR:
            script = client.get(f"/graphiql/vendor/{name}")  # no data in them: open to all
            assert script.status_code == 200, name
            assert "javascript" in script.headers["content-type"]
        for licence in ("graphiql", "react", "react-dom"):
            assert "MIT License" in client.get(f"/graphiql/vendor/{licence}.LICENSE").text
        # Without a session or token a browser is sent to the sign-in; an API call gets 401.
        anonymous = client.get("/graphql", headers={"accept": "text/html"})
        assert anonymous.status_code == 303 and anonymous.headers["location"] == "dashboard/"
        api = client.get("/graphql", params={"query": "{ status { queues } }"})
        assert api.status_code == 401


@pytest.mark.browser
@needs_chromium
def test_graphiql_runs_a_query_offline_on_the_session(
    signed: Site, auth_server: AuthServer
) -> None:
    refused = offline(signed)
    page = sign_in(signed, auth_server.secrets["viewer"])
    page.goto(f"{signed.base}/graphql?q={quote('{ status { queues workers } }')}")
    page.locator(".graphiql-execute-button").click()
    expect(page.locator(".graphiql-response")).to_contain_text('"workers"', timeout=10_000)
    expect(page.locator(".graphiql-response")).not_to_contain_text("UNAUTHENTICATED")
    assert refused == []
