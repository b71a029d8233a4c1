"""Interests decide which queues get a copy of an event: '*', or regexes over fields, OR-ed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager

from app.asgi import create_app
from tests.api.client import Api, RestApi
from tests.api.conftest import TEST_SETTINGS
from tests.conftest import open_backend


async def queues_for(api: Api, data: dict[str, Any]) -> list[str]:
    published = await api.publish("test", data)
    return sorted(t["queue"] for t in published["tasks"])


async def test_star_matches_every_event(api: Api) -> None:
    await api.set_interests("audit", "*")
    assert await queues_for(api, {}) == ["audit"]
    assert await queues_for(api, {"anything": [1, 2]}) == ["audit"]


@pytest.mark.parametrize(
    ("data", "wanted"),
    [
        ({"email": "evan@example.com"}, True),
        ({"email": "EVAN@example.com"}, False),
        ({"email": "bob@example.com"}, False),
        ({"mail": "evan@example.com"}, False),
        ({"userId": 7}, True),
        ({"userId": None}, True),
    ],
)
async def test_fields_are_ored_and_matched_as_regexes(
    api: Api, data: dict[str, Any], wanted: bool
) -> None:
    await api.set_interests("welcome", {"email": "^.*evan.*", "userId": "^.*"})
    assert await queues_for(api, data) == (["welcome"] if wanted else [])


async def test_regex_searches_anywhere_unless_anchored(api: Api) -> None:
    await api.set_interests("anywhere", {"action": "Created"})
    await api.set_interests("anchored", {"action": "^Created$"})
    assert await queues_for(api, {"action": "userCreated"}) == ["anywhere"]
    assert await queues_for(api, {"action": "Created"}) == ["anchored", "anywhere"]


async def test_dotted_paths_reach_nested_fields(api: Api) -> None:
    await api.set_interests("nested", {"user.email": "@corp\\.com$"})
    assert await queues_for(api, {"user": {"email": "a@corp.com"}}) == ["nested"]
    assert await queues_for(api, {"user": {"email": "a@home.com"}}) == []
    assert await queues_for(api, {"user": "a@corp.com"}) == []
    # A literal key with a dot is looked up first.
    assert await queues_for(api, {"user.email": "b@corp.com"}) == ["nested"]


async def test_non_string_values_are_matched_as_json_text(api: Api) -> None:
    await api.set_interests("numbers", {"amount": "^[0-9]{3}$"})
    await api.set_interests("flags", {"vip": "^true$"})
    await api.set_interests("lists", {"tags": '"urgent"'})
    assert await queues_for(api, {"amount": 250}) == ["numbers"]
    assert await queues_for(api, {"amount": 25}) == []
    assert await queues_for(api, {"amount": "250"}) == ["numbers"]
    assert await queues_for(api, {"vip": True}) == ["flags"]
    assert await queues_for(api, {"tags": ["late", "urgent"]}) == ["lists"]


async def test_an_event_nobody_wants_is_discarded_and_the_reply_says_so(api: Api) -> None:
    await api.set_interests("emails", {"email": "."})
    published = await api.publish("test", {"phone": "555"})
    assert published["discarded"] is True
    assert published["tasks"] == [] and published["skipped"] == []
    assert (await api.summary())["tasks"]["queued"] == 0


async def test_registering_replaces_interests_and_creates_the_queue(api: Api) -> None:
    reply = await api.set_interests("emails", {"email": "a"})
    assert reply == {"queue": "emails", "interests": {"email": "a"}}
    assert [q["name"] for q in await api.queues()] == ["emails"]
    await api.set_interests("emails", {"phone": "5"})
    assert await api.interests() == {"emails": {"phone": "5"}}
    assert await queues_for(api, {"email": "a"}) == []
    assert await queues_for(api, {"phone": "555"}) == ["emails"]


async def test_deleting_interests_keeps_the_queue_but_stops_its_copies(api: Api) -> None:
    await api.set_interests("emails", {"email": ".", "phone": "."})
    await api.set_interests("other", "*")
    assert await api.delete_interests("emails") == 2
    assert await api.delete_interests("emails") == 0
    assert await api.interests() == {"other": "*"}
    assert await api.interests("other") == {"other": "*"}
    assert [q["name"] for q in await api.queues()] == ["emails", "other"]
    assert await queues_for(api, {"email": "x"}) == ["other"]


async def test_an_interest_change_is_seen_at_once_by_another_node(
    backend: str, tmp_path: Path
) -> None:
    """Two apps over one store file stand for two nodes: no cache may hide the change."""
    stores = [await open_backend(backend, tmp_path) for _ in range(2)]
    apps = [create_app(TEST_SETTINGS, store=s, start_duties=False) for s in stores]
    try:
        async with LifespanManager(apps[0]) as one, LifespanManager(apps[1]) as two:
            a, b = (
                RestApi(
                    httpx.AsyncClient(
                        transport=httpx.ASGITransport(app=m.app), base_url="http://couchqueue"
                    )
                )
                for m in (one, two)
            )
            await a.set_interests("q", {"kind": "^x$"})
            assert await queues_for(b, {"kind": "x"}) == ["q"]
            await a.set_interests("q", {"kind": "^y$"})
            assert await queues_for(b, {"kind": "x"}) == []
            assert await queues_for(b, {"kind": "y"}) == ["q"]
            await a.delete_interests("q")
            assert await queues_for(b, {"kind": "y"}) == []
    finally:
        for s in stores:
            await s.close()
