"""The dashboard with auth on, in Chromium: the sign-in form, the HttpOnly cookie it leaves,
the live feed over it, a viewer seeing every page without action buttons, an admin acting, the
sign-out, and a revoked token sending the browser back to the sign-in."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import expect

from app.browser import COOKIE_NAME
from resolvers import tokens
from resolvers.context import Context
from tests.dashboard.conftest import AuthServer, Couch, Site, needs_chromium, sign_in

pytestmark = [pytest.mark.browser, needs_chromium]

# What a button that changes something is called, anywhere in the dashboard.
ACTION_LABELS = {
    "Pause",
    "Resume",
    "Clear",
    "Delete queue",
    "Retry",
    "Remove",
    "Run now",
    "Retry now",
    "Delete",
    "Disable",
    "Enable",
    "Retry all",
    "Remove all",
    "Retry matching",
    "Remove matching",
    "Save interests",
    "Remove interests",
    "Save settings",
    "Create schedule",
}


@pytest.fixture(scope="module")
def world(auth_server: AuthServer) -> Iterator[dict[str, Any]]:
    """Something on every page: a queue with waiting, failed and scheduled tasks, a worker
    holding one, a task waiting for its retry, a schedule."""
    couch = Couch(auth_server.url, token=auth_server.secrets["admin"])
    try:
        queue = couch.queue()
        worker = couch.worker(queue, name="w-auth")
        couch.publish({"q": queue, "n": 1})
        failed = couch.publish({"q": queue, "n": 2})[0]
        for _ in range(2):
            task = couch.claim(worker)
            assert task is not None
            if task["taskId"] == failed:
                couch.report(worker, failed, "fail", "broken")
        couch.publish({"q": queue, "n": 3}, runAt=time.time() + 3600)
        couch.publish({"q": queue, "n": 4})
        retrying = couch.queue()
        couch.gql(
            "mutation($q: String!) { configureQueue(queue: $q, retryLimit: 2, "
            "retryDelays: [3600]) { name } }",
            q=retrying,
        )
        retry_worker = couch.worker(retrying, name="w-retry")
        [retry] = couch.publish({"q": retrying})
        assert couch.claim(retry_worker) is not None
        couch.report(retry_worker, retry, "fail", "try again later")
        schedule = {"name": f"s-{queue}", "cron": "0 3 * * *", "publisher": "p", "data": {}}
        couch.gql("mutation($i: ScheduleInput!) { createSchedule(input: $i) { name } }", i=schedule)
        yield {"queue": queue, "failed": failed, "couch": couch}
    finally:
        couch.close()


def test_sign_in_form_refuses_a_bad_token_then_signs_in(
    signed: Site, auth_server: AuthServer
) -> None:
    page = signed.page
    page.goto(f"{signed.base}/dashboard/#/workers")
    expect(page.locator("#signin")).to_be_visible()
    expect(page.locator("nav.tabs")).to_be_hidden()
    page.locator("#signin-token").fill("cq_not-a-token")
    page.locator("#signin button[type=submit]").click()
    expect(page.locator("#signin-error")).to_contain_text("not known")
    signed.screenshot("signin")
    expect(page.locator("#signin-token")).to_have_value("")

    page.locator("#signin-token").fill(auth_server.secrets["viewer"])
    page.locator("#signin button[type=submit]").click()
    signed.wait_ready("workers")  # the same page, now signed in
    page.locator("#live.live-live").wait_for()  # the feed's websocket rides on the cookie too
    expect(page.locator("#who")).to_contain_text("viewer")
    cookie = next(c for c in page.context.cookies() if c["name"] == COOKIE_NAME)
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict" and cookie["expires"] > 0
    assert page.evaluate("document.cookie") == ""  # scripts cannot read it


def routes(world: dict[str, Any]) -> list[str]:
    return [
        "",
        f"queue/{world['queue']}",
        f"task/{world['failed']}",
        "workers",
        "failed",
        "retries",
        "scheduled",
        f"search?field=q&value={world['queue']}",
    ]


def buttons(page: Any) -> set[str]:
    return {text.strip() for text in page.locator("main button").all_inner_texts()}


def test_a_viewer_sees_every_page_without_action_buttons(
    signed: Site, auth_server: AuthServer, world: dict[str, Any]
) -> None:
    page = sign_in(signed, auth_server.secrets["viewer"])
    for route in routes(world):
        signed.go(route)
        page.wait_for_timeout(100)  # rows and their buttons come with the page's data
        assert buttons(page) & ACTION_LABELS == set(), (route, buttons(page))
        submits = set(page.locator("main form button[type=submit]").all_inner_texts())
        assert submits <= {"Filter", "Open", "Search"}, (route, submits)  # finding, not acting
    signed.go(f"queue/{world['queue']}")
    expect(page.locator("#interests-json")).to_have_attribute("readonly", "")
    signed.screenshot("viewer-queue")


def test_an_admin_sees_the_actions_and_can_act(
    signed: Site, auth_server: AuthServer, world: dict[str, Any]
) -> None:
    page = sign_in(signed, auth_server.secrets["admin"])
    seen: set[str] = set()
    for route in routes(world):
        signed.go(route)
        page.wait_for_timeout(100)
        seen |= buttons(page)
    expected = {"Pause", "Retry", "Retry now", "Remove", "Save settings", "Create schedule"}
    assert expected <= seen, seen
    queue = world["queue"]
    signed.go(f"queue/{queue}")
    page.get_by_role("button", name="Pause", exact=True).click()
    expect(page.get_by_role("button", name="Resume", exact=True)).to_be_visible()
    couch: Couch = world["couch"]
    assert couch.counts(queue)["paused"] is True
    page.get_by_role("button", name="Resume", exact=True).click()
    expect(page.get_by_role("button", name="Pause", exact=True)).to_be_visible()


def test_sign_out_clears_the_session(signed: Site, auth_server: AuthServer) -> None:
    page = sign_in(signed, auth_server.secrets["viewer"])
    page.locator("#signout").click()
    expect(page.locator("#signin")).to_be_visible()
    assert not [c for c in page.context.cookies() if c["name"] == COOKIE_NAME]


def test_a_revoked_token_ends_the_session(signed: Site, auth_server: AuthServer) -> None:
    name = f"short-{uuid.uuid4().hex[:6]}"

    async def make(ctx: Context) -> str:
        return (await tokens.create_token(ctx, name, ["viewer"]))[1]

    page = sign_in(signed, auth_server.run(make))

    async def revoke(ctx: Context) -> None:
        await tokens.revoke_token(ctx, name)

    auth_server.run(revoke)
    # The next page's queries are refused: the dashboard goes back to the sign-in.
    page.evaluate("location.hash = '#/workers'")
    expect(page.locator("#signin")).to_be_visible()
