"""Building blocks for the store contract tests."""

from __future__ import annotations

import dataclasses
import itertools

from resolvers.models import ClaimRequest, Task

NOW = 1_800_000_000.0
_ids = itertools.count()


def task(queue: str = "q", lane: str | None = None, **changes: object) -> Task:
    n = next(_ids)
    base = Task(
        task_id=f"t{n}",
        event_id=f"e{n}",
        queue=queue,
        lane=lane or queue,
        publisher="pub",
        data={"n": n},
        run_at=NOW,
        created_at=NOW,
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


def claim_request(*lanes: str, worker: str = "w1", now: float = NOW, **kw: object) -> ClaimRequest:
    fields: dict[str, object] = {
        "lanes": list(lanes),
        "worker_id": worker,
        "now": now,
        "lease_seconds": {},
        "default_lease_seconds": 300.0,
    }
    fields.update(kw)
    return ClaimRequest(**fields)  # type: ignore[arg-type]
