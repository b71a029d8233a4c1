"""What a Sidekiq user looks for (issue 15): the queue page opening where the tasks are, a
Retries page apart from delayed publishes, lifetime totals drawn from the chart's own counters,
latency and a chart per queue, what each worker runs and since when, sortable columns, and
timestamps that say their time zone."""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.dashboard.conftest import Couch, Site, ThreadedServer, needs_chromium, open_site

pytestmark = [pytest.mark.browser, needs_chromium]

CONFIGURE = """mutation($q: String!, $limit: Int, $delays: [Float!]) {
  configureQueue(queue: $q, retryLimit: $limit, retryDelays: $delays) { name }
}"""


def fail_one(couch: Couch, queue: str, reason: str) -> str:
    """Publish one task to ``queue``, claim it and report it failed; its id."""
    worker = couch.worker(queue, name=f"w-{queue}")
    [task_id] = couch.publish({"q": queue})
    claimed = couch.claim(worker)
    assert claimed is not None and claimed["taskId"] == task_id
    couch.report(worker, task_id, "fail", reason)
    return task_id


def test_the_queue_page_opens_where_the_tasks_are(site: Site, couch: Couch) -> None:
    later = couch.queue()
    [task_id] = couch.publish({"q": later}, runAt=time.time() + 3600)
    page = site.open(f"queue/{later}")
    expect(page.locator("select[name=state]")).to_have_value("scheduled")
    expect(page.locator("#tasks th")).to_contain_text(["Runs at"])
    expect(page.locator(f'#tasks a[title="{task_id}"]')).to_have_count(1)
    # Asked for a state, the page shows that one; an empty queue opens on queued.
    site.go(f"queue/{later}?state=queued")
    expect(page.locator("#tasks")).to_contain_text("No queued tasks.")
    empty = couch.queue()
    site.go(f"queue/{empty}")
    expect(page.locator("select[name=state]")).to_have_value("queued")


def test_retries_have_a_page_apart_from_delayed_publishes(site: Site, couch: Couch) -> None:
    queue = couch.queue()
    couch.gql(CONFIGURE, q=queue, limit=3, delays=[3600])
    retry = fail_one(couch, queue, "SMTP timeout talking to mail.example.org")
    [delayed] = couch.publish({"q": queue}, runAt=time.time() + 7200)
    page = site.open("retries")
    rows = page.locator("#retries tbody tr").filter(has=page.locator(f'a[title="{retry}"]'))
    expect(rows).to_have_count(1)
    expect(rows.locator("td[data-label=Attempts]")).to_have_text("1")
    expect(rows.locator("td[data-label='Last error']")).to_contain_text("SMTP timeout")
    expect(rows.locator("td[data-label='Next retry']")).to_contain_text("in 1 h")
    expect(page.locator(f'#retries a[title="{delayed}"]')).to_have_count(0)
    site.screenshot("retries")
    site.go("scheduled")
    expect(page.locator(f'#delayed a[title="{delayed}"]')).to_have_count(1)
    expect(page.locator(f'#delayed a[title="{retry}"]')).to_have_count(0)


def figure(text: str) -> int:
    return int(re.sub(r"\D", "", text))


def test_the_failed_card_and_the_legend_count_the_same(site: Site, couch: Couch) -> None:
    """They disagreed (12 against 13) because the card counted the tasks in the failed list
    now while the legend counted failures: a task retried from the list and failed again, or
    one removed, moved one and not the other. Both now count failures."""
    figures = "{ statsTotals { processed failed } status { counts { failed } } }"
    before = couch.gql(figures)
    queue = couch.queue()
    again = fail_one(couch, queue, "first")
    couch.gql("mutation($id: ID!) { retryFailed(taskId: $id) }", id=again)
    worker = couch.worker(queue, name="again")
    assert couch.claim(worker) is not None
    couch.report(worker, again, "fail", "second")
    removed = fail_one(couch, queue, "removed later")
    couch.gql("mutation($id: ID!) { removeFailed(taskId: $id) }", id=removed)
    totals = couch.gql(figures)
    in_list = totals["status"]["counts"]["failed"]
    # The discrepancy is there: three failures, one task left in the failed list.
    assert totals["statsTotals"]["failed"] - before["statsTotals"]["failed"] == 3
    assert in_list - before["status"]["counts"]["failed"] == 1

    page = site.open()
    legend = page.locator("#throughput .legend li").filter(has_text="Failed")
    card = page.locator("[data-tile=failed]")
    expect(card).to_have_text(f"{totals['statsTotals']['failed']:,}")
    assert figure(legend.inner_text()) == figure(card.inner_text())
    expect(page.locator("[data-tile=processed]")).to_have_text(
        f"{totals['statsTotals']['processed']:,}"
    )
    expect(page.locator("[data-tile=failed-tasks]")).to_have_text(f"{in_list:,}")


def test_a_queue_shows_its_latency_and_its_chart(site: Site, couch: Couch) -> None:
    queue = couch.queue()
    couch.publish_many([{"q": queue, "n": n} for n in range(2)])
    time.sleep(1.1)  # so the oldest task has waited a second
    page = site.open()
    row = page.locator("#queues tbody tr").filter(has=page.locator(f'a[title="{queue}"]'))
    expect(row.locator("td.c-latency")).to_have_text(re.compile(r"^\d+(\.\d+)? s$"))
    site.go(f"queue/{queue}")
    expect(page.locator("[data-count=latency]")).to_have_text(re.compile(r"^\d+(\.\d+)? s$"))
    chart = page.locator("#queue-throughput")
    expect(chart.locator("svg polyline")).to_have_count(3)
    expect(chart.locator(".legend li").filter(has_text="Published")).to_have_text("Published 2")


def test_workers_show_what_they_run_and_since_when(site: Site, couch: Couch) -> None:
    queue = couch.queue()
    worker = couch.worker(queue, name=f"busy-{queue}")
    [task_id] = couch.publish({"q": queue})
    assert couch.claim(worker) is not None
    page = site.open("workers")
    row = page.locator("#workers tbody tr").filter(has_text=f"busy-{queue}")
    running = row.locator("ul.running li")
    expect(running).to_have_count(1)
    expect(running.locator(f'a[title="{task_id}"]')).to_have_count(1)
    expect(running).to_contain_text("running since")
    expect(running.locator("time")).to_have_attribute("title", re.compile(r"UTC"))


def column(page: Any, table: str, label: str) -> list[int]:
    cells = page.locator(f"{table} tbody td[data-label={label}]").all_inner_texts()
    return [figure(text) for text in cells]


def test_columns_sort_and_stay_sorted_through_updates(site: Site, couch: Couch) -> None:
    for n in (3, 1, 2):
        queue = couch.queue(name=f"sort-{n}-{uuid.uuid4().hex[:6]}")
        couch.publish_many([{"q": queue}] * n)
    page = site.open()
    header = page.locator("#queues th").filter(has_text="Queued")
    header.locator("button").click()
    expect(header).to_have_attribute("aria-sort", "ascending")
    ascending = column(page, "#queues", "Queued")
    assert ascending == sorted(ascending) and len(ascending) >= 3
    header.locator("button").click()
    expect(header).to_have_attribute("aria-sort", "descending")
    assert column(page, "#queues", "Queued") == sorted(ascending, reverse=True)
    # A live update redraws the table in the order chosen.
    busiest = couch.queue(name=f"sort-9-{uuid.uuid4().hex[:6]}")
    couch.publish_many([{"q": busiest}] * (max(ascending) + 1))
    first = page.locator("#queues tbody tr").first
    expect(first.locator(f'a[title="{busiest}"]')).to_have_count(1)
    expect(header).to_have_attribute("aria-sort", "descending")


@pytest.fixture
def kolkata(browser: Any, server: ThreadedServer) -> Iterator[Site]:
    """A page whose browser lives in Asia/Kolkata (UTC+5:30, no summer time)."""
    yield from open_site(browser, server.url, timezone="Asia/Kolkata")


def test_timestamps_show_their_zone_with_utc_on_hover(kolkata: Site, couch: Couch) -> None:
    queue = couch.queue()
    at = 4_102_444_800  # 2100-01-01 00:00:00 UTC
    [task_id] = couch.publish({"q": queue}, runAt=at)
    page = kolkata.open(f"task/{task_id}")
    runs = page.locator("#details dd time").nth(1)
    expect(runs).to_have_text("2100-01-01 05:30:00 GMT+5:30")
    expect(runs).to_have_attribute("title", re.compile(r"^2100-01-01 00:00:00 UTC"))
    # The chart's clock times say their zone too.
    kolkata.go("")
    expect(page.locator("#throughput .legend")).to_contain_text("GMT+5:30")
