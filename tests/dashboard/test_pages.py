"""Every page loads without a console error, at desktop and at phone width (390 px; no sideways
scrolling), with a screenshot of each under tests/artifacts/."""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.dashboard.conftest import Couch, Site, needs_chromium

pytestmark = [pytest.mark.browser, needs_chromium]


@pytest.fixture(scope="module")
def demo(couch: Couch) -> dict[str, Any]:
    """A little of everything, so each page has something to show."""
    queue = couch.queue({"kind": "^order"}, name=f"orders-{uuid.uuid4().hex[:4]}")
    worker = couch.worker(queue, name="order-worker-1")
    published = [
        couch.publish({"kind": "order.created", "orderId": n, "total": n * 7.5})[0]
        for n in range(12)
    ]
    for n in range(3):
        task = couch.claim(worker)
        assert task is not None
        couch.report(worker, task["taskId"], "fail", f"card declined ({n})")
    task = couch.claim(worker)
    assert task is not None
    couch.report(worker, task["taskId"], "complete")
    assert couch.claim(worker) is not None  # one left started
    couch.publish({"kind": "order.reminder", "orderId": 99}, runAt=time.time() + 7200)
    schedule = {
        "name": f"nightly-{queue}",
        "cron": "0 3 * * *",
        "timezone": "Europe/Paris",
        "publisher": "cron",
        "data": {"kind": "order.report"},
    }
    couch.gql("mutation($i: ScheduleInput!) { createSchedule(input: $i) { name } }", i=schedule)
    return {"queue": queue, "worker": worker, "task": published[0]}


def pages(demo: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(artifact name, route, the page's heading)."""
    return [
        ("overview", "", "Overview"),
        ("queue", f"queue/{demo['queue']}", demo["queue"]),
        ("task", f"task/{demo['task']}", f"Task {demo['task'][:8]}"),
        ("workers", "workers", "Workers"),
        ("failed", "failed", "Failed tasks"),
        ("retries", "retries", "Retries"),
        ("scheduled", "scheduled", "Scheduled"),
        ("search", f"search?field=kind&value=order&queue={demo['queue']}", "Search"),
    ]


def test_every_page_loads(site: Site, demo: dict[str, Any]) -> None:
    page = site.open()
    for name, route, heading in pages(demo):
        site.go(route)
        expect(page.locator("main h1").first).to_contain_text(heading)
        expect(page.locator("main .alert-error")).to_have_count(0)
        site.screenshot(name)
    # What each page is for is on it.
    site.go("")
    page.get_by_role("button", name="Last 24 h").click()
    expect(page.get_by_role("button", name="Last 24 h")).to_have_attribute("aria-pressed", "true")
    expect(page.locator("#throughput .legend")).to_contain_text("per 10 minutes")
    expect(page.locator("#throughput svg polyline")).to_have_count(3)
    site.go(f"queue/{demo['queue']}?state=all")
    for state in ("queued", "started", "completed", "failed", "scheduled"):
        expect(page.locator(f"#tasks .badge-{state}").first).to_be_visible()
    site.go(f"task/{demo['task']}")
    expect(page.locator("#failures")).to_contain_text("card declined (0)")
    expect(page.locator("pre.json")).to_contain_text('"orderId": 0')
    site.go("workers")
    expect(page.get_by_role("cell", name="order-worker-1")).to_have_count(1)
    site.go("scheduled")
    expect(page.locator("#schedules")).to_contain_text(f"nightly-{demo['queue']}")
    expect(page.locator("#delayed")).to_contain_text("order.reminder")


def test_narrow_window_has_no_sideways_scroll(site: Site, demo: dict[str, Any]) -> None:
    page = site.page
    page.set_viewport_size({"width": 390, "height": 844})
    site.open()
    for name, route, heading in pages(demo):
        site.go(route)
        expect(page.locator("main h1").first).to_contain_text(heading)
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, f"{name}: the page is {width}px wide in a 390px window"
        site.screenshot(f"{name}-narrow")
