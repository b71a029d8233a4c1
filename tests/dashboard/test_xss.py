"""Stored XSS, in Chromium: markup put in every field a page shows (task data, its keys,
publisher, fail reasons, queue name, worker name, schedule name) is shown as text on every page
and never runs. A payload that ran would set window.__xss and the title; one turned into markup
would leave an <img src=x>, a <script> or an on* attribute in the page; one the Content
Security Policy stopped would log a console error, which fails the test too."""

from __future__ import annotations

import time
import uuid
from typing import Any
from urllib.parse import quote

import pytest

from tests.dashboard.conftest import Couch, Site, needs_chromium

pytestmark = [pytest.mark.browser, needs_chromium]

RUN = "__xss=1;document.title='XSS'"
PAYLOAD = f'<img src=x onerror="{RUN}"><script>{RUN}</script>"\'><svg onload="{RUN}"></svg>'


@pytest.fixture(scope="module")
def stored(couch: Couch) -> dict[str, Any]:
    """The payload everywhere a client can put text the dashboard shows."""
    tag = f"xss-{uuid.uuid4().hex[:6]}"
    queue = couch.queue({"kind": f"^{tag}$"}, name=f"{PAYLOAD}{tag}")
    worker = couch.worker(queue, name=PAYLOAD)
    data = {"kind": tag, "html": PAYLOAD, PAYLOAD: [PAYLOAD]}
    failed = couch.publish(data, publisher=PAYLOAD)[0]
    started = couch.publish(data, publisher=PAYLOAD)[0]
    task = couch.claim(worker)
    assert task is not None and task["taskId"] == failed
    couch.report(worker, failed, "fail", PAYLOAD)
    assert couch.claim(worker) is not None  # `started` stays with the worker
    couch.publish(data, publisher=PAYLOAD, runAt=time.time() + 3600)
    couch.publish(data, publisher=PAYLOAD)  # one waiting
    schedule = {
        "name": f"{PAYLOAD}{tag}",
        "cron": "0 3 * * *",
        "publisher": PAYLOAD,
        "data": data,
    }
    couch.gql("mutation($i: ScheduleInput!) { createSchedule(input: $i) { name } }", i=schedule)
    return {"queue": queue, "failed": failed, "started": started, "tag": tag}


def routes(stored: dict[str, Any]) -> list[str]:
    queue = quote(stored["queue"], safe="")
    return [
        "",
        f"queue/{queue}",
        f"queue/{queue}?state=all",
        f"task/{stored['failed']}",
        f"task/{stored['started']}",
        "workers",
        "failed",
        f"failed?reason={quote(PAYLOAD[:20], safe='')}",
        "scheduled",
        f"search?field=html&value={quote(PAYLOAD[:10], safe='')}",
        f"search?field=kind&value={stored['tag']}&queue={queue}",
    ]


def assert_nothing_ran(page: Any, route: str) -> None:
    assert page.evaluate("window.__xss") is None, route
    assert page.title() != "XSS", route
    injected = page.evaluate(
        """() => ({
            images: document.querySelectorAll('img[src="x"]').length,
            scripts: [...document.scripts].filter((s) => !s.src).length,
            handlers: [...document.querySelectorAll('*')].filter((el) =>
                [...el.attributes].some((a) => a.name.startsWith('on'))).length,
        })"""
    )
    assert injected == {"images": 0, "scripts": 0, "handlers": 0}, (route, injected)


def test_markup_in_every_field_is_shown_as_text_and_never_runs(
    site: Site, stored: dict[str, Any]
) -> None:
    page = site.open("")
    assert_nothing_ran(page, "")
    for route in routes(stored)[1:]:
        site.go(route)
        page.wait_for_timeout(150)  # the rows come with the page's data
        assert_nothing_ran(page, route)
        if route.startswith(("queue", "task", "failed?", "scheduled")):
            # The payload is there, as the text it is.
            assert "<img src=x" in page.locator("main").inner_text(), route
    site.go(f"queue/{quote(stored['queue'], safe='')}")
    assert page.locator("h1").first.inner_text().startswith("<img src=x")
