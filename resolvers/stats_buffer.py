"""The per-process buffer of per-minute counts (see stats.py), apart so that Context can hold
one without importing the rules that read client input."""

from __future__ import annotations

from collections import defaultdict

from resolvers.models import STAT_FIELDS, StatsRow

MINUTE = 60.0


def minute_of(when: float) -> float:
    return when - when % MINUTE


class StatsBuffer:
    def __init__(self) -> None:
        self._counts: defaultdict[tuple[str, float], dict[str, int]] = defaultdict(dict)

    def record(self, queue: str, field: str, now: float, n: int = 1) -> None:
        if field not in STAT_FIELDS:
            raise ValueError(f"unknown statistic {field!r}")
        counts = self._counts[(queue, minute_of(now))]
        counts[field] = counts.get(field, 0) + n

    def drain(self) -> list[StatsRow]:
        counts, self._counts = self._counts, defaultdict(dict)
        return [StatsRow(queue=q, minute=m, **c) for (q, m), c in counts.items()]

    def snapshot(self) -> list[StatsRow]:
        return [StatsRow(queue=q, minute=m, **c) for (q, m), c in self._counts.items()]

    def restore(self, rows: list[StatsRow]) -> None:
        for row in rows:
            for field in STAT_FIELDS:
                n = getattr(row, field)
                if n:
                    self.record(row.queue, field, row.minute, n)
