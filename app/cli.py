"""The `couchqueue` command. Every flag has a COUCHQUEUE_* environment twin."""

from __future__ import annotations

import argparse
import logging
from collections.abc import Sequence

from app.settings import Settings, env_name

_SERVE_FLAGS: list[tuple[str, str, type, str]] = [
    ("host", "--host", str, "address to bind (only 127.0.0.1 unless you mean it)"),
    ("port", "--port", int, "port to listen on"),
    ("store", "--store", str, "store URL: sqlite:///path/to/file.db"),
    ("log_level", "--log-level", str, "debug, info, warning or error"),
    ("max_body_bytes", "--max-body-bytes", int, "largest request body accepted"),
    ("max_data_bytes", "--max-data-bytes", int, "largest task data (as JSON) accepted"),
    ("max_interests_per_queue", "--max-interests-per-queue", int, "interest fields per queue"),
    ("max_queues_per_worker", "--max-queues-per-worker", int, "queues one worker may take"),
    ("max_page_size", "--max-page-size", int, "most items one listing returns"),
    ("graphql_max_depth", "--graphql-max-depth", int, "deepest GraphQL query accepted"),
    ("default_lease_seconds", "--default-lease-seconds", float, "lease of a claimed task"),
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="couchqueue", description="CouchQueue task queue server")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run a server node")
    defaults = Settings()
    for field, flag, kind, text in _SERVE_FLAGS:
        serve.add_argument(
            flag,
            dest=field,
            type=kind,
            default=None,
            help=f"{text} [env {env_name(field)}; default {getattr(defaults, field)}]",
        )
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    if args.command == "serve":
        overrides = {field: getattr(args, field) for field, *_ in _SERVE_FLAGS}
        serve(Settings.from_env(**overrides))


def serve(settings: Settings) -> None:
    import uvicorn

    from app.asgi import create_app

    logging.basicConfig(
        level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        loop="uvloop",
        http="httptools",
        log_level=settings.log_level,
        access_log=False,
    )
