"""The task page of a pipeline step (issue 16): its result and progress, its follow-up tasks
listed and linked, and each follow-up linking back to its parent."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.dashboard.conftest import Couch, Site, needs_chromium

pytestmark = [pytest.mark.browser, needs_chromium]


def test_task_page_links_parent_and_children(site: Site, couch: Couch) -> None:
    parent_queue = couch.queue()
    child_queue = couch.queue({"after": f"^{parent_queue}$"})
    worker = couch.worker(parent_queue)
    [parent] = couch.publish({"q": parent_queue})
    assert (claimed := couch.claim(worker)) is not None and claimed["taskId"] == parent
    progress = {"workerId": worker, "taskId": parent, "progress": {"pages": 3}}
    couch.http.put("/task/progress", json=progress).raise_for_status()
    page = site.open(f"task/{parent}")
    expect(page.locator("#progress")).to_contain_text('"pages": 3')
    expect(page.locator("#children")).to_contain_text("No follow-up tasks.")
    done = {
        "workerId": worker,
        "taskId": parent,
        "state": "complete",
        "result": {"pdf": "out.pdf"},
        "publish": [{"publisher": "pytest", "data": {"after": parent_queue}}],
    }
    couch.http.post("/task", json=done).raise_for_status()
    # The completion reaches the open page through the live feed, with its follow-up.
    children = page.locator("#children")
    expect(children).to_contain_text(child_queue)
    expect(page.locator("#result")).to_contain_text('"pdf": "out.pdf"')
    site.screenshot("task-follow-ups")
    [child] = couch.gql(
        "query($q: String!) { tasks(queue: $q) { tasks { id parentTaskId } } }", q=child_queue
    )["tasks"]["tasks"]
    assert child["parentTaskId"] == parent
    children.get_by_role("link", name=child["id"][:8]).click()
    expect(page.locator("main h1")).to_contain_text(f"Task {child['id'][:8]}")
    details = page.locator("#details")
    details.get_by_role("link", name=parent[:8]).click()
    expect(page.locator("main h1")).to_contain_text(f"Task {parent[:8]}")
    expect(page.locator("#children")).to_contain_text(child["id"][:8])
