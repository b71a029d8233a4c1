"""Layout, as a Sidekiq user tried it (issue 15): a traceback in the failed list keeps its row
short and its buttons whole, names and ids stay on one line, the task page shows a traceback
as a block, headers stay whole at phone width, and no page shifts with the scrollbar."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.dashboard.conftest import Couch, Site, needs_chromium

pytestmark = [pytest.mark.browser, needs_chromium]

FRAMES = "".join(
    f'  File "/srv/shop/payments/gateway_{n}.py", line {40 + n}, in charge_card_{n}\n'
    f"    response = session.post(settlement_url, json=payload, timeout=deadline)\n"
    for n in range(24)
)
TRACEBACK = (
    "Traceback (most recent call last):\n"
    + FRAMES
    + "payments.errors.CardDeclined: the issuer declined the card (code 05, do not honour)"
)


@pytest.fixture(scope="module")
def failed(couch: Couch) -> dict[str, Any]:
    """A task of a long-named queue failed with a long traceback."""
    queue = couch.queue(name=f"payments-settlement-reconciliation-{uuid.uuid4().hex[:8]}")
    worker = couch.worker(queue, name="payments-worker")
    [task_id] = couch.publish({"q": queue, "order": 12345})
    claimed = couch.claim(worker)
    assert claimed is not None and claimed["taskId"] == task_id
    couch.report(worker, task_id, "fail", TRACEBACK)
    return {"queue": queue, "task": task_id}


# Measures, in the page, what a reader sees of one failed row.
ROW_GEOMETRY = """id => {
  const link = document.querySelector(`#failed a[title="${id}"]`);
  const row = link.closest("tr");
  const lines = (el) => el.getClientRects().length;
  const wrapRight = (el) => el.closest(".table-wrap").getBoundingClientRect().right;
  const queue = row.querySelector("td[data-label=Queue] a");
  const reason = row.querySelector("td.reason .clamp") || row.querySelector("td.reason");
  const style = getComputedStyle(reason);
  return {
    row: row.getBoundingClientRect().height,
    buttons: [...row.querySelectorAll("td.row-actions button")].map((b) => ({
      text: b.textContent, height: b.getBoundingClientRect().height,
      fits: b.scrollWidth <= b.clientWidth,
      inView: b.getBoundingClientRect().right <= wrapRight(b),
    })),
    idLines: lines(link), idHeight: link.getBoundingClientRect().height,
    queueLines: lines(queue), queueHeight: queue.getBoundingClientRect().height,
    queueTitle: queue.title, queueClipped: queue.scrollWidth > queue.clientWidth,
    reasonHeight: reason.getBoundingClientRect().height,
    lineHeight: parseFloat(style.lineHeight),
    pageWidth: document.documentElement.scrollWidth,
  };
}"""


def test_a_traceback_keeps_its_failed_row_short(site: Site, failed: dict[str, Any]) -> None:
    page = site.open("failed")
    g = page.evaluate(ROW_GEOMETRY, failed["task"])
    # Two lines of reason at most: the row stays about as tall as its buttons and two lines.
    assert g["reasonHeight"] <= 2 * g["lineHeight"] + 1, g
    assert g["row"] < 90, g
    # Retry and Remove whole, each on one line, in view without scrolling the table.
    assert [b["text"] for b in g["buttons"]] == ["Retry", "Remove"]
    for button in g["buttons"]:
        assert button["fits"] and button["height"] < 40 and button["inView"], g
    # The id and the queue's name on one line each; the name, too long, cut with an ellipsis
    # and whole in its title.
    assert g["idLines"] == 1 and g["idHeight"] < 30, g
    assert g["queueLines"] == 1 and g["queueHeight"] < 30, g
    assert g["queueTitle"] == failed["queue"] and g["queueClipped"], g
    assert g["pageWidth"] <= 1280, g
    site.screenshot("failed-list", full_page=False)
    # The whole reason is on the task page.
    page.locator(f'#failed a[title="{failed["task"]}"]').click()
    site.wait_ready(f"task/{failed['task']}")
    expect(page.locator("#details pre.trace")).to_contain_text("do not honour")
    site.screenshot("failed-traceback")


TRACE_STYLE = """() => [...document.querySelectorAll("pre.trace")].map((pre) => {
  const style = getComputedStyle(pre);
  return {
    text: pre.innerText, whiteSpace: style.whiteSpace, font: style.fontFamily,
    overflow: style.overflowY, scrolls: pre.scrollHeight > pre.clientHeight,
    fitsWidth: pre.getBoundingClientRect().right <= window.innerWidth,
  };
})"""


def test_the_task_page_shows_a_traceback_as_a_block(site: Site, failed: dict[str, Any]) -> None:
    page = site.open(f"task/{failed['task']}")
    traces = page.evaluate(TRACE_STYLE)
    assert len(traces) == 2  # in the details and in the list of failures
    for trace in traces:
        assert trace["text"].strip() == TRACEBACK, trace["text"][:200]
        assert trace["whiteSpace"] == "pre"
        assert "mono" in trace["font"].lower()
        assert trace["overflow"] == "auto" and trace["scrolls"]
        assert trace["fitsWidth"]
    assert page.evaluate("document.documentElement.scrollWidth") <= 1280
    site.screenshot("task-traceback", full_page=False)


# The lines each header's text takes: one, never a word split over two.
HEADER_LINES = """sel => [...document.querySelectorAll(sel)].map((th) => {
  const walker = document.createTreeWalker(th, NodeFilter.SHOW_TEXT);
  const tops = new Set();
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    const range = document.createRange();
    range.selectNodeContents(node);
    for (const r of range.getClientRects()) tops.add(Math.round(r.top));
  }
  const wrap = th.closest(".table-wrap");
  return {
    label: th.textContent.replace(/[▲▼]/g, "").trim(), lines: tops.size,
    width: Math.round(th.getBoundingClientRect().width), wrap: [wrap.scrollWidth, wrap.clientWidth],
    overflows: wrap.scrollWidth > wrap.clientWidth,
  };
})"""


def test_queue_headers_stay_whole_at_phone_width(site: Site, failed: dict[str, Any]) -> None:
    page = site.page
    page.set_viewport_size({"width": 390, "height": 844})
    site.open()
    site.screenshot("overview-phone")
    headers = page.evaluate(HEADER_LINES, "#queues th")
    shown = [h for h in headers if h["width"]]  # the columns phones are shown
    assert [h["label"] for h in shown][:5] == ["Queue", "Queued", "Scheduled", "Started", "Failed"]
    for header in shown:
        assert header["lines"] == 1, headers
        assert not header["overflows"], headers


def left_of_main(site: Site, route: str) -> tuple[float, bool]:
    site.go(route)
    page = site.page
    left = page.evaluate("document.querySelector('main').getBoundingClientRect().left")
    scrolls = page.evaluate("document.documentElement.scrollHeight > window.innerHeight")
    return left, scrolls


def test_pages_do_not_shift_with_the_scrollbar(site: Site, failed: dict[str, Any]) -> None:
    site.page.set_viewport_size({"width": 1280, "height": 500})
    site.open()
    gutter = site.page.evaluate("getComputedStyle(document.documentElement).scrollbarGutter")
    assert gutter == "stable"
    long_left, long_scrolls = left_of_main(site, f"task/{failed['task']}")
    short_left, short_scrolls = left_of_main(site, "nowhere")
    assert long_scrolls and not short_scrolls
    assert long_left == short_left
