"""Acting on one task from the management site: run now, remove, search by data."""

from __future__ import annotations

import pytest

from tests.api.client import Api, ApiError
from tests.conftest import FakeClock


async def test_run_a_delayed_task_now(api: Api, clock: FakeClock) -> None:
    await api.set_interests("q", "*")
    worker = (await api.register_worker(["q"]))["workerId"]
    task_id = (await api.publish("p", {"n": 1}, runAt=clock.now + 3600))["tasks"][0]["taskId"]
    q = "mutation($id: ID!) { runTaskNow(id: $id) { state runAt } }"
    ran = (await api.graphql(q, id=task_id))["runTaskNow"]
    assert (ran["state"], ran["runAt"]) == ("queued", clock.now)
    claimed = await api.claim(worker)
    assert claimed is not None and claimed["taskId"] == task_id
    with pytest.raises(ApiError) as refused:
        await api.graphql(q, id=task_id)
    assert (refused.value.code, refused.value.param) == ("CONFLICT", "id")


async def test_remove_a_task_unless_a_worker_holds_it(api: Api) -> None:
    await api.set_interests("q", "*")
    worker = (await api.register_worker(["q"]))["workerId"]
    held = (await api.publish("p", {"n": 1}))["tasks"][0]["taskId"]
    waiting = (await api.publish("p", {"n": 2}))["tasks"][0]["taskId"]
    assert (await api.claim(worker))["taskId"] == held  # type: ignore[index]
    q = "mutation($id: ID!) { deleteTask(id: $id) }"
    assert (await api.graphql(q, id=waiting))["deleteTask"] == 1
    with pytest.raises(ApiError) as refused:
        await api.graphql(q, id=held)
    assert refused.value.code == "CONFLICT"
    assert (await api.task(held))["state"] == "started"


async def test_search_tasks_by_a_field_of_their_data(api: Api) -> None:
    await api.set_interests("q", "*")
    for email in ("evan@corp.com", "bob@home.org", "EVA@corp.com"):
        await api.publish("p", {"user": {"email": email}, "n": 7})
    q = (
        "query($f: String!, $v: String!, $first: Int, $after: String) { searchTasks(field: $f, "
        "value: $v, first: $first, after: $after) { tasks { data } nextCursor } }"
    )
    found = (await api.graphql(q, f="user.email", v="corp"))["searchTasks"]
    assert [t["data"]["user"]["email"] for t in found["tasks"]] == ["evan@corp.com", "EVA@corp.com"]
    assert len((await api.graphql(q, f="n", v="7"))["searchTasks"]["tasks"]) == 3
    assert (await api.graphql(q, f="missing", v="x"))["searchTasks"]["tasks"] == []
    first = (await api.graphql(q, f="n", v="7", first=1))["searchTasks"]
    assert len(first["tasks"]) == 1 and first["nextCursor"]
    rest = (await api.graphql(q, f="n", v="7", first=5, after=first["nextCursor"]))["searchTasks"]
    assert len(rest["tasks"]) == 2 and rest["nextCursor"] is None
