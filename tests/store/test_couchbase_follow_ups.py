"""Couchbase: a completion's follow-ups are written before its commit, and the commit then
fails on the node (tests/couchbase_node's fault layer, on the REPLACE that commits): applied
but unanswered, dropped unanswered, or refused. Done again with the same (derived) follow-up
ids, as a retried completion does, every follow-up exists once (issue 16, docs/stores.md)."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterator

import pytest

from resolvers.errors import StoreUnavailable
from resolvers.models import Replaced, Task, TaskFilter, TaskState
from tests.store.factories import NOW, claim_request, task

pytest.importorskip("acouchbase")

from app.store.couchbase import CouchbaseStore
from tests.couchbase_node.faults import set_faults
from tests.couchbase_node.launcher import start_node, stop_node

KINDS = ["applied_unanswered", "unapplied_unanswered", "tmpfail"]


@pytest.fixture(scope="module")
def faulty_port() -> Iterator[int]:
    process, port = start_node("b", "u", "pw")
    try:
        yield port
    finally:
        stop_node(process)


def follow_ups(parent: Task) -> list[Task]:
    """Fresh copies of the same three follow-ups, ids derived from the parent's."""
    return [
        task("next", task_id=f"{parent.task_id}-{i}", parent_task_id=parent.task_id)
        for i in range(3)
    ]


@pytest.mark.parametrize("kind", KINDS)
async def test_a_failed_commit_done_again_duplicates_no_follow_up(
    faulty_port: int, kind: str
) -> None:
    prefix = f"fu{kind.replace('_', '')}{os.getpid()}"
    url = f"couchbase://127.0.0.1:{faulty_port}/b?user=u&password=pw&prefix={prefix}"
    store = await CouchbaseStore.open(url + "&timeout=0.3")
    try:
        await store.insert_tasks([task("q")])
        claimed = await store.claim_task(claim_request("q"))
        assert claimed is not None
        ids = [t.task_id for t in follow_ups(claimed)]
        done = dataclasses.replace(
            claimed, state=TaskState.COMPLETED, finished_at=NOW + 1, follow_ups=ids
        )
        plan = {"rate": 1.0, "kinds": {kind: 1}, "ops": ["replace"], "seed": 1}
        set_faults(faulty_port, plan)
        try:
            with pytest.raises(StoreUnavailable):
                await store.replace_task(done, claimed.version, also_insert=follow_ups(claimed))
        finally:
            set_faults(faulty_port, {})
        await store.index.finisher.drain()
        # As the engine retries: read the task; still started by its worker, complete again.
        current = await store.get_task(claimed.task_id)
        assert current is not None
        if kind == "applied_unanswered":
            assert current.state is TaskState.COMPLETED and current.follow_ups == ids
        else:
            assert current.state is TaskState.STARTED
            again = dataclasses.replace(done, version=0)
            written = await store.replace_task(
                again, current.version, also_insert=follow_ups(claimed)
            )
            assert written is Replaced.WRITTEN
        page = await store.list_tasks(TaskFilter(queue="next"), 100, None)
        assert sorted(t.task_id for t in page.tasks) == sorted(ids)
        assert {t.parent_task_id for t in page.tasks} == {claimed.task_id}
        counts = await store.count_tasks(TaskFilter(queue="next"), NOW + 2)
        assert counts.queued == 3
    finally:
        await store.close()
