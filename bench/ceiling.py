"""The ceiling: the fastest a publish could be on this stack. A bare Starlette app served like
`couchqueue serve` (uvicorn, uvloop, httptools, one process) whose one endpoint, PUT /task,
parses the publish JSON body with orjson and does one SQLite INSERT into a file (WAL,
synchronous=NORMAL, one connection, a commit per request, on the event loop), then answers
a small JSON reply. Measured with wrk at the concurrency the publish benchmark uses.

    python -m bench.ceiling [--quick]        measure it and print a table
    python -m bench.ceiling --serve --port P --db FILE   just serve it (used by bench.publish)
"""

from __future__ import annotations

import argparse
import sqlite3
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.support import (
    HOST,
    PUBLISH_BODY,
    Process,
    WrkResult,
    is_quick,
    table,
    temp_dir,
    wrk,
)

SCHEMA = """
CREATE TABLE IF NOT EXISTS tasks (
    seq INTEGER PRIMARY KEY,
    task_id TEXT NOT NULL UNIQUE,
    queue TEXT NOT NULL,
    publisher TEXT NOT NULL,
    data TEXT NOT NULL,
    run_at REAL NOT NULL,
    created_at REAL NOT NULL,
    state TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS tasks_ready ON tasks (queue, run_at, seq) WHERE state = 'queued';
"""


def task_inserter(db_path: str) -> Callable[[str, bytes], str]:
    """insert(publisher, data JSON) -> new task id: one INSERT and its commit, on one
    connection to the file (WAL, synchronous=NORMAL)."""
    conn = sqlite3.connect(db_path, check_same_thread=False)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.executescript(SCHEMA)
    statement = (
        "INSERT INTO tasks (task_id, queue, publisher, data, run_at, created_at, state) "
        "VALUES (?, ?, ?, ?, ?, ?, 'queued')"
    )

    def insert(publisher: str, data: bytes) -> str:
        task_id = uuid.uuid4().hex
        now = time.time()
        conn.execute(statement, (task_id, "bench", publisher, data, now, now))
        conn.commit()
        return task_id

    return insert


def build_app(db_path: str):  # type: ignore[no-untyped-def]
    import orjson
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

    insert = task_inserter(db_path)

    async def publish(request: Request) -> Response:
        body = orjson.loads(await request.body())
        if not isinstance(body, dict) or not isinstance(body.get("data"), dict):
            return Response(b'{"error":"bad body"}', 400, media_type="application/json")
        task_id = insert(body["publisher"], orjson.dumps(body["data"]))
        reply = {"eventId": task_id, "discarded": False, "tasks": [{"taskId": task_id}]}
        return Response(orjson.dumps(reply), media_type="application/json")

    async def healthz(request: Request) -> Response:
        return Response(b'{"status":"ok"}', media_type="application/json")

    return Starlette(routes=[Route("/task", publish, methods=["PUT"]), Route("/healthz", healthz)])


def serve(port: int, db_path: str) -> None:
    serve_like_a_node(build_app(db_path), port)


def serve_like_a_node(app: Any, port: int) -> None:
    """Serve a bare app as `couchqueue serve` serves a node (app.cli.uvicorn_options: uvicorn,
    uvloop, httptools with the header deadline, websockets without per-message compression)."""
    import uvicorn

    from app.cli import uvicorn_options
    from app.settings import Settings

    uvicorn.run(app, **uvicorn_options(Settings(host=HOST, port=port, log_level="warning")))


def server(folder: Path) -> Process:
    command = [sys.executable, "-m", "bench.ceiling", "--serve", "--port", "{port}"]
    return Process([*command, "--db", str(folder / "ceiling.db")], folder / "ceiling.log")


def measure(
    folder: Path, *, threads: int, connections: int, seconds: float, warmup: float
) -> WrkResult:
    with server(folder) as ceiling:
        return wrk(
            ceiling.url + "/task",
            method="PUT",
            body=PUBLISH_BODY,
            threads=threads,
            connections=connections,
            seconds=seconds,
            warmup=warmup,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--serve", action="store_true")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--db", default="")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--connections", type=int, default=32)
    args = parser.parse_args()
    if args.serve:
        serve(args.port, args.db)
        return
    seconds, warmup = (4.0, 1.0) if is_quick() else (8.0, 2.0)
    with temp_dir("ceiling") as folder:
        r = measure(
            folder,
            threads=args.threads,
            connections=args.connections,
            seconds=seconds,
            warmup=warmup,
        )
    print(f"wrk -t{args.threads} -c{args.connections} -d{seconds:g}s after {warmup:g}s warm-up")
    print(
        table(
            ["ceiling (Starlette + 1 SQLite insert)", "req/s", "p50 ms", "p99 ms", "errors"],
            [["PUT /task", r.rps, r.p50_ms, r.p99_ms, r.non_2xx + r.socket_errors]],
        )
    )


if __name__ == "__main__":
    main()
