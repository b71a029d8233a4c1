"""The queue page shows a queue's flow limits, their use and what they hold back, and sets
them (an empty field removes a limit)."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import expect

from tests.dashboard.conftest import Couch, Site

LIMITS = "query($q: String!) { queue(name: $q) { settings { maxStarted rateLimit } } }"


def save(page: Any) -> None:
    """Save the settings form and wait for its answer: the form shows the saved settings
    again before the button comes back, which would overwrite a field filled sooner."""
    button = page.get_by_role("button", name="Save settings")
    button.click()
    expect(button).to_be_enabled()


def test_the_queue_page_shows_and_sets_flow_limits(site: Site, couch: Couch) -> None:
    queue = couch.queue()
    couch.publish_many([{"q": queue, "n": n} for n in range(3)])
    page = site.open(f"queue/{queue}")
    expect(page.locator("[data-count=queued]")).to_have_text("3")
    expect(page.locator("[data-count=max-started]")).to_have_count(0)
    page.get_by_label("Max started").fill("1")
    page.get_by_label("Rate limit").fill("100")
    page.get_by_label("Rate period (s)").fill("3600")
    save(page)
    expect(page.locator("#settings-error")).to_be_empty()
    assert couch.gql(LIMITS, q=queue)["queue"]["settings"] == {"maxStarted": 1, "rateLimit": 100}
    worker = couch.worker(queue)
    assert couch.claim(worker) is not None
    assert couch.claim(worker) is None
    site.go(f"queue/{queue}")
    tile = page.locator(".tile").filter(has=page.locator("[data-count=max-started]"))
    expect(tile.locator("[data-count=max-started]")).to_have_text("1 / 1")
    expect(tile).to_contain_text("2 held")
    expect(page.locator("[data-count=rate]")).to_have_text("1 / 100")
    page.get_by_label("Max started").fill("")
    save(page)
    expect(page.locator("#settings-error")).to_be_empty()
    assert couch.gql(LIMITS, q=queue)["queue"]["settings"] == {"maxStarted": None, "rateLimit": 100}
    page.get_by_label("Max started").fill("0")
    save(page)
    expect(page.locator("#settings-error")).to_contain_text("maxStarted must be a positive integer")
