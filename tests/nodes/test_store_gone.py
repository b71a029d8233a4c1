"""A node whose SQLite file is removed, replaced or corrupt (issue 12): it acknowledges no write
the file at the path does not hold, and /readyz says why, naming the file."""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable
from contextlib import closing
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.nodes.server import ServerNode

pytestmark = pytest.mark.slow


def publish(client: httpx.Client, n: int) -> httpx.Response:
    return client.put("/task", json={"publisher": "t", "data": {"n": n}})


def task_ids(reply: httpx.Response) -> list[str]:
    assert reply.status_code == 200, reply.text
    return [task["taskId"] for task in reply.json()["tasks"]]


def not_ready(client: httpx.Client) -> dict[str, Any]:
    reply = client.get("/readyz")
    assert reply.status_code == 503, reply.text
    body: dict[str, Any] = reply.json()
    return body


def remove_files(db: Path, suffixes: tuple[str, ...] = ("", "-wal", "-shm")) -> None:
    for suffix in suffixes:
        Path(f"{db}{suffix}").unlink()


def test_a_node_whose_file_is_removed_acknowledges_no_more_writes(
    node_factory: Callable[..., ServerNode], tmp_path: Path
) -> None:
    db = tmp_path / "shared.db"
    first = node_factory()
    with httpx.Client(base_url=first.url, timeout=10) as client:
        assert client.put("/interest", json={"queue": "q", "interests": "*"}).status_code == 200
        assert client.get("/readyz").status_code == 200
        task_ids(publish(client, 0))
        remove_files(db)
        for n in range(1, 9):
            refused = publish(client, n)
            assert refused.status_code == 503, refused.text
            assert refused.json()["error"]["code"] == "STORE_UNAVAILABLE"
        report = not_ready(client)
        assert (report["reason"], report["store"]) == ("removed", str(db))

    # Nothing is left at the path, so a second node starts a new store there; the first one
    # must not go on writing into the old file, which nobody will ever read again.
    second = node_factory()
    with httpx.Client(base_url=second.url, timeout=10) as client:
        assert client.put("/interest", json={"queue": "q", "interests": "*"}).status_code == 200
        kept = task_ids(publish(client, 100))
        assert client.get("/readyz").status_code == 200
    with httpx.Client(base_url=first.url, timeout=10) as client:
        assert publish(client, 101).status_code == 503
        assert not_ready(client)["reason"] == "replaced"

    # Every acknowledged publish since the removal is in the file after a restart.
    first.stop()
    second.stop()
    restarted = node_factory()
    with httpx.Client(base_url=restarted.url, timeout=10) as client:
        for task_id in kept:
            found = client.get("/status", params={"task": task_id})
            assert found.status_code == 200, found.text


def test_a_node_does_not_start_a_new_store_beside_the_log_of_a_removed_one(
    node_factory: Callable[..., ServerNode], tmp_path: Path
) -> None:
    db = tmp_path / "shared.db"
    first = node_factory()
    with httpx.Client(base_url=first.url, timeout=10) as client:
        assert client.put("/interest", json={"queue": "q", "interests": "*"}).status_code == 200
        task_ids(publish(client, 0))
        remove_files(db, suffixes=("",))
        assert publish(client, 1).status_code == 503
    with pytest.raises(RuntimeError, match="exited early") as refused:
        node_factory()
    assert str(db) in str(refused.value) and "missing" in str(refused.value)
    assert not db.exists()


def test_a_corrupt_file_makes_the_node_unready_and_refuse_writes(
    node_factory: Callable[..., ServerNode], tmp_path: Path
) -> None:
    db = tmp_path / "shared.db"
    node = node_factory()
    with httpx.Client(base_url=node.url, timeout=10) as client:
        assert client.put("/interest", json={"queue": "q", "interests": "*"}).status_code == 200
        tasks = [{"publisher": "t", "data": {"pad": "x" * 2000, "n": n}} for n in range(300)]
        assert client.put("/tasks", json=tasks).status_code == 200
    node.stop()
    corrupt(db)
    node.start()
    with httpx.Client(base_url=node.url, timeout=10) as client:
        report = not_ready(client)
        assert (report["reason"], report["store"]) == ("corrupt", str(db))
        refused = publish(client, 1)
        assert refused.status_code == 503, refused.text
        assert str(db) in refused.json()["error"]["message"]


def corrupt(db: Path) -> None:
    """Garbage over the second half of the file, once the log is copied back into it."""
    with closing(sqlite3.connect(db)) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    size = db.stat().st_size
    with db.open("r+b") as file:
        file.seek(size // 2)
        file.write(os.urandom(size // 2))
