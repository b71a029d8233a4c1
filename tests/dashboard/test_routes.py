"""The site's files as the server serves them (no browser needed): where / and /dashboard
lead, what the files are sent as, and that nothing is loaded from anywhere else."""

from __future__ import annotations

import re

import httpx
import pytest

from app.dashboard import STATIC_DIR
from tests.dashboard.conftest import Couch


@pytest.fixture
def client(couch: Couch) -> httpx.Client:
    return couch.http


@pytest.mark.parametrize("path", ["/", "/dashboard"])
def test_root_and_bare_path_lead_to_the_site(client: httpx.Client, path: str) -> None:
    reply = client.get(path)
    assert reply.status_code == 307
    assert reply.headers["location"] == "dashboard/"  # relative: /dashboard/ from either


def test_index_is_served_with_a_strict_policy(client: httpx.Client) -> None:
    reply = client.get("/dashboard/")
    assert reply.status_code == 200
    assert reply.headers["content-type"].startswith("text/html")
    assert '<script type="module" src="js/main.js">' in reply.text
    policy = reply.headers["content-security-policy"]
    assert "default-src 'self'" in policy and "script-src 'self'" in policy
    assert reply.headers["x-content-type-options"] == "nosniff"
    # Not no-referrer: browsers following the Fetch standard would then send the page's POSTs
    # with "Origin: null", which the CSRF rule refuses when signed in.
    assert reply.headers["referrer-policy"] == "same-origin"


def test_modules_and_styles_have_their_types(client: httpx.Client) -> None:
    script = client.get("/dashboard/js/main.js")
    assert script.status_code == 200
    assert "javascript" in script.headers["content-type"]
    style = client.get("/dashboard/style.css")
    assert style.headers["content-type"].startswith("text/css")
    assert client.get("/dashboard/js/nope.js").status_code == 404


def test_every_module_imported_exists_and_nothing_comes_from_elsewhere() -> None:
    files = [p for p in STATIC_DIR.rglob("*") if p.is_file()]
    assert files
    for path in files:
        text = path.read_text()
        # No CDN, no web font, no absolute URL: the site works with no internet at all.
        remote = re.findall(r"""(?:https?:)?//[a-z0-9.-]+\.[a-z]{2,}""", text, re.I)
        remote = [url for url in remote if not url.endswith("//www.w3.org")]  # SVG namespace
        assert remote == [], f"{path.name} refers to {remote}"
        if path.suffix == ".js":
            for target in re.findall(r"""\bfrom "(\.{1,2}/[^"]+)";""", text):
                assert (path.parent / target).resolve().is_file(), f"{path.name}: {target}"
