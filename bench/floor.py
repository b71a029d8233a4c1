"""The latency floor: the least a push of a published task costs on this stack. A bare Starlette
app served like `couchqueue serve` (uvicorn, uvloop, httptools, websockets without compression,
one process) whose PUT /task parses the publish JSON with orjson, does one SQLite INSERT (as
bench.ceiling), sends the task id as one graphql-transport-ws "next" message to every socket
subscribed on /graphql, then answers. No claim, no GraphQL execution, no validation.

bench.latency measures it with the same client, pauses and counts as a CouchQueue node, so the
difference between the two is what CouchQueue itself adds.

    python -m bench.floor --port P --db FILE      serve it
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bench.ceiling import serve_like_a_node, task_inserter
from bench.support import Process


def build_app(db_path: str):  # type: ignore[no-untyped-def]
    import orjson
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route, WebSocketRoute
    from starlette.websockets import WebSocket, WebSocketDisconnect

    insert = task_inserter(db_path)
    subscribers: dict[WebSocket, str] = {}

    async def publish(request: Request) -> Response:
        body = orjson.loads(await request.body())
        task_id = insert(body["publisher"], orjson.dumps(body["data"]))
        for socket, operation in subscribers.items():
            payload = {"data": {"tasks": {"taskId": task_id}}}
            message = {"id": operation, "type": "next", "payload": payload}
            await socket.send_text(orjson.dumps(message).decode())
        reply = {"eventId": task_id, "discarded": False, "tasks": [{"taskId": task_id}]}
        return Response(orjson.dumps(reply), media_type="application/json")

    async def accept(request: Request) -> Response:
        """Interest, worker and report calls: read and acknowledged, nothing kept."""
        await request.body()
        return Response(b'{"workerId":"floor"}', media_type="application/json")

    async def healthz(request: Request) -> Response:
        return Response(b'{"status":"ok"}', media_type="application/json")

    async def graphql_ws(socket: WebSocket) -> None:
        await socket.accept(subprotocol="graphql-transport-ws")
        try:
            await socket.receive_text()  # connection_init
            await socket.send_text('{"type":"connection_ack"}')
            subscribe = orjson.loads(await socket.receive_text())
            subscribers[socket] = subscribe["id"]
            while True:
                await socket.receive_text()
        except WebSocketDisconnect:
            pass
        finally:
            subscribers.pop(socket, None)

    return Starlette(
        routes=[
            Route("/task", publish, methods=["PUT"]),
            Route("/task", accept, methods=["POST"]),
            Route("/interest", accept, methods=["PUT"]),
            Route("/worker", accept, methods=["PUT"]),
            Route("/healthz", healthz),
            WebSocketRoute("/graphql", graphql_ws),
        ]
    )


def serve(port: int, db_path: str) -> None:
    serve_like_a_node(build_app(db_path), port)


def server(folder: Path) -> Process:
    command = [sys.executable, "-m", "bench.floor", "--port", "{port}"]
    return Process([*command, "--db", str(folder / "floor.db")], folder / "floor.log")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--db", required=True)
    args = parser.parse_args()
    serve(args.port, args.db)


if __name__ == "__main__":
    main()
