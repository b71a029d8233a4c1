"""What the dashboard's buttons do, checked from the outside: through REST and GraphQL as
another client sees the server afterwards."""

from __future__ import annotations

import re
import time

import pytest
from playwright.sync_api import expect

from tests.dashboard.conftest import Couch, Site, needs_chromium

pytestmark = [pytest.mark.browser, needs_chromium]

QUEUED = 'query($q: String!) { tasks(queue: $q, state: "queued") { tasks { id failures { at } } } }'
INTERESTS = "query($q: String!) { queue(name: $q) { interests } }"
TASK_STATE = "query($id: ID!) { task(id: $id) { state } }"


def test_task_published_elsewhere_shows_on_overview_without_reload(
    site: Site, couch: Couch
) -> None:
    queue = couch.queue({"topic": "^live$"})
    page = site.open()
    row = page.locator("#queues tr", has=page.get_by_role("link", name=queue, exact=True))
    queued = row.locator("td.c-queued")
    expect(queued).to_have_text("0")
    page.evaluate("window.__sameDocument = true")
    couch.publish({"topic": "live"})
    couch.publish({"topic": "live"})
    expect(queued).to_have_text("2")
    assert page.evaluate("window.__sameDocument") is True, "the page was reloaded"
    site.screenshot("overview-live")


def test_pause_stops_delivery_and_resume_brings_it_back(site: Site, couch: Couch) -> None:
    queue = couch.queue()
    worker = couch.worker(queue)
    [task_id] = couch.publish({"q": queue, "n": 1})
    page = site.open(f"queue/{queue}")
    page.get_by_role("button", name="Pause", exact=True).click()
    expect(page.locator("main h1 .badge-paused")).to_be_visible()
    assert couch.counts(queue)["paused"] is True
    assert couch.claim(worker) is None
    site.screenshot("queue-paused")
    page.get_by_role("button", name="Resume", exact=True).click()
    expect(page.locator("main h1 .badge-paused")).to_have_count(0)
    claimed = couch.claim(worker)
    assert claimed is not None and claimed["taskId"] == task_id


def test_retry_all_on_failed_page_requeues_the_tasks(site: Site, couch: Couch) -> None:
    queue = couch.queue()
    worker = couch.worker(queue)
    for n in range(3):
        couch.publish({"q": queue, "n": n})
    failed = []
    for n in range(3):
        task = couch.claim(worker)
        assert task is not None
        couch.report(worker, task["taskId"], "fail", f"boom {n}")
        failed.append(task["taskId"])
    page = site.open("failed")
    for task_id in failed:
        expect(page.get_by_role("link", name=task_id[:8])).to_be_visible()
    page.locator("#failed").get_by_role("button", name="Retry all").click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text("Put every failed task")
    dialog.get_by_role("button", name="Retry all").click()
    expect(page.get_by_role("status").filter(has_text="put back in their queues")).to_be_visible()
    for task_id in failed:
        expect(page.get_by_role("link", name=task_id[:8])).to_have_count(0)

    queued = couch.gql(QUEUED, q=queue)["tasks"]["tasks"]
    assert sorted(t["id"] for t in queued) == sorted(failed)
    assert all(len(t["failures"]) == 1 for t in queued)  # their history is kept
    assert couch.counts(queue)["failed"] == 0
    again = couch.claim(worker)
    assert again is not None and again["taskId"] in failed


def test_invalid_regex_is_shown_next_to_the_interests_editor(site: Site, couch: Couch) -> None:
    queue = couch.queue({"email": "@example\\.com$"})
    page = site.open(f"queue/{queue}")
    editor = page.get_by_label("Interests (JSON)")
    expect(editor).to_have_value(re.compile(r"example"))
    editor.fill('{"email": "(unclosed", "name": "^ok$"}')
    page.get_by_role("button", name="Save interests").click()
    error = page.locator("#interests-error")
    expect(error).to_contain_text("invalid regex")
    expect(error).to_contain_text("interests.email")
    expect(error).to_contain_text("INVALID_REGEX")
    expect(editor).to_have_attribute("aria-invalid", "true")
    site.screenshot("interests-error")
    stored = couch.gql(INTERESTS, q=queue)["queue"]["interests"]
    assert stored == {"email": "@example\\.com$"}

    editor.fill("not json")
    page.get_by_role("button", name="Save interests").click()
    expect(error).to_contain_text("Not valid JSON")

    editor.fill('{"name": "^ok$"}')
    page.get_by_role("button", name="Save interests").click()
    expect(error).to_be_empty()
    assert couch.gql(INTERESTS, q=queue)["queue"]["interests"] == {"name": "^ok$"}


def test_destructive_action_asks_first(site: Site, couch: Couch) -> None:
    queue = couch.queue()
    for n in range(3):
        couch.publish({"q": queue, "n": n})
    page = site.open(f"queue/{queue}")
    clear = page.get_by_role("button", name="Clear", exact=True)

    clear.click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text(f"Remove all 3 waiting tasks of queue “{queue}”")
    site.screenshot("confirm", full_page=False)
    dialog.get_by_role("button", name="Cancel").click()
    expect(dialog).to_have_count(0)
    page.wait_for_timeout(300)
    assert couch.counts(queue)["queued"] == 3

    clear.click()
    page.get_by_role("dialog").get_by_role("button", name="Clear queue").click()
    expect(page.locator('[data-count="queued"]')).to_have_text("0")
    assert couch.counts(queue)["queued"] == 0


def test_server_errors_are_shown(site: Site, couch: Couch) -> None:
    queue = couch.queue()
    page = site.open(f"queue/{queue}")
    page.get_by_label("Lease (seconds)").fill("0")
    page.get_by_role("button", name="Save settings").click()
    error = page.locator("#settings-error")
    expect(error).to_contain_text("leaseSeconds must be between 1 and 86400")
    page.get_by_label("Lease (seconds)").fill("42")
    page.get_by_label("Retry delays (s)").fill("5, 30")
    page.get_by_role("button", name="Save settings").click()
    expect(error).to_be_empty()
    settings = couch.gql(
        "query($q: String!) { queue(name: $q) { settings { leaseSeconds retry { delays } } } }",
        q=queue,
    )["queue"]["settings"]
    assert settings == {"leaseSeconds": 42.0, "retry": {"delays": [5.0, 30.0]}}

    site.go("queue/no-such-queue")
    expect(page.get_by_role("alert").filter(has_text="QUEUE_NOT_FOUND")).to_be_visible()


def test_search_by_id_and_by_data(site: Site, couch: Couch) -> None:
    queue = couch.queue()
    [wanted] = couch.publish({"q": queue, "user": {"email": "Needle@Example.com"}})
    couch.publish({"q": queue, "user": {"email": "hay@example.com"}})
    page = site.open("search")
    page.get_by_label("Field").fill("user.email")
    page.get_by_label("Value contains").fill("needle")
    page.get_by_label("Queue").fill(queue)
    page.get_by_role("button", name="Search", exact=True).click()
    expect(page.locator("#by-data tbody tr")).to_have_count(1)
    expect(page.get_by_role("link", name=wanted[:8])).to_be_visible()
    expect(page.get_by_role("button", name="Search further")).to_be_hidden()

    # More matches than one answer holds: the rest come by following the server's cursor.
    couch.publish_many([{"q": queue, "user": {"email": f"needle{n}@x"}} for n in range(250)])
    page.get_by_role("button", name="Search", exact=True).click()
    further = page.get_by_role("button", name="Search further")
    expect(further).to_be_visible()
    rows = page.locator("#by-data tbody tr")
    assert 100 <= rows.count() < 251
    while further.is_visible():
        before = rows.count()
        further.click()
        expect(rows).not_to_have_count(before)
    expect(rows).to_have_count(251)
    expect(page.locator("#by-data [role=status]")).to_contain_text("every task was searched")

    page.get_by_label("Task id").fill(wanted)
    page.get_by_role("button", name="Open").click()
    expect(page.locator("main h1")).to_contain_text(f"Task {wanted[:8]}")
    expect(page.locator("pre.json")).to_contain_text("Needle@Example.com")

    site.go("search")
    page.get_by_label("Task id").fill("0" * 32)
    page.get_by_role("button", name="Open").click()
    expect(page.locator("#by-id .field-error")).to_contain_text("TASK_NOT_FOUND")


def test_scheduled_task_runs_now_and_schedules_are_managed(site: Site, couch: Couch) -> None:
    queue = couch.queue({"kind": "^later$"})
    worker = couch.worker(queue)
    [later] = couch.publish({"kind": "later"}, runAt=time.time() + 3600)
    page = site.open("scheduled")
    row = page.locator("#delayed tr", has=page.get_by_role("link", name=later[:8]))
    row.get_by_role("button", name="Run now").click()
    expect(row).to_have_count(0)
    claimed = couch.claim(worker)
    assert claimed is not None and claimed["taskId"] == later

    name = f"every-minute-{queue}"
    form = page.locator("#new-schedule")
    form.get_by_label("Name").fill(name)
    form.get_by_label("Cron").fill("* * * * *")
    form.get_by_label("Data (JSON object)").fill('{"kind": "later"}')
    form.get_by_role("button", name="Create schedule").click()
    schedule = page.locator("#schedules tr", has=page.get_by_text(name, exact=True))
    expect(schedule).to_contain_text("enabled")
    schedule.get_by_role("button", name="Disable").click()
    expect(schedule).to_contain_text("disabled")
    schedule.get_by_role("button", name="Delete").click()
    page.get_by_role("dialog").get_by_role("button", name="Delete").click()
    expect(schedule).to_have_count(0)
    assert name not in [s["name"] for s in couch.gql("{ schedules { name } }")["schedules"]]


def test_task_page_retries_then_removes_a_task(site: Site, couch: Couch) -> None:
    queue = couch.queue()
    worker = couch.worker(queue)
    [task_id] = couch.publish({"q": queue, "order": 7})
    assert couch.claim(worker) is not None
    couch.report(worker, task_id, "fail", "gateway timeout")
    page = site.open(f"task/{task_id}")
    expect(page.locator("main h1 .badge-failed")).to_be_visible()
    expect(page.locator("#failures")).to_contain_text("gateway timeout")
    page.get_by_role("button", name="Retry").click()
    expect(page.locator("main h1 .badge-queued")).to_be_visible()
    assert couch.gql(TASK_STATE, id=task_id)["task"]["state"] == "queued"

    page.get_by_role("button", name="Remove").click()
    page.get_by_role("dialog").get_by_role("button", name="Remove").click()
    expect(page.locator("main h1")).to_have_text(queue)  # back on its queue's page
    gone = couch.http.post("/graphql", json={"query": TASK_STATE, "variables": {"id": task_id}})
    assert gone.json()["errors"][0]["extensions"]["code"] == "TASK_NOT_FOUND"


def test_workers_page_removes_a_worker(site: Site, couch: Couch) -> None:
    queue = couch.queue()
    worker = couch.worker(queue, name="to-be-removed")
    page = site.open("workers")
    row = page.locator("#workers tr", has=page.get_by_text(worker))
    expect(row).to_contain_text(queue)
    row.get_by_role("button", name="Remove").click()
    page.get_by_role("dialog").get_by_role("button", name="Remove").click()
    expect(row).to_have_count(0)
    assert worker not in [w["id"] for w in couch.gql("{ workers { id } }")["workers"]]
