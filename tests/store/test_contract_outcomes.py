"""Results, progress and follow-ups (issue 16) in the Store contract: the new task fields are
kept by every backend, and a follow-up written with a completion is written once."""

from __future__ import annotations

import dataclasses
import sqlite3
from pathlib import Path

import pytest

from app.store.sqlite import SqliteStore
from resolvers.models import TaskFilter, TaskState
from resolvers.store import Store
from tests.store.factories import NOW, claim_request, task

VALUES = [
    {"rows": 3, "nested": {"ok": True, "list": [1, 2.5, "x", None]}},
    ["a", 1],
    "done",
    0,
    False,
    1.25,
]


@pytest.mark.parametrize("value", VALUES, ids=lambda v: type(v).__name__)
async def test_result_and_progress_round_trip(store: Store, value: object) -> None:
    [written] = await store.insert_tasks([task("q", parent_task_id="parent-1")])
    assert written
    claimed = await store.claim_task(claim_request("q"))
    assert claimed is not None and claimed.parent_task_id == "parent-1"
    assert (claimed.result, claimed.progress, claimed.follow_ups) == (None, None, [])
    reported = dataclasses.replace(claimed, progress=value)
    assert await store.replace_task(reported, claimed.version)
    got = await store.get_task(claimed.task_id)
    assert got is not None and got.progress == value and got.result is None
    done = dataclasses.replace(
        got,
        state=TaskState.COMPLETED,
        finished_at=NOW + 1,
        result=value,
        follow_ups=["c1", "c2"],
    )
    assert await store.replace_task(done, got.version)
    for read in (
        await store.get_task(claimed.task_id),
        (await store.get_tasks([claimed.task_id]))[claimed.task_id],
        (await store.list_tasks(TaskFilter(queue="q"), 10, None)).tasks[0],
    ):
        assert read is not None
        assert (read.result, read.progress, read.parent_task_id, read.follow_ups) == (
            value,
            value,
            "parent-1",
            ["c1", "c2"],
        )


async def test_a_follow_up_already_written_is_not_written_again(store: Store) -> None:
    """also_insert of a task whose id exists skips it (seq stays 0), so a completion retried
    with the same derived follow-up ids never duplicates one."""
    await store.insert_tasks([task("q")])
    claimed = await store.claim_task(claim_request("q"))
    assert claimed is not None
    first = task("next", task_id="follow-1", parent_task_id=claimed.task_id)
    [ok] = await store.insert_tasks([first])
    assert ok and first.seq > 0
    again = dataclasses.replace(first, seq=0, version=0, data={"other": 1})
    fresh = task("next", task_id="follow-2", parent_task_id=claimed.task_id)
    done = dataclasses.replace(claimed, state=TaskState.COMPLETED, finished_at=NOW + 1)
    assert await store.replace_task(done, claimed.version, also_insert=[again, fresh])
    assert again.seq == 0 and fresh.seq > 0
    page = await store.list_tasks(TaskFilter(queue="next"), 10, None)
    assert sorted((t.task_id, t.data == first.data) for t in page.tasks) == [
        ("follow-1", True),
        ("follow-2", False),
    ]
    assert all(t.parent_task_id == claimed.task_id for t in page.tasks)


OLD_TASKS = """CREATE TABLE tasks (
    seq INTEGER PRIMARY KEY, task_id TEXT NOT NULL UNIQUE, event_id TEXT NOT NULL,
    queue TEXT NOT NULL, lane TEXT NOT NULL, publisher TEXT NOT NULL, data TEXT NOT NULL,
    run_at REAL NOT NULL, created_at REAL NOT NULL, scope TEXT NOT NULL,
    singularly_enqueue INTEGER NOT NULL, singularly_run INTEGER NOT NULL, identity TEXT,
    state TEXT NOT NULL, worker_id TEXT, attempts INTEGER NOT NULL, started_at REAL,
    finished_at REAL, lease_until REAL, fail_reason TEXT,
    failures TEXT NOT NULL DEFAULT '[]', version INTEGER NOT NULL)"""


async def test_an_sqlite_file_made_before_results_gains_their_columns(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    conn = sqlite3.connect(path)
    conn.execute(OLD_TASKS)
    conn.execute(
        "INSERT INTO tasks VALUES (1, 'old', 'e', 'q', 'q', 'p', '{}', 1.0, 1.0, 'any', 0, 0,"
        " NULL, 'queued', NULL, 0, NULL, NULL, NULL, NULL, '[]', 1)"
    )
    conn.commit()
    conn.close()
    store = await SqliteStore.open(f"sqlite:///{path}")
    try:
        old = await store.get_task("old")
        assert old is not None
        assert (old.result, old.progress, old.parent_task_id, old.follow_ups) == (
            None,
            None,
            None,
            [],
        )
        claimed = await store.claim_task(claim_request("q", now=2.0))
        assert claimed is not None
        done = dataclasses.replace(claimed, state=TaskState.COMPLETED, result={"n": 1})
        assert await store.replace_task(done, claimed.version)
        got = await store.get_task("old")
        assert got is not None and got.result == {"n": 1}
    finally:
        await store.close()
    # Opened again, nothing is added twice.
    store = await SqliteStore.open(f"sqlite:///{path}")
    await store.close()
