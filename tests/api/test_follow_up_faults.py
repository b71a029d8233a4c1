"""Follow-ups on Couchbase when the completion's commit fails between its steps (issue 16):
the follow-ups, whose ids are derived from (taskId, index, lane), are written first; the
parent's compare-and-set is then lost unanswered, applied or not. Retries of the completion
never duplicate a follow-up (nor reEnqueue's fresh copy), and end with the task completed."""

from __future__ import annotations

from typing import Any

import pytest

from resolvers.errors import StoreUnavailable
from resolvers.models import TaskFilter
from resolvers.store import Store
from tests.api.client import Api, ApiError

pytest.importorskip("acouchbase")

NEXT = [{"publisher": "pipeline", "data": {"step": 2}}]


@pytest.fixture(params=["couchbase"])
def backend(request: pytest.FixtureRequest) -> str:
    request.getfixturevalue("couchbase_target")
    return str(request.param)


def fail_commit_of(store: Any, task_id: str, applied: bool) -> list[int]:
    """Make the next replace of the task's document fail as a timeout does: after applying it
    (``applied``) or without. Returns a list counting the failures made."""
    kv = store.tasks.kv
    real = kv.replace
    key = store.tasks.key(task_id)
    made: list[int] = []

    async def replace(
        doc_key: str, value: Any, cas: int, expiry: float | None = None
    ) -> int | None:
        if doc_key != key or made:
            return await real(doc_key, value, cas, expiry)
        made.append(1)
        if applied:
            await real(doc_key, value, cas, expiry)
        raise StoreUnavailable("injected: the commit's answer was lost")

    kv.replace = replace
    return made


@pytest.mark.parametrize("applied", [False, True], ids=["unapplied", "applied"])
async def test_a_completion_whose_commit_is_lost_publishes_each_follow_up_once(
    api: Api, store: Store, applied: bool
) -> None:
    await api.set_interests("q", {"step": "^1$"})
    await api.set_interests("next", {"step": "^2$"})
    await api.set_interests("also", {"step": "^[2-9]$"})
    worker = (await api.register_worker(["q"]))["workerId"]
    await api.publish("pub", {"step": 1})
    task = await api.claim(worker)
    assert task is not None
    made = fail_commit_of(store, task["taskId"], applied)
    with pytest.raises(ApiError) as lost:
        await api.complete(worker, task["taskId"], result="r", publish=NEXT, reEnqueue=True)
    assert lost.value.code == "STORE_UNAVAILABLE" and made == [1]
    for _ in range(3):
        done = await api.complete(worker, task["taskId"], result="r", publish=NEXT, reEnqueue=True)
        assert (done["state"], done["result"]) == ("completed", "r")
    for queue in ("next", "also"):
        page = await store.list_tasks(TaskFilter(queue=queue), 10, None)
        assert [t.parent_task_id for t in page.tasks] == [task["taskId"]], queue
        assert (await api.queue(queue))["queued"] == 1
    # reEnqueue's fresh copy is written ahead too, and once.
    assert (await api.queue("q"))["queued"] == 1
