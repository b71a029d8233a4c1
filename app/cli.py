"""The `couchqueue` command. Every flag has a COUCHQUEUE_* environment twin, named in --help."""

from __future__ import annotations

import argparse
import logging
from collections.abc import Sequence
from dataclasses import fields
from typing import Any

from app.settings import Settings, env_name, flag_name
from couchqueue_client import command as worker_command


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="couchqueue", description="CouchQueue task queue server")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run a server node")
    for spec in fields(Settings):
        serve.add_argument(
            flag_name(spec.name),
            dest=spec.name,
            type=type(spec.default),
            default=None,
            help=f"{spec.metadata['help']} [env {env_name(spec.name)}; default {spec.default}]",
        )
    worker = commands.add_parser(
        "worker",
        help="run a worker that executes a shell command per task",
        description=worker_command.__doc__,
    )
    worker_command.add_arguments(worker)
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    if args.command == "serve":
        overrides = {spec.name: getattr(args, spec.name) for spec in fields(Settings)}
        serve(Settings.from_env(**overrides))
    elif args.command == "worker":
        raise SystemExit(worker_command.main(args))


def serve(settings: Settings) -> None:
    import uvicorn

    from app.asgi import create_app

    logging.basicConfig(
        level=settings.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    uvicorn.run(create_app(settings), **uvicorn_options(settings))


def uvicorn_options(settings: Settings) -> dict[str, Any]:
    """How a node is served (the benchmarks' bare apps are served the same way)."""
    from app.timeouts import with_header_timeout

    header_timeout = settings.header_timeout_seconds
    return {
        "host": settings.host,
        "port": settings.port,
        "loop": "uvloop",
        "http": with_header_timeout(header_timeout) if header_timeout > 0 else "httptools",
        "timeout_keep_alive": settings.idle_timeout_seconds,
        "limit_concurrency": settings.max_concurrency or None,
        "log_level": settings.log_level,
        "access_log": False,
        "ws_ping_interval": settings.ws_ping_interval,
        "ws_ping_timeout": settings.ws_ping_timeout,
        # A websocket message is a request body too; the app checks it as well (body_limit).
        "ws_max_size": settings.max_body_bytes,
        # Pushed tasks are small messages: compressing each costs more CPU than it saves bytes.
        "ws_per_message_deflate": False,
        # Nothing reads the client address: no X-Forwarded-* rewriting on every request.
        "proxy_headers": False,
    }
