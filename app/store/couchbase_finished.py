"""The finish-time directory of a queue's completed and failed tasks on Couchbase, a mixin of
couchbase_index.Index (which provides ``kv`` and the cache).

``finished::{queue}`` = ``{"{minute}|{log}|{chunk}|{lane}": 1}``: the chunks of the completed
(``c``) and failed (``f``) logs that hold a task finished in that minute (finished_at // 60).
The logs stay cut by seq (listings stay in publish order); this directory is what lets a
retention purge read only the chunks that can hold a task past retention, however long the
retained tail (see couchbase_purge). A mark is written before its entry is counted, once per
process, queue, minute and chunk, never per task; the purge retires a minute's marks once it
has read their chunks and no entry of that minute is left in them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from couchbase import subdocument as SD  # type: ignore[import-untyped]

from app.store.couchbase_codec import CACHE_LIMIT, COMPLETED, FAILED
from app.store.couchbase_kv import Kv, path

FINISHED_LOGS = (COMPLETED, FAILED)
MINUTE = 60.0


def finish_minute(finished_at: float) -> int:
    return int(finished_at // MINUTE)


def mark_name(minute: int, log: str, chunk: int, lane: str) -> str:
    return f"{minute}|{log}|{chunk}|{lane}"


def parse_mark(name: str) -> tuple[int, str, int, str]:
    minute, log, chunk, lane = name.split("|", 3)
    return int(minute), log, int(chunk), lane


class FinishTimes:
    kv: Kv
    _finish_marks: set[tuple[str, str]]

    def finished_key(self, queue: str) -> str:
        return self.kv.key("finished", queue)

    async def note_finished(self, marks: dict[str, set[str]]) -> None:
        """Write the marks (by queue) this process has not written yet."""
        for queue, names in marks.items():
            new = sorted(n for n in names if (queue, n) not in self._finish_marks)
            if not new:
                continue
            specs = [SD.upsert(path(n), 1) for n in new]
            await self.kv.mutate_all(self.finished_key(queue), specs, create=True)
            if len(self._finish_marks) >= CACHE_LIMIT:
                self._finish_marks.clear()
            self._finish_marks.update((queue, n) for n in new)

    def forget_marks(self, queue: str, names: Sequence[str]) -> None:
        for name in names:
            self._finish_marks.discard((queue, name))


def marks_of(entries: Sequence[tuple[Any, dict[str, Any]]]) -> dict[str, set[str]]:
    """The finish-time marks of these (place, entry) pairs, by queue."""
    marks: dict[str, set[str]] = {}
    for place, value in entries:
        stream = place.stream
        if stream.log in FINISHED_LOGS and value.get("f") is not None:
            name = mark_name(finish_minute(value["f"]), stream.log, place.chunk, stream.lane)
            marks.setdefault(stream.queue, set()).add(name)
    return marks
