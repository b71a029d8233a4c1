"""What the change watcher's look at the SQLite stamps costs: the rows changed since its last
look, not a row per lane every time (thousands of idle subscribers' lanes cost nothing)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from app.store.sqlite import SqliteStore
from resolvers.models import QueueSettings
from tests.store.factories import task


async def test_a_look_reads_only_the_stamps_changed_since_the_last(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'stamps.db'}"
    store, other = await SqliteStore.open(url), await SqliteStore.open(url)
    try:
        lanes = [f"q{i}" for i in range(500)]
        await other.insert_tasks([task(lane) for lane in lanes])
        first = await store.change_stamps(lanes)
        assert store.stamps.rows_read == 500
        assert await store.change_stamps(lanes) == first
        assert store.stamps.rows_read == 500  # nothing changed: only the clock was read
        await other.insert_tasks([task("q7"), task("q7"), task("q9")])
        after = await store.change_stamps(lanes)
        assert store.stamps.rows_read == 502
        assert {lane for lane in lanes if after[lane] != first[lane]} == {"q7", "q9"}
        fresh = await SqliteStore.open(url)
        try:
            assert await fresh.change_stamps(lanes) == after
        finally:
            await fresh.close()
    finally:
        await other.close()
        await store.close()


async def test_stamps_keep_growing_in_a_file_made_before_the_clock(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    store = await SqliteStore.open(f"sqlite:///{path}")
    await store.close()
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("DROP TABLE lane_stamps_clock")
    conn.execute("INSERT INTO lane_stamps (lane, stamp) VALUES ('q', 50), ('r', 70)")
    conn.close()
    store = await SqliteStore.open(f"sqlite:///{path}")
    try:
        assert await store.change_stamps(["q"]) == {"q": 50}
        await store.insert_tasks([task("q")])
        assert (await store.change_stamps(["q"]))["q"] > 70
    finally:
        await store.close()


async def test_an_idle_answer_is_reused_only_for_the_same_lanes(tmp_path: Path) -> None:
    store = await SqliteStore.open(f"sqlite:///{tmp_path / 'stamps.db'}")
    try:
        await store.insert_tasks([task("q")])
        one = await store.change_stamps(["q"])
        assert await store.change_stamps(["q", "r"]) == {**one, "r": 0}
        await store.put_interests("q", "*", 0.0, QueueSettings())  # the queues' version moves
        assert (await store.change_stamps(["q", "r"]))["q"] != one["q"]
    finally:
        await store.close()
