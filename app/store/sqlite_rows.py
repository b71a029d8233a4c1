"""Conversions between SQLite rows and the engine's models, and TaskFilter as a WHERE clause."""

from __future__ import annotations

import dataclasses
import sqlite3
from typing import Any

import orjson

from resolvers.models import (
    Failure,
    Queue,
    QueueSettings,
    RetryPolicy,
    Schedule,
    Scope,
    StatsRow,
    Task,
    TaskFilter,
    TaskState,
    Worker,
)


def task_from_row(row: sqlite3.Row) -> Task:
    return Task(
        task_id=row["task_id"],
        event_id=row["event_id"],
        queue=row["queue"],
        lane=row["lane"],
        publisher=row["publisher"],
        data=orjson.loads(row["data"]),
        run_at=row["run_at"],
        created_at=row["created_at"],
        scope=Scope(row["scope"]),
        singularly_enqueue=bool(row["singularly_enqueue"]),
        singularly_run=bool(row["singularly_run"]),
        identity=row["identity"],
        state=TaskState(row["state"]),
        worker_id=row["worker_id"],
        attempts=row["attempts"],
        started_at=row["started_at"],
        finished_at=row["finished_at"],
        lease_until=row["lease_until"],
        fail_reason=row["fail_reason"],
        failures=[Failure(**f) for f in orjson.loads(row["failures"])],
        result=_json_or_none(row["result"]),
        progress=_json_or_none(row["progress"]),
        parent_task_id=row["parent_task_id"],
        follow_ups=orjson.loads(row["follow_ups"]) if row["follow_ups"] else [],
        seq=row["seq"],
        version=row["version"],
    )


def task_params(task: Task) -> dict[str, Any]:
    return {
        "task_id": task.task_id,
        "event_id": task.event_id,
        "queue": task.queue,
        "lane": task.lane,
        "publisher": task.publisher,
        "data": orjson.dumps(task.data).decode(),
        "run_at": task.run_at,
        "created_at": task.created_at,
        "scope": task.scope.value,
        "singularly_enqueue": int(task.singularly_enqueue),
        "singularly_run": int(task.singularly_run),
        "identity": task.identity,
        "state": task.state.value,
        "worker_id": task.worker_id,
        "attempts": task.attempts,
        "started_at": task.started_at,
        "finished_at": task.finished_at,
        "lease_until": task.lease_until,
        "fail_reason": task.fail_reason,
        "failures": orjson.dumps(task.failures).decode(),
        "result": _json_text(task.result),
        "progress": _json_text(task.progress),
        "parent_task_id": task.parent_task_id,
        "follow_ups": orjson.dumps(task.follow_ups).decode() if task.follow_ups else None,
    }


def _json_text(value: Any) -> str | None:
    # None (no value) is NULL; a JSON null is then the same as no value.
    return None if value is None else orjson.dumps(value).decode()


def _json_or_none(text: str | None) -> Any:
    return None if text is None else orjson.loads(text)


def queue_from_row(row: sqlite3.Row) -> Queue:
    interests = row["interests"]
    return Queue(
        name=row["name"],
        interests=None if interests is None else orjson.loads(interests),
        paused=bool(row["paused"]),
        settings=settings_from_json(row["settings"]),
        created_at=row["created_at"],
    )


def settings_from_json(text: str) -> QueueSettings:
    fields = orjson.loads(text)
    retry = RetryPolicy(**fields.pop("retry", {}))
    return QueueSettings(**fields, retry=retry)


def schedule_from_row(row: sqlite3.Row) -> Schedule:
    body = orjson.loads(row["body"])
    return Schedule(**{**body, "scope": Scope(body["scope"]), "version": row["version"]})


def schedule_params(schedule: Schedule) -> dict[str, Any]:
    body = {k: v for k, v in dataclasses.asdict(schedule).items() if k != "version"}
    return {"name": schedule.name, "body": orjson.dumps(body).decode()}


def stats_from_row(row: sqlite3.Row) -> StatsRow:
    return StatsRow(**{key: row[key] for key in row.keys()})  # noqa: SIM118


def worker_from_row(row: sqlite3.Row) -> Worker:
    return Worker(
        worker_id=row["worker_id"],
        name=row["name"],
        queues=orjson.loads(row["queues"]),
        registered_at=row["registered_at"],
        last_seen=row["last_seen"],
        owner=row["owner"],
    )


def filter_sql(where: TaskFilter) -> tuple[str, dict[str, Any]]:
    """A WHERE clause (never empty) and its parameters for a TaskFilter."""
    clauses = ["1 = 1"]
    params: dict[str, Any] = {}
    if where.queue is not None:
        clauses.append("queue = :queue")
        params["queue"] = where.queue
    if where.lane is not None:
        clauses.append("lane = :lane")
        params["lane"] = where.lane
    if where.states is not None:
        # Literals, not parameters (they come from the TaskState enum): only a literal lets
        # SQLite use the partial indexes, such as tasks_ready's "WHERE state = 'queued'".
        literals = [f"'{TaskState(s).value}'" for s in where.states]
        if len(literals) == 1:
            clauses.append(f"state = {literals[0]}")
        else:
            clauses.append(f"state IN ({', '.join(literals)})")
    if where.worker_id is not None:
        clauses.append("worker_id = :worker_id")
        params["worker_id"] = where.worker_id
    if where.publisher is not None:
        clauses.append("publisher = :publisher")
        params["publisher"] = where.publisher
    if where.reason_contains is not None:
        clauses.append("contains_text(fail_reason, :reason)")
        params["reason"] = where.reason_contains
    if where.run_after is not None:
        clauses.append("run_at > :run_after")
        params["run_after"] = where.run_after
    if where.run_until is not None:
        clauses.append("run_at <= :run_until")
        params["run_until"] = where.run_until
    if where.finished_after is not None:
        clauses.append("finished_at >= :finished_after")
        params["finished_after"] = where.finished_after
    if where.finished_before is not None:
        clauses.append("finished_at < :finished_before")
        params["finished_before"] = where.finished_before
    if where.failed_before is not None:
        clauses.append("attempts > 0" if where.failed_before else "attempts = 0")
    if where.task_ids is not None:
        names = [f":task_id{i}" for i in range(len(where.task_ids))]
        clauses.append(f"task_id IN ({', '.join(names) or 'NULL'})")
        params.update({n[1:]: t for n, t in zip(names, where.task_ids, strict=True)})
    return " AND ".join(clauses), params
