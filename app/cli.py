"""The `couchqueue` command. Every flag has a COUCHQUEUE_* environment twin, named in --help."""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import logging
import sys
from collections.abc import Sequence
from dataclasses import fields
from typing import Any

from app import token_cli
from app.settings import Settings, env_name, flag_name
from app.tls import tls_refusal
from couchqueue_client import command as worker_command


class JoinRepeated(argparse.Action):
    """A flag given several times: its values joined with commas, as its env twin has them."""

    def __call__(self, parser: Any, namespace: Any, values: Any, option: Any = None) -> None:
        previous = getattr(namespace, self.dest, None)
        setattr(namespace, self.dest, values if previous is None else f"{previous},{values}")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="couchqueue", description="CouchQueue task queue server")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run a server node")
    for spec in fields(Settings):
        help = f"{spec.metadata['help']} [env {env_name(spec.name)}; default {spec.default}]"
        if spec.metadata.get("repeatable"):
            serve.add_argument(
                flag_name(spec.name), dest=spec.name, action=JoinRepeated, default=None, help=help
            )
            continue
        if isinstance(spec.default, bool):
            serve.add_argument(
                flag_name(spec.name), dest=spec.name, action="store_true", default=None, help=help
            )
            continue
        serve.add_argument(
            flag_name(spec.name), dest=spec.name, type=type(spec.default), default=None, help=help
        )
    token = commands.add_parser(
        "token", help="create, list or revoke bearer tokens", description=token_cli.__doc__
    )
    token_cli.add_arguments(token)
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
    elif args.command == "token":
        raise SystemExit(token_cli.main(args))


def serve(settings: Settings) -> None:
    import uvicorn

    from app.asgi import create_app
    from app.collector import tune_collector

    refusal = tls_refusal(settings) or protected_mode_refusal(settings)
    if refusal is not None:
        print(refusal, file=sys.stderr)
        raise SystemExit(2)
    logging.basicConfig(
        level=settings.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    app = create_app(settings)
    tune_collector()
    uvicorn.run(app, **uvicorn_options(settings))


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def protected_mode_refusal(settings: Settings) -> str | None:
    """Why serve must not start (None if it may): with no token in the store, only a loopback
    address may be bound, unless --insecure-no-auth says otherwise."""
    if settings.insecure_no_auth or is_loopback(settings.host):
        return None
    if asyncio.run(token_cli.store_has_tokens(settings.store)):
        return None
    return (
        f"couchqueue serve: refusing to bind {settings.host!r}: the store holds no token, so "
        "anyone who can reach the port could do anything. Make an admin token first "
        "(couchqueue token create --name admin --role admin), bind 127.0.0.1, or pass "
        f"--insecure-no-auth ({env_name('insecure_no_auth')}=1) if you mean it."
    )


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
        # Checked by tls_refusal before serving; None serves plain HTTP.
        "ssl_certfile": settings.ssl_certfile or None,
        "ssl_keyfile": settings.ssl_keyfile or None,
    }
